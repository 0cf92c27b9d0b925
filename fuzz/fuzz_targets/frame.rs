//! One-shot frame decoding of arbitrary bytes: never panics, and every frame
//! that decodes encodes back to exactly the bytes it came from.
#![no_main]

use douyu_core::frame::{Frame, Frames, Status};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Status::Complete((frame, used))) = Frame::decode(data) {
        let mut out = vec![0u8; frame.encoded_len()];
        assert_eq!(frame.encode(&mut out), Ok(used));
        assert_eq!(out, data[..used]);
    }
    let capacity = data.first().map_or(13, |&b| usize::from(b) * 4);
    let mut frames = Frames::new(data, capacity);
    for (offset, frame) in frames.by_ref() {
        assert!(offset < data.len());
        if let Ok(frame) = frame {
            assert!(frame.encoded_len() <= capacity);
        }
    }
    assert!(frames.remainder().len() <= data.len());
});
