//! One module per subcommand: its arguments (clap derive) and its `run`.

pub mod demo;
pub mod request;
pub mod services;
pub mod worker;

use std::time::Duration;

/// The broker frontend clients connect to, as the broker binds it by default.
pub const DEFAULT_FRONTEND: &str = "tcp://127.0.0.1:5555";
/// The broker backend workers connect to, as the broker binds it by default.
pub const DEFAULT_BACKEND: &str = "tcp://127.0.0.1:5556";

/// Whole milliseconds from the command line as a [`Duration`].
fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}
