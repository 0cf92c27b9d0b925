//! Shared helpers for the integration tests: where the conformance vectors
//! live and how to read them.

use std::path::PathBuf;

/// `../shared/vectors` beside the project root.
#[must_use]
pub fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors")
}

/// Every case of one `.jsonl` vector file, parsed. Panics (failing the test)
/// when the file is missing, so a misplaced `shared/` cannot pass silently.
#[must_use]
pub fn read_vectors(name: &str) -> Vec<serde_json::Value> {
    let path = vectors_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{name}: {e}: {l}")))
        .collect()
}

/// Decodes hex text (whitespace allowed); panics (failing the test) on
/// anything else.
#[must_use]
pub fn unhex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    hex::decode(digits).expect("hex text")
}

/// A running `douyu` process whose output lines are collected as they come.
pub struct Proc {
    child: std::process::Child,
    stdout: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    stderr: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// The threads reading stdout and stderr, done once the pipes close.
    readers: Vec<std::thread::JoinHandle<()>>,
}

type Lines = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

fn collect(pipe: impl std::io::Read + Send + 'static) -> (Lines, std::thread::JoinHandle<()>) {
    use std::io::BufRead;
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = lines.clone();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            sink.lock().unwrap().push(line);
        }
    });
    (lines, reader)
}

impl Proc {
    /// Starts `douyu` (the binary at `exe`) with `args`; logs at `debug`.
    #[must_use]
    pub fn spawn(exe: &str, args: &[&str]) -> Self {
        Self::spawn_logging(exe, args, "debug")
    }

    /// Starts `exe` with `args` and `RUST_LOG` set to `filter`.
    #[must_use]
    pub fn spawn_logging(exe: &str, args: &[&str], filter: &str) -> Self {
        let mut child = std::process::Command::new(exe)
            .args(args)
            .env("RUST_LOG", filter)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {exe}: {e}"));
        let (stdout, out_reader) = collect(child.stdout.take().unwrap());
        let (stderr, err_reader) = collect(child.stderr.take().unwrap());
        Self {
            child,
            stdout,
            stderr,
            readers: vec![out_reader, err_reader],
        }
    }

    /// The process id (for reading `/proc/<pid>/status`).
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The lines printed to stdout so far.
    #[must_use]
    pub fn stdout(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    /// The lines printed to stderr so far.
    #[must_use]
    pub fn stderr(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits up to `limit` for a stdout line matching `want`; panics (with
    /// both outputs) on timeout.
    pub fn wait_stdout(&self, limit: std::time::Duration, want: impl Fn(&str) -> bool) -> String {
        self.wait(&self.stdout, limit, want)
    }

    /// Waits up to `limit` for a stderr line matching `want`.
    pub fn wait_stderr(&self, limit: std::time::Duration, want: impl Fn(&str) -> bool) -> String {
        self.wait(&self.stderr, limit, want)
    }

    fn wait(
        &self,
        lines: &std::sync::Mutex<Vec<String>>,
        limit: std::time::Duration,
        want: impl Fn(&str) -> bool,
    ) -> String {
        let start = std::time::Instant::now();
        loop {
            if let Some(line) = lines.lock().unwrap().iter().find(|l| want(l)) {
                return line.clone();
            }
            assert!(
                start.elapsed() < limit,
                "timed out; stdout:\n{}\nstderr:\n{}",
                self.stdout().join("\n"),
                self.stderr().join("\n")
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Sends a signal (`"INT"`, `"TERM"`) to the process.
    pub fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits up to `limit` for the process to exit; its exit code.
    pub fn wait_exit(&mut self, limit: std::time::Duration) -> Option<i32> {
        let start = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the reader threads catch the last lines: they end when
                // the pipes close (on a loaded machine that can take a while).
                let caught = std::time::Instant::now();
                while self.readers.iter().any(|r| !r.is_finished())
                    && caught.elapsed() < std::time::Duration::from_secs(5)
                {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                return status.code();
            }
            assert!(
                start.elapsed() < limit,
                "process did not exit; stderr:\n{}",
                self.stderr().join("\n")
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address a `douyu serve` logged for `what` (`"TCP"` or `"WebSocket"`).
#[must_use]
pub fn served_addr(server: &Proc, what: &str) -> String {
    let prefix = format!("serving {what}");
    let line = server.wait_stderr(std::time::Duration::from_secs(10), |l| l.contains(&prefix));
    let at = line.find("addr=").expect("address in log line") + 5;
    line[at..].split_whitespace().next().unwrap().to_string()
}

/// A field of `/proc/<pid>/status` in bytes (`"VmRSS"`, `"VmHWM"`).
#[must_use]
pub fn proc_memory(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"));
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// `body` as one whole frame of `kind`, as a peer would write it.
#[must_use]
pub fn encoded(kind: douyu_core::frame::Direction, body: &str) -> Vec<u8> {
    let frame = douyu_core::frame::Frame::new(kind, body);
    let mut out = vec![0u8; frame.encoded_len()];
    frame.encode(&mut out).expect("sized for it");
    out
}

/// Checks `text` line by line against the Prometheus text format (0.0.4)
/// and returns its samples (name, labels as written, value). Panics on any
/// line that breaks the rules: a metric name or label name that is not an
/// identifier, an unescaped label value, a value that is not a number, a
/// sample without a `# TYPE` before it, a family without a `# HELP`, a
/// `# TYPE` given twice or after its samples, a series given twice, a
/// histogram whose buckets are not cumulative or lack `le="+Inf"` equal to
/// its `_count`, or a missing final newline.
#[must_use]
pub fn check_exposition(text: &str) -> Vec<(String, String, f64)> {
    use std::collections::{HashMap, HashSet};
    fn is_name(name: &str, colons: bool) -> bool {
        let mut chars = name.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || (colons && c == ':'))
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (colons && c == ':'))
    }
    assert!(text.ends_with('\n'), "no final newline");
    let mut typed: HashMap<String, String> = HashMap::new();
    let mut helped = HashSet::new();
    let mut sampled = HashSet::new();
    let mut series = HashSet::new();
    let mut samples = Vec::new();
    // Per histogram: the last bucket's count, and whether +Inf was seen.
    let mut buckets: HashMap<String, (f64, Option<f64>)> = HashMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# ") {
            let mut words = rest.splitn(3, ' ');
            let (keyword, name) = (words.next().unwrap(), words.next().unwrap_or(""));
            assert!(is_name(name, true), "bad name in {line:?}");
            match keyword {
                "TYPE" => {
                    let kind = words.next().unwrap_or("");
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                        "{line:?}"
                    );
                    assert!(
                        typed.insert(name.to_string(), kind.to_string()).is_none(),
                        "TYPE twice: {line:?}"
                    );
                    assert!(!sampled.contains(name), "TYPE after samples: {line:?}");
                }
                "HELP" => {
                    assert!(words.next().is_some_and(|h| !h.is_empty()), "{line:?}");
                    assert!(helped.insert(name.to_string()), "HELP twice: {line:?}");
                }
                _ => {}
            }
            continue;
        }
        assert!(!line.is_empty() && !line.starts_with('#'), "{line:?}");
        let (series_text, value) = line.rsplit_once(' ').expect("name and value");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("value in {line:?}"));
        let (name, labels) = match series_text.split_once('{') {
            Some((name, labels)) => (name, labels.strip_suffix('}').expect("closing brace")),
            None => (series_text, ""),
        };
        assert!(is_name(name, true), "bad name in {line:?}");
        let mut le = None;
        if !labels.is_empty() {
            // label="value" pairs, comma-separated; \\, \" and \n escaped.
            let mut rest = labels;
            while !rest.is_empty() {
                let (label, after) = rest.split_once("=\"").expect("label=\"");
                assert!(is_name(label, false), "bad label in {line:?}");
                let mut end = None;
                let mut escaped = false;
                for (i, c) in after.char_indices() {
                    match (escaped, c) {
                        (true, '\\' | '"' | 'n') => escaped = false,
                        (true, _) => panic!("bad escape in {line:?}"),
                        (false, '\\') => escaped = true,
                        (false, '"') => {
                            end = Some(i);
                            break;
                        }
                        (false, _) => {}
                    }
                }
                let end = end.expect("closing quote");
                if label == "le" {
                    le = Some(after[..end].to_string());
                }
                rest = after[end + 1..]
                    .strip_prefix(',')
                    .unwrap_or(&after[end + 1..]);
            }
        }
        // A histogram's samples are its name with a suffix.
        let family = ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
            let base = name.strip_suffix(suffix)?;
            (typed.get(base).map(String::as_str) == Some("histogram"))
                .then(|| (base.to_string(), *suffix))
        });
        let family_name = match &family {
            Some((base, suffix)) => {
                let (last, inf) = buckets.entry(base.clone()).or_insert((0.0, None));
                match *suffix {
                    "_bucket" => {
                        let le = le.as_deref().unwrap_or_else(|| panic!("no le in {line:?}"));
                        assert!(value >= *last, "buckets not cumulative: {line:?}");
                        *last = value;
                        if le == "+Inf" {
                            *inf = Some(value);
                        } else {
                            le.parse::<f64>()
                                .unwrap_or_else(|_| panic!("bad le in {line:?}"));
                        }
                    }
                    "_count" => {
                        assert_eq!(Some(value), *inf, "+Inf bucket is not the count: {line:?}")
                    }
                    _ => {}
                }
                base.clone()
            }
            None => name.to_string(),
        };
        assert!(
            typed.contains_key(&family_name),
            "sample before its TYPE: {line:?}"
        );
        assert!(helped.contains(&family_name), "no HELP for {line:?}");
        sampled.insert(family_name);
        assert!(
            series.insert(series_text.to_string()),
            "series twice: {line:?}"
        );
        samples.push((name.to_string(), labels.to_string(), value));
    }
    samples
}
