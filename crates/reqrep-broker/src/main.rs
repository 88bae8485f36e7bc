//! `reqrep-broker`: the load-balancing broker as a process.
//!
//! Reads its settings (flags > `REQREP_*` environment > `--config` file >
//! defaults), sets up logging, and runs the broker until SIGINT or SIGTERM,
//! after which it drains and exits 0. SIGHUP re-reads the access file.
//! Exit codes: 0 after a clean shutdown, 1 when the broker fails (e.g. an
//! address in use), 2 for invalid settings or an invalid access file. See
//! `docs/OPERATIONS.md`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use reqrep_broker::Broker;
use reqrep_broker::config::{BrokerConfig, PartialConfig};
use reqrep_broker::signal::{ReloadToken, SignalStop};
use reqrep_broker::telemetry::init_tracing;
use reqrep_core::StopToken;
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
    let stop = StopToken::new();
    let reload = ReloadToken::new();
    let signals = match SignalStop::install_with_reload(stop.clone(), reload.clone()) {
        Ok(signals) => signals,
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
    let result =
        Broker::bind(config).and_then(|broker| broker.stop_on(stop).reload_on(reload).run());
    drop(signals);
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) if e.is_configuration() => {
            error!(cause = %e, "invalid configuration");
            eprintln!("reqrep-broker: {e}");
            ExitCode::from(EXIT_INVALID_CONFIG)
        }
        Err(e) => {
            error!(cause = %e, "broker failed");
            eprintln!("reqrep-broker: {e}");
            ExitCode::FAILURE
        }
    }
}
