//! `reqrep worker` on several brokers: `--broker A,B` and `--broker A
//! --broker B` both register with each, serve each, and SIGTERM leaves each.

mod common;

use common::worker;
use reqrep_agents::{Client, ClientOptions};
use reqrep_broker::BrokerThread;
use reqrep_tests::broker::broker;
use reqrep_tests::process::Proc;
use reqrep_tests::{WAIT, wait_for_worker_count, wait_for_workers};

fn served_by_each_then_gone(brokers: &[BrokerThread], mut worker: Proc) {
    for b in brokers {
        wait_for_workers(b.frontend(), "echo", 1);
        let mut client =
            Client::connect(b.frontend(), "echo", ClientOptions::default()).expect("client");
        for i in 0..10 {
            let body = format!("{} {i}", b.frontend());
            let reply = client.request(body.as_bytes()).expect("reply");
            assert_eq!(reply.body(), body.as_bytes());
        }
    }
    let code = worker.terminate(WAIT);
    assert_eq!(code, Some(0), "{}", worker.output());
    for b in brokers {
        wait_for_worker_count(b.frontend(), "echo", 0);
    }
}

#[test]
fn a_comma_list_of_brokers_is_served() {
    let brokers = [broker(|_| {}), broker(|_| {})];
    let list = format!("{},{}", brokers[0].backend(), brokers[1].backend());
    served_by_each_then_gone(&brokers, worker(&list, "echo", 4, &[]));
}

#[test]
fn repeated_brokers_are_served() {
    let brokers = [broker(|_| {}), broker(|_| {}), broker(|_| {})];
    let extra = [
        "--broker",
        brokers[1].backend(),
        "--broker",
        brokers[2].backend(),
    ];
    served_by_each_then_gone(&brokers, worker(brokers[0].backend(), "echo", 3, &extra));
}

#[test]
fn fewer_credits_than_brokers_is_a_usage_error() {
    let brokers = [broker(|_| {}), broker(|_| {})];
    let list = format!("{},{}", brokers[0].backend(), brokers[1].backend());
    let mut proc = worker(&list, "echo", 1, &[]);
    let code = proc.wait_exit(WAIT);
    let output = proc.output();
    assert_eq!(code, Some(2), "{output}");
    assert!(
        output.contains("at least one credit per broker"),
        "{output}"
    );
}

/// `GET path` on `addr`: the whole response.
fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(WAIT)).expect("timeout");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    stream.write_all(request.as_bytes()).expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    response
}

#[test]
fn the_health_endpoint_answers_while_the_worker_runs() {
    let b = broker(|_| {});
    let mut proc = worker(b.backend(), "echo", 2, &["--health-addr", "127.0.0.1:0"]);
    let line = proc.wait_for_line("health endpoint bound", WAIT);
    let addr = line
        .split("addr=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .trim_matches('"')
        .to_owned();
    wait_for_workers(b.frontend(), "echo", 1);
    let ok = http_get(&addr, "/healthz");
    assert!(ok.starts_with("HTTP/1.1 200 OK"), "{ok}");
    assert!(http_get(&addr, "/nope").starts_with("HTTP/1.1 404"));
    assert_eq!(proc.terminate(WAIT), Some(0), "{}", proc.output());
    assert!(
        std::net::TcpStream::connect(&addr).is_err(),
        "the endpoint ends with the worker"
    );
}
