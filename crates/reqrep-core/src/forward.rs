//! The headers of the hot path, written straight into their frames from
//! borrowed parts: the REQUEST a client sends and a broker forwards, the OK
//! REPLY a worker sends. The bytes are those [`Message::encode_body`] gives
//! for the same [`Request`] or reply, without building one (no owned
//! service name, no route copied into vectors, no intermediate protobuf
//! message).
//!
//! [`Message::encode_body`]: crate::Message::encode_body
//! [`Request`]: crate::Request

use std::time::Duration;

use prost::bytes::BufMut;
use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint};

use crate::frame::PROTOCOL_TAG;
use crate::message::duration_to_wire_ms;
use crate::scan::field;
use crate::{CorrelationId, Frame};

/// `kind` of a REQUEST.
const KIND_REQUEST: u64 = 1;
/// `kind` of a REPLY.
const KIND_REPLY: u64 = 2;

/// A REQUEST header without metadata, by its parts.
#[derive(Debug, Clone)]
pub struct RequestHeader<'a, R> {
    /// `correlation_id`.
    pub id: &'a CorrelationId,
    /// `service`.
    pub service: &'a str,
    /// The budget left, sent as `timeout_ms` (rounded up to a millisecond).
    pub timeout: Duration,
    /// `attempt` (1 is sent as absent, as the encoder does).
    pub attempt: u32,
    /// `idempotent`.
    pub idempotent: bool,
    /// `fail_fast`.
    pub fail_fast: bool,
    /// The client's route, one `route` entry per frame (none from a
    /// client, the client's as received from a broker).
    pub route: R,
}

impl<'a, 'r, R> RequestHeader<'a, R>
where
    R: Iterator<Item = &'r [u8]> + Clone,
{
    /// The header frame: [`PROTOCOL_TAG`] and the protobuf header, fields in
    /// field-number order, defaults omitted.
    pub fn encode(self) -> Frame {
        let timeout_ms = u64::from(duration_to_wire_ms(self.timeout));
        let attempt = u64::from(if self.attempt > 1 { self.attempt } else { 0 });
        let len = PROTOCOL_TAG.len()
            + varint_len(KIND_REQUEST)
            + bytes_len(CorrelationId::LEN)
            + if self.service.is_empty() {
                0
            } else {
                bytes_len(self.service.len())
            }
            + varint_len(timeout_ms)
            + varint_len(attempt)
            + varint_len(u64::from(self.idempotent))
            + varint_len(u64::from(self.fail_fast))
            + self
                .route
                .clone()
                .map(|r| bytes_len(r.len()))
                .sum::<usize>();
        let mut frame = Frame::with_size(len);
        let mut buf: &mut [u8] = &mut frame;
        buf.put_slice(PROTOCOL_TAG);
        put_varint(&mut buf, field::KIND, KIND_REQUEST);
        put_bytes(&mut buf, field::CORRELATION_ID, self.id.as_bytes());
        if !self.service.is_empty() {
            put_bytes(&mut buf, field::SERVICE, self.service.as_bytes());
        }
        put_varint(&mut buf, field::TIMEOUT_MS, timeout_ms);
        put_varint(&mut buf, field::ATTEMPT, attempt);
        put_varint(&mut buf, field::IDEMPOTENT, u64::from(self.idempotent));
        put_varint(&mut buf, field::FAIL_FAST, u64::from(self.fail_fast));
        for r in self.route {
            put_bytes(&mut buf, field::ROUTE, r);
        }
        debug_assert!(buf.is_empty());
        frame
    }
}

/// The header frame of an OK REPLY to `request` with no metadata: the
/// bytes `Message::reply_ok(request, ..)` encodes to, without copying the
/// request's route into the reply first.
pub fn ok_reply_header(request: &crate::Request) -> Frame {
    let len = PROTOCOL_TAG.len()
        + varint_len(KIND_REPLY)
        + bytes_len(CorrelationId::LEN)
        + request
            .route
            .iter()
            .map(|r| bytes_len(r.len()))
            .sum::<usize>();
    let mut frame = Frame::with_size(len);
    let mut buf: &mut [u8] = &mut frame;
    buf.put_slice(PROTOCOL_TAG);
    put_varint(&mut buf, field::KIND, KIND_REPLY);
    put_bytes(&mut buf, field::CORRELATION_ID, request.id.as_bytes());
    for r in &request.route {
        put_bytes(&mut buf, field::ROUTE, r);
    }
    debug_assert!(buf.is_empty());
    frame
}

/// Encoded size of a varint field; 0 for the default, which is omitted.
fn varint_len(value: u64) -> usize {
    if value == 0 {
        0
    } else {
        1 + encoded_len_varint(value)
    }
}

/// Encoded size of a length-delimited field of `len` bytes (always sent:
/// callers skip empty strings, and route entries are sent even when empty).
fn bytes_len(len: usize) -> usize {
    1 + encoded_len_varint(len as u64) + len
}

fn put_varint(buf: &mut &mut [u8], tag: u32, value: u64) {
    if value != 0 {
        encode_key(tag, WireType::Varint, buf);
        encode_varint(value, buf);
    }
}

fn put_bytes(buf: &mut &mut [u8], tag: u32, value: &[u8]) {
    encode_key(tag, WireType::LengthDelimited, buf);
    encode_varint(value.len() as u64, buf);
    buf.put_slice(value);
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::{Message, Request};

    proptest! {
        /// Byte for byte what the encoder writes for the same request.
        #[test]
        fn the_same_bytes_as_the_encoder(
            service in "[a-z.]{0,20}",
            timeout_us in 1u64..10_000_000_000,
            attempt in 0u32..300,
            idempotent in any::<bool>(),
            fail_fast in any::<bool>(),
            route in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..4),
        ) {
            let id = CorrelationId::new();
            let timeout = Duration::from_micros(timeout_us);
            let typed = Request {
                timeout: Some(timeout),
                attempt,
                idempotent,
                fail_fast,
                route: route.clone(),
                ..Request::new(id, service.clone())
            };
            let expected = Message::request(typed, vec![]).encode_body().remove(0);
            let got = RequestHeader {
                id: &id,
                service: &service,
                timeout,
                attempt,
                idempotent,
                fail_fast,
                route: route.iter().map(Vec::as_slice),
            }
            .encode();
            prop_assert_eq!(&got[..], &expected[..]);
        }

        /// Byte for byte what the encoder writes for `reply_ok`.
        #[test]
        fn an_ok_reply_is_the_encoders(
            route in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..4),
        ) {
            let request = Request {
                route,
                ..Request::new(CorrelationId::new(), "echo")
            };
            let expected = Message::reply_ok(&request, vec![]).encode_body().remove(0);
            prop_assert_eq!(&ok_reply_header(&request)[..], &expected[..]);
        }
    }
}
