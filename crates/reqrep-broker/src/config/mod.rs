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
//! unknown keys are errors. `BrokerConfig::to_toml` writes the same schema,
//! so `reqrep-broker --print-config > broker.toml` gives a file that loads
//! back to the same settings.
//!
//! Each setting is declared once, in the table in `settings.rs`; [`SETTINGS`]
//! lists them. The plain structs, defaults and checks are always there; the
//! clap arguments need the `cli` feature, the TOML file the `config-file`
//! feature.
//!
//! ```
//! use std::time::Duration;
//! use reqrep_broker::config::{BrokerConfig, PartialConfig};
//!
//! let file = PartialConfig { heartbeat_ms: Some(250), max_queue: Some(100), ..PartialConfig::default() };
//! let flags = PartialConfig { max_queue: Some(50), ..PartialConfig::default() };
//! let config = BrokerConfig::resolve(flags, Some(file)).unwrap();
//! assert_eq!(config.heartbeat, Duration::from_millis(250)); // from the file
//! assert_eq!(config.max_queue, 50); // the flag beats the file
//! assert_eq!(config.liveness, 3); // the default
//! ```

#[cfg(feature = "config-file")]
use std::path::PathBuf;

use reqrep_core::Limits;

mod check;
#[cfg(feature = "cli")]
mod cli;
mod declare;
#[cfg(feature = "config-file")]
mod file;
mod settings;
#[cfg(test)]
#[cfg(all(feature = "cli", feature = "config-file"))]
mod source_tests;
#[cfg(test)]
mod tests;
mod values;

pub use settings::{BrokerConfig, PartialConfig, SETTINGS};
pub use values::{LogFormat, MetricsAddr};

/// One setting's names, as users see them (see [`SETTINGS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Setting {
    /// The config file key, and the [`PartialConfig`] field: `heartbeat_ms`.
    pub key: &'static str,
    /// The long flag, without `--`: `heartbeat-ms`.
    pub flag: &'static str,
    /// The environment variable: `REQREP_HEARTBEAT_MS`.
    pub env: &'static str,
    /// The flag's help, without its default.
    pub help: &'static str,
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The config file could not be read.
    #[cfg(feature = "config-file")]
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The config file is not valid TOML, has an unknown key or a value of
    /// the wrong type.
    #[cfg(feature = "config-file")]
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

impl BrokerConfig {
    /// The defaults, but one frontend and one backend on ephemeral loopback
    /// ports (`tcp://127.0.0.1:*`, read back from
    /// [`Broker::frontend_endpoints`](crate::Broker::frontend_endpoints)
    /// once bound) and no metrics server: an in-process broker for a demo,
    /// a benchmark or a test, which must never take a fixed port.
    pub fn ephemeral_loopback() -> Self {
        const EPHEMERAL: &str = "tcp://127.0.0.1:*";
        Self {
            frontend: vec![EPHEMERAL.into()],
            backend: vec![EPHEMERAL.into()],
            metrics_addr: None,
            ..Self::default()
        }
    }

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
        let config = Self::over_defaults(merged);
        config.validate()?;
        Ok(config)
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
        self.check_each()
    }
}
