//! Helpers shared by the `runtime_*` integration tests: a bounded run, a
//! shared log, a recording plugin and event waits (the bounded waits
//! themselves are the workspace's, from `reqrep_tests::wait`).

// Each test file uses its own subset of these helpers.
#![allow(dead_code)]

use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqrep_agents::runtime::{EventKind, Orchestrator, OrchestratorError, RunReport, StatusEvent};
use reqrep_agents::{Plugin, PluginError, StopToken};
use reqrep_tests::wait::{recv_matching, within};

/// Upper bound for any run in these tests.
pub(crate) const RUN_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs `orchestrator` on its own thread and waits for it at most
/// [`RUN_TIMEOUT`].
pub(crate) fn run_bounded(orchestrator: Orchestrator) -> Result<RunReport, OrchestratorError> {
    within(RUN_TIMEOUT, move || orchestrator.run())
        .expect("the orchestrator did not return in time")
}

/// Like [`run_bounded`], for a run expected to succeed.
pub(crate) fn run_ok(orchestrator: Orchestrator) -> RunReport {
    run_bounded(orchestrator).expect("the run starts")
}

/// A log shared by agents and plugins.
#[derive(Clone, Default)]
pub(crate) struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    pub(crate) fn push(&self, entry: impl Into<String>) {
        self.0.lock().expect("log lock").push(entry.into());
    }

    pub(crate) fn entries(&self) -> Vec<String> {
        self.0.lock().expect("log lock").clone()
    }

    pub(crate) fn count(&self, entry: &str) -> usize {
        self.entries().iter().filter(|e| *e == entry).count()
    }
}

/// A plugin that logs `init <name>` and `finalize <name>`, and fails its
/// init with `fail` when set.
pub(crate) struct LogPlugin {
    pub(crate) name: String,
    pub(crate) log: Log,
    pub(crate) fail: Option<String>,
}

impl LogPlugin {
    pub(crate) fn new(name: &str, log: &Log) -> Self {
        Self {
            name: name.to_owned(),
            log: log.clone(),
            fail: None,
        }
    }
}

impl Plugin for LogPlugin {
    fn name(&self) -> &str {
        &self.name
    }

    fn init(&mut self, _stop: &StopToken) -> Result<(), PluginError> {
        self.log.push(format!("init {}", self.name));
        match &self.fail {
            Some(cause) => Err(PluginError {
                plugin: self.name.clone(),
                cause: cause.clone(),
            }),
            None => Ok(()),
        }
    }

    fn finalize(&mut self) {
        self.log.push(format!("finalize {}", self.name));
    }
}

/// Waits (bounded) for an event of `agent` that `matches`; events before it
/// are consumed.
pub(crate) fn wait_for(
    events: &Receiver<StatusEvent>,
    agent: &str,
    matches: impl Fn(&EventKind) -> bool,
) -> StatusEvent {
    recv_matching(events, RUN_TIMEOUT, |event| {
        &*event.agent == agent && matches(&event.kind)
    })
    .unwrap_or_else(|| panic!("no matching event from {agent} in time"))
}

/// The kinds of `agent`'s recorded events, in order.
pub(crate) fn kinds(report: &RunReport, agent: &str) -> Vec<EventKind> {
    report.events_for(agent).map(|e| e.kind.clone()).collect()
}
