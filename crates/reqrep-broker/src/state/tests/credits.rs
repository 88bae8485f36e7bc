//! PROTOCOL.md section 6.2 rule 6: a registered worker's READY again for its
//! own service changes its credits, on the fake clock.

use super::*;

/// The READY echoes the broker sent to `worker` in `out`, as credit counts.
fn echoes(out: &[Out], worker: &[u8]) -> Vec<u32> {
    out.iter()
        .filter_map(|o| match o {
            Out::Worker(w, m) if w == worker => match &m.command {
                Command::Ready(r) => Some(r.credits),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

#[test]
fn raising_credits_dispatches_queued_requests_at_once_and_is_echoed() {
    let mut h = Harness::new();
    h.ready(b"w1", "echo", 1);
    let mut sent = Vec::new();
    for _ in 0..4 {
        sent.extend(dispatched(&h.request(b"c1", req("echo", 5000), b"x")));
    }
    assert_eq!(sent.len(), 1, "one credit, one request dispatched");
    let out = h.ready(b"w1", "echo", 3);
    assert_eq!(echoes(&out, b"w1"), [3]);
    assert_eq!(
        dispatched(&out).len(),
        2,
        "two more credits, two more requests"
    );
    assert!(disconnects(&out).is_empty());
    assert_eq!(h.state.worker_count(), 1);
    assert_eq!(h.state.stats().malformed_worker, 0);
}

#[test]
fn lowering_credits_keeps_dispatched_requests_and_holds_new_ones_until_below() {
    let mut h = Harness::new();
    h.ready(b"w1", "echo", 3);
    let mut sent = Vec::new();
    for _ in 0..5 {
        sent.extend(dispatched(&h.request(b"c1", req("echo", 5000), b"x")));
    }
    assert_eq!(sent.len(), 3);
    let out = h.ready(b"w1", "echo", 1);
    assert_eq!(echoes(&out, b"w1"), [1]);
    assert!(dispatched(&out).is_empty());
    // Three dispatched, one credit: the first two replies free nothing.
    for (_, request, _) in &sent[..2] {
        let out = h.answer(b"w1", request, b"ok");
        assert_eq!(replies(&out).len(), 1, "the reply is forwarded");
        assert!(dispatched(&out).is_empty(), "still at or above its credits");
    }
    let out = h.answer(b"w1", &sent[2].1, b"ok");
    assert_eq!(replies(&out).len(), 1);
    let next = dispatched(&out);
    assert_eq!(next.len(), 1, "below its credits: the queue's head goes");
    // And never more than one at once from now on.
    assert!(dispatched(&h.request(b"c1", req("echo", 5000), b"x")).is_empty());
    let out = h.answer(b"w1", &next[0].1, b"ok");
    assert_eq!(dispatched(&out).len(), 1);
}

#[test]
fn lowering_to_the_number_held_leaves_the_worker_unavailable_to_others_first() {
    let mut h = Harness::new();
    h.ready(b"w1", "echo", 4);
    h.ready(b"w2", "echo", 4);
    let first = dispatched(&h.request(b"c1", req("echo", 5000), b"x"));
    assert_eq!(first.len(), 1);
    let busy = first[0].0.clone();
    let other: &[u8] = if busy == b"w1" { b"w2" } else { b"w1" };
    // The busy worker drops to one credit, which its request holds.
    h.ready(&busy, "echo", 1);
    for _ in 0..4 {
        let out = h.request(b"c1", req("echo", 5000), b"x");
        let to: Vec<_> = dispatched(&out).into_iter().map(|(w, _, _)| w).collect();
        assert_eq!(to, [other.to_vec()], "only the other worker has credits");
    }
}

#[test]
fn a_ready_for_another_service_from_a_registered_worker_is_a_violation() {
    let mut h = Harness::new();
    h.ready(b"w1", "echo", 2);
    let out = h.ready(b"w1", "other", 2);
    assert_eq!(disconnects(&out), [b"w1".to_vec()]);
    assert!(echoes(&out, b"w1").is_empty());
    assert_eq!(h.state.worker_count(), 0);
    assert_eq!(h.state.stats().malformed_worker, 1);
}

#[test]
fn credits_change_keeps_the_worker_alive_and_zero_reads_as_one() {
    let mut h = Harness::new();
    h.ready(b"w1", "echo", 2);
    h.at(900);
    let out = h.worker_msg(
        b"w1",
        Message::ready("echo", 0, Some(Duration::from_millis(1000))),
    );
    assert_eq!(echoes(&out, b"w1"), [1], "0 reads as 1");
    // READY counts as traffic: not expired at 1000 + liveness from t=0.
    let out = h.tick(3500);
    assert!(disconnects(&out).is_empty());
    assert_eq!(h.state.worker_count(), 1);
}
