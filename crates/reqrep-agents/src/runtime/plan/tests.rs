use std::time::Duration;

use super::*;
use crate::runtime::{AgentOptions, AgentState, RestartPolicy};

/// web -> cache -> db, and a free-standing logger.
fn plan_with(run_mode: RunMode, max_agents: Option<usize>) -> Plan {
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
    let options = AgentOptions::default()
        .start_timeout(Duration::from_secs(5))
        .stop_timeout(Duration::from_secs(5));
    let agents = (0..4)
        .map(|_| Supervision::new(&options, fastrand::Rng::with_seed(1)))
        .collect();
    Plan::new(names, graph, agents, run_mode, max_agents)
}

fn plan(run_mode: RunMode) -> Plan {
    plan_with(run_mode, None)
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

fn warnings(actions: &[Action]) -> Vec<(usize, String)> {
    actions
        .iter()
        .filter_map(|a| match &a.directive {
            Directive::Emit(EventKind::Warning(message)) => Some((a.agent, message.clone())),
            _ => None,
        })
        .collect()
}

fn state(p: &Plan, agent: usize) -> AgentState {
    p.agent_statuses()[agent].state
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
    assert_eq!(state(&p, WEB), AgentState::Waiting);
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

/// Every agent ready.
fn all_running(p: &mut Plan, t: Instant) {
    p.tick(t);
    for agent in [DB, LOGGER, CACHE, WEB] {
        p.on_event(t, agent, 1, EventKind::Ready);
    }
    assert!((0..4).all(|a| state(p, a) == AgentState::Running));
}

#[test]
fn a_stop_command_stops_only_that_agent() {
    let t = Instant::now();
    let mut p = plan(RunMode::UntilAllDone);
    all_running(&mut p, t);
    let actions = p.command(t, DB, Command::Stop).unwrap();
    assert_eq!(stopped(&actions), [DB], "its dependents go on");
    p.on_done(t, DB, 1, TerminationStatus::Success, Ending::Closed);
    assert_eq!(
        state(&p, DB),
        AgentState::Terminated(TerminationStatus::Success)
    );
    assert_eq!(state(&p, CACHE), AgentState::Running);
    assert!(!p.finished());
}

#[test]
fn stopping_the_last_running_agent_ends_an_until_all_done_run() {
    let t = Instant::now();
    let mut p = plan(RunMode::UntilAllDone);
    p.tick(t);
    for agent in [DB, CACHE, WEB] {
        p.on_done(t, agent, 1, TerminationStatus::Success, Ending::Closed);
    }
    p.command(t, LOGGER, Command::Stop).unwrap();
    assert!(!p.finished(), "until its attempt ends");
    p.on_done(t, LOGGER, 1, TerminationStatus::Success, Ending::Closed);
    assert!(p.finished());
}

#[test]
fn a_started_agent_waits_for_its_dependencies_started_again() {
    let t = Instant::now();
    let mut p = plan(RunMode::Daemon);
    all_running(&mut p, t);
    for agent in [WEB, CACHE] {
        p.command(t, agent, Command::Stop).unwrap();
        p.on_done(t, agent, 1, TerminationStatus::Success, Ending::Closed);
    }
    assert_eq!(
        p.command(t, CACHE, Command::Start).map(|a| launched(&a)),
        Ok(vec![CACHE]),
        "db is ready"
    );
    // Web waits for cache's new ready, and starts with attempt 2.
    assert!(launched(&p.command(t, WEB, Command::Start).unwrap()).is_empty());
    assert_eq!(state(&p, WEB), AgentState::Waiting);
    let actions = p.on_event(t, CACHE, 2, EventKind::Ready);
    assert_eq!(launched(&actions), [WEB]);
    assert!(actions.iter().any(
        |a| a.agent == WEB && a.directive == Directive::Emit(EventKind::Started { attempt: 2 })
    ));
}

#[test]
fn start_and_restart_answers() {
    let t = Instant::now();
    let mut p = plan(RunMode::Daemon);
    all_running(&mut p, t);
    assert_eq!(
        p.command(t, DB, Command::Start),
        Err(ControlError::AlreadyRunning("db".into()))
    );
    let actions = p.command(t, DB, Command::Restart).unwrap();
    assert_eq!(stopped(&actions), [DB]);
    let actions = p.on_done(t, DB, 1, TerminationStatus::Success, Ending::Closed);
    assert_eq!(launched(&actions), [DB], "relaunched at once");
    assert_eq!(state(&p, DB), AgentState::Starting);
    assert_eq!(p.agent_statuses()[DB].attempt, 2);
    assert!(matches!(
        p.command(t, 9, Command::Stop),
        Err(ControlError::UnknownAgent(_))
    ));
}

#[test]
fn the_shutdown_wins_over_commands() {
    let t = Instant::now();
    let mut p = plan(RunMode::Daemon);
    all_running(&mut p, t);
    p.command(t, LOGGER, Command::Restart).unwrap();
    p.shutdown(t);
    for command in [Command::Stop, Command::Start, Command::Restart] {
        assert_eq!(
            p.command(t, DB, command),
            Err(ControlError::ShuttingDown),
            "{command:?}"
        );
    }
    let actions = p.on_done(t, LOGGER, 1, TerminationStatus::Success, Ending::Closed);
    assert!(launched(&actions).is_empty(), "the restart is dropped");
    assert_eq!(
        state(&p, LOGGER),
        AgentState::Terminated(TerminationStatus::Success)
    );
}

#[test]
fn max_agents_gates_launches_in_start_order() {
    let t = Instant::now();
    let mut p = plan_with(RunMode::UntilAllDone, Some(1));
    assert_eq!(launched(&p.tick(t)), [DB]);
    assert_eq!(state(&p, LOGGER), AgentState::Waiting);
    // Ready does not free the slot; the end does. Cache comes first in start
    // order, and is now free to go.
    let actions = p.on_event(t, DB, 1, EventKind::Ready);
    assert!(launched(&actions).is_empty());
    assert_eq!(
        launched(&p.on_done(t, DB, 1, TerminationStatus::Success, Ending::Closed)),
        [CACHE]
    );
    assert_eq!(
        launched(&p.on_done(t, CACHE, 1, TerminationStatus::Success, Ending::Closed)),
        [WEB]
    );
    assert_eq!(
        launched(&p.on_done(t, WEB, 1, TerminationStatus::Success, Ending::Closed)),
        [LOGGER]
    );
}

#[test]
fn a_backing_off_agent_frees_its_slot_and_waits_for_one_again() {
    let t = Instant::now();
    let names: Vec<Arc<str>> = ["a", "b"].map(Arc::from).to_vec();
    let graph = Graph::new(&["a", "b"], &[&[], &[]]).unwrap();
    let options = AgentOptions::default().restart(RestartPolicy::OnFailure {
        max_restarts: 1,
        backoff: reqrep_core::RetryPolicy::default()
            .initial_backoff(Duration::from_millis(10))
            .jitter(0.0),
    });
    let agents = (0..2)
        .map(|_| Supervision::new(&options, fastrand::Rng::with_seed(1)))
        .collect();
    let mut p = Plan::new(names, graph, agents, RunMode::UntilAllDone, Some(1));
    assert_eq!(launched(&p.tick(t)), [0]);
    assert_eq!(
        launched(&p.on_done(t, 0, 1, TerminationStatus::Error, Ending::Closed)),
        [1],
        "a backs off: b takes the slot"
    );
    let later = t + Duration::from_millis(10);
    assert!(launched(&p.tick(later)).is_empty());
    assert_eq!(p.agent_statuses()[0].state, AgentState::Waiting);
    assert_eq!(
        launched(&p.on_done(later, 1, 1, TerminationStatus::Success, Ending::Closed)),
        [0]
    );
}

#[test]
fn waiting_for_slots_held_by_dependencies_is_reported_once() {
    let t = Instant::now();
    let mut p = plan_with(RunMode::UntilAllDone, Some(1));
    p.tick(t);
    let actions = p.on_event(t, DB, 1, EventKind::Ready);
    assert_eq!(
        warnings(&actions),
        [(
            CACHE,
            "waiting for a slot (max_agents 1): its dependencies hold them all, \
             so it starts only once one of them ends"
                .to_owned()
        )]
    );
    assert!(warnings(&p.on_event(t, DB, 1, EventKind::Heartbeat)).is_empty());
    // Logger waits too, but for db, which is not its dependency: no warning.
    assert!(!warnings(&actions).iter().any(|(a, _)| *a == LOGGER));
    p.on_done(t, DB, 1, TerminationStatus::Success, Ending::Closed);
    p.on_done(t, CACHE, 1, TerminationStatus::Success, Ending::Closed);
    assert_eq!(
        p.statuses()[CACHE],
        TerminationStatus::Success,
        "the warning does not change the status"
    );
}

#[test]
fn a_zero_bound_counts_as_one() {
    let t = Instant::now();
    let mut p = plan_with(RunMode::UntilAllDone, Some(0));
    assert_eq!(launched(&p.tick(t)), [DB]);
}
