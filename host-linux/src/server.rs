//! The server: any number of rooms over TCP and WebSocket, one task and one
//! `douyu-core` [`ServerSession`](douyu_core::session::ServerSession) per
//! client (see `server/client.rs`).
//!
//! The room registry (members per room, broadcast rings) lives here, not in
//! `douyu-core`, because a server with any number of rooms and clients needs
//! growable maps; the core session reaches it through its small [`Registry`]
//! trait. The rules (who may log in under which name, how much chat, how
//! long to log in) are the core session's; this module holds the counts.
//!
//! Memory stays bounded whatever the clients do: a room opens with its first
//! member and closes with its last, and at most `max_rooms` are open; each
//! broadcasts through one shared ring of `queue` entries (a client that falls
//! further behind is dropped as a slow consumer); a write that stalls longer
//! than `send_timeout` drops the client too; frames above `max_frame` end the
//! session; connections are capped in all, per address and in rate per
//! address; and an idle connection holds no buffers at all.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::net::{IpAddr, SocketAddr};
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;
use std::time::Duration;

use anyhow::Context;
use douyu_core::session::{ChatLimit, Refusal, Registry, ServerConfig, visitor_name};
use douyu_core::sim;
use tokio::net::TcpListener;
use tokio::sync::{Notify, broadcast, watch};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use crate::alarm::Alarms;
use crate::throttle::{Bucket, Throttle};
use crate::time::{Clock, stopped};

mod client;
mod replay;

pub use replay::Replay;

/// A batch of whole frames, shared by every client of a room.
type Batch = Arc<[u8]>;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Address for raw TCP clients.
    pub tcp: Option<SocketAddr>,
    /// Address for WebSocket clients.
    pub ws: Option<SocketAddr>,
    /// Most clients connected at once; more are turned away.
    pub max_connections: usize,
    /// Largest frame accepted from a client, in bytes.
    pub max_frame: usize,
    /// Silence after which a client is dropped.
    pub heartbeat_window: Duration,
    /// Broadcast batches a client may fall behind before it is dropped.
    pub queue: usize,
    /// Longest a write to one client may take before it is dropped.
    pub send_timeout: Duration,
    /// Generate traffic in a room.
    pub simulate: Option<Simulation>,
    /// Play a capture into a room.
    pub replay: Option<Replay>,
    /// More rooms simulated as `simulate`'s (same rate, each room its own
    /// generator), for `serve --simulate RATE --rooms LIST`.
    pub also_simulate: Vec<u64>,
    /// Most rooms open at once; a login that would open one more is
    /// refused. Each open room holds a ring of `queue` slots (about 45 KB
    /// with the default queue).
    pub max_rooms: usize,
    /// Time a connection has to log in.
    pub login_timeout: Duration,
    /// Each client's chat limit (`None`: unlimited).
    pub chat_limit: Option<ChatLimit>,
    /// Longest chat text relayed, in bytes as escaped on the wire; it
    /// bounds what a room's ring holds (`queue` lines of it at most).
    pub max_chat_len: usize,
    /// Arrivals and departures announced a second in each room, after a
    /// burst of as many (0: every one); see `Shared::announce`.
    pub presence_rate: u32,
    /// Most connections open at once from one peer address (IPv6: one
    /// /64); more are closed at once, so that one host cannot take every
    /// slot.
    pub max_per_ip: usize,
    /// New connections a second from one peer address once a burst of
    /// `max_per_ip` is spent (0: unlimited); more are closed at once. Every
    /// session brings a chat burst and an arrival and a departure to its
    /// room: without this a client that reconnects in a loop would flood
    /// the room through the chat limit.
    pub connect_rate: u32,
}

impl Default for ServerOptions {
    fn default() -> Self {
        // The session's rules are the core's, and so are their defaults.
        let session = ServerConfig::default();
        Self {
            tcp: None,
            ws: None,
            max_connections: 20_000,
            max_frame: 16 * 1024,
            heartbeat_window: session.heartbeat_window,
            queue: 1024,
            send_timeout: Duration::from_secs(10),
            simulate: None,
            replay: None,
            also_simulate: Vec::new(),
            max_rooms: 1024,
            login_timeout: session.login_timeout,
            chat_limit: session.chat_limit,
            max_chat_len: session.max_chat_len,
            presence_rate: 20,
            max_per_ip: 256,
            connect_rate: 20,
        }
    }
}

/// Simulated traffic for `serve --simulate`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Simulation {
    /// The room to broadcast to.
    pub room: u64,
    /// Messages per second.
    pub rate: f64,
    /// Send only `chatmsg`s whose text is the message's scheduled send time
    /// (microseconds since the Unix epoch), so that a load generator can
    /// measure the server's lag as latency.
    pub probe: bool,
}

/// One room: its broadcast ring and who is in it.
#[derive(Debug)]
struct Room {
    /// The ring every joined member reads; allocated whole (`queue` slots,
    /// about 45 bytes each) when the room opens, freed when it closes.
    feed: broadcast::Sender<Batch>,
    /// Every member's nickname and uid. `Box<str>`, not `String`: a member
    /// costs a word less.
    members: HashMap<Box<str>, u64>,
    /// Kept open while empty: the simulated room.
    pinned: bool,
    /// Announcements of arrivals and departures; see `Shared::announce`.
    presence: Bucket,
    /// Arrivals and departures not announced since the room opened.
    unannounced: u64,
}

/// Every open room and the user ids: what the core sessions ask of the
/// host. A room opens with its first member and closes with its last, so
/// rooms nobody is in cost nothing, and at most `max_rooms` are open.
#[derive(Debug)]
struct Rooms {
    rooms: HashMap<u64, Room>,
    last_uid: u64,
    max_rooms: usize,
    queue: usize,
}

impl Rooms {
    fn new(max_rooms: usize, queue: usize) -> Self {
        Self {
            rooms: HashMap::new(),
            last_uid: 0,
            max_rooms,
            queue: queue.max(1),
        }
    }

    /// The room, opened if it is not and the cap allows (`pinned` rooms
    /// are the operator's and pass the cap).
    fn open(&mut self, room: u64, pinned: bool) -> Result<&mut Room, Refusal> {
        let open = self.rooms.len();
        match self.rooms.entry(room) {
            Entry::Occupied(entry) => Ok(entry.into_mut()),
            Entry::Vacant(_) if open >= self.max_rooms && !pinned => Err(Refusal::RoomsFull),
            Entry::Vacant(entry) => Ok(entry.insert(Room {
                feed: broadcast::channel(self.queue).0,
                members: HashMap::new(),
                pinned,
                presence: Bucket::default(),
                unannounced: 0,
            })),
        }
    }

    /// The broadcast of an open room.
    fn feed(&self, room: u64) -> Option<&broadcast::Sender<Batch>> {
        self.rooms.get(&room).map(|r| &r.feed)
    }
}

impl Registry for Rooms {
    fn join(&mut self, room: u64, name: Option<&str>) -> Result<u64, Refusal> {
        let taken = |rooms: &Self, name| {
            rooms
                .rooms
                .get(&room)
                .is_some_and(|r| r.members.contains_key(name))
        };
        if name.is_some_and(|name| taken(self, name)) {
            return Err(Refusal::NicknameTaken);
        }
        let uid = self.last_uid + 1;
        let name: Box<str> = match name {
            Some(name) => name.into(),
            None => visitor_name(uid).as_str().into(),
        };
        self.open(room, false)?.members.insert(name, uid);
        self.last_uid = uid;
        Ok(uid)
    }

    fn leave(&mut self, room: u64, name: &str) {
        if let Entry::Occupied(mut entry) = self.rooms.entry(room) {
            entry.get_mut().members.remove(name);
            if entry.get().members.is_empty() && !entry.get().pinned {
                let closed = entry.remove();
                if closed.unannounced > 0 {
                    debug!(
                        room,
                        unannounced = closed.unannounced,
                        "room closed; arrivals and departures past its presence rate were not announced"
                    );
                }
            }
        }
    }
}

/// The rooms, locked only when a session needs them (login, logout, close),
/// not for every heartbeat.
struct LazyRooms<'a>(&'a Mutex<Rooms>);

impl LazyRooms<'_> {
    fn lock(&self) -> MutexGuard<'_, Rooms> {
        lock(self.0)
    }
}

impl Registry for LazyRooms<'_> {
    fn join(&mut self, room: u64, name: Option<&str>) -> Result<u64, Refusal> {
        self.lock().join(room, name)
    }
    fn leave(&mut self, room: u64, name: &str) {
        self.lock().leave(room, name);
    }
}

/// Locks a mutex whatever a panicking holder left: a panic while holding
/// the rooms cannot leave them half-updated in a way that matters more than
/// stopping the server would.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// State shared by every task of one server.
#[derive(Debug)]
struct Shared {
    options: ServerOptions,
    rooms: Mutex<Rooms>,
    /// Lines logged per connection (closes, drops, bad frames): a flood of
    /// connections must not become a flood of log lines.
    log_quota: Throttle,
    /// Connections open (or being turned away).
    connections: AtomicUsize,
    /// Notified when `connections` falls to zero.
    none_open: Notify,
    clock: Clock,
    /// Every connection's deadline and the shutdown signal.
    alarms: Alarms,
}

impl Shared {
    fn new(options: ServerOptions) -> Self {
        let clock = Clock::start();
        Self {
            rooms: Mutex::new(Rooms::new(options.max_rooms, options.queue)),
            options,
            log_quota: Throttle::new(20, Duration::from_secs(1)),
            connections: AtomicUsize::new(0),
            none_open: Notify::new(),
            clock,
            alarms: Alarms::new(clock),
        }
    }

    /// Counts a connection out.
    fn closed(&self) {
        if self.connections.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.none_open.notify_waiters();
        }
    }

    /// Resolves once no connection is open.
    async fn all_closed(&self) {
        loop {
            let mut none_open = pin!(self.none_open.notified());
            // Registered before the check, so a close in between is seen.
            none_open.as_mut().enable();
            if self.connections.load(Ordering::Acquire) == 0 {
                return;
            }
            none_open.await;
        }
    }

    /// A subscription to an open room's broadcast.
    fn subscribe(&self, room: u64) -> Option<broadcast::Receiver<Batch>> {
        lock(&self.rooms)
            .feed(room)
            .map(broadcast::Sender::subscribe)
    }

    /// Broadcasts an arrival or departure (`uenter`, `uleave`) to an open
    /// room, unless the room's presence rate is spent: each announcement
    /// goes to every member, so a crowd joining at once would cost the
    /// square of its size (5,000 clients joining: 12.5 M deliveries), and a
    /// reconnecting client would flood the room through it. At most
    /// `presence_rate` a second are announced, after a burst of as many;
    /// the rest are counted, and `whoreq` still tells who is there.
    fn announce(&self, room: u64, frame: &[u8]) {
        let rate = self.options.presence_rate;
        let feed = {
            let mut rooms = lock(&self.rooms);
            let Some(room) = rooms.rooms.get_mut(&room) else {
                return;
            };
            if !room.presence.take(std::time::Instant::now(), rate, rate) {
                room.unannounced += 1;
                return;
            }
            room.feed.clone()
        };
        let _ = feed.send(Arc::from(frame));
    }

    /// Sends whole frames to every joined member of an open room (nobody
    /// to send to is fine).
    fn broadcast(&self, room: u64, frames: &[u8]) {
        let feed = lock(&self.rooms).feed(room).cloned();
        if let Some(feed) = feed {
            let _ = feed.send(Arc::from(frames));
        }
    }
}

/// A server with its listeners bound, ready to [`BoundServer::run`].
#[derive(Debug)]
pub struct BoundServer {
    shared: Arc<Shared>,
    tcp: Option<TcpListener>,
    ws: Option<TcpListener>,
}

impl BoundServer {
    /// Binds the configured listeners (port 0 picks a free port).
    pub async fn bind(options: ServerOptions) -> anyhow::Result<Self> {
        let tcp = match options.tcp {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding TCP {addr}"))?,
            ),
            None => None,
        };
        let ws = match options.ws {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding WebSocket {addr}"))?,
            ),
            None => None,
        };
        let shared = Arc::new(Shared::new(options));
        Ok(Self { shared, tcp, ws })
    }

    /// The TCP listener's address.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The WebSocket listener's address.
    pub fn ws_addr(&self) -> Option<SocketAddr> {
        self.ws.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Serves until `shutdown` turns true, then closes every session and
    /// waits (up to a few seconds) for the connections to finish.
    pub async fn run(self, shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
        let mut tasks = JoinSet::new();
        let slots = Arc::new(Slots::new());
        tasks.spawn({
            let (shared, shutdown) = (self.shared.clone(), shutdown.clone());
            async move { shared.alarms.run(shutdown).await }
        });
        if let Some(listener) = self.tcp {
            info!(addr = %listener.local_addr()?, "serving TCP");
            tasks.spawn(accept(
                listener,
                false,
                self.shared.clone(),
                slots.clone(),
                shutdown.clone(),
            ));
        }
        if let Some(listener) = self.ws {
            info!(addr = %listener.local_addr()?, "serving WebSocket");
            tasks.spawn(accept(
                listener,
                true,
                self.shared.clone(),
                slots.clone(),
                shutdown.clone(),
            ));
        }
        if let Some(simulation) = self.shared.options.simulate {
            info!(
                ?simulation,
                more = self.shared.options.also_simulate.len(),
                "simulating busy rooms"
            );
            let more = self.shared.options.also_simulate.iter();
            for room in more.filter(|&&room| room != simulation.room) {
                let simulation = Simulation {
                    room: *room,
                    ..simulation
                };
                tasks.spawn(simulate(self.shared.clone(), simulation, shutdown.clone()));
            }
            tasks.spawn(simulate(self.shared.clone(), simulation, shutdown.clone()));
        }
        if let Some(replay) = self.shared.options.replay.clone() {
            tasks.spawn(replay::run(self.shared.clone(), replay, shutdown.clone()));
        }
        while let Some(done) = tasks.join_next().await {
            done.context("server task panicked")?;
        }
        Ok(())
    }
}

/// Connections open per peer address, shared by the listeners, and the
/// throttle for the log lines that refusals provoke (a flood of them must
/// not become a flood of log lines).
///
/// Each connection holds its address's [`Slot`], a shared `Arc`: how many
/// hold it is how many are open. That costs each connection's task one
/// pointer, and the count needs no update when a connection ends.
#[derive(Debug)]
struct Slots {
    per_ip: Mutex<PerIp>,
    refusals: Throttle,
}

#[derive(Debug, Default)]
struct PerIp {
    open: HashMap<IpAddr, Address>,
    /// Entries at the last sweep of addresses with nothing open.
    swept_at: usize,
}

/// What is kept of one peer address.
#[derive(Debug, Default)]
struct Address {
    /// Shared by its open connections.
    slot: Slot,
    /// Its connection rate.
    connects: Bucket,
}

/// One connection counted against its address until it is dropped (when
/// its task ends, panics or is aborted).
pub(crate) type Slot = Arc<()>;

/// Why a connection was turned away at the door.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Turned {
    /// The address holds `max_per_ip` connections.
    TooMany,
    /// The address connects faster than `connect_rate`.
    TooFast,
}

impl Slots {
    fn new() -> Self {
        Self {
            per_ip: Mutex::new(PerIp::default()),
            refusals: Throttle::new(5, Duration::from_secs(1)),
        }
    }

    /// A slot for one more connection from `ip` at `now`, unless it holds
    /// `max` already or connects faster than `rate` a second (after a
    /// burst of `max`).
    fn take(
        &self,
        ip: IpAddr,
        max: usize,
        rate: u32,
        now: std::time::Instant,
    ) -> Result<Slot, Turned> {
        let mut per_ip = lock(&self.per_ip);
        // Addresses with nothing open and a full bucket are forgotten once
        // the map has doubled since the last sweep: it holds about twice
        // as many addresses as connect at once, at most.
        if per_ip.open.len() > 2 * per_ip.swept_at + 64 {
            per_ip.open.retain(|_, address| {
                Arc::strong_count(&address.slot) > 1 || !address.connects.is_full(now)
            });
            per_ip.swept_at = per_ip.open.len();
        }
        let address = per_ip.open.entry(ip).or_default();
        // Held by the map and by each open connection: `max` open when
        // the count is one more.
        if Arc::strong_count(&address.slot) > max {
            return Err(Turned::TooMany);
        }
        let burst = u32::try_from(max).unwrap_or(u32::MAX);
        if !address.connects.take(now, rate, burst) {
            return Err(Turned::TooFast);
        }
        Ok(address.slot.clone())
    }
}

/// The address a peer is counted under: its IPv4 address (an IPv4-mapped
/// IPv6 one too), or its IPv6 /64, the block one host is usually given, so
/// that a host cannot multiply its share by walking its own addresses.
fn address_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !u128::from(u64::MAX);
            IpAddr::V6(prefix.into())
        }
        v4 => v4,
    }
}

/// `accept` failed for want of descriptors: the process's (`EMFILE`) or the
/// system's (`ENFILE`). Linux numbers, the same on every architecture.
fn out_of_descriptors(e: &std::io::Error) -> bool {
    const ENFILE: i32 = 23;
    const EMFILE: i32 = 24;
    matches!(e.raw_os_error(), Some(ENFILE | EMFILE))
}

/// A spare descriptor, given up to accept (and close) one client when the
/// process has run out: a client the server cannot take should see a close,
/// not sit in the listen queue until it gives up.
fn spare_descriptor() -> Option<std::fs::File> {
    std::fs::File::open("/dev/null").ok()
}

/// How long the accept loop rests after a failed `accept`: the error (out
/// of descriptors above all) persists until something closes, and retrying
/// at once would spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(20);

async fn accept(
    listener: TcpListener,
    websocket: bool,
    shared: Arc<Shared>,
    slots: Arc<Slots>,
    shutdown: watch::Receiver<bool>,
) {
    let mut stop = shutdown.clone();
    let mut spare = spare_descriptor();
    let (max_per_ip, connect_rate) = (shared.options.max_per_ip, shared.options.connect_rate);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stopped(&mut stop) => break,
        };
        match accepted {
            Ok((stream, peer)) => {
                // A refused stream is dropped here, which closes it at once.
                let ip = address_key(peer.ip());
                let slot = match slots.take(ip, max_per_ip, connect_rate, std::time::Instant::now())
                {
                    Ok(slot) => slot,
                    Err(turned) => {
                        if let Some(held_back) = slots.refusals.check() {
                            let why = match turned {
                                Turned::TooMany => "too many connections from one address",
                                Turned::TooFast => "one address connecting too fast",
                            };
                            warn!(%peer, max_per_ip, connect_rate, held_back, "{why}: turned away");
                        }
                        continue;
                    }
                };
                let open = shared.connections.fetch_add(1, Ordering::Relaxed);
                if open >= shared.options.max_connections {
                    shared.closed();
                    if let Some(held_back) = slots.refusals.check() {
                        warn!(%peer, open, held_back, "connection limit reached: turned away");
                    }
                    continue;
                }
                debug!(%peer, websocket, "client connected");
                // Not kept in a `JoinSet`: an entry would cost every idle
                // connection, and `connections` counts them anyway.
                if websocket {
                    tokio::spawn(client::websocket(stream, shared.clone(), slot));
                } else {
                    tokio::spawn(client::tcp(stream, shared.clone(), slot));
                }
            }
            Err(e) => {
                if let Some(held_back) = slots.refusals.check() {
                    warn!(error = %e, held_back, "accept failed");
                }
                if out_of_descriptors(&e) && spare.take().is_some() {
                    // With the spare closed, take the client at the head of
                    // the queue and close it: it learns it was refused.
                    let shed = std::future::poll_fn(|cx| Poll::Ready(listener.poll_accept(cx)));
                    let shed = matches!(shed.await, Poll::Ready(Ok(_)));
                    spare = spare_descriptor();
                    if shed && spare.is_some() {
                        // One client less in the queue: no spin.
                        continue;
                    }
                }
                // Out of descriptors with no spare, or another failure: wait
                // a moment (still heeding shutdown), go on.
                tokio::select! {
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                    () = stopped(&mut stop) => break,
                }
                if spare.is_none() {
                    spare = spare_descriptor();
                }
            }
        }
    }
    // Sessions see the same signal and close; give them a moment.
    if tokio::time::timeout(Duration::from_secs(5), shared.all_closed())
        .await
        .is_err()
    {
        warn!(
            open = shared.connections.load(Ordering::Relaxed),
            "connections still open at shutdown"
        );
    }
}

/// Ticks' worth of messages the simulator sends at most in one tick when it
/// has fallen behind (see [`simulate`]).
const SIMULATION_BACKLOG_TICKS: u64 = 10;

/// Broadcasts simulated messages at the configured rate, in a batch every
/// tick (5 ms when probing latency, 10 ms otherwise).
///
/// A generator that cannot keep up (a rate past what this build and machine
/// make) works off at most [`SIMULATION_BACKLOG_TICKS`] ticks' worth of
/// messages per tick and skips the rest, saying so: otherwise its debt would
/// grow without end, each tick would take longer than the last, and the task
/// would stop coming back to notice the shutdown. It also yields after every
/// batch, so that clients and the shutdown get the cores in between.
async fn simulate(
    shared: Arc<Shared>,
    simulation: Simulation,
    mut shutdown: watch::Receiver<bool>,
) {
    let Simulation { room, rate, probe } = simulation;
    let sender = match lock(&shared.rooms).open(room, true) {
        Ok(room) => room.feed.clone(),
        Err(refusal) => return warn!(?refusal, "cannot open the simulated room"),
    };
    let wall = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
    };
    let mut generator = sim::Room::new(room, wall().as_nanos() as u64);
    let period = Duration::from_millis(if probe { 5 } else { 10 });
    let mut tick = tokio::time::interval(period);
    // Messages in one tick's batch at the configured rate.
    let per_batch = ((rate * period.as_secs_f64()).ceil() as u64).max(1);
    let mut in_batch = 0u64;
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (start, start_wall) = (tokio::time::Instant::now(), wall());
    let mut sent = 0u64;
    let mut frame = vec![0u8; 4096];
    let mut batch = Vec::new();
    let behind_log = crate::throttle::Throttle::new(1, Duration::from_secs(5));
    let mut skipped = 0u64;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stopped(&mut shutdown) => return,
        }
        // Message k is due at k / rate: one more than whole periods elapsed.
        // (Without the 1, every message went out a period after the time it
        // carries, which added a whole period to the measured latency.)
        let due = (start.elapsed().as_secs_f64() * rate) as u64 + 1;
        let most = per_batch.saturating_mul(SIMULATION_BACKLOG_TICKS);
        if due.saturating_sub(sent) > most {
            skipped += due - sent - most;
            sent = due - most;
            if behind_log.check().is_some() {
                warn!(
                    rate,
                    skipped = std::mem::take(&mut skipped),
                    "the simulator cannot keep up: messages skipped"
                );
            }
        }
        let now_ms = wall().as_millis() as u64;
        while sent < due {
            let written = if probe {
                let scheduled = start_wall + Duration::from_secs_f64(sent as f64 / rate);
                generator.chat_frame(now_ms, &scheduled.as_micros().to_string(), &mut frame)
            } else {
                generator.next_frame(now_ms, &mut frame)
            };
            match written {
                Ok(n) => batch.extend_from_slice(&frame[..n]),
                Err(e) => warn!(error = %e, "simulated message did not fit"),
            }
            sent += 1;
            in_batch += 1;
            // A generator that fell behind catches up one tick's worth at a
            // time, so the room's ring (bounded in batches) stays bounded in
            // bytes too, and clients that cannot follow are dropped.
            if in_batch == per_batch {
                let _ = sender.send(Arc::from(batch.as_slice()));
                batch.clear();
                in_batch = 0;
                tokio::task::yield_now().await;
                if *shutdown.borrow() {
                    return;
                }
            }
        }
        if !batch.is_empty() {
            let _ = sender.send(Arc::from(batch.as_slice()));
            batch.clear();
            in_batch = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_max_connections_and_then_the_rate() {
        let slots = Slots::new();
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "::1".parse().unwrap());
        let t0 = std::time::Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        // Four at once (the burst), the fifth is one too many.
        let held: Vec<Slot> = (0..4)
            .map(|_| slots.take(a, 4, 10, at(0)).unwrap())
            .collect();
        assert_eq!(slots.take(a, 4, 10, at(0)), Err(Turned::TooMany));
        // Another address is counted apart.
        assert!(slots.take(b, 4, 10, at(0)).is_ok());
        drop(held);
        // Closed, but the burst is spent: one more every 100 ms.
        assert_eq!(slots.take(a, 4, 10, at(0)), Err(Turned::TooFast));
        let next = slots.take(a, 4, 10, at(100)).unwrap();
        assert_eq!(slots.take(a, 4, 10, at(150)), Err(Turned::TooFast));
        drop(next);
        // A rate of 0 is no limit.
        let many: Vec<Slot> = (0..100)
            .map(|_| slots.take(b, 1000, 0, at(0)).unwrap())
            .collect();
        assert_eq!(many.len(), 100);
    }

    #[test]
    fn an_ipv6_host_is_counted_by_its_64() {
        let key = |s: &str| address_key(s.parse().unwrap());
        assert_eq!(key("2001:db8::1"), key("2001:db8::ffff:1:2:3"));
        assert_ne!(key("2001:db8::1"), key("2001:db8:0:1::1"));
        assert_eq!(key("::ffff:127.0.0.1"), key("127.0.0.1"));
        assert_ne!(key("127.0.0.1"), key("127.0.0.2"));
    }

    #[test]
    fn addresses_with_nothing_open_are_forgotten() {
        let slots = Slots::new();
        let t0 = std::time::Instant::now();
        for i in 0..10_000u32 {
            let ip = IpAddr::from(i.to_be_bytes());
            drop(slots.take(ip, 4, 10, t0 + Duration::from_secs(u64::from(i))));
        }
        let kept = lock(&slots.per_ip).open.len();
        assert!(kept < 200, "{kept} addresses kept");
    }
}
