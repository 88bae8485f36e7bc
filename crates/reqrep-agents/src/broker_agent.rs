//! [`BrokerAgent`]: an agent that hosts a broker in-process, so an
//! orchestrated application can run its own broker next to its workers.

use std::sync::{Arc, Mutex};

use reqrep_broker::{Broker, BrokerConfig};

use crate::runtime::{Agent, AgentContext, AgentError};

/// The endpoints a [`BrokerAgent`] bound, with wildcard ports resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrokerEndpoints {
    /// Where clients connect.
    pub frontend: Vec<String>,
    /// Where workers connect.
    pub backend: Vec<String>,
}

/// Runs a broker for the life of the agent: binds in `execute` (a bind
/// failure fails the agent with that cause), serves on the agent's own
/// thread until the agent is stopped, then drains and returns.
///
/// The broker's `/metrics` and `/healthz` server needs this crate's
/// `broker-http` feature; without it, set `metrics_addr: None` (a config
/// that asks for the server fails the agent with an error naming the
/// feature, rather than running without the metrics it was asked for).
pub struct BrokerAgent {
    config: BrokerConfig,
    endpoints: Arc<Mutex<Option<BrokerEndpoints>>>,
}

impl BrokerAgent {
    /// An agent running a broker with `config`.
    pub fn new(config: BrokerConfig) -> Self {
        Self {
            config,
            endpoints: Arc::new(Mutex::new(None)),
        }
    }

    /// A handle that reports the bound endpoints once the broker is up
    /// (useful with `tcp://127.0.0.1:*`).
    pub fn endpoints(&self) -> Arc<Mutex<Option<BrokerEndpoints>>> {
        Arc::clone(&self.endpoints)
    }
}

impl Agent for BrokerAgent {
    fn execute(&mut self, ctx: &AgentContext) -> Result<(), AgentError> {
        let broker = Broker::bind(self.config.clone()).map_err(AgentError::fatal)?;
        let bound = BrokerEndpoints {
            frontend: broker.frontend_endpoints().to_vec(),
            backend: broker.backend_endpoints().to_vec(),
        };
        *self
            .endpoints
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(bound);
        // The agent's thread runs the broker; the agent's stop drains it.
        broker
            .stop_on(ctx.stop_token().clone())
            .run()
            .map(|_| ())
            .map_err(AgentError::fatal)
    }
}
