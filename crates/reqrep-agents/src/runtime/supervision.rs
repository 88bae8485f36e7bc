//! One agent's supervision as a state machine with no threads and no clock:
//! attempts, start and stop timeouts, forced stops and restarts. It is fed
//! `now` and what happened, and answers with [`Directive`]s for the driver.

use std::time::{Duration, Instant};

use super::event::Ending;
use super::{EventKind, RestartPolicy, TerminationStatus};

/// What the driver must do for the supervised agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Directive {
    /// Start attempt `attempt` (a thread, task or child process).
    Launch {
        /// The attempt number, from 1.
        attempt: u32,
    },
    /// Ask the attempt to stop (its stop token; a child's control pipe).
    SignalStop {
        /// The attempt to stop.
        attempt: u32,
    },
    /// Stop the attempt by force: abandon its thread or kill its process.
    Force {
        /// The attempt to force.
        attempt: u32,
    },
    /// Record this event.
    Emit(EventKind),
}

/// Where the agent is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Not launched yet (waiting for dependencies).
    Idle,
    /// Launched, not ready yet.
    Starting { deadline: Instant },
    /// Ready, working.
    Running,
    /// Asked to stop (or timed out starting), not ended yet.
    Stopping { deadline: Instant },
    /// Failed; the next attempt starts at `until`.
    Backoff { until: Instant },
    /// Done for good.
    Terminated(TerminationStatus),
}

/// The supervision of one agent.
#[derive(Debug)]
pub(crate) struct Supervision {
    /// Launch to ready, at most.
    start_timeout: Duration,
    /// Stop request to end, at most; then the stop is forced.
    stop_timeout: Duration,
    /// Whether failures are retried.
    restart: RestartPolicy,
    /// Whether a forced attempt may be restarted (a killed child process
    /// can; an abandoned thread took the agent with it).
    restart_after_force: bool,
    /// Jitter for the restart backoff.
    rng: fastrand::Rng,
    phase: Phase,
    /// The current (or last) attempt, from 1.
    attempt: u32,
    /// Restarts so far.
    restarts: u32,
    /// Whether any attempt became ready.
    ever_ready: bool,
    /// Whether a stop was requested: no more restarts.
    stop_requested: bool,
    /// Least final status (configuration warnings).
    floor: TerminationStatus,
    /// Least status of the current attempt (a start timeout makes it `Error`).
    attempt_floor: TerminationStatus,
    /// Status of the last attempt that ended.
    last: TerminationStatus,
    /// Whether an earlier attempt failed: a later success ends as `Warning`.
    failed_before: bool,
}

impl Supervision {
    /// A supervision in its idle phase.
    pub(crate) fn new(
        start_timeout: Duration,
        stop_timeout: Duration,
        restart: RestartPolicy,
        restart_after_force: bool,
        rng: fastrand::Rng,
    ) -> Self {
        Self {
            start_timeout,
            stop_timeout,
            restart,
            restart_after_force,
            rng,
            phase: Phase::Idle,
            attempt: 0,
            restarts: 0,
            ever_ready: false,
            stop_requested: false,
            floor: TerminationStatus::Success,
            attempt_floor: TerminationStatus::Success,
            last: TerminationStatus::Success,
            failed_before: false,
        }
    }

    /// Whether it was never launched.
    pub(crate) fn is_idle(&self) -> bool {
        self.phase == Phase::Idle
    }

    /// The final status, once terminated.
    pub(crate) fn terminated(&self) -> Option<TerminationStatus> {
        match self.phase {
            Phase::Terminated(status) => Some(status),
            _ => None,
        }
    }

    /// Whether an attempt ever became ready.
    pub(crate) fn ever_ready(&self) -> bool {
        self.ever_ready
    }

    /// Whether a stop was requested.
    pub(crate) fn stop_requested(&self) -> bool {
        self.stop_requested
    }

    /// The next instant at which [`Self::tick`] has something to do.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Starting { deadline } | Phase::Stopping { deadline } => Some(deadline),
            Phase::Backoff { until } => Some(until),
            _ => None,
        }
    }

    /// Records a configuration warning: the final status is at least
    /// `Warning`.
    pub(crate) fn warn(&mut self, message: String, out: &mut Vec<Directive>) {
        self.floor = self.floor.max(TerminationStatus::Warning);
        out.push(Directive::Emit(EventKind::Warning(message)));
    }

    /// Ends an idle agent without running it (rejected configuration, failed
    /// dependency).
    pub(crate) fn reject(
        &mut self,
        cause: String,
        status: TerminationStatus,
        out: &mut Vec<Directive>,
    ) {
        if self.phase == Phase::Idle {
            out.push(Directive::Emit(EventKind::Failed(cause)));
            self.terminate(status, out);
        }
    }

    /// Launches the first attempt.
    pub(crate) fn start(&mut self, now: Instant, out: &mut Vec<Directive>) {
        if self.phase == Phase::Idle {
            self.launch(now, out);
        }
    }

    /// An event reported by attempt `attempt`.
    pub(crate) fn on_event(&mut self, attempt: u32, kind: EventKind, out: &mut Vec<Directive>) {
        if attempt != self.attempt || !self.attempt_live() {
            return;
        }
        if kind == EventKind::Ready {
            // Ready while stopping (a setup that ended after the start
            // timeout, or raced a stop) is not reported: dependents must not
            // start on an agent that is going away.
            if !matches!(self.phase, Phase::Starting { .. }) {
                return;
            }
            self.ever_ready = true;
            self.phase = Phase::Running;
        }
        out.push(Directive::Emit(kind));
    }

    /// Attempt `attempt` ended with `status`.
    pub(crate) fn on_done(
        &mut self,
        now: Instant,
        attempt: u32,
        status: TerminationStatus,
        ending: Ending,
        out: &mut Vec<Directive>,
    ) {
        if attempt != self.attempt || !self.attempt_live() {
            return;
        }
        let status = match ending {
            Ending::Closed => {
                let status = status.max(self.attempt_floor);
                out.push(Directive::Emit(EventKind::Closed(status)));
                status
            }
            Ending::Unclosed { code } => {
                out.push(Directive::Emit(EventKind::ExitedWithoutClosing { code }));
                TerminationStatus::Critical
            }
            Ending::NotRun => status.max(self.attempt_floor),
        };
        self.after_attempt(now, status, true, out);
    }

    /// Asks the agent to stop for good.
    pub(crate) fn request_stop(&mut self, now: Instant, out: &mut Vec<Directive>) {
        if self.stop_requested || self.terminated().is_some() {
            return;
        }
        self.stop_requested = true;
        match self.phase {
            Phase::Idle => {
                out.push(Directive::Emit(EventKind::Warning(
                    "stopped before it started".into(),
                )));
                self.terminate(TerminationStatus::Warning, out);
            }
            Phase::Starting { .. } | Phase::Running => {
                out.push(Directive::Emit(EventKind::StopRequested));
                out.push(Directive::SignalStop {
                    attempt: self.attempt,
                });
                self.phase = Phase::Stopping {
                    deadline: now + self.stop_timeout,
                };
            }
            Phase::Stopping { .. } => out.push(Directive::Emit(EventKind::StopRequested)),
            Phase::Backoff { .. } => self.terminate(self.last, out),
            Phase::Terminated(_) => {}
        }
    }

    /// Acts on the deadlines that passed by `now`.
    pub(crate) fn tick(&mut self, now: Instant, out: &mut Vec<Directive>) {
        match self.phase {
            Phase::Starting { deadline } if now >= deadline => {
                out.push(Directive::Emit(EventKind::Failed(format!(
                    "not ready within the start timeout of {:?}",
                    self.start_timeout
                ))));
                self.attempt_floor = TerminationStatus::Error;
                out.push(Directive::SignalStop {
                    attempt: self.attempt,
                });
                self.phase = Phase::Stopping {
                    deadline: now + self.stop_timeout,
                };
            }
            Phase::Stopping { deadline } if now >= deadline => {
                out.push(Directive::Force {
                    attempt: self.attempt,
                });
                out.push(Directive::Emit(EventKind::ForcedStop));
                out.push(Directive::Emit(EventKind::Failed(format!(
                    "did not stop within the stop timeout of {:?}",
                    self.stop_timeout
                ))));
                out.push(Directive::Emit(if self.restart_after_force {
                    EventKind::Killed
                } else {
                    EventKind::Abandoned
                }));
                self.after_attempt(
                    now,
                    TerminationStatus::Critical,
                    self.restart_after_force,
                    out,
                );
            }
            Phase::Backoff { until } if now >= until => self.launch(now, out),
            _ => {}
        }
    }

    /// Whether the current attempt is running (launched and not ended).
    fn attempt_live(&self) -> bool {
        matches!(
            self.phase,
            Phase::Starting { .. } | Phase::Running | Phase::Stopping { .. }
        )
    }

    fn launch(&mut self, now: Instant, out: &mut Vec<Directive>) {
        self.attempt += 1;
        self.attempt_floor = TerminationStatus::Success;
        out.push(Directive::Emit(EventKind::Started {
            attempt: self.attempt,
        }));
        out.push(Directive::Launch {
            attempt: self.attempt,
        });
        self.phase = Phase::Starting {
            deadline: now + self.start_timeout,
        };
    }

    fn after_attempt(
        &mut self,
        now: Instant,
        status: TerminationStatus,
        may_restart: bool,
        out: &mut Vec<Directive>,
    ) {
        self.last = status;
        if status.is_failure()
            && may_restart
            && !self.stop_requested
            && let Some(delay) = self.restart.delay(self.restarts + 1, &mut self.rng)
        {
            self.restarts += 1;
            self.failed_before = true;
            out.push(Directive::Emit(EventKind::Restarting {
                attempt: self.attempt + 1,
                delay,
            }));
            self.phase = Phase::Backoff { until: now + delay };
            return;
        }
        self.terminate(status, out);
    }

    fn terminate(&mut self, status: TerminationStatus, out: &mut Vec<Directive>) {
        let mut status = status.max(self.floor);
        if self.failed_before {
            status = status.max(TerminationStatus::Warning);
        }
        out.push(Directive::Emit(EventKind::Terminated(status)));
        self.phase = Phase::Terminated(status);
    }
}

#[cfg(test)]
mod tests {
    use reqrep_core::RetryPolicy;

    use super::*;

    const START: Duration = Duration::from_secs(2);
    const STOP: Duration = Duration::from_secs(1);

    fn sup(restart: RestartPolicy, restart_after_force: bool) -> Supervision {
        Supervision::new(
            START,
            STOP,
            restart,
            restart_after_force,
            fastrand::Rng::with_seed(7),
        )
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

    #[test]
    fn a_clean_run() {
        let t0 = Instant::now();
        let mut s = sup(RestartPolicy::Never, false);
        assert_eq!(
            step(|o| s.start(t0, o)),
            [
                emit(EventKind::Started { attempt: 1 }),
                Directive::Launch { attempt: 1 }
            ]
        );
        assert_eq!(s.next_deadline(), Some(t0 + START));
        assert_eq!(
            step(|o| s.on_event(1, EventKind::Ready, o)),
            [emit(EventKind::Ready)]
        );
        assert!(s.ever_ready());
        assert_eq!(s.next_deadline(), None, "no timer while running");
        assert_eq!(
            step(|o| s.on_done(t0, 1, TerminationStatus::Success, Ending::Closed, o)),
            [
                emit(EventKind::Closed(TerminationStatus::Success)),
                emit(EventKind::Terminated(TerminationStatus::Success))
            ]
        );
        assert_eq!(s.terminated(), Some(TerminationStatus::Success));
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
        step(|o| s.start(t0, o));
        step(|o| s.on_event(1, EventKind::Ready, o));
        assert_eq!(
            step(|o| s.request_stop(t0, o)),
            [
                emit(EventKind::StopRequested),
                Directive::SignalStop { attempt: 1 }
            ]
        );
        assert_eq!(s.next_deadline(), Some(t0 + STOP));
        let out = step(|o| s.tick(t0 + STOP, o));
        assert_eq!(out[0], Directive::Force { attempt: 1 });
        assert_eq!(out[1], emit(EventKind::ForcedStop));
        assert_eq!(
            s.terminated(),
            Some(TerminationStatus::Critical),
            "no restart after a stop"
        );
        // A late end of the abandoned attempt changes nothing.
        assert!(
            step(|o| s.on_done(
                t0 + STOP * 2,
                1,
                TerminationStatus::Success,
                Ending::Closed,
                o
            ))
            .is_empty()
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
        assert!(step(|o| s.tick(t0 + Duration::from_millis(99), o)).is_empty());
        let out = step(|o| s.tick(t0 + Duration::from_millis(100), o));
        assert_eq!(out[1], Directive::Launch { attempt: 2 });
        let t1 = t0 + Duration::from_millis(100);
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
            step(|o| s.on_event(1, EventKind::Heartbeat, o)).is_empty(),
            "in backoff"
        );
        step(|o| s.tick(t0 + Duration::from_secs(1), o));
        assert!(step(|o| s.on_event(1, EventKind::Ready, o)).is_empty());
        assert!(!s.ever_ready());
        assert_eq!(step(|o| s.on_event(2, EventKind::Ready, o)).len(), 1);
    }

    #[test]
    fn a_forced_child_process_may_restart() {
        let t0 = Instant::now();
        let mut s = sup(restarts(1), true);
        step(|o| s.start(t0, o));
        step(|o| s.tick(t0 + START, o));
        let out = step(|o| s.tick(t0 + START + STOP, o));
        assert!(out.contains(&Directive::Force { attempt: 1 }));
        assert!(matches!(
            out.last(),
            Some(Directive::Emit(EventKind::Restarting { attempt: 2, .. }))
        ));
    }

    #[test]
    fn stopping_idle_or_backing_off_agents_ends_them() {
        let t0 = Instant::now();
        let mut idle = sup(RestartPolicy::Never, false);
        step(|o| idle.request_stop(t0, o));
        assert_eq!(idle.terminated(), Some(TerminationStatus::Warning));

        let mut backing_off = sup(restarts(5), false);
        step(|o| backing_off.start(t0, o));
        step(|o| backing_off.on_done(t0, 1, TerminationStatus::Critical, Ending::Closed, o));
        step(|o| backing_off.request_stop(t0, o));
        assert_eq!(backing_off.terminated(), Some(TerminationStatus::Critical));
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
}
