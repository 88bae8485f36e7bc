//! Three broker processes and one worker serving all of them
//! (`Worker::connect_all`, 4 credits): a broker SIGKILLed under load sends
//! no DISCONNECT, yet within heartbeat × liveness its credits move to the
//! two left (4 requests at once through them); started again on the same
//! ports, it is served again within 5 s.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use reqrep_agents::{Client, ClientOptions, StopToken, Worker, WorkerOptions, services};
use reqrep_core::Frame;
use reqrep_tests::broker_process::BrokerProcess;
use reqrep_tests::process::{Proc, command};
use reqrep_tests::wait::recv_matching;
use reqrep_tests::{WAIT, wait_for_workers};

const BROKER: &str = env!("CARGO_BIN_EXE_reqrep-broker");
const HEARTBEAT: Duration = Duration::from_millis(100);
const LIVENESS: u32 = 3;
const CREDITS: u32 = 4;

/// Counts handlers running at once; each blocks until released.
#[derive(Clone)]
struct Gate {
    entered: Sender<()>,
    release: Arc<Mutex<Receiver<()>>>,
    running: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
}

impl Gate {
    fn handle(&self, payload: Vec<Frame>) -> Vec<Frame> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        let _ = self.entered.send(());
        let _ = self.release.lock().expect("lock").recv_timeout(WAIT);
        self.running.fetch_sub(1, Ordering::SeqCst);
        payload
    }
}

fn requests(frontend: &str, count: usize) -> Vec<thread::JoinHandle<bool>> {
    (0..count)
        .map(|i| {
            let (frontend, body) = (frontend.to_owned(), format!("{frontend} {i}"));
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

/// Waits until the brokers at `frontends` queue `queued` requests together,
/// checking that they never have more than the credits dispatched; returns
/// how many they have dispatched then.
fn settled(frontends: &[&str], queued: u32) -> u32 {
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
            in_flight <= CREDITS,
            "{in_flight} dispatched, {CREDITS} credits"
        );
        if waiting == queued {
            return in_flight;
        }
        assert!(Instant::now() < until, "{waiting} queued, wanted {queued}");
        thread::yield_now();
    }
}

fn all_ok(handles: Vec<thread::JoinHandle<bool>>) {
    for handle in handles {
        assert!(handle.join().expect("client thread"), "a request failed");
    }
}

#[test]
fn a_killed_broker_takes_no_credits_and_is_served_again_once_restarted() {
    let mut brokers: Vec<BrokerProcess> = (0..3)
        .map(|_| BrokerProcess::start(Path::new(BROKER), &[]))
        .collect();
    let backends: Vec<String> = brokers.iter().map(|b| b.backend.clone()).collect();
    let frontends: Vec<String> = brokers.iter().map(|b| b.frontend.clone()).collect();
    let frontends: Vec<&str> = frontends.iter().map(String::as_str).collect();

    let (entered, entries) = mpsc::channel();
    let (release, releases) = mpsc::channel();
    let gate = Gate {
        entered,
        release: Arc::new(Mutex::new(releases)),
        running: Arc::new(AtomicUsize::new(0)),
        most: Arc::new(AtomicUsize::new(0)),
    };
    let stop = StopToken::new();
    let options = WorkerOptions::default()
        .credits(CREDITS)
        .heartbeat(HEARTBEAT)
        .liveness(LIVENESS);
    let backend_refs: Vec<&str> = backends.iter().map(String::as_str).collect();
    let worker = Worker::connect_all(&backend_refs, "slow", options).expect("worker");
    let (g, s) = (gate.clone(), stop.clone());
    let join = thread::spawn(move || worker.run(move |_, payload| Ok(g.handle(payload)), &s));
    for frontend in &frontends {
        wait_for_workers(frontend, "slow", 1);
    }

    // Load on all three: 4 run, 8 wait at the brokers.
    let pending: Vec<_> = frontends.iter().flat_map(|f| requests(f, 4)).collect();
    wait_entries(&entries, 4);
    assert_eq!(settled(&frontends, 8), 4);
    // Broker 0 dies without a word while it holds requests of its own.
    let killed = Instant::now();
    brokers[0].proc.signal("KILL");
    let _ = brokers[0].proc.wait_exit(WAIT);
    for _ in 0..12 {
        release.send(()).expect("release");
    }
    // Broker 0's requests fail with it (their clients time out or see it
    // gone); the others are all served.
    let (lost, served): (Vec<_>, Vec<_>) =
        pending.into_iter().enumerate().partition(|(i, _)| *i < 4);
    all_ok(served.into_iter().map(|(_, h)| h).collect());
    drop(lost);
    let drained = entries.try_iter().count();
    assert!(drained <= 8, "{drained} more entered");
    // The releases meant for broker 0's queued requests, which died with it.
    let unused = gate.release.lock().expect("lock").try_iter().count();
    assert_eq!(drained + unused, 8);

    // Its credits move to the two left: 4 at once through them.
    let pending: Vec<_> = frontends[1..].iter().flat_map(|f| requests(f, 4)).collect();
    wait_entries(&entries, 4);
    assert_eq!(
        settled(&frontends[1..], 4),
        4,
        "all 4 credits at the two left"
    );
    let moved = killed.elapsed();
    // Generous: liveness judges it dead after heartbeat × liveness, the
    // credits move in a round trip after that.
    assert!(
        moved < HEARTBEAT * LIVENESS + Duration::from_secs(3),
        "capacity moved {moved:?} after the kill"
    );
    for _ in 0..8 {
        release.send(()).expect("release");
    }
    wait_entries(&entries, 4);
    all_ok(pending);

    // Broker 0 again on the same ports: served again within 5 s.
    let restarted = Instant::now();
    let mut again = command(BROKER);
    again.args(["--frontend", frontends[0], "--backend", &backends[0]]);
    again.args(["--metrics-addr", "127.0.0.1:0", "--log-format", "json"]);
    let mut again = Proc::spawn(again);
    again.wait_for_line("broker bound", WAIT);
    wait_for_workers(frontends[0], "slow", 1);
    for _ in 0..4 {
        release.send(()).expect("release");
    }
    all_ok(requests(frontends[0], 4));
    let back = restarted.elapsed();
    assert!(back < Duration::from_secs(5), "served again after {back:?}");
    assert!(gate.most.load(Ordering::SeqCst) <= CREDITS as usize);

    stop.stop();
    let stats = join.join().expect("worker thread").expect("worker");
    assert!(stats.sessions >= 4, "{stats:?}");
    drop(again);
}
