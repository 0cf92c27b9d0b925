//! Client and server sessions wired together in memory, on a simulated clock.

use std::collections::{HashMap, HashSet};

use douyu_core::message::ServerMessage;
use douyu_core::session::{
    Client, ClientConfig, ClientEvent, CloseReason, Instant, Login, Registry, ServerConfig,
    ServerEvent, ServerSession, error_code,
};
use douyu_core::session::{Refusal, visitor_name};
use douyu_core::stream::Decoder;
use proptest::prelude::*;

#[derive(Default)]
struct Rooms {
    names: HashMap<u64, HashSet<String>>,
    uid: u64,
}

impl Registry for Rooms {
    fn join(&mut self, room: u64, name: Option<&str>) -> Result<u64, Refusal> {
        let uid = self.uid + 1;
        let name = name.map_or_else(|| visitor_name(uid).to_string(), str::to_string);
        if !self.names.entry(room).or_default().insert(name) {
            return Err(Refusal::NicknameTaken);
        }
        self.uid = uid;
        Ok(uid)
    }
    fn leave(&mut self, room: u64, name: &str) {
        self.names.entry(room).or_default().remove(name);
    }
}

/// One client and its server session joined by two in-memory pipes.
struct Link<'b> {
    client: Client<'b>,
    server: ServerSession,
    server_rx: Decoder<'b>,
    /// Bytes in flight, and the piece size each side reads them in.
    to_server: Vec<u8>,
    to_client: Vec<u8>,
    chunk: usize,
    /// Cut a direction to simulate a peer gone silent.
    deliver_to_server: bool,
    deliver_to_client: bool,
    log: Vec<String>,
    sent: Vec<(u64, String)>,
}

const MS: u64 = 1;

impl<'b> Link<'b> {
    fn new(
        config: ClientConfig,
        client_rx: &'b mut [u8],
        server_rx: &'b mut [u8],
        chunk: usize,
    ) -> Self {
        let now = Instant::from_millis(0);
        Self {
            client: Client::new(config, client_rx, now),
            server: ServerSession::new(ServerConfig::default(), now),
            server_rx: Decoder::new(server_rx),
            to_server: Vec::new(),
            to_client: Vec::new(),
            chunk,
            deliver_to_server: true,
            deliver_to_client: true,
            log: Vec::new(),
            sent: Vec::new(),
        }
    }

    /// Moves bytes both ways until nothing is left to do at `now`.
    fn pump(&mut self, now: Instant, rooms: &mut Rooms) {
        let mut buf = [0u8; 512];
        for _ in 0..1000 {
            let mut busy = false;
            while let Some(n) = self.client.poll_transmit(&mut buf).unwrap() {
                let frame = &buf[..n];
                let body = String::from_utf8_lossy(&frame[12..n - 1]).into_owned();
                self.sent.push((now.as_millis(), body));
                if self.deliver_to_server {
                    self.to_server.extend_from_slice(frame);
                }
                busy = true;
            }
            self.drain_client_events();
            if !self.to_server.is_empty() {
                let take = self.chunk.min(self.to_server.len());
                let piece: Vec<u8> = self.to_server.drain(..take).collect();
                let mut rest = &piece[..];
                while !rest.is_empty() {
                    rest = &rest[self.server_rx.feed(rest)..];
                    self.serve(now, rooms);
                }
                busy = true;
            }
            while let Some(n) = self.server.poll_transmit(&mut buf).unwrap() {
                if self.deliver_to_client {
                    self.to_client.extend_from_slice(&buf[..n]);
                }
                busy = true;
            }
            while let Some(event) = self.server.poll_event() {
                self.log.push(format!("server: {event:?}"));
            }
            if !self.to_client.is_empty() {
                let take = self.chunk.min(self.to_client.len());
                let piece: Vec<u8> = self.to_client.drain(..take).collect();
                let mut rest = &piece[..];
                while !rest.is_empty() {
                    rest = &rest[self.client.handle_input(now, rest)..];
                    self.drain_client_events();
                }
                busy = true;
            }
            if !busy {
                return;
            }
        }
        panic!("link never settled");
    }

    fn serve(&mut self, now: Instant, rooms: &mut Rooms) {
        let mut out = [0u8; 512];
        while let Some(frame) = self.server_rx.next_frame().unwrap() {
            match self.server.handle_frame(now, frame, rooms) {
                Ok(Some(relay)) => {
                    let n = self.server.encode_chat(&relay, &mut out).unwrap();
                    if self.deliver_to_client {
                        self.to_client.extend_from_slice(&out[..n]);
                    }
                }
                Ok(None) => {}
                Err(e) => self.log.push(format!("server error: {e}")),
            }
        }
    }

    fn drain_client_events(&mut self) {
        while let Some(event) = self.client.poll_event() {
            let line = match event {
                ClientEvent::LoggedIn(res) => format!("logged in as {}", res.nickname.unwrap()),
                ClientEvent::Message(ServerMessage::Chat(chat)) => {
                    format!("chat {}: {}", chat.nn.unwrap(), chat.txt.unwrap())
                }
                ClientEvent::Message(other) => format!("message {}", other.map().raw()),
                other => format!("{other:?}"),
            };
            self.log.push(line);
        }
    }

    /// Runs the clock to `until`, waking each side exactly when it asked.
    fn run_until(&mut self, until: u64, rooms: &mut Rooms) {
        let mut now = 0;
        loop {
            self.pump(Instant::from_millis(now), rooms);
            let next = [self.client.poll_timeout(), self.server.poll_timeout()]
                .into_iter()
                .flatten()
                .map(Instant::as_millis)
                .min();
            match next {
                Some(t) if t <= until => {
                    now = t.max(now);
                    let at = Instant::from_millis(now);
                    self.client.handle_timeout(at);
                    self.server.handle_timeout(at, rooms);
                }
                _ => return,
            }
        }
    }
}

/// Queues a chat line; the next pump transmits it.
fn chat_line(link: &mut Link<'_>, text: &str) {
    link.client.queue_chat(text).unwrap();
}

#[test]
fn login_join_heartbeat_chat_logout() {
    let (mut a, mut b) = ([0u8; 1024], [0u8; 1024]);
    let mut config = ClientConfig::new(288016);
    config.set_username("鱼/丸@").unwrap();
    let mut rooms = Rooms::default();
    let mut link = Link::new(config, &mut a, &mut b, 1024);
    link.run_until(46_000 * MS, &mut rooms);
    chat_line(&mut link, "hi / @A 🐟");
    link.pump(Instant::from_millis(46_000), &mut rooms);
    link.client.close();
    link.pump(Instant::from_millis(46_000), &mut rooms);
    assert_eq!(
        link.log,
        [
            "logged in as 鱼/丸@",
            "Joined { room: 288016 }",
            "server: Joined { room: 288016 }",
            "message type@=mrkl/",
            "chat 鱼/丸@: hi / @A 🐟",
            "Closed(Logout)",
            "server: Left { room: 288016 }",
            "server: Closed(Logout)",
        ]
    );
    let sent: Vec<&str> = link.sent.iter().map(|(_, body)| body.as_str()).collect();
    assert_eq!(
        sent,
        [
            "type@=loginreq/roomid@=288016/username@=鱼@S丸@A/",
            "type@=joingroup/rid@=288016/gid@=-9999/",
            "type@=mrkl/",
            "type@=chatmsg/txt@=hi @S @AA 🐟/",
            "type@=logout/",
        ]
    );
    assert!(link.client.is_closed() && link.server.is_closed());
    assert!(rooms.names[&288016].is_empty(), "nickname released");
}

/// The longest of everything a client sends on its own (a web login with
/// the longest nickname, all escapes, and the largest ids) fits
/// `REPLY_MAX`, and the dead window follows the heartbeat.
#[test]
fn client_frames_fit_reply_max_and_the_dead_window_follows_the_heartbeat() {
    use douyu_core::session::{DEAD_AFTER, HEARTBEAT, NICKNAME_MAX, REPLY_MAX, dead_window};
    let name = "@".repeat(NICKNAME_MAX);
    for login in [Login::Tcp, Login::Web { uid: u64::MAX }] {
        let mut config = ClientConfig::new(u64::MAX);
        config.login = login;
        config.set_username(&name).unwrap();
        let mut rx = [0u8; 64];
        let mut client = Client::new(config, &mut rx, Instant::from_millis(0));
        let mut out = [0u8; REPLY_MAX];
        let login = client.poll_transmit(&mut out).unwrap().unwrap();
        assert!(login > 2 * NICKNAME_MAX, "the escaped nickname was sent");
        // The other frames (`joingroup`, `mrkl`, `whoreq`, `logout`) hold
        // a number or nothing; the logout stands for them.
        client.close();
        assert!(client.poll_transmit(&mut out).unwrap().is_some());
    }
    assert_eq!(DEAD_AFTER, 2 * HEARTBEAT);
    let config = ClientConfig::new(1).with_heartbeat(std::time::Duration::from_secs(10));
    assert_eq!(config.dead_after, dead_window(config.heartbeat));
    assert_eq!(config.dead_after.as_secs(), 20);
    assert_eq!(ServerConfig::default().heartbeat_window, DEAD_AFTER);
}

#[test]
fn web_login_carries_visitor_fields() {
    let (mut a, mut b) = ([0u8; 1024], [0u8; 1024]);
    let mut config = ClientConfig::new(9999);
    config.login = Login::Web { uid: 12345 };
    let mut rooms = Rooms::default();
    let mut link = Link::new(config, &mut a, &mut b, 7);
    link.pump(Instant::from_millis(0), &mut rooms);
    assert_eq!(
        link.sent[0].1,
        "type@=loginreq/roomid@=9999/dfl@=sn@AA=105@ASss@AA=1@AS@S/username@=visitor12345/uid@=12345/ver@=20190610/aver@=218101901/ct@=0/"
    );
    // A visitor's name asked for is a visitor's login: the server names it.
    assert_eq!(link.log[0], "logged in as visitor1");
}

#[test]
fn heartbeats_are_exact_over_hours() {
    let (mut a, mut b) = ([0u8; 1024], [0u8; 1024]);
    let mut rooms = Rooms::default();
    let mut link = Link::new(ClientConfig::new(1), &mut a, &mut b, 13);
    let hours = 5;
    link.run_until(hours * 3_600_000, &mut rooms);
    let beats: Vec<u64> = link
        .sent
        .iter()
        .filter(|(_, b)| b == "type@=mrkl/")
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(beats.len() as u64, hours * 3_600_000 / 45_000);
    for (i, t) in beats.iter().enumerate() {
        assert_eq!(*t, (i as u64 + 1) * 45_000);
    }
    assert!(!link.client.is_closed() && !link.server.is_closed());
}

#[test]
fn late_wakeups_do_not_bunch_heartbeats() {
    let mut rx = [0u8; 64];
    let mut client = Client::new(ClientConfig::new(1), &mut rx, Instant::from_millis(0));
    let mut out = [0u8; 64];
    while client.poll_transmit(&mut out).unwrap().is_some() {}
    assert_eq!(client.handle_input(Instant::from_millis(89_000), b""), 0);
    client.handle_timeout(Instant::from_millis(80_000));
    assert!(client.poll_transmit(&mut out).unwrap().is_some());
    assert_eq!(client.poll_transmit(&mut out).unwrap(), None);
    assert_eq!(client.poll_timeout(), Some(Instant::from_millis(90_000)));
}

#[test]
fn dead_link_is_detected_after_two_intervals() {
    let (mut a, mut b) = ([0u8; 1024], [0u8; 1024]);
    let mut rooms = Rooms::default();
    let mut link = Link::new(ClientConfig::new(1), &mut a, &mut b, 1024);
    link.pump(Instant::from_millis(0), &mut rooms);
    link.deliver_to_client = false;
    link.run_until(200_000, &mut rooms);
    let client_log: Vec<&String> = link
        .log
        .iter()
        .filter(|l| !l.starts_with("server"))
        .collect();
    let tail = &client_log[client_log.len() - 2..];
    assert_eq!(
        tail,
        [
            "Dead { silent_for: 90s }",
            "Closed(Silent { silent_for: 90s })"
        ]
    );
    // The server, which still heard heartbeats until then, drops it 90 s later.
    assert_eq!(
        link.log.last().unwrap(),
        "server: Closed(Silent { silent_for: 90s })"
    );
    assert!(link.client.is_closed());
    assert_eq!(link.client.poll_timeout(), None);
}

#[test]
fn silent_client_is_dropped_by_the_server() {
    let (mut a, mut b) = ([0u8; 1024], [0u8; 1024]);
    let mut rooms = Rooms::default();
    let mut link = Link::new(ClientConfig::new(7), &mut a, &mut b, 1024);
    link.pump(Instant::from_millis(0), &mut rooms);
    link.deliver_to_server = false;
    link.run_until(95_000, &mut rooms);
    assert!(
        link.log
            .contains(&"server: Closed(Silent { silent_for: 90s })".to_string()),
        "{:?}",
        link.log
    );
    assert!(link.server.is_closed());
    assert!(rooms.names[&7].is_empty());
}

#[test]
fn duplicate_nickname_is_refused() {
    let mut rooms = Rooms::default();
    let mut config = ClientConfig::new(5);
    config.set_username("鱼丸").unwrap();
    let (mut a, mut b, mut c, mut d) = ([0u8; 512], [0u8; 512], [0u8; 512], [0u8; 512]);
    let mut first = Link::new(config.clone(), &mut a, &mut b, 512);
    first.pump(Instant::from_millis(0), &mut rooms);
    let mut second = Link::new(config.clone(), &mut c, &mut d, 512);
    second.pump(Instant::from_millis(0), &mut rooms);
    assert_eq!(
        second.log,
        [
            format!(
                "server: Closed(Refused {{ code: {} }})",
                error_code::NICKNAME_TAKEN
            ),
            format!(
                "ServerError {{ code: Some({}) }}",
                error_code::NICKNAME_TAKEN
            ),
            format!(
                "Closed(ServerError {{ code: Some({}) }})",
                error_code::NICKNAME_TAKEN
            ),
        ]
    );
    assert!(second.client.is_closed());
    // The same name in another room, or after the first leaves, is fine.
    first.client.close();
    first.pump(Instant::from_millis(1), &mut rooms);
    let (mut e, mut f) = ([0u8; 512], [0u8; 512]);
    let mut third = Link::new(config, &mut e, &mut f, 512);
    third.pump(Instant::from_millis(2), &mut rooms);
    assert_eq!(third.log[0], "logged in as 鱼丸");
}

#[test]
fn malformed_client_input_ends_only_that_session() {
    let mut rooms = Rooms::default();
    let mut server = ServerSession::new(ServerConfig::default(), Instant::from_millis(0));
    let frame = douyu_core::frame::Frame::new(
        douyu_core::frame::Direction::ClientToServer,
        "type@=chatmsg/txt@=x/",
    );
    let err = server
        .handle_frame(Instant::from_millis(1), frame, &mut rooms)
        .unwrap_err();
    assert_eq!(err.to_string(), "`chatmsg` out of order");
    assert!(matches!(
        server.poll_event(),
        Some(ServerEvent::Closed(CloseReason::Protocol(_)))
    ));
    assert!(server.is_closed());
    let bad = douyu_core::frame::Frame::new(
        douyu_core::frame::Direction::ClientToServer,
        "type@=loginreq/x@=@Q/",
    );
    let mut other = ServerSession::new(ServerConfig::default(), Instant::from_millis(0));
    assert!(
        other
            .handle_frame(Instant::from_millis(1), bad, &mut rooms)
            .is_err()
    );
    let wrong_way =
        douyu_core::frame::Frame::new(douyu_core::frame::Direction::ServerToClient, "type@=mrkl/");
    let mut third = ServerSession::new(ServerConfig::default(), Instant::from_millis(0));
    assert!(
        third
            .handle_frame(Instant::from_millis(1), wrong_way, &mut rooms)
            .is_err()
    );
}

#[test]
fn bad_room_is_refused() {
    let mut rooms = Rooms::default();
    let mut server = ServerSession::new(ServerConfig::default(), Instant::from_millis(0));
    let login = douyu_core::frame::Frame::new(
        douyu_core::frame::Direction::ClientToServer,
        "type@=loginreq/roomid@=abc/",
    );
    assert_eq!(
        server.handle_frame(Instant::from_millis(0), login, &mut rooms),
        Ok(None)
    );
    let mut out = [0u8; 64];
    let n = server.poll_transmit(&mut out).unwrap().unwrap();
    assert!(out[..n].ends_with(b"type@=error/code@=204/\0"));
    assert_eq!(
        server.poll_event(),
        Some(ServerEvent::Closed(CloseReason::Refused { code: 204 }))
    );
}

#[test]
fn join_and_close_in_one_read_give_both_events_in_order() {
    let mut rooms = Rooms::default();
    let mut server = ServerSession::new(ServerConfig::default(), Instant::from_millis(0));
    for body in [
        "type@=loginreq/roomid@=9/username@=鱼丸/",
        "type@=joingroup/rid@=9/gid@=-9999/",
        "type@=logout/",
    ] {
        let frame =
            douyu_core::frame::Frame::new(douyu_core::frame::Direction::ClientToServer, body);
        server
            .handle_frame(Instant::from_millis(1), frame, &mut rooms)
            .unwrap();
    }
    assert_eq!(server.poll_event(), Some(ServerEvent::Joined { room: 9 }));
    assert_eq!(server.poll_event(), Some(ServerEvent::Left { room: 9 }));
    assert_eq!(
        server.poll_event(),
        Some(ServerEvent::Closed(CloseReason::Logout))
    );
    assert_eq!(server.poll_event(), None);
    // Closing again adds nothing.
    server.close(&mut rooms);
    assert_eq!(server.poll_event(), None);
}

#[test]
fn client_reports_bad_frames_and_goes_on() {
    let mut rx = [0u8; 256];
    let mut client = Client::new(ClientConfig::new(1), &mut rx, Instant::from_millis(0));
    let mut bytes = b"\x0c\0\0\0\x0c\0\0\0\xb2\x02\0\0ab\xff\0".to_vec();
    bytes.extend_from_slice(b"\x0f\0\0\0\x0f\0\0\0\xb2\x02\0\0x@=@Q/\0");
    bytes.extend_from_slice(b"\x14\0\0\0\x14\0\0\0\xb1\x02\0\0type@=mrkl/\0");
    bytes.extend_from_slice(b"\x14\0\0\0\x14\0\0\0\xb2\x02\0\0type@=mrkl/\0");
    bytes.extend_from_slice(b"\x14\0\0\0\x15\0\0\0");
    assert_eq!(
        client.handle_input(Instant::from_millis(1), &bytes),
        bytes.len()
    );
    let mut kinds = Vec::new();
    while let Some(event) = client.poll_event() {
        kinds.push(
            format!("{event:?}")
                .split(['(', ' '])
                .next()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(
        kinds,
        [
            "Invalid", "Invalid", "Invalid", "Message", "Invalid", "Closed"
        ]
    );
    assert!(client.is_closed());
}

#[test]
fn chat_queued_before_login_goes_out_after_the_join() {
    let mut rx = [0u8; 64];
    let mut client = Client::new(ClientConfig::new(1), &mut rx, Instant::from_millis(0));
    client.queue_chat("early").unwrap();
    assert!(
        client.poll_transmit(&mut [0u8; 8]).is_err(),
        "small buffer is an error"
    );
    let mut tx = [0u8; 256];
    let mut sent = Vec::new();
    let mut drain = |client: &mut Client<'_>, sent: &mut Vec<String>| {
        while let Some(n) = client.poll_transmit(&mut tx).unwrap() {
            sent.push(String::from_utf8_lossy(&tx[12..n - 1]).into_owned());
        }
    };
    drain(&mut client, &mut sent);
    assert_eq!(
        sent,
        ["type@=loginreq/roomid@=1/"],
        "no chat before the login"
    );
    let res = b"\x22\0\0\0\x22\0\0\0\xb2\x02\0\0type@=loginres/userid@=1/\0";
    assert_eq!(client.handle_input(Instant::from_millis(1), res), res.len());
    while client.poll_event().is_some() {}
    client.queue_chat("later").unwrap();
    drain(&mut client, &mut sent);
    assert_eq!(
        sent[1..],
        [
            "type@=joingroup/rid@=1/gid@=-9999/",
            "type@=chatmsg/txt@=early/",
            "type@=chatmsg/txt@=later/"
        ]
    );
    client.close();
    assert_eq!(
        client.queue_chat("x"),
        Err(douyu_core::session::SessionError::NotReady)
    );
}

#[test]
fn the_chat_queue_is_bounded_and_refuses_nul() {
    use douyu_core::session::{CHAT_QUEUE, SessionError};
    use douyu_core::stt::SttError;
    let mut rx = [0u8; 64];
    let mut client = Client::new(ClientConfig::new(1), &mut rx, Instant::from_millis(0));
    assert_eq!(
        client.queue_chat("a\0b"),
        Err(SessionError::Stt(SttError::NulByte { offset: 1 }))
    );
    let line = "x".repeat(CHAT_QUEUE / 2 - 1);
    client.queue_chat(&line).unwrap();
    client.queue_chat(&line).unwrap();
    assert_eq!(
        client.queue_chat(""),
        Err(SessionError::BufferFull {
            needed: CHAT_QUEUE + 1,
            capacity: CHAT_QUEUE
        })
    );
    let mut config = ClientConfig::new(1);
    assert_eq!(
        config.set_username(&"鱼".repeat(17)),
        Err(SessionError::BufferFull {
            needed: 51,
            capacity: 48
        })
    );
    assert_eq!(config.username(), None);
}

/// Runs a whole scripted exchange with the given piece size, returning the log.
fn scripted(chunk: usize) -> (Vec<String>, Vec<(u64, String)>) {
    let (mut a, mut b) = ([0u8; 256], [0u8; 256]);
    let mut rooms = Rooms::default();
    let mut config = ClientConfig::new(42);
    config.set_username("n@m/e").unwrap();
    let mut link = Link::new(config, &mut a, &mut b, chunk);
    link.run_until(100_000, &mut rooms);
    chat_line(&mut link, "第一 / one @S");
    chat_line(&mut link, "second");
    link.pump(Instant::from_millis(100_000), &mut rooms);
    link.client.close();
    link.pump(Instant::from_millis(100_001), &mut rooms);
    (link.log, link.sent)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// How bytes are cut between the two sides changes nothing.
    #[test]
    fn chunking_between_sessions_changes_nothing(chunk in 1usize..300) {
        prop_assert_eq!(scripted(chunk), scripted(4096));
    }
}

#[test]
fn scripted_exchange_is_complete() {
    let (log, _) = scripted(4096);
    assert!(
        log.contains(&"chat n@m/e: 第一 / one @S".to_string()),
        "{log:?}"
    );
    assert_eq!(log.last().unwrap(), "server: Closed(Logout)");
}

#[test]
fn bad_fields_end_the_session() {
    use douyu_core::frame::{Direction, Frame};
    use douyu_core::session::SessionError;
    let mut rooms = Rooms::default();
    let at = Instant::from_millis(0);
    let login = Frame::new(Direction::ClientToServer, "type@=loginreq/roomid@=5/");
    for (body, field) in [
        ("type@=joingroup/rid@=6/", "rid"),
        ("type@=chatmsg/", "txt"),
    ] {
        let mut server = ServerSession::new(ServerConfig::default(), at);
        server.handle_frame(at, login, &mut rooms).unwrap();
        let frame = Frame::new(Direction::ClientToServer, body);
        assert_eq!(
            server.handle_frame(at, frame, &mut rooms),
            Err(SessionError::BadField { field })
        );
        // The loginres queued before the bad frame still goes out.
        assert!(!server.is_closed());
        let n = server.poll_transmit(&mut [0u8; 512]).unwrap();
        assert!(n.is_some());
        assert_eq!(server.poll_transmit(&mut [0u8; 512]), Ok(None));
        assert!(server.is_closed());
    }
    assert!(rooms.names[&5].is_empty(), "both names released");
}

/// A server session fed whole client bodies, one call each.
struct Served {
    server: ServerSession,
    rooms: Rooms,
}

impl Served {
    fn new(config: ServerConfig) -> Self {
        Self {
            server: ServerSession::new(config, Instant::from_millis(0)),
            rooms: Rooms::default(),
        }
    }

    fn send(
        &mut self,
        at: u64,
        body: &str,
    ) -> Result<Option<String>, douyu_core::session::SessionError> {
        use douyu_core::frame::{Direction, Frame};
        let frame = Frame::new(Direction::ClientToServer, body);
        let relay = self
            .server
            .handle_frame(Instant::from_millis(at), frame, &mut self.rooms)?;
        Ok(relay.map(|r| r.text.to_string()))
    }

    /// The bodies of every reply queued.
    fn replies(&mut self) -> Vec<String> {
        let mut out = [0u8; douyu_core::session::REPLY_MAX];
        let mut bodies = Vec::new();
        while let Some(n) = self.server.poll_transmit(&mut out).unwrap() {
            bodies.push(String::from_utf8_lossy(&out[12..n - 1]).into_owned());
        }
        bodies
    }

    fn events(&mut self) -> Vec<ServerEvent> {
        std::iter::from_fn(|| self.server.poll_event()).collect()
    }
}

#[test]
fn a_login_and_a_logout_in_one_read_still_get_the_loginres() {
    let mut s = Served::new(ServerConfig::default());
    s.send(0, "type@=loginreq/roomid@=3/username@=甲/").unwrap();
    s.send(0, "type@=logout/").unwrap();
    assert!(!s.server.is_closed(), "the loginres is still queued");
    let replies = s.replies();
    assert_eq!(replies.len(), 1);
    assert!(replies[0].starts_with("type@=loginres/userid@=1/"));
    assert!(s.server.is_closed());
    assert_eq!(
        s.events(),
        [ServerEvent::Closed(CloseReason::Logout)],
        "not joined: no departure"
    );
    assert!(s.rooms.names[&3].is_empty());
}

#[test]
fn a_disconnect_is_the_peers_doing_and_drops_what_is_queued() {
    let mut s = Served::new(ServerConfig::default());
    s.send(0, "type@=loginreq/roomid@=3/").unwrap();
    s.server.handle_disconnect(&mut s.rooms);
    assert!(s.server.is_closed());
    assert!(s.replies().is_empty());
    assert_eq!(s.events(), [ServerEvent::Closed(CloseReason::Disconnected)]);
}

#[test]
fn deceptive_nicknames_are_refused_without_using_up_a_uid() {
    for name in [
        " padded",
        "padded ",
        "   ",
        "tab\there",
        "bell\u{7}",
        "esc\u{1b}[31m",
        "del\u{7f}",
        "c1\u{85}",
        "rlo\u{202e}txt",
        "isolate\u{2066}",
        "zero\u{200b}width",
        "bom\u{feff}",
        "line\nbreak",
        "alice\u{180e}",
        "alice\u{fe0f}",
        "alice\u{e007f}",
        "visitor4\u{34f}",
        "visitor4\u{ad}",
        "\u{3164}",
        "\u{115f}\u{1160}",
        "\u{2800}",
        "a\u{2028}b",
        "\u{17b4}x",
    ] {
        let mut s = Served::new(ServerConfig::default());
        // None of these holds `@` or `/`: no escaping needed.
        s.send(0, &format!("type@=loginreq/roomid@=1/username@={name}/"))
            .unwrap();
        assert_eq!(
            s.replies(),
            [format!("type@=error/code@={}/", error_code::BAD_NICKNAME)],
            "{name:?}"
        );
        assert_eq!(s.rooms.uid, 0, "{name:?} used up a uid");
        assert!(s.server.is_closed());
    }
    for name in ["鱼丸", "a b", "🐟", "visitor", "visitorX1"] {
        let mut s = Served::new(ServerConfig::default());
        s.send(0, &format!("type@=loginreq/roomid@=1/username@={name}/"))
            .unwrap();
        assert_eq!(s.server.nickname(), name, "{name:?} refused");
    }
}

#[test]
fn a_visitors_name_asked_for_is_not_granted() {
    let mut rooms = Rooms::default();
    // Clients asking for the names the next visitors would get...
    for n in 1..=150 {
        let mut server = ServerSession::new(ServerConfig::default(), Instant::from_millis(0));
        let login = format!("type@=loginreq/roomid@=1/username@=Visitor{}/", n + 150);
        let frame =
            douyu_core::frame::Frame::new(douyu_core::frame::Direction::ClientToServer, &login);
        server
            .handle_frame(Instant::from_millis(0), frame, &mut rooms)
            .unwrap();
        // ...are visitors themselves, named by their own uid.
        assert_eq!(server.nickname(), format!("visitor{n}"));
    }
    // So the next 150 visitors are all let in.
    for n in 151..=300 {
        let mut server = ServerSession::new(ServerConfig::default(), Instant::from_millis(0));
        let frame = douyu_core::frame::Frame::new(
            douyu_core::frame::Direction::ClientToServer,
            "type@=loginreq/roomid@=1/",
        );
        server
            .handle_frame(Instant::from_millis(0), frame, &mut rooms)
            .unwrap();
        assert_eq!(server.nickname(), format!("visitor{n}"));
        assert!(!server.is_closed());
    }
}

#[test]
fn chat_past_the_limit_is_dropped_and_a_flood_ends_the_session() {
    let mut config = ServerConfig::default();
    config.chat_limit = Some(douyu_core::session::ChatLimit::per_second(10, 5));
    let mut s = Served::new(config);
    s.send(0, "type@=loginreq/roomid@=1/").unwrap();
    s.replies();
    // The burst goes through, the next line is dropped, the session lives.
    for i in 0..5 {
        assert_eq!(
            s.send(1000, &format!("type@=chatmsg/txt@={i}/")),
            Ok(Some(i.to_string()))
        );
    }
    assert_eq!(s.send(1000, "type@=chatmsg/txt@=x/"), Ok(None));
    assert!(!s.server.is_closed());
    // Once the debt is paid, lines at the rate all go through.
    for i in 0..50 {
        let at = 3000 + i * 100;
        assert!(
            s.send(at, "type@=chatmsg/txt@=ok/").unwrap().is_some(),
            "line {i}"
        );
    }
    // A flood: after the patience of 11 dropped lines the session ends.
    let mut relayed = 0;
    for _ in 0..100 {
        match s.send(9000, "type@=chatmsg/txt@=spam/") {
            Ok(relay) => relayed += usize::from(relay.is_some()),
            Err(_) => break,
        }
        if s.server.room().is_none() {
            break;
        }
    }
    assert_eq!(relayed, 5, "only the burst of the flood is relayed");
    assert_eq!(
        s.replies(),
        [format!("type@=error/code@={}/", error_code::FLOODING)]
    );
    assert!(s.server.is_closed());
}

#[test]
fn a_chat_line_longer_than_the_limit_is_dropped() {
    let mut config = ServerConfig::default();
    config.max_chat_len = 8;
    let mut s = Served::new(config);
    s.send(0, "type@=loginreq/roomid@=1/").unwrap();
    assert_eq!(
        s.send(0, "type@=chatmsg/txt@=12345678/"),
        Ok(Some("12345678".into()))
    );
    // Measured as escaped on the wire: `@S` is two bytes.
    assert_eq!(s.send(0, "type@=chatmsg/txt@=1234567@S/"), Ok(None));
    assert_eq!(s.send(0, "type@=chatmsg/txt@=123456789/"), Ok(None));
    assert!(
        !s.server.is_closed(),
        "a long line is dropped, not punished"
    );
}

#[test]
fn a_client_that_does_not_log_in_in_time_is_refused() {
    let mut config = ServerConfig::default();
    config.login_timeout = std::time::Duration::from_secs(5);
    let mut s = Served::new(config);
    // Heartbeats do not buy time.
    for at in (0..5000).step_by(1000) {
        s.send(at, "type@=mrkl/").unwrap();
    }
    assert_eq!(s.server.poll_timeout(), Some(Instant::from_millis(5000)));
    s.server
        .handle_timeout(Instant::from_millis(4999), &mut s.rooms);
    assert!(!s.server.is_closed());
    s.server
        .handle_timeout(Instant::from_millis(5000), &mut s.rooms);
    let replies = s.replies();
    assert_eq!(
        replies.last().unwrap(),
        &format!("type@=error/code@={}/", error_code::LOGIN_TIMEOUT)
    );
    assert!(s.server.is_closed());
    // Logged in, only silence counts.
    let mut s = Served::new(ServerConfig::default());
    s.send(4000, "type@=loginreq/roomid@=1/").unwrap();
    assert_eq!(s.server.poll_timeout(), Some(Instant::from_millis(94_000)));
}

#[test]
fn arrivals_departures_and_who_is_online() {
    use douyu_core::session::Member;
    let mut s = Served::new(ServerConfig::default());
    assert_eq!(
        s.send(0, "type@=whoreq/"),
        Err(douyu_core::session::SessionError::OutOfOrder { message: "whoreq" })
    );
    let mut s = Served::new(ServerConfig::default());
    s.send(0, "type@=loginreq/roomid@=7/username@=a@Sb/")
        .unwrap();
    s.send(0, "type@=joingroup/rid@=7/").unwrap();
    s.send(0, "type@=whoreq/").unwrap();
    assert_eq!(
        s.events(),
        [
            ServerEvent::Joined { room: 7 },
            ServerEvent::WhoRequested { room: 7 }
        ]
    );
    let mut out = [0u8; 512];
    let n = s.server.encode_enter(&mut out).unwrap();
    let ServerMessage::Enter(enter) =
        ServerMessage::parse(std::str::from_utf8(&out[12..n - 1]).unwrap()).unwrap()
    else {
        panic!("not a uenter")
    };
    assert!(enter.nn.unwrap() == "a/b" && enter.uid.unwrap() == "1" && enter.rid.unwrap() == "7");
    let members: Vec<Member<'_>> = (1..=40)
        .map(|uid| Member {
            uid,
            nickname: "鱼/丸@",
        })
        .collect();
    for (size, all) in [(4096, true), (512, false)] {
        let mut out = vec![0u8; size];
        let (n, listed) = s
            .server
            .encode_who(members.len(), &members, &mut out)
            .unwrap();
        let body = std::str::from_utf8(&out[12..n - 1]).unwrap();
        let ServerMessage::Who(who) = ServerMessage::parse(body).unwrap() else {
            panic!("not a whores")
        };
        assert_eq!(who.total.unwrap().parse::<u64>(), Some(40));
        let names: Vec<String> = who
            .entries()
            .items()
            .map(|e| e.unwrap().as_map().get("nn").unwrap().unwrap().to_string())
            .collect();
        assert_eq!(names.len(), listed);
        assert_eq!(listed == 40, all, "{size}: {listed}");
        assert!(listed > 0 && names.iter().all(|n| n == "鱼/丸@"));
    }
    s.send(0, "type@=logout/").unwrap();
    assert_eq!(
        s.events(),
        [
            ServerEvent::Left { room: 7 },
            ServerEvent::Closed(CloseReason::Logout)
        ]
    );
    let n = s.server.encode_leave(&mut out).unwrap();
    let body = std::str::from_utf8(&out[12..n - 1]).unwrap();
    assert!(
        matches!(ServerMessage::parse(body), Ok(ServerMessage::Leave(l)) if l.nn.unwrap() == "a/b")
    );
}

#[test]
fn a_full_server_refuses_a_new_room_with_its_code() {
    struct Full;
    impl Registry for Full {
        fn join(&mut self, _: u64, _: Option<&str>) -> Result<u64, Refusal> {
            Err(Refusal::RoomsFull)
        }
        fn leave(&mut self, _: u64, _: &str) {
            panic!("never joined");
        }
    }
    let mut server = ServerSession::new(ServerConfig::default(), Instant::from_millis(0));
    let frame = douyu_core::frame::Frame::new(
        douyu_core::frame::Direction::ClientToServer,
        "type@=loginreq/roomid@=1/",
    );
    server
        .handle_frame(Instant::from_millis(0), frame, &mut Full)
        .unwrap();
    let mut out = [0u8; 64];
    let n = server.poll_transmit(&mut out).unwrap().unwrap();
    assert!(
        out[..n].ends_with(format!("type@=error/code@={}/\0", error_code::ROOMS_FULL).as_bytes())
    );
    assert!(server.uid() == 0 && server.nickname().is_empty());
}

#[test]
fn the_client_asks_who_is_online_once_logged_in() {
    let mut rx = [0u8; 256];
    let mut client = Client::new(ClientConfig::new(1), &mut rx, Instant::from_millis(0));
    assert!(client.request_who().is_err(), "not before login");
    let mut tx = [0u8; 256];
    client.poll_transmit(&mut tx).unwrap();
    let res = douyu_core::frame::Frame::new(
        douyu_core::frame::Direction::ServerToClient,
        "type@=loginres/userid@=1/",
    );
    let mut bytes = vec![0u8; res.encoded_len()];
    res.encode(&mut bytes).unwrap();
    assert_eq!(
        client.handle_input(Instant::from_millis(1), &bytes),
        bytes.len()
    );
    while client.poll_event().is_some() {}
    client.request_who().unwrap();
    let mut sent = Vec::new();
    while let Some(n) = client.poll_transmit(&mut tx).unwrap() {
        sent.push(String::from_utf8_lossy(&tx[12..n - 1]).into_owned());
    }
    assert_eq!(
        sent,
        ["type@=joingroup/rid@=1/gid@=-9999/", "type@=whoreq/"]
    );
}

#[test]
fn a_username_no_frame_can_carry_is_refused_when_set() {
    use douyu_core::session::SessionError;
    use douyu_core::stt::SttError;
    let mut config = ClientConfig::new(1);
    assert_eq!(
        config.set_username("鱼\0丸"),
        Err(SessionError::Stt(SttError::NulByte { offset: 3 }))
    );
    assert_eq!(config.username(), None, "unchanged");
    config.set_username("鱼丸").unwrap();
    let mut rx = [0u8; 64];
    let mut client = Client::new(config, &mut rx, Instant::from_millis(0));
    assert!(
        client.poll_transmit(&mut [0u8; 256]).unwrap().is_some(),
        "the login goes out"
    );
}
