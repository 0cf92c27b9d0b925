//! `watch --record`, `decode` of the capture, `serve --replay`, and the
//! connection events of the JSON output, on 127.0.0.1 (ephemeral ports),
//! each test bounded in time.

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::Duration;

use douyu_core::frame::Direction;
use douyu_host::capture::{Kind, Writer};
use douyu_tests::{Proc, encoded, served_addr};
use serde_json::Value;

const DOUYU: &str = env!("CARGO_BIN_EXE_douyu-cli");
const LIMIT: Duration = Duration::from_secs(15);

fn temp(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()))
}

fn json(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn say(url: &str, room: &str, text: &str, name: &str) {
    let mut sayer = Proc::spawn(DOUYU, &["say", room, text, "--server", url, "--name", name]);
    assert_eq!(sayer.wait_exit(LIMIT), Some(0), "{:?}", sayer.stderr());
}

#[test]
fn record_then_decode_gives_the_same_messages() {
    let server = Proc::spawn(DOUYU, &["serve", "--tcp", "127.0.0.1:0"]);
    let url = format!("tcp://{}", served_addr(&server, "TCP"));
    let capture = temp("record.cap");
    let mut watcher = Proc::spawn(
        DOUYU,
        &[
            "watch",
            "42",
            "--server",
            &url,
            "--format",
            "json",
            "--record",
            capture.to_str().unwrap(),
        ],
    );
    watcher.wait_stderr(LIMIT, |l| l.contains("joined"));
    for (i, text) in ["one / @", "二 🐟", "<three & {four}>"].iter().enumerate() {
        say(&url, "42", text, &format!("sayer{i}"));
    }
    watcher.wait_stdout(LIMIT, |l| l.contains("four"));
    // Every frame is on disk as it arrives: the capture decodes before the
    // watcher stops.
    let mut early = Proc::spawn(DOUYU, &["decode", capture.to_str().unwrap()]);
    assert_eq!(early.wait_exit(LIMIT), Some(0), "{:?}", early.stderr());
    assert!(early.stdout().iter().any(|l| l.contains("four")));
    watcher.signal("INT");
    assert_eq!(watcher.wait_exit(LIMIT), Some(0));
    let watched = json(&watcher.stdout());
    let mut decode = Proc::spawn(DOUYU, &["decode", capture.to_str().unwrap()]);
    assert_eq!(decode.wait_exit(LIMIT), Some(0), "{:?}", decode.stderr());
    let decoded = json(&decode.stdout());
    // The messages: the same objects, but for decode's `offset` (and the
    // `loginres`, which the session takes and watch does not print).
    let messages = |lines: &[Value]| -> Vec<Value> {
        lines
            .iter()
            .filter(|v| v.get("event").is_none() && v["type"] != "loginres")
            .map(|v| {
                let mut v = v.clone();
                v.as_object_mut().unwrap().remove("offset");
                v
            })
            .collect()
    };
    let (watched_messages, decoded_messages) = (messages(&watched), messages(&decoded));
    assert!(watched_messages.len() >= 9, "{watched_messages:?}");
    assert_eq!(watched_messages, decoded_messages);
    assert!(
        decoded
            .iter()
            .all(|v| v.get("event").is_some() || v["offset"].is_u64())
    );
    let chats: Vec<&Value> = decoded_messages
        .iter()
        .filter(|v| v["type"] == "chatmsg")
        .collect();
    assert_eq!(chats[2]["txt"], "<three & {four}>");
    // received_at: RFC 3339, UTC, milliseconds.
    let at = chats[0]["received_at"].as_str().unwrap();
    assert_eq!(
        (at.len(), &at[10..11], &at[19..20], &at[23..]),
        (24, "T", ".", "Z")
    );
    // The events are the same too.
    let events = |lines: &[Value]| -> Vec<String> {
        lines
            .iter()
            .filter_map(|v| v["event"].as_str().map(String::from))
            .filter(|e| e != "joined")
            .collect()
    };
    assert_eq!(events(&decoded), ["connected", "closed"]);
    assert_eq!(events(&watched), ["connected", "closed"]);
    let _ = std::fs::remove_file(&capture);
}

#[test]
fn gap_events_around_a_server_restart() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let url = format!("tcp://{addr}");
    let mut first = Proc::spawn(DOUYU, &["serve", "--tcp", &addr]);
    assert_eq!(served_addr(&first, "TCP"), addr);
    let capture = temp("gap.cap");
    let mut watcher = Proc::spawn(
        DOUYU,
        &[
            "watch",
            "3",
            "--server",
            &url,
            "--format",
            "json",
            "--backoff",
            "0.2",
            "--record",
            capture.to_str().unwrap(),
        ],
    );
    watcher.wait_stdout(LIMIT, |l| l.contains(r#""event":"joined""#));
    first.signal("TERM");
    assert_eq!(first.wait_exit(LIMIT), Some(0));
    watcher.wait_stdout(LIMIT, |l| l.contains(r#""event":"closed""#));
    let second = Proc::spawn(DOUYU, &["serve", "--tcp", &addr]);
    assert_eq!(served_addr(&second, "TCP"), addr);
    let gap = watcher.wait_stdout(LIMIT, |l| l.contains(r#""event":"gap""#));
    let gap: Value = serde_json::from_str(&gap).unwrap();
    assert_eq!(gap["room"], 3);
    let (from, to) = (gap["from"].as_str().unwrap(), gap["to"].as_str().unwrap());
    assert!(from <= to, "{gap}");
    let events: Vec<String> = json(&watcher.stdout())
        .iter()
        .filter_map(|v| v["event"].as_str().map(String::from))
        .collect();
    assert_eq!(
        events,
        [
            "connected",
            "joined",
            "closed",
            "connected",
            "joined",
            "gap"
        ],
        "{:?}",
        watcher.stdout()
    );
    watcher.signal("INT");
    assert_eq!(watcher.wait_exit(LIMIT), Some(0));
    // The capture holds both connections, and decode reports the gap too.
    let mut decode = Proc::spawn(DOUYU, &["decode", capture.to_str().unwrap()]);
    assert_eq!(decode.wait_exit(LIMIT), Some(0), "{:?}", decode.stderr());
    assert!(
        json(&decode.stdout())
            .iter()
            .any(|v| v["event"] == "gap" && v["room"] == 3),
        "{:?}",
        decode.stdout()
    );
    let _ = std::fs::remove_file(&capture);
}

/// A capture of `count` chat lines in room 1, `step_ms` apart, and a
/// heartbeat reply and a login answer that a replay leaves out.
fn write_capture(path: &PathBuf, count: usize, step_ms: i64) {
    let file = std::fs::File::create(path).unwrap();
    let mut writer = Writer::new(file).unwrap();
    let t0 = 1_800_000_000_000;
    writer
        .write(Kind::Connected, t0, 1, b"tcp://example:8601")
        .unwrap();
    let login = encoded(Direction::ServerToClient, "type@=loginres/userid@=1/");
    writer.write(Kind::Frame, t0, 1, &login).unwrap();
    for i in 0..count {
        let body = format!("type@=chatmsg/rid@=1/uid@={i}/nn@=n{i}/txt@=line {i}/");
        let frame = encoded(Direction::ServerToClient, &body);
        writer
            .write(Kind::Frame, t0 + i as i64 * step_ms, 1, &frame)
            .unwrap();
        if i == count / 2 {
            let mrkl = encoded(Direction::ServerToClient, "type@=mrkl/");
            writer
                .write(Kind::Frame, t0 + i as i64 * step_ms, 1, &mrkl)
                .unwrap();
        }
    }
    writer
        .write(Kind::Closed, t0 + count as i64 * step_ms, 1, b"logged out")
        .unwrap();
}

/// The chat texts a watcher printed, once it has printed `count`.
fn replayed(speed: &str, count: usize, step_ms: i64) -> (Vec<String>, Vec<Value>) {
    let capture = temp(&format!("replay-{speed}.cap"));
    write_capture(&capture, count, step_ms);
    let server = Proc::spawn(
        DOUYU,
        &[
            "serve",
            "--tcp",
            "127.0.0.1:0",
            "--replay",
            capture.to_str().unwrap(),
            "--room",
            "77",
            "--speed",
            speed,
        ],
    );
    let url = format!("tcp://{}", served_addr(&server, "TCP"));
    let watcher = Proc::spawn(
        DOUYU,
        &[
            "watch",
            "77",
            "--server",
            &url,
            "--format",
            "json",
            "--only",
            "chatmsg,mrkl",
        ],
    );
    let last = format!("line {}", count - 1);
    watcher.wait_stdout(LIMIT, |l| l.contains(&last));
    server.wait_stderr(LIMIT, |l| l.contains("replay finished"));
    let lines = json(&watcher.stdout())
        .into_iter()
        .filter(|v| v.get("event").is_none())
        .collect::<Vec<_>>();
    let texts = lines
        .iter()
        .map(|v| v["txt"].as_str().unwrap_or("").to_string())
        .collect();
    let _ = std::fs::remove_file(&capture);
    (texts, lines)
}

fn millis(at: &Value) -> i64 {
    let at = at.as_str().unwrap();
    // HH:MM:SS.mmm of the same day is enough for a span under a minute.
    let h: i64 = at[11..13].parse().unwrap();
    let m: i64 = at[14..16].parse().unwrap();
    let s: i64 = at[17..19].parse().unwrap();
    let ms: i64 = at[20..23].parse().unwrap();
    ((h * 60 + m) * 60 + s) * 1000 + ms
}

#[test]
fn replay_delivers_a_capture_in_order_at_its_pace() {
    // 20 lines over 950 ms, at the recorded pace.
    let (texts, lines) = replayed("1", 20, 50);
    let want: Vec<String> = (0..20).map(|i| format!("line {i}")).collect();
    assert_eq!(texts, want, "no heartbeat reply replayed, nothing missing");
    let span = millis(&lines[19]["received_at"]) - millis(&lines[0]["received_at"]);
    let span = span.rem_euclid(24 * 3600 * 1000);
    assert!((800..5000).contains(&span), "{span} ms");
    // As fast as possible: 500 lines, in order.
    let (texts, _) = replayed("max", 500, 50);
    let want: Vec<String> = (0..500).map(|i| format!("line {i}")).collect();
    assert_eq!(texts, want);
}
