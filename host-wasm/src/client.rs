//! `Client`: the core's client session (sans-IO, in the manner of h11).
//!
//! Bytes in (`receiveData`), bytes out (`dataToSend`), events out
//! (`nextEvent`), and time passed in as milliseconds of the caller's
//! monotonic clock (`performance.now()` in `js/`).

use core::time::Duration;

use douyu_core::session::{
    Client as CoreClient, ClientConfig, ClientEvent, CloseReason, Instant, Login, TRANSMIT_MAX,
};
use js_sys::{Object, Reflect};
use wasm_bindgen::prelude::*;

use crate::batch::{Batch, NO_OFFSET};
use crate::errors;

/// The core's client borrows its receive buffer; a JavaScript object owns both.
#[ouroboros::self_referencing]
struct Session {
    buf: Box<[u8]>,
    #[borrows(mut buf)]
    #[covariant]
    client: CoreClient<'this>,
}

/// The client session over one connection.
#[wasm_bindgen(js_name = RawClient)]
pub struct Client {
    session: Session,
    /// Bytes received and not yet taken (the receive buffer was full), and
    /// the time they arrived.
    pending: Vec<u8>,
    received_at: Instant,
    /// The peer closed the connection; reported once the events before it are.
    peer_closed: bool,
    /// That was reported: the session is over (the core has no state for a
    /// connection that is gone, so the host keeps it).
    disconnected: bool,
}

fn instant(now: f64) -> Instant {
    // Milliseconds, clamped to the clock's range; NaN counts as 0.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Instant::from_millis(now.max(0.0) as u64)
}

fn object(kind: &str) -> Object {
    let o = Object::new();
    set(&o, "kind", kind);
    o
}

fn set(o: &Object, key: &str, value: impl Into<JsValue>) {
    // Setting a property of a fresh plain object cannot fail.
    let _ = Reflect::set(o, &JsValue::from_str(key), &value.into());
}

#[allow(clippy::cast_precision_loss)]
fn millis(d: Duration) -> f64 {
    d.as_millis() as f64
}

/// A message event: its body as a one-message batch, which `js/` turns
/// into a plain object like the decoder's.
fn message(kind: &str, body: &str) -> Result<JsValue, JsValue> {
    let mut batch = Batch::default();
    batch
        .push(
            u32::from(douyu_core::frame::Direction::SERVER_TO_CLIENT),
            NO_OFFSET,
            body,
        )
        .map_err(|e| errors::stt(&e, None, errors::Family::Decode))?;
    let o = object(kind);
    // Unescaping replaces ASCII with ASCII: the texts stay UTF-8, and
    // nothing is ever replaced here.
    set(
        &o,
        "text",
        String::from_utf8_lossy(batch.text.as_bytes()).as_ref(),
    );
    set(
        &o,
        "wide",
        String::from_utf8_lossy(batch.wide.as_bytes()).as_ref(),
    );
    set(&o, "bodies", js_sys::Uint8Array::from(&batch.bodies[..]));
    set(&o, "index", js_sys::Uint32Array::from(&batch.index[..]));
    Ok(o.into())
}

fn closed(reason: &CloseReason) -> JsValue {
    let o = object("closed");
    let name = match reason {
        CloseReason::Logout => "logout",
        CloseReason::Silent { silent_for } => {
            set(&o, "silentFor", millis(*silent_for));
            "silent"
        }
        CloseReason::ServerError { code } => {
            set(
                &o,
                "code",
                code.map_or(JsValue::NULL, |c| JsValue::from(c as f64)),
            );
            "serverError"
        }
        CloseReason::Refused { code } => {
            set(&o, "code", *code as f64);
            "refused"
        }
        CloseReason::Protocol(e) => {
            set(&o, "error", errors::session(e));
            "protocol"
        }
        CloseReason::Disconnected => "disconnected",
        _ => "local",
    };
    set(&o, "reason", name);
    set(&o, "message", reason.to_string());
    o.into()
}

#[wasm_bindgen(js_class = RawClient)]
impl Client {
    /// A session for `room` on a connection opened at `now`; the login is
    /// queued at once. `heartbeat` in milliseconds; `web_uid` picks the web
    /// player's login (as the WebSocket endpoints expect).
    ///
    /// # Errors
    /// A `RangeError` for a room that is not a safe non-negative integer or a
    /// bad `max_frame`; a `SessionError` for a username that cannot be sent.
    #[wasm_bindgen(constructor)]
    pub fn new(
        room: f64,
        now: f64,
        max_frame: u32,
        username: Option<String>,
        heartbeat: Option<f64>,
        web_uid: Option<f64>,
    ) -> Result<Client, JsValue> {
        let room = id(room, "room")?;
        let mut config = ClientConfig::new(room);
        if let Some(ms) = heartbeat {
            if !(ms.is_finite() && ms >= 1.0) {
                return Err(js_sys::RangeError::new("heartbeat must be at least 1 ms").into());
            }
            // Finite and positive, checked above.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let d = Duration::from_millis(ms as u64);
            config = config.with_heartbeat(d);
        }
        if let Some(uid) = web_uid {
            config.login = Login::Web {
                uid: id(uid, "webUid")?,
            };
        }
        if let Some(name) = username {
            config
                .set_username(&name)
                .map_err(|e| errors::session(&e))?;
        }
        let buf = crate::buffer(max_frame)?;
        let now = instant(now);
        Ok(Self {
            session: Session::new(buf, |buf| CoreClient::new(config, buf, now)),
            pending: Vec::new(),
            received_at: now,
            peer_closed: false,
            disconnected: false,
        })
    }

    /// Bytes from the server, received at `now`; empty bytes when the server
    /// closed the connection.
    #[wasm_bindgen(js_name = receiveData)]
    pub fn receive_data(&mut self, bytes: &[u8], now: f64) {
        let now = instant(now);
        if bytes.is_empty() {
            self.peer_closed = true;
            return;
        }
        self.received_at = now;
        if self.pending.is_empty() {
            let n = self.session.with_client_mut(|c| c.handle_input(now, bytes));
            self.pending.extend_from_slice(&bytes[n..]);
        } else {
            self.pending.extend_from_slice(bytes);
        }
    }

    /// Every frame the session has to send, back to back (empty if none).
    ///
    /// # Errors
    /// A `SessionError` if a frame could not be encoded.
    #[wasm_bindgen(js_name = dataToSend)]
    pub fn data_to_send(&mut self) -> Result<Vec<u8>, JsValue> {
        let mut out = Vec::new();
        if self.disconnected {
            return Ok(out);
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
                    return Ok(out);
                }
                Err(e) => return Err(errors::session(&e)),
            }
        }
    }

    /// The next event as a plain object (`kind`: `loggedIn`, `joined`,
    /// `message`, `serverError`, `dead`, `closed`), or `undefined`.
    ///
    /// # Errors
    /// A `DecodeError` for input that could not be read; the session goes on
    /// unless a `closed` event follows.
    #[wasm_bindgen(js_name = nextEvent)]
    pub fn next_event(&mut self) -> Result<JsValue, JsValue> {
        if self.disconnected {
            return Ok(JsValue::UNDEFINED);
        }
        loop {
            let event = self.session.with_client_mut(|c| {
                let Some(event) = c.poll_event() else {
                    return Ok(None);
                };
                let value = match event {
                    ClientEvent::LoggedIn(res) => message("loggedIn", res.map.raw())?,
                    ClientEvent::Message(m) => message("message", m.map().raw())?,
                    ClientEvent::Joined { room } => {
                        let o = object("joined");
                        #[allow(clippy::cast_precision_loss)]
                        set(&o, "room", room as f64);
                        o.into()
                    }
                    ClientEvent::ServerError { code } => {
                        let o = object("serverError");
                        #[allow(clippy::cast_precision_loss)]
                        let code = code.map_or(JsValue::NULL, |c| JsValue::from(c as f64));
                        set(&o, "code", code);
                        o.into()
                    }
                    ClientEvent::Dead { silent_for } => {
                        let o = object("dead");
                        set(&o, "silentFor", millis(silent_for));
                        o.into()
                    }
                    ClientEvent::Closed(reason) => closed(&reason),
                    ClientEvent::Invalid(e) => return Err(errors::session(&e)),
                    // A kind of event added to the core later: not for us yet.
                    _ => JsValue::UNDEFINED,
                };
                Ok(Some(value))
            })?;
            match event {
                Some(v) if v.is_undefined() => {}
                Some(v) => return Ok(v),
                None => {
                    if !self.pending.is_empty() {
                        let (bytes, now) = (&self.pending, self.received_at);
                        let n = self.session.with_client_mut(|c| c.handle_input(now, bytes));
                        if n > 0 {
                            self.pending.drain(..n);
                            continue;
                        }
                    }
                    if self.peer_closed && !self.is_closed() {
                        // The core has no event for this; the session is over
                        // all the same, and the host must say so once.
                        self.disconnected = true;
                        self.pending.clear();
                        return Ok(closed(&CloseReason::Disconnected));
                    }
                    return Ok(JsValue::UNDEFINED);
                }
            }
        }
    }

    /// When `handleTimeout` must next be called (milliseconds, the clock of
    /// `now`), or `undefined` once the session is over.
    #[allow(clippy::cast_precision_loss)]
    pub fn timeout(&self) -> Option<f64> {
        if self.disconnected {
            return None;
        }
        self.session
            .borrow_client()
            .poll_timeout()
            .map(|t| t.as_millis() as f64)
    }

    /// Advances the session's clock: heartbeats, dead-link detection.
    #[wasm_bindgen(js_name = handleTimeout)]
    pub fn handle_timeout(&mut self, now: f64) {
        if self.disconnected {
            return;
        }
        let now = instant(now);
        self.session.with_client_mut(|c| c.handle_timeout(now));
    }

    /// Queues a chat line, sent once logged in.
    ///
    /// # Errors
    /// A `SessionError` (`not_ready`, `buffer_full`) or an `EncodeError`-like
    /// `DecodeError` for a NUL (`nul_byte`).
    #[wasm_bindgen(js_name = queueChat)]
    pub fn queue_chat(&mut self, text: &str) -> Result<(), JsValue> {
        self.session
            .with_client_mut(|c| c.queue_chat(text))
            .map_err(|e| errors::session(&e))
    }

    /// Asks who is online (this project's `whoreq`); only once logged in.
    ///
    /// # Errors
    /// A `SessionError` (`not_ready`).
    #[wasm_bindgen(js_name = requestWho)]
    pub fn request_who(&mut self) -> Result<(), JsValue> {
        self.session
            .with_client_mut(|c| c.request_who())
            .map_err(|e| errors::session(&e))
    }

    /// Starts a clean logout: `dataToSend` then gives the `logout`.
    pub fn close(&mut self) {
        self.session.with_client_mut(|c| c.close());
    }

    /// The room of the session.
    #[wasm_bindgen(getter)]
    #[allow(clippy::cast_precision_loss)]
    pub fn room(&self) -> f64 {
        self.session.borrow_client().config().room as f64
    }

    /// Whether the session is over.
    #[wasm_bindgen(getter, js_name = isClosed)]
    pub fn is_closed(&self) -> bool {
        self.disconnected || self.session.borrow_client().is_closed()
    }
}

/// A room or uid: a non-negative safe integer.
fn id(value: f64, what: &str) -> Result<u64, JsValue> {
    const MAX_SAFE: f64 = 9_007_199_254_740_991.0;
    if value.fract() == 0.0 && (0.0..=MAX_SAFE).contains(&value) {
        // An integer in range, checked above.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        return Ok(value as u64);
    }
    // The value is not formatted: float formatting alone would add 20 KiB
    // to the module.
    let msg = format!("{what} must be a non-negative safe integer");
    Err(js_sys::RangeError::new(&msg).into())
}
