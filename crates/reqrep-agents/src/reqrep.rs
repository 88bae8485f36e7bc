//! The `ReqRep` plugin.

use std::time::Instant;

use reqrep_core::socket::{self, Endpoint, SocketError, recv_frames, send_frames};
use reqrep_core::{CorrelationId, Frame, Message, Request, Status, decode_body};
use tracing::debug;

/// The least time a REP plugin's socket keeps its last replies queued for
/// sending when the plugin is finalised.
const REPLY_LINGER: std::time::Duration = std::time::Duration::from_secs(1);

use crate::client::requester::{Requester, poll_ms, readable};
use crate::{
    ClientOptions, Plugin, PluginError, ReqRepError, RequestError, Response, STOP_POLL_SLICE,
    StopToken,
};

/// Which side of the exchange the plugin is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketKind {
    /// The requester (a ZeroMQ REQ socket); connects by default.
    Req,
    /// The replier (a ZeroMQ REP socket); binds by default.
    Rep,
}

/// A request received by a replier.
#[derive(Debug)]
pub struct IncomingRequest {
    /// The request header.
    pub request: Request,
    /// Its payload frames.
    pub payload: Vec<Frame>,
}

impl IncomingRequest {
    /// The first payload frame, or an empty slice.
    pub fn body(&self) -> &[u8] {
        self.payload.first().map_or(&[], |f| &f[..])
    }
}

/// The `ReqRep` plugin: the plain request-reply socket of an agent, made
/// reliable.
///
/// ```no_run
/// use reqrep_agents::{Plugin, ReqRep, SocketKind, StopToken};
///
/// let mut zmq = ReqRep::new("tcp://localhost:5555", SocketKind::Req);
/// zmq.init(&StopToken::new())?;
/// let reply = zmq.request(b"Hello, Server!")?;
/// println!("{}", String::from_utf8_lossy(reply.body()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// - `SocketKind::Req` connects and `SocketKind::Rep` binds (override with
///   [`ReqRep::bind`]).
/// - Enveloped mode (the default) speaks the reqrep protocol: every request
///   carries a correlation id and a deadline, [`ReqRep::request`] times out,
///   retries with jittered backoff and replaces the REQ socket after a lost
///   reply (so it never wedges), and error statuses come back as typed errors.
/// - Raw mode ([`ReqRep::raw`]) exchanges bare single-frame bytes with peers
///   that speak no envelope, such as a plain pyzmq REQ or REP socket.
pub struct ReqRep {
    endpoint: String,
    kind: SocketKind,
    bind: bool,
    raw: bool,
    options: ClientOptions,
    ctx: zmq::Context,
    stop: StopToken,
    /// REQ side: the request engine (owns the socket).
    requester: Option<Requester>,
    /// REQ side, `send`/`recv` API: the id of the request `send` sent.
    sent: Option<CorrelationId>,
    /// REP side: the socket.
    rep: Option<zmq::Socket>,
    /// REP side: the request awaiting our reply.
    pending: Option<Request>,
    /// Where a REP bound (wildcard ports resolved).
    bound: Option<String>,
    malformed: u64,
}

impl ReqRep {
    /// A plugin on `endpoint`, enveloped, REQ connecting / REP binding.
    pub fn new(endpoint: impl Into<String>, kind: SocketKind) -> Self {
        Self {
            endpoint: endpoint.into(),
            kind,
            bind: kind == SocketKind::Rep,
            raw: false,
            options: ClientOptions::default(),
            ctx: zmq::Context::new(),
            stop: StopToken::new(),
            requester: None,
            sent: None,
            rep: None,
            pending: None,
            bound: None,
            malformed: 0,
        }
    }

    /// Binds (`true`) or connects (`false`). Default: REQ connects, REP binds.
    pub fn bind(mut self, bind: bool) -> Self {
        self.bind = bind;
        self
    }

    /// Exchanges bare single-frame bytes with no envelope. Default: false.
    pub fn raw(mut self, raw: bool) -> Self {
        self.raw = raw;
        self
    }

    /// Timeout, retries, limits and socket options. Default:
    /// [`ClientOptions::default`].
    pub fn options(mut self, options: ClientOptions) -> Self {
        self.options = options;
        self
    }

    /// Uses an existing ZeroMQ context (needed for `inproc://`).
    pub fn context(mut self, ctx: &zmq::Context) -> Self {
        self.ctx = ctx.clone();
        self
    }

    /// The underlying socket, for reading or setting raw socket options;
    /// `None` before `init` (and, on the REQ side, right after a reset).
    pub fn socket(&self) -> Option<&zmq::Socket> {
        match self.kind {
            SocketKind::Req => self.requester.as_ref().and_then(Requester::socket),
            SocketKind::Rep => self.rep.as_ref(),
        }
    }

    /// The endpoint actually bound, with a wildcard port resolved.
    pub fn bound_endpoint(&self) -> Option<&str> {
        self.bound.as_deref()
    }

    /// Messages dropped (REQ) or answered `INVALID_ARGUMENT` (REP) because
    /// they were not valid envelopes.
    pub fn malformed(&self) -> u64 {
        self.malformed + self.requester.as_ref().map_or(0, |r| r.stale_replies)
    }

    /// Sockets replaced after a lost reply.
    pub fn socket_resets(&self) -> u64 {
        self.requester.as_ref().map_or(0, |r| r.socket_resets)
    }

    // ---- the seed's shape: send / recv ---------------------------------

    /// REQ: sends a request (enveloped: a new correlation id). REP: sends the
    /// reply to the request last received.
    ///
    /// # Errors
    /// [`ReqRepError::Usage`] out of order; transport errors.
    pub fn send(&mut self, data: &[u8]) -> Result<(), ReqRepError> {
        self.send_flags(data, 0)
    }

    /// [`ReqRep::send`] without blocking: [`ReqRepError::WouldBlock`] when
    /// the message cannot be queued now.
    ///
    /// # Errors
    /// As [`ReqRep::send`].
    pub fn try_send(&mut self, data: &[u8]) -> Result<(), ReqRepError> {
        self.send_flags(data, zmq::DONTWAIT)
    }

    /// REQ: waits for the reply (timeout from the options; a lost reply
    /// resets the socket and is a timeout error). REP: waits for a request.
    /// Returns the first payload frame. Returns [`RequestError::Stopped`]
    /// when the agent is stopped.
    ///
    /// # Errors
    /// Timeout, error status, stop, transport errors.
    pub fn recv(&mut self) -> Result<Vec<u8>, ReqRepError> {
        self.recv_flags(false)
    }

    /// [`ReqRep::recv`] without blocking: [`ReqRepError::WouldBlock`] when
    /// nothing has arrived.
    ///
    /// # Errors
    /// As [`ReqRep::recv`].
    pub fn try_recv(&mut self) -> Result<Vec<u8>, ReqRepError> {
        self.recv_flags(true)
    }

    fn send_flags(&mut self, data: &[u8], flags: i32) -> Result<(), ReqRepError> {
        match self.kind {
            SocketKind::Req => {
                if self.sent.is_some() {
                    return Err(ReqRepError::Usage(
                        "send called twice without recv on a REQ plugin",
                    ));
                }
                let id = CorrelationId::new();
                let frames = if self.raw {
                    vec![Frame::from(data)]
                } else {
                    let request = Request::new(id, "").timeout(self.options.timeout);
                    Message::request(request, vec![Frame::from(data)]).encode_body()
                };
                let requester = self.requester.as_mut().ok_or(ReqRepError::NotInitialised)?;
                let socket = requester.open()?;
                send_frames(socket, frames, flags)?;
                self.sent = Some(id);
                Ok(())
            }
            SocketKind::Rep => {
                let socket = self.rep.as_ref().ok_or(ReqRepError::NotInitialised)?;
                let frames = if self.raw {
                    if self.pending.take().is_none() {
                        return Err(ReqRepError::Usage("send before recv on a REP plugin"));
                    }
                    vec![Frame::from(data)]
                } else {
                    let request = self
                        .pending
                        .take()
                        .ok_or(ReqRepError::Usage("send before recv on a REP plugin"))?;
                    Message::reply_ok(&request, vec![Frame::from(data)]).encode_body()
                };
                send_frames(socket, frames, flags)?;
                Ok(())
            }
        }
    }

    fn recv_flags(&mut self, nonblocking: bool) -> Result<Vec<u8>, ReqRepError> {
        match self.kind {
            SocketKind::Req => {
                let id = self
                    .sent
                    .ok_or(ReqRepError::Usage("recv before send on a REQ plugin"))?;
                let timeout = self.options.timeout;
                let stop = self.stop.clone();
                let raw = self.raw;
                let requester = self.requester.as_mut().ok_or(ReqRepError::NotInitialised)?;
                let until = Instant::now() + timeout;
                let socket = requester.open()?;
                let ready = if nonblocking {
                    readable(socket, 0)?
                } else {
                    wait_readable(socket, until, &stop)?
                };
                if !ready {
                    if nonblocking {
                        return Err(ReqRepError::WouldBlock);
                    }
                    // Lost reply: replace the socket so the next send works.
                    self.sent = None;
                    requester.close();
                    return Err(RequestError::Timeout {
                        attempts: 1,
                        elapsed: timeout,
                    }
                    .into());
                }
                let frames = recv_frames(socket, 0)?;
                self.sent = None;
                if raw {
                    return Ok(first(frames));
                }
                let message = decode_body(frames, &requester.options.limits)?;
                match message.command {
                    reqrep_core::Command::Reply(reply) if reply.id == id => {
                        if !reply.status.is_ok() {
                            return Err(RequestError::from_status(reply.status).into());
                        }
                        Ok(first(message.payload))
                    }
                    _ => {
                        requester.close();
                        Err(RequestError::Status(Status::internal(
                            "reply does not match the request",
                        ))
                        .into())
                    }
                }
            }
            SocketKind::Rep => {
                if self.raw {
                    let socket = self.rep.as_ref().ok_or(ReqRepError::NotInitialised)?;
                    let frames = if nonblocking {
                        recv_frames(socket, zmq::DONTWAIT)?
                    } else {
                        wait_forever(socket, &self.stop)?;
                        recv_frames(socket, 0)?
                    };
                    self.pending = Some(Request::new(CorrelationId::from([0; 16]), ""));
                    return Ok(first(frames));
                }
                let incoming = self.recv_request_flags(nonblocking)?;
                let body = incoming.body().to_vec();
                self.pending = Some(incoming.request);
                Ok(body)
            }
        }
    }

    // ---- enveloped requester ---------------------------------------------

    /// Sends `payload` and waits for its reply: per-attempt timeout, bounded
    /// retries with jittered backoff (reusing the correlation id), the REQ
    /// socket replaced after each lost reply, stale replies dropped.
    ///
    /// # Errors
    /// [`RequestError::Timeout`], [`RequestError::Status`],
    /// [`RequestError::PermissionDenied`] (never retried), stop, transport.
    pub fn request(&mut self, payload: &[u8]) -> Result<Response, RequestError> {
        if self.kind != SocketKind::Req || self.raw {
            return Err(RequestError::Usage("request needs an enveloped REQ plugin"));
        }
        if self.sent.is_some() {
            return Err(RequestError::Usage("a send is awaiting its recv"));
        }
        let stop = self.stop.clone();
        let requester = self
            .requester
            .as_mut()
            .ok_or(RequestError::NotInitialised)?;
        requester.request(vec![Frame::from(payload)], &stop)
    }

    // ---- enveloped replier -----------------------------------------------

    /// Waits for the next valid request (malformed ones are answered
    /// `INVALID_ARGUMENT` and skipped). Answer it with [`ReqRep::reply`].
    ///
    /// # Errors
    /// [`RequestError::Stopped`] when stopped; transport errors.
    pub fn recv_request(&mut self) -> Result<IncomingRequest, ReqRepError> {
        let incoming = self.recv_request_flags(false)?;
        self.pending = Some(incoming.request.clone());
        Ok(incoming)
    }

    fn recv_request_flags(&mut self, nonblocking: bool) -> Result<IncomingRequest, ReqRepError> {
        if self.kind != SocketKind::Rep || self.raw {
            return Err(ReqRepError::Usage(
                "recv_request needs an enveloped REP plugin",
            ));
        }
        let limits = self.options.limits;
        loop {
            let socket = self.rep.as_ref().ok_or(ReqRepError::NotInitialised)?;
            let frames = if nonblocking {
                recv_frames(socket, zmq::DONTWAIT)?
            } else {
                wait_forever(socket, &self.stop)?;
                recv_frames(socket, 0)?
            };
            match decode_body(frames, &limits) {
                Ok(Message {
                    command: reqrep_core::Command::Request(request),
                    payload,
                }) => {
                    return Ok(IncomingRequest { request, payload });
                }
                Ok(other) => {
                    self.malformed += 1;
                    let id = other
                        .correlation_id()
                        .unwrap_or_else(|| CorrelationId::from([0; 16]));
                    let status =
                        Status::invalid_argument(format!("unexpected command {}", other.kind()));
                    let reply = Message::reply(reqrep_core::Reply::new(id, status), Vec::new());
                    send_frames(socket, reply.encode_body(), 0)?;
                }
                Err(err) => {
                    self.malformed += 1;
                    debug!(cause = %err, "malformed request answered INVALID_ARGUMENT");
                    // PROTOCOL.md 2.7: the request's own id when its header
                    // could be read, the nil id when not.
                    let id = err
                        .correlation_id()
                        .unwrap_or_else(|| CorrelationId::from([0; 16]));
                    let reply =
                        Message::reply(reqrep_core::Reply::new(id, err.to_status()), Vec::new());
                    send_frames(socket, reply.encode_body(), 0)?;
                    if nonblocking {
                        return Err(ReqRepError::WouldBlock);
                    }
                }
            }
        }
    }

    /// Answers the request last received with `result`.
    ///
    /// # Errors
    /// [`ReqRepError::Usage`] when no request is waiting; transport errors.
    pub fn reply(&mut self, result: Result<Vec<Frame>, Status>) -> Result<(), ReqRepError> {
        let request = self
            .pending
            .take()
            .ok_or(ReqRepError::Usage("reply without a received request"))?;
        let socket = self.rep.as_ref().ok_or(ReqRepError::NotInitialised)?;
        let message = match result {
            Ok(payload) => Message::reply_ok(&request, payload),
            Err(status) => Message::reply_error(&request, status),
        };
        send_frames(socket, message.encode_body(), 0)?;
        Ok(())
    }

    /// Answers requests with `handler` until the agent is stopped. Returns
    /// how many requests were served.
    ///
    /// # Errors
    /// Transport errors.
    pub fn serve<H>(&mut self, mut handler: H) -> Result<u64, ReqRepError>
    where
        H: FnMut(&Request, Vec<Frame>) -> Result<Vec<Frame>, Status>,
    {
        let mut served = 0;
        loop {
            let incoming = match self.recv_request() {
                Ok(incoming) => incoming,
                Err(ReqRepError::Request(RequestError::Stopped)) => return Ok(served),
                Err(e) => return Err(e),
            };
            let result = handler(&incoming.request, incoming.payload);
            self.reply(result)?;
            served += 1;
        }
    }
}

impl Plugin for ReqRep {
    fn name(&self) -> &str {
        "zmq-reqrep"
    }

    fn init(&mut self, stop: &StopToken) -> Result<(), PluginError> {
        self.stop = stop.clone();
        let fail = |cause: String| PluginError {
            plugin: format!("ReqRep({})", self.endpoint),
            cause,
        };
        let endpoint = Endpoint::parse(&self.endpoint).map_err(|e| fail(e.to_string()))?;
        match self.kind {
            SocketKind::Req => {
                if self.requester.is_none() {
                    let mut requester = Requester::new(
                        &self.ctx,
                        endpoint.clone(),
                        zmq::REQ,
                        self.bind,
                        "",
                        self.options.clone(),
                    );
                    requester.open().map_err(|e| fail(e.to_string()))?;
                    if self.bind {
                        self.bound = requester
                            .socket()
                            .and_then(|s| s.get_last_endpoint().ok())
                            .and_then(Result::ok);
                    }
                    self.requester = Some(requester);
                }
            }
            SocketKind::Rep => {
                if self.rep.is_none() {
                    let open = || -> Result<(zmq::Socket, Option<String>), SocketError> {
                        let s = self.ctx.socket(zmq::REP)?;
                        self.options.socket.apply(&s)?;
                        let bound = if self.bind {
                            Some(socket::bind(&s, &endpoint)?)
                        } else {
                            socket::connect(&s, &endpoint)?;
                            None
                        };
                        Ok((s, bound))
                    };
                    let (s, bound) = open().map_err(|e| fail(e.to_string()))?;
                    self.rep = Some(s);
                    self.bound = bound;
                }
            }
        }
        Ok(())
    }

    fn finalize(&mut self) {
        self.requester = None;
        if let Some(rep) = self.rep.take() {
            // The last reply may still be queued: give it a bounded time to
            // leave (a replier that ends right after answering must not
            // lose that answer).
            let linger = self.options.socket.linger.max(REPLY_LINGER);
            let _ = rep.set_linger(i32::try_from(linger.as_millis()).unwrap_or(i32::MAX));
        }
        self.sent = None;
        self.pending = None;
    }
}

fn first(frames: Vec<Frame>) -> Vec<u8> {
    frames
        .into_iter()
        .next()
        .map(|f| f.to_vec())
        .unwrap_or_default()
}

/// Waits until `socket` is readable, `until` passes (`false`), or `stop`.
fn wait_readable(
    socket: &zmq::Socket,
    until: Instant,
    stop: &StopToken,
) -> Result<bool, ReqRepError> {
    loop {
        if stop.is_stopped() {
            return Err(RequestError::Stopped.into());
        }
        let now = Instant::now();
        if now >= until {
            return Ok(false);
        }
        let slice = until.saturating_duration_since(now).min(STOP_POLL_SLICE);
        if readable(socket, poll_ms(slice))? {
            return Ok(true);
        }
    }
}

/// Waits until `socket` is readable or `stop`.
fn wait_forever(socket: &zmq::Socket, stop: &StopToken) -> Result<(), ReqRepError> {
    loop {
        if stop.is_stopped() {
            return Err(RequestError::Stopped.into());
        }
        if readable(socket, poll_ms(STOP_POLL_SLICE))? {
            return Ok(());
        }
    }
}
