//! Arbitrary server bytes and time steps into the client session: it never
//! panics, and everything it transmits is a valid client frame.
//!
//! Input: byte 0 sets the piece size, byte 1 the time step between pieces,
//! byte 2 when (if ever) to log out; the rest is what the server sends.
#![no_main]

use douyu_core::frame::{Frame, MessageType, Status};
use douyu_core::message::ClientMessage;
use douyu_core::session::{Client, ClientConfig, Instant, Login, REPLY_MAX};
use libfuzzer_sys::fuzz_target;

fn check_transmit(client: &mut Client<'_>) {
    let mut out = [0u8; REPLY_MAX];
    while let Some(n) = client
        .poll_transmit(&mut out)
        .expect("REPLY_MAX bytes hold any client message")
    {
        let Ok(Status::Complete((frame, used))) = Frame::decode(&out[..n]) else {
            panic!("bad frame out")
        };
        assert_eq!(used, n);
        assert_eq!(frame.message_type, MessageType::ClientToServer);
        ClientMessage::parse(frame.body).expect("client body reads back");
    }
}

fuzz_target!(|data: &[u8]| {
    let [piece, step, logout, rest @ ..] = data else {
        return;
    };
    let piece = usize::from(*piece).max(1);
    let step = u64::from(*step) * 500;
    let mut config = ClientConfig::new(288_016);
    if logout % 2 == 1 {
        config.login = Login::Web {
            uid: u64::from(*logout),
        };
    }
    let mut rx = [0u8; 256];
    let mut now = 0;
    let mut client = Client::new(config, &mut rx, Instant::from_millis(now));
    for (i, chunk) in rest.chunks(piece).enumerate() {
        let mut chunk = chunk;
        while !chunk.is_empty() {
            let taken = client.handle_input(Instant::from_millis(now), chunk);
            chunk = &chunk[taken..];
            while client.poll_event().is_some() {}
            check_transmit(&mut client);
            if taken == 0 {
                break;
            }
        }
        now += step;
        client.handle_timeout(Instant::from_millis(now));
        // A live session never asks to be woken in the past: no busy loop.
        if !client.is_closed() {
            assert!(client.poll_timeout().is_some_and(|at| at.as_millis() > now));
        }
        check_transmit(&mut client);
        // Refused before login, when the queue is full, or while closing.
        let _ = client.queue_chat("鱼丸 / @");
        if i == usize::from(*logout) {
            client.close();
        }
        while client.poll_event().is_some() {}
        check_transmit(&mut client);
    }
});
