//! Arbitrary bytes fed to the stream decoder in fuzzer-chosen pieces: the
//! frames and errors must equal a one-shot decode of the same bytes, and the
//! decoder never holds more than its buffer. The blocking `FrameReader` and
//! the async `AsyncFrameReader` read the same bytes in the same pieces from
//! readers that also fail now and then (and, async, are not ready): they must
//! give the same frames and errors, then end cleanly or with `Truncated` where
//! the decoder was left mid-frame.
#![no_main]

use core::future::Future;
use core::pin::pin;
use core::task::{Context, Poll, Waker};

use arbitrary::Arbitrary;
use douyu_core::frame::Frames;
use douyu_core::stream::{AsyncFrameReader, Decoder, FrameReader, ReadError, StreamError};
use embedded_io::ErrorKind;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    capacity: u8,
    cuts: Vec<u8>,
    bytes: Vec<u8>,
}

type Item = Result<(u64, Vec<u8>), StreamError>;

/// Piece sizes from the input's cuts; a cut ≥ 240 also makes the reader fail
/// (blocking) or be not ready once (async) before that piece.
fn pieces(cuts: &[u8]) -> impl Iterator<Item = (usize, bool)> + '_ {
    cuts.iter()
        .map(|&c| (usize::from(c % 64) + 1, c >= 240))
        .chain(std::iter::repeat((7, false)))
}

/// An in-memory reader returning the bytes in the given pieces.
struct Pieces<'a, I> {
    rest: &'a [u8],
    cuts: I,
    /// The size of the piece held back by an error (or `Pending`), to be read next.
    pending: Option<usize>,
    errors: usize,
}

impl<'a, I: Iterator<Item = (usize, bool)>> Pieces<'a, I> {
    /// The next piece's length, or `None` to fail this once.
    fn next_len(&mut self, window: usize) -> Option<usize> {
        let len = match self.pending.take() {
            Some(len) => len,
            None => {
                let (len, fail) = self.cuts.next().unwrap_or((7, false));
                if fail && !self.rest.is_empty() {
                    self.pending = Some(len);
                    self.errors += 1;
                    return None;
                }
                len
            }
        };
        Some(len.min(window).min(self.rest.len()))
    }

    fn take(&mut self, buf: &mut [u8], n: usize) -> usize {
        let (head, tail) = self.rest.split_at(n);
        buf[..n].copy_from_slice(head);
        self.rest = tail;
        n
    }
}

impl<I> embedded_io::ErrorType for Pieces<'_, I> {
    type Error = ErrorKind;
}

impl<I: Iterator<Item = (usize, bool)>> embedded_io::Read for Pieces<'_, I> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        assert!(!buf.is_empty(), "the reader is never asked for 0 bytes");
        match self.next_len(buf.len()) {
            Some(n) => Ok(self.take(buf, n)),
            None => Err(ErrorKind::Interrupted),
        }
    }
}

/// Ready on the second poll.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: core::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

impl<I: Iterator<Item = (usize, bool)>> embedded_io_async::Read for Pieces<'_, I> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        assert!(!buf.is_empty(), "the reader is never asked for 0 bytes");
        let n = match self.next_len(buf.len()) {
            Some(n) => n,
            None => {
                // Not ready once, then the held-back piece.
                YieldOnce(false).await;
                self.next_len(buf.len()).unwrap()
            }
        };
        Ok(self.take(buf, n))
    }
}

/// Polls to completion with a no-op waker; the reader is pending at most
/// once per piece, so this ends.
fn block_on<F: Future>(future: F) -> (F::Output, usize) {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    let mut polls = 0;
    loop {
        polls += 1;
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return (out, polls);
        }
        assert!(polls < 1 << 20, "async reader never ready");
    }
}

/// What a frame reader should end with: `None` at a frame boundary,
/// `Truncated` where the decoder was left inside a frame.
type End = Option<u64>;

fuzz_target!(|input: Input| {
    let capacity = 12 + usize::from(input.capacity);
    let oneshot: Vec<Item> = Frames::new(&input.bytes, capacity)
        .map(|(at, r)| {
            r.map(|f| (at as u64, f.body.as_bytes().to_vec()))
                .map_err(|error| StreamError {
                    offset: at as u64,
                    error,
                })
        })
        .collect();

    let mut buf = vec![0u8; capacity];
    let mut decoder = Decoder::new(&mut buf);
    assert_eq!(decoder.capacity(), capacity);
    let mut streamed: Vec<Item> = Vec::new();
    let mut rest = &input.bytes[..];
    let mut cuts = pieces(&input.cuts);
    let mut fatal = false;
    'feed: while !rest.is_empty() {
        let piece = cuts.next().unwrap().0.min(rest.len());
        let (mut chunk, tail) = rest.split_at(piece);
        rest = tail;
        while !chunk.is_empty() {
            chunk = &chunk[decoder.feed(chunk)..];
            assert!(decoder.buffered() <= capacity);
            loop {
                let at = decoder.position();
                match decoder.next_frame() {
                    Ok(Some(frame)) => streamed.push(Ok((at, frame.body.as_bytes().to_vec()))),
                    Ok(None) => break,
                    Err(e) => {
                        streamed.push(Err(e));
                        assert!(e.to_string().contains(&e.offset.to_string()));
                        assert!(core::error::Error::source(&e).is_some());
                        if e.is_fatal() {
                            // Sticky: the decoder gives the same error again.
                            assert_eq!(decoder.next_frame().err(), Some(e));
                            fatal = true;
                            break 'feed;
                        }
                    }
                }
            }
        }
    }
    assert_eq!(streamed, oneshot);
    // Where the stream ends: the decoder's position if it holds part of a
    // frame. `buffered` misses the tail of an oversized frame still to be
    // skipped, so a reader may also report `Truncated` with nothing buffered,
    // at the position after the bytes.
    let held = decoder.buffered() > 0;
    let end_at = decoder.position();
    drop(decoder);

    let check_end = |end: End, errors: usize| {
        if fatal {
            return;
        }
        match end {
            None => assert!(!held, "clean end inside a frame at {end_at}"),
            Some(offset) => {
                assert_eq!(offset, end_at);
                assert!(held || offset == input.bytes.len() as u64);
            }
        }
        let _ = errors;
    };

    // The blocking reader.
    let mut buf = vec![0u8; capacity];
    let mut reader = FrameReader::new(
        Pieces {
            rest: &input.bytes,
            cuts: pieces(&input.cuts),
            pending: None,
            errors: 0,
        },
        &mut buf,
    );
    let mut read: Vec<Item> = Vec::new();
    let mut io_errors = 0;
    let end = loop {
        let at = reader.parts().1.position();
        match reader.next_frame() {
            Ok(Some(frame)) => read.push(Ok((at, frame.body.as_bytes().to_vec()))),
            Ok(None) => break None,
            Err(ReadError::Io(e)) => {
                assert_eq!(e, ErrorKind::Interrupted);
                let error = ReadError::<ErrorKind>::Io(e);
                assert!(error.to_string().starts_with("read failed"));
                assert!(core::error::Error::source(&error).is_some());
                io_errors += 1;
            }
            Err(ReadError::Stream(e)) => {
                let error = ReadError::<ErrorKind>::Stream(e);
                assert!(error.to_string() == e.to_string());
                assert!(core::error::Error::source(&error).is_some());
                read.push(Err(e));
                if e.is_fatal() {
                    break None;
                }
            }
            Err(e @ ReadError::Truncated { offset }) => {
                assert!(e.to_string().contains(&offset.to_string()));
                assert!(core::error::Error::source(&e).is_none());
                break Some(offset);
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(read, oneshot);
    assert_eq!(io_errors, reader.parts().0.errors);
    check_end(end, io_errors);

    // The async reader.
    let mut buf = vec![0u8; capacity];
    let mut reader = AsyncFrameReader::new(
        Pieces {
            rest: &input.bytes,
            cuts: pieces(&input.cuts),
            pending: None,
            errors: 0,
        },
        &mut buf,
    );
    let mut read: Vec<Item> = Vec::new();
    let mut extra_polls = 0;
    let end = loop {
        let at = reader.parts().1.position();
        let (result, polls) = block_on(async {
            match reader.next_frame().await {
                Ok(Some(frame)) => Ok(Some((at, frame.body.as_bytes().to_vec()))),
                Ok(None) => Ok(None),
                Err(e) => Err(e),
            }
        });
        extra_polls += polls - 1;
        match result {
            Ok(Some(frame)) => read.push(Ok(frame)),
            Ok(None) => break None,
            Err(ReadError::Stream(e)) => {
                read.push(Err(e));
                if e.is_fatal() {
                    break None;
                }
            }
            Err(ReadError::Truncated { offset }) => break Some(offset),
            Err(e) => panic!("the async reader never fails: {e}"),
        }
    };
    assert_eq!(read, oneshot);
    // One `Pending` per held-back piece.
    assert_eq!(extra_polls, reader.parts().0.errors);
    check_end(end, extra_polls);
});
