//! The Prometheus text exposition (format 0.0.4) that `/metrics` serves,
//! for `douyu overlay` and `douyu collect`: one writer, and the few metric
//! kinds they keep (counters by message type, latency histograms).
//!
//! Every series is fixed in number whatever the network sends: a message
//! type is a label only if core's schema knows it; any other counts as
//! `other`.

use std::fmt::{Display, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use douyu_core::message::ServerMessage;
use douyu_core::schema;

/// The `Content-Type` of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What a metric family is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (until a restart).
    Counter,
    /// Goes up and down.
    Gauge,
    /// Observations counted in cumulative buckets, with their sum.
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

/// The text being written: each family's `# HELP` and `# TYPE`, then its
/// samples.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    /// Nothing written yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts the family `name`: its help line (escaped as the format
    /// wants) and its type.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let help = help.replace('\\', r"\\").replace('\n', r"\n");
        let _ = writeln!(
            self.out,
            "# HELP {name} {help}\n# TYPE {name} {}",
            kind.as_str()
        );
    }

    /// One sample of `name` with `labels` (values escaped).
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Display) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (label, text)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{label}=\"");
                for c in text.chars() {
                    match c {
                        '\\' => self.out.push_str(r"\\"),
                        '"' => self.out.push_str("\\\""),
                        '\n' => self.out.push_str(r"\n"),
                        c => self.out.push(c),
                    }
                }
                self.out.push('"');
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }

    /// A family of one unlabelled sample.
    pub fn single(&mut self, name: &str, kind: Kind, help: &str, value: impl Display) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }

    /// The family `name` of `histogram`: its cumulative buckets, sum
    /// (seconds) and count.
    pub fn histogram(&mut self, name: &str, help: &str, histogram: &Histogram) {
        self.family(name, Kind::Histogram, help);
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0;
        for (bound, count) in histogram.bounds.iter().zip(&histogram.counts) {
            cumulative += count.load(Ordering::Relaxed);
            self.sample(&bucket, &[("le", &bound.to_string())], cumulative);
        }
        // Loaded last: never less than the buckets' total, which a scrape
        // racing with an observation could otherwise see.
        let count = histogram.count.load(Ordering::Relaxed).max(cumulative);
        self.sample(&bucket, &[("le", "+Inf")], count);
        let sum = histogram.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        self.sample(&format!("{name}_sum"), &[], sum);
        self.sample(&format!("{name}_count"), &[], count);
    }

    /// The text.
    #[must_use]
    pub fn finish(self) -> String {
        self.out
    }
}

/// A counter per server message type core's schema knows, and one for
/// all others.
#[derive(Debug)]
pub struct TypeCounters {
    known: Vec<(&'static str, AtomicU64)>,
    other: AtomicU64,
}

impl Default for TypeCounters {
    fn default() -> Self {
        Self::new()
    }
}

impl TypeCounters {
    /// All at zero.
    #[must_use]
    pub fn new() -> Self {
        let known = schema::SERVER
            .iter()
            .flat_map(|message| message.types.iter())
            .map(|kind| (*kind, AtomicU64::new(0)))
            .collect();
        Self {
            known,
            other: AtomicU64::new(0),
        }
    }

    /// The slot of type `kind` (any index past the known types is
    /// `other`): what [`add`](Self::add) takes.
    #[must_use]
    pub fn slot(&self, kind: Option<&str>) -> usize {
        kind.and_then(|kind| self.known.iter().position(|(known, _)| *known == kind))
            .unwrap_or(self.known.len())
    }

    /// The slot of `message`'s type.
    #[must_use]
    pub fn slot_of(&self, message: &ServerMessage<'_>) -> usize {
        let kind = message.map().message_type().ok().flatten();
        kind.and_then(|kind| self.known.iter().position(|(known, _)| kind == *known))
            .unwrap_or(self.known.len())
    }

    /// Adds one to `slot`.
    pub fn add(&self, slot: usize) {
        let counter = self.known.get(slot).map_or(&self.other, |(_, c)| c);
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts `message` under its type.
    pub fn count(&self, message: &ServerMessage<'_>) {
        self.add(self.slot_of(message));
    }

    /// The samples of `name`, labelled `type` (`other` last). The family
    /// must have been started.
    pub fn render(&self, out: &mut Exposition, name: &str) {
        for (kind, counter) in &self.known {
            out.sample(name, &[("type", kind)], counter.load(Ordering::Relaxed));
        }
        out.sample(
            name,
            &[("type", "other")],
            self.other.load(Ordering::Relaxed),
        );
    }

    /// Whether core knows a server type named `kind`.
    #[must_use]
    pub fn knows(&self, kind: &str) -> bool {
        self.known.iter().any(|(known, _)| *known == kind)
    }
}

/// Durations counted in fixed buckets (upper bounds in seconds), with
/// their sum at microsecond resolution.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    count: AtomicU64,
    sum_us: AtomicU64,
}

/// Buckets for a network round trip on a LAN: 0.5 ms to 10 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

impl Default for Histogram {
    /// Empty, with [`LATENCY_BUCKETS`].
    fn default() -> Self {
        Self::new(LATENCY_BUCKETS)
    }
}

impl Histogram {
    /// Empty, with buckets up to each of `bounds` (ascending) and `+Inf`.
    #[must_use]
    pub fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_us: AtomicU64::new(0),
        }
    }

    /// Counts one observation of `took`.
    pub fn observe(&self, took: Duration) {
        let seconds = took.as_secs_f64();
        if let Some(i) = self.bounds.iter().position(|&bound| seconds <= bound) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        self.sum_us.fetch_add(
            u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        self.count.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_samples_and_escapes() {
        let mut out = Exposition::new();
        out.single("a_up", Kind::Gauge, "Up.\nReally \\ up.", 1);
        out.family("b_total", Kind::Counter, "B.");
        out.sample("b_total", &[("x", "q\"\\\n"), ("y", "z")], 2);
        assert_eq!(
            out.finish(),
            "# HELP a_up Up.\\nReally \\\\ up.\n# TYPE a_up gauge\na_up 1\n\
             # HELP b_total B.\n# TYPE b_total counter\n\
             b_total{x=\"q\\\"\\\\\\n\",y=\"z\"} 2\n"
        );
    }

    #[test]
    fn histograms_are_cumulative() {
        let histogram = Histogram::new(&[0.001, 0.1]);
        for ms in [0, 1, 50, 3000] {
            histogram.observe(Duration::from_millis(ms));
        }
        let mut out = Exposition::new();
        out.histogram("t_seconds", "T.", &histogram);
        let text = out.finish();
        for line in [
            "t_seconds_bucket{le=\"0.001\"} 2\n",
            "t_seconds_bucket{le=\"0.1\"} 3\n",
            "t_seconds_bucket{le=\"+Inf\"} 4\n",
            "t_seconds_sum 3.051\n",
            "t_seconds_count 4\n",
        ] {
            assert!(text.contains(line), "{line:?} not in {text}");
        }
    }

    #[test]
    fn unknown_types_are_other() {
        let counters = TypeCounters::new();
        counters.count(&ServerMessage::parse("type@=chatmsg/").unwrap());
        counters.count(&ServerMessage::parse("type@=x\"y/").unwrap());
        counters.count(&ServerMessage::parse("a@=b/").unwrap());
        let mut out = Exposition::new();
        out.family("m_total", Kind::Counter, "M.");
        counters.render(&mut out, "m_total");
        let text = out.finish();
        assert!(text.contains("m_total{type=\"chatmsg\"} 1\n"), "{text}");
        assert!(text.contains("m_total{type=\"other\"} 2\n"), "{text}");
    }
}
