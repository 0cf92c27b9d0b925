//! Arbitrary bytes fed to the stream decoder in fuzzer-chosen pieces: the
//! frames and errors must equal a one-shot decode of the same bytes, and the
//! decoder never holds more than its buffer.
#![no_main]

use arbitrary::Arbitrary;
use douyu_core::frame::Frames;
use douyu_core::stream::{Decoder, StreamError};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    capacity: u8,
    cuts: Vec<u8>,
    bytes: Vec<u8>,
}

type Item = Result<(u64, Vec<u8>), StreamError>;

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
    let mut streamed: Vec<Item> = Vec::new();
    let mut rest = &input.bytes[..];
    let mut cuts = input
        .cuts
        .iter()
        .map(|&c| usize::from(c) + 1)
        .chain(std::iter::repeat(7));
    'feed: while !rest.is_empty() {
        let piece = cuts.next().unwrap_or(7).min(rest.len());
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
                        if e.is_fatal() {
                            // Sticky: the decoder gives the same error again.
                            assert_eq!(decoder.next_frame().err(), Some(e));
                            break 'feed;
                        }
                    }
                }
            }
        }
    }
    assert_eq!(streamed, oneshot);
});
