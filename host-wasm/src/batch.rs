//! Decoded messages handed to JavaScript in one piece.
//!
//! Crossing from WebAssembly to JavaScript costs per call, and turning UTF-8
//! into a JS string costs per string; a message has a dozen or more strings.
//! So a batch holds all unescaped keys and values of many messages in one
//! string, decoded once by JavaScript, plus an index of lengths in UTF-16
//! code units, by which `js/api.js` slices it into plain objects. The bodies
//! go apart, as bytes: only `pairs()` and `frameOf()` read them, so they are
//! turned into strings on demand (decoding UTF-8 was a third of the time).
//!
//! Index layout, per message: the frame's type field (bits 0–15, with the
//! encryption byte in bits 16–23 and the reserved byte in 24–31), its stream offset
//! (low, high 32 bits; both `u32::MAX` when unknown), the body's length in
//! bytes, the number of pairs `n` kept (first value of each key), then `n`
//! key and value lengths. The text holds each key and value; `bodies` the
//! bodies, back to back.

use douyu_core::stt::{Map, SttError, Text};

/// Marks a message whose stream offset is not known (the client session's).
pub const NO_OFFSET: u64 = u64::MAX;

/// Messages decoded and not yet handed over.
#[derive(Debug, Default)]
pub struct Batch {
    /// Keys and values, back to back.
    pub text: String,
    /// Bodies, back to back.
    pub bodies: Vec<u8>,
    /// Lengths and counts; see the module docs.
    pub index: Vec<u32>,
    /// Byte ranges in `text` of the keys of the message being added, to keep
    /// the first value of each key.
    keys: Vec<(usize, usize)>,
    /// Where the last message added starts in `index`.
    last: Option<usize>,
}

impl Batch {
    /// Empties the batch, keeping its memory unless one call made it large.
    pub fn clear(&mut self) {
        self.last = None;
        const KEEP: usize = 1 << 20;
        self.text.clear();
        self.index.clear();
        self.bodies.clear();
        if self.text.capacity() > KEEP {
            self.text.shrink_to(KEEP);
        }
        if self.index.capacity() > KEEP / 4 {
            self.index.shrink_to(KEEP / 4);
        }
    }

    /// Adds the message in `body`. On a malformed body nothing is added and
    /// the core's error is returned.
    pub fn push(&mut self, head: u32, offset: u64, body: &str) -> Result<(), SttError> {
        let marks = (self.text.len(), self.index.len(), self.bodies.len());
        let result = self.push_pairs(head, offset, body);
        if result.is_err() {
            self.last = None;
            self.text.truncate(marks.0);
            self.index.truncate(marks.1);
            self.bodies.truncate(marks.2);
        }
        result
    }

    /// Sets the stream offset of the message added last.
    pub fn set_last_offset(&mut self, offset: u64) {
        if let Some(at) = self.last {
            let (lo, hi) = split(offset);
            self.index[at + 1] = lo;
            self.index[at + 2] = hi;
        }
    }

    fn push_pairs(&mut self, head: u32, offset: u64, body: &str) -> Result<(), SttError> {
        let (lo, hi) = split(offset);
        self.last = Some(self.index.len());
        self.index.extend_from_slice(&[head, lo, hi, 0, 0]);
        let count_at = self.index.len() - 1;
        // A body is shorter than 4 GiB: the length field is 32 bits.
        self.index[count_at - 1] = u32::try_from(body.len()).unwrap_or(u32::MAX);
        self.bodies.extend_from_slice(body.as_bytes());
        self.keys.clear();
        let mut count = 0;
        for pair in Map::new(body).pairs() {
            let (key, value) = pair?;
            let start = self.text.len();
            let key_len = self.push_text(key);
            let end = self.text.len();
            // Lengths first: most keys differ in length, and this loop runs
            // for every pair of every message.
            let text = self.text.as_bytes();
            let new_key = &text[start..end];
            let seen = self
                .keys
                .iter()
                .any(|&(s, e)| e - s == new_key.len() && &text[s..e] == new_key);
            if seen {
                self.text.truncate(start);
                continue;
            }
            self.keys.push((start, end));
            let value_len = self.push_text(value);
            self.index.extend_from_slice(&[key_len, value_len]);
            count += 1;
        }
        self.index[count_at] = count;
        Ok(())
    }

    /// Appends `text` unescaped once; returns its length in UTF-16 units.
    fn push_text(&mut self, text: Text<'_>) -> u32 {
        let start = self.text.len();
        for piece in text.pieces() {
            self.text.push_str(piece);
        }
        utf16_len(&self.text[start..])
    }
}

/// The first word of a message's index entry: type field, encryption and
/// reserved bytes.
#[must_use]
pub fn head(frame: &douyu_core::frame::Frame<'_>) -> u32 {
    u32::from(frame.direction.to_u16())
        | u32::from(frame.encryption) << 16
        | u32::from(frame.reserved) << 24
}

/// A u64's low and high 32 bits.
#[allow(clippy::cast_possible_truncation)]
const fn split(value: u64) -> (u32, u32) {
    (value as u32, (value >> 32) as u32)
}

/// Length of `s` in UTF-16 code units, as JavaScript counts string indices.
#[must_use]
pub fn utf16_len(s: &str) -> u32 {
    let bytes = s.as_bytes();
    let units = if bytes.is_ascii() {
        bytes.len()
    } else {
        // One unit per character (every byte but a continuation byte), one
        // more per character beyond the BMP (4-byte sequences).
        bytes
            .iter()
            .map(|&b| usize::from((b as i8) >= -0x40) + usize::from(b >= 0xF0))
            .sum()
    };
    // A string handed to JavaScript is shorter than 4 GiB.
    u32::try_from(units).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_lengths_match_std() {
        for s in [
            "",
            "abc",
            "鱼丸",
            "🐟 fish",
            "a\u{7ff}\u{800}\u{ffff}\u{10000}",
        ] {
            assert_eq!(utf16_len(s) as usize, s.encode_utf16().count(), "{s}");
        }
    }

    #[test]
    fn first_value_of_each_key_unescaped_once() {
        let mut b = Batch::default();
        b.push(690, 7, "type@=x/nn@=a@Sb/type@=y/el@=k@A=v@S/")
            .unwrap();
        let body = "type@=x/nn@=a@Sb/type@=y/el@=k@A=v@S/";
        assert_eq!(b.text, "typexnna/belk@=v/");
        assert_eq!(b.bodies, body.as_bytes());
        assert_eq!(b.index, [690, 7, 0, body.len() as u32, 3, 4, 1, 2, 3, 2, 5]);
    }

    #[test]
    fn a_bad_body_adds_nothing() {
        let mut b = Batch::default();
        b.push(690, 0, "a@=1/").unwrap();
        let (t, i) = (b.text.clone(), b.index.clone());
        assert!(b.push(690, 30, "a@=1/b@=x@Q/").is_err());
        assert_eq!((b.text, b.index), (t, i));
    }
}
