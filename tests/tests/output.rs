//! Output policy: colours (`--color`, NO_COLOR), completions and the man
//! page, text rendering of a live room.

use std::process::Command;
use std::time::Duration;

use douyu_tests::Proc;

const DOUYU: &str = env!("CARGO_BIN_EXE_douyu-cli");
const LIMIT: Duration = Duration::from_secs(15);

fn demo(color: &str, no_color: bool) -> Vec<String> {
    let mut command = Command::new(DOUYU);
    command.args([
        "demo",
        "--duration",
        "1",
        "--rate",
        "50",
        "--color",
        color,
        "--utc",
    ]);
    if no_color {
        command.env("NO_COLOR", "1");
    }
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn colours_follow_the_flag_and_no_color() {
    let has_escape = |lines: &[String]| lines.iter().any(|l| l.contains('\x1b'));
    let always = demo("always", false);
    assert!(always.len() >= 10 && has_escape(&always), "{always:?}");
    // Not a terminal: auto means none; NO_COLOR too; never means never.
    assert!(!has_escape(&demo("auto", false)));
    assert!(!has_escape(&demo("auto", true)));
    assert!(!has_escape(&demo("never", false)));
}

#[test]
fn completions_and_man_page_come_from_the_definitions() {
    for (shell, marker) in [
        ("bash", "_douyu()"),
        ("zsh", "#compdef douyu"),
        ("fish", "complete -c douyu"),
    ] {
        let mut p = Proc::spawn(DOUYU, &["completions", shell]);
        assert_eq!(p.wait_exit(LIMIT), Some(0));
        let script = p.stdout().join("\n");
        assert!(script.contains(marker), "{shell}: {script}");
        assert!(script.contains("--record"), "{shell}");
    }
    let mut p = Proc::spawn(DOUYU, &["man"]);
    assert_eq!(p.wait_exit(LIMIT), Some(0));
    let page = p.stdout().join("\n");
    assert!(
        page.starts_with(".ie") || page.contains(".TH douyu"),
        "{page}"
    );
    assert!(page.contains("decode"), "{page}");
}

#[test]
fn unknown_only_types_are_named() {
    let mut p = Proc::spawn(
        DOUYU,
        &["demo", "--duration", "0.5", "--only", "chatmsg,chatmgs"],
    );
    assert_eq!(p.wait_exit(LIMIT), Some(0));
    let stderr = p.stderr().join("\n");
    assert!(
        stderr.contains("\"chatmgs\" is not a message type"),
        "{stderr}"
    );
    assert!(!stderr.contains("\"chatmsg\" is not"), "{stderr}");
}
