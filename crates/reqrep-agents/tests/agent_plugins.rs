//! Agents with real `ReqRep` plugins and a hosted broker, under the
//! orchestrator.

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use reqrep_agents::runtime::{
    Agent, AgentContext, AgentError, AgentOptions, EventKind, Orchestrator, OrchestratorOptions,
    RunMode, TerminationStatus,
};
use reqrep_agents::{
    BrokerAgent, Client, ClientOptions, Plugin, ReqRep, ReqRepError, RequestError, SocketKind,
    StopToken, Worker, WorkerOptions,
};
use reqrep_tests::broker::{agent_endpoints, ephemeral_config};

/// Blocks in `recv` on a REP plugin that nobody ever calls.
struct Waiter {
    zmq: ReqRep,
    outcome: mpsc::Sender<String>,
}

impl Agent for Waiter {
    fn execute(&mut self, _ctx: &AgentContext) -> Result<(), AgentError> {
        let result = self.zmq.recv();
        let _ = self.outcome.send(format!("{result:?}"));
        match result {
            Err(ReqRepError::Request(RequestError::Stopped)) => Ok(()),
            other => Err(AgentError::fatal(format!("unexpected: {other:?}"))),
        }
    }

    fn plugins(&mut self) -> Vec<&mut dyn Plugin> {
        vec![&mut self.zmq]
    }
}

#[test]
fn stop_ends_an_agent_blocked_in_recv_within_its_stop_timeout() {
    let (tx, rx) = mpsc::channel();
    let mut orchestrator =
        Orchestrator::new(OrchestratorOptions::default().run_mode(RunMode::Daemon));
    let agent = Waiter {
        zmq: ReqRep::new("tcp://127.0.0.1:*", SocketKind::Rep),
        outcome: tx,
    };
    orchestrator
        .register(
            "waiter",
            agent,
            AgentOptions::default().stop_timeout(Duration::from_secs(2)),
        )
        .expect("register");
    let events = orchestrator.subscribe();
    let shutdown = orchestrator.shutdown_handle();
    let run = thread::spawn(move || orchestrator.run());
    // Wait until the agent is ready (plugins up, blocked in recv).
    loop {
        let event = events
            .recv_timeout(Duration::from_secs(10))
            .expect("events");
        if matches!(event.kind, EventKind::Ready) {
            break;
        }
    }
    let asked = Instant::now();
    shutdown.stop();
    let outcome = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("recv returned");
    assert!(outcome.contains("Stopped"), "{outcome}");
    let report = run.join().expect("run thread").expect("run");
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "{:?}",
        asked.elapsed()
    );
    assert_eq!(report.status("waiter"), Some(TerminationStatus::Success));
}

#[test]
fn a_plugin_that_cannot_bind_fails_its_agent_with_the_cause() {
    let stop = StopToken::new();
    let mut holder = ReqRep::new("tcp://127.0.0.1:*", SocketKind::Rep);
    holder.init(&stop).expect("bind");
    let taken = holder.bound_endpoint().expect("bound").to_owned();

    let (tx, _rx) = mpsc::channel();
    let mut orchestrator = Orchestrator::new(OrchestratorOptions::default());
    let agent = Waiter {
        zmq: ReqRep::new(taken.clone(), SocketKind::Rep),
        outcome: tx,
    };
    orchestrator
        .register("clash", agent, AgentOptions::default())
        .expect("register");
    let report = orchestrator.run().expect("run");
    assert_eq!(report.status("clash"), Some(TerminationStatus::Error));
    let failure = report
        .events_for("clash")
        .find_map(|e| match &e.kind {
            EventKind::Failed(cause) => Some(cause.clone()),
            _ => None,
        })
        .expect("a Failed event");
    assert!(
        failure.contains(&taken) && failure.to_lowercase().contains("in use"),
        "{failure}"
    );
}

#[test]
fn broker_agent_hosts_a_broker_for_workers_and_clients() {
    let broker = BrokerAgent::new(ephemeral_config());
    let endpoints = broker.endpoints();
    let mut orchestrator =
        Orchestrator::new(OrchestratorOptions::default().run_mode(RunMode::Daemon));
    orchestrator
        .register("broker", broker, AgentOptions::default())
        .expect("register");
    let shutdown = orchestrator.shutdown_handle();
    let run = thread::spawn(move || orchestrator.run());
    // The broker binds in `execute`; wait for its endpoints (bounded).
    let bound = agent_endpoints(&endpoints);
    let stop = StopToken::new();
    let worker = Worker::new(&bound.backend[0], "echo", WorkerOptions::default()).expect("worker");
    let worker_stop = stop.clone();
    let worker = thread::spawn(move || worker.run(|_, p| Ok(p), &worker_stop));
    let mut client =
        Client::connect(&bound.frontend[0], "echo", ClientOptions::default()).expect("client");
    assert_eq!(
        client
            .request(b"via the agent's broker")
            .expect("reply")
            .body(),
        b"via the agent's broker"
    );
    stop.stop();
    worker.join().expect("worker").expect("worker ok");
    shutdown.stop();
    let report = run.join().expect("run").expect("report");
    assert_eq!(report.status("broker"), Some(TerminationStatus::Success));
}

/// Uses its plugins without listing them in `plugins()`: the runtime never
/// initialises them.
struct Forgetful {
    requester: ReqRep,
    replier: ReqRep,
    outcome: mpsc::Sender<Vec<String>>,
}

impl Agent for Forgetful {
    fn execute(&mut self, _ctx: &AgentContext) -> Result<(), AgentError> {
        let request = self.requester.request(b"ping").map(|_| ());
        let send = self.requester.send(b"ping");
        let recv = self.replier.recv().map(|_| ());
        let outcomes = vec![
            format!("{:?}", request.as_ref().map_err(ToString::to_string)),
            format!("{:?}", send.as_ref().map_err(ToString::to_string)),
            format!("{:?}", recv.as_ref().map_err(ToString::to_string)),
        ];
        let _ = self.outcome.send(outcomes);
        assert!(matches!(request, Err(RequestError::NotInitialised)));
        assert!(matches!(send, Err(ReqRepError::NotInitialised)));
        assert!(matches!(recv, Err(ReqRepError::NotInitialised)));
        Ok(())
    }
    // No `plugins()`: the mistake under test.
}

#[test]
fn a_plugin_missing_from_plugins_says_how_to_fix_it() {
    let (tx, rx) = mpsc::channel();
    let mut orchestrator = Orchestrator::new(OrchestratorOptions::default());
    let agent = Forgetful {
        requester: ReqRep::new("inproc://never-connected", SocketKind::Req),
        replier: ReqRep::new("tcp://127.0.0.1:*", SocketKind::Rep),
        outcome: tx,
    };
    orchestrator
        .register("forgetful", agent, AgentOptions::default())
        .expect("register");
    let report = orchestrator.run().expect("run");
    let outcomes = rx.recv_timeout(Duration::from_secs(10)).expect("outcomes");
    assert_eq!(
        report.status("forgetful"),
        Some(TerminationStatus::Success),
        "{outcomes:?}"
    );
    for outcome in &outcomes {
        assert!(
            outcome.contains("plugin not initialised: list it in `Agent::plugins()`"),
            "{outcome}"
        );
    }
}
