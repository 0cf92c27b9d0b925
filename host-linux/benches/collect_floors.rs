//! The floors under `douyu collect`'s cost per message: what its two halves
//! cost when each runs alone, so that the collector's own figure can be read
//! against them in the same run (`host-linux/collect-bench.sh` runs this
//! after the collector, against the same simulator and nats-server).
//!
//! - **read**: every room followed as `collect` follows it (the same session
//!   loop, watch options and read pause), each message parsed by the core's
//!   session and then dropped. No JSON, no NATS, no leases.
//! - **publish**: the JSON `collect` would publish for those messages
//!   (rendered before the window), published at the rate they arrived, each
//!   with a `Nats-Msg-Id` header and a reply subject under one wildcard
//!   subscription, at most `--in-flight` awaiting their ack, as
//!   `collect`'s publisher does, with `async-nats`' client. Nothing read.
//!
//! Each prints messages a second per core: messages over this process's
//! CPU time in the window. The collector's cost a message less the two
//! floors is what making the JSON and handing messages between the halves
//! (and keeping leases) costs.
//!
//! ```sh
//! cargo bench -p douyu-host --bench collect_floors -- \
//!     --server tcp://127.0.0.1:8601 --rooms 1000 --rate 20 --nats nats://127.0.0.1:4222 --window 25
//! ```

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::Subject;
use async_nats::header::{HeaderMap, NATS_MESSAGE_ID};
use async_nats::jetstream::{self, stream};
use bytes::Bytes;
use douyu_core::message::ServerMessage;
use douyu_host::render::{Filter, Format, Renderer, write_message_json};
use douyu_host::time::Clock;
use douyu_host::watch::{Link, Sink, WatchOptions, follow_room};
use douyu_host::wire::Endpoint;
use futures_util::StreamExt as _;
use tokio::sync::watch;

/// Messages kept (as the JSON `collect` makes of them) for the publish
/// floor, which sends them in turn.
const SAMPLES: usize = 2_000;

struct Args {
    server: String,
    rooms: u64,
    rate: f64,
    nats: String,
    window: Duration,
    read_pause: Duration,
    in_flight: usize,
}

fn args() -> Args {
    let mut args = Args {
        server: String::new(),
        rooms: 1_000,
        rate: 20.0,
        nats: String::new(),
        window: Duration::from_secs(25),
        read_pause: Duration::from_millis(250),
        in_flight: 1_024,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        // `cargo bench` adds `--bench`.
        if flag == "--bench" {
            continue;
        }
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        let number = || -> f64 { value.parse().unwrap_or_else(|_| panic!("bad {flag}")) };
        match flag.as_str() {
            "--server" => args.server = value.clone(),
            "--rooms" => args.rooms = number() as u64,
            "--rate" => args.rate = number(),
            "--nats" => args.nats = value.clone(),
            "--window" => args.window = Duration::from_secs_f64(number()),
            "--read-pause" => args.read_pause = Duration::from_secs_f64(number()),
            "--in-flight" => args.in_flight = number() as usize,
            _ => panic!("unknown flag {flag}"),
        }
    }
    assert!(
        !args.server.is_empty() && !args.nats.is_empty(),
        "--server and --nats are needed"
    );
    args
}

/// Clock ticks a second, the unit of `/proc`'s CPU times.
fn clock_ticks() -> u64 {
    let out = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .expect("getconf");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a CLK_TCK")
}

/// This process's CPU time (user and system), from `/proc/self/stat`.
fn cpu() -> Duration {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let per_second = *TICKS.get_or_init(clock_ticks);
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the command name (which may hold spaces), from the
    // third: utime and stime are the 14th and 15th.
    let rest = &stat[stat.rfind(')').expect("a stat line") + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_secs_f64(ticks as f64 / per_second as f64)
}

/// A message read, as the publish floor sends it.
struct Sample {
    /// `floor.<room>.<type>`: `collect`'s subject, in a stream of its own.
    subject: String,
    /// The JSON `collect` makes of it.
    json: Vec<u8>,
}

/// Counts, and keeps the first messages' JSON.
struct Counting {
    received: Arc<AtomicU64>,
    joined: Arc<AtomicU64>,
    samples: Arc<Mutex<Vec<Sample>>>,
    /// Set once the samples are all taken: the lock is not taken again.
    full: Arc<AtomicBool>,
}

impl Sink for Counting {
    fn message(&mut self, room: u64, message: &ServerMessage<'_>) -> anyhow::Result<()> {
        self.received.fetch_add(1, Ordering::Relaxed);
        // Only before the window (the samples are full well before it).
        if self.full.load(Ordering::Relaxed) {
            return Ok(());
        }
        let mut samples = self.samples.lock().unwrap();
        // A subject token as `collect` makes it for the simulator's types.
        if let Ok(Some(kind)) = message.map().message_type()
            && let Some(kind) = kind.as_plain()
            && !kind.is_empty()
            && kind.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            // The time in it is the epoch: the same length as a real one.
            let mut json = Vec::new();
            write_message_json(message, Some(0), &mut json);
            samples.push(Sample {
                subject: format!("floor.{room}.{kind}"),
                json,
            });
        }
        if samples.len() >= SAMPLES {
            self.full.store(true, Ordering::Relaxed);
        }
        Ok(())
    }

    fn link(&mut self, _room: u64, link: Link) {
        if link == Link::Joined {
            self.joined.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn report(name: &str, messages: u64, span: Duration, busy: Duration) {
    let per_core = messages as f64 / busy.as_secs_f64();
    println!(
        "{name} floor: {:.0} msg/s over {:.1} s, CPU {:.2} s: {per_core:.0} msg/s per core ({:.2} µs a message)",
        messages as f64 / span.as_secs_f64(),
        span.as_secs_f64(),
        busy.as_secs_f64(),
        busy.as_secs_f64() * 1e6 / messages as f64,
    );
}

/// Follows every room, dropping what it reads; the samples for the publish
/// floor.
async fn read_floor(args: &Args) -> Vec<Sample> {
    let options = WatchOptions {
        endpoint: Endpoint::parse(&args.server).expect("--server"),
        renderer: Renderer::new(Format::Json, false, Filter::default()),
        username: None,
        heartbeat: douyu_core::session::HEARTBEAT,
        connect_timeout: Duration::from_secs(10),
        initial_backoff: Duration::from_secs(1),
        max_backoff: Duration::from_secs(60),
        max_retries: None,
        recorder: None,
        read_pause: args.read_pause,
    };
    let received = Arc::new(AtomicU64::new(0));
    let joined = Arc::new(AtomicU64::new(0));
    let samples = Arc::new(Mutex::new(Vec::new()));
    let full = Arc::new(AtomicBool::new(false));
    let (stop_tx, stop) = watch::channel(false);
    let clock = Clock::start();
    let mut tasks = tokio::task::JoinSet::new();
    for room in 1..=args.rooms {
        let sink = Counting {
            received: received.clone(),
            joined: joined.clone(),
            samples: samples.clone(),
            full: full.clone(),
        };
        let (options, stop) = (options.clone(), stop.clone());
        tasks.spawn(async move {
            let _ = follow_room(room, options, clock, stop, Some(Box::new(sink))).await;
        });
    }
    let started = Instant::now();
    while joined.load(Ordering::Relaxed) < args.rooms {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the rooms did not all join in 120 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The collector's bench waits as long after its rooms joined.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (m1, t1, c1) = (received.load(Ordering::Relaxed), Instant::now(), cpu());
    tokio::time::sleep(args.window).await;
    let (m2, t2, c2) = (received.load(Ordering::Relaxed), Instant::now(), cpu());
    report("read", m2 - m1, t2 - t1, c2 - c1);
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
    std::mem::take(&mut *samples.lock().unwrap())
}

/// Publishes `samples` in turn at `args.rate × args.rooms` a second.
async fn publish_floor(args: &Args, samples: Vec<Sample>) {
    assert!(!samples.is_empty(), "no messages read to publish");
    let client = async_nats::connect(&args.nats).await.expect("--nats");
    let js = jetstream::new(client.clone());
    js.get_or_create_stream(stream::Config {
        name: "COLLECT_FLOOR".into(),
        subjects: vec!["floor.>".into()],
        storage: stream::StorageType::File,
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    })
    .await
    .expect("the floor's stream");
    let samples: Vec<(Subject, Bytes)> = samples
        .into_iter()
        .map(|sample| (sample.subject.into(), sample.json.into()))
        .collect();
    let inbox = client.new_inbox();
    let mut acks = client
        .subscribe(format!("{inbox}.*"))
        .await
        .expect("subscribe");
    let acked = Arc::new(AtomicU64::new(0));
    let counter = acked.clone();
    tokio::spawn(async move {
        while acks.next().await.is_some() {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    let rate = args.rate * args.rooms as f64;
    let run = std::process::id();
    let mut sent = 0u64;
    let started = Instant::now();
    let warm = Duration::from_secs(3);
    let mut window: Option<(u64, Instant, Duration)> = None;
    // Sent in bursts every 10 ms, as the rooms' reads come in bursts: a
    // burst is one write to NATS, and a wake per message would be no floor.
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    loop {
        tick.tick().await;
        let elapsed = started.elapsed();
        if window.is_none() && elapsed >= warm {
            window = Some((acked.load(Ordering::Relaxed), Instant::now(), cpu()));
        }
        if elapsed >= warm + args.window {
            break;
        }
        let due = (elapsed.as_secs_f64() * rate) as u64;
        while sent < due && sent - acked.load(Ordering::Relaxed) < args.in_flight as u64 {
            let (subject, payload) = &samples[(sent % samples.len() as u64) as usize];
            let mut reply = String::with_capacity(inbox.len() + 21);
            let _ = write!(reply, "{inbox}.{sent}");
            let mut headers = HeaderMap::new();
            let mut id = String::with_capacity(32);
            let _ = write!(id, "{run}:{sent}");
            headers.insert(NATS_MESSAGE_ID, id.as_str());
            client
                .publish_with_reply_and_headers(subject.clone(), reply, headers, payload.clone())
                .await
                .expect("publish");
            sent += 1;
        }
    }
    let (a1, t1, c1) = window.expect("a window");
    report(
        "publish",
        acked.load(Ordering::Relaxed) - a1,
        t1.elapsed(),
        cpu() - c1,
    );
    let _ = js.delete_stream("COLLECT_FLOOR").await;
}

#[tokio::main]
async fn main() {
    let args = args();
    // Ask for the tick rate now, not in a window.
    let _ = cpu();
    let samples = read_floor(&args).await;
    publish_floor(&args, samples).await;
}
