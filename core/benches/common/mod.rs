//! What the codec benchmarks share: the corpus, the messages to encode again,
//! and the loops measured, each out of line so that a profiler can single it
//! out (`valgrind --tool=callgrind --toggle-collect='*every_pair*'`).

use std::hint::black_box;

use douyu_core::frame::{Direction, Frames, encode_with};
use douyu_core::message::ServerMessage;
use douyu_core::sim::Room;
use douyu_core::stt::Map;

/// The frame size limit the decoding loops apply.
pub const CAPACITY: usize = 64 * 1024;

/// Megabytes of corpus: `DOUYU_CORPUS_MB`, 64 by default.
pub fn corpus_megabytes() -> usize {
    std::env::var("DOUYU_CORPUS_MB")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64)
}

/// Frames of simulated traffic, at least `megabytes` MiB of them.
pub fn corpus(megabytes: usize) -> Vec<u8> {
    let mut room = Room::new(288_016, 0x5eed);
    let mut out = Vec::with_capacity(megabytes << 20);
    let mut frame = [0u8; 4096];
    let mut now = 1_700_000_000_000;
    while out.len() < megabytes << 20 {
        let n = room
            .next_frame(now, &mut frame)
            .expect("simulated frames fit 4 KiB");
        out.extend_from_slice(&frame[..n]);
        now += 7;
    }
    out
}

/// A byte the corpus lacks, so that `memchr` for it scans all of it.
pub fn absent_byte(corpus: &[u8]) -> u8 {
    (0..=255u8)
        .find(|b| memchr::memchr(*b, corpus).is_none())
        .expect("UTF-8 text lacks some bytes")
}

/// Every message of the corpus, unescaped, ready to be encoded again: the
/// text of all keys and values in one arena (as a program would hold them
/// in its own buffers), and for each message the byte ranges of its pairs.
pub struct Messages {
    arena: String,
    pairs: Vec<[u32; 3]>,
    /// End of each message in `pairs`.
    ends: Vec<usize>,
}

impl Messages {
    pub fn new(corpus: &[u8]) -> Self {
        let mut m = Self {
            arena: String::new(),
            pairs: Vec::new(),
            ends: Vec::new(),
        };
        for (_, frame) in Frames::new(corpus, CAPACITY) {
            let frame = frame.expect("corpus frames decode");
            for pair in Map::new(frame.body).pairs() {
                let (k, v) = pair.expect("corpus bodies parse");
                let start = m.arena.len() as u32;
                m.arena.push_str(&k.to_string());
                let mid = m.arena.len() as u32;
                m.arena.push_str(&v.to_string());
                m.pairs.push([start, mid, m.arena.len() as u32]);
            }
            m.ends.push(m.pairs.len());
        }
        m
    }

    /// Each key and value as a `&str`, as a program holding them would pass
    /// them (slicing the arena is not part of what is measured), and where
    /// each message's pairs end.
    pub fn pairs(&self) -> (Vec<(&str, &str)>, &[usize]) {
        let text = &self.arena;
        let pairs = self
            .pairs
            .iter()
            .map(|&[start, mid, stop]| {
                (
                    &text[start as usize..mid as usize],
                    &text[mid as usize..stop as usize],
                )
            })
            .collect();
        (pairs, &self.ends)
    }
}

/// Frame decoding alone: both lengths, the NUL, UTF-8. Returns the frames.
#[inline(never)]
pub fn frames(corpus: &[u8]) -> usize {
    Frames::new(black_box(corpus), CAPACITY)
        .filter(|(_, f)| f.is_ok())
        .count()
}

/// Frames and every STT pair of every body. Returns the bytes of the keys
/// and values.
#[inline(never)]
pub fn every_pair(corpus: &[u8]) -> usize {
    let mut bytes = 0usize;
    for (_, frame) in Frames::new(black_box(corpus), CAPACITY) {
        let Ok(frame) = frame else { continue };
        for pair in Map::new(frame.body).pairs() {
            let (k, v) = pair.expect("corpus bodies parse");
            bytes += k.raw().len() + v.raw().len();
        }
    }
    bytes
}

/// Frames and the typed view of each `chatmsg`, its nickname and text
/// unescaped. Returns their bytes.
#[inline(never)]
pub fn typed_chat(corpus: &[u8]) -> usize {
    let (mut nn, mut txt) = ([0u8; 256], [0u8; 1024]);
    let mut bytes = 0usize;
    for (_, frame) in Frames::new(black_box(corpus), CAPACITY) {
        let Ok(frame) = frame else { continue };
        if let Ok(ServerMessage::Chat(chat)) = ServerMessage::parse(frame.body) {
            let name = chat
                .nn
                .map_or(Ok(""), |t| t.unescape_into(&mut nn))
                .expect("fits");
            let text = chat
                .txt
                .map_or(Ok(""), |t| t.unescape_into(&mut txt))
                .expect("fits");
            bytes += name.len() + text.len();
        }
    }
    bytes
}

/// Every message encoded again into `out`, escaping keys and values.
/// Returns the bytes written.
#[inline(never)]
pub fn encode(out: &mut [u8], pairs: &[(&str, &str)], ends: &[usize]) -> usize {
    let (mut at, mut first) = (0, 0);
    let pairs = black_box(pairs);
    for &end in ends {
        at += encode_with(&mut out[at..], Direction::ServerToClient, |m| {
            for &(key, value) in &pairs[first..end] {
                m.pair(key, value)?;
            }
            Ok(())
        })
        .expect("fits");
        first = end;
    }
    at
}
