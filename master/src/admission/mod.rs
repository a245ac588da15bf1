//! Admitting a worker node (ARCHITECTURE.md, "Worker nodes").
//!
//! After the master has checked a worker's seal token on chain it:
//!
//! 1. mints a per-node bootstrap token ([`bootstrap_token`]) whose Secret is
//!    labelled with the node and seal token;
//! 2. writes the node's admission record ([`record`]) in the master's own
//!    namespace: node, seal token, owner and bootstrap token id;
//! 3. answers the K3s join token `K10<ca-hash>::<id>.<secret>`
//!    ([`join_token`]), the hash computed from the CA bundle that the
//!    server serves at `/cacerts`;
//! 4. approves the kubelet's client certificate only for that node and
//!    token ([`csr`]; the RBAC TLS bootstrapping needs is
//!    [`bootstrap_rbac`]);
//! 5. labels the node, once it registers, with its seal token under
//!    `node-restriction.kubernetes.io/`, which the node cannot change
//!    ([`node_labels`]).

pub mod bootstrap_rbac;
pub mod bootstrap_token;
pub mod csr;
pub mod join_token;
pub mod node_labels;
pub mod record;

use std::time::Duration;

use daas_core::access::NodeName;
use daas_core::package::SealTokenId;
use sui_sdk_types::Address;

pub use bootstrap_token::{
    MintedToken, delete_bootstrap_token, delete_node_bootstrap_tokens, mint_bootstrap_token,
};
pub use join_token::{BootstrapToken, CaHash, JoinToken, JoinTokenError};
pub use node_labels::{apply_node_labels, label_node, node_is_labelled};
pub use record::{AdmissionRecord, StoredRecord};

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
    /// The node name is recorded as admitted through another seal token.
    #[error("node {node} is already admitted through {holder}")]
    NodeTaken {
        /// The node.
        node: String,
        /// What holds it: a seal token id, or why the record is unusable.
        holder: String,
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
