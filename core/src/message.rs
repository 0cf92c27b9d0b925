//! Typed views of the messages (PROTOCOL.md §4 and §6).
//!
//! A view is filled in one pass over the body's pairs and borrows everything:
//! each field is the first pair with that key, still escaped ([`Text`]), or
//! `None` when absent. Nothing is dropped: [`ServerMessage::map`] gives every
//! pair, known or not, and a type this module does not know arrives as
//! [`ServerMessage::Other`].
//!
//! ```
//! use douyu_core::message::ServerMessage;
//! let body = "type@=chatmsg/nn@=鱼丸/txt@=hi/el@=eid@AA=7@AS@S/";
//! let ServerMessage::Chat(chat) = ServerMessage::parse(body)? else { panic!() };
//! let effect = chat.effects().items().next().unwrap()?.as_map();
//! assert!(effect.get("eid")?.unwrap() == "7");
//! # Ok::<(), douyu_core::stt::SttError>(())
//! ```

use crate::stt::{List, Map, Pairs, SttError, Text};

/// A message from the server (frame type 690), by its `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ServerMessage<'a> {
    /// `loginres`: the login was accepted.
    LoginRes(LoginRes<'a>),
    /// `chatmsg`: a chat line.
    Chat(ChatMsg<'a>),
    /// `uenter`: a viewer entered the room.
    Enter(UEnter<'a>),
    /// `uleave`: a viewer left the room (this project's extension, see
    /// [`crate::session`]).
    Leave(ULeave<'a>),
    /// `whores`: who is online in the room (this project's extension, the
    /// reply to [`ClientMessage::Who`]).
    Who(WhoRes<'a>),
    /// `dgb`: a gift.
    Gift(Gift<'a>),
    /// `mrkl`: the heartbeat reply.
    Heartbeat(Map<'a>),
    /// `pingreq`: the server's ping.
    PingReq(PingReq<'a>),
    /// `rss`: the stream started or stopped.
    StreamStatus(Rss<'a>),
    /// `spbc`: a site-wide gift broadcast.
    SiteGift(Spbc<'a>),
    /// `anbc` / `rnewbc`: a noble title opened or renewed.
    Noble(Noble<'a>),
    /// `frank`: the fan ranking.
    FanRank(Frank<'a>),
    /// `error`: the server ends the session.
    Error(ErrorMsg<'a>),
    /// Any other type (or none); every pair was checked.
    Other(Map<'a>),
}

impl<'a> ServerMessage<'a> {
    /// Reads a server message body. Every pair is checked, so a malformed
    /// body is an error whatever its type.
    pub fn parse(body: &'a str) -> Result<Self, SttError> {
        let map = Map::new(body);
        let (kind, rest) = split_type(map)?;
        let Some(kind) = kind else {
            check(rest)?;
            return Ok(Self::Other(map));
        };
        // Each view is filled where the result holds it and the first bad
        // pair, if any, is reported beside it: a `Result` per view would be
        // copied into this one (views are a few hundred bytes).
        let mut status = Ok(());
        let message = match kind.raw() {
            "loginres" => Self::LoginRes(LoginRes::read(map, rest, &mut status)),
            "chatmsg" => Self::Chat(ChatMsg::read(map, rest, &mut status)),
            "uenter" => Self::Enter(UEnter::read(map, rest, &mut status)),
            "uleave" => Self::Leave(ULeave::read(map, rest, &mut status)),
            "whores" => Self::Who(WhoRes::read(map, rest, &mut status)),
            "dgb" => Self::Gift(Gift::read(map, rest, &mut status)),
            "pingreq" => Self::PingReq(PingReq::read(map, rest, &mut status)),
            "rss" => Self::StreamStatus(Rss::read(map, rest, &mut status)),
            "spbc" => Self::SiteGift(Spbc::read(map, rest, &mut status)),
            "anbc" | "rnewbc" => Self::Noble(Noble::read(map, rest, &mut status)),
            "frank" => Self::FanRank(Frank::read(map, rest, &mut status)),
            "error" => Self::Error(ErrorMsg::read(map, rest, &mut status)),
            other => {
                check(rest)?;
                if other == "mrkl" {
                    Self::Heartbeat(map)
                } else {
                    Self::Other(map)
                }
            }
        };
        status.map(|()| message)
    }

    /// All pairs of the message, known fields and unknown alike.
    #[must_use]
    pub const fn map(&self) -> Map<'a> {
        match self {
            Self::LoginRes(m) => m.map,
            Self::Chat(m) => m.map,
            Self::Enter(m) => m.map,
            Self::Leave(m) => m.map,
            Self::Who(m) => m.map,
            Self::Gift(m) => m.map,
            Self::PingReq(m) => m.map,
            Self::StreamStatus(m) => m.map,
            Self::SiteGift(m) => m.map,
            Self::Noble(m) => m.map,
            Self::FanRank(m) => m.map,
            Self::Error(m) => m.map,
            Self::Heartbeat(map) | Self::Other(map) => *map,
        }
    }
}

/// The message's `type`, and the pairs a view still has to read.
///
/// Every real message puts `type` first: then the pairs after it are
/// returned, so the body is scanned once. Otherwise `type` is searched for
/// and all pairs are returned. `type` is no field of any view.
// Inlined into `parse`, where the body's depth and offset are constants (0):
// 2.6 % fewer instructions reading a `chatmsg` (callgrind).
#[inline(always)]
fn split_type(map: Map<'_>) -> Result<(Option<Text<'_>>, Pairs<'_>), SttError> {
    let mut pairs = map.pairs();
    match pairs.next() {
        // A key that reads `type` escaped reads `type` unescaped too.
        Some(Ok((key, value))) if key.raw() == "type" => Ok((Some(value), pairs)),
        Some(Err(e)) => Err(e),
        _ => Ok((map.message_type()?, map.pairs())),
    }
}

/// Checks the remaining pairs of a message no view reads.
fn check(mut rest: Pairs<'_>) -> Result<(), SttError> {
    rest.try_for_each(|pair| pair.map(drop))
}

/// A view filled from a map in one pass; implemented by every typed view.
trait View<'a>: Sized {
    /// The view with no field set.
    fn empty(map: Map<'a>) -> Self;

    /// The slot for `key` (its wire form), if the view has that field.
    /// Keys with escapes hold `@` or `/` and so are never field names.
    fn slot(&mut self, key: &str) -> Option<&mut Option<Text<'a>>>;

    /// Checks every pair of `rest` (the pairs of `map` not yet read) and
    /// keeps the first value of each known field; the first malformed pair
    /// ends the reading and is left in `status` (the view then holds the
    /// fields before it, and is not returned to a user).
    // Inlined into `parse` (as the optimiser does for speed, not for size),
    // the view is built where the caller's enum holds it. Returning a
    // `Result` instead of the view made `parse` copy each view twice more
    // (a `Result<View>` into a `Result<Self>`): −2.5 % instructions and
    // −5 % time reading the `chatmsg` corpus without them.
    #[inline]
    fn read(map: Map<'a>, mut rest: Pairs<'a>, status: &mut Result<(), SttError>) -> Self {
        let mut view = Self::empty(map);
        while let Some(spans) = rest.next_spans() {
            let (key, value) = match spans {
                Ok(spans) => spans,
                Err(e) => {
                    *status = Err(e);
                    break;
                }
            };
            if let Some(slot) = view.slot(rest.text(key).raw())
                && slot.is_none()
            {
                // Built in place, not built and then copied.
                *slot = Some(rest.text(value));
            }
        }
        view
    }
}

/// `loginres`: the server accepted the login.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LoginRes<'a> {
    /// Every pair of the message.
    pub map: Map<'a>,
    /// `userid`: user id (0 for visitors).
    pub userid: Option<Text<'a>>,
    /// `roomgroup`: room group.
    pub roomgroup: Option<Text<'a>>,
    /// `pg`: permission group.
    pub pg: Option<Text<'a>>,
    /// `sessionid`: session id.
    pub sessionid: Option<Text<'a>>,
    /// `username`: user name.
    pub username: Option<Text<'a>>,
    /// `nickname`: nickname.
    pub nickname: Option<Text<'a>>,
    /// `live_stat`: whether the room is live.
    pub live_stat: Option<Text<'a>>,
}

impl<'a> View<'a> for LoginRes<'a> {
    fn empty(map: Map<'a>) -> Self {
        Self {
            map,
            ..Self::default()
        }
    }

    #[inline]
    fn slot(&mut self, key: &str) -> Option<&mut Option<Text<'a>>> {
        Some(match key {
            "userid" => &mut self.userid,
            "roomgroup" => &mut self.roomgroup,
            "pg" => &mut self.pg,
            "sessionid" => &mut self.sessionid,
            "username" => &mut self.username,
            "nickname" => &mut self.nickname,
            "live_stat" => &mut self.live_stat,
            _ => return None,
        })
    }
}

/// `chatmsg`: a chat line (danmaku).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ChatMsg<'a> {
    /// Every pair of the message.
    pub map: Map<'a>,
    /// `rid`: room id.
    pub rid: Option<Text<'a>>,
    /// `uid`: sender's user id.
    pub uid: Option<Text<'a>>,
    /// `nn`: sender's nickname.
    pub nn: Option<Text<'a>>,
    /// `txt`: the text.
    pub txt: Option<Text<'a>>,
    /// `cid`: message id.
    pub cid: Option<Text<'a>>,
    /// `level`: sender's level.
    pub level: Option<Text<'a>>,
    /// `ic`: avatar path.
    pub ic: Option<Text<'a>>,
    /// `col`: colour.
    pub col: Option<Text<'a>>,
    /// `ct`: client type.
    pub ct: Option<Text<'a>>,
    /// `bnn`: fan badge name.
    pub bnn: Option<Text<'a>>,
    /// `bl`: fan badge level.
    pub bl: Option<Text<'a>>,
    /// `brid`: fan badge room.
    pub brid: Option<Text<'a>>,
    /// `nl`: noble level.
    pub nl: Option<Text<'a>>,
    /// `el`: effects: a list of maps; read with [`ChatMsg::effects`].
    pub el: Option<Text<'a>>,
}

impl<'a> View<'a> for ChatMsg<'a> {
    fn empty(map: Map<'a>) -> Self {
        Self {
            map,
            ..Self::default()
        }
    }

    #[inline]
    fn slot(&mut self, key: &str) -> Option<&mut Option<Text<'a>>> {
        Some(match key {
            "rid" => &mut self.rid,
            "uid" => &mut self.uid,
            "nn" => &mut self.nn,
            "txt" => &mut self.txt,
            "cid" => &mut self.cid,
            "level" => &mut self.level,
            "ic" => &mut self.ic,
            "col" => &mut self.col,
            "ct" => &mut self.ct,
            "bnn" => &mut self.bnn,
            "bl" => &mut self.bl,
            "brid" => &mut self.brid,
            "nl" => &mut self.nl,
            "el" => &mut self.el,
            _ => return None,
        })
    }
}

/// `uenter`: a viewer entered the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct UEnter<'a> {
    /// Every pair of the message.
    pub map: Map<'a>,
    /// `rid`: room id.
    pub rid: Option<Text<'a>>,
    /// `uid`: user id.
    pub uid: Option<Text<'a>>,
    /// `nn`: nickname.
    pub nn: Option<Text<'a>>,
    /// `level`: level.
    pub level: Option<Text<'a>>,
    /// `ic`: avatar path.
    pub ic: Option<Text<'a>>,
    /// `nl`: noble level.
    pub nl: Option<Text<'a>>,
}

impl<'a> View<'a> for UEnter<'a> {
    fn empty(map: Map<'a>) -> Self {
        Self {
            map,
            ..Self::default()
        }
    }

    #[inline]
    fn slot(&mut self, key: &str) -> Option<&mut Option<Text<'a>>> {
        Some(match key {
            "rid" => &mut self.rid,
            "uid" => &mut self.uid,
            "nn" => &mut self.nn,
            "level" => &mut self.level,
            "ic" => &mut self.ic,
            "nl" => &mut self.nl,
            _ => return None,
        })
    }
}

/// `uleave`: a viewer left the room. This project's extension: Douyu's own
/// service announces arrivals only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ULeave<'a> {
    /// Every pair of the message.
    pub map: Map<'a>,
    /// `rid`: room id.
    pub rid: Option<Text<'a>>,
    /// `uid`: user id.
    pub uid: Option<Text<'a>>,
    /// `nn`: nickname.
    pub nn: Option<Text<'a>>,
}

impl<'a> View<'a> for ULeave<'a> {
    fn empty(map: Map<'a>) -> Self {
        Self {
            map,
            ..Self::default()
        }
    }

    #[inline]
    fn slot(&mut self, key: &str) -> Option<&mut Option<Text<'a>>> {
        Some(match key {
            "rid" => &mut self.rid,
            "uid" => &mut self.uid,
            "nn" => &mut self.nn,
            _ => return None,
        })
    }
}

/// `whores`: who is online in a room, the reply to `whoreq`. This
/// project's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct WhoRes<'a> {
    /// Every pair of the message.
    pub map: Map<'a>,
    /// `rid`: room id.
    pub rid: Option<Text<'a>>,
    /// `total`: how many are online; `list` may hold fewer when they do not
    /// all fit one reply.
    pub total: Option<Text<'a>>,
    /// `list`: a list of maps (`uid`, `nn`); read with [`WhoRes::entries`].
    pub list: Option<Text<'a>>,
}

impl<'a> View<'a> for WhoRes<'a> {
    fn empty(map: Map<'a>) -> Self {
        Self {
            map,
            ..Self::default()
        }
    }

    #[inline]
    fn slot(&mut self, key: &str) -> Option<&mut Option<Text<'a>>> {
        Some(match key {
            "rid" => &mut self.rid,
            "total" => &mut self.total,
            "list" => &mut self.list,
            _ => return None,
        })
    }
}

/// `dgb`: a gift.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Gift<'a> {
    /// Every pair of the message.
    pub map: Map<'a>,
    /// `rid`: room id.
    pub rid: Option<Text<'a>>,
    /// `gfid`: gift id.
    pub gfid: Option<Text<'a>>,
    /// `gs`: gift style.
    pub gs: Option<Text<'a>>,
    /// `uid`: sender's user id.
    pub uid: Option<Text<'a>>,
    /// `nn`: sender's nickname.
    pub nn: Option<Text<'a>>,
    /// `gfcnt`: count.
    pub gfcnt: Option<Text<'a>>,
    /// `hits`: combo hits.
    pub hits: Option<Text<'a>>,
    /// `level`: sender's level.
    pub level: Option<Text<'a>>,
    /// `ic`: avatar path.
    pub ic: Option<Text<'a>>,
    /// `bnn`: fan badge name.
    pub bnn: Option<Text<'a>>,
    /// `bl`: fan badge level.
    pub bl: Option<Text<'a>>,
}

impl<'a> View<'a> for Gift<'a> {
    fn empty(map: Map<'a>) -> Self {
        Self {
            map,
            ..Self::default()
        }
    }

    #[inline]
    fn slot(&mut self, key: &str) -> Option<&mut Option<Text<'a>>> {
        Some(match key {
            "rid" => &mut self.rid,
            "gfid" => &mut self.gfid,
            "gs" => &mut self.gs,
            "uid" => &mut self.uid,
            "nn" => &mut self.nn,
            "gfcnt" => &mut self.gfcnt,
            "hits" => &mut self.hits,
            "level" => &mut self.level,
            "ic" => &mut self.ic,
            "bnn" => &mut self.bnn,
            "bl" => &mut self.bl,
            _ => return None,
        })
    }
}

/// `pingreq`: the server's ping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PingReq<'a> {
    /// Every pair of the message.
    pub map: Map<'a>,
    /// `tick`: server time in milliseconds.
    pub tick: Option<Text<'a>>,
}

impl<'a> View<'a> for PingReq<'a> {
    fn empty(map: Map<'a>) -> Self {
        Self {
            map,
            ..Self::default()
        }
    }

    #[inline]
    fn slot(&mut self, key: &str) -> Option<&mut Option<Text<'a>>> {
        Some(match key {
            "tick" => &mut self.tick,
            _ => return None,
        })
    }
}

/// `rss`: the stream started or stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Rss<'a> {
    /// Every pair of the message.
    pub map: Map<'a>,
    /// `rid`: room id.
    pub rid: Option<Text<'a>>,
    /// `ss`: 1 live, 0 off.
    pub ss: Option<Text<'a>>,
    /// `code`: reason code.
    pub code: Option<Text<'a>>,
    /// `rt`: reason type.
    pub rt: Option<Text<'a>>,
    /// `endtime`: end time.
    pub endtime: Option<Text<'a>>,
}

impl<'a> View<'a> for Rss<'a> {
    fn empty(map: Map<'a>) -> Self {
        Self {
            map,
            ..Self::default()
        }
    }

    #[inline]
    fn slot(&mut self, key: &str) -> Option<&mut Option<Text<'a>>> {
        Some(match key {
            "rid" => &mut self.rid,
            "ss" => &mut self.ss,
            "code" => &mut self.code,
            "rt" => &mut self.rt,
            "endtime" => &mut self.endtime,
            _ => return None,
        })
    }
}

/// `spbc`: a site-wide gift broadcast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Spbc<'a> {
    /// Every pair of the message.
    pub map: Map<'a>,
    /// `sn`: sender.
    pub sn: Option<Text<'a>>,
    /// `dn`: receiver.
    pub dn: Option<Text<'a>>,
    /// `gn`: gift name.
    pub gn: Option<Text<'a>>,
    /// `gc`: count.
    pub gc: Option<Text<'a>>,
    /// `drid`: room it was given in.
    pub drid: Option<Text<'a>>,
}

impl<'a> View<'a> for Spbc<'a> {
    fn empty(map: Map<'a>) -> Self {
        Self {
            map,
            ..Self::default()
        }
    }

    #[inline]
    fn slot(&mut self, key: &str) -> Option<&mut Option<Text<'a>>> {
        Some(match key {
            "sn" => &mut self.sn,
            "dn" => &mut self.dn,
            "gn" => &mut self.gn,
            "gc" => &mut self.gc,
            "drid" => &mut self.drid,
            _ => return None,
        })
    }
}

/// `anbc` (opened) or `rnewbc` (renewed): a noble title.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Noble<'a> {
    /// Every pair of the message.
    pub map: Map<'a>,
    /// `uid`: user id.
    pub uid: Option<Text<'a>>,
    /// `unk`: user's nickname.
    pub unk: Option<Text<'a>>,
    /// `drid`: room.
    pub drid: Option<Text<'a>>,
    /// `donk`: anchor's nickname.
    pub donk: Option<Text<'a>>,
    /// `nl`: noble level.
    pub nl: Option<Text<'a>>,
}

impl<'a> View<'a> for Noble<'a> {
    fn empty(map: Map<'a>) -> Self {
        Self {
            map,
            ..Self::default()
        }
    }

    #[inline]
    fn slot(&mut self, key: &str) -> Option<&mut Option<Text<'a>>> {
        Some(match key {
            "uid" => &mut self.uid,
            "unk" => &mut self.unk,
            "drid" => &mut self.drid,
            "donk" => &mut self.donk,
            "nl" => &mut self.nl,
            _ => return None,
        })
    }
}

/// `frank`: the fan ranking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Frank<'a> {
    /// Every pair of the message.
    pub map: Map<'a>,
    /// `rid`: room id.
    pub rid: Option<Text<'a>>,
    /// `fc`: fan count.
    pub fc: Option<Text<'a>>,
    /// `list`: the ranking: a list of maps (`uid`, `nn`, `fs`); read with [`Frank::entries`].
    pub list: Option<Text<'a>>,
}

impl<'a> View<'a> for Frank<'a> {
    fn empty(map: Map<'a>) -> Self {
        Self {
            map,
            ..Self::default()
        }
    }

    #[inline]
    fn slot(&mut self, key: &str) -> Option<&mut Option<Text<'a>>> {
        Some(match key {
            "rid" => &mut self.rid,
            "fc" => &mut self.fc,
            "list" => &mut self.list,
            _ => return None,
        })
    }
}

/// `error`: the server ends the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ErrorMsg<'a> {
    /// Every pair of the message.
    pub map: Map<'a>,
    /// `code`: error code.
    pub code: Option<Text<'a>>,
}

impl<'a> View<'a> for ErrorMsg<'a> {
    fn empty(map: Map<'a>) -> Self {
        Self {
            map,
            ..Self::default()
        }
    }

    #[inline]
    fn slot(&mut self, key: &str) -> Option<&mut Option<Text<'a>>> {
        Some(match key {
            "code" => &mut self.code,
            _ => return None,
        })
    }
}

impl<'a> ChatMsg<'a> {
    /// The `el` effects as a list (each item a map: `eid`, `etp`, `sc`, `ef`).
    #[must_use]
    pub fn effects(&self) -> List<'a> {
        self.el.map_or_else(|| List::new(""), |el| el.as_list())
    }
}

impl<'a> Frank<'a> {
    /// The ranking entries as a list (each item a map: `uid`, `nn`, `fs`).
    #[must_use]
    pub fn entries(&self) -> List<'a> {
        self.list
            .map_or_else(|| List::new(""), |list| list.as_list())
    }
}

impl<'a> WhoRes<'a> {
    /// The members listed, as a list (each item a map: `uid`, `nn`).
    #[must_use]
    pub fn entries(&self) -> List<'a> {
        self.list
            .map_or_else(|| List::new(""), |list| list.as_list())
    }
}

impl Noble<'_> {
    /// Whether the title was renewed (`rnewbc`) rather than opened (`anbc`).
    #[must_use]
    pub fn is_renewal(&self) -> bool {
        matches!(self.map.message_type(), Ok(Some(kind)) if kind == "rnewbc")
    }
}

impl ErrorMsg<'_> {
    /// The numeric error code, when it is one.
    #[must_use]
    pub fn code(&self) -> Option<i64> {
        self.code.and_then(|code| code.parse())
    }
}

/// A message from a client (frame type 689), as this project's server reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ClientMessage<'a> {
    /// `loginreq`: log in to a room.
    Login(LoginReq<'a>),
    /// `joingroup`: join the room's broadcast group.
    JoinGroup(JoinGroup<'a>),
    /// `mrkl`, or the older `keeplive`: a heartbeat.
    Heartbeat(Map<'a>),
    /// `chatmsg`: send a chat line to the room.
    Chat(ChatReq<'a>),
    /// `logout`: end the session.
    Logout(Map<'a>),
    /// `whoreq`: ask who is online in the room (this project's extension,
    /// answered with [`ServerMessage::Who`]).
    Who(Map<'a>),
    /// Any other type (or none); every pair was checked.
    Other(Map<'a>),
}

impl<'a> ClientMessage<'a> {
    /// Reads a client message body, checking every pair.
    pub fn parse(body: &'a str) -> Result<Self, SttError> {
        let map = Map::new(body);
        let (kind, rest) = split_type(map)?;
        // As in `ServerMessage::parse`: each view filled in place.
        let mut status = Ok(());
        let message = match kind.map(|k| k.raw()) {
            Some("loginreq") => Self::Login(LoginReq::read(map, rest, &mut status)),
            Some("joingroup") => Self::JoinGroup(JoinGroup::read(map, rest, &mut status)),
            Some("chatmsg") => Self::Chat(ChatReq::read(map, rest, &mut status)),
            other => {
                check(rest)?;
                match other {
                    Some("mrkl" | "keeplive") => Self::Heartbeat(map),
                    Some("logout") => Self::Logout(map),
                    Some("whoreq") => Self::Who(map),
                    _ => Self::Other(map),
                }
            }
        };
        status.map(|()| message)
    }
}

/// `loginreq`: a client logs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LoginReq<'a> {
    /// Every pair of the message.
    pub map: Map<'a>,
    /// `roomid`: room id.
    pub roomid: Option<Text<'a>>,
    /// `username`: requested nickname (web login: a visitor name).
    pub username: Option<Text<'a>>,
    /// `uid`: user id (web login).
    pub uid: Option<Text<'a>>,
    /// `dfl`: display filter (web login).
    pub dfl: Option<Text<'a>>,
    /// `ver`: client version (web login).
    pub ver: Option<Text<'a>>,
    /// `aver`: client build (web login).
    pub aver: Option<Text<'a>>,
    /// `ct`: client type (web login).
    pub ct: Option<Text<'a>>,
}

impl<'a> View<'a> for LoginReq<'a> {
    fn empty(map: Map<'a>) -> Self {
        Self {
            map,
            ..Self::default()
        }
    }

    #[inline]
    fn slot(&mut self, key: &str) -> Option<&mut Option<Text<'a>>> {
        Some(match key {
            "roomid" => &mut self.roomid,
            "username" => &mut self.username,
            "uid" => &mut self.uid,
            "dfl" => &mut self.dfl,
            "ver" => &mut self.ver,
            "aver" => &mut self.aver,
            "ct" => &mut self.ct,
            _ => return None,
        })
    }
}

/// `joingroup`: a client joins a room's group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct JoinGroup<'a> {
    /// Every pair of the message.
    pub map: Map<'a>,
    /// `rid`: room id.
    pub rid: Option<Text<'a>>,
    /// `gid`: group id (-9999 for all danmaku).
    pub gid: Option<Text<'a>>,
}

impl<'a> View<'a> for JoinGroup<'a> {
    fn empty(map: Map<'a>) -> Self {
        Self {
            map,
            ..Self::default()
        }
    }

    #[inline]
    fn slot(&mut self, key: &str) -> Option<&mut Option<Text<'a>>> {
        Some(match key {
            "rid" => &mut self.rid,
            "gid" => &mut self.gid,
            _ => return None,
        })
    }
}

/// `chatmsg` from a client: a line to broadcast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ChatReq<'a> {
    /// Every pair of the message.
    pub map: Map<'a>,
    /// `txt`: the text.
    pub txt: Option<Text<'a>>,
}

impl<'a> View<'a> for ChatReq<'a> {
    fn empty(map: Map<'a>) -> Self {
        Self {
            map,
            ..Self::default()
        }
    }

    #[inline]
    fn slot(&mut self, key: &str) -> Option<&mut Option<Text<'a>>> {
        Some(match key {
            "txt" => &mut self.txt,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;

    #[test]
    fn first_value_wins_and_unknown_fields_stay() {
        let body = "nn@=a/type@=chatmsg/nn@=b/zz@=1/";
        let ServerMessage::Chat(chat) = ServerMessage::parse(body).unwrap() else {
            panic!()
        };
        assert!(chat.nn.unwrap() == "a");
        assert!(chat.map.get("zz").unwrap().unwrap() == "1");
        assert_eq!(chat.txt, None);
        assert_eq!(chat.effects().items().count(), 0);
    }

    #[test]
    fn malformed_body_fails_whatever_the_type() {
        for body in [
            "type@=chatmsg/x@=a@Q/",
            "type@=nope/x@=a@Q/",
            "x@=a@Q/",
            "type@=mrkl/x",
        ] {
            assert!(ServerMessage::parse(body).is_err(), "{body}");
            assert!(ClientMessage::parse(body).is_err(), "{body}");
        }
    }

    #[test]
    fn a_bad_pair_after_fields_is_the_error_of_every_view() {
        let types = [
            "loginres",
            "chatmsg",
            "uenter",
            "uleave",
            "whores",
            "whoreq",
            "dgb",
            "pingreq",
            "rss",
            "spbc",
            "anbc",
            "rnewbc",
            "frank",
            "error",
            "loginreq",
            "joingroup",
            "mrkl",
            "other",
        ];
        for kind in types {
            // Known fields of several views before the bad pair, and after.
            let body = format!("type@={kind}/nn@=a/rid@=1/uid@=2/x@=a@Q/tick@=3/");
            let expected = Map::new(&body)
                .pairs()
                .find_map(Result::err)
                .expect("the body has a bad pair");
            assert_eq!(ServerMessage::parse(&body).err(), Some(expected), "{body}");
            assert_eq!(ClientMessage::parse(&body).err(), Some(expected), "{body}");
        }
    }

    #[test]
    fn known_types_map_to_variants() {
        let cases = [
            ("type@=loginres/userid@=1/", "LoginRes"),
            ("type@=uenter/nn@=x/", "Enter"),
            ("type@=uleave/nn@=x/", "Leave"),
            ("type@=whores/total@=0/list@=/", "Who"),
            ("type@=dgb/gfid@=1/", "Gift"),
            ("type@=mrkl/", "Heartbeat"),
            ("type@=pingreq/tick@=1/", "PingReq"),
            ("type@=rss/ss@=1/", "StreamStatus"),
            ("type@=spbc/gn@=x/", "SiteGift"),
            ("type@=anbc/nl@=1/", "Noble"),
            ("type@=rnewbc/nl@=1/", "Noble"),
            ("type@=frank/list@=/", "FanRank"),
            ("type@=error/code@=51/", "Error"),
            ("type@=other/", "Other"),
            ("a@=1/", "Other"),
        ];
        for (body, want) in cases {
            let msg = ServerMessage::parse(body).unwrap();
            let got = format!("{msg:?}");
            assert!(got.starts_with(want), "{body}: {got}");
            assert_eq!(msg.map().raw(), body);
        }
    }

    #[test]
    fn noble_renewal_and_error_code() {
        let ServerMessage::Noble(n) = ServerMessage::parse("type@=rnewbc/").unwrap() else {
            panic!()
        };
        assert!(n.is_renewal());
        let ServerMessage::Error(e) = ServerMessage::parse("type@=error/code@=-7/").unwrap() else {
            panic!()
        };
        assert_eq!(e.code(), Some(-7));
    }

    #[test]
    fn client_messages() {
        let ClientMessage::Login(l) =
            ClientMessage::parse("type@=loginreq/roomid@=9/username@=a@Sb/").unwrap()
        else {
            panic!()
        };
        assert!(l.roomid.unwrap() == "9" && l.username.unwrap() == "a/b");
        assert!(matches!(
            ClientMessage::parse("type@=keeplive/tick@=1/"),
            Ok(ClientMessage::Heartbeat(_))
        ));
        assert!(matches!(
            ClientMessage::parse("type@=logout/"),
            Ok(ClientMessage::Logout(_))
        ));
        assert!(matches!(
            ClientMessage::parse("type@=joingroup/rid@=1/gid@=-9999/"),
            Ok(ClientMessage::JoinGroup(_))
        ));
        assert!(matches!(
            ClientMessage::parse("type@=chatmsg/txt@=hi/"),
            Ok(ClientMessage::Chat(_))
        ));
        assert!(matches!(
            ClientMessage::parse("type@=what/"),
            Ok(ClientMessage::Other(_))
        ));
    }
}
