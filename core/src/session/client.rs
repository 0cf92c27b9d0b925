//! The client side of §4: login, join, heartbeat, dead-link detection, logout.

use core::time::Duration;

use heapless::{Deque, String};

use super::{
    CloseReason, DEAD_AFTER, HEARTBEAT, Instant, NICKNAME_MAX, Nickname, REPLY_MAX, SessionError,
    dead_window, div_rem, encode,
};

use crate::frame::{Direction, OVERHEAD};
use crate::message::{LoginRes, ServerMessage};
use crate::stream::Decoder;
use crate::stt::{END, KEY_END, MARK, MapWriter, SttError};

/// The type field of every frame this side sends.
const DIRECTION: Direction = Direction::ClientToServer;

/// Bytes of chat text a [`Client`] holds for [`Client::poll_transmit`]: the
/// texts queued and not yet sent, plus one byte each. The service takes
/// danmaku of a few dozen characters, so this is several lines.
pub const CHAT_QUEUE: usize = 256;

/// The largest frame [`Client::poll_transmit`] writes, in bytes: a transmit
/// buffer of this size never fails with [`SessionError::BufferFull`].
///
/// It is the chat frame (`type@=chatmsg/txt@=…/`) of the longest line the
/// queue holds, [`CHAT_QUEUE`] − 1 bytes (each line takes one byte more),
/// when every byte is an `@` or a `/`, which escaping doubles (PROTOCOL.md
/// §3): the 12-byte header, 14 + 5 + 2 × 255 + 1 bytes of body and the
/// NUL, 543 in all. Everything else the client sends fits [`REPLY_MAX`],
/// which is smaller; a host that queues no chat can do with that.
pub const TRANSMIT_MAX: usize =
    OVERHEAD + pair_len("type", escaped_len(CHAT)) + pair_len(CHAT_TEXT, 2 * (CHAT_QUEUE - 1));

// The other frames fit `REPLY_MAX`, so the chat frame's size bounds them too.
const _: () = assert!(REPLY_MAX <= TRANSMIT_MAX);

/// The `type` of a chat frame.
const CHAT: &str = "chatmsg";
/// The key of a chat frame's text.
const CHAT_TEXT: &str = "txt";

/// Bytes of `key@=value/` at the top level of a body, for a value of
/// `value_len` bytes once escaped.
const fn pair_len(key: &str, value_len: usize) -> usize {
    escaped_len(key) + KEY_END.len() + value_len + [END].len()
}

/// Bytes of `text` escaped at the top level: `@` and `/` take two.
const fn escaped_len(text: &str) -> usize {
    let mut rest = text.as_bytes();
    let mut len = rest.len();
    while let [byte, tail @ ..] = rest {
        if *byte == MARK || *byte == END {
            len += 1;
        }
        rest = tail;
    }
    len
}

/// How the client logs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Login {
    /// The documented TCP login: `type@=loginreq/roomid@=…/` (plus
    /// `username` when one is configured).
    Tcp,
    /// The web player's visitor login, as the WebSocket endpoints expect:
    /// `roomid`, `dfl`, `username` (a visitor name), `uid`, `ver`, `aver`, `ct`.
    Web {
        /// The visitor's numeric id.
        uid: u64,
    },
}

/// What a [`Client`] needs to know before it connects.
///
/// Made by [`ClientConfig::new`] and then changed field by field, so that
/// fields can be added without breaking callers.
///
/// ```
/// use core::time::Duration;
/// use douyu_core::session::{ClientConfig, Login};
/// let mut config = ClientConfig::new(288_016);
/// config.login = Login::Web { uid: 1_234_567 };
/// config.heartbeat = Duration::from_secs(30);
/// config.set_username("鱼丸")?;
/// assert_eq!(config.username(), Some("鱼丸"));
/// # Ok::<(), douyu_core::session::SessionError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct ClientConfig {
    /// The room to watch.
    pub room: u64,
    /// The login flavour.
    pub login: Login,
    /// The nickname to ask for; see [`ClientConfig::set_username`].
    username: Option<Nickname>,
    /// Time between heartbeats (the service expects [`HEARTBEAT`]).
    pub heartbeat: Duration,
    /// Silence after which the connection counts as dead: the
    /// [`dead_window`] of `heartbeat`; [`ClientConfig::with_heartbeat`]
    /// keeps the two together.
    pub dead_after: Duration,
}

impl ClientConfig {
    /// The documented TCP login to `room`, heartbeats every [`HEARTBEAT`],
    /// dead after [`DEAD_AFTER`].
    #[must_use]
    pub const fn new(room: u64) -> Self {
        Self {
            room,
            login: Login::Tcp,
            username: None,
            heartbeat: HEARTBEAT,
            dead_after: DEAD_AFTER,
        }
    }

    /// This configuration with heartbeats every `heartbeat` and the dead
    /// window that goes with them ([`dead_window`]), so that a host that
    /// lets its user pick the interval need not know the rule.
    #[must_use]
    pub const fn with_heartbeat(mut self, heartbeat: Duration) -> Self {
        self.heartbeat = heartbeat;
        self.dead_after = dead_window(heartbeat);
        self
    }

    /// Asks for the nickname `name` at login. The web login needs one and
    /// uses `visitor<uid>` when none is set.
    ///
    /// Fails with [`SessionError::BufferFull`] when `name` is longer than
    /// [`NICKNAME_MAX`] bytes, and with a [`SttError::NulByte`] when it holds
    /// a NUL, which no frame can carry (the login could never be sent); the
    /// configuration is then unchanged.
    pub fn set_username(&mut self, name: &str) -> Result<(), SessionError> {
        refuse_nul(name)?;
        let name = Nickname::try_from(name).map_err(|_| SessionError::BufferFull {
            needed: name.len(),
            capacity: NICKNAME_MAX,
        })?;
        self.username = Some(name);
        Ok(())
    }

    /// The nickname asked for, if one was set.
    #[must_use]
    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
    }
}

/// What the client has to tell its host; see [`Client::poll_event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
// A message view is a few hundred bytes of borrowed slices; with no allocator
// there is nothing to box it in, and each event is moved once.
#[allow(clippy::large_enum_variant)]
pub enum ClientEvent<'a> {
    /// The server accepted the login; the `joingroup` is queued.
    LoggedIn(LoginRes<'a>),
    /// The `joingroup` went out: broadcasts for the room follow.
    Joined {
        /// The room joined.
        room: u64,
    },
    /// A server message (every one but `loginres` and `error`).
    Message(ServerMessage<'a>),
    /// The server sent `type@=error/`; the session is over.
    ServerError {
        /// The error's `code`, when numeric.
        code: Option<i64>,
    },
    /// Input that could not be read. Unless a [`ClientEvent::Closed`]
    /// follows, the stream goes on with the next frame.
    Invalid(SessionError),
    /// Nothing arrived for longer than [`ClientConfig::dead_after`].
    Dead {
        /// How long the server had been silent.
        silent_for: Duration,
    },
    /// The session is over; close the connection.
    Closed(CloseReason),
}

/// Events the client raises without a frame to borrow from.
#[derive(Debug, Clone, Copy)]
enum Notice {
    Joined,
    Dead(Duration),
    Closed(CloseReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// `loginreq` queued or sent; waiting for `loginres`.
    LoggingIn,
    /// Logged in (and `joingroup` queued or sent).
    Ready,
    /// `logout` queued.
    LoggingOut,
    Closed,
}

/// Messages waiting for [`Client::poll_transmit`], sent in this order.
#[derive(Debug, Clone, Copy, Default)]
struct Outbox {
    login: bool,
    join: bool,
    heartbeat: bool,
    who: bool,
    logout: bool,
}

/// The client session over one connection, reassembling frames in a
/// caller-provided receive buffer.
///
/// Create it when the connection is up: the `loginreq` is queued at once.
///
/// ```
/// use douyu_core::session::{Client, ClientConfig, ClientEvent, Instant};
/// let mut rx = [0u8; 4096];
/// let mut tx = [0u8; 256];
/// let mut client = Client::new(ClientConfig::new(288016), &mut rx, Instant::from_millis(0));
/// let n = client.poll_transmit(&mut tx)?.unwrap();
/// assert!(tx[..n].ends_with(b"type@=loginreq/roomid@=288016/\0"));
/// // ... bytes from the server go to `client.handle_input(now, bytes)`;
/// // then `while let Some(event) = client.poll_event() { ... }`.
/// # Ok::<(), douyu_core::session::SessionError>(())
/// ```
#[derive(Debug)]
pub struct Client<'b> {
    config: ClientConfig,
    rx: Decoder<'b>,
    state: State,
    outbox: Outbox,
    /// Chat texts queued for [`Client::poll_transmit`], each ended by a NUL,
    /// which no text may hold; those before `chats_sent` are sent. Emptied
    /// when all are: shifting the rest down each time costs more code.
    chats: String<CHAT_QUEUE, u16>,
    chats_sent: usize,
    notices: Deque<Notice, 4>,
    next_heartbeat: Instant,
    last_heard: Instant,
}

impl<'b> Client<'b> {
    /// A session on a fresh connection at `now`, receiving into `rx_buf`
    /// (its length is the largest frame accepted; see [`Decoder::new`]).
    #[must_use]
    pub fn new(config: ClientConfig, rx_buf: &'b mut [u8], now: Instant) -> Self {
        let next_heartbeat = now + config.heartbeat;
        Self {
            config,
            rx: Decoder::new(rx_buf),
            state: State::LoggingIn,
            outbox: Outbox {
                login: true,
                ..Outbox::default()
            },
            chats: String::new(),
            chats_sent: 0,
            notices: Deque::new(),
            next_heartbeat,
            last_heard: now,
        }
    }

    /// The configuration the session was made with.
    #[must_use]
    pub const fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Whether the session is over (the host should close the connection).
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Takes bytes received at `now`; returns how many were taken. When the
    /// receive buffer is full, drain [`Client::poll_event`] and offer the rest.
    #[must_use = "bytes beyond the count were not taken; offer them again after polling events"]
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) -> usize {
        if !bytes.is_empty() {
            self.last_heard = now;
        }
        self.rx.feed(bytes)
    }

    /// The free part of the receive buffer, to read into directly; follow with
    /// [`Client::commit_input`]. Saves the copy of [`Client::handle_input`].
    pub fn receive_window(&mut self) -> &mut [u8] {
        self.rx.window()
    }

    /// Declares `n` bytes received at `now` into [`Client::receive_window`].
    ///
    /// # Panics
    /// In debug builds, if `n` is larger than the window (see
    /// [`Decoder::commit`]).
    #[track_caller]
    pub fn commit_input(&mut self, now: Instant, n: usize) {
        if n > 0 {
            self.last_heard = now;
        }
        self.rx.commit(n);
    }

    /// The next thing that happened, decoding received frames as it goes.
    /// Call until `None` after every input, transmit and timeout.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ClientEvent<'_>> {
        if let Some(notice) = self.notices.pop_front() {
            return Some(match notice {
                Notice::Joined => ClientEvent::Joined {
                    room: self.config.room,
                },
                Notice::Dead(silent_for) => ClientEvent::Dead { silent_for },
                Notice::Closed(reason) => ClientEvent::Closed(reason),
            });
        }
        if self.state == State::Closed {
            return None;
        }
        let ready = match self.rx.advance() {
            Ok(Some(ready)) => ready,
            Ok(None) => return None,
            Err(e) => {
                if e.is_fatal() {
                    close(
                        &mut self.state,
                        &mut self.notices,
                        CloseReason::Protocol(e.into()),
                    );
                }
                return Some(ClientEvent::Invalid(e.into()));
            }
        };
        let frame = match self.rx.take(ready) {
            Ok(frame) => frame,
            Err(e) => return Some(ClientEvent::Invalid(e.into())),
        };
        if frame.direction != Direction::ServerToClient {
            let found = frame.direction;
            return Some(ClientEvent::Invalid(SessionError::UnexpectedType { found }));
        }
        let message = match ServerMessage::parse(frame.body) {
            Ok(message) => message,
            Err(e) => return Some(ClientEvent::Invalid(e.into())),
        };
        Some(match message {
            ServerMessage::LoginRes(res) if self.state == State::LoggingIn => {
                self.state = State::Ready;
                self.outbox.join = true;
                ClientEvent::LoggedIn(res)
            }
            ServerMessage::Error(error) => {
                let code = error.code();
                close(
                    &mut self.state,
                    &mut self.notices,
                    CloseReason::ServerError { code },
                );
                ClientEvent::ServerError { code }
            }
            other => ClientEvent::Message(other),
        })
    }

    /// Encodes the next message to send into `out`, returning its length, or
    /// `None` when there is nothing to send. Call until `None`.
    ///
    /// A buffer of [`TRANSMIT_MAX`] bytes holds every frame. In a smaller
    /// one a frame that does not fit fails with [`SessionError::BufferFull`]
    /// and stays queued, to be asked for again.
    pub fn poll_transmit(&mut self, out: &mut [u8]) -> Result<Option<usize>, SessionError> {
        let room = self.config.room;
        let n = if self.outbox.login {
            let n = encode(out, DIRECTION, |m| self.write_login(m))?;
            self.outbox.login = false;
            n
        } else if self.outbox.join {
            let n = encode(out, DIRECTION, |m| {
                m.pair("type", "joingroup")?
                    .pair("rid", decimal("", room, &mut [0; 27]))?
                    .pair("gid", "-9999")?;
                Ok(())
            })?;
            self.outbox.join = false;
            let _ = self.notices.push_back(Notice::Joined);
            n
        } else if self.outbox.heartbeat {
            let n = encode(out, DIRECTION, |m| m.pair("type", "mrkl").map(drop))?;
            self.outbox.heartbeat = false;
            n
        } else if self.outbox.who {
            let n = encode(out, DIRECTION, |m| m.pair("type", "whoreq").map(drop))?;
            self.outbox.who = false;
            n
        } else if let (State::Ready, Some(text)) = (self.state, self.next_chat()) {
            let n = encode(out, DIRECTION, |m| {
                m.pair("type", CHAT)?.pair(CHAT_TEXT, text).map(drop)
            })?;
            self.chats_sent += text.len() + 1;
            if self.chats_sent >= self.chats.len() {
                self.chats.clear();
                self.chats_sent = 0;
            }
            n
        } else if self.outbox.logout {
            let n = encode(out, DIRECTION, |m| m.pair("type", "logout").map(drop))?;
            self.outbox = Outbox::default();
            close(&mut self.state, &mut self.notices, CloseReason::Logout);
            n
        } else {
            return Ok(None);
        };
        Ok(Some(n))
    }

    /// Queues a chat line (`type@=chatmsg/txt@=…/`) for
    /// [`Client::poll_transmit`], which sends it in turn with the session's
    /// other messages once logged in and joined. Lines queued while logging
    /// in wait for that; lines not yet sent when the session closes are
    /// dropped.
    ///
    /// Fails with [`SessionError::NotReady`] once the session is closing,
    /// with [`SessionError::BufferFull`] when the line does not fit the
    /// [`CHAT_QUEUE`] bytes left (its room is freed once every queued line
    /// is sent), and with
    /// [`SessionError::Stt`] ([`SttError::NulByte`]) for a NUL, which no
    /// frame can carry. Nothing is queued on failure.
    ///
    /// ```
    /// # use douyu_core::session::{Client, ClientConfig, Instant};
    /// # let mut rx = [0u8; 256];
    /// # let mut client = Client::new(ClientConfig::new(1), &mut rx, Instant::from_millis(0));
    /// client.queue_chat("主播好")?;
    /// // ... after the login, `poll_transmit` writes it.
    /// # Ok::<(), douyu_core::session::SessionError>(())
    /// ```
    pub fn queue_chat(&mut self, text: &str) -> Result<(), SessionError> {
        if !matches!(self.state, State::LoggingIn | State::Ready) {
            return Err(SessionError::NotReady);
        }
        refuse_nul(text)?;
        let queued = self.chats.len();
        let full = SessionError::BufferFull {
            needed: queued + text.len() + 1,
            capacity: CHAT_QUEUE,
        };
        if self.chats.push_str(text).is_err() || self.chats.push('\0').is_err() {
            self.chats.truncate(queued);
            return Err(full);
        }
        Ok(())
    }

    /// Asks who is online in the room (`type@=whoreq/`, this project's
    /// extension): the answer arrives as a [`ServerMessage::Who`]. Only once
    /// logged in.
    pub fn request_who(&mut self) -> Result<(), SessionError> {
        if self.state != State::Ready {
            return Err(SessionError::NotReady);
        }
        self.outbox.who = true;
        Ok(())
    }

    /// When [`Client::handle_timeout`] must next be called, if ever.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Closed => None,
            _ => Some(self.next_heartbeat.min(self.dead_line())),
        }
    }

    /// Advances the clock to `now`: queues due heartbeats and detects a dead
    /// connection.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state == State::Closed {
            return;
        }
        if now >= self.dead_line() {
            let silent_for = now.saturating_since(self.last_heard);
            let _ = self.notices.push_back(Notice::Dead(silent_for));
            close(
                &mut self.state,
                &mut self.notices,
                CloseReason::Silent { silent_for },
            );
            return;
        }
        if now >= self.next_heartbeat {
            self.outbox.heartbeat = true;
            // Keep the schedule anchored to the start: no drift however late
            // the host wakes, and beats missed while asleep are not bunched.
            while self.next_heartbeat <= now {
                self.next_heartbeat =
                    self.next_heartbeat + self.config.heartbeat.max(Duration::from_millis(1));
            }
        }
    }

    /// Starts a clean logout: `type@=logout/` is queued, and the session
    /// closes once it is transmitted.
    pub fn close(&mut self) {
        if matches!(self.state, State::LoggingIn | State::Ready) {
            self.state = State::LoggingOut;
            self.outbox = Outbox {
                logout: true,
                ..Outbox::default()
            };
        }
    }

    /// The first chat text queued and not yet sent.
    fn next_chat(&self) -> Option<&str> {
        let rest = self.chats.get(self.chats_sent..)?;
        let end = rest.bytes().position(|b| b == 0)?;
        rest.get(..end)
    }

    fn dead_line(&self) -> Instant {
        self.last_heard + self.config.dead_after
    }

    fn write_login(&self, m: &mut MapWriter<'_, '_>) -> Result<(), SttError> {
        m.pair("type", "loginreq")?
            .pair("roomid", decimal("", self.config.room, &mut [0; 27]))?;
        match self.config.login {
            Login::Tcp => {
                if let Some(name) = &self.config.username {
                    m.pair("username", name)?;
                }
            }
            Login::Web { uid } => {
                m.list("dfl", |l| {
                    l.map(|f| f.pair("sn", "105")?.pair("ss", "1").map(drop))?;
                    Ok(())
                })?;
                match &self.config.username {
                    Some(name) => m.pair("username", name)?,
                    None => m.pair("username", decimal("visitor", uid, &mut [0; 27]))?,
                };
                m.pair("uid", decimal("", uid, &mut [0; 27]))?
                    .pair("ver", "20190610")?
                    .pair("aver", "218101901")?
                    .pair("ct", "0")?;
            }
        }
        Ok(())
    }
}

/// `prefix` (at most 7 bytes) then `n` in decimal, in `buf`: the numbers the
/// client sends, written without `core::fmt`, whose machinery would be most
/// of what a device links for them. (Iterators and checked slicing: the
/// panics of indexing would bring that machinery back for their messages.)
fn decimal<'b>(prefix: &str, mut n: u64, buf: &'b mut [u8; 27]) -> &'b str {
    let mut at = buf.len();
    for slot in buf.iter_mut().rev() {
        let (rest, digit) = div_rem::<10>(n);
        *slot = b'0' + digit as u8;
        at -= 1;
        n = rest;
        if n == 0 {
            break;
        }
    }
    let start = at.saturating_sub(prefix.len());
    if let Some(head) = buf.get_mut(start..at) {
        head.copy_from_slice(prefix.as_bytes());
    }
    buf.get(start..)
        .and_then(|text| core::str::from_utf8(text).ok())
        .unwrap_or_default()
}

/// Refuses a text that holds a NUL: no frame can carry one, so it is
/// refused when given, not when it could never be sent.
fn refuse_nul(text: &str) -> Result<(), SessionError> {
    match text.bytes().position(|b| b == 0) {
        Some(offset) => Err(SessionError::Stt(SttError::NulByte { offset })),
        None => Ok(()),
    }
}

fn close(state: &mut State, notices: &mut Deque<Notice, 4>, reason: CloseReason) {
    if *state != State::Closed {
        *state = State::Closed;
        // Room is kept for this: at most Joined, Dead and Closed are queued.
        let _ = notices.push_back(Notice::Closed(reason));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Frame;
    use crate::message::ClientMessage;
    use std::string::ToString;
    use std::{format, vec};

    /// A client logged in and joined, nothing left to send.
    fn joined(rx: &mut [u8]) -> Client<'_> {
        let now = Instant::from_millis(0);
        let mut client = Client::new(ClientConfig::new(u64::MAX), rx, now);
        let mut out = [0u8; REPLY_MAX];
        assert!(client.poll_transmit(&mut out).unwrap().is_some());
        let n = Frame::new(Direction::ServerToClient, "type@=loginres/userid@=1/")
            .encode(&mut out)
            .unwrap();
        assert_eq!(client.handle_input(now, &out[..n]), n);
        assert!(matches!(
            client.poll_event(),
            Some(ClientEvent::LoggedIn(_))
        ));
        while client.poll_transmit(&mut out).unwrap().is_some() {}
        client
    }

    /// `TRANSMIT_MAX` is exactly the largest frame: the longest line the
    /// queue takes, all of it escaped, fits a buffer of that size and not
    /// one byte less. (Every other frame fits `REPLY_MAX`, tested in
    /// `tests/tests/sessions.rs`, which is no larger: asserted at build.)
    #[test]
    fn the_worst_chat_line_fills_transmit_max_exactly() {
        assert_eq!(TRANSMIT_MAX, 543, "the figure the docs quote");
        let mut rx = [0u8; 64];
        let mut client = joined(&mut rx);
        let longest = CHAT_QUEUE - 1;
        for text in [
            "@".repeat(longest),
            "/".repeat(longest),
            "@/".repeat(longest / 2) + "@",
        ] {
            client.queue_chat(&text).unwrap();
            assert!(client.queue_chat("").is_err(), "the queue is full");
            let mut out = vec![0u8; TRANSMIT_MAX];
            assert_eq!(
                client.poll_transmit(&mut out[..TRANSMIT_MAX - 1]),
                Err(SessionError::BufferFull {
                    needed: TRANSMIT_MAX,
                    capacity: TRANSMIT_MAX - 1
                })
            );
            assert_eq!(client.poll_transmit(&mut out), Ok(Some(TRANSMIT_MAX)));
            let (frame, _) = Frame::decode(&out).unwrap().unwrap();
            let Ok(ClientMessage::Chat(chat)) = ClientMessage::parse(frame.body) else {
                panic!("not a chat line: {}", frame.body);
            };
            assert_eq!(chat.txt.unwrap().to_string(), text);
            assert_eq!(client.poll_transmit(&mut out), Ok(None));
        }
        // A line that needs no escaping is half as long on the wire.
        client.queue_chat(&"x".repeat(longest)).unwrap();
        let mut out = [0u8; TRANSMIT_MAX];
        assert_eq!(
            client.poll_transmit(&mut out),
            Ok(Some(TRANSMIT_MAX - longest))
        );
    }

    #[test]
    fn decimal_is_display() {
        for n in [
            0,
            7,
            10,
            288_016,
            1 << 32,
            u64::MAX / 10,
            u64::MAX - 1,
            u64::MAX,
        ] {
            assert_eq!(decimal("", n, &mut [0; 27]), format!("{n}"));
            assert_eq!(decimal("visitor", n, &mut [0; 27]), format!("visitor{n}"));
        }
    }
}
