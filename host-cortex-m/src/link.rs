//! The transport the session drives: the UART, with a count of the
//! heartbeats that went out through it and of the bytes that came in.

use core::future::{Future, poll_fn};
use core::sync::atomic::{AtomicU32, Ordering};
use core::task::Poll;

use douyu_core::frame::{Frame, Status};
use douyu_core::stt::Map;

use crate::uart::{Uart, UartError};

/// Heartbeats written to the line so far.
static HEARTBEATS: AtomicU32 = AtomicU32::new(0);

/// Bytes read from the line so far.
static RECEIVED: AtomicU32 = AtomicU32::new(0);

/// Bytes read from the line so far (modulo 2³²), which tells a test which
/// of the frames the server sent had reached the device.
pub fn bytes_received() -> u32 {
    RECEIVED.load(Ordering::Relaxed)
}

fn received(read: Result<usize, UartError>) -> Result<usize, UartError> {
    if let Ok(n) = read {
        RECEIVED.fetch_add(n as u32, Ordering::Relaxed);
    }
    read
}

/// Heartbeats written to the line so far.
pub fn heartbeats_sent() -> u32 {
    HEARTBEATS.load(Ordering::Relaxed)
}

/// The UART, noting what the session sends. The session driver hands each
/// frame to one `write_all`, and [`Uart`]'s write takes a whole buffer, so
/// each write here is one frame; the core's frame and STT readers read its
/// type back. (Only the type: the typed `ClientMessage::parse` would link a
/// reader for every client message, 1.5 KiB of flash, to count heartbeats.)
pub struct Link(pub Uart);

impl Link {
    fn note(buf: &[u8]) {
        if let Ok(Status::Complete((frame, _))) = Frame::decode(buf)
            && let Ok(Some(kind)) = Map::new(frame.body).message_type()
            && (kind == "mrkl" || kind == "keeplive")
        {
            HEARTBEATS.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl embedded_io::ErrorType for Link {
    type Error = UartError;
}

impl embedded_io::Read for Link {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, UartError> {
        received(self.0.read(buf))
    }
}

impl embedded_io::Write for Link {
    fn write(&mut self, buf: &[u8]) -> Result<usize, UartError> {
        self.write_all(buf)?;
        Ok(buf.len())
    }

    /// One frame, whole: the UART's write never writes less.
    fn write_all(&mut self, buf: &[u8]) -> Result<(), UartError> {
        self.0.write_all(buf)?;
        Self::note(buf);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), UartError> {
        embedded_io::Write::flush(&mut self.0)
    }
}

// The futures below are the steps themselves rather than `async fn`s, which
// would each wrap the UART's future in one more state machine.

impl embedded_io_async::Read for Link {
    fn read(&mut self, buf: &mut [u8]) -> impl Future<Output = Result<usize, UartError>> {
        poll_fn(|_| self.0.poll_read(buf).map(received))
    }
}

/// The UART's writes are never pending (see its `embedded_io_async::Write`),
/// so these are the blocking ones, done when first polled.
impl embedded_io_async::Write for Link {
    fn write(&mut self, buf: &[u8]) -> impl Future<Output = Result<usize, UartError>> {
        poll_fn(|_| Poll::Ready(embedded_io::Write::write(self, buf)))
    }

    fn write_all(&mut self, buf: &[u8]) -> impl Future<Output = Result<(), UartError>> {
        poll_fn(|_| Poll::Ready(embedded_io::Write::write_all(self, buf)))
    }

    fn flush(&mut self) -> impl Future<Output = Result<(), UartError>> {
        poll_fn(|_| Poll::Ready(embedded_io::Write::flush(self)))
    }
}
