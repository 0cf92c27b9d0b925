//! Sans-IO sessions: the rules of PROTOCOL.md §4 as state machines.
//!
//! A session does no IO and reads no clock. The host hands it bytes (or
//! frames) and the time, and asks it what to send ([`Client::poll_transmit`]),
//! what happened ([`Client::poll_event`]) and when to wake it next
//! ([`Client::poll_timeout`], then [`Client::handle_timeout`]). The same
//! session serves TCP and WebSocket: only the host knows how bytes travel.
//!
//! - [`Client`]: log in, join the room's group, heartbeat, detect a dead
//!   link, log out. [`Connection`] and [`AsyncConnection`] drive one over
//!   an `embedded-io` transport, for hosts that need no other loop.
//! - [`ServerSession`]: one per connected client of this project's server:
//!   answer logins and heartbeats, admit clients to a room's broadcast, turn
//!   their chat requests into broadcasts, drop the silent and the malformed.
//!   The rooms themselves (who is in which, which nicknames are taken) are the
//!   host's, behind the small [`Registry`] trait, because a server that holds
//!   any number of rooms needs growable maps.

mod client;
mod driver;
mod server;

use core::fmt;
use core::ops::Add;
use core::time::Duration;

pub use client::{CHAT_QUEUE, Client, ClientConfig, ClientEvent, Login, TRANSMIT_MAX};
pub use driver::{AsyncConnection, Connection, DriverError};
pub use server::{
    ChatLimit, Member, Refusal, Registry, Relay, ServerConfig, ServerEvent, ServerSession,
    error_code, is_visitor_name, nickname_is_acceptable, visitor_name,
};

use crate::frame::{Direction, FrameError, encode_with};
use crate::stream::StreamError;
use crate::stt::{MapWriter, SttError};

/// Time between a client's heartbeats: the service expects a `mrkl` every
/// 45 s (PROTOCOL.md §4), and drops a client silent for much longer.
pub const HEARTBEAT: Duration = Duration::from_secs(45);

/// The silence after which a link counts as dead when heartbeats go every
/// `heartbeat`: two intervals (PROTOCOL.md §4), so one heartbeat or reply
/// lost or late is not yet a death. Both sides use it: the client for the
/// server's silence ([`ClientConfig::dead_after`]), this project's server
/// for a client's ([`ServerConfig::heartbeat_window`]).
#[must_use]
pub const fn dead_window(heartbeat: Duration) -> Duration {
    heartbeat.saturating_mul(2)
}

/// The dead window of the expected heartbeat, [`dead_window`] of
/// [`HEARTBEAT`]: 90 s.
pub const DEAD_AFTER: Duration = dead_window(HEARTBEAT);

/// The longest frame a session writes on its own: all that
/// [`Client::poll_transmit`], [`ServerSession::poll_transmit`],
/// [`ServerSession::encode_enter`] and [`ServerSession::encode_leave`]
/// write fits a buffer of this size. (A client's chat lines fit
/// [`TRANSMIT_MAX`]; the chat lines a server relays and its `whores` lists
/// carry what they are given, and are sized by the caller.)
pub const REPLY_MAX: usize = 512;

/// Longest nickname a session stores, in bytes (16 CJK characters).
pub const NICKNAME_MAX: usize = 48;

/// A nickname, held inline; its length fits a byte, which keeps every
/// session (a server holds one per connection) seven bytes smaller.
pub type Nickname = heapless::String<NICKNAME_MAX, u8>;

/// A point in monotonic time, in milliseconds from an origin the host picks.
///
/// Sessions only compare instants and add durations to them; the host
/// converts its clock (`std::time::Instant`, a hardware timer) to this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Instant {
    millis: u64,
}

impl Instant {
    /// The instant `millis` milliseconds after the origin.
    #[must_use]
    pub const fn from_millis(millis: u64) -> Self {
        Self { millis }
    }

    /// Milliseconds since the origin.
    #[must_use]
    pub const fn as_millis(self) -> u64 {
        self.millis
    }

    /// Time from `earlier` to `self`, zero if `earlier` is later.
    #[must_use]
    pub const fn saturating_since(self, earlier: Self) -> Duration {
        // `Duration::from_millis` divides the `u64` by 1000: see `div_rem`.
        let (secs, millis) = div_rem::<1000>(self.millis.saturating_sub(earlier.millis));
        Duration::from_secs(secs).saturating_add(Duration::from_millis(millis as u64))
    }
}

/// `n / D` and `n % D` by 32-bit divisions, 16 bits of `n` at a time (a
/// remainder below `D` and 16 more bits fit 32 bits). On a 32-bit core a
/// 64-bit division is a library routine of about 900 B, which a device
/// would otherwise link for these few divisions by small constants.
pub(crate) const fn div_rem<const D: u32>(n: u64) -> (u64, u32) {
    const { assert!(D > 0 && D <= 1 << 16) };
    let (mut quotient, mut rem, mut shift) = (0u64, 0u32, 64);
    while shift > 0 {
        shift -= 16;
        let part = (rem << 16) | ((n >> shift) as u32 & 0xffff);
        quotient = (quotient << 16) | (part / D) as u64;
        rem = part % D;
    }
    (quotient, rem)
}

impl Add<Duration> for Instant {
    type Output = Self;

    fn add(self, rhs: Duration) -> Self {
        // `rhs.as_millis()` saturated to 64 bits, without its 128-bit
        // arithmetic (long on a 32-bit core, and inlined at every addition).
        let ms = rhs
            .as_secs()
            .checked_mul(1000)
            .and_then(|ms| ms.checked_add(u64::from(rhs.subsec_millis())))
            .unwrap_or(u64::MAX);
        Self {
            millis: self.millis.saturating_add(ms),
        }
    }
}

/// Errors of the session layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SessionError {
    /// A frame could not be read.
    Stream(StreamError),
    /// A body could not be read.
    Stt(SttError),
    /// A frame carried the other direction's type field (or an unknown one).
    UnexpectedType {
        /// The type field found.
        found: Direction,
    },
    /// A message came at a point of the exchange where it makes no sense.
    OutOfOrder {
        /// The message's `type`.
        message: &'static str,
    },
    /// A required field is missing or unreadable.
    BadField {
        /// The field's key.
        field: &'static str,
    },
    /// The output buffer is too small for the message (the shape of
    /// [`FrameError::BufferFull`]).
    BufferFull {
        /// Bytes the frame needs at least; writing stopped where it ran out.
        needed: usize,
        /// Size of the buffer.
        capacity: usize,
    },
    /// The session is not (yet, or any more) in a state to do that.
    NotReady,
}

impl From<SttError> for SessionError {
    fn from(e: SttError) -> Self {
        match e {
            SttError::BufferFull { needed, capacity } => Self::BufferFull { needed, capacity },
            other => Self::Stt(other),
        }
    }
}

impl From<StreamError> for SessionError {
    fn from(e: StreamError) -> Self {
        Self::Stream(e)
    }
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Stream(e) => e.fmt(f),
            Self::Stt(e) => e.fmt(f),
            Self::UnexpectedType { found } => {
                write!(f, "unexpected frame type {}", found.to_u16())
            }
            Self::OutOfOrder { message } => write!(f, "`{message}` out of order"),
            Self::BadField { field } => write!(f, "missing or bad field `{field}`"),
            Self::BufferFull { needed, capacity } => {
                write!(
                    f,
                    "frame needs at least {needed} bytes, buffer has {capacity}"
                )
            }
            Self::NotReady => f.write_str("session not ready"),
        }
    }
}

/// The wrapped frame or STT error is the source, for reporters that walk
/// the chain to its type; `Display` already includes its message, so that
/// `{}` alone says everything where no reporter runs (a microcontroller's log).
impl core::error::Error for SessionError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Stream(e) => Some(e),
            Self::Stt(e) => Some(e),
            _ => None,
        }
    }
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum CloseReason {
    /// A `logout` was sent (client) or received (server).
    Logout,
    /// Nothing arrived for longer than the allowed window.
    Silent {
        /// How long the peer had been silent.
        silent_for: Duration,
    },
    /// The server ended the session with an `error` message.
    ServerError {
        /// Its `code`, when numeric.
        code: Option<i64>,
    },
    /// The server refused the login (nickname taken, bad room, …) with
    /// `type@=error/code@=…/`; see [`error_code`].
    Refused {
        /// The error code sent.
        code: i64,
    },
    /// The peer broke the protocol; the error says how.
    Protocol(SessionError),
    /// The host closed the session (shutdown, slow consumer, …).
    Local,
    /// The peer closed the connection, or it failed.
    Disconnected,
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Logout => f.write_str("logged out"),
            Self::Silent { silent_for } => write!(f, "silent for {} ms", silent_for.as_millis()),
            Self::ServerError { code: Some(code) } => write!(f, "server error {code}"),
            Self::ServerError { code: None } => f.write_str("server error"),
            Self::Refused { code } => write!(f, "refused with error {code}"),
            Self::Protocol(e) => write!(f, "protocol error: {e}"),
            Self::Local => f.write_str("closed locally"),
            Self::Disconnected => f.write_str("peer disconnected"),
        }
    }
}

/// Encodes a frame of the given direction whose body `build` writes.
fn encode<F>(out: &mut [u8], direction: Direction, build: F) -> Result<usize, SessionError>
where
    F: FnOnce(&mut MapWriter<'_, '_>) -> Result<(), SttError>,
{
    encode_with(out, direction, build).map_err(|e| match e {
        FrameError::BufferFull { needed, capacity } => {
            SessionError::BufferFull { needed, capacity }
        }
        FrameError::Body(e) => SessionError::Stt(e),
        // `encode_with` reports nothing else; kept whole rather than dropped.
        other => SessionError::Stream(StreamError {
            offset: 0,
            error: other,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::FrameError;
    use core::error::Error;

    #[test]
    fn wrapped_errors_are_the_source() {
        let stt = SttError::NulByte { offset: 2 };
        let e = SessionError::from(stt);
        assert_eq!(e.source().unwrap().downcast_ref::<SttError>(), Some(&stt));
        let stream = StreamError {
            offset: 0,
            error: FrameError::TooShort { length: 1 },
        };
        let e = SessionError::from(stream);
        assert_eq!(
            e.source().unwrap().downcast_ref::<StreamError>(),
            Some(&stream)
        );
        assert!(SessionError::NotReady.source().is_none());
    }

    #[test]
    fn division_by_halves_is_division() {
        let mut n = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..10_000 {
            n = n.rotate_left(7) ^ n.wrapping_mul(0x2545_f491_4f6c_dd1d);
            for m in [n, n >> 17, n >> 40, n & 0xffff] {
                assert_eq!(div_rem::<10>(m), (m / 10, (m % 10) as u32));
                assert_eq!(div_rem::<1000>(m), (m / 1000, (m % 1000) as u32));
                assert_eq!(div_rem::<65536>(m), (m >> 16, (m & 0xffff) as u32));
                assert_eq!(div_rem::<65521>(m), (m / 65521, (m % 65521) as u32));
            }
        }
        for m in [0, 9, 10, 999, 1000, u64::MAX, u64::MAX - 1] {
            assert_eq!(div_rem::<10>(m), (m / 10, (m % 10) as u32));
            assert_eq!(div_rem::<1000>(m), (m / 1000, (m % 1000) as u32));
            assert_eq!(div_rem::<1>(m), (m, 0));
        }
    }

    #[test]
    fn adding_a_duration_adds_its_whole_milliseconds() {
        let at = |ms| Instant::from_millis(ms);
        for (start, d, end) in [
            (0, Duration::ZERO, 0),
            (5, Duration::from_nanos(999_999), 5),
            (5, Duration::from_nanos(1_000_000), 6),
            (1, Duration::new(45, 999_999_999), 45_000 + 999 + 1),
            (
                7,
                Duration::from_secs(u64::MAX / 1000),
                u64::MAX / 1000 * 1000 + 7,
            ),
            (0, Duration::from_secs(u64::MAX / 1000 + 1), u64::MAX),
            (0, Duration::new(u64::MAX / 1000, 999_999_999), u64::MAX),
            (0, Duration::MAX, u64::MAX),
            (u64::MAX - 1, Duration::from_millis(5), u64::MAX),
        ] {
            let sum = at(start) + d;
            assert_eq!(sum, at(end), "{start} ms + {d:?}");
            let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
            assert_eq!(sum, at(start.saturating_add(ms)), "{start} ms + {d:?}");
        }
    }

    #[test]
    fn time_since_is_from_millis() {
        for (later, earlier) in [
            (0, 0),
            (5, 9),
            (1_999, 0),
            (90_001, 1),
            (u64::MAX, 0),
            (u64::MAX, 7),
        ] {
            assert_eq!(
                Instant::from_millis(later).saturating_since(Instant::from_millis(earlier)),
                Duration::from_millis(later.saturating_sub(earlier))
            );
        }
    }

    #[test]
    fn a_full_buffer_keeps_its_shape_across_layers() {
        let e = SessionError::from(SttError::BufferFull {
            needed: 30,
            capacity: 20,
        });
        assert_eq!(
            e,
            SessionError::BufferFull {
                needed: 30,
                capacity: 20
            }
        );
        assert!(e.source().is_none());
    }
}
