//! Supervision of all agents together, still without threads or clock:
//! dependency gating at start, reverse-dependency order at shutdown, and
//! when the run is over.

use std::sync::Arc;
use std::time::Instant;

use super::event::Ending;
use super::graph::Graph;
use super::supervision::{Directive, Supervision};
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
    /// Whether a shutdown was requested.
    shutdown: bool,
}

impl Plan {
    /// A plan in which no agent is launched yet.
    pub(crate) fn new(
        names: Vec<Arc<str>>,
        graph: Graph,
        agents: Vec<Supervision>,
        run_mode: RunMode,
    ) -> Self {
        Self {
            names,
            graph,
            agents,
            run_mode,
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

    /// Launches every agent whose dependencies are ready, and handles
    /// deadlines that passed.
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
        let mut actions = self.with(agent, |s, out| s.on_event(attempt, kind, out));
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

    /// Starts the shutdown: no more launches; agents are asked to stop once
    /// every agent depending on them has terminated.
    pub(crate) fn shutdown(&mut self, now: Instant) -> Vec<Action> {
        self.shutdown = true;
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
        // Dependencies first: start order settles chains in one pass.
        for i in 0..self.graph.order.len() {
            let agent = self.graph.order[i];
            if !self.agents[agent].is_idle() {
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
            } else if self.graph.deps[agent].iter().all(|&d| self.satisfied(d)) {
                self.push(agent, actions, |s, out| s.start(now, out));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::runtime::RestartPolicy;

    /// web -> cache -> db, and a free-standing logger.
    fn plan(run_mode: RunMode) -> Plan {
        let names: Vec<Arc<str>> = ["web", "cache", "db", "logger"].map(Arc::from).to_vec();
        let deps = [
            vec!["cache".to_owned()],
            vec!["db".to_owned()],
            vec![],
            vec![],
        ];
        let name_refs: Vec<&str> = names.iter().map(|n| &**n).collect();
        let dep_refs: Vec<&[String]> = deps.iter().map(Vec::as_slice).collect();
        let graph = Graph::new(&name_refs, &dep_refs).unwrap();
        let agents = (0..4)
            .map(|_| {
                Supervision::new(
                    Duration::from_secs(5),
                    Duration::from_secs(5),
                    RestartPolicy::Never,
                    false,
                    fastrand::Rng::with_seed(1),
                )
            })
            .collect();
        Plan::new(names, graph, agents, run_mode)
    }

    fn launched(actions: &[Action]) -> Vec<usize> {
        actions
            .iter()
            .filter(|a| matches!(a.directive, Directive::Launch { .. }))
            .map(|a| a.agent)
            .collect()
    }

    fn stopped(actions: &[Action]) -> Vec<usize> {
        actions
            .iter()
            .filter(|a| matches!(a.directive, Directive::SignalStop { .. }))
            .map(|a| a.agent)
            .collect()
    }

    const WEB: usize = 0;
    const CACHE: usize = 1;
    const DB: usize = 2;
    const LOGGER: usize = 3;

    #[test]
    fn agents_start_after_their_dependencies_are_ready() {
        let t = Instant::now();
        let mut p = plan(RunMode::UntilAllDone);
        assert_eq!(launched(&p.tick(t)), [DB, LOGGER]);
        assert!(launched(&p.on_event(t, DB, 1, EventKind::Heartbeat)).is_empty());
        assert_eq!(launched(&p.on_event(t, DB, 1, EventKind::Ready)), [CACHE]);
        assert_eq!(launched(&p.on_event(t, CACHE, 1, EventKind::Ready)), [WEB]);
    }

    #[test]
    fn a_failed_dependency_fails_its_dependents_in_a_chain() {
        let t = Instant::now();
        let mut p = plan(RunMode::UntilAllDone);
        p.tick(t);
        let actions = p.on_done(t, DB, 1, TerminationStatus::Error, Ending::Closed);
        let failed: Vec<_> = actions
            .iter()
            .filter_map(|a| match &a.directive {
                Directive::Emit(EventKind::Failed(cause)) => Some((a.agent, cause.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(
            failed,
            [
                (CACHE, "dependency db failed before it was ready".to_owned()),
                (
                    WEB,
                    "dependency cache failed before it was ready".to_owned()
                )
            ]
        );
        assert!(!p.finished(), "logger still runs");
        p.on_done(t, LOGGER, 1, TerminationStatus::Success, Ending::Closed);
        assert!(p.finished());
        assert_eq!(
            p.statuses(),
            [
                TerminationStatus::Error,
                TerminationStatus::Error,
                TerminationStatus::Error,
                TerminationStatus::Success
            ]
        );
    }

    #[test]
    fn a_dependency_that_finished_successfully_lets_dependents_start() {
        let t = Instant::now();
        let mut p = plan(RunMode::UntilAllDone);
        p.tick(t);
        assert_eq!(
            launched(&p.on_done(t, DB, 1, TerminationStatus::Success, Ending::Closed)),
            [CACHE]
        );
    }

    #[test]
    fn shutdown_stops_dependents_before_their_dependencies() {
        let t = Instant::now();
        let mut p = plan(RunMode::Daemon);
        p.tick(t);
        p.on_event(t, DB, 1, EventKind::Ready);
        p.on_event(t, CACHE, 1, EventKind::Ready);
        p.on_event(t, WEB, 1, EventKind::Ready);
        assert_eq!(stopped(&p.shutdown(t)), [LOGGER, WEB]);
        assert_eq!(
            stopped(&p.on_done(t, WEB, 1, TerminationStatus::Success, Ending::Closed)),
            [CACHE]
        );
        assert_eq!(
            stopped(&p.on_done(t, CACHE, 1, TerminationStatus::Success, Ending::Closed)),
            [DB]
        );
        p.on_done(t, DB, 1, TerminationStatus::Success, Ending::Closed);
        assert!(!p.finished());
        p.on_done(t, LOGGER, 1, TerminationStatus::Success, Ending::Closed);
        assert!(p.finished());
    }

    #[test]
    fn a_daemon_runs_until_shutdown_even_when_all_are_done() {
        let t = Instant::now();
        let mut p = plan(RunMode::Daemon);
        p.tick(t);
        p.on_done(t, LOGGER, 1, TerminationStatus::Success, Ending::Closed);
        p.on_done(t, DB, 1, TerminationStatus::Success, Ending::Closed);
        p.on_done(t, CACHE, 1, TerminationStatus::Success, Ending::Closed);
        p.on_done(t, WEB, 1, TerminationStatus::Success, Ending::Closed);
        assert!(!p.finished());
        p.shutdown(t);
        assert!(p.finished());
    }

    #[test]
    fn shutdown_before_dependencies_are_ready_never_launches_the_rest() {
        let t = Instant::now();
        let mut p = plan(RunMode::UntilAllDone);
        p.tick(t);
        let actions = p.shutdown(t);
        assert!(launched(&actions).is_empty());
        assert_eq!(stopped(&actions), [LOGGER, DB]);
        assert_eq!(
            p.statuses()[WEB],
            TerminationStatus::Warning,
            "never started"
        );
        assert_eq!(p.next_deadline(), Some(t + Duration::from_secs(5)));
    }
}
