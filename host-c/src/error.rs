//! Result codes and error details: the core's error enums, flattened for C.

use core::ffi::c_char;

use douyu_core::frame::FrameError;
use douyu_core::session::SessionError;
use douyu_core::stream::StreamError;
use douyu_core::stt::SttError;

/// What a function did. `DOUYU_OK` and the three codes after it are not
/// errors; everything from `DOUYU_NULL_POINTER` on is.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum douyu_result {
    /// Success.
    #[default]
    DOUYU_OK = 0,
    /// The input is a valid beginning: more bytes are needed (a frame cut
    /// short; for a stream decoder, no whole frame yet).
    DOUYU_INCOMPLETE = 1,
    /// Nothing more: an iteration ended, no event is pending, nothing is to
    /// be sent, no timeout is set.
    DOUYU_DONE = 2,
    /// A lookup found no such key or index.
    DOUYU_NOT_FOUND = 3,

    /// A required pointer was NULL.
    DOUYU_NULL_POINTER = 10,
    /// An argument is out of range (a buffer too small for a decoder, a
    /// commit larger than the window, a view not made by this library).
    DOUYU_INVALID_ARGUMENT = 11,
    /// A panic was caught at the boundary: a bug in this library. The
    /// handle involved should be freed.
    DOUYU_PANIC = 12,
    /// A handle's buffer could not be allocated.
    DOUYU_OUT_OF_MEMORY = 13,

    /// Frame: the two length fields differ (fatal for a stream).
    DOUYU_LENGTH_MISMATCH = 20,
    /// Frame: the length field is below 9 (fatal for a stream).
    DOUYU_TOO_SHORT = 21,
    /// Frame: larger than the decoder's buffer; a stream skips it.
    DOUYU_TOO_LARGE = 22,
    /// Frame: the last byte is not NUL.
    DOUYU_MISSING_TERMINATOR = 23,
    /// Frame: a NUL byte inside the body.
    DOUYU_NUL_IN_BODY = 24,
    /// Frame or argument: the bytes are not UTF-8.
    DOUYU_INVALID_UTF8 = 25,
    /// Frame: a body too long for the 32-bit length field.
    DOUYU_BODY_TOO_LONG = 26,
    /// An output buffer is too small; `needed` says how large it must be.
    DOUYU_BUFFER_FULL = 27,

    /// STT: an `@` not followed by a valid escape.
    DOUYU_BAD_ESCAPE = 30,
    /// STT: a pair whose key is not followed by `@=`.
    DOUYU_MISSING_SEPARATOR = 31,
    /// STT: a text to send holds a NUL byte.
    DOUYU_NUL_BYTE = 32,

    /// Session: a frame with the other direction's (or an unknown) type field.
    DOUYU_UNEXPECTED_TYPE = 40,
    /// Session: a message out of order.
    DOUYU_OUT_OF_ORDER = 41,
    /// Session: a required field missing or unreadable.
    DOUYU_BAD_FIELD = 42,
    /// Session: not (yet, or any more) in a state to do that.
    DOUYU_NOT_READY = 43,

    /// An error of the core that this version of the C ABI has no code for.
    DOUYU_OTHER_ERROR = 99,
}

use douyu_result::*;

/// Details of a failure, written (when the pointer is not NULL) only when a
/// function fails. Fields that do not apply to the error are 0.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct douyu_error {
    /// The code the function returned.
    pub code: douyu_result,
    /// Whether a stream cannot go on after this error (the decoder repeats
    /// it on every call; close the connection).
    pub fatal: bool,
    /// Offset of the offending frame from the start of the stream (stream
    /// decoder and client session).
    pub stream_offset: u64,
    /// Byte offset of the fault in the body or text: the NUL
    /// (`DOUYU_NUL_IN_BODY`, `DOUYU_NUL_BYTE`), the length of the valid
    /// UTF-8 prefix (`DOUYU_INVALID_UTF8`), the `@` (`DOUYU_BAD_ESCAPE`),
    /// the pair's start (`DOUYU_MISSING_SEPARATOR`).
    pub offset: u64,
    /// The length field (`DOUYU_LENGTH_MISMATCH`: the first;
    /// `DOUYU_TOO_SHORT`, `DOUYU_TOO_LARGE`), or the body's length
    /// (`DOUYU_BODY_TOO_LONG`).
    pub length: u64,
    /// The second length field (`DOUYU_LENGTH_MISMATCH`).
    pub other_length: u64,
    /// Bytes needed: the buffer size that suffices (`DOUYU_BUFFER_FULL`, at
    /// least this many where the core stopped writing), or the input length
    /// that lets decoding progress (`DOUYU_INCOMPLETE`).
    pub needed: u64,
    /// The size of the buffer or limit involved (`DOUYU_BUFFER_FULL`,
    /// `DOUYU_TOO_LARGE`, `DOUYU_BODY_TOO_LONG`).
    pub capacity: u64,
    /// The byte found in place of the terminator (`DOUYU_MISSING_TERMINATOR`),
    /// or the type field found (`DOUYU_UNEXPECTED_TYPE`).
    pub found: u32,
}

/// A failure on its way to C: the code and its details.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Failure(pub(crate) douyu_error);

impl Failure {
    /// A failure with no details beyond its code.
    pub(crate) fn code(code: douyu_result) -> Self {
        Self(douyu_error {
            code,
            ..douyu_error::default()
        })
    }

    /// `DOUYU_BUFFER_FULL` for a buffer of `capacity` bytes that needed `needed`.
    pub(crate) fn buffer_full(needed: usize, capacity: usize) -> Self {
        Self(douyu_error {
            code: DOUYU_BUFFER_FULL,
            needed: needed as u64,
            capacity: capacity as u64,
            ..douyu_error::default()
        })
    }

    /// `DOUYU_INVALID_UTF8` with the length of the valid prefix.
    pub(crate) fn utf8(e: core::str::Utf8Error) -> Self {
        Self(douyu_error {
            code: DOUYU_INVALID_UTF8,
            offset: e.valid_up_to() as u64,
            ..douyu_error::default()
        })
    }
}

/// `usize` to the `u64` of [`douyu_error`]; lossless on every target Rust has.
fn wide(n: usize) -> u64 {
    n as u64
}

impl From<FrameError> for Failure {
    fn from(e: FrameError) -> Self {
        let mut d = douyu_error {
            fatal: e.is_fatal(),
            ..douyu_error::default()
        };
        d.code = match e {
            FrameError::LengthMismatch { first, second } => {
                (d.length, d.other_length) = (first.into(), second.into());
                DOUYU_LENGTH_MISMATCH
            }
            FrameError::TooShort { length } => {
                d.length = length.into();
                DOUYU_TOO_SHORT
            }
            FrameError::TooLarge { length, capacity } => {
                d.length = length.into();
                d.needed = u64::from(length) + 4;
                d.capacity = wide(capacity);
                DOUYU_TOO_LARGE
            }
            FrameError::MissingTerminator { found } => {
                d.found = found.into();
                DOUYU_MISSING_TERMINATOR
            }
            FrameError::NulInBody { offset } => {
                d.offset = wide(offset);
                DOUYU_NUL_IN_BODY
            }
            FrameError::InvalidUtf8 { valid_up_to } => {
                d.offset = wide(valid_up_to);
                DOUYU_INVALID_UTF8
            }
            FrameError::BodyTooLong { len, max } => {
                (d.length, d.capacity) = (wide(len), wide(max));
                DOUYU_BODY_TOO_LONG
            }
            FrameError::BufferFull { needed, capacity } => {
                (d.needed, d.capacity) = (wide(needed), wide(capacity));
                DOUYU_BUFFER_FULL
            }
            FrameError::Body(e) => return e.into(),
            _ => DOUYU_OTHER_ERROR,
        };
        Self(d)
    }
}

impl From<SttError> for Failure {
    fn from(e: SttError) -> Self {
        let mut d = douyu_error::default();
        d.code = match e {
            SttError::BadEscape { offset } => {
                d.offset = wide(offset);
                DOUYU_BAD_ESCAPE
            }
            SttError::MissingSeparator { offset } => {
                d.offset = wide(offset);
                DOUYU_MISSING_SEPARATOR
            }
            SttError::BufferFull { needed, capacity } => {
                (d.needed, d.capacity) = (wide(needed), wide(capacity));
                DOUYU_BUFFER_FULL
            }
            SttError::NulByte { offset } => {
                d.offset = wide(offset);
                DOUYU_NUL_BYTE
            }
            _ => DOUYU_OTHER_ERROR,
        };
        Self(d)
    }
}

impl From<StreamError> for Failure {
    fn from(e: StreamError) -> Self {
        let mut failure = Self::from(e.error);
        failure.0.stream_offset = e.offset;
        failure
    }
}

impl From<SessionError> for Failure {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Stream(e) => e.into(),
            SessionError::Stt(e) => e.into(),
            SessionError::UnexpectedType { found } => Self(douyu_error {
                code: DOUYU_UNEXPECTED_TYPE,
                found: found.to_u16().into(),
                ..douyu_error::default()
            }),
            SessionError::OutOfOrder { .. } => Self::code(DOUYU_OUT_OF_ORDER),
            SessionError::BadField { .. } => Self::code(DOUYU_BAD_FIELD),
            SessionError::BufferFull { needed, capacity } => Self::buffer_full(needed, capacity),
            SessionError::NotReady => Self::code(DOUYU_NOT_READY),
            _ => Self::code(DOUYU_OTHER_ERROR),
        }
    }
}

/// A static, NUL-terminated English description of `code` (a
/// [`douyu_result`] value; any other number gets "unknown result code").
///
/// Takes an integer, not the enum, so that no value C passes is undefined.
#[unsafe(no_mangle)]
pub extern "C" fn douyu_result_message(code: u32) -> *const c_char {
    let text: &'static core::ffi::CStr = match code {
        0 => c"success",
        1 => c"incomplete: more bytes are needed",
        2 => c"done: nothing more",
        3 => c"not found",
        10 => c"a required pointer is NULL",
        11 => c"invalid argument",
        12 => c"internal error: a panic was caught (a bug in douyu)",
        13 => c"out of memory",
        20 => c"frame length fields differ",
        21 => c"frame length below the minimum of 9",
        22 => c"frame larger than the buffer",
        23 => c"frame does not end with NUL",
        24 => c"NUL byte inside the frame body",
        25 => c"not UTF-8",
        26 => c"body too long for the length field",
        27 => c"output buffer too small",
        28..=29 => c"unknown result code",
        30 => c"STT: bad escape",
        31 => c"STT: pair without its key-value separator",
        32 => c"STT: text holds a NUL byte",
        40 => c"session: unexpected frame type",
        41 => c"session: message out of order",
        42 => c"session: missing or bad field",
        43 => c"session: not ready",
        99 => c"an error this version of the C ABI has no code for",
        _ => c"unknown result code",
    };
    text.as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::ffi::CStr;

    #[test]
    fn every_code_has_its_own_message() {
        let codes = [
            DOUYU_OK,
            DOUYU_INCOMPLETE,
            DOUYU_DONE,
            DOUYU_NOT_FOUND,
            DOUYU_NULL_POINTER,
            DOUYU_INVALID_ARGUMENT,
            DOUYU_PANIC,
            DOUYU_OUT_OF_MEMORY,
            DOUYU_LENGTH_MISMATCH,
            DOUYU_TOO_SHORT,
            DOUYU_TOO_LARGE,
            DOUYU_MISSING_TERMINATOR,
            DOUYU_NUL_IN_BODY,
            DOUYU_INVALID_UTF8,
            DOUYU_BODY_TOO_LONG,
            DOUYU_BUFFER_FULL,
            DOUYU_BAD_ESCAPE,
            DOUYU_MISSING_SEPARATOR,
            DOUYU_NUL_BYTE,
            DOUYU_UNEXPECTED_TYPE,
            DOUYU_OUT_OF_ORDER,
            DOUYU_BAD_FIELD,
            DOUYU_NOT_READY,
            DOUYU_OTHER_ERROR,
        ];
        let message = |code: u32| {
            // SAFETY: the function returns a static NUL-terminated string.
            unsafe { CStr::from_ptr(douyu_result_message(code)) }
                .to_str()
                .unwrap()
        };
        let unknown = message(7);
        assert_eq!(unknown, "unknown result code");
        let mut seen = std::collections::HashSet::new();
        for code in codes {
            let text = message(code as u32);
            assert_ne!(text, unknown, "{code:?}");
            assert!(seen.insert(text), "{code:?} shares its message");
        }
        assert_eq!(message(u32::MAX), unknown);
    }

    #[test]
    fn frame_errors_keep_their_values() {
        let f = Failure::from(FrameError::LengthMismatch {
            first: 20,
            second: 99,
        });
        assert_eq!(
            (f.0.code, f.0.fatal, f.0.length, f.0.other_length),
            (DOUYU_LENGTH_MISMATCH, true, 20, 99)
        );
        let f = Failure::from(StreamError {
            offset: 48,
            error: FrameError::NulInBody { offset: 3 },
        });
        assert_eq!(
            (f.0.code, f.0.fatal, f.0.stream_offset, f.0.offset),
            (DOUYU_NUL_IN_BODY, false, 48, 3)
        );
        let f = Failure::from(FrameError::Body(SttError::NulByte { offset: 5 }));
        assert_eq!((f.0.code, f.0.offset), (DOUYU_NUL_BYTE, 5));
    }
}
