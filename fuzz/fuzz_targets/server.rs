//! Arbitrary client bytes and time steps into a server session: it never
//! panics, everything it transmits (replies and relayed chat) is a valid
//! server frame, and however it ends, its name is released.
//!
//! Input: byte 0 sets the piece size, byte 1 the time step between pieces,
//! byte 2 the limits: bits 0–1 the chat limit (the default, none, or
//! `interval` 1–16 s (bits 3–6) with a burst of bit 7 + bit 2 · 2, or
//! `per_second(0, 0)`), bit 2 (with a default or no limit) a registry that
//! refuses every room as full; the rest is what the client sends. Chat
//! relayed never exceeds what the limit allows.
#![no_main]

use core::time::Duration;
use douyu_core::frame::{Direction, Frame, Status};
use douyu_core::message::ServerMessage;
use douyu_core::session::{
    ChatLimit, Instant, Member, REPLY_MAX, Refusal, Registry, ServerConfig, ServerEvent,
    ServerSession, SessionError, is_visitor_name, nickname_is_acceptable, visitor_name,
};

use douyu_core::stream::Decoder;
use libfuzzer_sys::fuzz_target;

/// A registry with one nickname already taken in every room.
#[derive(Default)]
struct Names {
    taken: Vec<(u64, String)>,
    uid: u64,
    /// Refuse every room as full.
    full: bool,
}

impl Registry for Names {
    fn join(&mut self, room: u64, name: Option<&str>) -> Result<u64, Refusal> {
        if let Some(name) = name {
            assert!(nickname_is_acceptable(name), "granted {name:?}");
            assert!(!is_visitor_name(name), "granted a visitor's name {name:?}");
            if name == "taken" || self.taken.iter().any(|(r, n)| *r == room && n == name) {
                return Err(Refusal::NicknameTaken);
            }
        }
        if self.full {
            return Err(Refusal::RoomsFull);
        }
        self.uid += 1;
        let name = name.map_or_else(|| visitor_name(self.uid).to_string(), str::to_string);
        self.taken.push((room, name));
        Ok(self.uid)
    }
    fn leave(&mut self, room: u64, name: &str) {
        let before = self.taken.len();
        self.taken.retain(|(r, n)| !(*r == room && n == name));
        assert_eq!(
            before,
            self.taken.len() + 1,
            "released a name never claimed"
        );
    }
}

fn check_frame(bytes: &[u8]) {
    let Ok(Status::Complete((frame, used))) = Frame::decode(bytes) else {
        panic!("bad frame out")
    };
    assert_eq!(used, bytes.len());
    assert_eq!(frame.direction, Direction::ServerToClient);
    ServerMessage::parse(frame.body).expect("server body reads back");
}

fn check_transmit(session: &mut ServerSession) {
    let mut out = [0u8; REPLY_MAX];
    while let Some(n) = session
        .poll_transmit(&mut out)
        .expect("replies fit REPLY_MAX bytes")
    {
        check_frame(&out[..n]);
    }
    // What the host writes for the session's events reads back too.
    while let Some(event) = session.poll_event() {
        let n = match event {
            ServerEvent::Joined { .. } => session.encode_enter(&mut out),
            ServerEvent::Left { .. } => session.encode_leave(&mut out),
            ServerEvent::WhoRequested { .. } => {
                let me = session.nickname();
                let members = [
                    Member {
                        uid: 1,
                        nickname: "鱼/丸@",
                    },
                    Member {
                        uid: session.uid(),
                        nickname: me,
                    },
                ];
                let mut who = [0u8; 1024];
                let (n, listed) = session
                    .encode_who(members.len(), &members, &mut who)
                    .expect("who fits");
                assert_eq!(listed, 2, "two members fit 1 KiB");
                check_frame(&who[..n]);
                // Cut to what fits a small buffer: fewer members, or none
                // and then refused.
                let mut small = [0u8; 64];
                match session.encode_who(members.len(), &members, &mut small) {
                    Ok((n, listed)) => {
                        assert!(listed < 2);
                        check_frame(&small[..n]);
                    }
                    Err(e @ SessionError::BufferFull { needed, capacity }) => {
                        assert!(capacity == small.len() && needed > capacity, "{e}");
                    }
                    Err(e) => panic!("{e}"),
                }
                continue;
            }
            _ => continue,
        };
        check_frame(&out[..n.expect("announcements fit REPLY_MAX bytes")]);
    }
}

fuzz_target!(|data: &[u8]| {
    let [piece, step, limits, rest @ ..] = data else {
        return;
    };
    let piece = usize::from(*piece).max(1);
    let step = u64::from(*step) * 1000;
    let mut config = ServerConfig::default();
    let mut names = Names::default();
    config.chat_limit = match limits % 4 {
        0 => Some(ChatLimit::default()),
        1 => None,
        2 => Some(ChatLimit {
            interval: Duration::from_millis(1000 * (1 + u64::from(limits >> 3 & 15))),
            burst: u16::from(limits >> 7) + u16::from(limits >> 2 & 1) * 2,
        }),
        _ => Some(ChatLimit::per_second(0, 0)),
    };
    names.full = limits % 4 < 2 && limits & 4 != 0;
    let mut now = 0;
    let mut session = ServerSession::new(config, Instant::from_millis(now));
    let mut relayed = 0u64;
    let mut buf = [0u8; 300];
    let mut decoder = Decoder::new(&mut buf);
    // The largest frame the decoder holds, plus what `encode_chat` adds.
    let mut relay = [0u8; 300 + REPLY_MAX];
    'input: for chunk in rest.chunks(piece) {
        let mut chunk = chunk;
        while !chunk.is_empty() {
            let taken = decoder.feed(chunk);
            chunk = &chunk[taken..];
            loop {
                match decoder.next_frame() {
                    Ok(Some(frame)) => {
                        if let Ok(Some(line)) =
                            session.handle_frame(Instant::from_millis(now), frame, &mut names)
                        {
                            let n = session
                                .encode_chat(&line, &mut relay)
                                .expect("a relay fits its text plus REPLY_MAX");
                            check_frame(&relay[..n]);
                            relayed += 1;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        session.handle_stream_error(e, &mut names);
                        break 'input;
                    }
                }
                check_transmit(&mut session);
            }
            if taken == 0 {
                break;
            }
        }
        now += step;
        session.handle_timeout(Instant::from_millis(now), &mut names);
        check_transmit(&mut session);
    }
    check_transmit(&mut session);
    // The host ends what the input left open: the peer went away, or the
    // host closed it (the step's parity picks which).
    if !session.is_closed() {
        if step % 2000 == 0 {
            session.handle_disconnect(&mut names);
        } else {
            session.close(&mut names);
        }
        assert!(session.is_closed());
        check_transmit(&mut session);
    }
    // The bucket starts full at the login, at 0 ms or later: at most `burst`
    // lines (one if 0) at once, one a refill after that.
    if let Some(limit) = config.chat_limit {
        let interval = (limit.interval.as_millis() as u64).max(1);
        let allowed = u64::from(limit.burst.max(1)) + now / interval;
        assert!(
            relayed <= allowed,
            "{relayed} lines relayed, {allowed} allowed"
        );
    }
    if names.full {
        assert_eq!(relayed, 0, "chat relayed with every room full");
    }
    assert!(
        names.taken.is_empty(),
        "a closed session must release its name"
    );
});
