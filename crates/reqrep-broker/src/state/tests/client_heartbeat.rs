//! The client liveness check (PROTOCOL.md, "Several brokers"): a HEARTBEAT
//! on the frontend is answered with a HEARTBEAT at once, to that client
//! only, and changes nothing else.

use super::*;

#[test]
fn client_heartbeat_is_answered_at_once_with_a_heartbeat() {
    let mut h = Harness::new();
    h.ready(b"w1", "echo", 1);
    h.at(250);
    let out = h.client_frames(b"c1", Message::heartbeat().encode());
    assert!(
        matches!(&out[..], [Out::Client(c, m)] if c == b"c1" && m.command == Command::Heartbeat),
        "one HEARTBEAT back to the sender: {out:?}"
    );
    assert_eq!(h.state.stats().malformed_client, 0, "not malformed");
    assert_eq!(h.state.stats().requests, 0, "not a request");
    assert_eq!(h.state.pending(), 0);
    // Requests go on as before.
    assert_eq!(
        dispatched(&h.request(b"c1", req("echo", 100), b"x")).len(),
        1
    );
}

#[test]
fn client_heartbeat_is_answered_while_draining_and_with_no_services() {
    let mut h = Harness::new();
    h.state.begin_drain(h.now);
    h.drain();
    let out = h.client_frames(b"c2", Message::heartbeat().encode());
    assert!(
        matches!(&out[..], [Out::Client(c, m)] if c == b"c2" && m.command == Command::Heartbeat),
        "{out:?}"
    );
}
