//! The command line: `douyu demo | watch | serve | say | decode`.

use std::collections::HashSet;
use std::io::{IsTerminal, Read};
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
use tokio::sync::watch;
use tracing::info;

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
        /// Seconds between heartbeats; the link counts as dead after two.
        #[arg(long, default_value_t = 45.0)]
        heartbeat: f64,
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
        /// Generate this many messages per second in --room.
        #[arg(long, requires = "room")]
        simulate: Option<f64>,
        /// Room for --simulate.
        #[arg(long)]
        room: Option<u64>,
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
        #[arg(long, default_value_t = 90.0)]
        heartbeat_window: f64,
        /// Broadcast batches a client may fall behind before it is dropped.
        #[arg(long, default_value_t = 1024)]
        queue: usize,
        /// Seconds a write to one client may stall before it is dropped.
        #[arg(long, default_value_t = 10.0)]
        send_timeout: f64,
        /// Most clients at once from one address; more are closed at once.
        #[arg(long, default_value_t = 256)]
        max_per_ip: usize,
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

/// A channel that turns true on Ctrl-C or SIGTERM.
fn stop_on_signals() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let terminated = async {
            match term.as_mut() {
                Some(term) => term.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => info!("interrupted: shutting down"),
            _ = terminated => info!("terminated: shutting down"),
        }
        let _ = tx.send(true);
    });
    rx
}

fn watch_options(
    endpoint: Endpoint,
    renderer: Renderer,
    name: Option<String>,
    heartbeat: Duration,
) -> WatchOptions {
    WatchOptions {
        endpoint,
        renderer,
        username: name,
        heartbeat,
        connect_timeout: Duration::from_secs(10),
        initial_backoff: Duration::from_secs(1),
        max_backoff: Duration::from_secs(60),
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
    let stop = stop_on_signals();
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
    let options = watch_options(endpoint, output.renderer(), None, Duration::from_secs(45));
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
            output,
        } => {
            let endpoint = Endpoint::parse(&server)?;
            let options = watch_options(
                endpoint,
                output.renderer(),
                name,
                secs(heartbeat, "--heartbeat")?,
            );
            watch_rooms(rooms, options, stop_on_signals()).await?;
        }
        Command::Serve {
            tcp,
            ws,
            simulate,
            room,
            probe,
            max_connections,
            max_frame,
            heartbeat_window,
            queue,
            send_timeout,
            max_per_ip,
        } => {
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
                max_per_ip,
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
            server.run(stop_on_signals()).await?;
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
        Command::Decode(args) => return decode_command(&args),
        Command::Generate {
            megabytes,
            seed,
            room,
            output,
        } => generate(megabytes, seed, room, output.as_deref())?,
    }
    Ok(ExitCode::SUCCESS)
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

fn decode_command(args: &DecodeArgs) -> anyhow::Result<ExitCode> {
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
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
