//! Every exit status of the exit code table (`douyu --help`), with the
//! message that says what to do; on 127.0.0.1 only.

use std::net::TcpListener;
use std::time::Duration;

use douyu_core::frame::Direction;
use douyu_tests::{Proc, encoded, served_addr};

const DOUYU: &str = env!("CARGO_BIN_EXE_douyu-cli");
const LIMIT: Duration = Duration::from_secs(15);

/// Runs `douyu args`: its exit status and stderr.
fn run(args: &[&str]) -> (Option<i32>, String) {
    let mut p = Proc::spawn(DOUYU, args);
    let code = p.wait_exit(LIMIT);
    let stderr = p.stderr().join("\n");
    assert!(!stderr.contains("Some("), "{stderr}");
    assert!(!stderr.contains("panic"), "{stderr}");
    (code, stderr)
}

fn temp_file(name: &str, bytes: &[u8]) -> String {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{name}-{}", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn help_lists_the_exit_statuses() {
    let p = std::process::Command::new(DOUYU)
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(p.stdout).unwrap();
    for line in [
        "Exit status:",
        "2    usage",
        "3    the server's host name",
        "4    refused",
        "5    gave up",
    ] {
        assert!(help.contains(line), "{line:?} in {help}");
    }
}

#[test]
fn success_and_bad_frames() {
    let good = temp_file(
        "good.bin",
        &encoded(Direction::ServerToClient, "type@=mrkl/"),
    );
    assert_eq!(run(&["decode", &good]).0, Some(0));
    let mut bad = encoded(Direction::ServerToClient, "type@=mrkl/");
    bad.truncate(bad.len() - 3);
    let bad = temp_file("bad.bin", &bad);
    assert_eq!(run(&["decode", &bad]).0, Some(1));
}

#[test]
fn usage_errors_say_what_to_do() {
    let cases: [(&[&str], &str); 6] = [
        (
            &["watch", "1", "--server", "127.0.0.1:8601"],
            "did you mean tcp://127.0.0.1:8601",
        ),
        (
            &["say", "1", "hi", "--server", "localhost:8601"],
            "did you mean tcp://localhost:8601",
        ),
        (&["watch", "douyu"], "room ids are numbers"),
        (&["watch", "1", "--backoff", "0"], "--backoff"),
        (&["watch", "1", "--grep", "("], "bad --grep"),
        (
            &[
                "serve",
                "--tcp",
                "127.0.0.1:0",
                "--replay",
                "x",
                "--room",
                "1",
                "--speed",
                "0",
            ],
            "positive number",
        ),
    ];
    for (args, hint) in cases {
        let (code, stderr) = run(args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(hint), "{args:?}: {stderr}");
    }
    // A text too long for a chat frame: said before connecting anywhere.
    let long = "长".repeat(100);
    let (code, stderr) = run(&["say", "1", &long, "--server", "tcp://127.0.0.1:1"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("at most 255"), "{stderr}");
    assert!(!stderr.contains("connect"), "{stderr}");
    // Hex text without --hex.
    let hex = temp_file("frames.hex", b"1400 0000 1400 0000 b202 0000\n");
    let (code, stderr) = run(&["decode", &hex]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--hex"), "{stderr}");
    // Raw frames carry no times to export.
    let raw = temp_file(
        "raw.bin",
        &encoded(Direction::ServerToClient, "type@=mrkl/"),
    );
    let (code, stderr) = run(&["decode", "--format", "xml", &raw]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--record"), "{stderr}");
    // No doubled messages.
    for line in stderr.lines() {
        let parts: Vec<&str> = line.split(": ").collect();
        assert!(parts.windows(2).all(|w| w[0] != w[1]), "{line}");
    }
}

#[test]
fn an_unresolvable_name_ends_at_once() {
    // `.invalid` never resolves (RFC 2606).
    for command in ["watch", "who"] {
        let (code, stderr) = run(&[command, "1", "--server", "tcp://no-such-host.invalid:8601"]);
        assert_eq!(code, Some(3), "{command}: {stderr}");
        assert!(stderr.contains("cannot resolve"), "{stderr}");
    }
}

#[test]
fn refusals_end_watch_and_say() {
    let server = Proc::spawn(DOUYU, &["serve", "--tcp", "127.0.0.1:0"]);
    let url = format!("tcp://{}", served_addr(&server, "TCP"));
    let holder = Proc::spawn(DOUYU, &["watch", "8", "--server", &url, "--name", "鱼丸"]);
    holder.wait_stderr(LIMIT, |l| l.contains("joined"));
    for args in [
        &["watch", "8", "--server", &url, "--name", "鱼丸"][..],
        &["say", "8", "hi", "--server", &url, "--name", "鱼丸"][..],
    ] {
        let (code, stderr) = run(args);
        assert_eq!(code, Some(4), "{args:?}: {stderr}");
        assert!(stderr.contains("nickname is taken"), "{stderr}");
        assert!(stderr.contains("--name"), "{stderr}");
    }
}

#[test]
fn transient_failures_give_up_after_max_retries() {
    // A port nobody listens on: refused at once, every time.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("tcp://127.0.0.1:{port}");
    let (code, stderr) = run(&[
        "watch",
        "1",
        "--server",
        &url,
        "--max-retries",
        "2",
        "--backoff",
        "0.05",
    ]);
    assert_eq!(code, Some(5), "{stderr}");
    assert_eq!(stderr.matches("cannot connect").count(), 3, "{stderr}");
    assert!(stderr.contains("--max-retries 2"), "{stderr}");
    // A server that never answers: `say` times out.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("tcp://{}", silent.local_addr().unwrap());
    let (code, stderr) = run(&["say", "1", "hi", "--server", &url, "--timeout", "0.5"]);
    assert_eq!(code, Some(5), "{stderr}");
    assert!(stderr.contains("--timeout"), "{stderr}");
}
