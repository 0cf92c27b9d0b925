//! `douyu serve` keeps its connection slots: a per-address cap, a total cap
//! that fits under the open files limit, and refusals that are a prompt
//! close (never a hang) and a few log lines (never a flood). On 127.0.0.1,
//! each test bounded to a few seconds.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use douyu_core::frame::{Direction, Frame, Status};
use douyu_tests::{Proc, encoded, served_addr};

const DOUYU: &str = env!("CARGO_BIN_EXE_douyu-cli");
/// Generous bound for anything the server should do "at once" on a busy
/// 2-core machine; a hang is anything longer.
const PROMPT: Duration = Duration::from_secs(5);

/// A raw client connection and the bytes it has read but not yet decoded.
struct Client {
    stream: TcpStream,
    pending: Vec<u8>,
}

fn frame(body: &str) -> Vec<u8> {
    encoded(Direction::ClientToServer, body)
}

impl Client {
    /// Connects and sends a login for `room`. A refused connection may fail
    /// the write (the server's reset can arrive first): that is fine, the
    /// next read reports the close.
    fn connect(addr: &str, room: u64) -> Self {
        let mut stream = TcpStream::connect(addr).unwrap();
        let _ = stream.write_all(&frame(&format!("type@=loginreq/roomid@={room}/")));
        Self {
            stream,
            pending: Vec::new(),
        }
    }

    fn send(&mut self, body: &str) {
        self.stream.write_all(&frame(body)).unwrap();
    }

    /// The next frame's body, or `None` once the server closed the
    /// connection. Panics if nothing comes within [`PROMPT`]: a hang.
    fn next_body(&mut self) -> Option<String> {
        let deadline = Instant::now() + PROMPT;
        let mut buf = [0u8; 4096];
        loop {
            if let Status::Complete((frame, used)) = Frame::decode(&self.pending).unwrap() {
                assert_eq!(frame.direction, Direction::ServerToClient);
                let body = frame.body.to_string();
                self.pending.drain(..used);
                return Some(body);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "neither served nor closed: a hang");
            self.stream.set_read_timeout(Some(left)).unwrap();
            match self.stream.read(&mut buf) {
                Ok(0) => return None,
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
                    ) =>
                {
                    return None;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => panic!("neither served nor closed within {PROMPT:?}: {e}"),
            }
        }
    }

    /// Waits for a frame of `type@=<kind>/`; `false` if the server closed
    /// the connection first.
    fn until(&mut self, kind: &str) -> bool {
        let want = format!("type@={kind}/");
        while let Some(body) = self.next_body() {
            if body.starts_with(&want) {
                return true;
            }
        }
        false
    }

    /// A heartbeat is answered.
    fn heartbeat(&mut self) {
        self.send("type@=mrkl/");
        assert!(self.until("mrkl"), "closed instead of answering mrkl");
    }
}

fn count(lines: &[String], what: &str) -> usize {
    lines.iter().filter(|l| l.contains(what)).count()
}

#[test]
fn a_fifth_connection_from_one_address_is_closed_at_once() {
    let server = Proc::spawn(
        DOUYU,
        &["serve", "--tcp", "127.0.0.1:0", "--max-per-ip", "4"],
    );
    let addr = served_addr(&server, "TCP");
    let mut first: Vec<Client> = (0..4)
        .map(|_| {
            let mut c = Client::connect(&addr, 1);
            assert!(c.until("loginres"), "one of the first four was refused");
            c
        })
        .collect();
    let started = Instant::now();
    let mut fifth = Client::connect(&addr, 1);
    assert!(!fifth.until("loginres"), "the fifth was served");
    assert!(started.elapsed() < PROMPT, "{:?}", started.elapsed());
    server.wait_stderr(PROMPT, |l| {
        l.contains("too many connections from one address")
    });
    // The four are still served.
    for c in &mut first {
        c.heartbeat();
    }
    // A slot comes back when its connection closes (once the server has
    // seen the close: retried until then, within a bound).
    drop(first.pop());
    let deadline = Instant::now() + PROMPT;
    loop {
        if Client::connect(&addr, 1).until("loginres") {
            break;
        }
        assert!(Instant::now() < deadline, "the freed slot never came back");
        std::thread::sleep(Duration::from_millis(50));
    }
    for c in &mut first {
        c.heartbeat();
    }
}

#[test]
fn more_clients_than_descriptors_are_refused_promptly_and_quietly() {
    // The server cannot raise a hard limit of 64 open files.
    let server = Proc::spawn(
        "prlimit",
        &["--nofile=64", DOUYU, "serve", "--tcp", "127.0.0.1:0"],
    );
    let addr = served_addr(&server, "TCP");
    let clamp = server.wait_stderr(PROMPT, |l| {
        l.contains("--max-connections lowered to fit the open files limit")
    });
    let allowed: usize = clamp
        .split("allowed=")
        .nth(1)
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no allowed= in {clamp:?}"));
    assert!(allowed > 0 && allowed < 64, "{clamp}");

    // Twice as many clients as the process has descriptors, all at once.
    let started = Instant::now();
    let mut clients: Vec<Client> = (0..128).map(|_| Client::connect(&addr, 2)).collect();
    let mut served = Vec::new();
    let mut refused = 0;
    for mut c in clients.drain(..) {
        if c.until("loginres") {
            served.push(c);
        } else {
            refused += 1;
        }
    }
    let took = started.elapsed();
    assert_eq!(served.len(), allowed, "refused {refused}");
    assert_eq!(refused, 128 - allowed);

    // Every one of them was answered, one way or the other, without a
    // client waiting out a timeout.
    assert!(took < 2 * PROMPT, "{took:?}");
    // The clients it took are served as before.
    for c in &mut served {
        c.heartbeat();
    }
    let log = server.stderr();
    let refusals = count(&log, "turned away");
    assert!(refusals >= 1, "no refusal logged");
    assert!(
        refusals <= 20 && count(&log, "accept failed") <= 20,
        "refusals not rate-limited:\n{}",
        log.join("\n")
    );
    // And a new client, once one leaves, gets in.
    drop(served.pop());
    let deadline = Instant::now() + PROMPT;
    loop {
        if Client::connect(&addr, 2).until("loginres") {
            break;
        }
        assert!(Instant::now() < deadline, "the freed slot never came back");
        std::thread::sleep(Duration::from_millis(50));
    }
}
