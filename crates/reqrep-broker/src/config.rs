//! Broker configuration: the resolved settings the broker runs with, and how
//! they are loaded.
//!
//! Every setting can come from four places; the first that sets it wins:
//!
//! 1. a command-line flag (`--heartbeat-ms 500`),
//! 2. a `REQREP_*` environment variable (`REQREP_HEARTBEAT_MS=500`),
//! 3. the TOML file given with `--config` (`heartbeat_ms = 500`),
//! 4. the default.
//!
//! Flags and environment variables are read by clap into one
//! [`PartialConfig`] (clap itself lets a flag beat its variable); the file is
//! read into another; [`BrokerConfig::resolve`] layers them over the defaults
//! and validates the result.
//!
//! The file uses the snake_case names of the flags (`max_queue`, not
//! `max-queue`), durations are whole milliseconds in keys ending in `_ms`, and
//! unknown keys are errors. [`BrokerConfig::to_toml`] writes the same schema,
//! so `reqrep-broker --print-config > broker.toml` gives a file that loads
//! back to the same settings.
//!
//! ```
//! use std::time::Duration;
//! use reqrep_broker::config::{BrokerConfig, PartialConfig};
//!
//! let file = PartialConfig::from_toml_str("heartbeat_ms = 250\nmax_queue = 100\n").unwrap();
//! let flags = PartialConfig { max_queue: Some(50), ..PartialConfig::default() };
//! let config = BrokerConfig::resolve(flags, Some(file)).unwrap();
//! assert_eq!(config.heartbeat, Duration::from_millis(250)); // from the file
//! assert_eq!(config.max_queue, 50); // the flag beats the file
//! assert_eq!(config.liveness, 3); // the default
//! ```

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use reqrep_core::Limits;
use reqrep_core::socket::Endpoint;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    /// The name used in flags, variables and files: `text` or `json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Json => "json",
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every broker setting, resolved (flags > `REQREP_*` env > TOML file > defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerConfig {
    /// Endpoints the client-facing ROUTER binds. Default: `tcp://127.0.0.1:5555`.
    pub frontend: Vec<String>,
    /// Endpoints the worker-facing ROUTER binds. Default: `tcp://127.0.0.1:5556`.
    pub backend: Vec<String>,
    /// Where `/metrics` and `/healthz` are served; `None` disables HTTP.
    /// Default: `127.0.0.1:9100`.
    pub metrics_addr: Option<SocketAddr>,
    /// Heartbeat interval for workers whose READY announces none. Default: 1 s.
    pub heartbeat: Duration,
    /// Missed heartbeat intervals after which a worker is dead. Default: 3.
    pub liveness: u32,
    /// Deadline given to requests that carry no timeout. Default: 30 s.
    pub default_timeout: Duration,
    /// Bound of each service's request queue. Default: 10 000.
    pub max_queue: usize,
    /// Attempts per idempotent request, re-dispatches after worker loss
    /// included. Default: 3.
    pub max_attempts: u32,
    /// Replies to idempotent requests kept for answering retries. Default: 1024.
    pub reply_cache_size: usize,
    /// How long a cached reply stays valid. Default: 10 s.
    pub reply_cache_ttl: Duration,
    /// On shutdown, how long in-flight requests may take to finish. Default: 5 s.
    pub drain_timeout: Duration,
    /// Most payload frames per message. Default: 64.
    pub max_payload_frames: usize,
    /// Most payload bytes per message. Default: 16 MiB.
    pub max_payload_bytes: usize,
    /// Most services (with workers or queued requests) at once. Default: 10 000.
    pub max_services: usize,
    /// Log line format. Default: text.
    pub log_format: LogFormat,
    /// A file holding the broker's CURVE secret key (40 Z85 characters, as
    /// `reqrep keygen` writes it): both sockets then require CURVE, and
    /// clients and workers need the matching public key. Default: none
    /// (plaintext).
    pub curve_secret_key_file: Option<PathBuf>,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        let limits = Limits::default();
        Self {
            frontend: vec!["tcp://127.0.0.1:5555".into()],
            backend: vec!["tcp://127.0.0.1:5556".into()],
            metrics_addr: Some(SocketAddr::from(([127, 0, 0, 1], 9100))),
            heartbeat: Duration::from_secs(1),
            liveness: 3,
            default_timeout: Duration::from_secs(30),
            max_queue: 10_000,
            max_attempts: 3,
            reply_cache_size: 1024,
            reply_cache_ttl: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(5),
            max_payload_frames: limits.max_payload_frames,
            max_payload_bytes: limits.max_payload_bytes,
            max_services: 10_000,
            log_format: LogFormat::Text,
            curve_secret_key_file: None,
        }
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The config file is not valid TOML, has an unknown key or a value of
    /// the wrong type.
    #[error("invalid config file {}: {source}", path.display())]
    Parse {
        /// The file, or `<string>` when parsing text given directly.
        path: PathBuf,
        /// What the TOML parser reported, with the line and column.
        source: Box<toml::de::Error>,
    },
    /// A setting has a value the broker cannot run with.
    #[error("invalid setting {setting}: {reason}")]
    Invalid {
        /// The setting, named as in the config file (`heartbeat_ms`).
        setting: &'static str,
        /// What is wrong and what is accepted.
        reason: String,
    },
}

impl ConfigError {
    fn invalid(setting: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            setting,
            reason: reason.into(),
        }
    }
}

/// The `metrics_addr` setting: an address to serve HTTP on, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub enum MetricsAddr {
    /// No `/metrics` or `/healthz` endpoint.
    Off,
    /// Serve on this address (`127.0.0.1:9100`; port 0 picks a free port).
    At(SocketAddr),
}

impl MetricsAddr {
    /// The address, or `None` for [`MetricsAddr::Off`].
    pub fn addr(self) -> Option<SocketAddr> {
        match self {
            Self::Off => None,
            Self::At(addr) => Some(addr),
        }
    }
}

impl From<Option<SocketAddr>> for MetricsAddr {
    fn from(addr: Option<SocketAddr>) -> Self {
        addr.map_or(Self::Off, Self::At)
    }
}

impl FromStr for MetricsAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("off") {
            return Ok(Self::Off);
        }
        s.parse().map(Self::At).map_err(|_| {
            format!("{s:?} is not an address: expected ip:port such as 127.0.0.1:9100, or off")
        })
    }
}

impl TryFrom<String> for MetricsAddr {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl fmt::Display for MetricsAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Off => f.write_str("off"),
            Self::At(addr) => addr.fmt(f),
        }
    }
}

/// Settings from one source (flags and environment, or a file), each
/// `None` when that source does not set it.
///
/// As clap arguments every field is a `--kebab-case` flag with a
/// `REQREP_SNAKE_CASE` environment variable; as TOML every field is a
/// `snake_case` key. Durations are whole milliseconds.
#[derive(Debug, Clone, Default, PartialEq, clap::Args, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[command(next_help_heading = "Broker settings")]
pub struct PartialConfig {
    /// Endpoint the client-facing ROUTER binds (clients connect here);
    /// repeat the flag or separate endpoints with commas.
    /// Default: tcp://127.0.0.1:5555
    #[arg(
        long,
        env = "REQREP_FRONTEND",
        value_name = "ENDPOINT",
        value_delimiter = ','
    )]
    pub frontend: Option<Vec<String>>,

    /// Endpoint the worker-facing ROUTER binds (workers connect here);
    /// repeat the flag or separate endpoints with commas.
    /// Default: tcp://127.0.0.1:5556
    #[arg(
        long,
        env = "REQREP_BACKEND",
        value_name = "ENDPOINT",
        value_delimiter = ','
    )]
    pub backend: Option<Vec<String>>,

    /// Address (ip:port) serving /metrics and /healthz over HTTP, or `off`.
    /// Default: 127.0.0.1:9100
    #[arg(long, env = "REQREP_METRICS_ADDR", value_name = "ADDR|off")]
    pub metrics_addr: Option<MetricsAddr>,

    /// Heartbeat interval in milliseconds, used for workers whose READY
    /// announces none. Default: 1000
    #[arg(long, env = "REQREP_HEARTBEAT_MS", value_name = "MS")]
    pub heartbeat_ms: Option<u64>,

    /// Missed heartbeat intervals after which a worker is considered dead.
    /// Default: 3
    #[arg(long, env = "REQREP_LIVENESS", value_name = "N")]
    pub liveness: Option<u32>,

    /// Deadline in milliseconds for requests that carry no timeout.
    /// Default: 30000
    #[arg(long, env = "REQREP_DEFAULT_TIMEOUT_MS", value_name = "MS")]
    pub default_timeout_ms: Option<u64>,

    /// Most requests waiting in one service's queue; more are answered
    /// RESOURCE_EXHAUSTED at once. Default: 10000
    #[arg(long, env = "REQREP_MAX_QUEUE", value_name = "N")]
    pub max_queue: Option<usize>,

    /// Attempts per idempotent request, re-dispatches after worker loss
    /// included. Default: 3
    #[arg(long, env = "REQREP_MAX_ATTEMPTS", value_name = "N")]
    pub max_attempts: Option<u32>,

    /// Replies to idempotent requests kept for answering retries; 0 turns
    /// the reply cache off. Default: 1024
    #[arg(long, env = "REQREP_REPLY_CACHE_SIZE", value_name = "N")]
    pub reply_cache_size: Option<usize>,

    /// How long a cached reply stays valid, in milliseconds. Default: 10000
    #[arg(long, env = "REQREP_REPLY_CACHE_TTL_MS", value_name = "MS")]
    pub reply_cache_ttl_ms: Option<u64>,

    /// On shutdown, how long in-flight requests may take to finish, in
    /// milliseconds. Default: 5000
    #[arg(long, env = "REQREP_DRAIN_TIMEOUT_MS", value_name = "MS")]
    pub drain_timeout_ms: Option<u64>,

    /// Most payload frames in one message. Default: 64
    #[arg(long, env = "REQREP_MAX_PAYLOAD_FRAMES", value_name = "N")]
    pub max_payload_frames: Option<usize>,

    /// Most payload bytes in one message, over all frames.
    /// Default: 16777216
    #[arg(long, env = "REQREP_MAX_PAYLOAD_BYTES", value_name = "BYTES")]
    pub max_payload_bytes: Option<usize>,

    /// Most services (with workers or queued requests) at once.
    /// Default: 10000
    #[arg(long, env = "REQREP_MAX_SERVICES", value_name = "N")]
    pub max_services: Option<usize>,

    /// Log line format. Default: text
    #[arg(long, env = "REQREP_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,

    /// File holding the broker's CURVE secret key (40 Z85 characters, see
    /// `reqrep keygen`): frontend and backend then require CURVE. Needs a
    /// libzmq with CURVE. Default: none (plaintext)
    #[arg(long, env = "REQREP_CURVE_SECRET_KEY_FILE", value_name = "PATH")]
    pub curve_secret_key_file: Option<PathBuf>,
}

impl PartialConfig {
    /// Parses settings from TOML text (the config file schema).
    ///
    /// # Errors
    /// [`ConfigError::Parse`] for invalid TOML, an unknown key or a value of
    /// the wrong type.
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        Self::parse_toml(text, Path::new("<string>"))
    }

    /// Reads and parses the config file at `path`.
    ///
    /// # Errors
    /// [`ConfigError::Read`] when the file cannot be read, [`ConfigError::Parse`]
    /// when its content is rejected; both name the file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse_toml(&text, path)
    }

    fn parse_toml(text: &str, path: &Path) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        })
    }

    /// These settings, with those left unset taken from `lower`.
    pub fn or(self, lower: PartialConfig) -> PartialConfig {
        let Self {
            frontend,
            backend,
            metrics_addr,
            heartbeat_ms,
            liveness,
            default_timeout_ms,
            max_queue,
            max_attempts,
            reply_cache_size,
            reply_cache_ttl_ms,
            drain_timeout_ms,
            max_payload_frames,
            max_payload_bytes,
            max_services,
            log_format,
            curve_secret_key_file,
        } = self;
        PartialConfig {
            frontend: frontend.or(lower.frontend),
            backend: backend.or(lower.backend),
            metrics_addr: metrics_addr.or(lower.metrics_addr),
            heartbeat_ms: heartbeat_ms.or(lower.heartbeat_ms),
            liveness: liveness.or(lower.liveness),
            default_timeout_ms: default_timeout_ms.or(lower.default_timeout_ms),
            max_queue: max_queue.or(lower.max_queue),
            max_attempts: max_attempts.or(lower.max_attempts),
            reply_cache_size: reply_cache_size.or(lower.reply_cache_size),
            reply_cache_ttl_ms: reply_cache_ttl_ms.or(lower.reply_cache_ttl_ms),
            drain_timeout_ms: drain_timeout_ms.or(lower.drain_timeout_ms),
            max_payload_frames: max_payload_frames.or(lower.max_payload_frames),
            max_payload_bytes: max_payload_bytes.or(lower.max_payload_bytes),
            max_services: max_services.or(lower.max_services),
            log_format: log_format.or(lower.log_format),
            curve_secret_key_file: curve_secret_key_file.or(lower.curve_secret_key_file),
        }
    }
}

/// Shortest accepted heartbeat interval.
const MIN_HEARTBEAT: Duration = Duration::from_millis(10);
/// Longest accepted heartbeat interval and drain timeout.
const ONE_HOUR: Duration = Duration::from_secs(3600);
/// Longest accepted request deadline and reply cache lifetime.
const ONE_DAY: Duration = Duration::from_secs(24 * 3600);
/// Most accepted liveness and attempts.
const MAX_COUNT: u32 = 100;

impl BrokerConfig {
    /// The decoding limits these settings imply.
    pub fn limits(&self) -> Limits {
        Limits {
            max_payload_frames: self.max_payload_frames,
            max_payload_bytes: self.max_payload_bytes,
            ..Limits::default()
        }
    }

    /// Layers `flags` (command line and environment) over `file` over the
    /// defaults, then [validates](Self::validate) the result.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the first invalid setting.
    pub fn resolve(
        flags: PartialConfig,
        file: Option<PartialConfig>,
    ) -> Result<BrokerConfig, ConfigError> {
        let merged = match file {
            Some(file) => flags.or(file),
            None => flags,
        };
        let PartialConfig {
            frontend,
            backend,
            metrics_addr,
            heartbeat_ms,
            liveness,
            default_timeout_ms,
            max_queue,
            max_attempts,
            reply_cache_size,
            reply_cache_ttl_ms,
            drain_timeout_ms,
            max_payload_frames,
            max_payload_bytes,
            max_services,
            log_format,
            curve_secret_key_file,
        } = merged;
        let d = BrokerConfig::default();
        let config = BrokerConfig {
            frontend: frontend.unwrap_or(d.frontend),
            backend: backend.unwrap_or(d.backend),
            metrics_addr: metrics_addr.map_or(d.metrics_addr, MetricsAddr::addr),
            heartbeat: heartbeat_ms.map_or(d.heartbeat, Duration::from_millis),
            liveness: liveness.unwrap_or(d.liveness),
            default_timeout: default_timeout_ms.map_or(d.default_timeout, Duration::from_millis),
            max_queue: max_queue.unwrap_or(d.max_queue),
            max_attempts: max_attempts.unwrap_or(d.max_attempts),
            reply_cache_size: reply_cache_size.unwrap_or(d.reply_cache_size),
            reply_cache_ttl: reply_cache_ttl_ms.map_or(d.reply_cache_ttl, Duration::from_millis),
            drain_timeout: drain_timeout_ms.map_or(d.drain_timeout, Duration::from_millis),
            max_payload_frames: max_payload_frames.unwrap_or(d.max_payload_frames),
            max_payload_bytes: max_payload_bytes.unwrap_or(d.max_payload_bytes),
            max_services: max_services.unwrap_or(d.max_services),
            log_format: log_format.unwrap_or(d.log_format),
            curve_secret_key_file: curve_secret_key_file.or(d.curve_secret_key_file),
        };
        config.validate()?;
        Ok(config)
    }

    /// Settings from TOML text (the config file schema) over the defaults.
    ///
    /// # Errors
    /// [`ConfigError::Parse`] for text that is not a valid config file,
    /// [`ConfigError::Invalid`] for a setting out of range.
    pub fn from_toml_str(text: &str) -> Result<BrokerConfig, ConfigError> {
        Self::resolve(
            PartialConfig::default(),
            Some(PartialConfig::from_toml_str(text)?),
        )
    }

    /// Layers `flags` over the config file at `file` (when given) over the
    /// defaults: what the `reqrep-broker` binary runs with.
    ///
    /// # Errors
    /// [`ConfigError::Read`] or [`ConfigError::Parse`] for the file,
    /// [`ConfigError::Invalid`] for a setting out of range.
    pub fn load(flags: PartialConfig, file: Option<&Path>) -> Result<BrokerConfig, ConfigError> {
        let file = file.map(PartialConfig::from_file).transpose()?;
        Self::resolve(flags, file)
    }

    /// Checks that the broker can run with these settings.
    ///
    /// Endpoints must parse (`tcp://host:port`, `ipc://path`, `inproc://name`)
    /// and none may be bound twice; the heartbeat is 10 ms to 1 h; liveness
    /// and attempts 1 to 100; the default timeout 1 ms to 24 h; the reply
    /// cache lifetime at most 24 h; the drain timeout at most 1 h; queue,
    /// payload and service limits at least 1.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the first invalid setting, as in
    /// `invalid setting frontend: endpoint "localhost:5555" has no transport: ...`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate_endpoints("frontend", &self.frontend, &[])?;
        validate_endpoints("backend", &self.backend, &self.frontend)?;
        duration_in("heartbeat_ms", self.heartbeat, MIN_HEARTBEAT, ONE_HOUR)?;
        count_in("liveness", self.liveness, 1, MAX_COUNT)?;
        duration_in(
            "default_timeout_ms",
            self.default_timeout,
            Duration::from_millis(1),
            ONE_DAY,
        )?;
        at_least_one("max_queue", self.max_queue)?;
        count_in("max_attempts", self.max_attempts, 1, MAX_COUNT)?;
        duration_in(
            "reply_cache_ttl_ms",
            self.reply_cache_ttl,
            Duration::ZERO,
            ONE_DAY,
        )?;
        duration_in(
            "drain_timeout_ms",
            self.drain_timeout,
            Duration::ZERO,
            ONE_HOUR,
        )?;
        at_least_one("max_payload_frames", self.max_payload_frames)?;
        at_least_one("max_payload_bytes", self.max_payload_bytes)?;
        at_least_one("max_services", self.max_services)?;
        Ok(())
    }

    /// These settings as a config file (what `--print-config` prints): every
    /// key, in the schema [`PartialConfig::from_toml_str`] reads, so the text
    /// loads back to the same settings.
    pub fn to_toml(&self) -> String {
        let endpoints = |list: &[String]| {
            toml::Value::Array(
                list.iter()
                    .map(|e| toml::Value::String(e.clone()))
                    .collect(),
            )
        };
        let rows: [(&str, String); 15] = [
            ("frontend", endpoints(&self.frontend).to_string()),
            ("backend", endpoints(&self.backend).to_string()),
            (
                "metrics_addr",
                toml::Value::String(MetricsAddr::from(self.metrics_addr).to_string()).to_string(),
            ),
            ("heartbeat_ms", millis(self.heartbeat)),
            ("liveness", self.liveness.to_string()),
            ("default_timeout_ms", millis(self.default_timeout)),
            ("max_queue", self.max_queue.to_string()),
            ("max_attempts", self.max_attempts.to_string()),
            ("reply_cache_size", self.reply_cache_size.to_string()),
            ("reply_cache_ttl_ms", millis(self.reply_cache_ttl)),
            ("drain_timeout_ms", millis(self.drain_timeout)),
            ("max_payload_frames", self.max_payload_frames.to_string()),
            ("max_payload_bytes", self.max_payload_bytes.to_string()),
            ("max_services", self.max_services.to_string()),
            (
                "log_format",
                toml::Value::String(self.log_format.to_string()).to_string(),
            ),
        ];
        let mut out = String::from(
            "# reqrep-broker settings, resolved from flags, REQREP_* variables, \
             the config file and defaults.\n",
        );
        for (key, value) in rows {
            out.push_str(key);
            out.push_str(" = ");
            out.push_str(&value);
            out.push('\n');
        }
        match &self.curve_secret_key_file {
            Some(path) => {
                out.push_str("curve_secret_key_file = ");
                out.push_str(&toml::Value::String(path.display().to_string()).to_string());
                out.push('\n');
            }
            None => out.push_str("# curve_secret_key_file: not set (plaintext)\n"),
        }
        out
    }
}

/// Whole milliseconds, as written in config files.
fn millis(d: Duration) -> String {
    d.as_millis().to_string()
}

fn validate_endpoints(
    setting: &'static str,
    endpoints: &[String],
    other_side: &[String],
) -> Result<(), ConfigError> {
    if endpoints.is_empty() {
        return Err(ConfigError::invalid(
            setting,
            "at least one endpoint is needed",
        ));
    }
    let mut seen: Vec<&str> = Vec::with_capacity(endpoints.len());
    for text in endpoints {
        Endpoint::parse(text).map_err(|e| ConfigError::invalid(setting, e.to_string()))?;
        let text = text.trim();
        // A wildcard port binds a fresh port each time, so it may repeat.
        if text.ends_with(":*") {
            continue;
        }
        if seen.contains(&text) {
            return Err(ConfigError::invalid(
                setting,
                format!("endpoint {text:?} is listed twice"),
            ));
        }
        if other_side.iter().any(|o| o.trim() == text) {
            return Err(ConfigError::invalid(
                setting,
                format!("endpoint {text:?} is also a frontend endpoint"),
            ));
        }
        seen.push(text);
    }
    Ok(())
}

fn duration_in(
    setting: &'static str,
    value: Duration,
    min: Duration,
    max: Duration,
) -> Result<(), ConfigError> {
    if value < min || value > max {
        return Err(ConfigError::invalid(
            setting,
            format!(
                "{} ms is out of range: accepted are {} to {} ms",
                value.as_millis(),
                min.as_millis(),
                max.as_millis()
            ),
        ));
    }
    Ok(())
}

fn count_in(setting: &'static str, value: u32, min: u32, max: u32) -> Result<(), ConfigError> {
    if !(min..=max).contains(&value) {
        return Err(ConfigError::invalid(
            setting,
            format!("{value} is out of range: accepted are {min} to {max}"),
        ));
    }
    Ok(())
}

fn at_least_one(setting: &'static str, value: usize) -> Result<(), ConfigError> {
    if value == 0 {
        return Err(ConfigError::invalid(
            setting,
            "0 is out of range: must be at least 1",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    /// The settings as the binary parses them, without its other flags.
    #[derive(Debug, Parser)]
    struct Flags {
        #[command(flatten)]
        settings: PartialConfig,
    }

    fn flags(args: &[&str]) -> PartialConfig {
        let argv = std::iter::once("reqrep-broker").chain(args.iter().copied());
        Flags::try_parse_from(argv).unwrap().settings
    }

    fn invalid_setting(result: Result<BrokerConfig, ConfigError>) -> (&'static str, String) {
        match result {
            Err(ConfigError::Invalid { setting, reason }) => (setting, reason),
            other => panic!("expected an invalid setting, got {other:?}"),
        }
    }

    #[test]
    fn defaults_resolve_and_bind_loopback_only() {
        let config = BrokerConfig::resolve(PartialConfig::default(), None).unwrap();
        assert_eq!(config, BrokerConfig::default());
        assert_eq!(config.frontend, ["tcp://127.0.0.1:5555"]);
        assert_eq!(config.backend, ["tcp://127.0.0.1:5556"]);
        assert_eq!(config.metrics_addr, Some("127.0.0.1:9100".parse().unwrap()));
        assert_eq!(config.heartbeat, Duration::from_secs(1));
        assert_eq!(config.liveness, 3);
        assert_eq!(config.default_timeout, Duration::from_secs(30));
        assert_eq!(config.log_format, LogFormat::Text);
        assert_eq!(config.limits(), Limits::default());
        BrokerConfig::default().validate().unwrap();
    }

    #[test]
    fn flags_beat_file_beats_defaults() {
        let file = PartialConfig::from_toml_str(
            "heartbeat_ms = 250\nmax_queue = 7\nfrontend = [\"tcp://127.0.0.1:7000\"]\n",
        )
        .unwrap();
        let flags = flags(&["--max-queue", "9", "--log-format", "json"]);
        let config = BrokerConfig::resolve(flags, Some(file)).unwrap();
        assert_eq!(config.max_queue, 9, "flag beats file");
        assert_eq!(
            config.heartbeat,
            Duration::from_millis(250),
            "file beats default"
        );
        assert_eq!(
            config.frontend,
            ["tcp://127.0.0.1:7000"],
            "file beats default"
        );
        assert_eq!(config.log_format, LogFormat::Json, "flag beats default");
        assert_eq!(config.liveness, 3, "default when nobody sets it");
    }

    #[test]
    fn every_setting_has_a_flag_a_reqrep_variable_and_a_documented_default() {
        let command = Flags::command();
        let defaults: toml::Table = toml::from_str(&BrokerConfig::default().to_toml()).unwrap();
        let (mut flags, mut unset) = (0, 0);
        for arg in command.get_arguments() {
            let id = arg.get_id().as_str();
            if id == "help" {
                continue;
            }
            flags += 1;
            let long = arg.get_long().unwrap();
            assert_eq!(long, id.replace('_', "-"));
            let env = arg.get_env().unwrap().to_str().unwrap();
            assert_eq!(env, format!("REQREP_{}", id.to_uppercase()));
            let help = arg.get_help().unwrap().to_string();
            let Some(value) = defaults.get(id) else {
                // Optional settings without a default are absent from the
                // printed defaults and say so in their help.
                assert!(help.contains("Default: none"), "--{long}: {help}");
                unset += 1;
                continue;
            };
            let default = match value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Array(list) => list[0].as_str().unwrap().to_owned(),
                other => other.to_string(),
            };
            assert!(
                help.contains(&format!("Default: {default}")),
                "--{long} help does not document its default {default}: {help}"
            );
        }
        assert_eq!(unset, 1, "curve_secret_key_file");
        assert_eq!(
            flags,
            defaults.len() + unset,
            "every key in the file has a flag"
        );
    }

    #[test]
    fn list_flags_repeat_and_split_on_commas() {
        let parsed = flags(&[
            "--frontend",
            "tcp://127.0.0.1:1,ipc:///tmp/reqrep.sock",
            "--frontend",
            "inproc://clients",
        ]);
        assert_eq!(
            parsed.frontend.unwrap(),
            [
                "tcp://127.0.0.1:1",
                "ipc:///tmp/reqrep.sock",
                "inproc://clients"
            ]
        );
        assert_eq!(parsed.backend, None);
    }

    #[test]
    fn metrics_addr_takes_an_address_or_off() {
        let off = flags(&["--metrics-addr", "off"]);
        let config = BrokerConfig::resolve(off, None).unwrap();
        assert_eq!(config.metrics_addr, None);

        let file = PartialConfig::from_toml_str("metrics_addr = \"0.0.0.0:9200\"").unwrap();
        let config = BrokerConfig::resolve(PartialConfig::default(), Some(file)).unwrap();
        assert_eq!(config.metrics_addr, Some("0.0.0.0:9200".parse().unwrap()));

        let err = Flags::try_parse_from(["reqrep-broker", "--metrics-addr", "nowhere"]);
        assert!(err.unwrap_err().to_string().contains("expected ip:port"));
        assert!(PartialConfig::from_toml_str("metrics_addr = \"nowhere\"").is_err());
    }

    #[test]
    fn file_parse_errors_name_the_problem() {
        let err = PartialConfig::from_toml_str("max_queue = 5\nmax-queue = 6\n").unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, ConfigError::Parse { .. }));
        assert!(text.contains("unknown field `max-queue`"), "{text}");

        let err = PartialConfig::from_toml_str("liveness = \"three\"").unwrap_err();
        assert!(err.to_string().contains("liveness"), "{err}");

        let err = PartialConfig::from_toml_str("log_format = \"xml\"").unwrap_err();
        assert!(err.to_string().contains("xml"), "{err}");
    }

    #[test]
    fn file_errors_name_the_file() {
        let dir = std::env::temp_dir().join(format!("reqrep-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.toml");
        let err = BrokerConfig::load(PartialConfig::default(), Some(&missing)).unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }));
        assert!(err.to_string().contains("missing.toml"), "{err}");

        let bad = dir.join("bad.toml");
        std::fs::write(&bad, "heartbeat = 5\n").unwrap();
        let err = BrokerConfig::load(PartialConfig::default(), Some(&bad)).unwrap_err();
        assert!(matches!(err, ConfigError::Parse { .. }));
        assert!(err.to_string().contains("bad.toml"), "{err}");

        let good = dir.join("good.toml");
        std::fs::write(&good, "liveness = 5\n").unwrap();
        let config = BrokerConfig::load(flags(&["--max-queue", "3"]), Some(&good)).unwrap();
        assert_eq!((config.liveness, config.max_queue), (5, 3));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn every_invalid_setting_is_named_in_its_error() {
        let cases: &[(&str, &str)] = &[
            ("frontend = [\"localhost:5555\"]", "frontend"),
            ("frontend = []", "frontend"),
            ("frontend = [\"tcp://127.0.0.1\"]", "frontend"),
            ("frontend = [\"udp://127.0.0.1:1\"]", "frontend"),
            (
                "frontend = [\"tcp://127.0.0.1:1\", \"tcp://127.0.0.1:1\"]",
                "frontend",
            ),
            ("backend = [\"tcp://:5556\"]", "backend"),
            ("backend = [\"tcp://127.0.0.1:5555\"]", "backend"),
            ("heartbeat_ms = 9", "heartbeat_ms"),
            ("heartbeat_ms = 3600001", "heartbeat_ms"),
            ("liveness = 0", "liveness"),
            ("liveness = 101", "liveness"),
            ("default_timeout_ms = 0", "default_timeout_ms"),
            ("default_timeout_ms = 86400001", "default_timeout_ms"),
            ("max_queue = 0", "max_queue"),
            ("max_attempts = 0", "max_attempts"),
            ("reply_cache_ttl_ms = 86400001", "reply_cache_ttl_ms"),
            ("drain_timeout_ms = 3600001", "drain_timeout_ms"),
            ("max_payload_frames = 0", "max_payload_frames"),
            ("max_payload_bytes = 0", "max_payload_bytes"),
            ("max_services = 0", "max_services"),
        ];
        for (text, setting) in cases {
            let result = BrokerConfig::from_toml_str(text);
            let (named, reason) = invalid_setting(result);
            assert_eq!(named, *setting, "{text}: {reason}");
            let message = BrokerConfig::from_toml_str(text).unwrap_err().to_string();
            assert!(
                message.starts_with(&format!("invalid setting {setting}: ")),
                "{message}"
            );
        }
    }

    #[test]
    fn endpoint_errors_explain_the_expected_form() {
        let err = BrokerConfig::resolve(flags(&["--frontend", "localhost:5555"]), None)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "invalid setting frontend: endpoint \"localhost:5555\" has no transport: \
             expected tcp://host:port, ipc://path or inproc://name"
        );
    }

    #[test]
    fn wildcard_ports_may_repeat() {
        let flags = flags(&[
            "--frontend",
            "tcp://127.0.0.1:*",
            "--backend",
            "tcp://127.0.0.1:*",
        ]);
        BrokerConfig::resolve(flags, None).unwrap();
    }

    #[test]
    fn limits_at_the_edges_are_accepted() {
        let text = "heartbeat_ms = 10\nliveness = 1\ndefault_timeout_ms = 1\nmax_queue = 1\n\
                    max_attempts = 1\nreply_cache_size = 0\nreply_cache_ttl_ms = 0\n\
                    drain_timeout_ms = 0\nmax_payload_frames = 1\nmax_payload_bytes = 1\n\
                    max_services = 1\n";
        let config = BrokerConfig::from_toml_str(text).unwrap();
        assert_eq!(config.heartbeat, Duration::from_millis(10));
        assert_eq!(config.drain_timeout, Duration::ZERO);
    }

    #[test]
    fn print_config_round_trips() {
        let defaults = BrokerConfig::default();
        assert_eq!(
            BrokerConfig::from_toml_str(&defaults.to_toml()).unwrap(),
            defaults
        );

        let custom = BrokerConfig {
            frontend: vec![
                "tcp://*:5555".into(),
                "ipc:///run/reqrep \"front\".sock".into(),
            ],
            backend: vec!["tcp://0.0.0.0:5556".into()],
            metrics_addr: None,
            heartbeat: Duration::from_millis(250),
            liveness: 5,
            default_timeout: Duration::from_millis(1500),
            max_queue: 12,
            max_attempts: 2,
            reply_cache_size: 0,
            reply_cache_ttl: Duration::from_millis(1),
            drain_timeout: Duration::ZERO,
            max_payload_frames: 3,
            max_payload_bytes: 4096,
            max_services: 9,
            log_format: LogFormat::Json,
            curve_secret_key_file: Some(PathBuf::from("/etc/reqrep/broker \"a\".key")),
        };
        let text = custom.to_toml();
        assert!(text.contains("metrics_addr = \"off\""), "{text}");
        assert!(text.contains("curve_secret_key_file = "), "{text}");
        assert!(
            defaults
                .to_toml()
                .contains("# curve_secret_key_file: not set")
        );
        assert!(text.contains("log_format = \"json\""), "{text}");
        assert!(text.contains("heartbeat_ms = 250"), "{text}");
        assert_eq!(BrokerConfig::from_toml_str(&text).unwrap(), custom);
    }
}
