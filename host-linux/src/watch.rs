//! Watching rooms: a `douyu-core` client session per room on a [`Wire`],
//! reconnecting with exponential backoff and jitter.
//!
//! The server may be hostile or broken, and `watch` must stay cheap for the
//! person running it whatever it sends: warnings about unreadable input are
//! throttled per room, a server that sends nothing readable is left (see
//! [`GARBAGE_RUN`]), and the backoff only starts over after a session that
//! stayed up (see [`WatchOptions::healthy_after`]).

use std::io::Write as _;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use douyu_core::message::ServerMessage;
use douyu_core::session::{Client, ClientConfig, ClientEvent, CloseReason, Login};
use rand::Rng as _;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::render::{Renderer, terminal_safe};
use crate::throttle::Throttle;
use crate::time::{Clock, stopped};
use crate::wire::{Endpoint, Wire};

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
            .with_context(|| format!("nickname {name:?}"))?;
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
    handler: &mut H,
    stop: &mut watch::Receiver<bool>,
) -> anyhow::Result<Outcome> {
    let room = config.room;
    let mut rx = vec![0u8; RX_CAPACITY];
    let mut client = Client::new(config, &mut rx, clock.now());
    let mut tx = vec![0u8; 4096];
    let mut input = Vec::new();
    let mut closed = None;
    loop {
        while let Some(n) = client.poll_transmit(&mut tx)? {
            wire.write(&tx[..n]).await.context("sending")?;
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
            more = wire.read(&mut input) => {
                if !more.context("receiving")? {
                    return Ok(Outcome::Disconnected);
                }
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
                input.clear();
            }
            () = sleep_until(deadline) => client.handle_timeout(clock.now()),
            () = stopped(stop) => client.close(),
        }
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

/// Where a room's messages go instead of stdout (`collect`): called with
/// each message as it is read.
pub trait Sink: Send {
    /// Takes one message of `room`. An error ends the connection (and the
    /// room is reconnected, as after any failure).
    fn message(&mut self, room: u64, message: &ServerMessage<'_>) -> anyhow::Result<()>;
}

/// Prints what a watched room says (or hands it to a [`Sink`]), and keeps
/// what the reconnect loop needs to know about the connection.
pub struct Printer {
    renderer: Renderer,
    /// Takes the messages instead of stdout, when set.
    sink: Option<Box<dyn Sink>>,
    line: String,
    /// When the current connection joined the room, if it did.
    pub joined_at: Option<tokio::time::Instant>,
    /// Unreadable frames since the last readable one (see [`GARBAGE_RUN`]).
    unreadable_run: u32,
    /// Kept across connections: reconnecting must not open the gate again.
    unreadable_log: Throttle,
    /// Set when stdout failed: no point watching on, nor reconnecting.
    output_failed: bool,
}

impl Printer {
    /// A printer writing lines made by `renderer` to stdout.
    pub fn new(renderer: Renderer) -> Self {
        Self {
            renderer,
            sink: None,
            line: String::new(),
            joined_at: None,
            unreadable_run: 0,
            unreadable_log: Throttle::new(UNREADABLE_LOGS_PER_SEC, Duration::from_secs(1)),
            output_failed: false,
        }
    }

    /// Forgets the last connection, before the next one.
    fn reset_connection(&mut self) {
        self.joined_at = None;
        self.unreadable_run = 0;
    }
}

impl Handler for Printer {
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
                info!(room, "joined");
            }
            ClientEvent::Message(message) => match &mut self.sink {
                Some(sink) => sink.message(room, message)?,
                None => self.print(room, message)?,
            },
            ClientEvent::ServerError { code } => warn!(room, ?code, "server error"),
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
        if self.renderer.render(room, message, &mut self.line) {
            let mut stdout = std::io::stdout().lock();
            let written = stdout
                .write_all(self.line.as_bytes())
                .and_then(|()| stdout.flush());
            match written {
                Ok(()) => {}
                // The reader is gone (`douyu watch | head -1`): like any
                // filter, stop at once and quietly; that is a success. Nothing
                // is left to flush or to say, and every room would otherwise
                // find out one by one.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
                Err(e) => {
                    self.output_failed = true;
                    return Err(anyhow!(e).context("writing to stdout"));
                }
            }
        }
        Ok(())
    }
}

/// Watches `room` until `stop` fires, reconnecting (and logging in again)
/// with exponential backoff and jitter whenever the connection ends.
pub async fn watch_room(
    room: u64,
    options: WatchOptions,
    clock: Clock,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    follow_room(room, options, clock, stop, None).await
}

/// [`watch_room`], with the messages handed to `sink` (when given) instead
/// of printed.
pub async fn follow_room(
    room: u64,
    options: WatchOptions,
    clock: Clock,
    mut stop: watch::Receiver<bool>,
    sink: Option<Box<dyn Sink>>,
) -> anyhow::Result<()> {
    let mut printer = Printer::new(options.renderer.clone());
    printer.sink = sink;
    let mut backoff = Backoff::new(&options);
    loop {
        printer.reset_connection();
        let connected = tokio::select! {
            connected = Wire::connect(&options.endpoint, options.connect_timeout, RX_CAPACITY) => connected,
            () = stopped(&mut stop) => return Ok(()),
        };
        match connected {
            Ok(mut wire) => {
                info!(room, endpoint = %options.endpoint, "connected");
                let config = client_config(room, &options)?;
                match run_session(&mut wire, config, clock, &mut printer, &mut stop).await {
                    Ok(Outcome::Closed(CloseReason::Logout)) if *stop.borrow() => {
                        info!(room, "logged out");
                        return Ok(());
                    }
                    Ok(outcome) => warn!(room, ?outcome, "connection ended"),
                    Err(e) if printer.output_failed => return Err(e),
                    Err(e) => warn!(room, error = format!("{e:#}"), "connection failed"),
                }
            }
            Err(e) => warn!(room, error = format!("{e:#}"), "cannot connect"),
        }
        if *stop.borrow() {
            return Ok(());
        }
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
        renderer: Renderer::new(crate::render::Format::Json, false, None),
        username,
        heartbeat: douyu_core::session::HEARTBEAT,
        connect_timeout: timeout,
        initial_backoff: Duration::ZERO,
        max_backoff: Duration::ZERO,
    };
    let config = client_config(room, &options)?;
    let session = async {
        let mut wire = Wire::connect(endpoint, timeout, RX_CAPACITY).await?;
        let (_keep, mut stop) = watch::channel(false);
        run_session(&mut wire, config, Clock::start(), handler, &mut stop).await
    };
    tokio::time::timeout(timeout, session)
        .await
        .context("timed out")?
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
    let outcome = run_once(endpoint, room, username, timeout, &mut sayer)
        .await
        .map_err(|e| e.context("waiting for the chat line to be broadcast"))?;
    if let Some(code) = sayer.refused {
        bail!("the server refused: error code {code:?}");
    }
    if !sayer.echoed {
        bail!("session ended before the line was broadcast: {outcome:?}");
    }
    info!(room, "chat line sent and broadcast");
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
            renderer: Renderer::new(Format::Json, false, Some(["none".to_string()].into())),
            username: None,
            heartbeat: douyu_core::session::HEARTBEAT,
            connect_timeout: Duration::from_secs(1),
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
        }
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
        let mut printer = Printer::new(options().renderer);
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
