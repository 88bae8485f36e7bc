//! The agent runtime in one program: a periodic agent in a thread, a looping
//! agent in a child process that starts once the first is ready, and a flaky
//! agent restarted after its first failure.
//!
//! ```text
//! cargo run -p reqrep-agents --example runtime_supervisor
//! ```
//!
//! The orchestrator re-executes this program for the `worker` agent, so
//! `main` builds the same orchestrator in both roles and calls `run` first
//! thing (in the child, `run` runs `worker` and exits).

#![allow(
    clippy::print_stdout,
    reason = "an example program that shows its agents at work"
)]

use std::time::Duration;

use reqrep_agents::runtime::{
    Agent, AgentConfig, AgentContext, AgentError, AgentOptions, ExecutionMode, LoopConfig, Looping,
    LoopingAgent, Orchestrator, OrchestratorError, Periodic, PeriodicAgent, PeriodicConfig,
    RestartPolicy,
};

/// Ticks a few times, then ends itself.
struct Clock {
    ticks: u32,
}

impl PeriodicAgent for Clock {
    fn runner(&mut self, ctx: &AgentContext) -> Result<(), AgentError> {
        self.ticks += 1;
        println!("clock: tick {}", self.ticks);
        if self.ticks == 5 {
            ctx.request_stop();
        }
        Ok(())
    }
}

/// Works in its own process.
struct Worker;

impl LoopingAgent for Worker {
    fn cycle(&mut self, ctx: &AgentContext) -> Result<(), AgentError> {
        println!("worker: cycle in process {}", std::process::id());
        ctx.stop_token().wait_timeout(Duration::from_millis(100));
        Ok(())
    }
}

/// Fails its first run.
struct Flaky {
    runs: u32,
}

impl Agent for Flaky {
    fn execute(&mut self, ctx: &AgentContext) -> Result<(), AgentError> {
        self.runs += 1;
        println!("flaky: attempt {}", ctx.attempt());
        if self.runs == 1 {
            return Err(AgentError::fatal("first run fails"));
        }
        Ok(())
    }
}

fn main() -> Result<(), OrchestratorError> {
    let mut orchestrator = Orchestrator::default();
    let clock = PeriodicConfig::default().with(|c| c.interval = Duration::from_millis(100));
    orchestrator.register(
        "clock",
        Periodic::new(Clock { ticks: 0 }, clock),
        AgentOptions::default(),
    )?;
    orchestrator.register(
        "worker",
        Looping::new(Worker, LoopConfig::limit(3)),
        AgentOptions::default()
            .mode(ExecutionMode::Process)
            .depends_on(["clock"]),
    )?;
    orchestrator.register(
        "flaky",
        Flaky { runs: 0 },
        AgentOptions::default().restart(RestartPolicy::on_failure(2)),
    )?;

    let report = orchestrator.run()?;
    println!();
    for event in report.events() {
        println!("event   {event}");
    }
    for (agent, status) in report.statuses() {
        println!("status  {agent}: {status}");
    }
    Ok(())
}
