//! Zero-copy views of STT maps, lists and escaped strings at any depth.

use core::cell::Cell;
use core::fmt;

use super::SttError;
use super::block::{at_bytes, escapes16, tail_word};
use super::grammar::{self, Span};
use super::scan::{Scanner, count_a, find_any};
use super::write::copy_plain;

/// An STT map (a message, or a nested map value), read in place.
///
/// A `Map` borrows its text and knows how many times it is escaped, so a map
/// found three levels down is read straight from the frame body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Map<'a> {
    raw: &'a str,
    depth: u32,
    base: usize,
}

impl<'a> Map<'a> {
    /// The map held by a frame body (not escaped).
    #[must_use]
    pub const fn new(body: &'a str) -> Self {
        Self {
            raw: body,
            depth: 0,
            base: 0,
        }
    }

    /// The text as it appears in the body (escaped [`Map::depth`] times).
    #[must_use]
    pub const fn raw(&self) -> &'a str {
        self.raw
    }

    /// How many times the text is escaped: 0 for a whole body.
    #[must_use]
    pub const fn depth(&self) -> u32 {
        self.depth
    }

    /// The pairs in order, keys and values still escaped.
    ///
    /// A malformed pair yields one error, after which the iterator ends: the
    /// pairs before it are not lost.
    #[must_use]
    pub fn pairs(&self) -> Pairs<'a> {
        Pairs {
            pos: 0,
            scanner: Scanner::new(self.raw, self.depth, self.base),
        }
    }

    /// The value of the first pair whose key is `key`.
    ///
    /// Pairs are checked up to the match; an error before it is returned.
    pub fn get(&self, key: &str) -> Result<Option<Text<'a>>, SttError> {
        for pair in self.pairs() {
            let (k, v) = pair?;
            if k == key {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }

    /// The `type` field, wherever it stands.
    pub fn message_type(&self) -> Result<Option<Text<'a>>, SttError> {
        self.get("type")
    }

    /// Checks every pair, returning how many there are.
    pub fn validate(&self) -> Result<usize, SttError> {
        self.pairs().try_fold(0, |n, pair| pair.map(|_| n + 1))
    }
}

impl Default for Map<'_> {
    /// The empty map.
    fn default() -> Self {
        Self::new("")
    }
}

/// Iterator over the pairs of a [`Map`] (`message := pair*`).
#[derive(Debug, Clone)]
pub struct Pairs<'a> {
    /// Where the next pair starts.
    pos: usize,
    /// Also holds the text, its depth and its offset for the iterator.
    scanner: Scanner<'a>,
}

/// The key's and the value's spans, or the error that ends the pairs.
type SpanItem = Option<Result<(Span, Span), SttError>>;

impl<'a> Pairs<'a> {
    /// The next pair as spans, the [`Text`]s not yet built.
    ///
    /// The typed views look a key up before they build its value, so that
    /// the value is built straight into its field: building it first and
    /// copying it there stalled on store forwarding (the copy reads with
    /// wide loads what was just written with narrow stores).
    #[inline(always)]
    pub(crate) fn next_spans(&mut self) -> SpanItem {
        let start = self.pos;
        if start >= self.scanner.raw.len() {
            return None;
        }
        if self.scanner.depth == 0 {
            return self.next_in_body(start);
        }
        // Out of line and on a copy: a call given `&mut self` would keep the
        // iterator in memory in every reader's loop, body pairs included,
        // and put a store and a reload of the scanner's masks on each pop.
        let (pairs, item) = self.clone().next_nested();
        *self = pairs;
        item
    }

    /// [`Pairs::next_spans`] for the pairs of a body (depth 0), the pairs
    /// the typed views read. With no way to the nested rule there is no
    /// call in the views' loop, and the scanner's masks and offsets stay in
    /// registers: with the call in it, never taken, they were stored and
    /// reloaded on every mark (reading the `chatmsg` corpus took 39.39 M
    /// instructions, 35.02 M without; callgrind, BENCHMARKS.md).
    // Inlined where the classes are SSE2 (and the refill with them); on
    // other targets left to the optimiser: forced into a microcontroller
    // build it grew the firmware's code by 1.3 KiB, and left there it
    // shrank it by 352 B.
    #[cfg_attr(all(target_arch = "x86_64", target_feature = "sse2"), inline(always))]
    pub(crate) fn next_body_spans(&mut self) -> SpanItem {
        debug_assert_eq!(self.scanner.depth, 0);
        let start = self.pos;
        if start >= self.scanner.raw.len() {
            return None;
        }
        self.next_in_body(start)
    }

    /// The text of `span`, a key or value of this map.
    #[inline(always)]
    pub(crate) fn text(&self, span: Span) -> Text<'a> {
        let scanner = &self.scanner;
        Text {
            raw: cut(scanner.raw, span.start, span.end),
            depth: scanner.depth.saturating_add(1),
            base: scanner.base + span.start,
        }
    }

    /// Ends the pairs with `e`.
    fn fail(&mut self, e: SttError) -> SpanItem {
        self.pos = self.scanner.raw.len();
        Some(Err(e))
    }

    /// The next pair of a body (depth 0), whose marks the scanner has
    /// already classified with their block: `@=` then `/`, or the end of
    /// the text. It answers as [`grammar::pair`] does (the test
    /// `body_pairs_follow_the_grammar` holds the two to it), written out.
    ///
    /// The nom rule's terminals share the scanner through a cell and leave
    /// a mark for the next terminal to take; driving this loop, that cost
    /// +6 % instructions for every pair and +73 % for the typed `chatmsg`
    /// view, whose larger loop the optimiser no longer kept in registers
    /// (BENCHMARKS.md). Deeper text and lists, off the hot path, run the
    /// nom rules themselves.
    #[inline(always)]
    fn next_in_body(&mut self, start: usize) -> SpanItem {
        let len = self.scanner.raw.len();
        let Some((sep, bit)) = self.scanner.next_body_mark() else {
            let offset = self.scanner.base + start;
            return self.fail(SttError::MissingSeparator { offset });
        };
        if !self.scanner.is_separator(bit) {
            let e = if self.scanner.is_end(bit) {
                SttError::MissingSeparator {
                    offset: self.scanner.base + start,
                }
            } else {
                SttError::BadEscape {
                    offset: self.scanner.base + sep,
                }
            };
            return self.fail(e);
        }
        let (value_end, next) = match self.scanner.next_body_mark() {
            Some((at, bit)) if self.scanner.is_end(bit) => (at, at + 1),
            // A second `@=`, or a malformed escape, inside the value.
            Some((at, _)) => {
                let offset = self.scanner.base + at;
                return self.fail(SttError::BadEscape { offset });
            }
            // The last pair may lack its `/`.
            None => (len, len),
        };
        self.pos = next;
        Some(Ok((
            Span { start, end: sep },
            Span {
                start: sep + 2,
                end: value_end,
            },
        )))
    }

    /// The next pair of deeper text by the nom rule ([`grammar::pair`]),
    /// and the iterator after it; a broken pair ends the pairs.
    #[inline(never)]
    fn next_nested(mut self) -> (Self, SpanItem) {
        let scan = Cell::new(self.scanner);
        let parsed = grammar::pair(&scan, self.pos);
        self.scanner = scan.into_inner();
        let item = match parsed {
            Ok((pos, spans)) => {
                self.pos = pos;
                Some(Ok(spans))
            }
            Err(nom::Err::Error(e) | nom::Err::Failure(e)) => self.fail(e.0),
            // Only streaming parsers of bytes say this; the STT rules see
            // the whole text.
            Err(nom::Err::Incomplete(_)) => None,
        };
        (self, item)
    }
}

impl<'a> Iterator for Pairs<'a> {
    type Item = Result<(Text<'a>, Text<'a>), SttError>;

    // The loop of every reader of a body: inlined into it, the iterator's
    // state stays in registers (measured: a call here costs a fifth).
    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        let (key, value) = match self.next_spans()? {
            Ok(spans) => spans,
            Err(e) => return Some(Err(e)),
        };
        Some(Ok((self.text(key), self.text(value))))
    }
}

/// `raw[start..end]`, for the ends of a key or value the scanner found.
///
/// Every such end is a character boundary by construction: 0, the text's
/// length, the offset of an ASCII mark byte (`@`, `/`), or the offset just
/// past one (`/`, `=`, `S`); and `start <= end` because marks come in order.
/// The standard slice checks both ends again, four checks per pair on the
/// hottest loop of the crate: skipping them measured 12 % faster tokenizing
/// (BENCHMARKS.md). Debug builds, the fuzz targets and Miri check the claim.
#[inline(always)]
#[allow(unsafe_code)]
fn cut(raw: &str, start: usize, end: usize) -> &str {
    debug_assert!(start <= end && raw.is_char_boundary(start) && raw.is_char_boundary(end));
    // SAFETY: `start <= end <= raw.len()` and both are character
    // boundaries, as argued above and asserted in debug builds.
    unsafe { raw.get_unchecked(start..end) }
}

/// Bytes that [`Text::unescape_into`] or [`Text::unescape_words`] filled
/// with whole `str`s, one after another (an escape's ASCII bytes replaced by
/// one ASCII byte), as the text they are.
///
/// A concatenation of UTF-8 strings is UTF-8, so checking it again (as
/// `core::str::from_utf8` would) only costs: 5 % of the typed `chatmsg`
/// benchmark when it was measured. Debug builds, the fuzz targets and Miri
/// check the claim.
#[inline(always)]
#[allow(unsafe_code)]
fn copied_text(bytes: &[u8]) -> &str {
    debug_assert!(core::str::from_utf8(bytes).is_ok());
    // SAFETY: `bytes` is a concatenation of whole `str`s (see above).
    unsafe { core::str::from_utf8_unchecked(bytes) }
}

/// The byte that `raw[at..]`, text escaped `depth` times, unescapes to and
/// how many bytes of `raw` it takes: an escape (`@A`/`@S` once escaped, `@`
/// and `depth` `A`s for `@`, `@`, `depth - 1` `A`s and `S` for `/`) gives
/// `@` or `/`, any other byte itself. The one reading of escapes, for
/// [`Pieces`] and the unescaping loops.
#[inline(always)]
fn unescape_at(raw: &[u8], at: usize, depth: usize) -> (u8, usize) {
    match raw.get(at..).unwrap_or_default() {
        // Once escaped, a value's own escapes: the common case, decided
        // without counting `A`s.
        [b'@', b'A', ..] if depth == 1 => (b'@', 2),
        [b'@', b'S', ..] if depth == 1 => (b'/', 2),
        [b'@', rest @ ..] => {
            let run = count_a(rest);
            if run >= depth {
                (b'@', 1 + depth)
            } else if run + 1 == depth && rest.get(run) == Some(&b'S') {
                (b'/', 2 + run)
            } else {
                (b'@', 1)
            }
        }
        [byte, ..] => (*byte, 1),
        [] => (0, 1),
    }
}

/// An STT list (`(item "/")*`), read in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct List<'a> {
    raw: &'a str,
    depth: u32,
    base: usize,
}

impl<'a> List<'a> {
    /// A list given as its own (unescaped) text, such as `a@Sb/c/`.
    #[must_use]
    pub const fn new(text: &'a str) -> Self {
        Self {
            raw: text,
            depth: 0,
            base: 0,
        }
    }

    /// The text as it appears in the body.
    #[must_use]
    pub const fn raw(&self) -> &'a str {
        self.raw
    }

    /// The items in order, still escaped. A malformed item yields one error
    /// and ends the iteration.
    #[must_use]
    pub fn items(&self) -> Items<'a> {
        Items {
            pos: 0,
            scanner: Scanner::new(self.raw, self.depth, self.base),
        }
    }

    /// The item at `index`, if the list has that many.
    pub fn get(&self, index: usize) -> Result<Option<Text<'a>>, SttError> {
        self.items().nth(index).transpose()
    }
}

/// Iterator over the items of a [`List`] (`list := (item "/")*`).
#[derive(Debug, Clone)]
pub struct Items<'a> {
    /// Where the next item starts.
    pos: usize,
    /// Also holds the text, its depth and its offset for the iterator.
    scanner: Scanner<'a>,
}

impl<'a> Iterator for Items<'a> {
    type Item = Result<Text<'a>, SttError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.scanner.raw.len() {
            return None;
        }
        let scan = Cell::new(self.scanner);
        let parsed = grammar::item(&scan, self.pos);
        self.scanner = scan.into_inner();
        match parsed {
            Ok((pos, span)) => {
                let start = core::mem::replace(&mut self.pos, pos);
                Some(Ok(Text {
                    raw: cut(self.scanner.raw, span.start, span.end),
                    depth: self.scanner.depth.saturating_add(1),
                    base: self.scanner.base + start,
                }))
            }
            Err(nom::Err::Error(e) | nom::Err::Failure(e)) => {
                self.pos = self.scanner.raw.len();
                Some(Err(e.0))
            }
            // See `Pairs::next_nested`.
            Err(nom::Err::Incomplete(_)) => None,
        }
    }
}

/// An escaped string (a key, value or list item), read in place.
///
/// Its escapes were checked when it was found, so reading it cannot fail;
/// only writing it into a buffer that is too small can. Compare it with a
/// `&str` directly (`text == "chatmsg"`), print it with `{}`, take its
/// unescaped [`Text::pieces`] without a buffer, or open it as a nested
/// [`Map`] or [`List`].
///
/// Two texts are equal when their unescaped contents are, wherever they
/// stand and however deeply they are escaped; so are the message views
/// built of them.
///
/// ```
/// use douyu_core::stt::Map;
/// let msg = Map::new("a@=x@Sy/b@=l@AA=x@AASy@AS@S/");
/// let nested = msg.get("b")?.unwrap().as_list().get(0)?.unwrap().as_map();
/// assert_eq!(msg.get("a")?, nested.get("l")?); // both `x/y`
/// # Ok::<(), douyu_core::stt::SttError>(())
/// ```
#[derive(Debug, Clone, Copy)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Text<'a> {
    raw: &'a str,
    depth: u32,
    base: usize,
}

impl<'a> Text<'a> {
    /// The text as it appears in the body, escapes included.
    #[must_use]
    pub const fn raw(&self) -> &'a str {
        self.raw
    }

    /// Byte offset of the text in the body.
    #[must_use]
    pub const fn offset(&self) -> usize {
        self.base
    }

    /// How many times the text is escaped in the body (1 for a top-level value).
    #[must_use]
    pub const fn depth(&self) -> u32 {
        self.depth
    }

    /// Whether the unescaped text is empty.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The text itself when it holds no escape (the common case), borrowed
    /// from the body with no copy.
    #[must_use]
    pub fn as_plain(&self) -> Option<&'a str> {
        find_any(self.raw.as_bytes(), [b'@'])
            .is_none()
            .then_some(self.raw)
    }

    /// Parses the text as a number (or anything else `FromStr`) when it holds
    /// no escape; numbers never do.
    #[must_use]
    pub fn parse<T: core::str::FromStr>(&self) -> Option<T> {
        self.as_plain()?.parse().ok()
    }

    /// The unescaped text as a sequence of borrowed pieces; no buffer needed.
    #[must_use]
    pub const fn pieces(&self) -> Pieces<'a> {
        Pieces {
            rest: self.raw,
            depth: self.depth,
        }
    }

    /// Length in bytes of the unescaped text.
    #[must_use]
    pub fn unescaped_len(&self) -> usize {
        self.pieces().map(str::len).sum()
    }

    /// Writes the unescaped text into `buf` and returns it.
    ///
    /// ```
    /// use douyu_core::stt::Map;
    /// let msg = Map::new("nn@=a@Sb@Ac/");
    /// let mut buf = [0u8; 16];
    /// assert_eq!(msg.get("nn")?.unwrap().unescape_into(&mut buf)?, "a/b@c");
    /// # Ok::<(), douyu_core::stt::SttError>(())
    /// ```
    // The common case, text with no escape and room to spare, is inlined
    // into the caller (a few fixed-size moves for a short key); the rest is
    // a call. One function, it was a call with the prologue and epilogue of
    // the whole, six registers saved and restored: every key and value
    // unescaped took 69.2 M instructions with the fast path a call of its
    // own and 58.7 M inlined (callgrind, BENCHMARKS.md).
    #[inline(always)]
    pub fn unescape_into<'b>(&self, buf: &'b mut [u8]) -> Result<&'b str, SttError> {
        let raw = self.raw.as_bytes();
        if let Some(room) = buf.get_mut(..raw.len() + 16)
            && copy_plain(room, raw)
        {
            return Ok(copied_text(&buf[..raw.len()]));
        }
        Text::unescape_escaped(self.raw, self.depth, buf)
    }

    /// Writes the unescaped text at the start of `room` a word (eight
    /// bytes) at a time and returns it; the bytes of `room` after it are
    /// overwritten with whatever followed. `room` must be at least eight
    /// bytes longer than the escaped text ([`Text::raw`]), else
    /// [`SttError::BufferFull`].
    ///
    /// For a host that appends many texts to one growing arena, where the
    /// slack costs nothing: every word is stored whole, with no copy call
    /// and no search per run between escapes. In WebAssembly, where a
    /// `memcpy` is a call out of the module and the standard searches go
    /// four bytes at a time, the decoder of `host-wasm` ran 23–38 % slower
    /// with [`Text::unescape_into`] (BENCHMARKS.md).
    ///
    /// ```
    /// use douyu_core::stt::Map;
    /// let msg = Map::new("nn@=a@Sb@Ac/");
    /// let mut arena = [0u8; 32];
    /// assert_eq!(msg.get("nn")?.unwrap().unescape_words(&mut arena)?, "a/b@c");
    /// # Ok::<(), douyu_core::stt::SttError>(())
    /// ```
    pub fn unescape_words<'b>(&self, room: &'b mut [u8]) -> Result<&'b str, SttError> {
        let raw = self.raw.as_bytes();
        let needed = raw.len() + 8;
        if room.len() < needed {
            return Err(SttError::BufferFull {
                needed,
                capacity: room.len(),
            });
        }
        let depth = self.depth as usize;
        let (mut read, mut written) = (0, 0);
        while let Some(rest) = raw.get(read..)
            && !rest.is_empty()
        {
            // `written <= read`, so the word fits in `room`.
            let word = tail_word(rest);
            if let Some(to) = room.get_mut(written..written + 8) {
                to.copy_from_slice(&word.to_le_bytes());
            }
            let at = at_bytes(word);
            if at == 0 {
                let n = rest.len().min(8);
                (read, written) = (read + n, written + n);
                continue;
            }
            // The bytes written past the `@` are written again next time.
            let skip = at.trailing_zeros() as usize / 8;
            let (byte, used) = unescape_at(raw, read + skip, depth);
            if let Some(slot) = room.get_mut(written + skip) {
                *slot = byte;
            }
            (read, written) = (read + skip + used, written + skip + 1);
        }
        Ok(copied_text(room.get(..written).unwrap_or_default()))
    }

    /// [`Text::unescape_into`] for a text with escapes, or a buffer without
    /// the plain copy's 16 bytes of room: the text `raw` escaped `depth`
    /// times.
    ///
    /// Given the text and its depth, not the `Text`: these pass in
    /// registers, while a `&Text` made every caller's loop store each text
    /// it unescaped to memory, call or not (every key and value of the
    /// corpus unescaped took 54.30 M instructions before, 51.16 M after;
    /// callgrind, BENCHMARKS.md).
    #[inline(never)]
    fn unescape_escaped<'b>(raw: &str, depth: u32, buf: &'b mut [u8]) -> Result<&'b str, SttError> {
        // Unescaping reports no offset: the base is not read.
        let text = Text {
            raw,
            depth,
            base: 0,
        };
        if buf.len() >= raw.len() {
            return Ok(text.unescape_windows(buf));
        }
        let capacity = buf.len();
        if let Some(plain) = text.as_plain() {
            let out = buf.get_mut(..plain.len()).ok_or(SttError::BufferFull {
                needed: plain.len(),
                capacity,
            })?;
            out.copy_from_slice(plain.as_bytes());
            return Ok(copied_text(out));
        }
        let mut len = 0;
        for piece in text.pieces() {
            let end = len + piece.len();
            let out = buf.get_mut(len..end).ok_or(SttError::BufferFull {
                needed: end,
                capacity,
            })?;
            out.copy_from_slice(piece.as_bytes());
            len = end;
        }
        Ok(copied_text(&buf[..len]))
    }

    /// [`Text::unescape_into`] into a buffer at least as long as the escaped
    /// text (which unescaping only shortens), as [`Text::pieces`] reads it.
    ///
    /// Sixteen bytes at a time while sixteen remain: each window is copied
    /// whole and its first `@` found in the same pass; the bytes copied
    /// past that `@` are written again. The last bytes go one at a time.
    /// The pieces, a search and a `memcpy` call for each run between two
    /// escapes, took 720 instructions a text with escapes (the `el` lists
    /// of the corpus; callgrind); the windows with a search and a `memcpy`
    /// call for each run of the last sixteen bytes, 550. The output stays
    /// within `buf`: it never runs ahead of the text.
    fn unescape_windows<'b>(&self, buf: &'b mut [u8]) -> &'b str {
        let raw = self.raw.as_bytes();
        let depth = self.depth as usize;
        let (mut read, mut written) = (0, 0);
        while let Some(window) = raw.get(read..).and_then(<[u8]>::first_chunk::<16>) {
            // `written <= read` and `raw.len() <= buf.len()`, so the window
            // fits; were it not to, the bytes go one at a time below.
            let Some(out) = buf.get_mut(written..written + 16) else {
                break;
            };
            out.copy_from_slice(window);
            // `@`, and `/` and NUL, which checked text does not hold (were
            // one there, it is copied as a letter).
            let hits = escapes16(window);
            if hits == 0 {
                read += 16;
                written += 16;
                continue;
            }
            let skip = hits.trailing_zeros() as usize;
            let (byte, used) = unescape_at(raw, read + skip, depth);
            if let Some(slot) = buf.get_mut(written + skip) {
                *slot = byte;
            }
            read += skip + used;
            written += skip + 1;
        }
        while read < raw.len() {
            let (byte, used) = unescape_at(raw, read, depth);
            if let Some(slot) = buf.get_mut(written) {
                *slot = byte;
            }
            read += used;
            written += 1;
        }
        copied_text(buf.get(..written).unwrap_or_default())
    }

    /// Reads the unescaped text as an STT map (a nested message).
    #[must_use]
    pub const fn as_map(&self) -> Map<'a> {
        Map {
            raw: self.raw,
            depth: self.depth,
            base: self.base,
        }
    }

    /// Reads the unescaped text as an STT list.
    #[must_use]
    pub const fn as_list(&self) -> List<'a> {
        List {
            raw: self.raw,
            depth: self.depth,
            base: self.base,
        }
    }
}

impl Default for Text<'_> {
    /// The empty text, as an absent field reads.
    fn default() -> Self {
        Self {
            raw: "",
            depth: 1,
            base: 0,
        }
    }
}

impl PartialEq for Text<'_> {
    fn eq(&self, other: &Self) -> bool {
        if self.depth == other.depth {
            // Escaping at one depth is one-to-one, and both were checked.
            return self.raw == other.raw;
        }
        // Walk both piece by piece: the pieces need not line up.
        let (mut a, mut b) = (self.pieces(), other.pieces());
        let (mut x, mut y): (&[u8], &[u8]) = (b"", b"");
        loop {
            if x.is_empty() {
                match a.next() {
                    Some(piece) => x = piece.as_bytes(),
                    None => return y.is_empty() && b.all(str::is_empty),
                }
            } else if y.is_empty() {
                match b.next() {
                    Some(piece) => y = piece.as_bytes(),
                    None => return false,
                }
            } else {
                let n = x.len().min(y.len());
                if x[..n] != y[..n] {
                    return false;
                }
                (x, y) = (&x[n..], &y[n..]);
            }
        }
    }
}

impl Eq for Text<'_> {}

impl PartialEq<str> for Text<'_> {
    fn eq(&self, other: &str) -> bool {
        if self.raw.len() == other.len() && find_any(other.as_bytes(), [b'@']).is_none() {
            // Unescaping only shortens, so equal lengths mean no escapes.
            return self.raw == other;
        }
        let mut rest = other.as_bytes();
        for piece in self.pieces() {
            match rest.strip_prefix(piece.as_bytes()) {
                Some(tail) => rest = tail,
                None => return false,
            }
        }
        rest.is_empty()
    }
}

impl PartialEq<&str> for Text<'_> {
    fn eq(&self, other: &&str) -> bool {
        *self == **other
    }
}

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.pieces().try_for_each(|piece| f.write_str(piece))
    }
}

/// The unescaped pieces of a [`Text`]: borrowed runs of the body, and `"@"`
/// or `"/"` for each escape.
#[derive(Debug, Clone)]
pub struct Pieces<'a> {
    rest: &'a str,
    depth: u32,
}

impl<'a> Iterator for Pieces<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.rest.is_empty() {
            return None;
        }
        let bytes = self.rest.as_bytes();
        match find_any(bytes, [b'@']) {
            None => Some(core::mem::take(&mut self.rest)),
            Some(0) => {
                // An escape gives `@` or `/`; a lone `@`, which checked text
                // does not hold, passes through as itself.
                let (byte, used) = unescape_at(bytes, 0, self.depth as usize);
                let piece = if byte == b'/' { "/" } else { "@" };
                // `get`, not indexing: `used` is past ASCII bytes, so this is
                // a char boundary, and no panic (and its formatting) is linked.
                self.rest = self.rest.get(used..).unwrap_or_default();
                Some(piece)
            }
            Some(i) => {
                let (piece, rest) = self.rest.split_at_checked(i)?;
                self.rest = rest;
                Some(piece)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::{String, ToString};
    use std::vec::Vec;

    fn pairs(body: &str) -> Result<Vec<(String, String)>, SttError> {
        Map::new(body)
            .pairs()
            .map(|p| p.map(|(k, v)| (k.to_string(), v.to_string())))
            .collect()
    }

    #[test]
    fn pairs_in_order_and_unescaped() {
        let got = pairs("type@=x/a@Sb@=1/c@Ad@=@AA@S/").unwrap();
        assert_eq!(
            got,
            [
                ("type".into(), "x".into()),
                ("a/b".into(), "1".into()),
                ("c@d".into(), "@A/".into())
            ]
        );
    }

    /// The body loop (`Pairs::next_in_body`) against the nom rule
    /// (`grammar::pair`) on the same bodies, well-formed and not, long
    /// enough to cross the scanner's 64-byte blocks.
    #[test]
    fn body_pairs_follow_the_grammar() {
        let pieces = [
            "type@=x/",
            "a@Sb@=1/",
            "c@Ad@=@AA@S/",
            "k@=",
            "@=",
            "/",
            "@",
            "@Q",
            "=",
            "v@=w@=x/",
            "long_key_name_to_cross_blocks@=some value with text/",
            "nn@=鱼@A/",
            "x",
        ];
        // Fewer under Miri, which runs this a hundred times slower.
        let (pieces, tails): (&[&str], &[&str]) = if cfg!(miri) {
            (&pieces[..7], &["", "k@=v"])
        } else {
            (&pieces, &["", "tail@=1/", "k@=v", "@", "/"])
        };
        let mut bodies = std::vec::Vec::new();
        for a in pieces {
            for b in pieces {
                for c in tails {
                    bodies.push(std::format!("{a}{b}{c}"));
                    bodies.push(std::format!("{}{a}{b}{c}", "p@=q/".repeat(13)));
                }
            }
        }
        for body in &bodies {
            let by_loop: Vec<_> = Map::new(body)
                .pairs()
                .map(|p| p.map(|(k, v)| (k.offset(), k.raw(), v.offset(), v.raw())))
                .collect();
            let mut by_rule = Vec::new();
            let scan = Cell::new(Scanner::new(body, 0, 0));
            let mut pos = 0;
            while pos < body.len() {
                match grammar::pair(&scan, pos) {
                    Ok((next, (k, v))) => {
                        let (key, value) = (&body[k.start..k.end], &body[v.start..v.end]);
                        by_rule.push(Ok((k.start, key, v.start, value)));
                        pos = next;
                    }
                    Err(nom::Err::Error(e) | nom::Err::Failure(e)) => {
                        by_rule.push(Err(e.0));
                        break;
                    }
                    Err(nom::Err::Incomplete(_)) => unreachable!(),
                }
            }
            assert_eq!(by_loop, by_rule, "{body:?}");
        }
    }

    #[test]
    fn last_pair_may_lack_its_slash() {
        assert_eq!(pairs("a@=1/b@=2").unwrap().len(), 2);
        assert_eq!(pairs("").unwrap(), []);
    }

    #[test]
    fn lookup_first_wins_and_type_anywhere() {
        let m = Map::new("k@=1/type@=x/k@=2/");
        assert!(m.get("k").unwrap().unwrap() == "1");
        assert!(m.message_type().unwrap().unwrap() == "x");
        assert_eq!(m.get("nope"), Ok(None));
    }

    #[test]
    fn bad_escape_has_offset_and_keeps_earlier_pairs() {
        let mut it = Map::new("type@=x/nn@=a@Qb/z@=1/").pairs();
        assert!(it.next().unwrap().is_ok());
        assert_eq!(it.next().unwrap(), Err(SttError::BadEscape { offset: 13 }));
        assert!(it.next().is_none());
    }

    #[test]
    fn separator_inside_value_is_a_bad_escape() {
        assert_eq!(pairs("a@=b@=c/"), Err(SttError::BadEscape { offset: 4 }));
    }

    #[test]
    fn missing_separator_has_offset() {
        assert_eq!(
            pairs("type@=x/garbage/"),
            Err(SttError::MissingSeparator { offset: 8 })
        );
        assert_eq!(
            pairs("type@=x/garbage"),
            Err(SttError::MissingSeparator { offset: 8 })
        );
    }

    #[test]
    fn trailing_at_is_a_bad_escape() {
        assert_eq!(pairs("a@=b@"), Err(SttError::BadEscape { offset: 4 }));
    }

    #[test]
    fn nested_errors_carry_body_offsets() {
        let m = Map::new("type@=x/el@=a@A=1@AQ/");
        let inner = m.get("el").unwrap().unwrap().as_map();
        assert_eq!(inner.validate(), Err(SttError::BadEscape { offset: 17 }));
    }

    #[test]
    fn three_levels_in_place() {
        // value `inner@A=x@AASy@ASz@AS@S/` escaped once more on the wire
        let m = Map::new("v@=inner@AA=x@AAASy@AASz@AAS@AS@S/");
        let list = m.get("v").unwrap().unwrap().as_list();
        let item = list.get(0).unwrap().unwrap();
        assert!(item == "inner@=x@ASy@Sz@S/");
        let deep = item.as_map().get("inner").unwrap().unwrap().as_list();
        let got: Vec<String> = deep.items().map(|t| t.unwrap().to_string()).collect();
        assert_eq!(got, ["x/y", "z"]);
        assert_eq!(list.get(1), Ok(None));
    }

    #[test]
    fn unescape_into_any_length_escape_and_room() {
        // Around the 16-byte moves of the plain copy, an escape (or none) at
        // every position, into buffers exact, short of the slack, and roomy
        // (fewer lengths under Miri, which runs this a hundred times slower).
        for len in 0..if cfg!(miri) { 20 } else { 50 } {
            for special in [None, Some('@'), Some('/')] {
                for at in 0..len.max(1) {
                    let mut text: Vec<char> = (0..len).map(|i| ['é', 'x', '鱼'][i % 3]).collect();
                    if let Some(c) = special.filter(|_| at < len) {
                        text[at] = c;
                    }
                    let text: String = text.into_iter().collect();
                    let body = std::format!("k@={}/", text.replace('@', "@A").replace('/', "@S"));
                    let value = Map::new(&body).get("k").unwrap().unwrap();
                    for size in [text.len(), text.len() + 15, text.len() + 16, 256] {
                        let mut buf = std::vec![0u8; size];
                        assert_eq!(value.unescape_into(&mut buf), Ok(text.as_str()), "{body:?}");
                    }
                    if !text.is_empty() {
                        let mut buf = std::vec![0u8; text.len() - 1];
                        assert!(value.unescape_into(&mut buf).is_err(), "{body:?}");
                    }
                }
            }
        }
    }

    /// The windowed and the word-at-a-time unescaping against the pieces,
    /// on any text at any depth, checked or not (a `/`, a NUL, a bad
    /// escape), across the 16-byte windows and the words, into buffers
    /// exact and roomy; the words refused a room a byte short.
    #[test]
    fn unescape_into_reads_as_the_pieces_do() {
        let alphabet = ["@", "A", "S", "/", "x", "é", "\0", "@A", "@S", "@AA", "鱼"];
        let count = if cfg!(miri) { 60 } else { 3000 };
        for seed in 0..count {
            let raw: String = (0..seed % 41)
                .map(|i| alphabet[(i * 7 + seed * 13 + i * i * seed / 5) % alphabet.len()])
                .collect();
            for depth in 1..4 {
                let text = Text {
                    raw: &raw,
                    depth,
                    base: 0,
                };
                let want: String = text.pieces().collect();
                for size in [want.len(), raw.len(), raw.len() + 16] {
                    let mut buf = std::vec![0u8; size];
                    assert_eq!(
                        text.unescape_into(&mut buf),
                        Ok(want.as_str()),
                        "{raw:?} at depth {depth}"
                    );
                }
                let mut arena = std::vec![0xa5u8; raw.len() + 8];
                assert_eq!(
                    text.unescape_words(&mut arena),
                    Ok(want.as_str()),
                    "{raw:?} at depth {depth}"
                );
                assert!(text.unescape_words(&mut arena[1..]).is_err());
            }
        }
    }

    #[test]
    fn texts_compare_by_content_at_any_offset_and_depth() {
        // `x/y@` at the top, as the first item of a list, and inside a map in a list.
        let m = Map::new("a@=x@Sy@A/b@=x@ASy@AA@S/c@=l@AA=x@AASy@AAA@AS@S/d@=x@Sy/e@=x@Sy@Az/");
        let get = |k| m.get(k).unwrap().unwrap();
        let top = get("a");
        let item = get("b").as_list().get(0).unwrap().unwrap();
        let nested = get("c").as_list().get(0).unwrap().unwrap().as_map();
        let deep = nested.get("l").unwrap().unwrap();
        assert_eq!((top.depth(), item.depth(), deep.depth()), (1, 2, 3));
        assert_eq!(top, item);
        assert_eq!(item, deep);
        assert_eq!(deep, top);
        assert!(deep == "x/y@");
        // A prefix, and a text with more after it, are not equal either way.
        assert_ne!(get("d"), item);
        assert_ne!(item, get("d"));
        assert_ne!(get("e"), deep);
        assert_ne!(deep, get("e"));
        // Same depth, other offset.
        let again = Map::new("zz@=1/a@=x@Sy@A/").get("a").unwrap().unwrap();
        assert_ne!(again.offset(), top.offset());
        assert_eq!(again, top);
        assert_eq!(Text::default(), Map::new("k@=/").get("k").unwrap().unwrap());
    }

    #[test]
    fn unescape_into_small_buffer_fails() {
        let m = Map::new("nn@=a@Sb/");
        let t = m.get("nn").unwrap().unwrap();
        assert_eq!(t.unescaped_len(), 3);
        assert_eq!(
            t.unescape_into(&mut [0u8; 2]),
            Err(SttError::BufferFull {
                needed: 3,
                capacity: 2
            })
        );
        let plain = m.pairs().next().unwrap().unwrap().0;
        assert_eq!(
            plain.unescape_into(&mut [0u8; 1]),
            Err(SttError::BufferFull {
                needed: 2,
                capacity: 1
            })
        );
        assert_eq!(plain.as_plain(), Some("nn"));
    }

    #[test]
    fn comparison_with_str() {
        let t = Map::new("a@=x@Sy/").get("a").unwrap().unwrap();
        assert!(t == "x/y");
        assert!(t != "x@Sy");
        assert!(t != "x/");
        assert!(t != "x/yz");
    }
}
