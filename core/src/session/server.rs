//! The server side of §4, one [`ServerSession`] per connected client.

use core::fmt::Write as _;
use core::time::Duration;

use super::{CloseReason, DEAD_AFTER, Instant, Nickname, SessionError, encode};

use crate::frame::{Direction, Frame};
use crate::message::{ClientMessage, LoginReq};
use crate::stream::StreamError;
use crate::stt::{MapWriter, SttError, Text};

/// The type field of every frame this side sends.
const DIRECTION: Direction = Direction::ServerToClient;

/// The `code`s this project's server puts in `type@=error/code@=…/`. Each
/// one ends the session.
pub mod error_code {
    /// The login's room id is missing or not a number (Douyu uses 204 for
    /// a bad room as well).
    pub const BAD_ROOM: i64 = 204;
    /// The nickname is already in use in the room.
    pub const NICKNAME_TAKEN: i64 = 1001;
    /// The nickname is empty after unescaping, too long, padded with
    /// spaces, or holds characters that would deceive a reader; see
    /// [`super::nickname_is_acceptable`].
    pub const BAD_NICKNAME: i64 = 1002;
    /// The server holds as many rooms as it allows and this would be a new
    /// one.
    pub const ROOMS_FULL: i64 = 1003;
    /// The client kept sending chat faster than its limit allows; see
    /// [`super::ChatLimit`].
    pub const FLOODING: i64 = 1004;
    /// The client did not log in within [`super::ServerConfig::login_timeout`].
    pub const LOGIN_TIMEOUT: i64 = 1005;
}

/// Why the host's [`Registry`] would not admit a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Refusal {
    /// Another client of the room holds the nickname.
    NicknameTaken,
    /// The room would be new and the server holds as many as it allows.
    RoomsFull,
}

impl Refusal {
    /// The [`error_code`] the client is sent.
    #[must_use]
    pub const fn code(self) -> i64 {
        match self {
            Self::NicknameTaken => error_code::NICKNAME_TAKEN,
            Self::RoomsFull => error_code::ROOMS_FULL,
        }
    }
}

/// The host's rooms, as a session needs them: who is in which room under
/// which nickname, and user ids. Implemented by the host over growable maps.
pub trait Registry {
    /// Admits a client to `room` under `name`, giving it a user id no other
    /// client of this server has. `None` admits a visitor, whose name is
    /// [`visitor_name`] of the id given (no other client can hold it, as
    /// names of that form are never granted on request). A refused client
    /// takes no id.
    fn join(&mut self, room: u64, name: Option<&str>) -> Result<u64, Refusal>;
    /// Frees what `join` took, when the session ends: the room goes with
    /// its last member.
    fn leave(&mut self, room: u64, name: &str);
}

/// The name a visitor is given: `visitor<uid>`.
#[must_use]
pub fn visitor_name(uid: u64) -> Nickname {
    let mut name = Nickname::new();
    // "visitor" and twenty digits fit `NICKNAME_MAX`.
    let _ = write!(name, "visitor{uid}");
    name
}

/// Whether `name` is of the form visitors are given (`visitor` and digits,
/// in any case): such a name asked for at login is not granted, the client
/// is admitted as a visitor instead. The web player's login asks for one of
/// these for every visitor, so this admits it as what it is, and nobody can
/// hold the name the next visitor would get.
#[must_use]
pub fn is_visitor_name(name: &str) -> bool {
    const PREFIX: &str = "visitor";
    name.len() > PREFIX.len()
        && name.as_bytes()[..PREFIX.len()].eq_ignore_ascii_case(PREFIX.as_bytes())
        && name.as_bytes()[PREFIX.len()..]
            .iter()
            .all(u8::is_ascii_digit)
}

/// Whether a nickname may be granted: not blank, not padded with white
/// space, and free of what would let one name pass for another or hide in a
/// terminal: control characters (C0, DEL, C1), line and paragraph
/// separators, bidirectional overrides, isolates and marks, and characters
/// that show nothing — zero-width ones (the joiner of emoji sequences
/// included: on its own it is as invisible), the other format characters,
/// variation selectors, tag characters, and the fillers and blanks that
/// render as an empty cell. With those out, `alice` and `alice` + an
/// invisible character cannot both hold a room's list. (Look-alike letters
/// of other scripts are a matter of fonts, not of this rule.)
#[must_use]
pub fn nickname_is_acceptable(name: &str) -> bool {
    let trimmed = name.trim();
    !trimmed.is_empty() && trimmed.len() == name.len() && !name.chars().any(is_deceptive)
}

/// A character a nickname must not hold; see [`nickname_is_acceptable`].
fn is_deceptive(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}' // soft hyphen
                | '\u{034F}' // combining grapheme joiner
                | '\u{061C}' // Arabic letter mark
                | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' // Hangul fillers
                | '\u{17B4}' | '\u{17B5}' // Khmer inherent vowels
                | '\u{180B}'..='\u{180F}' // Mongolian selectors and vowel separator
                | '\u{200B}'..='\u{200F}' // zero-width space, joiners, LRM/RLM
                | '\u{2028}'..='\u{202E}' // separators, embeddings and overrides
                | '\u{2060}'..='\u{206F}' // word joiner, invisible operators, isolates
                | '\u{2800}' // braille blank
                | '\u{FE00}'..='\u{FE0F}' // variation selectors
                | '\u{FEFF}' // zero-width no-break space
                | '\u{FFF9}'..='\u{FFFB}' // interlinear annotation
                | '\u{1D173}'..='\u{1D17A}' // musical format characters
                | '\u{E0000}'..='\u{E0FFF}' // tags, variation selectors supplement
        )
}

/// How much chat one client may send: a token bucket of `burst` lines that
/// refills one line every `interval`. A line with no token left is dropped
/// (not relayed) and still costs a token, so a client that keeps sending
/// runs up a debt; a debt of [`ChatLimit::patience`] lines is flooding, and
/// the session ends with [`error_code::FLOODING`]. A person typing a little
/// fast loses a line now and then; a script hammering the room is cut off
/// within a second or two; either way the room hears at most `burst` lines
/// at once and one per `interval` after that from each client. A `whoreq`
/// costs a line too: its reply is large.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ChatLimit {
    /// Time for one line to refill (the session keeps it to the
    /// millisecond, up to a minute: slower than a line a minute is no chat).
    pub interval: Duration,
    /// Lines that may be sent back to back.
    pub burst: u16,
}

impl ChatLimit {
    /// `per_second` lines a second (at least one), `burst` at once.
    #[must_use]
    pub const fn per_second(per_second: u16, burst: u16) -> Self {
        let per_second = if per_second == 0 { 1 } else { per_second };
        Self {
            interval: Duration::from_millis(1000 / per_second as u64),
            burst,
        }
    }

    /// Dropped lines beyond the refill that end the session: one more than
    /// twice the burst, so a burst sent twice over in a moment is forgiven.
    #[must_use]
    pub const fn patience(&self) -> u32 {
        2 * self.burst as u32 + 1
    }
}

impl ChatLimit {
    /// Lines a second of [`ChatLimit::default`].
    pub const DEFAULT_PER_SECOND: u16 = 10;
    /// Lines at once of [`ChatLimit::default`].
    pub const DEFAULT_BURST: u16 = 5;
}

impl Default for ChatLimit {
    /// Ten lines a second, five at once.
    fn default() -> Self {
        Self::per_second(Self::DEFAULT_PER_SECOND, Self::DEFAULT_BURST)
    }
}

/// Settings of the server's sessions. Build from [`ServerConfig::default`]
/// and set fields: more may come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct ServerConfig {
    /// Silence after which a client is dropped: by default [`DEAD_AFTER`],
    /// two of the heartbeats clients are expected to send.
    pub heartbeat_window: Duration,
    /// Time a new connection has to log in, whatever else it sends; then
    /// it is refused with [`error_code::LOGIN_TIMEOUT`]. A connection that
    /// never logs in holds a slot a real client could use.
    pub login_timeout: Duration,
    /// Each client's chat limit; `None`: unlimited.
    pub chat_limit: Option<ChatLimit>,
    /// Longest chat text relayed, in bytes as the client escaped it
    /// (at most [`u16::MAX`]); a longer line is dropped. A room's broadcast
    /// ring keeps its last lines whoever reads them, so this bounds what a
    /// room holds: by default 512 B, where Douyu's own players stop at a few
    /// dozen characters.
    pub max_chat_len: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            heartbeat_window: DEAD_AFTER,
            login_timeout: Duration::from_secs(5),
            chat_limit: Some(ChatLimit::default()),
            max_chat_len: 512,
        }
    }
}

/// What a server session has to tell its host; see [`ServerSession::poll_event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ServerEvent {
    /// The client joined the room's broadcast: subscribe it, and announce
    /// it to the room with [`ServerSession::encode_enter`].
    Joined {
        /// The room.
        room: u64,
    },
    /// The client asked who is online: answer with
    /// [`ServerSession::encode_who`].
    WhoRequested {
        /// The client's room.
        room: u64,
    },
    /// A client that had joined is leaving: announce it to the room with
    /// [`ServerSession::encode_leave`] (a `Closed` follows).
    Left {
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

/// A member of a room, as [`ServerSession::encode_who`] lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Member<'a> {
    /// The member's user id.
    pub uid: u64,
    /// The member's nickname.
    pub nickname: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Connected,
    LoggedIn,
    Joined,
    /// Over; replies still queued are sent first (see `is_closed`).
    Closed,
}

/// The server's side of one client connection.
///
/// Feed it the client's frames with [`ServerSession::handle_frame`]; the
/// host reassembles them (a [`crate::stream::Decoder`] per connection, or a
/// buffer of its own that it can free while the client is idle).
#[derive(Debug)]
pub struct ServerSession {
    limits: Limits,
    state: State,
    room: u64,
    uid: u64,
    nickname: Nickname,
    /// Whether the registry admitted the client (and must be told it left).
    admitted: bool,
    last_heard: Instant,
    /// Before login: when the connection was made. After: when the chat
    /// bucket is full again (see `admit_chat`).
    chat_due: Instant,
    reply_login: bool,
    reply_heartbeat: bool,
    /// The error code to send (0: none); codes are small.
    reply_error: u16,
    /// Events not yet taken by `poll_event`, in the order it gives them. A
    /// session joins at most once, leaves at most once after joining and
    /// closes at most once, last: flags instead of a queue, so that no
    /// order of events the session cannot produce can be stored.
    joined_event: bool,
    who_event: bool,
    left_event: bool,
    closed_event: Option<CloseReason>,
}

impl ServerSession {
    /// A session for a client that connected at `now`.
    #[must_use]
    pub fn new(config: ServerConfig, now: Instant) -> Self {
        Self {
            limits: Limits::new(&config),
            state: State::Connected,
            room: 0,
            uid: 0,
            nickname: Nickname::new(),
            admitted: false,
            last_heard: now,
            chat_due: now,
            reply_login: false,
            reply_heartbeat: false,
            reply_error: 0,
            joined_event: false,
            who_event: false,
            left_event: false,
            closed_event: None,
        }
    }

    /// The room the client logged in to, while it is logged in.
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
        self.state == State::Closed && !self.has_replies()
    }

    const fn has_replies(&self) -> bool {
        self.reply_login || self.reply_heartbeat || self.reply_error != 0
    }

    /// Handles one frame from the client, received at `now`.
    ///
    /// Returns a chat line to broadcast, if the frame was one and the
    /// client's [`ChatLimit`] allows it. A frame that breaks the protocol
    /// ends the session (the reason arrives as [`ServerEvent::Closed`]) and
    /// is returned as the error; replies queued before it are still sent.
    pub fn handle_frame<'f, R: Registry>(
        &mut self,
        now: Instant,
        frame: Frame<'f>,
        registry: &mut R,
    ) -> Result<Option<Relay<'f>>, SessionError> {
        if self.state == State::Closed {
            return Err(SessionError::NotReady);
        }
        self.last_heard = now;
        self.interpret(now, frame, registry).inspect_err(|&e| {
            self.end(CloseReason::Protocol(e), registry);
        })
    }

    fn interpret<'f, R: Registry>(
        &mut self,
        now: Instant,
        frame: Frame<'f>,
        registry: &mut R,
    ) -> Result<Option<Relay<'f>>, SessionError> {
        if frame.direction != Direction::ClientToServer {
            return Err(SessionError::UnexpectedType {
                found: frame.direction,
            });
        }
        let logged_in = matches!(self.state, State::LoggedIn | State::Joined);
        match ClientMessage::parse(frame.body)? {
            ClientMessage::Login(req) if self.state == State::Connected => {
                self.login(now, req, registry);
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
                // A line too long costs its token all the same.
                let admitted = self.admit_chat(now, registry);
                let fits = text.raw().len() <= usize::from(self.limits.max_chat_len);
                return Ok((admitted && fits).then_some(Relay {
                    room: self.room,
                    text,
                }));
            }
            ClientMessage::Chat(_) => return Err(SessionError::OutOfOrder { message: "chatmsg" }),
            // A reply lists the room: asking costs a line of the chat
            // limit, so the request cannot be an amplifier.
            ClientMessage::Who(_) if logged_in => {
                self.who_event |= self.admit_chat(now, registry);
            }
            ClientMessage::Who(_) => return Err(SessionError::OutOfOrder { message: "whoreq" }),
            ClientMessage::Logout(_) => self.end(CloseReason::Logout, registry),
            // Unknown requests are ignored, as the service does.
            _ => {}
        }
        Ok(None)
    }

    fn login<R: Registry>(&mut self, now: Instant, req: LoginReq<'_>, registry: &mut R) {
        let Some(room) = req.roomid.and_then(|r| r.parse::<u64>()) else {
            return self.refuse(error_code::BAD_ROOM, registry);
        };
        self.nickname.clear();
        let asked = match req.username {
            Some(name) if !name.is_empty() => {
                let fits = name
                    .pieces()
                    .try_for_each(|p| self.nickname.push_str(p))
                    .is_ok();
                if !fits || !nickname_is_acceptable(&self.nickname) {
                    self.nickname.clear();
                    return self.refuse(error_code::BAD_NICKNAME, registry);
                }
                // A visitor's name asked for is a visitor's login.
                !is_visitor_name(&self.nickname)
            }
            _ => false,
        };
        let name = asked.then_some(self.nickname.as_str());
        match registry.join(room, name) {
            Ok(uid) => {
                self.uid = uid;
                if !asked {
                    self.nickname = visitor_name(uid);
                }
            }
            Err(refusal) => {
                self.nickname.clear();
                return self.refuse(refusal.code(), registry);
            }
        }
        self.room = room;
        self.admitted = true;
        self.state = State::LoggedIn;
        self.reply_login = true;
        // The chat bucket starts full.
        self.chat_due = now;
    }

    /// Whether a chat line sent at `now` fits the client's [`ChatLimit`];
    /// ends the session of a client that floods.
    ///
    /// One bucket (GCRA: `chat_due` is when it will be full again) holds
    /// both: a line is admitted while the bucket has a token; a dropped line
    /// still costs one, so a client that keeps sending runs up a debt, and
    /// a debt of [`ChatLimit::patience`] lines ends the session. (One
    /// instant instead of two keeps every idle connection's task in its
    /// allocation size.)
    fn admit_chat<R: Registry>(&mut self, now: Instant, registry: &mut R) -> bool {
        let Limits {
            chat_interval_ms: interval,
            chat_burst: burst,
            ..
        } = self.limits;
        if interval == 0 {
            return true;
        }
        let limit = ChatLimit {
            interval: Duration::from_millis(u64::from(interval)),
            burst,
        };
        let tolerance = limit.interval * u32::from(burst.saturating_sub(1));
        let due = self.chat_due.max(now);
        self.chat_due = due + limit.interval;
        let ahead = due.saturating_since(now);
        if ahead <= tolerance {
            return true;
        }
        if ahead > tolerance + limit.interval * limit.patience() {
            self.refuse(error_code::FLOODING, registry);
        }
        false
    }

    /// Queues `type@=error/code@=…/` and ends the session; it closes once
    /// the error is sent.
    fn refuse<R: Registry>(&mut self, code: i64, registry: &mut R) {
        self.end(CloseReason::Refused { code }, registry);
        // The error is the only reply left. Every code of `error_code` fits.
        self.drop_replies();
        self.reply_error = u16::try_from(code).unwrap_or(u16::MAX);
    }

    /// Encodes the next reply into `out`, returning its length, or `None`
    /// when there is nothing to send. Call until `None`. The longest reply
    /// is the `loginres`, under [`REPLY_MAX`](super::REPLY_MAX) bytes.
    pub fn poll_transmit(&mut self, out: &mut [u8]) -> Result<Option<usize>, SessionError> {
        let n = if self.reply_login {
            let n = encode(out, DIRECTION, |m| self.write_login_reply(m))?;
            self.reply_login = false;
            n
        } else if self.reply_heartbeat {
            let n = encode(out, DIRECTION, |m| m.pair("type", "mrkl").map(drop))?;
            self.reply_heartbeat = false;
            n
        } else if self.reply_error != 0 {
            let code = self.reply_error;
            let n = encode(out, DIRECTION, |m| {
                m.pair("type", "error")?
                    .pair_display("code", &code)
                    .map(drop)
            })?;
            self.reply_error = 0;
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
    /// room, uid and nickname, and the text as the client escaped it. It
    /// takes at most [`REPLY_MAX`](super::REPLY_MAX) bytes more than that
    /// text, so a buffer of the largest frame accepted plus `REPLY_MAX`
    /// holds any relay.
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

    /// Encodes the `uenter` that announces this client to its room (after
    /// [`ServerEvent::Joined`]): `rid`, `uid`, `nn`, `level`. At most
    /// [`REPLY_MAX`](super::REPLY_MAX) bytes.
    pub fn encode_enter(&self, out: &mut [u8]) -> Result<usize, SessionError> {
        self.encode_presence("uenter", out)
    }

    /// Encodes the `uleave` that tells its room this client left (after
    /// [`ServerEvent::Left`]): `rid`, `uid`, `nn`. At most [`REPLY_MAX`](super::REPLY_MAX)
    /// bytes.
    pub fn encode_leave(&self, out: &mut [u8]) -> Result<usize, SessionError> {
        self.encode_presence("uleave", out)
    }

    fn encode_presence(&self, kind: &str, out: &mut [u8]) -> Result<usize, SessionError> {
        encode(out, DIRECTION, |m| {
            m.pair("type", kind)?
                .pair_display("rid", &self.room)?
                .pair_display("uid", &self.uid)?
                .pair("nn", &self.nickname)?
                .pair("level", "1")?;
            Ok(())
        })
    }

    /// Encodes the `whores` answering [`ServerEvent::WhoRequested`]:
    /// `rid`, `total` (how many are online), and `list`, a list of maps
    /// (`uid`, `nn`) of as many of `members` as fit `out`, in their order.
    /// Returns the frame's length and how many members it lists.
    ///
    /// `members` may be a sample of the room: a host should pass a bounded
    /// number (the reply is cut to `out` anyway), as each request costs what
    /// it lists, and requests come at the rate of chat.
    pub fn encode_who(
        &self,
        total: usize,
        members: &[Member<'_>],
        out: &mut [u8],
    ) -> Result<(usize, usize), SessionError> {
        let mut listed = members.len();
        loop {
            let written = encode(out, DIRECTION, |m| {
                m.pair("type", "whores")?
                    .pair_display("rid", &self.room)?
                    .pair_display("total", &total)?
                    .list("list", |l| {
                        for member in &members[..listed] {
                            l.map(|e| {
                                e.pair_display("uid", &member.uid)?
                                    .pair("nn", member.nickname)
                                    .map(drop)
                            })?;
                        }
                        Ok(())
                    })?;
                Ok(())
            });
            match written {
                Ok(n) => return Ok((n, listed)),
                // Fewer until they fit: the host's sample is short.
                Err(SessionError::BufferFull { .. }) if listed > 0 => listed /= 2,
                Err(e) => return Err(e),
            }
        }
    }

    /// The next event, if any.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        let room = self.room;
        if core::mem::take(&mut self.joined_event) {
            return Some(ServerEvent::Joined { room });
        }
        if core::mem::take(&mut self.who_event) {
            return Some(ServerEvent::WhoRequested { room });
        }
        if core::mem::take(&mut self.left_event) {
            return Some(ServerEvent::Left { room });
        }
        self.closed_event.take().map(ServerEvent::Closed)
    }

    /// When [`ServerSession::handle_timeout`] must next be called, if ever.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let silent = self.last_heard + self.limits.heartbeat_window();
        match self.state {
            State::Closed => None,
            State::Connected => Some(silent.min(self.login_deadline())),
            State::LoggedIn | State::Joined => Some(silent),
        }
    }

    /// Advances the clock to `now`: refuses a client that did not log in in
    /// time, drops one silent for too long.
    pub fn handle_timeout<R: Registry>(&mut self, now: Instant, registry: &mut R) {
        if self.state == State::Connected && now >= self.login_deadline() {
            return self.refuse(error_code::LOGIN_TIMEOUT, registry);
        }
        if self.poll_timeout().is_some_and(|deadline| now >= deadline) {
            let silent = now.saturating_since(self.last_heard);
            self.end(CloseReason::Silent { silent_for: silent }, registry);
        }
    }

    /// Ends the session because the client's bytes could not be framed (the
    /// host reassembles frames, so it reports what went wrong).
    pub fn handle_stream_error<R: Registry>(&mut self, error: StreamError, registry: &mut R) {
        self.end(CloseReason::Protocol(SessionError::Stream(error)), registry);
    }

    /// Ends the session because the client closed the connection (or it
    /// failed): nothing more can be sent.
    pub fn handle_disconnect<R: Registry>(&mut self, registry: &mut R) {
        self.end(CloseReason::Disconnected, registry);
        self.drop_replies();
    }

    /// Ends the session from the host's side (shutdown, slow consumer): what
    /// is still queued is dropped, as the host will not wait to send it.
    pub fn close<R: Registry>(&mut self, registry: &mut R) {
        self.end(CloseReason::Local, registry);
        self.drop_replies();
    }

    fn drop_replies(&mut self) {
        self.reply_login = false;
        self.reply_heartbeat = false;
        self.reply_error = 0;
    }

    /// Before login `chat_due` holds the time of connection.
    fn login_deadline(&self) -> Instant {
        self.chat_due + Duration::from_millis(u64::from(self.limits.login_ms))
    }

    /// Ends the session; replies queued so far are still sent.
    fn end<R: Registry>(&mut self, reason: CloseReason, registry: &mut R) {
        if self.state == State::Closed {
            return;
        }
        if self.state == State::Joined {
            self.left_event = true;
        }
        if core::mem::take(&mut self.admitted) {
            registry.leave(self.room, &self.nickname);
        }
        self.state = State::Closed;
        self.who_event = false;
        self.closed_event = Some(reason);
    }
}

/// A [`ServerConfig`] as a session keeps it: in milliseconds, 14 bytes
/// instead of 64, aligned to 2 so that it packs with the session's other
/// small fields. A server holds a session per connection, and an idle
/// connection's whole task is a few hundred bytes (8 more here would cost
/// each one 128: the host's task would pass an allocation size).
#[derive(Debug, Clone, Copy)]
#[repr(C, packed(2))]
struct Limits {
    heartbeat_ms: u32,
    login_ms: u32,
    /// 0: no chat limit; at most a minute a line (`ChatLimit` says why).
    chat_interval_ms: u16,
    chat_burst: u16,
    max_chat_len: u16,
}

impl Limits {
    fn new(config: &ServerConfig) -> Self {
        // Longer than 49 days is as good as forever.
        let ms = |d: Duration| u32::try_from(d.as_millis()).unwrap_or(u32::MAX);
        let (chat_interval_ms, chat_burst) = config.chat_limit.map_or((0, 0), |l| {
            let interval = u16::try_from(l.interval.as_millis()).unwrap_or(u16::MAX);
            (interval.max(1), l.burst.max(1))
        });
        Self {
            heartbeat_ms: ms(config.heartbeat_window),
            login_ms: ms(config.login_timeout),
            chat_interval_ms,
            chat_burst,
            max_chat_len: u16::try_from(config.max_chat_len).unwrap_or(u16::MAX),
        }
    }

    fn heartbeat_window(self) -> Duration {
        Duration::from_millis(u64::from(self.heartbeat_ms))
    }
}
