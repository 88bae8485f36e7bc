//! The message model: a command (the typed header) plus opaque payload frames.

use std::collections::HashMap;
use std::time::Duration;

use crate::{CorrelationId, Frame, Status, pb};

/// Free-form string metadata: W3C `traceparent` / `tracestate` and user headers.
pub type Metadata = HashMap<String, String>;

/// The kinds of command defined by protocol version 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// A request for a service.
    Request,
    /// The answer to a request.
    Reply,
    /// A worker registers for a service.
    Ready,
    /// Liveness between worker and broker.
    Heartbeat,
    /// The sender leaves, or tells its peer to reconnect.
    Disconnect,
}

impl Kind {
    /// The upper-case protocol name, e.g. `REQUEST`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Request => "REQUEST",
            Self::Reply => "REPLY",
            Self::Ready => "READY",
            Self::Heartbeat => "HEARTBEAT",
            Self::Disconnect => "DISCONNECT",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A REQUEST header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Chosen by the requester, echoed by the reply.
    pub id: CorrelationId,
    /// The service asked for; may be empty in direct (brokerless) exchanges.
    pub service: String,
    /// Remaining budget at send time, in whole milliseconds on the wire;
    /// `None` when the sender gives none.
    pub timeout: Option<Duration>,
    /// 1-based attempt number. On the wire the first attempt is sent as 0
    /// (absent) and 0 is read as 1; retries send 2, 3, ...
    pub attempt: u32,
    /// The request may safely run more than once.
    pub idempotent: bool,
    /// Answer at once instead of waiting for a worker to register.
    pub fail_fast: bool,
    /// Trace context and user headers.
    pub metadata: Metadata,
    /// The client's route at the broker as received: its routing frames,
    /// then an empty element for the delimiter when the client sent one. Set
    /// by the broker, echoed by the worker. Empty in direct exchanges and
    /// from clients.
    pub route: Vec<Vec<u8>>,
}

impl Request {
    /// A first attempt at `service` with id `id`, no timeout, not idempotent.
    pub fn new(id: CorrelationId, service: impl Into<String>) -> Self {
        Self {
            id,
            service: service.into(),
            timeout: None,
            attempt: 1,
            idempotent: false,
            fail_fast: false,
            metadata: Metadata::new(),
            route: Vec::new(),
        }
    }

    /// Sets the remaining budget. Default: none.
    pub fn timeout(mut self, budget: Duration) -> Self {
        self.timeout = Some(budget);
        self
    }

    /// Sets the attempt number. Default: 1.
    pub fn attempt(mut self, attempt: u32) -> Self {
        self.attempt = attempt;
        self
    }

    /// Marks the request safe to run more than once. Default: false.
    pub fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = idempotent;
        self
    }

    /// Asks the broker to answer at once when no worker exists. Default: false.
    pub fn fail_fast(mut self, fail_fast: bool) -> Self {
        self.fail_fast = fail_fast;
        self
    }

    /// Adds one metadata entry.
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }
}

/// A REPLY header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The id of the request this answers.
    pub id: CorrelationId,
    /// The outcome; [`Status::ok`] on success.
    pub status: Status,
    /// Trace context and user headers.
    pub metadata: Metadata,
    /// The request's route (delimiter element included), copied back
    /// unchanged by a worker.
    pub route: Vec<Vec<u8>>,
}

impl Reply {
    /// A successful reply to `request`, carrying its id and route.
    pub fn to(request: &Request) -> Self {
        Self::with_status(request, Status::ok())
    }

    /// A reply to `request` with `status`, carrying its id and route.
    pub fn with_status(request: &Request, status: Status) -> Self {
        Self {
            id: request.id,
            status,
            metadata: Metadata::new(),
            route: request.route.clone(),
        }
    }

    /// A reply with id `id` and `status` and no route.
    pub fn new(id: CorrelationId, status: Status) -> Self {
        Self {
            id,
            status,
            metadata: Metadata::new(),
            route: Vec::new(),
        }
    }
}

/// A READY header: a worker registers for a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ready {
    /// The service the worker serves; never empty.
    pub service: String,
    /// Requests the worker accepts at once; at least 1.
    pub credits: u32,
    /// The worker's heartbeat interval; `None` uses the broker's default.
    pub heartbeat: Option<Duration>,
}

/// A DISCONNECT header.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Disconnect {
    /// Why, when the sender says.
    pub reason: Option<Status>,
}

/// A typed header: what a message says, validated per kind.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// See [`Request`].
    Request(Request),
    /// See [`Reply`].
    Reply(Reply),
    /// See [`Ready`].
    Ready(Ready),
    /// Liveness, no fields.
    Heartbeat,
    /// See [`Disconnect`].
    Disconnect(Disconnect),
}

impl Command {
    /// The kind of this command.
    pub fn kind(&self) -> Kind {
        match self {
            Self::Request(_) => Kind::Request,
            Self::Reply(_) => Kind::Reply,
            Self::Ready(_) => Kind::Ready,
            Self::Heartbeat => Kind::Heartbeat,
            Self::Disconnect(_) => Kind::Disconnect,
        }
    }

    /// The correlation id, on REQUEST and REPLY.
    pub fn correlation_id(&self) -> Option<CorrelationId> {
        match self {
            Self::Request(r) => Some(r.id),
            Self::Reply(r) => Some(r.id),
            _ => None,
        }
    }

    /// The protobuf header for this command.
    pub fn to_pb(&self) -> pb::Header {
        self.clone().into_pb()
    }

    /// The protobuf header for this command, moving the fields (no copies:
    /// this is what encoding uses).
    pub fn into_pb(self) -> pb::Header {
        let mut h = pb::Header::default();
        match self {
            Self::Request(r) => {
                h.kind = pb::Kind::Request as i32;
                h.correlation_id = r.id.as_bytes().to_vec();
                h.service = r.service;
                h.timeout_ms = r.timeout.map_or(0, duration_to_wire_ms);
                // The first attempt goes as 0 (absent): two bytes saved on
                // nearly every request; decoding reads 0 as 1.
                h.attempt = if r.attempt > 1 { r.attempt } else { 0 };
                h.idempotent = r.idempotent;
                h.fail_fast = r.fail_fast;
                h.metadata = r.metadata;
                h.route = r.route;
            }
            Self::Reply(r) => {
                h.kind = pb::Kind::Reply as i32;
                h.correlation_id = r.id.as_bytes().to_vec();
                h.status = r.status.into_pb();
                h.metadata = r.metadata;
                h.route = r.route;
            }
            Self::Ready(r) => {
                h.kind = pb::Kind::Ready as i32;
                h.service = r.service;
                h.credits = r.credits;
                h.heartbeat_ms = r.heartbeat.map_or(0, duration_to_wire_ms);
            }
            Self::Heartbeat => h.kind = pb::Kind::Heartbeat as i32,
            Self::Disconnect(d) => {
                h.kind = pb::Kind::Disconnect as i32;
                h.status = d.reason.and_then(Status::into_pb);
            }
        }
        h
    }
}

/// Milliseconds for the wire: rounded up so a non-zero duration never reads
/// as 0 ("none"), saturating at `u32::MAX`.
pub(crate) fn duration_to_wire_ms(d: Duration) -> u32 {
    u32::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap_or(u32::MAX)
}

/// A reqrep message: a command and its opaque payload frames.
#[derive(Debug, PartialEq)]
pub struct Message {
    /// The typed header.
    pub command: Command,
    /// Opaque payload frames, forwarded without copying.
    pub payload: Vec<Frame>,
}

impl Message {
    /// A message carrying `command` and `payload`.
    pub fn new(command: Command, payload: Vec<Frame>) -> Self {
        Self { command, payload }
    }

    /// REQUEST.
    pub fn request(request: Request, payload: Vec<Frame>) -> Self {
        Self::new(Command::Request(request), payload)
    }

    /// REPLY with any status.
    pub fn reply(reply: Reply, payload: Vec<Frame>) -> Self {
        Self::new(Command::Reply(reply), payload)
    }

    /// A successful REPLY to `request` (id and route copied).
    pub fn reply_ok(request: &Request, payload: Vec<Frame>) -> Self {
        Self::reply(Reply::to(request), payload)
    }

    /// An error REPLY to `request` (id and route copied) with no payload.
    pub fn reply_error(request: &Request, status: Status) -> Self {
        Self::reply(Reply::with_status(request, status), Vec::new())
    }

    /// READY for `service` with `credits` (at least 1) and an optional
    /// heartbeat interval.
    pub fn ready(service: impl Into<String>, credits: u32, heartbeat: Option<Duration>) -> Self {
        let ready = Ready {
            service: service.into(),
            credits: credits.max(1),
            heartbeat,
        };
        Self::new(Command::Ready(ready), Vec::new())
    }

    /// HEARTBEAT.
    pub fn heartbeat() -> Self {
        Self::new(Command::Heartbeat, Vec::new())
    }

    /// DISCONNECT with an optional reason.
    pub fn disconnect(reason: Option<Status>) -> Self {
        Self::new(Command::Disconnect(Disconnect { reason }), Vec::new())
    }

    /// The command's kind.
    pub fn kind(&self) -> Kind {
        self.command.kind()
    }

    /// The correlation id, on REQUEST and REPLY.
    pub fn correlation_id(&self) -> Option<CorrelationId> {
        self.command.correlation_id()
    }

    /// Total payload bytes.
    pub fn payload_len(&self) -> usize {
        self.payload.iter().map(|f| f.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Code;

    #[test]
    fn request_builder_sets_every_field() {
        let id = CorrelationId::new();
        let r = Request::new(id, "echo")
            .timeout(Duration::from_millis(1500))
            .attempt(2)
            .idempotent(true)
            .fail_fast(true)
            .with_metadata("traceparent", "00-abc-def-01");
        assert_eq!(r.service, "echo");
        assert_eq!(r.timeout, Some(Duration::from_millis(1500)));
        assert_eq!(r.attempt, 2);
        assert!(r.idempotent && r.fail_fast);
        assert_eq!(r.metadata["traceparent"], "00-abc-def-01");
    }

    #[test]
    fn replies_copy_id_and_route() {
        let mut request = Request::new(CorrelationId::new(), "echo");
        request.route = vec![vec![0, 1, 2, 3, 4]];
        let ok = Message::reply_ok(&request, vec![Frame::from("x")]);
        let Command::Reply(reply) = &ok.command else {
            panic!("not a reply")
        };
        assert_eq!(reply.id, request.id);
        assert_eq!(reply.route, request.route);
        assert!(reply.status.is_ok());

        let err = Message::reply_error(&request, Status::unavailable("gone"));
        let Command::Reply(reply) = &err.command else {
            panic!("not a reply")
        };
        assert_eq!(reply.status.code, Code::Unavailable);
        assert!(err.payload.is_empty());
    }

    #[test]
    fn command_kinds_and_ids() {
        let id = CorrelationId::new();
        assert_eq!(
            Message::request(Request::new(id, "s"), vec![]).kind(),
            Kind::Request
        );
        assert_eq!(
            Message::reply(Reply::new(id, Status::ok()), vec![]).correlation_id(),
            Some(id)
        );
        assert_eq!(Message::ready("s", 0, None).kind(), Kind::Ready);
        assert_eq!(Message::heartbeat().correlation_id(), None);
        assert_eq!(Message::disconnect(None).kind(), Kind::Disconnect);
        assert_eq!(Kind::Heartbeat.to_string(), "HEARTBEAT");
    }

    #[test]
    fn ready_credits_are_at_least_one() {
        let Command::Ready(ready) = Message::ready("s", 0, None).command else {
            panic!("not ready")
        };
        assert_eq!(ready.credits, 1);
    }

    #[test]
    fn wire_ms_round_up_and_saturate() {
        assert_eq!(duration_to_wire_ms(Duration::ZERO), 0);
        assert_eq!(duration_to_wire_ms(Duration::from_micros(1)), 1);
        assert_eq!(duration_to_wire_ms(Duration::from_millis(2500)), 2500);
        assert_eq!(duration_to_wire_ms(Duration::MAX), u32::MAX);
    }

    #[test]
    fn payload_len_sums_frames() {
        let m = Message::request(
            Request::new(CorrelationId::new(), "s"),
            vec![Frame::from(&[0u8; 10][..]), Frame::from(&[0u8; 5][..])],
        );
        assert_eq!(m.payload_len(), 15);
    }
}
