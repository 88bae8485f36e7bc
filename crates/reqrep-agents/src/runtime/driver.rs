//! The orchestrator's I/O loop: feeds the [`Plan`] with the clock and with
//! what attempts report, and carries out its actions (launching threads,
//! tasks and child processes, stopping and forcing them, recording events).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender};
use std::time::Instant;

use super::attempt::{self, Attempt, Launch, Message};
use super::event::Ending;
use super::handle::{Request, Shared};
use super::plan::{Action, Plan};
use super::process::ChildProcess;
use super::recorder::Recorder;
use super::supervision::Directive;
use super::{
    Agent, AgentOptions, EventKind, ExecutionMode, RunReport, StatusEvent, TerminationStatus,
    Verdict,
};
use crate::StopToken;

/// One registered agent, as the driver holds it.
pub(crate) struct Registration {
    /// The unique name.
    pub(crate) name: Arc<str>,
    /// The agent; absent while an in-process attempt runs it (or after one
    /// was abandoned).
    pub(crate) agent: Option<Box<dyn Agent>>,
    /// How it runs.
    pub(crate) options: AgentOptions,
}

/// A launched attempt and its number.
struct Running {
    attempt: u32,
    handle: Attempt,
}

/// The loop state.
pub(crate) struct Driver {
    agents: Vec<Registration>,
    running: Vec<Option<Running>>,
    /// Given to attempts and to the stop hook.
    inbox: Sender<Message>,
    messages: Receiver<Message>,
    recorder: Recorder,
    /// Runs `Task` agents.
    tokio: Option<tokio::runtime::Handle>,
    /// What handles read: the run's phase and the agents' statuses.
    shared: Arc<Shared>,
}

impl Driver {
    /// A driver for `agents` reading `messages` (whose sender is `inbox`,
    /// shared with the handles) and publishing statuses to `shared`.
    pub(crate) fn new(
        agents: Vec<Registration>,
        (inbox, messages): (Sender<Message>, Receiver<Message>),
        shared: Arc<Shared>,
        recorder: Recorder,
        tokio: Option<tokio::runtime::Handle>,
    ) -> Self {
        let running = agents.iter().map(|_| None).collect();
        Self {
            agents,
            running,
            inbox,
            messages,
            recorder,
            tokio,
            shared,
        }
    }

    /// Runs `plan` to its end; a stop of `shutdown` starts the plan's
    /// shutdown.
    ///
    /// The shared statuses are updated after every change of the plan,
    /// before the events of the change are recorded, so that a subscriber
    /// that sees an event finds a status at least as recent.
    pub(crate) fn run(mut self, mut plan: Plan, shutdown: &StopToken) -> RunReport {
        self.shared.begin(plan.agent_statuses());
        let mut queue = VecDeque::new();
        for (index, registration) in self.agents.iter().enumerate() {
            let issues = registration
                .agent
                .as_ref()
                .map(|agent| agent.validate())
                .unwrap_or_default();
            match registration.options.validation.check(&issues) {
                Verdict::Abort(status) => {
                    let list: Vec<String> = issues.iter().map(ToString::to_string).collect();
                    let cause = format!("invalid configuration: {}", list.join("; "));
                    queue.extend(plan.reject(index, cause, status));
                }
                _ => {
                    for issue in issues {
                        queue.extend(plan.warn(index, format!("configuration {issue}")));
                    }
                }
            }
        }
        let inbox = self.inbox.clone();
        let hook = shutdown.on_stop(move || {
            let _ = inbox.send(Message::Shutdown);
        });
        // Stopped before the run: nothing is launched. (The hook has posted
        // a shutdown too, which finds the plan shutting down already.)
        if shutdown.is_stopped() {
            queue.extend(plan.shutdown(Instant::now()));
        }
        queue.extend(plan.tick(Instant::now()));
        self.shared.publish(plan.agent_statuses());

        loop {
            while let Some(action) = queue.pop_front() {
                self.perform(action, &mut plan, &mut queue);
            }
            if plan.finished() {
                break;
            }
            let message = match plan.next_deadline() {
                Some(deadline) => {
                    let wait = deadline.saturating_duration_since(Instant::now());
                    self.messages.recv_timeout(wait).ok()
                }
                // The driver holds a sender: this waits for the next message.
                None => self.messages.recv().ok(),
            };
            let now = Instant::now();
            let actions = match message {
                Some(Message::Event {
                    agent,
                    attempt,
                    kind,
                }) => plan.on_event(now, agent, attempt, kind),
                Some(Message::Done {
                    agent,
                    attempt,
                    status,
                    ending,
                    returned,
                }) => {
                    self.reclaim(agent, attempt, returned);
                    plan.on_done(now, agent, attempt, status, ending)
                }
                Some(Message::Shutdown) => plan.shutdown(now),
                Some(Message::Command(request)) => self.command(&mut plan, now, request),
                None => plan.tick(now),
            };
            self.shared.publish(plan.agent_statuses());
            queue.extend(actions);
        }
        drop(hook);
        self.shared.end(plan.agent_statuses());

        let statuses = self
            .agents
            .iter()
            .map(|r| r.name.clone())
            .zip(plan.statuses())
            .collect();
        let (events, dropped) = self.recorder.finish();
        RunReport::new(statuses, events, dropped)
    }

    fn perform(&mut self, action: Action, plan: &mut Plan, queue: &mut VecDeque<Action>) {
        let index = action.agent;
        match action.directive {
            Directive::Emit(kind) => {
                let event = StatusEvent::now(self.agents[index].name.clone(), kind);
                self.recorder.record(event);
            }
            Directive::Launch { attempt } => match self.launch(index, attempt) {
                Ok(handle) => self.running[index] = Some(Running { attempt, handle }),
                Err(cause) => {
                    let now = Instant::now();
                    queue.extend(plan.on_event(now, index, attempt, EventKind::Failed(cause)));
                    queue.extend(plan.on_done(
                        now,
                        index,
                        attempt,
                        TerminationStatus::Error,
                        Ending::NotRun,
                    ));
                    self.shared.publish(plan.agent_statuses());
                }
            },
            Directive::SignalStop { attempt } => {
                if let Some(running) = self.running[index].as_mut()
                    && running.attempt == attempt
                {
                    running.handle.signal_stop();
                }
            }
            Directive::Force { attempt } => {
                if self.running[index]
                    .as_ref()
                    .is_some_and(|r| r.attempt == attempt)
                    && let Some(running) = self.running[index].take()
                {
                    let _span =
                        tracing::error_span!("agent", name = %self.agents[index].name).entered();
                    running.handle.force();
                }
            }
        }
    }

    /// Applies a command of the handle and answers it, once the statuses
    /// show its effect.
    fn command(&mut self, plan: &mut Plan, now: Instant, request: Request) -> Vec<Action> {
        let (answer, actions) = match plan.command(now, request.agent, request.command) {
            Ok(actions) => (Ok(()), actions),
            Err(err) => (Err(err), Vec::new()),
        };
        self.shared.publish(plan.agent_statuses());
        match request.reply {
            Some(reply) => {
                let _ = reply.send(answer);
            }
            None => {
                if let Err(err) = answer {
                    tracing::warn!(command = ?request.command, cause = %err, "command refused");
                }
            }
        }
        actions
    }

    fn launch(&mut self, index: usize, attempt: u32) -> Result<Attempt, String> {
        let registration = &mut self.agents[index];
        let launch = Launch {
            agent: index,
            name: registration.name.clone(),
            attempt,
            heartbeat_interval: registration.options.heartbeat_interval,
            inbox: self.inbox.clone(),
        };
        match registration.options.mode {
            ExecutionMode::Process => ChildProcess::spawn(&launch)
                .map(Attempt::Child)
                .map_err(|err| format!("cannot start the child process: {err}")),
            mode => {
                let agent = registration
                    .agent
                    .take()
                    .ok_or("the agent is gone: an earlier attempt was abandoned")?;
                if mode == ExecutionMode::Task {
                    let Some(runtime) = self.tokio.as_ref() else {
                        registration.agent = Some(agent);
                        return Err("no tokio runtime to run the task on".into());
                    };
                    return Ok(attempt::spawn_task(agent, launch, runtime));
                }
                attempt::spawn_thread(agent, launch).map_err(|(cause, agent)| {
                    registration.agent = Some(agent);
                    cause
                })
            }
        }
    }

    /// Takes back what an ended attempt returns.
    fn reclaim(&mut self, index: usize, attempt: u32, returned: Option<Box<dyn Agent>>) {
        if let Some(agent) = returned {
            self.agents[index].agent = Some(agent);
        }
        if self.running[index]
            .as_ref()
            .is_some_and(|r| r.attempt == attempt)
        {
            self.running[index] = None;
        }
    }
}
