//! Cordoning a node and draining its pods with the Eviction API.
//!
//! Semantics follow `kubectl drain --ignore-daemonsets --delete-emptydir-data
//! --force` (k8s.io/kubectl/pkg/drain), plus a hard stop:
//!
//! - mirror pods (annotation [`MIRROR_POD_ANNOTATION`]) are skipped: the
//!   kubelet owns them and deleting them through the API does nothing;
//! - pods controlled by a DaemonSet are skipped: the DaemonSet controller
//!   tolerates cordoned nodes and would recreate them at once; they go away
//!   with the Node;
//! - every other pod, including unreplicated ones, is evicted with its UID as
//!   a precondition, so a replacement with the same name is never touched;
//! - an eviction refused with `429 Too Many Requests` (a PodDisruptionBudget
//!   allows no disruption now) is retried with exponential backoff (kube's
//!   client also retries 429s on its own; each request is cut off at the
//!   deadline);
//! - when [`DrainPolicy::timeout`] runs out, pods still there (blocked by a
//!   budget, or evicted but not terminated) are deleted with a grace period
//!   of zero. A revoked worker must lose its pods even when a budget says no.
//!
//! Every step tolerates work already done (a pod or node already gone), so a
//! master that restarts half-way can run the drain again.

use std::time::Duration;

use futures::future::join_all;
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, DeleteParams, EvictParams, ListParams, Patch, PatchParams, Preconditions};
use serde_json::json;
use tokio::time::Instant;
use tracing::{debug, info, instrument, warn};

use super::RevocationError;
use crate::labels::FIELD_MANAGER;

/// Annotation the kubelet puts on mirror pods of static pods.
pub const MIRROR_POD_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// How long a poll for a pod's disappearance sleeps.
const GONE_POLL: Duration = Duration::from_millis(250);

/// How hard the drain tries before it force-deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrainPolicy {
    /// Time for evictions and graceful termination, from the start of the
    /// drain; pods left after it are force-deleted.
    pub timeout: Duration,
    /// First wait after a `429` from the Eviction API.
    pub initial_backoff: Duration,
    /// Longest wait between eviction attempts (kubectl waits 5 s).
    pub max_backoff: Duration,
}

impl Default for DrainPolicy {
    /// Two minutes, backing off from half a second to five.
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(120),
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// What happened to one pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodOutcome {
    /// Evicted and gone.
    Evicted,
    /// Force-deleted after the timeout.
    ForceDeleted,
    /// Already gone when the drain reached it.
    AlreadyGone,
}

/// What a drain did, by `namespace/name`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DrainReport {
    /// Pods evicted and gone.
    pub evicted: Vec<String>,
    /// Pods force-deleted after the timeout.
    pub force_deleted: Vec<String>,
    /// Pods that went away on their own.
    pub already_gone: Vec<String>,
    /// Mirror and DaemonSet pods, left alone.
    pub skipped: Vec<String>,
}

/// Marks the node unschedulable. Returns `false` if the node does not
/// exist (nothing to cordon).
///
/// # Errors
/// [`RevocationError::Api`] when the patch fails otherwise.
#[instrument(skip(client))]
pub async fn cordon(client: &Client, node: &str) -> Result<bool, RevocationError> {
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(client.clone());
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    let patch = json!({ "spec": { "unschedulable": true } });
    match nodes.patch(node, &params, &Patch::Merge(&patch)).await {
        Ok(_) => {
            info!("node cordoned");
            Ok(true)
        }
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
        Err(source) => Err(RevocationError::api(
            format!("cordoning node {node}"),
            source,
        )),
    }
}

/// Whether a drain leaves the pod alone: a mirror pod or a DaemonSet's.
pub fn is_skipped(pod: &Pod) -> bool {
    let mirror = pod
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(MIRROR_POD_ANNOTATION));
    let daemon = pod.metadata.owner_references.as_ref().is_some_and(|refs| {
        refs.iter()
            .any(|r| r.controller == Some(true) && r.kind == "DaemonSet")
    });
    mirror || daemon
}

/// Evicts every pod on `node` (but mirror and DaemonSet pods) and waits for
/// them to go, force-deleting what is left after the policy's timeout.
///
/// # Errors
/// [`RevocationError::Api`] when listing fails, or an eviction or delete
/// fails for a reason other than a budget or the pod being gone.
#[instrument(skip(client, policy), fields(timeout = ?policy.timeout))]
pub async fn drain(
    client: &Client,
    node: &str,
    policy: DrainPolicy,
) -> Result<DrainReport, RevocationError> {
    let deadline = Instant::now() + policy.timeout;
    let pods: Api<Pod> = Api::all(client.clone());
    let list = pods
        .list(&ListParams::default().fields(&format!("spec.nodeName={node}")))
        .await
        .map_err(|e| RevocationError::api(format!("listing the pods of node {node}"), e))?;
    let mut report = DrainReport::default();
    let mut targets = Vec::new();
    for pod in list.items {
        let Some(target) = PodRef::of(&pod) else {
            continue;
        };
        if is_skipped(&pod) {
            report.skipped.push(target.to_string());
        } else {
            targets.push(target);
        }
    }
    let outcomes = join_all(
        targets
            .iter()
            .map(|target| remove_pod(client, target, deadline, policy)),
    )
    .await;
    for (target, outcome) in targets.iter().zip(outcomes) {
        let list = match outcome? {
            PodOutcome::Evicted => &mut report.evicted,
            PodOutcome::ForceDeleted => &mut report.force_deleted,
            PodOutcome::AlreadyGone => &mut report.already_gone,
        };
        list.push(target.to_string());
    }
    info!(
        evicted = report.evicted.len(),
        force_deleted = report.force_deleted.len(),
        skipped = report.skipped.len(),
        "node drained"
    );
    Ok(report)
}

/// A pod by namespace, name and UID.
#[derive(Debug, Clone)]
struct PodRef {
    namespace: String,
    name: String,
    uid: String,
}

impl PodRef {
    fn of(pod: &Pod) -> Option<Self> {
        Some(Self {
            namespace: pod.metadata.namespace.clone()?,
            name: pod.metadata.name.clone()?,
            uid: pod.metadata.uid.clone()?,
        })
    }

    fn delete_params(&self) -> DeleteParams {
        DeleteParams {
            preconditions: Some(Preconditions {
                uid: Some(self.uid.clone()),
                resource_version: None,
            }),
            ..DeleteParams::default()
        }
    }
}

impl std::fmt::Display for PodRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// How an eviction request ended.
enum Eviction {
    Accepted,
    Gone,
    Blocked,
}

/// 404: the pod is gone; 409: its UID precondition failed, so the pod we
/// meant is gone and another took its name.
fn is_gone(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(s) if s.code == 404 || s.code == 409)
}

#[instrument(skip_all, fields(pod = %pod))]
async fn remove_pod(
    client: &Client,
    pod: &PodRef,
    deadline: Instant,
    policy: DrainPolicy,
) -> Result<PodOutcome, RevocationError> {
    let api: Api<Pod> = Api::namespaced(client.clone(), &pod.namespace);
    match evict_with_backoff(&api, pod, deadline, policy).await? {
        Eviction::Gone => return Ok(PodOutcome::AlreadyGone),
        Eviction::Accepted => {
            if wait_gone(&api, pod, deadline).await? {
                return Ok(PodOutcome::Evicted);
            }
        }
        Eviction::Blocked => {}
    }
    force_delete(&api, pod).await
}

/// Evicts until the API server accepts, the pod is gone, or the deadline
/// passes with the eviction still refused by a budget.
async fn evict_with_backoff(
    api: &Api<Pod>,
    pod: &PodRef,
    deadline: Instant,
    policy: DrainPolicy,
) -> Result<Eviction, RevocationError> {
    let params = EvictParams {
        delete_options: Some(pod.delete_params()),
        ..EvictParams::default()
    };
    let mut backoff = policy.initial_backoff;
    loop {
        // kube's client retries a 429 itself, for minutes; the deadline is
        // ours to keep.
        let remaining = deadline.saturating_duration_since(Instant::now());
        let Ok(result) = tokio::time::timeout(remaining, api.evict(&pod.name, &params)).await
        else {
            warn!("disruption budget still blocks the eviction at the timeout");
            return Ok(Eviction::Blocked);
        };
        match result {
            Ok(_) => {
                debug!("eviction accepted");
                return Ok(Eviction::Accepted);
            }
            Err(e) if is_gone(&e) => return Ok(Eviction::Gone),
            Err(kube::Error::Api(status)) if status.code == 429 => {
                debug!(message = %status.message, "eviction refused by a disruption budget");
            }
            Err(source) => return Err(RevocationError::api(format!("evicting pod {pod}"), source)),
        }
        let now = Instant::now();
        if now >= deadline {
            warn!("disruption budget still blocks the eviction at the timeout");
            return Ok(Eviction::Blocked);
        }
        tokio::time::sleep(backoff.min(deadline - now)).await;
        backoff = (backoff * 2).min(policy.max_backoff);
    }
}

/// Polls until the pod (this UID) is gone; false if it is still there at
/// the deadline.
async fn wait_gone(
    api: &Api<Pod>,
    pod: &PodRef,
    deadline: Instant,
) -> Result<bool, RevocationError> {
    loop {
        let current = api
            .get_metadata_opt(&pod.name)
            .await
            .map_err(|e| RevocationError::api(format!("reading pod {pod}"), e))?;
        let present = current.is_some_and(|p| p.metadata.uid.as_deref() == Some(pod.uid.as_str()));
        if !present {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(GONE_POLL).await;
    }
}

async fn force_delete(api: &Api<Pod>, pod: &PodRef) -> Result<PodOutcome, RevocationError> {
    let params = DeleteParams {
        grace_period_seconds: Some(0),
        ..pod.delete_params()
    };
    match api.delete(&pod.name, &params).await {
        Ok(_) => {
            warn!("pod force-deleted after the drain timeout");
            Ok(PodOutcome::ForceDeleted)
        }
        Err(e) if is_gone(&e) => Ok(PodOutcome::AlreadyGone),
        Err(source) => Err(RevocationError::api(
            format!("force-deleting pod {pod}"),
            source,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

    fn pod(annotations: &[(&str, &str)], owner: Option<(&str, bool)>) -> Pod {
        Pod {
            metadata: ObjectMeta {
                annotations: Some(
                    annotations
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect(),
                ),
                owner_references: owner.map(|(kind, controller)| {
                    vec![OwnerReference {
                        api_version: "apps/v1".to_owned(),
                        kind: kind.to_owned(),
                        name: "owner".to_owned(),
                        uid: "uid".to_owned(),
                        controller: Some(controller),
                        block_owner_deletion: None,
                    }]
                }),
                ..ObjectMeta::default()
            },
            ..Pod::default()
        }
    }

    #[test]
    fn skips_mirror_and_daemonset_pods_only() {
        assert!(is_skipped(&pod(&[(MIRROR_POD_ANNOTATION, "hash")], None)));
        assert!(is_skipped(&pod(&[], Some(("DaemonSet", true)))));
        assert!(!is_skipped(&pod(&[], Some(("DaemonSet", false)))));
        assert!(!is_skipped(&pod(&[], Some(("ReplicaSet", true)))));
        assert!(!is_skipped(&pod(&[("other", "x")], None)));
    }
}
