//! What the master manages (Nodes, admission records, the bootstrap tokens
//! it minted), and taking it away.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use daas_core::access::worker::WorkerClaim;
use daas_core::package::SealTokenId;
use futures::future::join_all;
use k8s_openapi::api::core::v1::{Node, Secret};
use kube::api::{Api, ListParams, ObjectMeta};
use sui_sdk_types::Address;
use tracing::{info, warn};

use super::{Context, ReconcileError};
use crate::admission::bootstrap_token::{BOOTSTRAP_TOKEN_TYPE, KUBE_SYSTEM};
use crate::admission::record::{
    AdmissionRecord, StoredRecord, delete_record, list_records, records_selector,
};
use crate::admission::{AdmissionError, delete_bootstrap_token};
use crate::labels::{
    MANAGED_BY, MANAGED_BY_LABEL, NODE_LABEL, NODE_SEAL_TOKEN_LABEL, OWNER_ANNOTATION,
    SEAL_TOKEN_ANNOTATION, SEAL_TOKEN_LABEL, seal_token_label_value,
};
use crate::leader::Fence;
use crate::paged_list;
use crate::revocation::revoke_node;

/// A bootstrap token Secret the master minted, and the worker its
/// annotations name.
#[derive(Debug, Clone)]
pub(super) struct MintedSecret {
    /// The Secret's name.
    pub(super) name: String,
    /// The worker it was minted for.
    pub(super) claim: WorkerClaim,
}

/// What the master manages, as listed.
#[derive(Debug, Clone, Default)]
pub(super) struct Inventory {
    /// Nodes, by name (every Node in scope, or those of one seal token).
    pub(super) nodes: BTreeMap<String, ObjectMeta>,
    /// Admission records.
    pub(super) records: Vec<StoredRecord>,
    /// Bootstrap tokens.
    pub(super) tokens: Vec<MintedSecret>,
}

impl Inventory {
    /// The parsed records by node name (malformed ones are left out).
    pub(super) fn records_by_node(&self) -> BTreeMap<&str, &AdmissionRecord> {
        self.records
            .iter()
            .filter_map(|stored| stored.record.as_ref().ok())
            .map(|record| (record.node.as_str(), record))
            .collect()
    }
}

/// What to take away.
#[derive(Debug, Clone, Default)]
pub(super) struct Plan {
    /// Nodes to revoke (cordon, drain, delete with their secrets and
    /// bootstrap tokens), by name; they need not exist.
    pub(super) nodes: BTreeSet<String>,
    /// Admission records to delete, once their nodes are revoked.
    pub(super) records: BTreeMap<String, StoredRecord>,
    /// Bootstrap token Secrets to delete, by name.
    pub(super) tokens: BTreeSet<String>,
}

impl Plan {
    /// Whether there is nothing to do.
    pub(super) fn is_empty(&self) -> bool {
        self.nodes.is_empty() && self.records.is_empty() && self.tokens.is_empty()
    }

    /// Adds a node to revoke.
    pub(super) fn revoke_node(&mut self, node: &str) {
        self.nodes.insert(node.to_owned());
    }

    /// Adds a record to delete.
    pub(super) fn delete_record(&mut self, stored: &StoredRecord) {
        self.records.insert(stored.name.clone(), stored.clone());
    }

    /// Adds a bootstrap token to delete, unless its node is revoked (which
    /// deletes it).
    pub(super) fn delete_token(&mut self, token: &MintedSecret) {
        if !self.nodes.contains(token.claim.node.as_str()) {
            self.tokens.insert(token.name.clone());
        }
    }
}

/// `base` restricted to the reconciler's scope.
fn scoped(context: &Context, base: Option<String>) -> Option<String> {
    match (base, &context.settings.scope) {
        (Some(base), Some(scope)) => Some(format!("{base},{scope}")),
        (Some(base), None) => Some(base),
        (None, scope) => scope.clone(),
    }
}

fn list_params(selector: Option<String>) -> ListParams {
    match selector {
        Some(selector) => ListParams::default().labels(&selector),
        None => ListParams::default(),
    }
}

/// What the master manages of seal token `token`, or everything in scope.
///
/// Nodes are listed before records: a registration writes its record
/// before its join token exists, so every Node listed that was admitted
/// has its record in the later list (no Node is revoked for a record
/// written meanwhile).
pub(super) async fn inventory(
    context: &Context,
    token: Option<SealTokenId>,
) -> Result<Inventory, ReconcileError> {
    let prefix = token.map(seal_token_label_value);
    let node_selector = prefix
        .as_ref()
        .map(|value| format!("{NODE_SEAL_TOKEN_LABEL}={value}"));
    let nodes = paged_list::list_metadata(
        &Api::<Node>::all(context.kube.clone()),
        &list_params(scoped(context, node_selector)),
    )
    .await
    .map_err(ReconcileError::api("listing nodes"))?;
    let token_label = prefix.map(|value| format!(",{SEAL_TOKEN_LABEL}={value}"));
    let record_selector = format!(
        "{}{}",
        records_selector(),
        token_label.clone().unwrap_or_default()
    );
    let records = list_records(
        &context.kube,
        &scoped(context, Some(record_selector)).unwrap_or_default(),
    )
    .await
    .map_err(ReconcileError::admission)?;
    let secret_selector = format!(
        "{MANAGED_BY_LABEL}={MANAGED_BY}{}",
        token_label.unwrap_or_else(|| format!(",{SEAL_TOKEN_LABEL}"))
    );
    let secrets = paged_list::list_metadata(
        &Api::<Secret>::namespaced(context.kube.clone(), KUBE_SYSTEM),
        &list_params(scoped(context, Some(secret_selector)))
            .fields(&format!("type={BOOTSTRAP_TOKEN_TYPE}")),
    )
    .await
    .map_err(ReconcileError::api("listing bootstrap tokens"))?;
    let mine = |id: SealTokenId| token.is_none_or(|token| token == id);
    Ok(Inventory {
        nodes: nodes
            .into_iter()
            .filter_map(|meta| Some((meta.name.clone()?, meta)))
            .collect(),
        records: records
            .into_iter()
            .filter(|stored| {
                stored
                    .record
                    .as_ref()
                    .map_or(token.is_none(), |record| mine(record.seal_token))
            })
            .collect(),
        tokens: secrets
            .iter()
            .filter_map(minted_secret)
            .filter(|secret| mine(secret.claim.seal_token))
            .collect(),
    })
}

/// A bootstrap token Secret's claim, from its labels and annotations.
fn minted_secret(meta: &ObjectMeta) -> Option<MintedSecret> {
    let name = meta.name.clone()?;
    let annotation = |key: &str| meta.annotations.as_ref().and_then(|a| a.get(key));
    let node = meta
        .labels
        .as_ref()
        .and_then(|labels| labels.get(NODE_LABEL))
        .and_then(|node| node.parse().ok());
    let seal_token = annotation(SEAL_TOKEN_ANNOTATION).and_then(|v| v.parse().ok());
    let owner = annotation(OWNER_ANNOTATION).and_then(|v| Address::from_str(v).ok());
    let (Some(node), Some(seal_token), Some(owner)) = (node, seal_token, owner) else {
        warn!(
            secret = name,
            "bootstrap token without a node, seal token or owner; left to expire"
        );
        return None;
    };
    Some(MintedSecret {
        name,
        claim: WorkerClaim {
            seal_token,
            owner,
            node,
        },
    })
}

/// Carries out `plan`: revokes every node (concurrently), never one whose
/// name is exempt; then deletes the records of what was revoked and the
/// bootstrap tokens of nodes that were not (a node's own are deleted by its
/// revocation). Every step is idempotent.
///
/// Nothing is done unless `fence`'s term of leadership still holds.
///
/// # Errors
/// [`ReconcileError::Fenced`] before anything was done; otherwise the
/// first failure, the rest attempted. A record whose node could not be
/// revoked is kept, so the next pass finds it again.
pub(super) async fn execute(
    context: &Context,
    fence: &Fence,
    plan: &Plan,
) -> Result<(), ReconcileError> {
    fence.check().await?;
    let exempt = &context.settings.exempt;
    let revocations = join_all(
        plan.nodes
            .iter()
            .filter(|node| !exempt.contains(*node))
            .map(|node| async move {
                revoke_node(&context.kube, node, context.settings.drain)
                    .await
                    .map_err(|source| ReconcileError::Revocation {
                        node: node.clone(),
                        source: Box::new(source),
                    })
            }),
    )
    .await;
    let mut result = Ok(());
    let mut failed = BTreeSet::new();
    for outcome in revocations {
        if let Err(error) = outcome {
            if let ReconcileError::Revocation { node, .. } = &error {
                failed.insert(node.clone());
            }
            result = result.and(Err(error));
        }
    }
    for stored in plan.records.values() {
        let node = stored.record.as_ref().ok().map(|r| r.node.as_str());
        if node.is_some_and(|node| failed.contains(node)) {
            continue;
        }
        let deleted = delete_record(&context.kube, &stored.name, stored.uid.as_deref()).await;
        match deleted {
            Ok(true) => info!(record = %stored.name, "admission record deleted"),
            Ok(false) => {}
            Err(error) => result = result.and(Err(ReconcileError::admission(error))),
        }
    }
    for name in &plan.tokens {
        if let Err(error) = delete_bootstrap_token(&context.kube, name).await {
            result = result.and(Err(ReconcileError::admission(error)));
        }
    }
    result
}

impl ReconcileError {
    fn admission(source: AdmissionError) -> Self {
        Self::Admission(Box::new(source))
    }
}
