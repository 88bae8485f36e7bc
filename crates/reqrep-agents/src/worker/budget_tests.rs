//! The credit budget without sockets: splits, lending, rebalancing, and a
//! simulation of brokers and in-transit messages that checks the bound.

use std::collections::VecDeque;

use super::*;

/// All sessions heard from their brokers, and the READYs applied at once.
fn live(total: u32, brokers: usize) -> CreditBudget {
    let mut b = CreditBudget::new(total, brokers).expect("enough credits");
    for i in 0..brokers {
        b.on_heard(i);
    }
    settle(&mut b);
    b
}

/// Applies every plan at once (the brokers echo at once), until stable.
fn settle(b: &mut CreditBudget) {
    loop {
        let plan = b.plan();
        if plan.is_empty() {
            return;
        }
        for (i, _) in plan {
            b.on_confirmed(i);
        }
    }
}

fn announced(b: &CreditBudget) -> Vec<u32> {
    (0..b.slots.len()).map(|i| b.announced(i)).collect()
}

#[test]
fn credits_split_evenly_over_live_brokers() {
    assert_eq!(announced(&live(16, 3)), [6, 5, 5]);
    assert_eq!(announced(&live(4, 2)), [2, 2]);
    assert_eq!(announced(&live(3, 3)), [1, 1, 1]);
    assert_eq!(announced(&live(7, 1)), [7]);
}

#[test]
fn fewer_credits_than_brokers_is_refused() {
    assert_eq!(
        CreditBudget::new(2, 3).err(),
        Some(TooFewCredits {
            credits: 2,
            brokers: 3
        })
    );
    assert!(CreditBudget::new(3, 0).is_err());
}

#[test]
fn a_dead_brokers_free_credits_are_lent_at_once_and_running_ones_when_done() {
    let mut b = live(16, 3);
    // Broker 0 holds 4 of its 6 running when it dies.
    for _ in 0..4 {
        assert!(b.on_deliver(0));
    }
    let generation = b.generation(0);
    b.on_down(0);
    assert_eq!(b.claimed(), 14, "its 2 free credits are free at once ...");
    settle(&mut b);
    assert_eq!(announced(&b), [0, 6, 6], "... and lent at once");
    assert_eq!(b.claimed(), 16);
    for _ in 0..4 {
        b.on_done(0, generation);
        settle(&mut b);
        assert!(b.claimed() <= 16);
    }
    assert_eq!(announced(&b), [0, 8, 8], "then the ones its requests held");
}

#[test]
fn a_returning_broker_probes_with_one_credit_then_gets_its_share_back() {
    let mut b = live(16, 3);
    b.on_down(0);
    settle(&mut b);
    assert_eq!(announced(&b), [0, 8, 8]);
    // Everything lent: no credit free for its READY, so it waits ...
    assert!(!b.may_connect(0));
    assert_eq!(b.phase(0), Phase::Wanting);
    // ... and the others are lowered to make room (no echo yet: no room).
    let plan = b.plan();
    assert_eq!(plan, [(2, 7)], "targets 1/8/7");
    assert!(!b.may_connect(0), "the lowering is not confirmed");
    b.on_confirmed(2);
    assert!(b.may_connect(0));
    assert_eq!(announced(&b), [1, 8, 7]);
    b.on_heard(0);
    // Lower first (one at a time per session, each confirmed), raise after.
    settle(&mut b);
    assert_eq!(announced(&b), [6, 5, 5]);
}

#[test]
fn a_lowered_session_claims_the_old_count_until_the_echo() {
    let mut b = live(4, 2);
    b.on_down(1);
    settle(&mut b);
    assert_eq!(announced(&b), [4, 0]);
    assert!(!b.may_connect(1));
    assert_eq!(b.plan(), [(0, 3)]);
    assert_eq!(
        b.free(),
        0,
        "requests under the old count may be on their way"
    );
    assert!(b.plan().is_empty(), "one lowering at a time");
    b.on_confirmed(0);
    assert_eq!(b.free(), 1, "the echo of the lowering confirms it");
}

#[test]
fn a_session_holding_more_than_its_lowered_count_claims_what_it_holds() {
    let mut b = live(4, 2);
    for _ in 0..2 {
        assert!(b.on_deliver(0));
    }
    b.on_down(1);
    settle(&mut b);
    assert_eq!(announced(&b), [4, 0]);
    assert!(b.on_deliver(0));
    assert!(b.on_deliver(0));
    assert!(!b.on_deliver(0), "a fifth is more than the broker may send");
    assert!(!b.may_connect(1));
    let plan = b.plan();
    assert_eq!(plan, [(0, 3)]);
    b.on_confirmed(0);
    assert_eq!(b.free(), 0, "the 4 running still claim 4");
    let generation = b.generation(0);
    b.on_done(0, generation);
    assert_eq!(b.free(), 1);
    assert!(b.may_connect(1));
}

/// A broker's view of one session, and the messages between them.
#[derive(Default)]
struct Broker {
    alive: bool,
    registered: bool,
    credits: u32,
    /// Dispatched, not answered (as the broker counts).
    dispatched: u32,
    to_worker: VecDeque<Msg>,
    to_broker: VecDeque<Msg>,
}

#[derive(Clone, Copy, Debug)]
enum Msg {
    Request,
    Ready(u32),
    Reply,
}

#[test]
fn simulated_brokers_never_have_more_than_the_credits_outstanding() {
    for seed in 0..200 {
        simulate(seed, 1 + (seed % 12) as u32 + 2, 3);
    }
}

/// Random events on `brokers` brokers and a worker with `total` credits;
/// after each, what the live brokers count as dispatched plus the requests
/// running for dead ones never exceeds `total`.
fn simulate(seed: u64, total: u32, brokers: usize) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut b = CreditBudget::new(total, brokers).expect("enough credits");
    let mut net: Vec<Broker> = (0..brokers)
        .map(|_| Broker {
            alive: true,
            to_broker: VecDeque::from([Msg::Ready(1)]),
            ..Broker::default()
        })
        .collect();
    // Running requests: (session, generation).
    let mut running: Vec<(usize, u32)> = Vec::new();
    for _ in 0..2000 {
        let i = rng.usize(..brokers);
        match rng.u8(..8) {
            // The broker dispatches while it may.
            0 if net[i].alive && net[i].dispatched < net[i].credits => {
                net[i].dispatched += 1;
                net[i].to_worker.push_back(Msg::Request);
            }
            // A message reaches the worker.
            1 => {
                if let Some(msg) = net[i].to_worker.pop_front() {
                    b.on_heard(i);
                    match msg {
                        Msg::Request => {
                            if b.on_deliver(i) {
                                running.push((i, b.generation(i)));
                            } else {
                                // Answered at once, not run.
                                net[i].to_broker.push_back(Msg::Reply);
                            }
                        }
                        Msg::Ready(_) => b.on_confirmed(i),
                        Msg::Reply => {}
                    }
                }
            }
            // A message reaches the broker.
            2 | 3 => {
                let n = &mut net[i];
                if let Some(msg) = n.to_broker.pop_front() {
                    match msg {
                        // The first READY registers; later ones are echoed.
                        Msg::Ready(c) => {
                            if n.registered {
                                n.to_worker.push_back(Msg::Ready(c));
                            }
                            n.registered = true;
                            n.credits = c;
                        }
                        Msg::Reply => n.dispatched = n.dispatched.saturating_sub(1),
                        Msg::Request => {}
                    }
                }
            }
            // A running request finishes.
            4 if !running.is_empty() => {
                let (s, generation) = running.swap_remove(rng.usize(..running.len()));
                b.on_done(s, generation);
                if b.generation(s) == generation && b.phase(s) != Phase::Down {
                    net[s].to_broker.push_back(Msg::Reply);
                }
            }
            // The broker dies (or the worker judges it dead): the socket
            // and everything in transit go.
            5 if rng.u8(..6) == 0 && b.phase(i) != Phase::Down => {
                b.on_down(i);
                net[i] = Broker::default();
            }
            // A dead broker's backoff ends.
            6 if matches!(b.phase(i), Phase::Down | Phase::Wanting) && b.may_connect(i) => {
                net[i] = Broker {
                    alive: true,
                    to_broker: VecDeque::from([Msg::Ready(1)]),
                    ..Broker::default()
                };
            }
            _ => {}
        }
        for (s, credits) in b.plan() {
            net[s].to_broker.push_back(Msg::Ready(credits));
        }
        let orphans = running
            .iter()
            .filter(|(s, g)| *g != b.generation(*s) || b.phase(*s) == Phase::Down)
            .count() as u32;
        // What each live broker may have at the worker (running or on its
        // way), now or later without another READY: its credits, a higher
        // count still on its way to it, or what it dispatched and has no
        // answer for on the way, when more.
        let exposure: u32 = net
            .iter()
            .filter(|n| n.alive)
            .map(|n| {
                let answered = n
                    .to_broker
                    .iter()
                    .filter(|m| matches!(m, Msg::Reply))
                    .count();
                let held = n.dispatched.saturating_sub(answered as u32);
                held.max(n.credits).max(pending_max(n))
            })
            .sum();
        assert!(
            exposure + orphans <= total,
            "seed {seed}: {exposure} exposed + {orphans} orphans > {total}"
        );
        assert!(running.len() as u32 <= total, "seed {seed}");
        assert!(b.claimed() <= total, "seed {seed}");
    }
}

/// The highest count in a READY still on its way to the broker (it may
/// apply it before the worker hears of it).
fn pending_max(n: &Broker) -> u32 {
    n.to_broker
        .iter()
        .filter_map(|m| match m {
            Msg::Ready(c) => Some(*c),
            _ => None,
        })
        .max()
        .unwrap_or(0)
}
