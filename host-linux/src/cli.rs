//! The command line: `douyu demo | watch | serve | say | who | decode | generate`.

use std::collections::HashSet;
use std::io::{IsTerminal, Read, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::decode;
use crate::render::{Format, Renderer};
use crate::server::{BoundServer, ServerOptions, Simulation};
use crate::time::{Clock, stopped};
use crate::watch::{WatchOptions, say, watch_room};
use crate::wire::Endpoint;
use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use douyu_core::session::{ChatLimit, ServerConfig};
use tokio::sync::watch;
use tracing::{info, warn};

/// Most messages per second `serve --simulate` and `demo --rate` accept.
///
/// Measured on this project's 2-core machine (release build), the generator
/// alone writes about 1.3 M messages a second on one core (465 MB/s); the
/// simulator also copies each one into its batch, and the server must still
/// fan the batches out on the cores that are left. 200 k a second is about a
/// sixth of what the generator can do, and already 70 MB/s to every client
/// (the fan-out bench sustains 3,000 a second to 1,000 clients): above it
/// the rate is a typo, not a test. (A debug build generates about 65 k a
/// second; the simulator then sends what it can and skips the rest.)
pub const MAX_SIMULATE_RATE: f64 = 200_000.0;

/// Largest `decode --max-frame`: the decoder allocates a buffer this large
/// up front, so the bound keeps a typo from asking for exabytes. The live
/// service's frames are a few KiB; 64 MiB is far past any real one.
pub const MAX_DECODE_FRAME: usize = 64 << 20;

/// Time a command gets to shut down cleanly after Ctrl-C or SIGTERM before
/// the process exits anyway: longer than the server's own 5-s wait for its
/// sessions to close, so that wait ends first and says what it left open.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(7);

/// Watch, serve and decode Douyu (斗鱼) danmaku: chat, gifts and room events.
///
/// Logs go to stderr (set RUST_LOG, e.g. RUST_LOG=debug); data to stdout.
#[derive(Debug, Parser)]
#[command(name = "douyu", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a local server with a simulated busy room and watch it: no network needed.
    Demo {
        /// Simulated messages per second.
        #[arg(long, default_value_t = 20.0)]
        rate: f64,
        /// Stop after this many seconds (default: until Ctrl-C).
        #[arg(long)]
        duration: Option<f64>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Watch one or more rooms, printing their messages until Ctrl-C.
    Watch {
        /// Room ids.
        #[arg(required = true)]
        rooms: Vec<u64>,
        /// Server: tcp://host:port, ws://… or wss://… (WebSocket uses the web login).
        #[arg(long, default_value = "tcp://danmuproxy.douyu.com:8601")]
        server: String,
        /// Nickname to log in with (the server picks one if omitted).
        #[arg(long)]
        name: Option<String>,
        /// Seconds between heartbeats (1 to 3600); the link counts as dead after two.
        #[arg(long, default_value_t = douyu_core::session::HEARTBEAT.as_secs_f64())]
        heartbeat: f64,
        /// Seconds before the first reconnect; the delay doubles after each
        /// connection that fails or ends within a minute, up to 60.
        #[arg(long, default_value_t = 1.0)]
        backoff: f64,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Serve rooms to clients over TCP and/or WebSocket.
    Serve {
        /// Address for raw TCP clients.
        #[arg(long, default_value = "127.0.0.1:8601")]
        tcp: Option<SocketAddr>,
        /// Address for WebSocket clients (off unless given).
        #[arg(long)]
        ws: Option<SocketAddr>,
        /// Generate this many messages per second in --room (in each of --rooms).
        #[arg(long, requires = "simulated")]
        simulate: Option<f64>,
        /// Room for --simulate.
        #[arg(long, group = "simulated")]
        room: Option<u64>,
        /// Rooms for --simulate, e.g. 1-200,288016 (each its own traffic;
        /// every chat line's cid ends with its number in the room, in hex).
        #[arg(long, group = "simulated")]
        rooms: Option<String>,
        /// Simulate only chat lines carrying their scheduled send time in
        /// microseconds (for measuring latency under load).
        #[arg(long, requires = "simulate")]
        probe: bool,
        /// Most clients at once.
        #[arg(long, default_value_t = 20_000)]
        max_connections: usize,
        /// Largest frame accepted from a client, in bytes.
        #[arg(long, default_value_t = 16 * 1024)]
        max_frame: usize,
        /// Seconds of silence after which a client is dropped.
        #[arg(long, default_value_t = douyu_core::session::DEAD_AFTER.as_secs_f64())]
        heartbeat_window: f64,
        /// Broadcast batches a client may fall behind before it is dropped.
        #[arg(long, default_value_t = 1024)]
        queue: usize,
        /// Seconds a write to one client may stall before it is dropped.
        #[arg(long, default_value_t = 10.0)]
        send_timeout: f64,
        /// Most rooms open at once (a room opens with its first member and
        /// closes with its last); a login that would open one more is refused.
        #[arg(long, default_value_t = 1024)]
        max_rooms: usize,
        /// Seconds a connection has to log in before it is refused.
        #[arg(long, default_value_t = ServerConfig::default().login_timeout.as_secs_f64())]
        login_timeout: f64,
        /// Chat lines a second each client may send (0: unlimited); excess
        /// lines are dropped, and a client that keeps flooding is cut off.
        #[arg(long, default_value_t = ChatLimit::DEFAULT_PER_SECOND)]
        chat_rate: u16,
        /// Chat lines a client may send at once, within --chat-rate.
        #[arg(long, default_value_t = ChatLimit::DEFAULT_BURST, value_parser = clap::value_parser!(u16).range(1..))]
        chat_burst: u16,
        /// Longest chat line relayed, in bytes as escaped on the wire (longer
        /// ones are dropped); a room keeps its last --queue lines.
        #[arg(
            long,
            default_value_t = u16::try_from(ServerConfig::default().max_chat_len).unwrap_or(u16::MAX),
            value_parser = clap::value_parser!(u16).range(1..)
        )]
        max_chat_len: u16,
        /// Arrivals and departures announced a second in each room, after a
        /// burst of as many (0: all); the rest are not announced.
        #[arg(long, default_value_t = 20)]
        presence_rate: u32,
        /// Most clients at once from one address (IPv6: one /64); more are
        /// closed at once.
        #[arg(long, default_value_t = 256)]
        max_per_ip: usize,
        /// New connections a second from one address, after a first burst
        /// of --max-per-ip (0: unlimited); faster ones are closed at once.
        #[arg(long, default_value_t = 20)]
        connect_rate: u32,
    },
    /// Log in to a room, send one chat line, and log out.
    Say {
        /// Room id.
        room: u64,
        /// The line to send.
        text: String,
        /// Server URL (tcp://, ws:// or wss://).
        #[arg(long)]
        server: String,
        /// Nickname to log in with.
        #[arg(long)]
        name: Option<String>,
        /// Seconds to wait for the line to come back as a broadcast.
        #[arg(long, default_value_t = 10.0)]
        timeout: f64,
    },
    /// List the nicknames online in a room, one a line (this project's
    /// `whoreq` extension: `douyu serve` answers it, Douyu's service does not).
    Who {
        /// Room id.
        room: u64,
        /// Server URL (tcp://, ws:// or wss://).
        #[arg(long)]
        server: String,
        /// Nickname to log in with (a visitor's if omitted).
        #[arg(long)]
        name: Option<String>,
        /// Seconds to wait for the answer.
        #[arg(long, default_value_t = 10.0)]
        timeout: f64,
    },
    /// Collect many rooms into NATS JetStream, sharing them with other
    /// collectors of the same stream.
    Collect(CollectArgs),
    /// Decode a capture of raw frames into JSON lines (exit 1 if any frame is bad).
    Decode(DecodeArgs),
    /// Write simulated server traffic as raw frames: a deterministic corpus
    /// (70 % chatmsg, 15 % uenter, 10 % dgb, 5 % other) for benchmarks.
    Generate {
        /// Megabytes to write (at least).
        #[arg(long, default_value_t = 64)]
        megabytes: usize,
        /// The same seed always gives the same bytes.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Room id in the messages.
        #[arg(long, default_value_t = 9999)]
        room: u64,
        /// Output file (default: stdout).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
struct OutputArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Only these message types (comma-separated, e.g. chatmsg,dgb).
    #[arg(long, value_delimiter = ',')]
    only: Option<Vec<String>>,
}

impl OutputArgs {
    fn renderer(&self) -> Renderer {
        let only = self
            .only
            .as_ref()
            .map(|types| types.iter().cloned().collect::<HashSet<_>>());
        Renderer::new(self.format, std::io::stdout().is_terminal(), only)
    }
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("room_list").required(true))]
struct CollectArgs {
    /// Rooms, e.g. 1-200,288016.
    #[arg(long, group = "room_list")]
    rooms: Option<String>,
    /// A file of rooms: ids and ranges, by commas, spaces or lines; `#` comments.
    #[arg(long, group = "room_list")]
    rooms_file: Option<PathBuf>,
    /// Douyu server: tcp://host:port, ws://… or wss://….
    #[arg(long, default_value = "tcp://danmuproxy.douyu.com:8601")]
    server: String,
    /// NATS server.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    nats: String,
    /// JetStream stream (created if absent, on subjects douyu.>); the lease
    /// buckets are STREAM_leases and STREAM_collectors.
    #[arg(long, default_value = "DOUYU")]
    stream: String,
    /// Seconds JetStream remembers a message id, when the stream is created
    /// here: longer than the longest reconnect (60 s) and NATS outage.
    #[arg(long, default_value_t = 120.0)]
    duplicate_window: f64,
    /// KiB of JSON each room buffers while NATS is down or slow; past it
    /// messages are dropped, counted and published as a gap event.
    #[arg(long, default_value_t = 256)]
    room_buffer_kib: usize,
    /// Most publishes awaiting their ack at once.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    in_flight: u32,
    /// Seconds a room's lease lasts unless renewed: a dead collector's
    /// rooms are taken over within about this time.
    #[arg(long, default_value_t = 5.0)]
    lease: f64,
    /// Seconds between status lines on stderr.
    #[arg(long, default_value_t = 5.0)]
    status_every: f64,
    /// Seconds before the first reconnect to a room (doubling up to 60).
    #[arg(long, default_value_t = 1.0)]
    backoff: f64,
}

#[derive(Debug, Args)]
struct DecodeArgs {
    /// Capture file, or - for stdin.
    #[arg(default_value = "-")]
    file: PathBuf,
    /// The input is hex text rather than raw bytes.
    #[arg(long)]
    hex: bool,
    /// Print only the total and the count per message type.
    #[arg(long)]
    summary: bool,
    /// Largest frame accepted, in bytes; larger ones are reported and skipped.
    #[arg(long, default_value_t = 1 << 20)]
    max_frame: usize,
}

fn secs(value: f64, what: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value).with_context(|| format!("bad {what}: {value}"))
}

/// A messages-per-second rate for the simulator, checked: a positive
/// finite number the generator can keep up with ([`MAX_SIMULATE_RATE`]).
fn simulate_rate(rate: f64, what: &str) -> anyhow::Result<f64> {
    if !(rate.is_finite() && rate > 0.0) {
        anyhow::bail!("bad {what}: {rate} (a positive number of messages per second)");
    }
    if rate > MAX_SIMULATE_RATE {
        anyhow::bail!(
            "bad {what}: {rate} messages per second is more than the simulator can make \
             (at most {MAX_SIMULATE_RATE})"
        );
    }
    Ok(rate)
}

/// A channel that turns true on the first Ctrl-C or SIGTERM.
///
/// The signals are watched on a thread of their own, with its own small
/// runtime: the main runtime may be saturated (a simulator at full rate, a
/// flood of clients), and the deadline must hold anyway. After the first
/// signal the command gets [`SHUTDOWN_GRACE`] to finish cleanly; then, or at
/// a second signal, the process exits at once with status 128 + the signal
/// (130 for SIGINT, 143 for SIGTERM), as a shell reports a killed command.
fn stop_on_signals() -> anyhow::Result<watch::Receiver<bool>> {
    use tokio::signal::unix::{SignalKind, signal};
    let (tx, rx) = watch::channel(false);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the signal thread's runtime")?;
    // Registered here, before the command starts: a signal that comes early
    // must not find the default action (death without a word) still in place.
    let (mut int, mut term) = {
        let _entered = runtime.enter();
        (
            signal(SignalKind::interrupt()).context("watching SIGINT")?,
            signal(SignalKind::terminate()).context("watching SIGTERM")?,
        )
    };
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            runtime.block_on(async move {
                let first = tokio::select! {
                    _ = int.recv() => 130,
                    _ = term.recv() => 143,
                };
                info!(
                    "{}: shutting down",
                    if first == 130 {
                        "interrupted"
                    } else {
                        "terminated"
                    }
                );
                let _ = tx.send(true);
                let code = tokio::select! {
                    _ = int.recv() => {
                        warn!("second signal: exiting now");
                        130
                    }
                    _ = term.recv() => {
                        warn!("second signal: exiting now");
                        143
                    }
                    () = tokio::time::sleep(SHUTDOWN_GRACE) => {
                        warn!(grace = ?SHUTDOWN_GRACE, "shutdown took too long: exiting now");
                        first
                    }
                };
                std::process::exit(code);
            });
        })
        .context("starting the signal thread")?;
    Ok(rx)
}

fn watch_options(
    endpoint: Endpoint,
    renderer: Renderer,
    name: Option<String>,
    heartbeat: Duration,
    backoff: Duration,
) -> WatchOptions {
    let max_backoff = Duration::from_secs(60);
    WatchOptions {
        endpoint,
        renderer,
        username: name,
        heartbeat,
        connect_timeout: Duration::from_secs(10),
        initial_backoff: backoff.min(max_backoff),
        max_backoff,
    }
}

async fn watch_rooms(
    rooms: Vec<u64>,
    options: WatchOptions,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let clock = Clock::start();
    let mut tasks = tokio::task::JoinSet::new();
    for room in rooms {
        tasks.spawn(watch_room(room, options.clone(), clock, stop.clone()));
    }
    while let Some(done) = tasks.join_next().await {
        done.context("watch task panicked")??;
    }
    Ok(())
}

async fn demo(rate: f64, duration: Option<f64>, output: &OutputArgs) -> anyhow::Result<()> {
    const ROOM: u64 = 9999;
    let rate = simulate_rate(rate, "--rate")?;
    let options = ServerOptions {
        tcp: Some("127.0.0.1:0".parse()?),
        simulate: Some(Simulation {
            room: ROOM,
            rate,
            probe: false,
        }),
        ..ServerOptions::default()
    };
    let server = BoundServer::bind(options).await?;
    let addr = server.tcp_addr().context("no server address")?;
    let (server_stop_tx, server_stop) = watch::channel(false);
    let server = tokio::spawn(server.run(server_stop));
    let stop = stop_on_signals()?;
    let stop = match duration {
        Some(seconds) => {
            let limit = secs(seconds, "--duration")?;
            let (tx, rx) = watch::channel(false);
            let mut signals = stop.clone();
            tokio::spawn(async move {
                tokio::select! {
                    () = tokio::time::sleep(limit) => {}
                    () = stopped(&mut signals) => {}
                }
                let _ = tx.send(true);
            });
            rx
        }
        None => stop,
    };
    info!(%addr, room = ROOM, rate, "demo server started; watching");
    let endpoint = Endpoint::Tcp(addr.to_string());
    let options = watch_options(
        endpoint,
        output.renderer(),
        None,
        douyu_core::session::HEARTBEAT,
        Duration::from_secs(1),
    );
    let watched = watch_rooms(vec![ROOM], options, stop).await;
    let _ = server_stop_tx.send(true);
    server.await.context("server task")??;
    watched
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Demo {
            rate,
            duration,
            output,
        } => demo(rate, duration, &output).await?,
        Command::Watch {
            rooms,
            server,
            name,
            heartbeat,
            backoff,
            output,
        } => {
            let endpoint = Endpoint::parse(&server)?;
            let backoff = secs(backoff, "--backoff")?;
            // Zero would double to zero: a reconnect storm.
            anyhow::ensure!(
                backoff >= Duration::from_millis(10),
                "bad --backoff: at least 0.01 seconds"
            );
            let heartbeat = secs(heartbeat, "--heartbeat")?;
            // Zero would send heartbeats in a busy loop; days overflow the
            // clock the session's deadlines are turned into.
            anyhow::ensure!(
                (Duration::from_secs(1)..=Duration::from_secs(3600)).contains(&heartbeat),
                "bad --heartbeat: from 1 to 3600 seconds"
            );
            let options = watch_options(endpoint, output.renderer(), name, heartbeat, backoff);
            watch_rooms(rooms, options, stop_on_signals()?).await?;
        }
        Command::Serve {
            tcp,
            ws,
            simulate,
            room,
            rooms,
            probe,
            max_connections,
            max_frame,
            heartbeat_window,
            queue,
            send_timeout,
            max_rooms,
            login_timeout,
            chat_rate,
            chat_burst,
            max_chat_len,
            presence_rate,
            max_per_ip,
            connect_rate,
        } => {
            let simulate = simulate
                .map(|rate| simulate_rate(rate, "--simulate"))
                .transpose()?;
            let mut also_simulate = match &rooms {
                Some(list) => crate::rooms::parse(list).context("bad --rooms")?,
                None => Vec::new(),
            };
            if let Some(rate) = simulate {
                simulate_rate(
                    rate * also_simulate.len().max(1) as f64,
                    "--simulate × rooms",
                )?;
            }
            // The first room is the simulation's own; the rest follow it.
            let room =
                room.or_else(|| (!also_simulate.is_empty()).then(|| also_simulate.remove(0)));
            let mut options = ServerOptions {
                tcp,
                ws,
                max_connections,
                max_frame,
                heartbeat_window: secs(heartbeat_window, "--heartbeat-window")?,
                queue,
                send_timeout: secs(send_timeout, "--send-timeout")?,
                simulate: simulate
                    .zip(room)
                    .map(|(rate, room)| Simulation { room, rate, probe }),
                also_simulate,
                max_rooms,
                login_timeout: secs(login_timeout, "--login-timeout")?,
                chat_limit: (chat_rate > 0).then(|| ChatLimit::per_second(chat_rate, chat_burst)),
                max_chat_len: usize::from(max_chat_len),
                presence_rate,
                max_per_ip,
                connect_rate,
            };
            // Each client is a descriptor: allow as many as the hard limit
            // does, and take no more clients than fit under it.
            match rlimit::increase_nofile_limit(u64::MAX) {
                Ok(limit) => {
                    info!(limit, "open files limit");
                    let fits = clients_within(limit);
                    if options.max_connections > fits {
                        info!(
                            requested = options.max_connections,
                            allowed = fits,
                            open_files = limit,
                            "--max-connections lowered to fit the open files limit"
                        );
                        options.max_connections = fits;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot raise the open files limit"),
            }
            let server = BoundServer::bind(options).await?;
            server.run(stop_on_signals()?).await?;
        }
        Command::Say {
            room,
            text,
            server,
            name,
            timeout,
        } => {
            say(
                &Endpoint::parse(&server)?,
                room,
                &text,
                name,
                secs(timeout, "--timeout")?,
            )
            .await?;
        }
        Command::Who {
            room,
            server,
            name,
            timeout,
        } => {
            crate::who::who(
                &Endpoint::parse(&server)?,
                room,
                name,
                secs(timeout, "--timeout")?,
            )
            .await?;
        }
        Command::Collect(args) => collect(args).await?,
        Command::Decode(args) => return reader_gone_is_success(decode_command(&args)),
        Command::Generate {
            megabytes,
            seed,
            room,
            output,
        } => {
            reader_gone_is_success(generate(megabytes, seed, room, output.as_deref()))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// For the commands whose only writing is their output (`decode`,
/// `generate`): a reader that went away (`douyu decode … | head`) ends them
/// quietly, with success, as it ends any filter. (Not for the network
/// commands: there a broken pipe is a peer that hung up, an error.)
fn reader_gone_is_success<T: Default>(result: anyhow::Result<T>) -> anyhow::Result<T> {
    match result {
        Err(e)
            if e.chain()
                .filter_map(|cause| cause.downcast_ref::<std::io::Error>())
                .any(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            Ok(T::default())
        }
        other => other,
    }
}

/// How many clients fit under an open files limit of `limit`, keeping
/// descriptors for what is not a client: stdio, the listeners and their
/// spares, the runtime's epoll and wakers, the signal pipe, the client being
/// turned away. Past the cap the server still accepts (and closes) clients,
/// so they see a close rather than waiting unanswered; at the limit itself
/// `accept` fails and they would wait.
fn clients_within(limit: u64) -> usize {
    const HEADROOM: u64 = 64;
    let headroom = HEADROOM.min(limit / 2);
    usize::try_from(limit - headroom).unwrap_or(usize::MAX)
}

fn generate(
    megabytes: usize,
    seed: u64,
    room: u64,
    output: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    use std::io::Write as _;
    let sink: Box<dyn std::io::Write> = match output {
        Some(path) => Box::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = std::io::BufWriter::with_capacity(1 << 20, sink);
    let mut generator = douyu_core::sim::Room::new(room, seed);
    let mut frame = vec![0u8; 4096];
    // A fixed clock keeps the output identical for a seed.
    let mut now_ms = 1_700_000_000_000u64;
    let mut written = 0;
    while written < megabytes << 20 {
        let n = generator.next_frame(now_ms, &mut frame)?;
        out.write_all(&frame[..n])?;
        written += n;
        now_ms += 7;
    }
    out.flush()?;
    Ok(())
}

async fn collect(args: CollectArgs) -> anyhow::Result<()> {
    let rooms = match (&args.rooms, &args.rooms_file) {
        (Some(list), _) => crate::rooms::parse(list).context("bad --rooms")?,
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            crate::rooms::parse(&text)
                .with_context(|| format!("bad rooms in {}", path.display()))?
        }
        (None, None) => anyhow::bail!("--rooms or --rooms-file is needed"),
    };
    let backoff = secs(args.backoff, "--backoff")?;
    anyhow::ensure!(
        backoff >= Duration::from_millis(10),
        "bad --backoff: at least 0.01 seconds"
    );
    let lease = secs(args.lease, "--lease")?;
    anyhow::ensure!(
        (Duration::from_secs(2)..=Duration::from_secs(300)).contains(&lease),
        "bad --lease: from 2 to 300 seconds"
    );
    let status_every = secs(args.status_every, "--status-every")?;
    anyhow::ensure!(
        status_every >= Duration::from_millis(100),
        "bad --status-every: at least 0.1 seconds"
    );
    let duplicate_window = secs(args.duplicate_window, "--duplicate-window")?;
    anyhow::ensure!(
        duplicate_window >= Duration::from_secs(1),
        "bad --duplicate-window: at least 1 second"
    );
    anyhow::ensure!(
        !args.stream.is_empty()
            && args
                .stream
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
        "bad --stream: letters, digits, _ and - only"
    );
    anyhow::ensure!(
        (1..=1 << 20).contains(&args.room_buffer_kib),
        "bad --room-buffer-kib: from 1 to 1048576"
    );
    // Each room is a socket: allow as many as the hard limit does.
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        warn!(error = %e, "cannot raise the open files limit");
    }
    let options = crate::collect::CollectOptions {
        rooms,
        watch: watch_options(
            Endpoint::parse(&args.server)?,
            Renderer::new(Format::Json, false, None),
            None,
            douyu_core::session::HEARTBEAT,
            backoff,
        ),
        nats: args.nats,
        stream: args.stream,
        duplicate_window,
        room_buffer: args.room_buffer_kib << 10,
        in_flight: args.in_flight as usize,
        lease_ttl: lease,
        status_every,
    };
    crate::collect::run(options, stop_on_signals()?).await
}

fn decode_command(args: &DecodeArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.max_frame <= MAX_DECODE_FRAME,
        "bad --max-frame: {} bytes is more than the {MAX_DECODE_FRAME} allowed",
        args.max_frame
    );
    let stdin = args.file.as_os_str() == "-";
    let input: Box<dyn Read> = if args.hex {
        // Hex text is turned into bytes whole: it is for short captures.
        let mut raw = Vec::new();
        if stdin {
            std::io::stdin()
                .lock()
                .read_to_end(&mut raw)
                .context("reading stdin")?;
        } else {
            raw = std::fs::read(&args.file)
                .with_context(|| format!("decoding {}", args.file.display()))?;
        }
        Box::new(std::io::Cursor::new(decode::parse_hex(&raw)?))
    } else if stdin {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(
            std::fs::File::open(&args.file)
                .with_context(|| format!("reading {}", args.file.display()))?,
        )
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let clean = if args.summary {
        decode::summarize(input, args.max_frame, &mut out)
    } else {
        decode::decode_lines(input, args.max_frame, &mut out)
    }
    .with_context(|| format!("decoding {}", args.file.display()))?;
    std::io::Write::flush(&mut out)?;
    Ok(if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Writes `message` to stderr, ignoring failure: with stderr closed there is
/// nobody to tell, and `eprintln!` would panic instead.
fn say_error(message: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr().lock(), "error: {message}");
}

/// Parses the arguments, runs the command, and gives the exit status:
/// 0 success, 1 a `decode` that met bad frames, 2 an error.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        // A failed write to stderr would be reported with `eprintln!`, which
        // panics when stderr is a closed pipe: a log line is not worth that.
        .log_internal_errors(false)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            say_error(format_args!("cannot start the runtime: {e}"));
            return ExitCode::from(2);
        }
    };
    let code = match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            say_error(format_args!("{e:#}"));
            ExitCode::from(2)
        }
    };
    // Tasks still running (a blocking read of stdin, say) must not hold the
    // exit up: the command is done.
    runtime.shutdown_background();
    code
}
