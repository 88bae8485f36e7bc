//! The frontend: messages from clients, and the admission of a request
//! (checks, duplicates, the reply cache) up to its dispatch or queueing.

use prost::Message as _;
use reqrep_core::{
    Code, Command, Deadline, DecodeError, Frame, MAX_ROUTE_FRAMES, Message, PROTOCOL_TAG, Request,
    Status, decode,
};
use tracing::debug;

use super::dispatch::Fresh;
use super::entries::Entry;
use super::incoming::plain_request;
use super::payload::Payload;
use super::{Action, BrokerState, RESERVED_PREFIX, Route, boxed, nil_id};

impl BrokerState {
    /// Handles a message received on the frontend: `frames` as the ROUTER
    /// delivered them (routing frames first). Without an authenticated
    /// identity: see [`Self::on_client_from`].
    pub fn on_client(&mut self, now: std::time::Instant, frames: Vec<Frame>) {
        self.on_client_from(now, frames, None);
    }

    /// [`Self::on_client`] for a message that came with `user`, the
    /// connection's authenticated `User-Id` (the Z85 text of its CURVE
    /// key), checked against the access policy when one is set.
    pub fn on_client_from(
        &mut self,
        now: std::time::Instant,
        frames: Vec<Frame>,
        user: Option<&str>,
    ) {
        let (reply_route, packed) = error_route(&frames);
        if let Some((at, request)) = plain_request(&frames, &self.config.limits) {
            // The common case, read with no decoding and no allocation.
            let mut frames = frames;
            let payload = frames.split_off(at + 1);
            frames.truncate(at);
            let route = match reply_route {
                Some(route) if frames.len() == packed => route,
                reply_route => match Route::from_frames(frames.iter().map(|f| &f[..])) {
                    Some(route) => route,
                    None => return self.malformed_client(reply_route, &DecodeError::NoHeader),
                },
            };
            return self.on_request(now, route, request, payload, user);
        }
        let decoded = match decode(frames, &self.config.limits) {
            Ok(decoded) => decoded,
            Err(err) => return self.malformed_client(reply_route, &err),
        };
        let route = match reply_route {
            // The same leading frames (as when the client sent a delimiter):
            // the same route, already packed.
            Some(route) if decoded.route.len() == packed => route,
            reply_route => match Route::from_frames(decoded.route.iter().map(|f| &f[..])) {
                Some(route) => route,
                None => return self.malformed_client(reply_route, &DecodeError::NoHeader),
            },
        };
        match decoded.message.command {
            Command::Request(request) => {
                self.on_request(now, route, request, decoded.message.payload, user)
            }
            // The client liveness check (section "Several brokers"): answered
            // at once, whatever the access policy, since it names no service.
            Command::Heartbeat => {
                self.actions.push_back(Action::ToClient {
                    route,
                    message: Message::heartbeat().into(),
                });
            }
            other => {
                self.stats.malformed_client += 1;
                let id = other.correlation_id().unwrap_or_else(nil_id);
                let status = Status::invalid_argument(format!(
                    "unexpected command {} from a client",
                    other.kind()
                ));
                self.reply_error(route, id, status);
            }
        }
    }

    /// Answers a message that failed to decode, echoing its correlation id
    /// when the header could be read that far (section 2.7).
    fn malformed_client(&mut self, route: Option<Route>, err: &DecodeError) {
        self.stats.malformed_client += 1;
        debug!(reason = err.reason(), cause = %err, "malformed client message");
        if let Some(route) = route {
            let id = err.correlation_id().unwrap_or_else(nil_id);
            self.reply_error(route, id, err.to_status());
        }
    }

    fn on_request(
        &mut self,
        now: std::time::Instant,
        route: Route,
        request: Request,
        payload: Vec<Frame>,
        user: Option<&str>,
    ) {
        let span = tracing::debug_span!("request", correlation_id = %request.id, service = %request.service);
        let _entered = span.enter();
        self.stats.requests += 1;
        if request.service.is_empty() {
            return self.reject(
                route,
                &request,
                Status::invalid_argument(
                    "invalid service: a brokered REQUEST needs a service name",
                ),
            );
        }
        // Before the cache, the queue and duplicates: a refused request
        // goes nowhere.
        if let Some(status) = self.call_denial(now, user, &request.service) {
            return self.reject(route, &request, status);
        }
        if request.service.starts_with(RESERVED_PREFIX) {
            return self.builtin(route, &request, payload, user);
        }
        if let Some(size) = self.oversized_forward(&route, &request) {
            self.stats.malformed_client += 1;
            let status = Status::invalid_argument(format!(
                "message too large: header of {size} bytes once the broker adds the route, limit {}",
                self.config.limits.max_header_bytes
            ));
            return self.reject(route, &request, status);
        }
        let hash = self.entries.hash(&route, &request.id);
        if self.entries.find(hash, &route, &request.id).is_some() {
            self.stats.duplicates += 1;
            debug!("duplicate of a request in flight, absorbed");
            return;
        }
        let mut route = route;
        if !self.cache.is_empty() {
            let key = (route, request.id);
            if let Some((reply, payload)) = self.cache.get(now, &key) {
                self.stats.cache_hits += 1;
                debug!("answered from the reply cache");
                self.actions.push_back(Action::ToClient {
                    route: key.0,
                    message: Message::reply(reply, payload).into(),
                });
                return;
            }
            route = key.0;
        }
        if self.draining {
            return self.reject(
                route,
                &request,
                Status::unavailable("broker is shutting down"),
            );
        }
        let sid = match self.services.find(&request.service) {
            Some(sid) => sid,
            None => {
                if self.services.len() >= self.config.max_services {
                    let status = Status::resource_exhausted(format!(
                        "too many services (limit {})",
                        self.config.max_services
                    ));
                    return self.reject(route, &request, status);
                }
                self.services.add(&request.service)
            }
        };
        let Some(service) = self.services.get_mut(sid) else {
            return;
        };
        if service.workers() == 0 && request.fail_fast {
            let status =
                Status::unavailable(format!("no worker for service {:?}", request.service));
            service.outcome(Code::Unavailable, None);
            return self.reply_error(route, request.id, status);
        }
        if service.queued() >= self.config.max_queue {
            let status = Status::resource_exhausted(format!(
                "queue of service {:?} is full ({} requests)",
                request.service, self.config.max_queue
            ));
            service.outcome(Code::ResourceExhausted, None);
            return self.reply_error(route, request.id, status);
        }
        // Nothing waits before it and a worker is free: straight on, with
        // the frames as received and the header's own strings.
        let direct = service.queued() == 0 && !service.available.is_empty();
        service.hold();
        let deadline = Deadline::after(now, request.timeout.unwrap_or(self.config.default_timeout));
        let deadline = self.clock.tick(deadline.instant());
        let Request {
            id,
            service: name,
            attempt,
            idempotent,
            fail_fast,
            metadata,
            ..
        } = request;
        let entry = Entry {
            route,
            id,
            received: self.clock.tick(now),
            deadline,
            payload: Payload::none(),
            metadata: None,
            service: sid,
            attempt,
            worker: None,
            idempotent,
            fail_fast,
            retriable: false,
        };
        let id_in = self.entries.insert(hash, entry);
        self.deadlines.push(std::cmp::Reverse((deadline, id_in)));
        if direct && let Some((wid, worker)) = self.take_worker(sid, now, id_in) {
            let fresh = Fresh {
                service: name,
                metadata,
                payload,
            };
            return self.forward(now, id_in, wid, worker, Some(fresh));
        }
        if let Some(entry) = self.entries.get_mut(id_in) {
            entry.payload = Payload::keep(payload);
            entry.metadata = boxed(metadata);
        }
        if let Some(service) = self.services.get_mut(sid) {
            service.enqueue_back(id_in);
        }
        self.dispatch(now, sid);
    }

    /// The size of the header the worker would get for `request` from
    /// `route`, when it would exceed the header limit: the broker adds the
    /// route and the remaining budget, so a client header near the limit
    /// can outgrow it on the way. `None` when it fits.
    fn oversized_forward(&self, route: &Route, request: &Request) -> Option<usize> {
        let max = self.config.limits.max_header_bytes;
        // A bound on the encoded size from the variable parts; field keys,
        // lengths and the fixed fields take well under 16 bytes each and
        // 64 bytes in all.
        let variable = request.service.len()
            + request
                .metadata
                .iter()
                .map(|(k, v)| 16 + k.len() + v.len())
                .sum::<usize>()
            + route.frames().map(|f| 16 + f.len()).sum::<usize>();
        if PROTOCOL_TAG.len() + 64 + variable <= max {
            return None;
        }
        let attempt = if request.idempotent {
            request.attempt.max(self.config.max_attempts)
        } else {
            request.attempt
        };
        let forwarded = Request {
            timeout: Some(request.timeout.unwrap_or(self.config.default_timeout)),
            attempt,
            route: route.to_vecs(),
            ..request.clone()
        };
        let size = PROTOCOL_TAG.len() + Command::Request(forwarded).into_pb().encoded_len();
        (size > max).then_some(size)
    }

    /// Answers a request with a broker-generated error, counting it as an
    /// outcome of its service when the service is known.
    pub(super) fn reject(&mut self, route: Route, request: &Request, status: Status) {
        if let Some(sid) = self.services.find(&request.service)
            && let Some(service) = self.services.get_mut(sid)
        {
            service.outcome(status.code, None);
        }
        self.reply_error(route, request.id, status);
    }

    /// The driver could not deliver a reply to a client (gone or full).
    pub fn on_client_unreachable(&mut self, route: &Route) {
        self.stats.unroutable += 1;
        self.stats.unroutable_client += 1;
        debug!(client = %route, "client unreachable; reply dropped");
    }
}

/// Where to answer a message that failed to decode: its routing frames if a
/// delimiter is visible, else the first frame (the ROUTER's peer id). Also
/// how many leading frames that route packs.
fn error_route(frames: &[Frame]) -> (Option<Route>, usize) {
    let delimiter = frames
        .iter()
        .take(MAX_ROUTE_FRAMES + 1)
        .position(|f| f.is_empty());
    match delimiter {
        Some(0) | None => (frames.first().and_then(|f| Route::single(f)), 1),
        Some(n) => (
            Route::from_frames(frames[..=n].iter().map(|f| &f[..])),
            n + 1,
        ),
    }
}
