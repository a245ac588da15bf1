//! `daas-master`: the K3s-DaaS enclave master.
//!
//! This library holds everything; `main.rs` only parses the command line
//! ([`cli`]) and [`server`] wires the parts together from the config file
//! ([`config`]). The parts, by what they answer for:
//!
//! - **Trust in the master**: attestation providers ([`attestation`]), the
//!   boot-time keys ([`identity`]), the attested HTTPS API ([`http`])
//!   served over any byte stream ([`endpoint`], [`serve`], every
//!   connection phase bounded), and the parent-side forwarder ([`proxy`]),
//!   which names each client in a PROXY v2 header ([`proxy_protocol`]).
//! - **Who may do what**: users' access from stake ([`access`]: the
//!   TokenReview and authorization webhooks, opaque seal tokens), the tier
//!   table ([`tiers`], [`tier_policy`], [`rbac`], [`pod_security`],
//!   [`namespaces`]) and per-identity rate limits ([`ratelimit`]).
//! - **Worker nodes**: their endpoints ([`nodes`]), admission
//!   ([`admission`]) and removal when stake stops backing them
//!   ([`revocation`]), driven by chain events ([`reconcile`], [`cursor`]).
//! - **The cluster**: the master's connection to it ([`cluster`]) and lists
//!   of it read in pages ([`paged_list`]).
//! - **Replicas**: the Lease electing the leader ([`leader`]) and the key
//!   that authenticates the records they share in the Kubernetes API
//!   ([`record_key`], [`labels`]).
//! - **The chain's requests and the record of what happened**: the
//!   on-chain gateway ([`gateway`]) and the verifiable audit log
//!   ([`audit`]); the API server's side of the webhooks ([`webhooks`]).

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
