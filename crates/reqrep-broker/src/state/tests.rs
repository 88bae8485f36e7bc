//! Deterministic tests of the broker state machine: a fake clock, no sockets.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use reqrep_core::{Code, Command, CorrelationId, Frame, Limits, Message, Reply, Request, pb};

use super::*;

const MS: Duration = Duration::from_millis(1);

struct Harness {
    state: BrokerState,
    t0: Instant,
    now: Instant,
}

/// What came out of the broker, decoded for assertions.
#[derive(Debug)]
enum Out {
    Client(Vec<u8>, Message),
    Worker(Vec<u8>, Message),
}

impl Harness {
    fn new() -> Self {
        Self::with(StateConfig::default())
    }

    fn with(config: StateConfig) -> Self {
        let t0 = Instant::now();
        Self {
            state: BrokerState::new(config, t0),
            t0,
            now: t0,
        }
    }

    fn at(&mut self, ms: u64) -> &mut Self {
        self.now = self.t0 + Duration::from_millis(ms);
        self
    }

    fn tick(&mut self, ms: u64) -> Vec<Out> {
        self.at(ms);
        self.state.on_tick(self.now);
        self.drain()
    }

    fn client_frames(&mut self, client: &[u8], frames: Vec<Frame>) -> Vec<Out> {
        let mut all = vec![Frame::from(client)];
        all.extend(frames);
        self.state.on_client(self.now, all);
        self.drain()
    }

    fn request(&mut self, client: &[u8], request: Request, payload: &[u8]) -> Vec<Out> {
        let frames = Message::request(request, vec![Frame::from(payload)]).encode();
        self.client_frames(client, frames)
    }

    fn worker_msg(&mut self, worker: &[u8], message: Message) -> Vec<Out> {
        let frames = message.encode_routed([Frame::from(worker)]);
        self.state.on_worker(self.now, frames);
        self.drain()
    }

    fn ready(&mut self, worker: &[u8], service: &str, credits: u32) -> Vec<Out> {
        self.worker_msg(
            worker,
            Message::ready(service, credits, Some(Duration::from_millis(1000))),
        )
    }

    /// The worker answers `request` (as it received it) with `body`.
    fn answer(&mut self, worker: &[u8], request: &Request, body: &[u8]) -> Vec<Out> {
        self.worker_msg(worker, Message::reply_ok(request, vec![Frame::from(body)]))
    }

    /// Answers every request the worker is sent, including those its
    /// replies free credits for, until none is left; returns how many.
    fn drain_dispatched_and_answer(&mut self, worker: &[u8]) -> usize {
        let mut answered = 0;
        while let Some(action) = self.state.poll_action() {
            if let Action::ToWorker { message, .. } = action
                && let Ok(Message {
                    command: Command::Request(r),
                    ..
                }) = message.into_message()
            {
                let frames = Message::reply_ok(&r, vec![]).encode_routed([Frame::from(worker)]);
                self.state.on_worker(self.now, frames);
                answered += 1;
            }
        }
        answered
    }

    fn drain(&mut self) -> Vec<Out> {
        let mut out = Vec::new();
        while let Some(action) = self.state.poll_action() {
            out.push(match action {
                Action::ToClient { route, message } => Out::Client(
                    route.frames().next().unwrap_or_default().to_vec(),
                    decoded(message),
                ),
                Action::ToWorker { worker, message } => Out::Worker(
                    worker.frames().next().unwrap_or_default().to_vec(),
                    decoded(message),
                ),
            });
        }
        out
    }
}

/// An outbound message as its receiver decodes it.
fn decoded(message: Outbound) -> Message {
    message
        .into_message()
        .expect("the broker sends only valid headers")
}

fn req(service: &str, timeout_ms: u64) -> Request {
    Request::new(CorrelationId::new(), service).timeout(Duration::from_millis(timeout_ms))
}

/// The single request a worker was sent.
fn dispatched(out: &[Out]) -> Vec<(Vec<u8>, Request, Vec<u8>)> {
    out.iter()
        .filter_map(|o| match o {
            Out::Worker(
                w,
                Message {
                    command: Command::Request(r),
                    payload,
                },
            ) => Some((
                w.clone(),
                r.clone(),
                payload.first().map(|f| f.to_vec()).unwrap_or_default(),
            )),
            _ => None,
        })
        .collect()
}

fn replies(out: &[Out]) -> Vec<(Vec<u8>, Reply, Vec<u8>)> {
    out.iter()
        .filter_map(|o| match o {
            Out::Client(
                c,
                Message {
                    command: Command::Reply(r),
                    payload,
                },
            ) => Some((
                c.clone(),
                r.clone(),
                payload.first().map(|f| f.to_vec()).unwrap_or_default(),
            )),
            _ => None,
        })
        .collect()
}

fn single_reply(out: &[Out]) -> (Vec<u8>, Reply, Vec<u8>) {
    let mut r = replies(out);
    assert_eq!(r.len(), 1, "expected exactly one reply, got {out:?}");
    r.remove(0)
}

fn code_of(out: &[Out]) -> Code {
    single_reply(out).1.status.code
}

fn disconnects(out: &[Out]) -> Vec<Vec<u8>> {
    out.iter()
        .filter_map(|o| match o {
            Out::Worker(w, m) if matches!(m.command, Command::Disconnect(_)) => Some(w.clone()),
            _ => None,
        })
        .collect()
}

// ---- load balancing and credits -------------------------------------------

#[test]
fn least_recently_used_worker_with_a_free_credit_gets_the_request() {
    let mut h = Harness::new();
    assert!(h.ready(b"w1", "echo", 1).is_empty());
    assert!(h.ready(b"w2", "echo", 2).is_empty());

    let a = dispatched(&h.request(b"c", req("echo", 5000), b"a"));
    let b = dispatched(&h.request(b"c", req("echo", 5000), b"b"));
    let c = dispatched(&h.request(b"c", req("echo", 5000), b"c"));
    assert_eq!(a[0].0, b"w1");
    assert_eq!(b[0].0, b"w2");
    assert_eq!(c[0].0, b"w2", "w1 has no free credit left");

    // All credits in use: the fourth request waits.
    let d = h.request(b"c", req("echo", 5000), b"d");
    assert!(d.is_empty());
    assert_eq!(
        h.state.service_list(Some("echo")).services[0].queue_depth,
        1
    );

    // w1's reply returns its credit, and the queued request goes to it at once.
    let out = h.answer(b"w1", &a[0].1, b"A");
    let (client, reply, body) = single_reply(&out);
    assert_eq!((client.as_slice(), body.as_slice()), (&b"c"[..], &b"A"[..]));
    assert!(reply.status.is_ok() && reply.route.is_empty());
    let next = dispatched(&out);
    assert_eq!(next.len(), 1);
    assert_eq!(
        (next[0].0.as_slice(), next[0].2.as_slice()),
        (&b"w1"[..], &b"d"[..])
    );
}

#[test]
fn requests_spread_evenly_over_equal_workers() {
    let mut h = Harness::new();
    for w in [b"w1", b"w2", b"w3", b"w4"] {
        h.ready(w, "echo", 1);
    }
    let mut counts = std::collections::HashMap::new();
    for _ in 0..400 {
        let out = h.request(b"c", req("echo", 5000), b"x");
        let (w, r, _) = dispatched(&out).remove(0);
        *counts.entry(w.clone()).or_insert(0) += 1;
        h.answer(&w, &r, b"y");
    }
    assert_eq!(counts.len(), 4);
    assert!(counts.values().all(|n| *n == 100), "{counts:?}");
}

#[test]
fn worker_is_told_the_remaining_budget_and_the_route() {
    let mut h = Harness::new();
    h.request(b"client-1", req("echo", 2500), b"x");
    h.at(1000);
    let out = h.ready(b"w1", "echo", 1);
    let (_, forwarded, _) = dispatched(&out).remove(0);
    assert_eq!(forwarded.timeout, Some(Duration::from_millis(1500)));
    // The client's route as received: its id, then the delimiter it sent.
    assert_eq!(forwarded.route, vec![b"client-1".to_vec(), Vec::new()]);
}

// ---- queueing and deadlines -------------------------------------------------

#[test]
fn request_expired_in_queue_is_answered_and_never_dispatched() {
    let mut h = Harness::new();
    assert!(h.request(b"c", req("echo", 100), b"x").is_empty());
    assert_eq!(h.state.next_timeout(), Some(h.t0 + 100 * MS));
    assert!(h.tick(99).is_empty());
    let out = h.tick(100);
    assert_eq!(code_of(&out), Code::DeadlineExceeded);
    assert_eq!(h.state.stats().expired_in_queue, 1);
    // A worker arriving later gets nothing.
    assert!(dispatched(&h.ready(b"w1", "echo", 1)).is_empty());
}

#[test]
fn full_queue_answers_resource_exhausted_at_once() {
    let mut h = Harness::with(StateConfig {
        max_queue: 2,
        ..StateConfig::default()
    });
    assert!(h.request(b"c", req("echo", 5000), b"1").is_empty());
    assert!(h.request(b"c", req("echo", 5000), b"2").is_empty());
    let out = h.request(b"c", req("echo", 5000), b"3");
    assert_eq!(code_of(&out), Code::ResourceExhausted);
}

#[test]
fn no_worker_waits_for_one_or_fails_fast() {
    let mut h = Harness::new();
    let out = h.request(b"c", req("echo", 5000).fail_fast(true), b"x");
    assert_eq!(code_of(&out), Code::Unavailable);

    assert!(h.request(b"c", req("echo", 5000), b"y").is_empty());
    h.at(300);
    let out = h.ready(b"w1", "echo", 1);
    assert_eq!(dispatched(&out)[0].2, b"y");
}

#[test]
fn fail_fast_still_queues_when_workers_are_only_busy() {
    let mut h = Harness::new();
    h.ready(b"w1", "echo", 1);
    h.request(b"c", req("echo", 5000), b"1");
    assert!(
        h.request(b"c", req("echo", 5000).fail_fast(true), b"2")
            .is_empty()
    );
}

#[test]
fn requests_without_timeout_get_the_default_deadline() {
    let mut h = Harness::with(StateConfig {
        default_timeout: Duration::from_secs(2),
        ..StateConfig::default()
    });
    h.request(b"c", Request::new(CorrelationId::new(), "echo"), b"x");
    assert_eq!(h.state.next_timeout(), Some(h.t0 + Duration::from_secs(2)));
}

#[test]
fn in_flight_request_answered_at_its_deadline_and_late_reply_returns_the_credit() {
    let mut h = Harness::new();
    h.ready(b"w1", "echo", 1);
    let first = dispatched(&h.request(b"c", req("echo", 200), b"1"))
        .remove(0)
        .1;
    assert!(
        h.request(b"c", req("echo", 5000), b"2").is_empty(),
        "queued: no credit"
    );

    let out = h.tick(200);
    assert_eq!(code_of(&out), Code::DeadlineExceeded);
    assert_eq!(h.state.stats().expired_in_flight, 1);

    h.at(250);
    let out = h.answer(b"w1", &first, b"late");
    assert!(replies(&out).is_empty(), "late reply is not forwarded");
    assert_eq!(dispatched(&out)[0].2, b"2", "the credit came back");
    assert_eq!(h.state.stats().late_replies, 1);
}

// ---- heartbeats and liveness -------------------------------------------------

#[test]
fn broker_heartbeats_idle_workers_at_their_interval() {
    let mut h = Harness::new();
    h.worker_msg(
        b"w1",
        Message::ready("echo", 1, Some(Duration::from_millis(500))),
    );
    assert_eq!(h.state.next_timeout(), Some(h.t0 + 500 * MS));
    let out = h.tick(500);
    assert!(
        matches!(&out[..], [Out::Worker(w, m)] if w == b"w1" && m.command == Command::Heartbeat)
    );
    // Keep the worker alive; the next beat is one interval later.
    h.at(900);
    h.worker_msg(b"w1", Message::heartbeat());
    assert!(h.tick(999).is_empty());
    assert_eq!(h.tick(1000).len(), 1);
}

#[test]
fn silent_worker_is_removed_after_liveness_intervals_and_any_traffic_counts() {
    let mut h = Harness::new();
    h.worker_msg(
        b"w1",
        Message::ready("echo", 1, Some(Duration::from_millis(500))),
    );
    h.worker_msg(
        b"w2",
        Message::ready("echo", 1, Some(Duration::from_millis(500))),
    );
    // w2 sends a reply-less heartbeat at 1000 ms; w1 stays silent.
    h.tick(500);
    h.at(1000);
    h.worker_msg(b"w2", Message::heartbeat());
    h.tick(1000);
    h.tick(1499);
    assert_eq!(h.state.worker_count(), 2);
    h.tick(1500);
    assert_eq!(h.state.worker_count(), 1);
    assert_eq!(h.state.stats().workers_expired, 1);
    assert_eq!(h.state.service_list(None).services[0].workers, 1);
}

#[test]
fn lost_worker_idempotent_request_is_redispatched_other_answered_unavailable() {
    let mut h = Harness::new();
    h.worker_msg(
        b"w1",
        Message::ready("echo", 2, Some(Duration::from_millis(100))),
    );
    let idem_request = req("echo", 5000).idempotent(true).with_metadata("k", "v");
    let idem = dispatched(&h.request(b"c", idem_request.clone(), b"i")).remove(0);
    assert_eq!(idem.1.metadata, idem_request.metadata);
    let plain = dispatched(&h.request(b"c", req("echo", 5000), b"p")).remove(0);
    assert_eq!(
        (idem.0.as_slice(), plain.0.as_slice()),
        (&b"w1"[..], &b"w1"[..])
    );

    // A second worker joins and keeps itself alive; w1 goes silent.
    h.at(250);
    h.worker_msg(
        b"w2",
        Message::ready("echo", 1, Some(Duration::from_millis(100))),
    );
    h.at(290);
    h.worker_msg(b"w2", Message::heartbeat());
    let out = h.tick(300);
    let (_, reply, _) = single_reply(&out);
    assert_eq!(reply.id, plain.1.id);
    assert_eq!(reply.status.code, Code::Unavailable);
    let again = dispatched(&out);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].0, b"w2");
    assert_eq!(again[0].1.id, idem.1.id);
    assert_eq!(again[0].1.attempt, 2);
    assert_eq!(again[0].2, b"i", "payload kept for re-dispatch");
    assert_eq!(again[0].1.metadata, idem_request.metadata, "and metadata");

    let out = h.answer(b"w2", &again[0].1, b"done");
    assert_eq!(single_reply(&out).2, b"done");
}

#[test]
fn no_redispatch_once_attempts_are_used_up() {
    let mut h = Harness::with(StateConfig {
        max_attempts: 2,
        ..StateConfig::default()
    });
    h.ready(b"w1", "echo", 1);
    h.ready(b"w2", "echo", 1);
    let first = dispatched(&h.request(b"c", req("echo", 5000).idempotent(true), b"i")).remove(0);
    let out = h.worker_msg(&first.0, Message::disconnect(None));
    let second = dispatched(&out).remove(0);
    assert_eq!(second.1.attempt, 2);
    let out = h.worker_msg(&second.0, Message::disconnect(None));
    assert_eq!(code_of(&out), Code::Unavailable);
}

// ---- correlation -------------------------------------------------------------

#[test]
fn same_correlation_id_from_two_clients_reaches_the_right_client() {
    let mut h = Harness::new();
    h.ready(b"w1", "echo", 2);
    let id = CorrelationId::new();
    let a = dispatched(&h.request(b"alice", Request::new(id, "echo"), b"from-alice")).remove(0);
    let b = dispatched(&h.request(b"bob", Request::new(id, "echo"), b"from-bob")).remove(0);
    let out = h.answer(b"w1", &b.1, b"for-bob");
    assert_eq!(single_reply(&out).0, b"bob");
    assert_eq!(single_reply(&out).2, b"for-bob");
    let out = h.answer(b"w1", &a.1, b"for-alice");
    assert_eq!(single_reply(&out).0, b"alice");
}

#[test]
fn unknown_or_already_answered_replies_are_dropped_and_counted() {
    let mut h = Harness::new();
    h.ready(b"w1", "echo", 1);
    let sent = dispatched(&h.request(b"c", req("echo", 5000), b"x")).remove(0);
    assert_eq!(replies(&h.answer(b"w1", &sent.1, b"1")).len(), 1);
    assert!(replies(&h.answer(b"w1", &sent.1, b"again")).is_empty());
    let mut stranger = Request::new(CorrelationId::new(), "echo");
    stranger.route = vec![b"c".to_vec()];
    assert!(h.answer(b"w1", &stranger, b"?").is_empty());
    assert_eq!(h.state.stats().stale_replies, 2);
}

#[test]
fn reply_from_a_worker_that_does_not_hold_the_request_is_dropped() {
    let mut h = Harness::new();
    h.ready(b"w1", "echo", 1);
    h.ready(b"w2", "echo", 1);
    let sent = dispatched(&h.request(b"c", req("echo", 5000), b"x")).remove(0);
    assert_eq!(sent.0, b"w1");
    assert!(replies(&h.answer(b"w2", &sent.1, b"spoof")).is_empty());
    assert_eq!(replies(&h.answer(b"w1", &sent.1, b"real")).len(), 1);
}

#[test]
fn duplicate_in_flight_is_not_dispatched_twice() {
    let mut h = Harness::new();
    h.ready(b"w1", "echo", 4);
    let request = req("echo", 5000).idempotent(true);
    assert_eq!(dispatched(&h.request(b"c", request.clone(), b"x")).len(), 1);
    assert!(h.request(b"c", request.clone().attempt(2), b"x").is_empty());
    assert_eq!(h.state.stats().duplicates, 1);
    // The same id from another client is a different request.
    assert_eq!(dispatched(&h.request(b"other", request, b"x")).len(), 1);
}

#[test]
fn retry_of_a_completed_idempotent_request_is_answered_from_the_cache() {
    let mut h = Harness::new();
    h.ready(b"w1", "echo", 1);
    let request = req("echo", 5000).idempotent(true);
    let sent = dispatched(&h.request(b"c", request.clone(), b"x")).remove(0);
    h.answer(b"w1", &sent.1, b"result");
    h.at(100);
    let out = h.request(b"c", request.clone().attempt(2), b"x");
    assert!(dispatched(&out).is_empty());
    let (_, reply, body) = single_reply(&out);
    assert_eq!((reply.id, body.as_slice()), (request.id, &b"result"[..]));
    assert_eq!(h.state.stats().cache_hits, 1);

    // Non-idempotent requests are never cached.
    let plain = req("echo", 5000);
    let sent = dispatched(&h.request(b"c", plain.clone(), b"x")).remove(0);
    h.answer(b"w1", &sent.1, b"r");
    assert_eq!(dispatched(&h.request(b"c", plain, b"x")).len(), 1);
}

// ---- malformed input ---------------------------------------------------------

#[test]
fn malformed_client_messages_get_invalid_argument_and_the_broker_goes_on() {
    let mut h = Harness::new();
    h.ready(b"w1", "echo", 1);
    let garbage: Vec<Vec<Frame>> = vec![
        vec![Frame::from("no delimiter")],
        vec![Frame::from(""), Frame::from("HTTP/1.1")],
        vec![
            Frame::from(""),
            Frame::from("RQ1"),
            Frame::from(&[0xffu8, 0xff][..]),
        ],
        vec![Frame::from(""), Frame::from("RQ7"), Frame::from("")],
        vec![],
    ];
    let n = garbage.len() as u64;
    for frames in garbage {
        let out = h.client_frames(b"c", frames);
        let (client, reply, _) = single_reply(&out);
        assert_eq!(client, b"c");
        assert_eq!(reply.status.code, Code::InvalidArgument);
        assert_eq!(reply.id, CorrelationId::from([0; 16]));
    }
    assert_eq!(h.state.stats().malformed_client, n);
    // A worker-only command from a client, and an empty service name.
    let disconnect = Message::new(
        Command::Disconnect(reqrep_core::Disconnect::default()),
        Vec::new(),
    );
    assert_eq!(
        code_of(&h.client_frames(b"c", disconnect.encode())),
        Code::InvalidArgument
    );
    assert_eq!(
        code_of(&h.request(b"c", req("", 100), b"x")),
        Code::InvalidArgument
    );
    // The next valid request still works.
    assert_eq!(
        dispatched(&h.request(b"c", req("echo", 100), b"ok")).len(),
        1
    );
}

#[test]
fn oversized_client_message_is_rejected() {
    let limits = Limits {
        max_payload_bytes: 8,
        ..Limits::default()
    };
    let mut h = Harness::with(StateConfig {
        limits,
        ..StateConfig::default()
    });
    let out = h.request(b"c", req("echo", 100), &[0u8; 9]);
    let (_, reply, _) = single_reply(&out);
    assert_eq!(reply.status.code, Code::InvalidArgument);
    assert!(
        reply.status.message.contains("too large"),
        "{}",
        reply.status.message
    );
}

#[test]
fn malformed_or_unexpected_worker_messages_get_disconnect() {
    let mut h = Harness::new();
    // Garbage from an unknown peer.
    let out = {
        h.state.on_worker(
            h.now,
            vec![Frame::from("w9"), Frame::from(""), Frame::from("junk")],
        );
        h.drain()
    };
    assert_eq!(disconnects(&out), vec![b"w9".to_vec()]);
    // A HEARTBEAT before READY (e.g. after the broker dropped it).
    assert_eq!(
        disconnects(&h.worker_msg(b"w8", Message::heartbeat())),
        vec![b"w8".to_vec()]
    );
    // A registered worker that sends a REQUEST is disconnected and removed.
    h.ready(b"w1", "echo", 1);
    let out = h.worker_msg(b"w1", Message::request(req("echo", 100), vec![]));
    assert_eq!(disconnects(&out), vec![b"w1".to_vec()]);
    assert_eq!(h.state.worker_count(), 0);
    // A second READY for another service is a violation too (for the
    // same service it changes the credits: tests/credits.rs).
    h.ready(b"w2", "echo", 1);
    assert_eq!(
        disconnects(&h.ready(b"w2", "other", 1)),
        vec![b"w2".to_vec()]
    );
    // Reserved service names cannot be registered.
    assert_eq!(
        disconnects(&h.ready(b"w3", "reqrep.services", 1)),
        vec![b"w3".to_vec()]
    );
    assert_eq!(h.state.stats().malformed_worker, 4);
    assert_eq!(h.state.worker_count(), 0);
}

#[test]
fn worker_disconnect_settles_its_requests() {
    let mut h = Harness::new();
    h.ready(b"w1", "echo", 1);
    h.request(b"c", req("echo", 5000), b"x");
    let out = h.worker_msg(b"w1", Message::disconnect(None));
    assert_eq!(code_of(&out), Code::Unavailable);
    assert!(disconnects(&out).is_empty());
    assert_eq!(h.state.worker_count(), 0);
}

#[test]
fn unreachable_worker_is_treated_as_lost() {
    let mut h = Harness::new();
    h.ready(b"w1", "echo", 2);
    h.request(b"c", req("echo", 5000), b"delivered");
    h.state.on_client(h.now, {
        let mut frames = vec![Frame::from("c")];
        frames.extend(
            Message::request(
                req("echo", 5000).with_metadata("k", "v"),
                vec![Frame::from("undelivered")],
            )
            .encode(),
        );
        frames
    });
    let Some(Action::ToWorker { message, .. }) = h.state.poll_action() else {
        panic!("no dispatch")
    };
    let message = decoded(message);
    let Command::Request(sent) = &message.command else {
        panic!("not a request")
    };
    let undelivered = (sent.id, sent.attempt);
    h.state
        .on_worker_unreachable(h.now, &Route::single(b"w1").unwrap(), Some(message.into()));
    // The request that reached the worker is lost with it (not idempotent).
    assert_eq!(code_of(&h.drain()), Code::Unavailable);
    assert_eq!(h.state.stats().unroutable, 1);
    // The one that never left is queued again, attempt unchanged.
    let out = h.ready(b"w2", "echo", 1);
    let again = dispatched(&out).remove(0);
    assert_eq!(
        (again.1.id, again.1.attempt, again.2.as_slice()),
        (undelivered.0, undelivered.1, &b"undelivered"[..])
    );
    assert_eq!(again.1.metadata.get("k").map(String::as_str), Some("v"));
}

// ---- discovery ---------------------------------------------------------------

fn service_list(out: &[Out]) -> pb::ServiceList {
    let (_, reply, body) = single_reply(out);
    assert!(reply.status.is_ok(), "{:?}", reply.status);
    prost::Message::decode(&body[..]).unwrap()
}

#[test]
fn discovery_lists_services_with_workers_credits_and_queues() {
    let mut h = Harness::new();
    h.ready(b"w1", "echo", 4);
    h.ready(b"w2", "echo", 2);
    h.request(b"c", req("echo", 5000), b"x");
    h.request(b"c", req("slow", 5000), b"x");
    let request = Request::new(CorrelationId::new(), DISCOVERY_SERVICE);
    let out = h.client_frames(b"c", Message::request(request.clone(), vec![]).encode());
    let list = service_list(&out);
    let names: Vec<_> = list.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, vec!["echo", "slow"]);
    let echo = &list.services[0];
    assert_eq!(
        (
            echo.workers,
            echo.free_credits,
            echo.queue_depth,
            echo.in_flight
        ),
        (2, 5, 0, 1)
    );
    let slow = &list.services[1];
    assert_eq!((slow.workers, slow.queue_depth), (0, 1));

    let one = Message::request(
        Request::new(CorrelationId::new(), DISCOVERY_SERVICE),
        vec![Frame::from("slow")],
    );
    assert_eq!(
        service_list(&h.client_frames(b"c", one.encode()))
            .services
            .len(),
        1
    );
    let missing = Message::request(
        Request::new(CorrelationId::new(), DISCOVERY_SERVICE),
        vec![Frame::from("nope")],
    );
    assert_eq!(
        code_of(&h.client_frames(b"c", missing.encode())),
        Code::NotFound
    );
    assert_eq!(
        code_of(&h.request(b"c", req("reqrep.other", 100), b"")),
        Code::NotFound
    );
}

// ---- shutdown ----------------------------------------------------------------

#[test]
fn drain_refuses_new_work_finishes_in_flight_then_answers_the_rest() {
    let mut h = Harness::new();
    h.ready(b"w1", "echo", 2);
    let a = dispatched(&h.request(b"c", req("echo", 5000), b"a")).remove(0);
    let _b = dispatched(&h.request(b"c", req("echo", 5000), b"b")).remove(0);
    h.request(b"c", req("echo", 5000), b"queued");

    h.state.begin_drain(h.now);
    assert_eq!(
        code_of(&h.drain()),
        Code::Unavailable,
        "queued request answered at once"
    );
    assert_eq!(
        code_of(&h.request(b"c", req("echo", 5000), b"new")),
        Code::Unavailable
    );
    assert_eq!(h.state.in_flight(), 2);

    let out = h.answer(b"w1", &a.1, b"done");
    assert!(
        single_reply(&out).1.status.is_ok(),
        "in-flight replies still forwarded"
    );
    assert_eq!(h.state.in_flight(), 1);

    h.state.finish_drain(h.now);
    let out = h.drain();
    assert_eq!(code_of(&out), Code::Unavailable);
    assert_eq!(disconnects(&out), vec![b"w1".to_vec()]);
    assert_eq!(h.state.pending(), 0);
    // READY during a drain is refused.
    assert_eq!(
        disconnects(&h.ready(b"w2", "echo", 1)),
        vec![b"w2".to_vec()]
    );
}

#[test]
fn tables_shrink_after_a_burst_is_answered() {
    let mut h = Harness::new();
    for _ in 0..5000 {
        h.request(b"c", req("burst", 600_000), b"x");
    }
    let peak = h.state.entries.capacity();
    assert!(peak >= 5000);
    let ready = Message::ready("burst", 64, Some(Duration::from_secs(1)));
    h.state
        .on_worker(h.now, ready.encode_routed([Frame::from(&b"w1"[..])]));
    let mut answered = 0;
    while answered < 5000 {
        let out = h.drain_dispatched_and_answer(b"w1");
        assert!(out > 0, "worker got nothing");
        answered += out;
    }
    assert_eq!(h.state.pending(), 0);
    h.tick(1000);
    assert!(
        h.state.entries.capacity() < peak / 4,
        "{} of {peak}",
        h.state.entries.capacity()
    );
    assert!(
        h.state.deadlines.len() < 1100,
        "answered requests leave the heap early"
    );
    assert!(h.state.take_released_memory() > 5000 * 64);
    assert_eq!(h.state.take_released_memory(), 0);
}

#[test]
fn ticks_convert_back_to_the_same_instants() {
    let now = Instant::now();
    let clock = Clock { epoch: now };
    for at in [
        now,
        now + Duration::from_nanos(1),
        now + Duration::from_secs(30 * 365 * 24 * 3600),
        now.checked_sub(Duration::from_millis(1500)).unwrap_or(now),
    ] {
        assert_eq!(clock.instant(clock.tick(at)), at);
    }
    let (a, b) = (clock.tick(now), clock.tick(now + 3 * MS));
    assert_eq!(elapsed(b, a), 3 * MS);
    assert_eq!(elapsed(a, b), Duration::ZERO);
}

#[test]
fn a_queued_payload_is_forwarded_intact_with_its_metadata() {
    let mut h = Harness::new();
    let request = req("svc", 5000).with_metadata("traceparent", "00-abc-def-01");
    let frames = Message::request(
        request.clone(),
        vec![
            Frame::from("one"),
            Frame::new(),
            Frame::from(&[7u8; 100][..]),
        ],
    )
    .encode();
    assert!(h.client_frames(b"c", frames).is_empty());
    let out = h.ready(b"w1", "svc", 1);
    let (_, forwarded, _) = dispatched(&out).remove(0);
    assert_eq!(forwarded.metadata, request.metadata);
    let Some(Out::Worker(_, message)) = out.into_iter().next() else {
        panic!("nothing dispatched")
    };
    let payload: Vec<Vec<u8>> = message.payload.iter().map(|f| f.to_vec()).collect();
    assert_eq!(payload, vec![b"one".to_vec(), Vec::new(), vec![7u8; 100]]);
}

#[test]
fn idle_services_are_forgotten() {
    let mut h = Harness::new();
    h.worker_msg(
        b"w1",
        Message::ready("echo", 1, Some(Duration::from_millis(100))),
    );
    h.tick(300);
    assert_eq!(h.state.worker_count(), 0);
    assert!(h.state.service_list(None).services.is_empty());
}

#[test]
fn too_many_services_are_refused() {
    let mut h = Harness::with(StateConfig {
        max_services: 1,
        ..StateConfig::default()
    });
    h.request(b"c", req("a", 5000), b"");
    assert_eq!(
        code_of(&h.request(b"c", req("b", 5000), b"")),
        Code::ResourceExhausted
    );
}

// ---- properties ----------------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    Request {
        client: u8,
        id: u8,
        idempotent: bool,
        timeout_ms: u16,
    },
    Ready {
        worker: u8,
        credits: u8,
    },
    Answer {
        worker: u8,
        pick: u8,
    },
    Disconnect {
        worker: u8,
    },
    Advance {
        ms: u16,
    },
    Garbage {
        worker_side: bool,
        bytes: Vec<u8>,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..3, 0u8..6, any::<bool>(), 1u16..3000)
            .prop_map(|(client, id, idempotent, timeout_ms)| Op::Request { client, id, idempotent, timeout_ms }),
        1 => (0u8..3, 1u8..4).prop_map(|(worker, credits)| Op::Ready { worker, credits }),
        4 => (0u8..3, any::<u8>()).prop_map(|(worker, pick)| Op::Answer { worker, pick }),
        1 => (0u8..3).prop_map(|worker| Op::Disconnect { worker }),
        2 => (1u16..2000).prop_map(|ms| Op::Advance { ms }),
        1 => (any::<bool>(), prop::collection::vec(any::<u8>(), 0..16))
            .prop_map(|(worker_side, bytes)| Op::Garbage { worker_side, bytes }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Under any sequence of events: no worker ever holds more requests than
    /// its credits, no request is answered twice, every request is answered
    /// by the end of a drain, and nothing panics.
    #[test]
    fn every_request_answered_once_and_credits_respected(ops in prop::collection::vec(op(), 1..80)) {
        use std::collections::{HashMap, HashSet};
        let mut h = Harness::new();
        let mut credits: HashMap<Vec<u8>, u32> = HashMap::new();
        let mut holding: HashMap<Vec<u8>, Vec<Request>> = HashMap::new();
        let mut open: HashSet<(Vec<u8>, CorrelationId)> = HashSet::new();
        let mut elapsed = 0u64;
        let ids: Vec<CorrelationId> = (0..6).map(|_| CorrelationId::new()).collect();

        let absorb = |out: Vec<Out>, holding: &mut HashMap<Vec<u8>, Vec<Request>>,
                          credits: &HashMap<Vec<u8>, u32>, open: &mut HashSet<(Vec<u8>, CorrelationId)>| -> Result<(), TestCaseError> {
            for o in out {
                match o {
                    Out::Worker(w, Message { command: Command::Request(r), .. }) => {
                        let held = holding.entry(w.clone()).or_default();
                        held.push(r);
                        prop_assert!(held.len() as u32 <= credits.get(&w).copied().unwrap_or(0),
                            "worker {:?} over its credits", w);
                    }
                    Out::Worker(w, Message { command: Command::Disconnect(_), .. }) => {
                        holding.remove(&w);
                    }
                    // Error replies to garbage carry the nil id; every other
                    // reply must close a request that is open: never twice.
                    Out::Client(c, Message { command: Command::Reply(r), .. })
                        if r.id != CorrelationId::from([0; 16]) =>
                    {
                        prop_assert!(open.remove(&(c.clone(), r.id)), "answered twice: {:?}", r.id);
                    }
                    _ => {}
                }
            }
            Ok(())
        };

        for op in ops {
            let out = match op {
                Op::Request { client, id, idempotent, timeout_ms } => {
                    let request = Request::new(ids[id as usize], "svc")
                        .idempotent(idempotent)
                        .timeout(Duration::from_millis(u64::from(timeout_ms)));
                    open.insert((vec![b'c', client], request.id));
                    h.request(&[b'c', client], request, b"p")
                }
                Op::Ready { worker, credits: n } => {
                    let w = vec![b'w', worker];
                    // A new registration starts empty; READY again from a
                    // registered worker changes its credits (section 6.2).
                    if !h.state.worker_ids.contains_key(&Route::single(&w).unwrap()) {
                        holding.remove(&w);
                    }
                    credits.insert(w.clone(), u32::from(n));
                    h.ready(&w, "svc", u32::from(n))
                }
                Op::Answer { worker, pick } => {
                    let w = vec![b'w', worker];
                    match holding.get_mut(&w) {
                        Some(held) if !held.is_empty() => {
                            let r = held.remove(pick as usize % held.len());
                            h.answer(&w, &r, b"r")
                        }
                        _ => Vec::new(),
                    }
                }
                Op::Disconnect { worker } => {
                    let w = vec![b'w', worker];
                    holding.remove(&w);
                    h.worker_msg(&w, Message::disconnect(None))
                }
                Op::Advance { ms } => {
                    elapsed += u64::from(ms);
                    // Workers that are still registered keep themselves alive.
                    let mut out = Vec::new();
                    for w in credits.keys().cloned().collect::<Vec<_>>() {
                        if h.state.worker_ids.contains_key(&Route::single(&w).unwrap()) {
                            h.at(elapsed.saturating_sub(1));
                            out.extend(h.worker_msg(&w, Message::heartbeat()));
                        }
                    }
                    out.extend(h.tick(elapsed));
                    out
                }
                Op::Garbage { worker_side, bytes } => {
                    let frames = vec![Frame::from(&b"x"[..]), Frame::from(&bytes[..])];
                    if worker_side { h.state.on_worker(h.now, frames) } else { h.state.on_client(h.now, frames) }
                    h.drain()
                }
            };
            absorb(out, &mut holding, &credits, &mut open)?;
        }
        h.state.finish_drain(h.now);
        let out = h.drain();
        absorb(out, &mut holding, &credits, &mut open)?;
        prop_assert_eq!(h.state.pending(), 0);
        prop_assert!(open.is_empty(), "unanswered requests: {:?}", open);
    }
}

mod spec;

mod client_heartbeat;

mod access;

mod credits;
