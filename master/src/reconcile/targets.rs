//! The master's objects that admitted workers (labelled Nodes, bootstrap
//! token Secrets), and taking them away.

use std::collections::BTreeSet;
use std::str::FromStr;

use daas_core::package::SealTokenId;
use futures::future::join_all;
use k8s_openapi::api::core::v1::{Node, Secret};
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta};
use sui_sdk_types::Address;
use tracing::{info, warn};

use super::verdict::Claim;
use super::{Context, ReconcileError};
use crate::admission::bootstrap_token::{BOOTSTRAP_TOKEN_TYPE, KUBE_SYSTEM};
use crate::labels::{
    MANAGED_BY, MANAGED_BY_LABEL, NODE_LABEL, OWNER_ANNOTATION, SEAL_TOKEN_ANNOTATION,
    SEAL_TOKEN_LABEL, seal_token_label_value,
};
use crate::node_name::NodeName;
use crate::revocation::revoke_node;

/// An object of the master and what it claims.
#[derive(Debug, Clone)]
pub(super) struct Admitted<N> {
    /// The Node's name, or the Secret's.
    pub(super) name: N,
    /// What its annotations claim.
    pub(super) claim: Claim,
}

/// Labelled Nodes and master-minted bootstrap tokens.
#[derive(Debug, Clone, Default)]
pub(super) struct Inventory {
    pub(super) nodes: Vec<Admitted<NodeName>>,
    pub(super) tokens: Vec<Admitted<String>>,
}

/// What to take away.
#[derive(Debug, Clone, Default)]
pub(super) struct Plan {
    /// Nodes to revoke (cordon, drain, delete with their secrets).
    pub(super) nodes: BTreeSet<NodeName>,
    /// Bootstrap token Secrets to delete, by name.
    pub(super) tokens: BTreeSet<String>,
}

impl Plan {
    /// Whether there is nothing to do.
    pub(super) fn is_empty(&self) -> bool {
        self.nodes.is_empty() && self.tokens.is_empty()
    }
}

fn selector(context: &Context, base: String) -> String {
    match &context.settings.scope {
        Some(scope) => format!("{base},{scope}"),
        None => base,
    }
}

/// The master's objects of seal token `token`, or of every seal token.
pub(super) async fn inventory(
    context: &Context,
    token: Option<SealTokenId>,
) -> Result<Inventory, ReconcileError> {
    let label = match token {
        Some(id) => format!("{SEAL_TOKEN_LABEL}={}", seal_token_label_value(id)),
        None => SEAL_TOKEN_LABEL.to_owned(),
    };
    let mine = |claim: &Claim| token.is_none_or(|id| claim.seal_token == id);
    let nodes = Api::<Node>::all(context.kube.clone())
        .list_metadata(&ListParams::default().labels(&selector(context, label.clone())))
        .await
        .map_err(ReconcileError::api("listing labelled nodes"))?;
    let secrets = Api::<Secret>::namespaced(context.kube.clone(), KUBE_SYSTEM)
        .list_metadata(
            &ListParams::default()
                .labels(&selector(
                    context,
                    format!("{MANAGED_BY_LABEL}={MANAGED_BY},{label}"),
                ))
                .fields(&format!("type={BOOTSTRAP_TOKEN_TYPE}")),
        )
        .await
        .map_err(ReconcileError::api("listing bootstrap tokens"))?;
    Ok(Inventory {
        nodes: nodes
            .items
            .iter()
            .filter_map(|n| node_claim(&n.metadata))
            .filter(|a| mine(&a.claim))
            .collect(),
        tokens: secrets
            .items
            .iter()
            .filter_map(|s| token_claim(&s.metadata))
            .filter(|a| mine(&a.claim))
            .collect(),
    })
}

fn node_claim(meta: &ObjectMeta) -> Option<Admitted<NodeName>> {
    let name = meta.name.as_deref()?;
    let Ok(node) = NodeName::from_str(name) else {
        warn!(
            node = name,
            "labelled node with a name the master never admits; left alone"
        );
        return None;
    };
    let claim = claim(meta, name)?;
    Some(Admitted { name: node, claim })
}

fn token_claim(meta: &ObjectMeta) -> Option<Admitted<String>> {
    let name = meta.name.clone()?;
    let node = meta.labels.as_ref().and_then(|l| l.get(NODE_LABEL))?;
    let claim = claim(meta, node)?;
    Some(Admitted { name, claim })
}

fn claim(meta: &ObjectMeta, node: &str) -> Option<Claim> {
    let annotation = |key: &str| meta.annotations.as_ref().and_then(|a| a.get(key));
    let Some(seal_token) = annotation(SEAL_TOKEN_ANNOTATION).and_then(|v| v.parse().ok()) else {
        warn!(
            object = meta.name.as_deref().unwrap_or_default(),
            "labelled object without a seal token annotation; left alone"
        );
        return None;
    };
    Some(Claim {
        seal_token,
        owner: annotation(OWNER_ANNOTATION).and_then(|v| Address::from_str(v).ok()),
        node: node.to_owned(),
    })
}

/// Carries out `plan`: revokes every node (concurrently), then deletes the
/// bootstrap tokens of nodes that were not revoked (the node's own are
/// deleted by its revocation). Every step is idempotent.
///
/// # Errors
/// The first failure; the rest was attempted.
pub(super) async fn execute(context: &Context, plan: &Plan) -> Result<(), ReconcileError> {
    let revocations = join_all(plan.nodes.iter().map(|node| async move {
        revoke_node(&context.kube, node, context.settings.drain)
            .await
            .map_err(|source| ReconcileError::Revocation {
                node: node.to_string(),
                source: Box::new(source),
            })
    }))
    .await;
    let mut result = Ok(());
    for outcome in revocations {
        if let Err(error) = outcome {
            result = result.and(Err(error));
        }
    }
    for name in &plan.tokens {
        if let Err(error) = delete_token(context, name).await {
            result = result.and(Err(error));
        }
    }
    result
}

async fn delete_token(context: &Context, name: &str) -> Result<(), ReconcileError> {
    let api = Api::<Secret>::namespaced(context.kube.clone(), KUBE_SYSTEM);
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => {
            info!(secret = name, "bootstrap token deleted");
            Ok(())
        }
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(source) => Err(ReconcileError::api(format!(
            "deleting Secret {KUBE_SYSTEM}/{name}"
        ))(source)),
    }
}

impl Plan {
    /// Adds a node to revoke.
    pub(super) fn revoke_node(&mut self, node: &Admitted<NodeName>) {
        self.nodes.insert(node.name.clone());
    }

    /// Adds a bootstrap token to delete, unless its node is revoked (which
    /// deletes it).
    pub(super) fn delete_token(&mut self, token: &Admitted<String>) {
        let covered = self.nodes.iter().any(|n| n.as_str() == token.claim.node);
        if !covered {
            self.tokens.insert(token.name.clone());
        }
    }
}
