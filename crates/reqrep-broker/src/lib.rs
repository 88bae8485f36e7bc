//! reqrep-broker.
