//! The `douyu-core` client session on a Cortex-M4F, over `embedded-io`.
//!
//! The transport is a stand-in for a UART or a TCP socket of an embedded
//! network stack: it replays a server's login reply and chat lines, and
//! swallows what the client sends. Everything else is what firmware would
//! run: the session and its receive and transmit buffers in static RAM,
//! and a loop that moves bytes and time.
#![no_std]
#![no_main]

use core::hint::black_box;

use cortex_m::singleton;
use cortex_m_rt::entry;
use douyu_core::message::ServerMessage;
use douyu_core::session::{Client, ClientConfig, ClientEvent, Instant};
use embedded_io::{ErrorType, Read, Write};
use panic_halt as _;

/// Receive buffer: the largest frame accepted (the live service's chat
/// frames are well under 1 KiB).
const RX: usize = 2048;
/// Transmit buffer: the client's own messages are under 200 bytes.
const TX: usize = 256;

/// What the server "sends": a login reply, then chat lines, forever.
const SCRIPT: &[u8] = b"/\x00\x00\x00/\x00\x00\x00\xb2\x02\x00\x00type@=loginres/userid@=1/live_stat@=1/\x00\
      B\x00\x00\x00B\x00\x00\x00\xb2\x02\x00\x00type@=chatmsg/rid@=288016/nn@=fish@Sone/txt@=hello there/\x00";

/// Bytes of the login reply at the start of [`SCRIPT`].
const LOGIN_LEN: usize = 51;

/// A byte pipe to the server.
struct Link {
    at: usize,
    sent: usize,
}

impl ErrorType for Link {
    type Error = core::convert::Infallible;
}

impl Read for Link {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        // Replay the chat line after the first pass through the script.
        if self.at >= SCRIPT.len() {
            self.at = LOGIN_LEN;
        }
        let rest = &SCRIPT[self.at..];
        let n = rest.len().min(buf.len()).min(17);
        buf[..n].copy_from_slice(&rest[..n]);
        self.at += n;
        Ok(n)
    }
}

impl Write for Link {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.sent += black_box(buf).len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

#[entry]
fn main() -> ! {
    let rx = singleton!(: [u8; RX] = [0; RX]).unwrap();
    let tx = singleton!(: [u8; TX] = [0; TX]).unwrap();
    let mut link = Link { at: 0, sent: 0 };
    // A real board reads a timer here; each pass of the loop is a tick.
    let mut now = 0u64;
    // In static RAM too, so that the footprint shows in `.bss`.
    let client = singleton!(: Client<'static> = Client::new(ClientConfig::new(288_016), rx, Instant::from_millis(0))).unwrap();
    let mut chats = 0u32;
    loop {
        while let Ok(Some(n)) = client.poll_transmit(tx) {
            let _ = link.write_all(&tx[..n]);
        }
        let window = client.receive_window();
        let n = link.read(window).unwrap_or(0);
        now += 10;
        client.commit_input(Instant::from_millis(now), n);
        while let Some(event) = client.poll_event() {
            if let ClientEvent::Message(ServerMessage::Chat(chat)) = event {
                let mut nick = [0u8; 48];
                if let Some(Ok(name)) = chat.nn.map(|t| t.unescape_into(&mut nick)) {
                    chats = chats.wrapping_add(black_box(name.len() as u32));
                }
            }
        }
        client.handle_timeout(Instant::from_millis(now));
        black_box((chats, link.sent));
    }
}
