//! The thin socket helper layer shared by the broker and the agents:
//! endpoint validation with clear errors, the socket options reqrep relies
//! on, multipart send/receive without copying, and CURVE detection.
//!
//! Nothing here knows the protocol; the protocol knows nothing of sockets.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::Frame;
use crate::curve::Curve;

/// A ZeroMQ transport reqrep accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// `tcp://host:port` (port may be `*` when binding).
    Tcp,
    /// `ipc:///path/to/socket`.
    Ipc,
    /// `inproc://name`, within one process.
    Inproc,
}

/// A validated endpoint such as `tcp://127.0.0.1:5555`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    transport: Transport,
    text: String,
}

/// Why an endpoint string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// No `transport://` prefix.
    #[error(
        "endpoint {0:?} has no transport: expected tcp://host:port, ipc://path or inproc://name"
    )]
    MissingTransport(String),
    /// A transport reqrep does not support.
    #[error(
        "endpoint {endpoint:?} uses unsupported transport {transport:?} (use tcp, ipc or inproc)"
    )]
    UnsupportedTransport {
        /// The whole endpoint.
        endpoint: String,
        /// The transport part.
        transport: String,
    },
    /// Nothing after `transport://`.
    #[error("endpoint {0:?} has no address")]
    MissingAddress(String),
    /// A TCP endpoint without `:port`, or with a port that is not a number
    /// in 1..=65535 or `*`.
    #[error("endpoint {0:?} needs a port: tcp://host:port with port 1-65535 or *")]
    InvalidPort(String),
    /// A TCP endpoint with an empty host.
    #[error("endpoint {0:?} has no host: use tcp://127.0.0.1:port, tcp://*:port or a host name")]
    MissingHost(String),
}

impl Endpoint {
    /// Parses and validates `text`.
    ///
    /// # Errors
    /// An [`EndpointError`] saying what is wrong and what is expected.
    pub fn parse(text: &str) -> Result<Self, EndpointError> {
        let text = text.trim();
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| EndpointError::MissingTransport(text.into()))?;
        let transport = match scheme {
            "tcp" => Transport::Tcp,
            "ipc" => Transport::Ipc,
            "inproc" => Transport::Inproc,
            other => {
                return Err(EndpointError::UnsupportedTransport {
                    endpoint: text.into(),
                    transport: other.into(),
                });
            }
        };
        if rest.is_empty() {
            return Err(EndpointError::MissingAddress(text.into()));
        }
        if transport == Transport::Tcp {
            let (host, port) = rest
                .rsplit_once(':')
                .ok_or_else(|| EndpointError::InvalidPort(text.into()))?;
            if host.is_empty() {
                return Err(EndpointError::MissingHost(text.into()));
            }
            let port_ok = port == "*" || port.parse::<u16>().is_ok_and(|p| p > 0);
            if !port_ok {
                return Err(EndpointError::InvalidPort(text.into()));
            }
        }
        Ok(Self {
            transport,
            text: text.into(),
        })
    }

    /// The transport.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// The endpoint text, as given to libzmq.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl FromStr for Endpoint {
    type Err = EndpointError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A socket operation that failed, naming what was being done.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SocketError {
    /// An invalid endpoint.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// Binding failed (address in use, permission, unknown interface).
    #[error("cannot bind {endpoint}: {source}")]
    Bind {
        /// The endpoint.
        endpoint: String,
        /// libzmq's error.
        source: zmq::Error,
    },
    /// Connecting failed.
    #[error("cannot connect to {endpoint}: {source}")]
    Connect {
        /// The endpoint.
        endpoint: String,
        /// libzmq's error.
        source: zmq::Error,
    },
    /// Setting a socket option failed.
    #[error("cannot set socket option {option}: {source}")]
    Option {
        /// The option's name.
        option: &'static str,
        /// libzmq's error.
        source: zmq::Error,
    },
    /// CURVE security was requested but the linked libzmq lacks it.
    #[error(
        "CURVE security requested but the linked libzmq has no CURVE support; \
         build with --config build/system-libzmq.toml against a libsodium-enabled libzmq"
    )]
    CurveUnsupported,
    /// Any other libzmq failure.
    #[error("socket error: {0}")]
    Zmq(#[from] zmq::Error),
}

/// The socket options reqrep relies on, with documented defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketOptions {
    /// How long `close` may wait to flush unsent messages. Default: 0 (never
    /// block on close; reqrep answers every request explicitly instead).
    pub linger: Duration,
    /// Outgoing high-water mark in messages. Default: 10 000.
    pub send_hwm: i32,
    /// Incoming high-water mark in messages. Default: 10 000.
    pub recv_hwm: i32,
    /// Largest inbound frame libzmq accepts; larger ones drop the connection.
    /// Default: 16 MiB + 64 KiB (the default payload plus header limits).
    pub max_msg_size: Option<i64>,
    /// First reconnect delay. Default: 100 ms.
    pub reconnect_ivl: Duration,
    /// Reconnect delay cap (exponential backoff in libzmq). Default: 5 s.
    pub reconnect_ivl_max: Duration,
    /// ROUTER only: unroutable sends fail with `EHOSTUNREACH` instead of being
    /// dropped silently. Default: true.
    pub router_mandatory: bool,
    /// ROUTER only: a peer reconnecting with a known identity takes over the
    /// old connection. Default: true.
    pub router_handover: bool,
    /// The socket's routing identity. Default: none (libzmq assigns one).
    pub identity: Option<Vec<u8>>,
    /// CURVE security: the socket's role and keys (see [`crate::curve`]).
    /// Default: none (plaintext). Applying it on a libzmq without CURVE fails
    /// with [`SocketError::CurveUnsupported`].
    pub curve: Option<Curve>,
}

impl Default for SocketOptions {
    fn default() -> Self {
        Self {
            linger: Duration::ZERO,
            send_hwm: 10_000,
            recv_hwm: 10_000,
            max_msg_size: Some(16 * 1024 * 1024 + 64 * 1024),
            reconnect_ivl: Duration::from_millis(100),
            reconnect_ivl_max: Duration::from_secs(5),
            router_mandatory: true,
            router_handover: true,
            identity: None,
            curve: None,
        }
    }
}

fn ms(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

fn opt(option: &'static str) -> impl FnOnce(zmq::Error) -> SocketError {
    move |source| SocketError::Option { option, source }
}

impl SocketOptions {
    /// Applies the options to `socket`; ROUTER-only options only on ROUTERs.
    ///
    /// # Errors
    /// [`SocketError::Option`] naming the option libzmq refused.
    pub fn apply(&self, socket: &zmq::Socket) -> Result<(), SocketError> {
        socket.set_linger(ms(self.linger)).map_err(opt("linger"))?;
        socket.set_sndhwm(self.send_hwm).map_err(opt("sndhwm"))?;
        socket.set_rcvhwm(self.recv_hwm).map_err(opt("rcvhwm"))?;
        if let Some(max) = self.max_msg_size {
            socket.set_maxmsgsize(max).map_err(opt("maxmsgsize"))?;
        }
        socket
            .set_reconnect_ivl(ms(self.reconnect_ivl))
            .map_err(opt("reconnect_ivl"))?;
        socket
            .set_reconnect_ivl_max(ms(self.reconnect_ivl_max))
            .map_err(opt("reconnect_ivl_max"))?;
        if let Some(identity) = &self.identity {
            socket.set_identity(identity).map_err(opt("routing_id"))?;
        }
        if let Some(curve) = &self.curve {
            require_curve()?;
            match curve {
                Curve::Server { secret } => {
                    socket.set_curve_server(true).map_err(opt("curve_server"))?;
                    socket
                        .set_curve_secretkey(secret.as_bytes())
                        .map_err(opt("curve_secretkey"))?;
                }
                Curve::Client { server, keys } => {
                    socket
                        .set_curve_serverkey(server.as_bytes())
                        .map_err(opt("curve_serverkey"))?;
                    socket
                        .set_curve_publickey(keys.public.as_bytes())
                        .map_err(opt("curve_publickey"))?;
                    socket
                        .set_curve_secretkey(keys.secret.as_bytes())
                        .map_err(opt("curve_secretkey"))?;
                }
            }
        }
        if socket.get_socket_type()? == zmq::ROUTER {
            socket
                .set_router_mandatory(self.router_mandatory)
                .map_err(opt("router_mandatory"))?;
            socket
                .set_router_handover(self.router_handover)
                .map_err(opt("router_handover"))?;
        }
        Ok(())
    }
}

/// Binds `socket` to `endpoint` and returns the endpoint actually bound, with
/// a wildcard port (`tcp://127.0.0.1:*`) resolved to the chosen port.
///
/// # Errors
/// [`SocketError::Bind`] with libzmq's reason (for example address in use).
pub fn bind(socket: &zmq::Socket, endpoint: &Endpoint) -> Result<String, SocketError> {
    socket
        .bind(endpoint.as_str())
        .map_err(|source| SocketError::Bind {
            endpoint: endpoint.to_string(),
            source,
        })?;
    match socket.get_last_endpoint()? {
        Ok(actual) => Ok(actual),
        Err(_) => Ok(endpoint.to_string()),
    }
}

/// Connects `socket` to `endpoint`.
///
/// # Errors
/// [`SocketError::Connect`] with libzmq's reason.
pub fn connect(socket: &zmq::Socket, endpoint: &Endpoint) -> Result<(), SocketError> {
    socket
        .connect(endpoint.as_str())
        .map_err(|source| SocketError::Connect {
            endpoint: endpoint.to_string(),
            source,
        })
}

/// Sends `frames` as one multipart message (nothing is sent for an empty list).
///
/// # Errors
/// libzmq's error; with `DONTWAIT`, `EAGAIN` means the peer is at its
/// high-water mark.
pub fn send_frames(socket: &zmq::Socket, frames: Vec<Frame>, flags: i32) -> zmq::Result<()> {
    let last = frames.len().saturating_sub(1);
    for (i, frame) in frames.into_iter().enumerate() {
        let more = if i < last { zmq::SNDMORE } else { 0 };
        socket.send(frame, flags | more)?;
    }
    Ok(())
}

/// Receives one whole multipart message as frames, without copying them.
///
/// # Errors
/// libzmq's error; with `DONTWAIT`, `EAGAIN` when nothing is waiting.
pub fn recv_frames(socket: &zmq::Socket, flags: i32) -> zmq::Result<Vec<Frame>> {
    let mut frames = Vec::with_capacity(4);
    loop {
        let mut frame = Frame::new();
        socket.recv(&mut frame, flags)?;
        let more = frame.get_more();
        frames.push(frame);
        if !more {
            return Ok(frames);
        }
    }
}

/// Whether the linked libzmq supports CURVE security (needs libsodium).
///
/// The bundled libzmq built by default has none; link the system libzmq with
/// `--config build/system-libzmq.toml` for CURVE.
pub fn curve_supported() -> bool {
    zmq::has("curve").unwrap_or(false)
}

/// Fails with [`SocketError::CurveUnsupported`] when CURVE is missing, so a
/// CURVE setting is a startup error instead of a silent plaintext fallback.
///
/// # Errors
/// [`SocketError::CurveUnsupported`].
pub fn require_curve() -> Result<(), SocketError> {
    if curve_supported() {
        Ok(())
    } else {
        Err(SocketError::CurveUnsupported)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_endpoints() {
        for text in [
            "tcp://127.0.0.1:5555",
            "tcp://localhost:5555",
            "tcp://*:5555",
            "tcp://127.0.0.1:*",
            "tcp://[::1]:5555",
            "ipc:///tmp/reqrep.sock",
            "inproc://broker",
        ] {
            let endpoint = Endpoint::parse(text).expect(text);
            assert_eq!(endpoint.as_str(), text);
        }
        assert_eq!(
            Endpoint::parse("inproc://x").unwrap().transport(),
            Transport::Inproc
        );
    }

    #[test]
    fn invalid_endpoints_say_why() {
        type Check = fn(&EndpointError) -> bool;
        let cases: [(&str, Check); 7] = [
            ("localhost:5555", |e| {
                matches!(e, EndpointError::MissingTransport(_))
            }),
            ("udp://127.0.0.1:5555", |e| {
                matches!(e, EndpointError::UnsupportedTransport { .. })
            }),
            ("tcp://", |e| matches!(e, EndpointError::MissingAddress(_))),
            ("tcp://127.0.0.1", |e| {
                matches!(e, EndpointError::InvalidPort(_))
            }),
            ("tcp://127.0.0.1:0", |e| {
                matches!(e, EndpointError::InvalidPort(_))
            }),
            ("tcp://127.0.0.1:70000", |e| {
                matches!(e, EndpointError::InvalidPort(_))
            }),
            ("tcp://:5555", |e| {
                matches!(e, EndpointError::MissingHost(_))
            }),
        ];
        for (text, check) in cases {
            let err = Endpoint::parse(text).expect_err(text);
            assert!(check(&err), "{text}: {err:?}");
            assert!(
                err.to_string().contains(text.trim()),
                "message names the endpoint: {err}"
            );
        }
    }

    #[test]
    fn bind_resolves_wildcard_port_and_reports_address_in_use() {
        let ctx = zmq::Context::new();
        let a = ctx.socket(zmq::ROUTER).unwrap();
        SocketOptions::default().apply(&a).unwrap();
        let bound = bind(&a, &Endpoint::parse("tcp://127.0.0.1:*").unwrap()).unwrap();
        assert!(
            bound.starts_with("tcp://127.0.0.1:") && !bound.ends_with('*'),
            "{bound}"
        );

        let b = ctx.socket(zmq::ROUTER).unwrap();
        let err = bind(&b, &Endpoint::parse(&bound).unwrap()).unwrap_err();
        assert!(matches!(err, SocketError::Bind { .. }));
        assert!(err.to_string().contains(&bound), "{err}");
    }

    #[test]
    fn options_are_applied() {
        let ctx = zmq::Context::new();
        let s = ctx.socket(zmq::ROUTER).unwrap();
        let options = SocketOptions {
            linger: Duration::from_millis(250),
            send_hwm: 123,
            identity: Some(b"broker-1".to_vec()),
            ..SocketOptions::default()
        };
        options.apply(&s).unwrap();
        assert_eq!(s.get_linger().unwrap(), 250);
        assert_eq!(s.get_sndhwm().unwrap(), 123);
        assert_eq!(s.get_rcvhwm().unwrap(), 10_000);
        assert_eq!(s.get_maxmsgsize().unwrap(), 16 * 1024 * 1024 + 64 * 1024);
        assert_eq!(s.get_reconnect_ivl().unwrap(), 100);
        assert_eq!(s.get_identity().unwrap(), b"broker-1");
        // DEALER sockets take the common options and skip the ROUTER ones.
        let d = ctx.socket(zmq::DEALER).unwrap();
        SocketOptions::default().apply(&d).unwrap();
    }

    #[test]
    fn router_mandatory_turns_silent_drops_into_errors() {
        let ctx = zmq::Context::new();
        let router = ctx.socket(zmq::ROUTER).unwrap();
        SocketOptions::default().apply(&router).unwrap();
        let frames = vec![Frame::from("no-such-peer"), Frame::from("x")];
        let err = send_frames(&router, frames, zmq::DONTWAIT).unwrap_err();
        assert_eq!(err, zmq::Error::EHOSTUNREACH);
    }

    #[test]
    fn frames_travel_without_loss_over_inproc() {
        let ctx = zmq::Context::new();
        let a = ctx.socket(zmq::PAIR).unwrap();
        let b = ctx.socket(zmq::PAIR).unwrap();
        bind(&a, &Endpoint::parse("inproc://frames").unwrap()).unwrap();
        connect(&b, &Endpoint::parse("inproc://frames").unwrap()).unwrap();
        let frames = vec![
            Frame::from(""),
            Frame::from("RQ1"),
            Frame::from(&[1u8, 2, 3][..]),
        ];
        send_frames(&a, frames, 0).unwrap();
        let got = recv_frames(&b, 0).unwrap();
        let got: Vec<Vec<u8>> = got.iter().map(|f| f.to_vec()).collect();
        assert_eq!(got, vec![vec![], b"RQ1".to_vec(), vec![1, 2, 3]]);
        assert_eq!(
            recv_frames(&b, zmq::DONTWAIT).unwrap_err(),
            zmq::Error::EAGAIN
        );
    }

    #[test]
    fn curve_detection_matches_libzmq() {
        assert_eq!(curve_supported(), zmq::has("curve") == Some(true));
        assert_eq!(require_curve().is_ok(), curve_supported());
    }

    /// CI states which libzmq build it links: the bundled one (no CURVE) or
    /// the system one (CURVE). Locally, without the variable, both are fine.
    #[test]
    fn curve_support_matches_the_build_ci_asked_for() {
        if let Ok(expected) = std::env::var("REQREP_EXPECT_CURVE") {
            assert_eq!(
                curve_supported(),
                expected == "1",
                "REQREP_EXPECT_CURVE={expected}"
            );
            assert_eq!(require_curve().is_err(), expected != "1");
        }
    }

    /// A CURVE server and client agree on keys and talk; a client with the
    /// wrong server key, or none, never gets through. Without CURVE support
    /// the setting is refused, never ignored.
    #[test]
    fn curve_encrypts_and_authenticates_the_server() {
        use crate::curve::{Curve, CurveKeyPair};
        let Ok(server_keys) = CurveKeyPair::generate() else {
            let ctx = zmq::Context::new();
            let s = ctx.socket(zmq::ROUTER).unwrap();
            let secret = "HelloWorld".repeat(4).parse().unwrap();
            let options = SocketOptions {
                curve: Some(Curve::server(secret)),
                ..SocketOptions::default()
            };
            assert!(matches!(
                options.apply(&s),
                Err(SocketError::CurveUnsupported)
            ));
            return;
        };
        let ctx = zmq::Context::new();
        let server = ctx.socket(zmq::ROUTER).unwrap();
        SocketOptions {
            curve: Some(Curve::server(server_keys.secret)),
            ..SocketOptions::default()
        }
        .apply(&server)
        .unwrap();
        assert!(server.is_curve_server().unwrap());
        let endpoint = bind(&server, &Endpoint::parse("tcp://127.0.0.1:*").unwrap()).unwrap();
        let endpoint = Endpoint::parse(&endpoint).unwrap();

        let connect_with = |curve: Option<Curve>| {
            let s = ctx.socket(zmq::DEALER).unwrap();
            SocketOptions {
                curve,
                ..SocketOptions::default()
            }
            .apply(&s)
            .unwrap();
            connect(&s, &endpoint).unwrap();
            s.send("hello", 0).unwrap();
            s
        };
        let wrong = CurveKeyPair::generate().unwrap().public;
        let _impostor = connect_with(Some(Curve::client(wrong).unwrap()));
        let _plain = connect_with(None);
        let good = connect_with(Some(Curve::client(server_keys.public).unwrap()));

        // Only the client that knows the server's key is heard.
        assert!(server.poll(zmq::POLLIN, 10_000).unwrap() > 0);
        let got = server.recv_multipart(0).unwrap();
        assert_eq!(got[1], b"hello");
        server.send_multipart([&got[0][..], b"welcome"], 0).unwrap();
        assert!(good.poll(zmq::POLLIN, 10_000).unwrap() > 0);
        assert_eq!(good.recv_bytes(0).unwrap(), b"welcome");
        assert_eq!(
            server.poll(zmq::POLLIN, 300).unwrap(),
            0,
            "nothing else got in"
        );
    }
}
