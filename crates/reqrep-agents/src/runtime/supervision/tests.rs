use reqrep_core::RetryPolicy;

use super::*;

const START: Duration = Duration::from_secs(2);
const STOP: Duration = Duration::from_secs(1);
const SILENCE: Duration = Duration::from_secs(3);

fn options(restart: RestartPolicy, is_child: bool) -> AgentOptions {
    let mode = if is_child {
        ExecutionMode::Process
    } else {
        ExecutionMode::Thread
    };
    AgentOptions::default()
        .start_timeout(START)
        .stop_timeout(STOP)
        .restart(restart)
        .mode(mode)
}

fn sup(restart: RestartPolicy, is_child: bool) -> Supervision {
    Supervision::new(&options(restart, is_child), fastrand::Rng::with_seed(7))
}

/// A supervision with the heartbeat timeout [`SILENCE`].
fn watched(restart: RestartPolicy) -> Supervision {
    let options = options(restart, false).heartbeat_timeout(SILENCE);
    Supervision::new(&options, fastrand::Rng::with_seed(7))
}

fn restarts(max: u32) -> RestartPolicy {
    RestartPolicy::OnFailure {
        max_restarts: max,
        backoff: RetryPolicy::default()
            .initial_backoff(Duration::from_millis(100))
            .jitter(0.0),
    }
}

fn step(f: impl FnOnce(&mut Vec<Directive>)) -> Vec<Directive> {
    let mut out = Vec::new();
    f(&mut out);
    out
}

fn emit(kind: EventKind) -> Directive {
    Directive::Emit(kind)
}

/// The handle's commands in each phase.
mod commands;

fn state(s: &Supervision) -> AgentState {
    s.status().state
}

/// Starts `s` at `t` and makes its current attempt ready.
fn running(s: &mut Supervision, t: Instant) {
    step(|o| s.start(t, o));
    let attempt = s.status().attempt;
    step(|o| s.on_event(t, attempt, EventKind::Ready, o));
    assert_eq!(state(s), AgentState::Running);
}

#[test]
fn a_clean_run() {
    let t0 = Instant::now();
    let mut s = sup(RestartPolicy::Never, false);
    assert_eq!(state(&s), AgentState::Waiting);
    assert_eq!(
        step(|o| s.start(t0, o)),
        [
            emit(EventKind::Started { attempt: 1 }),
            Directive::Launch { attempt: 1 }
        ]
    );
    assert_eq!(state(&s), AgentState::Starting);
    assert_eq!(s.next_deadline(), Some(t0 + START));
    assert_eq!(
        step(|o| s.on_event(t0, 1, EventKind::Ready, o)),
        [emit(EventKind::Ready)]
    );
    assert!(s.ever_ready());
    assert_eq!(s.status().last_heartbeat, Some(t0));
    assert_eq!(s.next_deadline(), None, "no timer while running");
    assert_eq!(
        step(|o| s.on_done(t0, 1, TerminationStatus::Success, Ending::Closed, o)),
        [
            emit(EventKind::Closed(TerminationStatus::Success)),
            emit(EventKind::Terminated(TerminationStatus::Success))
        ]
    );
    assert_eq!(s.terminated(), Some(TerminationStatus::Success));
    let status = s.status();
    assert_eq!(
        status.state,
        AgentState::Terminated(TerminationStatus::Success)
    );
    assert_eq!(
        (status.attempt, status.status),
        (1, Some(TerminationStatus::Success))
    );
}

#[test]
fn a_start_timeout_fails_the_attempt_and_stops_it() {
    let t0 = Instant::now();
    let mut s = sup(RestartPolicy::Never, false);
    step(|o| s.start(t0, o));
    assert!(step(|o| s.tick(t0 + START / 2, o)).is_empty());
    let out = step(|o| s.tick(t0 + START, o));
    assert!(
        matches!(&out[0], Directive::Emit(EventKind::Failed(c)) if c.contains("start timeout"))
    );
    assert_eq!(out[1], Directive::SignalStop { attempt: 1 });
    // It stops cleanly, yet the attempt counts as an error.
    let out = step(|o| s.on_done(t0 + START, 1, TerminationStatus::Success, Ending::Closed, o));
    assert_eq!(out[0], emit(EventKind::Closed(TerminationStatus::Error)));
    assert_eq!(s.terminated(), Some(TerminationStatus::Error));
}

#[test]
fn a_stop_that_is_not_honoured_is_forced() {
    let t0 = Instant::now();
    let mut s = sup(restarts(3), false);
    running(&mut s, t0);
    assert_eq!(
        step(|o| s.request_stop(t0, o)),
        [
            emit(EventKind::StopRequested),
            Directive::SignalStop { attempt: 1 }
        ]
    );
    assert_eq!(state(&s), AgentState::Stopping);
    assert_eq!(s.next_deadline(), Some(t0 + STOP));
    let out = step(|o| s.tick(t0 + STOP, o));
    assert_eq!(
        out,
        [
            Directive::Force { attempt: 1 },
            emit(EventKind::ForcedStop),
            emit(EventKind::Failed(
                "did not stop within the stop timeout of 1s".into()
            )),
            emit(EventKind::Abandoned),
            emit(EventKind::Terminated(TerminationStatus::Critical)),
        ],
        "no restart after a stop"
    );
    assert_eq!(state(&s), AgentState::Abandoned);
    assert_eq!(s.status().status, Some(TerminationStatus::Critical));
    assert_eq!(s.command_start(), Err(Refusal::Gone));
    assert_eq!(
        step(|o| assert_eq!(s.command_restart(t0, o), Err(Refusal::Gone))),
        []
    );
}

#[test]
fn an_abandoned_thread_that_ends_hands_the_agent_back() {
    let t0 = Instant::now();
    let mut s = sup(RestartPolicy::Never, false);
    running(&mut s, t0);
    step(|o| s.request_stop(t0, o));
    step(|o| s.tick(t0 + STOP, o));
    assert_eq!(state(&s), AgentState::Abandoned);
    // Its late end is not reported, but it may be started again.
    let late = step(|o| {
        s.on_done(
            t0 + STOP * 2,
            1,
            TerminationStatus::Success,
            Ending::Closed,
            o,
        )
    });
    assert!(late.is_empty());
    assert_eq!(
        state(&s),
        AgentState::Terminated(TerminationStatus::Critical)
    );
    assert_eq!(s.command_start(), Ok(()));
    assert_eq!(
        step(|o| s.start(t0 + STOP * 2, o)),
        [
            emit(EventKind::Started { attempt: 2 }),
            Directive::Launch { attempt: 2 }
        ]
    );
}

#[test]
fn failures_restart_with_backoff_up_to_the_limit() {
    let t0 = Instant::now();
    let mut s = sup(restarts(2), false);
    step(|o| s.start(t0, o));
    let out = step(|o| s.on_done(t0, 1, TerminationStatus::Critical, Ending::Closed, o));
    assert_eq!(
        out[1],
        emit(EventKind::Restarting {
            attempt: 2,
            delay: Duration::from_millis(100)
        })
    );
    assert_eq!(state(&s), AgentState::BackingOff);
    assert_eq!(s.status().restarts, 1);
    assert!(step(|o| s.tick(t0 + Duration::from_millis(99), o)).is_empty());
    // The backoff over, it waits for the plan to launch it.
    let t1 = t0 + Duration::from_millis(100);
    assert!(step(|o| s.tick(t1, o)).is_empty());
    assert!(s.is_waiting());
    let out = step(|o| s.start(t1, o));
    assert_eq!(out[1], Directive::Launch { attempt: 2 });
    let out = step(|o| s.on_done(t1, 2, TerminationStatus::Error, Ending::Closed, o));
    assert_eq!(
        out[1],
        emit(EventKind::Restarting {
            attempt: 3,
            delay: Duration::from_millis(200)
        })
    );
    let t2 = t1 + Duration::from_millis(200);
    step(|o| s.tick(t2, o));
    step(|o| s.start(t2, o));
    let out = step(|o| s.on_done(t2, 3, TerminationStatus::Error, Ending::Closed, o));
    assert_eq!(
        out.last(),
        Some(&emit(EventKind::Terminated(TerminationStatus::Error)))
    );
}

#[test]
fn a_recovered_agent_ends_with_a_warning() {
    let t0 = Instant::now();
    let mut s = sup(restarts(1), false);
    step(|o| s.start(t0, o));
    step(|o| s.on_done(t0, 1, TerminationStatus::Error, Ending::Closed, o));
    step(|o| s.tick(t0 + Duration::from_secs(1), o));
    step(|o| s.start(t0 + Duration::from_secs(1), o));
    step(|o| s.on_done(t0, 2, TerminationStatus::Success, Ending::Closed, o));
    assert_eq!(s.terminated(), Some(TerminationStatus::Warning));
}

#[test]
fn stale_attempts_are_ignored() {
    let t0 = Instant::now();
    let mut s = sup(restarts(1), true);
    step(|o| s.start(t0, o));
    step(|o| s.on_done(t0, 1, TerminationStatus::Error, Ending::Closed, o));
    assert!(
        step(|o| s.on_event(t0, 1, EventKind::Heartbeat, o)).is_empty(),
        "in backoff"
    );
    step(|o| s.tick(t0 + Duration::from_secs(1), o));
    step(|o| s.start(t0 + Duration::from_secs(1), o));
    assert!(step(|o| s.on_event(t0, 1, EventKind::Ready, o)).is_empty());
    assert!(!s.ever_ready());
    assert_eq!(step(|o| s.on_event(t0, 2, EventKind::Ready, o)).len(), 1);
}

#[test]
fn a_forced_child_process_is_killed_and_may_restart() {
    let t0 = Instant::now();
    let mut s = sup(restarts(1), true);
    step(|o| s.start(t0, o));
    step(|o| s.tick(t0 + START, o));
    let out = step(|o| s.tick(t0 + START + STOP, o));
    assert_eq!(out[0], Directive::Force { attempt: 1 });
    assert_eq!(out[3], emit(EventKind::Killed));
    assert!(matches!(
        out.last(),
        Some(Directive::Emit(EventKind::Restarting { attempt: 2, .. }))
    ));
}

#[test]
fn stopping_waiting_or_backing_off_agents_ends_them() {
    let t0 = Instant::now();
    let mut waiting = sup(RestartPolicy::Never, false);
    step(|o| waiting.request_stop(t0, o));
    assert_eq!(waiting.terminated(), Some(TerminationStatus::Warning));

    let mut backing_off = sup(restarts(5), false);
    step(|o| backing_off.start(t0, o));
    step(|o| backing_off.on_done(t0, 1, TerminationStatus::Critical, Ending::Closed, o));
    step(|o| backing_off.request_stop(t0, o));
    assert_eq!(backing_off.terminated(), Some(TerminationStatus::Critical));

    // Waiting for a relaunch after its backoff: it ends with its last status.
    let mut relaunching = sup(restarts(5), false);
    step(|o| relaunching.start(t0, o));
    step(|o| relaunching.on_done(t0, 1, TerminationStatus::Error, Ending::Closed, o));
    step(|o| relaunching.tick(t0 + Duration::from_secs(1), o));
    assert!(relaunching.is_waiting());
    step(|o| relaunching.request_stop(t0 + Duration::from_secs(1), o));
    assert_eq!(relaunching.terminated(), Some(TerminationStatus::Error));
}

#[test]
fn configuration_warnings_set_a_floor() {
    let t0 = Instant::now();
    let mut s = sup(RestartPolicy::Never, false);
    step(|o| s.warn("limit 0".into(), o));
    step(|o| s.start(t0, o));
    step(|o| s.on_done(t0, 1, TerminationStatus::Success, Ending::Closed, o));
    assert_eq!(s.terminated(), Some(TerminationStatus::Warning));

    let mut rejected = sup(RestartPolicy::Never, false);
    step(|o| rejected.reject("bad".into(), TerminationStatus::Critical, o));
    assert_eq!(rejected.terminated(), Some(TerminationStatus::Critical));
}

#[test]
fn heartbeats_keep_a_running_agent_alive() {
    let t0 = Instant::now();
    let mut s = watched(RestartPolicy::Never);
    step(|o| s.start(t0, o));
    assert_eq!(
        s.next_deadline(),
        Some(t0 + START),
        "the start timeout covers the start"
    );
    let ready = t0 + Duration::from_secs(1);
    step(|o| s.on_event(ready, 1, EventKind::Ready, o));
    assert_eq!(s.next_deadline(), Some(ready + SILENCE));
    let beat = ready + Duration::from_secs(2);
    assert_eq!(
        step(|o| s.on_event(beat, 1, EventKind::Heartbeat, o)),
        [emit(EventKind::Heartbeat)]
    );
    assert_eq!(s.status().last_heartbeat, Some(beat));
    assert_eq!(s.next_deadline(), Some(beat + SILENCE));
    assert!(
        step(|o| s.tick(ready + SILENCE, o)).is_empty(),
        "beat in time"
    );
    assert_eq!(state(&s), AgentState::Running);
}

#[test]
fn a_heartbeat_timeout_fails_the_attempt_which_restarts() {
    let t0 = Instant::now();
    let mut s = watched(restarts(1));
    running(&mut s, t0);
    assert!(step(|o| s.tick(t0 + SILENCE - Duration::from_millis(1), o)).is_empty());
    let silent = t0 + SILENCE;
    assert_eq!(
        step(|o| s.tick(silent, o)),
        [
            emit(EventKind::Failed("no heartbeat within 3s".into())),
            Directive::SignalStop { attempt: 1 }
        ]
    );
    assert_eq!(state(&s), AgentState::Stopping);
    assert_eq!(s.next_deadline(), Some(silent + STOP));
    // No heartbeat timeout while stopping: a late heartbeat changes nothing.
    step(|o| s.on_event(silent, 1, EventKind::Heartbeat, o));
    assert_eq!(s.next_deadline(), Some(silent + STOP));
    // It honours the stop, yet the attempt is an error: the policy restarts.
    let out = step(|o| s.on_done(silent, 1, TerminationStatus::Success, Ending::Closed, o));
    assert_eq!(
        out,
        [
            emit(EventKind::Closed(TerminationStatus::Error)),
            emit(EventKind::Restarting {
                attempt: 2,
                delay: Duration::from_millis(100)
            })
        ]
    );
}

#[test]
fn a_silent_agent_that_ignores_the_stop_is_forced() {
    let t0 = Instant::now();
    let mut s = watched(RestartPolicy::Never);
    running(&mut s, t0);
    step(|o| s.tick(t0 + SILENCE, o));
    let out = step(|o| s.tick(t0 + SILENCE + STOP, o));
    assert_eq!(out[0], Directive::Force { attempt: 1 });
    assert_eq!(
        s.terminated(),
        Some(TerminationStatus::Critical),
        "forced as usual"
    );
}
