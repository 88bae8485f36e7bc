//! Cost of the broker's state machine per request: a client REQUEST in, its
//! dispatch out, the worker's REPLY in, the reply out (no sockets).
//!
//! - `request_reply`, `request_reply_idempotent`: one request at a time;
//!   the timed loop also builds and encodes the request and the reply, as
//!   a client and a worker would.
//! - `state_only`: the same exchange with both messages encoded beforehand,
//!   so only the broker's side is timed (decoding included).
//! - `queued_1000`: 1000 requests queued while no worker is registered, then
//!   a worker registers, takes them all, and answers them (messages encoded
//!   beforehand); the time is per request.
//!
//! Run: `cargo bench -p reqrep-broker --bench state`.

#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use reqrep_broker::{Action, BrokerState, StateConfig};
use reqrep_core::{Command, CorrelationId, Frame, Message, Reply, Request, Status};

const WORKER: &[u8] = b"\x00\x80\x00\x00\x01";
const CLIENT: &[u8] = b"\x00\x80\x00\x00\x02";
const PAYLOAD: [u8; 64] = [0xab; 64];

fn client_frames(request: Request) -> Vec<Frame> {
    let mut frames = vec![Frame::from(CLIENT)];
    frames.extend(Message::request(request, vec![Frame::from(&PAYLOAD[..])]).encode());
    frames
}

/// A worker's reply to `id` from the client, as the worker would encode it
/// (`route` is what the broker told the worker).
fn reply_frames(id: CorrelationId, route: &[Vec<u8>]) -> Vec<Frame> {
    let reply = Reply {
        id,
        status: Status::ok(),
        metadata: Default::default(),
        route: route.to_vec(),
    };
    Message::reply(reply, vec![Frame::from(&PAYLOAD[..])]).encode_routed([Frame::from(WORKER)])
}

fn ready(credits: u32) -> Vec<Frame> {
    Message::ready("echo", credits, Some(Duration::from_secs(1)))
        .encode_routed([Frame::from(WORKER)])
}

/// The client route the broker forwards to workers, from one real exchange.
fn forwarded_route(state: &mut BrokerState, now: Instant) -> Vec<Vec<u8>> {
    let request = Request::new(CorrelationId::new(), "echo").timeout(Duration::from_secs(5));
    state.on_client(now, client_frames(request));
    let Some(Action::ToWorker { message, .. }) = state.poll_action() else {
        panic!("no dispatch")
    };
    let message = message.into_message().expect("a valid header");
    let Command::Request(forwarded) = &message.command else {
        panic!("not a request")
    };
    let reply = Message::reply_ok(forwarded, message.payload).encode_routed([Frame::from(WORKER)]);
    state.on_worker(now, reply);
    while state.poll_action().is_some() {}
    forwarded.route.clone()
}

fn round_trip(c: &mut Criterion) {
    let mut group = c.benchmark_group("broker_state");
    group.throughput(Throughput::Elements(1));
    for idempotent in [false, true] {
        let name = if idempotent {
            "request_reply_idempotent"
        } else {
            "request_reply"
        };
        let mut state = BrokerState::new(StateConfig::default(), Instant::now());
        let now = Instant::now();
        let worker = Frame::from(WORKER);
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
                // Decoded as the worker decodes it.
                let message = message.into_message().expect("a valid header");
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

    let mut state = BrokerState::new(StateConfig::default(), Instant::now());
    let now = Instant::now();
    state.on_worker(now, ready(16));
    let route = forwarded_route(&mut state, now);
    group.bench_function("state_only", |b| {
        b.iter_batched(
            || {
                let id = CorrelationId::new();
                let request = Request::new(id, "echo").timeout(Duration::from_secs(5));
                (client_frames(request), reply_frames(id, &route))
            },
            |(request, reply)| {
                state.on_client(now, request);
                black_box(state.poll_action());
                state.on_worker(now, reply);
                black_box(state.poll_action());
            },
            BatchSize::SmallInput,
        );
    });

    const BURST: u32 = 1000;
    group.throughput(Throughput::Elements(u64::from(BURST)));
    let mut state = BrokerState::new(StateConfig::default(), Instant::now());
    let now = Instant::now();
    state.on_worker(now, ready(BURST));
    let route = forwarded_route(&mut state, now);
    state.on_worker(
        now,
        Message::disconnect(None).encode_routed([Frame::from(WORKER)]),
    );
    group.bench_function("queued_1000", |b| {
        b.iter_batched(
            || {
                (0..BURST)
                    .map(|_| {
                        let id = CorrelationId::new();
                        let request = Request::new(id, "echo").timeout(Duration::from_secs(5));
                        (client_frames(request), reply_frames(id, &route))
                    })
                    .unzip::<_, _, Vec<_>, Vec<_>>()
            },
            |(requests, replies)| {
                for request in requests {
                    state.on_client(now, request);
                }
                state.on_worker(now, ready(BURST));
                while let Some(action) = state.poll_action() {
                    black_box(action);
                }
                for reply in replies {
                    state.on_worker(now, reply);
                    black_box(state.poll_action());
                }
                state.on_worker(
                    now,
                    Message::disconnect(None).encode_routed([Frame::from(WORKER)]),
                );
                assert_eq!(state.pending(), 0);
            },
            BatchSize::PerIteration,
        );
    });
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
