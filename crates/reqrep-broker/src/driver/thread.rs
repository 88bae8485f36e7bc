//! A broker on a thread of its own ([`BrokerThread`]), or on this one
//! ([`run`]).

use std::net::SocketAddr;
use std::thread::JoinHandle;

use reqrep_core::StopToken;

use super::{Broker, BrokerError};
use crate::config::BrokerConfig;
use crate::stats::Stats;

/// A broker running on its own thread (see [`Broker::spawn`]). Dropping it
/// shuts the broker down and waits for it.
pub struct BrokerThread {
    pub(super) stop: StopToken,
    pub(super) join: Option<JoinHandle<Result<Stats, BrokerError>>>,
    pub(super) frontend: Vec<String>,
    pub(super) backend: Vec<String>,
    pub(super) metrics: Option<SocketAddr>,
}

impl BrokerThread {
    /// The first frontend endpoint (clients connect here).
    pub fn frontend(&self) -> &str {
        self.frontend.first().map_or("", String::as_str)
    }

    /// The first backend endpoint (workers connect here).
    pub fn backend(&self) -> &str {
        self.backend.first().map_or("", String::as_str)
    }

    /// Where `/metrics` is served, when enabled.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics
    }

    /// The token that stops the broker gracefully.
    pub fn shutdown_handle(&self) -> StopToken {
        self.stop.clone()
    }

    /// Drains, stops and returns the final counters.
    ///
    /// # Errors
    /// Whatever stopped the loop, or [`BrokerError::Panicked`].
    pub fn stop(mut self) -> Result<Stats, BrokerError> {
        self.stop.stop();
        self.join.take().map_or(Err(BrokerError::Panicked), |j| {
            j.join().map_err(|_| BrokerError::Panicked)?
        })
    }
}

impl Drop for BrokerThread {
    fn drop(&mut self) {
        if let Some(join) = self.join.take() {
            self.stop.stop();
            let _ = join.join();
        }
    }
}

/// Binds and runs a broker on this thread until `stop` is stopped, then
/// drains and returns. This is what the `reqrep-broker` binary calls.
///
/// # Errors
/// See [`Broker::bind`] and [`Broker::run`].
pub fn run(config: BrokerConfig, stop: &StopToken) -> Result<(), BrokerError> {
    Broker::bind(config)?
        .stop_on(stop.clone())
        .run()
        .map(|_| ())
}
