//! The floors under `douyu collect`'s cost per message: what reading the
//! rooms and publishing to JetStream cost without the collector's own work
//! between them, so that its figure can be read against them in the same
//! run (`host-linux/collect-bench.sh` runs this once the collector has
//! stopped, against the same simulator and nats-server).
//!
//! Three windows, in one process:
//!
//! - **read**: every room followed as `collect` follows it (the same session
//!   loop, watch options and read pause), each message parsed by the core's
//!   session and then dropped. No JSON, no NATS, no leases.
//! - **read and publish**: the same, while messages of the JSON `collect`
//!   makes (rendered before the windows) are published at the rate the
//!   rooms send: everything `collect` does but its own work in between.
//! - **publish**: the publishing alone, the rooms left.
//!
//! Publishing is what `collect`'s publisher asks of `async-nats`: each
//! message with a `Nats-Msg-Id` header and a reply subject under one
//! wildcard subscription, at most `--in-flight` awaiting their ack, sent in
//! bursts. The acks are only told apart (stored or refused), not parsed.
//! Left out, as `collect`'s own work: the JSON, the message ids (a SHA-256
//! for types without one) and subjects, the rooms' buffers and the hand-off
//! to the publisher, the table of awaited acks and its timeouts, the
//! counters and histogram, and the leases.
//!
//! Each window prints CPU time a message (this process's, over the window)
//! and messages a second per core.
//!
//! ```sh
//! cargo bench -p douyu-host --bench collect_floors -- \
//!     --server tcp://127.0.0.1:8601 --rooms 1000 --rate 20 --nats nats://127.0.0.1:4222 --window 25
//! ```

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use async_nats::header::{HeaderMap, NATS_MESSAGE_ID};
use async_nats::jetstream::{self, stream};
use async_nats::{StatusCode, Subject};
use bytes::Bytes;
use douyu_core::message::ServerMessage;
use douyu_host::cli::watch_options;
use douyu_host::render::{Filter, Format, Renderer, write_message_json};
use douyu_host::time::Clock;
use douyu_host::watch::{Link, Sink, follow_room};
use douyu_host::wire::Endpoint;
use futures_util::StreamExt as _;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// The collector's allocator, so that the floors allocate as it does.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Messages kept (as the JSON `collect` makes of them) for publishing,
/// which sends them in turn.
const SAMPLES: usize = 2_000;

/// Time a window's load runs before the window opens, as in
/// `collect-bench.sh`.
const WARM_UP: Duration = Duration::from_secs(3);

/// Publishing's burst period: the rooms' reads come in bursts, and a burst
/// goes to NATS in one write.
const BURST: Duration = Duration::from_millis(10);

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

/// Clock ticks a second, the unit of `/proc`'s CPU times (asked of
/// `getconf` once, in `main`, before any window).
static CLOCK_TICKS: LazyLock<u64> = LazyLock::new(|| {
    let out = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .expect("getconf");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a CLK_TCK")
});

/// This process's CPU time (user and system), from `/proc/self/stat`.
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the command name (which may hold spaces), from the
    // third: utime and stime are the 14th and 15th.
    let rest = &stat[stat.rfind(')').expect("a stat line") + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_secs_f64(ticks as f64 / *CLOCK_TICKS as f64)
}

/// A message read, as publishing sends it.
struct Sample {
    /// `floor.<room>.<type>`: `collect`'s subject, in a stream of its own.
    subject: Subject,
    /// The JSON `collect` makes of it (its time the epoch: a real one's
    /// length).
    json: Bytes,
}

/// Counts what every room reads, and keeps the first messages' JSON.
#[derive(Default)]
struct Reads {
    received: AtomicU64,
    /// Rooms joined now.
    joined: AtomicU64,
    samples: Mutex<Vec<Sample>>,
    /// Set once the samples are all taken: the lock is not taken again.
    full: AtomicBool,
}

/// One room's sink.
struct Counting {
    reads: Arc<Reads>,
    joined: bool,
}

impl Sink for Counting {
    fn message(&mut self, room: u64, message: &ServerMessage<'_>) -> anyhow::Result<()> {
        let reads = &*self.reads;
        reads.received.fetch_add(1, Ordering::Relaxed);
        // Only before the windows (the samples are full well before them).
        if reads.full.load(Ordering::Relaxed) {
            return Ok(());
        }
        let mut samples = reads.samples.lock().unwrap();
        // A subject token as `collect` makes it for the simulator's types.
        if let Ok(Some(kind)) = message.map().message_type()
            && let Some(kind) = kind.as_plain()
            && !kind.is_empty()
            && kind.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            let mut json = Vec::new();
            write_message_json(message, Some(0), &mut json);
            samples.push(Sample {
                subject: format!("floor.{room}.{kind}").into(),
                json: json.into(),
            });
        }
        if samples.len() >= SAMPLES {
            reads.full.store(true, Ordering::Relaxed);
        }
        Ok(())
    }

    fn link(&mut self, _room: u64, link: Link) {
        let up = link == Link::Joined;
        if up != self.joined {
            self.joined = up;
            if up {
                self.reads.joined.fetch_add(1, Ordering::Relaxed);
            } else {
                self.reads.joined.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
}

/// Follows every room until `stop`, once all have joined and the samples
/// are taken.
async fn follow_rooms(
    args: &Args,
    stop: &watch::Receiver<bool>,
    tasks: &mut JoinSet<()>,
) -> Arc<Reads> {
    // As `collect` makes them (its `--backoff` is 1 s by default).
    let mut options = watch_options(
        Endpoint::parse(&args.server).expect("--server"),
        Renderer::new(Format::Json, false, Filter::default()),
        None,
        douyu_core::session::HEARTBEAT,
        Duration::from_secs(1),
    );
    options.read_pause = args.read_pause;
    let reads = Arc::new(Reads::default());
    let clock = Clock::start();
    for room in 1..=args.rooms {
        let sink = Counting {
            reads: reads.clone(),
            joined: false,
        };
        let (options, stop) = (options.clone(), stop.clone());
        tasks.spawn(async move {
            let _ = follow_room(room, options, clock, stop, Some(Box::new(sink))).await;
        });
    }
    let started = Instant::now();
    while reads.joined.load(Ordering::Relaxed) < args.rooms || !reads.full.load(Ordering::Relaxed) {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the rooms did not all join (and send {SAMPLES} messages) in 120 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    reads
}

/// What publishing has done.
#[derive(Default)]
struct Publishes {
    sent: AtomicU64,
    acked: AtomicU64,
    /// Answered with an error or "no responders": the bench is wrong.
    refused: AtomicU64,
    /// Bursts cut short by the in-flight bound (the next one is larger).
    held_back: AtomicU64,
}

/// Creates the stream and starts publishing `samples` in turn, at
/// `args.rate × args.rooms` a second, until `stop`.
async fn start_publishing(
    args: &Args,
    samples: Vec<Sample>,
    stop: watch::Receiver<bool>,
    tasks: &mut JoinSet<()>,
) -> (Arc<Publishes>, jetstream::Context) {
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
    .expect("the floors' stream");
    let inbox = client.new_inbox();
    let mut replies = client
        .subscribe(format!("{inbox}.*"))
        .await
        .expect("subscribe");
    let publishes = Arc::new(Publishes::default());
    let counts = publishes.clone();
    tasks.spawn(async move {
        while let Some(reply) = replies.next().await {
            let refused = reply.status.is_some_and(|s| s != StatusCode::OK)
                || reply.payload.starts_with(b"{\"error\"");
            let counter = if refused {
                &counts.refused
            } else {
                &counts.acked
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    let counts = publishes.clone();
    let (rate, in_flight) = (args.rate * args.rooms as f64, args.in_flight as u64);
    // A task, as `collect`'s publisher is.
    tasks.spawn(async move {
        let run = std::process::id();
        let mut sent = 0u64;
        let started = Instant::now();
        let mut tick = tokio::time::interval(BURST);
        while !*stop.borrow() {
            tick.tick().await;
            let due = (started.elapsed().as_secs_f64() * rate) as u64;
            while sent < due {
                let done =
                    counts.acked.load(Ordering::Relaxed) + counts.refused.load(Ordering::Relaxed);
                if sent.saturating_sub(done) >= in_flight {
                    counts.held_back.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                let sample = &samples[(sent % samples.len() as u64) as usize];
                let mut reply = String::with_capacity(inbox.len() + 21);
                let _ = write!(reply, "{inbox}.{sent}");
                let mut id = String::with_capacity(32);
                let _ = write!(id, "{run}:{sent}");
                let mut headers = HeaderMap::new();
                headers.insert(NATS_MESSAGE_ID, id.as_str());
                client
                    .publish_with_reply_and_headers(
                        sample.subject.clone(),
                        reply,
                        headers,
                        sample.json.clone(),
                    )
                    .await
                    .expect("publish");
                sent += 1;
                counts.sent.store(sent, Ordering::Relaxed);
            }
        }
    });
    (publishes, js)
}

/// Measures a window of `count` (messages so far) and prints it.
async fn window(name: &str, window: Duration, count: impl Fn() -> u64) {
    tokio::time::sleep(WARM_UP).await;
    let (m1, t1, c1) = (count(), Instant::now(), cpu());
    tokio::time::sleep(window).await;
    let (m2, t2, c2) = (count(), Instant::now(), cpu());
    let (messages, span, busy) = ((m2 - m1) as f64, t2 - t1, (c2 - c1).as_secs_f64());
    println!(
        "{name} floor: {:.0} msg/s over {:.1} s, CPU {busy:.2} s: {:.0} msg/s per core ({:.2} µs a message)",
        messages / span.as_secs_f64(),
        span.as_secs_f64(),
        messages / busy,
        busy * 1e6 / messages,
    );
}

#[tokio::main]
async fn main() {
    let args = args();
    LazyLock::force(&CLOCK_TICKS);
    let (stop_rooms_tx, stop_rooms) = watch::channel(false);
    let (stop_publishing_tx, stop_publishing) = watch::channel(false);
    let mut rooms = JoinSet::new();
    let mut publishing = JoinSet::new();
    let reads = follow_rooms(&args, &stop_rooms, &mut rooms).await;
    let received = || reads.received.load(Ordering::Relaxed);
    window("read", args.window, received).await;
    let samples = std::mem::take(&mut *reads.samples.lock().unwrap());
    let (publishes, js) = start_publishing(&args, samples, stop_publishing, &mut publishing).await;
    let acked = || publishes.acked.load(Ordering::Relaxed);
    window("read and publish", args.window, acked).await;
    let _ = stop_rooms_tx.send(true);
    while rooms.join_next().await.is_some() {}
    window("publish", args.window, acked).await;
    let _ = stop_publishing_tx.send(true);
    let (sent, refused, held_back) = (
        publishes.sent.load(Ordering::Relaxed),
        publishes.refused.load(Ordering::Relaxed),
        publishes.held_back.load(Ordering::Relaxed),
    );
    println!(
        "publishing: {sent} sent, {} acked, {refused} refused, {held_back} bursts held back by the in-flight bound",
        acked()
    );
    let _ = js.delete_stream("COLLECT_FLOOR").await;
    publishing.abort_all();
    assert_eq!(
        refused, 0,
        "JetStream refused publishes: the floors are wrong"
    );
}
