//! `decode --format xml|ass`: the XML parses with a real XML parser and
//! holds one `<d>` per chat line; the ASS file loads in a standard
//! subtitle parser (pysubs2, installed by this test into a virtualenv under
//! the target directory); `--summary` of a capture.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use douyu_core::frame::Direction;
use douyu_host::capture::{Kind, Writer};
use douyu_tests::{Proc, encoded};
use serde_json::Value;

const DOUYU: &str = env!("CARGO_BIN_EXE_douyu-cli");
const LIMIT: Duration = Duration::from_secs(15);

/// Chat texts a player must show as sent (STT-escaped when framed).
const TEXTS: [&str; 8] = [
    "plain",
    "<b>bold</b> & \"quotes\" 'single'",
    "{\\an8}override? \\N not a break",
    "鱼丸 🐟 emoji",
    "a/b@c",
    "]]> cdata end",
    "tab\there",
    "ctrl\u{1}char",
];

/// The first frame's time: 2027-01-15T08:00:00Z.
const T0: i64 = 1_800_000_000_000;

fn stt(text: &str) -> String {
    text.replace('@', "@A").replace('/', "@S")
}

/// A capture of room 5: the chat lines a second apart (colour `i % 7`),
/// with gifts and arrivals between them.
fn capture(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{name}-{}.cap", std::process::id()));
    let mut writer = Writer::new(std::fs::File::create(&path).unwrap()).unwrap();
    writer.write(Kind::Connected, T0, 5, b"tcp://x:1").unwrap();
    for (i, text) in TEXTS.iter().enumerate() {
        let at = T0 + i as i64 * 1000;
        let chat = format!(
            "type@=chatmsg/rid@=5/uid@={}/nn@=user{}/txt@={}/col@={}/",
            100 + i % 3,
            i % 3,
            stt(text),
            i % 7
        );
        let gift = format!("type@=dgb/rid@=5/gfid@={}/gfcnt@=2/nn@=g/", 824 + i % 2);
        for body in [chat, gift, "type@=uenter/nn@=x/".to_string()] {
            let frame = encoded(Direction::ServerToClient, &body);
            writer.write(Kind::Frame, at, 5, &frame).unwrap();
        }
    }
    path
}

fn decode(args: &[&str]) -> (Option<i32>, String) {
    let mut p = Proc::spawn(DOUYU, &[&["decode"], args].concat());
    let code = p.wait_exit(LIMIT);
    (code, p.stdout().join("\n"))
}

/// What XML keeps of a chat text: controls dropped, tabs as spaces.
fn as_xml_keeps(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() || *c == '\t')
        .map(|c| if c == '\t' { ' ' } else { c })
        .collect()
}

#[test]
fn xml_parses_and_holds_one_d_per_chat_line() {
    let path = capture("export-xml");
    let (code, xml) = decode(&["--format", "xml", path.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{xml}");
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "i");
    let ds: Vec<_> = root.children().filter(|n| n.has_tag_name("d")).collect();
    assert_eq!(ds.len(), TEXTS.len());
    for (i, (d, text)) in ds.iter().zip(TEXTS).enumerate() {
        assert_eq!(d.text().unwrap_or(""), as_xml_keeps(text), "line {i}");
        let p: Vec<&str> = d.attribute("p").unwrap().split(',').collect();
        assert_eq!(p.len(), 8, "{p:?}");
        // time (from the first frame), mode, size, colour, Unix time, pool,
        // user, id.
        assert_eq!(p[0].parse::<f64>().unwrap(), i as f64);
        assert_eq!((p[1], p[2], p[5]), ("1", "25", "0"));
        let colour: u32 = p[3].parse().unwrap();
        assert_eq!(colour, douyu_core::message::CHAT_COLORS[i % 7]);
        assert_eq!(p[4], (T0 / 1000 + i as i64).to_string());
        assert_eq!(p[6], (100 + i % 3).to_string());
        assert_eq!(p[7], (i + 1).to_string());
    }
    // --start: times from that moment (2 s before the first frame).
    let (code, xml) = decode(&[
        "--format",
        "xml",
        "--start",
        "2027-01-15T07:59:58Z",
        path.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0));
    assert!(xml.contains(r#"<d p="2.000,1,25,"#), "{xml}");
    let _ = std::fs::remove_file(&path);
}

/// A Python with pysubs2, in a virtualenv this test makes (once) under the
/// target directory from PyPI; the test fails, saying why, without python3.
fn pysubs2() -> PathBuf {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("venv-pysubs2");
    let python = venv.join("bin/python");
    let ready = |python: &Path| {
        Command::new(python)
            .args(["-c", "import pysubs2"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if !ready(&python) {
        let made = Command::new("python3")
            .args(["-m", "venv", venv.to_str().unwrap()])
            .status()
            .expect("python3 (with venv) is needed to check the ASS export");
        assert!(made.success(), "python3 -m venv failed");
        let installed = Command::new(venv.join("bin/pip"))
            .args([
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "pysubs2>=1.6,<2",
            ])
            .status()
            .unwrap();
        assert!(installed.success(), "pip install pysubs2 failed");
    }
    assert!(ready(&python));
    python
}

const CHECK_ASS: &str = r#"
import json, sys
import pysubs2
subs = pysubs2.load(sys.argv[1], format_="ass")
print(json.dumps({
    "styles": sorted(subs.styles.keys()),
    "play_res": [subs.info.get("PlayResX"), subs.info.get("PlayResY")],
    "events": [
        {"start": e.start, "end": e.end, "style": e.style, "name": e.name,
         "text": e.text, "plain": e.plaintext}
        for e in subs.events
    ],
}, ensure_ascii=False))
"#;

#[test]
fn ass_loads_in_a_standard_subtitle_parser() {
    let path = capture("export-ass");
    let ass_path = path.with_extension("ass");
    let (code, ass) = decode(&["--format", "ass", path.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{ass}");
    std::fs::write(&ass_path, &ass).unwrap();
    let python = pysubs2();
    let out = Command::new(python)
        .args(["-c", CHECK_ASS, ass_path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(parsed["styles"], serde_json::json!(["Danmaku"]));
    assert_eq!(parsed["play_res"], serde_json::json!(["1920", "1080"]));
    let events = parsed["events"].as_array().unwrap();
    assert_eq!(events.len(), TEXTS.len(), "one event per chat line");
    for (i, (event, text)) in events.iter().zip(TEXTS).enumerate() {
        // Milliseconds from the first frame, 8 s on screen.
        assert_eq!(event["start"], i as u64 * 1000);
        assert_eq!(event["end"], i as u64 * 1000 + 8000);
        assert_eq!(event["style"], "Danmaku");
        assert_eq!(event["name"], format!("user{}", i % 3));
        let event_text = event["text"].as_str().unwrap();
        assert!(event_text.starts_with("{\\move(1920,"), "{event_text}");
        // One override block only: the text's braces cannot open another.
        assert_eq!(event_text.matches('{').count(), 1, "{event_text}");
        let plain = event["plain"].as_str().unwrap();
        // The text shows whole (braces as full-width ones, no line break).
        assert!(!plain.contains('\n'), "{plain:?}");
        let first_word: String = text.chars().take_while(|c| c.is_alphanumeric()).collect();
        assert!(plain.contains(&first_word), "{plain:?} for {text:?}");
    }
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(&ass_path);
}

#[test]
fn summary_of_a_capture_has_rates_and_tops() {
    let path = capture("export-summary");
    let (code, out) = decode(&["--summary", path.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}");
    let summary: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["types"]["chatmsg"], TEXTS.len());
    assert_eq!(summary["types"]["dgb"], TEXTS.len());
    assert_eq!(summary["top_chatters"][0]["nn"], "user0");
    assert_eq!(summary["top_chatters"][0]["messages"], 3);
    assert_eq!(summary["top_gifts"][0]["count"], TEXTS.len());
    let minutes = summary["per_minute"].as_array().unwrap();
    assert_eq!(minutes.len(), 1);
    assert_eq!(minutes[0]["minute"], "2027-01-15T08:00Z");
    assert_eq!(minutes[0]["chat"], TEXTS.len());
    assert_eq!(minutes[0]["messages"], TEXTS.len() * 3);
    let _ = std::fs::remove_file(&path);
}
