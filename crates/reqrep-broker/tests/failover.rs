//! Scale-out under failure: 3 `reqrep-broker` processes, 4 worker
//! processes each serving all three (`Worker::connect_all`), and a client
//! load spread over all three (`AsyncClient::connect_all`). One broker is
//! SIGKILLed under load, then started again on the same ports.
//!
//! - Idempotent requests: at least 99 % succeed, every request ends with
//!   one outcome within its budget, and the restarted broker carries
//!   traffic again within 5 s.
//! - Non-idempotent requests: none is executed twice (the workers log every
//!   execution), and every failed one ends `UNAVAILABLE`.
//!
//! The workers are this program run again (`harness = false`): with
//! `REQREP_FAILOVER_WORKER` set, `main` runs one worker and nothing else.

#![allow(
    clippy::print_stdout,
    reason = "a test program (harness = false): it reports what it measured"
)]

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqrep_agents::{AsyncClient, Client, ClientOptions, StopToken, Worker, WorkerOptions};
use reqrep_core::{Code, RetryPolicy};
use reqrep_tests::broker_process::BrokerProcess;
use reqrep_tests::process::{Proc, command};
use reqrep_tests::{WAIT, wait_for_workers};

const BROKER: &str = env!("CARGO_BIN_EXE_reqrep-broker");
/// Set in a worker process: the backends (comma list) it serves.
const WORKER_ENV: &str = "REQREP_FAILOVER_WORKER";
/// Set in a worker process: the file it logs every execution to.
const LOG_ENV: &str = "REQREP_FAILOVER_LOG";
const SERVICE: &str = "echo";
const WORKERS: usize = 4;
const CREDITS: u32 = 4;
const HEARTBEAT: Duration = Duration::from_millis(100);
const LIVENESS: u32 = 3;
/// Requests per phase, and how many are in flight at once.
const REQUESTS: usize = 1_500;
const CONCURRENCY: usize = 16;
/// Requests answered before the broker is killed.
const KILL_AFTER: usize = 300;
/// The whole test must end within this.
const TEST_TIMEOUT: Duration = Duration::from_secs(120);

fn main() {
    if let Ok(backends) = std::env::var(WORKER_ENV) {
        run_worker(
            &backends,
            Path::new(&std::env::var(LOG_ENV).expect("log file")),
        );
        return;
    }
    let began = Instant::now();
    let dir = std::env::temp_dir().join(format!("reqrep-failover-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("the log directory");
    let outcome = std::panic::catch_unwind(|| scenario(&dir));
    let _ = fs::remove_dir_all(&dir);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    assert!(began.elapsed() < TEST_TIMEOUT, "took {:?}", began.elapsed());
    println!("failover: all checks passed in {:?}", began.elapsed());
}

/// A worker process: echoes, and logs each execution's payload first.
fn run_worker(backends: &str, log: &Path) {
    let endpoints: Vec<&str> = backends.split(',').collect();
    let options = WorkerOptions::default()
        .credits(CREDITS)
        .heartbeat(HEARTBEAT)
        .liveness(LIVENESS);
    let worker = Worker::connect_all(&endpoints, SERVICE, options).expect("worker");
    let file = Mutex::new(
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("the execution log"),
    );
    let stop = StopToken::new();
    // The test ends a worker with SIGTERM.
    let _signals = reqrep_broker::signal::SignalStop::install(stop.clone()).expect("signals");
    let result = worker.run(
        move |_, payload| {
            let mut line = payload.first().map(|f| f.to_vec()).unwrap_or_default();
            line.push(b'\n');
            let _ = file.lock().expect("log lock").write_all(&line);
            Ok(payload)
        },
        &stop,
    );
    if let Err(err) = result {
        eprintln!("failover worker: {err}");
        std::process::exit(1);
    }
}

struct Cluster {
    brokers: Vec<Option<BrokerProcess>>,
    restarted: Option<Proc>,
    frontends: Vec<String>,
    backends: Vec<String>,
    workers: Vec<Proc>,
    logs: Vec<PathBuf>,
}

impl Cluster {
    fn start(dir: &Path) -> Self {
        let brokers: Vec<BrokerProcess> = (0..3)
            .map(|_| BrokerProcess::start(Path::new(BROKER), &[]))
            .collect();
        let frontends: Vec<String> = brokers.iter().map(|b| b.frontend.clone()).collect();
        let backends: Vec<String> = brokers.iter().map(|b| b.backend.clone()).collect();
        let me = std::env::current_exe().expect("this program");
        let logs: Vec<PathBuf> = (0..WORKERS)
            .map(|i| dir.join(format!("worker-{i}")))
            .collect();
        let workers = logs
            .iter()
            .map(|log| {
                let mut worker = command(&me);
                worker.env(WORKER_ENV, backends.join(",")).env(LOG_ENV, log);
                Proc::spawn(worker)
            })
            .collect();
        for frontend in &frontends {
            wait_for_workers(frontend, SERVICE, WORKERS as u32);
        }
        Self {
            brokers: brokers.into_iter().map(Some).collect(),
            restarted: None,
            frontends,
            backends,
            workers,
            logs,
        }
    }

    /// SIGKILLs broker `index`.
    fn kill(&mut self, index: usize) {
        let mut broker = self.brokers[index].take().expect("a running broker");
        broker.proc.signal("KILL");
        // No exit code: it died of the signal (a hang would panic here).
        assert_eq!(
            broker.proc.wait_exit(WAIT),
            None,
            "the broker died of SIGKILL"
        );
    }

    /// Starts broker `index` again on its ports; returns how long until a
    /// request through it alone was served.
    fn restart(&mut self, index: usize) -> Duration {
        let began = Instant::now();
        let mut again = command(BROKER);
        again.args(["--frontend", &self.frontends[index]]);
        again.args(["--backend", &self.backends[index]]);
        again.args(["--metrics-addr", "off", "--log-format", "json"]);
        let mut again = Proc::spawn(again);
        again.wait_for_line("broker bound", WAIT);
        self.restarted = Some(again);
        let options = ClientOptions::default().timeout(Duration::from_millis(500));
        let mut client = Client::connect(&self.frontends[index], SERVICE, options).expect("client");
        loop {
            if client.request(b"through the restarted broker").is_ok() {
                return began.elapsed();
            }
            assert!(began.elapsed() < WAIT, "the restarted broker never served");
        }
    }

    /// How many times each payload was executed, over all workers.
    fn executions(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for log in &self.logs {
            for line in fs::read_to_string(log).unwrap_or_default().lines() {
                *counts.entry(line.to_owned()).or_insert(0) += 1;
            }
        }
        counts
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for worker in &mut self.workers {
            let _ = worker.terminate(WAIT);
        }
    }
}

/// One request's end.
struct Outcome {
    payload: String,
    result: Result<(), Code>,
    took: Duration,
}

/// Sends `REQUESTS` requests (`CONCURRENCY` at once) with payloads
/// `<phase>-<n>` through every broker, and returns how each ended.
fn load(frontends: &[String], phase: &str, idempotent: bool, budget: Duration) -> Vec<Outcome> {
    let options = ClientOptions::default()
        .timeout(Duration::from_secs(2))
        .total_timeout(budget)
        .retry(RetryPolicy::default().max_attempts(3))
        .idempotent(idempotent)
        .heartbeat(HEARTBEAT)
        .liveness(LIVENESS);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let client = AsyncClient::connect_all(frontends, SERVICE, options).expect("client");
        let next = Arc::new(AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..CONCURRENCY {
            let (client, next) = (client.clone(), Arc::clone(&next));
            let phase = phase.to_owned();
            tasks.spawn(async move {
                let mut outcomes = Vec::new();
                loop {
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    if n >= REQUESTS {
                        return outcomes;
                    }
                    let payload = format!("{phase}-{n}");
                    let sent = Instant::now();
                    let result = match client.request(payload.clone().into_bytes()).await {
                        Ok(reply) if reply.body() == payload.as_bytes() => Ok(()),
                        Ok(_) => Err(Code::Internal),
                        Err(err) => Err(err.code()),
                    };
                    outcomes.push(Outcome {
                        payload,
                        result,
                        took: sent.elapsed(),
                    });
                }
            });
        }
        let mut all = Vec::new();
        while let Some(done) = tasks.join_next().await {
            all.extend(done.expect("a load task"));
        }
        all
    })
}

/// Runs `load` on its own thread and kills broker `victim` once the
/// workers have executed `KILL_AFTER` of its requests.
fn load_with_kill(
    cluster: &mut Cluster,
    phase: &'static str,
    idempotent: bool,
    budget: Duration,
    victim: usize,
) -> Vec<Outcome> {
    let frontends = cluster.frontends.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    let runner = std::thread::spawn(move || {
        let outcomes = load(&frontends, phase, idempotent, budget);
        let _ = tx.send(());
        outcomes
    });
    // Kill once enough requests ended: watch the workers' logs grow.
    let until = Instant::now() + WAIT;
    while cluster
        .executions()
        .keys()
        .filter(|p| p.starts_with(phase))
        .count()
        < KILL_AFTER
    {
        assert!(Instant::now() < until, "the load did not get going");
        std::thread::yield_now();
    }
    cluster.kill(victim);
    assert!(
        rx.recv_timeout(TEST_TIMEOUT).is_ok(),
        "the load did not end"
    );
    runner.join().expect("the load thread")
}

fn scenario(dir: &Path) {
    let mut cluster = Cluster::start(dir);
    let budget = Duration::from_secs(8);

    // Idempotent requests through a broker's SIGKILL.
    let outcomes = load_with_kill(&mut cluster, "idem", true, budget, 0);
    assert_eq!(outcomes.len(), REQUESTS, "each request ended exactly once");
    let ok = outcomes.iter().filter(|o| o.result.is_ok()).count();
    let failed: Vec<_> = outcomes.iter().filter_map(|o| o.result.err()).collect();
    assert!(
        ok * 100 >= REQUESTS * 99,
        "{ok} of {REQUESTS} succeeded; failures: {failed:?}"
    );
    // Within the budget (and the scheduling of a loaded 2-core machine).
    let slowest = outcomes.iter().map(|o| o.took).max().unwrap_or_default();
    assert!(
        slowest <= budget + Duration::from_secs(2),
        "slowest {slowest:?}"
    );
    println!(
        "failover: idempotent: {ok} of {REQUESTS} succeeded, failures {failed:?}, slowest {slowest:?}"
    );
    let back = cluster.restart(0);
    println!("failover: the restarted broker served again after {back:?}");
    assert!(back < Duration::from_secs(5), "served again after {back:?}");
    for frontend in &cluster.frontends {
        wait_for_workers(frontend, SERVICE, WORKERS as u32);
    }

    // Non-idempotent requests through another broker's SIGKILL.
    let outcomes = load_with_kill(&mut cluster, "once", false, budget, 1);
    assert_eq!(outcomes.len(), REQUESTS, "each request ended exactly once");
    let executions = cluster.executions();
    let twice: Vec<_> = executions
        .iter()
        .filter(|(p, n)| p.starts_with("once-") && **n > 1)
        .collect();
    assert!(twice.is_empty(), "executed twice: {twice:?}");
    let wrong: Vec<_> = outcomes
        .iter()
        .filter(|o| o.result.is_err_and(|code| code != Code::Unavailable))
        .map(|o| (&o.payload, o.result))
        .collect();
    assert!(
        wrong.is_empty(),
        "failed with another code than UNAVAILABLE: {wrong:?}"
    );
    let ok = outcomes.iter().filter(|o| o.result.is_ok()).count();
    println!(
        "failover: non-idempotent: {ok} of {REQUESTS} succeeded, {} ended UNAVAILABLE, none ran twice",
        REQUESTS - ok
    );
    assert!(ok * 100 >= REQUESTS * 95, "{ok} of {REQUESTS} succeeded");
    for outcome in outcomes.iter().filter(|o| o.result.is_ok()) {
        assert_eq!(
            executions.get(&outcome.payload),
            Some(&1),
            "{} succeeded, so it ran once",
            outcome.payload
        );
    }
}
