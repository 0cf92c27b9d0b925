//! `serve --replay`: a capture played back into a room at its recorded
//! pace (or faster), so that what a watcher saw live can be seen again
//! locally.
//!
//! The file is read on a blocking thread, a bounded channel ahead of the
//! room; the frames go out through the room's ring like any broadcast.
//! What only made sense to the recording session (its `loginres`, heartbeat
//! replies, an `error`) is left out.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use douyu_core::frame::{Direction, Frame};
use douyu_core::message::ServerMessage;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use super::{Shared, lock};
use crate::capture;
use crate::decode::{Item, each_item, sniff};
use crate::time::stopped;

/// A capture to replay, from `serve --replay`.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    /// The capture (or raw frames, which carry no times: sent at once).
    pub path: PathBuf,
    /// The room to play it into.
    pub room: u64,
    /// Pace: 2.0 plays twice as fast as recorded; `None` as fast as the
    /// room's clients take it.
    pub speed: Option<f64>,
}

/// Frames read ahead of the room.
const READ_AHEAD: usize = 256;

/// Most bytes sent to the room in one batch.
const BATCH: usize = 64 * 1024;

/// Whether a recorded frame is worth replaying: a server message a room
/// broadcasts, not one addressed to the recording session.
fn broadcastable(frame: &Frame<'_>) -> bool {
    frame.direction == Direction::ServerToClient
        && !matches!(
            ServerMessage::parse(frame.body),
            Err(_)
                | Ok(ServerMessage::LoginRes(_)
                    | ServerMessage::Error(_)
                    | ServerMessage::Heartbeat(_))
        )
}

/// Reads `path`, sending each frame to replay with its receive time.
fn read(path: &std::path::Path, tx: &mpsc::Sender<(i64, Vec<u8>)>) -> anyhow::Result<u64> {
    use anyhow::Context as _;
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let (detected, input) = sniff(std::io::BufReader::new(file))?;
    anyhow::ensure!(
        detected != capture::Detected::HexText,
        "{} is hex text: turn it into bytes first (douyu decode reads it with --hex)",
        path.display()
    );
    let mut sent = 0u64;
    each_item(detected, input, capture::MAX_PAYLOAD, |place, item| {
        let Item::Frame(frame) = item else {
            return Ok(());
        };
        if !broadcastable(&frame) {
            return Ok(());
        }
        let mut bytes = vec![0u8; frame.encoded_len()];
        frame.encode(&mut bytes).map_err(std::io::Error::other)?;
        sent += 1;
        tx.blocking_send((place.received_ms.unwrap_or_default(), bytes))
            .map_err(|_| std::io::Error::other("replay stopped"))
    })?;
    Ok(sent)
}

/// Plays `replay` into its room, starting when the room's first client has
/// joined, then leaves the room open as it is.
pub(super) async fn run(shared: Arc<Shared>, replay: Replay, mut shutdown: watch::Receiver<bool>) {
    let sender = match lock(&shared.rooms).open(replay.room, true) {
        Ok(room) => room.feed.clone(),
        Err(refusal) => return warn!(?refusal, "cannot open the replay's room"),
    };
    let (tx, mut rx) = mpsc::channel(READ_AHEAD);
    let path = replay.path.clone();
    let reader = tokio::task::spawn_blocking(move || read(&path, &tx));
    info!(room = replay.room, file = %replay.path.display(), "replay waits for a client to join");
    while sender.receiver_count() == 0 {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(20)) => {}
            () = stopped(&mut shutdown) => return,
        }
    }
    info!(room = replay.room, "replay started");
    let start = tokio::time::Instant::now();
    let mut first = None;
    let mut batch = Vec::new();
    loop {
        let next = tokio::select! {
            next = rx.recv() => next,
            () = stopped(&mut shutdown) => return,
        };
        let Some((ms, frame)) = next else { break };
        let base = *first.get_or_insert(ms);
        if let Some(speed) = replay.speed {
            let after = Duration::from_millis(u64::try_from(ms - base).unwrap_or(0));
            let due = start + after.div_f64(speed);
            if due > tokio::time::Instant::now() {
                if !batch.is_empty() {
                    let _ = sender.send(Arc::from(std::mem::take(&mut batch).as_slice()));
                }
                tokio::select! {
                    () = tokio::time::sleep_until(due) => {}
                    () = stopped(&mut shutdown) => return,
                }
            }
        }
        batch.extend_from_slice(&frame);
        if batch.len() >= BATCH || rx.is_empty() {
            let _ = sender.send(Arc::from(std::mem::take(&mut batch).as_slice()));
            tokio::task::yield_now().await;
        }
    }
    if !batch.is_empty() {
        let _ = sender.send(Arc::from(batch.as_slice()));
    }
    match reader.await {
        Ok(Ok(frames)) => info!(room = replay.room, frames, "replay finished"),
        Ok(Err(e)) => warn!(
            room = replay.room,
            error = format!("{e:#}"),
            "replay failed"
        ),
        Err(e) => warn!(room = replay.room, error = %e, "replay reader panicked"),
    }
}
