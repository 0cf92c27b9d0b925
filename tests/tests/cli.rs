//! The `douyu` binary on real sockets on 127.0.0.1 (ephemeral ports), each
//! test bounded in time.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use douyu_core::frame::Direction;
use douyu_core::stream::Decoder;
use douyu_tests::{Proc, encoded, read_vectors, served_addr, unhex};
use serde_json::Value;

const DOUYU: &str = env!("CARGO_BIN_EXE_douyu-cli");
const LIMIT: Duration = Duration::from_secs(15);

fn serve(extra: &[&str]) -> Proc {
    let mut args = vec!["serve", "--tcp", "127.0.0.1:0", "--ws", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    Proc::spawn(DOUYU, &args)
}

/// The message lines a process printed (not its connection events).
fn json_lines(p: &Proc) -> Vec<Value> {
    p.stdout()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("event").is_none())
        .collect()
}

fn say(server: &str, room: &str, text: &str, name: &str) -> Proc {
    Proc::spawn(
        DOUYU,
        &["say", room, text, "--server", server, "--name", name],
    )
}

/// `watch` sees what `say` sends through `serve`, over `scheme`.
fn watch_and_say(scheme: &str, what: &str) {
    let server = serve(&[]);
    let url = format!("{scheme}://{}", served_addr(&server, what));
    let mut watcher = Proc::spawn(
        DOUYU,
        &[
            "watch", "42", "--server", &url, "--format", "json", "--name", "watcher",
        ],
    );
    watcher.wait_stderr(LIMIT, |l| l.contains("joined"));
    let text = "hello / @A 鱼丸 🐟";
    let mut sayer = say(&url, "42", text, "说话/的人@");
    assert_eq!(sayer.wait_exit(LIMIT), Some(0), "{:?}", sayer.stderr());
    watcher.wait_stdout(LIMIT, |l| l.contains("鱼丸 🐟"));
    let chat = json_lines(&watcher)
        .into_iter()
        .find(|v| v["type"] == "chatmsg")
        .unwrap();
    assert_eq!(chat["txt"], text);
    assert_eq!(chat["nn"], "说话/的人@");
    assert_eq!(chat["rid"], "42");
    watcher.signal("INT");
    assert_eq!(watcher.wait_exit(LIMIT), Some(0));
    server.wait_stderr(LIMIT, |l| {
        l.contains("\"watcher\"") && l.contains("logged out")
    });
}

#[test]
fn watch_and_serve_over_tcp() {
    watch_and_say("tcp", "TCP");
}

#[test]
fn watch_and_serve_over_websocket() {
    watch_and_say("ws", "WebSocket");
}

/// Reads client frames from `stream` until one has `type@=<kind>/`.
fn read_until(stream: &mut TcpStream, decoder: &mut Decoder<'_>, kind: &str) -> String {
    let deadline = Instant::now() + LIMIT;
    let want = format!("type@={kind}/");
    loop {
        while let Some(frame) = decoder.next_frame().unwrap() {
            assert_eq!(frame.direction, Direction::ClientToServer);
            if frame.body.starts_with(&want) {
                return frame.body.to_string();
            }
        }
        assert!(Instant::now() < deadline, "no {kind}");
        let window = decoder.window();
        let n = stream.read(window).unwrap();
        assert!(n > 0, "client hung up before {kind}");
        decoder.commit(n);
    }
}

fn server_frame(body: &str) -> Vec<u8> {
    encoded(Direction::ServerToClient, body)
}

/// A hand-written server: the frames reach the client one byte per write,
/// then many frames in a single write.
#[test]
fn frames_cut_into_bytes_and_coalesced() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("tcp://{}", listener.local_addr().unwrap());
    let mut watcher = Proc::spawn(
        DOUYU,
        &[
            "watch", "7", "--server", &url, "--format", "json", "--only", "chatmsg",
        ],
    );
    let (mut stream, _) = listener.accept().unwrap();
    stream.set_read_timeout(Some(LIMIT)).unwrap();
    let mut buf = [0u8; 4096];
    let mut decoder = Decoder::new(&mut buf);
    assert_eq!(
        read_until(&mut stream, &mut decoder, "loginreq"),
        "type@=loginreq/roomid@=7/"
    );
    stream
        .write_all(&server_frame("type@=loginres/userid@=1/"))
        .unwrap();
    read_until(&mut stream, &mut decoder, "joingroup");
    stream.set_nodelay(true).unwrap();
    for i in 0..3 {
        for byte in server_frame(&format!("type@=chatmsg/nn@=a@Sb/txt@=byte {i}/")) {
            stream.write_all(&[byte]).unwrap();
            stream.flush().unwrap();
        }
    }
    let mut many = Vec::new();
    for i in 0..200 {
        many.extend_from_slice(&server_frame(&format!(
            "type@=chatmsg/nn@=n/txt@=many {i}/el@=eid@AA=1@AS@S/"
        )));
    }
    stream.write_all(&many).unwrap();
    watcher.wait_stdout(LIMIT, |l| l.contains("many 199"));
    let chats = json_lines(&watcher);
    assert_eq!(chats.len(), 203);
    assert_eq!(chats[0]["nn"], "a/b");
    assert_eq!(chats[2]["txt"], "byte 2");
    assert_eq!(chats[3]["el"][0]["eid"], "1");
    // Ctrl-C: the server sees a logout before the connection closes.
    watcher.signal("INT");
    assert_eq!(
        read_until(&mut stream, &mut decoder, "logout"),
        "type@=logout/"
    );
    assert_eq!(watcher.wait_exit(LIMIT), Some(0));
}

#[test]
fn client_reconnects_after_a_server_restart() {
    // Find a free port, then serve on it twice.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut first = Proc::spawn(DOUYU, &["serve", "--tcp", &addr]);
    assert_eq!(served_addr(&first, "TCP"), addr);
    let url = format!("tcp://{addr}");
    let watcher = Proc::spawn(DOUYU, &["watch", "3", "--server", &url, "--format", "json"]);
    watcher.wait_stderr(LIMIT, |l| l.contains("joined"));
    first.signal("TERM");
    assert_eq!(first.wait_exit(LIMIT), Some(0));
    // The watcher's session was closed by the shutdown and counted out
    // before the server gave up waiting for its connections.
    let log = first.stderr();
    assert!(log.iter().any(|l| l.contains("session closed")), "{log:?}");
    assert!(!log.iter().any(|l| l.contains("still open")), "{log:?}");
    watcher.wait_stderr(LIMIT, |l| l.contains("reconnecting"));
    let second = Proc::spawn(DOUYU, &["serve", "--tcp", &addr]);
    assert_eq!(served_addr(&second, "TCP"), addr);
    // Logged in again: the second server sees a fresh login and join.
    second.wait_stderr(LIMIT, |l| l.contains("joined"));
    let mut sayer = say(&url, "3", "after the restart", "later");
    assert_eq!(sayer.wait_exit(LIMIT), Some(0), "{:?}", sayer.stderr());
    watcher.wait_stdout(LIMIT, |l| l.contains("after the restart"));
    assert_eq!(
        watcher
            .stderr()
            .iter()
            .filter(|l| l.contains("logged in"))
            .count(),
        2
    );
}

/// Logs in and joins `room` on a raw connection, returning it.
fn raw_client(addr: &str, room: u64) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    let login = format!("type@=loginreq/roomid@={room}/");
    let join = format!("type@=joingroup/rid@={room}/gid@=-9999/");
    for body in [login, join] {
        stream
            .write_all(&encoded(Direction::ClientToServer, &body))
            .unwrap();
    }
    stream
}

/// Reads until end of stream; how many bytes came before it.
fn read_to_close(stream: &mut TcpStream, limit: Duration) -> usize {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut total = 0;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return total,
            Ok(n) => total += n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return total,
            Err(e) => panic!("connection still open after {limit:?}: {e}"),
        }
    }
}

#[test]
fn silent_client_is_dropped() {
    let server = serve(&["--heartbeat-window", "1"]);
    let addr = served_addr(&server, "TCP");
    let mut client = raw_client(&addr, 11);
    let start = Instant::now();
    read_to_close(&mut client, LIMIT);
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
    server.wait_stderr(LIMIT, |l| l.contains("silent for"));
}

/// A client that never reads is dropped once its writes stall past
/// `--send-timeout`, while a client reading along keeps receiving, every
/// second, and is never dropped.
///
/// Nothing here is a race the reader could lose: at 8000 messages/s
/// (~2.8 MB/s) the slow client's socket buffers (a few MB, which never grow
/// since it never reads) fill within a second or two and its write stalls
/// for 2 s; the fast reader would have to stop reading for as long as it
/// takes to fill its own buffers (larger: they grow as it reads) and then
/// 2 s more before the same befell it, and the ring (256 batches, 2.5 s)
/// only starts to count after that.
#[test]
fn slow_consumer_is_dropped_without_stalling_the_others() {
    let server = serve(&[
        "--simulate",
        "8000",
        "--room",
        "5",
        "--queue",
        "256",
        "--send-timeout",
        "2",
    ]);
    let addr = served_addr(&server, "TCP");
    let mut slow = raw_client(&addr, 5);
    let mut fast = raw_client(&addr, 5);
    let (slow_peer, fast_peer) = (
        format!("peer={}", slow.local_addr().unwrap()),
        format!("peer={}", fast.local_addr().unwrap()),
    );
    fast.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let dropped = |peer: &str| {
        server
            .stderr()
            .iter()
            .any(|l| l.contains("slow consumer dropped") && l.contains(peer))
    };
    // Read along, second by second, until the slow client has been dropped,
    // and one whole second after that.
    let mut buf = vec![0u8; 1 << 16];
    let mut per_second = Vec::new();
    let start = Instant::now();
    let mut seconds_after_drop = 0;
    while seconds_after_drop < 1 {
        assert!(
            start.elapsed() < LIMIT,
            "slow client never dropped: {per_second:?}"
        );
        if dropped(&slow_peer) {
            seconds_after_drop += 1;
        }
        let second = Instant::now();
        let mut got = 0;
        while second.elapsed() < Duration::from_secs(1) {
            match fast.read(&mut buf) {
                // End of stream: the fast reader was dropped.
                Ok(0) => panic!("fast reader dropped after {per_second:?}"),
                Ok(n) => got += n,
                Err(e) => panic!("fast reader starved ({e}) after {per_second:?}"),
            }
        }
        per_second.push(got);
    }
    // ~2.8 MB a second are sent; a tenth of it in every second is steady
    // enough, and robust to a loaded machine.
    assert!(
        per_second.iter().all(|&n| n > 280_000),
        "fast reader starved: {per_second:?}"
    );
    assert!(!dropped(&fast_peer), "{:?}", server.stderr());
    // The slow client finds its connection closed once it drains it.
    read_to_close(&mut slow, LIMIT);
}

#[test]
fn duplicate_nickname_is_refused() {
    let server = serve(&[]);
    let url = format!("tcp://{}", served_addr(&server, "TCP"));
    let watcher = Proc::spawn(DOUYU, &["watch", "8", "--server", &url, "--name", "鱼丸"]);
    watcher.wait_stderr(LIMIT, |l| l.contains("joined"));
    let mut twin = say(&url, "8", "hi", "鱼丸");
    // 4: refused by the server.
    assert_eq!(twin.wait_exit(LIMIT), Some(4));
    assert!(
        twin.stderr()
            .iter()
            .any(|l| l.contains("nickname is taken") && l.contains("1001")),
        "{:?}",
        twin.stderr()
    );
    // The same name is free in another room.
    let mut elsewhere = say(&url, "9", "hi", "鱼丸");
    assert_eq!(
        elsewhere.wait_exit(LIMIT),
        Some(0),
        "{:?}",
        elsewhere.stderr()
    );
}

#[test]
fn decode_real_streams() {
    let dir = std::env::temp_dir().join(format!("douyu-decode-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (i, case) in read_vectors("real_streams.jsonl").iter().enumerate() {
        let path = dir.join(format!("stream{i}.bin"));
        std::fs::write(&path, unhex(case["hex"].as_str().unwrap())).unwrap();
        let mut p = Proc::spawn(DOUYU, &["decode", path.to_str().unwrap()]);
        let leftover = case["leftover_bytes"].as_u64().unwrap();
        assert_eq!(p.wait_exit(LIMIT), Some(if leftover == 0 { 0 } else { 1 }));
        let lines = json_lines(&p);
        let frames: Vec<&Value> = lines.iter().filter(|l| l.get("error").is_none()).collect();
        let want = case["complete_frames"].as_array().unwrap();
        assert_eq!(frames.len(), want.len());
        for (got, want) in frames.iter().zip(want) {
            // The frame type field shows only when it is not the server's.
            let frame_type = got.get("frame_type").and_then(Value::as_u64).unwrap_or(690);
            assert_eq!(frame_type, want["type"].as_u64().unwrap());
            let body = want["body"].as_str().unwrap();
            let kind = body.split('/').next().unwrap().trim_start_matches("type@=");
            // The same object as `watch` prints: `type` is the STT type.
            assert_eq!(got["type"], kind);
        }
        if leftover > 0 {
            assert_eq!(lines.last().unwrap()["error"], "incomplete");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn decode_frame_vectors_as_hex() {
    for case in read_vectors("frames.jsonl") {
        let name = case["name"].as_str().unwrap();
        let hex = case["hex"].as_str().unwrap().to_string();
        let mut child = std::process::Command::new(DOUYU)
            .args(["decode", "--hex", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(hex.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let line: Value =
            serde_json::from_slice(out.stdout.split(|&b| b == b'\n').next().unwrap()).unwrap();
        match case["error"].as_str() {
            Some(class) => {
                assert_eq!(out.status.code(), Some(1), "{name}");
                assert_eq!(line["error"], class, "{name}");
                assert_eq!(line["offset"], 0, "{name}");
            }
            None => {
                assert_eq!(out.status.code(), Some(0), "{name}");
                let frame_type = line
                    .get("frame_type")
                    .and_then(Value::as_u64)
                    .unwrap_or(690);
                assert_eq!(frame_type, case["type"].as_u64().unwrap(), "{name}");
                assert!(line["type"].is_string(), "{name}: {line}");
            }
        }
    }
}

#[test]
fn decode_continues_after_a_bad_frame_and_summarizes() {
    let mut bytes = server_frame("type@=chatmsg/txt@=one/");
    bytes.extend_from_slice(b"\x0c\0\0\0\x0c\0\0\0\xb2\x02\0\0ab\xff\0");
    bytes.extend_from_slice(&server_frame("type@=dgb/gfid@=1/"));
    let path = std::env::temp_dir().join(format!("douyu-summary-{}.bin", std::process::id()));
    std::fs::write(&path, &bytes).unwrap();
    let mut p = Proc::spawn(DOUYU, &["decode", path.to_str().unwrap()]);
    assert_eq!(p.wait_exit(LIMIT), Some(1));
    let lines = json_lines(&p);
    assert_eq!(lines.len(), 3);
    assert_eq!(
        (lines[1]["error"].as_str(), lines[1]["offset"].as_u64()),
        (Some("invalid_utf8"), Some(36))
    );
    assert_eq!(lines[2]["type"], "dgb");
    let mut p = Proc::spawn(DOUYU, &["decode", "--summary", path.to_str().unwrap()]);
    assert_eq!(p.wait_exit(LIMIT), Some(1));
    let summary: Value = serde_json::from_str(&p.stdout()[0]).unwrap();
    assert_eq!(summary["frames"], 3);
    assert_eq!(summary["types"]["chatmsg"], 1);
    assert_eq!(summary["types"]["dgb"], 1);
    assert_eq!(summary["errors"]["invalid_utf8"], 1);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn demo_prints_chat_and_exits() {
    let mut demo = Proc::spawn(DOUYU, &["demo", "--duration", "2", "--rate", "50"]);
    assert_eq!(demo.wait_exit(LIMIT), Some(0), "{:?}", demo.stderr());
    let lines = demo.stdout();
    assert!(lines.len() >= 20, "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("[9999]") && !l.contains("entered") && !l.contains('🎁'))
    );
}
