//! The broker held to docs/PROTOCOL.md: one test per rule, named after its
//! section; and the counts the state reports for export.

use super::*;

/// The header frame a client sends for `request` (after the delimiter).
fn client_header_len(request: &Request) -> usize {
    Message::request(request.clone(), Vec::new()).encode()[1].len()
}

/// A request to `echo` whose header frame, as the client sends it, is
/// `len` bytes (padded with metadata), when that size can be hit exactly.
fn request_with_header_of(len: usize) -> Option<Request> {
    let base = req("echo", 5000).with_metadata("pad", "");
    let start = len.checked_sub(client_header_len(&base))?;
    // The value's length prefix grows by a byte now and then: try a few.
    (start.saturating_sub(12)..=start).rev().find_map(|n| {
        let mut r = base.clone();
        r.metadata.insert("pad".into(), "x".repeat(n));
        (client_header_len(&r) == len).then_some(r)
    })
}

#[test]
fn spec_2_6_header_limit_holds_across_the_broker_hop() {
    let max = Limits::default().max_header_bytes;
    let mut h = Harness::new();
    h.ready(b"w1", "echo", 16);
    let mut rejected = 0;
    let mut dispatched_any = 0;
    for len in max - 40..=max {
        let Some(request) = request_with_header_of(len) else {
            continue;
        };
        let out = h.request(b"c1", request.clone(), b"x");
        if let [(_, forwarded, _)] = dispatched(&out).as_slice() {
            let header = Message::request(forwarded.clone(), Vec::new()).encode_body();
            assert!(
                header[0].len() <= max,
                "worker got a {} byte header",
                header[0].len()
            );
            dispatched_any += 1;
            h.answer(b"w1", forwarded, b"ok");
        } else {
            let (_, reply, _) = single_reply(&out);
            assert_eq!(reply.status.code, Code::InvalidArgument, "{}", reply.status);
            assert_eq!(reply.id, request.id, "the header decoded: its id is echoed");
            assert!(reply.status.message.starts_with("message too large"));
            rejected += 1;
        }
    }
    assert!(
        rejected > 0,
        "headers near the limit outgrow it at the worker ({dispatched_any} went)"
    );
    assert!(dispatched_any > 0, "headers that still fit are dispatched");
    assert_eq!(h.state.stats().malformed_client, rejected);
    let echo = &h.state.service_list(Some("echo")).services[0];
    assert_eq!(
        (echo.free_credits, echo.in_flight),
        (16, 0),
        "no credit is held by a rejected request"
    );
    // A client header over the limit itself is rejected by the decoder.
    let request = request_with_header_of(max + 1).unwrap();
    let (_, reply, _) = single_reply(&h.request(b"c1", request, b"x"));
    assert_eq!(reply.status.code, Code::InvalidArgument);
}

#[test]
fn spec_2_7_error_reply_ids() {
    let mut h = Harness::with(StateConfig {
        limits: Limits {
            max_payload_frames: 2,
            max_payload_bytes: 8,
            ..Limits::default()
        },
        ..StateConfig::default()
    });
    // Decoded far enough to read the id: echoed.
    let request = req("echo", 1000);
    let frames: Vec<Frame> = (0..3).map(|_| Frame::from(&b"a"[..])).collect();
    let out = h.client_frames(b"c1", Message::request(request.clone(), frames).encode());
    let (_, reply, _) = single_reply(&out);
    assert_eq!(
        (reply.id, reply.status.code),
        (request.id, Code::InvalidArgument)
    );
    assert!(reply.status.message.starts_with("too many frames"));

    let request = req("echo", 1000);
    let out = h.request(b"c1", request.clone(), &[0; 9]);
    let (_, reply, _) = single_reply(&out);
    assert_eq!(
        (reply.id, reply.status.code),
        (request.id, Code::InvalidArgument)
    );
    assert!(reply.status.message.starts_with("message too large"));

    let request = req("", 1000);
    let (_, reply, _) = single_reply(&h.request(b"c1", request.clone(), b"x"));
    assert_eq!(
        (reply.id, reply.status.code),
        (request.id, Code::InvalidArgument)
    );
    assert!(reply.status.message.starts_with("invalid service"));

    let stray = Reply::new(CorrelationId::new(), Status::ok());
    let out = h.client_frames(b"c1", Message::reply(stray.clone(), vec![]).encode());
    let (_, reply, _) = single_reply(&out);
    assert_eq!(
        (reply.id, reply.status.code),
        (stray.id, Code::InvalidArgument)
    );
    assert!(reply.status.message.starts_with("unexpected command"));

    // Not readable: the nil id.
    let nil = CorrelationId::from([0u8; 16]);
    let garbage = vec![Frame::new(), Frame::from(&b"RQ1\xff\xff\xff"[..])];
    let (_, reply, _) = single_reply(&h.client_frames(b"c1", garbage));
    assert_eq!((reply.id, reply.status.code), (nil, Code::InvalidArgument));
    assert!(reply.status.message.starts_with("undecodable header"));
    let no_id = vec![Frame::new(), Frame::from(&b"RQ1\x08\x01"[..])];
    let (_, reply, _) = single_reply(&h.client_frames(b"c1", no_id));
    assert_eq!(reply.id, nil);
    assert!(reply.status.message.contains("without a correlation id"));
    assert_eq!(
        h.state.stats().malformed_client,
        5,
        "the empty service is a rejected request"
    );
}

#[test]
fn spec_9_unknown_status_codes_pass_through() {
    let mut h = Harness::new();
    h.ready(b"w1", "echo", 1);
    let out = h.request(b"c1", req("echo", 1000), b"x");
    let (_, request, _) = dispatched(&out).remove(0);
    let status = Status::from_wire_code(99, "an application's own code");
    let reply = Message::reply(Reply::with_status(&request, status), vec![]);
    let (_, reply, _) = single_reply(&h.worker_msg(b"w1", reply));
    assert_eq!(reply.status.code, Code::Unknown, "unknown to this side");
    assert_eq!(reply.status.wire_code(), 99, "but sent on unchanged");
    assert_eq!(reply.status.message, "an application's own code");
}

#[test]
fn spec_6_4_dead_worker_is_removed_and_sent_disconnect() {
    let mut h = Harness::new();
    h.worker_msg(
        b"w1",
        Message::ready("echo", 1, Some(Duration::from_millis(500))),
    );
    h.tick(500);
    h.tick(1000);
    assert!(disconnects(&h.tick(1499)).is_empty());
    let out = h.tick(1500);
    assert_eq!(disconnects(&out), vec![b"w1".to_vec()]);
    assert_eq!(h.state.worker_count(), 0);
    assert_eq!(h.state.stats().workers_expired, 1);
    // It re-registers like any new worker.
    h.ready(b"w1", "echo", 1);
    assert_eq!(h.state.worker_count(), 1);
}

/// Reports taken from the state, owned.
fn reports(state: &mut BrokerState) -> Vec<(String, [u64; 17], usize, usize, usize, bool)> {
    let mut all = Vec::new();
    state.report(|r| {
        all.push((
            r.name.to_owned(),
            *r.outcomes,
            r.queued,
            r.workers,
            r.latencies.len(),
            r.gone,
        ));
    });
    all
}

#[test]
fn changed_services_are_reported_once_each_with_their_latencies() {
    let mut h = Harness::new();
    h.ready(b"w1", "echo", 1);
    let first = h.request(b"c1", req("echo", 1000), b"x");
    h.request(b"c1", req("echo", 1000), b"y");
    let r = reports(&mut h.state);
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(
        (r[0].2, r[0].3, r[0].4),
        (1, 1, 0),
        "one queued, one worker"
    );
    assert!(reports(&mut h.state).is_empty(), "nothing changed since");

    h.at(7);
    let (_, request, _) = dispatched(&first).remove(0);
    let out = h.answer(b"w1", &request, b"ok");
    let (_, second, _) = dispatched(&out).remove(0);
    h.answer(b"w1", &second, b"ok");
    let r = reports(&mut h.state);
    assert_eq!(r[0].1[Code::Ok as usize], 2);
    assert_eq!((r[0].2, r[0].4), (0, 2), "queue empty, two latencies");

    h.worker_msg(b"w1", Message::disconnect(None));
    h.tick(10_000);
    let r = reports(&mut h.state);
    assert!(r.iter().any(|r| r.0 == "echo" && r.5 && r.3 == 0), "{r:?}");
    assert!(h.state.service_list(None).services.is_empty());
}
