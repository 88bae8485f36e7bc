//! # reqrep-agents
//!
//! The agent runtime and the request-reply plugins of reqrep: agents with a
//! `setup / execute / on_stop / on_close` lifecycle run by an
//! [`Orchestrator`](runtime::Orchestrator) in threads, tokio tasks or child
//! processes; the [`ReqRep`] plugin (REQ/REP with timeouts, retries, socket
//! reset and correlation checks); brokered [`Client`] / [`Worker`], async
//! [`AsyncClient`] / [`AsyncWorker`]; and [`BrokerAgent`].
//!
//! ```no_run
//! use reqrep_agents::{Client, ClientOptions};
//!
//! let mut client = Client::connect("tcp://127.0.0.1:5555", "echo", ClientOptions::default())?;
//! let reply = client.request(b"hello")?;
//! assert_eq!(reply.body(), b"hello");
//! # Ok::<(), reqrep_agents::RequestError>(())
//! ```
//!
//! ## Layout
//! - [`runtime`]: agents, looping and periodic agents, typed config,
//!   the orchestrator, execution modes, restart policy, status events.
//! - `plugin`: the [`Plugin`] trait; `stop`: [`StopToken`].
//! - `reqrep`: the [`ReqRep`] plugin.
//! - `client`: [`Client`], [`AsyncClient`], [`services`] and [`services_with`] (discovery),
//!   [`wait_for_service`] (until a service has workers).
//! - `worker`: [`Worker`], [`AsyncWorker`], and the socket-free
//!   [`WorkerSession`] they drive (its [`WorkerAction`]s, [`Delivery`],
//!   [`Outgoing`], [`BrokerLoss`], [`BrokerMessageError`]).
//! - `broker_agent`: [`BrokerAgent`].
//! - `error`: [`RequestError`], [`ReqRepError`], [`WorkerError`].

mod broker_agent;
mod client;
mod error;
mod plugin;
mod reqrep;
pub mod runtime;
mod stop;
mod worker;

pub use broker_agent::{BrokerAgent, BrokerEndpoints};
pub use client::{
    AsyncClient, Client, ClientOptions, DEFAULT_QUEUE_CAPACITY, Response, ServiceWaitError,
    services, services_with, wait_for_service,
};
pub use error::{ReqRepError, RequestError, WorkerError};
pub use plugin::{Plugin, PluginError};
pub use reqrep::{IncomingRequest, ReqRep, SocketKind};
pub use stop::{STOP_POLL_SLICE, StopToken};
pub use worker::{
    AsyncWorker, BrokerLoss, BrokerMessageError, Delivery, MAX_STOP_LINGER, Outgoing, Worker,
    WorkerAction, WorkerOptions, WorkerSession, WorkerStats,
};
