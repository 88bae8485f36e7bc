//! # reqrep-agents
//!
//! The agent runtime and the request-reply plugins of reqrep.
//!
//! ## Layout
//! - `stop`: [`StopToken`], cooperative stopping.
//! - `plugin`: the [`Plugin`] trait.

mod client;
mod error;
mod plugin;
mod reqrep;
pub mod runtime;
mod stop;
mod worker;

pub use client::{AsyncClient, Client, ClientOptions, Reply, services};
pub use error::{ReqRepError, RequestError, WorkerError};
pub use plugin::{Plugin, PluginError};
pub use reqrep::{IncomingRequest, ReqRep, SocketKind};
pub use stop::{STOP_POLL_SLICE, StopToken};
pub use worker::{AsyncWorker, Worker, WorkerOptions, WorkerStats};
