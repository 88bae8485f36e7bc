//! Direct (brokerless) exchanges of enveloped messages over real TCP sockets.

use std::time::Duration;

use reqrep_core::socket::{connect, recv_frames, send_frames};
use reqrep_core::{
    Code, Command, CorrelationId, DecodeError, Frame, Limits, Message, Request, Status, decode,
    decode_body,
};
use reqrep_tests::{bind_ephemeral, socket};

#[test]
fn req_rep_round_trip_with_envelope() {
    let ctx = zmq::Context::new();
    let rep = socket(&ctx, zmq::REP);
    let endpoint = bind_ephemeral(&rep);
    let req = socket(&ctx, zmq::REQ);
    connect(&req, &endpoint).expect("connect");

    let id = CorrelationId::new();
    let request = Request::new(id, "").timeout(Duration::from_secs(2));
    send_frames(
        &req,
        Message::request(request, vec![Frame::from("ping")]).encode_body(),
        0,
    )
    .expect("send request");

    let got = decode_body(
        recv_frames(&rep, 0).expect("recv request"),
        &Limits::default(),
    )
    .expect("valid request");
    let Command::Request(received) = &got.command else {
        panic!("expected REQUEST")
    };
    assert_eq!(received.id, id);
    assert_eq!(received.timeout, Some(Duration::from_secs(2)));
    assert_eq!(&got.payload[0][..], b"ping");
    send_frames(
        &rep,
        Message::reply_ok(received, vec![Frame::from("pong")]).encode_body(),
        0,
    )
    .expect("send reply");

    let reply = decode_body(
        recv_frames(&req, 0).expect("recv reply"),
        &Limits::default(),
    )
    .expect("valid reply");
    assert_eq!(reply.correlation_id(), Some(id));
    let Command::Reply(r) = &reply.command else {
        panic!("expected REPLY")
    };
    assert!(r.status.is_ok());
    assert_eq!(&reply.payload[0][..], b"pong");
}

#[test]
fn dealer_router_keeps_routing_frames_and_error_status() {
    let ctx = zmq::Context::new();
    let router = socket(&ctx, zmq::ROUTER);
    let endpoint = bind_ephemeral(&router);
    let dealer = socket(&ctx, zmq::DEALER);
    dealer.set_identity(b"client-1").expect("identity");
    connect(&dealer, &endpoint).expect("connect");

    let request = Request::new(CorrelationId::new(), "svc");
    send_frames(
        &dealer,
        Message::request(request.clone(), vec![]).encode(),
        0,
    )
    .expect("send");

    let decoded = decode(recv_frames(&router, 0).expect("recv"), &Limits::default()).expect("ok");
    // The identity, then the delimiter the client sent (kept for the reply).
    assert_eq!(decoded.route.len(), 2);
    assert_eq!(&decoded.route[0][..], b"client-1");
    assert!(decoded.route[1].is_empty());
    let reply = Message::reply_error(&request, Status::resource_exhausted("queue full"));
    send_frames(&router, reply.encode_routed(decoded.route), 0).expect("reply");

    let back = decode(
        recv_frames(&dealer, 0).expect("recv reply"),
        &Limits::default(),
    )
    .expect("valid reply");
    let Command::Reply(r) = back.message.command else {
        panic!("expected REPLY")
    };
    assert_eq!(r.id, request.id);
    assert_eq!(r.status.code, Code::ResourceExhausted);
}

#[test]
fn garbage_over_the_wire_is_a_typed_error() {
    let ctx = zmq::Context::new();
    let router = socket(&ctx, zmq::ROUTER);
    let endpoint = bind_ephemeral(&router);
    let dealer = socket(&ctx, zmq::DEALER);
    connect(&dealer, &endpoint).expect("connect");

    send_frames(
        &dealer,
        vec![Frame::from(""), Frame::from(&b"RQ1\xff\xff\xff\xff"[..])],
        0,
    )
    .expect("send");
    let err = decode(recv_frames(&router, 0).expect("recv"), &Limits::default()).unwrap_err();
    assert!(matches!(err, DecodeError::Header(_)), "{err:?}");

    send_frames(&dealer, vec![Frame::from("hello")], 0).expect("send");
    let err = decode(recv_frames(&router, 0).expect("recv"), &Limits::default()).unwrap_err();
    assert_eq!(err, DecodeError::NoHeader);
}
