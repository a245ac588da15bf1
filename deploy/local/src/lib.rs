//! The whole K3s-DaaS on one machine as supervised processes: the devnet,
//! the control plane (kine, kube-apiserver, controller-manager, scheduler)
//! wired to the master's webhooks, the master with dev attestation, and
//! agents with real kubelet nodes or simulated ones.
//!
//! `daas-local up | down | status | reset` runs it as a product, kept in a
//! state directory; the end-to-end tests (`daas-e2e`) use the same modules
//! with temporary directories and free ports.

pub mod binaries;
pub mod devnet;
pub mod k3s;
pub mod kwok;
pub mod launcher;
pub mod node;
pub mod node_cmd;
pub mod replicas;
pub mod stack;
mod supervisor;
pub mod tls_bootstrap;
