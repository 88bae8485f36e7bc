//! One agent's supervision as a state machine with no threads and no clock:
//! attempts, start, heartbeat and stop timeouts, forced stops, restarts, and
//! the commands of the [`OrchestratorHandle`](super::OrchestratorHandle). It
//! is fed `now` and what happened, and answers with [`Directive`]s for the
//! driver.

use std::time::{Duration, Instant};

use super::agent_status::{AgentState, AgentStatus};
use super::event::Ending;
use super::{AgentOptions, EventKind, ExecutionMode, RestartPolicy, TerminationStatus};

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

/// Why a command of the handle was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// A start of an agent that is launched or about to be.
    AlreadyRunning,
    /// An abandoned attempt holds the agent.
    Gone,
}

/// Where the agent is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Not launched: the plan launches it once its dependencies and a slot
    /// allow (first start, after a backoff, after a start command).
    Waiting,
    /// Launched, not ready yet.
    Starting { deadline: Instant },
    /// Ready, working; `alive` is its last sign of life (ready, heartbeat).
    Running { alive: Instant },
    /// Asked to stop (or failed while starting or running), not ended yet.
    Stopping { deadline: Instant },
    /// Failed; waits until `until`, then for the plan to launch it again.
    Backoff { until: Instant },
    /// Done, unless started again through the handle.
    Terminated(TerminationStatus),
}

/// The supervision of one agent.
#[derive(Debug)]
pub(crate) struct Supervision {
    /// Launch to ready, at most.
    start_timeout: Duration,
    /// Stop request to end, at most; then the stop is forced.
    stop_timeout: Duration,
    /// Longest silence while running; then the attempt fails.
    heartbeat_timeout: Option<Duration>,
    /// Whether failures are retried.
    restart: RestartPolicy,
    /// Whether attempts are child processes: a forced one is killed and may
    /// be restarted, while a forced thread or task is abandoned and keeps
    /// the agent.
    is_child: bool,
    /// Jitter for the restart backoff.
    rng: fastrand::Rng,
    phase: Phase,
    /// The current (or last) attempt, from 1.
    attempt: u32,
    /// Restarts by the policy since the last start through the handle.
    restarts: u32,
    /// Whether an attempt became ready since the last start through the
    /// handle (or since the run began).
    ever_ready: bool,
    /// Whether a stop was requested: no more restarts.
    stop_requested: bool,
    /// Whether a start or restart command waits for the current attempt to
    /// end.
    relaunch: bool,
    /// The attempt abandoned by a forced stop, holding the agent until its
    /// thread ends.
    abandoned: Option<u32>,
    /// The last `Ready` or `Heartbeat`.
    last_heartbeat: Option<Instant>,
    /// Least final status (configuration warnings).
    floor: TerminationStatus,
    /// Least status of the current attempt (a start or heartbeat timeout
    /// makes it `Error`).
    attempt_floor: TerminationStatus,
    /// Status of the last attempt that ended.
    last: Option<TerminationStatus>,
    /// Whether an earlier attempt failed: a later success ends as `Warning`.
    failed_before: bool,
}

impl Supervision {
    /// A supervision of an agent run with `options`, waiting to be launched.
    pub(crate) fn new(options: &AgentOptions, rng: fastrand::Rng) -> Self {
        Self {
            start_timeout: options.start_timeout,
            stop_timeout: options.stop_timeout,
            heartbeat_timeout: options.heartbeat_timeout,
            restart: options.restart.clone(),
            is_child: options.mode == ExecutionMode::Process,
            rng,
            phase: Phase::Waiting,
            attempt: 0,
            restarts: 0,
            ever_ready: false,
            stop_requested: false,
            relaunch: false,
            abandoned: None,
            last_heartbeat: None,
            floor: TerminationStatus::Success,
            attempt_floor: TerminationStatus::Success,
            last: None,
            failed_before: false,
        }
    }

    /// Whether it waits to be launched.
    pub(crate) fn is_waiting(&self) -> bool {
        self.phase == Phase::Waiting
    }

    /// Whether an attempt is launched and not ended (it holds a slot).
    pub(crate) fn is_active(&self) -> bool {
        self.attempt_live()
    }

    /// The final status, once terminated.
    pub(crate) fn terminated(&self) -> Option<TerminationStatus> {
        match self.phase {
            Phase::Terminated(status) => Some(status),
            _ => None,
        }
    }

    /// Whether an attempt became ready since the last start through the
    /// handle.
    pub(crate) fn ever_ready(&self) -> bool {
        self.ever_ready
    }

    /// Whether a stop was requested.
    pub(crate) fn stop_requested(&self) -> bool {
        self.stop_requested
    }

    /// What the handle reports.
    pub(crate) fn status(&self) -> AgentStatus {
        let state = match self.phase {
            Phase::Waiting => AgentState::Waiting,
            Phase::Starting { .. } => AgentState::Starting,
            Phase::Running { .. } => AgentState::Running,
            Phase::Stopping { .. } => AgentState::Stopping,
            Phase::Backoff { .. } => AgentState::BackingOff,
            Phase::Terminated(_) if self.abandoned.is_some() => AgentState::Abandoned,
            Phase::Terminated(status) => AgentState::Terminated(status),
        };
        let mut status = AgentStatus::registered();
        status.state = state;
        status.attempt = self.attempt;
        status.restarts = self.restarts;
        status.last_heartbeat = self.last_heartbeat;
        status.status = self.terminated().or(self.last);
        status
    }

    /// The next instant at which [`Self::tick`] has something to do.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Starting { deadline } | Phase::Stopping { deadline } => Some(deadline),
            Phase::Running { alive } => self.heartbeat_timeout.map(|timeout| alive + timeout),
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

    /// Ends a waiting agent without running it (rejected configuration,
    /// failed dependency).
    pub(crate) fn reject(
        &mut self,
        cause: String,
        status: TerminationStatus,
        out: &mut Vec<Directive>,
    ) {
        if self.phase == Phase::Waiting {
            out.push(Directive::Emit(EventKind::Failed(cause)));
            self.terminate(status, out);
        }
    }

    /// Launches the next attempt of a waiting agent.
    pub(crate) fn start(&mut self, now: Instant, out: &mut Vec<Directive>) {
        if self.phase == Phase::Waiting {
            self.launch(now, out);
        }
    }

    /// An event reported by attempt `attempt`.
    pub(crate) fn on_event(
        &mut self,
        now: Instant,
        attempt: u32,
        kind: EventKind,
        out: &mut Vec<Directive>,
    ) {
        if attempt != self.attempt || !self.attempt_live() {
            return;
        }
        match kind {
            EventKind::Ready => {
                // Ready while stopping (a setup that ended after the start
                // timeout, or raced a stop) is not reported: dependents must
                // not start on an agent that is going away.
                if !matches!(self.phase, Phase::Starting { .. }) {
                    return;
                }
                self.ever_ready = true;
                self.last_heartbeat = Some(now);
                self.phase = Phase::Running { alive: now };
            }
            EventKind::Heartbeat => {
                self.last_heartbeat = Some(now);
                if let Phase::Running { alive } = &mut self.phase {
                    *alive = now;
                }
            }
            _ => {}
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
        if self.abandoned == Some(attempt) {
            // The abandoned thread ended after all and handed the agent
            // back: it may be started again. Its close is not reported.
            if ending == Ending::Closed {
                self.abandoned = None;
            }
            return;
        }
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

    /// Asks the agent to stop for good (a shutdown, or a stop command): no
    /// restart follows, and a pending start command is dropped.
    pub(crate) fn request_stop(&mut self, now: Instant, out: &mut Vec<Directive>) {
        self.relaunch = false;
        if self.stop_requested || self.terminated().is_some() {
            return;
        }
        self.stop_requested = true;
        match self.phase {
            Phase::Waiting if self.attempt == 0 => {
                out.push(Directive::Emit(EventKind::Warning(
                    "stopped before it started".into(),
                )));
                self.terminate(TerminationStatus::Warning, out);
            }
            Phase::Waiting | Phase::Backoff { .. } => {
                self.terminate(self.last.unwrap_or(TerminationStatus::Warning), out);
            }
            Phase::Starting { .. } | Phase::Running { .. } => {
                out.push(Directive::Emit(EventKind::StopRequested));
                out.push(Directive::SignalStop {
                    attempt: self.attempt,
                });
                self.phase = Phase::Stopping {
                    deadline: now + self.stop_timeout,
                };
            }
            Phase::Stopping { .. } => out.push(Directive::Emit(EventKind::StopRequested)),
            Phase::Terminated(_) => {}
        }
    }

    /// Drops a pending start command (the run is shutting down).
    pub(crate) fn cancel_relaunch(&mut self) {
        self.relaunch = false;
    }

    /// The handle's `start`: a terminated agent waits to be launched again,
    /// with a fresh restart budget; a stopping one is launched again once
    /// its attempt has ended.
    pub(crate) fn command_start(&mut self) -> Result<(), Refusal> {
        if self.abandoned.is_some() {
            return Err(Refusal::Gone);
        }
        match self.phase {
            Phase::Terminated(_) => {
                self.reset_life();
                self.phase = Phase::Waiting;
                Ok(())
            }
            Phase::Stopping { .. } => {
                self.stop_requested = true;
                self.relaunch = true;
                Ok(())
            }
            _ => Err(Refusal::AlreadyRunning),
        }
    }

    /// The handle's `restart`: a starting or running agent is stopped and
    /// launched again once its attempt has ended; a backing-off one waits
    /// for its launch without the backoff; a terminated one is started
    /// again. Each time with a fresh restart budget.
    pub(crate) fn command_restart(
        &mut self,
        now: Instant,
        out: &mut Vec<Directive>,
    ) -> Result<(), Refusal> {
        if self.abandoned.is_some() {
            return Err(Refusal::Gone);
        }
        match self.phase {
            Phase::Starting { .. } | Phase::Running { .. } => {
                self.request_stop(now, out);
                self.relaunch = true;
            }
            Phase::Stopping { .. } => {
                self.stop_requested = true;
                self.relaunch = true;
            }
            Phase::Backoff { .. } | Phase::Terminated(_) => {
                self.reset_life();
                self.phase = Phase::Waiting;
            }
            Phase::Waiting => {}
        }
        Ok(())
    }

    /// Acts on the deadlines that passed by `now`.
    pub(crate) fn tick(&mut self, now: Instant, out: &mut Vec<Directive>) {
        match self.phase {
            Phase::Starting { deadline } if now >= deadline => {
                let cause = format!(
                    "not ready within the start timeout of {:?}",
                    self.start_timeout
                );
                self.fail_attempt(now, cause, out);
            }
            Phase::Running { alive } => {
                if let Some(timeout) = self.heartbeat_timeout
                    && now >= alive + timeout
                {
                    self.fail_attempt(now, format!("no heartbeat within {timeout:?}"), out);
                }
            }
            Phase::Stopping { deadline } if now >= deadline => self.force(now, out),
            Phase::Backoff { until } if now >= until => self.phase = Phase::Waiting,
            _ => {}
        }
    }

    /// Whether the current attempt is running (launched and not ended).
    fn attempt_live(&self) -> bool {
        matches!(
            self.phase,
            Phase::Starting { .. } | Phase::Running { .. } | Phase::Stopping { .. }
        )
    }

    /// A new life: after a start or restart through the handle.
    fn reset_life(&mut self) {
        self.restarts = 0;
        self.failed_before = false;
        self.ever_ready = false;
        self.stop_requested = false;
        self.relaunch = false;
    }

    /// The attempt failed while alive (a timeout): it is an `Error` at
    /// least, and is asked to stop.
    fn fail_attempt(&mut self, now: Instant, cause: String, out: &mut Vec<Directive>) {
        out.push(Directive::Emit(EventKind::Failed(cause)));
        self.attempt_floor = self.attempt_floor.max(TerminationStatus::Error);
        out.push(Directive::SignalStop {
            attempt: self.attempt,
        });
        self.phase = Phase::Stopping {
            deadline: now + self.stop_timeout,
        };
    }

    /// The stop timeout passed: kill the child, or abandon the thread with
    /// the agent.
    fn force(&mut self, now: Instant, out: &mut Vec<Directive>) {
        out.push(Directive::Force {
            attempt: self.attempt,
        });
        out.push(Directive::Emit(EventKind::ForcedStop));
        out.push(Directive::Emit(EventKind::Failed(format!(
            "did not stop within the stop timeout of {:?}",
            self.stop_timeout
        ))));
        if self.is_child {
            out.push(Directive::Emit(EventKind::Killed));
        } else {
            out.push(Directive::Emit(EventKind::Abandoned));
            self.abandoned = Some(self.attempt);
        }
        self.after_attempt(now, TerminationStatus::Critical, self.is_child, out);
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
        self.last = Some(status);
        if std::mem::take(&mut self.relaunch) && may_restart {
            // A start or restart command waited for this end.
            self.reset_life();
            out.push(Directive::Emit(EventKind::Restarting {
                attempt: self.attempt + 1,
                delay: Duration::ZERO,
            }));
            self.phase = Phase::Waiting;
            return;
        }
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
mod tests;
