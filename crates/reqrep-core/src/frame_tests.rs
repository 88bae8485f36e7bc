use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::Metadata;

fn f(bytes: &[u8]) -> Frame {
    Frame::from(bytes)
}

fn request(service: &str) -> Request {
    Request::new(CorrelationId::new(), service).timeout(Duration::from_millis(2500))
}

#[test]
fn request_round_trip_through_router_frames() {
    let req = request("echo")
        .idempotent(true)
        .with_metadata("traceparent", "00-1-2-01");
    let msg = Message::request(req.clone(), vec![f(b"hello"), f(b"")]);
    let frames = msg.encode_routed([f(&[0, 0x80, 0, 0x41, 0xa7])]);
    assert_eq!(frames.len(), 4);
    assert!(frames[1].starts_with(PROTOCOL_TAG));

    let decoded = decode(frames, &Limits::default()).expect("valid");
    assert_eq!(decoded.route.len(), 1);
    assert_eq!(&decoded.route[0][..], &[0, 0x80, 0, 0x41, 0xa7]);
    assert_eq!(decoded.message.command, Command::Request(req));
    assert_eq!(decoded.message.payload, vec![f(b"hello"), f(b"")]);
}

#[test]
fn body_round_trip_for_req_and_rep_sockets() {
    let req = request("");
    let body = Message::request(req.clone(), vec![f(b"x")]).encode_body();
    assert_eq!(body.len(), 2);
    assert!(body[0].starts_with(PROTOCOL_TAG));
    let msg = decode_body(body, &Limits::default()).expect("valid");
    assert_eq!(msg.command, Command::Request(req));
}

#[test]
fn every_command_round_trips() {
    let id = CorrelationId::new();
    let mut reply = Reply::new(id, Status::deadline_exceeded("expired"));
    reply.route = vec![b"client-7".to_vec()];
    reply.metadata = Metadata::from([("k".to_owned(), "v".to_owned())]);
    let commands = [
        Message::request(request("svc"), vec![]),
        Message::reply(reply, vec![]),
        Message::reply(Reply::new(id, Status::ok()), vec![f(b"ok")]),
        Message::ready("svc", 16, Some(Duration::from_millis(1000))),
        Message::ready("svc", 1, None),
        Message::heartbeat(),
        Message::disconnect(None),
        Message::disconnect(Some(Status::unavailable("draining"))),
    ];
    for msg in commands {
        let expected = msg.command.clone();
        let payload_frames = msg.payload.len();
        let frames = msg.encode();
        assert_eq!(frames.len(), 2 + payload_frames);
        let decoded = decode(frames, &Limits::default()).expect("valid");
        assert_eq!(decoded.route.len(), 1, "the delimiter is kept as the route");
        assert!(decoded.route[0].is_empty());
        assert_eq!(decoded.message.command, expected);
    }
}

#[test]
fn the_delimiter_is_optional_and_kept_in_the_route() {
    let req = request("echo");
    let with = Message::request(req.clone(), vec![f(b"p")]).encode_routed([f(b"\0id"), f(b"")]);
    let decoded = decode(with, &Limits::default()).expect("valid");
    assert_eq!(decoded.route, vec![f(b"\0id"), f(b"")]);
    assert_eq!(decoded.message.command, Command::Request(req.clone()));

    let without = Message::request(req.clone(), vec![f(b"p")]).encode_routed([f(b"\0id")]);
    let decoded = decode(without, &Limits::default()).expect("valid");
    assert_eq!(decoded.route, vec![f(b"\0id")]);

    // A DEALER peer (no routing frames) with and without the delimiter.
    let bare = Message::request(req.clone(), vec![]).encode_body();
    assert!(
        decode(bare, &Limits::default())
            .expect("valid")
            .route
            .is_empty()
    );
    let delimited = Message::request(req, vec![]).encode();
    assert_eq!(
        decode(delimited, &Limits::default()).expect("valid").route,
        vec![f(b"")]
    );
}

#[test]
fn a_short_tagged_routing_frame_is_not_a_header() {
    // ZMQ_REQ_CORRELATE puts a 4-byte request id before the delimiter; it may
    // start with "RQ".
    let req = request("echo");
    let frames =
        Message::request(req.clone(), vec![]).encode_routed([f(b"\0id"), f(b"RQ1x"), f(b"")]);
    let decoded = decode(frames, &Limits::default()).expect("valid");
    assert_eq!(decoded.route, vec![f(b"\0id"), f(b"RQ1x"), f(b"")]);
    assert_eq!(decoded.message.command, Command::Request(req));
}

#[test]
fn no_header() {
    let frames = vec![f(b"id"), f(b"x"), f(b"y")];
    assert_eq!(
        decode(frames, &Limits::default()),
        Err(DecodeError::NoHeader)
    );
    assert_eq!(
        decode(vec![], &Limits::default()),
        Err(DecodeError::NoHeader)
    );
    let header = Message::heartbeat().encode_body().remove(0);
    let too_deep: Vec<Frame> = (0..=MAX_ROUTE_FRAMES)
        .map(|_| f(b"r"))
        .chain([f(b""), header])
        .collect();
    assert_eq!(
        decode(too_deep, &Limits::default()),
        Err(DecodeError::NoHeader)
    );
}

#[test]
fn incomplete_messages_are_told_apart_from_malformed_ones() {
    let err = decode(vec![f(b"id"), f(b"")], &Limits::default()).unwrap_err();
    assert_eq!(err, DecodeError::Incomplete(Part::Header));
    assert!(err.is_incomplete());
    let err = decode(vec![f(b""), f(b"HTTP")], &Limits::default()).unwrap_err();
    assert!(!err.is_incomplete());
}

#[test]
fn wrong_tag_and_version() {
    let err = decode_body(vec![f(b"GET / HTTP/1.1\r\n"), f(b"")], &Limits::default()).unwrap_err();
    assert_eq!(
        err,
        DecodeError::WrongTag {
            found: b"GET / HT".to_vec()
        }
    );
    assert_eq!(err.reason(), "wrong_tag");
    let err = decode_body(vec![f(b"RQ2\x08\x04"), f(b"")], &Limits::default()).unwrap_err();
    assert_eq!(
        err,
        DecodeError::UnsupportedVersion {
            version: "2".into()
        }
    );
    let err = decode_body(vec![f(b"RQ"), f(b"")], &Limits::default()).unwrap_err();
    assert!(matches!(err, DecodeError::WrongTag { .. }));
}

#[test]
fn undecodable_header() {
    let err = decode_body(vec![f(b"RQ1\xff\xff\xff")], &Limits::default()).unwrap_err();
    assert!(matches!(err, DecodeError::Header(_)), "{err:?}");
    assert_eq!(err.to_status().code, Code::InvalidArgument);
}

#[test]
fn missing_and_invalid_correlation_ids() {
    let h = pb::Header {
        kind: pb::Kind::Request as i32,
        ..Default::default()
    };
    let err = decode_body(vec![header_frame(&h)], &Limits::default()).unwrap_err();
    assert_eq!(err, DecodeError::MissingCorrelationId(Kind::Request));

    let h = pb::Header {
        kind: pb::Kind::Reply as i32,
        correlation_id: vec![1, 2, 3],
        ..Default::default()
    };
    let err = decode_body(vec![header_frame(&h)], &Limits::default()).unwrap_err();
    assert_eq!(
        err,
        DecodeError::InvalidCorrelationId(crate::InvalidCorrelationId { len: 3 })
    );
}

#[test]
fn unknown_and_reserved_kinds() {
    for (kind, expected) in [
        (0, DecodeError::UnknownKind(0)),
        (42, DecodeError::UnknownKind(42)),
        (-3, DecodeError::UnknownKind(-3)),
        (
            pb::Kind::Partial as i32,
            DecodeError::ReservedKind("PARTIAL"),
        ),
        (pb::Kind::Cancel as i32, DecodeError::ReservedKind("CANCEL")),
    ] {
        let h = pb::Header {
            kind,
            ..Default::default()
        };
        let err = decode_body(vec![header_frame(&h)], &Limits::default());
        assert_eq!(err, Err(expected));
    }
}

#[test]
fn ready_needs_a_service() {
    let h = pb::Header {
        kind: pb::Kind::Ready as i32,
        credits: 4,
        ..Default::default()
    };
    let err = decode_body(vec![header_frame(&h)], &Limits::default()).unwrap_err();
    assert!(matches!(
        err,
        DecodeError::InvalidField {
            field: "service",
            ..
        }
    ));
}

#[test]
fn zero_credits_and_attempt_are_normalised() {
    let h = pb::Header {
        kind: pb::Kind::Ready as i32,
        service: "s".into(),
        ..Default::default()
    };
    let msg = decode_body(vec![header_frame(&h)], &Limits::default()).unwrap();
    assert_eq!(
        msg.command,
        Command::Ready(Ready {
            service: "s".into(),
            credits: 1,
            heartbeat: None
        })
    );

    let h = pb::Header {
        kind: pb::Kind::Request as i32,
        correlation_id: CorrelationId::new().as_bytes().to_vec(),
        ..Default::default()
    };
    let msg = decode_body(vec![header_frame(&h)], &Limits::default()).unwrap();
    let Command::Request(req) = msg.command else {
        panic!("not a request")
    };
    assert_eq!(req.attempt, 1);
    assert_eq!(req.timeout, None);
}

#[test]
fn too_many_frames_and_too_large() {
    let limits = Limits {
        max_payload_frames: 2,
        max_payload_bytes: 10,
        max_header_bytes: 64,
    };
    let sent = request("s");
    let id = Some(sent.id);
    let msg = |payload: Vec<Frame>| Message::request(sent.clone(), payload).encode();

    let err = decode(msg(vec![f(b"a"), f(b"b"), f(b"c")]), &limits).unwrap_err();
    assert_eq!(
        err,
        DecodeError::TooManyFrames {
            count: 3,
            max: 2,
            id
        }
    );
    assert_eq!(
        err.correlation_id(),
        id,
        "the header decoded: its id is known"
    );

    let err = decode(msg(vec![f(&[0; 6]), f(&[0; 5])]), &limits).unwrap_err();
    assert_eq!(
        err,
        DecodeError::TooLarge {
            what: "payload",
            size: 11,
            max: 10,
            id
        }
    );
    assert_eq!(err.correlation_id(), id);

    let big_header = Message::request(request("s").with_metadata("k", "v".repeat(100)), vec![]);
    let err = decode(big_header.encode(), &limits).unwrap_err();
    assert!(matches!(err, DecodeError::TooLarge { what: "header", .. }));
    assert_eq!(err.correlation_id(), None, "a header too large is not read");

    assert!(decode(msg(vec![f(&[0; 5]), f(&[0; 5])]), &limits).is_ok());
}

#[test]
fn unknown_header_fields_are_ignored() {
    let id = CorrelationId::new();
    let mut bytes = pb::Header {
        kind: pb::Kind::Request as i32,
        correlation_id: id.as_bytes().to_vec(),
        ..Default::default()
    }
    .encode_to_vec();
    // Field 99, varint 1: a field from a future version.
    bytes.extend_from_slice(&[0x98, 0x06, 0x01]);
    bytes.splice(0..0, PROTOCOL_TAG.iter().copied());
    let msg = decode_body(vec![Frame::from(bytes)], &Limits::default()).unwrap();
    assert_eq!(msg.correlation_id(), Some(id));
}

#[test]
fn unknown_status_codes_read_as_unknown() {
    let h = pb::Header {
        kind: pb::Kind::Reply as i32,
        correlation_id: CorrelationId::new().as_bytes().to_vec(),
        status: Some(pb::Status {
            code: 1234,
            message: "new".into(),
        }),
        ..Default::default()
    };
    let msg = decode_body(vec![header_frame(&h)], &Limits::default()).unwrap();
    let Command::Reply(reply) = msg.command else {
        panic!("not a reply")
    };
    assert_eq!(reply.status.code, Code::Unknown);
    assert_eq!(reply.status.message, "new");
    assert_eq!(
        reply.status.wire_code(),
        1234,
        "kept, to be forwarded unchanged"
    );
}

#[test]
fn decoding_moves_payload_frames_without_copying() {
    let payload = f(&[7u8; 4096]);
    let address = payload.as_ptr();
    let frames = Message::request(request("s"), vec![payload]).encode();
    let decoded = decode(frames, &Limits::default()).unwrap();
    assert_eq!(
        decoded.message.payload[0].as_ptr(),
        address,
        "payload bytes must not move"
    );
}

#[test]
fn every_error_has_a_distinct_reason_and_an_invalid_argument_status() {
    let errors = [
        DecodeError::NoHeader,
        DecodeError::Incomplete(Part::Header),
        DecodeError::WrongTag { found: vec![] },
        DecodeError::UnsupportedVersion {
            version: "2".into(),
        },
        DecodeError::MissingCorrelationId(Kind::Reply),
        DecodeError::InvalidCorrelationId(crate::InvalidCorrelationId { len: 1 }),
        DecodeError::UnknownKind(9),
        DecodeError::ReservedKind("CANCEL"),
        DecodeError::InvalidField {
            field: "service",
            reason: "empty",
        },
        DecodeError::TooManyFrames {
            count: 2,
            max: 1,
            id: None,
        },
        DecodeError::TooLarge {
            what: "payload",
            size: 2,
            max: 1,
            id: None,
        },
    ];
    let mut reasons: Vec<_> = errors.iter().map(DecodeError::reason).collect();
    reasons.sort_unstable();
    reasons.dedup();
    assert_eq!(reasons.len(), errors.len());
    for e in &errors {
        assert_eq!(e.to_status().code, Code::InvalidArgument);
        assert!(!e.to_string().is_empty());
    }
}

// ---- property tests -------------------------------------------------------

fn arb_string() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9._-]{0,24}"
}

fn arb_metadata() -> impl Strategy<Value = Metadata> {
    prop::collection::hash_map(arb_string(), ".{0,16}", 0..4)
}

fn arb_route() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 1..8), 0..3)
}

/// Routing frames as a ROUTER delivers them: ids that do not start with the
/// tag, then, when the peer sent one, the empty delimiter.
fn arb_envelope() -> impl Strategy<Value = Vec<Vec<u8>>> {
    let id = prop::collection::vec(any::<u8>(), 1..8)
        .prop_filter("not a tag", |id| !id.starts_with(b"RQ"));
    (prop::collection::vec(id, 0..3), any::<bool>()).prop_map(|(mut ids, delimited)| {
        if delimited {
            ids.push(Vec::new());
        }
        ids
    })
}

fn arb_status() -> impl Strategy<Value = Status> {
    (0i32..17, ".{0,32}").prop_map(|(code, message)| Status::new(Code::from_wire(code), message))
}

fn arb_id() -> impl Strategy<Value = CorrelationId> {
    any::<[u8; 16]>().prop_map(CorrelationId::from)
}

fn arb_command() -> impl Strategy<Value = Command> {
    prop_oneof![
        (
            arb_id(),
            arb_string(),
            prop::option::of(1u32..u32::MAX),
            1u32..10,
            any::<bool>(),
            any::<bool>(),
            arb_metadata(),
            arb_route()
        )
            .prop_map(
                |(id, service, timeout, attempt, idempotent, fail_fast, metadata, route)| {
                    Command::Request(Request {
                        id,
                        service,
                        timeout: timeout.map(|ms| Duration::from_millis(u64::from(ms))),
                        attempt,
                        idempotent,
                        fail_fast,
                        metadata,
                        route,
                    })
                }
            ),
        (arb_id(), arb_status(), arb_metadata(), arb_route()).prop_map(
            |(id, status, metadata, route)| Command::Reply(Reply {
                id,
                status,
                metadata,
                route
            })
        ),
        ("[a-z]{1,16}", 1u32..1000, prop::option::of(1u32..100_000)).prop_map(
            |(service, credits, hb)| Command::Ready(Ready {
                service,
                credits,
                heartbeat: hb.map(|ms| Duration::from_millis(u64::from(ms))),
            })
        ),
        Just(Command::Heartbeat),
        prop::option::of(arb_status()).prop_map(|reason| Command::Disconnect(Disconnect {
            reason: reason.filter(|s| !(s.is_ok() && s.message.is_empty()))
        })),
    ]
}

fn arb_payload() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..256), 0..8)
}

fn arb_frames() -> impl Strategy<Value = Vec<Vec<u8>>> {
    // Arbitrary frames, biased towards almost-valid messages so the decoder's
    // deeper paths (tag accepted, header parsed) are reached often.
    let frame = prop_oneof![
        3 => prop::collection::vec(any::<u8>(), 0..48),
        1 => Just(Vec::new()),
        1 => Just(PROTOCOL_TAG.to_vec()),
        1 => Just(b"RQ9".to_vec()),
        1 => arb_command().prop_map(|c| header_frame(&c.to_pb()).to_vec()),
    ];
    prop::collection::vec(frame, 0..12)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn any_message_round_trips(command in arb_command(), payload in arb_payload(), route in arb_envelope()) {
        let frames: Vec<Frame> = payload.iter().map(|p| f(p)).collect();
        let route_frames: Vec<Frame> = route.iter().map(|r| f(r)).collect();
        let encoded = Message::new(command.clone(), frames).encode_routed(route_frames);
        let decoded = decode(encoded, &Limits::default()).expect("own encoding decodes");
        prop_assert_eq!(decoded.route.iter().map(|r| r.to_vec()).collect::<Vec<_>>(), route);
        prop_assert_eq!(decoded.message.command, command);
        prop_assert_eq!(decoded.message.payload.iter().map(|p| p.to_vec()).collect::<Vec<_>>(), payload);
    }

    #[test]
    fn any_message_body_round_trips(command in arb_command(), payload in arb_payload()) {
        let frames: Vec<Frame> = payload.iter().map(|p| f(p)).collect();
        let body = Message::new(command.clone(), frames).encode_body();
        let decoded = decode_body(body, &Limits::default()).expect("own encoding decodes");
        prop_assert_eq!(decoded.command, command);
        prop_assert_eq!(decoded.payload.len(), payload.len());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    /// Arbitrary frame sequences decode to a typed error or a valid message,
    /// never a panic; a decoded message re-encodes to an equal message.
    #[test]
    fn arbitrary_frames_never_panic(frames in arb_frames()) {
        let limits = Limits { max_payload_frames: 6, max_payload_bytes: 200, max_header_bytes: 256 };
        let input: Vec<Frame> = frames.iter().map(|fr| f(fr)).collect();
        match decode(input, &limits) {
            Ok(decoded) => {
                prop_assert!(decoded.route.len() <= MAX_ROUTE_FRAMES + 1);
                prop_assert!(decoded.message.payload.len() <= limits.max_payload_frames);
                let command = decoded.message.command.clone();
                let again = decode(decoded.message.encode(), &Limits::default()).expect("re-encodes");
                prop_assert_eq!(again.message.command, command);
            }
            Err(err) => {
                prop_assert!(!err.to_string().is_empty());
                prop_assert_eq!(err.to_status().code, Code::InvalidArgument);
            }
        }
        let body: Vec<Frame> = frames.iter().map(|fr| f(fr)).collect();
        let _ = decode_body(body, &limits);
    }
}
