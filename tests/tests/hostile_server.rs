//! The `douyu` binary against a hostile or careless other side, on
//! 127.0.0.1: servers written here that send garbage or hang up after the
//! login, readers that close their pipes, text built to drive a terminal,
//! and operator input the program cannot honour. Every test is bounded in
//! time and waits for conditions rather than sleeping for them.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use douyu_core::frame::Direction;
use douyu_tests::{Proc, encoded, served_addr};

const DOUYU: &str = env!("CARGO_BIN_EXE_douyu-cli");
const LIMIT: Duration = Duration::from_secs(10);

fn server_frame(body: &str) -> Vec<u8> {
    encoded(Direction::ServerToClient, body)
}

/// A well-framed server frame whose body is not UTF-8: the client skips it
/// and reads on, which is what made each one a log line.
fn garbage_frame() -> Vec<u8> {
    let body = b"type@=\xff\xfe/";
    let length = u32::try_from(8 + body.len() + 1).unwrap().to_le_bytes();
    let mut out = Vec::new();
    out.extend_from_slice(&length);
    out.extend_from_slice(&length);
    out.extend_from_slice(&690u16.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(body);
    out.push(0);
    out
}

/// Reads from `stream` until `needle` has arrived (or the stream ends).
fn read_until(stream: &mut TcpStream, needle: &[u8]) -> bool {
    stream.set_read_timeout(Some(LIMIT)).unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !seen.windows(needle.len()).any(|w| w == needle) {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
    true
}

/// A server on an ephemeral port that runs `serve` on every connection in a
/// thread of its own; the instants at which connections came.
struct TestServer {
    url: String,
    accepted: Arc<Mutex<Vec<Instant>>>,
}

impl TestServer {
    fn start(serve: impl Fn(TcpStream) + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("tcp://{}", listener.local_addr().unwrap());
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let times = accepted.clone();
        let serve = Arc::new(serve);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                times.lock().unwrap().push(Instant::now());
                let serve = serve.clone();
                thread::spawn(move || serve(stream));
            }
        });
        Self { url, accepted }
    }

    fn accepted(&self) -> Vec<Instant> {
        self.accepted.lock().unwrap().clone()
    }
}

/// Waits up to `limit` for `done`, checking every 20 ms.
fn wait_for(limit: Duration, what: &str, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_server_sending_only_garbage_gets_few_log_lines_and_is_left() {
    let closed_by_watcher = Arc::new(AtomicUsize::new(0));
    let closed = closed_by_watcher.clone();
    let server = TestServer::start(move |mut stream| {
        let burst: Vec<u8> = (0..1000).flat_map(|_| garbage_frame()).collect();
        let start = Instant::now();
        // As fast as the socket takes it, until the watcher hangs up.
        while start.elapsed() < LIMIT {
            if stream.write_all(&burst).is_err() {
                closed.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
    });
    let watcher = Proc::spawn(DOUYU, &["watch", "5", "--server", &server.url]);
    watcher.wait_stderr(LIMIT, |l| l.contains("unreadable input skipped"));
    let start = Instant::now();
    wait_for(LIMIT, "the watcher to leave the server", || {
        closed_by_watcher.load(Ordering::Relaxed) > 0
    });
    // The measurement window: however long the attack goes on, stderr stays
    // small (it was 920 MB in 12 s, a line per frame).
    thread::sleep(Duration::from_secs(3).saturating_sub(start.elapsed()));
    let stderr = watcher.stderr();
    let bytes: usize = stderr.iter().map(|l| l.len() + 1).sum();
    assert!(
        bytes < 64 * 1024,
        "{bytes} bytes of stderr in 3 s; the first lines:\n{}",
        stderr[..stderr.len().min(20)].join("\n")
    );
    assert!(
        stderr
            .iter()
            .any(|l| l.contains("unreadable frames in a row")),
        "{stderr:#?}"
    );
    // Left, then reconnected after a backoff: not a connection per frame.
    assert!(server.accepted().len() <= 4, "{:?}", server.accepted());
}

#[test]
fn a_server_that_hangs_up_after_the_login_gets_growing_delays() {
    let server = TestServer::start(|mut stream| {
        if read_until(&mut stream, b"type@=loginreq/") {
            let _ = stream.write_all(&server_frame("type@=loginres/userid@=1/"));
        }
        // Dropped: the connection closes right after the login.
    });
    let watcher = Proc::spawn(
        DOUYU,
        &["watch", "5", "--server", &server.url, "--backoff", "0.2"],
    );
    // Delays (before jitter, which takes off up to half): 0.2, 0.4, 0.8, 1.6 s.
    wait_for(LIMIT, "five connections", || server.accepted().len() >= 5);
    watcher.wait_stderr(LIMIT, |l| l.contains("joined"));
    let times = server.accepted();
    let gaps: Vec<f64> = times
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs_f64())
        .collect();
    // A sleep is never shorter than asked, so these bounds hold on any
    // machine; with the backoff starting over at each join, every gap was
    // under 0.2 s plus the connection's own time.
    for (i, gap) in gaps.iter().take(4).enumerate() {
        let least = 0.1 * f64::from(1 << i);
        assert!(*gap >= least, "gap {i} of {gaps:?} is under {least} s");
    }
}

/// A server that logs the client in, then sends `bodies`, then a chatmsg
/// every 20 ms until the client hangs up.
fn chatty_server(bodies: &'static [&'static str]) -> TestServer {
    TestServer::start(move |mut stream| {
        if !read_until(&mut stream, b"type@=loginreq/") {
            return;
        }
        let _ = stream.write_all(&server_frame("type@=loginres/userid@=1/"));
        for body in bodies {
            let _ = stream.write_all(&server_frame(body));
        }
        let start = Instant::now();
        while start.elapsed() < LIMIT * 2 {
            let chat = server_frame("type@=chatmsg/nn@=tick/txt@=tock/");
            if stream.write_all(&chat).is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
    })
}

/// Collects the lines of `pipe` as they come.
fn lines_of(pipe: impl Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            sink.lock().unwrap().push(line);
        }
    });
    lines
}

/// Waits up to `limit` for `child` to exit; its status code.
fn exit_code(child: &mut std::process::Child, limit: Duration) -> Option<i32> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("did not exit within {limit:?}");
        }
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_closed_stdout_ends_watch_at_once_quietly_and_successfully() {
    let server = chatty_server(&[]);
    let mut child = Command::new(DOUYU)
        .args(["watch", "5", "--server", &server.url])
        .env("RUST_LOG", "debug")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = lines_of(child.stderr.take().unwrap());
    {
        // `douyu watch … | head -1`
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        assert!(first.contains("tock"), "{first:?}");
    }
    let code = exit_code(&mut child, LIMIT);
    thread::sleep(Duration::from_millis(100));
    let stderr = stderr.lock().unwrap().clone();
    assert_eq!(code, Some(0), "{stderr:#?}");
    assert!(
        !stderr.iter().any(|l| {
            let l = l.to_lowercase();
            l.contains("pipe") || l.contains("stdout") || l.contains("panic")
        }),
        "{stderr:#?}"
    );
    assert!(server.accepted().len() == 1, "it reconnected instead");
}

#[test]
fn a_closed_stderr_neither_panics_nor_stops_watch() {
    let server = chatty_server(&[]);
    let mut child = Command::new(DOUYU)
        .args(["watch", "5", "--server", &server.url])
        .env("RUST_LOG", "debug")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Closed before the first log line: every one of them fails to write.
    drop(child.stderr.take());
    let stdout = lines_of(child.stdout.take().unwrap());
    wait_for(LIMIT, "chat lines after the logs failed", || {
        stdout.lock().unwrap().len() >= 3
    });
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(exit_code(&mut child, LIMIT), Some(0));
}

#[test]
fn text_from_the_network_cannot_drive_the_terminal() {
    // STT escapes only `/` and `@`: the controls travel raw.
    static BODIES: &[&str] = &[
        // The text holds every control too: a long nickname is cut to its
        // column, so its tail is not shown.
        "type@=chatmsg/nn@=evil\x1b]0;pwned\x07\r\nname\u{202e}/txt@=MARK\x1b[2J\x07\r\nfake line\u{202e}\u{2066}txet/",
        "type@=chatmsg/nn@=end/txt@=END/",
    ];
    let server = chatty_server(BODIES);
    let watcher = Proc::spawn(
        DOUYU,
        &["watch", "5", "--server", &server.url, "--only", "chatmsg"],
    );
    watcher.wait_stdout(LIMIT, |l| l.contains("END"));
    let lines = watcher.stdout();
    let end = lines.iter().position(|l| l.contains("END")).unwrap();
    // One message, one line: the first line holds it all.
    assert_eq!(end, 1, "{lines:#?}");
    let line = &lines[0];
    assert!(
        line.contains("MARK") && line.contains("fake line"),
        "{line:?}"
    );
    for raw in ['\x1b', '\x07', '\r', '\n', '\u{202e}', '\u{2066}'] {
        assert!(!line.contains(raw), "{raw:?} in {line:?}");
    }
    for escaped in [r"\x1b", r"\x07", r"\x0d", r"\x0a", r"\u{202e}", r"\u{2066}"] {
        assert!(line.contains(escaped), "no {escaped} in {line:?}");
    }
}

#[test]
fn serve_refuses_rates_the_simulator_cannot_make() {
    for rate in ["NaN", "inf", "0", "-5", "1e12"] {
        let arg = format!("--simulate={rate}");
        let mut server = Proc::spawn(
            DOUYU,
            &["serve", "--tcp", "127.0.0.1:0", &arg, "--room", "1"],
        );
        assert_eq!(server.wait_exit(LIMIT), Some(2), "{rate}");
        let stderr = server.stderr().join("\n");
        assert!(stderr.contains("--simulate"), "{rate}: {stderr}");
        assert!(!stderr.contains("serving"), "{rate}: {stderr}");
    }
}

#[test]
fn watch_refuses_timings_it_cannot_keep() {
    for (flag, value) in [
        ("--heartbeat", "0"),
        ("--heartbeat", "1e15"),
        ("--heartbeat", "NaN"),
        ("--backoff", "0"),
        ("--backoff", "-1"),
    ] {
        let arg = format!("{flag}={value}");
        let mut watcher = Proc::spawn(
            DOUYU,
            &["watch", "5", "--server", "tcp://127.0.0.1:1", &arg],
        );
        assert_eq!(watcher.wait_exit(LIMIT), Some(2), "{arg}");
        let stderr = watcher.stderr().join("\n");
        assert!(stderr.contains(flag), "{arg}: {stderr}");
        assert!(!stderr.contains("connect"), "{arg}: {stderr}");
    }
}

/// Runs `douyu decode` with `args` on `input`: its exit code, stdout, stderr.
fn decode(args: &[&str], input: &[u8]) -> (Option<i32>, String, String) {
    let mut child = Command::new(DOUYU)
        .arg("decode")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = lines_of(child.stdout.take().unwrap());
    let stderr = lines_of(child.stderr.take().unwrap());
    // A refused argument may exit before reading: a failed write is fine.
    let _ = child.stdin.take().unwrap().write_all(input);
    let code = exit_code(&mut child, LIMIT);
    thread::sleep(Duration::from_millis(50));
    let join = |l: &Arc<Mutex<Vec<String>>>| l.lock().unwrap().join("\n");
    (code, join(&stdout), join(&stderr))
}

#[test]
fn decode_refuses_a_max_frame_it_cannot_allocate() {
    let (code, _, stderr) = decode(&["--max-frame", "18446744073709551615"], b"");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--max-frame"), "{stderr}");
    assert!(!stderr.contains("panic"), "{stderr}");
}

#[test]
fn a_capture_cut_off_inside_an_oversize_frame_is_truncated() {
    let mut capture = server_frame("type@=mrkl/");
    let good = capture.len();
    let mut big = server_frame(&"a".repeat(8000));
    big.truncate(100);
    capture.extend_from_slice(&big);
    let (code, stdout, stderr) = decode(&["--max-frame", "4096"], &capture);
    assert_eq!(code, Some(1), "{stderr}");
    let last = stdout.lines().last().unwrap();
    assert!(last.contains("\"incomplete\""), "{stdout}");
    assert!(last.contains(&format!("\"offset\":{good}")), "{stdout}");
    let (code, stdout, _) = decode(&["--max-frame", "4096", "--summary"], &capture);
    assert_eq!(code, Some(1));
    assert!(stdout.contains("\"incomplete\":1"), "{stdout}");
}

#[test]
fn sigterm_ends_a_saturated_serve_within_the_deadline() {
    let mut server = Proc::spawn(
        DOUYU,
        &[
            "serve",
            "--tcp",
            "127.0.0.1:0",
            "--simulate",
            "200000",
            "--room",
            "1",
        ],
    );
    let addr = served_addr(&server, "TCP");
    let mut client = TcpStream::connect(&addr).unwrap();
    for body in [
        "type@=loginreq/roomid@=1/",
        "type@=joingroup/rid@=1/gid@=-9999/",
    ] {
        client
            .write_all(&encoded(Direction::ClientToServer, body))
            .unwrap();
    }
    // The client reads on its own thread while the simulator runs flat out.
    let received = Arc::new(AtomicUsize::new(0));
    let count = received.clone();
    thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        while let Ok(n) = client.read(&mut buf) {
            if n == 0 {
                return;
            }
            count.fetch_add(n, Ordering::Relaxed);
        }
    });
    wait_for(LIMIT, "simulated traffic", || {
        received.load(Ordering::Relaxed) > 1 << 20
    });
    let signalled = Instant::now();
    server.signal("TERM");
    // The process's own deadline is 7 s after the signal; a few more for
    // a busy machine.
    server.wait_exit(Duration::from_secs(12));
    assert!(signalled.elapsed() < Duration::from_secs(12));
}
