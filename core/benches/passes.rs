//! The codec loops of the `codec` bench as best-of-N passes, each beside the
//! limits taken the same way in the same run, with the ratios issue #14 sets
//! goals for (to its limit, `memchr` counting `/`; the stream decoder to the
//! one-shot path): on a shared, noisy machine the fastest pass is the one
//! least disturbed, and an interleaved order lets every loop and limit meet
//! the same quiet moments.
//!
//! ```sh
//! cargo bench -p douyu-core --features std,sim --bench passes            # 20 rounds
//! cargo bench -p douyu-core --features std,sim --bench passes -- 50      # 50 rounds
//! ```
//!
//! One pass of one loop, for `valgrind --tool=callgrind`:
//! `DOUYU_CORPUS_MB=4 valgrind --tool=callgrind --toggle-collect='*every_pair*' target/release/deps/passes-* 1`.

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(20);
    let corpus = common::corpus(common::corpus_megabytes());
    let lengths = common::message_lengths(&corpus);
    let messages = common::Messages::new(&corpus);
    let (pairs, ends) = messages.pairs();
    let mut copy = vec![0u8; corpus.len() + 4096];
    let absent = common::absent_byte(&corpus);
    let (no, yes) = (common::Chat::No, common::Chat::Yes);

    let names = [
        "limit: memcpy",
        "limit: memchr for an absent byte",
        "limit: memchr counting `/`, per message",
        "frames (lengths, NUL, UTF-8)",
        "frames + every STT pair",
        "frames + every key and value unescaped",
        "frames + typed chatmsg, nn and txt unescaped",
        "encoding frames with escaping",
        "one-shot: frames, one per message",
        "stream, 4 KiB reads: frames",
        "one-shot: frames + typed chatmsg",
        "stream, 4 KiB reads: frames + typed chatmsg",
        "(memchr counting `/` over the whole corpus)",
    ];
    let mut best = [Duration::MAX; 13];
    for _ in 0..rounds {
        for (i, slot) in best.iter_mut().enumerate() {
            let start = Instant::now();
            let n = match i {
                0 => {
                    copy[..corpus.len()].copy_from_slice(black_box(&corpus));
                    black_box(copy[0]) as usize
                }
                1 => usize::from(memchr::memchr(black_box(absent), black_box(&corpus)).is_none()),
                2 => common::count_slashes(&corpus, &lengths),
                3 => common::frames(&corpus),
                4 => common::every_pair(&corpus),
                5 => common::every_value(&corpus),
                6 => common::typed_chat(&corpus),
                7 => common::encode(&mut copy, &pairs, ends),
                8 => common::one_shot(&corpus, &lengths, no),
                9 => common::stream(&corpus, 4096, no),
                10 => common::one_shot(&corpus, &lengths, yes),
                11 => common::stream(&corpus, 4096, yes),
                _ => memchr::memchr_iter(b'/', black_box(&corpus)).count(),
            };
            *slot = (*slot).min(start.elapsed());
            black_box(n);
        }
    }
    println!("{} bytes, best of {rounds} passes each:", corpus.len());
    let gb_s = |d: Duration| corpus.len() as f64 / d.as_secs_f64() / 1e9;
    for (name, time) in names.iter().zip(best) {
        println!(
            "{name:<46} {:>8.2} ms {:>7.2} GB/s  {:.3} of the limit",
            time.as_secs_f64() * 1e3,
            gb_s(time),
            gb_s(time) / gb_s(best[2])
        );
    }
    for (name, stream, one_shot) in [("frames", 9, 8), ("frames + typed chatmsg", 11, 10)] {
        println!(
            "stream at 4 KiB reads / one-shot, {name}: {:.3}",
            gb_s(best[stream]) / gb_s(best[one_shot])
        );
    }
}
