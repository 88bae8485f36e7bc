//! A borrowed look at a header frame: the fields a forwarding hop needs,
//! read in place, with no allocation and no copy.
//!
//! [`decode`](crate::decode) builds an owned [`Command`]:
//! strings, byte vectors and maps for every field. A broker that passes a
//! REQUEST or REPLY on needs a few scalars, the correlation id, the service
//! name and where the `route` field lies; [`HeaderScan`] reads exactly that,
//! and a REPLY's header can go on as it came, its `route` cut off the end
//! ([`HeaderScan::without_route`]).
//!
//! A scan is a fast path, never an authority: [`scan`] gives up (`None`) on
//! anything it does not read in full (a wire error, a field with an
//! unexpected wire type, a `status`, `metadata` or an unknown field, `route`
//! entries not at the end), and the caller then decodes the frame with
//! [`decode`](crate::decode), which validates everything and names the
//! problem. What a scan accepts, `decode` accepts with the same meaning.

use prost::bytes::Buf;
use prost::encoding::{WireType, decode_key, decode_varint};

use crate::frame::{PROTOCOL_TAG, wire_duration};
use crate::{Command, CorrelationId, Frame, Metadata, Reply, Request, Status};

/// Field numbers of `reqrep.v1.Header` (see `proto/reqrep/v1/header.proto`).
pub(crate) mod field {
    pub(crate) const KIND: u32 = 1;
    pub(crate) const CORRELATION_ID: u32 = 2;
    pub(crate) const SERVICE: u32 = 3;
    pub(crate) const TIMEOUT_MS: u32 = 4;
    pub(crate) const ATTEMPT: u32 = 5;
    pub(crate) const IDEMPOTENT: u32 = 6;
    pub(crate) const FAIL_FAST: u32 = 7;
    pub(crate) const CREDITS: u32 = 10;
    pub(crate) const HEARTBEAT_MS: u32 = 11;
    pub(crate) const ROUTE: u32 = 12;
}

/// `kind` values of the REQUEST and REPLY this module reads.
const KIND_REQUEST: i32 = 1;
const KIND_REPLY: i32 = 2;

/// The plain fields of a header frame, borrowed from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderScan<'a> {
    /// The protobuf bytes after the tag.
    body: &'a [u8],
    /// `kind`, as on the wire (0 when absent).
    pub kind: i32,
    /// `correlation_id` (empty when absent).
    pub correlation_id: &'a [u8],
    /// `service`, checked to be UTF-8 (empty when absent).
    pub service: &'a str,
    /// `timeout_ms` (0 when absent).
    pub timeout_ms: u32,
    /// `attempt` (0 when absent).
    pub attempt: u32,
    /// `idempotent`.
    pub idempotent: bool,
    /// `fail_fast`.
    pub fail_fast: bool,
    /// `credits` (0 when absent).
    pub credits: u32,
    /// `heartbeat_ms` (0 when absent).
    pub heartbeat_ms: u32,
    /// Where the `route` entries start in `body` (its length when there
    /// are none): they run from here to the end.
    route_at: usize,
}

/// Reads `header` (a whole header frame, tag included). `None` when the
/// frame is not one a scan reads in full: see the module documentation.
pub fn scan(header: &[u8]) -> Option<HeaderScan<'_>> {
    let body = header.strip_prefix(PROTOCOL_TAG)?;
    let mut s = HeaderScan {
        body,
        kind: 0,
        correlation_id: &[],
        service: "",
        timeout_ms: 0,
        attempt: 0,
        idempotent: false,
        fail_fast: false,
        credits: 0,
        heartbeat_ms: 0,
        route_at: body.len(),
    };
    let mut rest = body;
    while !rest.is_empty() {
        let at = body.len() - rest.len();
        let (tag, wire) = decode_key(&mut rest).ok()?;
        match (tag, wire) {
            (field::ROUTE, WireType::LengthDelimited) => {
                if s.route_at == body.len() {
                    s.route_at = at;
                }
                let _ = length_delimited(&mut rest)?;
            }
            // Every other field must come before the route.
            _ if s.route_at != body.len() => return None,
            (field::CORRELATION_ID, WireType::LengthDelimited) => {
                s.correlation_id = length_delimited(&mut rest)?;
            }
            (field::SERVICE, WireType::LengthDelimited) => {
                s.service = std::str::from_utf8(length_delimited(&mut rest)?).ok()?;
            }
            (_, WireType::Varint) => {
                let value = decode_varint(&mut rest).ok()?;
                // As prost reads them: `int32` and `uint32` truncate,
                // `bool` is any non-zero value.
                match tag {
                    field::KIND => s.kind = value as i32,
                    field::TIMEOUT_MS => s.timeout_ms = value as u32,
                    field::ATTEMPT => s.attempt = value as u32,
                    field::IDEMPOTENT => s.idempotent = value != 0,
                    field::FAIL_FAST => s.fail_fast = value != 0,
                    field::CREDITS => s.credits = value as u32,
                    field::HEARTBEAT_MS => s.heartbeat_ms = value as u32,
                    _ => return None,
                }
            }
            _ => return None,
        }
    }
    Some(s)
}

/// The bytes of a length-delimited field whose key was just read.
fn length_delimited<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let len = usize::try_from(decode_varint(rest).ok()?).ok()?;
    if len > rest.len() {
        return None;
    }
    let (value, tail) = rest.split_at(len);
    *rest = tail;
    Some(value)
}

impl<'a> HeaderScan<'a> {
    /// The correlation id of a REQUEST or REPLY, when it is a valid one.
    pub fn id(&self) -> Option<CorrelationId> {
        CorrelationId::from_slice(self.correlation_id).ok()
    }

    /// Whether this is a REQUEST a broker may forward as it came: a valid
    /// correlation id, a service name, and no `route` of its own (which the
    /// broker replaces, so it has to be re-encoded).
    pub fn is_plain_request(&self) -> bool {
        self.kind == KIND_REQUEST
            && self.correlation_id.len() == CorrelationId::LEN
            && !self.service.is_empty()
            && !self.has_route()
    }

    /// The [`Request`] that [`decode`](crate::decode) reads from this
    /// header, when [`Self::is_plain_request`].
    pub fn to_request(self) -> Option<Request> {
        if !self.is_plain_request() {
            return None;
        }
        Some(Request {
            id: self.id()?,
            service: self.service.to_owned(),
            timeout: wire_duration(self.timeout_ms),
            attempt: self.attempt.max(1),
            idempotent: self.idempotent,
            fail_fast: self.fail_fast,
            metadata: Metadata::default(),
            route: Vec::new(),
        })
    }

    /// The command [`decode`](crate::decode) reads from this header, when it
    /// is a REQUEST or REPLY with a valid correlation id (a REPLY read by a
    /// scan is OK, with no metadata); `None` for anything else, which only
    /// a full decode reads.
    pub(crate) fn to_command(self) -> Option<Command> {
        let route = || self.route().map(<[u8]>::to_vec).collect();
        match self.kind {
            KIND_REQUEST => Some(Command::Request(Request {
                id: self.id()?,
                service: self.service.to_owned(),
                timeout: wire_duration(self.timeout_ms),
                attempt: self.attempt.max(1),
                idempotent: self.idempotent,
                fail_fast: self.fail_fast,
                metadata: Metadata::default(),
                route: route(),
            })),
            KIND_REPLY => Some(Command::Reply(Reply {
                id: self.id()?,
                status: Status::ok(),
                metadata: Metadata::default(),
                route: route(),
            })),
            _ => None,
        }
    }

    /// Whether this is a REPLY (with a valid correlation id, and OK: a scan
    /// gives up on a `status`).
    pub fn is_plain_reply(&self) -> bool {
        self.kind == KIND_REPLY && self.correlation_id.len() == CorrelationId::LEN
    }

    /// Whether the header has `route` entries.
    pub fn has_route(&self) -> bool {
        self.route_at < self.body.len()
    }

    /// The `route` entries, in order.
    pub fn route(&self) -> impl Iterator<Item = &'a [u8]> + use<'a> {
        let mut rest = &self.body[self.route_at..];
        std::iter::from_fn(move || {
            if !rest.has_remaining() {
                return None;
            }
            // Read in full by `scan`: every entry is a well-formed `route`.
            decode_key(&mut rest).ok()?;
            length_delimited(&mut rest)
        })
    }

    /// The header frame without its `route` entries: the tag and every
    /// byte before them, copied (a REPLY on its way to the client; small
    /// enough, as a rule, to need no allocation).
    pub fn without_route(&self) -> Frame {
        let len = PROTOCOL_TAG.len() + self.route_at;
        let mut frame = Frame::with_size(len);
        let (tag, body) = frame.split_at_mut(PROTOCOL_TAG.len());
        tag.copy_from_slice(PROTOCOL_TAG);
        body.copy_from_slice(&self.body[..self.route_at]);
        frame
    }
}

#[cfg(test)]
#[path = "scan_tests.rs"]
mod tests;
