//! The broker settings, each declared once: its field, default, file key,
//! flag, `REQREP_*` variable, check and help. The table's order is the order
//! of `--help`, `--print-config` and the checks.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use reqrep_core::Limits;

use super::ConfigError;
use super::Setting;
use super::check::{at_least_one, count_in, endpoints_apart_from, millis_in, needs_curve, none};
#[cfg(feature = "cli")]
use super::cli::{self, ArgSpec};
use super::declare::settings;
#[cfg(feature = "config-file")]
use super::file::FileRow;
use super::values::{Endpoints, Http, Kind, LogFormat, MetricsAddr, Millis, OptionalPath, Plain};

/// Longest accepted heartbeat interval and drain timeout, in milliseconds.
const ONE_HOUR_MS: u64 = 3_600_000;
/// Longest accepted request deadline and reply cache lifetime, in milliseconds.
const ONE_DAY_MS: u64 = 24 * ONE_HOUR_MS;
/// Most accepted liveness and attempts.
const MAX_COUNT: u32 = 100;

settings! {
    /// Endpoints the client-facing ROUTER binds.
    frontend: Vec<String> = vec!["tcp://127.0.0.1:5555".into()];
        key frontend: Vec<String> as Endpoints,
        flag "frontend", env "REQREP_FRONTEND", value "ENDPOINT",
        check endpoints_apart_from(none),
        help "Endpoint the client-facing ROUTER binds (clients connect here); \
              repeat the flag or separate endpoints with commas.";

    /// Endpoints the worker-facing ROUTER binds.
    backend: Vec<String> = vec!["tcp://127.0.0.1:5556".into()];
        key backend: Vec<String> as Endpoints,
        flag "backend", env "REQREP_BACKEND", value "ENDPOINT",
        check endpoints_apart_from(|config| &config.frontend),
        help "Endpoint the worker-facing ROUTER binds (workers connect here); \
              repeat the flag or separate endpoints with commas.";

    /// Where `/metrics` and `/healthz` are served; `None` disables HTTP.
    /// Serving needs the `http` feature.
    metrics_addr: Option<SocketAddr> = Some(SocketAddr::from(([127, 0, 0, 1], 9100)));
        key metrics_addr: MetricsAddr as Http,
        flag "metrics-addr", env "REQREP_METRICS_ADDR", value "ADDR|off",
        help "Address (ip:port) serving /metrics and /healthz over HTTP, or `off`.";

    /// Heartbeat interval for workers whose READY announces none.
    heartbeat: Duration = Duration::from_secs(1);
        key heartbeat_ms: u64 as Millis,
        flag "heartbeat-ms", env "REQREP_HEARTBEAT_MS", value "MS",
        check millis_in(10, ONE_HOUR_MS),
        help "Heartbeat interval in milliseconds, used for workers whose READY \
              announces none.";

    /// Missed heartbeat intervals after which a worker is dead.
    liveness: u32 = 3;
        key liveness: u32 as Plain<u32>,
        flag "liveness", env "REQREP_LIVENESS", value "N",
        check count_in(1, MAX_COUNT),
        help "Missed heartbeat intervals after which a worker is considered dead.";

    /// Deadline given to requests that carry no timeout.
    default_timeout: Duration = Duration::from_secs(30);
        key default_timeout_ms: u64 as Millis,
        flag "default-timeout-ms", env "REQREP_DEFAULT_TIMEOUT_MS", value "MS",
        check millis_in(1, ONE_DAY_MS),
        help "Deadline in milliseconds for requests that carry no timeout.";

    /// Bound of each service's request queue.
    max_queue: usize = 10_000;
        key max_queue: usize as Plain<usize>,
        flag "max-queue", env "REQREP_MAX_QUEUE", value "N",
        check at_least_one,
        help "Most requests waiting in one service's queue; more are answered \
              RESOURCE_EXHAUSTED at once.";

    /// Attempts per idempotent request, re-dispatches after worker loss
    /// included.
    max_attempts: u32 = 3;
        key max_attempts: u32 as Plain<u32>,
        flag "max-attempts", env "REQREP_MAX_ATTEMPTS", value "N",
        check count_in(1, MAX_COUNT),
        help "Attempts per idempotent request, re-dispatches after worker loss \
              included.";

    /// Replies to idempotent requests kept for answering retries.
    reply_cache_size: usize = 1024;
        key reply_cache_size: usize as Plain<usize>,
        flag "reply-cache-size", env "REQREP_REPLY_CACHE_SIZE", value "N",
        help "Replies to idempotent requests kept for answering retries; 0 turns \
              the reply cache off.";

    /// How long a cached reply stays valid.
    reply_cache_ttl: Duration = Duration::from_secs(10);
        key reply_cache_ttl_ms: u64 as Millis,
        flag "reply-cache-ttl-ms", env "REQREP_REPLY_CACHE_TTL_MS", value "MS",
        check millis_in(0, ONE_DAY_MS),
        help "How long a cached reply stays valid, in milliseconds.";

    /// On shutdown, how long in-flight requests may take to finish.
    drain_timeout: Duration = Duration::from_secs(5);
        key drain_timeout_ms: u64 as Millis,
        flag "drain-timeout-ms", env "REQREP_DRAIN_TIMEOUT_MS", value "MS",
        check millis_in(0, ONE_HOUR_MS),
        help "On shutdown, how long in-flight requests may take to finish, in \
              milliseconds.";

    /// Most payload frames per message.
    max_payload_frames: usize = Limits::default().max_payload_frames;
        key max_payload_frames: usize as Plain<usize>,
        flag "max-payload-frames", env "REQREP_MAX_PAYLOAD_FRAMES", value "N",
        check at_least_one,
        help "Most payload frames in one message.";

    /// Most payload bytes per message.
    max_payload_bytes: usize = Limits::default().max_payload_bytes;
        key max_payload_bytes: usize as Plain<usize>,
        flag "max-payload-bytes", env "REQREP_MAX_PAYLOAD_BYTES", value "BYTES",
        check at_least_one,
        help "Most payload bytes in one message, over all frames.";

    /// Most services (with workers or queued requests) at once.
    max_services: usize = 10_000;
        key max_services: usize as Plain<usize>,
        flag "max-services", env "REQREP_MAX_SERVICES", value "N",
        check at_least_one,
        help "Most services (with workers or queued requests) at once.";

    /// Log line format.
    log_format: LogFormat = LogFormat::Text;
        key log_format: LogFormat as Plain<LogFormat>,
        flag "log-format", env "REQREP_LOG_FORMAT", value "FORMAT",
        help "Log line format.";

    /// A file holding the broker's CURVE secret key (40 Z85 characters, as
    /// `reqrep keygen` writes it): both sockets then require CURVE, and
    /// clients and workers need the matching public key; `None` is
    /// plaintext.
    curve_secret_key_file: Option<PathBuf> = None;
        key curve_secret_key_file: PathBuf as OptionalPath,
        flag "curve-secret-key-file", env "REQREP_CURVE_SECRET_KEY_FILE", value "PATH",
        unset "plaintext",
        help "File holding the broker's CURVE secret key (40 Z85 characters, see \
              `reqrep keygen`): frontend and backend then require CURVE. Needs a \
              libzmq with CURVE.";

    /// The access policy file (TOML `[[identity]]` entries, see
    /// docs/OPERATIONS.md): only the CURVE keys it lists complete their
    /// handshake, and each may call and serve only what its entry grants.
    /// Needs `curve_secret_key_file`. Re-read on SIGHUP and when it changes
    /// on disk. `None`: any peer that completes the CURVE handshake (or any
    /// peer, without CURVE) may call and serve every service.
    access_file: Option<PathBuf> = None;
        key access_file: PathBuf as OptionalPath,
        flag "access-file", env "REQREP_ACCESS_FILE", value "PATH",
        check needs_curve,
        unset "no access control",
        help "Access policy file (TOML [[identity]] entries with name, key, call, \
              serve): only the CURVE keys it lists may connect, each calling and \
              serving what it grants. Needs --curve-secret-key-file; re-read on \
              SIGHUP and when it changes.";
}
