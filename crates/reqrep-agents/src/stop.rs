//! Cooperative stopping: the [`StopToken`] of `reqrep_core` (re-exported
//! here, as agents, clients and workers all take one) and the slice in
//! which blocking socket waits look at it.

use std::time::Duration;

pub use reqrep_core::StopToken;

/// How often blocking socket waits look at the stop token.
pub const STOP_POLL_SLICE: Duration = Duration::from_millis(20);
