//! The stack's high-water mark: paint the free stack with a pattern at boot,
//! and at the end find the lowest word the program overwrote.

use core::ptr::{addr_of, read_volatile, write_volatile};

/// A word unlikely to be a saved register or a local.
const PAINT: u32 = 0xdead_beef;

unsafe extern "C" {
    /// The bottom of the stack region (the end of the statics), from
    /// cortex-m-rt's linker script.
    static _stack_end: u32;
    /// The top of the stack (the end of RAM).
    static _stack_start: u32;
}

fn bottom() -> usize {
    // Only the symbol's address is taken, never its value.
    addr_of!(_stack_end) as usize
}

fn top() -> usize {
    addr_of!(_stack_start) as usize
}

/// Bytes of RAM the stack may grow into.
pub fn size() -> usize {
    top() - bottom()
}

/// Paints the stack below the current stack pointer. Call first thing.
pub fn paint() {
    let sp = cortex_m::register::msp::read() as usize;
    let mut at = bottom();
    // A few words of margin below the stack pointer: this function's own
    // frame is above it, but the loop must not paint what it is using.
    while at + 64 < sp {
        // SAFETY: between the statics and the live stack nothing is in use.
        unsafe { write_volatile(at as *mut u32, PAINT) };
        at += 4;
    }
}

/// Bytes of stack used at the deepest point since [`paint`].
pub fn high_water() -> usize {
    let mut at = bottom();
    // SAFETY: the stack region is RAM; reading it races with nothing.
    while at < top() && unsafe { read_volatile(at as *const u32) } == PAINT {
        at += 4;
    }
    top() - at
}
