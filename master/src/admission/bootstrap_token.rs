//! Per-node Kubernetes bootstrap tokens: the credential inside a worker's
//! join token.
//!
//! Each admitted worker gets its own `bootstrap.kubernetes.io/token` Secret
//! `bootstrap-token-<id>` in `kube-system` (the layout the API server's
//! bootstrap-token authenticator reads): a short expiry, usable for
//! authentication (and for signing the `cluster-info` ConfigMap, as kubeadm's
//! tokens are), in the extra group K3s gives joining agents,
//! [`NODE_BOOTSTRAP_GROUP`]. The API server authenticates it as
//! `system:bootstrap:<id>`. Labels tie it to its node ([`NODE_LABEL`]) and
//! seal token, so revocation finds and deletes it; the controller manager's
//! `tokencleaner` deletes it when it expires.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, PostParams};
use tracing::{debug, info, instrument, warn};

use super::join_token::BootstrapToken;
use super::{AdmissionError, WorkerNode, api_error};
use crate::labels::{
    MANAGED_BY, MANAGED_BY_LABEL, NODE_ID_ANNOTATION, NODE_LABEL, OWNER_ANNOTATION,
    SEAL_TOKEN_ANNOTATION, SEAL_TOKEN_LABEL, seal_token_label_value,
};

/// Namespace of bootstrap token Secrets.
pub const KUBE_SYSTEM: &str = "kube-system";
/// Secret type of bootstrap tokens.
pub const BOOTSTRAP_TOKEN_TYPE: &str = "bootstrap.kubernetes.io/token";
/// The extra group K3s puts joining agents in (`k3s token create` default).
pub const NODE_BOOTSTRAP_GROUP: &str = "system:bootstrappers:k3s:default-node-token";
/// How many fresh ids are tried when one is taken.
const MINT_ATTEMPTS: usize = 3;

/// A bootstrap token that now exists in the cluster.
#[derive(Debug, Clone)]
pub struct MintedToken {
    /// The token (its `Debug` hides the secret).
    pub token: BootstrapToken,
    /// When the API server stops accepting it.
    pub expires_at: Timestamp,
}

/// Creates a bootstrap token for `worker` that expires after `ttl`
/// (rounded down to whole seconds).
///
/// # Errors
/// [`AdmissionError::Api`] when the API server refuses the Secret;
/// [`AdmissionError::TokenIdsTaken`] if fresh random ids kept colliding.
#[instrument(skip_all, fields(node = %worker.name, seal_token = %worker.seal_token))]
pub async fn mint_bootstrap_token(
    client: &Client,
    worker: &WorkerNode,
    ttl: Duration,
) -> Result<MintedToken, AdmissionError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), KUBE_SYSTEM);
    let expires_at = expiry_after(ttl)?;
    for _ in 0..MINT_ATTEMPTS {
        let token = BootstrapToken::generate();
        let secret = token_secret(&token, worker, expires_at);
        match api.create(&PostParams::default(), &secret).await {
            Ok(_) => {
                info!(token_id = token.id(), %expires_at, "bootstrap token minted");
                return Ok(MintedToken { token, expires_at });
            }
            Err(kube::Error::Api(status)) if status.code == 409 => {
                warn!(
                    token_id = token.id(),
                    "bootstrap token id taken; drawing another"
                );
            }
            Err(source) => {
                return Err(AdmissionError::Api {
                    action: format!("creating Secret {KUBE_SYSTEM}/{}", token.secret_name()),
                    source,
                });
            }
        }
    }
    Err(AdmissionError::TokenIdsTaken {
        attempts: MINT_ATTEMPTS,
    })
}

/// Now plus `ttl`, in whole seconds (the API server parses RFC 3339).
fn expiry_after(ttl: Duration) -> Result<Timestamp, AdmissionError> {
    let now = Timestamp::now().as_second();
    let ttl_secs = i64::try_from(ttl.as_secs()).map_err(|_| AdmissionError::BadTtl { ttl })?;
    now.checked_add(ttl_secs)
        .and_then(|secs| Timestamp::from_second(secs).ok())
        .ok_or(AdmissionError::BadTtl { ttl })
}

/// The selector of the master's bootstrap tokens for one node.
pub fn node_token_selector(node: &str) -> String {
    format!("{MANAGED_BY_LABEL}={MANAGED_BY},{NODE_LABEL}={node}")
}

fn token_secret(token: &BootstrapToken, worker: &WorkerNode, expires_at: Timestamp) -> Secret {
    let string_data = BTreeMap::from([
        ("token-id".to_owned(), token.id().to_owned()),
        ("token-secret".to_owned(), token.secret().to_owned()),
        ("expiration".to_owned(), expires_at.to_string()),
        (
            "usage-bootstrap-authentication".to_owned(),
            "true".to_owned(),
        ),
        ("usage-bootstrap-signing".to_owned(), "true".to_owned()),
        (
            "auth-extra-groups".to_owned(),
            NODE_BOOTSTRAP_GROUP.to_owned(),
        ),
        (
            "description".to_owned(),
            format!("K3s-DaaS join token of node {}", worker.name),
        ),
    ]);
    Secret {
        metadata: ObjectMeta {
            name: Some(token.secret_name()),
            namespace: Some(KUBE_SYSTEM.to_owned()),
            labels: Some(BTreeMap::from([
                (MANAGED_BY_LABEL.to_owned(), MANAGED_BY.to_owned()),
                (NODE_LABEL.to_owned(), worker.name.to_string()),
                (
                    SEAL_TOKEN_LABEL.to_owned(),
                    seal_token_label_value(worker.seal_token),
                ),
            ])),
            annotations: Some(worker.annotations()),
            ..ObjectMeta::default()
        },
        type_: Some(BOOTSTRAP_TOKEN_TYPE.to_owned()),
        string_data: Some(string_data),
        ..Secret::default()
    }
}

impl WorkerNode {
    /// The annotations the master puts on the node's objects: owner, seal
    /// token and node id.
    pub fn annotations(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (OWNER_ANNOTATION.to_owned(), self.owner.to_string()),
            (
                SEAL_TOKEN_ANNOTATION.to_owned(),
                self.seal_token.to_string(),
            ),
            (NODE_ID_ANNOTATION.to_owned(), self.name.to_string()),
        ])
    }
}

/// Deletes every bootstrap token the master minted for `node`; returns how
/// many it deleted. Tokens already gone are not an error, so it can run
/// again.
///
/// # Errors
/// [`AdmissionError::Api`] when listing or deleting fails.
#[instrument(skip(client))]
pub async fn delete_node_bootstrap_tokens(
    client: &Client,
    node: &str,
) -> Result<usize, AdmissionError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), KUBE_SYSTEM);
    let params = ListParams::default()
        .labels(&node_token_selector(node))
        .fields(&format!("type={BOOTSTRAP_TOKEN_TYPE}"));
    let secrets = api
        .list_metadata(&params)
        .await
        .map_err(api_error("listing the node's bootstrap tokens"))?;
    let mut deleted = 0;
    for name in secrets.items.into_iter().filter_map(|s| s.metadata.name) {
        if delete_bootstrap_token(client, &name).await? {
            deleted += 1;
        }
    }
    Ok(deleted)
}

/// Deletes the bootstrap token Secret `secret_name` in `kube-system`;
/// `false` when it was already gone.
///
/// # Errors
/// [`AdmissionError::Api`] when the delete fails otherwise.
pub async fn delete_bootstrap_token(
    client: &Client,
    secret_name: &str,
) -> Result<bool, AdmissionError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), KUBE_SYSTEM);
    match api.delete(secret_name, &DeleteParams::default()).await {
        Ok(_) => {
            debug!(secret = secret_name, "bootstrap token deleted");
            Ok(true)
        }
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
        Err(source) => Err(api_error(format!(
            "deleting Secret {KUBE_SYSTEM}/{secret_name}"
        ))(source)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_whole_seconds_in_rfc3339() {
        let expires = expiry_after(Duration::from_secs(600)).unwrap();
        let text = expires.to_string();
        assert!(text.ends_with('Z') && !text.contains('.'), "{text}");
        let delta = expires.as_second() - Timestamp::now().as_second();
        assert!((599..=600).contains(&delta));
    }

    #[test]
    fn absurd_ttl_is_refused() {
        assert!(matches!(
            expiry_after(Duration::from_secs(u64::MAX)),
            Err(AdmissionError::BadTtl { .. })
        ));
    }
}
