//! `douyu serve` as a chat-room server under hostile and careless clients,
//! on 127.0.0.1: rooms come and go without leaking, a flood does not push
//! honest viewers out, visitors cannot be locked out, nothing queued is
//! lost, arrivals and departures are announced, and who is online can be
//! asked. Each test is bounded in time.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use douyu_core::frame::Direction;
use douyu_core::message::ServerMessage;
use douyu_core::session::error_code;
use douyu_core::stream::Decoder;
use douyu_tests::{Proc, encoded, proc_memory, served_addr};

const DOUYU: &str = env!("CARGO_BIN_EXE_douyu-cli");
const LIMIT: Duration = Duration::from_secs(15);

fn serve(extra: &[&str]) -> (Proc, String) {
    let mut args = vec!["serve", "--tcp", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let server = Proc::spawn(DOUYU, &args);
    let addr = served_addr(&server, "TCP");
    (server, addr)
}

fn frame(body: &str) -> Vec<u8> {
    encoded(Direction::ClientToServer, body)
}

/// A raw client: frames out, server bodies in.
struct Raw {
    stream: TcpStream,
    buf: Vec<u8>,
    pending: Vec<u8>,
}

impl Raw {
    fn connect(addr: &str) -> Self {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(LIMIT)).unwrap();
        Self {
            stream,
            buf: vec![0u8; 1 << 16],
            pending: Vec::new(),
        }
    }

    fn send(&mut self, bodies: &[&str]) {
        let bytes: Vec<u8> = bodies.iter().flat_map(|b| frame(b)).collect();
        self.stream.write_all(&bytes).unwrap();
    }

    /// Logs in to `room` (as `name`, or a visitor) and joins; the nickname
    /// granted.
    fn join(addr: &str, room: u64, name: Option<&str>) -> (Self, String) {
        let mut raw = Self::connect(addr);
        let login = match name {
            Some(name) => format!("type@=loginreq/roomid@={room}/username@={name}/"),
            None => format!("type@=loginreq/roomid@={room}/"),
        };
        raw.send(&[&login, &format!("type@=joingroup/rid@={room}/gid@=-9999/")]);
        let res = raw.next_body().expect("a reply to the login");
        let Ok(ServerMessage::LoginRes(res)) = ServerMessage::parse(&res) else {
            panic!("login refused: {res}")
        };
        let nickname = res.nickname.unwrap().to_string();
        (raw, nickname)
    }

    /// The next server body, or `None` at end of stream.
    fn next_body(&mut self) -> Option<String> {
        loop {
            let mut scratch = vec![0u8; 1 << 16];
            let mut decoder = Decoder::new(&mut scratch);
            let taken = decoder.feed(&self.pending);
            if let Some(frame) = decoder.next_frame().unwrap() {
                let body = frame.body.to_string();
                let used = frame.encoded_len();
                assert!(taken >= used);
                self.pending.drain(..used);
                return Some(body);
            }
            match self.stream.read(&mut self.buf) {
                Ok(0) => return None,
                Ok(n) => self.pending.extend_from_slice(&self.buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
                Err(e) => panic!("reading: {e}"),
            }
        }
    }

    /// Reads until a body of type `kind`; panics at end of stream.
    fn until(&mut self, kind: &str) -> String {
        let prefix = format!("type@={kind}/");
        loop {
            let body = self
                .next_body()
                .unwrap_or_else(|| panic!("closed before a {kind}"));
            if body.starts_with(&prefix) {
                return body;
            }
        }
    }
}

#[test]
fn rooms_joined_and_left_leave_no_memory_behind() {
    // Thousands of connections from one address in a second.
    let (server, addr) = serve(&["--connect-rate", "0"]);
    let pid = server.pid();
    // Clients join distinct rooms in parallel and leave; `rooms` each.
    let cycle = |first: u64, rooms: u64| {
        let threads: Vec<_> = (0..30)
            .map(|t| {
                let addr = addr.clone();
                std::thread::spawn(move || {
                    for i in 0..rooms {
                        let room = first + t * rooms + i;
                        let (mut raw, _) = Raw::join(&addr, room, None);
                        raw.send(&["type@=logout/"]);
                        while raw.next_body().is_some() {}
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    };
    // Warm the allocator and the runtime up first.
    cycle(1_000_000, 10);
    let before = proc_memory(pid, "VmRSS");
    let start = Instant::now();
    cycle(0, 100);
    let after = proc_memory(pid, "VmRSS");
    let growth = after.saturating_sub(before);
    eprintln!(
        "3,000 rooms joined and left in {:?}: RSS {} -> {} KiB (+{} KiB)",
        start.elapsed(),
        before / 1024,
        after / 1024,
        growth / 1024
    );
    assert!(growth < 20 << 20, "+{} KiB", growth / 1024);
}

#[test]
fn rooms_past_the_cap_are_refused_until_one_closes() {
    let (_server, addr) = serve(&["--max-rooms", "2"]);
    let (_a, _) = Raw::join(&addr, 1, None);
    let (mut b, _) = Raw::join(&addr, 2, None);
    // A third room is refused, a room already open is not.
    let mut c = Raw::connect(&addr);
    c.send(&["type@=loginreq/roomid@=3/"]);
    assert_eq!(
        c.next_body().unwrap(),
        format!("type@=error/code@={}/", error_code::ROOMS_FULL)
    );
    assert_eq!(c.next_body(), None, "closed after the error");
    let (_d, _) = Raw::join(&addr, 2, None);
    // Room 2 closes with its last member; then room 3 can open.
    b.send(&["type@=logout/"]);
    while b.next_body().is_some() {}
    drop(_d);
    let deadline = Instant::now() + LIMIT;
    loop {
        let mut c = Raw::connect(&addr);
        c.send(&["type@=loginreq/roomid@=3/"]);
        let reply = c.next_body().unwrap();
        if reply.starts_with("type@=loginres/") {
            break;
        }
        assert!(Instant::now() < deadline, "room 2 never closed: {reply}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_flood_does_not_push_honest_viewers_out() {
    let (server, addr) = serve(&["--simulate", "100", "--room", "5"]);
    let url = format!("tcp://{addr}");
    let watcher = Proc::spawn(DOUYU, &["watch", "5", "--server", &url, "--format", "json"]);
    watcher.wait_stderr(LIMIT, |l| l.contains("joined"));
    let before = watcher.stdout().len();
    // The flooder writes chat as fast as loopback takes it for 4 s,
    // reconnecting whenever it is cut off, and never reads.
    let flood = std::thread::spawn({
        let addr = addr.clone();
        move || {
            let (mut sent, mut sessions) = (0u64, 0u32);
            let line = frame("type@=chatmsg/txt@=FLOOD/");
            let burst: Vec<u8> = line.iter().copied().cycle().take(line.len() * 64).collect();
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(4) {
                let mut raw = Raw::connect(&addr);
                raw.send(&["type@=loginreq/roomid@=5/", "type@=joingroup/rid@=5/"]);
                // Turned away at the door: try again at once.
                if raw.next_body().is_none() {
                    continue;
                }
                sessions += 1;
                let mut stream = raw.stream;
                stream
                    .set_write_timeout(Some(Duration::from_millis(200)))
                    .unwrap();
                while start.elapsed() < Duration::from_secs(4) && stream.write_all(&burst).is_ok() {
                    sent += 64;
                }
            }
            (sent, sessions)
        }
    });
    let (sent, sessions) = flood.join().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let lines: Vec<serde_json::Value> = watcher.stdout()[before..]
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let flooded = lines.iter().filter(|v| v["txt"] == "FLOOD").count();
    // The simulator's chat and gifts (about 80 of its 100 a second).
    let others = lines
        .iter()
        .filter(|v| (v["type"] == "chatmsg" && v["txt"] != "FLOOD") || v["type"] == "dgb")
        .count();
    eprintln!(
        "flooder: {sent} lines in {sessions} sessions; watcher: {flooded} flood lines, {others} others"
    );
    // Reconnecting does not help it much: one address opens 256
    // connections at once and 20 a second after (`--connect-rate`), and
    // each session gets its burst of 5 and 10 lines a second after it.
    assert!(
        sessions <= 256 + 20 * 5,
        "{sessions} sessions in 4 s from one address"
    );
    assert!(
        flooded as u64 <= u64::from(sessions) * 5 + 4 * 10 + 5,
        "{flooded} flood lines from {sessions} sessions"
    );
    assert!(
        others >= 200,
        "the room's other traffic stalled: {others} in 4.5 s"
    );
    assert!(
        !watcher
            .stderr()
            .iter()
            .any(|l| l.contains("reconnecting") || l.contains("connection ended")),
        "the watcher was dropped: {:?}",
        watcher.stderr()
    );
    assert!(
        !server.stderr().iter().any(|l| l.contains("slow consumer")),
        "an honest viewer was dropped"
    );
    assert!(
        server
            .stderr()
            .iter()
            .any(|l| l.contains(&format!("refused with error {}", error_code::FLOODING))),
        "the flooder was never cut off"
    );
}

#[test]
fn names_the_next_visitors_would_get_do_not_lock_them_out() {
    let (_server, addr) = serve(&["--connect-rate", "0"]);
    // 150 clients ask for the names visitors 151 to 300 would be given...
    let holders: Vec<(Raw, String)> = (151..=300)
        .map(|n| Raw::join(&addr, 1, Some(&format!("visitor{n}"))))
        .collect();
    assert!(holders.iter().all(|(_, name)| {
        let n: u64 = name.strip_prefix("visitor").unwrap().parse().unwrap();
        n <= 150
    }));
    // ...and the next 150 visitors all get in.
    for n in 151..=300 {
        let (mut raw, name) = Raw::join(&addr, 1, None);
        assert_eq!(name, format!("visitor{n}"));
        raw.send(&["type@=logout/"]);
    }
    // A name that would deceive a reader is refused.
    let mut raw = Raw::connect(&addr);
    raw.send(&["type@=loginreq/roomid@=1/username@=admin\u{202e}nimda/"]);
    assert_eq!(
        raw.next_body().unwrap(),
        format!("type@=error/code@={}/", error_code::BAD_NICKNAME)
    );
}

#[test]
fn a_login_and_a_logout_in_one_write_get_the_loginres() {
    let (server, addr) = serve(&[]);
    let mut raw = Raw::connect(&addr);
    raw.send(&["type@=loginreq/roomid@=4/username@=匆匆/", "type@=logout/"]);
    assert!(raw.next_body().unwrap().starts_with("type@=loginres/"));
    assert_eq!(raw.next_body(), None);
    server.wait_stderr(LIMIT, |l| l.contains("匆匆") && l.contains("logged out"));
    // A peer that hangs up is not a close of ours.
    let (raw, _) = Raw::join(&addr, 4, Some("挂断"));
    drop(raw);
    let line = server.wait_stderr(LIMIT, |l| {
        l.contains("挂断") && l.contains("session closed")
    });
    assert!(line.contains("peer disconnected"), "{line}");
}

#[test]
fn arrivals_departures_and_who_is_online() {
    let (_server, addr) = serve(&[]);
    let (mut first, _) = Raw::join(&addr, 8, Some("甲"));
    assert!(
        first.until("uenter").contains("nn@=甲/"),
        "one's own arrival"
    );
    let (mut second, _) = Raw::join(&addr, 8, Some("乙@S@A"));
    let enter = first.until("uenter");
    let ServerMessage::Enter(enter) = ServerMessage::parse(&enter).unwrap() else {
        panic!()
    };
    assert!(enter.nn.unwrap() == "乙/@" && enter.uid.unwrap() == "2" && enter.rid.unwrap() == "8");
    let mut who = Proc::spawn(
        DOUYU,
        &[
            "who",
            "8",
            "--server",
            &format!("tcp://{addr}"),
            "--name",
            "问",
        ],
    );
    assert_eq!(who.wait_exit(LIMIT), Some(0), "{:?}", who.stderr());
    assert_eq!(who.stdout(), ["甲", "乙/@", "问"]);
    // The asker came and went.
    assert!(first.until("uenter").contains("nn@=问/"));
    assert!(first.until("uleave").contains("nn@=问/"));
    second.send(&["type@=logout/"]);
    assert!(first.until("uleave").contains("nn@=乙@S@A/"));
}

#[test]
fn a_crowd_of_malformed_clients_is_logged_in_a_few_lines() {
    let (server, addr) = serve(&["--connect-rate", "0"]);
    // What an operator sees: the info and warning lines.
    let loud = |server: &Proc| {
        server
            .stderr()
            .iter()
            .filter(|l| l.contains(" INFO ") || l.contains(" WARN "))
            .count()
    };
    let before = loud(&server);
    for _ in 0..400 {
        let mut stream = TcpStream::connect(&addr).unwrap();
        let _ = stream.write_all(b"\x05\0\0\0\x09\0\0\0garbage garbage");
    }
    // In the first second, at most 20 lines and a few counts...
    std::thread::sleep(Duration::from_millis(1100));
    let lines = loud(&server) - before;
    assert!(lines < 100, "{lines} lines for 400 bad clients");
    // ...and every bad client is accounted for: logged, or counted in a
    // line that says how many were held back (such a line is written when
    // the next line passes: a client that comes and goes makes one).
    let accounted = |server: &Proc| -> u64 {
        let stderr = server.stderr();
        let logged = stderr
            .iter()
            .filter(|l| l.contains("malformed frame"))
            .count() as u64;
        let held: u64 = stderr
            .iter()
            .filter(|l| l.contains("lines held back"))
            .filter_map(|l| {
                l.split("held=")
                    .nth(1)?
                    .split_whitespace()
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .sum();
        logged + held
    };
    let deadline = Instant::now() + LIMIT;
    while accounted(&server) < 400 {
        assert!(
            Instant::now() < deadline,
            "{} of 400 bad clients accounted for",
            accounted(&server)
        );
        drop(Raw::join(&addr, 1, None));
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn a_chat_line_past_max_chat_len_is_not_relayed() {
    let (_server, addr) = serve(&["--max-chat-len", "16"]);
    let (mut reader, _) = Raw::join(&addr, 6, Some("读"));
    let (mut writer, _) = Raw::join(&addr, 6, Some("写"));
    writer.send(&[
        "type@=chatmsg/txt@=this line is far too long/",
        "type@=chatmsg/txt@=short/",
    ]);
    let chat = reader.until("chatmsg");
    assert!(chat.contains("txt@=short/"), "{chat}");
}

#[test]
fn a_crowd_joining_at_once_is_announced_at_the_presence_rate() {
    let (_server, addr) = serve(&["--presence-rate", "10"]);
    let (mut first, _) = Raw::join(&addr, 9, Some("先"));
    let start = Instant::now();
    let crowd: Vec<(Raw, String)> = (0..60).map(|_| Raw::join(&addr, 9, None)).collect();
    let elapsed = start.elapsed().as_secs_f64();
    // Everyone is there...
    let mut who = Raw::connect(&addr);
    who.send(&["type@=loginreq/roomid@=9/", "type@=whoreq/"]);
    let list = who.until("whores");
    assert!(list.contains("total@=62/"), "{list}");
    // ...but the first member heard at most the burst and the rate's share
    // of the 62 arrivals (its own included): the rest were not broadcast.
    first.send(&["type@=logout/"]);
    let mut heard = 0;
    while let Some(body) = first.next_body() {
        heard += usize::from(body.starts_with("type@=uenter/"));
    }
    let allowed = 10 + (elapsed * 10.0).ceil() as usize + 1;
    assert!(heard >= 10, "{heard} arrivals heard");
    assert!(heard <= allowed, "{heard} arrivals heard in {elapsed:.2} s");
    drop(crowd);
}
