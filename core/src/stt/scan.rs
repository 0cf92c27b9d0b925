//! The one scanner behind every STT view: finds the structural marks of a
//! text escaped `depth` times and checks every `@` it passes.
//!
//! After `depth` escapings a structural `/` reads `@` + `A`×(depth−1) + `S`
//! (plain `/` at depth 0) and the key separator reads `@` + `A`×depth + `=`.
//! An escaped `@` or `/` of the text itself reads `@` + `A`×(depth+1) or
//! `@` + `A`×depth + `S`. Anything else after an `@` is malformed.

use super::SttError;
use super::block::classify_from;

/// A structural mark of an STT text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mark {
    /// The `/` that ends a pair or a list item.
    End,
    /// The `@=` between a key and its value.
    KeyValue,
}

/// A mark found by [`Scanner::next_mark`]: where it starts and where the
/// text resumes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Found {
    pub(crate) mark: Mark,
    pub(crate) at: usize,
    pub(crate) after: usize,
}

/// Walks the marks of `raw`, a text escaped `depth` times, in order.
///
/// Marks are found 64 bytes at a time ([`classify_from`]). In a body (depth
/// 0), the common case, a block's marks are classified in the same step:
/// `/` ends a pair, `@=` separates, `@A` and `@S` are escapes and no mark,
/// and any other `@` is an error; walking them is then a matter of taking
/// the lowest set bit. Deeper text, whose marks are `@` + `A`s + a letter,
/// is classified mark by mark.
#[derive(Debug, Clone)]
pub(crate) struct Scanner<'a> {
    /// The text scanned; the iterators built on a scanner read it here.
    pub(super) raw: &'a str,
    /// How many times `raw` is escaped.
    pub(super) depth: u32,
    /// Offset of `raw` in the body, for error offsets.
    pub(super) base: usize,
    /// Offset of the block the masks describe.
    block: usize,
    /// Offset of the next block to classify.
    next: usize,
    /// Marks of the block not yet returned (depth 0); every `@` and `/` not
    /// yet looked at (deeper).
    marks: u64,
    /// Which of `marks` are a pair's end (depth 0).
    ends: u64,
    /// Which of `marks` are a key–value separator (depth 0); the rest are
    /// malformed escapes.
    separators: u64,
}

impl<'a> Scanner<'a> {
    pub(crate) const fn new(raw: &'a str, depth: u32, base: usize) -> Self {
        Self {
            raw,
            depth,
            base,
            block: 0,
            next: 0,
            marks: 0,
            ends: 0,
            separators: 0,
        }
    }

    /// Classifies the next block; false at the end of the text.
    // With SSE2 the classes take a few instructions and inlining this into
    // the pair loop measured 15 % faster; the SWAR classes of other targets
    // are long, and a copy in every inlined pair loop cost a microcontroller
    // build 20 KiB of flash, so there it stays out of line.
    #[cfg_attr(all(target_arch = "x86_64", target_feature = "sse2"), inline(always))]
    #[cfg_attr(
        not(all(target_arch = "x86_64", target_feature = "sse2")),
        inline(never)
    )]
    fn refill(&mut self) -> bool {
        let start = self.next;
        if start >= self.raw.len() {
            return false;
        }
        let classes = classify_from(self.raw.as_bytes(), start);
        self.block = start;
        self.next = start + 64;
        if self.depth > 0 {
            self.marks = classes.at | classes.slash;
            return true;
        }
        // What follows each `@`: the next byte in the block, or for the
        // block's last byte the first byte of the next block (none at the
        // end of the text, which leaves a final `@` malformed).
        let after = self.raw.as_bytes().get(start + 64).copied();
        let carry = |hit: bool| u64::from(hit) << 63;
        let equals_next = (classes.equals >> 1) | carry(after == Some(b'='));
        let allowed_next =
            (classes.follows_at >> 1) | carry(matches!(after, Some(b'=' | b'A' | b'S')));
        self.ends = classes.slash;
        self.separators = classes.at & equals_next;
        self.marks = self.ends | self.separators | (classes.at & !allowed_next);
        true
    }

    /// The next mark, checking every `@` before it.
    // Two calls per pair on the hottest path: inlined, the result stays in
    // registers.
    #[inline(always)]
    pub(crate) fn next_mark(&mut self) -> Result<Option<Found>, SttError> {
        if self.depth == 0 {
            return self.next_body_mark();
        }
        self.next_nested_mark()
    }

    /// The next mark of a body (depth 0): its offset, and its bit for
    /// [`Scanner::is_end`] and [`Scanner::is_separator`]. A mark that is
    /// neither is a malformed escape.
    #[inline(always)]
    pub(crate) fn pop(&mut self) -> Option<(usize, u64)> {
        while self.marks == 0 {
            if !self.refill() {
                return None;
            }
        }
        let bit = self.marks & self.marks.wrapping_neg();
        self.marks ^= bit;
        Some((self.block + bit.trailing_zeros() as usize, bit))
    }

    /// Whether the mark [`Scanner::pop`] returned as `bit` is a `/`.
    #[inline(always)]
    pub(crate) const fn is_end(&self, bit: u64) -> bool {
        self.ends & bit != 0
    }

    /// Whether the mark [`Scanner::pop`] returned as `bit` is an `@=`.
    #[inline(always)]
    pub(crate) const fn is_separator(&self, bit: u64) -> bool {
        self.separators & bit != 0
    }

    #[inline(always)]
    fn next_body_mark(&mut self) -> Result<Option<Found>, SttError> {
        let Some((at, bit)) = self.pop() else {
            return Ok(None);
        };
        if self.is_end(bit) {
            Ok(Some(Found {
                mark: Mark::End,
                at,
                after: at + 1,
            }))
        } else if self.is_separator(bit) {
            Ok(Some(Found {
                mark: Mark::KeyValue,
                at,
                after: at + 2,
            }))
        } else {
            Err(SttError::BadEscape {
                offset: self.base + at,
            })
        }
    }

    fn next_nested_mark(&mut self) -> Result<Option<Found>, SttError> {
        let depth = u64::from(self.depth);
        loop {
            while self.marks == 0 {
                if !self.refill() {
                    return Ok(None);
                }
            }
            let at = self.block + self.marks.trailing_zeros() as usize;
            self.marks &= self.marks - 1;
            if self.raw.as_bytes()[at] == b'/' {
                // Only a body holds a bare `/`; deeper text comes from
                // between two of them, so this cannot be met in checked
                // text. Pass it over as a letter.
                continue;
            }
            let run = count_a(&self.raw.as_bytes()[at + 1..]);
            let next = at + 1 + run;
            let (run, follow) = (run as u64, self.raw.as_bytes().get(next).copied());
            match follow {
                Some(b'S') if run == depth - 1 => {
                    return Ok(Some(Found {
                        mark: Mark::End,
                        at,
                        after: next + 1,
                    }));
                }
                Some(b'=') if run == depth => {
                    return Ok(Some(Found {
                        mark: Mark::KeyValue,
                        at,
                        after: next + 1,
                    }));
                }
                // An escaped `/` or `@` of the text: the `A`s and the `S`
                // are ordinary letters, never marks, so scanning simply goes
                // on with the next `@`.
                Some(b'S') if run == depth => {}
                _ if run > depth => {}
                _ => {
                    return Err(SttError::BadEscape {
                        offset: self.base + at,
                    });
                }
            }
        }
    }
}

/// Length of the run of `A`s at the start of `bytes`.
pub(crate) fn count_a(bytes: &[u8]) -> usize {
    bytes.iter().position(|&b| b != b'A').unwrap_or(bytes.len())
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Marks the zero bytes of `word` in their high bits. A byte above a zero
/// may be marked too, but the lowest mark is always a true zero.
const fn zero_bytes(word: u64) -> u64 {
    word.wrapping_sub(ONES) & !word & HIGHS
}

/// Offset of the first byte of `bytes` equal to one of `needles`, eight bytes
/// at a time.
///
/// STT tokens are short (a key, a number, a nickname): a SIMD search pays
/// its setup on every call and loses to this word-at-a-time scan, which
/// needs no setup at all.
pub(crate) fn find_any<const N: usize>(bytes: &[u8], needles: [u8; N]) -> Option<usize> {
    let mut chunks = bytes.chunks_exact(8);
    let mut base = 0;
    for chunk in &mut chunks {
        // `chunks_exact(8)` yields 8 bytes, so the conversion always succeeds.
        let word = <[u8; 8]>::try_from(chunk).map_or(0, u64::from_le_bytes);
        let hits = needles.iter().fold(0, |hits, &needle| {
            hits | zero_bytes(word ^ (ONES * u64::from(needle)))
        });
        if hits != 0 {
            return Some(base + (hits.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|b| needles.contains(b))
        .map(|i| base + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_any_agrees_with_a_plain_search() {
        let text = b"ab@cdefgh/ijklmnop@qrstuvw\0xyz@@//\x01\x00\x7f\x80\xff@";
        for start in 0..text.len() {
            for needles in [[b'@', b'/'], [b'@', b'@'], [0, 1], [0x80, 0xff]] {
                let bytes = &text[start..];
                let want = bytes.iter().position(|b| needles.contains(b));
                assert_eq!(
                    find_any(bytes, needles),
                    want,
                    "from {start} for {needles:?}"
                );
            }
        }
    }
}
