//! Sharing rooms among collectors: a lease per room in JetStream's
//! key-value store.
//!
//! Two buckets, named after the stream: `<STREAM>_collectors` holds one key
//! per live collector, and `<STREAM>_leases` one key per held room
//! (`room.<id>`), whose value names its holder. Both buckets keep one value
//! a key and drop values older than the lease time (`max_age`), so a
//! collector that stops renewing vanishes from both within that time.
//!
//! Every tick a collector renews its member key, lists the live
//! collectors and walks its rooms. Each room belongs to one live collector,
//! worked out by `assign` from the room list and the live names alone
//! (rendezvous hashing on the SHA-256 of room and name, with a quota that
//! keeps the shares within one room of each other), so every collector
//! works out the same owner with no talk, and a collector joining or
//! leaving moves about its own share of rooms:
//!
//! - a room it should hold and nobody does: it takes the lease (`create`,
//!   which fails if anyone holds it) and starts the room's session;
//! - a room it holds: it renews the lease every third of the lease time with
//!   a compare-and-set on the revision, so a lease someone else took is
//!   noticed and never overwritten;
//! - a room it holds that another live collector should hold: it offers
//!   the lease (`me>other`), still watching; the other takes it over with a
//!   compare-and-set and starts its session; the first notices at its next
//!   renewal and logs out [`HANDOFF_OVERLAP`] later. For those seconds both
//!   publish the room; the messages' ids make JetStream store each once, so
//!   a hand-over loses nothing and duplicates nothing.
//!
//! A collector that dies is out of the member list and its leases expire
//! within the lease time; the others take its rooms at their next tick,
//! each with a `gap` event for the time nobody watched it (each collector
//! watches the bucket to tell such a lease, another's that was never given
//! back, from one deleted on a clean shutdown). A
//! collector that cannot reach NATS keeps its sessions (at worst two
//! collectors publish a room for a while, which the ids make harmless) and,
//! once back, takes its expired leases again if nobody else did.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_nats::jetstream::{self, kv};
use futures_util::{StreamExt as _, TryStreamExt as _};
use sha2::{Digest as _, Sha256};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::{
    CollectOptions, Outbox, RoomQueue, RoomSink, SUBJECT_PREFIX, Stats, Unread, Unwatched,
};
use crate::throttle::Throttle;
use crate::time::{Clock, stopped};
use crate::watch::{WatchOptions, follow_room};

/// Time between two walks of the rooms.
pub const TICK: Duration = Duration::from_secs(1);

/// How long a collector that handed a room over keeps watching it: time
/// for the new holder's session to connect and join.
pub const HANDOFF_OVERLAP: Duration = Duration::from_secs(3);

/// Lease requests in flight at once during a walk.
const CONCURRENT_REQUESTS: usize = 64;

/// The live room sessions of this collector.
pub struct Sessions {
    options: WatchOptions,
    outbox: Arc<Outbox>,
    /// Where the rooms' messages are stored: asked, at a takeover, for the
    /// last message stored for the room.
    stream: jetstream::stream::Stream,
    clock: Clock,
    running: HashMap<u64, watch::Sender<bool>>,
    tasks: JoinSet<()>,
}

impl Sessions {
    /// No session yet; rooms' messages will go to `outbox`, and are
    /// stored in `stream`.
    pub fn new(
        options: WatchOptions,
        outbox: Arc<Outbox>,
        stream: jetstream::stream::Stream,
    ) -> Self {
        Self {
            options,
            outbox,
            stream,
            clock: Clock::start(),
            running: HashMap::new(),
            tasks: JoinSet::new(),
        }
    }

    /// Starts following `room`; `expired` is the lease it was taken in
    /// place of, when its holder died with it (see [`LastHolders`]).
    fn start(&mut self, room: u64, expired: Option<LastHolder>) {
        let (stop_tx, stop) = watch::channel(false);
        if let Some(old) = self.running.insert(room, stop_tx) {
            let _ = old.send(true);
        }
        let queue = Arc::new(RoomQueue {
            room,
            state: std::sync::Mutex::default(),
        });
        let outbox = self.outbox.clone();
        let (options, clock) = (self.options.clone(), self.clock);
        let stream = expired.is_some().then(|| self.stream.clone());
        self.tasks.spawn(async move {
            let unwatched = match (expired, stream) {
                (Some(expired), Some(stream)) => Some(Unwatched {
                    from: last_stored(&stream, room)
                        .await
                        .map_or(expired.renewed, |at| at.min(expired.renewed)),
                    why: Unread::LeaseExpired {
                        holder: expired.holder,
                    },
                }),
                _ => None,
            };
            let sink = RoomSink {
                queue,
                outbox,
                joined: false,
                unwatched,
            };
            if let Err(e) = follow_room(room, options, clock, stop, Some(Box::new(sink))).await {
                warn!(room, error = format!("{e:#}"), "room session failed");
            }
        });
        // Finished sessions leave their results behind; collect them.
        while self.tasks.try_join_next().is_some() {}
    }

    /// Stops following `room` after `after`.
    fn release(&mut self, room: u64, after: Duration) {
        if let Some(stop) = self.running.remove(&room) {
            self.tasks.spawn(async move {
                tokio::time::sleep(after).await;
                let _ = stop.send(true);
            });
        }
    }

    /// Stops every session and waits for them to log out.
    async fn stop_all(mut self) {
        for stop in self.running.values() {
            let _ = stop.send(true);
        }
        // A hand-over's delayed stop still holds its sender: end them too.
        self.running.clear();
        let wait = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(Duration::from_secs(2), wait)
            .await
            .is_err()
        {
            warn!("room sessions still open at shutdown");
            self.tasks.abort_all();
        }
    }
}

/// When the last message stored for `room` was received (its
/// `received_at`, else when the stream stored it); `None` if there is none
/// or NATS does not say within a second.
async fn last_stored(stream: &jetstream::stream::Stream, room: u64) -> Option<SystemTime> {
    let subject = format!("{SUBJECT_PREFIX}.{room}.>");
    let last = tokio::time::timeout(
        Duration::from_secs(1),
        stream.get_last_raw_message_by_subject(&subject),
    )
    .await
    .ok()?
    .ok()?;
    let received_at = serde_json::from_slice::<serde_json::Value>(&last.payload)
        .ok()
        .and_then(|json| {
            json.get("received_at")?
                .as_str()?
                .parse::<jiff::Timestamp>()
                .ok()
        })
        .and_then(|at| u64::try_from(at.as_millisecond()).ok())
        .map(|ms| UNIX_EPOCH + Duration::from_millis(ms));
    Some(received_at.unwrap_or_else(|| last.time.into()))
}

/// The lease a room last had by another collector, as the bucket's watch
/// reported it.
#[derive(Debug, Clone)]
struct LastHolder {
    /// Who held it (the holder the value names).
    holder: String,
    /// When it was last written (renewed), by the NATS server's clock.
    renewed: SystemTime,
}

/// The last lease of each of this collector's rooms that another collector
/// wrote, kept to tell a takeover from a collector that died (its lease
/// expired: a `gap` event is due) from a room given back or never held (a
/// delete, or nothing). A room leaves it when its lease is deleted or
/// taken by this collector. One entry per room of the list at most, its
/// name cut to [`MAX_NAME`] bytes.
type LastHolders = Arc<std::sync::Mutex<HashMap<u64, LastHolder>>>;

/// Longest collector name kept in [`LastHolders`] (names are made by
/// `collector_name`, well under this; the bucket is anyone's to write).
const MAX_NAME: usize = 128;

/// Follows the lease bucket into `last` (from each key's current value on)
/// until `stop` fires, watching again after an error or a NATS restart.
async fn watch_holders(
    leases: kv::Store,
    me: String,
    rooms: std::collections::HashSet<u64>,
    last: LastHolders,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        match leases.watch_with_history("room.>").await {
            Ok(mut entries) => loop {
                let entry = tokio::select! {
                    entry = entries.next() => entry,
                    () = stopped(&mut stop) => return,
                };
                let Some(Ok(entry)) = entry else { break };
                let Some(room) = entry
                    .key
                    .strip_prefix("room.")
                    .and_then(|id| id.parse::<u64>().ok())
                    .filter(|room| rooms.contains(room))
                else {
                    continue;
                };
                let mut last = super::lock(&last);
                if entry.operation != kv::Operation::Put {
                    last.remove(&room);
                    continue;
                }
                let value = String::from_utf8_lossy(&entry.value);
                let name = holder(&value);
                if name == me {
                    continue;
                }
                let name: String = name.chars().take(MAX_NAME).collect();
                let renewed = entry.created.into();
                last.insert(
                    room,
                    LastHolder {
                        holder: name,
                        renewed,
                    },
                );
            },
            Err(e) => debug!(error = %e, "cannot watch the leases yet"),
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            () = stopped(&mut stop) => return,
        }
    }
}

/// A lease this collector holds.
#[derive(Debug, Clone)]
struct Held {
    revision: u64,
    renewed: Instant,
    /// What the key says: this collector's name, or `name>other` while
    /// offering the room to `other`.
    value: String,
}

/// What one room's step of a walk came to.
#[derive(Debug)]
enum Step {
    /// Nothing changed.
    Same,
    /// The lease is held, newly (taken as it says) or renewed.
    Held(Held, Via),
    /// Another collector holds it now.
    Lost(String),
}

/// How a lease came to be held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    /// Created: nobody held it.
    Free,
    /// Taken over from a collector that offered it.
    Offered,
    /// Held already, and renewed.
    Renewed,
}

/// The holder a lease value names (`a`, or `a` offering to `b` in `a>b`).
fn holder(value: &str) -> &str {
    value.split_once('>').map_or(value, |(from, _)| from)
}

/// How much collector `name` wants `room`: the first 64 bits of the
/// SHA-256 of room and name (rendezvous hashing).
fn rank(room: u64, name: &str) -> u64 {
    let mut hash = Sha256::new();
    hash.update(room.to_be_bytes());
    hash.update(name.as_bytes());
    let digest = hash.finalize();
    let mut rank = [0u8; 8];
    rank.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(rank)
}

/// Which of `live` (sorted, distinct) should hold each of `rooms`: an
/// index into `live` per room, the same in every collector that lists the
/// same collectors.
///
/// Rendezvous hashing with a quota: each collector gets `rooms / live`
/// rooms, the first `rooms % live` of them (by name) one more, so the
/// shares differ by one at most. The rooms, in ascending order, go each to
/// the collector ranking highest for it that still has room in its quota.
/// A collector joining or leaving moves its share of rooms, and a few more
/// to keep the counts even (the unit test measures how many).
fn assign(rooms: &[u64], live: &[String]) -> HashMap<u64, usize> {
    let mut out = HashMap::with_capacity(rooms.len());
    if live.is_empty() {
        return out;
    }
    let mut sorted = rooms.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let (each, extra) = (sorted.len() / live.len(), sorted.len() % live.len());
    let mut left: Vec<usize> = (0..live.len())
        .map(|i| each + usize::from(i < extra))
        .collect();
    let mut ranked: Vec<(u64, usize)> = Vec::with_capacity(live.len());
    for room in sorted {
        ranked.clear();
        ranked.extend(
            live.iter()
                .enumerate()
                .map(|(i, name)| (rank(room, name), i)),
        );
        // Highest rank first; ties (a curiosity with SHA-256) to the
        // lesser name.
        ranked.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        // The quotas add up to the rooms: one always has room.
        if let Some(&(_, i)) = ranked.iter().find(|(_, i)| left[*i] > 0) {
            left[i] -= 1;
            out.insert(room, i);
        }
    }
    out
}

/// One room's step of a walk.
async fn step(
    leases: &kv::Store,
    me: &str,
    room: u64,
    preferred: &str,
    held: Option<Held>,
    renew_every: Duration,
) -> Step {
    let key = format!("room.{room}");
    let Some(held) = held else {
        if preferred != me {
            return Step::Same;
        }
        return match leases.create(&key, me.to_string().into()).await {
            Ok(revision) => Step::Held(
                Held {
                    revision,
                    renewed: Instant::now(),
                    value: me.to_string(),
                },
                Via::Free,
            ),
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                // Held: take it only if it is being offered to us.
                match leases.entry(&key).await {
                    Ok(Some(entry))
                        if entry.operation == kv::Operation::Put
                            && entry.value.as_ref().ends_with(format!(">{me}").as_bytes()) =>
                    {
                        match leases
                            .update(&key, me.to_string().into(), entry.revision)
                            .await
                        {
                            Ok(revision) => Step::Held(
                                Held {
                                    revision,
                                    renewed: Instant::now(),
                                    value: me.to_string(),
                                },
                                Via::Offered,
                            ),
                            Err(_) => Step::Same,
                        }
                    }
                    _ => Step::Same,
                }
            }
            Err(e) => {
                debug!(room, error = %e, "cannot take the lease yet");
                Step::Same
            }
        };
    };
    let want = if preferred == me {
        me.to_string()
    } else {
        format!("{me}>{preferred}")
    };
    if want == held.value && held.renewed.elapsed() < renew_every {
        return Step::Same;
    }
    match leases
        .update(&key, want.clone().into(), held.revision)
        .await
    {
        Ok(revision) => Step::Held(
            Held {
                revision,
                renewed: Instant::now(),
                value: want,
            },
            Via::Renewed,
        ),
        Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {
            match leases.entry(&key).await {
                Ok(Some(entry)) if entry.operation == kv::Operation::Put => {
                    let value = String::from_utf8_lossy(&entry.value).into_owned();
                    if holder(&value) == me {
                        // Our own write whose ack was lost: carry on from it.
                        Step::Held(
                            Held {
                                revision: entry.revision,
                                renewed: held.renewed,
                                value,
                            },
                            Via::Renewed,
                        )
                    } else {
                        Step::Lost(value)
                    }
                }
                // Expired (NATS was away longer than the lease) or deleted:
                // nobody took it, so it is still ours to take.
                Ok(_) => match leases.create(&key, me.to_string().into()).await {
                    Ok(revision) => Step::Held(
                        Held {
                            revision,
                            renewed: Instant::now(),
                            value: me.to_string(),
                        },
                        Via::Renewed,
                    ),
                    Err(_) => Step::Same,
                },
                Err(_) => Step::Same,
            }
        }
        // NATS down or slow: keep the room; the next walk tries again.
        Err(_) => Step::Same,
    }
}

/// Opens the bucket `name` (creating it if absent) with values that expire
/// after `ttl`, retrying until NATS answers or `stop` fires.
async fn bucket(
    js: &jetstream::Context,
    name: String,
    ttl: Duration,
    stop: &mut watch::Receiver<bool>,
) -> Option<kv::Store> {
    let log = Throttle::new(1, Duration::from_secs(2));
    loop {
        // The bucket's stream is made here, as a key-value bucket's is
        // made: async-nats's `create_key_value` first reads the account
        // info, whose 2.9 form it no longer parses.
        let made = js
            .get_or_create_stream(jetstream::stream::Config {
                name: format!("KV_{name}"),
                subjects: vec![format!("$KV.{name}.>")],
                max_messages_per_subject: 1,
                max_age: ttl,
                max_bytes: -1,
                max_messages: -1,
                max_message_size: -1,
                storage: jetstream::stream::StorageType::File,
                allow_rollup: true,
                deny_delete: true,
                allow_direct: true,
                discard: jetstream::stream::DiscardPolicy::New,
                num_replicas: 1,
                ..Default::default()
            })
            .await;
        let opened = match made {
            Ok(_) => js.get_key_value(&name).await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match opened {
            Ok(store) => return Some(store),
            Err(error) => {
                if log.check().is_some() {
                    warn!(bucket = name, error, "cannot open the bucket yet");
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
            () = stopped(stop) => return None,
        }
    }
}

/// The live collectors, sorted (`None` if NATS did not answer in time).
async fn live_collectors(members: &kv::Store) -> Option<Vec<String>> {
    let list = async {
        let keys = members.keys().await.ok()?;
        keys.try_collect::<Vec<String>>().await.ok()
    };
    let mut live = tokio::time::timeout(Duration::from_secs(2), list)
        .await
        .ok()??;
    live.sort();
    Some(live)
}

/// Holds this collector's share of `options.rooms` until `stop` fires, then
/// stops the sessions and gives the leases back.
pub async fn run(
    options: &CollectOptions,
    js: &jetstream::Context,
    me: &str,
    mut sessions: Sessions,
    stats: Arc<Stats>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let ttl = options.lease_ttl;
    let (Some(leases), Some(members)) = (
        bucket(js, format!("{}_leases", options.stream), ttl, &mut stop).await,
        bucket(js, format!("{}_collectors", options.stream), ttl, &mut stop).await,
    ) else {
        sessions.stop_all().await;
        return Ok(());
    };
    let renew_every = ttl / 3;
    let last_holders = LastHolders::default();
    tokio::spawn(watch_holders(
        leases.clone(),
        me.to_string(),
        options.rooms.iter().copied().collect(),
        last_holders.clone(),
        stop.clone(),
    ));
    let mut held: HashMap<u64, Held> = HashMap::new();
    let mut live = vec![me.to_string()];
    let mut owners = assign(&options.rooms, &live);
    stats.collectors.store(1, Ordering::Relaxed);
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stopped(&mut stop) => break,
        }
        let put = tokio::time::timeout(Duration::from_secs(2), members.put(me, Default::default()));
        if put.await.is_ok_and(|put| put.is_ok())
            && let Some(mut now_live) = live_collectors(&members).await
        {
            if !now_live.iter().any(|name| name == me) {
                now_live.push(me.to_string());
                now_live.sort();
            }
            if now_live != live {
                info!(collectors = now_live.len(), "collectors changed");
                live = now_live;
                owners = assign(&options.rooms, &live);
                stats.collectors.store(live.len() as u64, Ordering::Relaxed);
            }
        }
        let jobs: Vec<_> = options
            .rooms
            .iter()
            .map(|&room| {
                let preferred = owners.get(&room).map_or(me, |&i| &live[i]).to_string();
                (room, preferred, held.get(&room).cloned())
            })
            .collect();
        let walk = futures_util::stream::iter(jobs)
            .map(|(room, preferred, was)| {
                let leases = &leases;
                async move {
                    let step = step(leases, me, room, &preferred, was, renew_every).await;
                    (room, step)
                }
            })
            .buffer_unordered(CONCURRENT_REQUESTS)
            .collect::<Vec<(u64, Step)>>();
        // With NATS away every request waits for its timeout, and a walk of
        // many rooms takes long: a stop must not wait for it. (A lease taken
        // in the abandoned walk is not ours on record; it expires.)
        let steps = tokio::select! {
            steps = walk => steps,
            () = stopped(&mut stop) => break,
        };
        for (room, step) in steps {
            match step {
                Step::Same => {}
                Step::Held(lease, via) => {
                    if held.insert(room, lease).is_none() {
                        info!(room, ?via, "lease taken");
                        let counter = match via {
                            Via::Offered => &stats.leases_taken_offered,
                            Via::Free | Via::Renewed => &stats.leases_taken_free,
                        };
                        counter.fetch_add(1, Ordering::Relaxed);
                        // Free, yet another collector's lease was the last
                        // seen: it expired, its holder died. (Given back,
                        // it would have been deleted; offered, taken so.)
                        let last = super::lock(&last_holders).remove(&room);
                        let expired = last.filter(|_| via == Via::Free);
                        sessions.start(room, expired);
                    }
                }
                Step::Lost(holder) => {
                    held.remove(&room);
                    stats.leases_handed_over.fetch_add(1, Ordering::Relaxed);
                    info!(room, holder, "lease handed over");
                    sessions.release(room, HANDOFF_OVERLAP);
                }
            }
        }
        stats.held.store(held.len() as u64, Ordering::Relaxed);
    }
    sessions.stop_all().await;
    // Give the rooms back at once (not at expiry), so the others take over
    // within a tick; bounded, as NATS may be away.
    let give_back = futures_util::stream::iter(held)
        .map(|(room, lease)| {
            let (leases, stats) = (&leases, &stats);
            async move {
                let deleted = leases
                    .delete_expect_revision(format!("room.{room}"), Some(lease.revision))
                    .await;
                if deleted.is_ok() {
                    stats.leases_released.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
        .buffer_unordered(CONCURRENT_REQUESTS)
        .collect::<Vec<()>>();
    let leave = async {
        give_back.await;
        let _ = members.delete(me).await;
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), leave).await;
    stats.held.store(0, Ordering::Relaxed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        // Names as collectors make them: host, pid, random tag.
        (0..n)
            .map(|i| format!("host-{}-{:08x}", 1000 + i, i * 7919))
            .collect()
    }

    fn shares(owners: &HashMap<u64, usize>, collectors: usize) -> Vec<usize> {
        let mut count = vec![0; collectors];
        for &i in owners.values() {
            count[i] += 1;
        }
        count
    }

    #[test]
    fn rooms_spread_evenly_to_one_more_at_most() {
        for n in [1, 2, 3, 7, 20, 21, 1000] {
            let rooms: Vec<u64> = (1..=n).collect();
            for k in 1..=5 {
                let live = names(k);
                let owners = assign(&rooms, &live);
                assert_eq!(owners.len(), rooms.len());
                let count = shares(&owners, k);
                let (min, max) = (count.iter().min(), count.iter().max());
                assert!(
                    max.unwrap() - min.unwrap() <= 1,
                    "{n} rooms, {k}: {count:?}"
                );
                // The same in every collector, whatever order it lists in.
                assert_eq!(
                    owners,
                    assign(&rooms.iter().rev().copied().collect::<Vec<_>>(), &live)
                );
            }
        }
        assert!(assign(&[1, 2], &[]).is_empty());
        assert_eq!(holder("a>b"), "a");
        assert_eq!(holder("a"), "a");
    }

    #[test]
    fn a_join_or_leave_moves_little_more_than_its_share() {
        let rooms: Vec<u64> = (1..=3000).collect();
        let moved = |from: &[String], to: &[String]| {
            let (a, b) = (assign(&rooms, from), assign(&rooms, to));
            rooms.iter().filter(|r| from[a[r]] != to[b[r]]).count()
        };
        let all = names(4);
        // One joins two: a third of the rooms must move to it (1,004 do).
        let joined = moved(&all[..2], &all[..3]);
        assert!((1000..=1050).contains(&joined), "{joined} moved");
        // One of three leaves: its thousand must move (1,007 do).
        let left = moved(&all[..3], &all[1..3]);
        assert!((1000..=1050).contains(&left), "{left} moved");
        // One joins one: half.
        assert_eq!(moved(&all[..1], &all[..2]), 1500);
    }
}
