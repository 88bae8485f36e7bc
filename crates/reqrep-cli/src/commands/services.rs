//! `reqrep services`: the broker's services as a table.

use std::collections::BTreeMap;
use std::io::Write;

use clap::Args;
use reqrep_core::pb::{ServiceInfo, ServiceList};

use reqrep_agents::ClientOptions;

use super::{CurveArgs, DEFAULT_FRONTEND, millis};
use crate::CliError;
use crate::table::{Align, Style, Table};

/// Arguments of `reqrep services`.
#[derive(Debug, Clone, Args)]
pub struct ServicesArgs {
    /// The broker's frontend endpoint. Repeat it (or give a comma list) to
    /// ask several brokers: each one's view is printed, then the merged one.
    #[arg(long, value_name = "ENDPOINT", default_value = DEFAULT_FRONTEND,
          value_delimiter = ',', required = false)]
    pub broker: Vec<String>,

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

/// The services of several brokers as one list: per service name, the
/// sum of workers, free credits, queue depth and in flight; sorted by name.
pub fn merge<'a>(lists: impl IntoIterator<Item = &'a ServiceList>) -> ServiceList {
    let mut merged: BTreeMap<&str, ServiceInfo> = BTreeMap::new();
    for s in lists.into_iter().flat_map(|list| &list.services) {
        let entry = merged.entry(&s.name).or_insert_with(|| ServiceInfo {
            name: s.name.clone(),
            ..ServiceInfo::default()
        });
        entry.workers = entry.workers.saturating_add(s.workers);
        entry.free_credits = entry.free_credits.saturating_add(s.free_credits);
        entry.queue_depth = entry.queue_depth.saturating_add(s.queue_depth);
        entry.in_flight = entry.in_flight.saturating_add(s.in_flight);
    }
    ServiceList {
        services: merged.into_values().collect(),
    }
}

/// What several brokers answered, as printed: a `broker ENDPOINT:` heading
/// and that broker's table (or why it did not answer), then `merged (N of
/// M brokers):` and the table of the brokers that answered.
pub fn report(views: &[(String, Result<ServiceList, String>)]) -> String {
    let mut text = String::new();
    for (endpoint, view) in views {
        text.push_str(&format!("broker {endpoint}:\n"));
        match view {
            Ok(list) => text.push_str(&table(list).to_string()),
            Err(err) => text.push_str(&format!("no answer: {err}\n")),
        }
        text.push('\n');
    }
    let answered: Vec<&ServiceList> = views.iter().filter_map(|(_, v)| v.as_ref().ok()).collect();
    text.push_str(&format!(
        "merged ({} of {} brokers):\n",
        answered.len(),
        views.len()
    ));
    text.push_str(&table(&merge(answered)).to_string());
    text
}

/// Asks the broker's discovery service and prints the table (the header
/// only, when the broker knows no services). With several brokers, asks
/// them all at once and prints [`report`].
///
/// # Errors
/// [`CliError::Request`] when a broker does not answer in time (with
/// several, after printing every view: the first failure);
/// [`CliError::KeyFile`] for a missing or malformed `--key-file`.
pub fn run(args: &ServicesArgs) -> Result<(), CliError> {
    let options = args.curve.apply(
        ClientOptions::default().timeout(millis(args.timeout_ms)),
        ClientOptions::curve,
    )?;
    let text = match args.broker.as_slice() {
        [one] => table(&reqrep_agents::services_with(one, options)?).to_string(),
        brokers => {
            let answers: Vec<_> = std::thread::scope(|scope| {
                let asks: Vec<_> = brokers
                    .iter()
                    .map(|b| {
                        let options = options.clone();
                        scope.spawn(move || reqrep_agents::services_with(b, options))
                    })
                    .collect();
                asks.into_iter()
                    .map(|ask| {
                        ask.join()
                            .unwrap_or(Err(reqrep_agents::RequestError::Closed))
                    })
                    .collect()
            });
            let views: Vec<_> = brokers
                .iter()
                .zip(&answers)
                .map(|(b, a)| {
                    (
                        b.clone(),
                        match a {
                            Ok(list) => Ok(list.clone()),
                            Err(err) => Err(err.to_string()),
                        },
                    )
                })
                .collect();
            let text = report(&views);
            let failed = answers.into_iter().find_map(Result::err);
            print(&text)?;
            return failed.map_or(Ok(()), |err| Err(err.into()));
        }
    };
    print(&text)
}

fn print(text: &str) -> Result<(), CliError> {
    let mut stdout = std::io::stdout().lock();
    write!(stdout, "{text}")
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

    fn info(name: &str, workers: u32, free: u32, queued: u32, in_flight: u32) -> ServiceInfo {
        ServiceInfo {
            name: name.into(),
            workers,
            free_credits: free,
            queue_depth: queued,
            in_flight,
        }
    }

    #[test]
    fn merged_view_sums_each_service_over_the_brokers() {
        let a = ServiceList {
            services: vec![info("billing", 2, 31, 0, 1), info("echo", 1, 16, 120, 0)],
        };
        let b = ServiceList {
            services: vec![info("echo", 3, 2, 5, 7), info("resize", 1, 1, 0, 0)],
        };
        assert_eq!(
            merge([&a, &b]).services,
            vec![
                info("billing", 2, 31, 0, 1),
                info("echo", 4, 18, 125, 7),
                info("resize", 1, 1, 0, 0),
            ]
        );
        assert_eq!(merge([]).services, vec![]);
    }

    #[test]
    fn report_shows_each_view_then_the_merged_one() {
        let a = ServiceList {
            services: vec![info("echo", 1, 16, 2, 0)],
        };
        let views = vec![
            ("tcp://a:1".to_owned(), Ok(a.clone())),
            ("tcp://b:2".to_owned(), Ok(a)),
            ("tcp://c:3".to_owned(), Err("no reply".to_owned())),
        ];
        let text = report(&views);
        assert_eq!(
            text,
            "broker tcp://a:1:\n\
             NAME  WORKERS  FREE CREDITS  QUEUE DEPTH  IN FLIGHT\n\
             echo        1            16            2          0\n\
             \n\
             broker tcp://b:2:\n\
             NAME  WORKERS  FREE CREDITS  QUEUE DEPTH  IN FLIGHT\n\
             echo        1            16            2          0\n\
             \n\
             broker tcp://c:3:\n\
             no answer: no reply\n\
             \n\
             merged (2 of 3 brokers):\n\
             NAME  WORKERS  FREE CREDITS  QUEUE DEPTH  IN FLIGHT\n\
             echo        2            32            4          0\n"
        );
    }

    #[test]
    fn no_services_leaves_the_header() {
        let text = table(&ServiceList::default()).to_string();
        assert_eq!(text.lines().count(), 1);
        assert!(text.starts_with("NAME"));
    }
}
