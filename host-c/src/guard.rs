//! The panic boundary: every exported function runs its body through [`run`].

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::error::{Failure, douyu_error, douyu_result};
use crate::ptr::Out;

/// What a function body gives back: a non-error code (`DOUYU_OK`,
/// `DOUYU_DONE`, …) or a failure with its details.
pub(crate) type Outcome = Result<douyu_result, Failure>;

/// Runs `body`, turning a panic into `DOUYU_PANIC`, and writes a failure's
/// details to `error_out` when the caller gave one.
///
/// `AssertUnwindSafe`: after a panic the handle the body worked on may be
/// half-updated; the code `DOUYU_PANIC` tells the caller to free it rather
/// than go on, which is what unwind safety asks for.
pub(crate) fn run(
    error_out: Option<Out<douyu_error>>,
    body: impl FnOnce() -> Outcome,
) -> douyu_result {
    let failure = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(code)) => return code,
        Ok(Err(failure)) => failure,
        Err(_) => Failure::code(douyu_result::DOUYU_PANIC),
    };
    if let Some(out) = error_out {
        out.set(failure.0);
    }
    failure.0.code
}

/// [`run`] for a function with no error details to give.
pub(crate) fn run_plain(body: impl FnOnce() -> Outcome) -> douyu_result {
    run(None, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::douyu_result::*;

    /// A function shaped like the exported ones, whose body panics.
    extern "C" fn panics_inside(error_out: *mut douyu_error) -> douyu_result {
        // SAFETY: the test passes a valid pointer or NULL.
        let out = unsafe { Out::optional(error_out) };
        run(out, || {
            let v: Vec<u8> = Vec::new();
            // An index out of bounds, as a bug would make one.
            let i = v.len() + std::hint::black_box(3);
            Ok(if v[i] == 0 { DOUYU_OK } else { DOUYU_DONE })
        })
    }

    #[test]
    fn a_panic_becomes_an_error_code_across_extern_c() {
        let mut detail = douyu_error::default();
        assert_eq!(panics_inside(&mut detail), DOUYU_PANIC);
        assert_eq!(detail.code, DOUYU_PANIC);
        assert_eq!(panics_inside(core::ptr::null_mut()), DOUYU_PANIC);
    }

    #[test]
    fn failures_fill_the_details_and_successes_leave_them() {
        let mut detail = douyu_error {
            offset: 77,
            ..douyu_error::default()
        };
        // SAFETY: a valid pointer to a local.
        let out = unsafe { Out::optional(&mut detail) };
        assert_eq!(run(out, || Ok(DOUYU_DONE)), DOUYU_DONE);
        assert_eq!(detail.offset, 77, "untouched on success");
        // SAFETY: as above.
        let out = unsafe { Out::optional(&mut detail) };
        let code = run(out, || Err(Failure::buffer_full(30, 20)));
        assert_eq!(code, DOUYU_BUFFER_FULL);
        assert_eq!((detail.needed, detail.capacity, detail.offset), (30, 20, 0));
    }
}
