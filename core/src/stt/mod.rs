//! STT, the text serialization inside every frame body (PROTOCOL.md §3).
//!
//! ```text
//! message := pair*            pair  := key "@=" value "/"
//! list    := (item "/")*      key, value, item := escaped text
//! escape  : "@" → "@A"   "/" → "@S"
//! ```
//!
//! A value that is itself a map or a list is serialized and then escaped once
//! more, so nesting shows as doubled escapes. Escaping `k` times maps `@` to
//! `@` + `A`×k and `/` to `@` + `A`×(k−1) + `S`: every level of nesting can
//! therefore be read **in place**, straight from the frame body, by counting
//! the `A`s after each `@`. [`Map`], [`List`] and [`Text`] are such views:
//! they borrow the body and remember how many times it is escaped, so opening
//! a value at any depth copies nothing.
//!
//! ```
//! use douyu_core::stt::Map;
//! let body = "type@=chatmsg/txt@=hi@S/el@=eid@AA=7@ASetp@AA=1@AS@S/";
//! let msg = Map::new(body);
//! assert!(msg.get("txt")?.unwrap() == "hi/");
//! let el = msg.get("el")?.unwrap().as_list();
//! let first = el.items().next().unwrap()?.as_map();
//! assert!(first.get("eid")?.unwrap() == "7");
//! # Ok::<(), douyu_core::stt::SttError>(())
//! ```
//!
//! STT is not self-describing (`a@Sb@S` is the string `a/b/` or the list
//! `[a, b]`): the caller, or a typed view in [`crate::message`], says which.
//!
//! [`Writer`] builds bodies into a fixed buffer, escaping once per level.

/// The byte that ends a pair and a list item (`/`).
pub const END: u8 = b'/';
/// The byte that starts every mark: a key's end and each escape (`@`).
pub const MARK: u8 = b'@';
/// After [`MARK`], the end of a key (`@=`).
pub const KEY_LETTER: u8 = b'=';
/// After [`MARK`], one level of escaping of `@` (`@A`); repeated once more
/// for each level of nesting.
pub const MARK_LETTER: u8 = b'A';
/// After [`MARK`] (and its `A`s), an escaped [`END`] (`@S`).
pub const END_LETTER: u8 = b'S';
/// Between a key and its value: [`MARK`] then [`KEY_LETTER`].
pub const KEY_END: [u8; 2] = [MARK, KEY_LETTER];
/// `@` escaped once: [`MARK`] then [`MARK_LETTER`].
pub const ESCAPED_MARK: [u8; 2] = [MARK, MARK_LETTER];
/// `/` escaped once: [`MARK`] then [`END_LETTER`].
pub const ESCAPED_END: [u8; 2] = [MARK, END_LETTER];

mod block;
mod grammar;
mod read;
mod scan;
mod write;

use core::fmt;

pub use read::{Items, List, Map, Pairs, Pieces, Text};
pub use write::{ListWriter, MapWriter, Writer};

/// Errors of the STT layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SttError {
    /// An `@` not followed by a valid escape for its nesting level.
    BadEscape {
        /// Byte offset of the `@` in the body.
        offset: usize,
    },
    /// A pair whose key is not followed by `@=`.
    MissingSeparator {
        /// Byte offset in the body where the pair starts.
        offset: usize,
    },
    /// The output buffer is full (encoding or unescaping).
    ///
    /// The same shape as [`FrameError::BufferFull`](crate::frame::FrameError::BufferFull)
    /// and [`SessionError::BufferFull`](crate::session::SessionError::BufferFull).
    BufferFull {
        /// Bytes needed at least: where the write that did not fit would have
        /// ended. Writing stops there, so the whole output may need more.
        needed: usize,
        /// Size of the buffer that was too small.
        capacity: usize,
    },
    /// Text to encode holds a NUL byte, which no frame body may carry.
    NulByte {
        /// Byte offset of the NUL in the text given to the writer.
        offset: usize,
    },
}

impl SttError {
    /// The class name used by the conformance vectors (`bad_escape`, …).
    #[must_use]
    pub const fn class(&self) -> &'static str {
        match self {
            Self::BadEscape { .. } => "bad_escape",
            Self::MissingSeparator { .. } => "missing_separator",
            Self::BufferFull { .. } => "buffer_full",
            Self::NulByte { .. } => "nul_byte",
        }
    }
}

impl fmt::Display for SttError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::BadEscape { offset } => write!(f, "bad escape at byte {offset}"),
            Self::MissingSeparator { offset } => {
                write!(f, "pair at byte {offset} has no `@=`")
            }
            Self::BufferFull { needed, capacity } => {
                write!(
                    f,
                    "output needs at least {needed} bytes, buffer has {capacity}"
                )
            }
            Self::NulByte { offset } => write!(f, "NUL byte at offset {offset} of text"),
        }
    }
}

impl core::error::Error for SttError {}
