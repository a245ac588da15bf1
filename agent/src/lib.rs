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
//! - [`run`]: the state machine of `run` and `unstake`;
//! - [`exit`]: the exit statuses.

pub mod cli;
pub mod config;
pub mod exit;
pub mod lock;
pub mod run;
pub mod runtime;
pub mod state;
pub mod wallet;
