//! Multipart framing: [`Message`] <-> ZeroMQ frames.
//!
//! Decoding takes ownership of the received frames and moves the payload
//! frames into the [`Message`]: payload bytes are never copied. Every way
//! input can be wrong is a [`DecodeError`] variant; decoding never panics.

use std::time::Duration;

use prost::Message as _;

use crate::message::{Disconnect, Ready, Reply, Request};
use crate::{Code, Command, CorrelationId, Frame, Kind, Message, Status, pb};

/// The protocol tag and version: the first bytes of every header frame.
pub const PROTOCOL_TAG: &[u8] = b"RQ1";

/// The most routing frames accepted before the empty delimiter or, when
/// there is none, before the header frame (whichever comes first must be
/// among the first `MAX_ROUTE_FRAMES + 1` frames).
pub const MAX_ROUTE_FRAMES: usize = 8;

/// Size limits applied while decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most payload frames in one message. Default: 64.
    pub max_payload_frames: usize,
    /// Most payload bytes in one message, over all frames. Default: 16 MiB.
    pub max_payload_bytes: usize,
    /// Largest header frame. Default: 64 KiB.
    pub max_header_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_payload_frames: 64,
            max_payload_bytes: 16 * 1024 * 1024,
            max_header_bytes: 64 * 1024,
        }
    }
}

/// A decoded message and the routing frames that preceded it.
#[derive(Debug, PartialEq)]
pub struct Decoded {
    /// Every frame before the header, verbatim: a ROUTER's peer identity and,
    /// when the peer sent one, the empty delimiter (REQ sockets always do).
    /// Sending a reply with [`Message::encode_routed`] on this route gives
    /// the peer the envelope it expects.
    pub route: Vec<Frame>,
    /// The message.
    pub message: Message,
}

/// Which part of a message was missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Part {
    /// The header frame (`RQ1` tag and protobuf header).
    Header,
}

impl std::fmt::Display for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Header => "header",
        })
    }
}

/// Every way a multipart message can fail to decode.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Neither an empty delimiter nor a frame starting with `RQ` (the header
    /// frame) within the first [`MAX_ROUTE_FRAMES`] + 1 frames: not a reqrep
    /// message.
    #[error("no reqrep header frame")]
    NoHeader,
    /// The message ended before a required frame.
    #[error("message ends before the {0}")]
    Incomplete(Part),
    /// The header frame (the frame after the delimiter, or the first one
    /// starting with `RQ`) does not start with `RQ` and a version byte:
    /// foreign traffic.
    #[error("not a reqrep message: bad protocol tag {found:02x?}")]
    WrongTag {
        /// Up to the first 8 bytes of the frame found.
        found: Vec<u8>,
    },
    /// A reqrep tag of a protocol version this side does not speak.
    #[error("unsupported protocol version {version:?}")]
    UnsupportedVersion {
        /// The version byte of the tag (the header frame's third byte),
        /// lossily decoded.
        version: String,
    },
    /// The header frame is not a valid protobuf `Header`.
    #[error("undecodable header: {0}")]
    Header(#[from] prost::DecodeError),
    /// A REQUEST or REPLY without a correlation id.
    #[error("{0} without a correlation id")]
    MissingCorrelationId(Kind),
    /// A correlation id that is not 16 bytes.
    #[error("invalid correlation id: {0}")]
    InvalidCorrelationId(#[from] crate::InvalidCorrelationId),
    /// A kind value that protocol version 1 does not define (0 included).
    #[error("unknown message kind {0}")]
    UnknownKind(i32),
    /// A kind reserved for a later protocol version (PARTIAL, CANCEL).
    #[error("message kind {0} is reserved")]
    ReservedKind(&'static str),
    /// A header field with a value not allowed for its kind.
    #[error("invalid {field}: {reason}")]
    InvalidField {
        /// The header field.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// More payload frames than [`Limits::max_payload_frames`].
    #[error("too many frames: {count} payload frames, limit {max}")]
    TooManyFrames {
        /// Payload frames received.
        count: usize,
        /// The limit.
        max: usize,
        /// The message's correlation id: its header decoded (a REQUEST or
        /// REPLY), so an error reply can echo it.
        id: Option<CorrelationId>,
    },
    /// A header or payload larger than its limit.
    #[error("message too large: {what} of {size} bytes, limit {max}")]
    TooLarge {
        /// `"header"` or `"payload"`.
        what: &'static str,
        /// Bytes received.
        size: usize,
        /// The limit.
        max: usize,
        /// The message's correlation id, when its header decoded (a payload
        /// too large for a REQUEST or REPLY); `None` for a header too large.
        id: Option<CorrelationId>,
    },
}

impl DecodeError {
    /// A short, stable label for metrics, e.g. `wrong_tag`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NoHeader => "no_header",
            Self::Incomplete(_) => "incomplete",
            Self::WrongTag { .. } => "wrong_tag",
            Self::UnsupportedVersion { .. } => "unsupported_version",
            Self::Header(_) => "bad_header",
            Self::MissingCorrelationId(_) => "missing_correlation_id",
            Self::InvalidCorrelationId(_) => "invalid_correlation_id",
            Self::UnknownKind(_) => "unknown_kind",
            Self::ReservedKind(_) => "reserved_kind",
            Self::InvalidField { .. } => "invalid_field",
            Self::TooManyFrames { .. } => "too_many_frames",
            Self::TooLarge { .. } => "too_large",
        }
    }

    /// The correlation id of the message that failed, when its header
    /// decoded far enough to read one (the payload limits are checked after
    /// the header, section 2.6): an error reply echoes it, and sends the nil
    /// id otherwise (section 2.7).
    pub fn correlation_id(&self) -> Option<CorrelationId> {
        match self {
            Self::TooManyFrames { id, .. } | Self::TooLarge { id, .. } => *id,
            _ => None,
        }
    }

    /// Whether the message was cut short (as opposed to malformed).
    pub fn is_incomplete(&self) -> bool {
        matches!(self, Self::Incomplete(_))
    }

    /// The status to answer with: `INVALID_ARGUMENT` naming the problem.
    pub fn to_status(&self) -> Status {
        Status::new(Code::InvalidArgument, self.to_string())
    }
}

impl Message {
    /// Encodes into `["", header, payload...]`: the envelope a client sends
    /// on a DEALER, understood by a broker's ROUTER and by a REP socket alike.
    pub fn encode(self) -> Vec<Frame> {
        let mut frames = Vec::with_capacity(2 + self.payload.len());
        frames.push(Frame::new());
        self.encode_body_into(&mut frames);
        frames
    }

    /// Encodes `route` followed by `[header, payload...]`, for sending on a
    /// ROUTER. `route` is a [`Decoded::route`] as received, so a peer that
    /// sent an empty delimiter gets one back and a peer that did not (a
    /// worker) gets none.
    pub fn encode_routed(self, route: impl IntoIterator<Item = Frame>) -> Vec<Frame> {
        let mut frames: Vec<Frame> = route.into_iter().collect();
        frames.reserve(1 + self.payload.len());
        self.encode_body_into(&mut frames);
        frames
    }

    /// Encodes into `[header, payload...]` with no delimiter: for REQ and
    /// REP sockets, which add and strip it themselves, and for workers'
    /// DEALERs, which only ever talk to a broker.
    pub fn encode_body(self) -> Vec<Frame> {
        let mut frames = Vec::with_capacity(1 + self.payload.len());
        self.encode_body_into(&mut frames);
        frames
    }

    fn encode_body_into(self, frames: &mut Vec<Frame>) {
        frames.push(header_frame(&self.command.into_pb()));
        frames.extend(self.payload);
    }
}

/// The header frame: [`PROTOCOL_TAG`] then the protobuf header, encoded
/// straight into the frame's buffer. A frame of up to 33 bytes (libzmq's
/// inline message storage on 64-bit targets; most requests to a broker and
/// most replies) costs no allocation at all.
pub(crate) fn header_frame(header: &pb::Header) -> Frame {
    let len = PROTOCOL_TAG.len() + header.encoded_len();
    let mut frame = Frame::with_size(len);
    let (tag, body) = frame.split_at_mut(PROTOCOL_TAG.len());
    tag.copy_from_slice(PROTOCOL_TAG);
    let mut body: &mut [u8] = body;
    // The buffer is exactly `encoded_len` long, so this cannot run short.
    let encoded = header.encode(&mut body);
    debug_assert!(encoded.is_ok() && body.is_empty());
    frame
}

/// Decodes `[route..., "", header, payload...]` or `[route..., header,
/// payload...]` as received on a ROUTER or DEALER socket.
///
/// The header is the frame right after the first empty frame, or else the
/// first frame that starts with `RQ` (routing ids that libzmq generates
/// start with a zero byte; fixed ids must not start with `RQ`). Everything
/// before it is the route, kept verbatim in [`Decoded::route`].
///
/// # Errors
/// A [`DecodeError`] naming the first problem found.
pub fn decode(frames: Vec<Frame>, limits: &Limits) -> Result<Decoded, DecodeError> {
    let header = header_index(&frames).ok_or(DecodeError::NoHeader)?;
    // The route keeps the received vector; the payload is collected in
    // place from the rest: one allocation in all.
    let mut route = frames;
    let rest = route.split_off(header);
    let message = decode_parts(rest.into_iter(), limits)?;
    Ok(Decoded { route, message })
}

/// Where the header frame of a message received on a ROUTER or DEALER is,
/// if anywhere, by the rule of [`decode`]: right after the first empty
/// frame, or the first frame that looks like a header, within the routing
/// window. Everything before it is the route.
pub fn header_index(frames: &[Frame]) -> Option<usize> {
    frames
        .iter()
        .take(MAX_ROUTE_FRAMES + 1)
        .position(|f| f.is_empty() || looks_like_header(f))
        .map(|i| if frames[i].is_empty() { i + 1 } else { i })
}

/// The tag's fixed part; the rest is the version.
const TAG_PREFIX: &[u8] = b"RQ";

/// The shortest header frame: the tag and a one-byte `kind` field.
const MIN_HEADER_BYTES: usize = PROTOCOL_TAG.len() + 2;

/// Whether a frame seen where routing frames may be is a header: tagged and
/// at least [`MIN_HEADER_BYTES`] long. The length rule keeps the 4-byte
/// request ids of `ZMQ_REQ_CORRELATE` (which come before the delimiter and
/// may happen to start with `RQ`) from being taken for a header.
fn looks_like_header(frame: &[u8]) -> bool {
    frame.len() >= MIN_HEADER_BYTES && frame.starts_with(TAG_PREFIX)
}

/// Decodes `[header, payload...]` as received on a REQ or REP socket (the
/// socket has already stripped routing frames and the delimiter).
///
/// # Errors
/// A [`DecodeError`] naming the first problem found.
pub fn decode_body(frames: Vec<Frame>, limits: &Limits) -> Result<Message, DecodeError> {
    decode_parts(frames.into_iter(), limits)
}

fn decode_parts(
    mut frames: impl ExactSizeIterator<Item = Frame>,
    limits: &Limits,
) -> Result<Message, DecodeError> {
    let header = frames.next().ok_or(DecodeError::Incomplete(Part::Header))?;
    check_tag(&header)?;
    if header.len() > limits.max_header_bytes {
        return Err(DecodeError::TooLarge {
            what: "header",
            size: header.len(),
            max: limits.max_header_bytes,
            id: None,
        });
    }
    // The header before the payload limits (the order of section 2.6), so
    // an error about the payload can name the request it belongs to.
    // REQUESTs and plain REPLYs, nearly all traffic, are read by a scan;
    // everything else (and every error) by prost and `command_from_pb`.
    let command = match crate::scan::scan(&header).and_then(|s| s.to_command()) {
        Some(command) => command,
        None => command_from_pb(pb::Header::decode(&header[PROTOCOL_TAG.len()..])?)?,
    };
    let count = frames.len();
    if count > limits.max_payload_frames {
        return Err(DecodeError::TooManyFrames {
            count,
            max: limits.max_payload_frames,
            id: command.correlation_id(),
        });
    }
    let payload: Vec<Frame> = frames.collect();
    let size: usize = payload.iter().map(|f| f.len()).sum();
    if size > limits.max_payload_bytes {
        return Err(DecodeError::TooLarge {
            what: "payload",
            size,
            max: limits.max_payload_bytes,
            id: command.correlation_id(),
        });
    }
    Ok(Message { command, payload })
}

/// Checks that `header` starts with [`PROTOCOL_TAG`].
fn check_tag(header: &[u8]) -> Result<(), DecodeError> {
    if header.starts_with(PROTOCOL_TAG) {
        return Ok(());
    }
    let tag = header;
    if tag.len() > 2 && tag.starts_with(TAG_PREFIX) {
        let version = String::from_utf8_lossy(&tag[2..tag.len().min(3)]).into_owned();
        return Err(DecodeError::UnsupportedVersion { version });
    }
    Err(DecodeError::WrongTag {
        found: tag[..tag.len().min(8)].to_vec(),
    })
}

fn correlation_id(raw: &[u8], kind: Kind) -> Result<CorrelationId, DecodeError> {
    if raw.is_empty() {
        return Err(DecodeError::MissingCorrelationId(kind));
    }
    Ok(CorrelationId::from_slice(raw)?)
}

pub(crate) fn wire_duration(ms: u32) -> Option<Duration> {
    (ms > 0).then(|| Duration::from_millis(u64::from(ms)))
}

/// Validates a protobuf header into a typed [`Command`].
///
/// # Errors
/// [`DecodeError::UnknownKind`], [`DecodeError::ReservedKind`], a missing or
/// invalid correlation id, or an invalid field.
pub(crate) fn command_from_pb(h: pb::Header) -> Result<Command, DecodeError> {
    let kind = pb::Kind::try_from(h.kind).map_err(|_| DecodeError::UnknownKind(h.kind))?;
    let command = match kind {
        pb::Kind::Unspecified => return Err(DecodeError::UnknownKind(h.kind)),
        pb::Kind::Partial => return Err(DecodeError::ReservedKind("PARTIAL")),
        pb::Kind::Cancel => return Err(DecodeError::ReservedKind("CANCEL")),
        pb::Kind::Request => Command::Request(Request {
            id: correlation_id(&h.correlation_id, Kind::Request)?,
            service: h.service,
            timeout: wire_duration(h.timeout_ms),
            attempt: h.attempt.max(1),
            idempotent: h.idempotent,
            fail_fast: h.fail_fast,
            metadata: h.metadata,
            route: h.route,
        }),
        pb::Kind::Reply => Command::Reply(Reply {
            id: correlation_id(&h.correlation_id, Kind::Reply)?,
            status: Status::from_pb(h.status),
            metadata: h.metadata,
            route: h.route,
        }),
        pb::Kind::Ready => {
            if h.service.is_empty() {
                return Err(DecodeError::InvalidField {
                    field: "service",
                    reason: "READY needs a service name",
                });
            }
            Command::Ready(Ready {
                service: h.service,
                credits: h.credits.max(1),
                heartbeat: wire_duration(h.heartbeat_ms),
            })
        }
        pb::Kind::Heartbeat => Command::Heartbeat,
        pb::Kind::Disconnect => Command::Disconnect(Disconnect {
            reason: h.status.map(|s| Status::from_pb(Some(s))),
        }),
    };
    Ok(command)
}

#[cfg(test)]
#[path = "frame_tests.rs"]
mod tests;
