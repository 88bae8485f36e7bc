//! # reqrep-core
//!
//! The wire protocol of reqrep, with no sockets in its protocol logic:
//! protobuf envelopes carrying correlation ids, deadlines and status codes,
//! multipart framing with a typed error for every way input can be wrong,
//! and the retry policy clients follow.
//!
//! Every reqrep message, after any routing frames, is
//!
//! ```text
//! [""]             empty delimiter: sent by clients (REQ-compatible), not by workers
//! ["RQ1" Header]   protocol tag and version, then protobuf reqrep.v1.Header
//! [payload]*       opaque frames, never decoded by the broker
//! ```
//!
//! ```
//! use std::time::Duration;
//! use reqrep_core::{CorrelationId, Limits, Message, Request};
//!
//! let id = CorrelationId::new();
//! let request = Request::new(id, "echo").timeout(Duration::from_millis(2500));
//! let frames = Message::request(request, vec![b"hello".to_vec().into()]).encode();
//!
//! // A ROUTER would see its routing frames first; here only the delimiter
//! // precedes the header, and it is kept as the route to answer on.
//! let decoded = reqrep_core::decode(frames, &Limits::default()).unwrap();
//! assert_eq!(decoded.route.len(), 1);
//! assert_eq!(decoded.message.correlation_id(), Some(id));
//! assert_eq!(&decoded.message.payload[0][..], b"hello");
//! ```
//!
//! ## Layout
//! - [`pb`]: the types generated from `proto/reqrep/v1`.
//! - `id`: [`CorrelationId`], a UUID v7.
//! - `status`: [`Code`] and [`Status`].
//! - `deadline`: [`Deadline`], relative budget <-> absolute instant.
//! - `retry`: [`RetryPolicy`], jittered exponential backoff bounded by attempts and deadline.
//! - `message`: the message model ([`Message`], [`Command`] and one struct per command).
//! - `frame`: multipart encoding and decoding ([`decode`], [`decode_body`], [`DecodeError`], [`Limits`]).
//! - [`socket`]: the thin socket helper layer shared by broker and agents
//!   (endpoint validation, socket options, CURVE support detection).
//! - [`curve`]: CURVE security: Z85 keys, key pairs, server and client roles.
//! - [`stop`]: [`StopToken`], the one stop signal of broker, agents and CLI,
//!   with its future, hooks and [`StopSocket`] for `zmq::poll` loops.

pub mod curve;
mod deadline;
mod forward;
mod frame;
mod id;
mod message;
pub mod pb;
mod retry;
pub mod scan;
pub mod socket;
mod status;
pub mod stop;

pub use deadline::Deadline;
pub use forward::{RequestHeader, ok_reply_header};
pub use frame::{
    DecodeError, Decoded, Limits, MAX_ROUTE_FRAMES, PROTOCOL_TAG, Part, decode, decode_body,
    header_index,
};
pub use id::{CorrelationId, InvalidCorrelationId};
pub use message::{Command, Disconnect, Kind, Message, Metadata, Ready, Reply, Request};
pub use retry::RetryPolicy;
pub use status::{Code, Status};
pub use stop::{StopHook, StopSocket, StopToken, Stopped};

/// Name of the broker's built-in discovery service (docs/PROTOCOL.md §7).
pub const DISCOVERY_SERVICE: &str = "reqrep.services";
/// Service names with this prefix are reserved for the broker.
pub const RESERVED_PREFIX: &str = "reqrep.";

/// A single ZeroMQ message frame. Payload frames travel as this type end to
/// end, so the broker forwards them without copying.
pub type Frame = zmq::Message;
