//! Echo workers for the brokered paths: blocking `Worker`s (handler
//! threads) or `AsyncWorker`s (tokio tasks), stopped and joined on drop.

use std::thread::JoinHandle;
use std::time::Duration;

use reqrep_agents::{AsyncWorker, StopToken, Worker, WorkerOptions};

use super::SERVICE;
use crate::{BenchError, WorkerKind};

/// An async worker's task.
type WorkerTask =
    tokio::task::JoinHandle<Result<reqrep_agents::WorkerStats, reqrep_agents::WorkerError>>;

/// The echo workers' options: `credits` each.
pub(crate) fn options(credits: usize) -> WorkerOptions {
    WorkerOptions::default().credits(u32::try_from(credits).unwrap_or(u32::MAX))
}

/// Echo workers of [`SERVICE`].
pub(crate) struct EchoWorkers {
    stop: StopToken,
    threads: Vec<JoinHandle<()>>,
    /// Async workers: their runtime and tasks.
    runtime: Option<(tokio::runtime::Runtime, Vec<WorkerTask>)>,
}

impl EchoWorkers {
    /// Starts `count` workers with `credits` each on the broker `backend`.
    ///
    /// # Errors
    /// An invalid endpoint or a thread that cannot start.
    pub(crate) fn start(
        backend: &str,
        count: usize,
        credits: usize,
        kind: WorkerKind,
    ) -> Result<Self, BenchError> {
        Self::start_with(&[backend], count, options(credits), kind)
    }

    /// Starts `count` workers with `options`, each serving every broker in
    /// `backends` (its credits shared among them).
    ///
    /// # Errors
    /// An invalid endpoint or a thread that cannot start.
    pub(crate) fn start_with(
        backends: &[&str],
        count: usize,
        options: WorkerOptions,
        kind: WorkerKind,
    ) -> Result<Self, BenchError> {
        let mut workers = Self {
            stop: StopToken::new(),
            threads: Vec::new(),
            runtime: None,
        };
        match kind {
            WorkerKind::Threads | WorkerKind::Inline => {
                let options = options.clone().inline(kind == WorkerKind::Inline);
                for i in 0..count {
                    let worker = match backends {
                        [one] => Worker::new(one, SERVICE, options.clone()),
                        all => Worker::connect_all(all, SERVICE, options.clone()),
                    }
                    .map_err(BenchError::reqrep)?;
                    let stop = workers.stop.clone();
                    let thread = std::thread::Builder::new()
                        .name(format!("bench-worker-{i}"))
                        .spawn(move || {
                            let _ = worker.run(|_, payload| Ok(payload), &stop);
                        })
                        .map_err(BenchError::thread)?;
                    workers.threads.push(thread);
                }
            }
            WorkerKind::Async => {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name("bench-async-worker")
                    .enable_all()
                    .build()
                    .map_err(BenchError::thread)?;
                let mut tasks = Vec::new();
                for _ in 0..count {
                    let worker = match backends {
                        [one] => AsyncWorker::new(one, SERVICE, options.clone()),
                        all => AsyncWorker::connect_all(all, SERVICE, options.clone()),
                    }
                    .map_err(BenchError::reqrep)?;
                    let stop = workers.stop.clone();
                    tasks.push(
                        runtime.spawn(worker.run(|_, payload| async move { Ok(payload) }, stop)),
                    );
                }
                workers.runtime = Some((runtime, tasks));
            }
        }
        Ok(workers)
    }
}

impl Drop for EchoWorkers {
    fn drop(&mut self) {
        self.stop.stop();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        if let Some((runtime, tasks)) = self.runtime.take() {
            runtime.block_on(async {
                for task in tasks {
                    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
                }
            });
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
    }
}
