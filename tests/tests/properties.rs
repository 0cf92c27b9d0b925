//! Properties of the codec over generated input.

use douyu_core::frame::{Direction, Frame, FrameError, Frames, encode_with};
use douyu_core::message::ServerMessage;
use douyu_core::schema::{self, FieldShape};
use douyu_core::stream::{Decoder, StreamError};
use douyu_core::stt::{List, ListWriter, Map, MapWriter, SttError, Text};
use douyu_host::render::{message_json, write_message_json};
use douyu_host::time::rfc3339_ms;
use proptest::prelude::*;
use serde_json::Value;

/// A nested STT value as the schema of a message would describe it.
#[derive(Debug, Clone)]
enum Node {
    Str(String),
    List(Vec<Node>),
    Map(Vec<(String, Node)>),
}

/// Strings heavy in the characters STT escapes, and in wide ones.
fn text() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        Just("@".to_string()),
        Just("/".to_string()),
        Just("@A".to_string()),
        Just("@S".to_string()),
        Just("@=".to_string()),
        Just("A".to_string()),
        Just("S".to_string()),
        Just("=".to_string()),
        Just("🐟".to_string()),
        Just("鱼丸".to_string()),
        "[a-z0-9 ]{1,4}",
    ];
    prop::collection::vec(atom, 0..6).prop_map(|parts| parts.concat())
}

fn node() -> impl Strategy<Value = Node> {
    text()
        .prop_map(Node::Str)
        .prop_recursive(4, 48, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Node::List),
                prop::collection::vec((text(), inner), 0..5).prop_map(Node::Map),
            ]
        })
}

fn message() -> impl Strategy<Value = Vec<(String, Node)>> {
    prop::collection::vec((text(), node()), 0..6)
}

fn write_map(m: &mut MapWriter<'_, '_>, pairs: &[(String, Node)]) -> Result<(), SttError> {
    for (key, value) in pairs {
        match value {
            Node::Str(s) => m.pair(key, s)?,
            Node::List(items) => m.list(key, |l| write_list(l, items))?,
            Node::Map(inner) => m.map(key, |m| write_map(m, inner))?,
        };
    }
    Ok(())
}

fn write_list(l: &mut ListWriter<'_, '_>, items: &[Node]) -> Result<(), SttError> {
    for item in items {
        match item {
            Node::Str(s) => l.item(s)?,
            Node::List(inner) => l.list(|l| write_list(l, inner))?,
            Node::Map(inner) => l.map(|m| write_map(m, inner))?,
        };
    }
    Ok(())
}

/// Reads `text` back following the shape of `want`, asserting equality.
fn check_node(text: Text<'_>, want: &Node) {
    match want {
        Node::Str(s) => {
            assert_eq!(text.to_string(), *s);
            assert!(text == s.as_str());
            let mut buf = vec![0u8; s.len()];
            assert_eq!(text.unescape_into(&mut buf).unwrap(), s);
            let mut arena = vec![0u8; text.raw().len() + 8];
            assert_eq!(text.unescape_words(&mut arena).unwrap(), s);
            assert_eq!(text.unescaped_len(), s.len());
        }
        Node::List(items) => check_list(text.as_list(), items),
        Node::Map(pairs) => check_map(text.as_map(), pairs),
    }
}

fn check_list(list: List<'_>, items: &[Node]) {
    let got: Vec<Text<'_>> = list.items().collect::<Result<_, _>>().unwrap();
    assert_eq!(got.len(), items.len(), "{list:?}");
    for (text, want) in got.into_iter().zip(items) {
        check_node(text, want);
    }
}

fn check_map(map: Map<'_>, pairs: &[(String, Node)]) {
    let got: Vec<(Text<'_>, Text<'_>)> = map.pairs().collect::<Result<_, _>>().unwrap();
    assert_eq!(got.len(), pairs.len(), "{map:?}");
    for ((key, value), (want_key, want_value)) in got.into_iter().zip(pairs) {
        assert!(key == want_key.as_str());
        check_node(value, want_value);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Nested messages survive encode → frame → decode at every depth.
    #[test]
    fn nested_messages_round_trip(msg in message()) {
        let mut buf = vec![0u8; 1 << 16];
        let n = encode_with(&mut buf, Direction::ServerToClient, |m| write_map(m, &msg)).unwrap();
        let (frame, used) = match Frame::decode(&buf[..n]).unwrap() {
            douyu_core::frame::Status::Complete(done) => done,
            other => panic!("{other:?}"),
        };
        prop_assert_eq!(used, n);
        check_map(Map::new(frame.body), &msg);
    }

    /// A buffer too small for the message is an error, never a panic.
    #[test]
    fn small_buffers_fail_cleanly(msg in message(), size in 0usize..64) {
        let mut buf = vec![0u8; size];
        if let Ok(n) = encode_with(&mut buf, Direction::ServerToClient, |m| write_map(m, &msg)) {
            prop_assert!(n <= size);
            let mut big = vec![0u8; 1 << 16];
            let m = encode_with(&mut big, Direction::ServerToClient, |m| write_map(m, &msg)).unwrap();
            prop_assert_eq!(&buf[..n], &big[..m]);
        }
    }

    /// `collect`'s and `watch --format json`'s JSON, written straight as
    /// text, reads back as the object `expected_json` builds from the
    /// message's views, byte for byte: on generated messages whose nested
    /// fields (`el`, `list`) may or may not read as their shape, with
    /// repeated keys, a missing or repeated type and a field named
    /// `received_at`, and on arbitrary bodies.
    #[test]
    fn json_written_straight_is_the_object(
        kind in prop_oneof![Just("chatmsg"), Just("dgb"), Just("whores"), Just("uenter")],
        typed in any::<bool>(),
        pairs in prop::collection::vec(
            (
                prop_oneof![
                    Just("el".to_string()),
                    Just("list".to_string()),
                    Just("type".to_string()),
                    Just("received_at".to_string()),
                    text(),
                ],
                node(),
            ),
            0..6,
        ),
        body in body(),
        received in prop::option::of(0i64..4_102_444_800_000),
    ) {
        let mut msg = Vec::new();
        if typed {
            msg.push(("type".to_string(), Node::Str(kind.to_string())));
        }
        msg.extend(pairs);
        let mut buf = vec![0u8; 1 << 16];
        let n = encode_with(&mut buf, Direction::ServerToClient, |m| write_map(m, &msg)).unwrap();
        let frame = match Frame::decode(&buf[..n]).unwrap() {
            douyu_core::frame::Status::Complete((frame, _)) => frame,
            other => panic!("{other:?}"),
        };
        let typed_body = format!("type@={kind}/{body}");
        for body in [frame.body, body.as_str(), typed_body.as_str()] {
            let Ok(message) = ServerMessage::parse(body) else {
                continue;
            };
            let mut out = Vec::new();
            write_message_json(&message, received, &mut out);
            let want = expected_json(&message, received).to_string();
            prop_assert_eq!(&String::from_utf8(out).unwrap(), &want, "{:?}", body);
            prop_assert_eq!(message_json(&message, received).to_string(), want);
        }
    }

    /// Any bytes: decoding never panics, and the views stay consistent:
    /// every key and value lies in the body where its offset says, `get`
    /// returns the first pair of a key as `pairs()` yields it (or the error
    /// that ends the pairs before it), a key the pairs do not hold is never
    /// found, `validate` agrees with `pairs`, and every error carries an
    /// offset inside the body.
    #[test]
    fn arbitrary_bodies_keep_their_views_consistent(body in body()) {
        check_views(&body);
    }

    /// The same bytes in any chunking give the same frames and errors as a
    /// one-shot decode of the whole capture.
    #[test]
    fn chunking_changes_nothing(
        frames in prop::collection::vec(frame_bytes(), 0..8),
        cuts in prop::collection::vec(1usize..40, 1..20),
        capacity in 12usize..200,
    ) {
        let bytes: Vec<u8> = frames.concat();
        let oneshot: Vec<Result<String, StreamError>> = Frames::new(&bytes, capacity)
            .map(|(at, r)| r.map(|f| f.body.to_string()).map_err(|error| StreamError { offset: at as u64, error }))
            .collect();
        let mut buf = vec![0u8; capacity];
        let mut decoder = Decoder::new(&mut buf);
        let mut streamed = Vec::new();
        let mut rest = &bytes[..];
        let mut cut = cuts.iter().cycle();
        'outer: while !rest.is_empty() {
            let piece = (*cut.next().unwrap()).min(rest.len());
            let mut chunk = &rest[..piece];
            rest = &rest[piece..];
            while !chunk.is_empty() {
                chunk = &chunk[decoder.feed(chunk)..];
                loop {
                    match decoder.next_frame() {
                        Ok(Some(f)) => streamed.push(Ok(f.body.to_string())),
                        Ok(None) => break,
                        Err(e) => {
                            streamed.push(Err(e));
                            if e.is_fatal() { break 'outer; }
                        }
                    }
                }
            }
        }
        prop_assert_eq!(streamed, oneshot);
    }
}

/// Bodies from loose characters, and from the pieces STT is made of (so
/// that valid escapes, nested maps and lists come up often).
/// The JSON object of a message as `message_json` documents it, built
/// from the core's views into a `serde_json` map (keys kept in order): the
/// test's own reading, to hold the writer to.
fn expected_json(message: &ServerMessage<'_>, received_ms: Option<i64>) -> Value {
    let map = message.map();
    let kind = map
        .message_type()
        .ok()
        .flatten()
        .map(|t| t.to_string())
        .unwrap_or_default();
    let strings = |map: Map<'_>| -> Option<Value> {
        let mut object = serde_json::Map::new();
        for pair in map.pairs() {
            let (key, value) = pair.ok()?;
            object
                .entry(key.to_string())
                .or_insert_with(|| value.to_string().into());
        }
        Some(Value::Object(object))
    };
    let mut object = serde_json::Map::new();
    for (key, value) in map.pairs().flatten() {
        let key = key.to_string();
        if object.contains_key(&key) {
            continue;
        }
        let nested = match schema::server_field(&kind, &key) {
            Some(FieldShape::ListOfMaps) => value
                .as_list()
                .items()
                .map(|item| strings(item.ok()?.as_map()))
                .collect::<Option<Vec<_>>>()
                .map(Value::Array),
            Some(FieldShape::Map) => strings(value.as_map()),
            _ => None,
        };
        object.insert(key, nested.unwrap_or_else(|| value.to_string().into()));
    }
    object.entry("type").or_insert_with(|| "".into());
    if let Some(ms) = received_ms {
        object.insert("received_at".into(), rfc3339_ms(ms).into());
    }
    Value::Object(object)
}

fn body() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        Just("@="),
        Just("/"),
        Just("@A"),
        Just("@S"),
        Just("@AA"),
        Just("@AS"),
        Just("@"),
        Just("a"),
        Just("b"),
        Just("type"),
        Just("鱼"),
    ];
    prop_oneof![
        "[a-zA-Z@=/ 鱼]{0,40}",
        prop::collection::vec(atom, 0..24).prop_map(|parts| parts.concat()),
    ]
}

/// The error's offset, asserted to lie inside `body`.
fn check_error(body: &str, e: SttError) {
    match e {
        SttError::BadEscape { offset } => {
            assert!(offset < body.len(), "{e:?} in {body:?}");
            assert_eq!(body.as_bytes()[offset], b'@', "{e:?} in {body:?}");
        }
        SttError::MissingSeparator { offset } => {
            assert!(offset < body.len(), "{e:?} in {body:?}");
        }
        other => panic!("a reader reported {other:?} in {body:?}"),
    }
}

/// `text` is where its offset says in `body`, and reads back the same way
/// however it is asked.
fn check_text(body: &str, text: Text<'_>) -> String {
    let at = text.offset();
    assert_eq!(
        body.get(at..at + text.raw().len()),
        Some(text.raw()),
        "{text:?} in {body:?}"
    );
    let unescaped = text.to_string();
    assert_eq!(text.unescaped_len(), unescaped.len());
    assert_eq!(text.pieces().collect::<String>(), unescaped);
    assert!(text == unescaped.as_str());
    // Exact room (the pieces), the escaped length (the 16-byte windows
    // and the byte-at-a-time end) and more (the plain copy first).
    for room in [unescaped.len(), text.raw().len(), text.raw().len() + 16] {
        let mut buf = vec![0u8; room];
        assert_eq!(text.unescape_into(&mut buf).unwrap(), unescaped);
    }
    // A word at a time: with the eight bytes of slack it needs, over junk,
    // and refused with one byte less.
    let mut arena = vec![0xa5u8; text.raw().len() + 8];
    assert_eq!(text.unescape_words(&mut arena).unwrap(), unescaped);
    assert_eq!(
        text.unescape_words(&mut arena[1..]),
        Err(SttError::BufferFull {
            needed: text.raw().len() + 8,
            capacity: text.raw().len() + 7
        })
    );
    unescaped
}

fn check_views(body: &str) {
    let map = Map::new(body);
    let mut keys: Vec<(String, Text<'_>)> = Vec::new();
    let mut ended = None;
    for pair in map.pairs() {
        match pair {
            Ok((k, v)) => {
                let key = check_text(body, k);
                check_text(body, v);
                assert!(v.offset() > k.offset(), "{k:?} {v:?}");
                // One level down: items and pairs stay inside the body too.
                for item in v.as_list().items() {
                    match item {
                        Ok(item) => drop(check_text(body, item)),
                        Err(e) => check_error(body, e),
                    }
                }
                if let Err(e) = v.as_map().validate() {
                    check_error(body, e);
                }
                keys.push((key, v));
            }
            Err(e) => {
                assert!(ended.is_none(), "a second error after {ended:?}");
                check_error(body, e);
                ended = Some(e);
            }
        }
    }
    match ended {
        Some(e) => assert_eq!(map.validate(), Err(e)),
        None => assert_eq!(map.validate(), Ok(keys.len())),
    }
    for (key, _) in &keys {
        let first = keys.iter().find(|(k, _)| k == key).map(|(_, v)| *v);
        assert_eq!(map.get(key), Ok(first), "{key:?} in {body:?}");
    }
    // Keys the pairs do not hold: never found; the pairs' error, if any,
    // is what stops the search.
    for absent in ["", "a", "b", "type", "鱼", "ab", "a@b", "a/b"] {
        if keys.iter().any(|(k, _)| k == absent) {
            continue;
        }
        let want = match ended {
            Some(e) => Err(e),
            None => Ok(None),
        };
        assert_eq!(map.get(absent), want, "{absent:?} in {body:?}");
    }
}

/// Frames of every kind: valid, oversized, with bad bodies, with bad lengths.
fn frame_bytes() -> impl Strategy<Value = Vec<u8>> {
    let valid = "[a-z@=/鱼]{0,60}".prop_map(|body| {
        let frame = Frame::new(Direction::ServerToClient, &body);
        let mut out = vec![0u8; frame.encoded_len()];
        frame.encode(&mut out).unwrap();
        out
    });
    let bad_body =
        (prop::collection::vec(any::<u8>(), 0..30), any::<u8>()).prop_map(|(body, last)| {
            let length = (body.len() + 9) as u32;
            let mut out = Vec::new();
            out.extend_from_slice(&length.to_le_bytes());
            out.extend_from_slice(&length.to_le_bytes());
            out.extend_from_slice(&[0xb2, 0x02, 0, 0]);
            out.extend_from_slice(&body);
            out.push(last);
            out
        });
    let bad_length = (0u32..40, 0u32..40).prop_map(|(a, b)| {
        let mut out = Vec::new();
        out.extend_from_slice(&a.to_le_bytes());
        out.extend_from_slice(&b.to_le_bytes());
        out
    });
    prop_oneof![6 => valid, 3 => bad_body, 1 => bad_length]
}

#[test]
fn chunking_keeps_errors_typed() {
    // A fixed case of the property above, readable on its own.
    let mut bytes = vec![0x14, 0, 0, 0, 0x15, 0, 0, 0];
    bytes.extend_from_slice(b"rest");
    let got: Vec<_> = Frames::new(&bytes, 64).collect();
    assert_eq!(
        got,
        [(
            0,
            Err(FrameError::LengthMismatch {
                first: 20,
                second: 21
            })
        )]
    );
}
