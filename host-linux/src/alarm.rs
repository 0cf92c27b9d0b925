//! Every connection's deadline and the shutdown signal, kept by one task.
//!
//! A connection's task could hold its own timer (`tokio::time::Sleep`, 112
//! bytes) and its own shutdown waiter (160 bytes) for its whole life; with
//! thousands of idle connections that was a quarter of what each cost.
//! Instead each holds an [`Alarm`]: a small shared cell with its next
//! deadline and a waker. One sweeping task looks at every deadline a few
//! times a second and rings the alarms that are due, and rings them all when
//! the server stops. A deadline is thus kept to within [`TICK`], which is
//! plenty for heartbeat windows of seconds.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use douyu_core::session::Instant;
use futures_util::task::AtomicWaker;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use crate::time::{Clock, stopped};

/// How often the sweeper looks at the deadlines.
pub const TICK: Duration = Duration::from_millis(100);

/// No deadline.
const NEVER: u64 = u64::MAX;

/// The alarms of every open connection, and whether the server is stopping.
#[derive(Debug)]
pub struct Alarms {
    alarms: Mutex<Vec<Arc<Alarm>>>,
    stopping: AtomicBool,
    clock: Clock,
}

impl Alarms {
    /// No alarm yet; deadlines are read on `clock`.
    pub fn new(clock: Clock) -> Self {
        Self {
            alarms: Mutex::new(Vec::new()),
            stopping: AtomicBool::new(false),
            clock,
        }
    }

    /// An alarm for a new connection, rung at once if the server is stopping.
    /// It is forgotten when the connection drops it.
    pub fn register(&self) -> Arc<Alarm> {
        let alarm = Arc::new(Alarm {
            deadline: AtomicU64::new(NEVER),
            rung: AtomicBool::new(false),
            waker: AtomicWaker::new(),
        });
        self.lock().push(alarm.clone());
        if self.is_stopping() {
            alarm.ring();
        }
        alarm
    }

    /// Whether the server is stopping: a rung alarm then means "close".
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Rings the alarms that fall due, every [`TICK`], until `shutdown`
    /// turns true; then rings them all and returns.
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => self.sweep(Some(self.clock.now())),
                () = stopped(&mut shutdown) => break,
            }
        }
        self.stopping.store(true, Ordering::Release);
        self.sweep(None);
    }

    /// Rings every alarm due at `now` (all of them for `None`) and forgets
    /// the alarms of closed connections.
    fn sweep(&self, now: Option<Instant>) {
        let now = now.map_or(NEVER, Instant::as_millis);
        let mut alarms = self.lock();
        alarms.retain(|alarm| Arc::strong_count(alarm) > 1);
        for alarm in alarms.iter() {
            if alarm.deadline.load(Ordering::Relaxed) <= now {
                alarm.ring();
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Alarm>>> {
        self.alarms
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One connection's deadline, and the waker of its task.
#[derive(Debug)]
pub struct Alarm {
    /// Milliseconds on the sessions' clock, or [`NEVER`].
    deadline: AtomicU64,
    rung: AtomicBool,
    waker: AtomicWaker,
}

impl Alarm {
    /// Sets the deadline (`None`: no deadline).
    pub fn set(&self, at: Option<Instant>) {
        self.deadline
            .store(at.map_or(NEVER, Instant::as_millis), Ordering::Relaxed);
    }

    /// Ready once the alarm rang (the deadline passed, or the server is
    /// stopping) since the last time it was; else wakes `cx` when it rings.
    /// A poll, not a future, so that waiting on it costs an idle
    /// connection's task nothing.
    pub fn poll_rung(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.take() {
            return Poll::Ready(());
        }
        self.waker.register(cx.waker());
        // A ring between the check and the registration would be missed.
        if self.take() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    fn ring(&self) {
        self.rung.store(true, Ordering::Release);
        self.waker.wake();
    }

    fn take(&self) -> bool {
        self.rung.swap(false, Ordering::AcqRel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn rung(alarm: &Alarm) {
        std::future::poll_fn(|cx| alarm.poll_rung(cx)).await;
    }

    #[tokio::test(start_paused = true)]
    async fn due_alarms_ring_and_all_ring_at_shutdown() {
        let clock = Clock::start();
        let alarms = Arc::new(Alarms::new(clock));
        let (stop, shutdown) = watch::channel(false);
        let sweeper = tokio::spawn({
            let alarms = alarms.clone();
            async move { alarms.run(shutdown).await }
        });
        let soon = alarms.register();
        let never = alarms.register();
        soon.set(Some(Instant::from_millis(clock.now().as_millis() + 250)));
        let rang = tokio::time::timeout(Duration::from_secs(1), rung(&soon)).await;
        assert!(rang.is_ok(), "a due alarm rings");
        assert!(clock.now().as_millis() >= 250);
        let quiet = tokio::time::timeout(Duration::from_secs(5), rung(&never)).await;
        assert!(quiet.is_err(), "an alarm without deadline stays quiet");
        assert!(!alarms.is_stopping());
        stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(1), rung(&never))
            .await
            .expect("shutdown rings every alarm");
        assert!(alarms.is_stopping());
        sweeper.await.unwrap();
        let late = alarms.register();
        tokio::time::timeout(Duration::from_millis(1), rung(&late))
            .await
            .expect("an alarm made while stopping is rung at once");
    }

    #[tokio::test(start_paused = true)]
    async fn dropped_alarms_are_forgotten() {
        let alarms = Alarms::new(Clock::start());
        let kept = alarms.register();
        drop(alarms.register());
        alarms.sweep(None);
        assert_eq!(alarms.lock().len(), 1);
        drop(kept);
        alarms.sweep(None);
        assert!(alarms.lock().is_empty());
    }
}
