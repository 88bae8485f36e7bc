//! Requesters: the blocking brokered [`Client`], the async [`AsyncClient`],
//! and discovery.

mod async_client;
mod async_io;
mod brokers;
mod liveness;
mod options;
pub(crate) mod requester;
mod response;
mod retry;
mod wait;

use std::time::Duration;

use prost::Message as _;
use reqrep_core::socket::Endpoint;
use reqrep_core::{Frame, RetryPolicy, pb};

pub use async_client::AsyncClient;
pub use options::{ClientOptions, DEFAULT_QUEUE_CAPACITY};
use requester::Requester;
pub use response::Response;
pub use wait::{ServiceWaitError, wait_for_service};

use crate::{RequestError, StopToken};

/// A blocking client of one named service behind a broker: a DEALER on the
/// broker's frontend. Requests time out, are retried with jittered backoff
/// (reusing their correlation id) within their total budget, and replies are
/// matched by correlation id.
///
/// [`Client::connect_all`] connects to several brokers instead.
pub struct Client {
    engine: Engine,
    stop: StopToken,
}

/// What sends a [`Client`]'s requests.
enum Engine {
    /// One broker: the blocking requester on one DEALER.
    One {
        requester: Requester,
        _ctx: zmq::Context,
    },
    /// Several brokers: an [`AsyncClient`] (whose I/O runs on a thread of
    /// its own), waited on in a runtime of the client's own.
    Several {
        client: AsyncClient,
        runtime: tokio::runtime::Runtime,
    },
}

impl Client {
    /// Connects to the broker frontend at `endpoint` for `service`.
    ///
    /// # Errors
    /// An invalid endpoint or a socket failure.
    pub fn connect(
        endpoint: &str,
        service: &str,
        options: ClientOptions,
    ) -> Result<Self, RequestError> {
        Self::connect_with(&zmq::Context::new(), endpoint, service, options)
    }

    /// Like [`Client::connect`], in an existing ZeroMQ context.
    ///
    /// # Errors
    /// An invalid endpoint or a socket failure.
    pub fn connect_with(
        ctx: &zmq::Context,
        endpoint: &str,
        service: &str,
        options: ClientOptions,
    ) -> Result<Self, RequestError> {
        let endpoint = Endpoint::parse(endpoint).map_err(reqrep_core::socket::SocketError::from)?;
        let mut requester = Requester::new(ctx, endpoint, zmq::DEALER, false, service, options);
        requester.open()?;
        Ok(Self {
            engine: Engine::One {
                requester,
                _ctx: ctx.clone(),
            },
            stop: StopToken::new(),
        })
    }

    /// Connects to the frontends of several brokers for `service`, with the
    /// behaviour of [`AsyncClient::connect_all`]: the liveness check,
    /// requests spread over the live brokers, idempotent retries on another
    /// broker, and `UNAVAILABLE` at once for other requests whose broker is
    /// judged dead. With a single endpoint it is [`Client::connect`].
    ///
    /// # Errors
    /// No endpoint ([`RequestError::Usage`]), an invalid endpoint, a socket
    /// failure, or failing to start the client's runtime or I/O thread.
    pub fn connect_all<S: AsRef<str>>(
        endpoints: &[S],
        service: &str,
        options: ClientOptions,
    ) -> Result<Self, RequestError> {
        if let [one] = endpoints {
            return Self::connect(one.as_ref(), service, options);
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map_err(async_io::io_error)?;
        // Outside the runtime: the I/O tasks get a thread of their own.
        let client = AsyncClient::connect_all(endpoints, service, options)?;
        Ok(Self {
            engine: Engine::Several { client, runtime },
            stop: StopToken::new(),
        })
    }

    /// Makes blocking waits return [`RequestError::Stopped`] once `stop` is
    /// stopped.
    pub fn with_stop(mut self, stop: StopToken) -> Self {
        self.stop = stop;
        self
    }

    /// Sends `payload` as one frame and waits for the reply.
    ///
    /// # Errors
    /// [`RequestError::Timeout`] after the last attempt,
    /// [`RequestError::BudgetExhausted`] when the total budget ran out first,
    /// [`RequestError::Status`] for a non-OK reply,
    /// [`RequestError::PermissionDenied`] (never retried) when the broker's
    /// access policy refuses this client's identity, and so on.
    pub fn request(&mut self, payload: &[u8]) -> Result<Response, RequestError> {
        self.request_frames(vec![Frame::from(payload)])
    }

    /// Sends several payload frames and waits for the reply.
    ///
    /// # Errors
    /// As [`Client::request`].
    pub fn request_frames(&mut self, payload: Vec<Frame>) -> Result<Response, RequestError> {
        let stop = self.stop.clone();
        match &mut self.engine {
            Engine::One { requester, .. } => requester.request(payload, &stop),
            Engine::Several { client, runtime } => runtime.block_on(async {
                tokio::select! {
                    biased;
                    () = stop.stopped() => Err(RequestError::Stopped),
                    outcome = client.request_frames(payload) => outcome,
                }
            }),
        }
    }

    /// Replies dropped because their correlation id matched nothing.
    pub fn stale_replies(&self) -> u64 {
        match &self.engine {
            Engine::One { requester, .. } => requester.stale_replies,
            Engine::Several { client, .. } => client.stale_replies(),
        }
    }
}

/// Asks the broker at `endpoint` (its frontend) which services exist.
///
/// # Errors
/// As [`Client::request`]; a reply that is not a service list is
/// `INVALID_ARGUMENT`.
pub fn services(endpoint: &str, timeout: Duration) -> Result<pb::ServiceList, RequestError> {
    services_with(endpoint, ClientOptions::default().timeout(timeout))
}

/// [`services`] with the given client options (for example
/// [`ClientOptions::curve`] for a broker that requires CURVE); the request is
/// always idempotent and made once.
///
/// # Errors
/// As [`services`].
pub fn services_with(
    endpoint: &str,
    options: ClientOptions,
) -> Result<pb::ServiceList, RequestError> {
    let options = options.retry(RetryPolicy::never()).idempotent(true);
    let mut client = Client::connect(endpoint, reqrep_core::DISCOVERY_SERVICE, options)?;
    let reply = client.request_frames(Vec::new())?;
    pb::ServiceList::decode(reply.body()).map_err(|e| {
        RequestError::Status(reqrep_core::Status::invalid_argument(format!(
            "bad service list: {e}"
        )))
    })
}
