//! Orchestration: unique names, dependency order and errors, configuration
//! validation policies, restarts, and event subscriptions.

mod runtime_support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqrep_agents::runtime::{
    Agent, AgentConfig, AgentContext, AgentError, AgentOptions, ConfigIssue, EventKind,
    Orchestrator, OrchestratorError, RestartPolicy, Severity, TerminationStatus, ValidationPolicy,
};
use reqrep_core::RetryPolicy;
use runtime_support::{Log, kinds, run_bounded, run_ok};

/// Logs `setup <name>` and `execute <name>`.
struct Named {
    name: &'static str,
    log: Log,
}

impl Agent for Named {
    fn setup(&mut self, _ctx: &AgentContext) -> Result<(), AgentError> {
        self.log.push(format!("setup {}", self.name));
        Ok(())
    }

    fn execute(&mut self, _ctx: &AgentContext) -> Result<(), AgentError> {
        self.log.push(format!("execute {}", self.name));
        Ok(())
    }
}

fn named(name: &'static str, log: &Log) -> Named {
    Named {
        name,
        log: log.clone(),
    }
}

#[test]
fn names_must_be_unique_and_valid() {
    let log = Log::default();
    let mut orchestrator = Orchestrator::default();
    orchestrator
        .register("a", named("a", &log), AgentOptions::default())
        .unwrap();
    let err = orchestrator
        .register("a", named("a", &log), AgentOptions::default())
        .unwrap_err();
    assert!(matches!(err, OrchestratorError::DuplicateName(ref n) if n == "a"));
    for bad in ["", "line\nbreak"] {
        let err = orchestrator
            .register(bad, named("x", &log), AgentOptions::default())
            .unwrap_err();
        assert!(matches!(err, OrchestratorError::InvalidName(_)));
    }
    assert_eq!(orchestrator.names().collect::<Vec<_>>(), ["a"]);
}

#[test]
fn agents_start_in_dependency_order() {
    let log = Log::default();
    let mut orchestrator = Orchestrator::default();
    // Registered backwards on purpose.
    orchestrator
        .register(
            "web",
            named("web", &log),
            AgentOptions::default().depends_on(["cache", "db"]),
        )
        .unwrap();
    orchestrator
        .register(
            "cache",
            named("cache", &log),
            AgentOptions::default().depends_on(["db"]),
        )
        .unwrap();
    orchestrator
        .register("db", named("db", &log), AgentOptions::default())
        .unwrap();
    let report = run_ok(orchestrator);
    let setups: Vec<_> = log
        .entries()
        .into_iter()
        .filter(|e| e.starts_with("setup"))
        .collect();
    assert_eq!(setups, ["setup db", "setup cache", "setup web"]);
    assert_eq!(report.worst(), TerminationStatus::Success);
    // Each dependent started after its dependency was ready.
    let at = |agent: &str, kind: EventKind| {
        report
            .events_for(agent)
            .find(|e| e.kind == kind)
            .map(|e| e.at)
            .unwrap()
    };
    assert!(at("db", EventKind::Ready) <= at("cache", EventKind::Started { attempt: 1 }));
    assert!(at("cache", EventKind::Ready) <= at("web", EventKind::Started { attempt: 1 }));
}

#[test]
fn a_dependency_cycle_is_rejected_at_run() {
    let log = Log::default();
    let mut orchestrator = Orchestrator::default();
    for (name, dep) in [("a", "b"), ("b", "c"), ("c", "a")] {
        orchestrator
            .register(
                name,
                named("x", &log),
                AgentOptions::default().depends_on([dep]),
            )
            .unwrap();
    }
    let err = run_bounded(orchestrator).unwrap_err();
    assert!(
        matches!(err, OrchestratorError::DependencyCycle(ref path) if path == &["a", "b", "c", "a"])
    );
    assert!(log.entries().is_empty(), "nothing started");
}

#[test]
fn an_unknown_dependency_is_rejected_at_run() {
    let log = Log::default();
    let mut orchestrator = Orchestrator::default();
    orchestrator
        .register(
            "a",
            named("a", &log),
            AgentOptions::default().depends_on(["ghost"]),
        )
        .unwrap();
    let err = run_bounded(orchestrator).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"agent "a" depends on unknown agent "ghost""#
    );
}

/// A typed configuration with defaults and validation.
#[derive(Debug, Clone)]
struct WorkerConfig {
    endpoint: String,
    credits: u32,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            endpoint: "tcp://127.0.0.1:5555".into(),
            credits: 1,
        }
    }
}

impl AgentConfig for WorkerConfig {
    fn validate(&self) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        if !self.endpoint.starts_with("tcp://") {
            issues.push(ConfigIssue::error(format!(
                "unsupported endpoint {}",
                self.endpoint
            )));
        }
        if self.credits > 100 {
            issues.push(ConfigIssue::warning("more than 100 credits"));
        }
        issues
    }
}

struct Worker {
    config: WorkerConfig,
    log: Log,
}

impl Agent for Worker {
    fn execute(&mut self, _ctx: &AgentContext) -> Result<(), AgentError> {
        self.log.push(format!("execute {}", self.config.credits));
        Ok(())
    }

    fn validate(&self) -> Vec<ConfigIssue> {
        self.config.validate()
    }
}

#[test]
fn configuration_warnings_pass_and_errors_abort_the_agent() {
    let log = Log::default();
    let worker = |overrides: fn(&mut WorkerConfig)| Worker {
        config: WorkerConfig::default().with(overrides),
        log: log.clone(),
    };
    let mut orchestrator = Orchestrator::default();
    orchestrator
        .register("plain", worker(|_| {}), AgentOptions::default())
        .unwrap();
    orchestrator
        .register(
            "greedy",
            worker(|c| c.credits = 500),
            AgentOptions::default(),
        )
        .unwrap();
    orchestrator
        .register(
            "broken",
            worker(|c| c.endpoint = "udp://x".into()),
            AgentOptions::default(),
        )
        .unwrap();
    orchestrator
        .register(
            "strict",
            worker(|c| c.credits = 200),
            AgentOptions::default().validation(ValidationPolicy::strict()),
        )
        .unwrap();
    orchestrator
        .register(
            "lenient",
            worker(|c| c.endpoint = "udp://y".into()),
            AgentOptions::default().validation(ValidationPolicy::permissive()),
        )
        .unwrap();
    orchestrator
        .register(
            "after-broken",
            worker(|_| {}),
            AgentOptions::default().depends_on(["broken"]),
        )
        .unwrap();
    let report = run_ok(orchestrator);

    assert_eq!(report.status("plain"), Some(TerminationStatus::Success));
    assert_eq!(report.status("greedy"), Some(TerminationStatus::Warning));
    assert!(kinds(&report, "greedy").contains(&EventKind::Warning(
        "configuration warning: more than 100 credits".into()
    )));
    assert_eq!(report.status("broken"), Some(TerminationStatus::Error));
    assert_eq!(
        kinds(&report, "broken"),
        [
            EventKind::Failed("invalid configuration: error: unsupported endpoint udp://x".into()),
            EventKind::Terminated(TerminationStatus::Error)
        ]
    );
    assert_eq!(report.status("strict"), Some(TerminationStatus::Error));
    assert_eq!(report.status("lenient"), Some(TerminationStatus::Warning));
    assert_eq!(
        report.status("after-broken"),
        Some(TerminationStatus::Error)
    );
    let mut ran = log.entries();
    ran.sort();
    assert_eq!(
        ran,
        ["execute 1", "execute 1", "execute 500"],
        "plain, lenient and greedy ran"
    );
    assert!(!ValidationPolicy::default().aborts(Severity::Warning));
}

/// Fails its first `failures` runs (the count survives restarts: the same
/// agent value is run again).
struct Flaky {
    failures: u32,
    runs: Arc<AtomicU32>,
}

impl Agent for Flaky {
    fn execute(&mut self, _ctx: &AgentContext) -> Result<(), AgentError> {
        let run = self.runs.fetch_add(1, Ordering::SeqCst) + 1;
        if run <= self.failures {
            return Err(AgentError::fatal(format!("run {run} failed")));
        }
        Ok(())
    }
}

fn fast_restarts(max_restarts: u32) -> RestartPolicy {
    RestartPolicy::OnFailure {
        max_restarts,
        backoff: RetryPolicy::default()
            .initial_backoff(Duration::from_millis(5))
            .max_backoff(Duration::from_millis(20)),
    }
}

#[test]
fn a_failing_agent_restarts_per_policy_and_recovers() {
    let runs = Arc::new(AtomicU32::new(0));
    let mut orchestrator = Orchestrator::default();
    orchestrator
        .register(
            "flaky",
            Flaky {
                failures: 2,
                runs: runs.clone(),
            },
            AgentOptions::default().restart(fast_restarts(5)),
        )
        .unwrap();
    let report = run_ok(orchestrator);
    assert_eq!(runs.load(Ordering::SeqCst), 3);
    assert_eq!(
        report.status("flaky"),
        Some(TerminationStatus::Warning),
        "recovered"
    );
    let kinds = kinds(&report, "flaky");
    let restarts: Vec<u32> = kinds
        .iter()
        .filter_map(|k| match k {
            EventKind::Restarting { attempt, .. } => Some(*attempt),
            _ => None,
        })
        .collect();
    assert_eq!(restarts, [2, 3]);
    assert!(kinds.contains(&EventKind::Started { attempt: 3 }));
}

#[test]
fn restarts_are_bounded() {
    let runs = Arc::new(AtomicU32::new(0));
    let mut orchestrator = Orchestrator::default();
    orchestrator
        .register(
            "doomed",
            Flaky {
                failures: u32::MAX,
                runs: runs.clone(),
            },
            AgentOptions::default().restart(fast_restarts(2)),
        )
        .unwrap();
    let report = run_ok(orchestrator);
    assert_eq!(runs.load(Ordering::SeqCst), 3, "1 run + 2 restarts");
    assert_eq!(report.status("doomed"), Some(TerminationStatus::Error));
    let closed = kinds(&report, "doomed")
        .into_iter()
        .filter(|k| *k == EventKind::Closed(TerminationStatus::Error))
        .count();
    assert_eq!(closed, 3);
}

#[test]
fn events_are_streamed_live_and_kept_in_the_report() {
    let log = Log::default();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut orchestrator = Orchestrator::default();
    orchestrator
        .register("a", named("a", &log), AgentOptions::default())
        .unwrap();
    let live = orchestrator.subscribe();
    let sink = seen.clone();
    orchestrator.on_event(move |event| sink.lock().unwrap().push(event.kind.clone()));
    let report = run_ok(orchestrator);
    let streamed: Vec<_> = live.try_iter().map(|e| e.kind).collect();
    let recorded = kinds(&report, "a");
    assert_eq!(streamed, recorded);
    assert_eq!(*seen.lock().unwrap(), recorded);
    assert_eq!(
        recorded.last(),
        Some(&EventKind::Terminated(TerminationStatus::Success))
    );
    assert_eq!(report.dropped_events(), 0);
}
