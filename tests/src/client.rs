//! A blocking DEALER client speaking the reqrep envelope, for tests.

use prost::Message as _;
use reqrep_core::socket::{Endpoint, connect, recv_frames, send_frames};
use reqrep_core::{Command, CorrelationId, Frame, Limits, Message, Reply, Request, decode, pb};

use crate::socket;

/// A DEALER connected to a broker frontend (or a direct replier).
pub struct Client {
    socket: zmq::Socket,
}

impl Client {
    /// Connects to `endpoint`.
    ///
    /// # Panics
    /// On an invalid endpoint.
    pub fn connect(ctx: &zmq::Context, endpoint: &str) -> Self {
        let s = socket(ctx, zmq::DEALER);
        connect(&s, &Endpoint::parse(endpoint).expect("endpoint")).expect("connect");
        Self { socket: s }
    }

    /// The raw socket, for sending garbage.
    pub fn raw(&self) -> &zmq::Socket {
        &self.socket
    }

    /// Sends `request` with one payload frame.
    ///
    /// # Panics
    /// When the send fails.
    pub fn send(&self, request: Request, payload: &[u8]) {
        let frames = Message::request(request, vec![Frame::from(payload)]).encode();
        send_frames(&self.socket, frames, 0).expect("send request");
    }

    /// The next reply, or `None` after the receive timeout.
    ///
    /// # Panics
    /// When the reply does not decode.
    pub fn recv(&self) -> Option<(Reply, Vec<Vec<u8>>)> {
        let frames = match recv_frames(&self.socket, 0) {
            Ok(frames) => frames,
            Err(zmq::Error::EAGAIN) => return None,
            Err(e) => panic!("recv: {e}"),
        };
        let decoded = decode(frames, &Limits::default()).expect("reply decodes");
        match decoded.message.command {
            Command::Reply(reply) => Some((
                reply,
                decoded.message.payload.iter().map(|f| f.to_vec()).collect(),
            )),
            other => panic!("expected REPLY, got {other:?}"),
        }
    }

    /// Sends and waits for the reply.
    ///
    /// # Panics
    /// When no reply arrives within the receive timeout.
    pub fn call(&self, request: Request, payload: &[u8]) -> (Reply, Vec<Vec<u8>>) {
        let id = request.id;
        self.send(request, payload);
        let (reply, body) = self.recv().expect("reply before the receive timeout");
        assert_eq!(reply.id, id, "reply matches the request");
        (reply, body)
    }

    /// Asks the broker's discovery service about `service` over this
    /// connection (so the answer comes after every request sent before it);
    /// `None` when the broker does not know the service.
    ///
    /// # Panics
    /// When no reply arrives within the receive timeout.
    pub fn service_info(&self, service: &str) -> Option<pb::ServiceInfo> {
        let request = Request::new(CorrelationId::new(), reqrep_core::DISCOVERY_SERVICE);
        let (reply, body) = self.call(request, service.as_bytes());
        if !reply.status.is_ok() {
            return None;
        }
        pb::ServiceList::decode(&body[0][..])
            .ok()?
            .services
            .into_iter()
            .next()
    }
}
