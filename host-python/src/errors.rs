//! The core's errors as Python exceptions.
//!
//! The exception classes are Python classes (`douyu/_errors.py`), so that
//! they read like any Python library's; this module only picks the kind
//! (decode, encode, session), passes the core's error class name
//! ([`FrameError::class`], [`SttError::class`]), its message (the core's
//! `Display`), the stream offset and whether the stream is lost, and the
//! values the core's variant carries.

use douyu_core::frame::FrameError;
use douyu_core::session::SessionError;
use douyu_core::stream::StreamError;
use douyu_core::stt::SttError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Which Python base class an error belongs to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    /// Bad input from a peer: `douyu.DecodeError`.
    Decode,
    /// A message that cannot be written: `douyu.EncodeError`.
    Encode,
    /// A session call at the wrong time or over a limit: `douyu.SessionError`.
    Session,
}

impl Kind {
    const fn name(self) -> &'static str {
        match self {
            Self::Decode => "decode",
            Self::Encode => "encode",
            Self::Session => "session",
        }
    }
}

/// The values a core error variant carries, by the names Python shows.
type Details = Vec<(&'static str, u64)>;

/// An error to raise, built by `douyu._errors._make`.
pub(crate) struct Raise {
    pub kind: Kind,
    pub class: &'static str,
    pub message: String,
    pub offset: Option<u64>,
    pub fatal: bool,
    pub details: Details,
}

impl Raise {
    /// The Python exception. Should building it fail (the package broken),
    /// that failure is raised instead: an error is raised either way.
    pub(crate) fn into_err(self, py: Python<'_>) -> PyErr {
        let build = || -> PyResult<PyErr> {
            let details = PyDict::new(py);
            for (key, value) in &self.details {
                details.set_item(key, value)?;
            }
            let exc = py.import("douyu._errors")?.getattr("_make")?.call1((
                self.kind.name(),
                self.class,
                &self.message,
                self.offset,
                self.fatal,
                details,
            ))?;
            Ok(PyErr::from_value(exc))
        };
        build().unwrap_or_else(|e| e)
    }
}

fn stt_details(e: &SttError) -> Details {
    match *e {
        SttError::BadEscape { offset } | SttError::MissingSeparator { offset } => {
            vec![("body_offset", offset as u64)]
        }
        SttError::BufferFull { needed, capacity } => {
            vec![("needed", needed as u64), ("capacity", capacity as u64)]
        }
        SttError::NulByte { offset } => vec![("text_offset", offset as u64)],
        _ => Vec::new(),
    }
}

fn frame_details(e: &FrameError) -> Details {
    match *e {
        FrameError::LengthMismatch { first, second } => {
            vec![("first", first.into()), ("second", second.into())]
        }
        FrameError::TooShort { length } => vec![("length", length.into())],
        FrameError::TooLarge { length, capacity } => {
            vec![("length", length.into()), ("capacity", capacity as u64)]
        }
        FrameError::MissingTerminator { found } => vec![("found", found.into())],
        FrameError::NulInBody { offset } => vec![("body_offset", offset as u64)],
        FrameError::InvalidUtf8 { valid_up_to } => vec![("valid_up_to", valid_up_to as u64)],
        FrameError::BodyTooLong { len, max } => vec![("length", len as u64), ("max", max as u64)],
        FrameError::BufferFull { needed, capacity } => {
            vec![("needed", needed as u64), ("capacity", capacity as u64)]
        }
        FrameError::Body(e) => stt_details(&e),
        _ => Vec::new(),
    }
}

/// A frame the stream decoder rejected.
pub(crate) fn stream(e: StreamError) -> Raise {
    Raise {
        kind: Kind::Decode,
        class: e.error.class(),
        message: e.to_string(),
        offset: Some(e.offset),
        fatal: e.is_fatal(),
        details: frame_details(&e.error),
    }
}

/// A body (or nested text) that is not STT; `offset` is the stream offset of
/// its frame, when it came from a stream.
pub(crate) fn stt(e: SttError, offset: Option<u64>) -> Raise {
    let message = match offset {
        Some(at) => format!("frame at stream offset {at}: {e}"),
        None => e.to_string(),
    };
    Raise {
        kind: Kind::Decode,
        class: e.class(),
        message,
        offset,
        fatal: false,
        details: stt_details(&e),
    }
}

/// A frame that could not be encoded.
pub(crate) fn encode(e: FrameError) -> Raise {
    Raise {
        kind: Kind::Encode,
        class: e.class(),
        message: e.to_string(),
        offset: None,
        fatal: false,
        details: frame_details(&e),
    }
}

/// What a client session found wrong with the server's input: a bad frame, a
/// bad body, or a message the session cannot take.
pub(crate) fn peer(e: SessionError) -> Raise {
    let (class, details): (&'static str, Details) = match e {
        SessionError::Stream(e) => return stream(e),
        SessionError::Stt(e) => return stt(e, None),
        SessionError::UnexpectedType { found } => {
            ("unexpected_type", vec![("found", found.to_u16().into())])
        }
        SessionError::OutOfOrder { .. } => ("out_of_order", Vec::new()),
        SessionError::BadField { .. } => ("bad_field", Vec::new()),
        // The rest are the host's doing, not the peer's.
        other => return local(other),
    };
    Raise {
        kind: Kind::Decode,
        class,
        message: e.to_string(),
        offset: None,
        fatal: false,
        details,
    }
}

/// A session call refused: not ready, over a limit, or text no frame can carry.
pub(crate) fn local(e: SessionError) -> Raise {
    let (kind, class, details): (Kind, &'static str, Details) = match e {
        SessionError::Stt(stt) => (Kind::Encode, stt.class(), stt_details(&stt)),
        SessionError::BufferFull { needed, capacity } => (
            Kind::Session,
            "buffer_full",
            vec![("needed", needed as u64), ("capacity", capacity as u64)],
        ),
        SessionError::NotReady => (Kind::Session, "not_ready", Vec::new()),
        _ => (Kind::Session, "session_error", Vec::new()),
    };
    Raise {
        kind,
        class,
        message: e.to_string(),
        offset: None,
        fatal: false,
        details,
    }
}
