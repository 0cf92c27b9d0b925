//! One-shot frame decoding of arbitrary bytes: never panics, and every frame
//! that decodes encodes back to exactly the bytes it came from, into a slice
//! and through `Frame::write_to` (whose writer may run out of room). A frame
//! built from the input as text is encoded too: refused for a NUL or a short
//! buffer, before anything is written. Every error's `Display` and `class()`
//! say what happened.
#![no_main]

use douyu_core::frame::{Direction, Frame, FrameError, Frames, Header, Status, WriteError};
use embedded_io::ErrorKind;
use libfuzzer_sys::fuzz_target;

/// A writer into a vector that refuses to grow past `limit` bytes.
struct Limited {
    out: Vec<u8>,
    limit: usize,
}

impl embedded_io::ErrorType for Limited {
    type Error = ErrorKind;
}

impl embedded_io::Write for Limited {
    fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        let n = buf.len().min(self.limit - self.out.len());
        if n == 0 && !buf.is_empty() {
            return Err(ErrorKind::OutOfMemory);
        }
        self.out.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> Result<(), ErrorKind> {
        Ok(())
    }
}

/// The error's text names its class's subject and its numbers.
fn check_error(e: &FrameError) {
    let text = e.to_string();
    let class = e.class();
    assert!(
        !class.is_empty()
            && class
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    );
    let number = match *e {
        FrameError::LengthMismatch { first, .. } => first as usize,
        FrameError::TooShort { length } => length as usize,
        FrameError::TooLarge { capacity, .. } => capacity,
        FrameError::MissingTerminator { .. } => return assert!(text.contains("0x")),
        FrameError::NulInBody { offset } => offset,
        FrameError::InvalidUtf8 { valid_up_to } => valid_up_to,
        FrameError::BodyTooLong { len, .. } => len,
        FrameError::BufferFull { needed, .. } => needed,
        _ => return assert!(!text.is_empty()),
    };
    assert!(text.contains(&number.to_string()), "{text:?} ({class})");
}

/// `write_to` into room for `limit` bytes: the frame's bytes, an IO error
/// when they do not fit, or the frame refused with nothing written.
fn check_write_to(frame: &Frame<'_>, limit: usize) -> Result<Vec<u8>, FrameError> {
    let mut w = Limited {
        out: Vec::new(),
        limit,
    };
    match frame.write_to(&mut w) {
        Ok(()) => {
            assert_eq!(w.out.len(), frame.encoded_len());
            Ok(w.out)
        }
        Err(e @ WriteError::Io(kind)) => {
            assert_eq!(kind, ErrorKind::OutOfMemory);
            assert!(limit < frame.encoded_len() && w.out.len() == limit);
            assert!(e.to_string().starts_with("write failed"));
            Err(FrameError::BufferFull {
                needed: frame.encoded_len(),
                capacity: limit,
            })
        }
        Err(e @ WriteError::Frame(error)) => {
            assert!(w.out.is_empty(), "half a frame written");
            check_error(&error);
            assert!(e.to_string().contains(&error.to_string()));
            assert!(core::error::Error::source(&e).is_some());
            Err(error)
        }
        Err(e) => panic!("{e}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let limit = data.get(1).map_or(0, |&b| usize::from(b));
    let decoded = Frame::decode(data);
    if let Ok(status) = &decoded {
        assert_eq!(status.is_complete(), !status.is_incomplete());
    }
    match decoded {
        Ok(status @ Status::Complete(_)) => {
            let (frame, used) = status.unwrap();
            let mut out = vec![0u8; frame.encoded_len()];
            assert_eq!(frame.encode(&mut out), Ok(used));
            assert_eq!(out, data[..used]);
            let header = match Header::parse(data) {
                Ok(Status::Complete(header)) => header,
                other => panic!("{other:?}"),
            };
            assert_eq!(header.body_len(), frame.body.len());
            assert_eq!(header.frame_len(), used);
            match check_write_to(&frame, limit) {
                Ok(written) => assert_eq!(written, data[..used]),
                Err(e) => assert_eq!(e.class(), "buffer_full"),
            }
        }
        Ok(Status::Incomplete { needed }) => assert!(needed > 0),
        Err(e) => check_error(&e),
    }

    // The input as a body to send: refused if it holds NUL, else encoded as
    // `Frame::new` builds it and decoded back.
    let text = String::from_utf8_lossy(data);
    let frame = Frame::new(Direction::from_u16(limit as u16), &text);
    let mut out = vec![0u8; limit];
    let nul = text.find('\0');
    match frame.encode(&mut out) {
        Ok(n) => {
            assert!(nul.is_none());
            let (back, used) = Frame::decode(&out[..n]).unwrap().unwrap();
            assert_eq!((back, used), (frame, n));
        }
        Err(e) => {
            check_error(&e);
            match e {
                FrameError::NulInBody { offset } => assert_eq!(Some(offset), nul),
                FrameError::BufferFull { needed, capacity } => {
                    assert!(nul.is_none() && needed == frame.encoded_len() && capacity == limit)
                }
                _ => panic!("{e}"),
            }
        }
    }
    match check_write_to(&frame, usize::MAX) {
        Ok(written) => assert!(nul.is_none() && written.len() == frame.encoded_len()),
        Err(e) => assert_eq!(
            e,
            FrameError::NulInBody {
                offset: nul.unwrap()
            }
        ),
    }

    let capacity = data.first().map_or(13, |&b| usize::from(b) * 4);
    let mut frames = Frames::new(data, capacity);
    for (offset, frame) in frames.by_ref() {
        assert!(offset < data.len());
        match frame {
            Ok(frame) => assert!(frame.encoded_len() <= capacity),
            Err(e) => check_error(&e),
        }
    }
    assert!(frames.remainder().len() <= data.len());
});
