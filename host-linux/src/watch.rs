//! Watching rooms: a `douyu-core` client session per room on a [`Wire`],
//! reconnecting with exponential backoff and jitter.
//!
//! The server may be hostile or broken, and `watch` must stay cheap for the
//! person running it whatever it sends: warnings about unreadable input are
//! throttled per room, a server that sends nothing readable is left (see
//! [`GARBAGE_RUN`]), and the backoff only starts over after a session that
//! stayed up (see [`WatchOptions::healthy_after`]).

use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use douyu_core::message::ServerMessage;
use douyu_core::session::{
    Client, ClientConfig, ClientEvent, CloseReason, Login, TRANSMIT_MAX, error_code,
};
use rand::Rng as _;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::capture::{self, Framer, Kind};
use crate::exit::{Classify as _, Failure};
use crate::render::{Event, Renderer, terminal_safe};
use crate::throttle::Throttle;
use crate::time::{Clock, stopped, wall_ms};
use crate::wire::{Endpoint, READ_CHUNK, Unresolvable, Waiting, Wire};

/// A capture being written by `watch --record`, shared by the rooms.
pub type Recorder = Arc<Mutex<capture::Writer<std::fs::File>>>;

/// Largest frame the client accepts (the live service's are a few KiB).
pub(crate) const RX_CAPACITY: usize = 64 * 1024;

/// Unreadable frames in a row, with no readable one between, after which the
/// connection is dropped (and the backoff grows, as for any failure).
///
/// A working server's unreadable frames (a mangled body, a wrong type) are
/// rare and come alone, between good ones; 32 in a row is a server that
/// sends nothing else, and reading on would only burn CPU on its garbage.
/// A server that slips a good frame in every 31 bad ones keeps the
/// connection, but costs no more than what it sends, and its warnings are
/// throttled all the same.
pub const GARBAGE_RUN: u32 = 32;

/// Warnings about unreadable input let through per room and per second; the
/// next one that passes says how many were held back.
const UNREADABLE_LOGS_PER_SEC: u32 = 5;

/// Settings shared by every room a `watch` follows.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// The server.
    pub endpoint: Endpoint,
    /// How messages are printed.
    pub renderer: Renderer,
    /// Nickname to log in with (`None`: the server picks one).
    pub username: Option<String>,
    /// Time between heartbeats.
    pub heartbeat: Duration,
    /// Limit on connecting (TCP, TLS and WebSocket handshakes).
    pub connect_timeout: Duration,
    /// First reconnect delay; it doubles up to `max_backoff`.
    pub initial_backoff: Duration,
    /// Longest reconnect delay.
    pub max_backoff: Duration,
    /// Reconnects in a row without joining before giving up (`None`:
    /// never give up).
    pub max_retries: Option<u32>,
    /// Where every frame received is recorded, if anywhere.
    pub recorder: Option<Recorder>,
    /// The longest a room's input gathers before it is read again, after
    /// a read that emptied the socket (zero: read as soon as anything
    /// arrives). See [`ReadPause`].
    pub read_pause: Duration,
}

impl WatchOptions {
    /// How long a session must stay joined for the backoff to start over
    /// from `initial_backoff`: as long as the longest delay.
    ///
    /// A server that accepts the login and then hangs up (or fails a little
    /// later) must not get a reconnect every `initial_backoff`, forever.
    /// With this rule a connection that ends sooner keeps the backoff
    /// growing, and one that lasts longer already spaced reconnects by at
    /// least `max_backoff`: whatever the server does, it gets at most about
    /// one connection per `max_backoff` once it has misbehaved a few times.
    /// A real outage after an hour of service still reconnects after the
    /// first, short delay.
    #[must_use]
    pub fn healthy_after(&self) -> Duration {
        self.max_backoff
    }
}

/// How one connection's session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The session closed (logout, server error, dead link, …).
    Closed(CloseReason),
    /// The server closed the connection.
    Disconnected,
}

/// What the session loop reports to its caller, one call per event.
pub trait Handler {
    /// Called with the bytes of every read, before the session sees them.
    fn on_input(&mut self, _room: u64, _bytes: &[u8]) -> anyhow::Result<()> {
        Ok(())
    }
    /// Called with every client event.
    fn on_event(&mut self, room: u64, event: &ClientEvent<'_>) -> anyhow::Result<()>;
    /// Called after events are drained: a chat line to send now, if any.
    fn chat_to_send(&mut self) -> Option<String> {
        None
    }
    /// Called after events are drained: whether to ask who is online now.
    fn ask_who(&mut self) -> bool {
        false
    }
    /// Whether the handler is done and the session should log out.
    fn finished(&self) -> bool {
        false
    }
}

/// Builds the client configuration for `room` on `endpoint`.
pub fn client_config(room: u64, options: &WatchOptions) -> anyhow::Result<ClientConfig> {
    let mut config = ClientConfig::new(room).with_heartbeat(options.heartbeat);
    if let Some(name) = &options.username {
        config
            .set_username(name)
            .with_context(|| format!("bad --name {name:?}"))
            .classify(Failure::Usage)?;
    }
    if options.endpoint.is_websocket() {
        // The web player logs in as a visitor with a random id.
        config.login = Login::Web {
            uid: rand::rng().random_range(1_000_000_000..2_000_000_000),
        };
    }
    Ok(config)
}

/// Runs one session on `wire` until it closes, the server hangs up, or `stop`
/// fires (then it logs out cleanly first).
pub async fn run_session<H: Handler>(
    wire: &mut Wire,
    config: ClientConfig,
    clock: Clock,
    read_pause: Duration,
    handler: &mut H,
    stop: &mut watch::Receiver<bool>,
) -> anyhow::Result<Outcome> {
    let room = config.room;
    let mut pause = ReadPause::new(read_pause);
    // Set after a batch that emptied the socket, with a read pause: no
    // read until then.
    let mut paused_until = None;
    let mut rx = vec![0u8; RX_CAPACITY];
    let mut client = Client::new(config, &mut rx, clock.now());
    let mut input = Vec::new();
    let mut closed = None;
    loop {
        loop {
            // Encoded on the stack and handed to the socket at once; only
            // what it does not take now goes to the heap to wait. (A send
            // buffer kept per session would stay with every idle room; in
            // a block of its own, the array is no part of the task.) It
            // holds the largest frame the session writes.
            let rest = {
                let mut tx = [0u8; TRANSMIT_MAX];
                let Some(n) = client.poll_transmit(&mut tx)? else {
                    break;
                };
                let sent = wire.try_write(&tx[..n]).context("sending")?;
                tx[sent..n].to_vec()
            };
            if !rest.is_empty() {
                wire.write(&rest).await.context("sending")?;
            }
        }
        drain_events(&mut client, room, handler, &mut closed)?;
        if let Some(reason) = closed {
            wire.shutdown().await;
            return Ok(Outcome::Closed(reason));
        }
        if let Some(text) = handler.chat_to_send() {
            client.queue_chat(&text).context("chat line")?;
            continue;
        }
        if handler.ask_who() {
            client.request_who()?;
            continue;
        }
        if handler.finished() || *stop.borrow() {
            client.close();
            continue;
        }
        let deadline = client.poll_timeout().map(|at| clock.to_tokio(at));
        tokio::select! {
            more = wire.read(&mut input), if paused_until.is_none() => {
                if !more.context("receiving")? {
                    return Ok(Outcome::Disconnected);
                }
                // Reading in batches: what came with this read too.
                let waiting = if pause.is_on() {
                    wire.read_waiting(&mut input, ReadPause::BATCH_LIMIT).context("receiving")?
                } else {
                    Waiting::Nothing
                };
                paused_until = pause
                    .after_batch(input.len(), waiting)
                    .map(|wait| tokio::time::Instant::now() + wait);
                // Arrivals during the pause wake no thread unless 4 KiB
                // pile up (the next batch is then large, and the wait after
                // it shorter). Failing this loses only that saving.
                if paused_until.is_some() && let Err(e) = wire.set_ready_at(READ_CHUNK) {
                    debug!(room, error = %e, "receive threshold not raised");
                }
                handler.on_input(room, &input)?;
                let mut rest = &input[..];
                while !rest.is_empty() {
                    let taken = client.handle_input(clock.now(), rest);
                    rest = &rest[taken..];
                    drain_events(&mut client, room, handler, &mut closed)?;
                    // Nothing taken: the session is closed and reads no more.
                    if taken == 0 {
                        break;
                    }
                }
                // Freed, not kept: a buffer as large as the largest read
                // would stay with every idle room (one allocation a read
                // costs nothing beside what the read carries).
                input = Vec::new();
                // The peer closed behind the batch: unless the batch itself
                // ended the session (its reason is told at the loop's top).
                if waiting == Waiting::Closed && closed.is_none() {
                    return Ok(Outcome::Disconnected);
                }
            }
            () = sleep_until(paused_until), if paused_until.is_some() => {
                paused_until = None;
                // Failing this would leave a quiet room's messages unread.
                wire.set_ready_at(1).context("receiving")?;
            }
            () = sleep_until(deadline) => client.handle_timeout(clock.now()),
            () = stopped(stop) => client.close(),
        }
    }
}

/// How long a session lets its input gather between reads: one system
/// call and one wake-up for several messages instead of one each.
///
/// A quiet room's messages arrive one at a time, and reading each as it
/// comes costs a `recvfrom` (with its ACK) and a task wake-up a message:
/// with 1,000 rooms at 20 messages a second, about half of `douyu
/// collect`'s CPU time (BENCHMARKS.md). With a pause, a session reads all
/// that has arrived ([`Wire::read_waiting`]), then waits before it reads
/// again. The wait adapts so that a batch stays near [`READ_CHUNK`]:
/// - a batch under half of it doubles the wait, up to the longest;
/// - a batch of it or more halves the wait, and one cut short by
///   [`ReadPause::BATCH_LIMIT`] is followed by no wait at all;
/// - the first wait is short, so a busy room never has a long wait's
///   worth of input queued in the kernel.
///
/// During a wait the socket's receive threshold is raised to
/// [`READ_CHUNK`] ([`Wire::set_ready_at`]), so that arrivals do not wake a
/// worker thread for nothing.
///
/// What a message's reader is told about its arrival (`received_at`) is
/// when it was read: up to the longest wait after it reached the socket.
#[derive(Debug, Clone, Copy)]
pub struct ReadPause {
    /// The longest wait; zero turns pausing off.
    longest: Duration,
    /// The next wait.
    wait: Duration,
}

impl ReadPause {
    /// The most bytes one batch takes before it is handled (it may end
    /// past this by one read); only while one session's batch is handled
    /// does it take memory.
    pub const BATCH_LIMIT: usize = 16 * READ_CHUNK;
    /// The shortest wait: a busy room's, where the halving stops.
    const SHORTEST: Duration = Duration::from_millis(1);
    /// The first wait of a session: grown from here while batches are small.
    const FIRST: Duration = Duration::from_millis(16);

    /// Pausing up to `longest` between reads (zero: never).
    pub fn new(longest: Duration) -> Self {
        Self {
            longest,
            wait: Self::FIRST.min(longest),
        }
    }

    /// Whether the session reads in batches at all.
    pub const fn is_on(&self) -> bool {
        !self.longest.is_zero()
    }

    /// After a batch of `n` bytes that left `waiting` in the socket: how
    /// long to wait before the next read, if at all.
    pub fn after_batch(&mut self, n: usize, waiting: Waiting) -> Option<Duration> {
        if !self.is_on() || waiting == Waiting::Closed {
            return None;
        }
        if n >= READ_CHUNK {
            self.wait = (self.wait / 2).max(Self::SHORTEST);
        } else if n < READ_CHUNK / 2 {
            self.wait = (self.wait * 2).min(self.longest);
        }
        (waiting == Waiting::Nothing).then_some(self.wait)
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn drain_events<H: Handler>(
    client: &mut Client<'_>,
    room: u64,
    handler: &mut H,
    closed: &mut Option<CloseReason>,
) -> anyhow::Result<()> {
    while let Some(event) = client.poll_event() {
        if let ClientEvent::Closed(reason) = event {
            *closed = Some(reason);
        }
        handler.on_event(room, &event)?;
    }
    Ok(())
}

/// Where a watched room's messages go instead of stdout: the overlay's live
/// feed, `collect`'s publisher. Called from the room's session loop, so it
/// must not block.
pub trait Sink: Send {
    /// Takes one message of `room`. An error ends the connection (and the
    /// room is reconnected, as after any failure).
    fn message(&mut self, room: u64, message: &ServerMessage<'_>) -> anyhow::Result<()>;
    /// The session of `room` joined, or its connection ended and a
    /// reconnect is coming. Nothing by default.
    fn link(&mut self, room: u64, link: Link) {
        let _ = (room, link);
    }
}

/// What became of a room's connection, as told to a [`Sink`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// The session joined the room: messages flow (again).
    Joined,
    /// The connection ended, or a new one failed, and a reconnect is
    /// coming.
    Lost {
        /// Wall-clock milliseconds since which nothing was read from the
        /// room, when a joined connection was lost since the last join: the
        /// last bytes it read. What the server sent from then until the
        /// next [`Link::Joined`] is missing (the protocol has no replay);
        /// `watch` prints it as its `gap` event. `None` when only
        /// connections that never joined failed since then.
        unread_since_ms: Option<i64>,
    },
}

/// Prints what a watched room says (and records it), or hands it to a
/// [`Sink`]; keeps what the reconnect loop needs to know about the connection.
pub struct Printer {
    renderer: Renderer,
    recorder: Option<Recorder>,
    framer: Framer,
    line: String,
    /// When the current connection joined the room, if it did.
    pub joined_at: Option<tokio::time::Instant>,
    /// Wall-clock time the last bytes arrived on a joined connection.
    last_alive_ms: Option<i64>,
    /// When the bytes being handled arrived: the `received_at` of the
    /// messages they hold, the same time their frames are recorded with.
    input_ms: i64,
    /// Set when a joined connection was lost: messages since then may be
    /// missing, until the next join reports the gap.
    gap_from_ms: Option<i64>,
    /// Unreadable frames since the last readable one (see [`GARBAGE_RUN`]).
    unreadable_run: u32,
    /// Kept across connections: reconnecting must not open the gate again.
    unreadable_log: Throttle,
    /// Set when stdout failed: no point watching on, nor reconnecting.
    output_failed: bool,
    /// Takes the messages instead of stdout, when set.
    sink: Option<Box<dyn Sink>>,
}

impl Printer {
    /// A printer writing lines made by `renderer` to stdout, and every
    /// frame received to `recorder` if given.
    pub fn new(renderer: Renderer, recorder: Option<Recorder>) -> Self {
        Self {
            renderer,
            recorder,
            framer: Framer::new(),
            line: String::new(),
            joined_at: None,
            last_alive_ms: None,
            input_ms: 0,
            gap_from_ms: None,
            unreadable_run: 0,
            unreadable_log: Throttle::new(UNREADABLE_LOGS_PER_SEC, Duration::from_secs(1)),
            output_failed: false,
            sink: None,
        }
    }

    /// A printer handing every message to `sink` instead of stdout (the
    /// session rules, reconnects and warnings stay those of `watch`).
    pub fn with_sink(sink: Box<dyn Sink>) -> Self {
        let renderer = Renderer::new(
            crate::render::Format::Json,
            false,
            crate::render::Filter::default(),
        );
        Self {
            sink: Some(sink),
            ..Self::new(renderer, None)
        }
    }

    /// Forgets the last connection, before the next one.
    fn reset_connection(&mut self) {
        self.joined_at = None;
        self.unreadable_run = 0;
        self.framer = Framer::new();
    }

    fn record(&self, kind: Kind, time_ms: i64, room: u64, payload: &[u8]) -> anyhow::Result<()> {
        let Some(recorder) = &self.recorder else {
            return Ok(());
        };
        let mut writer = recorder
            .lock()
            .map_err(|_| anyhow!("the capture's writer panicked"))?;
        writer
            .write(kind, time_ms, room, payload)
            .context("writing the capture (--record)")
    }

    /// A connection to `endpoint` opened.
    fn connected(&mut self, room: u64, endpoint: &Endpoint) -> anyhow::Result<()> {
        let now = wall_ms();
        let server = endpoint.to_string();
        self.record(Kind::Connected, now, room, server.as_bytes())?;
        self.event(room, now, &Event::Connected { server: &server })
    }

    /// The connection ended, for `reason`.
    fn closed(&mut self, room: u64, reason: &str) -> anyhow::Result<()> {
        let now = wall_ms();
        let mut framer = std::mem::take(&mut self.framer);
        framer.finish(|kind, bytes| self.record(kind, now, room, bytes))?;
        self.record(Kind::Closed, now, room, reason.as_bytes())?;
        if self.joined_at.is_some() {
            self.gap_from_ms = Some(self.last_alive_ms.unwrap_or(now));
        }
        self.event(room, now, &Event::Closed { reason })
    }

    fn event(&mut self, room: u64, at_ms: i64, event: &Event<'_>) -> anyhow::Result<()> {
        // A sink hears of the link through `Sink::link`; stdout is not its.
        if self.sink.is_some() {
            return Ok(());
        }
        self.line.clear();
        if self
            .renderer
            .render_event(room, at_ms, event, &mut self.line)
        {
            self.write_line()?;
        }
        Ok(())
    }
}

impl Handler for Printer {
    fn on_input(&mut self, room: u64, bytes: &[u8]) -> anyhow::Result<()> {
        let now = wall_ms();
        self.input_ms = now;
        if self.joined_at.is_some() {
            self.last_alive_ms = Some(now);
        }
        if self.recorder.is_some() {
            let mut framer = std::mem::take(&mut self.framer);
            let recorded = framer.push(bytes, |kind, frame| self.record(kind, now, room, frame));
            self.framer = framer;
            recorded?;
        }
        Ok(())
    }

    fn on_event(&mut self, room: u64, event: &ClientEvent<'_>) -> anyhow::Result<()> {
        if matches!(
            event,
            ClientEvent::LoggedIn(_) | ClientEvent::Message(_) | ClientEvent::ServerError { .. }
        ) {
            self.unreadable_run = 0;
        }
        match event {
            ClientEvent::LoggedIn(res) => {
                let name = res.nickname.map(|n| n.to_string()).unwrap_or_default();
                // The server chose it: no terminal escapes into the log either.
                info!(room, nickname = %terminal_safe(&name), "logged in");
            }
            ClientEvent::Joined { room } => {
                self.joined_at = Some(tokio::time::Instant::now());
                let now = wall_ms();
                self.last_alive_ms = Some(now);
                info!(room, "joined");
                self.event(*room, now, &Event::Joined)?;
                if let Some(from_ms) = self.gap_from_ms.take() {
                    self.event(
                        *room,
                        now,
                        &Event::Gap {
                            from_ms,
                            to_ms: now,
                        },
                    )?;
                }
                if let Some(sink) = &mut self.sink {
                    sink.link(*room, Link::Joined);
                }
            }
            ClientEvent::Message(message) => match &mut self.sink {
                Some(sink) => sink.message(room, message)?,
                None => self.print(room, message)?,
            },
            ClientEvent::ServerError { code: Some(code) } => {
                warn!(room, code, "server error");
            }
            ClientEvent::ServerError { code: None } => warn!(room, "server error"),
            ClientEvent::Invalid(error) => {
                self.unreadable_run += 1;
                if let Some(suppressed) = self.unreadable_log.check() {
                    warn!(room, %error, suppressed, "unreadable input skipped");
                }
                if self.unreadable_run >= GARBAGE_RUN {
                    bail!("{GARBAGE_RUN} unreadable frames in a row: leaving this server");
                }
            }
            ClientEvent::Dead { silent_for } => warn!(room, ?silent_for, "connection dead"),
            ClientEvent::Closed(reason) => debug!(room, %reason, "session closed"),
            other => debug!(room, ?other, "event"),
        }
        Ok(())
    }
}

impl Printer {
    fn print(&mut self, room: u64, message: &ServerMessage<'_>) -> anyhow::Result<()> {
        self.line.clear();
        if self
            .renderer
            .render(room, self.input_ms, message, &mut self.line)
        {
            self.write_line()?;
        }
        Ok(())
    }

    fn write_line(&mut self) -> anyhow::Result<()> {
        let mut stdout = std::io::stdout().lock();
        let written = stdout
            .write_all(self.line.as_bytes())
            .and_then(|()| stdout.flush());
        match written {
            Ok(()) => Ok(()),
            // The reader is gone (`douyu watch | head -1`): like any
            // filter, stop at once and quietly; that is a success. Nothing
            // is left to flush or to say, and every room would otherwise
            // find out one by one.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
            Err(e) => {
                self.output_failed = true;
                Err(anyhow!(e).context("writing to stdout"))
            }
        }
    }
}

/// What a refusal code means, for the message that ends `watch` or `say`;
/// `None` for a code that is worth retrying (the server is full).
pub(crate) fn refusal(code: i64) -> Option<String> {
    let what = match code {
        error_code::NICKNAME_TAKEN => {
            "the nickname is taken in this room: pick another with --name"
        }
        error_code::BAD_NICKNAME => "the nickname is not allowed: pick another with --name",
        error_code::BAD_ROOM => "the room was refused: check the room id",
        error_code::ROOMS_FULL | error_code::LOGIN_TIMEOUT => return None,
        _ => "the login was refused",
    };
    Some(format!("{what} (server error {code})"))
}

/// Whether `error` says the server's name does not resolve.
fn unresolvable(error: &anyhow::Error) -> bool {
    error
        .chain()
        .any(|cause| cause.downcast_ref::<Unresolvable>().is_some())
}

/// Watches `room` until `stop` fires, reconnecting (and logging in again)
/// with exponential backoff and jitter whenever the connection ends.
///
/// Ends with an error classed by [`Failure`] when going on is pointless: the
/// server refused the login (nickname taken, room refused), the name never
/// resolved, or `max_retries` reconnects in a row failed to join.
pub async fn watch_room(
    room: u64,
    options: WatchOptions,
    clock: Clock,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let printer = Printer::new(options.renderer.clone(), options.recorder.clone());
    watch_room_with(room, options, clock, stop, printer).await
}

/// [`watch_room`], with the messages handed to `sink` (when given) instead
/// of printed.
pub async fn follow_room(
    room: u64,
    options: WatchOptions,
    clock: Clock,
    stop: watch::Receiver<bool>,
    sink: Option<Box<dyn Sink>>,
) -> anyhow::Result<()> {
    let printer = match sink {
        Some(sink) => Printer::with_sink(sink),
        None => Printer::new(options.renderer.clone(), options.recorder.clone()),
    };
    watch_room_with(room, options, clock, stop, printer).await
}

/// [`watch_room`], with the messages going where `printer` sends them.
pub async fn watch_room_with(
    room: u64,
    options: WatchOptions,
    clock: Clock,
    mut stop: watch::Receiver<bool>,
    mut printer: Printer,
) -> anyhow::Result<()> {
    let mut backoff = Backoff::new(&options);
    let mut ever_connected = false;
    let mut retries = 0u32;
    loop {
        printer.reset_connection();
        let connected = tokio::select! {
            // Boxed: the TLS and WebSocket handshakes make a future of
            // ~4 KiB, which would otherwise stay reserved in every
            // session's task for as long as it is connected.
            connected = Box::pin(Wire::connect(&options.endpoint, options.connect_timeout, RX_CAPACITY)) => connected,
            () = stopped(&mut stop) => return Ok(()),
        };
        match connected {
            Ok(mut wire) => {
                ever_connected = true;
                info!(room, endpoint = %options.endpoint, "connected");
                printer.connected(room, &options.endpoint)?;
                let config = client_config(room, &options)?;
                let ended = run_session(
                    &mut wire,
                    config,
                    clock,
                    options.read_pause,
                    &mut printer,
                    &mut stop,
                )
                .await;
                let reason = match &ended {
                    Ok(Outcome::Closed(reason)) => reason.to_string(),
                    Ok(Outcome::Disconnected) => "the server closed the connection".into(),
                    Err(e) => format!("{e:#}"),
                };
                printer.closed(room, &reason)?;
                match ended {
                    Ok(Outcome::Closed(CloseReason::Logout)) if *stop.borrow() => {
                        info!(room, "logged out");
                        return Ok(());
                    }
                    // An error before the join is the login's answer.
                    Ok(Outcome::Closed(
                        CloseReason::Refused { code }
                        | CloseReason::ServerError { code: Some(code) },
                    )) if printer.joined_at.is_none() => match refusal(code) {
                        Some(what) => {
                            return Err(anyhow!("room {room}: {what}")).classify(Failure::Refused);
                        }
                        None => warn!(room, code, "login refused for now"),
                    },
                    Ok(_) => warn!(room, %reason, "connection ended"),
                    Err(e) if printer.output_failed => return Err(e),
                    Err(_) => warn!(room, error = %reason, "connection failed"),
                }
            }
            Err(e) if !ever_connected && unresolvable(&e) => {
                return Err(e).classify(Failure::Unresolvable);
            }
            Err(e) => warn!(room, error = format!("{e:#}"), "cannot connect"),
        }
        if *stop.borrow() {
            return Ok(());
        }
        if let Some(sink) = &mut printer.sink {
            let unread_since_ms = printer.gap_from_ms;
            sink.link(room, Link::Lost { unread_since_ms });
        }
        if printer.joined_at.is_some() {
            retries = 0;
        }
        if let Some(max) = options.max_retries
            && retries >= max
        {
            return Err(anyhow!(
                "room {room}: gave up after {} (--max-retries {max})",
                match retries {
                    0 => "the first failure".to_string(),
                    n => format!("{n} failed reconnects in a row"),
                }
            ))
            .classify(Failure::GaveUp);
        }
        retries += 1;
        let delay = jitter(backoff.next(printer.joined_at.map(|at| at.elapsed())));
        info!(room, ?delay, "reconnecting");
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = stopped(&mut stop) => return Ok(()),
        }
    }
}

/// One room's reconnect delay: doubling from `initial_backoff` up to
/// `max_backoff`, starting over only after a healthy session.
#[derive(Debug)]
struct Backoff {
    next: Duration,
    initial: Duration,
    max: Duration,
    healthy_after: Duration,
}

impl Backoff {
    fn new(options: &WatchOptions) -> Self {
        Self {
            next: options.initial_backoff,
            initial: options.initial_backoff,
            max: options.max_backoff,
            healthy_after: options.healthy_after(),
        }
    }

    /// The delay (before jitter) after a connection that stayed joined for
    /// `joined_for` (`None`: it never joined).
    fn next(&mut self, joined_for: Option<Duration>) -> Duration {
        if joined_for.is_some_and(|lasted| lasted >= self.healthy_after) {
            self.next = self.initial;
        }
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay
    }
}

/// `delay` scaled by a random factor in [0.5, 1.0): spreads out clients that
/// lost the same server at the same moment.
fn jitter(delay: Duration) -> Duration {
    delay.mul_f64(rand::rng().random_range(0.5..1.0))
}

/// One session for a command that does one thing and leaves (`say`,
/// `who`): connects, logs in to `room` (as `username`, or a visitor), runs
/// `handler` until it is [`Handler::finished`] and the session has logged
/// out, all within `timeout`.
pub async fn run_once<H: Handler>(
    endpoint: &Endpoint,
    room: u64,
    username: Option<String>,
    timeout: Duration,
    handler: &mut H,
) -> anyhow::Result<Outcome> {
    let options = WatchOptions {
        endpoint: endpoint.clone(),
        renderer: Renderer::new(
            crate::render::Format::Json,
            false,
            crate::render::Filter::default(),
        ),
        username,
        heartbeat: douyu_core::session::HEARTBEAT,
        connect_timeout: timeout,
        initial_backoff: Duration::ZERO,
        max_backoff: Duration::ZERO,
        max_retries: Some(0),
        recorder: None,
        read_pause: Duration::ZERO,
    };
    let config = client_config(room, &options)?;
    let session = async {
        let mut wire = match Wire::connect(endpoint, timeout, RX_CAPACITY).await {
            Err(e) if unresolvable(&e) => return Err(e).classify(Failure::Unresolvable),
            other => other?,
        };
        let (_keep, mut stop) = watch::channel(false);
        run_session(
            &mut wire,
            config,
            Clock::start(),
            options.read_pause,
            handler,
            &mut stop,
        )
        .await
    };
    match tokio::time::timeout(timeout, session).await {
        Ok(outcome) => outcome,
        Err(_) => Err(anyhow!(
            "no answer from {endpoint} within {} s (--timeout)",
            timeout.as_secs_f64()
        ))
        .classify(Failure::GaveUp),
    }
}

/// Logs in to `room`, sends one chat line, waits to see it broadcast back
/// (or `timeout`), and logs out.
pub async fn say(
    endpoint: &Endpoint,
    room: u64,
    text: &str,
    username: Option<String>,
    timeout: Duration,
) -> anyhow::Result<()> {
    struct Sayer {
        text: Option<String>,
        sent: String,
        joined: bool,
        echoed: bool,
        me: Option<String>,
        refused: Option<Option<i64>>,
    }
    impl Handler for Sayer {
        fn on_event(&mut self, _room: u64, event: &ClientEvent<'_>) -> anyhow::Result<()> {
            match event {
                ClientEvent::LoggedIn(res) => self.me = res.nickname.map(|n| n.to_string()),
                ClientEvent::Joined { .. } => self.joined = true,
                ClientEvent::Message(ServerMessage::Chat(chat)) => {
                    let mine = chat.nn.map(|n| n.to_string()) == self.me;
                    self.echoed |= mine && chat.txt.is_some_and(|t| t == self.sent.as_str());
                }
                ClientEvent::ServerError { code } => self.refused = Some(*code),
                _ => {}
            }
            Ok(())
        }
        fn chat_to_send(&mut self) -> Option<String> {
            if self.joined { self.text.take() } else { None }
        }
        fn finished(&self) -> bool {
            self.echoed
        }
    }
    let mut sayer = Sayer {
        text: Some(text.to_string()),
        sent: text.to_string(),
        joined: false,
        echoed: false,
        me: None,
        refused: None,
    };
    let outcome = run_once(endpoint, room, username, timeout, &mut sayer).await;
    // A refusal is the answer, however the connection ended after it.
    if let Some(code) = sayer.refused {
        let what = match code.map(refusal) {
            Some(Some(what)) => what,
            Some(None) => format!(
                "the server is busy, try again later (server error {})",
                code.unwrap_or_default()
            ),
            None => "the server refused with an error".to_string(),
        };
        return Err(anyhow!("room {room}: {what}")).classify(Failure::Refused);
    }
    let outcome = outcome?;
    if !sayer.echoed {
        let why = match outcome {
            Outcome::Closed(reason) => reason.to_string(),
            Outcome::Disconnected => "the server closed the connection".to_string(),
        };
        bail!("the line was not broadcast back: {why}");
    }
    info!(room, "chat line sent and broadcast");
    Ok(())
}

/// Checks, before logging in, that `say` can send `text` at all: the
/// client session holds at most [`CHAT_QUEUE`] bytes of chat (text and a
/// terminator) and no NUL.
///
/// [`CHAT_QUEUE`]: douyu_core::session::CHAT_QUEUE
pub fn check_chat_text(text: &str) -> anyhow::Result<()> {
    let most = douyu_core::session::CHAT_QUEUE - 1;
    if text.is_empty() {
        return Err(crate::exit::usage("the chat line is empty"));
    }
    if text.len() > most {
        return Err(crate::exit::usage(format_args!(
            "the chat line is {} bytes of UTF-8; at most {most} fit in a chat frame",
            text.len()
        )));
    }
    if text.contains('\0') {
        return Err(crate::exit::usage(
            "the chat line holds a NUL byte, which no frame can carry",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::Format;
    use douyu_core::session::SessionError;

    fn options() -> WatchOptions {
        WatchOptions {
            endpoint: Endpoint::Tcp("127.0.0.1:1".into()),
            renderer: Renderer::new(
                Format::Json,
                false,
                crate::render::Filter {
                    only: Some(["none".to_string()].into()),
                    ..Default::default()
                },
            ),
            username: None,
            heartbeat: douyu_core::session::HEARTBEAT,
            connect_timeout: Duration::from_secs(1),
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            max_retries: None,
            recorder: None,
            read_pause: Duration::ZERO,
        }
    }

    #[test]
    fn a_read_pause_grows_in_a_quiet_room_and_shrinks_in_a_busy_one() {
        let longest = Duration::from_millis(250);
        let mut pause = ReadPause::new(longest);
        assert!(pause.is_on());
        // A message at a time: the wait doubles from 16 ms to the longest.
        let waits: Vec<_> = (0..6)
            .map(|_| pause.after_batch(350, Waiting::Nothing))
            .collect();
        let ms = |m| Some(Duration::from_millis(m));
        assert_eq!(waits, [ms(32), ms(64), ms(128), ms(250), ms(250), ms(250)]);
        // Between half a chunk and a chunk: the wait holds.
        assert_eq!(pause.after_batch(READ_CHUNK / 2, Waiting::Nothing), ms(250));
        // A full batch halves it; one cut short by the limit reads on.
        assert_eq!(pause.after_batch(READ_CHUNK, Waiting::Nothing), ms(125));
        assert_eq!(
            pause.after_batch(ReadPause::BATCH_LIMIT, Waiting::More),
            None
        );
        for _ in 0..20 {
            pause.after_batch(ReadPause::BATCH_LIMIT, Waiting::More);
        }
        assert_eq!(pause.after_batch(READ_CHUNK, Waiting::Nothing), ms(1));
        // The end of the stream: no wait, whatever came before it.
        assert_eq!(pause.after_batch(10, Waiting::Closed), None);
        // Off: never a wait.
        let mut off = ReadPause::new(Duration::ZERO);
        assert!(!off.is_on());
        assert_eq!(off.after_batch(10, Waiting::Nothing), None);
    }

    #[test]
    fn backoff_grows_past_short_sessions_and_starts_over_after_a_long_one() {
        let mut backoff = Backoff::new(&options());
        let secs = Duration::from_secs;
        // Joined, then hung up at once: that is no reason to start over.
        let delays: Vec<_> = (0..8).map(|_| backoff.next(Some(secs(1)))).collect();
        assert_eq!(
            delays,
            [1, 2, 4, 8, 16, 32, 60, 60].map(secs),
            "a server that closes right after the join"
        );
        assert_eq!(backoff.next(None), secs(60));
        assert_eq!(backoff.next(Some(secs(59))), secs(60));
        // A session that lasted as long as the longest delay was healthy.
        assert_eq!(backoff.next(Some(secs(60))), secs(1));
        assert_eq!(backoff.next(None), secs(2));
    }

    #[test]
    fn a_run_of_unreadable_frames_ends_the_connection_and_a_good_one_breaks_it() {
        let mut printer = Printer::new(options().renderer, None);
        let bad = ClientEvent::Invalid(SessionError::NotReady);
        let good_body = "type@=mrkl/";
        let good = ServerMessage::parse(good_body).unwrap();
        for _ in 0..3 {
            for _ in 0..GARBAGE_RUN - 1 {
                printer.on_event(1, &bad).unwrap();
            }
            printer.on_event(1, &ClientEvent::Message(good)).unwrap();
        }
        for _ in 0..GARBAGE_RUN - 1 {
            printer.on_event(1, &bad).unwrap();
        }
        assert!(printer.on_event(1, &bad).is_err());
        // A new connection starts a new count.
        printer.reset_connection();
        printer.on_event(1, &bad).unwrap();
    }
}
