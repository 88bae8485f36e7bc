//! The built-in discovery service (`reqrep.services`), answered by the
//! broker itself.

use prost::Message as _;
use reqrep_core::{DISCOVERY_SERVICE, Frame, Message, Reply, Request, Status, pb};

use super::worker::Worker;
use super::{Action, BrokerState, Route, to_u32};

impl BrokerState {
    /// Answers a request for a built-in service from `user` (under an
    /// access policy, discovery lists only what `user` may call).
    pub(super) fn builtin(
        &mut self,
        route: Route,
        request: &Request,
        payload: Vec<Frame>,
        user: Option<&str>,
    ) {
        if request.service != DISCOVERY_SERVICE {
            let status = Status::not_found(format!("no built-in service {:?}", request.service));
            return self.reject(route, request, status);
        }
        let wanted = match payload.as_slice() {
            [] => None,
            [frame] if frame.is_empty() => None,
            [frame] => match std::str::from_utf8(frame) {
                Ok(name) => Some(name.to_owned()),
                Err(_) => {
                    let status = Status::invalid_argument("service name is not UTF-8");
                    return self.reject(route, request, status);
                }
            },
            _ => {
                let status = Status::invalid_argument("discovery takes at most one frame");
                return self.reject(route, request, status);
            }
        };
        let mut list = self.service_list(wanted.as_deref());
        if let Some(policy) = self.policy() {
            // `user` is in the policy: it was allowed to call discovery.
            let identity = user.and_then(|u| policy.identity(u));
            list.services
                .retain(|s| identity.is_some_and(|i| i.may_call(&s.name)));
        }
        if let Some(name) = wanted
            && list.services.is_empty()
        {
            return self.reject(
                route,
                request,
                Status::not_found(format!("no service {name:?}")),
            );
        }
        let reply = Reply::new(request.id, Status::ok());
        let frame = Frame::from(list.encode_to_vec());
        self.actions.push_back(Action::ToClient {
            route,
            message: Message::reply(reply, vec![frame]).into(),
        });
    }

    /// The discovery list: every service (or just `only`), sorted by name,
    /// whatever the access policy.
    pub fn service_list(&self, only: Option<&str>) -> pb::ServiceList {
        let mut services: Vec<pb::ServiceInfo> = self
            .services
            .iter()
            .filter(|s| only.is_none_or(|name| s.name() == name))
            .map(|s| pb::ServiceInfo {
                name: s.name().to_owned(),
                workers: to_u32(s.workers()),
                free_credits: s
                    .available
                    .iter()
                    .filter_map(|w| self.workers.get(w.index()).and_then(Option::as_ref))
                    .map(Worker::free)
                    .sum(),
                queue_depth: to_u32(s.queued()),
                in_flight: to_u32(s.in_flight()),
            })
            .collect();
        services.sort_by(|a, b| a.name.cmp(&b.name));
        pb::ServiceList { services }
    }
}
