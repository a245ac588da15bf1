//! `daas-agent`: the K3s-DaaS worker agent, as a library the binary wires.
//!
//! - [`api`]: the local API (HTTPS, TLS 1.3 on the agent's own key);
//! - [`simulate`]: N simulated agents in one process, for scale tests.

pub mod api;
pub mod simulate;
