//! Tracing setup: log lines to stderr, filtered by `RUST_LOG`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// The filter used when `RUST_LOG` is unset or invalid.
const DEFAULT_FILTER: &str = "info";

/// Installs the global tracing subscriber: events at the level `RUST_LOG`
/// asks for (default `info`; e.g. `RUST_LOG=reqrep_broker=debug`), written to
/// stderr as text (coloured when stderr is a terminal) or as one JSON
/// object per line.
///
/// Span fields such as `correlation_id` are part of every line: in text
/// after the span name, in JSON under `span` and `spans`.
///
/// Calling it again, or after another subscriber was installed, does
/// nothing. An invalid `RUST_LOG` falls back to `info` with a warning.
pub fn init_tracing(format: LogFormat) {
    init_tracing_with_default(format, DEFAULT_FILTER);
}

/// Like [`init_tracing`], with `default` as the filter when `RUST_LOG` is
/// unset or invalid (a terminal tool may prefer `warn`).
pub fn init_tracing_with_default(format: LogFormat, default: &str) {
    let (filter, invalid) = match std::env::var("RUST_LOG") {
        Err(_) => (EnvFilter::new(default), None),
        Ok(directives) => match EnvFilter::try_new(&directives) {
            Ok(filter) => (filter, None),
            Err(e) => (EnvFilter::new(default), Some((directives, e))),
        },
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    if installed.is_ok()
        && let Some((directives, e)) = invalid
    {
        tracing::warn!(rust_log = %directives, cause = %e, default, "invalid RUST_LOG; using the default filter");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installing_twice_is_harmless() {
        init_tracing(LogFormat::Json);
        init_tracing(LogFormat::Text);
        tracing::info!("still logging");
    }
}
