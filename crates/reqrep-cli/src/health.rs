//! `GET /healthz` for `reqrep worker --health-addr`: the liveness and
//! readiness probe of a worker (Kubernetes, load balancers). It answers
//! `200 ok` for as long as the worker runs, `404` for any other path.
//! Plain HTTP/1.1 on a thread of its own; one request per connection.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

/// How long a probe may take to send its request line.
const READ_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest request line read (longer ones are answered 400); the
/// headers after it may take 8 times that.
const MAX_LINE: u64 = 1024;

/// Binds `addr` and answers probes on a detached thread until the process
/// ends; returns the bound address (a port 0 resolved).
///
/// # Errors
/// When the address cannot be bound or the thread cannot start.
pub fn serve(addr: SocketAddr) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let bound = listener.local_addr()?;
    std::thread::Builder::new()
        .name("health".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                if let Err(err) = answer(stream) {
                    tracing::debug!(cause = %err, "health probe failed");
                }
            }
        })?;
    Ok(bound)
}

fn answer(stream: TcpStream) -> io::Result<()> {
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    let mut reader = BufReader::new(io::Read::take(&stream, MAX_LINE * 8));
    let mut line = String::new();
    let read = reader.read_line(&mut line)?;
    // Read the headers too (up to the empty line, bounded): closing with
    // unread input would reset the connection before the probe reads the
    // answer.
    let mut header = String::new();
    let http = line.trim_end().ends_with("HTTP/1.1") || line.trim_end().ends_with("HTTP/1.0");
    if http {
        loop {
            header.clear();
            match reader.read_line(&mut header) {
                Ok(0) | Err(_) => break,
                Ok(_) if header.trim_end().is_empty() => break,
                Ok(_) => {}
            }
        }
    }
    let (status, body) = match line.split_whitespace().collect::<Vec<_>>()[..] {
        _ if read == 0 || !line.ends_with('\n') => ("400 Bad Request", "bad request\n"),
        ["GET" | "HEAD", "/healthz", _] => ("200 OK", "ok\n"),
        [_, _, _] => ("404 Not Found", "not found\n"),
        _ => ("400 Bad Request", "bad request\n"),
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn get(addr: SocketAddr, request: &str) -> String {
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        stream.write_all(request.as_bytes()).expect("write");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read");
        response
    }

    #[test]
    fn healthz_is_ok_and_other_paths_are_not() {
        let addr = serve("127.0.0.1:0".parse().unwrap()).expect("bind");
        let ok = get(addr, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.ends_with("\r\n\r\nok\n"), "{ok}");
        let missing = get(addr, "GET /metrics HTTP/1.1\r\n\r\n");
        assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
        let garbage = get(addr, "\u{1}\u{2}\n");
        assert!(garbage.starts_with("HTTP/1.1 400"), "{garbage}");
    }
}
