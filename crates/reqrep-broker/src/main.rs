//! `reqrep-broker`: the load-balancing broker as a process.
//!
//! Reads its settings (flags > `REQREP_*` environment > `--config` file >
//! defaults), sets up logging, and runs the broker until SIGINT or SIGTERM,
//! after which it drains and exits 0. Exit codes: 0 after a clean shutdown,
//! 1 when the broker fails (e.g. an address in use), 2 for invalid settings.
//! See `docs/OPERATIONS.md`.

use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use reqrep_broker::config::{BrokerConfig, PartialConfig};
use reqrep_broker::telemetry::init_tracing;
use tokio::signal::unix::{SignalKind, signal};
use tracing::{error, info};

/// Exit code for settings the broker cannot run with (as clap uses for
/// usage errors).
const EXIT_INVALID_CONFIG: u8 = 2;

/// A ROUTER-based load-balancing ZeroMQ broker for reqrep.
///
/// Every setting can be given as a flag, as a REQREP_* environment variable,
/// or in the TOML file named by --config (keys as printed by --print-config);
/// the first of these that sets it wins. The defaults bind 127.0.0.1 only.
#[derive(Debug, Parser)]
#[command(name = "reqrep-broker", version, about, long_about)]
struct Cli {
    /// TOML file with broker settings; flags and REQREP_* variables override it.
    #[arg(long, env = "REQREP_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    /// Print the resolved settings as TOML (a valid config file) and exit.
    #[arg(long)]
    print_config: bool,

    /// The broker settings.
    #[command(flatten)]
    settings: PartialConfig,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match BrokerConfig::load(cli.settings, cli.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("reqrep-broker: {e}");
            return ExitCode::from(EXIT_INVALID_CONFIG);
        }
    };
    if cli.print_config {
        #[allow(clippy::print_stdout)] // printing the settings is the point
        {
            print!("{}", config.to_toml());
        }
        return ExitCode::SUCCESS;
    }

    init_tracing(config.log_format);
    let (signals, shutdown) = match shutdown_on_signal() {
        Ok(pair) => pair,
        Err(e) => {
            error!(cause = %e, "cannot listen for SIGINT/SIGTERM");
            eprintln!("reqrep-broker: cannot listen for SIGINT/SIGTERM: {e}");
            return ExitCode::FAILURE;
        }
    };
    info!(
        version = env!("CARGO_PKG_VERSION"),
        "reqrep-broker starting"
    );
    let result = reqrep_broker::run(config, shutdown);
    signals.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!(cause = %e, "broker failed");
            eprintln!("reqrep-broker: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Starts listening for SIGINT and SIGTERM at once (so a signal arriving
/// while the broker starts is not lost) and returns the runtime that
/// listens, with a future that resolves on the first signal.
fn shutdown_on_signal() -> std::io::Result<(
    tokio::runtime::Runtime,
    impl Future<Output = ()> + Send + 'static,
)> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("reqrep-signals")
        .enable_all()
        .build()?;
    let (mut interrupt, mut terminate) = {
        let _entered = runtime.enter();
        (
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
        )
    };
    let (received, shutdown) = tokio::sync::oneshot::channel::<()>();
    runtime.spawn(async move {
        let name = tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        };
        info!(signal = name, "signal received; draining");
        let _ = received.send(());
    });
    // Resolves on the signal, or if the listening task is gone.
    Ok((runtime, async move {
        let _ = shutdown.await;
    }))
}
