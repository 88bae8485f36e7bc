//! Cost of the broker's state machine per request: a client REQUEST in, its
//! dispatch out, the worker's REPLY in, the reply out (no sockets).
//!
//! Run: `cargo bench -p reqrep-broker --bench state`.

#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use reqrep_broker::{Action, BrokerState, StateConfig};
use reqrep_core::{Command, CorrelationId, Frame, Message, Request};

fn round_trip(c: &mut Criterion) {
    let mut group = c.benchmark_group("broker_state");
    group.throughput(Throughput::Elements(1));
    for idempotent in [false, true] {
        let name = if idempotent {
            "request_reply_idempotent"
        } else {
            "request_reply"
        };
        let mut state = BrokerState::new(StateConfig::default());
        let now = Instant::now();
        let worker = Frame::from(&b"\x00\x80\x00\x00\x01"[..]);
        let ready = Message::ready("echo", 16, Some(Duration::from_secs(1)))
            .encode_routed([Frame::from(&worker[..])]);
        state.on_worker(now, ready);
        let payload = [0xabu8; 64];
        group.bench_function(name, |b| {
            b.iter(|| {
                let request = Request::new(CorrelationId::new(), "echo")
                    .timeout(Duration::from_secs(5))
                    .idempotent(idempotent);
                let mut frames = vec![Frame::from(&b"\x00\x80\x00\x00\x02"[..])];
                frames.extend(Message::request(request, vec![Frame::from(&payload[..])]).encode());
                state.on_client(now, frames);
                let Some(Action::ToWorker { message, .. }) = state.poll_action() else {
                    panic!("no dispatch")
                };
                let Command::Request(forwarded) = &message.command else {
                    panic!("not a request")
                };
                let reply = Message::reply_ok(forwarded, message.payload)
                    .encode_routed([Frame::from(&worker[..])]);
                state.on_worker(now, reply);
                black_box(state.poll_action());
            });
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = round_trip
}
criterion_main!(benches);
