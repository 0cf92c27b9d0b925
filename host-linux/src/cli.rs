//! The command line: `douyu demo | watch | serve | say | who | overlay |
//! decode | generate | completions | man`.

use std::collections::HashSet;
use std::io::{IsTerminal, Read, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::capture::{self, Detected};
use crate::decode;
use crate::exit::{self, Classify as _, Failure, usage};
use crate::export;
use crate::render::{Filter, Format, Renderer};
use crate::server::{BoundServer, Replay, ServerOptions, Simulation};
use crate::time::{Clock, stopped};
use crate::watch::{Recorder, WatchOptions, check_chat_text, say, watch_room};
use crate::wire::Endpoint;
use anyhow::Context;
use clap::{Args, CommandFactory as _, Parser, Subcommand, ValueEnum};
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
/// Logs go to stderr (-v, -q, or RUST_LOG=debug for more); data to stdout.
#[derive(Debug, Parser)]
#[command(name = "douyu", version, propagate_version = true, after_help = exit::TABLE)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    global: GlobalArgs,
}

/// Flags every command takes.
#[derive(Debug, Args)]
struct GlobalArgs {
    /// More log lines on stderr (-v: debug, -vv: trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    verbose: u8,
    /// Fewer log lines (-q: warnings and errors only, -qq: errors only).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    quiet: u8,
    /// Colours in text output and logs (auto: on a terminal, unless NO_COLOR is set).
    #[arg(long, global = true, value_enum, default_value_t = ColorWhen::Auto)]
    color: ColorWhen,
    /// Times in text output in UTC instead of local time (and `decode
    /// --start` read as UTC).
    #[arg(long, global = true)]
    utc: bool,
}

/// When to colour output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ColorWhen {
    /// On a terminal, unless NO_COLOR is set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// A room id: a number, as in douyu.com/288016.
fn room_id(text: &str) -> Result<u64, String> {
    text.parse()
        .map_err(|_| format!("room ids are numbers, as in douyu.com/288016 (got {text:?})"))
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
        #[arg(required = true, value_parser = room_id)]
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
        retry: RetryArgs,
        #[command(flatten)]
        record: RecordArgs,
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
        #[arg(long, requires = "simulated", conflicts_with = "replay")]
        simulate: Option<f64>,
        /// Room for --simulate or --replay.
        #[arg(long, group = "simulated", value_parser = room_id)]
        room: Option<u64>,
        /// Rooms for --simulate, e.g. 1-200,288016 (each its own traffic;
        /// every chat line's cid ends with its number in the room, in hex).
        #[arg(long, group = "simulated")]
        rooms: Option<String>,
        #[command(flatten)]
        replay: ReplayArgs,
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
        #[arg(value_parser = room_id)]
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
        #[arg(value_parser = room_id)]
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
    /// Serve a room's live chat as a web page for OBS (browser source) over HTTP.
    Overlay(crate::overlay::OverlayArgs),
    /// Collect many rooms into NATS JetStream, sharing them with other
    /// collectors of the same stream.
    Collect(CollectArgs),
    /// Decode a capture (`watch --record`) or raw frames: JSON lines, a
    /// summary, or danmaku XML/ASS for players (exit 1 if any frame is bad).
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
        /// Output file (default: stdout, but not a terminal).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Print a shell completion script: `douyu completions bash > /etc/bash_completion.d/douyu`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): `douyu man > douyu.1`.
    Man,
}

/// How `watch` retries.
#[derive(Debug, Args)]
struct RetryArgs {
    /// Reconnects in a row that fail to join before giving up (exit 5);
    /// default: retry transient failures forever. Refusals (nickname taken,
    /// room refused) and a host name that never resolved end at once.
    #[arg(long)]
    max_retries: Option<u32>,
}

/// Recording what `watch` receives.
#[derive(Debug, Args)]
struct RecordArgs {
    /// Record every frame received, with its receive time, to FILE (the
    /// capture format of host-linux/CAPTURE.md; `douyu decode` reads it,
    /// `douyu serve --replay` plays it). Written as it arrives.
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
}

impl RecordArgs {
    fn recorder(&self) -> anyhow::Result<Option<Recorder>> {
        let Some(path) = &self.record else {
            return Ok(None);
        };
        let file = std::fs::File::create(path)
            .with_context(|| format!("creating {} (--record)", path.display()))?;
        let writer = capture::Writer::new(file)
            .with_context(|| format!("writing {} (--record)", path.display()))?;
        Ok(Some(Arc::new(Mutex::new(writer))))
    }
}

/// Replaying a capture into a room.
#[derive(Debug, Args)]
struct ReplayArgs {
    /// Play this capture (`watch --record`) into --room, at its recorded
    /// pace, once the room's first client has joined.
    #[arg(long, value_name = "FILE", requires = "room")]
    replay: Option<PathBuf>,
    /// Pace of --replay: 2 plays twice as fast, 0.5 half as fast, `max` as
    /// fast as the clients take it.
    #[arg(long, default_value = "1", requires = "replay", value_parser = speed)]
    speed: Speed,
}

/// A replay's pace.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Speed(Option<f64>);

fn speed(text: &str) -> Result<Speed, String> {
    if text == "max" {
        return Ok(Speed(None));
    }
    match text.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(Speed(Some(x))),
        _ => Err("a positive number (2: twice as fast) or `max`".into()),
    }
}

#[derive(Debug, Args)]
struct OutputArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Only these message types (comma-separated, e.g. chatmsg,dgb).
    #[arg(long, value_delimiter = ',')]
    only: Option<Vec<String>>,
    /// Only messages from this user (nickname or uid).
    #[arg(long, value_name = "NAME|UID")]
    user: Option<String>,
    /// Only chat lines whose text matches this regular expression.
    #[arg(long, value_name = "REGEX")]
    grep: Option<String>,
}

impl OutputArgs {
    fn renderer(&self, global: &GlobalArgs) -> anyhow::Result<Renderer> {
        let only = self.only.as_ref().map(|types| {
            for kind in types {
                if douyu_core::schema::message(douyu_core::schema::SERVER, kind).is_none() {
                    warn!(
                        "--only: {kind:?} is not a message type douyu knows ({}); kept anyway",
                        known_types()
                    );
                }
            }
            types.iter().cloned().collect::<HashSet<_>>()
        });
        let grep = self
            .grep
            .as_deref()
            .map(regex::Regex::new)
            .transpose()
            .map_err(|e| usage(format_args!("bad --grep: {e}")))?;
        let filter = Filter {
            only,
            user: self.user.clone(),
            grep,
        };
        Ok(Renderer::new(self.format, colors_on(&std::io::stdout()), filter).with_utc(global.utc))
    }
}

/// The server message types core's schema knows, for a person.
fn known_types() -> String {
    let mut types: Vec<&str> = douyu_core::schema::SERVER
        .iter()
        .flat_map(|m| m.types.iter().copied())
        .collect();
    types.sort_unstable();
    types.join(", ")
}

/// Whether to colour what goes to `stream` (the `--color` choice, NO_COLOR,
/// CLICOLOR_FORCE and whether it is a terminal, as anstream decides).
fn colors_on<S: anstream::stream::RawStream>(stream: &S) -> bool {
    anstream::AutoStream::choice(stream) != anstream::ColorChoice::Never
}

/// The output format of `decode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DecodeFormat {
    /// One JSON object per frame: the same object `watch --format json`
    /// prints, plus its `offset`; errors and connection events as lines too.
    Json,
    /// Bilibili-style danmaku XML (`<d p="…">`), for danmaku players and
    /// converters such as DanmakuFactory. Captures only.
    Xml,
    /// ASS subtitles with every chat line scrolling, for a video player.
    /// Captures only.
    Ass,
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
    /// Longest a room's input gathers between reads, in seconds: messages
    /// are read in batches, each up to this after it arrived (0: each as it
    /// arrives). The wait adapts to the room; a busy room waits little.
    /// Batches cost a sixth to a third less CPU at 20 messages a room a
    /// second (BENCHMARKS.md).
    #[arg(long, default_value_t = 0.25)]
    read_pause: f64,
    /// Serve /metrics (Prometheus text) and /healthz on this address,
    /// e.g. 127.0.0.1:9464 (port 0: any free port, logged).
    #[arg(long)]
    http: Option<SocketAddr>,
}

#[derive(Debug, Args)]
struct DecodeArgs {
    /// Capture file (`watch --record`, or raw frames: told apart by their
    /// first bytes), or - for stdin.
    #[arg(default_value = "-")]
    file: PathBuf,
    /// The input is hex text rather than raw bytes.
    #[arg(long)]
    hex: bool,
    /// Print only totals: frames, counts per message type and per error,
    /// the top chatters and gifts, and (captures) messages per minute.
    #[arg(long, conflicts_with = "format")]
    summary: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DecodeFormat::Json)]
    format: DecodeFormat,
    /// For xml and ass: times relative to this moment (to line up with a
    /// video recording), e.g. 2026-11-30T20:00:00+08:00, or a local
    /// `2026-11-30 20:00:00`; default: the first frame. Earlier lines are
    /// left out.
    #[arg(long, value_name = "TIME")]
    start: Option<String>,
    /// Largest frame accepted, in bytes; larger ones are reported and skipped.
    #[arg(long, default_value_t = 1 << 20)]
    max_frame: usize,
}

pub(crate) fn secs(value: f64, what: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| usage(format_args!("bad {what}: {value} (a number of seconds)")))
}

/// A messages-per-second rate for the simulator, checked: a positive
/// finite number the generator can keep up with ([`MAX_SIMULATE_RATE`]).
pub(crate) fn simulate_rate(rate: f64, what: &str) -> anyhow::Result<f64> {
    if !(rate.is_finite() && rate > 0.0) {
        return Err(usage(format_args!(
            "bad {what}: {rate} (a positive number of messages per second)"
        )));
    }
    if rate > MAX_SIMULATE_RATE {
        return Err(usage(format_args!(
            "bad {what}: {rate} messages per second is more than the simulator can make \
             (at most {MAX_SIMULATE_RATE})"
        )));
    }
    Ok(rate)
}

/// A channel that turns true on the first Ctrl-C or SIGTERM.
///
/// The signals are taken by `signal-hook` on a thread of their own: the
/// runtime may be saturated (a simulator at full rate, a flood of clients),
/// and the deadline must hold anyway. After the first signal the command
/// gets [`SHUTDOWN_GRACE`] to finish cleanly; then, or at a second signal,
/// the process exits at once with status 128 + the signal (130 for SIGINT,
/// 143 for SIGTERM), as a shell reports a killed command.
fn stop_on_signals() -> anyhow::Result<watch::Receiver<bool>> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let (tx, rx) = watch::channel(false);
    // Registered here, before the command starts: a signal that comes early
    // must not find the default action (death without a word) still in place.
    let mut signals =
        signal_hook::iterator::Signals::new([SIGINT, SIGTERM]).context("watching signals")?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut received = signals.forever();
            let Some(first) = received.next() else {
                return;
            };
            info!(
                "{}: shutting down",
                if first == SIGINT {
                    "interrupted"
                } else {
                    "terminated"
                }
            );
            let _ = tx.send(true);
            let _ = std::thread::Builder::new()
                .name("shutdown-grace".into())
                .spawn(move || {
                    std::thread::sleep(SHUTDOWN_GRACE);
                    warn!(grace = ?SHUTDOWN_GRACE, "shutdown took too long: exiting now");
                    std::process::exit(128 + first);
                });
            if let Some(second) = received.next() {
                warn!("second signal: exiting now");
                std::process::exit(128 + second);
            }
        })
        .context("starting the signal thread")?;
    Ok(rx)
}

/// The watch options the commands share: `endpoint`, the given heartbeat
/// and first reconnect delay, a 10 s connect limit, reconnects doubling up
/// to 60 s and never given up, nothing recorded, no read pause. Public so
/// that a bench follows rooms exactly as `collect` does.
#[must_use]
pub fn watch_options(
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
        max_retries: None,
        recorder: None,
        read_pause: Duration::ZERO,
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

async fn demo(
    rate: f64,
    duration: Option<f64>,
    output: &OutputArgs,
    global: &GlobalArgs,
) -> anyhow::Result<()> {
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
        output.renderer(global)?,
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
    let global = cli.global;
    match cli.command {
        Command::Demo {
            rate,
            duration,
            output,
        } => demo(rate, duration, &output, &global).await?,
        Command::Watch {
            rooms,
            server,
            name,
            heartbeat,
            backoff,
            retry,
            record,
            output,
        } => {
            let endpoint = Endpoint::parse(&server).classify(Failure::Usage)?;
            let backoff = secs(backoff, "--backoff")?;
            // Zero would double to zero: a reconnect storm.
            if backoff < Duration::from_millis(10) {
                return Err(usage("bad --backoff: at least 0.01 seconds"));
            }
            let heartbeat = secs(heartbeat, "--heartbeat")?;
            // Zero would send heartbeats in a busy loop; days overflow the
            // clock the session's deadlines are turned into.
            if !(Duration::from_secs(1)..=Duration::from_secs(3600)).contains(&heartbeat) {
                return Err(usage("bad --heartbeat: from 1 to 3600 seconds"));
            }
            let mut options = watch_options(
                endpoint,
                output.renderer(&global)?,
                name,
                heartbeat,
                backoff,
            );
            options.max_retries = retry.max_retries;
            options.recorder = record.recorder()?;
            watch_rooms(rooms, options, stop_on_signals()?).await?;
        }
        Command::Serve {
            tcp,
            ws,
            simulate,
            room,
            replay,
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
                replay: replay.replay.zip(room).map(|(path, room)| Replay {
                    path,
                    room,
                    speed: replay.speed.0,
                }),
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
            check_chat_text(&text)?;
            say(
                &Endpoint::parse(&server).classify(Failure::Usage)?,
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
                &Endpoint::parse(&server).classify(Failure::Usage)?,
                room,
                name,
                secs(timeout, "--timeout")?,
            )
            .await?;
        }
        Command::Overlay(args) => crate::overlay::run(args, stop_on_signals()?).await?,
        Command::Collect(args) => collect(args).await?,
        Command::Decode(args) => return reader_gone_is_success(decode_command(&args, &global)),
        Command::Generate {
            megabytes,
            seed,
            room,
            output,
        } => {
            if output.is_none() && std::io::stdout().is_terminal() {
                return Err(usage(
                    "generate writes binary frames: not to a terminal (use -o FILE or a pipe)",
                ));
            }
            reader_gone_is_success(generate(megabytes, seed, room, output.as_deref()))?;
        }
        Command::Completions { shell } => {
            let mut out = std::io::stdout().lock();
            clap_complete::generate(shell, &mut Cli::command(), "douyu", &mut out);
            reader_gone_is_success(out.flush().map_err(anyhow::Error::from))?;
        }
        Command::Man => {
            let mut out = std::io::stdout().lock();
            let written = clap_mangen::Man::new(Cli::command())
                .render(&mut out)
                .and_then(|()| out.flush());
            reader_gone_is_success(written.map_err(anyhow::Error::from))?;
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
    let read_pause = secs(args.read_pause, "--read-pause")?;
    anyhow::ensure!(
        read_pause <= Duration::from_secs(1),
        "bad --read-pause: at most 1 second"
    );
    let mut watch = watch_options(
        Endpoint::parse(&args.server)?,
        Renderer::new(Format::Json, false, Filter::default()),
        None,
        douyu_core::session::HEARTBEAT,
        backoff,
    );
    watch.read_pause = read_pause;
    let options = crate::collect::CollectOptions {
        rooms,
        watch,
        nats: args.nats,
        stream: args.stream,
        duplicate_window,
        room_buffer: args.room_buffer_kib << 10,
        in_flight: args.in_flight as usize,
        lease_ttl: lease,
        status_every,
        http: args.http,
    };
    crate::collect::run(options, stop_on_signals()?).await
}

/// The moment `--start` names: an RFC 3339 time with its offset, or a
/// date and time in the local zone (UTC with `--utc`).
fn parse_start(text: &str, utc: bool) -> anyhow::Result<i64> {
    if let Ok(ts) = text.parse::<jiff::Timestamp>() {
        return Ok(ts.as_millisecond());
    }
    let civil: jiff::civil::DateTime = text.parse().map_err(|_| {
        usage(format_args!(
            "bad --start {text:?}: a time such as 2026-11-30T20:00:00+08:00 or 2026-11-30 20:00:00"
        ))
    })?;
    let zone = if utc {
        jiff::tz::TimeZone::UTC
    } else {
        jiff::tz::TimeZone::try_system().unwrap_or(jiff::tz::TimeZone::UTC)
    };
    let zoned = civil
        .to_zoned_datetime(zone)
        .map_err(|e| usage(format_args!("bad --start {text:?}: {e}")))?;
    Ok(zoned.timestamp().as_millisecond())
}

fn decode_command(args: &DecodeArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    if args.max_frame > MAX_DECODE_FRAME {
        return Err(usage(format_args!(
            "bad --max-frame: {} bytes is more than the {MAX_DECODE_FRAME} allowed",
            args.max_frame
        )));
    }
    let start = args
        .start
        .as_deref()
        .map(|text| parse_start(text, global.utc))
        .transpose()?;
    if start.is_some() && args.format == DecodeFormat::Json {
        return Err(usage("--start is for --format xml or ass"));
    }
    let stdin = args.file.as_os_str() == "-";
    if stdin && std::io::stdin().is_terminal() {
        let _ = writeln!(
            std::io::stderr().lock(),
            "douyu decode: reading frames from stdin (give a file, or pipe one in; Ctrl-D ends)"
        );
    }
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
                .with_context(|| format!("reading {}", args.file.display()))?;
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
    let (detected, input) = decode::sniff(input).context("reading the input")?;
    let name = args.file.display();
    if detected == Detected::HexText && !args.hex {
        return Err(usage(format_args!(
            "{name} looks like hex text, not frames: add --hex"
        )));
    }
    if args.format != DecodeFormat::Json && detected != Detected::Capture {
        return Err(usage(format_args!(
            "{name} holds raw frames, which carry no receive times: --format {} needs a \
             capture made by `douyu watch --record`",
            args.format
                .to_possible_value()
                .map_or_else(String::new, |v| v.get_name().to_string())
        )));
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let clean = match (args.summary, args.format) {
        (true, _) => decode::summarize(detected, input, args.max_frame, &mut out),
        (false, DecodeFormat::Json) => {
            decode::decode_lines(detected, input, args.max_frame, &mut out)
        }
        (false, DecodeFormat::Xml) => decode::export(
            input,
            args.max_frame,
            &mut export::Xml::new(None),
            start,
            &mut out,
        ),
        (false, DecodeFormat::Ass) => decode::export(
            input,
            args.max_frame,
            &mut export::Ass::new(None),
            start,
            &mut out,
        ),
    }
    .with_context(|| format!("decoding {name}"))?;
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

/// The message of `error` for a person: its causes joined by ": ",
/// without the [`Failure`] class (the exit status says that).
fn message_of(error: &anyhow::Error) -> String {
    let classes = Failure::ALL.map(|class| class.to_string());
    let parts: Vec<String> = error
        .chain()
        .map(ToString::to_string)
        .filter(|part| !classes.contains(part))
        .collect();
    let mut message = String::new();
    for part in parts {
        // A context that repeats its cause (`X: X`) is said once.
        if !message.ends_with(&part) {
            if !message.is_empty() {
                message.push_str(": ");
            }
            message.push_str(&part);
        }
    }
    message
}

/// Parses the arguments, runs the command, and gives the exit status (see
/// [`exit::TABLE`]).
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    anstream::ColorChoice::write_global(match cli.global.color {
        ColorWhen::Auto => anstream::ColorChoice::Auto,
        ColorWhen::Always => anstream::ColorChoice::Always,
        ColorWhen::Never => anstream::ColorChoice::Never,
    });
    let level = match (cli.global.verbose, cli.global.quiet) {
        (0, 0) => "info",
        (1, _) => "debug",
        (2.., _) => "trace",
        (_, 1) => "warn",
        (_, 2..) => "error",
    };
    let verbose = cli.global.verbose > 0;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colors_on(&std::io::stderr()))
        .with_target(verbose)
        // A failed write to stderr would be reported with `eprintln!`, which
        // panics when stderr is a closed pipe: a log line is not worth that.
        .log_internal_errors(false);
    // Terse by default (the level and the line); times with -v.
    if verbose {
        builder.init();
    } else {
        builder.without_time().compact().init();
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            say_error(format_args!("cannot start the runtime: {e}"));
            return ExitCode::from(exit::FAILED);
        }
    };
    let code = match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            say_error(format_args!("{}", message_of(&e)));
            Failure::exit_code(&e)
        }
    };
    // Tasks still running (a blocking read of stdin, say) must not hold the
    // exit up: the command is done.
    runtime.shutdown_background();
    code
}
