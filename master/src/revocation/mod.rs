//! Taking a worker out of the cluster when its stake stops backing it
//! (unstake, slash, expiry, or the seal token changing hands).
//!
//! [`revoke_node`] runs, in order: [`drain::cordon`], [`drain::drain`]
//! (evictions that respect PodDisruptionBudgets until a timeout, then force
//! deletion), [`cleanup::delete_node`], [`cleanup::delete_node_password`]
//! and the deletion of the node's bootstrap tokens. Each step accepts that
//! its work may already be done, so a master that died half-way re-runs the
//! whole sequence and it finishes.

pub mod cleanup;
pub mod drain;

use tracing::{info, instrument};

pub use drain::{DrainPolicy, DrainReport, PodOutcome};

use crate::admission::{AdmissionError, delete_node_bootstrap_tokens};

/// Errors of revocation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RevocationError {
    /// The API server refused or failed a request.
    #[error("{action} failed")]
    Api {
        /// What was being done.
        action: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// Deleting the node's bootstrap tokens failed.
    #[error("deleting the bootstrap tokens of node {node} failed")]
    BootstrapTokens {
        /// The node.
        node: String,
        /// The cause.
        #[source]
        source: AdmissionError,
    },
}

impl RevocationError {
    fn api(action: String, source: kube::Error) -> Self {
        Self::Api { action, source }
    }
}

/// What a revocation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevocationReport {
    /// Whether the node existed and was cordoned.
    pub cordoned: bool,
    /// What the drain did.
    pub drain: DrainReport,
    /// Whether the Node was deleted now (false: already gone).
    pub node_deleted: bool,
    /// Whether the node-password Secret was deleted now.
    pub node_password_deleted: bool,
    /// How many bootstrap token Secrets were deleted.
    pub bootstrap_tokens_deleted: usize,
}

/// Cordons, drains and removes the Node `node` (any Node name, not only
/// one the master admits) and the credentials that admitted it.
///
/// # Errors
/// The first step that fails; the steps before it are done, and running
/// [`revoke_node`] again continues from there.
#[instrument(skip(client, policy))]
pub async fn revoke_node(
    client: &kube::Client,
    node: &str,
    policy: DrainPolicy,
) -> Result<RevocationReport, RevocationError> {
    let cordoned = drain::cordon(client, node).await?;
    let drain = drain::drain(client, node, policy).await?;
    // The credentials go before the Node: a Node still present means the
    // revocation is unfinished, so a failure here is retried by the next
    // pass, and once the Node is gone nothing that admitted it remains.
    let bootstrap_tokens_deleted =
        delete_node_bootstrap_tokens(client, node)
            .await
            .map_err(|source| RevocationError::BootstrapTokens {
                node: node.to_owned(),
                source,
            })?;
    let node_password_deleted = cleanup::delete_node_password(client, node).await?;
    let node_deleted = cleanup::delete_node(client, node).await?;
    info!(bootstrap_tokens_deleted, "node revoked");
    Ok(RevocationReport {
        cordoned,
        drain,
        node_deleted,
        node_password_deleted,
        bootstrap_tokens_deleted,
    })
}
