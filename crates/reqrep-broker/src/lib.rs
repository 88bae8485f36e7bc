//! # reqrep-broker
//!
//! A ROUTER-based broker that load-balances reqrep requests across replier
//! workers: credits announced in READY, least-recently-used dispatch,
//! heartbeats both ways, named services, deadlines, bounded queues, a reply
//! cache for idempotent retries, and graceful draining.
//!
//! The logic is a socket-free state machine ([`BrokerState`]); the driver
//! ([`Broker`]) owns the sockets and the clock and runs one `zmq::poll` loop.
//!
//! ## Layout
//! - [`config`]: [`BrokerConfig`] and how it is loaded (flags, env, TOML).
//! - [`state`]: the sans-IO state machine.
//! - `driver`: [`Broker`], the poll loop, and [`run`].
//! - [`stats`]: counters and metric names.
//! - [`signal`]: SIGINT/SIGTERM to a [`StopToken`](reqrep_core::StopToken).
//! - [`http`]: `/metrics` and `/healthz`.
//! - [`telemetry`]: tracing setup.

pub mod config;
mod driver;
pub mod http;
pub mod signal;
pub mod state;
pub mod stats;
pub mod telemetry;

pub use config::BrokerConfig;
pub use driver::{Broker, BrokerError, BrokerThread, run};
pub use state::{Action, BrokerState, Route, StateConfig};
pub use stats::Stats;
