//! `daas-agent`: the K3s-DaaS worker-node service.
//!
//! It stakes (or finds its stake), proves it to the attested master with a
//! signed single-use proof, runs the node runtime (`k3s agent`) with the
//! join token it gets, heartbeats, refreshes its stake, stops when the
//! chain revokes it, and leaves cleanly on unstake.
//!
//! - [`config`]: `worker-config.yaml`, flags and environment;
//! - [`wallet`]: the wallet, unlocked without a terminal;
//! - [`state`]: what survives a crash;
//! - [`runtime`]: the supervised node runtime;
//! - [`metrics`]: the seed's node metrics from `/proc`, for heartbeats and the API;
//! - [`run`]: the state machine of `run` and `unstake`;
//! - [`exit`]: the exit statuses;
//! - [`api`]: the local API (HTTPS, TLS 1.3 on the agent's own key);
//! - [`simulate`]: N simulated agents in one process, for scale tests.

pub mod api;
pub mod cli;
pub mod config;
pub mod exit;
pub mod lock;
pub mod metrics;
pub mod run;
pub mod runtime;
pub mod simulate;
pub mod state;
pub mod wallet;
