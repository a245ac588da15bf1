//! `daas-master`: the K3s-DaaS enclave master.
//!
//! This library holds everything; `main.rs` only parses the command line.
//! So far: attestation providers ([`attestation`]), the boot-time keys
//! ([`identity`]), the attested HTTPS API ([`http`]) served over any byte
//! stream ([`endpoint`], [`serve`], with every connection phase bounded),
//! and the parent-side forwarder ([`proxy`]), which names each client to
//! the master in a PROXY v2 header ([`proxy_protocol`]).

// The gateway's and reconciler's futures (kube, chain and TLS clients
// nested in async fns) are deeper than rustc's default layout query depth.
#![recursion_limit = "256"]

pub mod access;
pub mod admission;
pub mod attestation;
pub mod audit;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod cursor;
pub mod endpoint;
pub mod gateway;
pub mod http;
pub mod identity;
pub mod labels;
pub mod leader;
pub mod namespaces;
pub mod nodes;
pub mod paged_list;
pub mod pod_security;
pub mod proxy;
pub mod proxy_protocol;
pub mod ratelimit;
pub mod rbac;
pub mod reconcile;
pub mod record_key;
pub mod revocation;
pub mod serve;
pub mod server;
pub mod tier_policy;
pub mod tiers;
pub mod webhooks;
