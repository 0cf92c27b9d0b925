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
//! Keys repeat from message to message, so a decoder's batch numbers them
//! (up to [`MAX_KEYS`] keys of up to [`MAX_KEY_LEN`] bytes, then it stops
//! adding): a known key is its number in the index, and JavaScript keeps one
//! string per number. The sequence of key numbers of a message is numbered
//! too (a *shape*, up to [`MAX_SHAPES`]), so that JavaScript can build the
//! messages of one shape alike. Both tables are bounded: what a peer sends
//! beyond them is handed over as text, as without the tables.
//!
//! Index layout, per message: the frame's type field (bits 0–15, with the
//! encryption byte in bits 16–23 and the reserved byte in 24–31), its stream
//! offset (low, high 32 bits; both `u32::MAX` when unknown), the body's
//! length in bytes, the number of pairs `n` kept (first value of each key),
//! the shape ([`NO_SHAPE`] when the message has none), then `n` pairs of a
//! key word and the value's length. A key word is the key's number, or
//! [`INLINE`] plus the key's length when the key is in the text before its
//! value; [`NEW`] is added when that key has just been given the next
//! number. A message with a shape has every key numbered and none inline.
//! The text holds the keys given inline and every value; `bodies` the
//! bodies, back to back.

use douyu_core::stt::{Map, SttError, Text};

/// Marks a message whose stream offset is not known (the client session's).
pub const NO_OFFSET: u64 = u64::MAX;
/// The shape word of a message that has no shape.
pub const NO_SHAPE: u32 = u32::MAX;
/// A key word's flag: the key is in the text, this long (UTF-16 units).
pub const INLINE: u32 = 1 << 31;
/// A key word's flag (with [`INLINE`]): this key now has the next number.
pub const NEW: u32 = 1 << 30;
/// Keys numbered per decoder, at most.
pub const MAX_KEYS: usize = 1024;
/// Longest key numbered, in bytes.
pub const MAX_KEY_LEN: usize = 64;
/// Shapes numbered per decoder, at most.
pub const MAX_SHAPES: usize = 1024;
/// Pairs in a message with a shape, at most.
const MAX_SHAPE_LEN: usize = 128;

/// Byte strings numbered in order of arrival, found again by a hash table.
#[derive(Debug, Default)]
struct Table {
    /// The entries, back to back.
    arena: Vec<u8>,
    /// Each entry's end in `arena`.
    ends: Vec<u32>,
    /// Open addressing: entry number + 1, 0 for an empty slot.
    slots: Vec<u16>,
}

impl Table {
    /// The number of `entry` and whether it is new, or `None` when it is
    /// not there and the table holds `max` (≤ 32767) entries already.
    #[inline(never)]
    fn find_or_add(&mut self, entry: &[u8], max: usize) -> Option<(u32, bool)> {
        if self.slots.is_empty() {
            self.slots = vec![0; (max * 2).next_power_of_two()];
        }
        let mask = self.slots.len() - 1;
        // FNV-1a.
        let mut at = entry.iter().fold(0x811c_9dc5_u32, |h, &b| {
            (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
        }) as usize;
        loop {
            at &= mask;
            let n = usize::from(self.slots[at]);
            if n == 0 {
                break;
            }
            let start = if n == 1 { 0 } else { self.ends[n - 2] as usize };
            if self.arena.get(start..self.ends[n - 1] as usize) == Some(entry) {
                return Some((n as u32 - 1, false));
            }
            at += 1;
        }
        let n = self.ends.len();
        if n >= max {
            return None;
        }
        self.arena.extend_from_slice(entry);
        // Entries are short and few: the arena stays far below 4 GiB.
        self.ends.push(self.arena.len() as u32);
        // n < max ≤ 32767.
        self.slots[at] = n as u16 + 1;
        Some((n as u32, true))
    }
}

/// Messages decoded and not yet handed over.
#[derive(Debug, Default)]
pub struct Batch {
    /// Keys given inline and values, back to back.
    pub text: String,
    /// Bodies, back to back.
    pub bodies: Vec<u8>,
    /// Lengths and counts; see the module docs.
    pub index: Vec<u32>,
    /// Whether keys and shapes are numbered (a decoder's batch, whose
    /// numbers JavaScript keeps from call to call).
    numbered: bool,
    keys: Table,
    shapes: Table,
    /// Key numbers of the message being added, and the byte ranges in
    /// `text` of its keys without one.
    seen: Vec<u32>,
    inline: Vec<(usize, usize)>,
    /// Scratch: a key unescaped; a shape as bytes.
    scratch: String,
    shape: Vec<u8>,
    /// The tables were emptied (after a malformed body, which may have
    /// numbered keys JavaScript never saw): JavaScript must empty its own.
    pub reset: bool,
    /// Where the last message added starts in `index`.
    last: Option<usize>,
}

impl Batch {
    /// A batch that numbers keys and shapes, for a decoder.
    #[must_use]
    pub fn numbered() -> Self {
        Self {
            numbered: true,
            ..Self::default()
        }
    }

    /// Empties the batch, keeping its memory unless one call made it large.
    /// The numbers of keys and shapes stay.
    pub fn clear(&mut self) {
        self.last = None;
        self.reset = false;
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
        if self.bodies.capacity() > KEEP {
            self.bodies.shrink_to(KEEP);
        }
    }

    /// Adds the message in `body`. On a malformed body nothing is added and
    /// the core's error is returned. Keys it numbered would be unknown to
    /// JavaScript, so then both tables are emptied and `reset` is set.
    pub fn push(&mut self, head: u32, offset: u64, body: &str) -> Result<(), SttError> {
        let marks = (self.text.len(), self.index.len(), self.bodies.len());
        let result = self.push_pairs(head, offset, body);
        if result.is_err() {
            self.last = None;
            if self.numbered {
                self.keys = Table::default();
                self.shapes = Table::default();
                self.reset = true;
            }
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
        let at = self.index.len();
        self.last = Some(at);
        // A body is shorter than 4 GiB: the length field is 32 bits.
        let body_len = u32::try_from(body.len()).unwrap_or(u32::MAX);
        self.index
            .extend_from_slice(&[head, lo, hi, body_len, 0, NO_SHAPE]);
        self.bodies.extend_from_slice(body.as_bytes());
        self.seen.clear();
        self.inline.clear();
        let mut shaped = self.numbered;
        for pair in Map::new(body).pairs() {
            let (key, value) = pair?;
            let word = match self.key_number(key) {
                Some((n, _)) if self.seen.contains(&n) => continue,
                Some((n, false)) => {
                    self.seen.push(n);
                    n
                }
                Some((n, true)) => {
                    // New: inline this once, with its number.
                    self.seen.push(n);
                    shaped = false;
                    INLINE | NEW | self.push_text(key)
                }
                None => {
                    let start = self.text.len();
                    let len = self.push_text(key);
                    let end = self.text.len();
                    let text = self.text.as_bytes();
                    let new_key = &text[start..end];
                    let dup = self
                        .inline
                        .iter()
                        .any(|&(s, e)| e - s == new_key.len() && &text[s..e] == new_key);
                    if dup {
                        self.text.truncate(start);
                        continue;
                    }
                    self.inline.push((start, end));
                    shaped = false;
                    INLINE | len
                }
            };
            let value_len = self.push_text(value);
            self.index.extend_from_slice(&[word, value_len]);
        }
        let count = self.seen.len() + self.inline.len();
        // Fewer pairs than bytes in the body.
        self.index[at + 4] = count as u32;
        if shaped && count <= MAX_SHAPE_LEN {
            self.shape.clear();
            for &n in &self.seen {
                // Key numbers are below MAX_KEYS (1024).
                self.shape.extend_from_slice(&(n as u16).to_le_bytes());
            }
            if let Some((shape, _)) = self.shapes.find_or_add(&self.shape, MAX_SHAPES) {
                self.index[at + 5] = shape;
            }
        }
        Ok(())
    }

    /// The number of `key` and whether it is new, or `None` when it has
    /// none (not a numbering batch, too long, or the table is full).
    fn key_number(&mut self, key: Text<'_>) -> Option<(u32, bool)> {
        if !self.numbered || key.raw().len() > MAX_KEY_LEN {
            return None;
        }
        let plain = match key.as_plain() {
            Some(plain) => plain,
            None => {
                self.scratch.clear();
                for piece in key.pieces() {
                    self.scratch.push_str(piece);
                }
                &self.scratch
            }
        };
        self.keys.find_or_add(plain.as_bytes(), MAX_KEYS)
    }

    /// Appends `text` unescaped once; returns its length in UTF-16 units.
    #[inline(never)]
    fn push_text(&mut self, text: Text<'_>) -> u32 {
        let start = self.text.len();
        for piece in text.pieces() {
            self.text.push_str(piece);
        }
        utf16_len(&self.text.as_bytes()[start..])
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

/// Length of the UTF-8 text `bytes` in UTF-16 code units, as JavaScript
/// counts string indices. (Bytes, not `&str`: slicing a `str` would link
/// its panic path, 6.5 KiB of the module.)
#[must_use]
pub fn utf16_len(bytes: &[u8]) -> u32 {
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
            assert_eq!(
                utf16_len(s.as_bytes()) as usize,
                s.encode_utf16().count(),
                "{s}"
            );
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
        let len = body.len() as u32;
        assert_eq!(
            b.index,
            [
                690,
                7,
                0,
                len,
                3,
                NO_SHAPE,
                INLINE | 4,
                1,
                INLINE | 2,
                3,
                INLINE | 2,
                5
            ]
        );
    }

    #[test]
    fn keys_and_shapes_numbered() {
        let mut b = Batch::numbered();
        b.push(690, 0, "type@=x/n@Sn@=1/type@=y/").unwrap();
        b.push(690, 0, "type@=z/n@Sn@=22/").unwrap();
        b.push(690, 0, "n@Sn@=3/type@=w/").unwrap();
        assert_eq!(b.text, "typexn/n1z223w");
        #[rustfmt::skip]
        assert_eq!(b.index, [
            690, 0, 0, 24, 2, NO_SHAPE, INLINE | NEW | 4, 1, INLINE | NEW | 3, 1,
            690, 0, 0, 17, 2, 0, 0, 1, 1, 2,
            690, 0, 0, 16, 2, 1, 1, 1, 0, 1,
        ]);
        b.clear();
        b.push(690, 0, "type@=v/n@Sn@=4/").unwrap();
        assert_eq!(b.index, [690, 0, 0, 16, 2, 0, 0, 1, 1, 1]);
    }

    #[test]
    fn a_bad_body_adds_nothing() {
        let mut b = Batch::numbered();
        b.push(690, 0, "a@=1/").unwrap();
        let (t, i) = (b.text.clone(), b.index.clone());
        assert!(b.push(690, 30, "a@=1/b@=x@Q/").is_err());
        assert_eq!((&b.text, &b.index), (&t, &i));
        // The tables were emptied: `a` comes inline again, as new.
        assert!(b.reset);
        b.clear();
        b.push(690, 0, "a@=2/").unwrap();
        assert_eq!(b.index[6], INLINE | NEW | 1);
    }

    #[test]
    fn tables_are_bounded() {
        let mut b = Batch::numbered();
        let long = "k".repeat(MAX_KEY_LEN + 1);
        for n in 0..MAX_KEYS + 10 {
            b.push(690, 0, &format!("k{n}@=v/{long}@=w/")).unwrap();
        }
        assert_eq!(b.keys.ends.len(), MAX_KEYS);
        // The last ones and the long key: inline, no shape.
        let n = b.index.len();
        assert_eq!(b.index[n - 5..], [NO_SHAPE, INLINE | 5, 1, INLINE | 65, 1]);
    }
}
