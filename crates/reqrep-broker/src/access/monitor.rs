//! Failed handshakes seen by a socket monitor.
//!
//! A peer that fails the CURVE handshake before ZAP is asked (a plaintext
//! peer on a CURVE socket, a peer that trusts another server key, garbage
//! on the port) never reaches the ZAP handler. libzmq reports it to a
//! socket monitor (`zmq_socket_monitor`) as `HANDSHAKE_FAILED_PROTOCOL` or
//! `HANDSHAKE_FAILED_NO_DETAIL`; the driver counts those as
//! [`AuthFailure::Handshake`]. `HANDSHAKE_FAILED_AUTH` (a ZAP refusal) is
//! not counted here: the ZAP handler counted it with its reason.
//!
//! A monitor event is two frames: 6 bytes (the event as a native-endian
//! `u16`, then a `u32` value), and the endpoint.

use super::AuthFailure;

/// The events the driver asks the monitor for.
pub fn events() -> i32 {
    i32::from(zmq::SocketEvent::HANDSHAKE_FAILED_NO_DETAIL.to_raw())
        | i32::from(zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL.to_raw())
}

/// The event number in a monitor message's first frame.
pub fn event_of(first: &[u8]) -> Option<u16> {
    let bytes: [u8; 2] = first.get(..2)?.try_into().ok()?;
    (first.len() == 6).then(|| u16::from_ne_bytes(bytes))
}

/// The refusal a monitor message's first frame reports, if it is one.
pub fn failure_of(first: &[u8]) -> Option<AuthFailure> {
    let event = event_of(first)?;
    let counted = [
        zmq::SocketEvent::HANDSHAKE_FAILED_NO_DETAIL,
        zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL,
    ];
    counted
        .iter()
        .any(|e| e.to_raw() == event)
        .then_some(AuthFailure::Handshake)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(event: zmq::SocketEvent, value: u32) -> Vec<u8> {
        let mut frame = event.to_raw().to_ne_bytes().to_vec();
        frame.extend(value.to_ne_bytes());
        frame
    }

    #[test]
    fn protocol_and_undetailed_handshake_failures_count_and_nothing_else() {
        use zmq::SocketEvent as E;
        for counted in [E::HANDSHAKE_FAILED_PROTOCOL, E::HANDSHAKE_FAILED_NO_DETAIL] {
            assert_eq!(failure_of(&frame(counted, 7)), Some(AuthFailure::Handshake));
            assert_ne!(events() & i32::from(counted.to_raw()), 0);
        }
        for other in [E::HANDSHAKE_FAILED_AUTH, E::ACCEPTED, E::DISCONNECTED] {
            assert_eq!(failure_of(&frame(other, 0)), None, "{other:?}");
        }
        assert_eq!(event_of(b"xx"), None, "a frame of the wrong size");
        assert_eq!(failure_of(b""), None);
    }
}
