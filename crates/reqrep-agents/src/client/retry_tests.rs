//! The shared retry loop on a fake clock: every branch of [`RetryLoop`].

use std::time::{Duration, Instant};

use reqrep_core::socket::SocketError;
use reqrep_core::{Code, RetryPolicy, Status};

use super::{Event, RetryLoop, Step};
use crate::{ClientOptions, RequestError};

const MS: Duration = Duration::from_millis(1);

fn timed_out() -> Event {
    Event::Failed(RequestError::Timeout {
        attempts: 0,
        elapsed: Duration::ZERO,
    })
}

fn unavailable() -> Event {
    Event::Failed(RequestError::Status(Status::new(
        Code::Unavailable,
        "no worker",
    )))
}

/// Per attempt 100 ms; backoff 10, 20, 40, ... ms without jitter.
fn options(attempts: u32) -> ClientOptions {
    ClientOptions::default().timeout(100 * MS).retry(
        RetryPolicy::default()
            .max_attempts(attempts)
            .initial_backoff(10 * MS)
            .max_backoff(Duration::from_secs(1))
            .jitter(0.0),
    )
}

/// A loop started at `t0`, with its fake clock.
fn start(options: &ClientOptions) -> (RetryLoop, Instant) {
    let t0 = Instant::now();
    let retry = RetryLoop::with_rng(
        options,
        options.get_total_timeout(),
        t0,
        fastrand::Rng::with_seed(7),
    );
    (retry, t0)
}

fn attempt(step: Step) -> (u32, Duration) {
    match step {
        Step::Attempt { attempt, timeout } => (attempt, timeout),
        other => panic!("expected an attempt, got {other:?}"),
    }
}

fn wait(step: Step) -> Duration {
    match step {
        Step::Wait(delay) => delay,
        other => panic!("expected a wait, got {other:?}"),
    }
}

fn give_up(step: Step) -> RequestError {
    match step {
        Step::GiveUp(err) => err,
        other => panic!("expected to give up, got {other:?}"),
    }
}

/// Drives the loop against a peer that never answers, each attempt waiting
/// its full timeout and each backoff its full delay: the attempts' timeouts,
/// the waits, and the error it ends with.
fn run_silent(
    retry: &mut RetryLoop,
    t0: Instant,
) -> (Vec<Duration>, Vec<Duration>, RequestError, Duration) {
    let (mut timeouts, mut waits) = (Vec::new(), Vec::new());
    let mut now = t0;
    let mut event = Event::Ready;
    loop {
        match retry.next(now, event) {
            Step::Attempt { attempt, timeout } => {
                assert_eq!(attempt as usize, timeouts.len() + 1, "attempts count up");
                timeouts.push(timeout);
                now += timeout;
                event = timed_out();
            }
            Step::Wait(delay) => {
                waits.push(delay);
                now += delay;
                event = Event::Ready;
            }
            Step::GiveUp(err) => return (timeouts, waits, err, now - t0),
        }
    }
}

#[test]
fn first_attempt_gets_the_full_timeout() {
    let (mut retry, t0) = start(&options(3));
    assert_eq!(attempt(retry.next(t0, Event::Ready)), (1, 100 * MS));
    assert_eq!(retry.attempts(), 1);
}

#[test]
fn timeouts_are_retried_with_backoff_until_the_attempts_are_used_up() {
    let (mut retry, t0) = start(&options(3));
    let (timeouts, waits, err, elapsed) = run_silent(&mut retry, t0);
    assert_eq!(timeouts, vec![100 * MS; 3]);
    assert_eq!(waits, vec![10 * MS, 20 * MS]);
    assert_eq!(elapsed, 330 * MS);
    assert!(
        matches!(err, RequestError::Timeout { attempts: 3, elapsed } if elapsed == 330 * MS),
        "{err:?}"
    );
}

#[test]
fn the_default_budget_fits_every_attempt_and_backoff() {
    // Default options, jitter off: the backoffs are their maximum, and still
    // the attempts run out before the budget does.
    let options = ClientOptions::default().retry(RetryPolicy::default().jitter(0.0));
    let (mut retry, t0) = start(&options);
    let (timeouts, waits, err, elapsed) = run_silent(&mut retry, t0);
    assert_eq!(timeouts, vec![2500 * MS; 3]);
    assert_eq!(waits, vec![50 * MS, 100 * MS]);
    assert_eq!(elapsed, options.get_total_timeout());
    assert!(
        matches!(err, RequestError::Timeout { attempts: 3, .. }),
        "{err:?}"
    );
}

#[test]
fn the_last_attempt_is_clipped_to_the_budget_left() {
    let options = options(5).total_timeout(250 * MS);
    let (mut retry, t0) = start(&options);
    let (timeouts, waits, err, elapsed) = run_silent(&mut retry, t0);
    // 100 + 10 + 100 + 20 = 230 ms, so 20 ms are left for the third.
    assert_eq!(timeouts, vec![100 * MS, 100 * MS, 20 * MS]);
    assert_eq!(waits, vec![10 * MS, 20 * MS]);
    assert_eq!(elapsed, 250 * MS, "never past the budget");
    assert!(
        matches!(
            err,
            RequestError::BudgetExhausted { attempts: 3, elapsed, budget }
                if elapsed == 250 * MS && budget == 250 * MS
        ),
        "{err:?}"
    );
}

#[test]
fn no_backoff_sleeps_past_the_budget() {
    // After two attempts and a 10 ms backoff, 205 ms leave 5: less than the
    // 20 ms backoff, so the request ends without sleeping.
    let options = options(5).total_timeout(215 * MS);
    let (mut retry, t0) = start(&options);
    let (timeouts, waits, err, elapsed) = run_silent(&mut retry, t0);
    assert_eq!(timeouts, vec![100 * MS, 100 * MS]);
    assert_eq!(waits, vec![10 * MS]);
    assert_eq!(elapsed, 210 * MS);
    assert!(
        matches!(err, RequestError::BudgetExhausted { attempts: 2, .. }),
        "{err:?}"
    );
}

#[test]
fn a_zero_budget_sends_nothing() {
    let options = options(3).total_timeout(Duration::ZERO);
    let (mut retry, t0) = start(&options);
    let err = give_up(retry.next(t0, Event::Ready));
    assert!(
        matches!(err, RequestError::BudgetExhausted { attempts: 0, .. }),
        "{err:?}"
    );
}

#[test]
fn a_driver_that_oversleeps_gets_no_attempt_past_the_budget() {
    let options = options(3).total_timeout(150 * MS);
    let (mut retry, t0) = start(&options);
    attempt(retry.next(t0, Event::Ready));
    assert_eq!(wait(retry.next(t0 + 100 * MS, timed_out())), 10 * MS);
    let err = give_up(retry.next(t0 + 150 * MS, Event::Ready));
    assert!(
        matches!(err, RequestError::BudgetExhausted { attempts: 1, .. }),
        "{err:?}"
    );
}

#[test]
fn retryable_statuses_are_retried_and_the_last_one_is_returned() {
    let (mut retry, t0) = start(&options(2));
    attempt(retry.next(t0, Event::Ready));
    assert_eq!(wait(retry.next(t0 + MS, unavailable())), 10 * MS);
    assert_eq!(
        attempt(retry.next(t0 + 11 * MS, Event::Ready)),
        (2, 100 * MS)
    );
    let err = give_up(retry.next(t0 + 12 * MS, unavailable()));
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
}

#[test]
fn a_status_that_meets_the_budget_is_returned_as_it_is() {
    let options = options(3).total_timeout(15 * MS);
    let (mut retry, t0) = start(&options);
    assert_eq!(attempt(retry.next(t0, Event::Ready)), (1, 15 * MS));
    // 10 ms of backoff do not fit in the 9 ms left.
    let err = give_up(retry.next(t0 + 6 * MS, unavailable()));
    assert!(matches!(err, RequestError::Status(_)), "{err:?}");
}

#[test]
fn final_errors_end_the_request_at_once() {
    let finals = [
        RequestError::Status(Status::new(Code::InvalidArgument, "bad")),
        RequestError::Status(Status::new(Code::DeadlineExceeded, "broker gave up")),
        RequestError::Status(Status::new(Code::Unauthenticated, "who are you")),
        RequestError::PermissionDenied(Status::new(Code::PermissionDenied, "not you")),
        RequestError::Stopped,
        RequestError::Closed,
        RequestError::Full { capacity: 1 },
        RequestError::Transport(SocketError::Zmq(zmq::Error::ETERM)),
    ];
    for err in finals {
        let shown = err.to_string();
        let (mut retry, t0) = start(&options(3));
        attempt(retry.next(t0, Event::Ready));
        let ended = give_up(retry.next(t0 + MS, Event::Failed(err)));
        assert_eq!(ended.to_string(), shown, "returned as it is");
        assert_eq!(retry.attempts(), 1);
    }
}

#[test]
fn permission_denied_ends_the_request_after_one_attempt() {
    let (mut retry, t0) = start(&options(5));
    assert_eq!(attempt(retry.next(t0, Event::Ready)), (1, 100 * MS));
    let denied = Status::new(
        Code::PermissionDenied,
        "identity checkout-web may not call billing",
    );
    let reply = RequestError::from_status(denied.clone());
    let err = give_up(retry.next(t0 + MS, Event::Failed(reply)));
    assert!(
        matches!(&err, RequestError::PermissionDenied(s) if *s == denied),
        "{err:?}"
    );
    assert_eq!(err.code(), Code::PermissionDenied);
    assert_eq!(err.to_string(), denied.to_string());
    assert_eq!(retry.attempts(), 1, "never retried");
}

#[test]
fn jitter_shortens_backoffs_within_its_fraction() {
    let options = ClientOptions::default().timeout(100 * MS).retry(
        RetryPolicy::default()
            .max_attempts(50)
            .initial_backoff(40 * MS)
            .max_backoff(40 * MS)
            .jitter(0.5),
    );
    let (mut retry, t0) = start(&options);
    let (_, waits, _, _) = run_silent(&mut retry, t0);
    assert_eq!(waits.len(), 49);
    assert!(
        waits.iter().all(|d| (20 * MS..=40 * MS).contains(d)),
        "{waits:?}"
    );
    assert!(waits.iter().any(|d| *d != waits[0]), "jitter varies");
}
