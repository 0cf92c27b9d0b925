//! `douyu.Client`: the core's client session, owning its receive buffer.
//!
//! Time is the caller's: every call that needs it takes `now`, in seconds
//! of the caller's monotonic clock (`time.monotonic()` when omitted), and
//! `timeout()` answers in the same clock.

use core::time::Duration;

use douyu_core::session::{
    Client as CoreClient, ClientConfig, ClientEvent, CloseReason, Instant, Login, SessionError,
    TRANSMIT_MAX,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors;
use crate::views::Message;
use crate::{Input, buffer};

/// The core's client borrows its receive buffer; a Python object must own both.
#[ouroboros::self_referencing]
struct Session {
    buf: Box<[u8]>,
    #[borrows(mut buf)]
    #[covariant]
    client: CoreClient<'this>,
}

/// An event copied out of the receive buffer it borrowed from.
enum Event {
    LoggedIn(Box<str>),
    Joined(u64),
    Message(Box<str>),
    ServerError(Option<i64>),
    Invalid(SessionError),
    Dead(Duration),
    Closed(CloseReason),
    /// An event this host does not know (the core's enum may grow).
    Unknown,
}

impl Event {
    fn of(event: ClientEvent<'_>) -> Self {
        match event {
            ClientEvent::LoggedIn(res) => Self::LoggedIn(res.map.raw().into()),
            ClientEvent::Joined { room } => Self::Joined(room),
            ClientEvent::Message(message) => Self::Message(message.map().raw().into()),
            ClientEvent::ServerError { code } => Self::ServerError(code),
            ClientEvent::Invalid(e) => Self::Invalid(e),
            ClientEvent::Dead { silent_for } => Self::Dead(silent_for),
            ClientEvent::Closed(reason) => Self::Closed(reason),
            _ => Self::Unknown,
        }
    }
}

/// Seconds of the caller's clock as the core's instant (milliseconds).
fn instant(py: Python<'_>, now: Option<f64>) -> PyResult<Instant> {
    let now = match now {
        Some(now) => now,
        None => py
            .import("time")?
            .getattr("monotonic")?
            .call0()?
            .extract()?,
    };
    if !now.is_finite() || now < 0.0 {
        return Err(PyValueError::new_err(format!(
            "now must be a finite, non-negative number of seconds, not {now}"
        )));
    }
    // Rounded, not truncated: a host that sleeps until `timeout()` and
    // passes the clock's reading must not land a fraction of a millisecond
    // before the deadline it was given. (`as` saturates.)
    Ok(Instant::from_millis((now * 1000.0).round() as u64))
}

fn seconds(instant: Instant) -> f64 {
    instant.as_millis() as f64 / 1000.0
}

/// The reason a session closed: its kind, the error code if any.
fn close_reason(reason: CloseReason) -> (&'static str, Option<i64>) {
    match reason {
        CloseReason::Logout => ("logout", None),
        CloseReason::Silent { .. } => ("silent", None),
        CloseReason::ServerError { code } => ("server_error", code),
        CloseReason::Refused { code } => ("refused", Some(code)),
        CloseReason::Protocol(_) => ("protocol", None),
        CloseReason::Local => ("local", None),
        CloseReason::Disconnected => ("disconnected", None),
        _ => ("other", None),
    }
}

/// A client session over one connection (sans-IO, in the manner of h11):
/// `receive_data()` what the server sent, send what `data_to_send()` gives,
/// read `next_event()` until `None`, and call `handle_timeout()` at
/// `timeout()`. The login is queued when the client is made.
#[pyclass(module = "douyu", name = "Client")]
pub(crate) struct Client {
    session: Session,
    input: Input,
    /// When the bytes in `input` arrived.
    received_at: Instant,
    /// `receive_data(b"")` was called: the peer closed the connection.
    eof: bool,
    /// A `Closed` event was returned; there will be no other.
    closed: bool,
}

#[pymethods]
impl Client {
    /// A session watching `room`, logging in at `now`.
    ///
    /// `username` is the nickname to ask for; `heartbeat` the seconds
    /// between heartbeats (the core's default otherwise, with the dead
    /// window that goes with it); `max_frame` the receive buffer, the
    /// largest frame accepted; `web_uid` selects the web player's visitor
    /// login with that id instead of the documented TCP login.
    #[new]
    #[pyo3(signature = (room, *, now = None, username = None, heartbeat = None,
                        max_frame = douyu_core::stream::DEFAULT_CAPACITY, web_uid = None))]
    fn py_new(
        py: Python<'_>,
        room: u64,
        now: Option<f64>,
        username: Option<&str>,
        heartbeat: Option<f64>,
        max_frame: usize,
        web_uid: Option<u64>,
    ) -> PyResult<Self> {
        let mut config = ClientConfig::new(room);
        if let Some(heartbeat) = heartbeat {
            let heartbeat = Duration::try_from_secs_f64(heartbeat)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| PyValueError::new_err("heartbeat must be a positive number"))?;
            config = config.with_heartbeat(heartbeat);
        }
        if let Some(uid) = web_uid {
            config.login = Login::Web { uid };
        }
        if let Some(name) = username {
            config
                .set_username(name)
                .map_err(|e| PyValueError::new_err(format!("username: {e}")))?;
        }
        let now = instant(py, now)?;
        let buf = buffer(max_frame)?;
        Ok(Self {
            session: Session::new(buf, |buf| CoreClient::new(config, buf, now)),
            input: Input::default(),
            received_at: now,
            eof: false,
            closed: false,
        })
    }

    /// Takes bytes received from the server at `now`; `b""` means the
    /// server closed the connection.
    #[pyo3(signature = (data, now = None))]
    fn receive_data(
        &mut self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        now: Option<f64>,
    ) -> PyResult<()> {
        let now = instant(py, now)?;
        if self.closed {
            // The session is over; what else arrives is not kept.
            return Ok(());
        }
        if self.input.push(data)? == 0 {
            self.eof = true;
            return Ok(());
        }
        self.received_at = now;
        let Self { session, input, .. } = self;
        input.offer(|bytes| session.with_client_mut(|c| c.handle_input(now, bytes)));
        Ok(())
    }

    /// The bytes to send to the server now (`b""` when there are none).
    fn data_to_send<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let mut out = Vec::new();
        if self.closed {
            return Ok(PyBytes::new(py, &out));
        }
        loop {
            // Each frame is encoded in place at the end of `out`, in room
            // for the largest the session writes.
            let start = out.len();
            out.resize(start + TRANSMIT_MAX, 0);
            let written = self
                .session
                .with_client_mut(|c| c.poll_transmit(&mut out[start..]));
            match written {
                Ok(Some(n)) => out.truncate(start + n),
                Ok(None) => {
                    out.truncate(start);
                    return Ok(PyBytes::new(py, &out));
                }
                Err(e) => return Err(errors::local(e).into_err(py)),
            }
        }
    }

    /// The next event, or `None`: a `douyu.Message` for each message from
    /// the server, else one of `LoggedIn`, `Joined`, `ServerError`, `Dead`,
    /// `Closed`. Raises a `douyu.DecodeError` for input that could not be
    /// read; the session goes on after it unless a `Closed` follows.
    fn next_event<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        loop {
            if self.closed {
                return Ok(None);
            }
            let event = self
                .session
                .with_client_mut(|c| c.poll_event().map(Event::of));
            let Some(event) = event else {
                let Self {
                    session,
                    input,
                    received_at,
                    ..
                } = self;
                let at = *received_at;
                if input.offer(|bytes| session.with_client_mut(|c| c.handle_input(at, bytes))) > 0 {
                    continue;
                }
                if self.eof {
                    self.closed = true;
                    return make(
                        py,
                        "Closed",
                        ("disconnected", None::<i64>, "peer disconnected"),
                    )
                    .map(Some);
                }
                return Ok(None);
            };
            let made = match event {
                Event::LoggedIn(body) => {
                    let message = Message::new(py, 690, body, None)?;
                    make(py, "LoggedIn", (message,))
                }
                Event::Joined(room) => make(py, "Joined", (room,)),
                Event::Message(body) => Ok(Message::new(py, 690, body, None)?.into_any()),
                Event::ServerError(code) => make(py, "ServerError", (code,)),
                Event::Invalid(e) => Err(errors::peer(e).into_err(py)),
                Event::Dead(silent_for) => make(py, "Dead", (silent_for.as_secs_f64(),)),
                Event::Closed(reason) => {
                    self.closed = true;
                    let (kind, code) = close_reason(reason);
                    make(py, "Closed", (kind, code, reason.to_string()))
                }
                Event::Unknown => continue,
            };
            return made.map(Some);
        }
    }

    /// When `handle_timeout()` must next be called, in the caller's clock;
    /// `None` once the session is over.
    fn timeout(&self) -> Option<f64> {
        if self.closed || self.eof {
            return None;
        }
        self.session.borrow_client().poll_timeout().map(seconds)
    }

    /// Advances the session's clock to `now`: heartbeats fall due, and a
    /// silent server is found dead.
    #[pyo3(signature = (now = None))]
    fn handle_timeout(&mut self, py: Python<'_>, now: Option<f64>) -> PyResult<()> {
        let now = instant(py, now)?;
        self.session.with_client_mut(|c| c.handle_timeout(now));
        Ok(())
    }

    /// Queues a chat line, sent once logged in. Raises `douyu.SessionError`
    /// when the session is closing or the queue is full, and
    /// `douyu.EncodeError` for text no frame can carry.
    fn queue_chat(&mut self, py: Python<'_>, text: &str) -> PyResult<()> {
        self.session
            .with_client_mut(|c| c.queue_chat(text))
            .map_err(|e| errors::local(e).into_err(py))
    }

    /// Asks who is in the room (this project's server answers `whores`).
    fn request_who(&mut self, py: Python<'_>) -> PyResult<()> {
        self.session
            .with_client_mut(|c| c.request_who())
            .map_err(|e| errors::local(e).into_err(py))
    }

    /// Starts a clean logout: `logout` is queued, and the session closes once
    /// `data_to_send()` has returned it.
    fn close(&mut self) {
        self.session.with_client_mut(|c| c.close());
    }

    /// The room watched.
    #[getter]
    fn room(&self) -> u64 {
        self.session.borrow_client().config().room
    }

    /// Whether the session is over (close the connection).
    #[getter]
    fn is_closed(&self) -> bool {
        self.closed || self.session.borrow_client().is_closed()
    }
}

/// An event of `douyu._events`, made with `args`.
fn make<'py, A>(py: Python<'py>, name: &str, args: A) -> PyResult<Bound<'py, PyAny>>
where
    A: pyo3::call::PyCallArgs<'py>,
{
    py.import("douyu._events")?.getattr(name)?.call1(args)
}
