//! Structure-aware: arbitrary nested messages survive encode → frame →
//! decode unchanged, at every depth; copied one level deeper (`pair_text`
//! re-escaping what it read) they read back the same too. Encoding into a
//! buffer one byte short (or smaller) is refused with `BufferFull`, a NUL
//! with `NulByte`, and the errors say so.
#![no_main]

use arbitrary::Arbitrary;
use douyu_core::frame::{Direction, Frame, FrameError, Status, encode_with};
use douyu_core::stt::{List, ListWriter, Map, MapWriter, SttError, Text, Writer};
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

/// The error's text names its numbers.
fn check_error(e: &SttError) {
    let text = e.to_string();
    let number = match *e {
        SttError::BufferFull { capacity, .. } => capacity,
        SttError::NulByte { offset }
        | SttError::BadEscape { offset }
        | SttError::MissingSeparator { offset } => offset,
        _ => return assert!(!text.is_empty()),
    };
    assert!(!e.class().is_empty());
    assert!(text.contains(&number.to_string()), "{text:?}");
}

/// `encode_with` reports a full buffer in the frame's sizes and anything else
/// the writer refused as the STT error it was.
fn check_frame_error(e: &FrameError) {
    let text = e.to_string();
    match e {
        FrameError::BufferFull { capacity, .. } => {
            assert!(text.contains(&capacity.to_string()), "{text:?}");
        }
        FrameError::Body(inner) => {
            check_error(inner);
            assert_eq!(e.class(), inner.class());
            assert!(text.contains(&inner.to_string()), "{text:?}");
        }
        other => panic!("encode_with reported {other:?}"),
    }
}

fuzz_target!(|message: Vec<(String, Node)>| {
    let mut buf = vec![0u8; 1 << 20];
    let n = match encode_with(&mut buf, Direction::ServerToClient, |m| {
        write_map(m, &message)
    }) {
        Ok(n) => n,
        Err(e @ FrameError::Body(SttError::NulByte { .. })) => {
            check_frame_error(&e);
            return assert!(has_nul(&message));
        }
        // Escaping doubles per level; a deep enough message outgrows any buffer.
        Err(e @ FrameError::BufferFull { .. }) => return check_frame_error(&e),
        Err(e) => panic!("{e}"),
    };
    let Ok(Status::Complete((frame, used))) = Frame::decode(&buf[..n]) else {
        panic!("own frame did not decode")
    };
    assert_eq!(used, n);
    let map = Map::new(frame.body);
    check_map(map, &message);

    // Too small by one byte, or by half: refused, asking for more.
    for short in [n - 1, n / 2] {
        let mut small = vec![0u8; short];
        match encode_with(&mut small, Direction::ServerToClient, |m| {
            write_map(m, &message)
        }) {
            Err(e @ FrameError::BufferFull { needed, capacity }) => {
                assert!(capacity == short && needed > short && needed <= n, "{e}");
                assert_eq!(e.class(), "buffer_full");
                check_frame_error(&e);
            }
            other => panic!("{short} of {n} bytes: {other:?}"),
        }
    }

    // One level deeper: every pair read copied into the map `n` of a list
    // item, re-escaped for its depth.
    let mut out = vec![0u8; 4 * n + 64];
    let mut w = Writer::new(&mut out);
    assert!(w.is_empty());
    let copied = w.list().item_display(&n).and_then(|l| {
        l.map(|m| {
            for pair in map.pairs() {
                let (key, value) = pair.expect("read once already");
                let key = key.as_plain().map_or_else(
                    || {
                        let mut k = vec![0u8; key.unescaped_len()];
                        key.unescape_into(&mut k).unwrap().to_string()
                    },
                    str::to_string,
                );
                m.pair_text(&key, value)?;
            }
            Ok(())
        })
        .map(drop)
    });
    match copied {
        Ok(()) => {
            assert!(!w.is_empty());
            let list = List::new(core::str::from_utf8(w.as_bytes()).unwrap());
            let first = list.get(0).unwrap().expect("the count");
            assert!(first.parse::<usize>() == Some(n));
            let copy = list.get(1).unwrap().expect("the copy").as_map();
            check_map(copy, &message);
            // The same values at two depths, escaped differently, are equal.
            for (a, b) in copy.pairs().zip(map.pairs()) {
                let ((_, a), (_, b)) = (a.unwrap(), b.unwrap());
                assert!(a == b && b == a, "{a:?} != {b:?}");
            }
            assert!(Text::default() == "" && Text::default().is_empty());
            assert!(list.get(2).unwrap().is_none());
        }
        // Each level deeper escapes more.
        Err(e @ SttError::BufferFull { .. }) => check_error(&e),
        Err(e) => panic!("{e}"),
    }
});
