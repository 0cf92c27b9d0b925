//! A thin host for devices: `douyu-core`'s client session on a Cortex-M4
//! (QEMU's `mps2-an386`), talking to a Douyu server over a UART.
//!
//! The firmware moves bytes between the UART and the session and gives it
//! the time from the board's timer 0 (SysTick only wakes the CPU); the
//! session does the rest (login, joingroup,
//! heartbeats, dead-link detection, logout). Two fronts share this board
//! support: `douyu-blocking` (the session's blocking [`Connection`] with a
//! read timeout) and `douyu-async` (its [`AsyncConnection`] under the
//! one-future [`executor`]).
//!
//! Parameters come from the semihosting command line (`room=`, `seconds=`,
//! `heartbeat=`); output, and the exit status, go back the same way.
//!
//! [`Connection`]: douyu_core::session::Connection
//! [`AsyncConnection`]: douyu_core::session::AsyncConnection
#![no_std]

pub mod clock;
pub mod executor;
pub mod link;
mod mem;
pub mod report;
pub mod semihosting;
pub mod stack;
pub mod uart;

use core::num::{NonZeroU16, NonZeroU32};
use core::time::Duration;

use cortex_m_rt::{ExceptionFrame, exception};
use douyu_core::session::{ClientConfig, DriverError, Instant};

use crate::report::Report;
use crate::uart::{Uart, UartError};

/// Receive buffer: the largest frame accepted, in bytes. The live
/// service's chat frames are well under 1 KiB; larger ones (long gift
/// lists) are reported and skipped, and the stream goes on.
pub const RX: usize = 2048;

/// Transmit buffer: [`douyu_core::session::REPLY_MAX`] holds everything
/// the session writes on its own, and this firmware queues no chat. (One
/// that queues chat lines needs [`douyu_core::session::TRANSMIT_MAX`],
/// 31 bytes more.)
pub const TX: usize = douyu_core::session::REPLY_MAX;

/// How long a blocking read waits for a first byte, and how long the async
/// front waits before it stamps the time afresh: the session stamps what a
/// read brings with the time the read began, so this bounds how stale that
/// stamp (and so how early a dead-link verdict) can be.
pub const READ_SLICE_MS: u64 = 10;

/// What to run, from the command line.
#[derive(Debug, Clone, Copy)]
pub struct Args {
    /// The room to join.
    pub room: u64,
    /// Device time to stay in the room before logging out.
    pub seconds: u64,
    /// Heartbeat interval, if not the session's default.
    pub heartbeat: Option<u64>,
}

impl Args {
    /// Reads `room=N seconds=N [heartbeat=N]` from the semihosting command
    /// line; `None` when one is missing or not a number. (Bytes, not `str`:
    /// string slicing brings in panic formatting the image otherwise lacks.)
    pub fn from_command_line() -> Option<Self> {
        let mut buf = [0u8; 128];
        let (mut room, mut seconds, mut heartbeat) = (None, None, None);
        for word in semihosting::command_line(&mut buf).split(|&b| b == b' ') {
            let Some(eq) = word.iter().position(|&b| b == b'=') else {
                continue;
            };
            let (key, value) = (&word[..eq], Some(number(&word[eq + 1..])?));
            match key {
                b"room" => room = value,
                b"seconds" => seconds = value,
                b"heartbeat" => heartbeat = value,
                _ => return None,
            }
        }
        // A zero interval would make a zero dead window: dead at once.
        if heartbeat == Some(0) {
            return None;
        }
        Some(Self {
            room: room?,
            seconds: seconds?,
            heartbeat,
        })
    }

    /// The session's configuration.
    pub fn config(&self) -> ClientConfig {
        let config = ClientConfig::new(self.room);
        match self.heartbeat {
            Some(secs) => config.with_heartbeat(Duration::from_secs(secs)),
            None => config,
        }
    }

    /// When to log out.
    pub fn end(&self, start: Instant) -> Instant {
        start + Duration::from_secs(self.seconds)
    }
}

/// A decimal number, `None` if empty, not digits or too large.
fn number(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        let d = d.checked_sub(b'0').filter(|d| *d < 10)?;
        n.checked_mul(10)?.checked_add(u64::from(d))
    })
}

/// `n / d` and `n % d` by 32-bit divisions, 16 bits of `n` at a time (a
/// remainder below `d` and 16 more bits fit 32 bits). A 64-bit division
/// would link compiler_builtins' `u64_div_rem`, 0.9 KiB; the divisors
/// here (10 for printing, the timer's ticks per millisecond) are small.
pub fn div_rem(n: u64, d: NonZeroU16) -> (u64, u32) {
    let d = NonZeroU32::from(d);
    let (mut quotient, mut rem) = (0u64, 0u32);
    for shift in [48, 32, 16, 0] {
        let part = (rem << 16) | ((n >> shift) as u32 & 0xffff);
        quotient = (quotient << 16) | u64::from(part / d);
        rem = part % d;
    }
    (quotient, rem)
}

/// Brings the board up: stack paint, SysTick, UART0 and its interrupt.
/// Returns the arguments, the UART and the report to print into; exits
/// with a failure status when the arguments are unusable.
pub fn boot(report: &mut Report) -> (Args, Uart) {
    stack::paint();
    let Some(mut core) = cortex_m::Peripherals::take() else {
        semihosting::exit(false)
    };
    let Some(args) = Args::from_command_line() else {
        report.line("usage: room=ROOM seconds=SECONDS [heartbeat=SECONDS, at least 1]");
        semihosting::exit(false)
    };
    clock::start(core.SYST);
    // SAFETY: UART0 is this firmware's, and nothing else drives it.
    let uart = unsafe { Uart::new(uart::UART0, READ_SLICE_MS) };
    // SAFETY: its handler (`DefaultHandler` below) only acknowledges it.
    unsafe {
        core.NVIC.set_priority(Uart0Rx, 0);
        cortex_m::peripheral::NVIC::unmask(Uart0Rx);
    }
    let c = &mut report.console;
    c.text("douyu on mps2-an386: room ").num(args.room);
    c.text(" for ").num(args.seconds).text(" s, heartbeat ");
    c.num(args.config().heartbeat.as_secs()).text(" s, rx ");
    c.num(RX as u64).text(" B, tx ").num(TX as u64).text(" B");
    c.end_line();
    (args, uart)
}

/// Logs the end and leaves the emulator: status 0 after a clean logout.
pub fn finish(report: &mut Report) -> ! {
    report.finish(clock::now());
    // The emulator closes its end of the TCP connection when it exits, and a
    // socket closed with input unread resets the connection, which can
    // destroy the server's copy of the `logout` before it is read. So read
    // and drop what still arrives for a moment first, as a TCP close would
    // wait for the other side.
    let until = clock::now() + LINGER;
    while clock::now() < until {
        uart::discard_input(uart::UART0);
    }
    semihosting::exit(report.counts.logout == 1)
}

/// How long [`finish`] drains the line before leaving.
const LINGER: Duration = Duration::from_millis(100);

/// UART0's receive interrupt, as the NVIC names it.
#[derive(Clone, Copy)]
struct Uart0Rx;

// SAFETY: the number is that of UART0's receive interrupt on this board.
unsafe impl cortex_m::interrupt::InterruptNumber for Uart0Rx {
    fn number(self) -> u16 {
        uart::UART0_RX_IRQ as u16
    }
}

/// Every interrupt without a handler of its own: UART0's receive interrupt
/// (no vector table is generated for the board's interrupts, so it lands
/// here) is acknowledged and wakes the executor; any other is a bug.
#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    if irqn == uart::UART0_RX_IRQ {
        Uart::on_rx_interrupt();
        executor::wake();
    } else {
        fail("unexpected interrupt");
    }
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    let mut report = Report::new();
    let pc = frame.pc();
    report
        .console
        .text("hard fault at pc ")
        .num(pc.into())
        .end_line();
    semihosting::exit(false)
}

/// Inlined into `core`'s `panic_fmt`, its one caller: there the message,
/// which this handler never reads, is dead, and with it the formatting code
/// that every bounds check's message refers to (`<usize as Display>::fmt`
/// and `Formatter`'s padding, 0.6 KiB of code). Without `always` it is
/// not (a size-optimised build inlines only the smallest functions, and
/// keeps the handler's symbol out of line). rustc warns that
/// `#[inline]` is ignored on exported functions; it still reaches LLVM
/// (rustc 1.95), and test.sh's footprint check fails should that change.
#[panic_handler]
#[allow(unused_attributes)]
#[inline(always)]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let mut report = Report::new();
    let c = report.console.text("panic");
    if let Some(at) = info.location() {
        c.text(" at ")
            .text(at.file())
            .text(":")
            .num(at.line().into());
    }
    c.end_line();
    semihosting::exit(false)
}

/// Says what went wrong and leaves with a failure status.
fn fail(what: &str) -> ! {
    Report::new().line(what);
    semihosting::exit(false)
}

/// What a driver failure was, in a few words.
pub fn driver_error(e: &DriverError<UartError>) -> &'static str {
    match e {
        DriverError::Io(UartError::Overrun) => "UART overrun: bytes lost",
        DriverError::Io(UartError::TimedOut) => "UART timed out",
        DriverError::Session(_) => "a message did not fit the transmit buffer",
        DriverError::Disconnected => "the server ended the stream",
        DriverError::Closed => "polled after the session closed",
        _ => "transport failed",
    }
}
