//! The core's errors as JavaScript exceptions (`js/errors.js`), each with the
//! core's class name as `kind` and the offsets and values it carries.

use douyu_core::frame::FrameError;
use douyu_core::session::SessionError;
use douyu_core::stream::StreamError;
use douyu_core::stt::SttError;
use js_sys::{Object, Reflect};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/js/errors.js")]
extern "C" {
    #[wasm_bindgen(js_name = makeError)]
    fn make_error(which: &str, message: &str, details: &Object) -> JsValue;
}

/// The family of an exception: its JavaScript class.
#[derive(Debug, Clone, Copy)]
pub enum Family {
    /// `DecodeError`.
    Decode,
    /// `EncodeError`.
    Encode,
    /// `SessionError`.
    Session,
}

/// An exception's fields, gathered before it is made.
struct Details(Object);

impl Details {
    fn new(kind: &str) -> Self {
        let d = Self(Object::new());
        d.set("kind", kind);
        d
    }

    fn set(&self, key: &str, value: impl Into<JsValue>) {
        // Setting a property of a fresh plain object cannot fail.
        let _ = Reflect::set(&self.0, &JsValue::from_str(key), &value.into());
    }

    /// Offsets and sizes as JavaScript numbers (exact below 2^53).
    #[allow(clippy::cast_precision_loss)]
    fn number(&self, key: &str, value: u64) {
        self.set(key, value as f64);
    }

    fn finish(self, family: Family, message: &str) -> JsValue {
        let which = match family {
            Family::Decode => "decode",
            Family::Encode => "encode",
            Family::Session => "session",
        };
        make_error(which, message, &self.0)
    }
}

/// A frame error at a stream offset: `offset` is the frame's position in the
/// stream, `fatal` whether the stream can go on.
#[must_use]
pub fn stream(e: &StreamError) -> JsValue {
    let d = Details::new(e.error.class());
    d.number("offset", e.offset);
    d.set("fatal", e.is_fatal());
    frame_fields(&d, &e.error);
    d.finish(Family::Decode, &e.to_string())
}

/// A frame error with no stream around it (encoding).
#[must_use]
pub fn frame(e: &FrameError, family: Family) -> JsValue {
    let d = Details::new(e.class());
    frame_fields(&d, e);
    d.finish(family, &e.to_string())
}

/// A malformed body of the frame at stream offset `offset` (`None` for text
/// not from a stream); `bodyOffset` is the byte offset in the body or text.
#[must_use]
pub fn stt(e: &SttError, offset: Option<u64>, family: Family) -> JsValue {
    let d = Details::new(e.class());
    if let Some(offset) = offset {
        d.number("offset", offset);
        d.set("fatal", false);
    }
    stt_fields(&d, e);
    let message = match offset {
        Some(offset) => format!("frame at stream offset {offset}: {e}"),
        None => e.to_string(),
    };
    d.finish(family, &message)
}

/// A session error: input the client could not read, or a call it refused.
#[must_use]
pub fn session(e: &SessionError) -> JsValue {
    match e {
        SessionError::Stream(s) => stream(s),
        SessionError::Stt(s) => stt(s, None, Family::Decode),
        SessionError::UnexpectedType { found } => {
            let d = Details::new("unexpected_type");
            d.set("found", found.to_u16());
            d.finish(Family::Decode, &e.to_string())
        }
        other => {
            let d = match other {
                SessionError::OutOfOrder { message } => {
                    let d = Details::new("out_of_order");
                    d.set("message", *message);
                    d
                }
                SessionError::BadField { field } => {
                    let d = Details::new("bad_field");
                    d.set("field", *field);
                    d
                }
                SessionError::BufferFull { needed, capacity } => {
                    let d = Details::new("buffer_full");
                    d.number("needed", *needed as u64);
                    d.number("capacity", *capacity as u64);
                    d
                }
                _ => Details::new("not_ready"),
            };
            d.finish(Family::Session, &e.to_string())
        }
    }
}

fn frame_fields(d: &Details, e: &FrameError) {
    match *e {
        FrameError::LengthMismatch { first, second } => {
            d.set("first", first);
            d.set("second", second);
        }
        FrameError::TooShort { length } => d.set("length", length),
        FrameError::TooLarge { length, capacity } => {
            d.set("length", length);
            d.number("capacity", capacity as u64);
        }
        FrameError::MissingTerminator { found } => d.set("found", found),
        FrameError::NulInBody { offset } => d.number("bodyOffset", offset as u64),
        FrameError::InvalidUtf8 { valid_up_to } => d.number("validUpTo", valid_up_to as u64),
        FrameError::BodyTooLong { len, max } => {
            d.number("length", len as u64);
            d.number("max", max as u64);
        }
        FrameError::BufferFull { needed, capacity } => {
            d.number("needed", needed as u64);
            d.number("capacity", capacity as u64);
        }
        FrameError::Body(s) => stt_fields(d, &s),
        _ => {}
    }
}

fn stt_fields(d: &Details, e: &SttError) {
    match *e {
        SttError::BadEscape { offset }
        | SttError::MissingSeparator { offset }
        | SttError::NulByte { offset } => d.number("bodyOffset", offset as u64),
        SttError::BufferFull { needed, capacity } => {
            d.number("needed", needed as u64);
            d.number("capacity", capacity as u64);
        }
        _ => {}
    }
}
