//! Runnable examples for reqrep: `cargo run -p reqrep-examples --example <name>`.
//!
//! - `requester_agent` / `replier_agent`: the classic requester and replier
//!   agents, ported to reqrep's agent runtime and `ReqRep` plugin.
//! - `brokered_echo`: a broker, 4 echo workers and a client.
//! - `async_pipelined`: an async client with many requests in flight.
