//! `collect --http`: `/metrics` (Prometheus text) and `/healthz` on the
//! shared HTTP server ([`crate::http`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hyper::{Response, StatusCode};
use tokio::sync::watch;

use super::Stats;
use crate::http::{Body, HttpCounters, plain};
use crate::prometheus::{Exposition, Kind};

/// What `collect` serves.
#[derive(Debug)]
pub struct Site {
    stats: Arc<Stats>,
    rooms: usize,
    http: HttpCounters,
}

impl Site {
    /// The site over `stats`, for a list of `rooms` rooms.
    #[must_use]
    pub fn new(stats: Arc<Stats>, rooms: usize) -> Self {
        Self {
            stats,
            rooms,
            http: HttpCounters::default(),
        }
    }

    /// The Prometheus text exposition (format 0.0.4) of every metric.
    #[must_use]
    pub fn render(&self) -> String {
        render(&self.stats, self.rooms, &self.http)
    }
}

/// What a path serves.
#[derive(Debug, Clone, Copy)]
pub enum Route {
    /// `/metrics`.
    Metrics,
    /// `/healthz`.
    Health,
}

impl crate::http::Site for Site {
    type Route = Route;

    fn route(&self, path: &str) -> Option<Route> {
        match path {
            "/metrics" => Some(Route::Metrics),
            "/healthz" => Some(Route::Health),
            _ => None,
        }
    }

    fn get(&self, route: Route, _stop: &watch::Receiver<bool>) -> Response<Body> {
        match route {
            Route::Metrics => crate::http::metrics(self.render()),
            Route::Health => {
                let stats = &self.stats;
                let nats = if stats.nats_connected.load(Ordering::Relaxed) == 1 {
                    "connected"
                } else {
                    "disconnected"
                };
                plain(
                    StatusCode::OK,
                    format!(
                        "ok: {} of {} rooms held, {} sessions joined, NATS {nats}\n",
                        stats.held.load(Ordering::Relaxed),
                        self.rooms,
                        stats.connected.load(Ordering::Relaxed),
                    ),
                )
            }
        }
    }

    fn counters(&self) -> &HttpCounters {
        &self.http
    }
}

fn render(stats: &Stats, rooms: usize, http: &HttpCounters) -> String {
    let mut out = Exposition::new();
    let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    let gauges: [(&str, &str, u64); 7] = [
        ("douyu_collect_up", "Always 1: the collector is running.", 1),
        (
            "douyu_collect_rooms",
            "Rooms in the list shared among the collectors.",
            rooms as u64,
        ),
        (
            "douyu_collect_rooms_held",
            "Rooms whose lease this collector holds now.",
            load(&stats.held),
        ),
        (
            "douyu_collect_collectors",
            "Live collectors of the stream (this one included), as last listed.",
            load(&stats.collectors),
        ),
        (
            "douyu_collect_sessions_connected",
            "Room sessions joined now (a handed-over room is watched by both collectors for a few seconds).",
            load(&stats.connected),
        ),
        (
            "douyu_collect_nats_connected",
            "Whether the connection to NATS is up now.",
            load(&stats.nats_connected),
        ),
        (
            "douyu_collect_publish_in_flight",
            "Publishes sent (or being retried) and not yet acknowledged.",
            load(&stats.in_flight),
        ),
    ];
    for (name, help, value) in gauges {
        out.single(name, Kind::Gauge, help, value);
    }
    out.single(
        "douyu_collect_buffered_bytes",
        Kind::Gauge,
        "Bytes of JSON waiting in the rooms' buffers.",
        load(&stats.buffered),
    );
    out.family(
        "douyu_collect_messages_received_total",
        Kind::Counter,
        "Messages received from the rooms, by type (\"other\": types core does not know).",
    );
    stats
        .received_by_type
        .render(&mut out, "douyu_collect_messages_received_total");
    out.family(
        "douyu_collect_messages_published_total",
        Kind::Counter,
        "Messages JetStream stored, by type (\"gap\": gap events; \"other\": types core does not know).",
    );
    stats
        .published_by_type
        .render(&mut out, "douyu_collect_messages_published_total");
    // A network type named "gap" would count as "other" (the gap events'
    // label is ours, and no type core knows is called so).
    out.sample(
        "douyu_collect_messages_published_total",
        &[("type", "gap")],
        load(&stats.published_gaps),
    );
    let counters: [(&str, &str, u64); 9] = [
        (
            "douyu_collect_messages_duplicate_total",
            "Publishes JetStream acknowledged as already stored (same Nats-Msg-Id).",
            load(&stats.duplicates),
        ),
        (
            "douyu_collect_messages_dropped_total",
            "Messages dropped at a full room buffer (each run of them is a gap event).",
            load(&stats.dropped),
        ),
        (
            "douyu_collect_gaps_total",
            "Gap events made: for messages dropped at full room buffers, and for rooms taken over from a collector that died.",
            load(&stats.gaps),
        ),
        (
            "douyu_collect_messages_lost_total",
            "Messages given up: refused by NATS for good (too large).",
            load(&stats.lost),
        ),
        (
            "douyu_collect_publish_retries_total",
            "Publish attempts that failed and were retried.",
            load(&stats.retries),
        ),
        (
            "douyu_collect_session_reconnects_total",
            "Room connections lost or refused, each followed by a reconnect.",
            load(&stats.session_reconnects),
        ),
        (
            "douyu_collect_nats_reconnects_total",
            "Connections to NATS made again after it was lost.",
            load(&stats.nats_reconnects),
        ),
        (
            "douyu_collect_leases_handed_over_total",
            "Room leases handed over to another collector (a newcomer's share).",
            load(&stats.leases_handed_over),
        ),
        (
            "douyu_collect_leases_released_total",
            "Room leases given back at shutdown.",
            load(&stats.leases_released),
        ),
    ];
    for (name, help, value) in counters {
        out.single(name, Kind::Counter, help, value);
    }
    out.family(
        "douyu_collect_leases_taken_total",
        Kind::Counter,
        "Room leases taken: \"free\" (nobody held it: at start, or a dead collector's expired lease), \"offered\" (handed over by another collector).",
    );
    out.sample(
        "douyu_collect_leases_taken_total",
        &[("via", "free")],
        load(&stats.leases_taken_free),
    );
    out.sample(
        "douyu_collect_leases_taken_total",
        &[("via", "offered")],
        load(&stats.leases_taken_offered),
    );
    out.histogram(
        "douyu_collect_publish_ack_seconds",
        "Time from sending a publish to JetStream's ack (of the attempt that succeeded).",
        &stats.ack_latency,
    );
    http.render(&mut out, "douyu_collect");
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn every_family_has_help_and_type_and_gap_is_no_core_type() {
        let stats = Stats::default();
        assert!(!stats.published_by_type.knows("gap"));
        stats.ack_latency.observe(Duration::from_millis(2));
        stats.published_gaps.fetch_add(1, Ordering::Relaxed);
        let text = render(&stats, 7, &HttpCounters::default());
        assert!(text.contains("\ndouyu_collect_rooms 7\n"), "{text}");
        assert!(text.contains("douyu_collect_messages_published_total{type=\"gap\"} 1\n"));
        assert!(text.contains("douyu_collect_publish_ack_seconds_bucket{le=\"0.0025\"} 1\n"));
        let mut help = 0;
        let mut types = 0;
        for line in text.lines() {
            if line.starts_with("# HELP douyu_collect_") {
                help += 1;
            } else if line.starts_with("# TYPE douyu_collect_") {
                types += 1;
            }
        }
        assert_eq!(help, types);
        assert!(types >= 20, "{types}");
    }
}
