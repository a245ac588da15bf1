//! Tying a registered node to its seal token: a label under
//! `node-restriction.kubernetes.io/` ([`NODE_SEAL_TOKEN_LABEL`]) and
//! annotations on the Node object.
//!
//! The kubelet's own identity (`system:node:<name>`) may edit its Node's
//! annotations and ordinary labels, but the NodeRestriction admission
//! plugin forbids it to add, change or remove labels under that prefix; so
//! the label can select a worker's Nodes, and the annotations are for
//! people to read. Neither admits anything: the admission record does.
//!
//! The node appears when its agent registers, some time after the join
//! token was handed out; [`label_node`] watches for it (a list, then a watch
//! from the list's resource version, re-listed whenever the watch ends) and
//! then patches its metadata ([`apply_node_labels`]). The patch is a JSON
//! merge patch, which is as idempotent as a server-side apply here but,
//! unlike an apply, can never create a Node that has gone away in the
//! meantime. A node that appears while no master watches is labelled by
//! the leader's re-check from its admission record.

use std::collections::BTreeMap;
use std::time::Duration;

use daas_core::error_chain::one_line;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Node;
use kube::Client;
use kube::api::{Api, ListParams, ObjectMeta, Patch, PatchParams, WatchEvent, WatchParams};
use serde_json::json;
use tracing::{debug, info, instrument};

use super::{AdmissionError, WorkerNode, api_error};
use crate::labels::{FIELD_MANAGER, NODE_SEAL_TOKEN_LABEL, seal_token_label_value};

/// Longest single watch request, in seconds; the watch is re-opened after.
const WATCH_SECONDS: u32 = 60;
/// Pause before re-listing after a watch failed.
const RELIST_PAUSE: Duration = Duration::from_millis(200);

/// Waits up to `timeout` for `worker`'s Node to exist, then labels it
/// ([`apply_node_labels`]). Returns the patched Node. Running it again on a
/// labelled node changes nothing.
///
/// # Errors
/// [`AdmissionError::NodeNotRegistered`] when the node does not appear in
/// time (or is gone again before it is labelled); [`AdmissionError::Api`]
/// when listing or patching fails.
#[instrument(skip_all, fields(node = %worker.name, seal_token = %worker.seal_token))]
pub async fn label_node(
    client: &Client,
    worker: &WorkerNode,
    timeout: Duration,
) -> Result<Node, AdmissionError> {
    let nodes: Api<Node> = Api::all(client.clone());
    let name = worker.name.as_str();
    let not_registered = || AdmissionError::NodeNotRegistered {
        node: name.to_owned(),
        waited: timeout,
    };
    tokio::time::timeout(timeout, wait_for_node(&nodes, name))
        .await
        .map_err(|_| not_registered())??;
    apply_node_labels(client, worker)
        .await?
        .ok_or_else(not_registered)
}

/// Labels `worker`'s Node with its seal token ([`NODE_SEAL_TOKEN_LABEL`])
/// and annotates it with owner, seal token and node id; `None` when the
/// Node does not exist.
///
/// # Errors
/// [`AdmissionError::Api`] when the patch fails otherwise.
pub async fn apply_node_labels(
    client: &Client,
    worker: &WorkerNode,
) -> Result<Option<Node>, AdmissionError> {
    let name = worker.name.as_str();
    let patch = json!({
        "metadata": {
            "labels": BTreeMap::from([(
                NODE_SEAL_TOKEN_LABEL.to_owned(),
                seal_token_label_value(worker.seal_token),
            )]),
            "annotations": worker.annotations(),
        }
    });
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    match Api::<Node>::all(client.clone())
        .patch(name, &params, &Patch::Merge(&patch))
        .await
    {
        Ok(node) => {
            info!(node = name, "node labelled with its seal token");
            Ok(Some(node))
        }
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(None),
        Err(source) => Err(api_error(format!("labelling node {name}"))(source)),
    }
}

/// Whether a Node's metadata carries `worker`'s label and annotations.
pub fn node_is_labelled(meta: &ObjectMeta, worker: &WorkerNode) -> bool {
    let labelled = meta
        .labels
        .as_ref()
        .and_then(|labels| labels.get(NODE_SEAL_TOKEN_LABEL))
        .is_some_and(|value| *value == seal_token_label_value(worker.seal_token));
    let annotations = meta.annotations.clone().unwrap_or_default();
    labelled
        && worker
            .annotations()
            .iter()
            .all(|(key, value)| annotations.get(key) == Some(value))
}

/// Returns once a Node called `name` exists.
async fn wait_for_node(nodes: &Api<Node>, name: &str) -> Result<(), AdmissionError> {
    let selector = format!("metadata.name={name}");
    loop {
        let list = nodes
            .list_metadata(&ListParams::default().fields(&selector))
            .await
            .map_err(api_error(format!("listing node {name}")))?;
        if !list.items.is_empty() {
            return Ok(());
        }
        let version = list.metadata.resource_version.unwrap_or_default();
        if watch_until_added(nodes, &selector, &version).await {
            return Ok(());
        }
        tokio::time::sleep(RELIST_PAUSE).await;
    }
}

/// Watches from `version`; true when the node was added, false when the
/// watch ended or failed (the caller re-lists).
async fn watch_until_added(nodes: &Api<Node>, selector: &str, version: &str) -> bool {
    let params = WatchParams::default()
        .fields(selector)
        .timeout(WATCH_SECONDS);
    let stream = match nodes.watch(&params, version).await {
        Ok(stream) => stream,
        Err(error) => {
            debug!(error = %one_line(&error), "watching for the node failed; re-listing");
            return false;
        }
    };
    let mut stream = stream.boxed();
    loop {
        match stream.try_next().await {
            Ok(Some(WatchEvent::Added(_) | WatchEvent::Modified(_))) => return true,
            Ok(Some(WatchEvent::Deleted(_) | WatchEvent::Bookmark(_))) => {}
            Ok(Some(WatchEvent::Error(status))) => {
                debug!(code = status.code, reason = %status.reason, "node watch ended");
                return false;
            }
            Ok(None) => return false,
            Err(error) => {
                debug!(error = %one_line(&error), "node watch failed; re-listing");
                return false;
            }
        }
    }
}
