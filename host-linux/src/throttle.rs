//! Log lines that a peer can provoke, kept to a few a second.
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

#[cfg(test)]
mod tests {
    use super::*;

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
