//! STT on arbitrary bodies: pairs, lookups, unescaping (into a buffer, into
//! an arena a word at a time, and as pieces) and nested list/map access at
//! any depth never panic and agree with each other; a well-formed body
//! re-escapes to itself; and the typed views agree with core's schema: a
//! type the schema lists gets its view, each field of the view is the
//! body's first value of that key, and the nested fields read as their
//! shape says without panicking.
#![no_main]

use douyu_core::message::{ClientMessage, ServerMessage};
use douyu_core::schema::{self, FieldShape, MessageSchema};
use douyu_core::stt::{List, Map, SttError, Text, Writer};
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
    // Word at a time, into an arena with the eight bytes of slack it asks.
    let mut arena = vec![0xa5u8; text.raw().len() + 8];
    assert_eq!(text.unescape_words(&mut arena), Ok(pieces.as_str()));
    assert!(text.unescape_words(&mut arena[1..]).is_err());
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

/// Checks a parsed message against `table`: `other` says whether it came out
/// as the `Other` variant, `field` reads its view's fields.
fn check_schema<'a>(
    map: Map<'a>,
    table: &'static [MessageSchema],
    other: bool,
    field: impl Fn(&str) -> Option<Text<'a>>,
) {
    let kind = map.message_type().expect("a parsed body reads");
    let entry = kind.and_then(|kind| schema::message(table, kind.raw()));
    assert_eq!(other, entry.is_none(), "{kind:?}");
    assert_eq!(field("type"), None, "`type` is no field");
    for f in entry.map_or(&[][..], |entry| entry.fields) {
        let value = field(f.key);
        // The same text, not only equal content: the first pair's span.
        let first = map.get(f.key).expect("a parsed body reads");
        let span = |t: Option<Text<'_>>| t.map(|t| (t.raw().as_ptr(), t.raw().len()));
        assert_eq!(span(value), span(first), "{}", f.key);
        let Some(value) = value else { continue };
        match f.shape {
            FieldShape::ListOfMaps => {
                for item in value.as_list().items() {
                    let Ok(item) = item else { break };
                    check_map(item.as_map(), MAX_DEPTH);
                }
            }
            FieldShape::Map => check_map(value.as_map(), MAX_DEPTH),
            _ => {}
        }
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
    assert!(map.raw() == body && map.depth() == 0);
    // A malformed body: the error points into it, and says where.
    if let Err(e) = map.validate() {
        let offset = match e {
            SttError::BadEscape { offset } | SttError::MissingSeparator { offset } => offset,
            _ => panic!("reading fails only on syntax: {e}"),
        };
        assert!(offset <= body.len());
        assert!(e.to_string().contains(&offset.to_string()) && !e.class().is_empty());
    }
    check_map(map, 0);
    check_list(List::new(body), 0);
    if let Ok(message) = ServerMessage::parse(body) {
        let other = matches!(message, ServerMessage::Other(_));
        assert_eq!(message.map(), map);
        check_schema(message.map(), schema::SERVER, other, |k| message.field(k));
        check_accessors(&message);
    }
    if let Ok(message) = ClientMessage::parse(body) {
        let other = matches!(message, ClientMessage::Other(_));
        check_schema(message.map(), schema::CLIENT, other, |k| message.field(k));
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
