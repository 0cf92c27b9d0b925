//! Time and stopping, as the tokio tasks and the sans-IO sessions share them.

use std::fmt::Write as _;
use std::time::Duration;

use douyu_core::session::Instant;
use tokio::sync::watch;

/// A clock for the sessions: milliseconds since the process started.
///
/// It reads tokio's clock, so that tests with paused time drive sessions too.
#[derive(Debug, Clone, Copy)]
pub struct Clock(tokio::time::Instant);

impl Clock {
    /// A clock starting now.
    pub fn start() -> Self {
        Self(tokio::time::Instant::now())
    }

    /// The session instant for now.
    pub fn now(&self) -> Instant {
        Instant::from_millis(self.0.elapsed().as_millis() as u64)
    }

    /// The tokio instant at which the session instant `at` falls.
    pub fn to_tokio(&self, at: Instant) -> tokio::time::Instant {
        self.0 + Duration::from_millis(at.as_millis())
    }
}

/// Resolves once `stop` is true (at once if it already is).
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An error means the sender is gone: nobody can ask to stop any more.
    if stop.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Wall-clock time now, in milliseconds since the Unix epoch.
#[must_use]
pub fn wall_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

fn timestamp(ms: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_millisecond(ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

/// `ms` (since the Unix epoch) as RFC 3339 in UTC with milliseconds:
/// `2026-11-30T17:55:01.123Z`, the `received_at` of the JSON output.
#[must_use]
pub fn rfc3339_ms(ms: i64) -> String {
    // Messages read together share their second: its text is made once
    // (per thread) and the milliseconds appended.
    thread_local! {
        static SECOND: std::cell::RefCell<(i64, String)> =
            const { std::cell::RefCell::new((i64::MIN, String::new())) };
    }
    let (second, milli) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    if jiff::Timestamp::from_second(second).is_err() {
        return timestamp(ms).strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    }
    SECOND.with_borrow_mut(|(cached, text)| {
        if *cached != second {
            *text = timestamp(second * 1000)
                .strftime("%Y-%m-%dT%H:%M:%S")
                .to_string();
            *cached = second;
        }
        let mut out = String::with_capacity(text.len() + 5);
        out.push_str(text);
        let _ = write!(out, ".{milli:03}Z");
        out
    })
}

/// `ms` as the time of day `HH:MM:SS`, in the local time zone or in UTC.
#[must_use]
pub fn time_of_day(ms: i64, utc: bool) -> String {
    let ts = timestamp(ms);
    if utc {
        return ts.strftime("%H:%M:%S").to_string();
    }
    static LOCAL: std::sync::OnceLock<jiff::tz::TimeZone> = std::sync::OnceLock::new();
    let zone =
        LOCAL.get_or_init(|| jiff::tz::TimeZone::try_system().unwrap_or(jiff::tz::TimeZone::UTC));
    ts.to_zoned_datetime(zone.clone())
        .strftime("%H:%M:%S")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(rfc3339_ms(1_764_525_301_123), "2025-11-30T17:55:01.123Z");
        assert_eq!(time_of_day(1_764_525_301_123, true), "17:55:01");
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn a_cached_second_gives_the_text_jiff_gives() {
        // Back and forth across seconds (and before the epoch), so that a
        // stale cached second would show.
        for ms in [
            1_764_525_301_999,
            1_764_525_301_000,
            1_764_525_302_000,
            1_764_525_301_500,
            -1,
            -1_000,
            -1_001,
            0,
            i64::MAX,
            i64::MIN,
        ] {
            let direct = timestamp(ms).strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
            assert_eq!(rfc3339_ms(ms), direct, "{ms}");
        }
    }
}
