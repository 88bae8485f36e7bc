//! Authorization: the current access policy, consulted for every message
//! by the authenticated `User-Id` the driver passes along (the Z85 text of
//! the peer's CURVE key, set by the broker's ZAP handler), never by
//! anything the peer writes in a header.
//!
//! - A REQUEST the identity may not call: PERMISSION_DENIED at once.
//! - A READY for a service it may not serve: DISCONNECT PERMISSION_DENIED,
//!   never registered.
//! - A registered worker whose identity was revoked, or lost the right to
//!   serve its service, is disconnected (PERMISSION_DENIED) and removed as
//!   a lost worker: when the policy changes ([`BrokerState::set_policy`]),
//!   and at its next message in any case.
//! - A message without a `User-Id` while a policy is set (which ZAP rules
//!   out) is UNAUTHENTICATED.
//!
//! Refusals are counted by side and service (for
//! `reqrep_broker_permission_denied_total`) and logged once per identity
//! and service per minute ([`Denials`]).

use std::sync::Arc;
use std::time::Instant;

use reqrep_core::{Code, Message, Status};
use tracing::warn;

use super::{BrokerState, HashMap, Route};
use crate::access::{AccessPolicy, Denials, Identity, Side};

/// Most distinct services counted by name per side; refusals for further
/// names are counted under [`OTHER_SERVICES`], so peers cannot grow the
/// metrics without bound.
pub const MAX_DENIED_SERVICES: usize = 1000;
/// The `service` label refusals are counted under past [`MAX_DENIED_SERVICES`].
pub const OTHER_SERVICES: &str = "_other";

/// The policy and what was refused under it.
#[derive(Default)]
pub(super) struct Authorization {
    policy: Option<Arc<AccessPolicy>>,
    /// Refusals by side and service since the start.
    denied: HashMap<(Side, Box<str>), u64>,
    /// Distinct services in `denied`, by side.
    names: [usize; 2],
    /// Keys of `denied` changed since the last report.
    dirty: Vec<(Side, Box<str>)>,
    /// Which refusals to log: by side, identity (or key) and service.
    log: Denials<(Side, Box<str>, Box<str>)>,
}

/// What is allowed to whom: the question a check asks.
#[derive(Clone, Copy)]
enum Ask {
    Call,
    Serve,
}

impl Authorization {
    /// Whether a policy is in force.
    pub(super) fn is_on(&self) -> bool {
        self.policy.is_some()
    }

    /// Checks `user` against the policy for `ask` on `service`; `None`
    /// when allowed, else the status to refuse with (counted and, once a
    /// minute per identity and service, logged).
    fn check(
        &mut self,
        now: Instant,
        side: Side,
        user: Option<&str>,
        ask: Ask,
        service: &str,
    ) -> Option<Status> {
        let policy = self.policy.as_ref()?;
        let identity = user.and_then(|u| policy.identity(u));
        let allowed = identity.is_some_and(|i: &Identity| match ask {
            Ask::Call => i.may_call(service),
            Ask::Serve => i.may_serve(service),
        });
        if allowed {
            return None;
        }
        let verb = match ask {
            Ask::Call => "call",
            Ask::Serve => "serve",
        };
        let (who, status) = match (user, identity) {
            (None, _) => (
                "<unauthenticated>".to_owned(),
                Status::new(
                    Code::Unauthenticated,
                    "no authenticated identity: connect with CURVE and a key in the access policy",
                ),
            ),
            (Some(key), None) => (
                key.to_owned(),
                Status::new(
                    Code::PermissionDenied,
                    format!("key {key} is not in the access policy"),
                ),
            ),
            (Some(_), Some(identity)) => (
                identity.name.clone(),
                Status::new(
                    Code::PermissionDenied,
                    format!("identity {} may not {verb} {service}", identity.name),
                ),
            ),
        };
        self.refused(now, side, &who, service, &status);
        Some(status)
    }

    /// Counts and (rate-limited) logs one refusal.
    fn refused(&mut self, now: Instant, side: Side, who: &str, service: &str, status: &Status) {
        let mut key: (Side, Box<str>) = (side, service.into());
        if !self.denied.contains_key(&key) {
            if self.names[side as usize] >= MAX_DENIED_SERVICES {
                key.1 = OTHER_SERVICES.into();
            } else {
                self.names[side as usize] += 1;
            }
        }
        let count = self.denied.entry(key.clone()).or_insert(0);
        *count += 1;
        if !self.dirty.contains(&key) {
            self.dirty.push(key);
        }
        if let Some(suppressed) = self.log.note(now, (side, who.into(), service.into())) {
            warn!(
                side = side.label(),
                identity = who,
                service,
                code = %status.code,
                suppressed,
                "refused: {}",
                status.message
            );
        }
    }
}

impl BrokerState {
    /// Puts `policy` in force (`None`: no authorization, every message is
    /// accepted as before). Registered workers it no longer allows are
    /// disconnected with PERMISSION_DENIED and removed as lost workers at
    /// once; clients are refused from their next request on.
    pub fn set_policy(&mut self, now: Instant, policy: Option<Arc<AccessPolicy>>) {
        self.access.policy = policy;
        if !self.access.is_on() {
            return;
        }
        let routes: Vec<Route> = self.worker_ids.keys().cloned().collect();
        for route in routes {
            let Some(status) = self.worker_denial(now, &route, None) else {
                continue;
            };
            self.refuse_worker(now, route, status);
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> Option<&Arc<AccessPolicy>> {
        self.access.policy.as_ref()
    }

    /// Hands `f` the refusal count of each (side, service) that changed
    /// since the last call.
    pub fn report_denied(&mut self, mut f: impl FnMut(Side, &str, u64)) {
        for key in self.access.dirty.drain(..) {
            if let Some(&count) = self.access.denied.get(&key) {
                f(key.0, &key.1, count);
            }
        }
    }

    /// Refusals so far on `side` for `service` (as counted: see
    /// [`OTHER_SERVICES`]).
    pub fn denied(&self, side: Side, service: &str) -> u64 {
        self.access
            .denied
            .get(&(side, service.into()))
            .copied()
            .unwrap_or(0)
    }

    /// Whether `user` may call `service`; the refusal status otherwise.
    pub(super) fn call_denial(
        &mut self,
        now: Instant,
        user: Option<&str>,
        service: &str,
    ) -> Option<Status> {
        let status = self
            .access
            .check(now, Side::Frontend, user, Ask::Call, service)?;
        self.stats.permission_denied_frontend += 1;
        Some(status)
    }

    /// Whether `user` may register for `service`; the refusal otherwise.
    pub(super) fn serve_denial(
        &mut self,
        now: Instant,
        user: Option<&str>,
        service: &str,
    ) -> Option<Status> {
        let status = self
            .access
            .check(now, Side::Backend, user, Ask::Serve, service)?;
        self.stats.permission_denied_backend += 1;
        Some(status)
    }

    /// Whether the registered worker at `route` may go on serving, its
    /// message (if any) having come with `user`: its identity must still
    /// be the one it registered with and still allowed to serve its
    /// service. `None` when it may.
    pub(super) fn worker_denial(
        &mut self,
        now: Instant,
        route: &Route,
        user: Option<Option<&str>>,
    ) -> Option<Status> {
        if !self.access.is_on() {
            return None;
        }
        let wid = *self.worker_ids.get(route)?;
        let worker = self.workers.get(wid.index())?.as_ref()?;
        let registered = worker.user.clone();
        let service = self.services.get(worker.service)?.name().to_owned();
        if let Some(user) = user
            && user != registered.as_deref()
        {
            // Another connection took over the worker's routing id.
            let status = Status::new(
                Code::PermissionDenied,
                "the identity of this connection is not the one that registered",
            );
            let who = user.unwrap_or("<unauthenticated>");
            self.access
                .refused(now, Side::Backend, who, &service, &status);
            self.stats.permission_denied_backend += 1;
            return Some(status);
        }
        self.serve_denial(now, registered.as_deref(), &service)
    }

    /// Disconnects the worker at `route` with `status` and, if registered,
    /// removes it as a lost worker.
    pub(super) fn refuse_worker(&mut self, now: Instant, route: Route, status: Status) {
        let reason = status.message.clone();
        self.send_worker(now, route.clone(), Message::disconnect(Some(status)));
        self.remove_worker(now, &route, &reason);
    }
}
