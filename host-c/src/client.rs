//! The client session (PROTOCOL.md §4), sans IO: the caller moves the bytes
//! and passes the time in milliseconds from an origin of its choosing.
//!
//! ```text
//! douyu_client_new ─┬─> poll_transmit ──> send the bytes
//!                   ├─< handle_input  <── bytes received (or receive_window + commit_input)
//!                   ├─> poll_event    ──> LOGGED_IN, JOINED, MESSAGE, … CLOSED
//!                   └─> poll_timeout  ──> sleep until then, then handle_timeout
//! ```

use core::ffi::c_char;
use core::mem::ManuallyDrop;
use core::time::Duration;

use douyu_core::frame::HEADER_LEN;
use douyu_core::session::{
    CHAT_QUEUE, Client, ClientConfig, ClientEvent, CloseReason, Instant, Login, SessionError,
    TRANSMIT_MAX,
};

use crate::error::{Failure, douyu_error, douyu_result};
use crate::guard::{run, run_plain};
use crate::ptr::{Out, OwnedBuf, arg, arg_mut, bytes, bytes_mut, c_str, free_handle, into_handle};
use crate::stt::douyu_map;

/// How the client logs in ([`douyu_client_config::login`]).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum douyu_login {
    /// The documented TCP login (`loginreq` with the room, and the username
    /// when one is set).
    DOUYU_LOGIN_TCP = 0,
    /// The web player's visitor login, with `web_uid`.
    DOUYU_LOGIN_WEB = 1,
}

/// What a client needs before it connects. Fill it with
/// [`douyu_client_config_init`] (the core's defaults), then change fields.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct douyu_client_config {
    /// The room to watch.
    pub room: u64,
    /// A `douyu_login` value (a plain integer, so that no value C stores is
    /// undefined; others are refused).
    pub login: u32,
    /// The visitor id of the web login.
    pub web_uid: u64,
    /// The nickname to ask for: a NUL-terminated UTF-8 string, or NULL for
    /// none. Copied by `douyu_client_new`.
    pub username: *const c_char,
    /// Milliseconds between heartbeats.
    pub heartbeat_ms: u64,
    /// Milliseconds of silence after which the link counts as dead.
    pub dead_after_ms: u64,
    /// Size of the receive buffer: the largest frame accepted.
    pub rx_capacity: usize,
}

/// Receive buffer `douyu_client_config_init` picks: room for the largest
/// messages the live service sends.
pub const DOUYU_DEFAULT_RX_CAPACITY: usize = 64 * 1024;

/// Bytes of chat text a client queues (text plus one byte per line).
pub const DOUYU_CHAT_QUEUE: usize = 256;

const _: () = assert!(DOUYU_CHAT_QUEUE == CHAT_QUEUE);

/// The largest frame [`douyu_client_poll_transmit`] writes: a buffer of
/// this size is never too small. (The chat frame of the longest line the
/// queue holds, every byte of it escaped.)
pub const DOUYU_TRANSMIT_MAX: usize = 543;

const _: () = assert!(DOUYU_TRANSMIT_MAX == TRANSMIT_MAX);

/// Fills `*config_out` for `room` with the core's defaults: TCP login, no
/// username, heartbeats every 45 s, dead after 90 s, 64 KiB receive buffer.
///
/// # Safety
/// See the crate's rules.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn douyu_client_config_init(
    room: u64,
    config_out: *mut douyu_client_config,
) -> douyu_result {
    // SAFETY: the caller's contract.
    let out = unsafe { Out::new(config_out) };
    run_plain(|| {
        let core = ClientConfig::new(room);
        out?.set(douyu_client_config {
            room,
            login: douyu_login::DOUYU_LOGIN_TCP as u32,
            web_uid: 0,
            username: core::ptr::null(),
            heartbeat_ms: millis(core.heartbeat),
            dead_after_ms: millis(core.dead_after),
            rx_capacity: DOUYU_DEFAULT_RX_CAPACITY,
        });
        Ok(douyu_result::DOUYU_OK)
    })
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A client session and its receive buffer (opaque; made by
/// [`douyu_client_new`], released by [`douyu_client_free`]).
///
/// Memory: the receive buffer (`rx_capacity` bytes) and this struct (1,208
/// bytes on x86-64, mostly its transmit buffer of [`DOUYU_TRANSMIT_MAX`]
/// bytes and the queue of chat lines), allocated by `douyu_client_new`.
pub struct douyu_client {
    /// Borrows `rx`; dropped before it.
    client: ManuallyDrop<Client<'static>>,
    rx: OwnedBuf,
    /// Length of the last receive window handed out, which bounds the next
    /// commit.
    window: usize,
    /// Where the next frame to send is encoded before it is copied to the
    /// caller's buffer, so that a buffer too small is left untouched and the
    /// frame waits here (`pending` bytes) for a larger one.
    tx: [u8; DOUYU_TRANSMIT_MAX],
    pending: usize,
}

impl Drop for douyu_client {
    fn drop(&mut self) {
        // SAFETY: the client, the buffer's only borrower, goes first and is
        // not used again.
        unsafe {
            ManuallyDrop::drop(&mut self.client);
            self.rx.free();
        }
    }
}

/// The core's configuration from C's, or the reason it is refused.
fn core_config(c: &douyu_client_config, username: Option<&str>) -> Result<ClientConfig, Failure> {
    let invalid = || Failure::code(douyu_result::DOUYU_INVALID_ARGUMENT);
    let mut config = ClientConfig::new(c.room);
    config.login = match c.login {
        0 => Login::Tcp,
        1 => Login::Web { uid: c.web_uid },
        _ => return Err(invalid()),
    };
    if c.heartbeat_ms == 0 || c.dead_after_ms == 0 || c.rx_capacity < HEADER_LEN {
        return Err(invalid());
    }
    config.heartbeat = Duration::from_millis(c.heartbeat_ms);
    config.dead_after = Duration::from_millis(c.dead_after_ms);
    if let Some(name) = username {
        config.set_username(name)?;
    }
    Ok(config)
}

/// Makes a client session on a fresh connection at `now_ms`, written to
/// `*client_out`. The `loginreq` is queued at once: call
/// [`douyu_client_poll_transmit`] next.
///
/// Fails with `DOUYU_INVALID_ARGUMENT` (unknown login, zero intervals, a
/// receive buffer below 12 bytes or above `2^32 + 3`), `DOUYU_BUFFER_FULL` (a username over 48
/// bytes), `DOUYU_INVALID_UTF8` and `DOUYU_OUT_OF_MEMORY`.
///
/// # Safety
/// See the crate's rules.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn douyu_client_new(
    config: *const douyu_client_config,
    now_ms: u64,
    client_out: *mut *mut douyu_client,
    error_out: *mut douyu_error,
) -> douyu_result {
    // SAFETY: the caller's contract, for each pointer.
    let (config, out, error_out) =
        unsafe { (arg(config), Out::new(client_out), Out::optional(error_out)) };
    run(error_out, || {
        let (c, out) = (config?, out?);
        let username = match c.username.is_null() {
            true => None,
            // SAFETY: the caller's contract for `config->username`.
            false => Some(unsafe { c_str(c.username) }?),
        };
        let config = core_config(c, username)?;
        let mut rx = OwnedBuf::new(c.rx_capacity)?;
        // SAFETY: lent once; the handle drops the client before the buffer.
        let client = Client::new(config, unsafe { rx.lend() }, Instant::from_millis(now_ms));
        out.set(into_handle(douyu_client {
            client: ManuallyDrop::new(client),
            rx,
            window: 0,
            tx: [0; DOUYU_TRANSMIT_MAX],
            pending: 0,
        }));
        Ok(douyu_result::DOUYU_OK)
    })
}

/// Frees a client and its buffer. NULL is ignored.
///
/// # Safety
/// `client` is NULL or a handle from [`douyu_client_new`] not yet freed;
/// events and views taken from it are invalid afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn douyu_client_free(client: *mut douyu_client) {
    let _ = run_plain(|| {
        // SAFETY: the caller's contract.
        unsafe { free_handle(client) };
        Ok(douyu_result::DOUYU_OK)
    });
}

/// Takes `len` bytes received at `now_ms`; writes how many were taken to
/// `*taken_out`. When the receive buffer is full, drain
/// [`douyu_client_poll_event`] and offer the rest again.
///
/// # Safety
/// See the crate's rules; `bytes` may be NULL when `len` is 0.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn douyu_client_handle_input(
    client: *mut douyu_client,
    now_ms: u64,
    bytes_in: *const u8,
    len: usize,
    taken_out: *mut usize,
) -> douyu_result {
    // SAFETY: the caller's contract, for each pointer.
    let (client, input, out) =
        unsafe { (arg_mut(client), bytes(bytes_in, len), Out::new(taken_out)) };
    run_plain(|| {
        let (c, input, out) = (client?, input?, out?);
        c.window = 0;
        out.set(c.client.handle_input(Instant::from_millis(now_ms), input));
        Ok(douyu_result::DOUYU_OK)
    })
}

/// The free part of the receive buffer, to read into directly (saving the
/// copy of `handle_input`): `*window_out`, `*len_out`. Follow with
/// [`douyu_client_commit_input`].
///
/// # Safety
/// See the crate's rules.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn douyu_client_receive_window(
    client: *mut douyu_client,
    window_out: *mut *mut u8,
    len_out: *mut usize,
) -> douyu_result {
    // SAFETY: the caller's contract, for each pointer.
    let (client, window_out, len_out) =
        unsafe { (arg_mut(client), Out::new(window_out), Out::new(len_out)) };
    run_plain(|| {
        let (c, window_out, len_out) = (client?, window_out?, len_out?);
        let window = c.client.receive_window();
        c.window = window.len();
        window_out.set(window.as_mut_ptr());
        len_out.set(window.len());
        Ok(douyu_result::DOUYU_OK)
    })
}

/// Declares `n` bytes received at `now_ms` into the last receive window.
/// Fails with `DOUYU_INVALID_ARGUMENT` (taking nothing) when `n` is larger
/// than that window or it was used already: one window, one commit.
///
/// # Safety
/// See the crate's rules.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn douyu_client_commit_input(
    client: *mut douyu_client,
    now_ms: u64,
    n: usize,
) -> douyu_result {
    // SAFETY: the caller's contract.
    let client = unsafe { arg_mut(client) };
    run_plain(|| {
        let c = client?;
        if n > c.window {
            return Err(Failure::code(douyu_result::DOUYU_INVALID_ARGUMENT));
        }
        c.client.commit_input(Instant::from_millis(now_ms), n);
        c.window = 0;
        Ok(douyu_result::DOUYU_OK)
    })
}

/// Encodes the next message to send into `out` (`out_len` bytes): `DOUYU_OK`
/// with its length in `*len_out`, or `DOUYU_DONE` when there is nothing to
/// send. Call until `DOUYU_DONE`. A buffer of [`DOUYU_TRANSMIT_MAX`] bytes
/// holds every frame.
///
/// A frame a smaller one cannot hold fails with `DOUYU_BUFFER_FULL`
/// (`error_out->needed`: exactly this many bytes): nothing is written to
/// `out`, and the same frame is offered again on the next call.
///
/// # Safety
/// See the crate's rules.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn douyu_client_poll_transmit(
    client: *mut douyu_client,
    out: *mut u8,
    out_len: usize,
    len_out: *mut usize,
    error_out: *mut douyu_error,
) -> douyu_result {
    // SAFETY: the caller's contract, for each pointer.
    let (client, buf, len_out, error_out) = unsafe {
        (
            arg_mut(client),
            bytes_mut(out, out_len),
            Out::new(len_out),
            Out::optional(error_out),
        )
    };
    run(error_out, || {
        let (c, buf, len_out) = (client?, buf?, len_out?);
        if c.pending == 0 {
            match c.client.poll_transmit(&mut c.tx)? {
                Some(n) => c.pending = n,
                None => return Ok(douyu_result::DOUYU_DONE),
            }
        }
        let n = c.pending;
        let Some(out) = buf.get_mut(..n) else {
            return Err(SessionError::BufferFull {
                needed: n,
                capacity: buf.len(),
            }
            .into());
        };
        out.copy_from_slice(&c.tx[..n]);
        c.pending = 0;
        len_out.set(n);
        Ok(douyu_result::DOUYU_OK)
    })
}

/// What a [`douyu_event`] is.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum douyu_event_kind {
    /// The server accepted the login (`message`: the `loginres`); the
    /// `joingroup` is queued.
    DOUYU_EVENT_LOGGED_IN = 0,
    /// The `joingroup` went out (`room`): broadcasts follow.
    DOUYU_EVENT_JOINED = 1,
    /// A server message (`message`): chat, gift, heartbeat reply, …
    DOUYU_EVENT_MESSAGE = 2,
    /// The server sent `type@=error/` (`code`); the session is over.
    DOUYU_EVENT_SERVER_ERROR = 3,
    /// Input that could not be read (`error`); unless a
    /// `DOUYU_EVENT_CLOSED` follows, the stream goes on.
    DOUYU_EVENT_INVALID = 4,
    /// Nothing arrived for longer than the dead window (`silent_ms`).
    DOUYU_EVENT_DEAD = 5,
    /// The session is over (`reason`); close the connection.
    DOUYU_EVENT_CLOSED = 6,
    /// An event this version of the C ABI does not know; skip it.
    DOUYU_EVENT_OTHER = 99,
}

/// Why a session ended ([`douyu_event::reason`]).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum douyu_close_reason {
    /// Not a `DOUYU_EVENT_CLOSED`.
    DOUYU_CLOSE_NONE = 0,
    /// The `logout` was sent.
    DOUYU_CLOSE_LOGOUT = 1,
    /// The server was silent past the dead window (`silent_ms`).
    DOUYU_CLOSE_SILENT = 2,
    /// The server sent an error (`code`, when `has_code`).
    DOUYU_CLOSE_SERVER_ERROR = 3,
    /// The server refused the login (`code`).
    DOUYU_CLOSE_REFUSED = 4,
    /// The server broke the protocol (`error`).
    DOUYU_CLOSE_PROTOCOL = 5,
    /// Closed by the host.
    DOUYU_CLOSE_LOCAL = 6,
    /// The peer closed the connection.
    DOUYU_CLOSE_DISCONNECTED = 7,
    /// A reason this version does not know.
    DOUYU_CLOSE_OTHER = 99,
}

/// One event of a client session. Only the fields its `kind` names are
/// meaningful; `message` borrows the client's receive buffer and is valid
/// until the next call with the client.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct douyu_event {
    /// What happened.
    pub kind: douyu_event_kind,
    /// `LOGGED_IN`, `MESSAGE`: the whole message (read it with
    /// `douyu_map_get`; its `type` says which it is).
    pub message: douyu_map,
    /// `JOINED`: the room joined.
    pub room: u64,
    /// `SERVER_ERROR`, `CLOSED`: whether `code` holds the server's code.
    pub has_code: bool,
    /// The server's error code.
    pub code: i64,
    /// `DEAD`, `CLOSED` (silent): how long the server had been silent.
    pub silent_ms: u64,
    /// `CLOSED`: why.
    pub reason: douyu_close_reason,
    /// `INVALID`, `CLOSED` (protocol): what was wrong.
    pub error: douyu_error,
}

impl douyu_event {
    fn new(kind: douyu_event_kind) -> Self {
        Self {
            kind,
            message: douyu_map::of(douyu_core::stt::Map::default()),
            room: 0,
            has_code: false,
            code: 0,
            silent_ms: 0,
            reason: douyu_close_reason::DOUYU_CLOSE_NONE,
            error: douyu_error::default(),
        }
    }

    fn of(event: ClientEvent<'_>) -> Self {
        use douyu_event_kind::*;
        match event {
            ClientEvent::LoggedIn(res) => Self {
                message: douyu_map::of(res.map),
                ..Self::new(DOUYU_EVENT_LOGGED_IN)
            },
            ClientEvent::Joined { room } => Self {
                room,
                ..Self::new(DOUYU_EVENT_JOINED)
            },
            ClientEvent::Message(message) => Self {
                message: douyu_map::of(message.map()),
                ..Self::new(DOUYU_EVENT_MESSAGE)
            },
            ClientEvent::ServerError { code } => Self {
                has_code: code.is_some(),
                code: code.unwrap_or(0),
                ..Self::new(DOUYU_EVENT_SERVER_ERROR)
            },
            ClientEvent::Invalid(e) => Self {
                error: Failure::from(e).0,
                ..Self::new(DOUYU_EVENT_INVALID)
            },
            ClientEvent::Dead { silent_for } => Self {
                silent_ms: millis(silent_for),
                ..Self::new(DOUYU_EVENT_DEAD)
            },
            ClientEvent::Closed(reason) => Self::closed(reason),
            _ => Self::new(DOUYU_EVENT_OTHER),
        }
    }

    fn closed(reason: CloseReason) -> Self {
        use douyu_close_reason::*;
        let mut e = Self::new(douyu_event_kind::DOUYU_EVENT_CLOSED);
        e.reason = match reason {
            CloseReason::Logout => DOUYU_CLOSE_LOGOUT,
            CloseReason::Silent { silent_for } => {
                e.silent_ms = millis(silent_for);
                DOUYU_CLOSE_SILENT
            }
            CloseReason::ServerError { code } => {
                (e.has_code, e.code) = (code.is_some(), code.unwrap_or(0));
                DOUYU_CLOSE_SERVER_ERROR
            }
            CloseReason::Refused { code } => {
                (e.has_code, e.code) = (true, code);
                DOUYU_CLOSE_REFUSED
            }
            CloseReason::Protocol(error) => {
                e.error = Failure::from(error).0;
                DOUYU_CLOSE_PROTOCOL
            }
            CloseReason::Local => DOUYU_CLOSE_LOCAL,
            CloseReason::Disconnected => DOUYU_CLOSE_DISCONNECTED,
            _ => DOUYU_CLOSE_OTHER,
        };
        e
    }
}

/// The next event, decoding received frames as it goes: `DOUYU_OK` with
/// `*event_out`, or `DOUYU_DONE` when nothing is pending. Call until
/// `DOUYU_DONE` after every input, transmit and timeout.
///
/// # Safety
/// See the crate's rules.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn douyu_client_poll_event(
    client: *mut douyu_client,
    event_out: *mut douyu_event,
) -> douyu_result {
    // SAFETY: the caller's contract, for each pointer.
    let (client, out) = unsafe { (arg_mut(client), Out::new(event_out)) };
    run_plain(|| {
        let (c, out) = (client?, out?);
        // Decoding may move nothing, but a window handed out before is stale.
        c.window = 0;
        match c.client.poll_event() {
            Some(event) => {
                out.set(douyu_event::of(event));
                Ok(douyu_result::DOUYU_OK)
            }
            None => Ok(douyu_result::DOUYU_DONE),
        }
    })
}

/// When [`douyu_client_handle_timeout`] must next be called: `DOUYU_OK`
/// with the instant in `*deadline_ms_out`, or `DOUYU_DONE` when never (the
/// session is closed).
///
/// # Safety
/// See the crate's rules.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn douyu_client_poll_timeout(
    client: *const douyu_client,
    deadline_ms_out: *mut u64,
) -> douyu_result {
    // SAFETY: the caller's contract, for each pointer.
    let (client, out) = unsafe { (arg(client), Out::new(deadline_ms_out)) };
    run_plain(|| {
        let (c, out) = (client?, out?);
        match c.client.poll_timeout() {
            Some(at) => {
                out.set(at.as_millis());
                Ok(douyu_result::DOUYU_OK)
            }
            None => Ok(douyu_result::DOUYU_DONE),
        }
    })
}

/// Advances the session's clock to `now_ms`: queues due heartbeats and
/// detects a dead link. Poll transmits and events after it.
///
/// # Safety
/// See the crate's rules.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn douyu_client_handle_timeout(
    client: *mut douyu_client,
    now_ms: u64,
) -> douyu_result {
    // SAFETY: the caller's contract.
    let client = unsafe { arg_mut(client) };
    run_plain(|| {
        client?.client.handle_timeout(Instant::from_millis(now_ms));
        Ok(douyu_result::DOUYU_OK)
    })
}

/// Queues a chat line (a NUL-terminated UTF-8 string), sent in turn by
/// [`douyu_client_poll_transmit`] once logged in.
///
/// Fails with `DOUYU_NOT_READY` once the session is closing, and with
/// `DOUYU_BUFFER_FULL` when the line does not fit the `DOUYU_CHAT_QUEUE`
/// bytes left; nothing is queued then.
///
/// # Safety
/// See the crate's rules.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn douyu_client_queue_chat(
    client: *mut douyu_client,
    text: *const c_char,
    error_out: *mut douyu_error,
) -> douyu_result {
    // SAFETY: the caller's contract, for each pointer.
    let (client, text, error_out) =
        unsafe { (arg_mut(client), c_str(text), Out::optional(error_out)) };
    run(error_out, || {
        let (c, text) = (client?, text?);
        c.client.queue_chat(text)?;
        Ok(douyu_result::DOUYU_OK)
    })
}

/// Starts a clean logout: `type@=logout/` is queued, and the session
/// closes once it is transmitted.
///
/// # Safety
/// See the crate's rules.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn douyu_client_close(client: *mut douyu_client) -> douyu_result {
    // SAFETY: the caller's contract.
    let client = unsafe { arg_mut(client) };
    run_plain(|| {
        client?.client.close();
        Ok(douyu_result::DOUYU_OK)
    })
}

/// Whether the session is over, in `*closed_out` (close the connection).
///
/// # Safety
/// See the crate's rules.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn douyu_client_is_closed(
    client: *const douyu_client,
    closed_out: *mut bool,
) -> douyu_result {
    // SAFETY: the caller's contract, for each pointer.
    let (client, out) = unsafe { (arg(client), Out::new(closed_out)) };
    run_plain(|| {
        out?.set(client?.client.is_closed());
        Ok(douyu_result::DOUYU_OK)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::douyu_result::*;
    use core::mem::MaybeUninit;
    use core::ptr::null_mut;
    use douyu_core::frame::{Direction, Frame};

    fn config(room: u64) -> douyu_client_config {
        let mut c = MaybeUninit::uninit();
        // SAFETY: a valid out-pointer.
        let r = unsafe { douyu_client_config_init(room, c.as_mut_ptr()) };
        assert_eq!(r, DOUYU_OK);
        // SAFETY: written on success.
        unsafe { c.assume_init() }
    }

    fn server_frame(body: &str) -> Vec<u8> {
        let mut out = vec![0u8; body.len() + 13];
        Frame::new(Direction::ServerToClient, body)
            .encode(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn login_join_message_logout() {
        let mut c = null_mut();
        let mut tx = [0u8; DOUYU_TRANSMIT_MAX];
        // SAFETY: valid pointers; the handle is freed at the end.
        unsafe {
            let cfg = config(288_016);
            assert_eq!(douyu_client_new(&cfg, 0, &mut c, null_mut()), DOUYU_OK);
            let mut n = 0;
            assert_eq!(
                douyu_client_poll_transmit(c, tx.as_mut_ptr(), tx.len(), &mut n, null_mut()),
                DOUYU_OK
            );
            assert!(tx[..n].ends_with(b"type@=loginreq/roomid@=288016/\0"));
            assert_eq!(
                douyu_client_poll_transmit(c, tx.as_mut_ptr(), tx.len(), &mut n, null_mut()),
                DOUYU_DONE
            );
            let mut input = server_frame("type@=loginres/userid@=0/");
            input.extend(server_frame("type@=chatmsg/nn@=a/txt@=hi@S/"));
            let mut taken = 0;
            assert_eq!(
                douyu_client_handle_input(c, 10, input.as_ptr(), input.len(), &mut taken),
                DOUYU_OK
            );
            assert_eq!(taken, input.len());
            let mut ev = MaybeUninit::<douyu_event>::uninit();
            assert_eq!(douyu_client_poll_event(c, ev.as_mut_ptr()), DOUYU_OK);
            assert_eq!(
                ev.assume_init_ref().kind,
                douyu_event_kind::DOUYU_EVENT_LOGGED_IN
            );
            assert_eq!(douyu_client_poll_event(c, ev.as_mut_ptr()), DOUYU_OK);
            let chat = ev.assume_init();
            assert_eq!(chat.kind, douyu_event_kind::DOUYU_EVENT_MESSAGE);
            let mut txt = MaybeUninit::uninit();
            assert_eq!(
                crate::stt::douyu_map_get(
                    &chat.message,
                    c"txt".as_ptr(),
                    txt.as_mut_ptr(),
                    null_mut()
                ),
                DOUYU_OK
            );
            let mut equal = false;
            assert_eq!(
                crate::stt::douyu_text_equals(txt.as_ptr(), b"hi/".as_ptr(), 3, &mut equal),
                DOUYU_OK
            );
            assert!(equal);
            assert_eq!(
                douyu_client_poll_transmit(c, tx.as_mut_ptr(), tx.len(), &mut n, null_mut()),
                DOUYU_OK
            );
            assert!(tx[..n].ends_with(b"type@=joingroup/rid@=288016/gid@=-9999/\0"));
            assert_eq!(douyu_client_poll_event(c, ev.as_mut_ptr()), DOUYU_OK);
            assert_eq!(
                ev.assume_init_ref().kind,
                douyu_event_kind::DOUYU_EVENT_JOINED
            );
            assert_eq!(ev.assume_init_ref().room, 288_016);
            // The longest line the queue takes, every byte escaped, needs
            // the whole of DOUYU_TRANSMIT_MAX.
            let longest = std::ffi::CString::new("@/".repeat(127) + "@").unwrap();
            assert_eq!(
                douyu_client_queue_chat(c, longest.as_ptr(), null_mut()),
                DOUYU_OK
            );
            let mut e = douyu_error::default();
            assert_eq!(
                douyu_client_poll_transmit(c, tx.as_mut_ptr(), 542, &mut n, &mut e),
                DOUYU_BUFFER_FULL
            );
            assert_eq!((e.needed, e.capacity), (543, 542));
            assert_eq!(
                douyu_client_poll_transmit(c, tx.as_mut_ptr(), tx.len(), &mut n, null_mut()),
                DOUYU_OK
            );
            assert_eq!(n, DOUYU_TRANSMIT_MAX);
            let escaped = "@A@S".repeat(127) + "@A";
            assert!(tx[..n].ends_with(format!("/txt@={escaped}/\0").as_bytes()));
            let mut deadline = 0;
            assert_eq!(douyu_client_poll_timeout(c, &mut deadline), DOUYU_OK);
            assert_eq!(deadline, 45_000);
            assert_eq!(douyu_client_close(c), DOUYU_OK);
            assert_eq!(
                douyu_client_poll_transmit(c, tx.as_mut_ptr(), tx.len(), &mut n, null_mut()),
                DOUYU_OK
            );
            assert!(tx[..n].ends_with(b"type@=logout/\0"));
            assert_eq!(douyu_client_poll_event(c, ev.as_mut_ptr()), DOUYU_OK);
            let closed = ev.assume_init();
            assert_eq!(
                (closed.kind, closed.reason),
                (
                    douyu_event_kind::DOUYU_EVENT_CLOSED,
                    douyu_close_reason::DOUYU_CLOSE_LOGOUT
                )
            );
            let mut is_closed = false;
            assert_eq!(douyu_client_is_closed(c, &mut is_closed), DOUYU_OK);
            assert!(is_closed);
            assert_eq!(douyu_client_poll_timeout(c, &mut deadline), DOUYU_DONE);
            douyu_client_free(c);
        }
    }

    #[test]
    fn bad_configurations_are_refused() {
        let mut c = null_mut();
        let mut e = douyu_error::default();
        // SAFETY: valid pointers; nothing is made.
        unsafe {
            let mut cfg = config(1);
            cfg.login = 7;
            assert_eq!(
                douyu_client_new(&cfg, 0, &mut c, &mut e),
                DOUYU_INVALID_ARGUMENT
            );
            let mut cfg = config(1);
            cfg.rx_capacity = 4;
            assert_eq!(
                douyu_client_new(&cfg, 0, &mut c, &mut e),
                DOUYU_INVALID_ARGUMENT
            );
            let mut cfg = config(1);
            let long = c"0123456789012345678901234567890123456789012345678";
            cfg.username = long.as_ptr();
            assert_eq!(douyu_client_new(&cfg, 0, &mut c, &mut e), DOUYU_BUFFER_FULL);
            assert_eq!((e.needed, e.capacity), (49, 48));
            assert!(c.is_null());
        }
    }

    #[test]
    fn a_silent_server_is_dead_on_time() {
        let mut c = null_mut();
        // SAFETY: valid pointers; the handle is freed at the end.
        unsafe {
            let mut cfg = config(1);
            (cfg.heartbeat_ms, cfg.dead_after_ms) = (100, 200);
            assert_eq!(douyu_client_new(&cfg, 1_000, &mut c, null_mut()), DOUYU_OK);
            let mut deadline = 0;
            assert_eq!(douyu_client_poll_timeout(c, &mut deadline), DOUYU_OK);
            assert_eq!(deadline, 1_100);
            assert_eq!(douyu_client_handle_timeout(c, 1_200), DOUYU_OK);
            let mut ev = MaybeUninit::<douyu_event>::uninit();
            assert_eq!(douyu_client_poll_event(c, ev.as_mut_ptr()), DOUYU_OK);
            assert_eq!(
                (ev.assume_init_ref().kind, ev.assume_init_ref().silent_ms),
                (douyu_event_kind::DOUYU_EVENT_DEAD, 200)
            );
            douyu_client_free(c);
        }
    }
}
