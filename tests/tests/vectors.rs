//! The conformance vectors of `../shared/vectors`, every case, exact match.

use douyu_core::frame::{Direction, Frame, Status};
use douyu_core::message::ServerMessage;
use douyu_core::stream::Decoder;
use douyu_core::stt::{List, Map, SttError, Text, Writer};
use douyu_tests::{read_vectors, unhex};
use serde_json::Value;

type Pairs = Vec<(String, String)>;

fn pairs_of(map: Map<'_>) -> Result<Pairs, SttError> {
    map.pairs()
        .map(|p| p.map(|(k, v)| (k.to_string(), v.to_string())))
        .collect()
}

fn expected_pairs(v: &Value) -> Pairs {
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p[0].as_str().unwrap().to_string(),
                p[1].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Decodes one vector frame to its error class, or to its parts.
fn decode_class(bytes: &[u8]) -> Result<(Frame<'_>, Pairs), &'static str> {
    match Frame::decode(bytes) {
        Err(e) => Err(e.class()),
        Ok(Status::Incomplete { .. }) => Err("incomplete"),
        Ok(Status::Complete((frame, used))) => {
            assert_eq!(used, bytes.len());
            let pairs = pairs_of(Map::new(frame.body)).map_err(|e| e.class())?;
            Ok((frame, pairs))
        }
    }
}

#[test]
fn frames() {
    let cases = read_vectors("frames.jsonl");
    assert!(cases.len() >= 20);
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let bytes = unhex(case["hex"].as_str().unwrap());
        let got = decode_class(&bytes);
        if let Some(class) = case["error"].as_str() {
            assert_eq!(got.err(), Some(class), "{name}");
            continue;
        }
        let (frame, pairs) = got.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            u64::from(frame.direction.to_u16()),
            case["type"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(frame.body, case["body"].as_str().unwrap(), "{name}");
        assert_eq!(pairs, expected_pairs(&case["pairs"]), "{name}");
        let flag = |key: &str| case.get(key).and_then(Value::as_u64).unwrap_or(0);
        assert_eq!(
            (u64::from(frame.encryption), u64::from(frame.reserved)),
            (flag("encryption"), flag("reserved")),
            "{name}"
        );
        // Encoding gives back the same bytes.
        let mut out = vec![0u8; frame.encoded_len()];
        frame.encode(&mut out).unwrap();
        assert_eq!(out, bytes, "{name}");
    }
}

fn strings(list: List<'_>) -> Vec<String> {
    list.items().map(|t| t.unwrap().to_string()).collect()
}

fn as_pairs(text: Text<'_>) -> Pairs {
    pairs_of(text.as_map()).unwrap()
}

/// Checks one nested case against `value` read as a list at its own level.
fn check_nested(case: &Value, value: List<'_>, name: &str) {
    if let Some(list) = case.get("list") {
        let want: Vec<String> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().into())
            .collect();
        assert_eq!(strings(value), want, "{name}");
    }
    if let Some(maps) = case.get("items_as_maps") {
        let got: Vec<_> = value.items().map(|t| as_pairs(t.unwrap())).collect();
        let want: Vec<_> = maps
            .as_array()
            .unwrap()
            .iter()
            .map(expected_pairs)
            .collect();
        assert_eq!(got, want, "{name}");
    }
    if let Some(deep) = case.get("deep") {
        // The single item is a map whose one value is a list.
        let item = value.get(0).unwrap().unwrap().as_map();
        let (_, inner) = item.pairs().next().unwrap().unwrap();
        let want: Vec<String> = deep
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().into())
            .collect();
        assert_eq!(strings(inner.as_list()), want, "{name}");
    }
}

#[test]
fn nested_stt() {
    for case in read_vectors("stt_nested.jsonl") {
        let name = case["name"].as_str().unwrap();
        let value = case["value"].as_str().unwrap();
        // As given (already unescaped once) ...
        check_nested(&case, List::new(value), name);
        // ... and in place inside a body, escaped once more, with no copy.
        let mut buf = vec![0u8; value.len() * 4 + 16];
        let mut w = Writer::new(&mut buf);
        w.map().pair("v", value).unwrap();
        let body = std::str::from_utf8(w.as_bytes()).unwrap().to_string();
        let field = Map::new(&body).get("v").unwrap().unwrap();
        assert!(field == value, "{name}");
        check_nested(&case, field.as_list(), name);
        if let Some(wire) = case["wire"].as_str() {
            assert_eq!(body, format!("v@={wire}/"), "{name}");
        }
    }
}

#[test]
fn real_bodies() {
    let cases = read_vectors("real_bodies.jsonl");
    assert_eq!(cases.len(), 64);
    for case in &cases {
        let source = case["source"].as_str().unwrap();
        let body = case["body"].as_str().unwrap();
        let map = Map::new(body);
        assert_eq!(
            pairs_of(map).unwrap(),
            expected_pairs(&case["pairs"]),
            "{source}"
        );
        assert!(
            map.message_type().unwrap().unwrap() == case["type"].as_str().unwrap(),
            "{source}"
        );
        let message = ServerMessage::parse(body).unwrap_or_else(|e| panic!("{source}: {e}"));
        assert_eq!(message.map().raw(), body);
        // Writing the decoded pairs back gives the body again.
        if body.ends_with('/') {
            let mut buf = vec![0u8; body.len() * 2];
            let mut w = Writer::new(&mut buf);
            let mut m = w.map();
            for (k, v) in expected_pairs(&case["pairs"]) {
                m.pair(&k, &v).unwrap();
            }
            assert_eq!(std::str::from_utf8(w.as_bytes()).unwrap(), body, "{source}");
        }
    }
}

#[test]
fn typed_views_of_real_bodies() {
    let mut chats = 0;
    for case in read_vectors("real_bodies.jsonl") {
        let body = case["body"].as_str().unwrap();
        match ServerMessage::parse(body).unwrap() {
            ServerMessage::Chat(chat) => {
                chats += 1;
                let pairs = expected_pairs(&case["pairs"]);
                let nn = pairs
                    .iter()
                    .find(|(k, _)| k == "nn")
                    .map(|(_, v)| v.as_str());
                assert_eq!(chat.nn.map(|t| t.to_string()).as_deref(), nn);
                for effect in chat.effects().items() {
                    effect.unwrap().as_map().validate().unwrap();
                }
            }
            ServerMessage::FanRank(rank) => {
                for entry in rank.entries().items() {
                    assert!(entry.unwrap().as_map().get("uid").unwrap().is_some());
                }
            }
            _ => {}
        }
    }
    assert!(chats >= 5);
}

fn check_stream(bytes: &[u8], piece: usize, want: &[(u64, String)], leftover: usize, what: &str) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut d = Decoder::new(&mut buf);
    let mut got = Vec::new();
    for mut chunk in bytes.chunks(piece) {
        while !chunk.is_empty() {
            chunk = &chunk[d.feed(chunk)..];
            while let Some(frame) = d.next_frame().unwrap() {
                got.push((u64::from(frame.direction.to_u16()), frame.body.to_string()));
            }
        }
    }
    assert_eq!(got, want, "{what} (pieces of {piece})");
    assert_eq!(d.buffered(), leftover, "{what}");
}

#[test]
fn real_streams() {
    for case in read_vectors("real_streams.jsonl") {
        let what = case["what"].as_str().unwrap();
        let bytes = unhex(case["hex"].as_str().unwrap());
        let want: Vec<(u64, String)> = case["complete_frames"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["type"].as_u64().unwrap(),
                    f["body"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let leftover = case["leftover_bytes"].as_u64().unwrap() as usize;
        for piece in [bytes.len(), 1, 7] {
            check_stream(&bytes, piece, &want, leftover, what);
        }
        for (_, body) in &want {
            ServerMessage::parse(body).unwrap();
        }
        assert!(
            want.iter()
                .all(|(t, _)| Direction::from_u16(*t as u16) != Direction::Other(*t as u16))
        );
    }
}

#[tokio::test]
async fn real_streams_through_the_async_reader() {
    use douyu_core::stream::{AsyncFrameReader, ReadError};
    for case in read_vectors("real_streams.jsonl") {
        let bytes = unhex(case["hex"].as_str().unwrap());
        let mut buf = vec![0u8; 4096];
        let mut reader = AsyncFrameReader::new(&bytes[..], &mut buf);
        let mut bodies = Vec::new();
        let end = loop {
            match reader.next_frame().await {
                Ok(Some(frame)) => bodies.push(frame.body.to_string()),
                other => break other.map(|_| ()),
            }
        };
        let want: Vec<&str> = case["complete_frames"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["body"].as_str().unwrap())
            .collect();
        assert_eq!(bodies, want);
        match case["leftover_bytes"].as_u64().unwrap() {
            0 => assert_eq!(end, Ok(())),
            _ => assert!(matches!(end, Err(ReadError::Truncated { .. }))),
        }
    }
}
