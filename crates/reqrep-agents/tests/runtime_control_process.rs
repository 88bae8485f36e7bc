//! Restarts of child-process agents through the orchestrator's handle: a
//! child that honours the stop is stopped and a new one started; one that
//! ignores it is killed, and a new one started all the same.
//!
//! This file has its own `main` (`harness = false`): the orchestrator
//! re-executes this very program for each child agent, and `run` then runs
//! only that agent.

#![allow(
    clippy::print_stdout,
    reason = "a test program: it reports its result on stdout"
)]

use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use reqrep_agents::runtime::{
    Agent, AgentContext, AgentError, AgentOptions, AgentState, EventKind, ExecutionMode,
    Orchestrator, OrchestratorOptions, RunMode, RunReport, StatusEvent, TerminationStatus,
};

/// The whole test must end within this.
const TEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Waits on its stop token (which a child's control pipe stops). Its
/// heartbeat says it is in `execute`.
struct Waiter;

impl Agent for Waiter {
    fn execute(&mut self, ctx: &AgentContext) -> Result<(), AgentError> {
        ctx.heartbeat();
        ctx.stop_token().wait_timeout(Duration::from_secs(3600));
        Ok(())
    }
}

/// Ignores every stop. Its heartbeat says it is in `execute`.
struct Stubborn;

impl Agent for Stubborn {
    fn execute(&mut self, ctx: &AgentContext) -> Result<(), AgentError> {
        ctx.heartbeat();
        loop {
            std::thread::park();
        }
    }
}

/// The same registrations in the orchestrator and in every child.
fn orchestrator() -> Orchestrator {
    let child = AgentOptions::default().mode(ExecutionMode::Process);
    let mut o = Orchestrator::new(OrchestratorOptions::default().run_mode(RunMode::Daemon));
    o.register("waiter", Waiter, child.clone())
        .expect("register");
    o.register(
        "stubborn",
        Stubborn,
        child.stop_timeout(Duration::from_millis(200)),
    )
    .expect("register");
    o
}

fn main() {
    if Orchestrator::child_agent().is_some() {
        // Runs the one agent and exits with its status.
        let _ = orchestrator().run();
        unreachable!("a child's run exits the process");
    }
    let began = Instant::now();
    let report = run();
    if let Err(panic) = std::panic::catch_unwind(|| check(&report)) {
        for event in report.events() {
            eprintln!("  {event}");
        }
        std::panic::resume_unwind(panic);
    }
    println!(
        "runtime_control_process: all checks passed in {:?}",
        began.elapsed()
    );
}

/// Waits until every agent listed has sent its events, in order for each
/// agent (other events in between are skipped).
fn await_in_order(
    events: &Receiver<StatusEvent>,
    deadline: Instant,
    mut expected: Vec<(&str, Vec<EventKind>)>,
) {
    for (_, kinds) in &mut expected {
        kinds.reverse();
    }
    while expected.iter().any(|(_, kinds)| !kinds.is_empty()) {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = events
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("timed out waiting for {expected:?}"));
        for (agent, kinds) in &mut expected {
            if *agent == &*event.agent && kinds.last() == Some(&event.kind) {
                kinds.pop();
            }
        }
    }
}

/// Restarts both children once they are in `execute`, waits for the new
/// ones to be in `execute`, then shuts down.
fn run() -> RunReport {
    let mut orchestrator = orchestrator();
    let handle = orchestrator.handle();
    let events = orchestrator.subscribe();
    let shutdown = orchestrator.shutdown_handle();
    let (done_tx, done) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(orchestrator.run());
    });

    let deadline = Instant::now() + TEST_TIMEOUT;
    let executing = |attempt| vec![EventKind::Started { attempt }, EventKind::Heartbeat];
    await_in_order(
        &events,
        deadline,
        vec![("waiter", executing(1)), ("stubborn", executing(1))],
    );
    handle.restart("waiter").expect("restart the waiter");
    handle
        .restart("stubborn")
        .expect("restart the stubborn one");
    await_in_order(
        &events,
        deadline,
        vec![("waiter", executing(2)), ("stubborn", executing(2))],
    );
    for name in ["waiter", "stubborn"] {
        let status = handle.status(name).expect("registered");
        assert_eq!(
            (status.state, status.attempt),
            (AgentState::Running, 2),
            "{name}"
        );
    }
    shutdown.stop();
    let left = deadline.saturating_duration_since(Instant::now());
    done.recv_timeout(left)
        .expect("the orchestrator returns after the shutdown")
        .expect("the run starts")
}

fn kinds(report: &RunReport, agent: &str) -> Vec<EventKind> {
    report
        .events_for(agent)
        .map(|e| e.kind.clone())
        .filter(|k| *k != EventKind::Heartbeat)
        .collect()
}

fn check(report: &RunReport) {
    let relaunch = [
        EventKind::Restarting {
            attempt: 2,
            delay: Duration::ZERO,
        },
        EventKind::Started { attempt: 2 },
        EventKind::Ready,
    ];

    // A child that honours its stop closes, and a new child takes over.
    let waiter = kinds(report, "waiter");
    assert_eq!(
        waiter[..3],
        [
            EventKind::Started { attempt: 1 },
            EventKind::Ready,
            EventKind::StopRequested
        ]
    );
    assert_eq!(waiter[3], EventKind::Closed(TerminationStatus::Success));
    assert_eq!(waiter[4..7], relaunch);
    assert_eq!(report.status("waiter"), Some(TerminationStatus::Success));

    // One that ignores it is killed; a new child takes over all the same.
    let stubborn = kinds(report, "stubborn");
    assert_eq!(
        stubborn[2..4],
        [EventKind::StopRequested, EventKind::ForcedStop]
    );
    assert_eq!(stubborn[5], EventKind::Killed);
    assert_eq!(stubborn[6..9], relaunch);
    // The shutdown kills the second child too.
    assert_eq!(report.status("stubborn"), Some(TerminationStatus::Critical));
}
