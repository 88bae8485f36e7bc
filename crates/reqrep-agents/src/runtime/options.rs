//! Per-agent and per-orchestrator settings: [`AgentOptions`],
//! [`ExecutionMode`], [`OrchestratorOptions`], [`RunMode`].

use std::time::Duration;

use super::{RestartPolicy, ValidationPolicy};

/// Where an agent's hooks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ExecutionMode {
    /// A dedicated OS thread named `agent-<name>`. A panic is caught and
    /// ends the agent with `Critical`.
    #[default]
    Thread,
    /// The blocking pool of a tokio runtime (`spawn_blocking`): the one given
    /// with [`OrchestratorOptions::tokio_handle`], or one the orchestrator
    /// builds for the run. Agents stay blocking code; this mode lets them
    /// share a runtime with async clients. A task abandoned by a forced stop
    /// keeps its blocking thread: a runtime given by the caller then waits
    /// for it when dropped, unless shut down with `shutdown_timeout` or
    /// `shutdown_background`.
    Task,
    /// A child process: the orchestrator re-executes the current program,
    /// with its arguments, and `REQREP_AGENT_CHILD=<name>` (plus
    /// `REQREP_AGENT_PARENT=<its pid>` and `REQREP_AGENT_ATTEMPT=<n>`); that
    /// program's `Orchestrator::run` runs only the named agent. A crash or
    /// abort stays in the child. The child's stdin and stdout belong to the
    /// runtime (stop signal and events); its other stdout output is
    /// forwarded to the orchestrator's stdout, its stderr is inherited.
    Process,
}

/// How one agent is run. Every setter documents its default.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    pub(crate) mode: ExecutionMode,
    pub(crate) depends_on: Vec<String>,
    pub(crate) start_timeout: Duration,
    pub(crate) stop_timeout: Duration,
    pub(crate) restart: RestartPolicy,
    pub(crate) validation: ValidationPolicy,
    pub(crate) heartbeat_interval: Duration,
    pub(crate) heartbeat_timeout: Option<Duration>,
}

impl Default for AgentOptions {
    fn default() -> Self {
        Self {
            mode: ExecutionMode::Thread,
            depends_on: Vec::new(),
            start_timeout: Duration::from_secs(10),
            stop_timeout: Duration::from_secs(5),
            restart: RestartPolicy::Never,
            validation: ValidationPolicy::default(),
            heartbeat_interval: Duration::from_secs(1),
            heartbeat_timeout: None,
        }
    }
}

impl AgentOptions {
    /// Where the agent runs. Default: [`ExecutionMode::Thread`].
    pub fn mode(mut self, mode: ExecutionMode) -> Self {
        self.mode = mode;
        self
    }

    /// Agents that must be ready before this one starts; it is stopped
    /// before them. A name nobody registered, or a cycle, makes
    /// `Orchestrator::run` fail. Default: none.
    pub fn depends_on<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.depends_on.extend(names.into_iter().map(Into::into));
        self
    }

    /// How long plugin initialisation and `setup` may take, from launch to
    /// ready. Past it the agent fails with `Error` and is stopped. Default:
    /// 10 s.
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// How long the agent has to end after being asked to stop. Past it the
    /// stop is forced: a thread or task is abandoned (left running,
    /// detached), a child process is killed; either way the status is
    /// `Critical`. Default: 5 s.
    pub fn stop_timeout(mut self, timeout: Duration) -> Self {
        self.stop_timeout = timeout;
        self
    }

    /// What happens when the agent fails. Default: [`RestartPolicy::Never`].
    pub fn restart(mut self, policy: RestartPolicy) -> Self {
        self.restart = policy;
        self
    }

    /// Which configuration issues abort the start. Default: errors and
    /// critical issues ([`ValidationPolicy::default`]).
    pub fn validation(mut self, policy: ValidationPolicy) -> Self {
        self.validation = policy;
        self
    }

    /// The least time between two recorded heartbeats; more frequent ones
    /// are dropped (the first one always passes). Default: 1 s.
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.heartbeat_interval = interval;
        self
    }

    /// The longest a running agent may go without a sign of life (its
    /// `Ready`, then its heartbeats). Past it the attempt fails (`Failed("no
    /// heartbeat within ...")`, status at least `Error`), is asked to stop,
    /// forced after the stop timeout as usual, and the restart policy
    /// decides whether it runs again. It applies from `Ready` on (the start
    /// timeout covers the start) and not while stopping.
    ///
    /// It must exceed the agent's longest gap between two heartbeats that
    /// get through: heartbeats are rate-limited to one per
    /// [`Self::heartbeat_interval`], and looping and periodic agents send
    /// one per cycle or run, so the gap can reach the interval plus one
    /// cycle (or one periodic interval plus its run). A timeout not above
    /// the heartbeat interval makes `Orchestrator::run` fail with
    /// [`OrchestratorError::HeartbeatTimeout`](super::OrchestratorError::HeartbeatTimeout).
    /// Plain agents must call [`AgentContext::heartbeat`](super::AgentContext::heartbeat)
    /// themselves. Default: none (no timeout).
    pub fn heartbeat_timeout(mut self, timeout: Duration) -> Self {
        self.heartbeat_timeout = Some(timeout);
        self
    }
}

/// When `Orchestrator::run` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RunMode {
    /// Once every agent has terminated (a shutdown also ends the run early).
    #[default]
    UntilAllDone,
    /// Only after a shutdown (a stop of `Orchestrator::shutdown_handle`) and
    /// the agents have stopped, even when all of them are done before.
    Daemon,
}

/// Settings of an orchestrator. Every setter documents its default.
#[derive(Debug, Clone)]
pub struct OrchestratorOptions {
    pub(crate) run_mode: RunMode,
    pub(crate) event_capacity: usize,
    pub(crate) subscriber_capacity: usize,
    pub(crate) tokio_handle: Option<tokio::runtime::Handle>,
    pub(crate) max_agents: Option<usize>,
}

impl Default for OrchestratorOptions {
    fn default() -> Self {
        Self {
            run_mode: RunMode::UntilAllDone,
            event_capacity: 10_000,
            subscriber_capacity: 1_024,
            tokio_handle: None,
            max_agents: None,
        }
    }
}

impl OrchestratorOptions {
    /// When `run` returns. Default: [`RunMode::UntilAllDone`].
    pub fn run_mode(mut self, mode: RunMode) -> Self {
        self.run_mode = mode;
        self
    }

    /// How many events the run report keeps; past it the oldest are dropped
    /// (and counted). Default: 10 000.
    pub fn event_capacity(mut self, capacity: usize) -> Self {
        self.event_capacity = capacity.max(1);
        self
    }

    /// The queue bound of each live subscription; a subscriber that falls
    /// this far behind misses events. Default: 1 024.
    pub fn subscriber_capacity(mut self, capacity: usize) -> Self {
        self.subscriber_capacity = capacity.max(1);
        self
    }

    /// The tokio runtime that runs [`ExecutionMode::Task`] agents. Default:
    /// none; the orchestrator then builds a small runtime for the run and
    /// shuts it down (without waiting for abandoned tasks) afterwards.
    pub fn tokio_handle(mut self, handle: tokio::runtime::Handle) -> Self {
        self.tokio_handle = Some(handle);
        self
    }

    /// At most `n` agents launched and not yet ended at once (starting,
    /// running or stopping; 0 counts as 1). The others wait (state
    /// [`AgentState::Waiting`](super::AgentState::Waiting)), in start order,
    /// until an attempt ends and frees a slot; an agent backing off before a
    /// restart holds none, and waits for one again. A forced stop frees the
    /// slot even when it leaves a thread running.
    ///
    /// A bound smaller than a chain of dependencies that run until stopped
    /// means the later agents of the chain wait for ever (until one of their
    /// dependencies ends): an agent that waits for a slot while only its own
    /// dependencies hold them all reports it in a `Warning` event (which
    /// does not change its status). Default: no bound.
    pub fn max_agents(mut self, n: usize) -> Self {
        self.max_agents = Some(n);
        self
    }
}
