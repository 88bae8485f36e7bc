//! One worker serving several in-process brokers at once
//! (`Worker::connect_all`): every broker's requests are served, the brokers
//! together never have more running than the worker's credits, a broker
//! that goes away takes none of them, and one that comes back carries
//! traffic again.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use reqrep_agents::{
    Client, ClientOptions, StopToken, Worker, WorkerError, WorkerOptions, services,
};
use reqrep_broker::{Broker, BrokerThread};
use reqrep_tests::broker::{broker, ephemeral_config};
use reqrep_tests::wait::recv_matching;
use reqrep_tests::{WAIT, wait_for_workers};

const HEARTBEAT: Duration = Duration::from_millis(100);
const LIVENESS: u32 = 3;

/// A handler that counts how many run at once and blocks each until the
/// test releases it.
#[derive(Clone)]
struct Gate {
    entered: Sender<()>,
    release: Arc<Mutex<Receiver<()>>>,
    running: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
}

impl Gate {
    fn new() -> (Self, Receiver<()>, Sender<()>) {
        let (entered, entries) = mpsc::channel();
        let (release, releases) = mpsc::channel();
        let gate = Self {
            entered,
            release: Arc::new(Mutex::new(releases)),
            running: Arc::new(AtomicUsize::new(0)),
            most: Arc::new(AtomicUsize::new(0)),
        };
        (gate, entries, release)
    }

    fn handle(&self, payload: Vec<reqrep_core::Frame>) -> Vec<reqrep_core::Frame> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        let _ = self.entered.send(());
        let _ = self
            .release
            .lock()
            .expect("release lock")
            .recv_timeout(WAIT);
        self.running.fetch_sub(1, Ordering::SeqCst);
        payload
    }
}

fn start_worker(
    backends: &[&str],
    credits: u32,
    gate: &Gate,
    stop: &StopToken,
) -> thread::JoinHandle<()> {
    let options = WorkerOptions::default()
        .credits(credits)
        .heartbeat(HEARTBEAT)
        .liveness(LIVENESS);
    let worker = Worker::connect_all(backends, "slow", options).expect("worker");
    let (gate, stop) = (gate.clone(), stop.clone());
    thread::spawn(move || {
        worker
            .run(move |_, payload| Ok(gate.handle(payload)), &stop)
            .expect("worker runs");
    })
}

/// `count` requests to `frontend`, each from its own client thread; each
/// thread returns whether its echo came back.
fn requests(frontend: &str, count: usize, tag: &str) -> Vec<thread::JoinHandle<bool>> {
    (0..count)
        .map(|i| {
            let (frontend, body) = (frontend.to_owned(), format!("{tag} {i}"));
            thread::spawn(move || {
                let options = ClientOptions::default().timeout(Duration::from_secs(20));
                let mut client = Client::connect(&frontend, "slow", options).expect("client");
                client
                    .request(body.as_bytes())
                    .is_ok_and(|reply| reply.body() == body.as_bytes())
            })
        })
        .collect()
}

fn wait_entries(entries: &Receiver<()>, count: usize) {
    for n in 0..count {
        assert!(
            recv_matching(entries, WAIT, |_| true).is_some(),
            "only {n} of {count} requests reached the handler within {WAIT:?}"
        );
    }
}

/// Waits until the brokers at `frontends` together queue `queued` requests
/// of the service, checking at every look that they never have more than
/// `credits` dispatched to the worker; returns how many they have then.
fn settled(frontends: &[&str], queued: u32, credits: u32) -> u32 {
    let until = Instant::now() + WAIT;
    loop {
        let (mut in_flight, mut waiting) = (0, 0);
        for frontend in frontends {
            let list = services(frontend, WAIT).expect("discovery");
            for service in list.services.iter().filter(|s| s.name == "slow") {
                in_flight += service.in_flight;
                waiting += service.queue_depth;
            }
        }
        assert!(
            in_flight <= credits,
            "{in_flight} dispatched to a worker with {credits} credits"
        );
        if waiting == queued {
            return in_flight;
        }
        assert!(
            Instant::now() < until,
            "{waiting} queued after {WAIT:?}, wanted {queued}"
        );
        thread::yield_now();
    }
}

fn all_ok(handles: Vec<thread::JoinHandle<bool>>) {
    for handle in handles {
        assert!(handle.join().expect("client thread"), "a request failed");
    }
}

#[test]
fn requests_through_every_broker_are_served() {
    let brokers: Vec<BrokerThread> = (0..3).map(|_| broker(|_| {})).collect();
    let backends: Vec<&str> = brokers.iter().map(BrokerThread::backend).collect();
    let stop = StopToken::new();
    let worker = Worker::connect_all(&backends, "echo", WorkerOptions::default().credits(6))
        .expect("worker");
    let s = stop.clone();
    let join = thread::spawn(move || worker.run(|_, payload| Ok(payload), &s));
    for b in &brokers {
        wait_for_workers(b.frontend(), "echo", 1);
        let mut client =
            Client::connect(b.frontend(), "echo", ClientOptions::default()).expect("client");
        for i in 0..20 {
            let body = format!("{} {i}", b.frontend());
            let reply = client.request(body.as_bytes()).expect("reply");
            assert_eq!(reply.body(), body.as_bytes());
        }
    }
    stop.stop();
    let stats = join.join().expect("worker thread").expect("worker");
    assert_eq!(stats.replies, 60);
    assert_eq!(stats.sessions, 3, "one session per broker, none lost");
}

#[test]
fn fewer_credits_than_brokers_or_no_broker_is_refused() {
    let backends = [
        "tcp://127.0.0.1:1",
        "tcp://127.0.0.1:2",
        "tcp://127.0.0.1:3",
    ];
    let options = WorkerOptions::default().credits(2);
    assert!(matches!(
        Worker::connect_all(&backends, "echo", options.clone()),
        Err(WorkerError::TooFewCredits {
            credits: 2,
            brokers: 3
        })
    ));
    assert!(matches!(
        Worker::connect_all(&[], "echo", options),
        Err(WorkerError::NoBroker)
    ));
}

/// C=4 over 3 brokers with 4 requests queued at each: never more than 4
/// run at once. A broker stopped: the other two get the worker's 4 credits
/// within heartbeat × liveness. Started again on the same ports: it is
/// served again.
#[test]
fn the_credits_bound_all_brokers_and_move_when_one_goes_and_comes_back() {
    let mut brokers: Vec<Option<BrokerThread>> = (0..3).map(|_| Some(broker(|_| {}))).collect();
    let endpoints: Vec<(String, String)> = brokers
        .iter()
        .flatten()
        .map(|b| (b.frontend().to_owned(), b.backend().to_owned()))
        .collect();
    let backends: Vec<&str> = endpoints.iter().map(|(_, b)| b.as_str()).collect();
    let (gate, entries, release) = Gate::new();
    let stop = StopToken::new();
    let worker = start_worker(&backends, 4, &gate, &stop);
    for (frontend, _) in &endpoints {
        wait_for_workers(frontend, "slow", 1);
    }

    // 12 requests, 4 through each broker: 4 run, the rest wait at the
    // brokers, and each release lets exactly one more in.
    let pending: Vec<_> = endpoints
        .iter()
        .flat_map(|(frontend, _)| requests(frontend, 4, "first"))
        .collect();
    let frontends: Vec<&str> = endpoints.iter().map(|(f, _)| f.as_str()).collect();
    wait_entries(&entries, 4);
    assert_eq!(settled(&frontends, 8, 4), 4, "the 4 credits are in use");
    for _ in 0..12 {
        release.send(()).expect("release");
    }
    wait_entries(&entries, 8);
    all_ok(pending);
    assert_eq!(gate.most.load(Ordering::SeqCst), 4, "4 credits, 4 at once");

    // Broker 0 goes away (its workers get DISCONNECT). Its credits move to
    // the other two: 4 requests run at once through them.
    let gone = Instant::now();
    brokers[0]
        .take()
        .expect("broker 0")
        .stop()
        .expect("broker stops");
    let pending: Vec<_> = endpoints[1..]
        .iter()
        .flat_map(|(frontend, _)| requests(frontend, 4, "second"))
        .collect();
    wait_entries(&entries, 4);
    assert_eq!(gate.running.load(Ordering::SeqCst), 4);
    // Generous: the loss is seen within heartbeat × liveness (here at once,
    // by the DISCONNECT), the credits then move in a round trip.
    let moved = gone.elapsed();
    assert!(
        moved < HEARTBEAT * LIVENESS + Duration::from_secs(2),
        "capacity moved after {moved:?}"
    );
    assert_eq!(
        settled(&frontends[1..], 4, 4),
        4,
        "all 4 credits at the two left"
    );
    for _ in 0..8 {
        release.send(()).expect("release");
    }
    wait_entries(&entries, 4);
    all_ok(pending);
    assert_eq!(gate.most.load(Ordering::SeqCst), 4, "never more than 4");

    // Broker 0 again, on the same ports: the worker registers with it again
    // and it carries traffic; the bound still holds.
    let (frontend, backend) = endpoints[0].clone();
    let again = Broker::bind(reqrep_broker::BrokerConfig {
        frontend: vec![frontend.clone()],
        backend: vec![backend],
        ..ephemeral_config()
    })
    .expect("bind again")
    .spawn()
    .expect("spawn");
    wait_for_workers(&frontend, "slow", 1);
    let pending: Vec<_> = frontends
        .iter()
        .flat_map(|frontend| requests(frontend, 4, "third"))
        .collect();
    wait_entries(&entries, 4);
    assert_eq!(settled(&frontends, 8, 4), 4);
    for _ in 0..12 {
        release.send(()).expect("release");
    }
    wait_entries(&entries, 8);
    all_ok(pending);
    assert_eq!(gate.most.load(Ordering::SeqCst), 4);

    stop.stop();
    worker.join().expect("worker thread");
    drop(again);
}

/// 20 echoes through each broker in `brokers`, once a worker is
/// registered with each.
fn echoes_through_each(brokers: &[BrokerThread]) {
    for b in brokers {
        wait_for_workers(b.frontend(), "echo", 1);
        let mut client =
            Client::connect(b.frontend(), "echo", ClientOptions::default()).expect("client");
        for i in 0..20 {
            let body = format!("{} {i}", b.frontend());
            let reply = client.request(body.as_bytes()).expect("reply");
            assert_eq!(reply.body(), body.as_bytes());
        }
    }
}

#[test]
fn an_async_worker_serves_every_broker() {
    let brokers: Vec<BrokerThread> = (0..2).map(|_| broker(|_| {})).collect();
    let backends: Vec<&str> = brokers.iter().map(BrokerThread::backend).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let stop = StopToken::new();
    let worker = reqrep_agents::AsyncWorker::connect_all(
        &backends,
        "echo",
        WorkerOptions::default().credits(4),
    )
    .expect("worker");
    let run = runtime.spawn(worker.run(|_, payload| async move { Ok(payload) }, stop.clone()));
    echoes_through_each(&brokers);
    stop.stop();
    let stats = runtime.block_on(run).expect("worker task").expect("worker");
    assert_eq!(stats.replies, 40);
}

#[test]
fn an_inline_worker_serves_every_broker() {
    let brokers: Vec<BrokerThread> = (0..2).map(|_| broker(|_| {})).collect();
    let backends: Vec<&str> = brokers.iter().map(BrokerThread::backend).collect();
    let stop = StopToken::new();
    let worker = Worker::connect_all(
        &backends,
        "echo",
        WorkerOptions::default().credits(2).inline(true),
    )
    .expect("worker");
    let s = stop.clone();
    let join = thread::spawn(move || worker.run(|_, payload| Ok(payload), &s));
    echoes_through_each(&brokers);
    stop.stop();
    let stats = join.join().expect("worker thread").expect("worker");
    assert_eq!(stats.replies, 40);
}
