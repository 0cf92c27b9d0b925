//! Time and stopping, as the tokio tasks and the sans-IO sessions share them.

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
