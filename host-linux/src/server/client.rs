//! One client's connection: its core [`ServerSession`] and what the host
//! keeps beside it, from accept to close.
//!
//! An idle connection costs what its task costs, and thousands of them sit
//! idle in a busy server, so the task's future is kept small: the
//! connection's state is one [`Client`] that the task owns in place (an
//! `async fn` would copy its arguments into its own state), the wait for the
//! next event polls the socket, the room's feed and the alarm directly
//! instead of through `select!`, buffers exist only while they hold bytes,
//! and the peer's address is asked of the socket when a log line needs it.

use std::collections::HashMap;
use std::future::{Future, poll_fn};
use std::io;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use douyu_core::frame::Frames;
use douyu_core::session::{
    Member, REPLY_MAX, ServerConfig, ServerEvent, ServerSession, SessionError,
};
use douyu_core::stream::StreamError;
use tokio::net::TcpStream;
use tokio::sync::broadcast::{
    self,
    error::{RecvError, TryRecvError},
};
use tracing::{debug, info, warn};

use super::{Batch, LazyRooms, Shared, Slot, lock};
use crate::alarm::Alarm;
use crate::wire::{Peer, Wire};

/// Most bytes of queued batches coalesced into one write.
const WRITE_BATCH: usize = 64 * 1024;

/// Largest `whores` reply: a room's list is cut to what fits.
const WHO_MAX: usize = 8 * 1024;

/// Most members a `whores` lists: 64 of the longest names fill [`WHO_MAX`]
/// about once over, so the session's encoder halves the list at most once.
const WHO_LISTED: usize = 64;

/// Longest a WebSocket client may take over its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves a raw TCP client until its session closes.
pub(super) fn tcp(stream: TcpStream, shared: Arc<Shared>, slot: Slot) -> impl Future<Output = ()> {
    let _ = stream.set_nodelay(true);
    let mut client = Client::new(Wire::Tcp(stream), &shared);
    let open = Open {
        shared,
        _slot: slot,
    };
    async move { client.serve(&open.shared).await }
}

/// Serves a WebSocket client: its handshake, then its session.
pub(super) async fn websocket(stream: TcpStream, shared: Arc<Shared>, slot: Slot) {
    let open = Open {
        shared,
        _slot: slot,
    };
    let _ = stream.set_nodelay(true);
    let handshake = Box::pin(Wire::accept_ws(stream, open.shared.options.max_frame));
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
        Ok(Ok(wire)) => Client::new(wire, &open.shared).serve(&open.shared).await,
        Ok(Err(e)) => debug!(error = format!("{e:#}"), "WebSocket handshake failed"),
        Err(_) => debug!("WebSocket handshake timed out"),
    }
}

/// A connection counted open in [`Shared`] and against its address,
/// counted out when dropped: when its task ends, panics or is aborted.
struct Open {
    shared: Arc<Shared>,
    /// Held, not read: see `Slots`.
    _slot: Slot,
}

impl Drop for Open {
    fn drop(&mut self) {
        self.shared.closed();
    }
}

/// What ends a client's wait.
enum Wake {
    /// Bytes arrived (`Ok(true)`), or the stream ended or failed.
    Input(io::Result<bool>),
    /// The room broadcast a batch, or the client fell too far behind.
    Feed(Result<Batch, RecvError>),
    /// The session's deadline passed, or the server is stopping.
    Alarm,
}

/// A connection's whole state.
struct Client {
    wire: Wire,
    session: ServerSession,
    /// Bytes that are not a whole frame yet; unallocated while empty.
    input: Vec<u8>,
    /// Bytes the socket has not taken yet; unallocated while empty.
    out: Vec<u8>,
    /// The room's broadcast, once the client joined.
    feed: Option<broadcast::Receiver<Batch>>,
    /// The session's deadline and the server's shutdown both ring this.
    alarm: Arc<Alarm>,
    /// Whether the next wait looks at the feed before the socket, so that
    /// neither a flooding client nor a flooding room starves the other.
    feed_first: bool,
}

impl Client {
    fn new(wire: Wire, shared: &Shared) -> Self {
        let mut config = ServerConfig::default();
        config.heartbeat_window = shared.options.heartbeat_window;
        config.login_timeout = shared.options.login_timeout;
        config.chat_limit = shared.options.chat_limit;
        config.max_chat_len = shared.options.max_chat_len;
        Self {
            wire,
            session: ServerSession::new(config, shared.clock.now()),
            input: Vec::new(),
            out: Vec::new(),
            feed: None,
            alarm: shared.alarms.register(),
            feed_first: false,
        }
    }

    /// Runs the session until it closes. (A function returning an `async`
    /// block, not an `async fn`, which would keep a second copy of its
    /// arguments in the task.)
    #[allow(
        clippy::manual_async_fn,
        reason = "an `async fn` would copy its arguments into every idle task"
    )]
    fn serve<'a>(&'a mut self, shared: &'a Shared) -> impl Future<Output = ()> + 'a {
        async move {
            loop {
                if let Err(e) = self.take_replies() {
                    // A reply of ours that does not fit `REPLY_MAX` is our
                    // bug, not the client's doing; the connection ends.
                    return warn!(peer = %Peer(&self.wire), error = %e, "reply did not fit");
                }
                // Most writes fit the socket's buffer at once: only a write
                // that does not pays for a timed, boxed future.
                if !self.out.is_empty() && self.write_now(shared) {
                    Box::pin(self.send(shared)).await;
                }
                self.drain_events(shared);
                if self.session.is_closed() {
                    return Box::pin(self.wire.shutdown()).await;
                }
                self.alarm.set(self.session.poll_timeout());
                self.feed_first = !self.feed_first;
                // Waits for input, a broadcast batch or the alarm; nothing is
                // lost by the two that do not win.
                let wake = {
                    let mut batch = pin!(self.feed.as_mut().map(broadcast::Receiver::recv));
                    let (wire, input, alarm) = (&mut self.wire, &mut self.input, &self.alarm);
                    let feed_first = self.feed_first;
                    poll_fn(move |cx| poll_wake(cx, wire, input, alarm, feed_first, batch.as_mut()))
                        .await
                };
                self.handle(wake, shared);
            }
        }
    }

    /// Acts on what ended a wait.
    fn handle(&mut self, wake: Wake, shared: &Shared) {
        // Made where needed, not kept across waits: the task stays smaller.
        let names = &mut LazyRooms(&shared.rooms);
        match wake {
            Wake::Input(Ok(true)) => self.handle_input(shared, names),
            Wake::Input(_) => self.session.handle_disconnect(names),
            Wake::Feed(Ok(batch)) => self.deliver(batch, shared),
            Wake::Feed(Err(RecvError::Lagged(missed))) => self.slow_consumer(missed, shared),
            Wake::Feed(Err(RecvError::Closed)) => self.feed = None,
            Wake::Alarm if shared.alarms.is_stopping() => self.session.close(names),
            Wake::Alarm => self.session.handle_timeout(shared.clock.now(), names),
        }
    }

    /// Appends the session's pending replies to `out`.
    fn take_replies(&mut self) -> Result<(), SessionError> {
        let mut reply = [0u8; REPLY_MAX];
        while let Some(n) = self.session.poll_transmit(&mut reply)? {
            self.out.extend_from_slice(&reply[..n]);
        }
        Ok(())
    }

    /// Acts on the session's events: a client that joined gets the room's
    /// feed at once, before any later frame of the same read is handled, and
    /// is announced to the room; one that leaves is announced too.
    fn drain_events(&mut self, shared: &Shared) {
        while let Some(event) = self.session.poll_event() {
            let nickname = self.session.nickname();
            let peer = Peer(&self.wire);
            match event {
                ServerEvent::Joined { room } => {
                    self.feed = shared.subscribe(room);
                    debug!(%peer, room, nickname, "joined");
                    self.announce(shared, room, ServerSession::encode_enter);
                }
                ServerEvent::WhoRequested { room } => self.answer_who(shared, room),
                ServerEvent::Left { room } => {
                    self.announce(shared, room, ServerSession::encode_leave);
                }
                ServerEvent::Closed(reason) => {
                    if shared.log_quota.allow("connection logs") {
                        info!(%peer, nickname, %reason, "session closed");
                    }
                }
                other => debug!(%peer, ?other, "event"),
            }
        }
    }

    /// Broadcasts this client's arrival or departure to `room`.
    fn announce(
        &self,
        shared: &Shared,
        room: u64,
        encode: fn(&ServerSession, &mut [u8]) -> Result<usize, SessionError>,
    ) {
        let mut frame = [0u8; REPLY_MAX];
        match encode(&self.session, &mut frame) {
            Ok(n) => shared.announce(room, &frame[..n]),
            Err(e) => warn!(peer = %Peer(&self.wire), error = %e, "announcement did not fit"),
        }
    }

    /// Queues the list of who is online in `room`: the total, and the
    /// [`WHO_LISTED`] members with the lowest uids among a sample, as much
    /// of it as fits [`WHO_MAX`] bytes. The work is bounded whatever the
    /// room's size: the requests come at the rate of chat, and the rooms'
    /// lock is held while the sample is taken.
    fn answer_who(&mut self, shared: &Shared, room: u64) {
        let mut frame = vec![0u8; WHO_MAX];
        let written = {
            let rooms = lock(&shared.rooms);
            let members = rooms.rooms.get(&room).map(|r| &r.members);
            let total = members.map_or(0, HashMap::len);
            let mut sample: Vec<Member<'_>> = members
                .into_iter()
                .flatten()
                .take(WHO_LISTED)
                .map(|(nickname, &uid)| Member { uid, nickname })
                .collect();
            sample.sort_unstable_by_key(|m| m.uid);
            self.session.encode_who(total, &sample, &mut frame)
        };
        match written {
            Ok((n, _listed)) => self.out.extend_from_slice(&frame[..n]),
            Err(e) => warn!(peer = %Peer(&self.wire), error = %e, "who reply did not fit"),
        }
    }

    /// Hands every complete frame in `input` to the session and broadcasts
    /// the chat lines it relays; keeps a trailing partial frame for later.
    fn handle_input(&mut self, shared: &Shared, names: &mut LazyRooms<'_>) {
        let now = shared.clock.now();
        let mut input = std::mem::take(&mut self.input);
        let mut frames = Frames::new(&input, shared.options.max_frame);
        let mut relay_buf = Vec::new();
        for (at, frame) in frames.by_ref() {
            let frame = match frame {
                Ok(frame) => frame,
                Err(error) => {
                    let error = StreamError {
                        offset: at as u64,
                        error,
                    };
                    if shared.log_quota.allow("connection logs") {
                        warn!(peer = %Peer(&self.wire), %error, "malformed frame: dropping client");
                    }
                    self.session.handle_stream_error(error, names);
                    break;
                }
            };
            let handled = self.session.handle_frame(now, frame, names);
            self.drain_events(shared);
            match handled {
                Ok(Some(relay)) => {
                    // The broadcast carries the text (the session relays at
                    // most `max_chat_len` of it) plus the sender's fields.
                    relay_buf.resize(shared.options.max_chat_len + REPLY_MAX, 0);
                    match self.session.encode_chat(&relay, &mut relay_buf) {
                        Ok(n) => shared.broadcast(relay.room, &relay_buf[..n]),
                        Err(e) => {
                            warn!(peer = %Peer(&self.wire), error = %e, "chat line too long to relay");
                        }
                    }
                }
                Ok(None) => {}
                // Closed by an earlier frame of this read (a logout): the
                // rest is not read.
                Err(SessionError::NotReady) => break,
                Err(e) => {
                    if shared.log_quota.allow("connection logs") {
                        warn!(peer = %Peer(&self.wire), error = %e, "protocol error: dropping client");
                    }
                    break;
                }
            }
        }
        let used = input.len() - frames.remainder().len();
        input.drain(..used);
        // Idle connections keep no buffer.
        if !input.is_empty() {
            self.input = input;
        }
    }

    /// Writes a broadcast batch. The common case, nothing else queued, goes
    /// to the socket straight from the room's shared buffer; batches queued
    /// behind it are coalesced into `out` for one write at the top of the
    /// loop, as is whatever the socket does not take at once.
    fn deliver(&mut self, batch: Batch, shared: &Shared) {
        let mut next = self.next_queued(shared);
        if next.is_none() && self.out.is_empty() {
            match self.wire.try_write(&batch) {
                Ok(n) if n == batch.len() => return,
                Ok(n) => return self.out.extend_from_slice(&batch[n..]),
                Err(e) => {
                    debug!(peer = %Peer(&self.wire), error = %e, "write failed");
                    return self
                        .session
                        .handle_disconnect(&mut LazyRooms(&shared.rooms));
                }
            }
        }
        self.out.extend_from_slice(&batch);
        while let Some(more) = next {
            self.out.extend_from_slice(&more);
            if self.out.len() >= WRITE_BATCH {
                break;
            }
            next = self.next_queued(shared);
        }
    }

    /// The next batch already queued in the room's feed, if any.
    fn next_queued(&mut self, shared: &Shared) -> Option<Batch> {
        match self.feed.as_mut()?.try_recv() {
            Ok(batch) => Some(batch),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Closed) => {
                self.feed = None;
                None
            }
            Err(TryRecvError::Lagged(missed)) => {
                self.slow_consumer(missed, shared);
                None
            }
        }
    }

    /// Drops a client that fell a whole ring of batches behind its room.
    fn slow_consumer(&mut self, missed: u64, shared: &Shared) {
        // Every client of a room that stalls falls behind at once: one
        // line each would be a burst.
        if shared.log_quota.allow("connection logs") {
            warn!(
                peer = %Peer(&self.wire),
                nickname = self.session.nickname(),
                missed,
                "slow consumer dropped"
            );
        }
        self.session.close(&mut LazyRooms(&shared.rooms));
    }

    /// Writes what the socket takes of `out` without waiting; true if some
    /// is left.
    fn write_now(&mut self, shared: &Shared) -> bool {
        match self.wire.try_write(&self.out) {
            Ok(n) if n == self.out.len() => {
                // Idle connections keep no buffer.
                self.out = Vec::new();
                false
            }
            Ok(n) => {
                self.out.drain(..n);
                true
            }
            Err(e) => {
                debug!(peer = %Peer(&self.wire), error = %e, "write failed");
                self.session.close(&mut LazyRooms(&shared.rooms));
                self.out = Vec::new();
                false
            }
        }
    }

    /// Writes all of `out`, dropping the client if that takes longer than
    /// the server allows.
    async fn send(&mut self, shared: &Shared) {
        let limit = shared.options.send_timeout;
        let written = tokio::time::timeout(limit, self.wire.write(&self.out)).await;
        let names = &mut LazyRooms(&shared.rooms);
        match written {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                debug!(peer = %Peer(&self.wire), error = %e, "write failed");
                self.session.close(names);
            }
            Err(_) => {
                if shared.log_quota.allow("connection logs") {
                    warn!(
                        peer = %Peer(&self.wire),
                        nickname = self.session.nickname(),
                        "slow consumer dropped: write stalled"
                    );
                }
                self.session.close(names);
            }
        }
        self.out = Vec::new();
    }
}

/// What a client's wait polls: the alarm first (it rings rarely and says
/// "stop"), then the feed and the socket in the order `feed_first` says.
fn poll_wake<R: Future<Output = Result<Batch, RecvError>>>(
    cx: &mut Context<'_>,
    wire: &mut Wire,
    input: &mut Vec<u8>,
    alarm: &Alarm,
    feed_first: bool,
    mut batch: Pin<&mut Option<R>>,
) -> Poll<Wake> {
    if alarm.poll_rung(cx).is_ready() {
        return Poll::Ready(Wake::Alarm);
    }
    // Each polled once: a second poll of a pending feed would take the
    // room's lock again, which every client of the room contends for.
    let mut feed = |cx: &mut Context<'_>| match batch.as_mut().as_pin_mut() {
        Some(batch) => batch.poll(cx).map(Wake::Feed),
        // Before the client joined there is no feed to wait on.
        None => Poll::Pending,
    };
    if feed_first && let Poll::Ready(wake) = feed(cx) {
        return Poll::Ready(wake);
    }
    if let Poll::Ready(more) = wire.poll_read(cx, input) {
        return Poll::Ready(Wake::Input(more));
    }
    if feed_first { Poll::Pending } else { feed(cx) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::ServerOptions;

    /// tokio allocates a task in steps of 128 bytes, 96 of them its own:
    /// a future of at most 416 bytes keeps each idle connection's task in
    /// 512 (BENCHMARKS.md has the whole account of an idle connection).
    #[tokio::test]
    async fn an_idle_connection_task_fits_512_bytes() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let shared = Arc::new(Shared::new(ServerOptions::default()));
        let task = tcp(stream, shared, Slot::default());
        let size = size_of_val(&task);
        assert!(size <= 416, "the connection's future grew to {size} bytes");
    }
}
