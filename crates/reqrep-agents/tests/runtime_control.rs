//! Control of a running orchestrator through its handle (stop, start and
//! restart one agent, statuses), heartbeat timeouts and the bound on
//! running agents, on real threads.

mod runtime_support;

use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqrep_agents::runtime::{
    Agent, AgentContext, AgentError, AgentOptions, AgentState, ControlError, EventKind, LoopConfig,
    Looping, LoopingAgent, Orchestrator, OrchestratorError, OrchestratorHandle,
    OrchestratorOptions, RestartPolicy, RunMode, RunReport, StatusEvent, TerminationStatus,
};
use runtime_support::{Log, RUN_TIMEOUT, kinds, run_bounded, run_ok, wait_for};

const VERY_LONG: Duration = Duration::from_secs(3600);

/// Runs until stopped: logs `run <name> <attempt>` and, once stopped,
/// `stopped <name> <attempt>`.
struct Service {
    name: &'static str,
    log: Log,
}

impl Agent for Service {
    fn execute(&mut self, ctx: &AgentContext) -> Result<(), AgentError> {
        self.log
            .push(format!("run {} {}", self.name, ctx.attempt()));
        ctx.stop_token().wait_timeout(VERY_LONG);
        self.log
            .push(format!("stopped {} {}", self.name, ctx.attempt()));
        Ok(())
    }
}

fn service(name: &'static str, log: &Log) -> Service {
    Service {
        name,
        log: log.clone(),
    }
}

fn daemon() -> Orchestrator {
    Orchestrator::new(OrchestratorOptions::default().run_mode(RunMode::Daemon))
}

/// Starts the run on its own thread.
fn spawn(orchestrator: Orchestrator) -> std::thread::JoinHandle<RunReport> {
    std::thread::spawn(move || run_ok(orchestrator))
}

fn state(handle: &OrchestratorHandle, name: &str) -> AgentState {
    handle.status(name).expect("a registered agent").state
}

/// Waits (bounded) until `name`'s state satisfies `matches`, polling the
/// handle's statuses (the change has no event to wait for).
fn wait_state(handle: &OrchestratorHandle, name: &str, matches: impl Fn(AgentState) -> bool) {
    let until = Instant::now() + RUN_TIMEOUT;
    while !matches(state(handle, name)) {
        assert!(
            Instant::now() < until,
            "{name} stayed {}",
            state(handle, name)
        );
        std::thread::yield_now();
    }
}

fn wait_ready(events: &Receiver<StatusEvent>, name: &str, attempt: u32) {
    wait_for(events, name, |k| *k == EventKind::Started { attempt });
    wait_for(events, name, |k| *k == EventKind::Ready);
}

#[test]
fn one_agent_is_stopped_while_the_other_runs_then_started_again() {
    let log = Log::default();
    let mut orchestrator = daemon();
    for name in ["a", "b"] {
        orchestrator
            .register(name, service(name, &log), AgentOptions::default())
            .unwrap();
    }
    let handle = orchestrator.handle();
    let a_events = orchestrator.subscribe();
    let b_events = orchestrator.subscribe();
    let shutdown = orchestrator.shutdown_handle();
    let run = spawn(orchestrator);
    wait_ready(&a_events, "a", 1);
    wait_ready(&b_events, "b", 1);
    assert_eq!(state(&handle, "a"), AgentState::Running);
    assert_eq!(
        handle.start("a"),
        Err(ControlError::AlreadyRunning("a".into()))
    );

    handle.stop("a").unwrap();
    wait_for(&a_events, "a", |k| matches!(k, EventKind::Terminated(_)));
    assert_eq!(
        state(&handle, "a"),
        AgentState::Terminated(TerminationStatus::Success)
    );
    assert_eq!(state(&handle, "b"), AgentState::Running, "b goes on");

    handle.start("a").unwrap();
    wait_ready(&a_events, "a", 2);
    let a = handle.status("a").unwrap();
    assert_eq!((a.state, a.attempt), (AgentState::Running, 2));
    assert!(a.last_heartbeat.is_some(), "its ready");
    let statuses = handle.statuses();
    assert_eq!(
        statuses
            .iter()
            .map(|(name, s)| (name.as_str(), s.state))
            .collect::<Vec<_>>(),
        [("a", AgentState::Running), ("b", AgentState::Running)]
    );

    // Whatever a did, b is still in its first run: only the shutdown
    // stops it.
    assert!(
        !log.entries().iter().any(|e| e == "stopped b 1"),
        "b ran until the shutdown: {:?}",
        log.entries()
    );
    shutdown.stop();
    let report = run.join().unwrap();
    assert_eq!(report.status("a"), Some(TerminationStatus::Success));
    assert_eq!(report.status("b"), Some(TerminationStatus::Success));
    let entries = log.entries();
    let at = |entry: &str| entries.iter().position(|e| e == entry).unwrap();
    assert!(at("stopped a 1") < at("run a 2"));
    let terminated = kinds(&report, "a")
        .into_iter()
        .filter(|k| matches!(k, EventKind::Terminated(_)))
        .count();
    assert_eq!(terminated, 2);
    assert_eq!(
        kinds(&report, "b")
            .iter()
            .filter(|k| **k == EventKind::StopRequested)
            .count(),
        1
    );
}

#[test]
fn restart_stops_a_running_agent_and_runs_it_again() {
    let log = Log::default();
    let mut orchestrator = Orchestrator::default();
    orchestrator
        .register("a", service("a", &log), AgentOptions::default())
        .unwrap();
    let handle = orchestrator.handle();
    let events = orchestrator.subscribe();
    let run = spawn(orchestrator);
    wait_ready(&events, "a", 1);
    handle.restart("a").unwrap();
    wait_ready(&events, "a", 2);
    // Stopping the last running agent ends an `UntilAllDone` run.
    handle.stop("a").unwrap();
    let report = run.join().unwrap();

    assert_eq!(
        kinds(&report, "a"),
        [
            EventKind::Started { attempt: 1 },
            EventKind::Ready,
            EventKind::StopRequested,
            EventKind::Closed(TerminationStatus::Success),
            EventKind::Restarting {
                attempt: 2,
                delay: Duration::ZERO
            },
            EventKind::Started { attempt: 2 },
            EventKind::Ready,
            EventKind::StopRequested,
            EventKind::Closed(TerminationStatus::Success),
            EventKind::Terminated(TerminationStatus::Success),
        ]
    );
    assert_eq!(
        log.entries(),
        ["run a 1", "stopped a 1", "run a 2", "stopped a 2"]
    );
    let status = handle.status("a").unwrap();
    assert_eq!(
        (status.state, status.attempt),
        (AgentState::Terminated(TerminationStatus::Success), 2),
        "the final status stays readable"
    );
    assert_eq!(handle.start("a"), Err(ControlError::NotRunning));
}

/// Sends heartbeats for three cycles, then falls silent in its fourth
/// (while honouring its stop token) in its first attempt; runs all its
/// cycles in the next one.
struct Silent {
    cycles: u32,
    log: Log,
}

impl LoopingAgent for Silent {
    fn setup(&mut self, _ctx: &AgentContext) -> Result<(), AgentError> {
        self.cycles = 0;
        Ok(())
    }

    fn cycle(&mut self, ctx: &AgentContext) -> Result<(), AgentError> {
        self.cycles += 1;
        if ctx.attempt() == 1 && self.cycles == 4 {
            self.log.push("silent");
            ctx.stop_token().wait_timeout(VERY_LONG);
            self.log.push("stopped");
        }
        Ok(())
    }

    fn on_close(&mut self, ctx: &AgentContext) {
        self.log
            .push(format!("closed {} after {}", ctx.attempt(), self.cycles));
    }
}

#[test]
fn a_silent_agent_fails_on_its_heartbeat_timeout_and_is_restarted() {
    let log = Log::default();
    let mut orchestrator = Orchestrator::default();
    orchestrator
        .register(
            "silent",
            Looping::new(
                Silent {
                    cycles: 0,
                    log: log.clone(),
                },
                LoopConfig::limit(6),
            ),
            AgentOptions::default()
                .heartbeat_interval(Duration::ZERO)
                .heartbeat_timeout(Duration::from_secs(1))
                .restart(RestartPolicy::on_failure(1)),
        )
        .unwrap();
    let report = run_ok(orchestrator);

    assert_eq!(
        log.entries(),
        ["silent", "stopped", "closed 1 after 4", "closed 2 after 6"]
    );
    assert_eq!(
        report.status("silent"),
        Some(TerminationStatus::Warning),
        "recovered by its restart"
    );
    let kinds: Vec<_> = kinds(&report, "silent")
        .into_iter()
        .filter(|k| *k != EventKind::Heartbeat)
        .collect();
    assert_eq!(
        kinds[..3],
        [
            EventKind::Started { attempt: 1 },
            EventKind::Ready,
            EventKind::Failed("no heartbeat within 1s".into()),
        ]
    );
    assert_eq!(kinds[3], EventKind::Closed(TerminationStatus::Error));
    assert!(matches!(kinds[4], EventKind::Restarting { attempt: 2, .. }));
    assert_eq!(
        kinds[5..],
        [
            EventKind::Started { attempt: 2 },
            EventKind::Ready,
            EventKind::Closed(TerminationStatus::Success),
            EventKind::Terminated(TerminationStatus::Warning),
        ]
    );
}

#[test]
fn a_heartbeat_timeout_must_exceed_the_heartbeat_interval() {
    let log = Log::default();
    let mut orchestrator = Orchestrator::default();
    orchestrator
        .register(
            "a",
            service("a", &log),
            AgentOptions::default()
                .heartbeat_interval(Duration::from_secs(1))
                .heartbeat_timeout(Duration::from_secs(1)),
        )
        .unwrap();
    let err = run_bounded(orchestrator).unwrap_err();
    assert!(matches!(
        err,
        OrchestratorError::HeartbeatTimeout { ref agent, .. } if agent == "a"
    ));
    assert_eq!(
        err.to_string(),
        r#"agent "a": the heartbeat timeout of 1s must exceed its heartbeat interval of 1s"#
    );
    assert!(log.entries().is_empty(), "nothing started");
}

/// Logs `begin`, each cycle and `end` under its name; the first cycle of
/// `gate`'s owner waits for the test.
struct Counted {
    name: &'static str,
    log: Log,
    gate: Option<Receiver<()>>,
}

impl LoopingAgent for Counted {
    fn setup(&mut self, _ctx: &AgentContext) -> Result<(), AgentError> {
        self.log.push(format!("begin {}", self.name));
        Ok(())
    }

    fn cycle(&mut self, _ctx: &AgentContext) -> Result<(), AgentError> {
        if let Some(gate) = self.gate.take() {
            gate.recv_timeout(RUN_TIMEOUT)
                .map_err(|_| AgentError::fatal("the test did not open the gate"))?;
        }
        self.log.push(format!("cycle {}", self.name));
        Ok(())
    }

    fn on_close(&mut self, _ctx: &AgentContext) {
        self.log.push(format!("end {}", self.name));
    }
}

#[test]
fn max_agents_runs_agents_one_after_the_other() {
    const CYCLES: usize = 20;
    let log = Log::default();
    let (open, gate) = mpsc::channel();
    let mut orchestrator = Orchestrator::new(OrchestratorOptions::default().max_agents(1));
    for (name, gate) in [("a", Some(gate)), ("b", None)] {
        let agent = Counted {
            name,
            log: log.clone(),
            gate,
        };
        orchestrator
            .register(
                name,
                Looping::new(agent, LoopConfig::limit(CYCLES as i64)),
                AgentOptions::default(),
            )
            .unwrap();
    }
    let handle = orchestrator.handle();
    let events = orchestrator.subscribe();
    let run = spawn(orchestrator);
    wait_for(&events, "a", |k| *k == EventKind::Ready);
    assert_eq!(state(&handle, "b"), AgentState::Waiting, "no slot for b");
    open.send(()).unwrap();
    let report = run.join().unwrap();

    let expected: Vec<String> = ["a", "b"]
        .iter()
        .flat_map(|name| {
            std::iter::once(format!("begin {name}"))
                .chain(std::iter::repeat_n(format!("cycle {name}"), CYCLES))
                .chain(std::iter::once(format!("end {name}")))
        })
        .collect();
    assert_eq!(log.entries(), expected, "never overlapping");
    assert_eq!(report.worst(), TerminationStatus::Success);
}

#[test]
fn names_and_run_phases_are_checked() {
    let log = Log::default();
    let mut orchestrator = Orchestrator::default();
    orchestrator
        .register("a", service("a", &log), AgentOptions::default())
        .unwrap();
    let handle = orchestrator.handle();
    assert_eq!(
        handle.stop("ghost"),
        Err(ControlError::UnknownAgent("ghost".into()))
    );
    assert_eq!(handle.stop("a"), Err(ControlError::NotRunning), "not yet");
    assert_eq!(state(&handle, "a"), AgentState::Registered);
    let events = orchestrator.subscribe();
    let run = spawn(orchestrator);
    wait_ready(&events, "a", 1);
    for command in [
        OrchestratorHandle::stop,
        OrchestratorHandle::start,
        OrchestratorHandle::restart,
    ] {
        assert_eq!(
            command(&handle, "ghost"),
            Err(ControlError::UnknownAgent("ghost".into()))
        );
    }
    assert_eq!(handle.status("ghost"), None);
    handle.stop("a").unwrap();
    run.join().unwrap();
    assert_eq!(handle.restart("a"), Err(ControlError::NotRunning), "over");
}

/// Ignores its stop in its first attempt (until the test lets go); returns
/// at once in later ones.
struct Stubborn {
    release: Receiver<()>,
}

impl Agent for Stubborn {
    fn execute(&mut self, ctx: &AgentContext) -> Result<(), AgentError> {
        if ctx.attempt() == 1 {
            let _ = self.release.recv_timeout(RUN_TIMEOUT);
        }
        Ok(())
    }
}

#[test]
fn an_abandoned_agent_cannot_start_until_its_thread_hands_it_back() {
    let (release, blocked_on) = mpsc::channel();
    let mut orchestrator = daemon();
    orchestrator
        .register(
            "stubborn",
            Stubborn {
                release: blocked_on,
            },
            AgentOptions::default().stop_timeout(Duration::from_millis(100)),
        )
        .unwrap();
    let handle = orchestrator.handle();
    let events = orchestrator.subscribe();
    let shutdown = orchestrator.shutdown_handle();
    let run = spawn(orchestrator);
    wait_ready(&events, "stubborn", 1);
    handle.stop("stubborn").unwrap();
    wait_for(&events, "stubborn", |k| *k == EventKind::Abandoned);
    wait_for(&events, "stubborn", |k| {
        matches!(k, EventKind::Terminated(_))
    });
    assert_eq!(state(&handle, "stubborn"), AgentState::Abandoned);
    let gone = Err(ControlError::AgentGone("stubborn".into()));
    assert_eq!(handle.start("stubborn"), gone);
    assert_eq!(handle.restart("stubborn"), gone);

    // Its thread ends after all: the agent is back and may start again.
    drop(release);
    wait_state(&handle, "stubborn", |s| {
        s == AgentState::Terminated(TerminationStatus::Critical)
    });
    handle.start("stubborn").unwrap();
    wait_for(&events, "stubborn", |k| {
        *k == EventKind::Started { attempt: 2 }
    });
    wait_for(&events, "stubborn", |k| {
        matches!(k, EventKind::Terminated(_))
    });
    shutdown.stop();
    let report = run.join().unwrap();
    assert_eq!(report.status("stubborn"), Some(TerminationStatus::Success));
}

/// Runs until stopped, then waits in `on_close` until the test lets go.
struct Lingering {
    release: Receiver<()>,
}

impl Agent for Lingering {
    fn execute(&mut self, ctx: &AgentContext) -> Result<(), AgentError> {
        ctx.stop_token().wait_timeout(VERY_LONG);
        Ok(())
    }

    fn on_close(&mut self, _ctx: &AgentContext) {
        let _ = self.release.recv_timeout(RUN_TIMEOUT);
    }
}

#[test]
fn the_shutdown_wins_over_commands() {
    let (release, lingering) = mpsc::channel();
    let mut orchestrator = Orchestrator::default();
    orchestrator
        .register(
            "x",
            Lingering { release: lingering },
            AgentOptions::default(),
        )
        .unwrap();
    let handle = orchestrator.handle();
    let events = orchestrator.subscribe();
    let shutdown = orchestrator.shutdown_handle();
    let run = spawn(orchestrator);
    wait_ready(&events, "x", 1);
    shutdown.stop();
    wait_for(&events, "x", |k| *k == EventKind::StopRequested);
    assert_eq!(handle.restart("x"), Err(ControlError::ShuttingDown));
    assert_eq!(handle.stop("x"), Err(ControlError::ShuttingDown));
    release.send(()).unwrap();
    let report = run.join().unwrap();
    assert_eq!(report.status("x"), Some(TerminationStatus::Success));
    assert!(!kinds(&report, "x").contains(&EventKind::Started { attempt: 2 }));
}

#[test]
fn a_command_from_an_event_callback_does_not_wait_for_the_run() {
    let log = Log::default();
    let mut orchestrator = Orchestrator::default();
    orchestrator
        .register("a", service("a", &log), AgentOptions::default())
        .unwrap();
    let handle = orchestrator.handle();
    let answers = Arc::new(Mutex::new(Vec::new()));
    let seen = answers.clone();
    orchestrator.on_event(move |event| {
        if event.kind == EventKind::Ready {
            seen.lock().unwrap().push(handle.stop("a"));
        }
    });
    // The run's own thread cannot wait for its own answer: the stop is
    // queued, and ends the run.
    let report = run_ok(orchestrator);
    assert_eq!(*answers.lock().unwrap(), [Ok(())]);
    assert_eq!(report.status("a"), Some(TerminationStatus::Success));
    assert!(kinds(&report, "a").contains(&EventKind::StopRequested));
}
