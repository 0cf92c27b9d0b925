//! `douyu collect` into a real `nats-server -js` on 127.0.0.1, fed by
//! `douyu serve --simulate RATE --rooms LIST`, whose chat lines' ids end with
//! their number in the room: a room's chat lines in the stream must be
//! numbered without a hole and each must be there once.
//!
//! Skipped (with a message) when `nats-server` is not installed, unless
//! `DOUYU_REQUIRE_NATS=1` (`host-linux/collect-tests.sh`), which makes that a
//! failure.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write as _;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use douyu_tests::{Proc, check_exposition, proc_memory, served_addr};
use futures_util::StreamExt as _;
use serde_json::Value;

const DOUYU: &str = env!("CARGO_BIN_EXE_douyu-cli");
const LIMIT: Duration = Duration::from_secs(20);
const STREAM: &str = "TEST";

/// A `nats-server -js` on a free port of 127.0.0.1, storing in a directory
/// of its own; killed (and the directory removed) on drop.
struct Nats {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

impl Nats {
    /// Starts one, or `None` (the test is skipped) when `nats-server` is
    /// missing and not required.
    fn start(name: &str) -> Option<Self> {
        let installed = Command::new("nats-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !installed {
            assert!(
                std::env::var("DOUYU_REQUIRE_NATS").as_deref() != Ok("1"),
                "nats-server is not installed and DOUYU_REQUIRE_NATS=1"
            );
            // Straight to the process's stderr: the test harness captures
            // `eprintln!` of a passing test, and a skip must be seen.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {name}: nats-server is not installed (bash host-linux/collect-tests.sh installs it)"
            );
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!("douyu-nats-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut nats = Self {
            child: None,
            port,
            dir,
        };
        nats.spawn();
        Some(nats)
    }

    fn spawn(&mut self) {
        let child = Command::new("nats-server")
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting nats-server");
        self.child = Some(child);
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(start.elapsed() < LIMIT, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Stops it (SIGTERM, as an operator would) and starts it again on the
    /// same port and store.
    fn restart(&mut self) {
        self.stop();
        // Down for a moment, as in a real restart.
        std::thread::sleep(Duration::from_millis(500));
        self.spawn();
    }

    /// Stops it (SIGTERM), keeping its store and port for [`Nats::spawn`].
    fn stop(&mut self) {
        let mut child = self.child.take().unwrap();
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let start = Instant::now();
        while child.try_wait().unwrap().is_none() {
            assert!(start.elapsed() < LIMIT, "nats-server did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn serve(rate: &str, rooms: &str) -> (Proc, String) {
    let server = Proc::spawn_logging(
        DOUYU,
        &[
            "serve",
            "--tcp",
            "127.0.0.1:0",
            "--simulate",
            rate,
            "--rooms",
            rooms,
        ],
        "info",
    );
    let url = format!("tcp://{}", served_addr(&server, "TCP"));
    (server, url)
}

fn collect(server: &str, nats: &Nats, rooms: &str, extra: &[&str]) -> Proc {
    let nats = nats.url();
    let mut args = vec![
        "collect",
        "--rooms",
        rooms,
        "--server",
        server,
        "--nats",
        &nats,
        "--stream",
        STREAM,
        "--status-every",
        "0.3",
    ];
    args.extend_from_slice(extra);
    Proc::spawn_logging(DOUYU, &args, "info,async_nats=warn")
}

/// A message read back from the stream.
struct Stored {
    subject: String,
    id: String,
    json: Value,
}

/// Every message of the stream.
async fn read_stream(url: &str) -> Vec<Stored> {
    let client = async_nats::connect(url).await.unwrap();
    let js = jetstream::new(client);
    let mut stream = js.get_stream(STREAM).await.unwrap();
    let count = stream.info().await.unwrap().state.messages;
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::OrderedConfig::default())
        .await
        .unwrap();
    let mut messages = consumer.messages().await.unwrap();
    let mut out = Vec::new();
    while (out.len() as u64) < count {
        let message = tokio::time::timeout(LIMIT, messages.next())
            .await
            .expect("reading the stream timed out")
            .unwrap()
            .unwrap();
        let id = message
            .headers
            .as_ref()
            .and_then(|h| h.get("Nats-Msg-Id"))
            .map(|v| v.as_str().to_string())
            .expect("every message has an id");
        out.push(Stored {
            subject: message.subject.to_string(),
            id,
            json: serde_json::from_slice(&message.payload).unwrap(),
        });
    }
    out
}

/// Each room's chat line numbers, checking on the way that no message id
/// and no chat line is stored twice and that nothing is a `gap`.
fn chat_numbers(stored: &[Stored]) -> BTreeMap<u64, BTreeSet<u64>> {
    let mut ids = BTreeSet::new();
    let mut chats: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
    for message in stored {
        assert!(
            ids.insert(message.id.clone()),
            "id {} stored twice",
            message.id
        );
        let mut parts = message.subject.split('.');
        assert_eq!(parts.next(), Some("douyu"));
        let room: u64 = parts.next().unwrap().parse().unwrap();
        let kind = parts.next().unwrap();
        assert_ne!(kind, "gap", "a gap was published: {}", message.json);
        assert_eq!(message.json["type"], kind, "{}", message.json);
        assert!(message.json["received_at"].is_string());
        if kind == "chatmsg" {
            let cid = message.json["cid"].as_str().unwrap();
            assert_eq!(message.id, format!("{room}:{cid}"));
            assert_eq!(message.json["rid"], room.to_string());
            let n = u64::from_str_radix(&cid[16..], 16).unwrap();
            assert!(
                chats.entry(room).or_default().insert(n),
                "room {room} line {n} stored twice"
            );
        }
    }
    chats
}

/// The numbers missing between a room's first and last stored line.
fn holes(numbers: &BTreeSet<u64>) -> u64 {
    let (first, last) = (numbers.first().unwrap(), numbers.last().unwrap());
    last - first + 1 - numbers.len() as u64
}

/// How many separate runs of missing numbers a room has.
fn hole_runs(numbers: &BTreeSet<u64>) -> usize {
    let sorted: Vec<u64> = numbers.iter().copied().collect();
    sorted.windows(2).filter(|w| w[1] != w[0] + 1).count()
}

/// `GET path` from the collector's HTTP server at `addr`: status and body.
fn http_get(addr: &str, path: &str) -> (u16, String) {
    use std::io::Read as _;
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(LIMIT)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("a response head");
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, body.to_string())
}

/// `/metrics`, checked as Prometheus text: its samples by series
/// (`name` or `name{labels}`).
fn scrape(addr: &str) -> HashMap<String, f64> {
    let (status, body) = http_get(addr, "/metrics");
    assert_eq!(status, 200, "{body}");
    check_exposition(&body)
        .into_iter()
        .map(|(name, labels, value)| {
            let series = if labels.is_empty() {
                name
            } else {
                format!("{name}{{{labels}}}")
            };
            (series, value)
        })
        .collect()
}

/// The sum of every series of `name` in `samples`.
fn total(samples: &HashMap<String, f64>, name: &str) -> f64 {
    samples
        .iter()
        .filter(|(series, _)| {
            series
                .strip_prefix(name)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('{'))
        })
        .map(|(_, value)| value)
        .sum()
}

#[test]
fn fifty_rooms_through_a_nats_restart_every_message_once() {
    let Some(mut nats) = Nats::start("restart") else {
        return;
    };
    let rt = runtime();
    let (_server, url) = serve("20", "1-50");
    let mut collector = collect(&url, &nats, "1-50", &["--http", "127.0.0.1:0"]);
    let http = served_addr(&collector, "HTTP");
    collector.wait_stderr(LIMIT, |l| l.contains("status") && l.contains("rooms=50"));
    std::thread::sleep(Duration::from_secs(2));
    let early = scrape(&http);
    let before = rt.block_on(read_stream(&nats.url())).len();
    nats.restart();
    std::thread::sleep(Duration::from_secs(3));
    // /metrics, during the run: what a person watching it would see.
    let late = scrape(&http);
    for (series, value) in [
        ("douyu_collect_up", 1.0),
        ("douyu_collect_rooms", 50.0),
        ("douyu_collect_rooms_held", 50.0),
        ("douyu_collect_collectors", 1.0),
        ("douyu_collect_nats_connected", 1.0),
        ("douyu_collect_leases_taken_total{via=\"free\"}", 50.0),
        ("douyu_collect_messages_dropped_total", 0.0),
        ("douyu_collect_gaps_total", 0.0),
    ] {
        assert_eq!(late.get(series), Some(&value), "{series}: {late:?}");
    }
    // Every session joined (some may be reconnecting at a moment).
    assert!(late["douyu_collect_sessions_connected"] >= 45.0, "{late:?}");
    for counter in [
        "douyu_collect_messages_received_total{type=\"chatmsg\"}",
        "douyu_collect_messages_published_total{type=\"chatmsg\"}",
        "douyu_collect_publish_ack_seconds_count",
    ] {
        assert!(
            late[counter] > early[counter] && early[counter] > 0.0,
            "{counter}: {} then {}",
            early[counter],
            late[counter]
        );
    }
    // NATS was away: the client reconnected.
    assert!(
        late["douyu_collect_nats_reconnects_total"] >= 1.0,
        "{late:?}"
    );
    assert_eq!(early["douyu_collect_nats_reconnects_total"], 0.0);
    assert!(
        total(&late, "douyu_collect_messages_published_total")
            <= total(&late, "douyu_collect_messages_received_total"),
        "{late:?}"
    );
    let (status, health) = http_get(&http, "/healthz");
    assert_eq!(status, 200);
    assert!(health.starts_with("ok: 50 of 50 rooms held"), "{health}");
    assert_eq!(http_get(&http, "/nope").0, 404);
    collector.signal("INT");
    assert_eq!(
        collector.wait_exit(LIMIT),
        Some(0),
        "{:?}",
        collector.stderr()
    );
    let stored = rt.block_on(read_stream(&nats.url()));
    let chats = chat_numbers(&stored);
    assert_eq!(chats.len(), 50, "rooms in the stream");
    for (room, numbers) in &chats {
        assert_eq!(
            holes(numbers),
            0,
            "room {room} lost chat lines: {numbers:?}"
        );
        // 20 a second for ~5 s, 70 % of them chat lines.
        assert!(numbers.len() > 40, "room {room}: {} lines", numbers.len());
    }
    // The collector went on after the restart and published what waited.
    assert!(
        stored.len() > before + 50 * 20,
        "{before} stored before the restart, {} in all",
        stored.len()
    );
    let stopped = stopped_line(&collector);
    assert!(
        ["dropped=0", "lost=0", "unpublished=0"]
            .iter()
            .all(|zero| stopped.contains(zero)),
        "{stopped}"
    );
}

/// Each room's lease holder, as the bucket says (`None`: not held).
async fn holders(url: &str, rooms: u64) -> HashMap<u64, Option<String>> {
    let client = async_nats::connect(url).await.unwrap();
    let js = jetstream::new(client);
    let Ok(kv) = js.get_key_value(format!("{STREAM}_leases")).await else {
        return HashMap::new();
    };
    let mut out = HashMap::new();
    for room in 1..=rooms {
        let value = kv.get(format!("room.{room}")).await.unwrap();
        let value = value.map(|v| String::from_utf8(v.to_vec()).unwrap());
        out.insert(room, value.filter(|v| !v.is_empty()));
    }
    out
}

/// Waits until `settled` holds of the leases; the leases then.
fn wait_leases(
    rt: &tokio::runtime::Runtime,
    url: &str,
    rooms: u64,
    limit: Duration,
    settled: impl Fn(&HashMap<u64, Option<String>>) -> bool,
) -> HashMap<u64, Option<String>> {
    let start = Instant::now();
    loop {
        let leases = rt.block_on(holders(url, rooms));
        if settled(&leases) {
            return leases;
        }
        assert!(start.elapsed() < limit, "leases never settled: {leases:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn two_collectors_share_the_rooms_and_one_takes_over_from_a_dead_one() {
    const ROOMS: u64 = 20;
    const RATE: u64 = 20;
    let Some(nats) = Nats::start("share") else {
        return;
    };
    let rt = runtime();
    let (_server, url) = serve(&RATE.to_string(), "1-20");
    let lease = ["--lease", "3", "--http", "127.0.0.1:0"];
    let mut a = collect(&url, &nats, "1-20", &lease);
    let http_a = served_addr(&a, "HTTP");
    // Alone, it holds every room within a couple of seconds.
    let started = Instant::now();
    a.wait_stderr(LIMIT, |l| l.contains("status") && l.contains("rooms=20"));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let every_room_one_holder = |leases: &HashMap<u64, Option<String>>, holders: usize| {
        let names: BTreeSet<&String> = leases.values().flatten().collect();
        leases.len() == ROOMS as usize
            && leases
                .values()
                .all(|v| v.as_ref().is_some_and(|v| !v.contains('>')))
            && names.len() == holders
    };
    let alone = wait_leases(&rt, &nats.url(), ROOMS, LIMIT, |l| {
        every_room_one_holder(l, 1)
    });
    let name_a = alone[&1].clone().unwrap();
    let mut b = collect(&url, &nats, "1-20", &lease);
    let joined = Instant::now();
    let http_b = served_addr(&b, "HTTP");
    // The newcomer gets half the rooms, handed over while both watch: each
    // room's lease is held all along (offered, then taken), never free,
    // and names one holder. Wait for the even split.
    let start = Instant::now();
    let shared = loop {
        let leases = rt.block_on(holders(&nats.url(), ROOMS));
        assert!(
            leases.len() == ROOMS as usize && leases.values().all(Option::is_some),
            "a room was free during the hand-over: {leases:?}"
        );
        let of_a = leases
            .values()
            .filter(|v| v.as_deref() == Some(name_a.as_str()))
            .count();
        if every_room_one_holder(&leases, 2) && of_a == ROOMS as usize / 2 {
            break leases;
        }
        assert!(
            start.elapsed() < LIMIT,
            "never split evenly: {of_a} for the first, {leases:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let split = joined.elapsed();
    eprintln!("split evenly {split:?} after the second collector started");
    // Its process start, NATS connection, first walk; the first's next walk
    // (1 s) offers, the newcomer's next takes.
    assert!(split < Duration::from_secs(10), "split in {split:?}");
    let of_b: Vec<u64> = (1..=ROOMS)
        .filter(|r| shared[r].as_deref() != Some(name_a.as_str()))
        .collect();
    // And it stays so: nothing moves once the split is made.
    std::thread::sleep(Duration::from_secs(2));
    let again = rt.block_on(holders(&nats.url(), ROOMS));
    assert_eq!(again, shared, "the leases moved after the split");
    // Both collectors' /metrics say the same: ten handed over, ten taken
    // over, ten held each; the first's handed-over sessions end after the
    // hand-over's overlap (3 s from its next renewal).
    let ended = Instant::now();
    while scrape(&http_a)["douyu_collect_sessions_connected"] != 10.0 {
        assert!(ended.elapsed() < LIMIT, "{:?}", scrape(&http_a));
        std::thread::sleep(Duration::from_millis(200));
    }
    let (ma, mb) = (scrape(&http_a), scrape(&http_b));
    for (metrics, series, value) in [
        (&ma, "douyu_collect_rooms_held", 10.0),
        (&mb, "douyu_collect_rooms_held", 10.0),
        (&ma, "douyu_collect_collectors", 2.0),
        (&mb, "douyu_collect_collectors", 2.0),
        (&ma, "douyu_collect_leases_handed_over_total", 10.0),
        (&ma, "douyu_collect_leases_taken_total{via=\"free\"}", 20.0),
        (
            &mb,
            "douyu_collect_leases_taken_total{via=\"offered\"}",
            10.0,
        ),
        (&mb, "douyu_collect_leases_taken_total{via=\"free\"}", 0.0),
        (&ma, "douyu_collect_sessions_connected", 10.0),
        (&mb, "douyu_collect_sessions_connected", 10.0),
    ] {
        assert_eq!(metrics.get(series), Some(&value), "{series}: {metrics:?}");
    }
    // Both published the handed-over rooms for a few seconds: JetStream
    // said "already stored" to some of it.
    assert!(
        ma["douyu_collect_messages_duplicate_total"] + mb["douyu_collect_messages_duplicate_total"]
            > 0.0
    );
    // Killed without a word: its leases expire and the other takes them.
    b.signal("KILL");
    let killed = Instant::now();
    wait_leases(&rt, &nats.url(), ROOMS, LIMIT, |l| {
        every_room_one_holder(l, 1) && l[&of_b[0]].as_deref() == Some(name_a.as_str())
    });
    let takeover = killed.elapsed();
    assert!(
        takeover < Duration::from_secs(8),
        "taken over in {takeover:?}"
    );
    // The dead collector's rooms were free (expired) when taken.
    let after = scrape(&http_a);
    assert_eq!(after["douyu_collect_collectors"], 1.0, "{after:?}");
    assert_eq!(
        after["douyu_collect_leases_taken_total{via=\"free\"}"], 30.0,
        "{after:?}"
    );
    std::thread::sleep(Duration::from_secs(2));
    a.signal("INT");
    assert_eq!(a.wait_exit(LIMIT), Some(0), "{:?}", a.stderr());
    let _ = b.wait_exit(LIMIT);
    let name_b = shared[&of_b[0]].clone().unwrap();
    let (gaps, stored): (Vec<Stored>, Vec<Stored>) = rt
        .block_on(read_stream(&nats.url()))
        .into_iter()
        .partition(|m| m.subject.ends_with(".gap"));
    // No id and no chat line twice, although both collectors published
    // the handed-over rooms for a while.
    let chats = chat_numbers(&stored);
    assert_eq!(chats.len(), ROOMS as usize);
    let times = chat_times(&stored);
    assert_eq!(ms_of("2026-12-01T00:05:09.123Z"), 1_796_083_509_123);
    let took = (takeover.as_secs_f64() + 2.0) * RATE as f64;
    for (room, numbers) in &chats {
        let lost = holes(numbers);
        let room_gaps: Vec<&Value> = gaps
            .iter()
            .filter(|g| g.subject == format!("douyu.{room}.gap"))
            .map(|g| &g.json)
            .collect();
        if of_b.contains(room) {
            // What the dead collector had not published, and the time its
            // rooms had nobody: no more than the takeover, and in one run
            // (the hand-over to it, earlier, lost nothing).
            assert!((lost as f64) <= took, "room {room}: {lost} lost");
            assert!(hole_runs(numbers) <= 1, "room {room}: {numbers:?}");
            // And it is on record: one gap event (none for the clean
            // hand-over before), from the survivor, naming the dead one,
            // over the hole: from no later than the last line stored
            // before it to the survivor's join, just before the first line
            // after it.
            let [gap] = room_gaps[..] else {
                panic!("room {room}: gaps {room_gaps:?}");
            };
            assert_eq!(gap["event"], "gap", "{gap}");
            assert_eq!(gap["reason"], "lease_expired", "{gap}");
            assert_eq!(gap["room"], *room, "{gap}");
            assert_eq!(gap["previous_holder"], name_b.as_str(), "{gap}");
            assert_eq!(gap["collector"], name_a.as_str(), "{gap}");
            let at = |field: &str| ms_of(gap[field].as_str().unwrap());
            let (from, to) = (at("unwatched_from"), at("unwatched_to"));
            let (lines, edge) = (&times[room], before_hole(numbers));
            let last_before = lines[&edge];
            let first_after = lines.range(edge + 1..).next().map(|(_, &at)| at);
            eprintln!(
                "room {room}: {lost} lines lost after one received at {last_before}; \
                 gap {from}..{to} ({} ms), next line at {first_after:?}",
                to - from
            );
            assert!(from <= last_before, "room {room}: {gap} vs {last_before}");
            if let Some(first_after) = first_after {
                // A line read with the join's bytes may carry their arrival
                // time, a few milliseconds before the join was handled.
                assert!(
                    to <= first_after + 50 && first_after - to < 2000,
                    "room {room}: {gap} vs {first_after}"
                );
            }
        } else {
            assert_eq!(lost, 0, "room {room} lost chat lines: {numbers:?}");
            assert!(room_gaps.is_empty(), "room {room}: {room_gaps:?}");
        }
    }
}

#[test]
fn a_room_reconnect_is_on_record_as_a_gap() {
    const ROOMS: u64 = 5;
    let Some(nats) = Nats::start("reconnect") else {
        return;
    };
    let rt = runtime();
    let (mut server, url) = serve("20", "1-5");
    let addr = url.trim_start_matches("tcp://").to_string();
    let mut collector = collect(&url, &nats, "1-5", &["--backoff", "0.2"]);
    collector.wait_stderr(LIMIT, |l| l.contains("status") && l.contains("sessions=5"));
    std::thread::sleep(Duration::from_secs(2));
    // The Douyu server dies (no logout) and is back 1.5 s later on the same
    // address: every session loses its connection and joins again.
    let killed = now_ms();
    server.signal("KILL");
    let _ = server.wait_exit(LIMIT);
    std::thread::sleep(Duration::from_millis(1500));
    let restarted = now_ms();
    let _server = Proc::spawn_logging(
        DOUYU,
        &[
            "serve",
            "--tcp",
            &addr,
            "--simulate",
            "20",
            "--rooms",
            "1-5",
        ],
        "info",
    );
    collector.wait_stderr(LIMIT, |l| {
        l.contains("status") && l.contains("sessions=5") && l.contains("gaps=5")
    });
    std::thread::sleep(Duration::from_secs(1));
    collector.signal("INT");
    assert_eq!(
        collector.wait_exit(LIMIT),
        Some(0),
        "{:?}",
        collector.stderr()
    );
    let (gaps, stored): (Vec<Stored>, Vec<Stored>) = rt
        .block_on(read_stream(&nats.url()))
        .into_iter()
        .partition(|m| m.subject.ends_with(".gap"));
    for room in 1..=ROOMS {
        // When each of the room's messages was read, before and after.
        let times: Vec<i64> = stored
            .iter()
            .filter(|m| m.subject.starts_with(&format!("douyu.{room}.")))
            .map(|m| ms_of(m.json["received_at"].as_str().unwrap()))
            .collect();
        let last_before = times.iter().filter(|&&t| t < restarted).max().copied();
        let first_after = times.iter().filter(|&&t| t >= restarted).min().copied();
        let (Some(last_before), Some(first_after)) = (last_before, first_after) else {
            panic!("room {room}: messages at {times:?}, restarted at {restarted}");
        };
        let room_gaps: Vec<&Value> = gaps
            .iter()
            .filter(|g| g.subject == format!("douyu.{room}.gap"))
            .map(|g| &g.json)
            .collect();
        // One gap event, this collector's own: from the last bytes the
        // lost connection read (those of the last message it stored, or a
        // later one it does not store) to the new session's join, just
        // before the first message after it.
        let [gap] = room_gaps[..] else {
            panic!("room {room}: gaps {room_gaps:?}");
        };
        assert_eq!(gap["event"], "gap", "{gap}");
        assert_eq!(gap["reason"], "reconnect", "{gap}");
        assert_eq!(gap["room"], room, "{gap}");
        assert!(gap["collector"].is_string(), "{gap}");
        assert!(gap.get("previous_holder").is_none(), "{gap}");
        let at = |field: &str| ms_of(gap[field].as_str().unwrap());
        let (from, to) = (at("unwatched_from"), at("unwatched_to"));
        eprintln!(
            "room {room}: last read {last_before}, killed {killed}, gap {from}..{to}, \
             restarted {restarted}, next read {first_after}"
        );
        assert!(
            last_before - 50 <= from && from < restarted,
            "room {room}: {gap}, last message before at {last_before}"
        );
        assert!(
            restarted <= to && to <= first_after + 50 && first_after - to < 2000,
            "room {room}: {gap}, restarted at {restarted}, next message at {first_after}"
        );
    }
}

/// Now, in milliseconds since the Unix epoch (the collector's clock).
fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since.as_millis()).unwrap()
}

/// Each room's chat lines, by number: when each was received (ms since
/// the Unix epoch).
fn chat_times(stored: &[Stored]) -> BTreeMap<u64, BTreeMap<u64, i64>> {
    let mut out: BTreeMap<u64, BTreeMap<u64, i64>> = BTreeMap::new();
    for message in stored.iter().filter(|m| m.subject.ends_with(".chatmsg")) {
        let room: u64 = message.subject.split('.').nth(1).unwrap().parse().unwrap();
        let cid = message.json["cid"].as_str().unwrap();
        let n = u64::from_str_radix(&cid[16..], 16).unwrap();
        let at = ms_of(message.json["received_at"].as_str().unwrap());
        out.entry(room).or_default().insert(n, at);
    }
    out
}

/// The line just before a room's first hole (its last line if it has none).
fn before_hole(numbers: &BTreeSet<u64>) -> u64 {
    let sorted: Vec<u64> = numbers.iter().copied().collect();
    sorted
        .windows(2)
        .find(|w| w[1] != w[0] + 1)
        .map_or(*numbers.last().unwrap(), |w| w[0])
}

/// Milliseconds since the Unix epoch of a time as the collector writes them
/// (`2026-12-01T00:05:09.123Z`).
fn ms_of(text: &str) -> i64 {
    let field = |range: std::ops::Range<usize>| -> i64 { text[range].parse().unwrap() };
    assert!(text.len() == 24 && text.ends_with('Z'), "{text}");
    let (y, m, d) = (field(0..4), field(5..7), field(8..10));
    // Days from 1970-01-01 to y-m-d (proleptic Gregorian), March-based.
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + field(11..13) * 3600 + field(14..16) * 60 + field(17..19);
    secs * 1000 + field(20..23)
}

#[test]
fn nats_away_past_the_buffer_bound_memory_stays_bounded_and_gaps_are_counted() {
    const ROOMS: u64 = 10;
    const BUFFER: f64 = 4096.0;
    let Some(mut nats) = Nats::start("away") else {
        return;
    };
    let rt = runtime();
    let (_server, url) = serve("200", "1-10");
    let mut collector = collect(
        &url,
        &nats,
        "1-10",
        &[
            "--http",
            "127.0.0.1:0",
            "--room-buffer-kib",
            "4",
            "--in-flight",
            "16",
            "--lease",
            "30",
        ],
    );
    let http = served_addr(&collector, "HTTP");
    collector.wait_stderr(LIMIT, |l| l.contains("status") && l.contains("rooms=10"));
    std::thread::sleep(Duration::from_secs(1));
    nats.stop();
    // 10 rooms at 200 a second into 4 KiB each: full within a second.
    std::thread::sleep(Duration::from_secs(2));
    let first = scrape(&http);
    let rss_first = proc_memory(collector.pid(), "VmRSS");
    std::thread::sleep(Duration::from_secs(3));
    let away = scrape(&http);
    let rss_away = proc_memory(collector.pid(), "VmRSS");
    assert_eq!(away["douyu_collect_nats_connected"], 0.0, "{away:?}");
    // Bounded: each room's buffer holds at most its bound, plus one gap
    // event's few hundred bytes; at most --in-flight out of them.
    for m in [&first, &away] {
        let buffered = m["douyu_collect_buffered_bytes"];
        assert!(
            buffered > 0.0 && buffered <= ROOMS as f64 * (BUFFER + 512.0),
            "{buffered} bytes buffered"
        );
        assert!(m["douyu_collect_publish_in_flight"] <= 16.0, "{m:?}");
    }
    // Still reading the rooms, and dropping what does not fit: counted.
    let received = |m: &HashMap<String, f64>| total(m, "douyu_collect_messages_received_total");
    let dropped = |m: &HashMap<String, f64>| m["douyu_collect_messages_dropped_total"];
    assert!(received(&away) - received(&first) > 1000.0, "{away:?}");
    assert!(
        dropped(&away) - dropped(&first) > 1000.0,
        "{} then {} dropped",
        dropped(&first),
        dropped(&away)
    );
    // What was read and not dropped is what waits: memory does not follow
    // the messages (3 s of 2,000 a second, ~1.5 MiB of JSON, came and went).
    assert!(
        rss_away < rss_first + 1024 * 1024,
        "RSS {rss_first} then {rss_away}"
    );
    // NATS back: the buffers drain and each room's loss is one gap event.
    nats.spawn();
    let back = Instant::now();
    loop {
        let m = scrape(&http);
        if m["douyu_collect_buffered_bytes"] == 0.0 && m["douyu_collect_gaps_total"] >= ROOMS as f64
        {
            break;
        }
        assert!(back.elapsed() < LIMIT, "never drained: {m:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    collector.signal("INT");
    assert_eq!(
        collector.wait_exit(LIMIT),
        Some(0),
        "{:?}",
        collector.stderr()
    );
    let stopped = stopped_line(&collector);
    let field = |name: &str| -> u64 {
        let at = stopped.find(&format!(" {name}=")).unwrap() + name.len() + 2;
        stopped[at..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    // Every drop is in a gap event in the stream, and nothing else is lost.
    let stored = rt.block_on(read_stream(&nats.url()));
    let mut gap_rooms = BTreeSet::new();
    let mut in_gaps = 0;
    for message in stored.iter().filter(|m| m.subject.ends_with(".gap")) {
        assert_eq!(message.json["event"], "gap", "{}", message.json);
        let room = message.json["room"].as_u64().unwrap();
        assert_eq!(message.subject, format!("douyu.{room}.gap"));
        gap_rooms.insert(room);
        in_gaps += message.json["dropped"].as_u64().unwrap();
    }
    assert_eq!(gap_rooms.len(), ROOMS as usize, "{gap_rooms:?}");
    assert!(field("dropped") > 0);
    assert_eq!(in_gaps, field("dropped"), "{stopped}");
    assert_eq!(field("lost"), 0, "{stopped}");
    assert_eq!(field("unpublished"), 0, "{stopped}");
}

/// The collector's last words on stderr: its `collector stopped` line with
/// the final counts (it has exited).
fn stopped_line(collector: &Proc) -> String {
    collector
        .stderr()
        .into_iter()
        .find(|l| l.contains("collector stopped"))
        .expect("the collector logs `collector stopped` on its way out")
}
