//! Plugins through the orchestrator: one that cannot bind its address
//! fails only its own agent, with that cause.

mod runtime_support;

use std::net::{SocketAddr, TcpListener};

use reqrep_agents::runtime::{
    Agent, AgentContext, AgentError, AgentOptions, EventKind, ExecutionMode, Orchestrator,
    TerminationStatus,
};
use reqrep_agents::{Plugin, PluginError, StopToken};
use runtime_support::{Log, LogPlugin, kinds, run_ok};

/// Binds a TCP address on init, as a REP socket would.
struct Listener {
    addr: SocketAddr,
    socket: Option<TcpListener>,
    log: Log,
}

impl Plugin for Listener {
    fn name(&self) -> &str {
        "listener"
    }

    fn init(&mut self, _stop: &StopToken) -> Result<(), PluginError> {
        self.log.push("init listener");
        let socket = TcpListener::bind(self.addr).map_err(|err| PluginError {
            plugin: "listener".into(),
            cause: err.to_string(),
        })?;
        self.socket = Some(socket);
        Ok(())
    }

    fn finalize(&mut self) {
        self.log.push("finalize listener");
        self.socket = None;
    }
}

struct Server {
    log: Log,
    first: LogPlugin,
    listener: Listener,
}

impl Agent for Server {
    fn setup(&mut self, _ctx: &AgentContext) -> Result<(), AgentError> {
        self.log.push("setup");
        Ok(())
    }

    fn execute(&mut self, _ctx: &AgentContext) -> Result<(), AgentError> {
        self.log.push("execute");
        Ok(())
    }

    fn on_close(&mut self, _ctx: &AgentContext) {
        self.log.push("on_close");
    }

    fn plugins(&mut self) -> Vec<&mut dyn Plugin> {
        vec![&mut self.first, &mut self.listener]
    }
}

fn server(addr: SocketAddr, log: &Log) -> Server {
    Server {
        log: log.clone(),
        first: LogPlugin::new("first", log),
        listener: Listener {
            addr,
            socket: None,
            log: log.clone(),
        },
    }
}

#[test]
fn a_plugin_that_cannot_bind_fails_only_its_agent() {
    for mode in [ExecutionMode::Thread, ExecutionMode::Task] {
        // The address is taken for the whole test.
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let busy = taken.local_addr().unwrap();
        let (bad_log, good_log) = (Log::default(), Log::default());

        let mut orchestrator = Orchestrator::default();
        orchestrator
            .register(
                "bad",
                server(busy, &bad_log),
                AgentOptions::default().mode(mode),
            )
            .unwrap();
        let free: SocketAddr = "127.0.0.1:0".parse().unwrap();
        orchestrator
            .register(
                "good",
                server(free, &good_log),
                AgentOptions::default().mode(mode),
            )
            .unwrap();
        let report = run_ok(orchestrator);

        assert_eq!(report.status("bad"), Some(TerminationStatus::Error));
        assert_eq!(
            bad_log.entries(),
            [
                "init first",
                "init listener",
                "on_close",
                "finalize listener",
                "finalize first"
            ],
            "setup is not called, on_close and finalize are"
        );
        let failure = kinds(&report, "bad")
            .into_iter()
            .find_map(|k| match k {
                EventKind::Failed(cause) => Some(cause),
                _ => None,
            })
            .expect("a Failed event");
        assert!(
            failure.starts_with("plugin listener failed to initialise: ")
                && failure.to_lowercase().contains("in use"),
            "the cause is the plugin's: {failure}"
        );

        assert_eq!(report.status("good"), Some(TerminationStatus::Success));
        assert_eq!(good_log.count("execute"), 1);
        drop(taken);
    }
}
