//! A broker, 4 echo workers and a client, in one process on ephemeral ports.
//!
//! Run: `cargo run -p reqrep-examples --example brokered_echo`

#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;
use std::time::Duration;

use reqrep_agents::{Client, ClientOptions, StopToken, Worker, WorkerOptions};
use reqrep_broker::{Broker, BrokerConfig};
use reqrep_core::Frame;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let broker = Broker::bind(BrokerConfig::ephemeral_loopback())?.spawn()?;
    println!(
        "broker: clients -> {}, workers -> {}",
        broker.frontend(),
        broker.backend()
    );

    let stop = StopToken::new();
    let workers: Vec<_> = (0..4)
        .map(|n| {
            let worker = Worker::new(broker.backend(), "echo", WorkerOptions::default())?;
            let stop = stop.clone();
            Ok(std::thread::spawn(move || {
                // Each worker tags its reply so the load spread is visible.
                worker.run(
                    move |_, mut payload| {
                        std::thread::sleep(Duration::from_millis(2)); // pretend to work
                        payload.push(Frame::from(format!("worker-{n}").as_bytes()));
                        Ok(payload)
                    },
                    &stop,
                )
            }))
        })
        .collect::<Result<_, reqrep_agents::WorkerError>>()?;

    let mut client = Client::connect(
        broker.frontend(),
        "echo",
        ClientOptions::default().timeout(Duration::from_secs(5)),
    )?;
    let mut by_worker = BTreeMap::new();
    for i in 0..200 {
        let reply = client.request(format!("hello {i}").as_bytes())?;
        let who = String::from_utf8_lossy(&reply.payload[1]).into_owned();
        *by_worker.entry(who).or_insert(0) += 1;
    }
    println!("200 requests answered; replies per worker: {by_worker:?}");

    stop.stop();
    for w in workers {
        let _ = w.join();
    }
    let stats = broker.stop()?;
    println!("broker forwarded {} replies", stats.replies);
    Ok(())
}
