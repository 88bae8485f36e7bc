//! Waiting until a service has workers: [`wait_for_service`] asks the
//! broker's discovery service until the service lists enough workers, or a
//! deadline passes.
//!
//! This is what a deployment script, a demo or a test does between starting
//! workers and sending them requests: never a blind sleep, always bounded.

use std::time::{Duration, Instant};

use prost::Message as _;
use reqrep_core::{Code, RetryPolicy, Status, pb};

use super::{Client, ClientOptions};
use crate::RequestError;

/// The pause between two discovery queries while the service is not ready.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Why [`wait_for_service`] gave up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceWaitError {
    /// The deadline passed before the service had enough workers.
    #[error(
        "{service}: {registered} of {wanted} worker(s) registered within {timeout:?}{}",
        last_error.as_ref().map(|e| format!(" (last discovery error: {e})")).unwrap_or_default()
    )]
    Timeout {
        /// The service waited for.
        service: String,
        /// Workers wanted.
        wanted: u32,
        /// Workers the last successful discovery reply listed (0 when the
        /// service was not listed or no reply came).
        registered: u32,
        /// The timeout that passed.
        timeout: Duration,
        /// The error of the last discovery query, when it failed (for
        /// example a timeout because the broker is not reachable yet).
        last_error: Option<RequestError>,
    },
    /// A discovery query failed in a way waiting cannot cure: an invalid
    /// endpoint, a socket or CURVE set-up failure, or an error reply other
    /// than `UNAVAILABLE`.
    #[error("discovery failed: {0}")]
    Discovery(#[source] RequestError),
}

impl ServiceWaitError {
    /// The status code this error corresponds to: `DEADLINE_EXCEEDED` for
    /// [`ServiceWaitError::Timeout`], the discovery error's code otherwise.
    pub fn code(&self) -> Code {
        match self {
            Self::Timeout { .. } => Code::DeadlineExceeded,
            Self::Discovery(e) => e.code(),
        }
    }
}

/// Waits until the broker whose frontend is `frontend` lists `service` with
/// at least `workers` registered workers, and returns what discovery said
/// about the service then.
///
/// The broker is asked through its discovery service (one connection, one
/// query at a time, 10 ms apart); a query that times out or is
/// answered `UNAVAILABLE` (a broker not reachable yet, or busy) is asked
/// again. `options` set each query's timeout (capped by the time left) and,
/// for a broker that requires it, CURVE ([`ClientOptions::curve`]); their
/// retry policy is ignored: every query is made once, idempotent. The whole
/// wait takes at most about `timeout`.
///
/// `workers == 0` returns at the first successful reply (with an empty
/// [`pb::ServiceInfo`] for a service that is not listed).
///
/// ```no_run
/// use std::time::Duration;
/// use reqrep_agents::{ClientOptions, wait_for_service};
///
/// let info = wait_for_service(
///     "tcp://127.0.0.1:5555",
///     "echo",
///     2,
///     Duration::from_secs(30),
///     ClientOptions::default(),
/// )?;
/// assert!(info.workers >= 2);
/// # Ok::<(), reqrep_agents::ServiceWaitError>(())
/// ```
///
/// # Errors
/// [`ServiceWaitError::Timeout`] when `timeout` passes first;
/// [`ServiceWaitError::Discovery`] for a failure that waiting cannot cure.
pub fn wait_for_service(
    frontend: &str,
    service: &str,
    workers: u32,
    timeout: Duration,
    options: ClientOptions,
) -> Result<pb::ServiceInfo, ServiceWaitError> {
    let started = Instant::now();
    let deadline = started + timeout;
    let options = options.retry(RetryPolicy::never()).idempotent(true);
    let connect = |per_query: Duration| {
        Client::connect(
            frontend,
            reqrep_core::DISCOVERY_SERVICE,
            options.clone().timeout(per_query),
        )
        .map_err(ServiceWaitError::Discovery)
    };
    let mut per_query = options
        .get_timeout()
        .min(timeout)
        .max(Duration::from_millis(1));
    let mut client = connect(per_query)?;
    let mut registered = 0;
    let mut last_error = None;
    // Set once queries are cut short to end by the deadline: their timeouts
    // say nothing about the broker, so they do not replace `last_error`.
    let mut cut_short = false;
    loop {
        match query(&mut client, service) {
            Ok(info) => {
                registered = info.workers;
                last_error = None;
                if info.workers >= workers {
                    return Ok(info);
                }
            }
            Err(RequestError::Timeout { .. }) if cut_short => {}
            Err(e) if retryable(&e) => last_error = Some(e),
            Err(e) => return Err(ServiceWaitError::Discovery(e)),
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ServiceWaitError::Timeout {
                service: service.to_owned(),
                wanted: workers,
                registered,
                timeout,
                last_error,
            });
        }
        std::thread::sleep(POLL_INTERVAL.min(left));
        // The next query must not outlast the deadline.
        let left = deadline.saturating_duration_since(Instant::now());
        if left < per_query {
            per_query = left.max(Duration::from_millis(1));
            client = connect(per_query)?;
            cut_short = true;
        }
    }
}

/// One discovery query for `service`: its entry, or an empty one named
/// `service` when the broker does not know it (`NOT_FOUND`, section 7 of the
/// protocol).
fn query(client: &mut Client, service: &str) -> Result<pb::ServiceInfo, RequestError> {
    let unknown = || pb::ServiceInfo {
        name: service.to_owned(),
        ..pb::ServiceInfo::default()
    };
    let reply = match client.request(service.as_bytes()) {
        Ok(reply) => reply,
        Err(RequestError::Status(status)) if status.code == Code::NotFound => {
            return Ok(unknown());
        }
        Err(e) => return Err(e),
    };
    let list = pb::ServiceList::decode(reply.body()).map_err(|e| {
        RequestError::Status(Status::invalid_argument(format!("bad service list: {e}")))
    })?;
    Ok(list
        .services
        .into_iter()
        .find(|s| s.name == service)
        .unwrap_or_else(unknown))
}

/// Whether asking again may succeed.
fn retryable(e: &RequestError) -> bool {
    match e {
        RequestError::Timeout { .. } => true,
        RequestError::Status(status) => status.code == Code::Unavailable,
        _ => false,
    }
}
