//! STT on arbitrary bodies: pairs, lookups, unescaping (into a buffer and as
//! pieces) and nested list/map access at any depth never panic and agree
//! with each other; a well-formed body re-escapes to itself; every field of
//! a typed view is what `Map::get` finds for its key.
#![no_main]

use douyu_core::message::{ClientMessage, ServerMessage};
use douyu_core::stt::{List, Map, Text, Writer};
use libfuzzer_sys::fuzz_target;

/// How deep to follow values: a plain string read as a list is a list of
/// itself, so depth must be bounded by something other than the input.
const MAX_DEPTH: u32 = 4;

fn check_text(text: Text<'_>, level: u32) {
    let pieces: String = text.pieces().collect();
    assert_eq!(text.to_string(), pieces);
    assert_eq!(text.unescaped_len(), pieces.len());
    assert!(text == pieces.as_str());
    let mut buf = vec![0u8; pieces.len()];
    assert_eq!(text.unescape_into(&mut buf), Ok(pieces.as_str()));
    if !pieces.is_empty() {
        assert!(text.unescape_into(&mut buf[1..]).is_err());
    }
    // 16 bytes to spare take the one-pass copy of text without escapes (and
    // its unchecked `str` view), which an exact buffer never reaches.
    let mut roomy = vec![0u8; text.raw().len() + 16];
    assert_eq!(text.unescape_into(&mut roomy), Ok(pieces.as_str()));
    if let Some(plain) = text.as_plain() {
        assert_eq!(plain, pieces);
        // Text without escapes opens as itself (a list of one item) or as a
        // map without separators: following it deeper adds nothing.
        let _ = (text.as_map().validate(), text.as_list().items().count());
    } else if level < MAX_DEPTH {
        check_map(text.as_map(), level + 1);
        check_list(text.as_list(), level + 1);
    }
}

fn check_map(map: Map<'_>, level: u32) {
    let mut first = None;
    for pair in map.pairs() {
        let Ok((key, value)) = pair else { break };
        first.get_or_insert((key, value));
        check_text(key, level);
        check_text(value, level);
    }
    if let Some((key, value)) = first {
        // The first pair with a key is what a lookup returns.
        let key = key.to_string();
        let found = map.get(&key).expect("the first pair was fine");
        assert_eq!(found.map(|v| v.raw()), Some(value.raw()));
    }
}

fn check_list(list: List<'_>, level: u32) {
    for item in list.items() {
        let Ok(item) = item else { break };
        check_text(item, level);
    }
}

/// Every field of a server view, as (key, value). The one place that lists
/// the views' fields: a view added to `ServerMessage` panics here until it is
/// listed, so the fuzzer cannot pass over it.
fn server_fields<'a>(message: &ServerMessage<'a>) -> Vec<(&'static str, Option<Text<'a>>)> {
    match message {
        ServerMessage::LoginRes(m) => vec![
            ("userid", m.userid),
            ("roomgroup", m.roomgroup),
            ("pg", m.pg),
            ("sessionid", m.sessionid),
            ("username", m.username),
            ("nickname", m.nickname),
            ("live_stat", m.live_stat),
        ],
        ServerMessage::Chat(m) => vec![
            ("rid", m.rid),
            ("uid", m.uid),
            ("nn", m.nn),
            ("txt", m.txt),
            ("cid", m.cid),
            ("level", m.level),
            ("ic", m.ic),
            ("col", m.col),
            ("ct", m.ct),
            ("bnn", m.bnn),
            ("bl", m.bl),
            ("brid", m.brid),
            ("nl", m.nl),
            ("el", m.el),
        ],
        ServerMessage::Enter(m) => vec![
            ("rid", m.rid),
            ("uid", m.uid),
            ("nn", m.nn),
            ("level", m.level),
            ("ic", m.ic),
            ("nl", m.nl),
        ],
        ServerMessage::Leave(m) => vec![("rid", m.rid), ("uid", m.uid), ("nn", m.nn)],
        ServerMessage::Who(m) => vec![("rid", m.rid), ("total", m.total), ("list", m.list)],
        ServerMessage::Gift(m) => vec![
            ("rid", m.rid),
            ("gfid", m.gfid),
            ("gs", m.gs),
            ("uid", m.uid),
            ("nn", m.nn),
            ("gfcnt", m.gfcnt),
            ("hits", m.hits),
            ("level", m.level),
            ("ic", m.ic),
            ("bnn", m.bnn),
            ("bl", m.bl),
        ],
        ServerMessage::PingReq(m) => vec![("tick", m.tick)],
        ServerMessage::StreamStatus(m) => vec![
            ("rid", m.rid),
            ("ss", m.ss),
            ("code", m.code),
            ("rt", m.rt),
            ("endtime", m.endtime),
        ],
        ServerMessage::SiteGift(m) => vec![
            ("sn", m.sn),
            ("dn", m.dn),
            ("gn", m.gn),
            ("gc", m.gc),
            ("drid", m.drid),
        ],
        ServerMessage::Noble(m) => vec![
            ("uid", m.uid),
            ("unk", m.unk),
            ("drid", m.drid),
            ("donk", m.donk),
            ("nl", m.nl),
        ],
        ServerMessage::FanRank(m) => vec![("rid", m.rid), ("fc", m.fc), ("list", m.list)],
        ServerMessage::Error(m) => vec![("code", m.code)],
        ServerMessage::Heartbeat(_) | ServerMessage::Other(_) => vec![],
        other => panic!("list the fields of {other:?} in server_fields"),
    }
}

/// Every field of a client view, as (key, value); see [`server_fields`].
fn client_fields<'a>(message: &ClientMessage<'a>) -> Vec<(&'static str, Option<Text<'a>>)> {
    match message {
        ClientMessage::Login(m) => vec![
            ("roomid", m.roomid),
            ("username", m.username),
            ("uid", m.uid),
            ("dfl", m.dfl),
            ("ver", m.ver),
            ("aver", m.aver),
            ("ct", m.ct),
        ],
        ClientMessage::JoinGroup(m) => vec![("rid", m.rid), ("gid", m.gid)],
        ClientMessage::Chat(m) => vec![("txt", m.txt)],
        ClientMessage::Heartbeat(_)
        | ClientMessage::Logout(_)
        | ClientMessage::Who(_)
        | ClientMessage::Other(_) => vec![],
        other => panic!("list the fields of {other:?} in client_fields"),
    }
}

/// A view's field is the first value of its key, and `None` only when the
/// key is absent: the same `Text` (span, depth, offset) `Map::get` returns.
fn check_view(map: Map<'_>, fields: &[(&str, Option<Text<'_>>)]) {
    for (key, field) in fields {
        let found = map.get(key).expect("a parsed message has no bad pair");
        assert_eq!(*field, found, "field {key}");
    }
}

/// The views' helpers read the fields they name.
fn check_accessors(message: &ServerMessage<'_>) {
    // An absent list reads as the empty one.
    fn list(field: Option<Text<'_>>) -> &str {
        field.map_or("", |t| t.raw())
    }
    match message {
        ServerMessage::Chat(m) => assert_eq!(m.effects().raw(), list(m.el)),
        ServerMessage::Who(m) => assert_eq!(m.entries().raw(), list(m.list)),
        ServerMessage::FanRank(m) => assert_eq!(m.entries().raw(), list(m.list)),
        ServerMessage::Noble(m) => {
            let kind = m.map.message_type().expect("parsed").expect("typed");
            assert_eq!(m.is_renewal(), kind == "rnewbc");
        }
        ServerMessage::Error(m) => {
            assert_eq!(m.code(), m.code.and_then(|c| c.to_string().parse().ok()));
        }
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(body) = std::str::from_utf8(data) else {
        return;
    };
    let map = Map::new(body);
    check_map(map, 0);
    check_list(List::new(body), 0);
    if let Ok(message) = ServerMessage::parse(body) {
        assert_eq!(message.map(), map);
        check_view(map, &server_fields(&message));
        check_accessors(&message);
    }
    if let Ok(message) = ClientMessage::parse(body) {
        check_view(map, &client_fields(&message));
    }
    // Well-formed: unescape every key and value, write them again. (Frame
    // bodies never hold NUL, which the writer refuses.)
    if body.contains('\0') {
        return;
    }
    let Ok(pairs) = map.pairs().collect::<Result<Vec<_>, _>>() else {
        return;
    };
    let mut buf = vec![0u8; body.len() + 1];
    let mut writer = Writer::new(&mut buf);
    let mut m = writer.map();
    for (key, value) in pairs {
        m.pair(&key.to_string(), &value.to_string())
            .expect("fits: same escapes as the input");
    }
    let expected = if body.is_empty() || body.ends_with('/') {
        body.to_string()
    } else {
        format!("{body}/")
    };
    assert_eq!(writer.as_bytes(), expected.as_bytes());
});
