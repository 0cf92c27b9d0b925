//! Decoding and encoding throughput over a simulated busy room's traffic,
//! beside the limits measured on the same bytes in the same run: `memcpy`
//! (copying the corpus), `memchr` (scanning it for one byte) and `memchr`
//! counting `/` in each message (issue #14's limit, to which its goals are ratios; the
//! `passes` bench prints the ratios).
//!
//! `cargo bench -p douyu-core --features std,sim --bench codec` (set
//! `DOUYU_CORPUS_MB`, default 64). The `passes` bench runs the same loops
//! as best-of-N passes.

mod common;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn benches(c: &mut Criterion) {
    let corpus = common::corpus(common::corpus_megabytes());
    let frames = common::frames(&corpus);
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
    let absent = common::absent_byte(&corpus);
    group.bench_function("limit: memchr", |b| {
        b.iter(|| assert!(memchr::memchr(black_box(absent), black_box(&corpus)).is_none()));
    });
    let lengths = common::message_lengths(&corpus);
    group.bench_function("limit: memchr counting `/`, per message", |b| {
        b.iter(|| common::count_slashes(&corpus, &lengths));
    });
    group.bench_function("frames (lengths, NUL, UTF-8)", |b| {
        b.iter(|| common::frames(&corpus));
    });
    group.bench_function("frames + every STT pair", |b| {
        b.iter(|| common::every_pair(&corpus));
    });
    group.bench_function("frames + every key and value unescaped", |b| {
        b.iter(|| common::every_value(&corpus));
    });
    group.bench_function("frames + typed chatmsg, nn and txt unescaped", |b| {
        b.iter(|| common::typed_chat(&corpus));
    });
    for (work, name) in [
        (common::Chat::No, ""),
        (common::Chat::Yes, " + typed chatmsg"),
    ] {
        group.bench_function(format!("one-shot: frames{name}, one per message"), |b| {
            b.iter(|| common::one_shot(&corpus, &lengths, work));
        });
        group.bench_function(format!("stream, 4 KiB reads: frames{name}"), |b| {
            b.iter(|| common::stream(&corpus, 4096, work));
        });
    }
    group.finish();

    let messages = common::Messages::new(&corpus);
    let (pairs, ends) = messages.pairs();
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
    group.bench_function("frames with escaping", |b| {
        b.iter(|| assert_eq!(common::encode(&mut out, &pairs, ends), corpus.len()));
    });
    group.finish();
}

criterion_group!(codec, benches);
criterion_main!(codec);
