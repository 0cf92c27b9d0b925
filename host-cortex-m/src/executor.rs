//! The smallest executor that serves this firmware: one future, polled
//! again after every interrupt, the core asleep (`wfi`) in between.
//!
//! Every event a future here waits for is an interrupt (a byte at the UART,
//! the SysTick millisecond), so "poll after any interrupt" wakes it in time
//! without wakers; the price is a poll per millisecond, which the session's
//! work dwarfs.

use core::future::{Future, poll_fn};
use core::pin::{Pin, pin};
use core::sync::atomic::{AtomicBool, Ordering};
use core::task::{Context, Poll, Waker};

use douyu_core::session::Instant;

use crate::clock;

/// Set by interrupt handlers, cleared by the executor before it sleeps.
static WOKEN: AtomicBool = AtomicBool::new(false);

/// Asks the executor to poll again; call from interrupt handlers.
pub fn wake() {
    WOKEN.store(true, Ordering::Release);
}

/// Runs `future` to completion.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        // With interrupts masked, an interrupt raised after the check still
        // ends the `wfi` (it is pending), and its handler runs once they are
        // unmasked: no wake-up is lost between the check and the sleep.
        cortex_m::interrupt::free(|_| {
            if !WOKEN.swap(false, Ordering::Acquire) {
                cortex_m::asm::wfi();
            }
        });
    }
}

/// `future`'s output, or `None` once the device time reaches `deadline`
/// first (the caller then drops the future, so it must be cancel-safe).
/// Takes the future pinned by the caller and returns the step itself: an
/// `async fn` would be one more state machine around it.
pub fn before<F: Future>(
    deadline: Instant,
    mut future: Pin<&mut F>,
) -> impl Future<Output = Option<F::Output>> {
    poll_fn(move |cx| match future.as_mut().poll(cx) {
        Poll::Ready(output) => Poll::Ready(Some(output)),
        Poll::Pending if clock::now() >= deadline => Poll::Ready(None),
        Poll::Pending => Poll::Pending,
    })
}
