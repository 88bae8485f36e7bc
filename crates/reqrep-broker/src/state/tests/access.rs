//! Authorization on the fake clock: every path of `state/access.rs`, with
//! `User-Id`s given as the driver gives them.

use std::sync::Arc;

use super::*;
use crate::access::policy::tests::key;
use crate::access::{AccessPolicy, Identity, Side};
use reqrep_core::Disconnect;

/// `web` calls orders and payments.*; `svc` serves orders and calls
/// billing; `pay` serves payments.*; key 9 is in no policy.
fn policy() -> Arc<AccessPolicy> {
    let patterns = |list: &[&str]| list.iter().map(|p| p.parse().unwrap()).collect();
    let identity = |name: &str, n, call: &[&str], serve: &[&str]| Identity {
        name: name.into(),
        key: key(n),
        call: patterns(call),
        serve: patterns(serve),
    };
    Arc::new(
        AccessPolicy::new(vec![
            identity("web", 1, &["orders", "payments.*"], &[]),
            identity("svc", 2, &["billing"], &["orders"]),
            identity("pay", 3, &[], &["payments.*"]),
        ])
        .unwrap(),
    )
}

fn user(n: u8) -> String {
    key(n).to_z85()
}

/// A harness with [`policy`] in force.
fn guarded() -> Harness {
    let mut h = Harness::new();
    h.state.set_policy(h.now, Some(policy()));
    h
}

impl Harness {
    fn request_as(&mut self, n: Option<u8>, client: &[u8], request: Request) -> Vec<Out> {
        let mut frames = vec![Frame::from(client)];
        frames.extend(Message::request(request, vec![Frame::from("x")]).encode());
        let id = n.map(user);
        self.state.on_client_from(self.now, frames, id.as_deref());
        self.drain()
    }

    fn worker_as(&mut self, n: Option<u8>, worker: &[u8], message: Message) -> Vec<Out> {
        let frames = message.encode_routed([Frame::from(worker)]);
        let id = n.map(user);
        self.state.on_worker_from(self.now, frames, id.as_deref());
        self.drain()
    }

    fn ready_as(&mut self, n: u8, worker: &[u8], service: &str) -> Vec<Out> {
        let ready = Message::ready(service, 2, Some(Duration::from_millis(1000)));
        self.worker_as(Some(n), worker, ready)
    }
}

/// The status of the single DISCONNECT in `out`, sent to `worker`.
fn disconnect_status(out: &[Out], worker: &[u8]) -> Status {
    match out {
        [
            Out::Worker(
                w,
                Message {
                    command:
                        Command::Disconnect(Disconnect {
                            reason: Some(status),
                        }),
                    ..
                },
            ),
        ] if w == worker => status.clone(),
        other => panic!("expected one DISCONNECT with a status to {worker:?}, got {other:?}"),
    }
}

#[test]
fn an_allowed_client_is_served_by_an_allowed_worker() {
    let mut h = guarded();
    assert!(h.ready_as(2, b"w1", "orders").is_empty());
    assert_eq!(h.state.worker_count(), 1);
    let out = h.request_as(Some(1), b"c", req("orders", 5000));
    let (worker, request, _) = dispatched(&out).remove(0);
    assert_eq!(worker, b"w1");
    let out = h.worker_as(Some(2), b"w1", Message::reply_ok(&request, vec![]));
    assert_eq!(code_of(&out), Code::Ok);
    let stats = h.state.stats();
    assert_eq!(
        (
            stats.permission_denied_frontend,
            stats.permission_denied_backend
        ),
        (0, 0)
    );
}

#[test]
fn a_request_it_may_not_call_is_denied_at_once_and_goes_nowhere() {
    let mut h = guarded();
    h.ready_as(2, b"w1", "orders");
    // svc may call billing only; web may not call billing.
    let denied = req("billing", 5000).idempotent(true);
    let out = h.request_as(Some(1), b"c", denied.clone());
    let (_, reply, _) = single_reply(&out);
    assert_eq!(reply.id, denied.id);
    assert_eq!(reply.status.code, Code::PermissionDenied);
    assert_eq!(reply.status.message, "identity web may not call billing");
    assert!(dispatched(&out).is_empty());
    assert_eq!(h.state.pending(), 0, "never queued");
    assert!(h.state.service_list(Some("billing")).services.is_empty());
    // Not cached either: once allowed, the same request reaches a worker.
    h.ready_as(2, b"w2", "orders");
    let out = h.request_as(Some(2), b"c", denied.clone());
    assert!(
        replies(&out).is_empty(),
        "queued for a billing worker: {out:?}"
    );
    assert_eq!(h.state.pending(), 1);
    assert_eq!(h.state.denied(Side::Frontend, "billing"), 1);
    assert_eq!(h.state.stats().permission_denied_frontend, 1);
}

#[test]
fn a_prefix_pattern_allows_longer_names_only() {
    let mut h = guarded();
    h.ready_as(3, b"w1", "payments.eu");
    let out = h.request_as(Some(1), b"c", req("payments.eu", 5000));
    assert_eq!(dispatched(&out).len(), 1);
    let out = h.request_as(Some(1), b"c", req("payments", 5000));
    assert_eq!(code_of(&out), Code::PermissionDenied);
    let out = h.ready_as(3, b"w2", "payments");
    let status = disconnect_status(&out, b"w2");
    assert_eq!(status.code, Code::PermissionDenied);
    assert_eq!(status.message, "identity pay may not serve payments");
}

#[test]
fn a_ready_it_may_not_serve_is_disconnected_and_never_registered() {
    let mut h = guarded();
    // web may call orders but not serve it.
    let out = h.ready_as(1, b"w1", "orders");
    let status = disconnect_status(&out, b"w1");
    assert_eq!(status.code, Code::PermissionDenied);
    assert_eq!(status.message, "identity web may not serve orders");
    assert_eq!(h.state.worker_count(), 0);
    assert!(
        h.state.service_list(None).services.is_empty(),
        "no service appears"
    );
    assert_eq!(h.state.denied(Side::Backend, "orders"), 1);
    assert_eq!(h.state.stats().permission_denied_backend, 1);
    // An unknown key, and no identity at all, are refused alike.
    let out = h.ready_as(9, b"w2", "orders");
    let status = disconnect_status(&out, b"w2");
    assert_eq!(status.code, Code::PermissionDenied);
    assert_eq!(
        status.message,
        format!("key {} is not in the access policy", user(9))
    );
    let ready = Message::ready("orders", 1, None);
    let status = disconnect_status(&h.worker_as(None, b"w3", ready), b"w3");
    assert_eq!(status.code, Code::Unauthenticated);
    assert_eq!(h.state.worker_count(), 0);
}

#[test]
fn unknown_keys_and_messages_without_identity_are_refused_on_the_frontend() {
    let mut h = guarded();
    let out = h.request_as(Some(9), b"c", req("orders", 5000));
    let (_, reply, _) = single_reply(&out);
    assert_eq!(reply.status.code, Code::PermissionDenied);
    assert!(reply.status.message.contains("not in the access policy"));
    assert_eq!(
        code_of(&h.request_as(None, b"c", req("orders", 5000))),
        Code::Unauthenticated
    );
    // Discovery too: it is open to every identity in the policy only.
    let discovery = Request::new(CorrelationId::new(), DISCOVERY_SERVICE);
    assert_eq!(
        code_of(&h.request_as(Some(9), b"c", discovery)),
        Code::PermissionDenied
    );
    assert_eq!(h.state.stats().permission_denied_frontend, 3);
}

#[test]
fn discovery_lists_only_what_the_caller_may_call() {
    let mut h = guarded();
    h.ready_as(2, b"w1", "orders");
    h.ready_as(3, b"w2", "payments.eu");
    h.ready_as(3, b"w3", "payments.us");
    let ask = |h: &mut Harness, n: u8, only: Option<&str>| {
        let request = Request::new(CorrelationId::new(), DISCOVERY_SERVICE);
        let payload = only.map(Frame::from).into_iter().collect();
        let mut frames = vec![Frame::from("c")];
        frames.extend(Message::request(request, payload).encode());
        let id = user(n);
        h.state.on_client_from(h.now, frames, Some(&id));
        h.drain()
    };
    let names = |out: &[Out]| -> Vec<String> {
        service_list(out)
            .services
            .into_iter()
            .map(|s| s.name)
            .collect()
    };
    assert_eq!(
        names(&ask(&mut h, 1, None)),
        ["orders", "payments.eu", "payments.us"]
    );
    assert_eq!(
        names(&ask(&mut h, 2, None)),
        Vec::<String>::new(),
        "svc calls billing only"
    );
    assert_eq!(names(&ask(&mut h, 1, Some("orders"))), ["orders"]);
    // A service it may not call is not there for it.
    assert_eq!(code_of(&ask(&mut h, 2, Some("orders"))), Code::NotFound);
    // Without a policy discovery lists everything again.
    h.state.set_policy(h.now, None);
    let out = h.request(
        b"c",
        Request::new(CorrelationId::new(), DISCOVERY_SERVICE),
        b"",
    );
    assert_eq!(service_list(&out).services.len(), 3);
}

#[test]
fn a_revoked_worker_is_disconnected_at_once_and_treated_as_lost() {
    let mut h = guarded();
    h.ready_as(2, b"w1", "orders");
    h.ready_as(3, b"w2", "payments.eu");
    let out = h.request_as(Some(1), b"c", req("orders", 5000));
    assert_eq!(dispatched(&out).len(), 1);
    // svc is removed from the policy: its worker goes, its request with it.
    let without_svc = AccessPolicy::new(
        policy()
            .identities()
            .iter()
            .filter(|i| i.name != "svc")
            .cloned()
            .collect(),
    )
    .unwrap();
    h.state.set_policy(h.now, Some(Arc::new(without_svc)));
    let out = h.drain();
    let status = match &out[..] {
        [
            Out::Worker(
                w,
                Message {
                    command: Command::Disconnect(Disconnect { reason: Some(s) }),
                    ..
                },
            ),
            Out::Client(c, reply),
        ] => {
            assert_eq!((w.as_slice(), c.as_slice()), (&b"w1"[..], &b"c"[..]));
            let Command::Reply(reply) = &reply.command else {
                panic!("{reply:?}")
            };
            assert_eq!(reply.status.code, Code::Unavailable, "lost mid-request");
            s.clone()
        }
        other => panic!("expected DISCONNECT then UNAVAILABLE, got {other:?}"),
    };
    assert_eq!(status.code, Code::PermissionDenied);
    assert_eq!(h.state.worker_count(), 1, "pay's worker stays");
    // Its next message is refused too (it did not get the DISCONNECT).
    let out = h.worker_as(Some(2), b"w1", Message::heartbeat());
    assert_eq!(disconnect_status(&out, b"w1").code, Code::PermissionDenied);
    // And it cannot register again.
    let out = h.ready_as(2, b"w1", "orders");
    assert_eq!(disconnect_status(&out, b"w1").code, Code::PermissionDenied);
    assert_eq!(h.state.worker_count(), 1);
}

#[test]
fn a_revoked_client_is_refused_from_its_next_request() {
    let mut h = guarded();
    h.ready_as(2, b"w1", "orders");
    let out = h.request_as(Some(1), b"c", req("orders", 5000));
    let (_, first, _) = dispatched(&out).remove(0);
    let only_svc = AccessPolicy::new(
        policy()
            .identities()
            .iter()
            .filter(|i| i.name == "svc")
            .cloned()
            .collect(),
    )
    .unwrap();
    h.state.set_policy(h.now, Some(Arc::new(only_svc)));
    assert!(
        h.drain().is_empty(),
        "the worker stays, clients are not told"
    );
    // What it sent before is answered...
    let out = h.worker_as(Some(2), b"w1", Message::reply_ok(&first, vec![]));
    assert_eq!(code_of(&out), Code::Ok);
    // ...what it sends now is not.
    let out = h.request_as(Some(1), b"c", req("orders", 5000));
    assert_eq!(code_of(&out), Code::PermissionDenied);
}

#[test]
fn another_identity_on_a_registered_routing_id_is_refused() {
    let mut h = guarded();
    h.ready_as(3, b"w1", "payments.eu");
    let out = h.request_as(Some(1), b"c", req("payments.eu", 5000));
    let (_, request, _) = dispatched(&out).remove(0);
    // svc replies on pay's routing id: refused, and the worker is gone.
    let out = h.worker_as(Some(2), b"w1", Message::reply_ok(&request, vec![]));
    let refused = out
        .iter()
        .find_map(|o| match o {
            Out::Worker(
                w,
                Message {
                    command: Command::Disconnect(Disconnect { reason: Some(s) }),
                    ..
                },
            ) if w == b"w1" => Some(s.clone()),
            _ => None,
        })
        .expect("a DISCONNECT");
    assert_eq!(refused.code, Code::PermissionDenied);
    assert!(
        replies(&out)
            .iter()
            .all(|(_, r, _)| r.status.code == Code::Unavailable)
    );
    assert_eq!(h.state.worker_count(), 0);
}

#[test]
fn refusals_are_reported_once_per_change_and_bounded_by_service() {
    let mut h = guarded();
    h.request_as(Some(1), b"c", req("billing", 5000));
    h.request_as(Some(1), b"c", req("billing", 5000));
    h.ready_as(1, b"w1", "orders");
    let mut reported = Vec::new();
    h.state
        .report_denied(|side, service, n| reported.push((side, service.to_owned(), n)));
    reported.sort();
    assert_eq!(
        reported,
        [
            (Side::Frontend, "billing".to_owned(), 2),
            (Side::Backend, "orders".to_owned(), 1)
        ]
    );
    let mut again = 0;
    h.state.report_denied(|_, _, _| again += 1);
    assert_eq!(again, 0, "nothing changed since");
    for n in 0..MAX_DENIED_SERVICES + 5 {
        h.request_as(Some(1), b"c", req(&format!("s{n}"), 5000));
    }
    assert_eq!(h.state.denied(Side::Frontend, OTHER_SERVICES), 6);
    assert_eq!(h.state.denied(Side::Frontend, "s0"), 1);
    // Known names go on being counted by name.
    h.request_as(Some(1), b"c", req("billing", 5000));
    assert_eq!(h.state.denied(Side::Frontend, "billing"), 3);
}

#[test]
fn without_a_policy_user_ids_change_nothing() {
    let mut h = Harness::new();
    h.ready_as(9, b"w1", "anything");
    assert_eq!(h.state.worker_count(), 1);
    let out = h.request_as(None, b"c", req("anything", 5000));
    assert_eq!(dispatched(&out).len(), 1);
}
