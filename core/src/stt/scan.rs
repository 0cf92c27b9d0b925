//! The one scanner behind every STT view: finds the structural marks of a
//! text escaped `depth` times and checks every `@` it passes.
//!
//! After `depth` escapings a structural `/` reads `@` + `A`×(depth−1) + `S`
//! (plain `/` at depth 0) and the key separator reads `@` + `A`×depth + `=`.
//! An escaped `@` or `/` of the text itself reads `@` + `A`×(depth+1) or
//! `@` + `A`×depth + `S`. Anything else after an `@` is malformed.

use super::SttError;
use super::block::classify_from;

/// A structural mark of an STT text, or an `@` that is none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mark {
    /// The `/` that ends a pair or a list item.
    End,
    /// The `@=` between a key and its value.
    KeyValue,
    /// An `@` not followed by a valid escape (found in a body by
    /// [`Scanner::take`]; deeper text reports it from [`Scanner::peek`]).
    Bad,
}

/// A mark taken by [`Scanner::take`]: where it starts and where the text
/// resumes.
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
#[derive(Debug, Clone, Copy)]
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

    /// Where the next mark starts, `None` at the end of the text; the mark
    /// stays for [`Scanner::take`]. Deeper text checks every `@` up to it.
    ///
    /// A grammar's text runs up to a mark and the rule after it takes the
    /// mark, so the two are apart: the mark waits in the masks, where it
    /// already is, rather than in a copy made for the next rule.
    #[inline(always)]
    pub(crate) fn peek(&mut self) -> Result<Option<usize>, SttError> {
        if self.depth == 0 {
            return Ok(self.peek_body());
        }
        self.peek_nested()
    }

    /// The mark [`Scanner::peek`] found, removed; `None` at the end of the
    /// text. Only after a peek: the peek loaded the mark's block, so taking
    /// it needs no classifying (one copy of that loop per pair, not two).
    #[inline(always)]
    pub(crate) fn take(&mut self) -> Option<Found> {
        if self.depth == 0 {
            let (at, bit) = self.pop()?;
            let (mark, after) = if self.ends & bit != 0 {
                (Mark::End, at + 1)
            } else if self.separators & bit != 0 {
                (Mark::KeyValue, at + 2)
            } else {
                (Mark::Bad, at + 1)
            };
            return Some(Found { mark, at, after });
        }
        self.take_nested()
    }

    /// The next mark of a body (depth 0), classified with its block.
    #[inline(always)]
    fn peek_body(&mut self) -> Option<usize> {
        while self.marks == 0 {
            if !self.refill() {
                return None;
            }
        }
        Some(self.block + self.marks.trailing_zeros() as usize)
    }

    /// The mark of a body (depth 0) that [`Scanner::peek_body`] found,
    /// and its bit.
    #[inline(always)]
    fn pop(&mut self) -> Option<(usize, u64)> {
        let marks = self.marks;
        if marks == 0 {
            return None;
        }
        let at = self.block + marks.trailing_zeros() as usize;
        let bit = self.marks & self.marks.wrapping_neg();
        self.marks ^= bit;
        Some((at, bit))
    }

    /// The next mark of a body (depth 0), loading blocks as needed, and its
    /// bit for [`Scanner::is_end`] and [`Scanner::is_separator`]; a mark
    /// that is neither is a malformed escape. For the body loop, which
    /// takes a pair's two marks without peeking (see `Pairs::next_in_body`).
    #[inline(always)]
    pub(crate) fn next_body_mark(&mut self) -> Option<(usize, u64)> {
        self.peek_body()?;
        self.pop()
    }

    /// Whether the mark [`Scanner::next_body_mark`] returned as `bit` is a `/`.
    #[inline(always)]
    pub(crate) const fn is_end(&self, bit: u64) -> bool {
        self.ends & bit != 0
    }

    /// Whether the mark [`Scanner::next_body_mark`] returned as `bit` is an `@=`.
    #[inline(always)]
    pub(crate) const fn is_separator(&self, bit: u64) -> bool {
        self.separators & bit != 0
    }

    /// What the `@` at `at` of deeper text is, and where the text resumes:
    /// `None` for an escaped `@` or `/` of the text itself.
    fn classify_nested(&self, at: usize) -> Result<Option<Found>, SttError> {
        let bytes = self.raw.as_bytes();
        let depth = u64::from(self.depth);
        let run = count_a(bytes.get(at + 1..).unwrap_or_default());
        let next = at + 1 + run;
        let (run, follow) = (run as u64, bytes.get(next).copied());
        let found = |mark| {
            Ok(Some(Found {
                mark,
                at,
                after: next + 1,
            }))
        };
        match follow {
            Some(b'S') if run == depth - 1 => found(Mark::End),
            Some(b'=') if run == depth => found(Mark::KeyValue),
            // An escaped `/` or `@` of the text: the `A`s and the `S` are
            // ordinary letters, never marks.
            Some(b'S') if run == depth => Ok(None),
            _ if run > depth => Ok(None),
            _ => Err(SttError::BadEscape {
                offset: self.base + at,
            }),
        }
    }

    fn peek_nested(&mut self) -> Result<Option<usize>, SttError> {
        loop {
            while self.marks == 0 {
                if !self.refill() {
                    return Ok(None);
                }
            }
            let at = self.block + self.marks.trailing_zeros() as usize;
            // Only a body holds a bare `/`; deeper text comes from between
            // two of them, so this cannot be met in checked text. Pass it
            // over as a letter.
            if self.raw.as_bytes()[at] != b'/' && self.classify_nested(at)?.is_some() {
                return Ok(Some(at));
            }
            self.marks &= self.marks - 1;
        }
    }

    fn take_nested(&mut self) -> Option<Found> {
        let at = self.peek_nested().ok()??;
        self.marks &= self.marks - 1;
        // `peek_nested` stopped here because this is a mark.
        self.classify_nested(at).ok().flatten()
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
