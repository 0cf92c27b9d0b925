//! Server fan-out under load, on loopback, bounded in time.
//!
//! For each client count N, starts `douyu serve --simulate R --probe` (a
//! chat line ~350 bytes long whose text is its scheduled send time) at
//! rising rates R, connects N watching clients from this process, and over a
//! measuring window reports deliveries/s against N×R, latency (receive time
//! minus scheduled time) at p50/p99, the server's CPU and resident memory,
//! and how many clients it dropped. A separate run measures resident memory
//! per idle joined connection.
//!
//! `--floor` measures the limit instead: the same clients, but what they
//! connect to is a bare loop in this process, two threads writing each
//! message to each socket in turn (no tokio, no session, no broadcast
//! channel). Its latency is what the machine's loopback TCP costs a round of
//! N writes, the floor under any server's.
//!
//! ```sh
//! cargo bench -p douyu-host --bench fanout                       # 1k and 10k clients
//! cargo bench -p douyu-host --bench fanout -- --clients 1000 --rates 1000,2000 --window 5
//! cargo bench -p douyu-host --bench fanout -- --idle --clients 10000  # idle memory only
//! cargo bench -p douyu-host --bench fanout -- --floor --clients 10000 --rates 10,75  # the limit
//! ```

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use douyu_core::frame::{Direction, Frame, Frames};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const DOUYU: &str = env!("CARGO_BIN_EXE_douyu");
const ROOM: u64 = 777;

/// Latency histogram: 100 µs buckets up to 10 s, shared by every client.
struct Histogram {
    buckets: Vec<AtomicU64>,
    recording: AtomicBool,
    deliveries: AtomicU64,
}

const BUCKET_US: u64 = 100;
const BUCKETS: usize = 100_000;

impl Histogram {
    fn new() -> Self {
        Self {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            recording: AtomicBool::new(false),
            deliveries: AtomicU64::new(0),
        }
    }

    fn record(&self, latency_us: u64, count: u64) {
        if self.recording.load(Ordering::Relaxed) {
            let bucket = ((latency_us / BUCKET_US) as usize).min(BUCKETS - 1);
            self.buckets[bucket].fetch_add(count, Ordering::Relaxed);
        }
    }

    fn start(&self) {
        for bucket in &self.buckets {
            bucket.store(0, Ordering::Relaxed);
        }
        self.deliveries.store(0, Ordering::Relaxed);
        self.recording.store(true, Ordering::Relaxed);
    }

    fn stop(&self) -> (u64, f64, f64) {
        self.recording.store(false, Ordering::Relaxed);
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        let quantile = |q: f64| {
            let want = (total as f64 * q).ceil() as u64;
            let mut seen = 0;
            for (i, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= want.max(1) {
                    return (i as u64 * BUCKET_US + BUCKET_US / 2) as f64 / 1000.0;
                }
            }
            f64::NAN
        };
        (
            self.deliveries.load(Ordering::Relaxed),
            quantile(0.50),
            quantile(0.99),
        )
    }
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

fn client_frame(body: &str) -> Vec<u8> {
    let frame = Frame::new(Direction::ClientToServer, body);
    let mut out = vec![0u8; frame.encoded_len()];
    frame.encode(&mut out).expect("sized for it");
    out
}

/// One watching client: logs in, joins, heartbeats, and times every chat
/// line it receives. Returns when the server closes the connection.
async fn watcher(
    addr: String,
    histogram: Arc<Histogram>,
    dropped: Arc<AtomicU64>,
    joined: Arc<AtomicU64>,
) {
    let Ok(mut stream) = TcpStream::connect(&addr).await else {
        dropped.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let mut hello = client_frame(&format!("type@=loginreq/roomid@={ROOM}/"));
    hello.extend(client_frame(&format!(
        "type@=joingroup/rid@={ROOM}/gid@=-9999/"
    )));
    if stream.write_all(&hello).await.is_err() {
        dropped.fetch_add(1, Ordering::Relaxed);
        return;
    }
    joined.fetch_add(1, Ordering::Relaxed);
    let finder = memchr::memmem::Finder::new(b"/txt@=");
    let heartbeat = client_frame("type@=mrkl/");
    let mut next_beat = Instant::now() + Duration::from_secs(30);
    let mut buf = vec![0u8; 16 * 1024];
    let mut filled = 0;
    loop {
        let n = match stream.read(&mut buf[filled..]).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        filled += n;
        let now = now_us();
        let mut frames = Frames::new(&buf[..filled], buf.len());
        let mut count = 0;
        for (_, frame) in frames.by_ref() {
            let Ok(frame) = frame else { continue };
            let body = frame.body.as_bytes();
            let Some(at) = finder.find(body) else {
                continue;
            };
            let digits = &body[at + 6..];
            let end = digits
                .iter()
                .position(|&b| b == b'/')
                .unwrap_or(digits.len());
            let Some(sent) = std::str::from_utf8(&digits[..end])
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
            else {
                continue;
            };
            histogram.record(now.saturating_sub(sent), 1);
            count += 1;
        }
        histogram.deliveries.fetch_add(count, Ordering::Relaxed);
        let rest = frames.remainder().len();
        buf.copy_within(filled - rest..filled, 0);
        filled = rest;
        if Instant::now() >= next_beat {
            next_beat += Duration::from_secs(30);
            if stream.write_all(&heartbeat).await.is_err() {
                break;
            }
        }
    }
    dropped.fetch_add(1, Ordering::Relaxed);
}

/// A `douyu serve` process on an ephemeral port.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(extra: &[String]) -> Self {
        let mut command = Command::new(DOUYU);
        command
            .args([
                "serve",
                "--tcp",
                "127.0.0.1:0",
                "--max-connections",
                "30000",
                // Every client comes from 127.0.0.1, all at once.
                "--max-per-ip",
                "30000",
                "--connect-rate",
                "0",
            ])
            .args(extra);
        Self::spawn(command)
    }

    /// The limit's bare write loop (see the module's documentation).
    fn bare(clients: usize, rate: f64) -> Self {
        let mut command = Command::new(std::env::current_exe().expect("this bench's path"));
        command.args(["--bare-writer", &clients.to_string(), &rate.to_string()]);
        Self::spawn(command)
    }

    fn spawn(mut command: Command) -> Self {
        let mut child = command
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting douyu serve");
        let stderr = child.stderr.take().expect("piped");
        let mut lines = BufReader::new(stderr).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("server exited early")
                .expect("reading its log");
            if let Some(at) = line.find("serving TCP addr=") {
                break line[at + 17..]
                    .split_whitespace()
                    .next()
                    .expect("address")
                    .to_string();
            }
        };
        // Keep draining the log so the server never blocks on it.
        std::thread::spawn(move || lines.for_each(drop));
        Self { child, addr }
    }

    /// CPU seconds (user + system) used so far.
    fn cpu_seconds(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        let ticks: u64 = fields
            .get(11..13)
            .map_or(0, |f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum());
        ticks as f64 / 100.0
    }

    /// Resident memory in KiB.
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Step {
    clients: usize,
    rate: f64,
    deliveries_per_s: f64,
    expected_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    server_cpu: f64,
    rss_mib: f64,
    dropped: u64,
}

impl Step {
    fn sustained(&self) -> bool {
        self.deliveries_per_s >= 0.95 * self.expected_per_s
            && self.dropped == 0
            && self.p99_ms <= 250.0
    }
}

async fn connect_all(
    addr: &str,
    clients: usize,
    histogram: &Arc<Histogram>,
) -> (Arc<AtomicU64>, Vec<tokio::task::JoinHandle<()>>) {
    let dropped = Arc::new(AtomicU64::new(0));
    let joined = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(clients);
    for i in 0..clients {
        tasks.push(tokio::spawn(watcher(
            addr.to_string(),
            histogram.clone(),
            dropped.clone(),
            joined.clone(),
        )));
        if i % 500 == 499 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while (joined.load(Ordering::Relaxed) + dropped.load(Ordering::Relaxed)) < clients as u64
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (dropped, tasks)
}

async fn step(clients: usize, rate: f64, window: Duration, bare: bool) -> Step {
    let server = if bare {
        Server::bare(clients, rate)
    } else {
        Server::start(&[
            "--simulate".into(),
            rate.to_string(),
            "--room".into(),
            ROOM.to_string(),
            "--probe".into(),
            "--queue".into(),
            "256".into(),
            "--send-timeout".into(),
            "5".into(),
        ])
    };
    let histogram = Arc::new(Histogram::new());
    let (dropped, tasks) = connect_all(&server.addr, clients, &histogram).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let dropped_before = dropped.load(Ordering::Relaxed);
    let cpu_before = server.cpu_seconds();
    let started = Instant::now();
    histogram.start();
    tokio::time::sleep(window).await;
    let (deliveries, p50_ms, p99_ms) = histogram.stop();
    let elapsed = started.elapsed().as_secs_f64();
    let server_cpu = (server.cpu_seconds() - cpu_before) / elapsed;
    let rss_mib = server.rss_kib() as f64 / 1024.0;
    let dropped = dropped.load(Ordering::Relaxed) - dropped_before;
    drop(server);
    for task in tasks {
        task.abort();
    }
    Step {
        clients,
        rate,
        deliveries_per_s: deliveries as f64 / elapsed,
        expected_per_s: clients as f64 * rate,
        p50_ms,
        p99_ms,
        server_cpu,
        rss_mib,
        dropped,
    }
}

/// Resident memory per idle joined connection, two ways: the server's
/// growth from no clients to `clients`, divided by them (its first
/// connections also pay one-time costs: the allocator's per-thread caches
/// and first slabs, tokio's first registrations), and the growth over the
/// last nine tenths only, after a tenth have joined (what one more
/// connection costs).
async fn idle_memory(clients: usize) -> (f64, f64) {
    let server = Server::start(&[]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = server.rss_kib();
    let histogram = Arc::new(Histogram::new());
    let first = clients / 10;
    let (_, mut tasks) = connect_all(&server.addr, first, &histogram).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let warm = server.rss_kib();
    let (_, rest) = connect_all(&server.addr, clients - first, &histogram).await;
    tasks.extend(rest);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = server.rss_kib();
    drop(server);
    for task in tasks {
        task.abort();
    }
    let per = |kib: u64, n: usize| kib as f64 * 1024.0 / n as f64;
    (
        per(after.saturating_sub(before), clients),
        per(after.saturating_sub(warm), clients - first),
    )
}

/// The limit's server, run in a child process of this bench (its sockets
/// and the clients' would not fit one process's open-files limit): accepts
/// `clients` connections, then every 5 ms writes the messages due (the
/// simulator's `chatmsg` with its scheduled time as text) to every socket,
/// from two threads with half the sockets each, until killed.
fn bare_writer(clients: usize, rate: f64) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding");
    // The line `Server::start` waits for.
    eprintln!(
        "serving TCP addr={}",
        listener.local_addr().expect("address")
    );
    // Accepted as fast as they come: std's listen backlog is short.
    let _ = listener.set_nonblocking(true);
    let mut sockets = Vec::with_capacity(clients);
    while sockets.len() < clients {
        match listener.accept() {
            Ok((socket, _)) => {
                let _ = socket.set_nonblocking(false);
                let _ = socket.set_nodelay(true);
                sockets.push(socket);
            }
            Err(_) => std::thread::sleep(Duration::from_micros(200)),
        }
    }
    let (start, start_us) = (Instant::now(), now_us());
    let (left, right) = sockets.split_at_mut(clients / 2);
    std::thread::scope(|scope| {
        for half in [left, right] {
            scope.spawn(move || {
                use std::io::Write;
                let mut room = douyu_core::sim::Room::new(ROOM, 7);
                let (mut frame, mut sent) = ([0u8; 4096], 0u64);
                loop {
                    std::thread::sleep(Duration::from_millis(5));
                    // Message k is due at k / rate.
                    let due = (start.elapsed().as_secs_f64() * rate) as u64 + 1;
                    while sent < due {
                        let scheduled = start_us + (sent as f64 / rate * 1e6) as u64;
                        let n = room
                            .chat_frame(scheduled / 1000, &scheduled.to_string(), &mut frame)
                            .expect("fits");
                        for socket in half.iter_mut() {
                            let _ = socket.write_all(&frame[..n]);
                        }
                        sent += 1;
                    }
                }
            });
        }
    });
}

fn list<T: std::str::FromStr>(args: &[String], flag: &str) -> Option<Vec<T>> {
    let at = args.iter().position(|a| a == flag)?;
    Some(
        args.get(at + 1)?
            .split(',')
            .filter_map(|v| v.parse().ok())
            .collect(),
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let limit = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(0);
    if let [_, flag, clients, rate] = &args[..]
        && flag == "--bare-writer"
    {
        return bare_writer(
            clients.parse().expect("client count"),
            rate.parse().expect("rate"),
        );
    }
    let clients: Vec<usize> = list(&args, "--clients").unwrap_or_else(|| vec![1000, 10_000]);
    let window = Duration::from_secs_f64(
        list::<f64>(&args, "--window")
            .and_then(|w| w.first().copied())
            .unwrap_or(5.0),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    eprintln!(
        "open files limit {limit}; window {window:?}; {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "| clients | rate/s | expected/s | deliveries/s | p50 ms | p99 ms | server CPU | server RSS MiB | dropped | |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    // `--idle`: only the resident memory of idle joined connections.
    let rates_wanted = !args.iter().any(|a| a == "--idle");
    let bare = args.iter().any(|a| a == "--floor");
    runtime.block_on(async {
        for &n in clients.iter().filter(|_| rates_wanted) {
            let rates: Vec<f64> = list(&args, "--rates").unwrap_or_else(|| {
                let target = if n >= 10_000 { 300.0 } else { 3000.0 };
                [0.25, 0.5, 1.0, 1.5, 2.0, 3.0].iter().map(|f| f * target).collect()
            });
            let mut sustained = None;
            for &rate in &rates {
                let s = step(n, rate, window, bare).await;
                let verdict = match (bare, s.sustained()) {
                    (true, _) => "limit: bare write loop",
                    (false, true) => "sustained",
                    (false, false) => "past the limit",
                };
                println!(
                    "| {} | {} | {:.0} | {:.0} | {:.1} | {:.1} | {:.0} % | {:.0} | {} | {verdict} |",
                    s.clients, s.rate, s.expected_per_s, s.deliveries_per_s, s.p50_ms, s.p99_ms, s.server_cpu * 100.0, s.rss_mib, s.dropped
                );
                if s.sustained() {
                    sustained = Some(s.deliveries_per_s);
                } else if !bare {
                    break;
                }
            }
            eprintln!("{n} clients: highest sustained {sustained:?} deliveries/s");
        }
        for &n in clients.iter().filter(|_| !bare) {
            let (average, marginal) = idle_memory(n).await;
            println!(
                "\nidle: {n} joined clients cost the server {average:.0} B resident each \
                 ({marginal:.0} B each beyond the first tenth)"
            );
        }
    });
}
