//! Device time: the board's timer 0 (a CMSDK APB timer) free-running at the
//! core clock, read as the session's millisecond [`Instant`]; and SysTick,
//! a millisecond interrupt that only wakes the executor.
//!
//! Time is read from a counter rather than counted in interrupts: an
//! interrupt that comes late (an emulator thread descheduled on a busy
//! host, a long critical section on a real part) would be a millisecond
//! lost for good, and the session's clock would fall behind the server's.

use core::cell::Cell;
use core::num::NonZeroU16;

use cortex_m::interrupt::{self, Mutex};
use cortex_m::peripheral::SYST;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::exception;
use douyu_core::session::Instant;

/// The clock of the MPS2 FPGA images (AN386: 25 MHz): the core's, which
/// SysTick counts, and the peripheral bus's, which timer 0 counts.
pub const CORE_HZ: u32 = 25_000_000;

/// Timer 0's registers on mps2-an385/an386.
const TIMER0: usize = 0x4000_0000;
const CTRL: usize = 0x00;
const VALUE: usize = 0x04;
const RELOAD: usize = 0x08;
const CTRL_ENABLE: u32 = 1 << 0;

/// Timer ticks so far, and the counter's value when last read. 64 bits of
/// ticks last 23,000 years; the 32-bit counter wraps every 171 s, and is read
/// at least every millisecond (by the SysTick handler), so no wrap is missed.
/// Behind a critical section: the core has no 64-bit atomics.
static TICKS: Mutex<Cell<(u64, u32)>> = Mutex::new(Cell::new((0, u32::MAX)));

/// Timer ticks in a millisecond: under 2¹⁶, as `div_rem` needs.
const TICKS_PER_MS: NonZeroU16 = {
    assert!(CORE_HZ / 1_000 <= u16::MAX as u32);
    NonZeroU16::new((CORE_HZ / 1_000) as u16).unwrap()
};

fn timer(offset: usize) -> *mut u32 {
    (TIMER0 + offset) as *mut u32
}

/// Starts the timer (counting down from `u32::MAX`, forever) and the
/// millisecond wake-up.
pub fn start(mut syst: SYST) {
    // SAFETY: timer 0 is this firmware's; nothing else drives it.
    unsafe {
        timer(CTRL).write_volatile(0);
        timer(RELOAD).write_volatile(u32::MAX);
        timer(VALUE).write_volatile(u32::MAX);
        timer(CTRL).write_volatile(CTRL_ENABLE);
    }
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(u32::from(TICKS_PER_MS.get()) - 1);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

/// The current device time.
pub fn now() -> Instant {
    let ticks = interrupt::free(|cs| {
        let state = TICKS.borrow(cs);
        let (ticks, last) = state.get();
        // SAFETY: a read of timer 0's counter, which `start` set running.
        let value = unsafe { timer(VALUE).read_volatile() };
        // The counter counts down.
        let ticks = ticks + u64::from(last.wrapping_sub(value));
        state.set((ticks, value));
        ticks
    });
    Instant::from_millis(crate::div_rem(ticks, TICKS_PER_MS).0)
}

#[exception]
fn SysTick() {
    // Keeps the count current (see `TICKS`), and a deadline may have
    // passed: let the executor look.
    let _ = now();
    crate::executor::wake();
}
