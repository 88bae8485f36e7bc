//! Looping and periodic agents through the orchestrator: cycle and run
//! limits, recoverable and fatal errors, an immediate first run, no wait
//! after the last run, and a stop that cuts the wait between runs short.

mod runtime_support;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqrep_agents::runtime::{
    AgentConfig, AgentContext, AgentError, AgentOptions, EventKind, LoopConfig, Looping,
    LoopingAgent, Orchestrator, OrchestratorOptions, Periodic, PeriodicAgent, PeriodicConfig,
    RunMode, TerminationStatus, Timing,
};
use runtime_support::{Log, kinds, run_bounded, run_ok, wait_for};

/// Logs `cycle`; fails recoverably or fatally on the listed cycles.
struct Cycler {
    log: Log,
    cycles: u32,
    recoverable_at: Vec<u32>,
    fatal_at: Option<u32>,
}

impl Cycler {
    fn new(log: &Log) -> Self {
        Self {
            log: log.clone(),
            cycles: 0,
            recoverable_at: Vec::new(),
            fatal_at: None,
        }
    }
}

impl LoopingAgent for Cycler {
    fn cycle(&mut self, _ctx: &AgentContext) -> Result<(), AgentError> {
        self.cycles += 1;
        self.log.push("cycle");
        if self.fatal_at == Some(self.cycles) {
            return Err(AgentError::fatal("socket closed"));
        }
        if self.recoverable_at.contains(&self.cycles) {
            return Err(AgentError::recoverable("request timed out"));
        }
        Ok(())
    }

    fn on_close(&mut self, _ctx: &AgentContext) {
        self.log.push("on_close");
    }
}

fn run_loop(agent: Cycler, config: LoopConfig) -> reqrep_agents::runtime::RunReport {
    let mut orchestrator = Orchestrator::default();
    orchestrator
        .register("loop", Looping::new(agent, config), AgentOptions::default())
        .expect("register");
    run_ok(orchestrator)
}

#[test]
fn limit_three_runs_exactly_three_cycles() {
    let log = Log::default();
    let report = run_loop(Cycler::new(&log), LoopConfig::limit(3));
    assert_eq!(log.count("cycle"), 3);
    assert_eq!(report.status("loop"), Some(TerminationStatus::Success));
    assert!(kinds(&report, "loop").contains(&EventKind::Heartbeat));
}

#[test]
fn recoverable_errors_are_logged_and_the_loop_goes_on() {
    let log = Log::default();
    let agent = Cycler {
        recoverable_at: vec![2, 4],
        ..Cycler::new(&log)
    };
    let report = run_loop(agent, LoopConfig::limit(5));
    assert_eq!(log.count("cycle"), 5);
    assert_eq!(report.status("loop"), Some(TerminationStatus::Warning));
    let warnings: Vec<_> = kinds(&report, "loop")
        .into_iter()
        .filter(|k| matches!(k, EventKind::Warning(_)))
        .collect();
    assert_eq!(
        warnings,
        [
            EventKind::Warning("cycle 2: request timed out".into()),
            EventKind::Warning("cycle 4: request timed out".into())
        ]
    );
}

#[test]
fn a_fatal_error_stops_the_loop_with_error() {
    let log = Log::default();
    let agent = Cycler {
        fatal_at: Some(2),
        ..Cycler::new(&log)
    };
    let report = run_loop(agent, LoopConfig::default());
    assert_eq!(log.entries(), ["cycle", "cycle", "on_close"]);
    assert_eq!(report.status("loop"), Some(TerminationStatus::Error));
    assert!(
        kinds(&report, "loop").contains(&EventKind::Failed("execute failed: socket closed".into()))
    );
}

/// Sends the instant of each run.
struct Probe {
    runs: mpsc::Sender<Instant>,
}

impl PeriodicAgent for Probe {
    fn runner(&mut self, _ctx: &AgentContext) -> Result<(), AgentError> {
        let _ = self.runs.send(Instant::now());
        Ok(())
    }
}

/// Every periodic timing.
const TIMINGS: [Timing; 3] = [Timing::catch_up(), Timing::Skip, Timing::FixedDelay];

/// Runs a [`Probe`] with `config` until the run ends by itself (bounded).
fn run_probe(config: PeriodicConfig) -> (reqrep_agents::runtime::RunReport, usize) {
    let (tx, runs) = mpsc::channel();
    let mut orchestrator = Orchestrator::default();
    orchestrator
        .register(
            "probe",
            Periodic::new(Probe { runs: tx }, config),
            AgentOptions::default(),
        )
        .expect("register");
    let report = run_ok(orchestrator);
    (report, runs.try_iter().count())
}

#[test]
fn periodic_limit_three_runs_exactly_three_runs_and_ends_by_itself() {
    for timing in TIMINGS {
        let config = PeriodicConfig::every(Duration::from_millis(1))
            .limit(3)
            .timing(timing);
        let (report, runs) = run_probe(config);
        assert_eq!(runs, 3, "{timing:?}");
        assert_eq!(report.status("probe"), Some(TerminationStatus::Success));
        let kinds = kinds(&report, "probe");
        assert!(kinds.contains(&EventKind::Heartbeat));
        assert!(
            !kinds.contains(&EventKind::StopRequested),
            "no stop: the limit ended it, {kinds:?}"
        );
    }
}

#[test]
fn periodic_limit_ends_right_after_the_last_run() {
    for timing in TIMINGS {
        // No wait follows the last run: with a one-hour interval the run
        // could not otherwise end within the test's bound.
        let config = PeriodicConfig::every(Duration::from_secs(3600))
            .limit(1)
            .timing(timing);
        let (report, runs) = run_probe(config);
        assert_eq!(runs, 1, "{timing:?}");
        assert_eq!(report.status("probe"), Some(TerminationStatus::Success));
    }
}

/// Stops itself in its first run.
struct StopsItself {
    runs: mpsc::Sender<Instant>,
}

impl PeriodicAgent for StopsItself {
    fn runner(&mut self, ctx: &AgentContext) -> Result<(), AgentError> {
        let _ = self.runs.send(Instant::now());
        ctx.request_stop();
        Ok(())
    }
}

#[test]
fn periodic_stop_between_runs_ends_the_schedule_at_once() {
    for timing in TIMINGS {
        let (tx, runs) = mpsc::channel();
        let config = PeriodicConfig::every(Duration::from_secs(3600)).timing(timing);
        let mut orchestrator = Orchestrator::default();
        orchestrator
            .register(
                "probe",
                Periodic::new(StopsItself { runs: tx }, config),
                AgentOptions::default().stop_timeout(Duration::from_secs(3600)),
            )
            .unwrap();
        // Bounded: a wait for the next slot would outlast the bound.
        let report = run_ok(orchestrator);
        assert_eq!(runs.try_iter().count(), 1, "{timing:?}");
        assert_eq!(report.status("probe"), Some(TerminationStatus::Success));
        assert!(!kinds(&report, "probe").contains(&EventKind::ForcedStop));
    }
}

#[test]
fn periodic_first_run_is_immediate_and_stop_interrupts_the_wait() {
    for timing in TIMINGS {
        let (tx, runs) = mpsc::channel();
        // An interval far longer than the test: only a stop can end the wait.
        let config = PeriodicConfig::default().with(|c| {
            c.interval = Duration::from_secs(3600);
            c.timing = timing;
        });
        let mut orchestrator =
            Orchestrator::new(OrchestratorOptions::default().run_mode(RunMode::Daemon));
        orchestrator
            .register(
                "probe",
                Periodic::new(Probe { runs: tx }, config),
                AgentOptions::default().stop_timeout(Duration::from_secs(60)),
            )
            .unwrap();
        let shutdown = orchestrator.shutdown_handle();
        let started = Instant::now();
        let run = std::thread::spawn(move || run_bounded(orchestrator));

        let first = runs
            .recv_timeout(Duration::from_secs(10))
            .expect("a first run without waiting for the interval");
        assert!(first.duration_since(started) < Duration::from_secs(10));

        let stopping = Instant::now();
        shutdown.stop();
        let report = run.join().unwrap().unwrap();
        let stop_took = stopping.elapsed();
        assert!(
            stop_took < Duration::from_secs(10),
            "the stop ends the one-hour wait at once, took {stop_took:?}"
        );
        assert_eq!(report.status("probe"), Some(TerminationStatus::Success));
        assert!(!kinds(&report, "probe").contains(&EventKind::ForcedStop));
        assert_eq!(runs.try_iter().count(), 0, "exactly one run");
    }
}

#[test]
fn periodic_runs_repeat_until_stopped() {
    let (tx, runs) = mpsc::channel();
    let mut orchestrator = Orchestrator::default();
    let config = PeriodicConfig::every(Duration::from_millis(5));
    orchestrator
        .register(
            "probe",
            Periodic::new(Probe { runs: tx }, config),
            AgentOptions::default(),
        )
        .unwrap();
    let events = orchestrator.subscribe();
    let shutdown = orchestrator.shutdown_handle();
    let run = std::thread::spawn(move || run_bounded(orchestrator));
    wait_for(&events, "probe", |k| *k == EventKind::Ready);
    for _ in 0..3 {
        runs.recv_timeout(Duration::from_secs(10))
            .expect("periodic runs");
    }
    shutdown.stop();
    let report = run.join().unwrap().unwrap();
    assert_eq!(report.status("probe"), Some(TerminationStatus::Success));
}
