//! Supervision of all agents together, still without threads or clock:
//! dependency gating and the bound on running agents at start,
//! reverse-dependency order at shutdown, the handle's commands, and when
//! the run is over.

use std::sync::Arc;
use std::time::Instant;

use super::agent_status::AgentStatus;
use super::event::Ending;
use super::graph::Graph;
use super::handle::{Command, ControlError};
use super::supervision::{Directive, Refusal, Supervision};
use super::{EventKind, RunMode, TerminationStatus};

/// A [`Directive`] for agent `agent` (its registration index).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Action {
    /// The agent's index.
    pub(crate) agent: usize,
    /// What to do.
    pub(crate) directive: Directive,
}

/// Every agent's supervision plus the rules between them.
#[derive(Debug)]
pub(crate) struct Plan {
    /// Names, for failure causes.
    names: Vec<Arc<str>>,
    /// Who depends on whom.
    graph: Graph,
    /// One per agent, by index.
    agents: Vec<Supervision>,
    /// When the run is over.
    run_mode: RunMode,
    /// At most this many agents launched and not ended at once.
    max_agents: usize,
    /// Whether the agent was told, in its current wait, that only its
    /// dependencies hold the slots.
    slot_noticed: Vec<bool>,
    /// Whether a shutdown was requested.
    shutdown: bool,
}

impl Plan {
    /// A plan in which no agent is launched yet; `max_agents` bounds the
    /// agents launched and not ended at once (`None`: no bound).
    pub(crate) fn new(
        names: Vec<Arc<str>>,
        graph: Graph,
        agents: Vec<Supervision>,
        run_mode: RunMode,
        max_agents: Option<usize>,
    ) -> Self {
        let slot_noticed = vec![false; agents.len()];
        Self {
            names,
            graph,
            agents,
            run_mode,
            max_agents: max_agents.map_or(usize::MAX, |n| n.max(1)),
            slot_noticed,
            shutdown: false,
        }
    }

    /// Records a configuration warning for an agent not started yet.
    pub(crate) fn warn(&mut self, agent: usize, message: String) -> Vec<Action> {
        self.with(agent, |s, out| s.warn(message, out))
    }

    /// Ends an agent that must not start.
    pub(crate) fn reject(
        &mut self,
        agent: usize,
        cause: String,
        status: TerminationStatus,
    ) -> Vec<Action> {
        self.with(agent, |s, out| s.reject(cause, status, out))
    }

    /// Launches every agent whose dependencies are ready (slots
    /// permitting), and handles deadlines that passed.
    pub(crate) fn tick(&mut self, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        self.advance(now, &mut actions);
        actions
    }

    /// An event from attempt `attempt` of `agent`.
    pub(crate) fn on_event(
        &mut self,
        now: Instant,
        agent: usize,
        attempt: u32,
        kind: EventKind,
    ) -> Vec<Action> {
        let mut actions = self.with(agent, |s, out| s.on_event(now, attempt, kind, out));
        self.advance(now, &mut actions);
        actions
    }

    /// Attempt `attempt` of `agent` ended with `status`.
    pub(crate) fn on_done(
        &mut self,
        now: Instant,
        agent: usize,
        attempt: u32,
        status: TerminationStatus,
        ending: Ending,
    ) -> Vec<Action> {
        let mut actions = self.with(agent, |s, out| s.on_done(now, attempt, status, ending, out));
        self.advance(now, &mut actions);
        actions
    }

    /// A command of the handle for `agent`.
    ///
    /// # Errors
    /// [`ControlError::ShuttingDown`] once the shutdown began (it wins over
    /// commands); [`ControlError::AlreadyRunning`] for a start of an agent
    /// not terminated nor stopping; [`ControlError::AgentGone`] for a start
    /// or restart of an agent an abandoned attempt holds.
    pub(crate) fn command(
        &mut self,
        now: Instant,
        agent: usize,
        command: Command,
    ) -> Result<Vec<Action>, ControlError> {
        let Some(name) = self.names.get(agent).cloned() else {
            return Err(ControlError::UnknownAgent(format!("#{agent}")));
        };
        if self.shutdown {
            return Err(ControlError::ShuttingDown);
        }
        let mut refusal = None;
        let mut actions = self.with(agent, |s, out| {
            refusal = match command {
                Command::Stop => {
                    s.request_stop(now, out);
                    None
                }
                Command::Start => s.command_start().err(),
                Command::Restart => s.command_restart(now, out).err(),
            };
        });
        match refusal {
            Some(Refusal::AlreadyRunning) => Err(ControlError::AlreadyRunning(name.to_string())),
            Some(Refusal::Gone) => Err(ControlError::AgentGone(name.to_string())),
            None => {
                self.advance(now, &mut actions);
                Ok(actions)
            }
        }
    }

    /// Starts the shutdown: no more launches (pending start commands are
    /// dropped); agents are asked to stop once every agent depending on
    /// them has terminated.
    pub(crate) fn shutdown(&mut self, now: Instant) -> Vec<Action> {
        self.shutdown = true;
        for agent in &mut self.agents {
            agent.cancel_relaunch();
        }
        let mut actions = Vec::new();
        self.advance(now, &mut actions);
        actions
    }

    /// The earliest deadline of any agent.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.agents
            .iter()
            .filter_map(Supervision::next_deadline)
            .min()
    }

    /// Whether the run is over.
    pub(crate) fn finished(&self) -> bool {
        let all_done = self.agents.iter().all(|s| s.terminated().is_some());
        all_done && (self.shutdown || self.run_mode == RunMode::UntilAllDone)
    }

    /// The final status of every agent by index (`Critical` for any not
    /// terminated, which a finished plan has none of).
    pub(crate) fn statuses(&self) -> Vec<TerminationStatus> {
        self.agents
            .iter()
            .map(|s| s.terminated().unwrap_or(TerminationStatus::Critical))
            .collect()
    }

    /// Every agent's current status, by index.
    pub(crate) fn agent_statuses(&self) -> Vec<AgentStatus> {
        self.agents.iter().map(Supervision::status).collect()
    }

    fn with(
        &mut self,
        agent: usize,
        f: impl FnOnce(&mut Supervision, &mut Vec<Directive>),
    ) -> Vec<Action> {
        let mut directives = Vec::new();
        if let Some(supervision) = self.agents.get_mut(agent) {
            f(supervision, &mut directives);
        }
        directives
            .into_iter()
            .map(|directive| Action { agent, directive })
            .collect()
    }

    fn push(
        &mut self,
        agent: usize,
        actions: &mut Vec<Action>,
        f: impl FnOnce(&mut Supervision, &mut Vec<Directive>),
    ) {
        actions.extend(self.with(agent, f));
    }

    /// Whether `dep` lets its dependents start.
    fn satisfied(&self, dep: usize) -> bool {
        let s = &self.agents[dep];
        s.ever_ready() || s.terminated().is_some_and(|status| !status.is_failure())
    }

    /// Whether every agent holding a slot is one of `agent`'s (transitive)
    /// dependencies: then it starts only once one of them ends.
    fn slots_held_by_dependencies(&self, agent: usize) -> bool {
        let mut ancestors = vec![false; self.agents.len()];
        let mut stack = self.graph.deps[agent].clone();
        while let Some(dep) = stack.pop() {
            if !std::mem::replace(&mut ancestors[dep], true) {
                stack.extend(&self.graph.deps[dep]);
            }
        }
        self.agents
            .iter()
            .enumerate()
            .all(|(i, s)| !s.is_active() || ancestors[i])
    }

    fn advance(&mut self, now: Instant, actions: &mut Vec<Action>) {
        for agent in 0..self.agents.len() {
            self.push(agent, actions, |s, out| s.tick(now, out));
        }
        if self.shutdown {
            // Dependents first: stop an agent once all its dependents ended.
            // Reverse start order settles chains in one pass.
            for i in (0..self.graph.order.len()).rev() {
                let agent = self.graph.order[i];
                let s = &self.agents[agent];
                if s.stop_requested() || s.terminated().is_some() {
                    continue;
                }
                let free = self.graph.dependents[agent]
                    .iter()
                    .all(|&d| self.agents[d].terminated().is_some());
                if free {
                    self.push(agent, actions, |s, out| s.request_stop(now, out));
                }
            }
            return;
        }
        // Dependencies first: start order settles chains in one pass, and
        // hands free slots out in that order.
        let mut active = self.agents.iter().filter(|s| s.is_active()).count();
        for i in 0..self.graph.order.len() {
            let agent = self.graph.order[i];
            if !self.agents[agent].is_waiting() {
                continue;
            }
            let failed = self.graph.deps[agent]
                .iter()
                .copied()
                .find(|&d| !self.satisfied(d) && self.agents[d].terminated().is_some());
            if let Some(dep) = failed {
                let cause = format!("dependency {} failed before it was ready", self.names[dep]);
                self.push(agent, actions, |s, out| {
                    s.reject(cause, TerminationStatus::Error, out)
                });
            } else if !self.graph.deps[agent].iter().all(|&d| self.satisfied(d)) {
                // Waits for its dependencies.
            } else if active < self.max_agents {
                self.push(agent, actions, |s, out| s.start(now, out));
                active += 1;
                self.slot_noticed[agent] = false;
            } else if !self.slot_noticed[agent] && self.slots_held_by_dependencies(agent) {
                self.slot_noticed[agent] = true;
                let message = format!(
                    "waiting for a slot (max_agents {}): its dependencies hold them all, \
                     so it starts only once one of them ends",
                    self.max_agents
                );
                actions.push(Action {
                    agent,
                    directive: Directive::Emit(EventKind::Warning(message)),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests;
