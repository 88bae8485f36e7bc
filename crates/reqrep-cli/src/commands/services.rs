//! `reqrep services`: the broker's services as a table.

use std::io::Write;

use clap::Args;
use reqrep_core::pb::ServiceList;

use reqrep_agents::ClientOptions;

use super::{CurveArgs, DEFAULT_FRONTEND, millis};
use crate::CliError;
use crate::table::{Align, Style, Table};

/// Arguments of `reqrep services`.
#[derive(Debug, Clone, Args)]
pub struct ServicesArgs {
    /// The broker's frontend endpoint.
    #[arg(long, value_name = "ENDPOINT", default_value = DEFAULT_FRONTEND)]
    pub broker: String,

    /// How long to wait for the broker's answer, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 2500,
          value_parser = clap::value_parser!(u64).range(1..=86_400_000))]
    pub timeout_ms: u64,

    /// CURVE security.
    #[command(flatten)]
    pub curve: CurveArgs,
}

/// The service list as a plain table: name, workers, free credits, queue
/// depth, in flight; one row per service, in the broker's (name) order.
pub fn table(list: &ServiceList) -> Table {
    let mut table = Table::new(
        Style::Plain,
        &[
            ("name", Align::Left),
            ("workers", Align::Right),
            ("free credits", Align::Right),
            ("queue depth", Align::Right),
            ("in flight", Align::Right),
        ],
    );
    for s in &list.services {
        table.row([
            s.name.clone(),
            s.workers.to_string(),
            s.free_credits.to_string(),
            s.queue_depth.to_string(),
            s.in_flight.to_string(),
        ]);
    }
    table
}

/// Asks the broker's discovery service and prints the table (the header
/// only, when the broker knows no services).
///
/// # Errors
/// [`CliError::Request`] when the broker does not answer in time;
/// [`CliError::KeyFile`] for a missing or malformed `--key-file`.
pub fn run(args: &ServicesArgs) -> Result<(), CliError> {
    let options = args.curve.apply(
        ClientOptions::default().timeout(millis(args.timeout_ms)),
        ClientOptions::curve,
    )?;
    let list = reqrep_agents::services_with(&args.broker, options)?;
    let mut stdout = std::io::stdout().lock();
    write!(stdout, "{}", table(&list))
        .and_then(|()| stdout.flush())
        .map_err(|e| CliError::io("write stdout", e))
}

#[cfg(test)]
mod tests {
    use reqrep_core::pb::ServiceInfo;

    use super::*;

    #[test]
    fn one_row_per_service() {
        let list = ServiceList {
            services: vec![
                ServiceInfo {
                    name: "billing".into(),
                    workers: 2,
                    free_credits: 31,
                    queue_depth: 0,
                    in_flight: 1,
                },
                ServiceInfo {
                    name: "echo".into(),
                    workers: 1,
                    free_credits: 16,
                    queue_depth: 120,
                    in_flight: 0,
                },
            ],
        };
        assert_eq!(
            table(&list).to_string(),
            "NAME     WORKERS  FREE CREDITS  QUEUE DEPTH  IN FLIGHT\n\
             billing        2            31            0          1\n\
             echo           1            16          120          0\n"
        );
    }

    #[test]
    fn no_services_leaves_the_header() {
        let text = table(&ServiceList::default()).to_string();
        assert_eq!(text.lines().count(), 1);
        assert!(text.starts_with("NAME"));
    }
}
