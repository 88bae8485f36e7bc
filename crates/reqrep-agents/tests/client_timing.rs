//! Client timing: per-attempt timeouts, retries, backoff and the total
//! budget of the async client (on tokio's paused clock) and the blocking
//! client, asserted through attempt counts and the `timeout_ms` each attempt
//! carried to the peer; and the async client's bounded queue.
//!
//! With paused time tokio jumps to the next timer as soon as the runtime is
//! idle, also while a reply is on its way through libzmq's I/O threads. So
//! the paused tests use a peer that never answers (nothing has to arrive in
//! time), and the tests with answers run on the real clock and assert counts
//! only; the timing of retries after an answer is covered by the shared
//! retry loop's fake-clock unit tests.

use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use reqrep_agents::{AsyncClient, Client, ClientOptions, RequestError};
use reqrep_core::socket::SocketOptions;
use reqrep_core::{
    Code, Command, CorrelationId, Frame, Limits, Message, Request, RetryPolicy, Status, decode,
};

const MS: Duration = Duration::from_millis(1);

/// A ROUTER on `tcp://127.0.0.1:*` that answers nothing by itself.
struct Peer {
    router: zmq::Socket,
    endpoint: String,
    _ctx: zmq::Context,
}

impl Peer {
    fn bind() -> Self {
        Self::bind_at("tcp://127.0.0.1:*")
    }

    fn bind_at(endpoint: &str) -> Self {
        let ctx = zmq::Context::new();
        let router = ctx.socket(zmq::ROUTER).expect("router");
        router.set_linger(0).expect("linger");
        router.bind(endpoint).expect("bind");
        let endpoint = router
            .get_last_endpoint()
            .expect("endpoint")
            .expect("utf-8");
        Self {
            router,
            endpoint,
            _ctx: ctx,
        }
    }

    /// The next request (waiting at most 10 s for it), with its route and
    /// payload.
    fn next(&self) -> (Request, Vec<Frame>, Vec<Frame>) {
        assert!(
            self.router.poll(zmq::POLLIN, 10_000).expect("poll") > 0,
            "a request in time"
        );
        let frames = reqrep_core::socket::recv_frames(&self.router, 0).expect("recv");
        let decoded = decode(frames, &Limits::default()).expect("a valid request");
        let Command::Request(request) = decoded.message.command else {
            panic!("not a request: {:?}", decoded.message.command);
        };
        (request, decoded.route, decoded.message.payload)
    }

    /// The next `n` requests, then a check that no other was sent.
    fn requests(&self, n: usize) -> Vec<Request> {
        let requests: Vec<_> = (0..n).map(|_| self.next().0).collect();
        assert_eq!(
            self.router.poll(zmq::POLLIN, 0).expect("poll"),
            0,
            "no request beyond the {n} expected"
        );
        requests
    }

    fn answer(&self, request: &Request, route: Vec<Frame>, status: Status) {
        let reply = if status.is_ok() {
            Message::reply_ok(request, vec![Frame::from(&b"done"[..])])
        } else {
            Message::reply_error(request, status)
        };
        reqrep_core::socket::send_frames(&self.router, reply.encode_routed(route), 0)
            .expect("send reply");
    }
}

/// `(timeout_ms, attempt)` of each request, and a check that they share one
/// correlation id.
fn headers(requests: &[Request]) -> Vec<(Duration, u32)> {
    let ids: Vec<CorrelationId> = requests.iter().map(|r| r.id).collect();
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "retries reuse the id");
    requests
        .iter()
        .map(|r| (r.timeout.expect("a timeout on the wire"), r.attempt))
        .collect()
}

/// 100 ms per attempt, backoffs 10, 20, 40 ... ms without jitter.
fn options(attempts: u32) -> ClientOptions {
    ClientOptions::default().timeout(100 * MS).retry(
        RetryPolicy::default()
            .max_attempts(attempts)
            .initial_backoff(10 * MS)
            .max_backoff(Duration::from_secs(1))
            .jitter(0.0),
    )
}

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime")
}

fn real_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Runs `request` on a paused runtime: its outcome, the virtual time it
/// took, and the `sent` requests `peer` received. The client `request`
/// hands back stays open until they have arrived: its attempts may all be
/// over, in virtual time, before libzmq has even connected.
fn on_paused_clock<F, T>(
    peer: &Peer,
    sent: usize,
    request: impl FnOnce() -> F,
) -> (T, Duration, Vec<Request>)
where
    F: Future<Output = (T, AsyncClient)>,
{
    paused_runtime().block_on(async {
        let started = tokio::time::Instant::now();
        let (outcome, client) = request().await;
        let took = started.elapsed();
        let requests = peer.requests(sent);
        drop(client);
        (outcome, took, requests)
    })
}

#[test]
fn async_timeouts_are_retried_after_their_backoff() {
    let peer = Peer::bind();
    let (outcome, took, sent) = on_paused_clock(&peer, 3, || async {
        let client = AsyncClient::connect(&peer.endpoint, "svc", options(3)).expect("client");
        (client.request(b"ping".to_vec()).await, client)
    });
    assert!(
        matches!(outcome, Err(RequestError::Timeout { attempts: 3, elapsed }) if elapsed == 330 * MS),
        "{outcome:?}"
    );
    assert_eq!(took, 330 * MS, "3 × 100 ms + 10 ms + 20 ms of backoff");
    assert_eq!(
        headers(&sent),
        vec![(100 * MS, 1), (100 * MS, 2), (100 * MS, 3)]
    );
}

#[test]
fn async_total_budget_clips_the_last_attempt() {
    let peer = Peer::bind();
    let (outcome, took, sent) = on_paused_clock(&peer, 3, || async {
        let options = options(5).total_timeout(250 * MS);
        let client = AsyncClient::connect(&peer.endpoint, "svc", options).expect("client");
        (client.request(b"ping".to_vec()).await, client)
    });
    assert!(
        matches!(
            outcome,
            Err(RequestError::BudgetExhausted { attempts: 3, budget, .. }) if budget == 250 * MS
        ),
        "{outcome:?}"
    );
    assert_eq!(took, 250 * MS, "never past the budget");
    // 100 + 10 + 100 + 20 ms leave 20 ms for the third attempt.
    assert_eq!(
        headers(&sent),
        vec![(100 * MS, 1), (100 * MS, 2), (20 * MS, 3)]
    );
}

#[test]
fn async_backoff_never_sleeps_past_the_budget() {
    let peer = Peer::bind();
    let (outcome, took, sent) = on_paused_clock(&peer, 2, || async {
        let options = options(5).total_timeout(215 * MS);
        let client = AsyncClient::connect(&peer.endpoint, "svc", options).expect("client");
        (client.request(b"ping".to_vec()).await, client)
    });
    assert!(
        matches!(
            outcome,
            Err(RequestError::BudgetExhausted { attempts: 2, .. })
        ),
        "{outcome:?}"
    );
    assert_eq!(took, 210 * MS, "the 20 ms backoff did not fit in 5 ms");
    assert_eq!(headers(&sent), vec![(100 * MS, 1), (100 * MS, 2)]);
}

#[test]
fn blocking_total_budget_bounds_a_request_to_a_silent_peer() {
    let peer = Peer::bind();
    let options = ClientOptions::default()
        .timeout(300 * MS)
        .total_timeout(700 * MS)
        .retry(
            RetryPolicy::default()
                .max_attempts(5)
                .initial_backoff(MS)
                .max_backoff(MS),
        );
    let mut client = Client::connect(&peer.endpoint, "svc", options).expect("client");
    let outcome = client.request(b"ping");
    assert!(
        matches!(
            outcome,
            Err(RequestError::BudgetExhausted { attempts: 3, budget, .. }) if budget == 700 * MS
        ),
        "{outcome:?}"
    );
    let sent = headers(&peer.requests(3));
    assert_eq!(&sent[..2], &[(300 * MS, 1), (300 * MS, 2)]);
    let (last, attempt) = sent[2];
    assert_eq!(attempt, 3);
    // Two full attempts spent 600 ms of the 700: the third got the rest.
    assert!(last > Duration::ZERO && last <= 100 * MS, "{last:?}");
}

#[test]
fn unavailable_replies_are_retried_by_both_clients() {
    /// Answers UNAVAILABLE twice, then OK, and hands the peer back.
    fn serve(peer: Peer) -> std::thread::JoinHandle<Peer> {
        std::thread::spawn(move || {
            for code in [Code::Unavailable, Code::Unavailable, Code::Ok] {
                let (request, route, _) = peer.next();
                peer.answer(&request, route, Status::new(code, ""));
            }
            peer
        })
    }
    let peer = Peer::bind();
    let endpoint = peer.endpoint.clone();
    let server = serve(peer);
    let mut client = Client::connect(&endpoint, "svc", options(3)).expect("client");
    let response = client.request(b"ping").expect("third attempt answered");
    assert_eq!((response.attempts, response.body()), (3, &b"done"[..]));
    let server = serve(server.join().expect("peer"));
    let response = real_runtime().block_on(async {
        let client = AsyncClient::connect(&endpoint, "svc", options(3)).expect("client");
        tokio::time::timeout(Duration::from_secs(30), client.request(b"ping".to_vec()))
            .await
            .expect("in time")
    });
    let response = response.expect("third attempt answered");
    assert_eq!((response.attempts, response.body()), (3, &b"done"[..]));
    server.join().expect("peer");
}

#[test]
fn async_unavailable_after_the_last_attempt_is_the_status() {
    let peer = Peer::bind();
    let endpoint = peer.endpoint.clone();
    let server = std::thread::spawn(move || {
        for _ in 0..2 {
            let (request, route, _) = peer.next();
            peer.answer(&request, route, Status::new(Code::Unavailable, "no worker"));
        }
        peer.requests(0);
    });
    let outcome = real_runtime().block_on(async {
        let client = AsyncClient::connect(&endpoint, "svc", options(2)).expect("client");
        tokio::time::timeout(Duration::from_secs(30), client.request(b"ping".to_vec()))
            .await
            .expect("in time")
    });
    assert!(
        matches!(&outcome, Err(RequestError::Status(s)) if s.code == Code::Unavailable),
        "{outcome:?}"
    );
    server.join().expect("peer");
}

/// Polls `future` once; whether it finished, and with what.
async fn poll_once<F: Future>(future: std::pin::Pin<&mut F>) -> Option<F::Output> {
    let mut future = future;
    std::future::poll_fn(|cx| {
        Poll::Ready(match future.as_mut().poll(cx) {
            Poll::Ready(out) => Some(out),
            Poll::Pending => None,
        })
    })
    .await
}

#[test]
fn a_full_queue_fails_try_request_and_makes_request_wait() {
    let peer = Peer::bind();
    let ((full, waited), took, sent) = on_paused_clock(&peer, 2, || async {
        let options = options(1).queue_capacity(1);
        let client = AsyncClient::connect(&peer.endpoint, "svc", options).expect("client");
        // The first takes the queue's one place, the second waits for it
        // (the I/O task has not run yet: nothing was awaited).
        let mut first = pin!(client.request(b"1".to_vec()));
        let mut second = pin!(client.request(b"2".to_vec()));
        assert!(poll_once(first.as_mut()).await.is_none());
        assert!(poll_once(second.as_mut()).await.is_none());
        let full = client.try_request(b"3".to_vec()).await;
        let waited = tokio::join!(first, second);
        ((full, waited), client.clone())
    });
    assert!(
        matches!(full, Err(RequestError::Full { capacity: 1 })),
        "{full:?}"
    );
    for outcome in [waited.0, waited.1] {
        assert!(
            matches!(outcome, Err(RequestError::Timeout { attempts: 1, .. })),
            "{outcome:?}"
        );
    }
    assert_eq!(took, 100 * MS, "both waited their one timeout");
    // The first two went out once the I/O task ran; the third, never
    // queued, was not sent.
    let bodies: Vec<_> = sent.iter().map(|r| r.attempt).collect();
    assert_eq!(bodies, vec![1, 1]);
}

#[test]
fn a_socket_that_takes_nothing_fills_the_queue_until_a_peer_appears() {
    // Nothing listens on this path yet: the DEALER queues what its
    // high-water mark lets it, then pushes back.
    let dir = std::env::temp_dir().join(format!("reqrep-client-timing-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let endpoint = format!("ipc://{}", dir.join("queue.sock").display());
    let options = ClientOptions::default()
        .timeout(Duration::from_secs(30))
        .retry(RetryPolicy::never())
        .queue_capacity(2)
        .socket_options(SocketOptions {
            send_hwm: 1,
            ..SocketOptions::default()
        });
    const WAITING: usize = 20;
    let runtime = real_runtime();
    let responses = runtime.block_on(async {
        let client = AsyncClient::connect(&endpoint, "svc", options).expect("client");
        let requests: Vec<_> = (0..WAITING)
            .map(|i| {
                let client = client.clone();
                tokio::spawn(async move { client.request(vec![i as u8]).await })
            })
            .collect();
        // The task stops taking requests once the socket pushes back, so
        // the queue fills up behind them and stays full.
        let full = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match poll_once(pin!(client.try_request(b"probe".to_vec())).as_mut()).await {
                    Some(Err(RequestError::Full { capacity: 2 })) => break,
                    Some(other) => panic!("{other:?}"),
                    None => tokio::task::yield_now().await,
                }
            }
        })
        .await;
        assert!(full.is_ok(), "the queue filled up");
        // A peer appears: every waiting request goes out and is answered.
        let peer = Peer::bind_at(&endpoint);
        let server = std::thread::spawn(move || {
            // Probes dropped after they were queued may be sent too.
            let mut answered = 0;
            while answered < WAITING {
                let (request, route, payload) = peer.next();
                if &payload[0][..] != b"probe" {
                    answered += 1;
                }
                peer.answer(&request, route, Status::ok());
            }
        });
        let mut responses = Vec::new();
        for request in requests {
            let outcome = tokio::time::timeout(Duration::from_secs(30), request)
                .await
                .expect("in time")
                .expect("task");
            responses.push(outcome);
        }
        server.join().expect("peer");
        responses
    });
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(responses.len(), WAITING);
    for response in responses {
        let response = response.expect("answered once the peer appeared");
        assert_eq!(response.body(), b"done");
    }
}

#[test]
fn a_reply_after_its_caller_gave_up_counts_as_stale() {
    let peer = Peer::bind();
    let endpoint = peer.endpoint.clone();
    // The late reply goes out before the answer to the second request, on
    // the same connection, so it has been handled when that one arrives.
    let server = std::thread::spawn(move || {
        let (late, late_route, _) = peer.next();
        let (next, next_route, _) = peer.next();
        peer.answer(&late, late_route, Status::ok());
        peer.answer(&next, next_route, Status::ok());
    });
    real_runtime().block_on(async {
        let options = ClientOptions::default()
            .timeout(500 * MS)
            .retry(RetryPolicy::never());
        let client = AsyncClient::connect(&endpoint, "svc", options).expect("client");
        let outcome = client.request(b"abandoned".to_vec()).await;
        assert!(
            matches!(outcome, Err(RequestError::Timeout { attempts: 1, .. })),
            "{outcome:?}"
        );
        let response = client.request(b"answered".to_vec()).await;
        assert!(response.is_ok(), "{response:?}");
        assert_eq!(client.stale_replies(), 1);
    });
    server.join().expect("peer");
}
