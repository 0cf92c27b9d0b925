//! Arbitrary server bytes and time steps into the client session: it never
//! panics, everything it transmits is a valid client frame (asking for the
//! configured username, if any), and every error and close reason it reports
//! reads as text.
//!
//! Input: byte 0 sets the piece size, byte 1 the time step between pieces
//! (odd: bytes go in through `receive_window`/`commit_input`, even: through
//! `handle_input`), byte 2 when (if ever) to log out, the login (odd: web),
//! whether to set a username (bit 1; its length is bits 2–7, its bytes the
//! start of the rest) and to ask who is online (bit 2); the rest is what the
//! server sends.
#![no_main]

use douyu_core::frame::{Direction, Frame, Status};
use douyu_core::message::ClientMessage;
use douyu_core::session::{
    Client, ClientConfig, ClientEvent, Instant, Login, NICKNAME_MAX, REPLY_MAX, SessionError,
};
use douyu_core::stt::SttError;
use libfuzzer_sys::fuzz_target;

fn check_transmit(client: &mut Client<'_>, username: Option<&str>) {
    let mut out = [0u8; REPLY_MAX];
    while let Some(n) = client
        .poll_transmit(&mut out)
        .expect("REPLY_MAX bytes hold any client message")
    {
        let Ok(Status::Complete((frame, used))) = Frame::decode(&out[..n]) else {
            panic!("bad frame out")
        };
        assert_eq!(used, n);
        assert_eq!(frame.direction, Direction::ClientToServer);
        let message = ClientMessage::parse(frame.body).expect("client body reads back");
        if let (ClientMessage::Login(login), Some(name)) = (&message, username) {
            assert!(
                login.username.is_some_and(|u| u == name),
                "{login:?} asks for {name:?}"
            );
        }
    }
}

fn drain_events(client: &mut Client<'_>) {
    while let Some(event) = client.poll_event() {
        match event {
            ClientEvent::Invalid(e) => assert!(!e.to_string().is_empty()),
            ClientEvent::Closed(reason) => assert!(!reason.to_string().is_empty()),
            _ => {}
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [piece, step, logout, rest @ ..] = data else {
        return;
    };
    let piece = usize::from(*piece).max(1);
    let direct = step % 2 == 1;
    let step = u64::from(*step) * 500;
    let mut config = ClientConfig::new(288_016);
    if logout % 2 == 1 {
        config.login = Login::Web {
            uid: u64::from(*logout),
        };
    }
    let mut username = None;
    if logout & 2 != 0 {
        let len = usize::from(logout >> 2).min(rest.len());
        let name = String::from_utf8_lossy(&rest[..len]).into_owned();
        let nul = name.bytes().position(|b| b == 0);
        let set = match nul {
            // A name no frame can carry is refused (it was accepted once,
            // and then no login could be sent: `regressions/client/nul-username`).
            Some(offset) => {
                let refused = config.set_username(&name);
                assert_eq!(
                    refused,
                    Err(SessionError::Stt(SttError::NulByte { offset }))
                );
                assert_eq!(config.username(), None);
                refused
            }
            None => config.set_username(&name),
        };
        match set {
            Ok(()) => {
                assert!(name.len() <= NICKNAME_MAX);
                assert_eq!(config.username(), Some(name.as_str()));
                username = Some(name);
            }
            Err(e @ SessionError::BufferFull { needed, capacity }) => {
                assert!(needed == name.len() && capacity == NICKNAME_MAX && needed > capacity);
                assert!(e.to_string().contains(&needed.to_string()));
                assert_eq!(config.username(), None);
            }
            Err(e @ SessionError::Stt(SttError::NulByte { offset })) => {
                assert_eq!(Some(offset), nul);
                assert!(e.to_string().contains(&offset.to_string()));
            }
            Err(e) => panic!("{e}"),
        }
    }
    let who = logout & 4 != 0;
    let mut rx = [0u8; 256];
    let mut now = 0;
    let mut client = Client::new(config, &mut rx, Instant::from_millis(now));
    let username = username.as_deref();
    for (i, chunk) in rest.chunks(piece).enumerate() {
        let mut chunk = chunk;
        while !chunk.is_empty() {
            let taken = if direct {
                let window = client.receive_window();
                let n = window.len().min(chunk.len());
                window[..n].copy_from_slice(&chunk[..n]);
                client.commit_input(Instant::from_millis(now), n);
                n
            } else {
                client.handle_input(Instant::from_millis(now), chunk)
            };
            chunk = &chunk[taken..];
            drain_events(&mut client);
            check_transmit(&mut client, username);
            if taken == 0 {
                break;
            }
        }
        now += step;
        client.handle_timeout(Instant::from_millis(now));
        // A live session never asks to be woken in the past: no busy loop.
        if client.is_closed() {
            assert_eq!(client.poll_timeout(), None);
        } else {
            assert!(client.poll_timeout().is_some_and(|at| at.as_millis() > now));
        }
        check_transmit(&mut client, username);
        // Refused before login, when the queue is full, or while closing.
        if let Err(e) = client.queue_chat("鱼丸 / @") {
            assert!(!e.to_string().is_empty());
        }
        if who {
            // Only once logged in; the request goes out as a `whoreq`.
            match client.request_who() {
                Ok(()) => assert!(!client.is_closed()),
                Err(e) => assert_eq!(e, SessionError::NotReady),
            }
        }
        if i == usize::from(*logout) {
            client.close();
        }
        drain_events(&mut client);
        check_transmit(&mut client, username);
    }
});
