//! The bytes STT gives meaning to, found 64 at a time as bit masks.
//!
//! A body has a structural byte every six bytes or so; finding them one
//! search at a time pays a start-up cost per token, while one pass that sets
//! a bit per interesting byte lets the scanner walk set bits instead. On
//! x86-64 the masks come from SSE2 compares (part of every x86-64 CPU); elsewhere
//! from eight-byte words (SWAR), which a microcontroller runs as plain integer
//! code. A build for CPUs with AVX2 (`-C target-cpu=x86-64-v3` or
//! `native`) classifies 32 bytes a compare instead of 16.

/// One bit per byte of a 64-byte block (bit `i` for byte `i`), per class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Classes {
    /// `/`
    pub(crate) slash: u64,
    /// `@`
    pub(crate) at: u64,
    /// `=`
    pub(crate) equals: u64,
    /// `=`, `A` or `S`: the bytes that may follow an unnested `@`.
    pub(crate) follows_at: u64,
}

/// The classes of the 64 bytes of `block`.
#[inline(always)]
pub(crate) fn classify(block: &[u8; 64]) -> Classes {
    #[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
    {
        avx2::classify(block)
    }
    #[cfg(all(
        target_arch = "x86_64",
        target_feature = "sse2",
        not(target_feature = "avx2")
    ))]
    {
        sse2::classify(block)
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    {
        swar::classify(block)
    }
}

/// Which of the 16 bytes of `chunk` must be escaped when written: `@`, `/`,
/// and NUL (which no body may hold), one bit per byte.
#[inline(always)]
pub(crate) fn escapes16(chunk: &[u8; 16]) -> u32 {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        sse2::escapes16(chunk)
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    {
        swar::escapes16(chunk)
    }
}

/// Whether any byte of `low` or `high` is `@`, `/` or NUL.
///
/// The short keys and values of a body are checked as one or two words,
/// and the rare one that needs escaping is then written byte by byte: a
/// yes or no is all that is needed, and with SSE2 both words take one
/// compare of each kind (the integer test below took ten instructions a
/// word, a tenth of all that encoding ran).
#[inline(always)]
pub(crate) fn has_escape(low: u64, high: u64) -> bool {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        sse2::escapes_in(low, high) != 0
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    {
        swar::escape_bytes(low) | swar::escape_bytes(high) != 0
    }
}

/// Whether any byte of `low` or `high` is `@`: [`has_escape`] for text
/// being unescaped, where only `@` begins an escape (a `/` or NUL, which
/// checked text does not hold, is copied as a letter either way). One
/// compare instead of three: unescaping every key and value of the corpus
/// took 57.28 M instructions before, 54.86 M after (callgrind,
/// BENCHMARKS.md).
#[inline(always)]
pub(crate) fn has_at(low: u64, high: u64) -> bool {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        sse2::ats_in(low, high) != 0
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    {
        swar::at_bytes(low) | swar::at_bytes(high) != 0
    }
}

/// The high bit of every byte of `word` that is `@`, in plain integer
/// code on every target: for loops that go a word at a time and want the
/// first `@` of it (`trailing_zeros / 8`), not a mask of a whole block.
#[inline(always)]
pub(crate) const fn at_bytes(word: u64) -> u64 {
    swar::at_bytes(word)
}

/// The up to eight bytes of `tail` as a little-endian word, zero above: in
/// at most three loads, not a loop over the bytes (most values of a body
/// are shorter than a word).
#[inline(always)]
pub(crate) fn tail_word(tail: &[u8]) -> u64 {
    if let Some(word) = tail.first_chunk::<8>() {
        return u64::from_le_bytes(*word);
    }
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

/// The classes of the bytes of `bytes` from `start` on, for at most 64
/// bytes: bit `i` describes `bytes[start + i]`, bits past the end are clear.
///
/// A short last block is read as the 64 bytes that end the text, shifted, so
/// that no block is copied into a padded buffer unless the whole text is
/// shorter than 64 bytes.
#[inline(always)]
pub(crate) fn classify_from(bytes: &[u8], start: usize) -> Classes {
    let rest = bytes.get(start..).unwrap_or_default();
    if let Some(block) = rest.first_chunk::<64>() {
        return classify(block);
    }
    if rest.is_empty() {
        return Classes::default();
    }
    match bytes.last_chunk::<64>() {
        Some(last) => {
            // Bit `64 - rest.len() + i` of the last block is `rest[i]`.
            let shift = 64 - rest.len() as u32;
            let whole = classify(last);
            Classes {
                slash: whole.slash >> shift,
                at: whole.at >> shift,
                equals: whole.equals >> shift,
                follows_at: whole.follows_at >> shift,
            }
        }
        None => classify_short(rest),
    }
}

/// [`classify_from`] for a text shorter than 64 bytes: a zero-padded copy,
/// since a zero byte belongs to no class.
#[inline(never)]
fn classify_short(rest: &[u8]) -> Classes {
    let mut padded = [0u8; 64];
    padded[..rest.len()].copy_from_slice(rest);
    classify(&padded)
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[allow(unsafe_code)]
mod sse2 {
    //! Byte classes from SSE2 compares, which takes `unsafe` to call.
    //!
    //! Measured on the simulated corpus (BENCHMARKS.md), tokenizing every
    //! pair ran at 1.26 GB/s with these masks and 0.74 GB/s with the SWAR
    //! masks below, the rest of the code the same.
    //! The intrinsics need `unsafe` because they are `#[target_feature]`
    //! functions; SSE2 is part of the x86-64 baseline, and the `cfg` above
    //! compiles this module only where it is enabled. The one read through
    //! a pointer is `load`'s, of a `&[u8; 16]`.

    use core::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set_epi64x,
        _mm_set1_epi8,
    };

    use super::Classes;

    #[cfg_attr(target_feature = "avx2", allow(dead_code))]
    #[inline(always)]
    pub(super) fn classify(block: &[u8; 64]) -> Classes {
        // SAFETY: `classify_sse2` needs only the `sse2` target feature, which
        // the `cfg` on this module guarantees is enabled for the whole build.
        unsafe { classify_sse2(block) }
    }

    #[target_feature(enable = "sse2")]
    #[inline]
    fn classify_sse2(block: &[u8; 64]) -> Classes {
        let mut classes = Classes::default();
        let (lanes, _) = block.as_chunks::<16>();
        for (i, lane) in lanes.iter().enumerate() {
            let v = load(lane);
            let slash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'/' as i8));
            let at = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'@' as i8));
            let equals = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'=' as i8));
            let letter = _mm_or_si128(
                _mm_cmpeq_epi8(v, _mm_set1_epi8(b'A' as i8)),
                _mm_cmpeq_epi8(v, _mm_set1_epi8(b'S' as i8)),
            );
            let shift = 16 * i;
            classes.slash |= bits(slash) << shift;
            classes.at |= bits(at) << shift;
            classes.equals |= bits(equals) << shift;
            classes.follows_at |= bits(_mm_or_si128(equals, letter)) << shift;
        }
        classes
    }

    #[inline(always)]
    pub(super) fn escapes16(chunk: &[u8; 16]) -> u32 {
        // SAFETY: as in `classify`: only the `sse2` feature is needed.
        unsafe { escapes16_sse2(chunk) }
    }

    #[target_feature(enable = "sse2")]
    #[inline]
    fn escapes16_sse2(chunk: &[u8; 16]) -> u32 {
        escapes_sse2(load(chunk))
    }

    /// One bit per byte of `v` that is `@`, `/` or NUL.
    #[target_feature(enable = "sse2")]
    #[inline]
    fn escapes_sse2(v: __m128i) -> u32 {
        let hits = _mm_or_si128(
            _mm_or_si128(
                _mm_cmpeq_epi8(v, _mm_set1_epi8(b'@' as i8)),
                _mm_cmpeq_epi8(v, _mm_set1_epi8(b'/' as i8)),
            ),
            _mm_cmpeq_epi8(v, _mm_set1_epi8(0)),
        );
        bits(hits) as u32
    }

    #[inline(always)]
    pub(super) fn escapes_in(low: u64, high: u64) -> u32 {
        // SAFETY: as in `classify`: only the `sse2` feature is needed.
        unsafe { escapes_sse2(_mm_set_epi64x(high as i64, low as i64)) }
    }

    #[inline(always)]
    pub(super) fn ats_in(low: u64, high: u64) -> u32 {
        // SAFETY: as in `classify`: only the `sse2` feature is needed.
        unsafe { ats_sse2(_mm_set_epi64x(high as i64, low as i64)) }
    }

    /// One bit per byte of `v` that is `@`.
    #[target_feature(enable = "sse2")]
    #[inline]
    fn ats_sse2(v: __m128i) -> u32 {
        bits(_mm_cmpeq_epi8(v, _mm_set1_epi8(b'@' as i8))) as u32
    }

    /// Sixteen bytes as a vector: one unaligned load. (Built from two
    /// integers instead, it compiled to three instructions.)
    #[target_feature(enable = "sse2")]
    #[inline]
    fn load(lane: &[u8; 16]) -> __m128i {
        // SAFETY: `lane` is 16 readable bytes, and `_mm_loadu_si128` reads
        // exactly 16 bytes with no alignment requirement.
        unsafe { _mm_loadu_si128(lane.as_ptr().cast()) }
    }

    /// The high bit of each byte of `v`, as sixteen bits.
    #[target_feature(enable = "sse2")]
    #[inline]
    fn bits(v: __m128i) -> u64 {
        u64::from(_mm_movemask_epi8(v) as u16)
    }
}

#[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
#[allow(unsafe_code)]
mod avx2 {
    //! Byte classes from AVX2 compares, for builds that enable AVX2: two
    //! 32-byte halves a block where SSE2 takes four 16-byte lanes.
    //!
    //! Compiled only when the whole build targets AVX2 (a `cfg`, not a
    //! check at run time), so that the classifier stays inlined into the
    //! pair loop: an out-of-line `#[target_feature]` call per block would
    //! give back much of what the wider compares save. Measured on the
    //! simulated corpus (BENCHMARKS.md), every pair 16 % and the typed
    //! `chatmsg` view 9 % faster than the SSE2 classes.

    use core::arch::x86_64::{
        __m256i, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_movemask_epi8, _mm256_or_si256,
        _mm256_set1_epi8,
    };

    use super::Classes;

    #[inline(always)]
    pub(super) fn classify(block: &[u8; 64]) -> Classes {
        // SAFETY: `classify_avx2` needs only the `avx2` target feature,
        // which the `cfg` on this module guarantees is enabled for the
        // whole build.
        unsafe { classify_avx2(block) }
    }

    #[target_feature(enable = "avx2")]
    #[inline]
    fn classify_avx2(block: &[u8; 64]) -> Classes {
        let (halves, _) = block.as_chunks::<32>();
        let mut classes = Classes::default();
        for (i, half) in halves.iter().enumerate() {
            let v = load(half);
            let is = |byte: u8| _mm256_cmpeq_epi8(v, _mm256_set1_epi8(byte as i8));
            let equals = is(b'=');
            let letter = _mm256_or_si256(is(b'A'), is(b'S'));
            let shift = 32 * i;
            classes.slash |= bits(is(b'/')) << shift;
            classes.at |= bits(is(b'@')) << shift;
            classes.equals |= bits(equals) << shift;
            classes.follows_at |= bits(_mm256_or_si256(equals, letter)) << shift;
        }
        classes
    }

    /// Thirty-two bytes as a vector: one unaligned load.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn load(half: &[u8; 32]) -> __m256i {
        // SAFETY: `half` is 32 readable bytes, and `_mm256_loadu_si256`
        // reads exactly 32 bytes with no alignment requirement.
        unsafe { _mm256_loadu_si256(half.as_ptr().cast()) }
    }

    /// The high bit of each byte of `v`, as thirty-two bits.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn bits(v: __m256i) -> u64 {
        u64::from(_mm256_movemask_epi8(v) as u32)
    }
}

#[cfg_attr(all(target_arch = "x86_64", target_feature = "sse2"), allow(dead_code))]
mod swar {
    //! Byte classes eight bytes at a time, in plain integer code.

    use super::Classes;

    pub(super) fn classify(block: &[u8; 64]) -> Classes {
        let mut classes = Classes::default();
        for (i, chunk) in block.chunks_exact(8).enumerate() {
            let word = <[u8; 8]>::try_from(chunk).map_or(0, u64::from_le_bytes);
            let shift = 8 * i;
            let equals = equal_bytes(word, b'=');
            classes.slash |= gather(equal_bytes(word, b'/')) << shift;
            classes.at |= gather(equal_bytes(word, b'@')) << shift;
            classes.equals |= gather(equals) << shift;
            classes.follows_at |=
                gather(equals | equal_bytes(word, b'A') | equal_bytes(word, b'S')) << shift;
        }
        classes
    }

    #[inline(always)]
    pub(super) fn escapes16(chunk: &[u8; 16]) -> u32 {
        let (low, high) = chunk.split_at(8);
        let word = |half: &[u8]| <[u8; 8]>::try_from(half).map_or(0, u64::from_le_bytes);
        (gather(escape_bytes(word(low))) | (gather(escape_bytes(word(high))) << 8)) as u32
    }

    /// The high bit of every byte of `word` that is `@`, `/` or NUL.
    pub(super) const fn escape_bytes(word: u64) -> u64 {
        equal_bytes(word, b'@') | equal_bytes(word, b'/') | equal_bytes(word, 0)
    }

    /// The high bit of every byte of `word` that is `@`.
    pub(super) const fn at_bytes(word: u64) -> u64 {
        equal_bytes(word, b'@')
    }

    /// The high bit of every byte of `word` equal to `needle`, exactly.
    const fn equal_bytes(word: u64, needle: u8) -> u64 {
        const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
        let v = word ^ (0x0101_0101_0101_0101 * needle as u64);
        !(((v & LOW7).wrapping_add(LOW7)) | v | LOW7)
    }

    /// The eight high bits of `high` as the low byte (bit `i` for byte `i`).
    pub(super) const fn gather(high: u64) -> u64 {
        ((high >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56
    }

    #[cfg(test)]
    pub(super) fn classify_for_test(block: &[u8; 64]) -> Classes {
        classify(block)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn naive(bytes: &[u8]) -> Classes {
        let mut c = Classes::default();
        for (i, &b) in bytes.iter().take(64).enumerate() {
            let bit = 1u64 << i;
            c.slash |= if b == b'/' { bit } else { 0 };
            c.at |= if b == b'@' { bit } else { 0 };
            c.equals |= if b == b'=' { bit } else { 0 };
            c.follows_at |= if matches!(b, b'=' | b'A' | b'S') {
                bit
            } else {
                0
            };
        }
        c
    }

    #[test]
    fn every_start_of_texts_long_and_short() {
        let alphabet = [b'@', b'/', b'=', b'A', b'S', b'a', 0x80, 0xff, 0, 0x7f];
        for len in [0usize, 1, 15, 63, 64, 65, 130, 200] {
            let text: Vec<u8> = (0..len)
                .map(|i| alphabet[(i * 7 + i / 3) % alphabet.len()])
                .collect();
            for start in 0..=len {
                assert_eq!(
                    classify_from(&text, start),
                    naive(&text[start..]),
                    "len {len} from {start}"
                );
            }
        }
    }

    #[test]
    fn escapes_of_chunks_and_words() {
        let alphabet = [b'@', b'/', 0, b'A', b'S', b'=', 0x80, 0xff, b'x'];
        for seed in 0..200usize {
            let chunk: [u8; 16] =
                core::array::from_fn(|i| alphabet[(i * seed + seed / 5) % alphabet.len()]);
            let want = chunk.iter().enumerate().fold(0u32, |m, (i, &b)| {
                m | (u32::from(matches!(b, b'@' | b'/' | 0)) << i)
            });
            assert_eq!(escapes16(&chunk), want);
            assert_eq!(swar::escapes16(&chunk), want);
            let low = u64::from_le_bytes(*chunk.first_chunk::<8>().unwrap());
            let high = u64::from_le_bytes(*chunk.last_chunk::<8>().unwrap());
            let plain = u64::from_le_bytes(*b"xAS=\x80\xff~?");
            assert_eq!(has_escape(low, high), want != 0);
            assert_eq!(has_escape(low, plain), want & 0xff != 0);
            assert_eq!(has_escape(plain, high), want >> 8 != 0);
            let ats = chunk
                .iter()
                .enumerate()
                .fold(0u32, |m, (i, &b)| m | (u32::from(b == b'@') << i));
            let swar_has_at = |low, high| swar::at_bytes(low) | swar::at_bytes(high) != 0;
            for has in [has_at, swar_has_at] {
                assert_eq!(has(low, high), ats != 0);
                assert_eq!(has(low, plain), ats & 0xff != 0);
                assert_eq!(has(plain, high), ats >> 8 != 0);
            }
        }
    }

    #[test]
    fn both_implementations_agree() {
        let mut block = [0u8; 64];
        for seed in 0..256u32 {
            for (i, b) in block.iter_mut().enumerate() {
                *b = [b'@', b'/', b'=', b'A', b'S', b'x', 0xc0, 0x3d ^ 0x80]
                    [(i as u32 * seed + seed / 8) as usize % 8];
            }
            assert_eq!(classify(&block), naive(&block));
            assert_eq!(swar::classify_for_test(&block), naive(&block));
            #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
            assert_eq!(sse2::classify(&block), naive(&block));
        }
    }
}
