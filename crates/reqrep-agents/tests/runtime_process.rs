//! Child-process agents: crashes (abort, panic) stay in their child, are
//! reported as `Critical` and restarted per policy; a child that exits
//! without reporting its close (`std::process::exit` in a hook) is
//! `ExitedWithoutClosing`; children hear a stop on their control pipe (and
//! run `on_stop`, only then) and are killed when they ignore it; thread
//! agents next to them finish normally.
//!
//! This file has its own `main` (`harness = false`): the orchestrator
//! re-executes this very program for each child agent, and `run` then runs
//! only that agent.

#![allow(
    clippy::print_stdout,
    reason = "a test program: children print to show their output is forwarded"
)]

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqrep_agents::runtime::{
    Agent, AgentContext, AgentError, AgentOptions, EventKind, ExecutionMode, LoopConfig, Looping,
    LoopingAgent, Orchestrator, RestartPolicy, RunReport, StatusEvent, TerminationStatus,
};
use reqrep_core::RetryPolicy;

/// The whole test must end within this.
const TEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A directory shared by the orchestrator and its children (named after the
/// orchestrator's pid), where children count their runs.
fn shared_dir() -> PathBuf {
    let owner = if Orchestrator::child_agent().is_some() {
        std::os::unix::process::parent_id()
    } else {
        std::process::id()
    };
    std::env::temp_dir().join(format!("reqrep-runtime-process-{owner}"))
}

fn count_run(dir: &Path, agent: &str) {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(agent))
        .expect("open the run counter");
    writeln!(file, "run").expect("count the run");
}

fn runs(dir: &Path, agent: &str) -> usize {
    fs::read_to_string(dir.join(agent)).map_or(0, |text| text.lines().count())
}

/// Counts its run, then dies in the way it is told.
struct Crasher {
    dir: PathBuf,
    how: Crash,
}

#[derive(Clone, Copy)]
enum Crash {
    Abort,
    Panic,
}

impl Agent for Crasher {
    fn execute(&mut self, ctx: &AgentContext) -> Result<(), AgentError> {
        count_run(&self.dir, ctx.name());
        ctx.heartbeat();
        match self.how {
            Crash::Abort => std::process::abort(),
            // `resume_unwind` unwinds like `panic!` but skips the panic
            // hook, so a passing run prints no "panicked at" line.
            Crash::Panic => {
                std::panic::resume_unwind(Box::new(format!("child {} gives up", ctx.name())))
            }
        }
    }
}

/// The marker an agent's `on_stop` leaves in the shared directory.
fn on_stop_marker(agent: &str) -> String {
    format!("{agent}.on_stop")
}

/// Waits on its stop token (which a child's control pipe stops); its
/// `on_stop` leaves a marker. Its heartbeat says it is in `execute`.
struct Waiter {
    dir: PathBuf,
}

impl Agent for Waiter {
    fn execute(&mut self, ctx: &AgentContext) -> Result<(), AgentError> {
        ctx.heartbeat();
        ctx.stop_token().wait_timeout(Duration::from_secs(3600));
        Ok(())
    }

    fn on_stop(&mut self, ctx: &AgentContext) {
        count_run(&self.dir, &on_stop_marker(ctx.name()));
    }
}

/// Leaves the process from the middle of `execute`, skipping the rest of
/// its lifecycle.
struct Exiter {
    dir: PathBuf,
}

impl Agent for Exiter {
    fn execute(&mut self, ctx: &AgentContext) -> Result<(), AgentError> {
        count_run(&self.dir, ctx.name());
        std::process::exit(0)
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

/// Prints and counts a few cycles; its `on_stop` (there is no stop: it
/// ends by itself) would leave a marker.
struct Chatty {
    dir: PathBuf,
}

impl LoopingAgent for Chatty {
    fn cycle(&mut self, ctx: &AgentContext) -> Result<(), AgentError> {
        count_run(&self.dir, ctx.name());
        println!("{} says hello", ctx.name());
        Ok(())
    }

    fn on_stop(&mut self, ctx: &AgentContext) {
        count_run(&self.dir, &on_stop_marker(ctx.name()));
    }
}

/// The same registrations in the orchestrator and in every child.
fn orchestrator(dir: &Path) -> Orchestrator {
    let child = AgentOptions::default().mode(ExecutionMode::Process);
    let restarts = RestartPolicy::OnFailure {
        max_restarts: 2,
        backoff: RetryPolicy::default()
            .initial_backoff(Duration::from_millis(10))
            .jitter(0.0),
    };
    let mut o = Orchestrator::default();
    let crasher = |how| Crasher {
        dir: dir.to_owned(),
        how,
    };
    let chatty = Looping::new(
        Chatty {
            dir: dir.to_owned(),
        },
        LoopConfig::limit(2),
    );
    let steady = Looping::new(
        Chatty {
            dir: dir.to_owned(),
        },
        LoopConfig::limit(3),
    );
    o.register(
        "aborter",
        crasher(Crash::Abort),
        child.clone().restart(restarts),
    )
    .expect("register");
    o.register("panicker", crasher(Crash::Panic), child.clone())
        .expect("register");
    let rerun = Looping::new(
        Chatty {
            dir: dir.to_owned(),
        },
        LoopConfig::limit(1),
    );
    o.register("rerun", rerun, child.clone()).expect("register");
    o.register("chatty", chatty, child.clone())
        .expect("register");
    o.register(
        "waiter",
        Waiter {
            dir: dir.to_owned(),
        },
        child.clone(),
    )
    .expect("register");
    o.register(
        "exiter",
        Exiter {
            dir: dir.to_owned(),
        },
        child.clone(),
    )
    .expect("register");
    o.register(
        "stubborn",
        Stubborn,
        child.stop_timeout(Duration::from_millis(300)),
    )
    .expect("register");
    o.register("steady", steady, AgentOptions::default())
        .expect("register");
    o
}

fn main() {
    let dir = shared_dir();
    if let Some(agent) = Orchestrator::child_agent() {
        if agent == "rerun" {
            // Work that only the orchestrating process should do, left
            // unguarded: it runs again here, and a debug build says so.
            std::thread::spawn(|| {
                loop {
                    std::thread::park();
                }
            });
        }
        // The panics here are on purpose: one line each is enough.
        std::panic::set_hook(Box::new(move |info| eprintln!("child {agent}: {info}")));
        // Runs the one agent and exits with its status.
        let _ = orchestrator(&dir).run();
        unreachable!("a child's run exits the process");
    }
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create the shared directory");
    let began = Instant::now();
    let report = run(&dir);
    let outcome = std::panic::catch_unwind(|| check(&report, &dir));
    let _ = fs::remove_dir_all(&dir);
    if let Err(panic) = outcome {
        for event in report.events() {
            eprintln!("  {event}");
        }
        std::panic::resume_unwind(panic);
    }
    println!(
        "runtime_process: all checks passed in {:?}",
        began.elapsed()
    );
}

/// Runs everything: waits for the short-lived agents to end and the
/// long-lived ones to be in `execute` (their heartbeat), then shuts down.
fn run(dir: &Path) -> RunReport {
    let mut orchestrator = orchestrator(dir);
    let events = orchestrator.subscribe();
    let shutdown = orchestrator.shutdown_handle();
    let (done_tx, done) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(orchestrator.run());
    });

    let deadline = Instant::now() + TEST_TIMEOUT;
    let mut awaited: HashSet<(&str, &str)> = [
        ("aborter", "terminated"),
        ("panicker", "terminated"),
        ("chatty", "terminated"),
        ("rerun", "terminated"),
        ("exiter", "terminated"),
        ("steady", "terminated"),
        ("waiter", "executing"),
        ("stubborn", "executing"),
    ]
    .into_iter()
    .collect();
    while !awaited.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        let event: StatusEvent = events
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("timed out waiting for {awaited:?}"));
        let what = match event.kind {
            EventKind::Terminated(_) => "terminated",
            EventKind::Heartbeat => "executing",
            _ => continue,
        };
        awaited.retain(|&(agent, kind)| !(agent == &*event.agent && kind == what));
    }
    shutdown.stop();
    let left = deadline.saturating_duration_since(Instant::now());
    done.recv_timeout(left)
        .expect("the orchestrator returns after the shutdown")
        .expect("the run starts")
}

fn kinds(report: &RunReport, agent: &str) -> Vec<EventKind> {
    report.events_for(agent).map(|e| e.kind.clone()).collect()
}

fn failures(report: &RunReport, agent: &str) -> Vec<String> {
    kinds(report, agent)
        .into_iter()
        .filter_map(|k| match k {
            EventKind::Failed(cause) => Some(cause),
            _ => None,
        })
        .collect()
}

fn check(report: &RunReport, dir: &Path) {
    // An abort is contained, reported as a crash, and restarted: 1 + 2 runs.
    assert_eq!(report.status("aborter"), Some(TerminationStatus::Critical));
    assert_eq!(runs(dir, "aborter"), 3, "three aborter processes ran");
    let aborter = kinds(report, "aborter");
    let restarts = aborter
        .iter()
        .filter(|k| matches!(k, EventKind::Restarting { .. }))
        .count();
    assert_eq!(restarts, 2);
    let heartbeats = aborter
        .iter()
        .filter(|k| **k == EventKind::Heartbeat)
        .count();
    assert_eq!(
        heartbeats, 3,
        "each child's heartbeat came through its pipe"
    );
    let crashes = failures(report, "aborter");
    assert_eq!(crashes.len(), 3);
    assert!(
        crashes
            .iter()
            .all(|c| c.starts_with("child process crashed (signal ")),
        "{crashes:?}"
    );
    let unclosed = aborter
        .iter()
        .filter(|k| **k == EventKind::ExitedWithoutClosing { code: None })
        .count();
    assert_eq!(unclosed, 3, "an abort is no close");
    assert!(!aborter.iter().any(|k| matches!(k, EventKind::Closed(_))));

    // A panic in a child is caught there and reported with its message.
    assert_eq!(report.status("panicker"), Some(TerminationStatus::Critical));
    assert_eq!(runs(dir, "panicker"), 1, "no restart policy");
    assert_eq!(
        failures(report, "panicker"),
        ["execute panicked: child panicker gives up"]
    );
    assert!(
        kinds(report, "panicker").contains(&EventKind::Closed(TerminationStatus::Critical)),
        "the panic was caught: the child closed"
    );

    // `std::process::exit` in a hook skips the close: whatever its code.
    assert_eq!(report.status("exiter"), Some(TerminationStatus::Critical));
    assert_eq!(runs(dir, "exiter"), 1);
    let exiter = kinds(report, "exiter");
    assert!(
        exiter.contains(&EventKind::ExitedWithoutClosing { code: Some(0) }),
        "{exiter:?}"
    );
    assert!(!exiter.iter().any(|k| matches!(k, EventKind::Closed(_))));
    assert_eq!(
        failures(report, "exiter"),
        ["child process exited with code 0 without closing (std::process::exit in a hook?)"]
    );

    // Children next to the crashes are unaffected.
    assert_eq!(report.status("chatty"), Some(TerminationStatus::Success));

    // Work before `run` that ran again in a child is pointed out in debug
    // builds, as advice: the status stays what the agent earned.
    let rerun_warnings = |agent| {
        kinds(report, agent)
            .into_iter()
            .filter(|k| matches!(k, EventKind::Warning(w) if w.contains("ran again")))
            .count()
    };
    assert_eq!(report.status("rerun"), Some(TerminationStatus::Success));
    assert_eq!(
        rerun_warnings("rerun"),
        usize::from(cfg!(debug_assertions)),
        "{:?}",
        kinds(report, "rerun")
    );
    assert_eq!(rerun_warnings("chatty"), 0, "a clean child is not warned");
    assert_eq!(runs(dir, "chatty"), 2);
    assert!(kinds(report, "chatty").contains(&EventKind::Ready));
    assert!(kinds(report, "chatty").contains(&EventKind::Closed(TerminationStatus::Success)));
    assert_eq!(
        runs(dir, &on_stop_marker("chatty")),
        0,
        "no on_stop for a child that ended by itself"
    );
    assert_eq!(report.status("steady"), Some(TerminationStatus::Success));
    assert_eq!(
        runs(dir, "steady"),
        3,
        "the thread agent ran in this process"
    );

    // A stop reaches a child through its control pipe: its on_stop runs
    // there, and it closes.
    assert_eq!(report.status("waiter"), Some(TerminationStatus::Success));
    let waiter = kinds(report, "waiter");
    assert!(!waiter.contains(&EventKind::ForcedStop));
    assert!(waiter.contains(&EventKind::Closed(TerminationStatus::Success)));
    assert_eq!(
        runs(dir, &on_stop_marker("waiter")),
        1,
        "on_stop ran once in the child"
    );

    // A child that ignores the stop is killed, without closing.
    assert_eq!(report.status("stubborn"), Some(TerminationStatus::Critical));
    let stubborn = kinds(report, "stubborn");
    assert!(stubborn.contains(&EventKind::ForcedStop));
    assert!(stubborn.contains(&EventKind::Killed));
    assert!(
        !stubborn.iter().any(|k| matches!(
            k,
            EventKind::Closed(_) | EventKind::ExitedWithoutClosing { .. }
        )),
        "{stubborn:?}"
    );
}
