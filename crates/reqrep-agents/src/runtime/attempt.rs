//! One run of an agent in a thread, a tokio blocking task or a child
//! process, and what it reports back to the orchestrator's driver.

use std::sync::Arc;
use std::sync::mpsc::{self, Sender};
use std::time::Duration;

use super::context::EventSink;
use super::event::Ending;
use super::process::ChildProcess;
use super::{Agent, AgentContext, EventKind, TerminationStatus, lifecycle};
use crate::StopToken;

/// What the driver's inbox receives.
pub(crate) enum Message {
    /// Attempt `attempt` of `agent` reported an event.
    Event {
        agent: usize,
        attempt: u32,
        kind: EventKind,
    },
    /// Attempt `attempt` of `agent` ended; in-process attempts hand the
    /// agent back for a restart.
    Done {
        agent: usize,
        attempt: u32,
        status: TerminationStatus,
        /// Whether the lifecycle closed the attempt.
        ending: Ending,
        returned: Option<Box<dyn Agent>>,
    },
    /// The shutdown handle was used.
    Shutdown,
    /// A command of the orchestrator's handle.
    Command(super::handle::Request),
}

/// Identifies an attempt and where it reports.
#[derive(Clone)]
pub(crate) struct Launch {
    /// The agent's index.
    pub(crate) agent: usize,
    /// The agent's name.
    pub(crate) name: Arc<str>,
    /// The attempt number.
    pub(crate) attempt: u32,
    /// Least time between heartbeat events.
    pub(crate) heartbeat_interval: Duration,
    /// The driver's inbox.
    pub(crate) inbox: Sender<Message>,
}

impl Launch {
    /// An event sink that tags events with this attempt.
    pub(crate) fn sink(&self) -> EventSink {
        let inbox = self.inbox.clone();
        let (agent, attempt) = (self.agent, self.attempt);
        Arc::new(move |kind| {
            let _ = inbox.send(Message::Event {
                agent,
                attempt,
                kind,
            });
        })
    }
}

/// A running attempt, as the driver controls it.
pub(crate) enum Attempt {
    /// A thread or blocking task: stopped through its token, abandoned when
    /// forced.
    InProcess { stop: StopToken },
    /// A child process: stopped through its stdin, killed when forced.
    Child(ChildProcess),
}

impl Attempt {
    /// Asks the attempt to stop.
    pub(crate) fn signal_stop(&mut self) {
        match self {
            Self::InProcess { stop } => stop.stop(),
            Self::Child(child) => child.signal_stop(),
        }
    }

    /// Stops the attempt by force: a thread or task is left to run detached
    /// (nothing can end it safely), a child process is killed and reaped.
    pub(crate) fn force(self) {
        match self {
            Self::InProcess { stop } => {
                stop.stop();
                tracing::error!("agent ignored its stop: abandoning its thread");
            }
            Self::Child(mut child) => child.kill(),
        }
    }
}

/// An in-process attempt ready to run: the agent's context and the duty to
/// report its end exactly once, even when it is dropped unrun (a tokio
/// runtime shutting down drops its queued tasks).
struct InProcessRun {
    ctx: AgentContext,
    launch: Option<Launch>,
}

impl InProcessRun {
    fn new(launch: Launch, stop: StopToken) -> Self {
        let ctx = AgentContext::new(
            launch.name.clone(),
            stop,
            launch.attempt,
            launch.heartbeat_interval,
            launch.sink(),
        );
        Self {
            ctx,
            launch: Some(launch),
        }
    }

    /// Runs the lifecycle and reports the end, handing the agent back.
    fn run(mut self, mut agent: Box<dyn Agent>) {
        let status = lifecycle::run(agent.as_mut(), &self.ctx);
        if let Some(launch) = self.launch.take() {
            let _ = launch.inbox.send(Message::Done {
                agent: launch.agent,
                attempt: launch.attempt,
                status,
                ending: Ending::Closed,
                returned: Some(agent),
            });
        }
    }

    /// Gives up without reporting: the launcher reports the failure itself.
    fn cancel(mut self) {
        self.launch = None;
    }
}

impl Drop for InProcessRun {
    fn drop(&mut self) {
        if let Some(launch) = self.launch.take() {
            let _ = launch.inbox.send(Message::Event {
                agent: launch.agent,
                attempt: launch.attempt,
                kind: EventKind::Failed("the attempt was dropped before it ran".into()),
            });
            let _ = launch.inbox.send(Message::Done {
                agent: launch.agent,
                attempt: launch.attempt,
                status: TerminationStatus::Critical,
                ending: Ending::NotRun,
                returned: None,
            });
        }
    }
}

/// Runs an attempt on a new thread named `agent-<name>`.
///
/// # Errors
/// The cause, and the agent back, when the thread cannot be spawned.
pub(crate) fn spawn_thread(
    agent: Box<dyn Agent>,
    launch: Launch,
) -> Result<Attempt, (String, Box<dyn Agent>)> {
    let stop = StopToken::new();
    let thread_name = format!("agent-{}", launch.name);
    let run = InProcessRun::new(launch, stop.clone());
    // The agent travels through a channel so that it stays ours if the
    // thread cannot be spawned.
    let (hand_over, take) = mpsc::channel::<(Box<dyn Agent>, InProcessRun)>();
    let spawned = std::thread::Builder::new()
        .name(thread_name)
        .spawn(move || {
            if let Ok((agent, run)) = take.recv() {
                run.run(agent);
            }
        });
    let cause = match spawned {
        Ok(_detached) => match hand_over.send((agent, run)) {
            Ok(()) => return Ok(Attempt::InProcess { stop }),
            Err(mpsc::SendError((agent, run))) => {
                run.cancel();
                return Err(("the agent thread ended at once".into(), agent));
            }
        },
        Err(err) => format!("cannot spawn the agent thread: {err}"),
    };
    run.cancel();
    Err((cause, agent))
}

/// Runs an attempt on the blocking pool of `runtime`.
pub(crate) fn spawn_task(
    agent: Box<dyn Agent>,
    launch: Launch,
    runtime: &tokio::runtime::Handle,
) -> Attempt {
    let stop = StopToken::new();
    let run = InProcessRun::new(launch, stop.clone());
    drop(runtime.spawn_blocking(move || run.run(agent)));
    Attempt::InProcess { stop }
}
