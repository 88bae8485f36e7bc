//! The test worker ([`run_worker`]) on its own
//! thread, stopped and joined on drop.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::thread::JoinHandle;

use crate::worker::{WorkerEvent, WorkerOptions, run_worker};

/// A worker running on its own thread until dropped.
pub struct WorkerThread {
    stop: Arc<AtomicBool>,
    join: Option<JoinHandle<()>>,
}

impl WorkerThread {
    /// Starts a worker connected to `backend`.
    pub fn start(ctx: &zmq::Context, backend: &str, options: WorkerOptions) -> Self {
        Self::start_with_events(ctx, backend, options).0
    }

    /// Starts `count` workers like `options`, named `w0`, `w1`, ...
    pub fn start_many(
        ctx: &zmq::Context,
        backend: &str,
        count: usize,
        options: &WorkerOptions,
    ) -> Vec<Self> {
        (0..count)
            .map(|i| {
                let options = WorkerOptions {
                    name: format!("w{i}"),
                    ..options.clone()
                };
                Self::start(ctx, backend, options)
            })
            .collect()
    }

    /// Starts a worker and returns what it reports as it runs.
    pub fn start_with_events(
        ctx: &zmq::Context,
        backend: &str,
        options: WorkerOptions,
    ) -> (Self, Receiver<WorkerEvent>) {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let (ctx, backend, flag) = (ctx.clone(), backend.to_owned(), Arc::clone(&stop));
        let join = std::thread::spawn(move || {
            run_worker(&ctx, &backend, &options, &flag, |event| {
                let _ = tx.send(event);
            });
        });
        (
            Self {
                stop,
                join: Some(join),
            },
            rx,
        )
    }
}

impl Drop for WorkerThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(join) = self.join.take() {
            let _ = join.join();
        }
    }
}
