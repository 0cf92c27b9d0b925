//! The one scanner behind every STT view: finds the structural marks of a
//! text escaped `depth` times and checks every `@` it passes.
//!
//! After `depth` escapings a structural `/` reads `@` + `A`×(depth−1) + `S`
//! (plain `/` at depth 0) and the key separator reads `@` + `A`×depth + `=`.
//! An escaped `@` or `/` of the text itself reads `@` + `A`×(depth+1) or
//! `@` + `A`×depth + `S`. Anything else after an `@` is malformed.

use memchr::{memchr, memchr2};

use super::SttError;

/// A structural mark of an STT text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mark {
    /// The `/` that ends a pair or a list item.
    End,
    /// The `@=` between a key and its value.
    KeyValue,
}

/// A mark found by [`next_mark`]: where it starts and where the text resumes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Found {
    pub(crate) mark: Mark,
    pub(crate) at: usize,
    pub(crate) after: usize,
}

/// Finds the first mark at or after `from` in `raw`, a text escaped `depth`
/// times. `base` is the offset of `raw` in the body, for error offsets.
pub(crate) fn next_mark(
    raw: &[u8],
    from: usize,
    depth: u32,
    base: usize,
) -> Result<Option<Found>, SttError> {
    let mut pos = from;
    loop {
        let rest = raw.get(pos..).unwrap_or_default();
        let hit = if depth == 0 {
            memchr2(b'@', b'/', rest)
        } else {
            memchr(b'@', rest)
        };
        let Some(i) = hit else { return Ok(None) };
        let at = pos + i;
        if rest[i] == b'/' {
            return Ok(Some(Found {
                mark: Mark::End,
                at,
                after: at + 1,
            }));
        }
        let run = count_a(&rest[i + 1..]);
        let next = at + 1 + run;
        let (run, follow) = (run as u64, raw.get(next).copied());
        let depth = u64::from(depth);
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
            // An escaped `/` of the text: step over the `S` too.
            Some(b'S') if run == depth => pos = next + 1,
            // An escaped `@` of the text; what follows the `A`s is ordinary text.
            _ if run > depth => pos = next,
            _ => return Err(SttError::BadEscape { offset: base + at }),
        }
    }
}

/// Length of the run of `A`s at the start of `bytes`.
pub(crate) fn count_a(bytes: &[u8]) -> usize {
    bytes.iter().position(|&b| b != b'A').unwrap_or(bytes.len())
}
