//! Reassembling frames from a byte stream (PROTOCOL.md §5).
//!
//! Bytes arrive in arbitrary pieces: half a frame, or three and a half. The
//! [`Decoder`] owns no memory: it works in a caller-provided buffer, hands out
//! the exact [window](Decoder::window) to read into, is told how many bytes
//! arrived ([`Decoder::commit`]), and yields every complete frame in order.
//!
//! - A frame larger than the buffer is reported ([`FrameError::TooLarge`]) and
//!   skipped by its declared length as its bytes arrive; the frames after it
//!   decode normally.
//! - A frame with a consistent length but a bad body (terminator, NUL, UTF-8)
//!   is reported and stepped over.
//! - Disagreeing length fields (or a length too short for the header) leave no
//!   trustworthy boundary: the error is reported and repeated on every later
//!   call ([`StreamError::is_fatal`]); the caller should close the connection.
//!
//! [`FrameReader`] (blocking, over [`embedded_io::Read`]) and
//! [`AsyncFrameReader`] (over [`embedded_io_async::Read`]) are thin loops
//! around the same decoder.
//!
//! ```
//! use douyu_core::stream::Decoder;
//! let wire = b"\x14\0\0\0\x14\0\0\0\xb2\x02\0\0type@=mrkl/\0";
//! let mut buf = [0u8; 64];
//! let mut decoder = Decoder::new(&mut buf);
//! for piece in wire.chunks(7) {
//!     assert_eq!(decoder.feed(piece), piece.len()); // 64 bytes hold the frame
//!     if let Some(frame) = decoder.next_frame()? {
//!         assert_eq!(frame.body, "type@=mrkl/");
//!     }
//! }
//! # Ok::<(), douyu_core::stream::StreamError>(())
//! ```

use core::fmt;

use crate::frame::{Frame, FrameError, HEADER_LEN, Header, Status};

/// A receive buffer size for hosts with memory to spare: ample for the live
/// service, whose largest frames (gift and ranking broadcasts) are a few KiB.
/// Hosts that let their user choose a frame limit default to this, so that
/// every host accepts the same frames; a device picks a smaller buffer.
pub const DEFAULT_CAPACITY: usize = 64 * 1024;

/// A frame error at a position in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct StreamError {
    /// Offset of the offending frame from the start of the stream.
    pub offset: u64,
    /// What was wrong with it.
    pub error: FrameError,
}

impl StreamError {
    /// Whether the stream cannot go on (the decoder will repeat this error).
    #[must_use]
    pub const fn is_fatal(&self) -> bool {
        self.error.is_fatal()
    }
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "frame at stream offset {}: {}", self.offset, self.error)
    }
}

/// The [`FrameError`] is the source (`Display` includes it too; see
/// [`SessionError`](crate::session::SessionError)'s note).
impl core::error::Error for StreamError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// A complete frame located in the buffer, not yet checked beyond its header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ready {
    header: Header,
    start: usize,
    offset: u64,
}

/// Frame reassembly over a caller-provided buffer.
///
/// The buffer's length is the largest whole frame accepted (`4 + length`
/// bytes); a few KiB suits a device, 64 KiB is ample for the live service.
#[derive(Debug)]
pub struct Decoder<'b> {
    buf: &'b mut [u8],
    /// Unread bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    /// Bytes of an oversized frame still to be dropped as they arrive.
    skip: usize,
    /// Stream offset of `buf[start]`.
    position: u64,
    fatal: Option<StreamError>,
}

impl<'b> Decoder<'b> {
    /// A decoder reassembling frames of up to `buf.len()` bytes.
    ///
    /// # Panics
    /// If `buf` is shorter than a frame header ([`HEADER_LEN`], 12 bytes):
    /// such a decoder could never read a length. This is a programming
    /// error, never a consequence of input.
    #[must_use]
    pub fn new(buf: &'b mut [u8]) -> Self {
        assert!(
            buf.len() >= HEADER_LEN,
            "a stream buffer must hold a frame header"
        );
        Self {
            buf,
            start: 0,
            end: 0,
            skip: 0,
            position: 0,
            fatal: None,
        }
    }

    /// The largest whole frame this decoder accepts, in bytes.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Bytes received and not yet returned as frames.
    #[must_use]
    pub const fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// Stream offset of the next byte not yet consumed.
    #[must_use]
    pub const fn position(&self) -> u64 {
        self.position
    }

    /// The free space to read into. Call [`Decoder::commit`] with the number
    /// of bytes written to its start.
    ///
    /// Never empty while [`Decoder::next_frame`] is waiting for bytes.
    pub fn window(&mut self) -> &mut [u8] {
        self.discard_skipped();
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        &mut self.buf[self.end..]
    }

    /// Declares that `n` bytes were written at the start of the last
    /// [`Decoder::window`].
    ///
    /// # Panics
    /// In debug builds, if `n` is larger than that window: a reader that
    /// claims more bytes than it was given is a bug worth seeing. Release
    /// builds clamp `n` to the window, so the decoder never reads past its
    /// buffer whatever it is told.
    #[track_caller]
    pub fn commit(&mut self, n: usize) {
        let room = self.buf.len() - self.end;
        debug_assert!(n <= room, "committed {n} bytes into a {room}-byte window");
        self.end += n.min(room);
    }

    /// Copies as much of `bytes` as fits and commits it; returns how many
    /// bytes were taken. Take frames out to make room for the rest.
    #[must_use = "bytes beyond the count were not taken; offer them again after taking frames out"]
    pub fn feed(&mut self, bytes: &[u8]) -> usize {
        let window = self.window();
        let n = window.len().min(bytes.len());
        window[..n].copy_from_slice(&bytes[..n]);
        self.commit(n);
        n
    }

    /// The next complete frame, `None` if more bytes are needed, or the error
    /// found at the head of the stream (see the module docs for which errors
    /// the stream survives).
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, StreamError> {
        match self.advance()? {
            Some(ready) => self.take(ready).map(Some),
            None => Ok(None),
        }
    }

    /// Locates the next complete frame and consumes it from the buffer; the
    /// returned token is turned into a frame by [`Decoder::take`]. Split in
    /// two so that read loops can return the frame without holding a borrow
    /// of the decoder across the read.
    // Inlined on x86-64 into `next_frame` and the readers: called, the
    // `Ready` and the frame went through the stack and the reads of them
    // stalled on store forwarding (perf); the stream at 4 KiB reads ran at
    // 0.69 of the one-shot path, and 0.96 inlined (BENCHMARKS.md). On a
    // microcontroller, where the copies cost 2.5 KiB of flash, they stay
    // out of line.
    #[cfg_attr(target_arch = "x86_64", inline(always))]
    pub(crate) fn advance(&mut self) -> Result<Option<Ready>, StreamError> {
        if let Some(e) = self.fatal {
            return Err(e);
        }
        self.discard_skipped();
        let offset = self.position;
        let header = match Header::parse(&self.buf[self.start..self.end]) {
            Ok(Status::Complete(header)) => header,
            Ok(Status::Incomplete { .. }) => return Ok(None),
            Err(error) => {
                let e = StreamError { offset, error };
                self.fatal = Some(e);
                return Err(e);
            }
        };
        let len = header.frame_len();
        if len > self.buf.len() {
            self.skip = len;
            self.discard_skipped();
            let capacity = self.buf.len();
            let error = FrameError::TooLarge {
                length: header.length,
                capacity,
            };
            return Err(StreamError { offset, error });
        }
        if self.buffered() < len {
            return Ok(None);
        }
        let start = self.start;
        self.consume(len);
        Ok(Some(Ready {
            header,
            start,
            offset,
        }))
    }

    /// The frame `ready` locates (see [`Decoder::advance`]).
    #[cfg_attr(target_arch = "x86_64", inline(always))]
    pub(crate) fn take(&self, ready: Ready) -> Result<Frame<'_>, StreamError> {
        let bytes = &self.buf[ready.start..ready.start + ready.header.frame_len()];
        Frame::from_parts(ready.header, bytes).map_err(|error| StreamError {
            offset: ready.offset,
            error,
        })
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        self.position += n as u64;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    fn discard_skipped(&mut self) {
        let n = self.skip.min(self.buffered());
        self.skip -= n;
        self.consume(n);
    }

    /// Whether bytes of an unfinished frame (or of a skipped one) are pending,
    /// which makes an end of stream here a truncation.
    fn mid_frame(&self) -> bool {
        self.buffered() > 0 || self.skip > 0
    }
}

/// Failure of a [`FrameReader`] or [`AsyncFrameReader`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ReadError<E> {
    /// The underlying reader failed.
    Io(E),
    /// A frame was bad (see [`StreamError::is_fatal`] for whether to go on).
    Stream(StreamError),
    /// The stream ended inside a frame.
    Truncated {
        /// Stream offset where the unfinished frame starts.
        offset: u64,
    },
}

impl<E: fmt::Display> fmt::Display for ReadError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "read failed: {e}"),
            Self::Stream(e) => e.fmt(f),
            Self::Truncated { offset } => write!(f, "stream ended inside the frame at {offset}"),
        }
    }
}

/// The IO or stream error is the source (`Display` includes it too).
/// Every [`embedded_io::Error`] is a [`core::error::Error`].
impl<E: core::error::Error + 'static> core::error::Error for ReadError<E> {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            Self::Stream(e) => Some(e),
            Self::Truncated { .. } => None,
        }
    }
}

/// Reads frames from a blocking [`embedded_io::Read`].
#[derive(Debug)]
pub struct FrameReader<'b, R> {
    reader: R,
    decoder: Decoder<'b>,
}

impl<'b, R: embedded_io::Read> FrameReader<'b, R> {
    /// Frames from `reader`, reassembled in `buf` (see [`Decoder::new`]).
    pub fn new(reader: R, buf: &'b mut [u8]) -> Self {
        Self {
            reader,
            decoder: Decoder::new(buf),
        }
    }

    /// The next frame; `Ok(None)` when the stream ends cleanly between frames.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, ReadError<R::Error>> {
        loop {
            if let Some(ready) = self.decoder.advance().map_err(ReadError::Stream)? {
                return self
                    .decoder
                    .take(ready)
                    .map(Some)
                    .map_err(ReadError::Stream);
            }
            let n = self
                .reader
                .read(self.decoder.window())
                .map_err(ReadError::Io)?;
            if n == 0 {
                return end_of_stream(&self.decoder);
            }
            self.decoder.commit(n);
        }
    }

    /// The reader and decoder, for writing replies on the same connection.
    pub fn parts(&mut self) -> (&mut R, &mut Decoder<'b>) {
        (&mut self.reader, &mut self.decoder)
    }
}

/// Reads frames from an async [`embedded_io_async::Read`].
#[derive(Debug)]
pub struct AsyncFrameReader<'b, R> {
    reader: R,
    decoder: Decoder<'b>,
}

impl<'b, R: embedded_io_async::Read> AsyncFrameReader<'b, R> {
    /// Frames from `reader`, reassembled in `buf` (see [`Decoder::new`]).
    pub fn new(reader: R, buf: &'b mut [u8]) -> Self {
        Self {
            reader,
            decoder: Decoder::new(buf),
        }
    }

    /// The next frame; `Ok(None)` when the stream ends cleanly between frames.
    pub async fn next_frame(&mut self) -> Result<Option<Frame<'_>>, ReadError<R::Error>> {
        loop {
            if let Some(ready) = self.decoder.advance().map_err(ReadError::Stream)? {
                return self
                    .decoder
                    .take(ready)
                    .map(Some)
                    .map_err(ReadError::Stream);
            }
            let n = self
                .reader
                .read(self.decoder.window())
                .await
                .map_err(ReadError::Io)?;
            if n == 0 {
                return end_of_stream(&self.decoder);
            }
            self.decoder.commit(n);
        }
    }

    /// The reader and decoder, for writing replies on the same connection.
    pub fn parts(&mut self) -> (&mut R, &mut Decoder<'b>) {
        (&mut self.reader, &mut self.decoder)
    }
}

fn end_of_stream<T, E>(decoder: &Decoder<'_>) -> Result<Option<T>, ReadError<E>> {
    if decoder.mid_frame() {
        Err(ReadError::Truncated {
            offset: decoder.position(),
        })
    } else {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::{String, ToString};
    use std::vec;
    use std::vec::Vec;

    const MRKL: &[u8] = b"\x14\0\0\0\x14\0\0\0\xb2\x02\0\0type@=mrkl/\0";

    fn frame(body: &str) -> Vec<u8> {
        let mut out = vec![0u8; body.len() + 13];
        crate::frame::Frame::new(crate::frame::Direction::ServerToClient, body)
            .encode(&mut out)
            .unwrap();
        out
    }

    /// Feeds `bytes` in `piece`-sized chunks, collecting bodies and errors.
    fn run(bytes: &[u8], capacity: usize, piece: usize) -> Vec<Result<String, StreamError>> {
        let mut buf = vec![0u8; capacity];
        let mut d = Decoder::new(&mut buf);
        let mut out = Vec::new();
        for mut chunk in bytes.chunks(piece) {
            while !chunk.is_empty() {
                let n = d.feed(chunk);
                chunk = &chunk[n..];
                loop {
                    match d.next_frame() {
                        Ok(Some(f)) => out.push(Ok(f.body.to_string())),
                        Ok(None) => break,
                        Err(e) => {
                            out.push(Err(e));
                            if e.is_fatal() {
                                return out;
                            }
                        }
                    }
                }
            }
        }
        out
    }

    #[test]
    fn oversized_frame_is_skipped_and_the_next_decodes() {
        let big = frame(&"x@=y/".repeat(20));
        let mut bytes = big.clone();
        bytes.extend_from_slice(MRKL);
        for piece in [1, 3, 24, 200] {
            let got = run(&bytes, 32, piece);
            let too_large = FrameError::TooLarge {
                length: big.len() as u32 - 4,
                capacity: 32,
            };
            assert_eq!(
                got,
                [
                    Err(StreamError {
                        offset: 0,
                        error: too_large
                    }),
                    Ok("type@=mrkl/".into())
                ],
                "piece {piece}"
            );
        }
    }

    #[test]
    fn the_largest_declared_length_is_skipped_not_trusted() {
        let mut buf = [0u8; 64];
        let mut d = Decoder::new(&mut buf);
        let bytes = b"\xff\xff\xff\xff\xff\xff\xff\xff\xb2\x02\0\0rest of it";
        assert_eq!(d.feed(bytes), bytes.len());
        let e = d.next_frame().unwrap_err();
        assert_eq!(
            e.error,
            FrameError::TooLarge {
                length: u32::MAX,
                capacity: 64
            }
        );
        assert!(!e.is_fatal());
        assert_eq!(d.next_frame(), Ok(None));
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn length_mismatch_is_fatal_and_sticky() {
        let mut buf = [0u8; 64];
        let mut d = Decoder::new(&mut buf);
        assert_eq!(d.feed(MRKL), MRKL.len());
        assert_eq!(d.feed(b"\x14\0\0\0\x15\0\0\0"), 8);
        assert!(d.next_frame().unwrap().is_some());
        let e = d.next_frame().unwrap_err();
        assert_eq!(e.offset, 24);
        assert!(e.is_fatal());
        assert_eq!(d.next_frame().unwrap_err(), e);
    }

    #[test]
    fn bad_body_is_reported_and_stepped_over() {
        let mut bytes = b"\x0c\0\0\0\x0c\0\0\0\xb2\x02\0\0ab\xff\0".to_vec();
        bytes.extend_from_slice(MRKL);
        let got = run(&bytes, 64, 5);
        let e = StreamError {
            offset: 0,
            error: FrameError::InvalidUtf8 { valid_up_to: 2 },
        };
        assert_eq!(got, [Err(e), Ok("type@=mrkl/".into())]);
    }

    #[test]
    fn window_and_commit() {
        let mut buf = [0u8; 30];
        let mut d = Decoder::new(&mut buf);
        let w = d.window();
        assert_eq!(w.len(), 30);
        w[..20].copy_from_slice(&MRKL[..20]);
        d.commit(20);
        assert_eq!(d.next_frame(), Ok(None));
        let w = d.window();
        w[..4].copy_from_slice(&MRKL[20..]);
        d.commit(4);
        assert_eq!(d.next_frame().unwrap().unwrap().body, "type@=mrkl/");
        assert_eq!((d.buffered(), d.position()), (0, 24));
    }

    #[test]
    #[cfg_attr(debug_assertions, should_panic(expected = "committed 31 bytes"))]
    fn committing_more_than_the_window_is_a_bug() {
        let mut buf = [0u8; 30];
        let mut d = Decoder::new(&mut buf);
        // Release builds clamp to the window instead.
        d.commit(31);
        assert_eq!(d.buffered(), 30);
    }

    #[test]
    fn read_errors_display_and_chain_their_causes() {
        use core::error::Error;
        use embedded_io::ErrorKind;
        let io = ReadError::<ErrorKind>::Io(ErrorKind::ConnectionReset);
        assert_eq!(
            io.to_string(),
            std::format!("read failed: {}", ErrorKind::ConnectionReset)
        );
        assert_eq!(
            io.source().unwrap().downcast_ref::<ErrorKind>(),
            Some(&ErrorKind::ConnectionReset)
        );
        let stream = StreamError {
            offset: 3,
            error: FrameError::TooShort { length: 2 },
        };
        let read = ReadError::<ErrorKind>::Stream(stream);
        let source = read.source().unwrap();
        assert_eq!(source.downcast_ref::<StreamError>(), Some(&stream));
        assert_eq!(
            source.source().unwrap().downcast_ref::<FrameError>(),
            Some(&stream.error)
        );
        assert!(
            ReadError::<ErrorKind>::Truncated { offset: 1 }
                .source()
                .is_none()
        );
    }

    /// A reader that fails after handing out its bytes.
    struct Failing<'a>(&'a [u8]);

    impl embedded_io::ErrorType for Failing<'_> {
        type Error = embedded_io::ErrorKind;
    }

    impl embedded_io::Read for Failing<'_> {
        fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
            if self.0.is_empty() {
                return Err(embedded_io::ErrorKind::ConnectionReset);
            }
            let n = self.0.len().min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn blocking_reader_passes_io_and_frame_errors_up() {
        let mut buf = [0u8; 64];
        let mut r = FrameReader::new(Failing(MRKL), &mut buf);
        assert!(r.next_frame().unwrap().is_some());
        assert_eq!(
            r.next_frame(),
            Err(ReadError::Io(embedded_io::ErrorKind::ConnectionReset))
        );
        let bad = b"\x14\0\0\0\x15\0\0\0";
        let mut r = FrameReader::new(&bad[..], &mut buf);
        let Err(ReadError::Stream(e)) = r.next_frame() else {
            panic!("expected a stream error")
        };
        assert_eq!(
            e.error,
            FrameError::LengthMismatch {
                first: 20,
                second: 21
            }
        );
    }

    #[test]
    fn blocking_reader_reports_truncation() {
        let mut bytes = MRKL.to_vec();
        bytes.extend_from_slice(&MRKL[..5]);
        let mut buf = [0u8; 64];
        let mut r = FrameReader::new(&bytes[..], &mut buf);
        assert_eq!(r.next_frame().unwrap().unwrap().body, "type@=mrkl/");
        assert_eq!(r.next_frame(), Err(ReadError::Truncated { offset: 24 }));
        let mut r = FrameReader::new(MRKL, &mut buf);
        assert!(r.next_frame().unwrap().is_some());
        assert_eq!(r.next_frame(), Ok(None));
    }
}
