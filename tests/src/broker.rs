//! In-process brokers for tests, always on ephemeral loopback ports (bound
//! to `tcp://127.0.0.1:*` and read back, never a fixed port): a broker on
//! its own driver thread, the endpoints of a
//! [`BrokerAgent`](reqrep_agents::BrokerAgent) once it has bound, and a
//! broker that requires CURVE.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use reqrep_agents::BrokerEndpoints;
use reqrep_broker::{Broker, BrokerConfig, BrokerError, BrokerThread};

use crate::WAIT;

/// The endpoint tests bind to: any free port on the loopback interface.
pub const EPHEMERAL: &str = "tcp://127.0.0.1:*";

/// Broker settings for tests: one frontend and one backend on ephemeral
/// loopback ports, metrics off, everything else the default.
pub fn ephemeral_config() -> BrokerConfig {
    BrokerConfig::ephemeral_loopback()
}

/// A broker on its own thread with [`ephemeral_config`] and `tweak`
/// applied; [`BrokerThread::frontend`] and [`BrokerThread::backend`] give
/// the ports it bound.
///
/// # Panics
/// When it cannot bind or start.
pub fn broker(tweak: impl FnOnce(&mut BrokerConfig)) -> BrokerThread {
    let mut config = ephemeral_config();
    tweak(&mut config);
    Broker::bind(config)
        .expect("bind broker")
        .spawn()
        .expect("spawn broker")
}

/// Binds (without starting) a broker on ephemeral ports that requires CURVE
/// with the secret key in `key_file`.
///
/// # Errors
/// As [`Broker::bind`]: a missing or malformed key file, or a libzmq
/// without CURVE.
pub fn curve_broker(key_file: &Path) -> Result<Broker, BrokerError> {
    Broker::bind(BrokerConfig {
        curve_secret_key_file: Some(key_file.to_owned()),
        ..ephemeral_config()
    })
}

/// The endpoints a [`BrokerAgent`](reqrep_agents::BrokerAgent) bound, from
/// its [`endpoints`](reqrep_agents::BrokerAgent::endpoints) handle, once it
/// has bound them (it binds in `execute`).
///
/// # Panics
/// When it has not bound within [`WAIT`].
pub fn agent_endpoints(handle: &Arc<Mutex<Option<BrokerEndpoints>>>) -> BrokerEndpoints {
    let until = Instant::now() + WAIT;
    loop {
        if let Some(bound) = handle.lock().expect("endpoints lock").clone() {
            return bound;
        }
        assert!(
            Instant::now() < until,
            "the broker agent did not bind within {WAIT:?}"
        );
        std::thread::yield_now();
    }
}
