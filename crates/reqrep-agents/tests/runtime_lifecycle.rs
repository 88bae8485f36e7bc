//! The lifecycle through the orchestrator: hook and plugin order (no
//! `on_stop` without a stop), and `on_close` / `finalize` after errors and
//! panics, in thread and task mode.

mod runtime_support;

use reqrep_agents::Plugin;
use reqrep_agents::runtime::{
    Agent, AgentContext, AgentError, AgentOptions, EventKind, ExecutionMode, Orchestrator,
    OrchestratorOptions, TerminationStatus,
};
use runtime_support::{Log, LogPlugin, kinds, run_ok};

#[derive(Clone, Copy, PartialEq, Debug)]
enum Fault {
    None,
    SetupError,
    ExecuteError,
    ExecutePanic,
    SetupPanic,
}

struct Scripted {
    log: Log,
    fault: Fault,
    plugins: Vec<LogPlugin>,
}

impl Scripted {
    fn new(log: &Log, fault: Fault) -> Self {
        Self {
            log: log.clone(),
            fault,
            plugins: vec![LogPlugin::new("p1", log), LogPlugin::new("p2", log)],
        }
    }
}

impl Agent for Scripted {
    fn setup(&mut self, _ctx: &AgentContext) -> Result<(), AgentError> {
        self.log.push("setup");
        match self.fault {
            Fault::SetupError => Err(AgentError::fatal("missing endpoint")),
            Fault::SetupPanic => panic!("setup exploded"),
            _ => Ok(()),
        }
    }

    fn execute(&mut self, _ctx: &AgentContext) -> Result<(), AgentError> {
        self.log.push("execute");
        match self.fault {
            Fault::ExecuteError => Err(AgentError::fatal("peer gone")),
            Fault::ExecutePanic => panic!("execute exploded"),
            _ => Ok(()),
        }
    }

    fn on_stop(&mut self, _ctx: &AgentContext) {
        self.log.push("on_stop");
    }

    fn on_close(&mut self, _ctx: &AgentContext) {
        self.log.push("on_close");
    }

    fn plugins(&mut self) -> Vec<&mut dyn Plugin> {
        self.plugins
            .iter_mut()
            .map(|p| p as &mut dyn Plugin)
            .collect()
    }
}

fn run_one(fault: Fault, mode: ExecutionMode) -> (Log, reqrep_agents::runtime::RunReport) {
    let log = Log::default();
    let mut orchestrator = Orchestrator::default();
    orchestrator
        .register(
            "scripted",
            Scripted::new(&log, fault),
            AgentOptions::default().mode(mode),
        )
        .expect("register");
    let report = run_ok(orchestrator);
    (log, report)
}

/// An agent that ends by itself gets no `on_stop`: nobody asked it to stop.
const FULL_ORDER: [&str; 7] = [
    "init p1",
    "init p2",
    "setup",
    "execute",
    "on_close",
    "finalize p2",
    "finalize p1",
];

#[test]
fn hooks_run_in_order_with_plugins_around_them() {
    let (log, report) = run_one(Fault::None, ExecutionMode::Thread);
    assert_eq!(log.entries(), FULL_ORDER);
    assert_eq!(report.status("scripted"), Some(TerminationStatus::Success));
    assert_eq!(
        kinds(&report, "scripted"),
        [
            EventKind::Started { attempt: 1 },
            EventKind::Ready,
            EventKind::Closed(TerminationStatus::Success),
            EventKind::Terminated(TerminationStatus::Success),
        ]
    );
    let times: Vec<_> = report.events().iter().map(|e| e.at).collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "events are in time order"
    );
}

#[test]
fn task_mode_runs_the_same_lifecycle() {
    let (log, report) = run_one(Fault::None, ExecutionMode::Task);
    assert_eq!(log.entries(), FULL_ORDER);
    assert_eq!(report.status("scripted"), Some(TerminationStatus::Success));
}

#[test]
fn task_mode_uses_a_given_tokio_runtime() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    let log = Log::default();
    let mut orchestrator =
        Orchestrator::new(OrchestratorOptions::default().tokio_handle(runtime.handle().clone()));
    orchestrator
        .register(
            "scripted",
            Scripted::new(&log, Fault::None),
            AgentOptions::default().mode(ExecutionMode::Task),
        )
        .unwrap();
    let report = run_ok(orchestrator);
    assert_eq!(report.status("scripted"), Some(TerminationStatus::Success));
    assert_eq!(log.entries(), FULL_ORDER);
}

#[test]
fn on_close_and_finalize_run_after_a_setup_error() {
    let (log, report) = run_one(Fault::SetupError, ExecutionMode::Thread);
    assert_eq!(
        log.entries(),
        [
            "init p1",
            "init p2",
            "setup",
            "on_close",
            "finalize p2",
            "finalize p1"
        ]
    );
    assert_eq!(report.status("scripted"), Some(TerminationStatus::Error));
    assert!(
        kinds(&report, "scripted")
            .contains(&EventKind::Failed("setup failed: missing endpoint".into()))
    );
    assert!(!kinds(&report, "scripted").contains(&EventKind::Ready));
}

#[test]
fn on_close_and_finalize_run_after_an_execute_error() {
    let (log, report) = run_one(Fault::ExecuteError, ExecutionMode::Thread);
    assert_eq!(log.entries(), FULL_ORDER);
    assert_eq!(report.status("scripted"), Some(TerminationStatus::Error));
    assert!(
        kinds(&report, "scripted").contains(&EventKind::Failed("execute failed: peer gone".into()))
    );
}

#[test]
fn on_close_and_finalize_run_after_a_panic_in_a_thread() {
    let (log, report) = run_one(Fault::ExecutePanic, ExecutionMode::Thread);
    assert_eq!(
        log.entries(),
        [
            "init p1",
            "init p2",
            "setup",
            "execute",
            "on_close",
            "finalize p2",
            "finalize p1"
        ]
    );
    assert_eq!(report.status("scripted"), Some(TerminationStatus::Critical));
    assert!(kinds(&report, "scripted").contains(&EventKind::Failed(
        "execute panicked: execute exploded".into()
    )));
}

#[test]
fn on_close_and_finalize_run_after_a_panic_in_a_task() {
    let (log, report) = run_one(Fault::SetupPanic, ExecutionMode::Task);
    assert_eq!(
        log.entries(),
        [
            "init p1",
            "init p2",
            "setup",
            "on_close",
            "finalize p2",
            "finalize p1"
        ]
    );
    assert_eq!(report.status("scripted"), Some(TerminationStatus::Critical));
}

#[test]
fn a_panicking_agent_does_not_affect_the_others() {
    let log = Log::default();
    let mut orchestrator = Orchestrator::default();
    for (name, fault) in [("ok", Fault::None), ("boom", Fault::ExecutePanic)] {
        orchestrator
            .register(name, Scripted::new(&log, fault), AgentOptions::default())
            .unwrap();
    }
    let report = run_ok(orchestrator);
    assert_eq!(report.status("ok"), Some(TerminationStatus::Success));
    assert_eq!(report.status("boom"), Some(TerminationStatus::Critical));
    assert_eq!(report.worst(), TerminationStatus::Critical);
}
