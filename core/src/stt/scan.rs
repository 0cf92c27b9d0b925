//! The one scanner behind every STT view: finds the structural marks of a
//! text escaped `depth` times and checks every `@` it passes.
//!
//! After `depth` escapings a structural `/` reads `@` + `A`×(depth−1) + `S`
//! (plain `/` at depth 0) and the key separator reads `@` + `A`×depth + `=`.
//! An escaped `@` or `/` of the text itself reads `@` + `A`×(depth+1) or
//! `@` + `A`×depth + `S`. Anything else after an `@` is malformed.

use super::SttError;

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
#[derive(Debug, Clone)]
pub(crate) struct Scanner<'a> {
    raw: &'a [u8],
    depth: u32,
    /// Offset of `raw` in the body, for error offsets.
    base: usize,
    specials: Specials<'a>,
}

impl<'a> Scanner<'a> {
    pub(crate) fn new(raw: &'a [u8], depth: u32, base: usize) -> Self {
        Self {
            raw,
            depth,
            base,
            specials: Specials::new(raw),
        }
    }

    /// The next mark, checking every `@` before it.
    // Two calls per pair on the hottest path: inlined, the result stays in
    // registers.
    #[inline(always)]
    pub(crate) fn next_mark(&mut self) -> Result<Option<Found>, SttError> {
        let depth = u64::from(self.depth);
        while let Some(at) = self.specials.next() {
            if self.raw[at] == b'/' {
                // Only a body (depth 0) holds a bare `/`; deeper text comes
                // from between two of them.
                if depth == 0 {
                    return Ok(Some(Found {
                        mark: Mark::End,
                        at,
                        after: at + 1,
                    }));
                }
                continue;
            }
            if depth == 0 {
                // Unnested text, the common case: one byte decides.
                match self.raw.get(at + 1) {
                    Some(b'=') => {
                        return Ok(Some(Found {
                            mark: Mark::KeyValue,
                            at,
                            after: at + 2,
                        }));
                    }
                    Some(b'A' | b'S') => continue,
                    _ => {
                        return Err(SttError::BadEscape {
                            offset: self.base + at,
                        });
                    }
                }
            }
            let run = count_a(&self.raw[at + 1..]);
            let next = at + 1 + run;
            let (run, follow) = (run as u64, self.raw.get(next).copied());
            match follow {
                Some(b'S') if depth >= 1 && run == depth - 1 => {
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
                // are ordinary letters, never specials, so scanning simply
                // goes on with the next special.
                Some(b'S') if run == depth => {}
                _ if run > depth => {}
                _ => {
                    return Err(SttError::BadEscape {
                        offset: self.base + at,
                    });
                }
            }
        }
        Ok(None)
    }
}

/// Positions of every `@` and `/` in a text, in order, found 64 bytes at a
/// time as a bit mask: the tokens of STT are a few bytes long, and walking
/// set bits costs less than restarting a search at every token.
#[derive(Debug, Clone)]
struct Specials<'a> {
    bytes: &'a [u8],
    /// Offset of the block `mask` describes.
    block: usize,
    /// Bit `i` set: `bytes[block + i]` is special and not yet returned.
    mask: u64,
}

impl<'a> Specials<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            block: 0,
            mask: block_mask(bytes),
        }
    }

    #[inline(always)]
    fn next(&mut self) -> Option<usize> {
        while self.mask == 0 {
            self.block += 64;
            let rest = self
                .bytes
                .get(self.block..)
                .filter(|rest| !rest.is_empty())?;
            self.mask = block_mask(rest);
        }
        let bit = self.mask.trailing_zeros() as usize;
        self.mask &= self.mask - 1;
        Some(self.block + bit)
    }
}

/// The special bytes among the first 64 of `bytes`, as a bit mask.
fn block_mask(bytes: &[u8]) -> u64 {
    let mut words = [0u64; 8];
    if let Some(block) = bytes.get(..64) {
        for (word, chunk) in words.iter_mut().zip(block.chunks_exact(8)) {
            *word = <[u8; 8]>::try_from(chunk).map_or(0, u64::from_le_bytes);
        }
    } else {
        let mut padded = [0u8; 64];
        padded[..bytes.len()].copy_from_slice(bytes);
        for (word, chunk) in words.iter_mut().zip(padded.chunks_exact(8)) {
            *word = <[u8; 8]>::try_from(chunk).map_or(0, u64::from_le_bytes);
        }
    }
    words
        .iter()
        .rev()
        .fold(0, |mask, &word| (mask << 8) | special_bits(word))
}

/// One bit per byte of `word` (bit `i` for byte `i`) that is `@` or `/`.
const fn special_bits(word: u64) -> u64 {
    let high = equal_bytes(word, b'@') | equal_bytes(word, b'/');
    // Gather the eight high bits into the top byte, then bring it down.
    ((high >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56
}

/// The high bit of every byte of `word` equal to `needle`, exactly.
const fn equal_bytes(word: u64, needle: u8) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let v = word ^ (ONES * needle as u64);
    !(((v & LOW7).wrapping_add(LOW7)) | v | LOW7)
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
    use std::vec::Vec;

    #[test]
    fn block_masks_are_exact() {
        let text: Vec<u8> = (0..200u32)
            .map(|i| [b'@', b'/', b'a', 0x80, 0xff, b'A', b'?', b'.'][(i * 7 % 11 % 8) as usize])
            .collect();
        for start in 0..text.len() {
            let bytes = &text[start..];
            let want = bytes.iter().take(64).enumerate().fold(0u64, |m, (i, &b)| {
                m | (u64::from(b == b'@' || b == b'/') << i)
            });
            assert_eq!(block_mask(bytes), want, "from {start}");
        }
    }

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
