use super::*;

#[test]
fn a_stop_command_ends_the_agent_without_a_restart() {
    let t0 = Instant::now();
    let mut s = sup(restarts(3), false);
    running(&mut s, t0);
    step(|o| s.request_stop(t0, o));
    let out = step(|o| s.on_done(t0, 1, TerminationStatus::Error, Ending::Closed, o));
    assert_eq!(
        out,
        [
            emit(EventKind::Closed(TerminationStatus::Error)),
            emit(EventKind::Terminated(TerminationStatus::Error))
        ],
        "a failure after a stop is not restarted"
    );
    // Stopping again does nothing.
    assert!(step(|o| s.request_stop(t0, o)).is_empty());
}

#[test]
fn a_terminated_agent_started_again_gets_a_new_attempt_and_budget() {
    let t0 = Instant::now();
    let mut s = sup(restarts(1), false);
    step(|o| s.start(t0, o));
    step(|o| s.on_done(t0, 1, TerminationStatus::Error, Ending::Closed, o));
    step(|o| s.tick(t0 + Duration::from_secs(1), o));
    step(|o| s.start(t0 + Duration::from_secs(1), o));
    step(|o| s.on_done(t0, 2, TerminationStatus::Error, Ending::Closed, o));
    assert_eq!(s.terminated(), Some(TerminationStatus::Error));
    assert_eq!(s.status().restarts, 1, "budget spent");

    assert_eq!(s.command_start(), Ok(()));
    assert!(s.is_waiting());
    assert_eq!(s.status().restarts, 0, "a fresh budget");
    assert_eq!(s.status().status, Some(TerminationStatus::Error));
    assert_eq!(
        step(|o| s.start(t0, o)),
        [
            emit(EventKind::Started { attempt: 3 }),
            Directive::Launch { attempt: 3 }
        ]
    );
    let out = step(|o| s.on_done(t0, 3, TerminationStatus::Error, Ending::Closed, o));
    assert!(
        matches!(
            out.last(),
            Some(Directive::Emit(EventKind::Restarting { attempt: 4, .. }))
        ),
        "the policy restarts it again: {out:?}"
    );
    let t1 = t0 + Duration::from_secs(1);
    step(|o| s.tick(t1, o));
    step(|o| s.start(t1, o));
    step(|o| s.on_done(t1, 4, TerminationStatus::Success, Ending::Closed, o));
    assert_eq!(
        s.terminated(),
        Some(TerminationStatus::Warning),
        "recovered in this life"
    );
}

#[test]
fn start_is_refused_while_the_agent_is_active() {
    let t0 = Instant::now();
    let mut s = sup(restarts(1), false);
    assert_eq!(s.command_start(), Err(Refusal::AlreadyRunning), "waiting");
    step(|o| s.start(t0, o));
    assert_eq!(s.command_start(), Err(Refusal::AlreadyRunning), "starting");
    step(|o| s.on_event(t0, 1, EventKind::Ready, o));
    assert_eq!(s.command_start(), Err(Refusal::AlreadyRunning), "running");
    step(|o| s.on_done(t0, 1, TerminationStatus::Error, Ending::Closed, o));
    assert_eq!(
        s.command_start(),
        Err(Refusal::AlreadyRunning),
        "backing off"
    );
}

#[test]
fn a_start_while_stopping_relaunches_once_the_attempt_ended() {
    let t0 = Instant::now();
    let mut s = sup(RestartPolicy::Never, false);
    running(&mut s, t0);
    step(|o| s.request_stop(t0, o));
    assert_eq!(s.command_start(), Ok(()));
    assert_eq!(
        step(|o| s.on_done(t0, 1, TerminationStatus::Success, Ending::Closed, o)),
        [
            emit(EventKind::Closed(TerminationStatus::Success)),
            emit(EventKind::Restarting {
                attempt: 2,
                delay: Duration::ZERO
            })
        ]
    );
    assert!(s.is_waiting());
    assert!(!s.ever_ready(), "a new life waits for its own ready");
}

#[test]
fn a_stop_after_a_start_drops_the_start() {
    let t0 = Instant::now();
    let mut s = sup(RestartPolicy::Never, false);
    running(&mut s, t0);
    assert_eq!(step(|o| s.command_restart(t0, o).unwrap()).len(), 2);
    step(|o| s.request_stop(t0, o));
    let out = step(|o| s.on_done(t0, 1, TerminationStatus::Success, Ending::Closed, o));
    assert_eq!(
        out.last(),
        Some(&emit(EventKind::Terminated(TerminationStatus::Success)))
    );
}

#[test]
fn restart_stops_a_running_agent_then_relaunches_it() {
    let t0 = Instant::now();
    let mut s = sup(restarts(2), false);
    running(&mut s, t0);
    let out = step(|o| assert_eq!(s.command_restart(t0, o), Ok(())));
    assert_eq!(
        out,
        [
            emit(EventKind::StopRequested),
            Directive::SignalStop { attempt: 1 }
        ]
    );
    assert_eq!(state(&s), AgentState::Stopping);
    let out = step(|o| s.on_done(t0, 1, TerminationStatus::Success, Ending::Closed, o));
    assert_eq!(
        out.last(),
        Some(&emit(EventKind::Restarting {
            attempt: 2,
            delay: Duration::ZERO
        }))
    );
    step(|o| s.start(t0, o));
    step(|o| s.on_event(t0, 2, EventKind::Ready, o));
    // The new attempt is supervised as usual: a failure is restarted.
    let out = step(|o| s.on_done(t0, 2, TerminationStatus::Error, Ending::Closed, o));
    assert!(matches!(
        out.last(),
        Some(Directive::Emit(EventKind::Restarting { attempt: 3, .. }))
    ));
}

#[test]
fn restart_in_every_other_phase() {
    let t0 = Instant::now();
    // Starting: stopped, then relaunched.
    let mut starting = sup(RestartPolicy::Never, false);
    step(|o| starting.start(t0, o));
    assert_eq!(step(|o| starting.command_restart(t0, o).unwrap()).len(), 2);
    step(|o| starting.on_done(t0, 1, TerminationStatus::Success, Ending::Closed, o));
    assert!(starting.is_waiting());

    // Stopping: relaunched once ended.
    let mut stopping = sup(RestartPolicy::Never, false);
    running(&mut stopping, t0);
    step(|o| stopping.request_stop(t0, o));
    assert!(step(|o| stopping.command_restart(t0, o).unwrap()).is_empty());
    step(|o| stopping.on_done(t0, 1, TerminationStatus::Success, Ending::Closed, o));
    assert!(stopping.is_waiting());

    // Backing off: no waiting out the backoff.
    let mut backing_off = sup(restarts(1), false);
    step(|o| backing_off.start(t0, o));
    step(|o| backing_off.on_done(t0, 1, TerminationStatus::Error, Ending::Closed, o));
    assert!(step(|o| backing_off.command_restart(t0, o).unwrap()).is_empty());
    assert!(backing_off.is_waiting());
    assert_eq!(backing_off.status().restarts, 0);

    // Waiting: left to start.
    let mut waiting = sup(RestartPolicy::Never, false);
    assert!(step(|o| waiting.command_restart(t0, o).unwrap()).is_empty());
    assert!(waiting.is_waiting());
    assert_eq!(waiting.status().attempt, 0);

    // Terminated: started again.
    let mut done = sup(RestartPolicy::Never, false);
    step(|o| done.start(t0, o));
    step(|o| done.on_done(t0, 1, TerminationStatus::Success, Ending::Closed, o));
    assert!(step(|o| done.command_restart(t0, o).unwrap()).is_empty());
    assert!(done.is_waiting());
}

#[test]
fn a_restart_whose_stop_is_forced_relaunches_a_child_but_not_a_thread() {
    let t0 = Instant::now();
    let mut child = sup(RestartPolicy::Never, true);
    running(&mut child, t0);
    step(|o| child.command_restart(t0, o).unwrap());
    let out = step(|o| child.tick(t0 + STOP, o));
    assert!(out.contains(&emit(EventKind::Killed)));
    assert_eq!(
        out.last(),
        Some(&emit(EventKind::Restarting {
            attempt: 2,
            delay: Duration::ZERO
        }))
    );
    assert!(child.is_waiting());

    let mut thread = sup(RestartPolicy::Never, false);
    running(&mut thread, t0);
    step(|o| thread.command_restart(t0, o).unwrap());
    let out = step(|o| thread.tick(t0 + STOP, o));
    assert!(out.contains(&emit(EventKind::Abandoned)));
    assert_eq!(state(&thread), AgentState::Abandoned);
}

#[test]
fn a_shutdown_drops_a_pending_relaunch() {
    let t0 = Instant::now();
    let mut s = sup(RestartPolicy::Never, false);
    running(&mut s, t0);
    step(|o| s.command_restart(t0, o).unwrap());
    s.cancel_relaunch();
    step(|o| s.on_done(t0, 1, TerminationStatus::Success, Ending::Closed, o));
    assert_eq!(s.terminated(), Some(TerminationStatus::Success));
}
