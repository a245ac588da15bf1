//! End-to-end test harness of K3s-DaaS: real control-plane, kubelet node,
//! kwok, devnet and master processes, started and cleaned up for the tests in
//! `tests/tests/`.

pub mod agent;
pub mod binaries;
pub mod devnet;
pub mod k3s;
pub mod kwok;
pub mod node;
pub mod stack;
mod supervisor;
pub mod tls_bootstrap;
pub mod user;
pub mod webhook;
