//! Stands in for the `http` module when the `http` feature is off: there is
//! no server, and asking for one is an error naming the missing feature.

use std::net::SocketAddr;
use std::sync::Arc;

pub(crate) use crate::health::Health;

/// No server can exist without the feature.
#[derive(Debug)]
pub(crate) enum HttpServer {}

impl HttpServer {
    pub(crate) fn local_addr(&self) -> SocketAddr {
        match *self {}
    }
}

/// Nothing to install: metrics go to whatever recorder the program set.
pub(crate) fn install_recorder() {}

/// Refuses: `metrics_addr` asks for a server this build does not have.
pub(crate) fn start(_addr: SocketAddr, _health: Arc<Health>) -> Result<HttpServer, std::io::Error> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "reqrep-broker was built without its `http` feature; set metrics_addr \
         to off or enable the feature (`reqrep-agents/broker-http` for a BrokerAgent)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starting_a_server_names_the_missing_feature() {
        let err = start(SocketAddr::from(([127, 0, 0, 1], 0)), Health::new()).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::Unsupported);
        assert!(err.to_string().contains("`http` feature"), "{err}");
    }

    #[test]
    fn a_broker_asked_to_serve_metrics_refuses_to_bind() {
        let config = |metrics_addr| crate::BrokerConfig {
            frontend: vec!["inproc://http-off-frontend".into()],
            backend: vec!["inproc://http-off-backend".into()],
            metrics_addr,
            ..crate::BrokerConfig::default()
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], 0));
        match crate::Broker::bind(config(Some(addr))) {
            Err(crate::BrokerError::Http {
                addr: named,
                source,
            }) => {
                assert_eq!(named, addr);
                assert_eq!(source.kind(), std::io::ErrorKind::Unsupported);
            }
            other => panic!("expected the missing feature, got {:?}", other.err()),
        }
        let broker = crate::Broker::bind(config(None)).unwrap();
        assert_eq!(broker.metrics_addr(), None);
    }
}
