//! An async client keeping many requests in flight on one connection; every
//! reply is matched to its request by correlation id.
//!
//! Run: `cargo run --release -p reqrep-examples --example async_pipelined`

#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use reqrep_agents::{AsyncClient, AsyncWorker, ClientOptions, StopToken, WorkerOptions};
use reqrep_broker::{Broker, BrokerConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let broker = Broker::bind(BrokerConfig::ephemeral_loopback())?.spawn()?;

    let stop = StopToken::new();
    let mut workers = Vec::new();
    for _ in 0..2 {
        let worker = AsyncWorker::new(
            broker.backend(),
            "upper",
            WorkerOptions::default().credits(32),
        )?;
        workers.push(tokio::spawn(worker.run(
            |_, payload| async move {
                Ok(payload
                    .iter()
                    .map(|f| reqrep_core::Frame::from(f.to_ascii_uppercase()))
                    .collect())
            },
            stop.clone(),
        )));
    }

    let client = AsyncClient::connect(
        broker.frontend(),
        "upper",
        ClientOptions::default().timeout(Duration::from_secs(10)),
    )?;
    let total = 10_000;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..total {
        let client = client.clone();
        tasks.spawn(async move {
            let body = format!("request {i}");
            let reply = client.request(body.clone().into_bytes()).await?;
            assert_eq!(reply.body(), body.to_uppercase().as_bytes());
            Ok::<_, reqrep_agents::RequestError>(())
        });
    }
    let mut ok = 0;
    while let Some(done) = tasks.join_next().await {
        done??;
        ok += 1;
    }
    let elapsed = started.elapsed();
    println!(
        "{ok} pipelined requests, every reply matched, in {:.2} s ({:.0} req/s)",
        elapsed.as_secs_f64(),
        f64::from(ok) / elapsed.as_secs_f64()
    );
    stop.stop();
    for w in workers {
        w.await??;
    }
    broker.stop()?;
    Ok(())
}
