//! What the codec benchmarks share: the corpus, the messages to encode again,
//! and the loops measured, each out of line so that a profiler can single it
//! out (`valgrind --tool=callgrind --toggle-collect='*every_pair*'`).

use std::hint::black_box;

use douyu_core::frame::{Direction, Frame, Frames, Status, encode_with};
use douyu_core::message::ServerMessage;
use douyu_core::sim::Room;
use douyu_core::stream::Decoder;
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

/// The limit the decoding loops are compared with (issue #14): `memchr`
/// counting the `/` of each message (`lengths`, one frame per WebSocket
/// message, see [`message_lengths`]), one vector pass that looks at every
/// byte as the STT scanner must, and counts the pair ends it finds. Over
/// the whole corpus at once it ran 1.6 to 1.8 times faster (`passes`
/// prints both), a speed no reader of ~350-byte messages could approach.
#[inline(never)]
pub fn count_slashes(corpus: &[u8], lengths: &[usize]) -> usize {
    let (mut at, mut slashes) = (0, 0);
    for &len in black_box(lengths) {
        slashes += memchr::memchr_iter(b'/', &black_box(corpus)[at..at + len]).count();
        at += len;
    }
    slashes
}

/// The length of each frame of the corpus: where its WebSocket messages
/// would end, one frame per message.
pub fn message_lengths(corpus: &[u8]) -> Vec<usize> {
    let mut frames = Frames::new(corpus, CAPACITY);
    let mut lengths = Vec::new();
    let mut at = 0;
    while frames.next().is_some() {
        let end = corpus.len() - frames.remainder().len();
        lengths.push(end - at);
        at = end;
    }
    lengths
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

/// Frames and every key and value of every body unescaped into a buffer,
/// as a program that keeps the text does. Returns the unescaped bytes.
#[inline(never)]
pub fn every_value(corpus: &[u8]) -> usize {
    let (mut key, mut value) = ([0u8; 256], [0u8; 4096]);
    let mut bytes = 0usize;
    for (_, frame) in Frames::new(black_box(corpus), CAPACITY) {
        let Ok(frame) = frame else { continue };
        for pair in Map::new(frame.body).pairs() {
            let (k, v) = pair.expect("corpus bodies parse");
            let k = k.unescape_into(&mut key).expect("fits");
            let v = v.unescape_into(&mut value).expect("fits");
            bytes += k.len() + v.len();
        }
    }
    bytes
}

/// The typed view of a `chatmsg` body, its nickname and text unescaped into
/// `nn` and `txt`: their bytes, 0 for another message.
#[inline(always)]
fn chat(body: &str, nn: &mut [u8], txt: &mut [u8]) -> usize {
    let Ok(ServerMessage::Chat(chat)) = ServerMessage::parse(body) else {
        return 0;
    };
    let name = chat
        .nn
        .map_or(Ok(""), |t| t.unescape_into(nn))
        .expect("fits");
    let text = chat
        .txt
        .map_or(Ok(""), |t| t.unescape_into(txt))
        .expect("fits");
    name.len() + text.len()
}

/// Frames and the typed view of each `chatmsg`, its nickname and text
/// unescaped. Returns their bytes.
#[inline(never)]
pub fn typed_chat(corpus: &[u8]) -> usize {
    let (mut nn, mut txt) = ([0u8; 256], [0u8; 1024]);
    let mut bytes = 0usize;
    for (_, frame) in Frames::new(black_box(corpus), CAPACITY) {
        let Ok(frame) = frame else { continue };
        bytes += chat(frame.body, &mut nn, &mut txt);
    }
    bytes
}

/// What a receiving loop does with each frame: nothing beyond decoding it
/// (`Chat::No`, the frames alone), or the typed `chatmsg` view as in
/// [`typed_chat`] (`Chat::Yes`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Chat {
    No,
    Yes,
}

/// The one-shot path: each frame arrives on its own, as one WebSocket
/// message does (copied into a message buffer, as the read that received
/// it would), and is decoded from there with `Frame::decode`; then `work`.
/// Returns the frames, or with the chat view its unescaped bytes.
#[inline(never)]
pub fn one_shot(corpus: &[u8], lengths: &[usize], work: Chat) -> usize {
    let (mut nn, mut txt) = ([0u8; 256], [0u8; 1024]);
    let mut message = vec![0u8; CAPACITY];
    let (mut at, mut out) = (0, 0usize);
    for &len in black_box(lengths) {
        message[..len].copy_from_slice(&black_box(corpus)[at..at + len]);
        at += len;
        let Ok(Status::Complete((frame, _))) = Frame::decode(&message[..len]) else {
            continue;
        };
        out += match work {
            Chat::No => 1,
            Chat::Yes => chat(frame.body, &mut nn, &mut txt),
        };
    }
    out
}

/// The stream path: the corpus read `read` bytes at a time into the window
/// of a `stream::Decoder` (the read's copy, as from a socket), every frame
/// taken out after each read; then the same `work` as [`one_shot`].
#[inline(never)]
pub fn stream(corpus: &[u8], read: usize, work: Chat) -> usize {
    let (mut nn, mut txt) = ([0u8; 256], [0u8; 1024]);
    let mut buf = vec![0u8; CAPACITY];
    let mut decoder = Decoder::new(&mut buf);
    let (mut rest, mut out) = (black_box(corpus), 0usize);
    loop {
        while let Some(frame) = decoder.next_frame().expect("corpus frames decode") {
            out += match work {
                Chat::No => 1,
                Chat::Yes => chat(frame.body, &mut nn, &mut txt),
            };
        }
        if rest.is_empty() {
            return out;
        }
        let window = decoder.window();
        let n = window.len().min(read).min(rest.len());
        window[..n].copy_from_slice(&rest[..n]);
        decoder.commit(n);
        rest = &rest[n..];
    }
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
