//! Messages from the broker that a worker cannot use: the typed
//! [`BrokerMessageError`], and the rescue of a REQUEST that fails to decode
//! but whose correlation id and route can still be read, so it can be
//! answered instead of leaving the broker's credit and the client's wait
//! hanging until the deadline.

use prost::Message as _;
use reqrep_core::{CorrelationId, DecodeError, Frame, Kind, Message, PROTOCOL_TAG, Reply, Status};

/// A message from the broker that the session could not use. Every one is
/// counted in [`WorkerStats::malformed`](super::WorkerStats::malformed) and
/// logged; none stops the session.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerMessageError {
    /// Not decodable, and not a REQUEST whose correlation id could be read:
    /// dropped.
    #[error("undecodable message from the broker: {0}")]
    Undecodable(DecodeError),
    /// A REQUEST the worker cannot process (too large, too many frames, an
    /// invalid field): answered `INVALID_ARGUMENT` without running it.
    #[error("request {id} rejected: {cause}")]
    Rejected {
        /// The request's correlation id.
        id: CorrelationId,
        /// Why it could not be processed.
        cause: DecodeError,
    },
    /// A REQUEST beyond the credits announced, while as many already wait
    /// for a credit: answered `RESOURCE_EXHAUSTED` without running it.
    #[error("request {id} beyond the worker's {credits} credits")]
    OverCredit {
        /// The request's correlation id.
        id: CorrelationId,
        /// The credits announced in READY.
        credits: u32,
    },
    /// A well-formed command a broker never sends to a worker (READY,
    /// REPLY): dropped.
    #[error("unexpected {0} from the broker")]
    Unexpected(Kind),
}

/// The part of a header needed to answer a REQUEST. Decoding into it skips
/// every other field, so a header whose other fields are invalid (a string
/// that is not UTF-8, say) or too large still yields them.
#[derive(Clone, PartialEq, prost::Message)]
struct ReplyKey {
    /// `Header.kind`.
    #[prost(int32, tag = "1")]
    kind: i32,
    /// `Header.correlation_id`.
    #[prost(bytes = "vec", tag = "2")]
    correlation_id: Vec<u8>,
    /// `Header.route`.
    #[prost(bytes = "vec", repeated, tag = "12")]
    route: Vec<Vec<u8>>,
}

/// The `INVALID_ARGUMENT` reply to the REQUEST whose header frame is
/// `header` and that failed to decode with `cause`, or `None` when `header`
/// is not a REQUEST with a readable correlation id.
pub(super) fn rejection(header: &[u8], cause: &DecodeError) -> Option<(CorrelationId, Vec<Frame>)> {
    let key = ReplyKey::decode(header.strip_prefix(PROTOCOL_TAG)?).ok()?;
    if key.kind != reqrep_core::pb::Kind::Request as i32 {
        return None;
    }
    let id = CorrelationId::from_slice(&key.correlation_id).ok()?;
    let status =
        Status::invalid_argument(format!("the worker cannot process the request: {cause}"));
    let reply = Reply {
        route: key.route,
        ..Reply::new(id, status)
    };
    Some((id, Message::reply(reply, Vec::new()).encode_body()))
}
