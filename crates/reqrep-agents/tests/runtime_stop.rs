//! Stopping: an agent blocked on its stop token ends within its stop
//! timeout (and gets `on_stop`); one that ignores the stop is abandoned as
//! `Critical` without closing; a slow `setup` hits the start timeout and
//! skips `execute`; a daemon runs until shut down.

mod runtime_support;

use std::sync::mpsc;
use std::time::Duration;

use reqrep_agents::runtime::{
    Agent, AgentContext, AgentError, AgentOptions, EventKind, Orchestrator, OrchestratorOptions,
    RunMode, TerminationStatus,
};
use runtime_support::{Log, RUN_TIMEOUT, kinds, run_bounded, run_ok, wait_for};

const VERY_LONG: Duration = Duration::from_secs(3600);

/// Blocks in `execute` on its stop token for an hour; tells `entered`
/// when it gets there.
struct Blocked {
    log: Log,
    entered: Option<mpsc::Sender<()>>,
}

impl Agent for Blocked {
    fn execute(&mut self, ctx: &AgentContext) -> Result<(), AgentError> {
        self.log.push("blocking");
        if let Some(entered) = self.entered.take() {
            let _ = entered.send(());
        }
        let stopped = ctx.stop_token().wait_timeout(VERY_LONG);
        self.log.push(if stopped {
            "woken by stop"
        } else {
            "timed out"
        });
        Ok(())
    }

    fn on_stop(&mut self, _ctx: &AgentContext) {
        self.log.push("on_stop");
    }

    fn on_close(&mut self, _ctx: &AgentContext) {
        self.log.push("on_close");
    }
}

/// Ignores the stop: blocks until the test drops the sender; tells
/// `entered` when it gets there.
struct Stubborn {
    log: Log,
    release: mpsc::Receiver<()>,
    entered: mpsc::Sender<()>,
}

impl Agent for Stubborn {
    fn execute(&mut self, _ctx: &AgentContext) -> Result<(), AgentError> {
        let _ = self.entered.send(());
        let _ = self.release.recv();
        Ok(())
    }

    fn on_stop(&mut self, _ctx: &AgentContext) {
        self.log.push("on_stop");
    }

    fn on_close(&mut self, _ctx: &AgentContext) {
        self.log.push("on_close");
    }
}

/// Finishes at once.
struct Quick;

impl Agent for Quick {
    fn execute(&mut self, _ctx: &AgentContext) -> Result<(), AgentError> {
        Ok(())
    }
}

#[test]
fn stop_ends_an_agent_blocked_on_its_stop_token() {
    let log = Log::default();
    let (entered, in_execute) = mpsc::channel();
    let stop_timeout = Duration::from_secs(5);
    let mut orchestrator = Orchestrator::default();
    orchestrator
        .register(
            "blocked",
            Blocked {
                log: log.clone(),
                entered: Some(entered),
            },
            AgentOptions::default().stop_timeout(stop_timeout),
        )
        .unwrap();
    let shutdown = orchestrator.shutdown_handle();
    let run = std::thread::spawn(move || run_bounded(orchestrator));
    in_execute
        .recv_timeout(RUN_TIMEOUT)
        .expect("execute begins");

    shutdown.stop();
    let report = run.join().unwrap().unwrap();
    assert_eq!(report.status("blocked"), Some(TerminationStatus::Success));
    assert_eq!(
        log.entries(),
        ["blocking", "woken by stop", "on_stop", "on_close"]
    );
    let kinds = kinds(&report, "blocked");
    assert!(kinds.contains(&EventKind::StopRequested));
    assert!(
        !kinds.contains(&EventKind::ForcedStop),
        "ended within its stop timeout"
    );
    assert!(kinds.contains(&EventKind::Closed(TerminationStatus::Success)));
}

#[test]
fn an_agent_that_ignores_stop_is_abandoned_as_critical_without_closing() {
    let log = Log::default();
    let (release, blocked_on) = mpsc::channel();
    let (entered, in_execute) = mpsc::channel();
    let mut orchestrator = Orchestrator::default();
    orchestrator
        .register(
            "stubborn",
            Stubborn {
                log: log.clone(),
                release: blocked_on,
                entered,
            },
            AgentOptions::default().stop_timeout(Duration::from_millis(200)),
        )
        .unwrap();
    orchestrator
        .register("quick", Quick, AgentOptions::default())
        .unwrap();
    let events = orchestrator.subscribe();
    let shutdown = orchestrator.shutdown_handle();
    let run = std::thread::spawn(move || run_bounded(orchestrator));
    in_execute
        .recv_timeout(RUN_TIMEOUT)
        .expect("execute begins");
    wait_for(&events, "quick", |k| matches!(k, EventKind::Terminated(_)));

    shutdown.stop();
    let report = run.join().unwrap().unwrap();
    assert_eq!(report.status("stubborn"), Some(TerminationStatus::Critical));
    assert_eq!(report.status("quick"), Some(TerminationStatus::Success));
    let kinds = kinds(&report, "stubborn");
    assert!(kinds.contains(&EventKind::ForcedStop));
    assert!(kinds.contains(&EventKind::Abandoned));
    assert!(
        !kinds.iter().any(|k| matches!(k, EventKind::Closed(_))),
        "{kinds:?}"
    );
    assert_eq!(
        kinds.last(),
        Some(&EventKind::Terminated(TerminationStatus::Critical))
    );
    assert!(
        log.entries().is_empty(),
        "the thread is still stuck: neither on_stop nor on_close ran"
    );
    // Let the abandoned thread go.
    drop(release);
}

/// Waits in `setup` on its stop token.
struct SlowSetup {
    log: Log,
}

impl Agent for SlowSetup {
    fn setup(&mut self, ctx: &AgentContext) -> Result<(), AgentError> {
        ctx.stop_token().wait_timeout(VERY_LONG);
        Ok(())
    }

    fn execute(&mut self, _ctx: &AgentContext) -> Result<(), AgentError> {
        self.log.push("execute");
        Ok(())
    }

    fn on_stop(&mut self, _ctx: &AgentContext) {
        self.log.push("on_stop");
    }

    fn on_close(&mut self, _ctx: &AgentContext) {
        self.log.push("on_close");
    }
}

#[test]
fn a_setup_past_the_start_timeout_fails_and_is_stopped() {
    let log = Log::default();
    let mut orchestrator = Orchestrator::default();
    orchestrator
        .register(
            "slow",
            SlowSetup { log: log.clone() },
            AgentOptions::default().start_timeout(Duration::from_millis(100)),
        )
        .unwrap();
    orchestrator
        .register(
            "dependent",
            Quick,
            AgentOptions::default().depends_on(["slow"]),
        )
        .unwrap();
    let report = run_ok(orchestrator);
    assert_eq!(report.status("slow"), Some(TerminationStatus::Error));
    assert_eq!(
        log.entries(),
        ["on_stop", "on_close"],
        "the stop ended setup: execute is skipped, on_stop runs"
    );
    let slow = kinds(&report, "slow");
    assert!(
        slow.iter()
            .any(|k| matches!(k, EventKind::Failed(cause) if cause.contains("start timeout")))
    );
    assert!(!slow.contains(&EventKind::Ready), "{slow:?}");
    assert!(slow.contains(&EventKind::Closed(TerminationStatus::Error)));
    assert_eq!(
        report.status("dependent"),
        Some(TerminationStatus::Error),
        "never started"
    );
    assert!(!kinds(&report, "dependent").contains(&EventKind::Started { attempt: 1 }));
}

#[test]
fn a_daemon_runs_until_shut_down() {
    let mut orchestrator =
        Orchestrator::new(OrchestratorOptions::default().run_mode(RunMode::Daemon));
    orchestrator
        .register("quick", Quick, AgentOptions::default())
        .unwrap();
    let events = orchestrator.subscribe();
    let shutdown = orchestrator.shutdown_handle();
    let (done_tx, done) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(run_bounded(orchestrator));
    });
    wait_for(&events, "quick", |k| matches!(k, EventKind::Terminated(_)));
    assert!(
        done.recv_timeout(Duration::from_millis(200)).is_err(),
        "a daemon outlives its agents"
    );
    shutdown.stop();
    let report = done
        .recv_timeout(Duration::from_secs(10))
        .expect("returns after the shutdown")
        .unwrap();
    assert_eq!(report.status("quick"), Some(TerminationStatus::Success));
}

#[test]
fn a_stop_before_run_stops_everything_at_once() {
    let log = Log::default();
    let mut orchestrator = Orchestrator::default();
    orchestrator
        .register(
            "blocked",
            Blocked {
                log: log.clone(),
                entered: None,
            },
            AgentOptions::default(),
        )
        .unwrap();
    orchestrator
        .register(
            "later",
            Quick,
            AgentOptions::default().depends_on(["blocked"]),
        )
        .unwrap();
    orchestrator.shutdown_handle().stop();
    let report = run_ok(orchestrator);
    assert_eq!(report.status("blocked"), Some(TerminationStatus::Warning));
    assert_eq!(report.status("later"), Some(TerminationStatus::Warning));
    assert!(log.entries().is_empty(), "nothing was started");
    assert!(!kinds(&report, "blocked").contains(&EventKind::Started { attempt: 1 }));
}
