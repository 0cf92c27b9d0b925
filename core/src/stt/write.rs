//! Building STT text into a fixed buffer, nested values included.

use core::fmt;

use super::block::{escapes16, has_at, has_escape};
use super::scan::find_any;
use super::{
    END, END_LETTER, ESCAPED_END, ESCAPED_MARK, KEY_END, MARK, MARK_LETTER, SttError, Text,
};

/// A fixed output buffer for STT text.
///
/// Start a message with [`Writer::map`]. A write that does not fit fails with
/// [`SttError::BufferFull`], never a panic or a silent truncation; the buffer
/// then holds a prefix of the message (never half a UTF-8 character) that the
/// caller discards.
///
/// ```
/// use douyu_core::stt::Writer;
/// let mut buf = [0u8; 128];
/// let mut w = Writer::new(&mut buf);
/// w.map()
///     .pair("type", "chatmsg")?
///     .pair("txt", "a/b")?
///     .list("el", |l| {
///         l.map(|m| {
///             m.pair("eid", "7")?;
///             Ok(())
///         })?;
///         Ok(())
///     })?;
/// assert_eq!(w.as_bytes(), b"type@=chatmsg/txt@=a@Sb/el@=eid@AA=7@AS@S/");
/// # Ok::<(), douyu_core::stt::SttError>(())
/// ```
#[derive(Debug)]
pub struct Writer<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl<'b> Writer<'b> {
    /// A writer filling `buf` from its start.
    #[must_use]
    pub const fn new(buf: &'b mut [u8]) -> Self {
        Self { buf, len: 0 }
    }

    /// Writes a top-level map (a message body) at the current position.
    pub const fn map(&mut self) -> MapWriter<'_, 'b> {
        MapWriter {
            out: self,
            depth: 0,
        }
    }

    /// Writes a top-level list at the current position.
    pub const fn list(&mut self) -> ListWriter<'_, 'b> {
        ListWriter {
            out: self,
            depth: 0,
        }
    }

    /// Bytes written so far.
    #[must_use]
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing has been written.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The text written so far.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// The error for a write that would have ended at `needed`.
    fn full(&self, needed: usize) -> SttError {
        SttError::BufferFull {
            needed,
            capacity: self.buf.len(),
        }
    }

    #[inline]
    fn put(&mut self, bytes: &[u8]) -> Result<(), SttError> {
        let end = self.len + bytes.len();
        let full = self.full(end);
        self.buf
            .get_mut(self.len..end)
            .ok_or(full)?
            .copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }

    /// `@`, `count` × `A`, then `last` (if any), as one all-or-nothing write.
    fn put_escape(&mut self, count: u32, last: Option<u8>) -> Result<(), SttError> {
        // The unnested forms (`@=`, `@S`, `@A`, `/`-less) are nearly all
        // that real messages need: write them as constants.
        match (count, last) {
            (0, Some(byte)) => return self.put(&[MARK, byte]),
            (1, None) => return self.put(&ESCAPED_MARK),
            (1, Some(byte)) => return self.put(&[MARK, MARK_LETTER, byte]),
            _ => {}
        }
        let total = 1 + count as usize + usize::from(last.is_some());
        let end = self.len + total;
        let full = self.full(end);
        let out = self.buf.get_mut(self.len..end).ok_or(full)?;
        let (at, rest) = out.split_first_mut().ok_or(full)?;
        *at = MARK;
        match (last, rest.split_last_mut()) {
            (Some(byte), Some((tail, run))) => {
                run.fill(MARK_LETTER);
                *tail = byte;
            }
            _ => rest.fill(MARK_LETTER),
        }
        self.len = end;
        Ok(())
    }

    /// Text content of a structure escaped `depth` times.
    #[inline]
    fn put_text(&mut self, text: &str, depth: u32) -> Result<(), SttError> {
        if depth == 0 {
            // Room for the worst case (every byte escaped) and for the
            // 16-byte moves of `escape_into`: the common case, checked once.
            let room = self.buf.get_mut(self.len..).unwrap_or_default();
            if room.len() >= 2 * text.len() + 16 {
                self.len += escape_into(room, text.as_bytes())?;
                return Ok(());
            }
        }
        self.put_text_piecewise(text, depth)
    }

    /// `key@=value/` of a body when the buffer has room for the worst case,
    /// with one check of room for the whole pair; false (nothing written)
    /// otherwise, and the caller writes it piece by piece.
    #[inline]
    fn put_body_pair(&mut self, key: &str, value: &str) -> Result<bool, SttError> {
        let (key, value) = (key.as_bytes(), value.as_bytes());
        let room = self.buf.get_mut(self.len..).unwrap_or_default();
        // Escaping at most doubles each text; `escape_into` needs 16 bytes
        // of slack after what it writes.
        if room.len() < 2 * (key.len() + value.len()) + 3 + 16 {
            return Ok(false);
        }
        let mut at = escape_into(room, key)?;
        room[at..at + 2].copy_from_slice(&KEY_END);
        at += 2;
        at += escape_into(&mut room[at..], value)?;
        room[at] = END;
        self.len += at + 1;
        Ok(true)
    }

    /// [`Writer::put_text`] at any depth and into any room, a piece at a
    /// time, each checked against the room left.
    fn put_text_piecewise(&mut self, text: &str, depth: u32) -> Result<(), SttError> {
        let bytes = text.as_bytes();
        let mut start = 0;
        while let Some(found) = find_any(&bytes[start..], [MARK, END, 0]) {
            let i = start + found;
            self.put(&bytes[start..i])?;
            match bytes[i] {
                MARK => self.put_escape(depth + 1, None)?,
                END => self.put_escape(depth, Some(END_LETTER))?,
                _ => return Err(SttError::NulByte { offset: i }),
            }
            start = i + 1;
        }
        self.put(&bytes[start..])
    }

    /// The `/` ending a pair or item of a structure escaped `depth` times.
    fn put_end(&mut self, depth: u32) -> Result<(), SttError> {
        match depth.checked_sub(1) {
            None => self.put(b"/"),
            Some(run) => self.put_escape(run, Some(END_LETTER)),
        }
    }

    /// The `@=` of a structure escaped `depth` times.
    fn put_key_value(&mut self, depth: u32) -> Result<(), SttError> {
        self.put_escape(depth, Some(b'='))
    }

    fn put_display(&mut self, value: &dyn fmt::Display, depth: u32) -> Result<(), SttError> {
        let mut sink = Escaping {
            out: self,
            depth,
            error: None,
        };
        match fmt::write(&mut sink, format_args!("{value}")) {
            Ok(()) => Ok(()),
            Err(fmt::Error) => Err(sink.error.unwrap_or(self.full(self.len))),
        }
    }
}

/// Writes `text` escaped once at the start of `out`, which holds at least
/// `2 * text.len() + 16` bytes, returning the bytes written.
#[inline]
fn escape_into(out: &mut [u8], text: &[u8]) -> Result<usize, SttError> {
    if text.len() < 16 && copy_short::<true>(&mut out[..16], text) {
        return Ok(text.len());
    }
    copy_escaped(out, text).map_err(|offset| SttError::NulByte { offset })
}

/// Copies `text` into `out` escaped once (`@` → `@A`, `/` → `@S`), returning
/// the bytes written, or the offset of a NUL in `text`.
///
/// `out` must hold `2 * text.len() + 16` bytes: text is moved in 16-byte
/// stores that may run past what is kept, and the bytes past the returned
/// length are left undefined. Fixed-size moves compile to single loads and
/// stores; the values of a body are a few bytes long, and calling `memcpy`
/// for each cost more than the copying (BENCHMARKS.md).
fn copy_escaped(out: &mut [u8], text: &[u8]) -> Result<usize, usize> {
    let (mut written, mut read) = (0, 0);
    while let Some(window) = text[read..].first_chunk::<16>() {
        written = copy_window(out, written, window, 0..16, read)?;
        read += 16;
    }
    let rest = &text[read..];
    if rest.is_empty() {
        return Ok(written);
    }
    // Fewer than 16 bytes left: the end of the text's last 16 bytes, or, in
    // a text shorter than that, a padded copy.
    match text.last_chunk::<16>() {
        Some(last) => copy_window(out, written, last, 16 - rest.len()..16, text.len() - 16),
        None => {
            let mut padded = [b'x'; 16];
            padded[..rest.len()].copy_from_slice(rest);
            copy_window(out, written, &padded, 0..rest.len(), read)
        }
    }
}

/// Copies `window[range]` to `out[written..]` escaped once, returning where
/// the writing ends, or the offset of a NUL (`window` is the text from
/// `origin` on).
///
/// The window is held as one integer: after each escape the rest of it is
/// shifted down and stored again, so a window is classified once however
/// many escapes it holds (the nested lists of a `chatmsg` hold one every
/// five bytes).
#[inline(always)]
fn copy_window(
    out: &mut [u8],
    mut written: usize,
    window: &[u8; 16],
    range: core::ops::Range<usize>,
    origin: usize,
) -> Result<usize, usize> {
    let bytes = u128::from_le_bytes(*window);
    let mut escapes = escapes16(window) >> range.start << range.start;
    let mut at = range.start;
    loop {
        // `at < 16`: the loop ends when it reaches the end of the range.
        out[written..written + 16].copy_from_slice(&(bytes >> (8 * at)).to_le_bytes());
        let hit = escapes.trailing_zeros() as usize;
        if hit >= range.end {
            return Ok(written + range.end - at);
        }
        escapes &= escapes - 1;
        written += hit - at;
        // `@` and `/` come in any order: a select, not a branch, picks the
        // letter; NUL, never met in valid text, is the branch.
        let byte = window[hit];
        if byte == 0 {
            return Err(origin + hit);
        }
        let escaped = if byte == MARK {
            ESCAPED_MARK
        } else {
            ESCAPED_END
        };
        out[written..written + 2].copy_from_slice(&escaped);
        written += 2;
        at = hit + 1;
        if at == range.end {
            return Ok(written);
        }
    }
}

/// Copies `text` to the start of `out`, which holds `text.len() + 16` bytes,
/// if it holds no `@` (from 16 bytes on, no `@`, `/` or NUL: the windows
/// share the writer's check; text that holds the other two is never checked
/// text, and is unescaped apart with the same result); false otherwise, and
/// `out` then holds a partial copy.
///
/// A value without escapes reads the same escaped and not: this is how
/// [`Text::unescape_into`] copies the common case with fixed-size moves and
/// one pass, where searching first and calling `memcpy` after cost twice as
/// much for the short texts of a body.
#[inline]
pub(super) fn copy_plain(out: &mut [u8], text: &[u8]) -> bool {
    if text.len() < 16 {
        return copy_short::<false>(&mut out[..16], text);
    }
    let mut read = 0;
    while let Some(window) = text[read..].first_chunk::<16>() {
        out[read..read + 16].copy_from_slice(window);
        if escapes16(window) != 0 {
            return false;
        }
        read += 16;
    }
    // The last 16 bytes again, overlapping what was copied: the same bytes
    // land on the same places.
    match text.last_chunk::<16>() {
        Some(last) if read < text.len() => {
            out[text.len() - 16..text.len()].copy_from_slice(last);
            escapes16(last) == 0
        }
        _ => true,
    }
}

/// Copies `src` (fewer than 16 bytes) to the start of `dest` (16 bytes) with
/// fixed-size moves; false if it holds a byte to escape (`ESCAPING`: `@`,
/// `/` or NUL, for the writer) or to unescape (`@`, for
/// [`copy_plain`]), and then `dest` holds a copy that must be written again.
#[inline]
fn copy_short<const ESCAPING: bool>(dest: &mut [u8], src: &[u8]) -> bool {
    let found = |low, high| {
        if ESCAPING {
            has_escape(low, high)
        } else {
            has_at(low, high)
        }
    };
    let len = src.len();
    if let (Some(head), Some(tail)) = (src.first_chunk::<8>(), src.last_chunk::<8>()) {
        // 8 to 15 bytes: two overlapping words.
        dest[..8].copy_from_slice(head);
        dest[len - 8..len].copy_from_slice(tail);
        return !found(u64::from_le_bytes(*head), u64::from_le_bytes(*tail));
    }
    if let (Some(head), Some(tail)) = (src.first_chunk::<4>(), src.last_chunk::<4>()) {
        // 4 to 7 bytes: two overlapping halves, checked as one word.
        dest[..4].copy_from_slice(head);
        dest[len - 4..len].copy_from_slice(tail);
        let word =
            (u64::from(u32::from_le_bytes(*head)) << 32) | u64::from(u32::from_le_bytes(*tail));
        return !found(word, word);
    }
    // 0 to 3 bytes: two overlapping byte pairs, or one byte, padded with
    // letters that need no escape.
    let mut word = u64::from_le_bytes(*b"xxxxxxxx");
    if let (Some(head), Some(tail)) = (src.first_chunk::<2>(), src.last_chunk::<2>()) {
        dest[..2].copy_from_slice(head);
        dest[len - 2..len].copy_from_slice(tail);
        word = (word << 32) | (u64::from(u16::from_le_bytes(*head)) << 16);
        word |= u64::from(u16::from_le_bytes(*tail));
    } else if let Some(&byte) = src.first() {
        dest[0] = byte;
        word = (word << 8) | u64::from(byte);
    }
    !found(word, word)
}

/// Adapts a [`Writer`] to [`fmt::Write`], escaping what is formatted.
struct Escaping<'w, 'b> {
    out: &'w mut Writer<'b>,
    depth: u32,
    error: Option<SttError>,
}

impl fmt::Write for Escaping<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.out.put_text(s, self.depth).map_err(|e| {
            self.error = Some(e);
            fmt::Error
        })
    }
}

/// Writes the pairs of a map; nested maps and lists are written in place,
/// escaped once more per level.
#[derive(Debug)]
pub struct MapWriter<'w, 'b> {
    out: &'w mut Writer<'b>,
    depth: u32,
}

impl<'b> MapWriter<'_, 'b> {
    /// Writes `key@=value/`, escaping both.
    // A message is a loop of these: inlined into it (across crates too), a
    // body's pair costs no call; nested pairs and a nearly full buffer take
    // the out-of-line path.
    #[inline]
    pub fn pair(&mut self, key: &str, value: &str) -> Result<&mut Self, SttError> {
        if self.depth == 0 && self.out.put_body_pair(key, value)? {
            return Ok(self);
        }
        self.pair_piecewise(key, value)
    }

    /// [`MapWriter::pair`] at any depth and into any room.
    #[inline(never)]
    fn pair_piecewise(&mut self, key: &str, value: &str) -> Result<&mut Self, SttError> {
        self.key(key)?;
        self.out.put_text(value, self.depth)?;
        self.out.put_end(self.depth)?;
        Ok(self)
    }

    /// Writes a pair whose value is formatted with [`fmt::Display`] (numbers,
    /// for example), escaping it, with no intermediate buffer.
    pub fn pair_display(
        &mut self,
        key: &str,
        value: &dyn fmt::Display,
    ) -> Result<&mut Self, SttError> {
        self.key(key)?;
        self.out.put_display(value, self.depth)?;
        self.out.put_end(self.depth)?;
        Ok(self)
    }

    /// Writes a pair whose value is a [`Text`] read from another body. At the
    /// same nesting level its escaped form is copied as it is.
    pub fn pair_text(&mut self, key: &str, value: Text<'_>) -> Result<&mut Self, SttError> {
        self.key(key)?;
        if value.depth() == self.depth + 1 {
            // Checked when read, and from a frame body: no NUL, escapes valid.
            self.out.put(value.raw().as_bytes())?;
        } else {
            for piece in value.pieces() {
                self.out.put_text(piece, self.depth)?;
            }
        }
        self.out.put_end(self.depth)?;
        Ok(self)
    }

    /// Writes a pair whose value is a map built by `build`.
    pub fn map<F>(&mut self, key: &str, build: F) -> Result<&mut Self, SttError>
    where
        F: FnOnce(&mut MapWriter<'_, 'b>) -> Result<(), SttError>,
    {
        self.key(key)?;
        build(&mut MapWriter {
            out: self.out,
            depth: self.depth + 1,
        })?;
        self.out.put_end(self.depth)?;
        Ok(self)
    }

    /// Writes a pair whose value is a list built by `build`.
    pub fn list<F>(&mut self, key: &str, build: F) -> Result<&mut Self, SttError>
    where
        F: FnOnce(&mut ListWriter<'_, 'b>) -> Result<(), SttError>,
    {
        self.key(key)?;
        build(&mut ListWriter {
            out: self.out,
            depth: self.depth + 1,
        })?;
        self.out.put_end(self.depth)?;
        Ok(self)
    }

    #[inline]
    fn key(&mut self, key: &str) -> Result<(), SttError> {
        self.out.put_text(key, self.depth)?;
        self.out.put_key_value(self.depth)
    }
}

/// Writes the items of a list; nested maps and lists are written in place.
#[derive(Debug)]
pub struct ListWriter<'w, 'b> {
    out: &'w mut Writer<'b>,
    depth: u32,
}

impl<'b> ListWriter<'_, 'b> {
    /// Writes one string item, escaped.
    pub fn item(&mut self, text: &str) -> Result<&mut Self, SttError> {
        self.out.put_text(text, self.depth)?;
        self.out.put_end(self.depth)?;
        Ok(self)
    }

    /// Writes one item formatted with [`fmt::Display`].
    pub fn item_display(&mut self, value: &dyn fmt::Display) -> Result<&mut Self, SttError> {
        self.out.put_display(value, self.depth)?;
        self.out.put_end(self.depth)?;
        Ok(self)
    }

    /// Writes one item that is a map built by `build`.
    pub fn map<F>(&mut self, build: F) -> Result<&mut Self, SttError>
    where
        F: FnOnce(&mut MapWriter<'_, 'b>) -> Result<(), SttError>,
    {
        build(&mut MapWriter {
            out: self.out,
            depth: self.depth + 1,
        })?;
        self.out.put_end(self.depth)?;
        Ok(self)
    }

    /// Writes one item that is a list built by `build`.
    pub fn list<F>(&mut self, build: F) -> Result<&mut Self, SttError>
    where
        F: FnOnce(&mut ListWriter<'_, 'b>) -> Result<(), SttError>,
    {
        build(&mut ListWriter {
            out: self.out,
            depth: self.depth + 1,
        })?;
        self.out.put_end(self.depth)?;
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;
    use std::string::String;
    use std::vec;
    use std::vec::Vec;

    fn written(f: impl FnOnce(&mut MapWriter<'_, '_>) -> Result<(), SttError>) -> String {
        let mut buf = [0u8; 256];
        let mut w = Writer::new(&mut buf);
        f(&mut w.map()).unwrap();
        String::from_utf8(w.as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn escapes_keys_and_values() {
        let s = written(|m| {
            m.pair("a/b", "@A is not an at/")?;
            Ok(())
        });
        assert_eq!(s, "a@Sb@=@AA is not an at@S/");
    }

    #[test]
    fn nesting_matches_the_protocol_example() {
        let s = written(|m| {
            m.list("el", |l| {
                l.map(|e| {
                    e.pair("eid", "1500000113")?.pair("etp", "1")?;
                    Ok(())
                })?;
                Ok(())
            })?;
            Ok(())
        });
        assert_eq!(s, "el@=eid@AA=1500000113@ASetp@AA=1@AS@S/");
    }

    #[test]
    fn display_values_are_escaped() {
        let s = written(|m| {
            m.pair_display("n", &-9999)?.pair_display("p", &"x/y")?;
            m.list("l", |l| {
                l.item_display(&42)?.list(|inner| {
                    inner.item("@")?;
                    Ok(())
                })?;
                Ok(())
            })?;
            Ok(())
        });
        assert_eq!(s, "n@=-9999/p@=x@Sy/l@=42@S@AAA@AS@S/");
    }

    #[test]
    fn full_buffer_is_an_error_and_writes_nothing_partial() {
        let mut buf = [0u8; 10];
        let mut w = Writer::new(&mut buf);
        assert_eq!(
            w.map().pair("type", "鱼鱼").err(),
            Some(SttError::BufferFull {
                needed: 12,
                capacity: 10
            })
        );
        assert_eq!(w.as_bytes(), b"type@=");
        let mut w = Writer::new(&mut buf);
        let mut map = w.map();
        let r = map.pair_display("k", &123_456_789);
        assert_eq!(
            r.err(),
            Some(SttError::BufferFull {
                needed: 12,
                capacity: 10
            })
        );
    }

    #[test]
    fn text_from_another_body_is_copied_at_any_depth() {
        let source = crate::stt::Map::new("t@=a@Sb@Ac/n@=x@AA=1@AS@S/");
        let t = source.get("t").unwrap().unwrap();
        let inner = source
            .get("n")
            .unwrap()
            .unwrap()
            .as_list()
            .get(0)
            .unwrap()
            .unwrap();
        let deep = inner.as_map().get("x").unwrap().unwrap();
        let s = written(|m| {
            m.pair_text("t", t)?.pair_text("d", deep)?;
            m.map("m", |m| m.pair_text("t", t).map(drop))?;
            Ok(())
        });
        assert_eq!(s, "t@=a@Sb@Ac/d@=1/m@=t@A=a@ASb@AAc@S/");
    }

    #[test]
    fn every_length_and_escape_position_is_copied_exactly() {
        // Lengths around the 2-, 4-, 8- and 16-byte moves, an escape (or
        // none) at every position, into roomy and tight buffers.
        for len in 0..40 {
            for special in [None, Some(b'@'), Some(b'/')] {
                for at in 0..len.max(1) {
                    let mut text: Vec<u8> = (0..len).map(|i| b"ab"[i % 2]).collect();
                    if let Some(byte) = special.filter(|_| at < len) {
                        text[at] = byte;
                    }
                    let text = String::from_utf8(text).unwrap();
                    let want = text.replace('@', "@A").replace('/', "@S") + "@=/";
                    for size in [want.len(), want.len() + 64] {
                        let mut buf = vec![0u8; size];
                        let mut w = Writer::new(&mut buf);
                        w.map().pair(&text, "").unwrap();
                        assert_eq!(w.as_bytes(), want.as_bytes(), "{text:?} in {size}");
                    }
                }
            }
        }
    }

    #[test]
    fn texts_dense_with_escapes_are_copied_exactly() {
        // Several escapes to a 16-byte window, on its edges and in the
        // tail, in keys and values, then a NUL at every position of each.
        let pieces = ["a", "@", "/", "é", "bc", "@", "x", "//", "😀"];
        // Miri runs this too (the copies use SSE2), a hundred times slower.
        let seeds = if cfg!(miri) { 40 } else { 400 };
        for seed in 0..seeds {
            let count = seed % 37;
            let text: String = (0..count)
                .map(|i| pieces[(i * (seed / 37 + 1) + i * i / 3 + seed) % pieces.len()])
                .collect();
            let escaped = text.replace('@', "@A").replace('/', "@S");
            let want = format!("{escaped}@={escaped}/");
            for size in [want.len(), want.len() + 80] {
                let mut buf = vec![0u8; size];
                let mut w = Writer::new(&mut buf);
                w.map().pair(&text, &text).unwrap();
                assert_eq!(w.as_bytes(), want.as_bytes(), "{text:?} in {size}");
            }
            for (at, _) in text.char_indices() {
                let with_nul = format!("{}\0{}", &text[..at], &text[at..]);
                let mut buf = vec![0u8; 2 * with_nul.len() + 64];
                let mut w = Writer::new(&mut buf);
                let e = w.map().pair("k", &with_nul).err();
                assert_eq!(e, Some(SttError::NulByte { offset: at }), "{with_nul:?}");
            }
        }
    }

    #[test]
    fn nul_is_refused() {
        let mut buf = [0u8; 32];
        let mut w = Writer::new(&mut buf);
        assert_eq!(
            w.map().pair("k", "a\0").err(),
            Some(SttError::NulByte { offset: 1 })
        );
        let mut roomy = [0u8; 128];
        for (text, offset) in [("0123456789abcdef\0", 16), ("a@b/\0", 4), ("\0", 0)] {
            let mut w = Writer::new(&mut roomy);
            let e = w.map().pair("k", text).err();
            assert_eq!(e, Some(SttError::NulByte { offset }), "{text:?}");
        }
        // What was written is a prefix of the message.
        let kept = w.as_bytes();
        assert!(b"k@=a".starts_with(kept), "{kept:?}");
        let mut w = Writer::new(&mut buf);
        w.list().item("x").unwrap();
        assert_eq!(w.as_bytes(), b"x/");
    }
}
