//! Rates a peer must not exceed: log lines it can provoke ([`Throttle`]),
//! and events the server allows at a rate after a burst ([`Bucket`]).
//!
//! A hostile peer can make the server or a watcher fail the same way
//! thousands of times a second (garbage frames, refused connections,
//! reconnects). Logging each one turns an attack on the protocol into an
//! attack on the disk: a [`Throttle`] lets a few lines through per interval
//! and counts the rest, so the next line that passes can say how many were
//! held back.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Lets `burst` events through per `interval` and counts the others.
#[derive(Debug)]
pub struct Throttle {
    burst: u32,
    interval: Duration,
    state: Mutex<Window>,
}

#[derive(Debug)]
struct Window {
    started: Option<Instant>,
    passed: u32,
    suppressed: u64,
}

impl Throttle {
    /// At most `burst` events pass in any one `interval`.
    pub const fn new(burst: u32, interval: Duration) -> Self {
        Self {
            burst,
            interval,
            state: Mutex::new(Window {
                started: None,
                passed: 0,
                suppressed: 0,
            }),
        }
    }

    /// Whether this event should be logged. `Some(n)`: log it, and say that
    /// `n` events were held back since the last one that passed; `None`:
    /// stay quiet (it is counted).
    pub fn check(&self) -> Option<u64> {
        self.check_at(Instant::now())
    }

    /// Whether this event should be logged; when lines were held back
    /// since the last one that passed, says how many first (as `what`).
    pub fn allow(&self, what: &str) -> bool {
        match self.check() {
            Some(0) => true,
            Some(held) => {
                tracing::warn!(held, "{what}: lines held back");
                true
            }
            None => false,
        }
    }

    fn check_at(&self, now: Instant) -> Option<u64> {
        let mut w = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if w.started
            .is_none_or(|started| now.duration_since(started) >= self.interval)
        {
            w.started = Some(now);
            w.passed = 0;
        }
        if w.passed < self.burst {
            w.passed += 1;
            Some(std::mem::take(&mut w.suppressed))
        } else {
            w.suppressed += 1;
            None
        }
    }
}

/// A token bucket kept as one instant (GCRA): events at `rate` a second
/// after a burst of `burst`. It holds no tokens to refill: it is full again
/// at `full_at`, and an event is allowed while that is at most a burst's
/// worth of intervals ahead.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bucket {
    full_at: Option<Instant>,
}

impl Bucket {
    /// Takes a token at `now` if one is left of a bucket of `burst` that
    /// refills `rate` a second; `rate` 0 is no limit.
    pub fn take(&mut self, now: Instant, rate: u32, burst: u32) -> bool {
        if rate == 0 {
            return true;
        }
        let interval = Duration::from_secs(1) / rate;
        let due = self.full_at.map_or(now, |at| at.max(now));
        if due.saturating_duration_since(now) > interval * burst.saturating_sub(1) {
            return false;
        }
        self.full_at = Some(due + interval);
        true
    }

    /// Whether the bucket is full at `now`: forgetting it then loses
    /// nothing.
    pub fn is_full(&self, now: Instant) -> bool {
        self.full_at.is_none_or(|at| at <= now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_lets_a_burst_through_then_the_rate() {
        let mut bucket = Bucket::default();
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        assert!(bucket.is_full(at(0)));
        assert!((0..3).all(|_| bucket.take(at(0), 10, 3)));
        assert!(!bucket.take(at(0), 10, 3));
        assert!(!bucket.is_full(at(250)));
        assert!(bucket.take(at(100), 10, 3));
        assert!(!bucket.take(at(150), 10, 3));
        assert!(bucket.is_full(at(400)));
        assert!(
            (0..100).all(|_| bucket.take(at(0), 0, 1)),
            "rate 0: no limit"
        );
    }

    #[test]
    fn a_burst_passes_then_the_rest_is_counted_until_the_next_interval() {
        let t = Throttle::new(2, Duration::from_secs(1));
        let t0 = Instant::now();
        assert_eq!(t.check_at(t0), Some(0));
        assert_eq!(t.check_at(t0), Some(0));
        for _ in 0..5 {
            assert_eq!(t.check_at(t0 + Duration::from_millis(500)), None);
        }
        assert_eq!(t.check_at(t0 + Duration::from_millis(1000)), Some(5));
        assert_eq!(t.check_at(t0 + Duration::from_millis(1001)), Some(0));
        assert_eq!(t.check_at(t0 + Duration::from_millis(1002)), None);
    }
}
