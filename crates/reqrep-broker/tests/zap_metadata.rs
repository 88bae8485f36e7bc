//! Where libzmq puts the ZAP `User-Id` on a ROUTER. Every frame the peer
//! sent carries the connection's metadata; the routing id frame the ROUTER
//! prepends carries it only when the message is received without a poll
//! first (libzmq 4.3 prefetches the routing id for a poll without copying
//! the metadata). The broker polls, so it reads the `User-Id` from the
//! *last* frame of each message: this pins that the frames after the
//! routing id carry it on the linked libzmq, polled or not, with a ZAP
//! handler answering as the broker's does (`access::zap::answer`). Needs
//! CURVE: on a build without it the test checks that CURVE is refused, and
//! with `REQREP_EXPECT_CURVE=1` it fails instead.

use reqrep_broker::access::zap::{self, ZAP_ENDPOINT};
use reqrep_broker::access::{AccessPolicy, Identity};
use reqrep_core::curve::{Curve, CurveKeyPair};
use reqrep_core::socket::{SocketOptions, curve_supported};

/// The key pairs of a CURVE test, or `None` on a build without CURVE
/// (which is a failure when CI expects CURVE).
fn curve_keys() -> Option<(CurveKeyPair, CurveKeyPair)> {
    if !curve_supported() {
        assert_ne!(
            std::env::var("REQREP_EXPECT_CURVE").as_deref(),
            Ok("1"),
            "CURVE expected but the linked libzmq has none"
        );
        return None;
    }
    Some((
        CurveKeyPair::generate().expect("server keys"),
        CurveKeyPair::generate().expect("client keys"),
    ))
}

#[test]
fn every_frame_the_peer_sent_carries_the_user_id_polled_or_not() {
    let Some((server, client)) = curve_keys() else {
        let ctx = zmq::Context::new();
        let router = ctx.socket(zmq::ROUTER).expect("socket");
        let options = SocketOptions {
            curve: Some(Curve::server("HelloWorld".repeat(4).parse().expect("key"))),
            ..SocketOptions::default()
        };
        assert!(options.apply(&router).is_err(), "CURVE must be refused");
        return;
    };
    let policy = AccessPolicy::new(vec![Identity {
        name: "client".into(),
        key: client.public,
        call: vec!["*".parse().expect("pattern")],
        serve: vec![],
    }])
    .expect("policy");
    let ctx = zmq::Context::new();
    let handler = ctx.socket(zmq::ROUTER).expect("zap socket");
    handler.bind(ZAP_ENDPOINT).expect("bind zap");
    let router = ctx.socket(zmq::ROUTER).expect("router");
    SocketOptions {
        curve: Some(Curve::server(server.secret)),
        ..SocketOptions::default()
    }
    .apply(&router)
    .expect("options");
    router.set_zap_domain("frontend").expect("domain");
    router.set_rcvtimeo(10_000).expect("timeout");
    router.bind("tcp://127.0.0.1:*").expect("bind");
    let endpoint = router
        .get_last_endpoint()
        .expect("endpoint")
        .expect("utf-8");

    let dealer = ctx.socket(zmq::DEALER).expect("dealer");
    SocketOptions {
        curve: Some(Curve::client_with(server.public, client)),
        ..SocketOptions::default()
    }
    .apply(&dealer)
    .expect("options");
    dealer.connect(&endpoint).expect("connect");
    dealer
        .send_multipart([&b""[..], b"header", b"payload"], 0)
        .expect("send");

    // The handshake waits for the handler.
    handler.set_rcvtimeo(10_000).expect("timeout");
    let request = handler.recv_multipart(0).expect("a ZAP request");
    let (envelope, body) = zap::split_envelope(&request).expect("envelope");
    let outcome = zap::answer(Some(&policy), body);
    assert_eq!(outcome.failure, None);
    let mut reply = envelope.to_vec();
    reply.extend(outcome.reply.expect("a reply").frames());
    handler.send_multipart(reply, 0).expect("ZAP reply");

    let expected = client.public.to_z85();
    // First as the broker receives: after a poll. Then without one.
    let mut items = [router.as_poll_item(zmq::POLLIN)];
    assert_eq!(zmq::poll(&mut items, 10_000).expect("poll"), 1);
    let polled = receive(&router);
    dealer
        .send_multipart([&b""[..], b"header", b"payload"], 0)
        .expect("send");
    let blocking = receive(&router);
    for (how, frames) in [("polled", polled), ("blocking", blocking)] {
        assert_eq!(
            frames.len(),
            4,
            "{how}: routing id, delimiter, header, payload"
        );
        for (index, user) in frames.iter().enumerate().skip(1) {
            assert_eq!(
                user.as_deref(),
                Some(expected.as_str()),
                "{how}: frame {index}"
            );
        }
    }
}

/// The `User-Id` of each frame of the next message.
fn receive(router: &zmq::Socket) -> Vec<Option<String>> {
    let mut seen = Vec::new();
    loop {
        let mut frame = zmq::Message::new();
        router.recv(&mut frame, 0).expect("a frame");
        let more = frame.get_more();
        seen.push(frame.gets("User-Id").map(str::to_owned));
        if !more {
            return seen;
        }
    }
}
