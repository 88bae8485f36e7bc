//! The classic requester and replier agents, ported: a periodic requester
//! that sends 10 requests, and a replier that answers until told to end.
//! Each runs as its own child process under one orchestrator, as process
//! agents do; a crash in one cannot take down the other.
//!
//! Run: `cargo run -p reqrep-examples --example seed_agents`
//! (set `REQREP_EXAMPLE_ENDPOINT` to use another endpoint than
//! `tcp://127.0.0.1:5555`). It exits with 1 when an agent failed (the
//! endpoint is in use, say), and 0 when both ended well.

use std::time::Duration;

use reqrep_agents::runtime::{
    AgentContext, AgentError, AgentOptions, ExecutionMode, Orchestrator, OrchestratorOptions,
    Periodic, PeriodicAgent, PeriodicConfig,
};
use reqrep_agents::{ClientOptions, Plugin, ReqRep, SocketKind};
use tracing::{error, info, warn};

fn endpoint() -> String {
    std::env::var("REQREP_EXAMPLE_ENDPOINT").unwrap_or_else(|_| "tcp://127.0.0.1:5555".into())
}

/// Sends "Hello, Server!" once per interval, 10 times, then tells the
/// replier to end and stops itself.
struct RequesterAgent {
    zmq: ReqRep,
    sent: u32,
}

impl PeriodicAgent for RequesterAgent {
    fn runner(&mut self, ctx: &AgentContext) -> Result<(), AgentError> {
        if self.sent == 10 {
            // Tell the replier to end, and end either way: a lost answer to
            // END must not keep this agent sending it forever.
            if let Err(err) = self.zmq.request(b"END") {
                warn!(cause = %err, "no answer to END");
            }
            ctx.request_stop();
            return Ok(());
        }
        // Times out, retries and never wedges: a lost reply is an error
        // for this run, and the next run goes on.
        let reply = self
            .zmq
            .request(b"Hello, Server!")
            .map_err(AgentError::recoverable)?;
        self.sent += 1;
        info!(n = self.sent, reply = %String::from_utf8_lossy(reply.body()), "received reply");
        Ok(())
    }

    fn plugins(&mut self) -> Vec<&mut dyn Plugin> {
        vec![&mut self.zmq]
    }
}

/// Answers each request with "Hello, Client!" until it receives "END".
struct ReplierAgent {
    zmq: ReqRep,
}

impl PeriodicAgent for ReplierAgent {
    fn runner(&mut self, ctx: &AgentContext) -> Result<(), AgentError> {
        // Blocks until a request arrives; returns at once when stopped.
        let message = match self.zmq.recv() {
            Ok(message) => message,
            Err(_) if ctx.is_stopped() => return Ok(()),
            Err(e) => return Err(AgentError::recoverable(e)),
        };
        info!(message = %String::from_utf8_lossy(&message), "received message");
        self.zmq
            .send(b"Hello, Client!")
            .map_err(AgentError::recoverable)?;
        if message == b"END" {
            ctx.request_stop();
        }
        Ok(())
    }

    fn plugins(&mut self) -> Vec<&mut dyn Plugin> {
        vec![&mut self.zmq]
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let endpoint = endpoint();
    let mut orchestrator = Orchestrator::new(OrchestratorOptions::default());
    let replier = ReplierAgent {
        zmq: ReqRep::new(endpoint.clone(), SocketKind::Rep),
    };
    orchestrator.register(
        "replier",
        Periodic::new(replier, PeriodicConfig::every(Duration::from_millis(1))),
        AgentOptions::default().mode(ExecutionMode::Process),
    )?;
    let options = ClientOptions::default().timeout(Duration::from_millis(1000));
    let requester = RequesterAgent {
        zmq: ReqRep::new(endpoint, SocketKind::Req).options(options),
        sent: 0,
    };
    orchestrator.register(
        "requester",
        Periodic::new(requester, PeriodicConfig::every(Duration::from_millis(200))),
        AgentOptions::default()
            .mode(ExecutionMode::Process)
            .depends_on(["replier"]),
    )?;
    let report = orchestrator.run()?;
    for (name, status) in report.statuses() {
        info!(agent = name, %status, "finished");
    }
    if report.worst().is_failure() {
        error!(status = %report.worst(), "an agent failed");
        std::process::exit(1);
    }
    Ok(())
}
