use std::time::Duration;

use proptest::prelude::*;
use prost::Message as _;

use super::*;
use crate::{Command, Limits, Message, Reply, Request, Status, decode_body, pb};

fn header_of(message: Message) -> Frame {
    message.encode_body().remove(0)
}

fn request() -> Request {
    Request::new(CorrelationId::new(), "echo").timeout(Duration::from_millis(2500))
}

fn decoded(header: Frame) -> Command {
    decode_body(vec![header], &Limits::default())
        .expect("decodes")
        .command
}

#[test]
fn a_plain_request_reads_as_decode_reads_it() {
    let req = request().attempt(3).idempotent(true).fail_fast(true);
    let header = header_of(Message::request(req.clone(), vec![]));
    let s = scan(&header).expect("scanned");
    assert!(s.is_plain_request() && !s.is_plain_reply());
    assert_eq!(s.id(), Some(req.id));
    assert_eq!(s.service, "echo");
    assert_eq!((s.timeout_ms, s.attempt), (2500, 3));
    assert!(s.idempotent && s.fail_fast && !s.has_route());
    assert_eq!(s.to_request(), Some(req));
}

#[test]
fn a_reply_without_its_route_decodes_to_the_reply_with_route_cleared() {
    let reply = Reply {
        id: CorrelationId::new(),
        status: Status::ok(),
        metadata: Default::default(),
        route: vec![vec![0, 9, 9, 9, 9], vec![]],
    };
    let header = header_of(Message::reply(reply.clone(), vec![]));
    let s = scan(&header).expect("scanned");
    assert!(s.is_plain_reply() && s.has_route());
    assert_eq!(s.route().count(), 2);
    let cut = s.without_route();
    assert_eq!(
        decoded(cut),
        Command::Reply(Reply {
            route: vec![],
            ..reply
        })
    );
}

#[test]
fn a_scan_leaves_what_it_does_not_read_in_full_to_decode() {
    let with_metadata = request().with_metadata("k", "v");
    let error_reply = Reply {
        id: CorrelationId::new(),
        status: Status::unavailable("down"),
        metadata: Default::default(),
        route: vec![],
    };
    let mut unknown = pb::Header {
        kind: 1,
        correlation_id: vec![7; 16],
        service: "echo".into(),
        ..Default::default()
    }
    .encode_to_vec();
    unknown.extend_from_slice(&[0xa8, 0x01, 0x01]); // field 21, varint 1
    let mut route_first = pb::Header {
        route: vec![vec![1]],
        ..Default::default()
    }
    .encode_to_vec();
    route_first.extend_from_slice(&[0x08, 0x02]); // kind after the route
    let tagged = |body: &[u8]| [PROTOCOL_TAG, body].concat();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "metadata",
            header_of(Message::request(with_metadata, vec![])).to_vec(),
        ),
        (
            "status",
            header_of(Message::reply(error_reply, vec![])).to_vec(),
        ),
        ("unknown field", tagged(&unknown)),
        ("field after the route", tagged(&route_first)),
        ("truncated", tagged(&[0x12, 0x10, 1, 2])),
        ("wrong wire type", tagged(&[0x0a, 0x00])),
        ("invalid UTF-8 service", tagged(&[0x1a, 0x01, 0xff])),
        ("no tag", b"XYZ\x08\x01".to_vec()),
    ];
    for (what, frame) in cases {
        assert_eq!(scan(&frame), None, "{what}");
    }
}

#[test]
fn a_request_with_a_route_of_its_own_is_not_plain() {
    let mut req = request();
    req.route = vec![vec![1, 2]];
    let header = header_of(Message::request(req, vec![]));
    let s = scan(&header).expect("scanned");
    assert!(!s.is_plain_request(), "the broker must replace its route");
}

proptest! {
    /// Whatever a scan accepts, prost decodes to the same fields.
    #[test]
    fn a_scan_agrees_with_prost(body in proptest::collection::vec(any::<u8>(), 0..64)) {
        let frame = [PROTOCOL_TAG, &body[..]].concat();
        if let Some(s) = scan(&frame) {
            let h = pb::Header::decode(&body[..]).expect("prost decodes what a scan read");
            prop_assert_eq!(s.kind, h.kind);
            prop_assert_eq!(s.correlation_id, &h.correlation_id[..]);
            prop_assert_eq!(s.service, h.service.as_str());
            prop_assert_eq!((s.timeout_ms, s.attempt), (h.timeout_ms, h.attempt));
            prop_assert_eq!((s.idempotent, s.fail_fast), (h.idempotent, h.fail_fast));
            prop_assert_eq!((s.credits, s.heartbeat_ms), (h.credits, h.heartbeat_ms));
            prop_assert!(h.status.is_none() && h.metadata.is_empty());
            let route: Vec<Vec<u8>> = s.route().map(<[u8]>::to_vec).collect();
            prop_assert_eq!(route, h.route);
        }
    }
}

proptest! {
    /// What a scan reads as a command is what prost and the validation
    /// read: the two paths of `decode` agree.
    #[test]
    fn a_scanned_command_is_the_decoded_command(
        body in proptest::collection::vec(any::<u8>(), 0..48),
        kind in 1u8..3,
    ) {
        // Start most inputs with a kind and a correlation id, so that many
        // of them get past the scan.
        let mut header = vec![0x08, kind, 0x12, 0x10];
        header.extend_from_slice(&[7; 16]);
        header.extend_from_slice(&body);
        let frame = [PROTOCOL_TAG, &header[..]].concat();
        if let Some(command) = scan(&frame).and_then(|s| s.to_command()) {
            let h = pb::Header::decode(&header[..]).expect("prost decodes it");
            let expected = crate::frame::command_from_pb(h).expect("valid");
            prop_assert_eq!(command, expected);
        }
    }
}
