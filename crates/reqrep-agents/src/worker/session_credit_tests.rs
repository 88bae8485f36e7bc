//! A session's credits changed with READY updates, and the broker's echo.

use std::time::{Duration, Instant};

use reqrep_core::{Command, CorrelationId, Frame, Limits, Message, Request, decode_body};

use super::*;

const HB: Duration = Duration::from_secs(1);

/// The READY credit counts among the session's actions (other actions
/// dropped), and the confirmations.
fn drain(session: &mut WorkerSession) -> (Vec<u32>, Vec<u32>, usize) {
    let (mut readies, mut confirmed, mut delivered) = (Vec::new(), Vec::new(), 0);
    while let Some(action) = session.poll_action() {
        match action {
            WorkerAction::Send(out) => {
                let message = decode_body(out.frames, &Limits::default()).expect("decodes");
                if let Command::Ready(r) = message.command {
                    readies.push(r.credits);
                }
            }
            WorkerAction::CreditsConfirmed { credits } => confirmed.push(credits),
            WorkerAction::Deliver(_) => delivered += 1,
            _ => {}
        }
    }
    (readies, confirmed, delivered)
}

fn request() -> Vec<Frame> {
    let request = Request::new(CorrelationId::new(), "echo").timeout(Duration::from_secs(5));
    Message::request(request, vec![Frame::from("x")]).encode_body()
}

#[test]
fn set_credits_sends_ready_again_when_connected_and_waits_for_the_next_one_otherwise() {
    let t0 = Instant::now();
    let options = WorkerOptions::default().credits(2).heartbeat(HB);
    let mut s = WorkerSession::new("echo", &options, 1, t0).expect_credit_echoes();
    assert_eq!(drain(&mut s).0, [2]);
    s.set_credits(5);
    assert_eq!(drain(&mut s).0, [5], "READY again with the new count");
    // Lost (silent): the next connection announces the count set meanwhile.
    s.on_tick(t0 + HB * 3);
    let _ = drain(&mut s);
    assert!(s.is_backing_off());
    s.set_credits(1);
    assert!(drain(&mut s).0.is_empty(), "nothing sent without a socket");
    s.on_tick(t0 + HB * 20);
    assert_eq!(drain(&mut s).0, [1]);
}

#[test]
fn a_budgeted_session_reports_echoes_and_delivers_beyond_its_credits() {
    let t0 = Instant::now();
    let options = WorkerOptions::default().credits(1).heartbeat(HB);
    let mut s = WorkerSession::new("echo", &options, 1, t0).expect_credit_echoes();
    let _ = drain(&mut s);
    assert!(!s.has_heard());
    let echo = Message::ready("echo", 1, Some(HB)).encode_body();
    s.on_message(t0, echo).expect("an echo is expected");
    assert!(s.has_heard());
    assert_eq!(drain(&mut s).1, [1]);
    // Requests dispatched under a higher count before a lowering arrive
    // after it: delivered, not kept waiting (the budget bounds them).
    for _ in 0..3 {
        s.on_message(t0, request()).expect("a request");
    }
    assert_eq!(drain(&mut s).2, 3);
}

#[test]
fn a_single_session_still_counts_a_ready_from_the_broker_as_unexpected() {
    let t0 = Instant::now();
    let options = WorkerOptions::default().credits(1).heartbeat(HB);
    let mut s = WorkerSession::new("echo", &options, 1, t0);
    let _ = drain(&mut s);
    let echo = Message::ready("echo", 1, Some(HB)).encode_body();
    assert!(s.on_message(t0, echo).is_err());
    assert_eq!(s.stats().malformed, 1);
    assert!(drain(&mut s).1.is_empty());
    // And keeps requests beyond its credits waiting, as before.
    for _ in 0..2 {
        s.on_message(t0, request()).expect("a request");
    }
    assert_eq!(drain(&mut s).2, 1);
}
