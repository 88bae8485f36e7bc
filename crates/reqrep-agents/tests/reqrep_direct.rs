//! The `ReqRep` plugin in direct (brokerless) exchanges over real sockets.

use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use reqrep_agents::{
    ClientOptions, Plugin, ReqRep, ReqRepError, RequestError, SocketKind, StopToken,
};
use reqrep_core::socket::{recv_frames, send_frames};
use reqrep_core::{Code, Command as Cmd, Frame, Limits, Message, RetryPolicy, Status, decode};
use reqrep_tests::WAIT;
use reqrep_tests::process::Proc;
use reqrep_tests::python::pyzmq_available;
use reqrep_tests::wait::within;

const ANY: &str = reqrep_tests::broker::EPHEMERAL;

fn replier(stop: &StopToken) -> (ReqRep, String) {
    let mut rep = ReqRep::new(ANY, SocketKind::Rep);
    rep.init(stop).expect("bind");
    let endpoint = rep.bound_endpoint().expect("bound").to_owned();
    (rep, endpoint)
}

fn requester(endpoint: &str, options: ClientOptions) -> ReqRep {
    let mut req = ReqRep::new(endpoint, SocketKind::Req).options(options);
    req.init(&StopToken::new()).expect("connect");
    req
}

#[test]
fn enveloped_round_trip_with_serve() {
    let stop = StopToken::new();
    let (mut rep, endpoint) = replier(&stop);
    let server = thread::spawn(move || {
        rep.serve(|request, payload| {
            assert!(request.timeout.is_some(), "requests carry their deadline");
            let mut body = b"echo:".to_vec();
            body.extend_from_slice(&payload[0]);
            Ok(vec![Frame::from(body)])
        })
    });
    let mut req = requester(&endpoint, ClientOptions::default());
    for i in 0..20 {
        let reply = req.request(format!("ping {i}").as_bytes()).expect("reply");
        assert_eq!(reply.body(), format!("echo:ping {i}").as_bytes());
        assert_eq!(reply.attempts, 1);
    }
    stop.stop();
    assert_eq!(server.join().expect("server").expect("served"), 20);
}

#[test]
fn seed_shaped_send_and_recv() {
    let stop = StopToken::new();
    let (mut rep, endpoint) = replier(&stop);
    let server = thread::spawn(move || {
        let got = rep.recv().expect("request");
        rep.send(&[b"Hello, Client! re: ".as_slice(), &got].concat())
            .expect("reply");
    });
    let mut req = requester(&endpoint, ClientOptions::default());
    req.send(b"Hello, Server!").expect("send");
    assert!(
        matches!(req.send(b"again"), Err(ReqRepError::Usage(_))),
        "REQ alternation is checked"
    );
    let reply = req.recv().expect("reply");
    assert_eq!(reply, b"Hello, Client! re: Hello, Server!");
    server.join().expect("server");
}

#[test]
fn error_status_surfaces_as_a_typed_error() {
    let stop = StopToken::new();
    let (mut rep, endpoint) = replier(&stop);
    let server =
        thread::spawn(move || rep.serve(|_, _| Err(Status::new(Code::NotFound, "no such thing"))));
    let mut req = requester(&endpoint, ClientOptions::default());
    match req.request(b"x") {
        Err(RequestError::Status(status)) => {
            assert_eq!(status.code, Code::NotFound);
            assert_eq!(status.message, "no such thing");
        }
        other => panic!("expected a status error, got {other:?}"),
    }
    stop.stop();
    assert_eq!(server.join().expect("server").expect("served"), 1);
}

#[test]
fn permission_denied_is_its_own_error_and_never_retried() {
    let stop = StopToken::new();
    let (mut rep, endpoint) = replier(&stop);
    let server = thread::spawn(move || {
        rep.serve(|_, _| Err(Status::new(Code::PermissionDenied, "not you")))
    });
    // Three attempts allowed; PERMISSION_DENIED takes one.
    let options = ClientOptions::default().retry(RetryPolicy::default().max_attempts(3));
    let mut req = requester(&endpoint, options);
    match req.request(b"x") {
        Err(RequestError::PermissionDenied(status)) => {
            assert_eq!(status.code, Code::PermissionDenied);
            assert_eq!(status.message, "not you");
        }
        other => panic!("expected PermissionDenied, got {other:?}"),
    }
    // The plain send / recv pair reports it the same way.
    req.send(b"y").expect("send");
    match req.recv() {
        Err(ReqRepError::Request(RequestError::PermissionDenied(status))) => {
            assert_eq!(status.code, Code::PermissionDenied);
        }
        other => panic!("expected PermissionDenied, got {other:?}"),
    }
    stop.stop();
    assert_eq!(
        server.join().expect("server").expect("served"),
        2,
        "one request each, no retry"
    );
}

/// A ROUTER replier that drops the first request it sees (a lost reply) and
/// answers every later one.
#[test]
fn lost_reply_times_out_resets_the_socket_and_the_retry_succeeds() {
    let ctx = zmq::Context::new();
    let router = ctx.socket(zmq::ROUTER).expect("router");
    router.bind(ANY).expect("bind");
    router.set_rcvtimeo(10_000).expect("rcvtimeo");
    let endpoint = router
        .get_last_endpoint()
        .expect("endpoint")
        .expect("utf-8");
    let server = thread::spawn(move || {
        let mut attempts = Vec::new();
        for n in 0..2 {
            let frames = recv_frames(&router, 0).expect("request");
            let decoded = decode(frames, &Limits::default()).expect("valid");
            let Cmd::Request(request) = decoded.message.command else {
                panic!("not a request")
            };
            attempts.push((request.id, request.attempt));
            if n == 0 {
                continue; // dropped on purpose
            }
            let reply = Message::reply_ok(&request, vec![Frame::from("second time lucky")]);
            send_frames(&router, reply.encode_routed(decoded.route), 0).expect("reply");
        }
        attempts
    });
    let options = ClientOptions::default()
        .timeout(Duration::from_millis(200))
        .retry(
            RetryPolicy::default()
                .max_attempts(3)
                .initial_backoff(Duration::from_millis(10)),
        );
    let mut req = requester(&endpoint, options);
    let reply = req.request(b"hello").expect("the retry succeeds");
    assert_eq!(reply.body(), b"second time lucky");
    assert_eq!(reply.attempts, 2);
    assert_eq!(req.socket_resets(), 1, "the wedged REQ socket was replaced");
    let attempts = server.join().expect("server");
    assert_eq!(
        attempts[0].0, attempts[1].0,
        "a retry reuses the correlation id"
    );
    assert_eq!((attempts[0].1, attempts[1].1), (1, 2));
    // And the plugin keeps working afterwards.
    assert!(matches!(
        req.request(b"again"),
        Err(RequestError::Timeout { .. })
    ));
}

#[test]
fn stop_ends_a_replier_blocked_in_recv() {
    let stop = StopToken::new();
    let (mut rep, _endpoint) = replier(&stop);
    let blocked = thread::spawn(move || rep.recv());
    let stopped_at = Instant::now();
    stop.stop();
    let result = blocked.join().expect("thread");
    assert!(
        matches!(result, Err(ReqRepError::Request(RequestError::Stopped))),
        "{result:?}"
    );
    assert!(stopped_at.elapsed() < Duration::from_secs(1));
}

#[test]
fn init_fails_with_the_cause_when_the_address_is_in_use() {
    let stop = StopToken::new();
    let (_first, endpoint) = replier(&stop);
    let mut second = ReqRep::new(endpoint.clone(), SocketKind::Rep);
    let err = second.init(&stop).expect_err("address in use");
    assert!(err.cause.to_lowercase().contains("in use"), "{err}");
    assert!(err.to_string().contains(&endpoint), "{err}");
    // Finalising a plugin that never initialised is harmless, twice.
    second.finalize();
    second.finalize();
}

#[test]
fn non_blocking_calls_report_would_block() {
    let stop = StopToken::new();
    let (mut rep, _endpoint) = replier(&stop);
    assert!(matches!(rep.try_recv(), Err(ReqRepError::WouldBlock)));
}

#[test]
fn malformed_request_is_answered_invalid_argument_and_the_replier_goes_on() {
    let stop = StopToken::new();
    let (mut rep, endpoint) = replier(&stop);
    let server = thread::spawn(move || {
        let served = rep.serve(|_, payload| Ok(payload));
        (served, rep.malformed())
    });
    let ctx = zmq::Context::new();
    let raw = ctx.socket(zmq::REQ).expect("req");
    raw.set_rcvtimeo(10_000).expect("timeout");
    raw.connect(&endpoint).expect("connect");
    raw.send("not an envelope", 0).expect("send");
    let frames = reqrep_core::socket::recv_frames(&raw, 0).expect("an error reply");
    let message = reqrep_core::decode_body(frames, &Limits::default()).expect("valid reply");
    let Cmd::Reply(reply) = message.command else {
        panic!("not a reply")
    };
    assert_eq!(reply.status.code, Code::InvalidArgument);

    let mut req = requester(&endpoint, ClientOptions::default());
    assert_eq!(req.request(b"fine").expect("reply").body(), b"fine");
    stop.stop();
    let (served, malformed) = server.join().expect("server");
    assert_eq!(served.expect("served"), 1);
    assert_eq!(malformed, 1);
}

#[test]
fn spec_2_7_a_replier_echoes_the_id_of_a_request_it_refuses() {
    let stop = StopToken::new();
    let (mut rep, endpoint) = replier(&stop);
    let server = thread::spawn(move || {
        let _ = rep.serve(|_, payload| Ok(payload));
        rep.malformed()
    });
    let ctx = zmq::Context::new();
    let raw = ctx.socket(zmq::REQ).expect("req");
    raw.set_rcvtimeo(10_000).expect("timeout");
    raw.connect(&endpoint).expect("connect");
    let request = reqrep_core::Request::new(reqrep_core::CorrelationId::new(), "echo");
    let id = request.id;
    let frames = (0..=Limits::default().max_payload_frames)
        .map(|_| Frame::from("f"))
        .collect();
    // REQ adds the delimiter itself: send the body only.
    send_frames(&raw, Message::request(request, frames).encode_body(), 0).expect("send");
    let frames = recv_frames(&raw, 0).expect("an error reply");
    let message = reqrep_core::decode_body(frames, &Limits::default()).expect("valid reply");
    let Cmd::Reply(reply) = message.command else {
        panic!("not a reply")
    };
    assert_eq!(reply.status.code, Code::InvalidArgument, "{}", reply.status);
    assert_eq!(reply.id, id, "the header decoded, so its id comes back");
    stop.stop();
    assert_eq!(server.join().expect("server"), 1);
}

const PY_REP: &str = r#"
import sys, zmq
ctx = zmq.Context()
s = ctx.socket(zmq.REP)
port = s.bind_to_random_port("tcp://127.0.0.1")
print(port, flush=True)
for _ in range(int(sys.argv[1])):
    msg = s.recv()
    s.send(b"py:" + msg)
"#;

const PY_REQ: &str = r#"
import sys, zmq
ctx = zmq.Context()
s = ctx.socket(zmq.REQ)
s.setsockopt(zmq.RCVTIMEO, 10000)
s.connect(sys.argv[1])
for i in range(3):
    s.send(b"hello %d" % i)
    print(s.recv().decode(), flush=True)
"#;

#[test]
fn raw_mode_interoperates_with_a_plain_pyzmq_peer() {
    if !pyzmq_available() {
        return;
    }
    // A pyzmq REP server; our raw REQ plugin talks to it.
    let mut command = Command::new("python3");
    command.args(["-c", PY_REP, "3"]);
    let mut py = Proc::spawn(command);
    let line = py.wait_for_line("", WAIT);
    let port: u16 = line
        .trim()
        .parse()
        .expect("pyzmq printed its port (is pyzmq installed?)");
    let mut req = ReqRep::new(format!("tcp://127.0.0.1:{port}"), SocketKind::Req).raw(true);
    req.init(&StopToken::new()).expect("connect");
    for i in 0..3 {
        req.send(format!("msg {i}").as_bytes()).expect("send");
        assert_eq!(req.recv().expect("reply"), format!("py:msg {i}").as_bytes());
    }
    assert_eq!(py.wait_exit(WAIT), Some(0), "{}", py.output());

    // Our raw REP plugin answers a pyzmq REQ client.
    let stop = StopToken::new();
    let mut rep = ReqRep::new(ANY, SocketKind::Rep).raw(true);
    rep.init(&stop).expect("bind");
    let endpoint = rep.bound_endpoint().expect("bound").to_owned();
    let py = Command::new("python3")
        .args(["-c", PY_REQ, &endpoint])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    for _ in 0..3 {
        let msg = rep.recv().expect("request");
        rep.send(&[b"rs:".as_slice(), &msg].concat())
            .expect("reply");
    }
    let out = within(WAIT, move || py.wait_with_output())
        .expect("python exits in time")
        .expect("python exits");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "rs:hello 0\nrs:hello 1\nrs:hello 2\n"
    );
}

#[test]
fn a_replier_finalised_right_after_its_reply_still_delivers_it() {
    // Each round: a fresh replier answers once with a reply too large to
    // leave at once, and is finalised and dropped right away, the way an
    // agent that ends after its last reply is. Without a linger on
    // finalize, libzmq discards what is still queued.
    const REPLY_BYTES: usize = 12 * 1024 * 1024;
    for round in 0..5_u8 {
        let stop = StopToken::new();
        let (mut rep, endpoint) = replier(&stop);
        let server = thread::spawn(move || {
            rep.recv().expect("request");
            rep.send(&vec![round; REPLY_BYTES]).expect("reply");
            rep.finalize();
            drop(rep);
        });
        let options = ClientOptions::default()
            .timeout(Duration::from_secs(5))
            .retry(RetryPolicy::default().max_attempts(1));
        let mut req = requester(&endpoint, options);
        let reply = req.request(b"last words").expect("the reply arrives");
        assert_eq!(reply.body().len(), REPLY_BYTES);
        assert!(reply.body().iter().all(|b| *b == round));
        server.join().expect("server");
    }
}
