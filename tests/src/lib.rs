//! End-to-end test harness of K3s-DaaS: real control-plane, kubelet node,
//! kwok, devnet and master processes, started and cleaned up for the tests in
//! `tests/tests/`.
//!
//! The process-running parts are the local stack's own (`daas-local`,
//! `deploy/local`); they are re-exported here under their old paths.

pub use daas_local::{binaries, devnet, k3s, kwok, node, replicas, stack, tls_bootstrap};

pub mod agent;
pub mod audit;
pub mod enclave;
pub mod load;
pub mod slasher;
pub mod user;
pub mod webhook;
