//! Whole worker conversations on a fake clock: no sockets, no sleeps.

use std::time::{Duration, Instant};

use reqrep_core::{
    Code, Command, CorrelationId, Frame, Kind, Limits, Message, PROTOCOL_TAG, Request, RetryPolicy,
    Status, decode_body,
};

use super::*;

const HB: Duration = Duration::from_millis(100);

fn options() -> WorkerOptions {
    WorkerOptions::default()
        .credits(2)
        .heartbeat(HB)
        .liveness(3)
        .reconnect(
            RetryPolicy::default()
                .initial_backoff(Duration::from_millis(100))
                .max_backoff(Duration::from_secs(5))
                .jitter(0.5),
        )
}

/// What an action was, compactly, with every outgoing message decoded.
#[derive(Debug, PartialEq)]
enum Seen {
    Connect,
    Sent(Message),
    Delivered(CorrelationId),
    Reconnect(BrokerLoss, Duration),
    Refused(Status),
    Closed(Duration),
    Confirmed(u32),
}

struct Harness {
    session: WorkerSession,
    t0: Instant,
}

impl Harness {
    fn new(options: &WorkerOptions) -> Self {
        let t0 = Instant::now();
        Self {
            session: WorkerSession::new("echo", options, 42, t0),
            t0,
        }
    }

    fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    /// Every queued action, with outgoing frames decoded.
    fn drain(&mut self) -> Vec<Seen> {
        let mut seen = Vec::new();
        while let Some(action) = self.session.poll_action() {
            seen.push(match action {
                WorkerAction::Connect => Seen::Connect,
                WorkerAction::Send(out) => {
                    let message = decode_body(out.frames, &Limits::default()).expect("decodes");
                    assert_eq!(message.kind(), out.kind, "kind matches the frames");
                    Seen::Sent(message)
                }
                WorkerAction::Deliver(d) => Seen::Delivered(d.request.id),
                WorkerAction::Reconnect { cause, delay } => Seen::Reconnect(cause, delay),
                WorkerAction::Refused(status) => Seen::Refused(status),
                WorkerAction::Closed { linger } => Seen::Closed(linger),
                WorkerAction::CreditsConfirmed { credits } => Seen::Confirmed(credits),
            });
        }
        seen
    }

    /// Only the deliveries, as they are.
    fn deliveries(&mut self) -> Vec<Delivery> {
        let mut out = Vec::new();
        while let Some(action) = self.session.poll_action() {
            if let WorkerAction::Deliver(d) = action {
                out.push(d);
            }
        }
        out
    }

    fn receive(&mut self, ms: u64, frames: Vec<Frame>) -> Result<(), BrokerMessageError> {
        self.session.on_message(self.at(ms), frames)
    }

    fn tick(&mut self, ms: u64) -> Vec<Seen> {
        self.tick_at(self.at(ms))
    }

    fn tick_at(&mut self, now: Instant) -> Vec<Seen> {
        self.session.on_tick(now);
        self.drain()
    }
}

/// The first whole millisecond at or after `ms` + `delay`.
fn after(ms: u64, delay: Duration) -> u64 {
    ms + delay.as_nanos().div_ceil(1_000_000) as u64
}

fn ready() -> Seen {
    Seen::Sent(Message::ready("echo", 2, Some(HB)))
}

fn heartbeat() -> Seen {
    Seen::Sent(Message::heartbeat())
}

fn broker_heartbeat() -> Vec<Frame> {
    Message::heartbeat().encode_body()
}

/// A REQUEST as the broker forwards it: the client's route in the header.
fn forwarded(id: CorrelationId) -> Request {
    let mut request = Request::new(id, "echo").timeout(Duration::from_secs(2));
    request.route = vec![b"\0client".to_vec(), Vec::new()];
    request
}

fn request_frames(id: CorrelationId) -> Vec<Frame> {
    Message::request(forwarded(id), vec![Frame::from(&b"work"[..])]).encode_body()
}

fn reply_to(id: CorrelationId) -> Vec<Frame> {
    Message::reply_ok(&forwarded(id), vec![Frame::from(&b"done"[..])]).encode_body()
}

#[test]
fn ready_on_start_carries_service_credits_and_heartbeat() {
    let mut h = Harness::new(&options());
    assert_eq!(h.drain(), [Seen::Connect, ready()]);
    assert_eq!(h.session.stats().sessions, 1);
    assert_eq!(h.session.next_timeout(), Some(h.at(100)));
}

#[test]
fn heartbeat_after_each_idle_interval_and_not_while_replies_flow() {
    let mut h = Harness::new(&options());
    h.drain();
    assert_eq!(h.tick(99), []);
    assert_eq!(h.tick(100), [heartbeat()]);
    h.receive(150, broker_heartbeat()).unwrap();
    assert_eq!(h.session.next_timeout(), Some(h.at(200)));
    // A reply is traffic: the next heartbeat is due an interval after it.
    let id = CorrelationId::new();
    h.receive(160, request_frames(id)).unwrap();
    assert_eq!(h.drain(), [Seen::Delivered(id)]);
    h.session.on_reply(h.at(180), reply_to(id));
    assert!(matches!(&h.drain()[..], [Seen::Sent(m)] if m.kind() == Kind::Reply));
    assert_eq!(h.tick(200), []);
    assert_eq!(h.tick(280), [heartbeat()]);
}

#[test]
fn silent_broker_is_dead_after_liveness_intervals_and_the_worker_reconnects_after_backoff() {
    let mut h = Harness::new(&options());
    h.drain();
    for ms in [100, 200] {
        assert_eq!(h.tick(ms), [heartbeat()]);
    }
    assert_eq!(h.session.next_timeout(), Some(h.at(300)));
    let seen = h.tick(300);
    let [Seen::Reconnect(BrokerLoss::Silent, delay)] = seen[..] else {
        panic!("expected a reconnect, got {seen:?}");
    };
    // First failure: 100 ms, minus up to half of it as jitter.
    assert!(
        (Duration::from_millis(50)..=Duration::from_millis(100)).contains(&delay),
        "{delay:?}"
    );
    let back = h.at(300) + delay;
    assert_eq!(h.session.next_timeout(), Some(back));
    assert_eq!(h.tick_at(back - Duration::from_nanos(1)), []);
    assert_eq!(h.tick_at(back), [Seen::Connect, ready()]);
    let back = after(300, delay);
    assert_eq!(h.session.stats().sessions, 2);

    // Never heard since that READY: the next backoff doubles.
    let seen = h.tick(back + 300);
    let [Seen::Reconnect(BrokerLoss::Silent, second)] = seen[..] else {
        panic!("expected a reconnect, got {seen:?}");
    };
    assert!(
        (Duration::from_millis(100)..=Duration::from_millis(200)).contains(&second),
        "{second:?}"
    );
}

#[test]
fn backoff_starts_over_once_the_broker_has_spoken() {
    let mut h = Harness::new(&options());
    h.drain();
    let mut now = 0;
    // Two silent sessions grow the backoff...
    for _ in 0..2 {
        now += 300;
        let seen = h.tick(now);
        let [Seen::Reconnect(_, delay)] = seen[..] else {
            panic!("{seen:?}");
        };
        now = after(now, delay);
        assert_eq!(h.tick(now), [Seen::Connect, ready()]);
    }
    // ...one the broker answered resets it.
    h.receive(now + 10, broker_heartbeat()).unwrap();
    let seen = h.tick(now + 310);
    let [Seen::Reconnect(_, delay)] = seen[..] else {
        panic!("{seen:?}");
    };
    assert!(delay <= Duration::from_millis(100), "{delay:?}");
}

#[test]
fn the_same_seed_gives_the_same_backoff() {
    let delays = || {
        let mut h = Harness::new(&options());
        h.drain();
        let seen = h.tick(300);
        let [Seen::Reconnect(_, delay)] = seen[..] else {
            panic!("{seen:?}");
        };
        delay
    };
    assert_eq!(delays(), delays());
}

#[test]
fn any_traffic_resets_liveness() {
    let mut h = Harness::new(&options());
    h.drain();
    h.receive(250, broker_heartbeat()).unwrap();
    let id = CorrelationId::new();
    h.receive(500, request_frames(id)).unwrap();
    // Even a message the worker cannot use shows the broker is alive.
    assert!(h.receive(750, vec![Frame::from(&b"garbage"[..])]).is_err());
    let seen = h.tick(1049);
    assert!(
        !seen.iter().any(|s| matches!(s, Seen::Reconnect(..))),
        "{seen:?}"
    );
    assert_eq!(h.session.next_timeout(), Some(h.at(1050)));
    let seen = h.tick(1050);
    assert!(
        matches!(seen.last(), Some(Seen::Reconnect(BrokerLoss::Silent, _))),
        "{seen:?}"
    );
}

#[test]
fn disconnect_from_the_broker_causes_re_registration() {
    let mut h = Harness::new(&options());
    h.drain();
    h.receive(10, broker_heartbeat()).unwrap();
    let reason = Status::unavailable("broker is shutting down");
    h.receive(20, Message::disconnect(Some(reason.clone())).encode_body())
        .unwrap();
    let seen = h.drain();
    let [Seen::Reconnect(BrokerLoss::Disconnected(Some(ref got)), delay)] = seen[..] else {
        panic!("{seen:?}");
    };
    assert_eq!(got, &reason);
    let back = after(20, delay);
    assert_eq!(h.tick(back), [Seen::Connect, ready()]);
    assert_eq!(h.session.stats().sessions, 2);
}

#[test]
fn disconnect_permission_denied_at_ready_is_final() {
    let mut h = Harness::new(&options());
    h.drain();
    let denied = Status::new(
        Code::PermissionDenied,
        "identity orders-svc may not serve echo",
    );
    h.receive(5, Message::disconnect(Some(denied.clone())).encode_body())
        .unwrap();
    assert_eq!(h.drain(), [Seen::Refused(denied)]);
    assert!(h.session.is_closed());
    assert_eq!(h.session.next_timeout(), None, "no reconnect scheduled");
    // Nothing brings it back: no timer, no message, and stop has nothing to do.
    assert_eq!(h.tick(60_000), []);
    h.receive(60_001, broker_heartbeat()).unwrap();
    h.session.stop(h.at(60_002));
    assert_eq!(h.drain(), []);
    assert_eq!(h.session.stats().sessions, 1, "registered once only");
}

#[test]
fn a_revoked_worker_is_refused_mid_session_and_its_work_abandoned() {
    let mut h = Harness::new(&options().credits(1));
    h.drain();
    let (running, queued) = (CorrelationId::new(), CorrelationId::new());
    h.receive(10, request_frames(running)).unwrap();
    h.session.on_reply(h.at(11), reply_to(running));
    h.receive(12, request_frames(running)).unwrap();
    h.receive(12, request_frames(queued)).unwrap();
    h.drain();
    let revoked = Status::new(Code::Unauthenticated, "identity revoked");
    h.receive(20, Message::disconnect(Some(revoked.clone())).encode_body())
        .unwrap();
    assert_eq!(h.drain(), [Seen::Refused(revoked)]);
    // The reply of the request still running has no socket to go to.
    h.session.on_reply(h.at(21), reply_to(running));
    assert_eq!(h.drain(), []);
    let stats = h.session.stats();
    assert_eq!((stats.replies, stats.abandoned), (1, 2));
    assert_eq!(h.tick(60_000), []);
}

#[test]
fn other_disconnect_reasons_still_reconnect() {
    for reason in [
        None,
        Some(Status::unavailable("broker stopping")),
        Some(Status::new(Code::FailedPrecondition, "protocol")),
    ] {
        let mut h = Harness::new(&options());
        h.drain();
        h.receive(10, Message::disconnect(reason.clone()).encode_body())
            .unwrap();
        let seen = h.drain();
        let [Seen::Reconnect(BrokerLoss::Disconnected(ref got), _)] = seen[..] else {
            panic!("{reason:?}: {seen:?}");
        };
        assert_eq!(got, &reason);
        assert!(!h.session.is_closed());
    }
}

#[test]
fn never_more_requests_delivered_than_credits_and_a_reply_returns_one() {
    let mut h = Harness::new(&options().credits(2));
    h.drain();
    let ids: Vec<CorrelationId> = (0..3).map(|_| CorrelationId::new()).collect();
    for &id in &ids {
        h.receive(10, request_frames(id)).unwrap();
    }
    assert_eq!(
        h.drain(),
        [Seen::Delivered(ids[0]), Seen::Delivered(ids[1])]
    );
    assert_eq!(h.session.held(), 2);
    h.session.on_reply(h.at(20), reply_to(ids[0]));
    let seen = h.drain();
    assert!(
        matches!(&seen[..], [Seen::Sent(m), Seen::Delivered(id)]
        if m.correlation_id() == Some(ids[0]) && *id == ids[2]),
        "{seen:?}"
    );
    assert_eq!(h.session.held(), 2);
    h.session.on_reply(h.at(30), reply_to(ids[1]));
    h.session.on_reply(h.at(30), reply_to(ids[2]));
    assert_eq!(h.session.held(), 0);
    assert_eq!(h.session.stats().replies, 3);
    assert_eq!(h.session.stats().requests, 3);
}

#[test]
fn requests_beyond_credits_and_waiting_room_are_answered_resource_exhausted() {
    let mut h = Harness::new(&options().credits(1));
    h.drain();
    let (first, second, third) = (
        CorrelationId::new(),
        CorrelationId::new(),
        CorrelationId::new(),
    );
    h.receive(10, request_frames(first)).unwrap();
    h.receive(10, request_frames(second)).unwrap();
    let err = h.receive(10, request_frames(third)).unwrap_err();
    assert_eq!(
        err,
        BrokerMessageError::OverCredit {
            id: third,
            credits: 1
        }
    );
    let seen = h.drain();
    let [Seen::Delivered(got), Seen::Sent(ref reply)] = seen[..] else {
        panic!("{seen:?}");
    };
    assert_eq!(got, first);
    let Command::Reply(ref reply) = reply.command else {
        panic!("{reply:?}");
    };
    assert_eq!(
        (reply.id, reply.status.code),
        (third, Code::ResourceExhausted)
    );
    assert_eq!(reply.route, forwarded(third).route);
    assert_eq!(h.session.stats().rejected, 1);
}

#[test]
fn requests_still_running_from_a_lost_session_hold_their_credits() {
    let mut h = Harness::new(&options().credits(1));
    h.drain();
    let old = CorrelationId::new();
    h.receive(10, request_frames(old)).unwrap();
    h.receive(20, Message::disconnect(None).encode_body())
        .unwrap();
    let seen = h.drain();
    let [Seen::Delivered(_), Seen::Reconnect(_, delay)] = seen[..] else {
        panic!("{seen:?}");
    };
    let back = after(20, delay);
    h.tick(back);
    // The new registration gets a request while the old one still runs.
    let new = CorrelationId::new();
    h.receive(back + 1, request_frames(new)).unwrap();
    assert_eq!(h.drain(), []);
    h.session.on_reply(h.at(back + 2), reply_to(old));
    let seen = h.drain();
    assert!(
        matches!(&seen[..], [Seen::Sent(_), Seen::Delivered(id)] if *id == new),
        "{seen:?}"
    );
}

#[test]
fn a_reply_while_reconnecting_is_abandoned_and_waiting_requests_are_dropped() {
    let mut h = Harness::new(&options().credits(1));
    h.drain();
    let (running, queued) = (CorrelationId::new(), CorrelationId::new());
    h.receive(10, request_frames(running)).unwrap();
    h.session.on_reply(h.at(11), reply_to(running));
    h.receive(12, request_frames(running)).unwrap();
    h.receive(12, request_frames(queued)).unwrap();
    h.drain();
    h.tick(312); // silent broker: lost, with `queued` still waiting
    h.session.on_reply(h.at(313), reply_to(running));
    assert_eq!(h.drain(), []);
    let stats = h.session.stats();
    assert_eq!((stats.replies, stats.abandoned), (1, 2));
    assert_eq!(h.session.held(), 0);
}

#[test]
fn the_delivery_deadline_is_the_requests_budget_from_receipt() {
    let mut h = Harness::new(&options());
    h.drain();
    h.receive(10, request_frames(CorrelationId::new())).unwrap();
    let no_budget = Request::new(CorrelationId::new(), "echo");
    h.receive(20, Message::request(no_budget, Vec::new()).encode_body())
        .unwrap();
    let deliveries = h.deliveries();
    assert_eq!(deliveries[0].deadline, h.at(10) + Duration::from_secs(2));
    assert_eq!(deliveries[0].payload.len(), 1);
    assert_eq!(deliveries[1].deadline, h.at(20) + Duration::from_secs(30));
}

#[test]
fn garbage_and_unexpected_commands_are_counted_and_dropped() {
    let mut h = Harness::new(&options());
    h.drain();
    let err = h
        .receive(10, vec![Frame::from(&b"garbage"[..])])
        .unwrap_err();
    assert!(matches!(err, BrokerMessageError::Undecodable(_)), "{err:?}");
    assert!(h.receive(10, Vec::new()).is_err(), "no frames at all");
    let reply = Message::reply_ok(&forwarded(CorrelationId::new()), Vec::new());
    assert_eq!(
        h.receive(10, reply.encode_body()),
        Err(BrokerMessageError::Unexpected(Kind::Reply))
    );
    assert_eq!(h.drain(), []);
    assert_eq!(h.session.stats().malformed, 3);
    assert_eq!(h.session.stats().requests, 0);
}

/// Asserts that `frames` is answered `INVALID_ARGUMENT` for `id` on its
/// route, without being delivered.
fn assert_rejected(h: &mut Harness, id: CorrelationId, frames: Vec<Frame>) {
    let before = h.session.stats();
    let err = h.receive(10, frames).unwrap_err();
    assert!(
        matches!(err, BrokerMessageError::Rejected { id: got, .. } if got == id),
        "{err:?}"
    );
    let seen = h.drain();
    let [Seen::Sent(ref message)] = seen[..] else {
        panic!("{seen:?}");
    };
    let Command::Reply(ref reply) = message.command else {
        panic!("{message:?}");
    };
    assert_eq!(reply.id, id);
    assert_eq!(reply.status.code, Code::InvalidArgument);
    assert_eq!(reply.route, forwarded(id).route);
    let after = h.session.stats();
    assert_eq!(after.rejected, before.rejected + 1);
    assert_eq!(after.malformed, before.malformed + 1);
    assert_eq!(h.session.held(), 0, "no credit taken");
}

#[test]
fn an_oversized_request_with_a_readable_id_is_answered_invalid_argument() {
    let limits = Limits {
        max_payload_bytes: 8,
        max_payload_frames: 2,
        max_header_bytes: 200,
    };
    let mut h = Harness::new(&options().limits(limits));
    h.drain();
    let id = CorrelationId::new();
    let big = Message::request(forwarded(id), vec![Frame::from(&[0u8; 9][..])]);
    assert_rejected(&mut h, id, big.encode_body());
    let id = CorrelationId::new();
    let many = Message::request(
        forwarded(id),
        vec![Frame::new(), Frame::new(), Frame::new()],
    );
    assert_rejected(&mut h, id, many.encode_body());
    let id = CorrelationId::new();
    let header = forwarded(id).with_metadata("padding", "x".repeat(300));
    assert_rejected(
        &mut h,
        id,
        Message::request(header, Vec::new()).encode_body(),
    );
    assert_eq!(h.session.stats().requests, 0);
}

#[test]
fn a_request_with_an_invalid_field_but_a_readable_id_is_answered_invalid_argument() {
    let mut h = Harness::new(&options());
    h.drain();
    let id = CorrelationId::new();
    let mut frames = Message::request(forwarded(id), Vec::new()).encode_body();
    // Field 3 (service) again, as bytes that are not UTF-8: the last value
    // of a field wins, so the header no longer decodes.
    let mut header = frames[0].to_vec();
    header.extend_from_slice(&[0x1a, 2, 0xff, 0xfe]);
    frames[0] = Frame::from(&header[..]);
    assert_rejected(&mut h, id, frames);
}

#[test]
fn an_unreadable_request_is_counted_and_dropped() {
    let mut h = Harness::new(&options());
    h.drain();
    // A REQUEST whose correlation id is 3 bytes long: `kind` = 1, id = "abc".
    let mut header = PROTOCOL_TAG.to_vec();
    header.extend_from_slice(&[0x08, 1, 0x12, 3, b'a', b'b', b'c']);
    let err = h.receive(10, vec![Frame::from(&header[..])]).unwrap_err();
    assert!(
        matches!(
            err,
            BrokerMessageError::Undecodable(DecodeError::InvalidCorrelationId(_))
        ),
        "{err:?}"
    );
    // A truncated protobuf header.
    let mut cut = request_frames(CorrelationId::new());
    let bytes = cut[0].to_vec();
    cut[0] = Frame::from(&bytes[..bytes.len() - 3]);
    assert!(matches!(
        h.receive(10, cut),
        Err(BrokerMessageError::Undecodable(_))
    ));
    assert_eq!(h.drain(), []);
    let stats = h.session.stats();
    assert_eq!((stats.malformed, stats.rejected), (2, 0));
}

#[test]
fn stop_sends_disconnect_then_closes_with_a_bounded_linger() {
    let mut h = Harness::new(&options());
    h.drain();
    h.session.stop(h.at(10));
    let seen = h.drain();
    let [Seen::Sent(ref bye), Seen::Closed(linger)] = seen[..] else {
        panic!("{seen:?}");
    };
    let Command::Disconnect(ref d) = bye.command else {
        panic!("{bye:?}");
    };
    assert_eq!(d.reason.as_ref().map(|s| s.code), Some(Code::Unavailable));
    assert_eq!(linger, HB, "the heartbeat interval, below the 1 s cap");
    assert!(h.session.is_closed());
    assert_eq!(h.session.next_timeout(), None);
    // Closed for good: nothing more happens.
    h.session.stop(h.at(20));
    h.receive(20, request_frames(CorrelationId::new())).unwrap();
    assert_eq!(h.tick(10_000), []);

    let slow = WorkerOptions::default().heartbeat(Duration::from_secs(5));
    assert_eq!(Harness::new(&slow).session.stop_linger(), MAX_STOP_LINGER);
}

#[test]
fn stop_while_reconnecting_closes_without_a_message() {
    let mut h = Harness::new(&options());
    h.drain();
    h.tick(300);
    h.drain();
    h.session.stop(h.at(301));
    assert_eq!(h.drain(), [Seen::Closed(Duration::ZERO)]);
}
