//! The grammar of §3 as nom parsers over the scanner's marks.
//!
//! ```text
//! message := pair*            pair := key "@=" value "/"
//! list    := (item "/")*      key, value, item := text
//! ```
//!
//! The rules are nom combinators; the terminals are the crate's own:
//! [`text`] runs to the next structural mark, which [`Scanner`] finds 64
//! bytes at a time (checking every `@` it passes), and [`key_value`] and
//! [`end`] take that mark. nom's `take_until`-style parsers would look at
//! the text a byte at a time, and they could not tell a structural `/` of a
//! nested text (`@AS` at depth 2) from an escaped one.
//!
//! The input of every rule is a position in the text. The scanner, whose
//! bit masks of the current block are the rest of "where we are", is shared
//! by the terminals of one parse through a [`Cell`]: threaded through the
//! rules inside the input instead (by value or as `&mut`), it stayed in
//! memory, and the every-pair loop took 1.6 to 1.7 times the instructions.
//! The final `/` of a message or list may be missing (§3).
//!
//! These rules read lists and nested maps. The loop over a body's pairs,
//! the hottest of the crate, takes the same steps written out
//! (`Pairs::next_in_body`, held to these rules by a test): driven by the
//! rule, the typed views' loop kept the scanner in memory, +73 %
//! instructions (BENCHMARKS.md).

use core::cell::Cell;

use nom::error::{ErrorKind, ParseError};
use nom::sequence::terminated;
use nom::{IResult, Mode, OutputMode, PResult, Parser};

use super::SttError;
use super::scan::{Found, Mark, Scanner};

/// Where a key, value or item lies in the text being parsed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span {
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// A broken rule of §3.
#[derive(Debug)]
pub(crate) struct Broken(pub(crate) SttError);

impl<I> ParseError<I> for Broken {
    /// Only the terminals below fail, each with its own [`SttError`]; nom's
    /// combinators used here (tuples, `terminated`) add no failure of their
    /// own. Should one appear, it is the text's first byte that is bad.
    fn from_error_kind(_: I, _: ErrorKind) -> Self {
        Self(SttError::BadEscape { offset: 0 })
    }

    fn append(_: I, _: ErrorKind, other: Self) -> Self {
        other
    }
}

/// What a rule gives: the position after it and its output, or why the
/// text is broken.
pub(crate) type Outcome<T> = IResult<usize, T, Broken>;

/// The scanner a parse shares among its terminals.
pub(crate) type Shared<'s, 'a> = &'s Cell<Scanner<'a>>;

/// A terminal of the grammar as a nom parser: one step `F` from a position.
///
/// Written as a `Parser` impl, not as a plain function (which nom also
/// accepts): nom's blanket impl for functions stayed out of line in the
/// pair loop, and the scanner's state with it.
struct Step<F>(F);

impl<F, O> Parser<usize> for Step<F>
where
    F: FnMut(usize) -> Result<(usize, O), SttError>,
{
    type Output = O;
    type Error = Broken;

    #[inline(always)]
    fn process<OM: OutputMode>(&mut self, pos: usize) -> PResult<OM, usize, O, Broken> {
        match (self.0)(pos) {
            Ok((pos, out)) => Ok((pos, OM::Output::bind(|| out))),
            Err(e) => Err(nom::Err::Error(OM::Error::bind(|| Broken(e)))),
        }
    }
}

/// `text`: escaped text from the position up to the next structural mark
/// or the end. The mark is left to the rule after it.
#[inline(always)]
fn text<'s, 'a>(scan: Shared<'s, 'a>) -> impl Parser<usize, Output = Span, Error = Broken> + 's {
    Step(
        #[inline(always)]
        move |pos| {
            let mut scanner = scan.get();
            let end = scanner.peek()?.unwrap_or(scanner.raw.len());
            scan.set(scanner);
            Ok((pos, Span { start: pos, end }))
        },
    )
}

/// `"@="`, after a key. A missing one is reported where the key starts.
#[inline(always)]
fn key_value<'s, 'a>(scan: Shared<'s, 'a>) -> impl Parser<usize, Output = (), Error = Broken> + 's {
    Step(
        #[inline(always)]
        move |pos| {
            let mut scanner = scan.get();
            let found = scanner.take();
            scan.set(scanner);
            match found {
                Some(Found {
                    mark: Mark::KeyValue,
                    after,
                    ..
                }) => Ok((after, ())),
                Some(Found {
                    mark: Mark::Bad,
                    at,
                    ..
                }) => Err(SttError::BadEscape {
                    offset: scanner.base + at,
                }),
                _ => Err(SttError::MissingSeparator {
                    offset: scanner.base + pos,
                }),
            }
        },
    )
}

/// `"/"`, after a value or item; the last one may lack it. A second `@=`
/// here is an `@` that does not belong.
#[inline(always)]
fn end<'s, 'a>(scan: Shared<'s, 'a>) -> impl Parser<usize, Output = (), Error = Broken> + 's {
    Step(
        #[inline(always)]
        move |_| {
            let mut scanner = scan.get();
            let found = scanner.take();
            scan.set(scanner);
            match found {
                Some(Found {
                    mark: Mark::End,
                    after,
                    ..
                }) => Ok((after, ())),
                None => Ok((scanner.raw.len(), ())),
                Some(Found { at, .. }) => Err(SttError::BadEscape {
                    offset: scanner.base + at,
                }),
            }
        },
    )
}

/// `pair := key "@=" value "/"`, as the spans of the key and the value.
#[inline(always)]
pub(crate) fn pair(scan: Shared<'_, '_>, pos: usize) -> Outcome<(Span, Span)> {
    (
        terminated(text(scan), key_value(scan)),
        terminated(text(scan), end(scan)),
    )
        .parse(pos)
}

/// `item "/"`, an item of a list, as its span.
#[inline(always)]
pub(crate) fn item(scan: Shared<'_, '_>, pos: usize) -> Outcome<Span> {
    terminated(text(scan), end(scan)).parse(pos)
}
