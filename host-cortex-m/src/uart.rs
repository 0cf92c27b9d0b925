//! A driver for the CMSDK APB UART of the MPS2 boards, as `embedded-io`'s
//! blocking and async `Read` and `Write`.
//!
//! The UART holds one received byte (`STATE.RXFULL`) and one to send
//! (`STATE.TXFULL`). Under QEMU the line has flow control in effect: a byte
//! waits in the emulator's socket until the firmware has read the one
//! before, so polling loses nothing. A real part at a fixed baud rate loses
//! bytes while the CPU is busy elsewhere; see the README's porting notes.

use core::future::poll_fn;
use core::ptr::{read_volatile, write_volatile};
use core::task::Poll;

use embedded_io::ErrorKind;

use crate::clock;

/// Base address of UART0 on mps2-an385/an386 (QEMU's first `-serial`).
pub const UART0: usize = 0x4000_4000;
/// UART0's receive interrupt: external interrupt 0 on these images.
pub const UART0_RX_IRQ: i16 = 0;

/// Register offsets.
const DATA: usize = 0x00;
const STATE: usize = 0x04;
const CTRL: usize = 0x08;
const INTCLEAR: usize = 0x0c;
const BAUDDIV: usize = 0x10;

const STATE_TX_FULL: u32 = 1 << 0;
const STATE_RX_FULL: u32 = 1 << 1;
const STATE_RX_OVERRUN: u32 = 1 << 3;
const CTRL_TX_EN: u32 = 1 << 0;
const CTRL_RX_EN: u32 = 1 << 1;
const CTRL_RX_INT_EN: u32 = 1 << 3;
const INT_RX: u32 = 1 << 1;

/// The smallest divider the UART accepts; QEMU ignores the rate itself.
const MIN_BAUDDIV: u32 = 16;

/// Times a read looks at `STATE` for the next byte of a burst before it
/// returns what it has. Kept short: the emulator delivers the next byte
/// from its own thread, and a CPU that keeps reading the UART's registers
/// holds the lock that thread needs (on a part with a FIFO, it would be
/// the FIFO's depth).
const BURST_POLLS: u32 = 8;

/// Reads and drops whatever byte is waiting at the UART at `base`, for a
/// firmware that is done with the line (the session closed).
pub fn discard_input(base: usize) {
    // SAFETY: reads of a UART's registers, which nothing else uses any more.
    unsafe {
        if read_volatile((base + STATE) as *const u32) & STATE_RX_FULL != 0 {
            read_volatile((base + DATA) as *const u32);
        }
    }
}

/// Why a read or write failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UartError {
    /// Nothing arrived within the read timeout; not a failure of the line
    /// (the session driver takes it as "nothing to read yet").
    TimedOut,
    /// A byte arrived before the previous one was read: data was lost, so
    /// the byte stream, and the session on it, cannot be trusted any more.
    Overrun,
}

impl core::error::Error for UartError {}

impl embedded_io::Error for UartError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::TimedOut => ErrorKind::TimedOut,
            Self::Overrun => ErrorKind::Other,
        }
    }
}

impl core::fmt::Display for UartError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::TimedOut => "UART read timed out",
            Self::Overrun => "UART receive overrun: bytes lost",
        })
    }
}

/// One CMSDK UART, polled, with a read timeout for the blocking front.
pub struct Uart {
    base: usize,
    read_timeout_ms: u64,
}

impl Uart {
    /// Takes the UART at `base`, enables its transmitter, receiver and
    /// receive interrupt (which only wakes an executor; see
    /// [`Uart::on_rx_interrupt`]). A blocking read fails with
    /// [`UartError::TimedOut`] after `read_timeout_ms` without a byte.
    ///
    /// # Safety
    /// `base` must be a CMSDK UART that nothing else drives.
    pub unsafe fn new(base: usize, read_timeout_ms: u64) -> Self {
        let uart = Self {
            base,
            read_timeout_ms,
        };
        uart.set(BAUDDIV, MIN_BAUDDIV);
        uart.set(CTRL, CTRL_TX_EN | CTRL_RX_EN | CTRL_RX_INT_EN);
        uart
    }

    /// Acknowledges UART0's receive interrupt; call from its handler. The
    /// byte itself stays for the next read.
    pub fn on_rx_interrupt() {
        // SAFETY: INTCLEAR is write-one-to-clear and touches no data.
        unsafe { write_volatile((UART0 + INTCLEAR) as *mut u32, INT_RX) }
    }

    fn get(&self, offset: usize) -> u32 {
        // SAFETY: `new`'s caller vouched for the register block at `base`.
        unsafe { read_volatile((self.base + offset) as *const u32) }
    }

    fn set(&self, offset: usize, value: u32) {
        // SAFETY: as in `get`.
        unsafe { write_volatile((self.base + offset) as *mut u32, value) }
    }

    fn try_byte(&self) -> Result<Option<u8>, UartError> {
        let state = self.get(STATE);
        if state & STATE_RX_OVERRUN != 0 {
            // Write-one-to-clear, so that the error is reported once.
            self.set(STATE, STATE_RX_OVERRUN);
            return Err(UartError::Overrun);
        }
        if state & STATE_RX_FULL == 0 {
            return Ok(None);
        }
        Ok(Some(self.get(DATA) as u8))
    }

    /// Reads what is ready: nothing if no byte is waiting, else bytes until
    /// `buf` is full or the burst ends.
    fn read_ready(&mut self, buf: &mut [u8]) -> Result<usize, UartError> {
        let mut n = 0;
        let mut idle = 0;
        while n < buf.len() {
            match self.try_byte()? {
                Some(byte) => {
                    buf[n] = byte;
                    n += 1;
                    idle = 0;
                }
                None if n == 0 || idle == BURST_POLLS => break,
                None => idle += 1,
            }
        }
        Ok(n)
    }

    /// The async read, one poll at a time: pending while no byte is
    /// waiting, else the burst (see `embedded_io_async::Read for Uart`).
    pub fn poll_read(&mut self, buf: &mut [u8]) -> Poll<Result<usize, UartError>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        match self.read_ready(buf) {
            Ok(0) => Poll::Pending,
            done => Poll::Ready(done),
        }
    }

    fn write_byte(&mut self, byte: u8) {
        while self.get(STATE) & STATE_TX_FULL != 0 {}
        self.set(DATA, u32::from(byte));
    }
}

impl embedded_io::ErrorType for Uart {
    type Error = UartError;
}

impl embedded_io::Read for Uart {
    /// Waits up to the read timeout for a first byte, asleep between
    /// interrupts (the byte's own, or the millisecond tick), then reads the
    /// burst.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, UartError> {
        if buf.is_empty() {
            return Ok(0);
        }
        let give_up = clock::now() + core::time::Duration::from_millis(self.read_timeout_ms);
        loop {
            let n = self.read_ready(buf)?;
            if n > 0 {
                return Ok(n);
            }
            if clock::now() >= give_up {
                return Err(UartError::TimedOut);
            }
            // With interrupts masked, a byte that arrives after the check
            // still ends the `wfi` (its interrupt is pending).
            cortex_m::interrupt::free(|_| {
                if self.get(STATE) & STATE_RX_FULL == 0 {
                    cortex_m::asm::wfi();
                }
            });
        }
    }
}

impl embedded_io::Write for Uart {
    /// Sends all of `buf`: the transmitter drains a byte as fast as the
    /// line takes it, so waiting here is short and keeps every write whole.
    fn write(&mut self, buf: &[u8]) -> Result<usize, UartError> {
        self.write_all(buf)?;
        Ok(buf.len())
    }

    /// As `write`, which never writes less: the provided `write_all` would
    /// only add its loop, and a panic should `write` ever return `Ok(0)`.
    fn write_all(&mut self, buf: &[u8]) -> Result<(), UartError> {
        for &byte in buf {
            self.write_byte(byte);
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), UartError> {
        while self.get(STATE) & STATE_TX_FULL != 0 {}
        Ok(())
    }
}

impl embedded_io_async::Read for Uart {
    /// Pending until a byte is there, then reads the burst. Cancel-safe: no
    /// byte leaves the UART but in the poll that returns it. It registers no
    /// waker: the byte's arrival raises the receive interrupt, and the
    /// executor ([`crate::executor`]) polls again after every interrupt.
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, UartError> {
        poll_fn(|_| self.poll_read(buf)).await
    }
}

impl embedded_io_async::Write for Uart {
    /// As the blocking write: never pending, so a write is never cut by a
    /// caller that drops the future.
    async fn write(&mut self, buf: &[u8]) -> Result<usize, UartError> {
        embedded_io::Write::write(self, buf)
    }

    async fn flush(&mut self) -> Result<(), UartError> {
        embedded_io::Write::flush(self)
    }
}
