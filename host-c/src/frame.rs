//! Frames (PROTOCOL.md §2): decoded from and encoded into caller buffers.

use douyu_core::frame::{Direction, Frame, HEADER_LEN, MIN_LENGTH, OVERHEAD, Status};

use crate::error::{Failure, douyu_error, douyu_result};
use crate::guard::run;
use crate::ptr::{Out, arg, bytes, bytes_mut};

/// Bytes a frame adds around its body (12-byte header, NUL terminator).
pub const DOUYU_FRAME_OVERHEAD: usize = 13;
/// Size of the fixed frame header.
pub const DOUYU_FRAME_HEADER_LEN: usize = 12;
/// The type field of a frame a client sends.
pub const DOUYU_CLIENT_TO_SERVER: u16 = 689;
/// The type field of a frame the server sends.
pub const DOUYU_SERVER_TO_CLIENT: u16 = 690;

// cbindgen copies literals only: the numbers above are the core's.
const _: () = {
    assert!(DOUYU_FRAME_OVERHEAD == OVERHEAD);
    assert!(DOUYU_FRAME_HEADER_LEN == HEADER_LEN);
    assert!(OVERHEAD == MIN_LENGTH as usize + 4);
    assert!(DOUYU_CLIENT_TO_SERVER == Direction::CLIENT_TO_SERVER);
    assert!(DOUYU_SERVER_TO_CLIENT == Direction::SERVER_TO_CLIENT);
};

/// A frame: its header fields and its body.
///
/// Decoded, the body borrows the input (it is UTF-8 without NUL, and not
/// NUL-terminated: use `body_len`). To encode, fill it in yourself.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct douyu_frame {
    /// The type field: 689, 690 or any other value found.
    pub direction: u16,
    /// The encryption byte (0 in practice).
    pub encryption: u8,
    /// The reserved byte (0 in practice).
    pub reserved: u8,
    /// The STT body.
    pub body: *const u8,
    /// Its length in bytes.
    pub body_len: usize,
}

impl douyu_frame {
    /// The C view of a frame borrowing its body from `frame`.
    pub(crate) fn of(frame: &Frame<'_>) -> Self {
        Self {
            direction: frame.direction.to_u16(),
            encryption: frame.encryption,
            reserved: frame.reserved,
            body: frame.body.as_ptr(),
            body_len: frame.body.len(),
        }
    }
}

/// Decodes the frame at the start of `input`.
///
/// - `DOUYU_OK`: `*frame_out` is the frame (its body points into `input`)
///   and `*used_out` the bytes it took.
/// - `DOUYU_INCOMPLETE`: `input` is a valid beginning; `error_out->needed`
///   is the input length that lets decoding go on.
/// - a frame error (`DOUYU_LENGTH_MISMATCH` … `DOUYU_INVALID_UTF8`) with its
///   values in `*error_out`.
///
/// `input` may be NULL when `input_len` is 0; `error_out` may be NULL.
///
/// # Safety
/// See the crate's rules: each pointer NULL or valid for what it names.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn douyu_frame_decode(
    input: *const u8,
    input_len: usize,
    frame_out: *mut douyu_frame,
    used_out: *mut usize,
    error_out: *mut douyu_error,
) -> douyu_result {
    // SAFETY: the caller's contract, for each pointer.
    let (input, frame_out, used_out, error_out) = unsafe {
        (
            bytes(input, input_len),
            Out::new(frame_out),
            Out::new(used_out),
            Out::optional(error_out),
        )
    };
    run(error_out, || {
        let (input, frame_out, used_out) = (input?, frame_out?, used_out?);
        match Frame::decode(input)? {
            Status::Complete((frame, used)) => {
                frame_out.set(douyu_frame::of(&frame));
                used_out.set(used);
                Ok(douyu_result::DOUYU_OK)
            }
            Status::Incomplete { needed } => Err(Failure(douyu_error {
                code: douyu_result::DOUYU_INCOMPLETE,
                needed: needed as u64,
                ..douyu_error::default()
            })),
        }
    })
}

/// Encodes `*frame` into `out` (`out_len` bytes), writing the frame's size
/// to `*written_out`. Needs `body_len + DOUYU_FRAME_OVERHEAD` bytes.
///
/// Fails with `DOUYU_BUFFER_FULL` (`error_out->needed`: the exact size),
/// `DOUYU_NUL_IN_BODY`, `DOUYU_INVALID_UTF8` or `DOUYU_BODY_TOO_LONG`;
/// nothing is written to `out` then.
///
/// # Safety
/// See the crate's rules; `frame->body` is valid for `frame->body_len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn douyu_frame_encode(
    frame: *const douyu_frame,
    out: *mut u8,
    out_len: usize,
    written_out: *mut usize,
    error_out: *mut douyu_error,
) -> douyu_result {
    // SAFETY: the caller's contract, for each pointer.
    let (frame, out, written_out, error_out) = unsafe {
        (
            arg(frame),
            bytes_mut(out, out_len),
            Out::new(written_out),
            Out::optional(error_out),
        )
    };
    run(error_out, || {
        let (frame, out, written_out) = (frame?, out?, written_out?);
        // SAFETY: the caller's contract for `frame->body`.
        let body = unsafe { bytes(frame.body, frame.body_len) }?;
        let body = core::str::from_utf8(body).map_err(Failure::utf8)?;
        let mut encoded = Frame::new(Direction::from_u16(frame.direction), body);
        encoded.encryption = frame.encryption;
        encoded.reserved = frame.reserved;
        // `Frame::encode` checks the body and the room before it writes.
        written_out.set(encoded.encode(out)?);
        Ok(douyu_result::DOUYU_OK)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::douyu_result::*;
    use core::ptr::{null, null_mut};

    const MRKL: &[u8] = b"\x14\0\0\0\x14\0\0\0\xb2\x02\0\0type@=mrkl/\0";

    fn empty_frame() -> douyu_frame {
        douyu_frame {
            direction: 0,
            encryption: 0,
            reserved: 0,
            body: null(),
            body_len: 0,
        }
    }

    #[test]
    fn decode_then_encode_round_trips() {
        let (mut frame, mut used) = (empty_frame(), 0);
        // SAFETY: valid pointers to locals.
        let r = unsafe {
            douyu_frame_decode(MRKL.as_ptr(), MRKL.len(), &mut frame, &mut used, null_mut())
        };
        assert_eq!(
            (r, used, frame.direction, frame.body_len),
            (DOUYU_OK, 24, 690, 11)
        );
        let mut out = [0u8; 24];
        let mut written = 0;
        let mut e = douyu_error::default();
        // SAFETY: as above; `frame.body` points into MRKL.
        let r = unsafe { douyu_frame_encode(&frame, out.as_mut_ptr(), 24, &mut written, &mut e) };
        assert_eq!((r, written, &out[..]), (DOUYU_OK, 24, MRKL));
        // One byte short: refused with the exact size, nothing written.
        let mut small = [7u8; 23];
        // SAFETY: as above.
        let r = unsafe { douyu_frame_encode(&frame, small.as_mut_ptr(), 23, &mut written, &mut e) };
        assert_eq!((r, e.needed, e.capacity), (DOUYU_BUFFER_FULL, 24, 23));
        assert_eq!(small, [7u8; 23]);
    }

    #[test]
    fn short_input_is_incomplete_and_outputs_stay_untouched() {
        let (mut frame, mut used) = (empty_frame(), 99);
        let mut e = douyu_error::default();
        // SAFETY: valid pointers to locals.
        let r = unsafe { douyu_frame_decode(MRKL.as_ptr(), 5, &mut frame, &mut used, &mut e) };
        assert_eq!(
            (r, e.code, e.needed, used),
            (DOUYU_INCOMPLETE, DOUYU_INCOMPLETE, 12, 99)
        );
        // SAFETY: NULL input with length 0 is allowed.
        let r = unsafe { douyu_frame_decode(null(), 0, &mut frame, &mut used, null_mut()) };
        assert_eq!(r, DOUYU_INCOMPLETE);
    }

    #[test]
    fn null_pointers_are_refused() {
        let mut used = 0;
        // SAFETY: NULL is what is being tested.
        let r = unsafe { douyu_frame_decode(null(), 4, null_mut(), &mut used, null_mut()) };
        assert_eq!(r, DOUYU_NULL_POINTER);
        // SAFETY: as above.
        let r = unsafe { douyu_frame_encode(null(), null_mut(), 0, &mut used, null_mut()) };
        assert_eq!(r, DOUYU_NULL_POINTER);
    }

    #[test]
    fn a_body_that_is_not_utf8_is_refused_with_its_offset() {
        let body = b"ab\xff";
        let frame = douyu_frame {
            body: body.as_ptr(),
            body_len: 3,
            ..empty_frame()
        };
        let (mut out, mut written) = ([0u8; 32], 0);
        let mut e = douyu_error::default();
        // SAFETY: valid pointers to locals.
        let r = unsafe { douyu_frame_encode(&frame, out.as_mut_ptr(), 32, &mut written, &mut e) };
        assert_eq!((r, e.offset), (DOUYU_INVALID_UTF8, 2));
    }
}
