//! Draining a node with k9s's (and `kubectl drain`'s) options: cordon
//! first, decide which pods may go, evict them (or delete them with
//! eviction disabled) with the chosen grace period, retry evictions a
//! PodDisruptionBudget refuses, and report progress until the eligible
//! pods have left or the timeout passes.
//!
//! Like kubectl (k8s.io/kubectl/pkg/drain): mirror pods are left alone;
//! DaemonSet pods stop the drain unless DaemonSets are ignored; pods with
//! no controller stop it unless forced; pods with `emptyDir` volumes stop
//! it unless their data may be deleted; finished pods always go. A drain
//! that stops leaves the node cordoned and touches no pod.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, EvictParams, ListParams, Preconditions};
use serde::Serialize;
use tokio::time::Instant;

use super::nodes::cordon_with;
use super::{Context, OpsError};

/// Annotation the kubelet puts on mirror pods of static pods.
pub const MIRROR_POD_ANNOTATION: &str = "kubernetes.io/config.mirror";
/// How often the drain looks whether pods left.
const POLL: Duration = Duration::from_millis(500);
/// Longest wait between eviction attempts (kubectl waits 5 s).
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// k9s's drain dialog, field for field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DrainOptions {
    /// Seconds each pod gets to terminate; `None` uses the pod's own.
    pub grace_period: Option<u32>,
    /// How long to wait for the pods to leave; `None` waits forever.
    pub timeout: Option<Duration>,
    /// Delete pods with `emptyDir` volumes (their data is lost).
    pub delete_emptydir_data: bool,
    /// Leave DaemonSet pods instead of stopping.
    pub ignore_daemonsets: bool,
    /// Also remove pods no controller would recreate.
    pub force: bool,
    /// Delete pods instead of evicting them (ignores disruption budgets).
    pub disable_eviction: bool,
}

impl Default for DrainOptions {
    /// k9s's defaults: the pods' grace period, a 2-minute timeout, nothing
    /// else allowed.
    fn default() -> Self {
        Self {
            grace_period: None,
            timeout: Some(Duration::from_secs(120)),
            delete_emptydir_data: false,
            ignore_daemonsets: false,
            force: false,
            disable_eviction: false,
        }
    }
}

/// What the drain is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DrainProgress {
    /// The node is cordoned.
    Cordoned,
    /// These pods will be removed; those are left, with why.
    Planned {
        /// `namespace/name` of each pod to remove.
        remove: Vec<String>,
        /// `namespace/name` and why each other pod stays.
        skipped: Vec<(String, &'static str)>,
    },
    /// A pod was evicted or deleted; its termination is awaited.
    Removing(String),
    /// A disruption budget refused this pod's eviction for now.
    Blocked(String),
    /// So many pods are still on the node.
    Remaining(usize),
}

/// What a finished drain did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DrainReport {
    /// The node.
    pub node: String,
    /// Pods removed.
    pub removed: Vec<String>,
    /// Pods left alone, with why.
    pub skipped: Vec<(String, &'static str)>,
}

/// Why a pod stops the drain, or is left alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Remove,
    Skip(&'static str),
    Stop(&'static str),
}

fn verdict(pod: &Pod, options: &DrainOptions) -> Verdict {
    let finished = pod
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .is_some_and(|phase| phase == "Succeeded" || phase == "Failed");
    if finished {
        return Verdict::Remove;
    }
    let mirror = pod
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(MIRROR_POD_ANNOTATION));
    if mirror {
        return Verdict::Skip("mirror pod (the kubelet owns it)");
    }
    let controller = pod
        .metadata
        .owner_references
        .as_ref()
        .and_then(|refs| refs.iter().find(|r| r.controller == Some(true)));
    match controller {
        Some(owner) if owner.kind == "DaemonSet" => {
            return if options.ignore_daemonsets {
                Verdict::Skip("DaemonSet pod (DaemonSets ignored)")
            } else {
                Verdict::Stop("managed by a DaemonSet (ignore DaemonSets to leave it)")
            };
        }
        None if !options.force => {
            return Verdict::Stop("no controller would recreate it (force to delete it)");
        }
        _ => {}
    }
    let empty_dir = pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.as_ref())
        .is_some_and(|v| v.iter().any(|v| v.empty_dir.is_some()));
    if empty_dir && !options.delete_emptydir_data {
        return Verdict::Stop("uses emptyDir local storage (delete emptyDir data to allow it)");
    }
    Verdict::Remove
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

    fn label(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    fn delete_params(&self, grace_period: Option<u32>) -> DeleteParams {
        DeleteParams {
            grace_period_seconds: grace_period,
            preconditions: Some(Preconditions {
                uid: Some(self.uid.clone()),
                resource_version: None,
            }),
            ..DeleteParams::default()
        }
    }
}

/// Drains `node`, reporting each step to `progress`.
///
/// # Errors
/// Read-only session; a pod that stops the drain (the node stays
/// cordoned, no pod is touched); the timeout (naming the pods left); the
/// API server refused.
pub async fn drain(
    ctx: &Context,
    node: &str,
    options: DrainOptions,
    mut progress: impl FnMut(DrainProgress) + Send,
) -> Result<DrainReport, OpsError> {
    ctx.ensure_writable("drain")?;
    let client = ctx.kube().await?;
    let deadline = options.timeout.map(|t| Instant::now() + t);
    cordon_with(&client, node, true).await?;
    progress(DrainProgress::Cordoned);

    let pods: Api<Pod> = Api::all(client.clone());
    let list = pods
        .list(&ListParams::default().fields(&format!("spec.nodeName={node}")))
        .await
        .map_err(|e| OpsError::kube(format!("listing the pods of node {node}"), e))?;
    let mut report = DrainReport {
        node: node.to_owned(),
        ..DrainReport::default()
    };
    let mut targets = Vec::new();
    let mut stops = Vec::new();
    for pod in &list.items {
        let Some(target) = PodRef::of(pod) else {
            continue;
        };
        match verdict(pod, &options) {
            Verdict::Remove => targets.push(target),
            Verdict::Skip(why) => report.skipped.push((target.label(), why)),
            Verdict::Stop(why) => stops.push(format!("{}: {why}", target.label())),
        }
    }
    if !stops.is_empty() {
        return Err(OpsError::Refused(format!(
            "node {node} is cordoned but not drained; no pod was removed: {}",
            stops.join("; ")
        )));
    }
    progress(DrainProgress::Planned {
        remove: targets.iter().map(PodRef::label).collect(),
        skipped: report.skipped.clone(),
    });
    remove_all(&client, &targets, options, deadline, &mut progress).await?;
    report.removed = targets.iter().map(PodRef::label).collect();
    Ok(report)
}

/// Evicts (or deletes) every target, retrying budget refusals, and waits
/// until all are gone.
async fn remove_all(
    client: &kube::Client,
    targets: &[PodRef],
    options: DrainOptions,
    deadline: Option<Instant>,
    progress: &mut (impl FnMut(DrainProgress) + Send),
) -> Result<(), OpsError> {
    let mut pending: Vec<(PodRef, bool, Duration)> = targets
        .iter()
        .map(|t| (t.clone(), false, Duration::from_millis(500)))
        .collect();
    loop {
        let mut left = Vec::with_capacity(pending.len());
        for (pod, requested, backoff) in pending {
            let api: Api<Pod> = Api::namespaced(client.clone(), &pod.namespace);
            if !requested {
                match request_removal(&api, &pod, options).await? {
                    Removal::Requested => progress(DrainProgress::Removing(pod.label())),
                    Removal::Gone => continue,
                    Removal::Blocked => {
                        progress(DrainProgress::Blocked(pod.label()));
                        left.push((pod, false, (backoff * 2).min(MAX_BACKOFF)));
                        continue;
                    }
                }
            }
            if still_there(&api, &pod).await? {
                left.push((pod, true, backoff));
            }
        }
        pending = left;
        progress(DrainProgress::Remaining(pending.len()));
        if pending.is_empty() {
            return Ok(());
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let names: Vec<String> = pending.iter().map(|(p, ..)| p.label()).collect();
            return Err(OpsError::Refused(format!(
                "the drain timed out with {} pod(s) still on the node (it stays cordoned): {}",
                names.len(),
                names.join(", ")
            )));
        }
        let wait = pending
            .iter()
            .filter(|(_, requested, _)| !requested)
            .map(|(_, _, backoff)| *backoff)
            .min()
            .unwrap_or(POLL)
            .max(POLL);
        tokio::time::sleep(wait).await;
    }
}

enum Removal {
    Requested,
    Gone,
    Blocked,
}

/// 404: the pod is gone; 409: its UID precondition failed, so the pod we
/// meant is gone and another took its name.
fn is_gone(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(s) if s.code == 404 || s.code == 409)
}

async fn request_removal(
    api: &Api<Pod>,
    pod: &PodRef,
    options: DrainOptions,
) -> Result<Removal, OpsError> {
    let params = pod.delete_params(options.grace_period);
    let result = if options.disable_eviction {
        api.delete(&pod.name, &params).await.map(drop)
    } else {
        let evict = EvictParams {
            delete_options: Some(params),
            ..EvictParams::default()
        };
        api.evict(&pod.name, &evict).await.map(drop)
    };
    match result {
        Ok(()) => Ok(Removal::Requested),
        Err(e) if is_gone(&e) => Ok(Removal::Gone),
        Err(kube::Error::Api(status)) if status.code == 429 => Ok(Removal::Blocked),
        Err(e) => Err(OpsError::kube(format!("removing pod {}", pod.label()), e)),
    }
}

async fn still_there(api: &Api<Pod>, pod: &PodRef) -> Result<bool, OpsError> {
    let current = api
        .get_metadata_opt(&pod.name)
        .await
        .map_err(|e| OpsError::kube(format!("reading pod {}", pod.label()), e))?;
    Ok(current.is_some_and(|p| p.metadata.uid.as_deref() == Some(pod.uid.as_str())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{EmptyDirVolumeSource, PodSpec, PodStatus, Volume};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

    fn pod(owner: Option<&str>, empty_dir: bool, phase: &str, mirror: bool) -> Pod {
        Pod {
            metadata: ObjectMeta {
                annotations: mirror
                    .then(|| [(MIRROR_POD_ANNOTATION.to_owned(), "x".to_owned())].into()),
                owner_references: owner.map(|kind| {
                    vec![OwnerReference {
                        api_version: "apps/v1".to_owned(),
                        kind: kind.to_owned(),
                        name: "owner".to_owned(),
                        uid: "uid".to_owned(),
                        controller: Some(true),
                        block_owner_deletion: None,
                    }]
                }),
                ..ObjectMeta::default()
            },
            spec: Some(PodSpec {
                volumes: empty_dir.then(|| {
                    vec![Volume {
                        name: "scratch".to_owned(),
                        empty_dir: Some(EmptyDirVolumeSource::default()),
                        ..Volume::default()
                    }]
                }),
                ..PodSpec::default()
            }),
            status: Some(PodStatus {
                phase: Some(phase.to_owned()),
                ..PodStatus::default()
            }),
        }
    }

    #[test]
    fn pods_are_judged_as_kubectl_drain_does() {
        let strict = DrainOptions::default();
        let lenient = DrainOptions {
            delete_emptydir_data: true,
            ignore_daemonsets: true,
            force: true,
            ..strict
        };
        let replicated = pod(Some("ReplicaSet"), false, "Running", false);
        assert_eq!(verdict(&replicated, &strict), Verdict::Remove);
        let daemon = pod(Some("DaemonSet"), false, "Running", false);
        assert!(matches!(verdict(&daemon, &strict), Verdict::Stop(_)));
        assert!(matches!(verdict(&daemon, &lenient), Verdict::Skip(_)));
        let bare = pod(None, false, "Running", false);
        assert!(matches!(verdict(&bare, &strict), Verdict::Stop(w) if w.contains("force")));
        assert_eq!(verdict(&bare, &lenient), Verdict::Remove);
        let scratch = pod(Some("ReplicaSet"), true, "Running", false);
        assert!(matches!(verdict(&scratch, &strict), Verdict::Stop(w) if w.contains("emptyDir")));
        assert_eq!(verdict(&scratch, &lenient), Verdict::Remove);
        let mirror = pod(None, false, "Running", true);
        assert!(matches!(verdict(&mirror, &lenient), Verdict::Skip(_)));
        let done = pod(None, true, "Succeeded", false);
        assert_eq!(verdict(&done, &strict), Verdict::Remove);
    }
}
