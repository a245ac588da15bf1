//! Admitting a worker node (ARCHITECTURE.md, "Worker nodes").
//!
//! After the master has checked a worker's seal token on chain it:
//!
//! 1. mints a per-node bootstrap token ([`bootstrap_token`]) whose Secret is
//!    labelled with the node and seal token;
//! 2. answers the K3s join token `K10<ca-hash>::<id>.<secret>`
//!    ([`join_token`]), the hash computed from the CA bundle that the
//!    server serves at `/cacerts`;
//! 3. waits for the node to register and labels it with its seal token and
//!    owner ([`node_labels`]).

pub mod bootstrap_token;
pub mod join_token;
pub mod node_labels;

use std::time::Duration;

use daas_core::package::SealTokenId;
use sui_sdk_types::Address;

pub use bootstrap_token::{MintedToken, delete_node_bootstrap_tokens, mint_bootstrap_token};
pub use join_token::{BootstrapToken, CaHash, JoinToken, JoinTokenError};
pub use node_labels::label_node;

use crate::node_name::NodeName;

/// A worker the chain says may join: its node name (the seal token's node
/// id), its seal token and the token's owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerNode {
    /// The Kubernetes node name.
    pub name: NodeName,
    /// The worker's seal token.
    pub seal_token: SealTokenId,
    /// The seal token's owner.
    pub owner: Address,
}

/// Errors of node admission.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdmissionError {
    /// The API server refused or failed a request.
    #[error("{action} failed")]
    Api {
        /// What was being done.
        action: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// Fresh bootstrap token ids collided with existing ones every time.
    #[error("{attempts} random bootstrap token ids were all taken")]
    TokenIdsTaken {
        /// How many ids were tried.
        attempts: usize,
    },
    /// The token lifetime does not give a representable expiry.
    #[error("bootstrap token lifetime {ttl:?} is out of range")]
    BadTtl {
        /// The lifetime asked for.
        ttl: Duration,
    },
    /// The node did not register in time.
    #[error("node {node} did not appear within {waited:?}")]
    NodeNotRegistered {
        /// The node waited for.
        node: String,
        /// How long the master waited.
        waited: Duration,
    },
}

fn api_error(action: impl Into<String>) -> impl FnOnce(kube::Error) -> AdmissionError {
    let action = action.into();
    move |source| AdmissionError::Api { action, source }
}
