//! The value types of settings that are not plain numbers, and how each
//! kind of setting turns what a source gives into what the broker runs
//! with (and back, for `--print-config`).

use std::fmt;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[cfg_attr(feature = "config-file", derive(serde::Deserialize))]
#[cfg_attr(feature = "config-file", serde(rename_all = "lowercase"))]
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

/// The `metrics_addr` setting: an address to serve HTTP on, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "config-file", derive(serde::Deserialize))]
#[cfg_attr(feature = "config-file", serde(try_from = "String"))]
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

/// A kind of setting: the type a source (flag, variable, file key) gives,
/// the type [`BrokerConfig`](super::BrokerConfig) holds, and the way between.
pub(crate) trait Kind {
    /// What the broker runs with.
    type Value;
    /// What a flag, a variable or a file key gives.
    type Raw;
    /// One command-line value (an element, for list settings).
    #[cfg(feature = "cli")]
    type Arg: Clone + Send + Sync + 'static;
    /// Whether the flag repeats and splits on commas.
    #[cfg(feature = "cli")]
    const LIST: bool = false;

    /// The setting as the broker runs with it.
    fn decode(raw: Self::Raw) -> Self::Value;
    /// The setting as `--help` shows its default; `None` when unset.
    #[cfg(feature = "cli")]
    fn show(value: &Self::Value) -> Option<String>;
    /// The command-line values of one setting, in order.
    #[cfg(feature = "cli")]
    fn from_args(args: Vec<Self::Arg>) -> Option<Self::Raw>;
    /// The setting as a config file value; `None` when unset.
    #[cfg(feature = "config-file")]
    fn to_toml(value: &Self::Value) -> Option<toml::Value>;
}

/// A number or name that every source gives as the broker runs with it.
pub(crate) struct Plain<T>(PhantomData<T>);

/// A duration, given in whole milliseconds.
pub(crate) struct Millis;

/// A list of endpoints.
pub(crate) struct Endpoints;

/// An HTTP address, or `off`.
pub(crate) struct Http;

/// An optional file.
pub(crate) struct OptionalPath;

/// Numbers and names that `toml` writes as themselves.
pub(crate) trait PlainValue: Clone + fmt::Display + Send + Sync + 'static {
    /// As a config file value.
    #[cfg(feature = "config-file")]
    fn to_toml(&self) -> toml::Value;
}

impl PlainValue for u32 {
    #[cfg(feature = "config-file")]
    fn to_toml(&self) -> toml::Value {
        toml::Value::Integer(i64::from(*self))
    }
}

impl PlainValue for usize {
    #[cfg(feature = "config-file")]
    fn to_toml(&self) -> toml::Value {
        toml::Value::Integer(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}

impl PlainValue for LogFormat {
    #[cfg(feature = "config-file")]
    fn to_toml(&self) -> toml::Value {
        toml::Value::String(self.to_string())
    }
}

impl<T: PlainValue> Kind for Plain<T> {
    type Value = T;
    type Raw = T;
    #[cfg(feature = "cli")]
    type Arg = T;

    fn decode(raw: T) -> T {
        raw
    }
    #[cfg(feature = "cli")]
    fn show(value: &T) -> Option<String> {
        Some(value.to_string())
    }
    #[cfg(feature = "cli")]
    fn from_args(mut args: Vec<T>) -> Option<T> {
        args.pop()
    }
    #[cfg(feature = "config-file")]
    fn to_toml(value: &T) -> Option<toml::Value> {
        Some(value.to_toml())
    }
}

impl Kind for Millis {
    type Value = Duration;
    type Raw = u64;
    #[cfg(feature = "cli")]
    type Arg = u64;

    fn decode(raw: u64) -> Duration {
        Duration::from_millis(raw)
    }
    #[cfg(feature = "cli")]
    fn show(value: &Duration) -> Option<String> {
        Some(value.as_millis().to_string())
    }
    #[cfg(feature = "cli")]
    fn from_args(mut args: Vec<u64>) -> Option<u64> {
        args.pop()
    }
    #[cfg(feature = "config-file")]
    fn to_toml(value: &Duration) -> Option<toml::Value> {
        Some(toml::Value::Integer(
            i64::try_from(value.as_millis()).unwrap_or(i64::MAX),
        ))
    }
}

impl Kind for Endpoints {
    type Value = Vec<String>;
    type Raw = Vec<String>;
    #[cfg(feature = "cli")]
    type Arg = String;
    #[cfg(feature = "cli")]
    const LIST: bool = true;

    fn decode(raw: Vec<String>) -> Vec<String> {
        raw
    }
    #[cfg(feature = "cli")]
    fn show(value: &Vec<String>) -> Option<String> {
        Some(value.join(","))
    }
    #[cfg(feature = "cli")]
    fn from_args(args: Vec<String>) -> Option<Vec<String>> {
        Some(args)
    }
    #[cfg(feature = "config-file")]
    fn to_toml(value: &Vec<String>) -> Option<toml::Value> {
        Some(toml::Value::Array(
            value.iter().cloned().map(toml::Value::String).collect(),
        ))
    }
}

impl Kind for Http {
    type Value = Option<SocketAddr>;
    type Raw = MetricsAddr;
    #[cfg(feature = "cli")]
    type Arg = MetricsAddr;

    fn decode(raw: MetricsAddr) -> Option<SocketAddr> {
        raw.addr()
    }
    #[cfg(feature = "cli")]
    fn show(value: &Option<SocketAddr>) -> Option<String> {
        Some(MetricsAddr::from(*value).to_string())
    }
    #[cfg(feature = "cli")]
    fn from_args(mut args: Vec<MetricsAddr>) -> Option<MetricsAddr> {
        args.pop()
    }
    #[cfg(feature = "config-file")]
    fn to_toml(value: &Option<SocketAddr>) -> Option<toml::Value> {
        Some(toml::Value::String(MetricsAddr::from(*value).to_string()))
    }
}

impl Kind for OptionalPath {
    type Value = Option<PathBuf>;
    type Raw = PathBuf;
    #[cfg(feature = "cli")]
    type Arg = PathBuf;

    fn decode(raw: PathBuf) -> Option<PathBuf> {
        Some(raw)
    }
    #[cfg(feature = "cli")]
    fn show(value: &Option<PathBuf>) -> Option<String> {
        value.as_ref().map(|p| p.display().to_string())
    }
    #[cfg(feature = "cli")]
    fn from_args(mut args: Vec<PathBuf>) -> Option<PathBuf> {
        args.pop()
    }
    #[cfg(feature = "config-file")]
    fn to_toml(value: &Option<PathBuf>) -> Option<toml::Value> {
        value
            .as_ref()
            .map(|p| toml::Value::String(p.display().to_string()))
    }
}
