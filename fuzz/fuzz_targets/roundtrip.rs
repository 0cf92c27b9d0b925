//! Structure-aware: arbitrary nested messages survive encode → frame →
//! decode unchanged, at every depth.
#![no_main]

use arbitrary::Arbitrary;
use douyu_core::frame::{Frame, MessageType, Status, encode_with};
use douyu_core::stt::{ListWriter, Map, MapWriter, SttError, Text};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum Node {
    Str(String),
    List(Vec<Node>),
    Map(Vec<(String, Node)>),
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

fn check(text: Text<'_>, want: &Node) {
    match want {
        Node::Str(s) => assert!(text == s.as_str(), "{text:?} != {s:?}"),
        Node::List(items) => {
            let got: Vec<Text<'_>> = text.as_list().items().collect::<Result<_, _>>().unwrap();
            assert_eq!(got.len(), items.len());
            got.into_iter().zip(items).for_each(|(t, n)| check(t, n));
        }
        Node::Map(pairs) => check_map(text.as_map(), pairs),
    }
}

fn check_map(map: Map<'_>, pairs: &[(String, Node)]) {
    let got: Vec<(Text<'_>, Text<'_>)> = map.pairs().collect::<Result<_, _>>().unwrap();
    assert_eq!(got.len(), pairs.len());
    for ((key, value), (want_key, want_value)) in got.into_iter().zip(pairs) {
        assert!(key == want_key.as_str());
        check(value, want_value);
    }
}

fn has_nul(pairs: &[(String, Node)]) -> bool {
    fn node(n: &Node) -> bool {
        match n {
            Node::Str(s) => s.contains('\0'),
            Node::List(items) => items.iter().any(node),
            Node::Map(pairs) => has_nul(pairs),
        }
    }
    pairs.iter().any(|(k, v)| k.contains('\0') || node(v))
}

fuzz_target!(|message: Vec<(String, Node)>| {
    let mut buf = vec![0u8; 1 << 20];
    let n = match encode_with(&mut buf, MessageType::ServerToClient, |m| {
        write_map(m, &message)
    }) {
        Ok(n) => n,
        Err(SttError::NulByte { .. }) => return assert!(has_nul(&message)),
        // Escaping doubles per level; a deep enough message outgrows any buffer.
        Err(SttError::BufferFull { .. }) => return,
        Err(e) => panic!("{e}"),
    };
    let Ok(Status::Complete((frame, used))) = Frame::decode(&buf[..n]) else {
        panic!("own frame did not decode")
    };
    assert_eq!(used, n);
    check_map(Map::new(frame.body), &message);
});
