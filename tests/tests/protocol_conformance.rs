//! The reference broker held to docs/PROTOCOL.md over real sockets: a real
//! broker, a client, and a worker that is a raw DEALER speaking the wire
//! format from the spec. Each test is named after the section it checks and
//! runs under a time limit (and every socket has a receive timeout).

use std::time::Duration;

use reqrep_core::socket::{recv_frames, send_frames};
use reqrep_core::{
    Code, Command, CorrelationId, Frame, Limits, Message, Reply, Request, Status, decode_body,
};
use reqrep_tests::broker::broker;
use reqrep_tests::wait::within;
use reqrep_tests::wait_for_workers;
use reqrep_tests::{Client, socket};

/// Runs `test` on a thread and fails if it takes longer than a minute.
fn within_a_minute(test: impl FnOnce() + Send + 'static) {
    within(Duration::from_secs(60), test).expect("the test did not finish within a minute");
}

/// A worker as a raw DEALER: READY for `service` with `credits`.
fn raw_worker(ctx: &zmq::Context, backend: &str, service: &str, credits: u32) -> zmq::Socket {
    let worker = socket(ctx, zmq::DEALER);
    worker.connect(backend).expect("connect worker");
    let ready = Message::ready(service, credits, Some(Duration::from_secs(5)));
    send_frames(&worker, ready.encode_body(), 0).expect("send READY");
    worker
}

/// The next REQUEST the raw worker gets (skipping heartbeats).
fn next_request(worker: &zmq::Socket) -> Request {
    loop {
        let frames = recv_frames(worker, 0).expect("a message for the worker in time");
        let message = decode_body(frames, &Limits::default()).expect("broker messages decode");
        match message.command {
            Command::Request(request) => return request,
            Command::Heartbeat => continue,
            other => panic!("worker expected a REQUEST, got {other:?}"),
        }
    }
}

fn answer(worker: &zmq::Socket, request: &Request, status: Status) {
    let reply = Message::reply(Reply::with_status(request, status), vec![Frame::from("ok")]);
    send_frames(worker, reply.encode_body(), 0).expect("send REPLY");
}

/// A request to `service` whose header frame, as a DEALER client sends it,
/// is exactly `len` bytes (padded with metadata).
fn request_with_header_of(service: &str, len: usize) -> Request {
    let header_len = |r: &Request| Message::request(r.clone(), Vec::new()).encode()[1].len();
    let base = Request::new(CorrelationId::new(), service)
        .timeout(Duration::from_secs(5))
        .with_metadata("pad", "");
    let start = len - header_len(&base);
    (start.saturating_sub(12)..=start)
        .rev()
        .find_map(|n| {
            let mut r = base.clone();
            r.metadata.insert("pad".into(), "x".repeat(n));
            (header_len(&r) == len).then_some(r)
        })
        .expect("a padding that hits the size")
}

#[test]
fn spec_2_6_header_at_the_limit_is_refused_at_the_frontend_not_lost_at_the_worker() {
    within_a_minute(|| {
        let ctx = zmq::Context::new();
        let broker = broker(|_| {});
        let client = Client::connect(&ctx, broker.frontend());
        let worker = raw_worker(&ctx, broker.backend(), "conformance", 16);
        wait_for_workers(broker.frontend(), "conformance", 1);

        let max = Limits::default().max_header_bytes;
        for len in [max - 8, max] {
            let request = request_with_header_of("conformance", len);
            let id = request.id;
            client.send(request, b"x");
            let (reply, _) = client.recv().expect("an answer, not a silent drop");
            assert_eq!(reply.id, id, "the header decoded: its id is echoed");
            assert_eq!(reply.status.code, Code::InvalidArgument, "{}", reply.status);
        }
        // The worker never saw them: the next request is the first it gets.
        let small =
            Request::new(CorrelationId::new(), "conformance").timeout(Duration::from_secs(5));
        let id = small.id;
        client.send(small, b"x");
        let request = next_request(&worker);
        assert_eq!(request.id, id);
        answer(&worker, &request, Status::ok());
        let (reply, _) = client.recv().expect("reply");
        assert_eq!((reply.id, reply.status.code), (id, Code::Ok));

        let info = client.service_info("conformance").expect("service known");
        assert_eq!(
            (info.free_credits, info.in_flight),
            (16, 0),
            "every credit is back"
        );
    });
}

#[test]
fn spec_2_7_too_many_frames_reply_echoes_the_id() {
    within_a_minute(|| {
        let ctx = zmq::Context::new();
        let broker = broker(|_| {});
        let client = Client::connect(&ctx, broker.frontend());
        let request = Request::new(CorrelationId::new(), "conformance");
        let id = request.id;
        let frames = (0..=Limits::default().max_payload_frames)
            .map(|_| Frame::from("f"))
            .collect();
        send_frames(client.raw(), Message::request(request, frames).encode(), 0).expect("send");
        let (reply, _) = client.recv().expect("an error reply");
        assert_eq!((reply.id, reply.status.code), (id, Code::InvalidArgument));
        assert!(reply.status.message.starts_with("too many frames"));
    });
}

#[test]
fn spec_9_unknown_status_codes_pass_through_the_broker() {
    within_a_minute(|| {
        let ctx = zmq::Context::new();
        let broker = broker(|_| {});
        let client = Client::connect(&ctx, broker.frontend());
        let worker = raw_worker(&ctx, broker.backend(), "conformance", 1);
        wait_for_workers(broker.frontend(), "conformance", 1);

        let sent =
            Request::new(CorrelationId::new(), "conformance").timeout(Duration::from_secs(5));
        client.send(sent.clone(), b"x");
        let request = next_request(&worker);
        assert_eq!(request.id, sent.id);
        answer(
            &worker,
            &request,
            Status::from_wire_code(99, "application code"),
        );
        let (reply, body) = client.recv().expect("reply");
        assert_eq!(reply.id, sent.id);
        assert_eq!(reply.status.wire_code(), 99, "the worker's code, unchanged");
        assert_eq!(
            reply.status.code,
            Code::Unknown,
            "read as UNKNOWN by this version"
        );
        assert_eq!(reply.status.message, "application code");
        assert_eq!(body, vec![b"ok".to_vec()]);
    });
}
