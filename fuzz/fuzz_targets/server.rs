//! Arbitrary client bytes and time steps into a server session: it never
//! panics, everything it transmits (replies and relayed chat) is a valid
//! server frame, and however it ends, its name is released.
//!
//! Input: byte 0 sets the piece size, byte 1 the time step between pieces;
//! the rest is what the client sends.
#![no_main]

use douyu_core::frame::{Frame, MessageType, Status};
use douyu_core::message::ServerMessage;
use douyu_core::session::{
    Instant, Member, REPLY_MAX, Refusal, Registry, ServerConfig, ServerEvent, ServerSession,
    is_visitor_name, nickname_is_acceptable, visitor_name,
};
use douyu_core::stream::Decoder;
use libfuzzer_sys::fuzz_target;

/// A registry with one nickname already taken in every room.
#[derive(Default)]
struct Names {
    taken: Vec<(u64, String)>,
    uid: u64,
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
    assert_eq!(frame.message_type, MessageType::ServerToClient);
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
                continue;
            }
            _ => continue,
        };
        check_frame(&out[..n.expect("announcements fit REPLY_MAX bytes")]);
    }
}

fuzz_target!(|data: &[u8]| {
    let [piece, step, rest @ ..] = data else {
        return;
    };
    let piece = usize::from(*piece).max(1);
    let step = u64::from(*step) * 1000;
    let mut names = Names::default();
    let mut now = 0;
    let mut session = ServerSession::new(ServerConfig::default(), Instant::from_millis(now));
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
    assert!(
        names.taken.is_empty(),
        "a closed session must release its name"
    );
});
