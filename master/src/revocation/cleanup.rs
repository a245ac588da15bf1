//! Removing what admitted a node: the Node object, K3s's node-password
//! Secret, and the node's bootstrap tokens.

use k8s_openapi::api::core::v1::{Node, Secret};
use kube::Client;
use kube::api::{Api, DeleteParams};
use tracing::{info, instrument};

use super::RevocationError;
use crate::admission::bootstrap_token::KUBE_SYSTEM;

/// The name of K3s's node-password Secret of `node` in `kube-system`:
/// `<node>.node-password.k3s` (k3s `pkg/nodepassword`).
pub fn node_password_secret(node: &str) -> String {
    format!("{node}.node-password.k3s")
}

/// Deletes `name` through `api`; `false` if it was already gone.
async fn delete_if_present<K>(api: &Api<K>, name: &str, what: &str) -> Result<bool, RevocationError>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
        Err(source) => Err(RevocationError::api(
            format!("deleting {what} {name}"),
            source,
        )),
    }
}

/// Deletes the Node; `false` if it was already gone.
///
/// # Errors
/// [`RevocationError::Api`] when the delete fails otherwise.
#[instrument(skip(client))]
pub async fn delete_node(client: &Client, node: &str) -> Result<bool, RevocationError> {
    let api: Api<Node> = Api::all(client.clone());
    let deleted = delete_if_present(&api, node, "Node").await?;
    info!(deleted, "node removed");
    Ok(deleted)
}

/// Deletes K3s's `<node>.node-password.k3s` Secret in `kube-system`, so
/// another machine may later join under the name; `false` if it was
/// already gone.
///
/// # Errors
/// [`RevocationError::Api`] when the delete fails otherwise.
#[instrument(skip(client))]
pub async fn delete_node_password(client: &Client, node: &str) -> Result<bool, RevocationError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), KUBE_SYSTEM);
    let name = node_password_secret(node);
    let deleted = delete_if_present(&api, &name, "kube-system Secret").await?;
    info!(deleted, "node password removed");
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_password_secret_matches_k3s() {
        assert_eq!(
            node_password_secret("worker-1"),
            "worker-1.node-password.k3s"
        );
    }
}
