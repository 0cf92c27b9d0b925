//! Publishing the rooms' messages to JetStream, at least once.
//!
//! One task publishes everything, with at most `capacity` messages out of
//! the rooms' buffers at once (sent and awaiting their ack, or waiting to
//! be sent again). Every publish asks for its ack on a subject of one
//! subscription this task holds, `<inbox>.<n>`, and a table maps `n` back
//! to the message; so an ack costs one subscription delivery and a table
//! lookup. (`jetstream::Context::send_publish` made an inbox, a oneshot
//! channel, a request entry and a timeout for each message and read each
//! ack through an untagged enum: with the future per message that waited
//! on it, that was about a seventh of the collector's time in a profile at
//! 1,000 rooms.) JetStream answers such a publish as it answers any other:
//! the ack, an error, or "no responders" when no stream takes the subject.
//!
//! A message without its ack in [`ACK_TIMEOUT`], or refused, is sent again
//! after a delay that doubles while publishing fails (up to
//! [`MAX_RETRY_DELAY`]) and starts over at the first success; its
//! `Nats-Msg-Id` makes the stream store it once however often it is sent.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_nats::header::{HeaderMap, NATS_MESSAGE_ID};
use async_nats::{Client, Message, StatusCode};
use futures_util::StreamExt as _;
use serde::Deserialize;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::warn;

use super::{Outbox, Pending, Stats};
use crate::throttle::Throttle;
use crate::time::stopped;

/// How long a publish waits for its ack before it is sent again (and how
/// long the collector's JetStream requests wait).
pub const ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest wait before sending again what failed.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(2);

/// First wait before sending again what failed.
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(50);

/// Time after the sessions logged out for the buffers to drain before the
/// process gives up on them. With the sessions' 2 s and the leases' 1 s it
/// stays within the command's shutdown grace (7 s).
const FLUSH_GRACE: Duration = Duration::from_secs(3);

/// What JetStream answers a publish with: its ack (`seq`, and whether the
/// stream had the message already) or an error.
#[derive(Debug, Deserialize)]
struct Reply {
    seq: Option<u64>,
    #[serde(default)]
    duplicate: bool,
    error: Option<ReplyError>,
}

/// A publish JetStream refused, as it describes it.
#[derive(Debug, Deserialize)]
struct ReplyError {
    #[serde(default)]
    code: u16,
    #[serde(default)]
    description: String,
}

/// A message sent and awaiting its ack.
#[derive(Debug)]
struct Sent {
    item: Pending,
    at: Instant,
}

/// How a publish ended.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// Stored now.
    Stored,
    /// The stream had it already.
    Duplicate,
    /// To be sent again: why.
    Failed(String),
}

/// The publishes awaiting their ack, by number: a window from the oldest
/// one unanswered to the newest sent. Acks come nearly in the order sent,
/// so the window is about as long as what is in flight; one that stays
/// unanswered is given up on (sent again) once [`ACK_TIMEOUT`] has passed
/// or the window is [`Awaiting::WINDOW`] times the capacity, whichever
/// comes first, so it never grows past that.
#[derive(Debug, Default)]
struct Awaiting {
    /// The number of `slots[0]`.
    first: u64,
    slots: VecDeque<Option<Sent>>,
    /// The slots holding a publish.
    len: usize,
}

impl Awaiting {
    /// The window's longest, in multiples of the capacity.
    const WINDOW: usize = 4;

    /// The number the next publish gets.
    fn next(&self) -> u64 {
        self.first + self.slots.len() as u64
    }

    fn push(&mut self, sent: Sent) {
        self.slots.push_back(Some(sent));
        self.len += 1;
    }

    /// The publish numbered `n`, if it is still awaited.
    fn take(&mut self, n: u64) -> Option<Sent> {
        let i = usize::try_from(n.checked_sub(self.first)?).ok()?;
        let sent = self.slots.get_mut(i)?.take()?;
        self.len -= 1;
        while let Some(None) = self.slots.front() {
            self.slots.pop_front();
            self.first += 1;
        }
        Some(sent)
    }

    /// The oldest publish if it has waited past [`ACK_TIMEOUT`] at `now`,
    /// or the window is longer than `longest`.
    fn take_expired(&mut self, now: Instant, longest: usize) -> Option<Sent> {
        let oldest = self.oldest()?;
        if oldest + ACK_TIMEOUT > now && self.slots.len() <= longest {
            return None;
        }
        self.take(self.first)
    }

    /// When the oldest publish was sent (the front slot always holds one).
    fn oldest(&self) -> Option<Instant> {
        self.slots.front()?.as_ref().map(|sent| sent.at)
    }
}

/// The publishing state: what awaits its ack, what waits to be sent again.
struct Publisher<'a> {
    client: Client,
    /// `<inbox>.`: a publish's reply subject is this and its number.
    reply_prefix: String,
    awaiting: Awaiting,
    capacity: usize,
    /// Each with when it may be sent: its failure's time and the delay
    /// then (nearly in order: a success shortens the delay, so a later
    /// failure may be due before an earlier one, by 2 s at most).
    again: VecDeque<(Instant, Pending)>,
    /// Taken for sending and not yet handed to the client: put back in
    /// front of [`Publisher::again`] if the send is given up.
    sending: Option<Pending>,
    delay: Duration,
    stats: &'a Stats,
    log: Throttle,
}

impl<'a> Publisher<'a> {
    fn new(client: Client, reply_prefix: String, capacity: usize, stats: &'a Stats) -> Self {
        Self {
            client,
            reply_prefix,
            awaiting: Awaiting::default(),
            capacity,
            again: VecDeque::new(),
            sending: None,
            delay: FIRST_RETRY_DELAY,
            stats,
            log: Throttle::new(2, Duration::from_secs(1)),
        }
    }

    /// Messages out of the rooms' buffers.
    fn out(&self) -> usize {
        self.awaiting.len + self.again.len() + usize::from(self.sending.is_some())
    }

    fn count_out(&self) {
        self.stats
            .in_flight
            .store(self.out() as u64, Ordering::Relaxed);
    }

    /// Sends what is due to be sent again, then what the rooms queued,
    /// while fewer than `capacity` are out.
    async fn fill(&mut self, outbox: &Outbox) {
        let capacity = self.capacity;
        while self.awaiting.len < capacity
            && let Some(&(due, _)) = self.again.front()
            && due <= Instant::now()
        {
            if let Some((_, item)) = self.again.pop_front() {
                self.send(item).await;
            }
        }
        while self.out() < capacity
            && let Some(item) = outbox.try_next()
        {
            self.send(item).await;
        }
        self.count_out();
    }

    /// Publishes `item` asking for its ack (it waits only while the
    /// client's queue is full).
    async fn send(&mut self, item: Pending) {
        let n = self.awaiting.next();
        let mut reply = String::with_capacity(self.reply_prefix.len() + 20);
        reply.push_str(&self.reply_prefix);
        let _ = write!(reply, "{n}");
        let mut headers = HeaderMap::new();
        headers.insert(NATS_MESSAGE_ID, item.id.as_str());
        let (subject, payload) = (item.subject.clone(), item.payload.clone());
        // Held here while the client's queue may make the send wait, so
        // that a send given up (the stop) loses nothing.
        self.sending = Some(item);
        let sent = self
            .client
            .publish_with_reply_and_headers(subject, reply, headers, payload)
            .await;
        let Some(item) = self.sending.take() else {
            return;
        };
        match sent {
            Ok(()) => {
                let at = Instant::now();
                self.awaiting.push(Sent { item, at });
                self.expire(at);
            }
            Err(e) if e.kind() == async_nats::client::PublishErrorKind::MaxPayloadExceeded => {
                self.stats.lost.fetch_add(1, Ordering::Relaxed);
                warn!(subject = %item.subject, id = item.id, error = %e, "message refused by NATS: lost");
            }
            Err(e) => self.failed(item, &e.to_string()),
        }
    }

    /// Queues `item` to be sent again after the current delay, which then
    /// doubles.
    fn failed(&mut self, item: Pending, why: &str) {
        self.stats.retries.fetch_add(1, Ordering::Relaxed);
        if let Some(held_back) = self.log.check() {
            warn!(error = why, held_back, "publish failed: retrying");
        }
        self.again.push_back((Instant::now() + self.delay, item));
        self.delay = (self.delay * 2).min(MAX_RETRY_DELAY);
    }

    /// Handles what came on the ack subscription.
    fn on_reply(&mut self, reply: &Message) {
        let Some(n) = reply
            .subject
            .strip_prefix(self.reply_prefix.as_str())
            .and_then(|n| n.parse::<u64>().ok())
        else {
            return;
        };
        // Not awaited: the ack of a publish that timed out and was sent
        // again (the new one will be acked as a duplicate).
        let Some(sent) = self.awaiting.take(n) else {
            return;
        };
        match outcome(reply) {
            Outcome::Failed(why) => self.failed(sent.item, &why),
            stored => {
                self.stats.ack_latency.observe(sent.at.elapsed());
                self.delay = FIRST_RETRY_DELAY;
                if stored == Outcome::Duplicate {
                    self.stats.duplicates.fetch_add(1, Ordering::Relaxed);
                } else {
                    self.stats.published.fetch_add(1, Ordering::Relaxed);
                    match sent.item.kind {
                        Some(kind) => self.stats.published_by_type.add(kind),
                        None => {
                            self.stats.published_gaps.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
        }
        self.count_out();
    }

    /// Sends again, after the delay, what was given up on (see
    /// [`Awaiting`]).
    fn expire(&mut self, now: Instant) {
        let longest = Awaiting::WINDOW * self.capacity;
        while let Some(sent) = self.awaiting.take_expired(now, longest) {
            self.failed(sent.item, "no ack in time");
        }
        self.count_out();
    }

    /// When there is next something to do without a reply or a message:
    /// an ack's time running out, or sending again.
    fn next_wake(&self) -> Option<Instant> {
        let timeout = self.awaiting.oldest().map(|at| at + ACK_TIMEOUT);
        let again = self.again.front().map(|&(due, _)| due);
        match (timeout, again) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// How JetStream answered a publish.
fn outcome(reply: &Message) -> Outcome {
    if let Some(status) = reply.status
        && status != StatusCode::OK
    {
        return Outcome::Failed(if status == StatusCode::NO_RESPONDERS {
            "no stream takes the subject (no responders)".into()
        } else {
            format!("status {status}")
        });
    }
    match serde_json::from_slice::<Reply>(&reply.payload) {
        Ok(Reply { error: Some(e), .. }) => {
            Outcome::Failed(format!("JetStream error {}: {}", e.code, e.description))
        }
        Ok(Reply {
            seq: Some(_),
            duplicate,
            ..
        }) => {
            if duplicate {
                Outcome::Duplicate
            } else {
                Outcome::Stored
            }
        }
        Ok(_) | Err(_) => Outcome::Failed("an unreadable ack".into()),
    }
}

/// Publishes what the rooms queue, at most `capacity` out of their buffers,
/// until the sessions are done and the buffers drained (or [`FLUSH_GRACE`]).
///
/// Woken by the first message of a round, it yields once before sending,
/// so that the rooms whose data came in with it queue theirs and they all
/// go out in one burst (one `writev` for several publishes).
pub(super) async fn dispatch(
    client: Client,
    outbox: Arc<Outbox>,
    capacity: usize,
    mut sessions_done: watch::Receiver<bool>,
) {
    let stats = &*outbox.stats;
    let inbox = client.new_inbox();
    let mut replies = loop {
        match client.subscribe(format!("{inbox}.*")).await {
            Ok(replies) => break replies,
            Err(e) => {
                warn!(error = %e, "cannot subscribe to the acks yet");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(200)) => {}
                    () = stopped(&mut sessions_done) => return,
                }
            }
        }
    };
    let mut publisher = Publisher::new(client, format!("{inbox}."), capacity, stats);
    loop {
        // The stop is raced with everything: with NATS away every publish
        // waits, and none may end.
        tokio::select! {
            () = publisher.fill(&outbox) => {}
            () = stopped(&mut sessions_done) => break,
        }
        let wake = publisher.next_wake();
        tokio::select! {
            reply = replies.next() => match reply {
                Some(reply) => publisher.on_reply(&reply),
                // Only a closed client ends the subscription.
                None => {
                    warn!("the NATS client closed: publishing stops");
                    break;
                }
            },
            () = outbox.ready(), if publisher.out() < capacity => {
                tokio::task::yield_now().await;
            }
            () = sleep_until(wake) => publisher.expire(Instant::now()),
            () = stopped(&mut sessions_done) => break,
        }
    }
    // The sessions have logged out: drain the buffers and wait for the
    // acks, all within the grace.
    if let Some(item) = publisher.sending.take() {
        publisher.again.push_front((Instant::now(), item));
    }
    let flush = async {
        loop {
            publisher.fill(&outbox).await;
            if publisher.out() == 0 {
                return;
            }
            let wake = publisher.next_wake();
            tokio::select! {
                reply = replies.next() => match reply {
                    Some(reply) => publisher.on_reply(&reply),
                    None => return,
                },
                () = sleep_until(wake) => publisher.expire(Instant::now()),
            }
        }
    };
    let _ = tokio::time::timeout(FLUSH_GRACE, flush).await;
    publisher.count_out();
    let left = stats.buffered.load(Ordering::Relaxed);
    if publisher.out() > 0 || left > 0 {
        warn!(
            buffered_bytes = left,
            publishing = publisher.out(),
            "NATS did not take everything before shutdown: the rest is lost"
        );
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(payload: &str, status: Option<StatusCode>) -> Message {
        Message {
            subject: "_INBOX.x.1".into(),
            reply: None,
            payload: payload.to_owned().into(),
            headers: None,
            status,
            description: None,
            length: payload.len(),
        }
    }

    fn sent(id: &str, at: Instant) -> Sent {
        Sent {
            item: Pending {
                kind: None,
                subject: "douyu.1.chatmsg".into(),
                id: id.into(),
                payload: bytes::Bytes::new(),
            },
            at,
        }
    }

    #[test]
    fn the_awaited_window_trims_answered_fronts_and_gives_up_on_the_oldest() {
        let t0 = Instant::now();
        let mut awaiting = Awaiting::default();
        for (i, id) in ["a", "b", "c", "d"].into_iter().enumerate() {
            assert_eq!(awaiting.next(), i as u64);
            awaiting.push(sent(id, t0 + Duration::from_millis(i as u64)));
        }
        // An answer in the middle leaves the window as long.
        assert_eq!(awaiting.take(2).map(|s| s.item.id), Some("c".into()));
        assert_eq!((awaiting.len, awaiting.slots.len()), (3, 4));
        // Unknown, repeated and future numbers are not awaited.
        for n in [2, 9, u64::MAX] {
            assert!(awaiting.take(n).is_none(), "{n}");
        }
        // The front answered: the window starts at the next awaited one.
        assert_eq!(awaiting.take(0).map(|s| s.item.id), Some("a".into()));
        assert_eq!((awaiting.first, awaiting.slots.len()), (1, 3));
        assert_eq!(awaiting.oldest(), Some(t0 + Duration::from_millis(1)));
        assert_eq!(awaiting.next(), 4);
        // Nothing has timed out, and the window is within bounds.
        assert!(awaiting.take_expired(t0 + ACK_TIMEOUT, 3).is_none());
        // Past its time, the oldest is given up on; then a window too long.
        let late = t0 + ACK_TIMEOUT + Duration::from_millis(1);
        assert_eq!(
            awaiting.take_expired(late, 3).map(|s| s.item.id),
            Some("b".into())
        );
        assert!(awaiting.take_expired(late, 3).is_none());
        assert_eq!(
            awaiting.take_expired(late, 0).map(|s| s.item.id),
            Some("d".into())
        );
        assert_eq!(
            (awaiting.len, awaiting.slots.len(), awaiting.next()),
            (0, 0, 4)
        );
        assert!(awaiting.oldest().is_none());
    }

    #[test]
    fn replies_read_as_stored_duplicate_or_failed() {
        let cases = [
            (r#"{"stream":"S","seq":7}"#, None, Outcome::Stored),
            (
                r#"{"stream":"S","seq":7,"duplicate":true}"#,
                None,
                Outcome::Duplicate,
            ),
            (
                r#"{"stream":"S","seq":7,"duplicate":false,"domain":"d"}"#,
                None,
                Outcome::Stored,
            ),
        ];
        for (payload, status, want) in cases {
            assert_eq!(outcome(&reply(payload, status)), want, "{payload}");
        }
        for (payload, status) in [
            (
                r#"{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"}}"#,
                None,
            ),
            ("", Some(StatusCode::NO_RESPONDERS)),
            (r#"{"stream":"S"}"#, None),
            ("not json", None),
            (r#"{"stream":"S","seq":"7"}"#, None),
        ] {
            assert!(
                matches!(outcome(&reply(payload, status)), Outcome::Failed(_)),
                "{payload:?} {status:?}"
            );
        }
    }
}
