//! Tying a registered node to its seal token: labels and annotations on the
//! Node object.
//!
//! The node appears when its K3s agent registers, some time after the join
//! token was handed out; [`label_node`] watches for it (a list, then a watch
//! from the list's resource version, re-listed whenever the watch ends) and
//! then patches its metadata. The patch is a JSON merge patch, which is as
//! idempotent as a server-side apply here but, unlike an apply, can never
//! create a Node that has gone away in the meantime.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Node;
use kube::Client;
use kube::api::{Api, ListParams, Patch, PatchParams, WatchEvent, WatchParams};
use serde_json::json;
use tracing::{debug, info, instrument};

use super::{AdmissionError, WorkerNode, api_error};
use crate::labels::{FIELD_MANAGER, SEAL_TOKEN_LABEL, seal_token_label_value};

/// Longest single watch request, in seconds; the watch is re-opened after.
const WATCH_SECONDS: u32 = 60;
/// Pause before re-listing after a watch failed.
const RELIST_PAUSE: Duration = Duration::from_millis(200);

/// Waits up to `timeout` for `worker`'s Node to exist, then labels it with
/// its seal token ([`SEAL_TOKEN_LABEL`]) and annotates it with owner, seal
/// token and node id. Returns the patched Node. Running it again on a
/// labelled node changes nothing.
///
/// # Errors
/// [`AdmissionError::NodeNotRegistered`] when the node does not appear in
/// time; [`AdmissionError::Api`] when listing or patching fails.
#[instrument(skip(client), fields(node = %worker.name, seal_token = %worker.seal_token))]
pub async fn label_node(
    client: &Client,
    worker: &WorkerNode,
    timeout: Duration,
) -> Result<Node, AdmissionError> {
    let nodes: Api<Node> = Api::all(client.clone());
    let name = worker.name.as_str();
    tokio::time::timeout(timeout, wait_for_node(&nodes, name))
        .await
        .map_err(|_| AdmissionError::NodeNotRegistered {
            node: name.to_owned(),
            waited: timeout,
        })??;
    let patch = json!({
        "metadata": {
            "labels": BTreeMap::from([(
                SEAL_TOKEN_LABEL.to_owned(),
                seal_token_label_value(worker.seal_token),
            )]),
            "annotations": worker.annotations(),
        }
    });
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    let node = nodes
        .patch(name, &params, &Patch::Merge(&patch))
        .await
        .map_err(api_error(format!("labelling node {name}")))?;
    info!("node labelled with its seal token");
    Ok(node)
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
            debug!(%error, "watching for the node failed; re-listing");
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
                debug!(%error, "node watch failed; re-listing");
                return false;
            }
        }
    }
}
