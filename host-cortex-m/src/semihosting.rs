//! ARM semihosting: the firmware's console, its command line and its exit
//! status, all served by the debugger or emulator (QEMU with
//! `-semihosting-config enable=on,target=native`).
//!
//! A semihosting call is a `bkpt 0xab` with the operation in `r0` and its
//! argument in `r1`. Without a host to catch it the breakpoint faults, so a
//! board without a debugger attached needs another console (see the README).

use core::arch::asm;
use core::num::NonZeroU16;

/// Prints a NUL-terminated string.
const SYS_WRITE0: usize = 0x04;
/// Copies the command line into a caller buffer.
const SYS_GET_CMDLINE: usize = 0x15;
/// Ends the program; on AArch32, `r1` holds the reason itself.
const SYS_EXIT: usize = 0x18;
/// The reason that QEMU turns into exit status 0.
const ADP_STOPPED_APPLICATION_EXIT: usize = 0x2_0026;
/// A reason that QEMU turns into exit status 1.
const ADP_STOPPED_RUN_TIME_ERROR: usize = 0x2_0023;

/// Issues semihosting operation `op` with argument `arg`.
///
/// # Safety
/// `arg` must be what `op` expects: for the operations used here, a pointer
/// to memory the host may read (and, for `SYS_GET_CMDLINE`, write).
unsafe fn call(op: usize, arg: usize) -> usize {
    let result;
    // SAFETY: the caller upholds the operation's contract; the host handles
    // the breakpoint and resumes after it, clobbering only r0.
    unsafe {
        asm!("bkpt #0xab", inout("r0") op => result, in("r1") arg, options(nostack));
    }
    result
}

/// Ends the emulation: exit status 0 when `success`, 1 otherwise.
pub fn exit(success: bool) -> ! {
    let reason = if success {
        ADP_STOPPED_APPLICATION_EXIT
    } else {
        ADP_STOPPED_RUN_TIME_ERROR
    };
    // SAFETY: SYS_EXIT takes its reason by value and reads no memory.
    unsafe {
        call(SYS_EXIT, reason);
    }
    // Only reached when no host handled the call.
    loop {
        cortex_m::asm::wfi();
    }
}

/// Reads the command line (QEMU's `arg=` options, joined by spaces) into
/// `buf`; returns it, or nothing when there is none or it does not fit.
pub fn command_line(buf: &mut [u8]) -> &[u8] {
    // The host writes at most `len` bytes and a NUL, then stores the length.
    let mut block = [buf.as_mut_ptr() as usize, buf.len().saturating_sub(1)];
    // SAFETY: `block` names a writable buffer of the length it declares and
    // is itself writable; both outlive the call.
    let failed = unsafe { call(SYS_GET_CMDLINE, block.as_mut_ptr() as usize) } != 0;
    let len = if failed { 0 } else { block[1].min(buf.len()) };
    &buf[..len]
}

/// The base numbers are printed in.
const TEN: NonZeroU16 = NonZeroU16::new(10).unwrap();

/// Bytes of one console line held before it is handed to the host.
const LINE: usize = 160;

/// A line-buffered console: one semihosting call per line, not per
/// character, because every call stops the emulated CPU.
///
/// It formats numbers itself rather than through `core::fmt`, whose
/// machinery would cost more flash than the protocol core (see the README's
/// footprint table). Control characters in text become `?`, so that text
/// from the network (a nickname holding a newline) cannot forge a line of
/// output; [`Console::end_line`] is the only way to end one.
pub struct Console {
    buf: [u8; LINE + 1],
    len: usize,
}

impl Console {
    /// An empty console.
    pub const fn new() -> Self {
        Self {
            buf: [0; LINE + 1],
            len: 0,
        }
    }

    /// Appends text.
    pub fn text(&mut self, s: &str) -> &mut Self {
        for &byte in s.as_bytes() {
            self.push(if byte < 0x20 || byte == 0x7f {
                b'?'
            } else {
                byte
            });
        }
        self
    }

    /// Appends a number in decimal.
    pub fn num(&mut self, mut n: u64) -> &mut Self {
        // Iterators rather than indices: no bounds checks, whose panics
        // would bring in the formatting of their message.
        let mut digits = [0u8; 20];
        let mut len = 0;
        for slot in digits.iter_mut().rev() {
            let (rest, digit) = crate::div_rem(n, TEN);
            *slot = b'0' + digit as u8;
            len += 1;
            n = rest;
            if n == 0 {
                break;
            }
        }
        for &digit in digits.iter().skip(digits.len() - len) {
            self.push(digit);
        }
        self
    }

    /// Appends a signed number in decimal.
    pub fn int(&mut self, n: i64) -> &mut Self {
        if n < 0 {
            self.push(b'-');
        }
        self.num(n.unsigned_abs())
    }

    /// Ends the current line and prints it.
    pub fn end_line(&mut self) {
        self.push(b'\n');
        self.flush();
    }

    // `len` is at most `LINE`, so `buf` always has room for a byte: the
    // checked forms below never fail, and carry no panic.
    fn push(&mut self, byte: u8) {
        if self.len == LINE {
            self.flush();
        }
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = byte;
            self.len += 1;
        }
    }

    fn flush(&mut self) {
        let Some(end) = self.buf.get_mut(self.len).filter(|_| self.len > 0) else {
            return;
        };
        *end = 0;
        // SAFETY: `buf` holds a NUL right after the text and outlives the call.
        unsafe {
            call(SYS_WRITE0, self.buf.as_ptr() as usize);
        }
        self.len = 0;
    }
}

impl Default for Console {
    fn default() -> Self {
        Self::new()
    }
}
