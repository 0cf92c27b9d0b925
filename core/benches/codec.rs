//! Decoding and encoding throughput over a simulated busy room's traffic,
//! beside the limits measured on the same bytes in the same run: `memcpy`
//! (copying the corpus) and `memchr` (scanning it for one byte).
//!
//! `cargo bench -p douyu-core --bench codec` (set `DOUYU_CORPUS_MB`, default 64).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use douyu_core::frame::{Frames, MessageType, encode_with};
use douyu_core::message::ServerMessage;
use douyu_core::sim::Room;
use douyu_core::stt::Map;

/// Frames of simulated traffic, at least `megabytes` MB of them.
fn corpus(megabytes: usize) -> Vec<u8> {
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

const CAPACITY: usize = 64 * 1024;

/// Every message of the corpus, unescaped, ready to be encoded again: the
/// text of all keys and values in one arena (as a program would hold them
/// in its own buffers), and for each message the byte ranges of its pairs.
struct Messages {
    arena: String,
    pairs: Vec<[u32; 3]>,
    /// End of each message in `pairs`.
    ends: Vec<usize>,
}

impl Messages {
    fn new(corpus: &[u8]) -> Self {
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
}

fn benches(c: &mut Criterion) {
    let megabytes = std::env::var("DOUYU_CORPUS_MB")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64);
    let corpus = corpus(megabytes);
    let frames = Frames::new(&corpus, CAPACITY).count();
    eprintln!(
        "corpus: {} bytes, {frames} frames, {} bytes a frame",
        corpus.len(),
        corpus.len() / frames
    );

    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Bytes(corpus.len() as u64));
    group.sample_size(20);
    let mut copy = vec![0u8; corpus.len()];
    group.bench_function("limit: memcpy", |b| {
        b.iter(|| {
            copy.copy_from_slice(black_box(&corpus));
            black_box(&copy);
        });
    });
    // A byte the corpus lacks, so that memchr scans all of it.
    let absent = (0..=255u8)
        .find(|b| memchr::memchr(*b, &corpus).is_none())
        .expect("UTF-8 text lacks some bytes");
    group.bench_function("limit: memchr", |b| {
        b.iter(|| assert!(memchr::memchr(black_box(absent), black_box(&corpus)).is_none()));
    });
    group.bench_function("frames (lengths, NUL, UTF-8)", |b| {
        b.iter(|| {
            Frames::new(black_box(&corpus), CAPACITY)
                .filter(|(_, f)| f.is_ok())
                .count()
        });
    });
    group.bench_function("frames + every STT pair", |b| {
        b.iter(|| {
            let mut pairs = 0usize;
            for (_, frame) in Frames::new(black_box(&corpus), CAPACITY) {
                let Ok(frame) = frame else { continue };
                for pair in Map::new(frame.body).pairs() {
                    let (k, v) = pair.expect("corpus bodies parse");
                    pairs += k.raw().len() + v.raw().len();
                }
            }
            pairs
        });
    });
    group.bench_function("frames + typed chatmsg, nn and txt unescaped", |b| {
        let (mut nn, mut txt) = ([0u8; 256], [0u8; 1024]);
        b.iter(|| {
            let mut chars = 0usize;
            for (_, frame) in Frames::new(black_box(&corpus), CAPACITY) {
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
                    chars += name.len() + text.len();
                }
            }
            chars
        });
    });
    group.finish();

    let messages = Messages::new(&corpus);
    let mut out = vec![0u8; corpus.len() + 4096];
    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Bytes(corpus.len() as u64));
    group.sample_size(20);
    group.bench_function("limit: memcpy", |b| {
        b.iter(|| {
            out[..corpus.len()].copy_from_slice(black_box(&corpus));
            black_box(&out);
        });
    });
    // Each key and value as a `&str`, as a program holding them would pass
    // them: slicing the arena is not part of what is measured.
    let text = &messages.arena;
    let pairs: Vec<(&str, &str)> = messages
        .pairs
        .iter()
        .map(|&[start, mid, stop]| {
            (
                &text[start as usize..mid as usize],
                &text[mid as usize..stop as usize],
            )
        })
        .collect();
    group.bench_function("frames with escaping", |b| {
        b.iter(|| {
            let (mut at, mut first) = (0, 0);
            let pairs = black_box(&pairs);
            for &end in &messages.ends {
                at += encode_with(&mut out[at..], MessageType::ServerToClient, |m| {
                    for &(key, value) in &pairs[first..end] {
                        m.pair(key, value)?;
                    }
                    Ok(())
                })
                .expect("fits");
                first = end;
            }
            assert_eq!(at, corpus.len());
        });
    });
    group.finish();
}

criterion_group!(codec, benches);
criterion_main!(codec);
