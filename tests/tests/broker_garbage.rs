//! Random garbage on both broker ports never stops the broker.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use reqrep_core::socket::recv_frames;
use reqrep_core::socket::send_frames;
use reqrep_core::{Command, CorrelationId, Frame, Limits, Request, decode};
use reqrep_tests::broker::broker;
use reqrep_tests::{Client, WorkerOptions, WorkerThread, socket, wait_for_workers};

fn random_frames(rng: &mut fastrand::Rng) -> Vec<Frame> {
    let count = rng.usize(1..8);
    (0..count)
        .map(|i| {
            // Sometimes a plausible prefix, so deeper decoding paths are hit.
            match (i, rng.u8(0..6)) {
                (0, 0) => Frame::from(""),
                (1, 0) => Frame::from("RQ1"),
                _ => {
                    let len = rng.usize(0..64);
                    Frame::from((0..len).map(|_| rng.u8(..)).collect::<Vec<u8>>())
                }
            }
        })
        .collect()
}

fn tcp_port(endpoint: &str) -> String {
    endpoint.trim_start_matches("tcp://").to_owned()
}

#[test]
fn garbage_frames_and_bytes_on_both_ports_then_a_valid_request_succeeds() {
    let ctx = zmq::Context::new();
    let broker = broker(|_| {});
    let _w = WorkerThread::start(&ctx, broker.backend(), WorkerOptions::default());
    let client = Client::connect(&ctx, broker.frontend());
    wait_for_workers(broker.frontend(), "echo", 1);

    let mut rng = fastrand::Rng::with_seed(0x5eed);
    // ZeroMQ-level garbage: random multipart messages from DEALER peers.
    let front = Client::connect(&ctx, broker.frontend());
    let back = Client::connect(&ctx, broker.backend());
    for _ in 0..500 {
        send_frames(front.raw(), random_frames(&mut rng), 0).expect("send");
        send_frames(back.raw(), random_frames(&mut rng), 0).expect("send");
    }
    // Every frontend message gets an INVALID_ARGUMENT reply; count them.
    let mut answered = 0;
    while answered < 500 {
        let frames = recv_frames(front.raw(), 0).expect("an error reply for each garbage message");
        let decoded = decode(frames, &Limits::default()).expect("error replies are valid");
        let Command::Reply(reply) = decoded.message.command else {
            panic!("not a reply")
        };
        assert!(!reply.status.is_ok());
        answered += 1;
    }
    // Transport-level garbage: raw bytes that are not ZMTP at all.
    for endpoint in [broker.frontend(), broker.backend()] {
        let mut tcp = TcpStream::connect(tcp_port(endpoint)).expect("tcp connect");
        let junk: Vec<u8> = (0..4096).map(|_| rng.u8(..)).collect();
        let _ = tcp.write_all(&junk);
    }

    // The broker is still fine.
    for _ in 0..5 {
        let (reply, body) = client.call(
            Request::new(CorrelationId::new(), "echo").timeout(Duration::from_secs(5)),
            b"still here",
        );
        assert!(reply.status.is_ok());
        assert_eq!(body[1], b"still here");
    }
    let stats = broker.stop().expect("stop");
    assert!(stats.malformed_client >= 500, "{stats:?}");
    assert!(stats.malformed_worker >= 1, "{stats:?}");
}

#[test]
fn malformed_worker_gets_disconnect() {
    let ctx = zmq::Context::new();
    let broker = broker(|_| {});
    let dealer = socket(&ctx, zmq::DEALER);
    dealer.connect(broker.backend()).expect("connect");
    send_frames(
        &dealer,
        vec![
            Frame::from(""),
            Frame::from("RQ1"),
            Frame::from(&[0xffu8; 3][..]),
        ],
        0,
    )
    .expect("send");
    let frames = recv_frames(&dealer, 0).expect("a DISCONNECT");
    let decoded = decode(frames, &Limits::default()).expect("valid");
    assert!(matches!(decoded.message.command, Command::Disconnect(_)));
}
