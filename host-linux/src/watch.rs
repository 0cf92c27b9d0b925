//! Watching rooms: a `douyu-core` client session per room on a [`Wire`],
//! reconnecting with exponential backoff and jitter.

use std::io::Write as _;
use std::time::Duration;

use anyhow::{Context, bail};
use douyu_core::message::ServerMessage;
use douyu_core::session::{Client, ClientConfig, ClientEvent, CloseReason, Login, Nickname};
use rand::Rng as _;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::render::Renderer;
use crate::time::{Clock, stopped};
use crate::wire::{Endpoint, Wire};

/// Largest frame the client accepts (the live service's are a few KiB).
pub(crate) const RX_CAPACITY: usize = 64 * 1024;

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
    let mut config = ClientConfig::new(room);
    config.heartbeat = options.heartbeat;
    config.dead_after = options.heartbeat * 2;
    if let Some(name) = &options.username {
        let name = Nickname::try_from(name.as_str())
            .map_err(|_| anyhow::anyhow!("nickname {name:?} is too long"))?;
        config.username = Some(name);
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
            let n = client.send_chat(&text, &mut tx)?;
            wire.write(&tx[..n]).await.context("sending chat")?;
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

/// Prints what a watched room says.
#[derive(Debug)]
pub struct Printer {
    renderer: Renderer,
    line: String,
    /// Whether the current connection got as far as joining.
    pub joined: bool,
}

impl Printer {
    /// A printer writing lines made by `renderer` to stdout.
    pub fn new(renderer: Renderer) -> Self {
        Self {
            renderer,
            line: String::new(),
            joined: false,
        }
    }
}

impl Handler for Printer {
    fn on_event(&mut self, room: u64, event: &ClientEvent<'_>) -> anyhow::Result<()> {
        match event {
            ClientEvent::LoggedIn(res) => {
                let name = res.nickname.map(|n| n.to_string()).unwrap_or_default();
                info!(room, nickname = %name, "logged in");
            }
            ClientEvent::Joined { room } => {
                self.joined = true;
                info!(room, "joined");
            }
            ClientEvent::Message(message) => self.print(room, message)?,
            ClientEvent::ServerError { code } => warn!(room, ?code, "server error"),
            ClientEvent::Invalid(error) => warn!(room, %error, "unreadable input skipped"),
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
            stdout
                .write_all(self.line.as_bytes())
                .context("writing to stdout")?;
            stdout.flush().context("writing to stdout")?;
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
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut printer = Printer::new(options.renderer.clone());
    let mut backoff = options.initial_backoff;
    loop {
        printer.joined = false;
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
                    Err(e) => warn!(room, error = format!("{e:#}"), "connection failed"),
                }
            }
            Err(e) => warn!(room, error = format!("{e:#}"), "cannot connect"),
        }
        if *stop.borrow() {
            return Ok(());
        }
        if printer.joined {
            backoff = options.initial_backoff;
        }
        let delay = jitter(backoff);
        info!(room, ?delay, "reconnecting");
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = stopped(&mut stop) => return Ok(()),
        }
        backoff = (backoff * 2).min(options.max_backoff);
    }
}

/// `delay` scaled by a random factor in [0.5, 1.0): spreads out clients that
/// lost the same server at the same moment.
fn jitter(delay: Duration) -> Duration {
    delay.mul_f64(rand::rng().random_range(0.5..1.0))
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
    let options = WatchOptions {
        endpoint: endpoint.clone(),
        renderer: Renderer::new(crate::render::Format::Json, false, None),
        username,
        heartbeat: Duration::from_secs(45),
        connect_timeout: timeout,
        initial_backoff: Duration::ZERO,
        max_backoff: Duration::ZERO,
    };
    let mut sayer = Sayer {
        text: Some(text.to_string()),
        sent: text.to_string(),
        joined: false,
        echoed: false,
        me: None,
        refused: None,
    };
    let mut wire = Wire::connect(endpoint, timeout, RX_CAPACITY).await?;
    let (_keep, mut stop) = watch::channel(false);
    let config = client_config(room, &options)?;
    let session = run_session(&mut wire, config, Clock::start(), &mut sayer, &mut stop);
    let outcome = tokio::time::timeout(timeout, session)
        .await
        .context("timed out waiting for the chat line to be broadcast")??;
    if let Some(code) = sayer.refused {
        bail!("the server refused: error code {code:?}");
    }
    if !sayer.echoed {
        bail!("session ended before the line was broadcast: {outcome:?}");
    }
    info!(room, "chat line sent and broadcast");
    Ok(())
}
