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
//! - `http`: `/metrics` and `/healthz` (feature `http`).
//! - `telemetry`: tracing setup (feature `telemetry`).
//!
//! ## Features
//! All on by default; the library's core (state machine, driver,
//! [`BrokerConfig`] with its defaults and checks, the `metrics` facade calls)
//! needs none of them:
//! - `http`: the `/metrics` and `/healthz` server (axum and the Prometheus
//!   exporter). Without it, a broker whose `metrics_addr` is not `None` fails
//!   to bind, naming the missing feature.
//! - `cli`: clap arguments and `REQREP_*` variables for every setting.
//! - `config-file`: the TOML config file and `--print-config` (serde, toml).
//! - `telemetry`: log output setup (tracing-subscriber).
//!
//! The `reqrep-broker` binary needs all four.

pub mod access;
pub mod config;
mod driver;
mod health;
#[cfg(feature = "http")]
pub mod http;
#[cfg(not(feature = "http"))]
#[path = "http_off.rs"]
mod http;
pub mod signal;
pub mod state;
pub mod stats;
#[cfg(feature = "telemetry")]
pub mod telemetry;

pub use config::BrokerConfig;
pub use driver::{Broker, BrokerError, BrokerThread, run};
pub use state::{Action, BrokerState, Route, ServiceReport, StateConfig};
pub use stats::Stats;
