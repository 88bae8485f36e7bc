//! Header encode + decode cost per message, for 64 B and 4 KiB payloads.
//!
//! Run: `cargo bench -p reqrep-core --bench encode_decode`.

#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use reqrep_core::{CorrelationId, Frame, Limits, Message, Request, decode};

fn request(payload: &[u8]) -> Message {
    let request = Request::new(CorrelationId::new(), "echo")
        .timeout(Duration::from_millis(2500))
        .idempotent(true);
    Message::request(request, vec![Frame::from(payload)])
}

fn encode_decode(c: &mut Criterion) {
    let limits = Limits::default();
    let mut group = c.benchmark_group("encode_decode");
    for size in [64usize, 4096] {
        let payload = vec![0xabu8; size];
        group.throughput(Throughput::Elements(1));
        // Round trip: build the message (payload frame included, as a sender
        // does), encode to frames, decode back.
        group.bench_with_input(
            BenchmarkId::new("round_trip", size),
            &payload,
            |b, payload| {
                b.iter(|| {
                    let frames = request(black_box(payload)).encode();
                    black_box(decode(frames, &limits).expect("valid"))
                });
            },
        );
        // Encode alone.
        group.bench_with_input(BenchmarkId::new("encode", size), &payload, |b, payload| {
            b.iter(|| black_box(request(black_box(payload)).encode()));
        });
        // Decode alone; frames are rebuilt per iteration outside the timing.
        let encoded: Vec<Vec<u8>> = request(&payload)
            .encode()
            .iter()
            .map(|f| f.to_vec())
            .collect();
        group.bench_with_input(BenchmarkId::new("decode", size), &encoded, |b, encoded| {
            b.iter_batched(
                || {
                    encoded
                        .iter()
                        .map(|f| Frame::from(&f[..]))
                        .collect::<Vec<_>>()
                },
                |frames| black_box(decode(frames, &limits).expect("valid")),
                criterion::BatchSize::SmallInput,
            );
        });
    }
    group.finish();

    let mut ids = c.benchmark_group("correlation_id");
    ids.bench_function("new_v7", |b| b.iter(|| black_box(CorrelationId::new())));
    ids.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = encode_decode
}
criterion_main!(benches);
