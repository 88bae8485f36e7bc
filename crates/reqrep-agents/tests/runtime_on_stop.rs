//! `on_stop` through the orchestrator, on real threads: it runs once, on the
//! agent's thread, at the first safe point after a stop (a looping agent
//! between cycles, a periodic agent in its wait, a stop during `setup`),
//! and not at all for an agent that ends by itself; `on_stop_requested`
//! reaches an agent blocked in a call that ignores its stop token.

mod runtime_support;

use std::sync::mpsc;
use std::time::Duration;

use reqrep_agents::StopToken;
use reqrep_agents::runtime::{
    Agent, AgentConfig, AgentContext, AgentError, AgentOptions, EventKind, LoopConfig, Looping,
    LoopingAgent, Orchestrator, Periodic, PeriodicAgent, PeriodicConfig, TerminationStatus,
};
use runtime_support::{Log, RUN_TIMEOUT, kinds, run_bounded, run_ok};

const VERY_LONG: Duration = Duration::from_secs(3600);

/// A plain agent around another: logs `execute returned` when the inner
/// `execute` returns, so the log shows where `on_stop` came.
struct Wrapped<A> {
    inner: A,
    log: Log,
}

impl<A: Agent> Agent for Wrapped<A> {
    fn setup(&mut self, ctx: &AgentContext) -> Result<(), AgentError> {
        self.inner.setup(ctx)
    }

    fn execute(&mut self, ctx: &AgentContext) -> Result<(), AgentError> {
        let result = self.inner.execute(ctx);
        self.log.push("execute returned");
        result
    }

    fn on_stop(&mut self, ctx: &AgentContext) {
        self.inner.on_stop(ctx);
    }

    fn on_close(&mut self, ctx: &AgentContext) {
        self.inner.on_close(ctx);
    }
}

/// Logs `on_stop` (with whether the agent saw its stop, and on which
/// thread) and `on_close`.
fn log_on_stop(log: &Log, ctx: &AgentContext) {
    let thread = std::thread::current();
    let own = thread.name() == Some(&*format!("agent-{}", ctx.name()));
    log.push(match (ctx.is_stopped(), own) {
        (true, true) => "on_stop",
        (false, _) => "on_stop without a stop",
        (true, false) => "on_stop on another thread",
    });
}

/// Cycles on a short pace; tells `entered` after its first cycle.
struct Cycler {
    log: Log,
    entered: Option<mpsc::Sender<()>>,
}

impl LoopingAgent for Cycler {
    fn cycle(&mut self, ctx: &AgentContext) -> Result<(), AgentError> {
        self.log.push("cycle");
        if let Some(entered) = self.entered.take() {
            let _ = entered.send(());
        }
        // Pacing only: keeps the loop from spinning.
        ctx.stop_token().wait_timeout(Duration::from_millis(1));
        Ok(())
    }

    fn on_stop(&mut self, ctx: &AgentContext) {
        log_on_stop(&self.log, ctx);
    }

    fn on_close(&mut self, _ctx: &AgentContext) {
        self.log.push("on_close");
    }
}

/// Runs on a long interval; tells `entered` after its first run.
struct Ticker {
    log: Log,
    entered: Option<mpsc::Sender<()>>,
}

impl PeriodicAgent for Ticker {
    fn runner(&mut self, _ctx: &AgentContext) -> Result<(), AgentError> {
        self.log.push("run");
        if let Some(entered) = self.entered.take() {
            let _ = entered.send(());
        }
        Ok(())
    }

    fn on_stop(&mut self, ctx: &AgentContext) {
        log_on_stop(&self.log, ctx);
    }

    fn on_close(&mut self, _ctx: &AgentContext) {
        self.log.push("on_close");
    }
}

/// Registers `agent` alone, runs it until it told `entered` it is at
/// work, shuts the run down and returns the report.
fn run_then_stop(
    agent: impl Agent,
    entered: &mpsc::Receiver<()>,
) -> reqrep_agents::runtime::RunReport {
    let mut orchestrator = Orchestrator::default();
    orchestrator
        .register("agent", agent, AgentOptions::default())
        .expect("register");
    let shutdown = orchestrator.shutdown_handle();
    let run = std::thread::spawn(move || run_bounded(orchestrator));
    entered
        .recv_timeout(RUN_TIMEOUT)
        .expect("the agent is at work");
    shutdown.stop();
    run.join().expect("no panic").expect("the run starts")
}

/// The entries from the last `execute returned` on.
fn from_the_return(log: &Log) -> Vec<String> {
    let entries = log.entries();
    let at = entries
        .iter()
        .rposition(|e| e == "execute returned")
        .unwrap_or_else(|| panic!("execute never returned: {entries:?}"));
    entries[at..].to_vec()
}

#[test]
fn a_looping_agent_stopped_mid_run_gets_on_stop_once_after_its_last_cycle() {
    let log = Log::default();
    let (entered, at_work) = mpsc::channel();
    let agent = Wrapped {
        inner: Looping::new(
            Cycler {
                log: log.clone(),
                entered: Some(entered),
            },
            LoopConfig::default(),
        ),
        log: log.clone(),
    };
    let report = run_then_stop(agent, &at_work);
    assert_eq!(report.status("agent"), Some(TerminationStatus::Success));
    assert_eq!(
        from_the_return(&log),
        ["execute returned", "on_stop", "on_close"],
        "on_stop right after the loop returned, then on_close; no cycle after the stop"
    );
    assert!(log.count("cycle") >= 1);
    assert_eq!(log.count("on_stop"), 1);
    assert!(kinds(&report, "agent").contains(&EventKind::Closed(TerminationStatus::Success)));
}

#[test]
fn a_periodic_agent_stopped_in_its_wait_gets_on_stop_without_another_run() {
    let log = Log::default();
    let (entered, at_work) = mpsc::channel();
    let agent = Wrapped {
        inner: Periodic::new(
            Ticker {
                log: log.clone(),
                entered: Some(entered),
            },
            // A wait the stop must cut short: the run would not end in time
            // otherwise.
            PeriodicConfig::default().with(|c| c.interval = VERY_LONG),
        ),
        log: log.clone(),
    };
    let report = run_then_stop(agent, &at_work);
    assert_eq!(report.status("agent"), Some(TerminationStatus::Success));
    assert_eq!(
        log.entries(),
        ["run", "execute returned", "on_stop", "on_close"]
    );
    assert!(!kinds(&report, "agent").contains(&EventKind::ForcedStop));
}

#[test]
fn an_agent_that_ends_by_itself_gets_no_on_stop() {
    let log = Log::default();
    let mut orchestrator = Orchestrator::default();
    let agent = Wrapped {
        inner: Looping::new(
            Cycler {
                log: log.clone(),
                entered: None,
            },
            LoopConfig::limit(3),
        ),
        log: log.clone(),
    };
    orchestrator
        .register("agent", agent, AgentOptions::default())
        .expect("register");
    let report = run_ok(orchestrator);
    assert_eq!(report.status("agent"), Some(TerminationStatus::Success));
    assert_eq!(
        log.entries(),
        ["cycle", "cycle", "cycle", "execute returned", "on_close"]
    );
    assert!(!kinds(&report, "agent").contains(&EventKind::StopRequested));
}

/// Blocks in `setup` on a channel (not on its token) until the test
/// releases it; hands the test its stop token first.
struct HeldSetup {
    log: Log,
    token: mpsc::Sender<StopToken>,
    release: mpsc::Receiver<()>,
}

impl Agent for HeldSetup {
    fn setup(&mut self, ctx: &AgentContext) -> Result<(), AgentError> {
        self.log.push("setup");
        let _ = self.token.send(ctx.stop_token().clone());
        let _ = self.release.recv();
        Ok(())
    }

    fn execute(&mut self, _ctx: &AgentContext) -> Result<(), AgentError> {
        self.log.push("execute");
        Ok(())
    }

    fn on_stop(&mut self, ctx: &AgentContext) {
        log_on_stop(&self.log, ctx);
    }

    fn on_close(&mut self, _ctx: &AgentContext) {
        self.log.push("on_close");
    }
}

#[test]
fn a_stop_during_setup_skips_ready_and_execute_and_runs_on_stop() {
    let log = Log::default();
    let (token_tx, token) = mpsc::channel();
    let (release, held) = mpsc::channel();
    let mut orchestrator = Orchestrator::default();
    orchestrator
        .register(
            "held",
            HeldSetup {
                log: log.clone(),
                token: token_tx,
                release: held,
            },
            AgentOptions::default(),
        )
        .expect("register");
    let shutdown = orchestrator.shutdown_handle();
    let run = std::thread::spawn(move || run_bounded(orchestrator));
    let token = token.recv_timeout(RUN_TIMEOUT).expect("setup begins");

    shutdown.stop();
    assert!(
        token.wait_timeout(RUN_TIMEOUT),
        "the stop reaches the agent's token"
    );
    release.send(()).expect("setup is waiting");
    let report = run.join().expect("no panic").expect("the run starts");

    assert_eq!(report.status("held"), Some(TerminationStatus::Success));
    assert_eq!(log.entries(), ["setup", "on_stop", "on_close"]);
    let kinds = kinds(&report, "held");
    assert!(!kinds.contains(&EventKind::Ready), "{kinds:?}");
    assert!(kinds.contains(&EventKind::Closed(TerminationStatus::Success)));
}

/// Blocks in `execute` on a channel that knows nothing of stop tokens; its
/// `on_stop_requested` hook ends the wait.
struct ForeignWait {
    log: Log,
    entered: mpsc::Sender<()>,
}

impl Agent for ForeignWait {
    fn execute(&mut self, ctx: &AgentContext) -> Result<(), AgentError> {
        let (wake, woken) = mpsc::channel::<()>();
        let log = self.log.clone();
        let agent_thread = std::thread::current().id();
        ctx.on_stop_requested(move || {
            let here = std::thread::current().id();
            log.push(if here == agent_thread {
                "hook on the agent's thread"
            } else {
                "hook on the stopping thread"
            });
            let _ = wake.send(());
        });
        let _ = self.entered.send(());
        let woken = woken.recv().is_ok();
        self.log.push(if woken { "woken" } else { "hook dropped" });
        Ok(())
    }

    fn on_stop(&mut self, ctx: &AgentContext) {
        log_on_stop(&self.log, ctx);
    }

    fn on_close(&mut self, _ctx: &AgentContext) {
        self.log.push("on_close");
    }
}

#[test]
fn an_on_stop_requested_hook_unblocks_an_agent_stuck_in_a_foreign_call() {
    let log = Log::default();
    let (entered, at_work) = mpsc::channel();
    let mut orchestrator = Orchestrator::default();
    orchestrator
        .register(
            "foreign",
            ForeignWait {
                log: log.clone(),
                entered,
            },
            // Long enough that only the hook can end the wait in time.
            AgentOptions::default().stop_timeout(Duration::from_secs(10)),
        )
        .expect("register");
    let shutdown = orchestrator.shutdown_handle();
    let run = std::thread::spawn(move || run_bounded(orchestrator));
    at_work
        .recv_timeout(RUN_TIMEOUT)
        .expect("the agent is waiting");
    shutdown.stop();
    let report = run.join().expect("no panic").expect("the run starts");

    assert_eq!(report.status("foreign"), Some(TerminationStatus::Success));
    assert_eq!(
        log.entries(),
        [
            "hook on the stopping thread",
            "woken",
            "on_stop",
            "on_close"
        ]
    );
    let kinds = kinds(&report, "foreign");
    assert!(kinds.contains(&EventKind::Closed(TerminationStatus::Success)));
    assert!(!kinds.contains(&EventKind::ForcedStop));
}
