//! Decoded messages handed to JavaScript in one piece.
//!
//! Crossing from WebAssembly to JavaScript costs per call, and turning UTF-8
//! into a JS string costs per string; a message has a dozen or more strings.
//! So a batch holds all unescaped keys and values of many messages in two
//! strings, each decoded once by JavaScript, plus an index of lengths in
//! UTF-16 code units, by which `js/api.js` slices them into plain objects:
//! `text`, the texts that are all ASCII (most: JavaScript keeps them one
//! byte a character, and decoding them is a copy), and `wide`, the others.
//! The bodies go apart, as bytes: only `pairs()` and `frameOf()` read them,
//! so they are turned into strings on demand (decoding UTF-8 was a third of
//! the time).
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
//! key word and a value word. A value word is the value's length, plus
//! [`WIDE`] when it is in `wide`. A key word is the key's number, or
//! [`INLINE`] plus the key's length (and [`WIDE`]) when the key is in the
//! text before its value; [`NEW`] is added when that key has just been
//! given the next number. A message with a shape has every key numbered and
//! none inline. Each of `text` and `wide` holds its keys given inline and
//! values in order; `bodies` the bodies, back to back.

use douyu_core::stt::{Map, SttError, Text};

/// Marks a message whose stream offset is not known (the client session's).
pub const NO_OFFSET: u64 = u64::MAX;
/// The shape word of a message that has no shape.
pub const NO_SHAPE: u32 = u32::MAX;
/// A key word's flag: the key is in the text, this long (UTF-16 units).
pub const INLINE: u32 = 1 << 31;
/// A key word's flag (with [`INLINE`]): this key now has the next number.
pub const NEW: u32 = 1 << 30;
/// A key or value word's flag: the text is in `wide`, not `text`.
pub const WIDE: u32 = 1 << 29;
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
    /// Entry `n`, if there is one.
    fn get(&self, n: usize) -> Option<&[u8]> {
        let start = match n.checked_sub(1) {
            Some(before) => *self.ends.get(before)? as usize,
            None => 0,
        };
        self.arena.get(start..*self.ends.get(n)? as usize)
    }

    /// The number of `entry` and whether it is new, or `None` when it is
    /// not there and the table holds `max` (≤ 32767) entries already.
    #[inline(never)]
    fn find_or_add(&mut self, entry: &[u8], max: usize) -> Option<(u32, bool)> {
        if self.slots.is_empty() {
            self.slots = vec![0; (max * 2).next_power_of_two()];
        }
        let mask = self.slots.len() - 1;
        // A multiplicative hash of the words and the length (FNV-1a, a
        // multiplication per byte, was a twentieth of the module's time).
        const K: u64 = 0x9e37_79b9_7f4a_7c15;
        let (words, tail) = entry.as_chunks::<8>();
        let mut hash = K ^ entry.len() as u64;
        for word in words.iter().map(|w| u64::from_le_bytes(*w)) {
            hash = (hash ^ word).wrapping_mul(K);
            hash ^= hash >> 29;
        }
        hash = (hash ^ tail_word(tail)).wrapping_mul(K);
        // The high half mixes every bit in.
        let mut at = (hash >> 32) as usize;
        loop {
            at &= mask;
            let n = usize::from(self.slots[at]);
            if n == 0 {
                break;
            }
            let start = if n == 1 { 0 } else { self.ends[n - 2] as usize };
            if self
                .arena
                .get(start..self.ends[n - 1] as usize)
                .is_some_and(|known| same(known, entry))
            {
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

/// Text written a word at a time: `bytes` is kept at least 8 bytes longer
/// than the text (`len`), so that each key or value is stored in whole
/// words, with neither a copy call (a `memory.copy` is a call out of the
/// module in V8, dear for the short texts of a body) nor zeroing per text.
#[derive(Debug, Default)]
pub struct Texts {
    bytes: Vec<u8>,
    len: usize,
}

impl Texts {
    /// The text written.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }

    /// Appends `text` unescaped; returns how many bytes shorter it came out.
    fn push(&mut self, text: Text<'_>) -> u32 {
        let raw_len = text.raw().len();
        let need = self.len + raw_len + 8;
        if self.bytes.len() < need {
            self.bytes.resize(need.max(2 * self.bytes.len()), 0);
        }
        // The room is eight bytes longer than the text, as the core asks.
        let written = self
            .bytes
            .get_mut(self.len..)
            .and_then(|room| text.unescape_words(room).ok())
            .map_or(0, str::len);
        self.len += written;
        // `written` ≤ `raw_len`, which is shorter than 4 GiB (a frame).
        u32::try_from(raw_len - written).unwrap_or(0)
    }

    fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// Empties the text, keeping its memory unless it grew past `keep`.
    fn clear(&mut self, keep: usize) {
        self.len = 0;
        if self.bytes.len() > keep {
            self.bytes.truncate(keep);
            self.bytes.shrink_to_fit();
        }
    }
}

/// Texts, bodies and index words (bytes, in bytes) kept from call to call;
/// past this a call's memory is freed, so one large chunk does not hold it.
const KEEP: usize = 1 << 20;

/// Messages decoded and not yet handed over.
#[derive(Debug, Default)]
pub struct Batch {
    /// Keys given inline and values that are all ASCII, back to back.
    pub text: Texts,
    /// Keys given inline and values with other characters, back to back.
    pub wide: Texts,
    /// Bodies, back to back.
    pub bodies: Vec<u8>,
    /// Lengths and counts; see the module docs.
    pub index: Vec<u32>,
    /// Whether keys and shapes are numbered (a decoder's batch, whose
    /// numbers JavaScript keeps from call to call).
    numbered: bool,
    keys: Table,
    shapes: Table,
    /// Per key number + 1 (0: a message's start), the number + 1 of the
    /// plain key that followed it last (0: none). Messages of a type come
    /// with their keys in the same order, so this guess, checked with one
    /// comparison, numbers most keys without hashing them.
    follows: Vec<u16>,
    /// Per key number, the serial of the message it was last seen in: a
    /// repeated key is found without searching the message's keys.
    seen_in: Vec<u32>,
    /// The serial of the message being added.
    serial: u32,
    /// Key numbers of the message being added, and the ranges in
    /// `inline_keys` of its keys without one, unescaped.
    seen: Vec<u32>,
    inline: Vec<(usize, usize)>,
    inline_keys: Vec<u8>,
    /// Scratch: a key unescaped; a shape as bytes.
    scratch: Texts,
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
        let mut batch = Self {
            numbered: true,
            ..Self::default()
        };
        batch.empty_tables();
        batch
    }

    /// Forgets every key and shape number.
    fn empty_tables(&mut self) {
        self.keys = Table::default();
        self.shapes = Table::default();
        self.follows = vec![0; MAX_KEYS + 1];
        self.seen_in = vec![0; MAX_KEYS];
        self.serial = 0;
    }

    /// Empties the batch, keeping its memory unless one call made it large.
    /// The numbers of keys and shapes stay.
    pub fn clear(&mut self) {
        self.last = None;
        self.reset = false;
        self.text.clear(KEEP);
        self.wide.clear(KEEP);
        self.index.clear();
        self.bodies.clear();
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
        let marks = (
            self.text.len,
            self.wide.len,
            self.index.len(),
            self.bodies.len(),
        );
        let result = self.push_pairs(head, offset, body);
        if result.is_err() {
            self.last = None;
            if self.numbered {
                self.empty_tables();
                self.reset = true;
            }
            self.text.truncate(marks.0);
            self.wide.truncate(marks.1);
            self.index.truncate(marks.2);
            self.bodies.truncate(marks.3);
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
        self.inline_keys.clear();
        self.serial = self.serial.wrapping_add(1);
        if self.serial == 0 {
            // Wrapped: no older serial may pass for this message's.
            self.seen_in.fill(0);
            self.serial = 1;
        }
        let mut shaped = self.numbered;
        // The key before, as an index of `follows`.
        let mut prev = 0;
        for pair in Map::new(body).pairs() {
            let (key, value) = pair?;
            // Top-level keys and values are escaped once (depth 1).
            let word = match self.key_number(key, prev) {
                Some((n, new)) => {
                    // Numbers are below MAX_KEYS, the length of `seen_in`.
                    if let Some(serial) = self.seen_in.get_mut(n as usize) {
                        if *serial == self.serial {
                            continue;
                        }
                        *serial = self.serial;
                    }
                    self.seen.push(n);
                    prev = n as usize + 1;
                    if new {
                        // Inline this once, with its number.
                        shaped = false;
                        INLINE | NEW | self.push_text(key)
                    } else {
                        n
                    }
                }
                None => {
                    self.scratch.clear(KEEP);
                    self.scratch.push(key);
                    let known = &self.inline_keys;
                    let new_key = self.scratch.as_bytes();
                    if self
                        .inline
                        .iter()
                        .any(|&(s, e)| known.get(s..e) == Some(new_key))
                    {
                        continue;
                    }
                    let start = self.inline_keys.len();
                    self.inline_keys.extend_from_slice(new_key);
                    self.inline.push((start, self.inline_keys.len()));
                    shaped = false;
                    INLINE | self.push_text(key)
                }
            };
            let value = self.push_text(value);
            self.index.extend_from_slice(&[word, value]);
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

    /// The number of `key` and whether it
    /// is new, or `None` when it has none (not a numbering batch, too long,
    /// or the table is full). `prev` is the key before it, as an index of
    /// `follows`.
    fn key_number(&mut self, key: Text<'_>, prev: usize) -> Option<(u32, bool)> {
        let raw = key.raw().as_bytes();
        if !self.numbered || raw.len() > MAX_KEY_LEN {
            return None;
        }
        // The guess is a plain key: equal bytes mean this one is plain too.
        if let Some(&guess) = self.follows.get(prev)
            && guess != 0
            && self
                .keys
                .get(usize::from(guess) - 1)
                .is_some_and(|entry| same(entry, raw))
        {
            return Some((u32::from(guess) - 1, false));
        }
        let plain = !raw.contains(&b'@');
        let key = if plain {
            raw
        } else {
            self.scratch.clear(KEEP);
            self.scratch.push(key);
            self.scratch.as_bytes()
        };
        let found = self.keys.find_or_add(key, MAX_KEYS)?;
        if plain && let Some(slot) = self.follows.get_mut(prev) {
            // Below MAX_KEYS (1024).
            *slot = found.0 as u16 + 1;
        }
        Some(found)
    }

    /// Appends `text`, a key or value of the body, unescaped, to the
    /// batch's `text` when it is all ASCII, else to `wide`; returns its length
    /// in UTF-16 units, with [`WIDE`] in the second case.
    ///
    /// One pass over the bytes says which and how long, a second writes
    /// them.
    fn push_text(&mut self, text: Text<'_>) -> u32 {
        let survey = survey(text.raw().as_bytes());
        let (out, flag) = if survey.ascii {
            (&mut self.text, 0)
        } else {
            (&mut self.wide, WIDE)
        };
        // An escape is two ASCII bytes (one unit each) unescaped to one.
        (survey.units - out.push(text)) | flag
    }
}

/// Whether `a` and `b` are the same bytes: a word at a time (the standard
/// comparison calls a `memcmp` that goes a byte at a time in wasm32).
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (a_words, a_tail) = a.as_chunks::<8>();
    let (b_words, b_tail) = b.as_chunks::<8>();
    a_words.iter().zip(b_words).all(|(x, y)| x == y) && tail_word(a_tail) == tail_word(b_tail)
}

/// What [`survey`] finds in a text.
struct Survey {
    /// Length in UTF-16 code units, as JavaScript counts string indices.
    units: u32,
    ascii: bool,
}

/// Surveys the UTF-8 text `bytes` eight bytes at a time (wasm32 has 64-bit
/// integers, not 64-bit pointers, so `is_ascii` and searches of the
/// standard library go four at a time). (Bytes, not `&str`: slicing a
/// `str` would link its panic path, 6.5 KiB of the module.)
fn survey(bytes: &[u8]) -> Survey {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let (words, tail) = bytes.as_chunks::<8>();
    let (mut high, mut skip, mut extra) = (0, 0, 0);
    let mut add = |w: u64| {
        let h = w & HIGH;
        high |= h;
        if h != 0 {
            // One unit per character (every byte but a continuation byte,
            // 10xxxxxx), one more per character beyond the BMP (11110xxx).
            skip += (h & !(w << 1)).count_ones();
            extra += (h & (w << 1) & (w << 2) & (w << 3)).count_ones();
        }
    };
    for word in words {
        add(u64::from_le_bytes(*word));
    }
    if !tail.is_empty() {
        // Zero bytes past the end belong to no class above.
        add(tail_word(tail));
    }
    // A string handed to JavaScript is shorter than 4 GiB.
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    Survey {
        units: len - skip + extra,
        ascii: high == 0,
    }
}

/// The up to 7 bytes of `tail` as a little-endian word, zero above: in at
/// most three loads, not a loop over the bytes.
fn tail_word(tail: &[u8]) -> u64 {
    let (mut word, mut shift, mut rest) = (0, 0, tail);
    if let Some((four, after)) = rest.split_first_chunk::<4>() {
        word = u64::from(u32::from_le_bytes(*four));
        (shift, rest) = (32, after);
    }
    if let Some((two, after)) = rest.split_first_chunk::<2>() {
        word |= u64::from(u16::from_le_bytes(*two)) << shift;
        (shift, rest) = (shift + 16, after);
    }
    if let Some(&one) = rest.first() {
        word |= u64::from(one) << shift;
    }
    word
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surveys_match_std() {
        let texts = [
            "",
            "abc",
            "鱼丸",
            "🐟 fish",
            "a\u{7ff}\u{800}\u{ffff}\u{10000}",
            "@",
            "long enough for whole words: 🐟🐟🐟鱼丸鱼丸 and an @ late",
        ];
        for s in texts {
            for start in 0..s.len() {
                let Some(s) = s.get(start..) else { continue };
                let survey = survey(s.as_bytes());
                assert_eq!(survey.units as usize, s.encode_utf16().count(), "{s}");
                assert_eq!(survey.ascii, s.is_ascii(), "{s}");
            }
        }
    }

    #[test]
    fn same_bytes() {
        let texts: [&[u8]; 6] = [b"", b"a", b"type", b"typ", b"abcdefgh", b"abcdefghijk"];
        for a in texts {
            for b in texts {
                assert_eq!(same(a, b), a == b);
            }
        }
        assert!(!same(b"abcdefghijk", b"abcdefghijl"));
    }

    #[test]
    fn unescaped_as_the_core_reads_it() {
        for body in [
            "k@=eid@AA=1500000000@ASetp@AA=1@ASsc@AA=1@ASef@AA=0@AS@S/",
            "k@=0123456@A89abcdef@S/",
            "k@=01234567@A/",
            "k@=@A/",
            "k@=@AA@S@Sx@A/",
            "k@=a@Sb@Ac鱼@AAA@S/",
            "k@=@S/",
            "k@=plain/",
        ] {
            let (_, value) = Map::new(body).pairs().next().unwrap().unwrap();
            let mut out = Texts::default();
            let removed = out.push(value);
            let out = out.as_bytes();
            let want: String = value.pieces().collect();
            assert_eq!(out, want.as_bytes(), "{body}");
            assert_eq!(removed as usize, value.raw().len() - want.len(), "{body}");
        }
        // Values of every mix, escaped by the core's writer.
        let alphabet = ["@", "/", "A", "S", "x", "=", "鱼", "🐟"];
        for seed in 0..2000usize {
            let text: String = (0..seed % 41)
                .map(|i| alphabet[(i * 7 + seed * 13 + i * i * seed) % alphabet.len()])
                .collect();
            let mut buf = vec![0u8; 4 * text.len() + 16];
            let mut w = douyu_core::stt::Writer::new(&mut buf);
            w.map().pair("k", &text).unwrap();
            let body = core::str::from_utf8(w.as_bytes()).unwrap().to_owned();
            let (_, value) = Map::new(&body).pairs().next().unwrap().unwrap();
            let mut out = Texts::default();
            out.push(value);
            assert_eq!(out.as_bytes(), text.as_bytes(), "{body}");
        }
    }

    #[test]
    fn ascii_and_wide_texts_apart() {
        let mut b = Batch::default();
        b.push(690, 0, "nn@=鱼@S丸/txt@=a@Sb/k鱼@=x/").unwrap();
        assert_eq!(b.text.as_bytes(), b"nntxta/bx");
        assert_eq!(b.wide.as_bytes(), "鱼/丸k鱼".as_bytes());
        assert_eq!(
            b.index[6..],
            [INLINE | 2, WIDE | 3, INLINE | 3, 3, INLINE | WIDE | 2, 1]
        );
    }

    #[test]
    fn first_value_of_each_key_unescaped_once() {
        let mut b = Batch::default();
        b.push(690, 7, "type@=x/nn@=a@Sb/type@=y/el@=k@A=v@S/")
            .unwrap();
        let body = "type@=x/nn@=a@Sb/type@=y/el@=k@A=v@S/";
        assert_eq!(b.text.as_bytes(), b"typexnna/belk@=v/");
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
        assert_eq!(b.text.as_bytes(), b"typexn/n1z223w");
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
        let (t, i) = (b.text.as_bytes().to_vec(), b.index.clone());
        assert!(b.push(690, 30, "a@=1/b@=x@Q/").is_err());
        assert_eq!((b.text.as_bytes(), &b.index), (&t[..], &i));
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
