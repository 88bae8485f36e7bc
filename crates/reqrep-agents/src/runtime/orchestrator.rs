//! Registers agents and runs them: [`Orchestrator`].

use std::fmt;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};

use super::attempt::Message;
use super::driver::{Driver, Registration};
use super::graph::Graph;
use super::handle::{OrchestratorHandle, Shared};
use super::plan::Plan;
use super::recorder::{Callback, Recorder};
use super::supervision::Supervision;
use super::{
    Agent, AgentOptions, ExecutionMode, OrchestratorError, OrchestratorOptions, RunReport,
    StatusEvent, child,
};
use crate::StopToken;

/// Runs a set of named agents: in dependency order, each in its execution
/// mode, with start and stop timeouts, restarts, status events and a final
/// status per agent.
///
/// ```
/// use std::time::Duration;
/// use reqrep_agents::runtime::{
///     AgentContext, AgentError, AgentOptions, LoopConfig, Looping, LoopingAgent, Orchestrator,
///     TerminationStatus,
/// };
///
/// struct Count(u32);
///
/// impl LoopingAgent for Count {
///     fn cycle(&mut self, _ctx: &AgentContext) -> Result<(), AgentError> {
///         self.0 += 1;
///         Ok(())
///     }
/// }
///
/// let mut orchestrator = Orchestrator::default();
/// orchestrator.register("db", Looping::new(Count(0), LoopConfig::limit(3)), AgentOptions::default())?;
/// orchestrator.register(
///     "web",
///     Looping::new(Count(0), LoopConfig::limit(3)),
///     AgentOptions::default().depends_on(["db"]).stop_timeout(Duration::from_secs(1)),
/// )?;
/// let report = orchestrator.run()?;
/// assert_eq!(report.status("web"), Some(TerminationStatus::Success));
/// # Ok::<(), reqrep_agents::runtime::OrchestratorError>(())
/// ```
pub struct Orchestrator {
    options: OrchestratorOptions,
    registrations: Vec<Registration>,
    shutdown: StopToken,
    subscribers: Vec<mpsc::SyncSender<StatusEvent>>,
    callbacks: Vec<Callback>,
    /// The driver's inbox, made here so that handles can send to it.
    inbox: (Sender<Message>, Receiver<Message>),
    /// What handles read.
    shared: Arc<Shared>,
}

impl Default for Orchestrator {
    fn default() -> Self {
        Self::new(OrchestratorOptions::default())
    }
}

impl fmt::Debug for Orchestrator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Orchestrator")
            .field("options", &self.options)
            .field("agents", &self.names().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Orchestrator {
    /// An orchestrator with no agents.
    pub fn new(options: OrchestratorOptions) -> Self {
        Self {
            options,
            registrations: Vec::new(),
            shutdown: StopToken::new(),
            subscribers: Vec::new(),
            callbacks: Vec::new(),
            inbox: mpsc::channel(),
            shared: Arc::new(Shared::new()),
        }
    }

    /// The agent this process must run, when it was started as a child
    /// process by an orchestrator (`REQREP_AGENT_CHILD` is set). [`Self::run`]
    /// acts on it by itself; this lets a program skip work only its
    /// orchestrating process needs.
    pub fn child_agent() -> Option<String> {
        child::requested()
    }

    /// Adds an agent under a unique `name`.
    ///
    /// For [`ExecutionMode::Process`] agents the program must register the
    /// same agents under the same names each time it runs, since a child
    /// process finds its agent by name.
    ///
    /// # Errors
    /// [`OrchestratorError::DuplicateName`] when the name is taken,
    /// [`OrchestratorError::InvalidName`] when it is empty or holds control
    /// characters. Dependencies are checked by [`Self::run`].
    pub fn register(
        &mut self,
        name: &str,
        agent: impl Agent,
        options: AgentOptions,
    ) -> Result<(), OrchestratorError> {
        if name.is_empty() || name.chars().any(char::is_control) {
            return Err(OrchestratorError::InvalidName(name.to_owned()));
        }
        if self.names().any(|taken| taken == name) {
            return Err(OrchestratorError::DuplicateName(name.to_owned()));
        }
        let name: Arc<str> = name.into();
        self.shared.register(name.clone());
        self.registrations.push(Registration {
            name,
            agent: Some(Box::new(agent)),
            options,
        });
        Ok(())
    }

    /// The registered names, in registration order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.registrations.iter().map(|r| &*r.name)
    }

    /// The token that stops the run: every agent is asked to stop,
    /// dependents before their dependencies, each within its stop timeout,
    /// and then [`Self::run`] returns. The way to end a
    /// [`RunMode::Daemon`](super::RunMode::Daemon) run (from a signal
    /// handler, say); it also cuts an `UntilAllDone` run short. Take it
    /// before calling [`Self::run`]; a stop before `run` makes the run stop
    /// at once, starting nothing.
    pub fn shutdown_handle(&self) -> StopToken {
        self.shutdown.clone()
    }

    /// A handle that stops, starts and restarts single agents of the run
    /// and reads their statuses, from any thread; see
    /// [`OrchestratorHandle`] for what each command does. Take it before
    /// calling [`Self::run`]: commands before the run (and after it) answer
    /// [`ControlError::NotRunning`](super::ControlError::NotRunning), while
    /// statuses are readable all along.
    pub fn handle(&self) -> OrchestratorHandle {
        OrchestratorHandle::new(Arc::clone(&self.shared), self.inbox.0.clone())
    }

    /// A live feed of the run's events. The channel is bounded (see
    /// [`OrchestratorOptions::subscriber_capacity`]): a subscriber that falls
    /// behind misses events rather than slowing the run.
    pub fn subscribe(&mut self) -> Receiver<StatusEvent> {
        let (tx, rx) = mpsc::sync_channel(self.options.subscriber_capacity);
        self.subscribers.push(tx);
        rx
    }

    /// Calls `callback` with every event, on the thread that runs
    /// [`Self::run`]; it must return quickly.
    pub fn on_event(&mut self, callback: impl FnMut(&StatusEvent) + Send + 'static) {
        self.callbacks.push(Box::new(callback));
    }

    /// Runs the agents and returns each one's final status and the recorded
    /// events.
    ///
    /// Agents start once all their dependencies are ready (their plugins are
    /// initialised and `setup` returned) or have ended successfully; an
    /// agent whose dependency failed first is not started and ends with
    /// `Error`. Configuration issues are checked first, with each agent's
    /// [`ValidationPolicy`](super::ValidationPolicy). In
    /// [`RunMode::UntilAllDone`](super::RunMode::UntilAllDone) the run ends
    /// once every agent has terminated; in
    /// [`RunMode::Daemon`](super::RunMode::Daemon) it ends after a stop of
    /// [`Self::shutdown_handle`], once the agents have stopped (dependents
    /// first).
    ///
    /// **In a child process** (see [`ExecutionMode::Process`]) this runs only
    /// the agent the orchestrator asked for, in this thread, and then exits
    /// the process with the code for its status: it does not return.
    ///
    /// # Errors
    /// [`OrchestratorError::UnknownDependency`],
    /// [`OrchestratorError::DependencyCycle`] and
    /// [`OrchestratorError::HeartbeatTimeout`] before anything starts;
    /// [`OrchestratorError::Runtime`] when task agents need a tokio runtime
    /// that cannot be built.
    pub fn run(mut self) -> Result<RunReport, OrchestratorError> {
        if let Some(name) = child::requested() {
            let code = match self.registrations.iter_mut().find(|r| *r.name == *name) {
                Some(Registration {
                    agent: Some(agent),
                    options,
                    ..
                }) => child::run(&name, agent.as_mut(), options),
                _ => child::unknown(&name),
            };
            std::process::exit(code);
        }

        for r in &self.registrations {
            let options = &r.options;
            if let Some(timeout) = options.heartbeat_timeout
                && timeout <= options.heartbeat_interval
            {
                return Err(OrchestratorError::HeartbeatTimeout {
                    agent: r.name.to_string(),
                    timeout,
                    interval: options.heartbeat_interval,
                });
            }
        }
        let names: Vec<&str> = self.names().collect();
        let depends_on: Vec<&[String]> = self
            .registrations
            .iter()
            .map(|r| r.options.depends_on.as_slice())
            .collect();
        let graph = Graph::new(&names, &depends_on)?;

        let needs_tokio = self
            .registrations
            .iter()
            .any(|r| r.options.mode == ExecutionMode::Task);
        let owned_runtime = match (&self.options.tokio_handle, needs_tokio) {
            (None, true) => Some(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name("reqrep-agents-rt")
                    .build()
                    .map_err(OrchestratorError::Runtime)?,
            ),
            _ => None,
        };
        let tokio = self
            .options
            .tokio_handle
            .clone()
            .or_else(|| owned_runtime.as_ref().map(|rt| rt.handle().clone()));

        let supervisions = self
            .registrations
            .iter()
            .map(|r| Supervision::new(&r.options, fastrand::Rng::new()))
            .collect();
        let names: Vec<Arc<str>> = self.registrations.iter().map(|r| r.name.clone()).collect();
        let plan = Plan::new(
            names,
            graph,
            supervisions,
            self.options.run_mode,
            self.options.max_agents,
        );
        let recorder = Recorder::new(
            self.options.event_capacity,
            std::mem::take(&mut self.subscribers),
            std::mem::take(&mut self.callbacks),
        );
        let report = Driver::new(self.registrations, self.inbox, self.shared, recorder, tokio)
            .run(plan, &self.shutdown);
        if let Some(runtime) = owned_runtime {
            // Abandoned blocking tasks must not hold the caller hostage.
            runtime.shutdown_background();
        }
        Ok(report)
    }
}
