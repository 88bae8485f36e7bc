//! Fake-clock tests of the broker set: liveness, spreading, retries.

use super::*;

const MS: Duration = Duration::from_millis(1);

fn set(count: usize) -> (BrokerSet, Instant) {
    let t0 = Instant::now();
    (BrokerSet::new(count, 100 * MS, 3, t0), t0)
}

#[test]
fn silent_broker_is_pinged_each_interval_and_judged_dead_after_liveness_intervals() {
    let (mut set, t0) = set(2);
    assert_eq!(set.tick(t0 + 99 * MS), vec![], "not silent long enough");
    assert_eq!(
        set.tick(t0 + 100 * MS),
        vec![Change::Ping(0), Change::Ping(1)]
    );
    assert_eq!(set.tick(t0 + 150 * MS), vec![], "pinged once per interval");
    set.heard(1, t0 + 160 * MS);
    assert_eq!(set.tick(t0 + 200 * MS), vec![Change::Ping(0)]);
    set.heard(1, t0 + 250 * MS);
    assert_eq!(set.tick(t0 + 299 * MS), vec![]);
    assert_eq!(
        set.tick(t0 + 300 * MS),
        vec![Change::Died(0), Change::Ping(0)]
    );
    assert!(!set.is_alive(0) && set.is_alive(1));
    assert_eq!(set.tick(t0 + 350 * MS), vec![Change::Ping(1)]);
    // A dead broker keeps being pinged, and is reported once only.
    assert_eq!(set.tick(t0 + 400 * MS), vec![Change::Ping(0)]);
    assert_eq!(
        set.tick(t0 + 500 * MS),
        vec![Change::Ping(0), Change::Ping(1)]
    );
    assert_eq!(set.tick(t0 + 550 * MS), vec![Change::Died(1)]);
}

#[test]
fn any_traffic_brings_a_dead_broker_back() {
    let (mut set, t0) = set(2);
    set.heard(1, t0 + 250 * MS);
    set.tick(t0 + 300 * MS);
    assert!(!set.is_alive(0));
    assert!(set.heard(0, t0 + 320 * MS), "was dead");
    assert!(set.is_alive(0));
    assert!(!set.heard(0, t0 + 330 * MS), "already alive");
    assert_eq!(
        set.tick(t0 + 420 * MS),
        vec![Change::Ping(1)],
        "0 was heard within the interval"
    );
}

#[test]
fn first_attempts_spread_round_robin_and_to_the_least_loaded() {
    let (mut set, _) = set(3);
    let picks: Vec<usize> = (0..6).map(|_| set.first()).collect();
    assert_eq!(picks, vec![0, 1, 2, 0, 1, 2], "ties rotate");
    set.begin(0);
    set.begin(0);
    set.begin(1);
    assert_eq!(set.first(), 2, "fewest in flight");
    set.begin(2);
    set.begin(2);
    assert_eq!(set.first(), 1);
    set.end(0);
    set.end(0);
    assert_eq!(set.first(), 0);
}

#[test]
fn first_attempts_skip_dead_brokers_unless_all_are_dead() {
    let (mut set, t0) = set(3);
    set.heard(0, t0 + 250 * MS);
    set.heard(2, t0 + 250 * MS);
    set.tick(t0 + 300 * MS);
    assert!(!set.is_alive(1));
    let picks: Vec<usize> = (0..4).map(|_| set.first()).collect();
    assert_eq!(picks, vec![0, 2, 0, 2]);
    set.tick(t0 + 600 * MS);
    assert!((0..3).all(|i| !set.is_alive(i)));
    let picks: Vec<usize> = (0..3).map(|_| set.first()).collect();
    assert_eq!(picks, vec![0, 1, 2], "all dead: still somewhere");
}

#[test]
fn an_idempotent_retry_never_goes_to_the_broker_that_just_failed_while_another_is_live() {
    let (mut set, t0) = set(3);
    for last in 0..3 {
        for _ in 0..5 {
            let Target::Broker(b) = set.retry(last, true) else {
                panic!("idempotent requests are never lost");
            };
            assert_ne!(b, last);
        }
    }
    // Broker 2 dead: a retry from 0 can only go to 1.
    set.heard(0, t0 + 250 * MS);
    set.heard(1, t0 + 250 * MS);
    set.tick(t0 + 300 * MS);
    for _ in 0..4 {
        assert_eq!(set.retry(0, true), Target::Broker(1));
        assert_ne!(set.retry(2, true), Target::Broker(2));
    }
    // Only the failed broker is alive: it gets the retry.
    let (mut set, t0) = self::set(2);
    set.heard(0, t0 + 250 * MS);
    set.tick(t0 + 300 * MS);
    assert_eq!(set.retry(0, true), Target::Broker(0));
}

#[test]
fn other_retries_stay_on_their_broker_and_are_lost_with_it() {
    let (mut set, t0) = set(2);
    assert_eq!(set.retry(0, false), Target::Broker(0), "its dedupe holds");
    set.heard(1, t0 + 250 * MS);
    set.tick(t0 + 300 * MS);
    assert_eq!(set.retry(0, false), Target::Lost(0));
    assert_eq!(set.retry(1, false), Target::Broker(1));
    // Nothing else alive either: no better place than its own broker.
    set.tick(t0 + 600 * MS);
    assert_eq!(set.retry(0, false), Target::Broker(0));
}

#[test]
fn in_flight_counts_never_underflow() {
    let (mut set, _) = set(1);
    set.end(0);
    set.begin(0);
    set.end(0);
    set.end(0);
    assert_eq!(set.first(), 0);
    set.begin(7);
    set.end(7);
    assert!(!set.heard(7, Instant::now()));
}
