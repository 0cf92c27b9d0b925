//! `douyu collect`: many rooms into NATS JetStream.
//!
//! Each room this collector holds (see [`lease`]) is a `watch` session
//! ([`follow_room`](crate::watch::follow_room): the core's client session,
//! with its reconnect behaviour) whose messages go to a [`Sink`] instead of
//! stdout. The sink makes each message the `watch --format json` object
//! plus `received_at`, names it (`douyu.<room>.<type>`, and a `Nats-Msg-Id`
//! derived from the message itself, so that a message seen twice is stored
//! once) and queues it in the room's bounded buffer. One dispatcher (module
//! `publish`) takes the buffers in turn and publishes with at most
//! `in_flight` acks outstanding; a publish is retried until JetStream
//! acknowledges it.
//!
//! Memory is bounded whatever NATS or the rooms do: a room's buffer holds at
//! most `room_buffer` bytes of JSON (past it new messages are dropped,
//! counted, logged and later published as one `gap` event), and at most
//! `in_flight` messages are out of the buffers at once.

pub mod lease;
pub mod metrics;
mod publish;

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use async_nats::Subject;
use async_nats::jetstream;
use bytes::Bytes;
use douyu_core::message::ServerMessage;
use sha2::{Digest as _, Sha256};
use tokio::sync::{Notify, watch};
use tracing::{info, warn};

use crate::prometheus::{Histogram, TypeCounters};
use crate::render::write_message_json;
use crate::throttle::Throttle;
use crate::time::{rfc3339_ms, stopped};
use crate::watch::{Link, Sink, WatchOptions};

/// The first token of every subject: `douyu.<room>.<type>`.
pub const SUBJECT_PREFIX: &str = "douyu";

/// How `collect` runs.
#[derive(Debug, Clone)]
pub struct CollectOptions {
    /// The rooms to share out among the collectors.
    pub rooms: Vec<u64>,
    /// The Douyu server, and each room session's settings.
    pub watch: WatchOptions,
    /// The NATS server URL.
    pub nats: String,
    /// The JetStream stream (created if absent); the lease buckets are
    /// named after it.
    pub stream: String,
    /// The stream's duplicate window, when this collector creates it.
    pub duplicate_window: Duration,
    /// Bytes of JSON a room's buffer holds while NATS is down or slow.
    pub room_buffer: usize,
    /// Most publishes awaiting their ack at once.
    pub in_flight: usize,
    /// How long a lease lasts unless renewed.
    pub lease_ttl: Duration,
    /// Time between status lines on stderr.
    pub status_every: Duration,
    /// Where to serve `/metrics` and `/healthz`, if anywhere.
    pub http: Option<std::net::SocketAddr>,
}

/// Counters for the status line and `/metrics` (and the tests, through
/// both).
#[derive(Debug, Default)]
pub struct Stats {
    /// Messages taken from the rooms.
    pub received: AtomicU64,
    /// The same, by type.
    pub received_by_type: TypeCounters,
    /// Messages JetStream stored.
    pub published: AtomicU64,
    /// The same, by type (gap events apart).
    pub published_by_type: TypeCounters,
    /// Gap events JetStream stored.
    pub published_gaps: AtomicU64,
    /// Time from sending a publish to its ack (the attempt that succeeded).
    pub ack_latency: Histogram,
    /// Publishes sent and awaiting their ack (or retrying) now.
    pub in_flight: AtomicU64,
    /// Messages JetStream had already (same `Nats-Msg-Id`).
    pub duplicates: AtomicU64,
    /// Messages dropped at a full room buffer.
    pub dropped: AtomicU64,
    /// `gap` events made (for drops, reconnects, and rooms taken from a
    /// dead collector).
    pub gaps: AtomicU64,
    /// Publish attempts that failed and were retried.
    pub retries: AtomicU64,
    /// Messages given up (refused by NATS for good, or left at shutdown).
    pub lost: AtomicU64,
    /// Bytes waiting in the room buffers.
    pub buffered: AtomicU64,
    /// Rooms whose lease this collector holds.
    pub held: AtomicU64,
    /// Live collectors of the stream, this one included, as last listed.
    pub collectors: AtomicU64,
    /// Room sessions joined now.
    pub connected: AtomicU64,
    /// Room connections lost or refused, each followed by a reconnect.
    pub session_reconnects: AtomicU64,
    /// Whether the NATS connection is up now.
    pub nats_connected: AtomicU64,
    /// NATS connections made after the first.
    pub nats_reconnects: AtomicU64,
    /// Whether NATS was ever connected.
    nats_ever: AtomicBool,
    /// Leases taken while free (at start, or a dead collector's expired).
    pub leases_taken_free: AtomicU64,
    /// Leases taken over from a collector that offered them.
    pub leases_taken_offered: AtomicU64,
    /// Leases handed over to another collector.
    pub leases_handed_over: AtomicU64,
    /// Leases given back at shutdown.
    pub leases_released: AtomicU64,
}

/// One message ready to publish.
#[derive(Debug, Clone)]
struct Pending {
    /// The message's type slot in [`Stats::published_by_type`]; `None`
    /// for a gap event.
    kind: Option<usize>,
    /// Cloned for each attempt: a reference count, not a copy.
    subject: Subject,
    id: String,
    payload: Bytes,
}

/// What a room lost at its full buffer, until it is published as a `gap`.
#[derive(Debug, Clone, Copy)]
struct Gap {
    dropped: u64,
    first: SystemTime,
    last: SystemTime,
}

/// Reconnects not yet published as a gap event: nothing was read from the
/// room at times between `from` and `to`.
#[derive(Debug, Clone, Copy)]
struct Reconnects {
    count: u64,
    from: SystemTime,
    to: SystemTime,
}

/// A room's bounded buffer.
#[derive(Debug)]
struct RoomQueue {
    room: u64,
    state: Mutex<QueueState>,
}

#[derive(Debug, Default)]
struct QueueState {
    items: VecDeque<Pending>,
    bytes: usize,
    /// In the outbox's ready list (or being served by the dispatcher).
    scheduled: bool,
    gap: Option<Gap>,
    /// Reconnects whose gap event came while the buffer was full, as one
    /// window over them all: published with the drops' gap, so that a room
    /// reconnecting through a long NATS outage holds one event, not one
    /// per reconnect.
    reconnects: Option<Reconnects>,
    /// Gap events made for this room by this process: part of their id.
    gaps_made: u64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere left the data as it was; counters and queues are
    // still usable.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Every room's buffer and the rooms with something to publish, in turn.
#[derive(Debug)]
pub struct Outbox {
    ready: Mutex<VecDeque<Arc<RoomQueue>>>,
    notify: Notify,
    room_buffer: usize,
    collector: String,
    stats: Arc<Stats>,
    drop_log: Throttle,
}

impl Outbox {
    fn new(room_buffer: usize, collector: String, stats: Arc<Stats>) -> Self {
        Self {
            ready: Mutex::new(VecDeque::new()),
            notify: Notify::new(),
            room_buffer,
            collector,
            stats,
            drop_log: Throttle::new(5, Duration::from_secs(1)),
        }
    }

    /// Queues `item` for `queue`'s room, or drops and counts it when the
    /// buffer is full.
    ///
    /// Once it has dropped, a room takes messages again only when its buffer
    /// is down to half: under lasting overload, taking one message each time
    /// one left would publish a gap event between every two messages, and
    /// those would eat the publishing they stand for.
    fn push(&self, queue: &Arc<RoomQueue>, item: Pending, at: SystemTime) {
        let mut state = lock(&queue.state);
        let len = item.payload.len();
        let limit = if state.gap.is_some() {
            self.room_buffer / 2
        } else {
            self.room_buffer
        };
        if state.bytes + len > limit {
            let gap = state.gap.get_or_insert(Gap {
                dropped: 0,
                first: at,
                last: at,
            });
            gap.dropped += 1;
            gap.last = at;
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            if let Some(held_back) = self.drop_log.check() {
                warn!(
                    room = queue.room,
                    held_back, "room buffer full: message dropped (NATS down or slow)"
                );
            }
            return;
        }
        // Room again after a loss: say what was lost first, in its place.
        self.push_gaps(queue.room, &mut state);
        state.bytes += len;
        self.stats.buffered.fetch_add(len as u64, Ordering::Relaxed);
        state.items.push_back(item);
        self.schedule(queue, state);
    }

    /// Appends the gap events held back while the buffer was full (a few
    /// hundred bytes past the bound at most: one of each kind per room at
    /// a time).
    fn push_gaps(&self, room: u64, state: &mut QueueState) {
        if let Some(gap) = state.gap.take() {
            self.push_gap(room, state, gap);
        }
        if let Some(reconnects) = state.reconnects.take() {
            let mut event =
                self.unwatched_event(room, &Unread::Reconnect, reconnects.from, reconnects.to);
            event["reconnects"] = reconnects.count.into();
            self.push_event(room, state, &event);
        }
    }

    /// The `gap` event of a time nobody read `room`, from `from` to `to`,
    /// for `why`.
    fn unwatched_event(
        &self,
        room: u64,
        why: &Unread,
        from: SystemTime,
        to: SystemTime,
    ) -> serde_json::Value {
        let mut event = serde_json::json!({
            "event": "gap",
            "reason": why.reason(),
            "room": room,
            "unwatched_from": rfc3339(from),
            "unwatched_to": rfc3339(to),
            "collector": self.collector,
            "received_at": rfc3339(SystemTime::now()),
        });
        if let Unread::LeaseExpired { holder } = why {
            event["previous_holder"] = holder.as_str().into();
        }
        event
    }

    /// Appends the `gap` event for `gap`.
    fn push_gap(&self, room: u64, state: &mut QueueState, gap: Gap) {
        let event = serde_json::json!({
            "event": "gap",
            "reason": "buffer_full",
            "room": room,
            "dropped": gap.dropped,
            "first_dropped_at": rfc3339(gap.first),
            "last_dropped_at": rfc3339(gap.last),
            "collector": self.collector,
            "received_at": rfc3339(SystemTime::now()),
        });
        if let Some(held_back) = self.drop_log.check() {
            warn!(
                room,
                dropped = gap.dropped,
                held_back,
                "gap published for dropped messages"
            );
        }
        self.push_event(room, state, &event);
    }

    /// Queues the `gap` event for a room nobody read from `unwatched.from`
    /// to `to`. A takeover's goes first into the new session's empty
    /// buffer. A reconnect's, when the buffer is full or dropping, joins
    /// the room's [`Reconnects`] instead, published once there is room.
    fn push_unwatched_gap(&self, queue: &Arc<RoomQueue>, unwatched: &Unwatched, to: SystemTime) {
        let room = queue.room;
        let mut state = lock(&queue.state);
        if matches!(unwatched.why, Unread::Reconnect)
            && (state.gap.is_some()
                || state.reconnects.is_some()
                || state.bytes + UNWATCHED_EVENT > self.room_buffer)
        {
            let held = state.reconnects.get_or_insert(Reconnects {
                count: 0,
                from: unwatched.from,
                to,
            });
            held.count += 1;
            held.from = held.from.min(unwatched.from);
            held.to = held.to.max(to);
            return;
        }
        let event = self.unwatched_event(room, &unwatched.why, unwatched.from, to);
        let seconds = to
            .duration_since(unwatched.from)
            .unwrap_or_default()
            .as_secs_f64();
        match &unwatched.why {
            Unread::LeaseExpired { holder } => {
                info!(
                    room,
                    previous_holder = holder,
                    seconds,
                    "gap published for a room nobody watched"
                );
            }
            Unread::Reconnect => {
                info!(room, seconds, "gap published for a reconnect");
            }
        }
        self.push_event(room, &mut state, &event);
        self.schedule(queue, state);
    }

    /// Appends a `gap` event to `room`'s buffer.
    fn push_event(&self, room: u64, state: &mut QueueState, event: &serde_json::Value) {
        state.gaps_made += 1;
        self.stats.gaps.fetch_add(1, Ordering::Relaxed);
        let payload = Bytes::from(event.to_string());
        state.bytes += payload.len();
        self.stats
            .buffered
            .fetch_add(payload.len() as u64, Ordering::Relaxed);
        state.items.push_back(Pending {
            kind: None,
            subject: format!("{SUBJECT_PREFIX}.{room}.gap").into(),
            id: format!("{room}:gap:{}:{}", self.collector, state.gaps_made),
            payload,
        });
    }

    fn schedule(&self, queue: &Arc<RoomQueue>, mut state: MutexGuard<'_, QueueState>) {
        if !state.scheduled {
            state.scheduled = true;
            drop(state);
            lock(&self.ready).push_back(queue.clone());
            self.notify.notify_one();
        }
    }

    /// Resolves once a room has queued something since the last time
    /// (perhaps already taken by [`Outbox::try_next`]).
    async fn ready(&self) {
        self.notify.notified().await;
    }

    fn try_next(&self) -> Option<Pending> {
        loop {
            let queue = lock(&self.ready).pop_front()?;
            let mut state = lock(&queue.state);
            let Some(item) = state.items.pop_front() else {
                state.scheduled = false;
                continue;
            };
            state.bytes -= item.payload.len();
            self.stats
                .buffered
                .fetch_sub(item.payload.len() as u64, Ordering::Relaxed);
            if state.items.is_empty() {
                self.push_gaps(queue.room, &mut state);
            }
            if state.items.is_empty() {
                state.scheduled = false;
            } else {
                drop(state);
                lock(&self.ready).push_back(queue.clone());
            }
            return Some(item);
        }
    }
}

/// Bytes to keep free in a room's buffer for an unwatched time's gap
/// event (they take about 250).
const UNWATCHED_EVENT: usize = 512;

/// A time nobody read a room, from when and why: published as a `gap`
/// event once a session joins it again (or stops).
#[derive(Debug, Clone)]
pub struct Unwatched {
    /// The last moment the room's record is known complete.
    pub from: SystemTime,
    /// Why nobody read it since.
    pub why: Unread,
}

/// Why a room went unread for a while.
#[derive(Debug, Clone)]
pub enum Unread {
    /// Taken over from a collector that died holding it (its lease
    /// expired). [`Unwatched::from`] is the earlier of the dead holder's
    /// last lease renewal and the `received_at` of the last message stored
    /// for the room: the holder may have died with messages read but not
    /// yet acknowledged.
    LeaseExpired {
        /// The collector the expired lease named.
        holder: String,
    },
    /// This collector's own session lost its connection and reconnected.
    /// [`Unwatched::from`] is when the lost connection last read anything.
    Reconnect,
}

impl Unread {
    /// The event's `reason`.
    const fn reason(&self) -> &'static str {
        match self {
            Self::LeaseExpired { .. } => "lease_expired",
            Self::Reconnect => "reconnect",
        }
    }
}

/// A room's sink: each message made JSON, named and queued.
struct RoomSink {
    queue: Arc<RoomQueue>,
    outbox: Arc<Outbox>,
    /// Counted in [`Stats::connected`].
    joined: bool,
    /// Set while the room is unread: taken from a dead collector and not
    /// yet joined, or its connection lost and not yet joined again. Its
    /// `gap` event is made when the session joins (the end of the
    /// unwatched time), or stops first.
    unwatched: Option<Unwatched>,
}

impl RoomSink {
    fn publish_unwatched(&mut self) {
        if let Some(unwatched) = self.unwatched.take() {
            self.outbox
                .push_unwatched_gap(&self.queue, &unwatched, SystemTime::now());
        }
    }
}

impl Drop for RoomSink {
    fn drop(&mut self) {
        if self.joined {
            self.outbox.stats.connected.fetch_sub(1, Ordering::Relaxed);
        }
        // Stopped before it ever joined: the room was unwatched until now.
        self.publish_unwatched();
    }
}

impl Sink for RoomSink {
    fn message(&mut self, room: u64, message: &ServerMessage<'_>) -> anyhow::Result<()> {
        // The heartbeat reply belongs to one session, not to the room.
        if matches!(
            message,
            ServerMessage::Heartbeat(_) | ServerMessage::Who(_) | ServerMessage::LoginRes(_)
        ) {
            return Ok(());
        }
        let at = SystemTime::now();
        let stats = &self.outbox.stats;
        stats.received.fetch_add(1, Ordering::Relaxed);
        let kind = stats.received_by_type.slot_of(message);
        stats.received_by_type.add(kind);
        let mut item = prepare(room, message, at);
        item.kind = Some(kind);
        self.outbox.push(&self.queue, item, at);
        Ok(())
    }

    fn link(&mut self, _room: u64, link: Link) {
        let stats = self.outbox.stats.clone();
        let up = link == Link::Joined;
        if up != self.joined {
            self.joined = up;
            if up {
                stats.connected.fetch_add(1, Ordering::Relaxed);
                self.publish_unwatched();
            } else {
                stats.connected.fetch_sub(1, Ordering::Relaxed);
            }
        }
        if let Link::Lost { unread_since_ms } = link {
            stats.session_reconnects.fetch_add(1, Ordering::Relaxed);
            // A takeover's unread time, not yet ended by a join, started
            // earlier: it stays.
            if let Some(ms) = unread_since_ms
                && self.unwatched.is_none()
            {
                self.unwatched = Some(Unwatched {
                    from: UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0)),
                    why: Unread::Reconnect,
                });
            }
        }
    }
}

/// The subject, message id and JSON of `message` from `room`, received at
/// `at`.
fn prepare(room: u64, message: &ServerMessage<'_>, at: SystemTime) -> Pending {
    let kind = message.map().message_type().ok().flatten();
    // The type as written (it is in every subject and most ids): borrowed
    // when it holds no escape, as types do.
    let kind: Cow<'_, str> = kind.map_or(Cow::Borrowed(""), |t| {
        t.as_plain()
            .map_or_else(|| Cow::Owned(t.to_string()), Cow::Borrowed)
    });
    let ms = at
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    // The object `watch --format json` prints, with its `received_at`,
    // written straight as text. A message's JSON is about its body's size
    // plus a quarter (each pair's `k@=v/` becomes `"k":"v",`) plus the
    // time: room enough that it is not copied while growing.
    let raw = message.map().raw().len();
    let mut json = Vec::with_capacity(raw + raw / 4 + 64);
    write_message_json(
        message,
        Some(i64::try_from(ms).unwrap_or(i64::MAX)),
        &mut json,
    );
    let mut subject = String::with_capacity(SUBJECT_PREFIX.len() + 32);
    let _ = write!(subject, "{SUBJECT_PREFIX}.{room}.{}", subject_token(&kind));
    Pending {
        kind: None,
        subject: subject.into(),
        id: message_id(room, message, &kind),
        payload: Bytes::from(json),
    }
}

/// A message type as a subject token: types come from the network, and a
/// `.`, `*`, `>` or space in one would make another subject (or none).
/// Anything but letters, digits, `_` and `-` (or a long or empty type) goes
/// under `_other`; the JSON keeps the real type.
fn subject_token(kind: &str) -> &str {
    let plain = !kind.is_empty()
        && kind.len() <= 64
        && kind
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if plain { kind } else { "_other" }
}

/// The `Nats-Msg-Id` of `message`: `<room>:<cid>` for a chat line that has
/// a plain `cid`; otherwise `<room>:<type>:<hash>`, the first 128 bits of
/// the SHA-256 of the message's STT body as received. Two sessions (two
/// collectors, or one across a reconnect) that see the same broadcast get
/// the same bytes, hence the same id, and JetStream stores it once.
fn message_id(room: u64, message: &ServerMessage<'_>, kind: &str) -> String {
    if let ServerMessage::Chat(chat) = message
        && let Some(cid) = chat.cid.and_then(|c| c.as_plain())
        && !cid.is_empty()
        && cid.len() <= 128
        && cid.bytes().all(|b| b.is_ascii_graphic())
    {
        let mut id = String::with_capacity(24 + cid.len());
        let _ = write!(id, "{room}:{cid}");
        return id;
    }
    let digest = Sha256::digest(message.map().raw().as_bytes());
    let token = subject_token(kind);
    let mut id = String::with_capacity(24 + token.len() + 32);
    let _ = write!(id, "{room}:{token}:");
    id.push_str(&hex::encode(&digest[..16]));
    id
}

/// `at` as RFC 3339 in UTC with milliseconds, as `watch` writes times.
fn rfc3339(at: SystemTime) -> String {
    let ms = at
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    rfc3339_ms(i64::try_from(ms).unwrap_or(i64::MAX))
}

/// Connects to NATS (waiting for it if it is not up yet), and makes sure
/// the stream exists; the stream's handle with the context.
async fn connect(
    options: &CollectOptions,
    collector: &str,
    stats: &Arc<Stats>,
    stop: &mut watch::Receiver<bool>,
) -> anyhow::Result<Option<(jetstream::Context, jetstream::stream::Stream)>> {
    let events = stats.clone();
    let client = async_nats::ConnectOptions::new()
        .name(format!("douyu collect {collector}"))
        .event_callback(move |event| {
            let stats = events.clone();
            async move {
                match event {
                    // Counted once per connection lost and made again.
                    async_nats::Event::Connected
                        if stats.nats_connected.swap(1, Ordering::Relaxed) == 0
                            && stats.nats_ever.swap(true, Ordering::Relaxed) =>
                    {
                        stats.nats_reconnects.fetch_add(1, Ordering::Relaxed);
                    }
                    async_nats::Event::Disconnected => {
                        stats.nats_connected.store(0, Ordering::Relaxed);
                    }
                    _ => {}
                }
            }
        })
        .retry_on_initial_connect()
        // Back soon after a NATS restart: the buffers are filling meanwhile.
        .reconnect_delay_callback(|attempts| {
            Duration::from_millis(100 * u64::try_from(attempts.min(10)).unwrap_or(10))
        })
        .connect(options.nats.as_str())
        .await
        .with_context(|| format!("connecting to NATS at {}", options.nats))?;
    let js = jetstream::ContextBuilder::new()
        .timeout(publish::ACK_TIMEOUT)
        .build(client);
    let config = jetstream::stream::Config {
        name: options.stream.clone(),
        subjects: vec![format!("{SUBJECT_PREFIX}.>")],
        storage: jetstream::stream::StorageType::File,
        duplicate_window: options.duplicate_window,
        ..Default::default()
    };
    let mut delay = Duration::from_millis(100);
    loop {
        match js.get_or_create_stream(config.clone()).await {
            Ok(mut stream) => {
                let info = stream.info().await.ok().map(|i| i.config.duplicate_window);
                info!(stream = options.stream, duplicate_window = ?info, "stream ready");
                return Ok(Some((js, stream)));
            }
            Err(e) => warn!(error = %e, stream = options.stream, "cannot open the stream yet"),
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = stopped(stop) => return Ok(None),
        }
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}

/// A name for this collector, unique among those sharing a stream: the
/// host name, the process id and a random tag (a restarted process must
/// not pass for the dead one).
fn collector_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host: String = host
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(32)
        .collect();
    let tag: u32 = rand::random();
    format!("{host}-{}-{tag:08x}", std::process::id())
}

/// Runs `collect` until `stop` fires.
pub async fn run(options: CollectOptions, mut stop: watch::Receiver<bool>) -> anyhow::Result<()> {
    let collector = collector_name();
    info!(
        collector,
        rooms = options.rooms.len(),
        nats = options.nats,
        "collector starting"
    );
    let stats = Arc::new(Stats::default());
    // Served from the start: NATS may keep the collector waiting.
    let http = match options.http {
        Some(addr) => {
            let listener =
                crate::http::listen(addr).with_context(|| format!("binding HTTP on {addr}"))?;
            info!(addr = %listener.local_addr()?, "serving HTTP (/metrics, /healthz)");
            let site = Arc::new(metrics::Site::new(stats.clone(), options.rooms.len()));
            Some(tokio::spawn(crate::http::serve(
                listener,
                site,
                crate::http::Limits::default(),
                stop.clone(),
            )))
        }
        None => None,
    };
    let Some((js, stream)) = connect(&options, &collector, &stats, &mut stop).await? else {
        return Ok(());
    };
    let outbox = Arc::new(Outbox::new(
        options.room_buffer,
        collector.clone(),
        stats.clone(),
    ));
    let (sessions_done_tx, sessions_done) = watch::channel(false);
    let dispatcher = tokio::spawn(publish::dispatch(
        js.client(),
        outbox.clone(),
        options.in_flight.max(1),
        sessions_done,
    ));
    let status = tokio::spawn(status_lines(
        stats.clone(),
        options.status_every,
        stop.clone(),
    ));
    let sessions = lease::Sessions::new(options.watch.clone(), outbox.clone(), stream);
    let leases = lease::run(&options, &js, &collector, sessions, stats.clone(), stop).await;
    let _ = sessions_done_tx.send(true);
    dispatcher.await.context("dispatcher")?;
    status.abort();
    if let Some(http) = http {
        http.await.context("HTTP server")?;
    }
    let count = |c: &AtomicU64| c.load(Ordering::Relaxed);
    // Taken (messages and the gap events made for what was dropped) less
    // what was stored, dropped or refused: what NATS had not acknowledged.
    let unpublished = (count(&stats.received) + count(&stats.gaps)).saturating_sub(
        count(&stats.published)
            + count(&stats.duplicates)
            + count(&stats.dropped)
            + count(&stats.lost),
    );
    info!(
        received = count(&stats.received),
        published = count(&stats.published),
        duplicates = count(&stats.duplicates),
        dropped = count(&stats.dropped),
        lost = count(&stats.lost),
        unpublished,
        "collector stopped"
    );
    leases
}

/// Logs a status line every `every`: rooms held, messages a second, acks
/// awaited, bytes buffered, gaps.
async fn status_lines(stats: Arc<Stats>, every: Duration, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    let mut last = (0u64, tokio::time::Instant::now());
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stopped(&mut stop) => return,
        }
        let stored =
            stats.published.load(Ordering::Relaxed) + stats.duplicates.load(Ordering::Relaxed);
        let rate = (stored - last.0) as f64 / last.1.elapsed().as_secs_f64().max(1e-3);
        last = (stored, tokio::time::Instant::now());
        info!(
            rooms = stats.held.load(Ordering::Relaxed),
            msgs_per_s = format!("{rate:.0}"),
            in_flight = stats.in_flight.load(Ordering::Relaxed),
            buffered = stats.buffered.load(Ordering::Relaxed),
            stored = stats.published.load(Ordering::Relaxed),
            duplicates = stats.duplicates.load(Ordering::Relaxed),
            dropped = stats.dropped.load(Ordering::Relaxed),
            gaps = stats.gaps.load(Ordering::Relaxed),
            sessions = stats.connected.load(Ordering::Relaxed),
            "status"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc3339_utc() {
        let at = |secs: u64, ms: u64| UNIX_EPOCH + Duration::from_millis(secs * 1000 + ms);
        assert_eq!(rfc3339(at(0, 0)), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(at(951_782_400, 5)), "2000-02-29T00:00:00.005Z");
        assert_eq!(rfc3339(at(1_796_083_509, 123)), "2026-12-01T00:05:09.123Z");
        assert_eq!(rfc3339(at(4_107_542_399, 999)), "2100-02-28T23:59:59.999Z");
    }

    #[test]
    fn ids_come_from_the_message() {
        let chat = ServerMessage::parse("type@=chatmsg/cid@=abc123/txt@=hi/").unwrap();
        assert_eq!(message_id(42, &chat, "chatmsg"), "42:abc123");
        let enter = ServerMessage::parse("type@=uenter/uid@=1/").unwrap();
        let id = message_id(42, &enter, "uenter");
        assert!(id.starts_with("42:uenter:") && id.len() == "42:uenter:".len() + 32);
        // The same bytes, the same id; others, another.
        assert_eq!(id, message_id(42, &enter, "uenter"));
        let other = ServerMessage::parse("type@=uenter/uid@=2/").unwrap();
        assert_ne!(id, message_id(42, &other, "uenter"));
        // A chat line without a usable cid is hashed like the rest.
        let bare = ServerMessage::parse("type@=chatmsg/cid@=a b/").unwrap();
        assert!(message_id(7, &bare, "chatmsg").starts_with("7:chatmsg:"));
    }

    #[test]
    fn odd_types_do_not_make_subjects() {
        assert_eq!(subject_token("chatmsg"), "chatmsg");
        for odd in ["", "a.b", "*", ">", "a b", &"x".repeat(65), "鱼"] {
            assert_eq!(subject_token(odd), "_other", "{odd:?}");
        }
    }

    fn item(n: usize) -> Pending {
        Pending {
            kind: None,
            subject: "s".into(),
            id: n.to_string(),
            payload: Bytes::from(vec![b'x'; 100]),
        }
    }

    #[test]
    fn a_full_buffer_drops_counts_and_says_so_once_there_is_room() {
        let stats = Arc::new(Stats::default());
        let outbox = Outbox::new(1000, "c".into(), stats.clone());
        let queue = Arc::new(RoomQueue {
            room: 9,
            state: Mutex::default(),
        });
        let now = SystemTime::now();
        for n in 0..15 {
            outbox.push(&queue, item(n), now);
        }
        assert_eq!(stats.dropped.load(Ordering::Relaxed), 5);
        assert_eq!(stats.buffered.load(Ordering::Relaxed), 1000);
        let take = |n| -> Vec<String> { (0..n).map(|_| outbox.try_next().unwrap().id).collect() };
        assert_eq!(take(4), ["0", "1", "2", "3"]);
        // Room for one, but not yet down to half: still dropping.
        outbox.push(&queue, item(15), now);
        assert_eq!(stats.dropped.load(Ordering::Relaxed), 6);
        assert_eq!(take(2), ["4", "5"]);
        // Half: the gap first (what was lost came before), then the message.
        outbox.push(&queue, item(16), now);
        assert_eq!(stats.dropped.load(Ordering::Relaxed), 6);
        assert_eq!(take(4), ["6", "7", "8", "9"]);
        let gap = outbox.try_next().unwrap();
        assert_eq!(gap.subject.as_str(), "douyu.9.gap");
        let event: serde_json::Value = serde_json::from_slice(&gap.payload).unwrap();
        assert_eq!(event["dropped"], 6);
        assert_eq!(event["reason"], "buffer_full");
        assert_eq!(event["event"], "gap");
        assert_eq!(outbox.try_next().unwrap().id, "16");
        assert!(outbox.try_next().is_none());
        assert_eq!(stats.buffered.load(Ordering::Relaxed), 0);
        assert_eq!(stats.gaps.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn reconnects_while_the_buffer_is_full_make_one_gap_event() {
        let stats = Arc::new(Stats::default());
        let outbox = Outbox::new(1000, "c".into(), stats.clone());
        let queue = Arc::new(RoomQueue {
            room: 9,
            state: Mutex::default(),
        });
        let at = |s: u64| UNIX_EPOCH + Duration::from_secs(1_800_000_000 + s);
        let reconnect = |from: u64, to: u64| {
            let unwatched = Unwatched {
                from: at(from),
                why: Unread::Reconnect,
            };
            outbox.push_unwatched_gap(&queue, &unwatched, at(to));
        };
        // Room: published at once, in its place.
        outbox.push(&queue, item(0), at(0));
        reconnect(1, 2);
        outbox.push(&queue, item(1), at(3));
        let event = |item: Pending| -> serde_json::Value {
            assert_eq!(item.subject.as_str(), "douyu.9.gap");
            serde_json::from_slice(&item.payload).unwrap()
        };
        assert_eq!(outbox.try_next().unwrap().id, "0");
        let first = event(outbox.try_next().unwrap());
        assert_eq!(first["reason"], "reconnect");
        assert_eq!(first["unwatched_from"], "2027-01-15T08:00:01.000Z");
        assert_eq!(first["unwatched_to"], "2027-01-15T08:00:02.000Z");
        assert!(first.get("reconnects").is_none());
        assert_eq!(outbox.try_next().unwrap().id, "1");
        // NATS away: the buffer fills, and three reconnects while it is
        // full are held as one window, after what the buffer holds.
        for n in 2..14 {
            outbox.push(&queue, item(n), at(10));
        }
        reconnect(20, 21);
        reconnect(30, 32);
        reconnect(40, 41);
        assert_eq!(stats.gaps.load(Ordering::Relaxed), 1);
        let rest: Vec<Pending> = std::iter::from_fn(|| outbox.try_next()).collect();
        let ids: Vec<&str> = rest.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "2",
                "3",
                "4",
                "5",
                "6",
                "7",
                "8",
                "9",
                "10",
                "11",
                "9:gap:c:2",
                "9:gap:c:3"
            ]
        );
        let drops = event(rest[10].clone());
        assert_eq!(
            (drops["reason"].as_str(), drops["dropped"].as_u64()),
            (Some("buffer_full"), Some(2))
        );
        let held = event(rest[11].clone());
        assert_eq!(held["reason"], "reconnect");
        assert_eq!(held["reconnects"], 3);
        assert_eq!(held["unwatched_from"], "2027-01-15T08:00:20.000Z");
        assert_eq!(held["unwatched_to"], "2027-01-15T08:00:41.000Z");
        assert_eq!(stats.buffered.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn rooms_take_turns() {
        let outbox = Outbox::new(10_000, "c".into(), Arc::default());
        let queues: Vec<_> = (0..2)
            .map(|room| {
                Arc::new(RoomQueue {
                    room,
                    state: Mutex::default(),
                })
            })
            .collect();
        let now = SystemTime::now();
        for n in 0..3 {
            outbox.push(&queues[0], item(n), now);
        }
        outbox.push(&queues[1], item(10), now);
        let order: Vec<String> = std::iter::from_fn(|| outbox.try_next().map(|p| p.id)).collect();
        assert_eq!(order, ["0", "10", "1", "2"]);
    }
}
