//! Typed views of the messages (PROTOCOL.md §4 and §6).
//!
//! A view is filled in one pass over the body's pairs and borrows everything:
//! each field is the first pair with that key, still escaped ([`Text`]), or
//! `None` when absent. Nothing is dropped: [`ServerMessage::map`] gives every
//! pair, known or not, and a type this module does not know arrives as
//! [`ServerMessage::Other`].
//!
//! This module's source holds two tables, one per direction: the only place
//! the protocol's message types and fields are listed. The view structs,
//! their doc text, the dispatch of [`ServerMessage::parse`] and
//! [`ClientMessage::parse`], and the data of [`crate::schema`] (which fields
//! nest, for hosts that render every field) are all generated from them by
//! one macro, so they cannot disagree.
//!
//! ```
//! use douyu_core::message::ServerMessage;
//! let body = "type@=chatmsg/nn@=鱼丸/txt@=hi/el@=eid@AA=7@AS@S/";
//! let ServerMessage::Chat(chat) = ServerMessage::parse(body)? else { panic!() };
//! let effect = chat.effects().items().next().unwrap()?.as_map();
//! assert!(effect.get("eid")?.unwrap() == "7");
//! # Ok::<(), douyu_core::stt::SttError>(())
//! ```
//!
//! # The tables
//! In the source, each entry is `Variant(View) = "type" | … => "doc" { field: Shape = "doc", … }`
//! for a type with a view, or `Variant = "type" | … => "doc"` (under `maps`)
//! for one whose variant holds only its [`Map`]. A field's name is its key;
//! its shape is a [`FieldShape`].

use crate::schema::{FieldSchema, FieldShape, MessageSchema};
use crate::stt::{List, Map, Pairs, SttError, Text};

/// What a field's shape adds to its generated doc comment.
macro_rules! shape_note {
    (Text) => {
        ""
    };
    (ListOfMaps) => {
        " A list of maps: read it with [`Text::as_list`], each item with [`Text::as_map`]."
    };
    (Map) => {
        " A map: read it with [`Text::as_map`]."
    };
}

/// Generates, from one direction's table: the message enum with its `parse`,
/// `map` and `field`; one view struct per type with fields (public
/// `Option<Text>` fields with their doc comments, and the [`View`] impl); and
/// the table as data (`$table`, published by [`crate::schema`]).
macro_rules! messages {
    (
        $(#[$meta:meta])*
        pub enum $Enum:ident, table $table:ident;
        views {
            $(
                $Variant:ident($View:ident) = $($kind:literal)|+ => $doc:literal {
                    $( $field:ident: $Shape:ident = $field_doc:literal, )*
                }
            )*
        }
        maps {
            $( $MapVariant:ident = $($map_kind:literal)|+ => $map_doc:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[cfg_attr(feature = "defmt", derive(defmt::Format))]
        #[non_exhaustive]
        pub enum $Enum<'a> {
            $( #[doc = $doc] $Variant($View<'a>), )*
            $( #[doc = $map_doc] $MapVariant(Map<'a>), )*
            /// Any other type (or none); every pair was checked.
            Other(Map<'a>),
        }

        impl<'a> $Enum<'a> {
            /// Reads a message body. Every pair is checked, so a malformed
            /// body is an error whatever its type.
            pub fn parse(body: &'a str) -> Result<Self, SttError> {
                let map = Map::new(body);
                let (kind, rest) = split_type(map)?;
                let Some(kind) = kind else {
                    check(rest)?;
                    return Ok(Self::Other(map));
                };
                // Each view is filled in place and the first bad pair, if
                // any, is reported beside it: a `Result` per view would be
                // copied into this one (views are a few hundred bytes). Each
                // type returns its own result: one message built for all of
                // them and returned after was copied once more (`memcpy`
                // calls per frame of the corpus 3.8 before, 2.9 after;
                // reading `chatmsg`, 34.89 M instructions before, 34.39 M
                // after, callgrind; the firmware's code +136 B).
                let mut status = Ok(());
                match kind.raw() {
                    $( $($kind)|+ => {
                        let view = $View::read(map, rest, &mut status);
                        status.map(|()| Self::$Variant(view))
                    } )*
                    other => {
                        check(rest)?;
                        Ok(match other {
                            $( $($map_kind)|+ => Self::$MapVariant(map), )*
                            _ => Self::Other(map),
                        })
                    }
                }
            }

            /// All pairs of the message, known fields and unknown alike.
            #[must_use]
            pub const fn map(&self) -> Map<'a> {
                match self {
                    $( Self::$Variant(m) => m.map, )*
                    $( Self::$MapVariant(map) => *map, )*
                    Self::Other(map) => *map,
                }
            }

            /// The view's field `key` (a key of [`crate::schema`]'s table for
            /// this type), or `None` when the view has no such field or it was
            /// absent: generic code (checks, renderers) reads any type's
            /// fields without a `match` of its own that could fall behind the
            /// table. A typed field (`chat.nn`) is the fast way.
            #[must_use]
            pub fn field(&self, key: &str) -> Option<Text<'a>> {
                match self {
                    $( Self::$Variant(m) => m.get(key), )*
                    _ => None,
                }
            }
        }

        /// The table as data, for [`crate::schema`].
        pub(crate) const $table: &[MessageSchema] = &[
            $(
                MessageSchema {
                    types: &[$($kind),+],
                    doc: $doc,
                    fields: &[
                        $(
                            FieldSchema {
                                key: stringify!($field),
                                shape: FieldShape::$Shape,
                                doc: $field_doc,
                            },
                        )*
                    ],
                },
            )*
            $( MessageSchema { types: &[$($map_kind),+], doc: $map_doc, fields: &[] }, )*
        ];

        $(
            #[doc = $doc]
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
            #[cfg_attr(feature = "defmt", derive(defmt::Format))]
            // Fields follow the table; a later field must not break callers.
            #[non_exhaustive]
            pub struct $View<'a> {
                /// Every pair of the message.
                pub map: Map<'a>,
                $(
                    #[doc = concat!("`", stringify!($field), "`: ", $field_doc, shape_note!($Shape))]
                    pub $field: Option<Text<'a>>,
                )*
            }

            impl<'a> View<'a> for $View<'a> {
                fn empty(map: Map<'a>) -> Self {
                    Self {
                        map,
                        ..Self::default()
                    }
                }

                // Called once, from the view's `read`: inlined there, the
                // key's match stays in the pair loop. (Generated by this
                // macro, `#[inline]` alone left `ChatMsg::slot` out of line:
                // +6 % instructions reading `chatmsg`, callgrind.)
                #[inline(always)]
                fn slot(&mut self, key: &str) -> Option<&mut Option<Text<'a>>> {
                    Some(match key {
                        $( stringify!($field) => &mut self.$field, )*
                        _ => return None,
                    })
                }
            }
        )*
    };
}

messages! {
    /// A message from the server (frame type 690), by its `type`.
    pub enum ServerMessage, table SERVER;
    views {
        LoginRes(LoginRes) = "loginres" => "`loginres`: the server accepted the login." {
            userid: Text = "user id (0 for visitors).",
            roomgroup: Text = "room group.",
            pg: Text = "permission group.",
            sessionid: Text = "session id.",
            username: Text = "user name.",
            nickname: Text = "nickname.",
            live_stat: Text = "whether the room is live.",
        }
        Chat(ChatMsg) = "chatmsg" => "`chatmsg`: a chat line (danmaku)." {
            rid: Text = "room id.",
            uid: Text = "sender's user id.",
            nn: Text = "sender's nickname.",
            txt: Text = "the text.",
            cid: Text = "message id.",
            level: Text = "sender's level.",
            ic: Text = "avatar path.",
            col: Text = "colour.",
            ct: Text = "client type.",
            bnn: Text = "fan badge name.",
            bl: Text = "fan badge level.",
            brid: Text = "fan badge room.",
            nl: Text = "noble level.",
            el: ListOfMaps = "effects (`eid`, `etp`, `sc`, `ef`); see [`ChatMsg::effects`].",
        }
        Enter(UEnter) = "uenter" => "`uenter`: a viewer entered the room." {
            rid: Text = "room id.",
            uid: Text = "user id.",
            nn: Text = "nickname.",
            level: Text = "level.",
            ic: Text = "avatar path.",
            nl: Text = "noble level.",
            el: ListOfMaps = "effects, as in `chatmsg`.",
        }
        Leave(ULeave) = "uleave" => "`uleave`: a viewer left the room. This project's \
            extension (see [`crate::session`]): Douyu's own service announces arrivals only." {
            rid: Text = "room id.",
            uid: Text = "user id.",
            nn: Text = "nickname.",
        }
        Who(WhoRes) = "whores" => "`whores`: who is online in a room, the reply to \
            [`ClientMessage::Who`]. This project's extension." {
            rid: Text = "room id.",
            total: Text = "how many are online; `list` may hold fewer when they do not all \
                fit one reply.",
            list: ListOfMaps = "the members (`uid`, `nn`); see [`WhoRes::entries`].",
        }
        Gift(Gift) = "dgb" => "`dgb`: a gift." {
            rid: Text = "room id.",
            gfid: Text = "gift id.",
            gs: Text = "gift style.",
            uid: Text = "sender's user id.",
            nn: Text = "sender's nickname.",
            gfcnt: Text = "count.",
            hits: Text = "combo hits.",
            level: Text = "sender's level.",
            ic: Text = "avatar path.",
            bnn: Text = "fan badge name.",
            bl: Text = "fan badge level.",
            el: ListOfMaps = "effects, as in `chatmsg`.",
        }
        PingReq(PingReq) = "pingreq" => "`pingreq`: the server's ping." {
            tick: Text = "server time in milliseconds.",
        }
        StreamStatus(Rss) = "rss" => "`rss`: the stream started or stopped." {
            rid: Text = "room id.",
            ss: Text = "1 live, 0 off.",
            code: Text = "reason code.",
            rt: Text = "reason type.",
            endtime: Text = "end time.",
        }
        SiteGift(Spbc) = "spbc" => "`spbc`: a site-wide gift broadcast." {
            sn: Text = "sender.",
            dn: Text = "receiver.",
            gn: Text = "gift name.",
            gc: Text = "count.",
            drid: Text = "room it was given in.",
        }
        Noble(Noble) = "anbc" | "rnewbc" => "`anbc` (opened) or `rnewbc` (renewed): a noble \
            title; see [`Noble::is_renewal`]." {
            uid: Text = "user id.",
            unk: Text = "user's nickname.",
            drid: Text = "room.",
            donk: Text = "anchor's nickname.",
            nl: Text = "noble level.",
        }
        FanRank(Frank) = "frank" => "`frank`: the fan ranking." {
            rid: Text = "room id.",
            fc: Text = "fan count.",
            list: ListOfMaps = "the ranking (`uid`, `nn`, `fs`); see [`Frank::entries`].",
        }
        Error(ErrorMsg) = "error" => "`error`: the server ends the session." {
            code: Text = "error code; see [`ErrorMsg::code`].",
        }
    }
    maps {
        Heartbeat = "mrkl" => "`mrkl`: the heartbeat reply.",
    }
}

messages! {
    /// A message from a client (frame type 689), as this project's server
    /// reads it.
    pub enum ClientMessage, table CLIENT;
    views {
        Login(LoginReq) = "loginreq" => "`loginreq`: a client logs in." {
            roomid: Text = "room id.",
            username: Text = "requested nickname (web login: a visitor name).",
            uid: Text = "user id (web login).",
            dfl: ListOfMaps = "display filter (web login): maps of `sn`, `ss`.",
            ver: Text = "client version (web login).",
            aver: Text = "client build (web login).",
            ct: Text = "client type (web login).",
        }
        JoinGroup(JoinGroup) = "joingroup" => "`joingroup`: a client joins a room's group." {
            rid: Text = "room id.",
            gid: Text = "group id (-9999 for all danmaku).",
        }
        Chat(ChatReq) = "chatmsg" => "`chatmsg` from a client: a line to broadcast." {
            txt: Text = "the text.",
        }
    }
    maps {
        Heartbeat = "mrkl" | "keeplive" => "`mrkl`, or the older `keeplive`: a heartbeat.",
        Logout = "logout" => "`logout`: end the session.",
        Who = "whoreq" => "`whoreq`: ask who is online in the room (this project's \
            extension, answered with [`ServerMessage::Who`]).",
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
trait View<'a>: Sized + Copy {
    /// The view with no field set.
    fn empty(map: Map<'a>) -> Self;

    /// The slot for `key` (its wire form), if the view has that field.
    /// Keys with escapes hold `@` or `/` and so are never field names.
    fn slot(&mut self, key: &str) -> Option<&mut Option<Text<'a>>>;

    /// The field `key`, for [`ServerMessage::field`] and
    /// [`ClientMessage::field`]: the slot of a copy, so that one `match`
    /// per view (`slot`) serves both reading and filling.
    fn get(&self, key: &str) -> Option<Text<'a>> {
        let mut copy = *self;
        copy.slot(key).and_then(|value| *value)
    }

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
        while let Some(spans) = rest.next_body_spans() {
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

/// The colours of the `col` values of a [`ChatMsg`], as `0xRRGGBB`: the
/// palette of the web player (1 red, 2 blue, 3 green, 4 orange, 5 purple,
/// 6 pink); index 0 is the default, white.
pub const CHAT_COLORS: [u32; 7] = [
    0xFF_FF_FF, 0xFF_00_00, 0x1E_87_F0, 0x7A_C8_4B, 0xFF_7F_00, 0x9B_39_F4, 0xFF_69_B4,
];

impl<'a> ChatMsg<'a> {
    /// The colour of the line as `0xRRGGBB`, from `col` (see
    /// [`CHAT_COLORS`]); white when `col` is absent or not a known value.
    ///
    /// ```
    /// use douyu_core::message::ServerMessage;
    /// let ServerMessage::Chat(chat) = ServerMessage::parse("type@=chatmsg/col@=2/")? else {
    ///     unreachable!()
    /// };
    /// assert_eq!(chat.rgb(), 0x1E87F0);
    /// # Ok::<(), douyu_core::stt::SttError>(())
    /// ```
    #[must_use]
    pub fn rgb(&self) -> u32 {
        self.col
            .and_then(|col| col.parse::<usize>())
            .and_then(|i| CHAT_COLORS.get(i).copied())
            .unwrap_or(CHAT_COLORS[0])
    }

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
        let types = SERVER
            .iter()
            .chain(CLIENT)
            .flat_map(|message| message.types)
            .chain(&["other"]);
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

    /// The fields that nest, as PROTOCOL.md §6 marks them (`el` of
    /// `chatmsg`, `uenter` and `dgb`; `list` of `frank`) plus this
    /// project's `whores`, and the web login's `dfl` (written as a list by
    /// `Client`).
    #[test]
    fn nested_fields_are_those_of_the_protocol() {
        let server = [
            ("chatmsg", "el"),
            ("uenter", "el"),
            ("dgb", "el"),
            ("frank", "list"),
            ("whores", "list"),
        ];
        let client = [("loginreq", "dfl")];
        for (table, nested) in [(SERVER, &server[..]), (CLIENT, &client[..])] {
            let mut found = 0;
            for message in table {
                for field in message.fields {
                    let listed = message
                        .types
                        .iter()
                        .any(|kind| nested.contains(&(*kind, field.key)));
                    let want = if listed {
                        FieldShape::ListOfMaps
                    } else {
                        FieldShape::Text
                    };
                    assert_eq!(field.shape, want, "{:?} {}", message.types, field.key);
                    found += usize::from(listed);
                }
            }
            assert_eq!(found, nested.len(), "every nested field is in the table");
        }
        assert_eq!(
            crate::schema::server_field("frank", "list"),
            Some(FieldShape::ListOfMaps)
        );
        assert_eq!(crate::schema::server_field("frank", "nn"), None);
        assert_eq!(
            crate::schema::client_field("loginreq", "dfl"),
            Some(FieldShape::ListOfMaps)
        );
        assert_eq!(crate::schema::client_field("chatmsg", "el"), None);
    }

    #[test]
    fn each_type_has_one_entry_and_fields_are_unique() {
        for table in [SERVER, CLIENT] {
            let kinds: std::vec::Vec<&str> = table.iter().flat_map(|m| m.types).copied().collect();
            for (i, kind) in kinds.iter().enumerate() {
                assert!(!kinds[..i].contains(kind), "{kind} listed twice");
            }
            for message in table {
                for (i, field) in message.fields.iter().enumerate() {
                    assert!(
                        message.fields[..i].iter().all(|f| f.key != field.key),
                        "{:?}: {} twice",
                        message.types,
                        field.key
                    );
                    assert!(!field.doc.is_empty() && field.key != "type");
                }
            }
        }
    }

    /// On a message holding every field of its type (each twice, the
    /// second value different), each field of the view is what `Map::get`
    /// finds for its key: the view reads what the table says, for the type
    /// the table says.
    #[test]
    fn every_view_field_is_the_first_value_of_its_key() {
        for (table, server) in [(SERVER, true), (CLIENT, false)] {
            for message in table {
                for kind in message.types {
                    let mut body = format!("type@={kind}/");
                    for (i, field) in message.fields.iter().enumerate() {
                        body += &format!("{}@=v{i}/", field.key);
                    }
                    for field in message.fields {
                        body += &format!("{}@=second/zz@=1/", field.key);
                    }
                    let keys: std::vec::Vec<&str> = message.fields.iter().map(|f| f.key).collect();
                    let keys = [&keys[..], &["zz", "type"]].concat();
                    let (map, values): (Map<'_>, std::vec::Vec<_>) = if server {
                        let m = ServerMessage::parse(&body).unwrap();
                        assert!(!matches!(m, ServerMessage::Other(_)), "{body}");
                        (m.map(), keys.iter().map(|key| m.field(key)).collect())
                    } else {
                        let m = ClientMessage::parse(&body).unwrap();
                        assert!(!matches!(m, ClientMessage::Other(_)), "{body}");
                        (m.map(), keys.iter().map(|key| m.field(key)).collect())
                    };
                    assert_eq!(map.raw(), body);
                    let (known, unknown) = values.split_at(message.fields.len());
                    for (i, (key, got)) in keys.iter().zip(known).enumerate() {
                        assert_eq!(*got, map.get(key).unwrap(), "{body}: {key}");
                        assert!(got.unwrap() == format!("v{i}").as_str(), "{body}: {key}");
                    }
                    // `zz` is in the map, `type` too, but neither is a field.
                    assert_eq!(unknown, [None, None]);
                }
            }
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
