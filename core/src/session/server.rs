//! The server side of §4, one [`ServerSession`] per connected client.

use core::fmt::Write as _;
use core::time::Duration;

use super::{CloseReason, Instant, Nickname, SessionError, encode};

use crate::frame::{Frame, MessageType};
use crate::message::{ClientMessage, LoginReq};
use crate::stream::StreamError;
use crate::stt::{MapWriter, SttError, Text};

/// The type field of every frame this side sends.
const DIRECTION: MessageType = MessageType::ServerToClient;

/// The `code`s this project's server puts in `type@=error/code@=…/`.
pub mod error_code {
    /// The login's room id is missing or not a number (Douyu uses 204 for
    /// a bad room as well).
    pub const BAD_ROOM: i64 = 204;
    /// The nickname is already in use in the room.
    pub const NICKNAME_TAKEN: i64 = 1001;
    /// The nickname is empty after unescaping, too long, or unreadable.
    pub const BAD_NICKNAME: i64 = 1002;
}

/// The host's rooms, as a session needs them: nicknames unique per room, and
/// user ids. Implemented by the host over growable maps.
pub trait Registry {
    /// Reserves `name` in `room`; `false` when another client holds it.
    fn claim(&mut self, room: u64, name: &str) -> bool;
    /// Frees a name claimed earlier, when its session ends.
    fn release(&mut self, room: u64, name: &str);
    /// A user id no other client of this server has.
    fn next_uid(&mut self) -> u64;
}

/// Settings of the server's sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ServerConfig {
    /// Silence after which a client is dropped (two 45 s heartbeats).
    pub heartbeat_window: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            heartbeat_window: Duration::from_secs(90),
        }
    }
}

/// What a server session has to tell its host; see [`ServerSession::poll_event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ServerEvent {
    /// The client joined the room's broadcast.
    Joined {
        /// The room.
        room: u64,
    },
    /// The session is over: once [`ServerSession::poll_transmit`] has
    /// nothing more, close the connection.
    Closed(CloseReason),
}

/// A chat line a client asked to send, to broadcast to its room with
/// [`ServerSession::encode_chat`]. Borrows the client's frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Relay<'f> {
    /// The sender's room.
    pub room: u64,
    /// The text, as escaped in the client's frame.
    pub text: Text<'f>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Connected,
    LoggedIn,
    Joined,
    /// An error reply is queued; closed once it is sent.
    Refusing,
    Closed,
}

/// The server's side of one client connection.
///
/// Feed it the client's frames with [`ServerSession::handle_frame`]; the
/// host reassembles them (a [`crate::stream::Decoder`] per connection, or a
/// buffer of its own that it can free while the client is idle).
#[derive(Debug)]
pub struct ServerSession {
    config: ServerConfig,
    state: State,
    room: u64,
    uid: u64,
    nickname: Nickname,
    /// Whether `nickname` is claimed in the registry (and must be released).
    claimed: bool,
    last_heard: Instant,
    reply_login: bool,
    reply_heartbeat: bool,
    reply_error: Option<i64>,
    /// A [`ServerEvent::Joined`] not yet taken by `poll_event`.
    joined_event: bool,
    /// A [`ServerEvent::Closed`] not yet taken; it comes after any `Joined`,
    /// as a session joins at most once and closes at most once, and only
    /// after joining if it joined at all. Two fields instead of a queue: no
    /// order of events the session cannot produce can be stored.
    closed_event: Option<CloseReason>,
}

impl ServerSession {
    /// A session for a client that connected at `now`.
    #[must_use]
    pub fn new(config: ServerConfig, now: Instant) -> Self {
        Self {
            config,
            state: State::Connected,
            room: 0,
            uid: 0,
            nickname: Nickname::new(),
            claimed: false,
            last_heard: now,
            reply_login: false,
            reply_heartbeat: false,
            reply_error: None,
            joined_event: false,
            closed_event: None,
        }
    }

    /// The room the client logged in to, once it has.
    #[must_use]
    pub fn room(&self) -> Option<u64> {
        matches!(self.state, State::LoggedIn | State::Joined).then_some(self.room)
    }

    /// The client's nickname (empty before login).
    #[must_use]
    pub fn nickname(&self) -> &str {
        &self.nickname
    }

    /// The client's user id (0 before login).
    #[must_use]
    pub const fn uid(&self) -> u64 {
        self.uid
    }

    /// Whether the session is over and its replies are all out.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Handles one frame from the client, received at `now`.
    ///
    /// Returns a chat line to broadcast, if the frame was one. A frame that
    /// breaks the protocol ends the session (the reason arrives as
    /// [`ServerEvent::Closed`]) and is returned as the error.
    pub fn handle_frame<'f, R: Registry>(
        &mut self,
        now: Instant,
        frame: Frame<'f>,
        registry: &mut R,
    ) -> Result<Option<Relay<'f>>, SessionError> {
        if matches!(self.state, State::Refusing | State::Closed) {
            return Err(SessionError::NotReady);
        }
        self.last_heard = now;
        self.interpret(frame, registry).inspect_err(|&e| {
            self.end(CloseReason::Protocol(e), registry);
        })
    }

    fn interpret<'f, R: Registry>(
        &mut self,
        frame: Frame<'f>,
        registry: &mut R,
    ) -> Result<Option<Relay<'f>>, SessionError> {
        if frame.message_type != MessageType::ClientToServer {
            return Err(SessionError::UnexpectedType {
                found: frame.message_type,
            });
        }
        let logged_in = matches!(self.state, State::LoggedIn | State::Joined);
        match ClientMessage::parse(frame.body)? {
            ClientMessage::Login(req) if self.state == State::Connected => {
                self.login(req, registry)?
            }
            ClientMessage::Login(_) => {
                return Err(SessionError::OutOfOrder {
                    message: "loginreq",
                });
            }
            ClientMessage::JoinGroup(join) if logged_in => {
                let rid = join.rid.map_or(Some(self.room), |rid| rid.parse::<u64>());
                if rid != Some(self.room) {
                    return Err(SessionError::BadField { field: "rid" });
                }
                if self.state == State::LoggedIn {
                    self.state = State::Joined;
                    self.joined_event = true;
                }
            }
            ClientMessage::JoinGroup(_) => {
                return Err(SessionError::OutOfOrder {
                    message: "joingroup",
                });
            }
            ClientMessage::Heartbeat(_) => self.reply_heartbeat = true,
            ClientMessage::Chat(chat) if logged_in => {
                let text = chat.txt.ok_or(SessionError::BadField { field: "txt" })?;
                return Ok(Some(Relay {
                    room: self.room,
                    text,
                }));
            }
            ClientMessage::Chat(_) => return Err(SessionError::OutOfOrder { message: "chatmsg" }),
            ClientMessage::Logout(_) => self.end(CloseReason::Logout, registry),
            // Unknown requests are ignored, as the service does.
            _ => {}
        }
        Ok(None)
    }

    fn login<R: Registry>(
        &mut self,
        req: LoginReq<'_>,
        registry: &mut R,
    ) -> Result<(), SessionError> {
        let Some(room) = req.roomid.and_then(|r| r.parse::<u64>()) else {
            self.refuse(error_code::BAD_ROOM, registry);
            return Ok(());
        };
        self.room = room;
        self.uid = registry.next_uid();
        self.nickname.clear();
        let named = match req.username {
            Some(name) if !name.is_empty() => name
                .pieces()
                .try_for_each(|p| self.nickname.push_str(p))
                .is_ok(),
            // Visitors get a generated name; the uid makes it unique.
            _ => write!(self.nickname, "visitor{}", self.uid).is_ok(),
        };
        if !named {
            self.refuse(error_code::BAD_NICKNAME, registry);
            return Ok(());
        }
        if !registry.claim(room, &self.nickname) {
            self.refuse(error_code::NICKNAME_TAKEN, registry);
            return Ok(());
        }
        self.claimed = true;
        self.state = State::LoggedIn;
        self.reply_login = true;
        Ok(())
    }

    /// Queues `type@=error/code@=…/`; the session closes once it is sent.
    fn refuse<R: Registry>(&mut self, code: i64, registry: &mut R) {
        self.release(registry);
        self.reply_login = false;
        self.reply_heartbeat = false;
        self.reply_error = Some(code);
        self.state = State::Refusing;
    }

    /// Encodes the next reply into `out`, returning its length, or `None`
    /// when there is nothing to send. Call until `None`.
    pub fn poll_transmit(&mut self, out: &mut [u8]) -> Result<Option<usize>, SessionError> {
        let n = if let Some(code) = self.reply_error {
            let n = encode(out, DIRECTION, |m| {
                m.pair("type", "error")?
                    .pair_display("code", &code)
                    .map(drop)
            })?;
            self.reply_error = None;
            self.state = State::Closed;
            self.closed_event = Some(CloseReason::Refused { code });
            n
        } else if self.reply_login {
            let n = encode(out, DIRECTION, |m| self.write_login_reply(m))?;
            self.reply_login = false;
            n
        } else if self.reply_heartbeat {
            let n = encode(out, DIRECTION, |m| m.pair("type", "mrkl").map(drop))?;
            self.reply_heartbeat = false;
            n
        } else {
            return Ok(None);
        };
        Ok(Some(n))
    }

    fn write_login_reply(&self, m: &mut MapWriter<'_, '_>) -> Result<(), SttError> {
        m.pair("type", "loginres")?
            .pair_display("userid", &self.uid)?
            .pair("roomgroup", "0")?
            .pair("pg", "0")?
            .pair_display("sessionid", &self.uid)?
            .pair("username", &self.nickname)?
            .pair("nickname", &self.nickname)?
            .pair("live_stat", "1")?;
        Ok(())
    }

    /// Encodes the broadcast `chatmsg` for a [`Relay`] from this client: its
    /// room, uid and nickname, and the text as the client escaped it.
    pub fn encode_chat(&self, relay: &Relay<'_>, out: &mut [u8]) -> Result<usize, SessionError> {
        encode(out, DIRECTION, |m| {
            m.pair("type", "chatmsg")?
                .pair_display("rid", &relay.room)?
                .pair_display("uid", &self.uid)?
                .pair("nn", &self.nickname)?
                .pair_text("txt", relay.text)?
                .pair("level", "1")?;
            Ok(())
        })
    }

    /// The next event, if any.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        if core::mem::take(&mut self.joined_event) {
            return Some(ServerEvent::Joined { room: self.room });
        }
        self.closed_event.take().map(ServerEvent::Closed)
    }

    /// When [`ServerSession::handle_timeout`] must next be called, if ever.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Refusing | State::Closed => None,
            _ => Some(self.last_heard + self.config.heartbeat_window),
        }
    }

    /// Advances the clock to `now`, dropping a client silent for too long.
    pub fn handle_timeout<R: Registry>(&mut self, now: Instant, registry: &mut R) {
        if self.poll_timeout().is_some_and(|deadline| now >= deadline) {
            let silent = now.saturating_since(self.last_heard);
            let for_ms = u64::try_from(silent.as_millis()).unwrap_or(u64::MAX);
            self.end(CloseReason::Silent { for_ms }, registry);
        }
    }

    /// Ends the session because the client's bytes could not be framed (the
    /// host reassembles frames, so it reports what went wrong).
    pub fn handle_stream_error<R: Registry>(&mut self, error: StreamError, registry: &mut R) {
        self.end(CloseReason::Protocol(SessionError::Stream(error)), registry);
    }

    /// Ends the session from the host's side (shutdown, slow consumer).
    pub fn close<R: Registry>(&mut self, registry: &mut R) {
        self.end(CloseReason::Local, registry);
    }

    fn end<R: Registry>(&mut self, reason: CloseReason, registry: &mut R) {
        if self.state == State::Closed {
            return;
        }
        self.release(registry);
        self.state = State::Closed;
        self.reply_login = false;
        self.reply_heartbeat = false;
        self.reply_error = None;
        self.closed_event = Some(reason);
    }

    fn release<R: Registry>(&mut self, registry: &mut R) {
        if core::mem::take(&mut self.claimed) {
            registry.release(self.room, &self.nickname);
        }
    }
}
