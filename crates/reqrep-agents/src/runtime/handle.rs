//! Control of a running orchestrator, agent by agent:
//! [`OrchestratorHandle`] and its [`ControlError`].

use std::fmt;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, ThreadId};
use std::time::Duration;

use super::AgentStatus;
use super::attempt::Message;

/// Why a command of the [`OrchestratorHandle`] was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// No agent is registered under this name.
    #[error("no agent named {0:?}")]
    UnknownAgent(String),
    /// The run has not begun yet, or is over.
    #[error("the orchestrator is not running")]
    NotRunning,
    /// The run is shutting down (its stop token was stopped): the shutdown
    /// wins over commands.
    #[error("the orchestrator is shutting down")]
    ShuttingDown,
    /// `start` of an agent that is waiting, starting, running or backing off.
    #[error("agent {0:?} is already running")]
    AlreadyRunning(String),
    /// A forced stop abandoned the agent's thread or task, which still holds
    /// the agent: it cannot be started again.
    #[error("agent {0:?} is gone: an abandoned thread or task still holds it")]
    AgentGone(String),
    /// The run did not answer in time (it is stuck in an event callback,
    /// say).
    #[error("the orchestrator did not answer within {0:?}")]
    Timeout(Duration),
}

/// A command for one agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Command {
    /// Stop it for good.
    Stop,
    /// Launch it again.
    Start,
    /// Stop it, then launch it again.
    Restart,
}

/// A command on its way to the driver.
pub(crate) struct Request {
    /// The agent's index.
    pub(crate) agent: usize,
    /// What to do.
    pub(crate) command: Command,
    /// Where the answer goes (none for a command from the driver's thread).
    pub(crate) reply: Option<Sender<Result<(), ControlError>>>,
}

/// Where the run is, for the handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Before,
    /// Driven by this thread.
    During(ThreadId),
    After,
}

/// What the driver shares with handles: the run's phase and every agent's
/// latest status.
#[derive(Debug)]
pub(crate) struct Shared {
    view: Mutex<View>,
}

#[derive(Debug)]
struct View {
    phase: Phase,
    /// Registered names, by index.
    names: Vec<Arc<str>>,
    /// Latest statuses, by index.
    statuses: Vec<AgentStatus>,
}

impl Shared {
    pub(crate) fn new() -> Self {
        Self {
            view: Mutex::new(View {
                phase: Phase::Before,
                names: Vec::new(),
                statuses: Vec::new(),
            }),
        }
    }

    fn view(&self) -> MutexGuard<'_, View> {
        self.view.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new registration.
    pub(crate) fn register(&self, name: Arc<str>) {
        let mut view = self.view();
        view.names.push(name);
        view.statuses.push(AgentStatus::registered());
    }

    /// The run begins on the current thread.
    pub(crate) fn begin(&self, statuses: Vec<AgentStatus>) {
        let mut view = self.view();
        view.phase = Phase::During(thread::current().id());
        view.statuses = statuses;
    }

    /// The agents' latest statuses.
    pub(crate) fn publish(&self, statuses: Vec<AgentStatus>) {
        self.view().statuses = statuses;
    }

    /// The run is over.
    pub(crate) fn end(&self, statuses: Vec<AgentStatus>) {
        let mut view = self.view();
        view.phase = Phase::After;
        view.statuses = statuses;
    }
}

/// Controls a running [`Orchestrator`](super::Orchestrator) agent by agent,
/// from any thread: stop, start or restart one agent, and read every
/// agent's [`AgentStatus`]. Take it with
/// [`Orchestrator::handle`](super::Orchestrator::handle), before or during
/// the run; clones control the same run.
///
/// Commands are answered by the run itself, in the order they arrive, and
/// return once the run has accepted them, not once the agent has stopped
/// or started: watch [`Self::status`] or the events for that. Each waits at
/// most [`Self::COMMAND_TIMEOUT`] for the answer. A command given on the
/// run's own thread (in an [`on_event`](super::Orchestrator::on_event)
/// callback) cannot wait for it: it is queued and returns `Ok` after the
/// name and run checks, and a refusal is only logged.
///
/// - [`Self::stop`] stops only that agent (its dependents are not touched):
///   it ends `Terminated` and the restart policy does not start it again.
/// - [`Self::start`] launches a terminated agent again (attempt *n + 1*)
///   once its dependencies are satisfied as for a first start and a slot is
///   free, with a fresh restart budget. Its dependencies count as ready only
///   once ready again, if they were started again too.
/// - [`Self::restart`] stops the agent and launches it again once its
///   attempt has ended (a stop not honoured in time is forced as usual: a
///   killed child process is launched again, an abandoned thread is not).
///
/// In [`RunMode::UntilAllDone`](super::RunMode::UntilAllDone) the run ends
/// as soon as every agent has terminated: stopping the last running agent
/// ends the run, after which commands answer [`ControlError::NotRunning`].
/// The shutdown of the run's stop token wins: commands after it answer
/// [`ControlError::ShuttingDown`], and a restart under way is not completed.
#[derive(Clone)]
pub struct OrchestratorHandle {
    shared: Arc<Shared>,
    inbox: Sender<Message>,
}

impl fmt::Debug for OrchestratorHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrchestratorHandle")
            .field("phase", &self.shared.view().phase)
            .finish_non_exhaustive()
    }
}

impl OrchestratorHandle {
    /// How long a command waits for the run's answer.
    pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

    pub(crate) fn new(shared: Arc<Shared>, inbox: Sender<Message>) -> Self {
        Self { shared, inbox }
    }

    /// Stops the agent `name` for good: it is asked to stop (forced after
    /// its stop timeout), ends `Terminated`, and is not restarted by its
    /// restart policy. Its dependents go on. An agent still waiting to
    /// start ends at once; stopping a terminated agent does nothing; a
    /// start or restart still pending is dropped.
    ///
    /// # Errors
    /// [`ControlError::UnknownAgent`], [`ControlError::NotRunning`],
    /// [`ControlError::ShuttingDown`], [`ControlError::Timeout`].
    pub fn stop(&self, name: &str) -> Result<(), ControlError> {
        self.command(name, Command::Stop)
    }

    /// Starts the terminated agent `name` again: a new attempt is launched
    /// once its dependencies are satisfied and a slot is free, with a fresh
    /// restart budget. An agent still stopping is launched again once its
    /// attempt has ended.
    ///
    /// # Errors
    /// [`ControlError::AlreadyRunning`] when it is waiting, starting,
    /// running or backing off (use [`Self::restart`]);
    /// [`ControlError::AgentGone`] when an abandoned thread or task holds
    /// it; [`ControlError::UnknownAgent`], [`ControlError::NotRunning`],
    /// [`ControlError::ShuttingDown`], [`ControlError::Timeout`].
    pub fn start(&self, name: &str) -> Result<(), ControlError> {
        self.command(name, Command::Start)
    }

    /// Restarts the agent `name`: a starting or running agent is stopped
    /// and, once its attempt has ended, launched again (events
    /// `StopRequested`, `Closed`, `Restarting { delay: 0 }`, `Started`); a
    /// backing-off one is launched without waiting out its backoff; a
    /// terminated one is started again; a waiting one is left to start.
    /// The restart budget starts afresh.
    ///
    /// # Errors
    /// [`ControlError::AgentGone`] when an abandoned thread or task holds
    /// it; [`ControlError::UnknownAgent`], [`ControlError::NotRunning`],
    /// [`ControlError::ShuttingDown`], [`ControlError::Timeout`].
    pub fn restart(&self, name: &str) -> Result<(), ControlError> {
        self.command(name, Command::Restart)
    }

    /// The latest status of the agent `name` (`None` for an unknown name).
    /// It never waits for the run: the run updates the statuses after each
    /// change, before it reports the change's events. After the run it
    /// keeps the final statuses.
    pub fn status(&self, name: &str) -> Option<AgentStatus> {
        let view = self.shared.view();
        let index = view.names.iter().position(|n| &**n == name)?;
        view.statuses.get(index).cloned()
    }

    /// Every agent's latest status, in registration order.
    pub fn statuses(&self) -> Vec<(String, AgentStatus)> {
        let view = self.shared.view();
        view.names
            .iter()
            .map(|n| n.to_string())
            .zip(view.statuses.iter().cloned())
            .collect()
    }

    fn command(&self, name: &str, command: Command) -> Result<(), ControlError> {
        let (agent, on_run_thread) = {
            let view = self.shared.view();
            let agent = view
                .names
                .iter()
                .position(|n| &**n == name)
                .ok_or_else(|| ControlError::UnknownAgent(name.to_owned()))?;
            match view.phase {
                Phase::During(driver) => (agent, driver == thread::current().id()),
                Phase::Before | Phase::After => return Err(ControlError::NotRunning),
            }
        };
        let (reply, answer) = mpsc::channel();
        let request = Request {
            agent,
            command,
            reply: (!on_run_thread).then_some(reply),
        };
        self.inbox
            .send(Message::Command(request))
            .map_err(|_| ControlError::NotRunning)?;
        if on_run_thread {
            return Ok(());
        }
        match answer.recv_timeout(Self::COMMAND_TIMEOUT) {
            Ok(result) => result,
            Err(RecvTimeoutError::Timeout) => Err(ControlError::Timeout(Self::COMMAND_TIMEOUT)),
            // The run ended before it read the command.
            Err(RecvTimeoutError::Disconnected) => Err(ControlError::NotRunning),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync + Clone>() {}

    #[test]
    fn the_handle_is_shareable() {
        assert_send_sync::<OrchestratorHandle>();
    }

    #[test]
    fn commands_outside_a_run_are_answered_at_once() {
        let shared = Arc::new(Shared::new());
        shared.register("a".into());
        let (inbox, messages) = mpsc::channel();
        let handle = OrchestratorHandle::new(shared.clone(), inbox);
        assert_eq!(handle.stop("a"), Err(ControlError::NotRunning));
        assert_eq!(
            handle.start("ghost"),
            Err(ControlError::UnknownAgent("ghost".into()))
        );
        assert_eq!(handle.status("ghost"), None);
        assert_eq!(
            handle.status("a").map(|s| s.state),
            Some(super::super::AgentState::Registered)
        );
        shared.end(vec![AgentStatus::registered()]);
        assert_eq!(handle.restart("a"), Err(ControlError::NotRunning));
        assert!(messages.try_recv().is_err(), "nothing was queued");
    }

    #[test]
    fn a_run_that_ends_before_reading_a_command_answers_not_running() {
        let shared = Arc::new(Shared::new());
        shared.register("a".into());
        let (inbox, messages) = mpsc::channel();
        let handle = OrchestratorHandle::new(shared.clone(), inbox);
        let driver = thread::spawn(move || {
            shared.begin(vec![AgentStatus::registered()]);
            drop(shared);
            messages
        });
        let messages = driver.join().expect("no panic");
        // The run's thread is gone; a command to it is queued, then the run
        // drops its inbox unread.
        let stopper = thread::spawn(move || handle.stop("a"));
        let request = messages.recv_timeout(Duration::from_secs(5));
        assert!(matches!(request, Ok(Message::Command(_))));
        drop(request);
        drop(messages);
        assert_eq!(
            stopper.join().expect("no panic"),
            Err(ControlError::NotRunning)
        );
    }
}
