//! The live feed: a watched room's messages as Server-Sent Events, shared
//! by every connected page, and the counters `/metrics` shows.
//!
//! Each message is turned into its SSE event text once, by the room's
//! session loop, and put in one broadcast ring of [`FEED_CAPACITY`] events;
//! every page reads the ring at its own pace. A page that falls more than the
//! ring behind skips what it missed (and is told how much, in a `gap`
//! event), so a slow or stalled page costs a position in the ring, never a
//! queue of its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use douyu_core::message::ServerMessage;
use tokio::sync::{broadcast, watch};

use crate::http::HttpCounters;
use crate::prometheus::{Exposition, Kind, TypeCounters};
use crate::render::write_message_json;
use crate::time::stopped;
use crate::time::wall_ms;
use crate::watch::{Link, Sink};

/// Events the shared ring holds: at 200 messages a second, five seconds of
/// a page not reading before it skips. About 1 KiB an event (a `chatmsg`
/// with all its fields), so about 1 MiB in all, however many pages.
pub const FEED_CAPACITY: usize = 1024;

/// Time between heartbeat events to a page: an idle room still shows the
/// page its feed is alive (the page reconnects after three missed ones).
pub const HEARTBEAT: Duration = Duration::from_secs(10);

/// Bytes of events gathered into one write to a page, when several wait:
/// fewer, larger writes under load, and a bound on what one write holds.
const CHUNK: usize = 8 * 1024;

/// What the HTTP side and the room's sink share.
#[derive(Debug)]
pub struct Feed {
    events: broadcast::Sender<Arc<str>>,
    joined: AtomicBool,
    /// The counters `/metrics` shows.
    pub metrics: Metrics,
}

impl Feed {
    /// A feed with no page yet.
    #[must_use]
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            events: broadcast::channel(FEED_CAPACITY).0,
            joined: AtomicBool::new(false),
            metrics: Metrics::new(),
        })
    }

    /// Whether the room is joined now.
    pub fn joined(&self) -> bool {
        self.joined.load(Ordering::Relaxed)
    }

    /// The sink a room's session loop hands its messages to.
    #[must_use]
    pub fn sink(self: &Arc<Self>) -> Box<dyn Sink> {
        Box::new(FeedSink(self.clone()))
    }

    fn publish(&self, event: String) {
        // An error only says no page is connected: nothing to do.
        let _ = self.events.send(event.into());
    }

    fn status_event(joined: bool) -> String {
        format!("event: status\ndata: {{\"joined\":{joined}}}\n\n")
    }

    /// A page's event stream, if the cap on pages allows one more: it starts
    /// with the reconnect delay and the room's status, then follows the
    /// ring until `stop` fires or the page goes away.
    pub fn subscribe(
        self: &Arc<Self>,
        max_pages: usize,
        stop: watch::Receiver<bool>,
    ) -> Option<PageStream> {
        let pages = &self.metrics.pages;
        // Counted before it is checked, so that two pages arriving together
        // cannot both take the last place.
        if pages.fetch_add(1, Ordering::AcqRel) >= max_pages {
            pages.fetch_sub(1, Ordering::AcqRel);
            self.metrics.pages_refused.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Some(PageStream {
            rx: self.events.subscribe(),
            first: Some(format!(
                "retry: 1000\n\n{}",
                Self::status_event(self.joined())
            )),
            ping,
            stop,
            feed: self.clone(),
        })
    }
}

/// The room's messages into the feed (see [`crate::watch::Printer::with_sink`]).
#[derive(Debug)]
struct FeedSink(Arc<Feed>);

impl Sink for FeedSink {
    fn message(&mut self, _room: u64, message: &ServerMessage<'_>) -> anyhow::Result<()> {
        let feed = &self.0;
        feed.metrics.count(message);
        // Heartbeat traffic is protocol noise on a page, as in `watch`'s text.
        if matches!(
            message,
            ServerMessage::Heartbeat(_) | ServerMessage::PingReq(_)
        ) {
            return Ok(());
        }
        // The object `watch --format json` prints (with `received_at`);
        // JSON escapes line breaks, so it is one `data:` line.
        let mut event = b"data: ".to_vec();
        write_message_json(message, Some(wall_ms()), &mut event);
        event.extend_from_slice(b"\n\n");
        // The writer writes UTF-8 (JSON of `str`s); nothing is replaced.
        feed.publish(
            String::from_utf8(event)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        );
        Ok(())
    }

    fn link(&mut self, _room: u64, link: Link) {
        let up = link == Link::Joined;
        let feed = &self.0;
        feed.joined.store(up, Ordering::Relaxed);
        if !up {
            feed.metrics.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        feed.publish(Feed::status_event(up));
    }
}

/// One page's events, as chunks of SSE text. Dropping it (the page went
/// away) gives its place back.
#[derive(Debug)]
pub struct PageStream {
    rx: broadcast::Receiver<Arc<str>>,
    first: Option<String>,
    ping: tokio::time::Interval,
    stop: watch::Receiver<bool>,
    feed: Arc<Feed>,
}

impl Drop for PageStream {
    fn drop(&mut self) {
        self.feed.metrics.pages.fetch_sub(1, Ordering::AcqRel);
    }
}

impl PageStream {
    /// The next chunk to write, or `None` when the stream ends (shutdown).
    pub async fn next_chunk(&mut self) -> Option<Bytes> {
        if let Some(first) = self.first.take() {
            return Some(first.into());
        }
        let mut chunk = String::new();
        tokio::select! {
            biased;
            () = stopped(&mut self.stop) => return None,
            got = self.rx.recv() => match got {
                Ok(event) => chunk.push_str(&event),
                Err(broadcast::error::RecvError::Lagged(skipped)) => self.gap(skipped, &mut chunk),
                Err(broadcast::error::RecvError::Closed) => return None,
            },
            _ = self.ping.tick() => chunk.push_str("event: ping\ndata: {}\n\n"),
        }
        while chunk.len() < CHUNK {
            match self.rx.try_recv() {
                Ok(event) => chunk.push_str(&event),
                Err(broadcast::error::TryRecvError::Lagged(skipped)) => {
                    self.gap(skipped, &mut chunk);
                }
                Err(_) => break,
            }
        }
        Some(chunk.into())
    }

    fn gap(&self, skipped: u64, chunk: &mut String) {
        let metrics = &self.feed.metrics;
        metrics.gaps.fetch_add(1, Ordering::Relaxed);
        metrics.skipped.fetch_add(skipped, Ordering::Relaxed);
        chunk.push_str(&format!("event: gap\ndata: {{\"skipped\":{skipped}}}\n\n"));
    }
}

/// Counters and gauges for `/metrics`; all fixed in number, whatever the
/// room or the peers send.
#[derive(Debug)]
pub struct Metrics {
    /// Messages by type (a type core does not know counts as `other`: a
    /// type from the network is no label).
    by_type: TypeCounters,
    /// Pages connected to `/events` now.
    pub pages: AtomicUsize,
    /// `/events` requests refused at the cap on pages.
    pub pages_refused: AtomicU64,
    /// Connections to the room lost or refused (each followed by a reconnect).
    pub reconnects: AtomicU64,
    /// Times a page fell a whole ring behind and skipped.
    pub gaps: AtomicU64,
    /// Messages pages skipped so.
    pub skipped: AtomicU64,
    /// The HTTP server's refusals and responses.
    pub http: HttpCounters,
}

impl Metrics {
    fn new() -> Self {
        Self {
            by_type: TypeCounters::new(),
            pages: AtomicUsize::new(0),
            pages_refused: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            gaps: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            http: HttpCounters::default(),
        }
    }

    fn count(&self, message: &ServerMessage<'_>) {
        self.by_type.count(message);
    }

    /// The Prometheus text exposition (format 0.0.4) of every metric.
    #[must_use]
    pub fn render(&self, joined: bool) -> String {
        let mut out = Exposition::new();
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        out.family(
            "douyu_overlay_messages_total",
            Kind::Counter,
            "Messages received from the room, by type (\"other\": types core does not know).",
        );
        self.by_type
            .render(&mut out, "douyu_overlay_messages_total");
        let simple: [(&str, Kind, &str, u64); 7] = [
            (
                "douyu_overlay_joined",
                Kind::Gauge,
                "Whether the room is joined now.",
                u64::from(joined),
            ),
            (
                "douyu_overlay_pages",
                Kind::Gauge,
                "Pages connected to /events now.",
                self.pages.load(Ordering::Relaxed) as u64,
            ),
            (
                "douyu_overlay_pages_refused_total",
                Kind::Counter,
                "Requests for /events refused at the cap on pages.",
                load(&self.pages_refused),
            ),
            (
                "douyu_overlay_reconnects_total",
                Kind::Counter,
                "Connections to the room lost or refused, each followed by a reconnect.",
                load(&self.reconnects),
            ),
            (
                "douyu_overlay_gaps_total",
                Kind::Counter,
                "Times a page fell behind the feed and skipped messages.",
                load(&self.gaps),
            ),
            (
                "douyu_overlay_skipped_messages_total",
                Kind::Counter,
                "Messages skipped by pages that fell behind.",
                load(&self.skipped),
            ),
            (
                "douyu_overlay_up",
                Kind::Gauge,
                "Always 1: the overlay is serving.",
                1,
            ),
        ];
        for (name, kind, help, value) in simple {
            out.single(name, kind, help, value);
        }
        self.http.render(&mut out, "douyu_overlay");
        out.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_page_that_falls_behind_skips_and_is_told() {
        let feed = Feed::new();
        let (_keep, stop) = watch::channel(false);
        let mut page = feed.subscribe(2, stop.clone()).unwrap();
        let mut sink = feed.sink();
        let first = page.next_chunk().await.unwrap();
        assert!(
            std::str::from_utf8(&first)
                .unwrap()
                .contains("\"joined\":false")
        );
        let chat = ServerMessage::parse("type@=chatmsg/nn@=a/txt@=<b>/").unwrap();
        for _ in 0..FEED_CAPACITY + 10 {
            sink.message(1, &chat).unwrap();
        }
        let chunk = page.next_chunk().await.unwrap();
        let text = std::str::from_utf8(&chunk).unwrap();
        assert!(
            text.starts_with("event: gap\ndata: {\"skipped\":10}\n\n"),
            "{text}"
        );
        assert!(text.contains(r#"data: {"type":"chatmsg","nn":"a","txt":"<b>","received_at":"#));
        assert!(chunk.len() <= CHUNK + 200, "{}", chunk.len());
        assert_eq!(feed.metrics.skipped.load(Ordering::Relaxed), 10);
        assert!(
            feed.metrics
                .render(false)
                .contains("douyu_overlay_messages_total{type=\"chatmsg\"} 1034")
        );
    }

    #[tokio::test]
    async fn pages_are_capped_and_give_their_place_back() {
        let feed = Feed::new();
        let (_keep, stop) = watch::channel(false);
        let a = feed.subscribe(2, stop.clone()).unwrap();
        let _b = feed.subscribe(2, stop.clone()).unwrap();
        assert!(feed.subscribe(2, stop.clone()).is_none());
        drop(a);
        assert!(feed.subscribe(2, stop.clone()).is_some());
        assert_eq!(feed.metrics.pages_refused.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn heartbeats_are_counted_but_not_sent_and_unknown_types_are_other() {
        let feed = Feed::new();
        let mut rx = feed.events.subscribe();
        let mut sink = feed.sink();
        sink.message(1, &ServerMessage::parse("type@=mrkl/").unwrap())
            .unwrap();
        sink.message(1, &ServerMessage::parse("type@=x\"y/").unwrap())
            .unwrap();
        assert!(rx.try_recv().unwrap().contains(r#""type":"x\"y""#));
        assert!(rx.try_recv().is_err());
        let text = feed.metrics.render(true);
        assert!(text.contains("douyu_overlay_messages_total{type=\"mrkl\"} 1"));
        assert!(text.contains("douyu_overlay_messages_total{type=\"other\"} 1"));
        assert!(text.contains("douyu_overlay_joined 1"));
    }
}
