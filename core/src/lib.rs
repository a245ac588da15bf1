//! Shared library of K3s-DaaS.
//!
//! Everything the console, the agent, the master and the devnet have in
//! common lives here once: wallets and Sui signing, the chain client, the
//! bindings of the on-chain `k3s_daas` package, attestation verification and
//! the wire types of the master API. It has no UI or HTTP-server dependencies.
#![warn(missing_docs)]

pub mod access;
pub mod api;
pub mod attestation;
pub mod attested;
pub mod audit;
pub mod chain;
pub mod clock;
pub mod error_chain;
pub mod escape;
pub mod intent;
pub mod package;
pub mod private_file;
pub mod wallet;
pub mod yaml;
