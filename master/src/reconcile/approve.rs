//! The leader's certificate approver: every bootstrapper's request for a
//! node client certificate is approved only for the node its bootstrap
//! token was minted for, while that node's seal token holds it; every
//! other such request is denied with the reason. Requests it cannot decide
//! (the chain or the API server cannot be read) stay pending and are
//! looked at again at the next re-list.

use daas_core::access::worker::{chain_time_ms, review_worker};
use futures::{StreamExt as _, TryStreamExt as _};
use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams, Patch, PatchParams, WatchEvent, WatchParams};
use serde_json::json;
use tracing::{debug, info, instrument, warn};

use super::{Context, ReconcileError};
use crate::admission::csr::{Inspection, NodeClientRequest, inspect};
use crate::admission::record::{list_records, records_selector};
use crate::labels::{FIELD_MANAGER, NODE_LABEL};
use crate::leader::Fence;
use daas_core::error_chain::one_line;

/// Longest watch, in seconds: undecided requests wait at most this long
/// for another look.
const WATCH_SECONDS: u32 = 20;
/// Reason of the master's approvals.
pub const APPROVED_REASON: &str = "K3sDaasNodeAdmitted";
/// Reason of the master's denials.
pub const DENIED_REASON: &str = "K3sDaasNodeNotAdmitted";

/// What the master decides about one request.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Decision {
    Approve(String),
    Deny(String),
    /// Not this master's to decide (outside its scope).
    Skip,
}

/// Approves and denies requests until dropped.
pub(super) async fn approve_node_certificates(context: &Context, fence: &Fence) {
    let api: Api<CertificateSigningRequest> = Api::all(context.kube.clone());
    let mut backoff = context.backoff();
    loop {
        match watch_round(context, fence, &api).await {
            Ok(()) => backoff.reset(),
            Err(error) => {
                let wait = backoff.next_wait();
                warn!(error = %one_line(&error), ?wait, "certificate approver failed; re-listing");
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// Handles every request listed, then every one added or changed until
/// the watch ends.
async fn watch_round(
    context: &Context,
    fence: &Fence,
    api: &Api<CertificateSigningRequest>,
) -> Result<(), ReconcileError> {
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(ReconcileError::api("listing certificate signing requests"))?;
    for request in &list.items {
        handle(context, fence, api, request).await;
    }
    let version = list.metadata.resource_version.unwrap_or_default();
    let params = WatchParams::default().timeout(WATCH_SECONDS);
    let mut events = api
        .watch(&params, &version)
        .await
        .map_err(ReconcileError::api("watching certificate signing requests"))?
        .boxed();
    while let Some(event) = events
        .try_next()
        .await
        .map_err(ReconcileError::api("watching certificate signing requests"))?
    {
        match event {
            WatchEvent::Added(request) | WatchEvent::Modified(request) => {
                handle(context, fence, api, &request).await;
            }
            WatchEvent::Error(status) => {
                debug!(code = status.code, reason = %status.reason, "request watch ended");
                return Ok(());
            }
            WatchEvent::Deleted(_) | WatchEvent::Bookmark(_) => {}
        }
    }
    Ok(())
}

fn is_pending(request: &CertificateSigningRequest) -> bool {
    let conditions = request.status.as_ref().and_then(|s| s.conditions.as_ref());
    !conditions.is_some_and(|conditions| {
        conditions
            .iter()
            .any(|c| matches!(c.type_.as_str(), "Approved" | "Denied" | "Failed"))
    })
}

/// Decides a pending request and records the decision; failures are
/// logged (the request stays pending).
#[instrument(skip_all, fields(request = request.metadata.name.as_deref().unwrap_or_default()))]
async fn handle(
    context: &Context,
    fence: &Fence,
    api: &Api<CertificateSigningRequest>,
    request: &CertificateSigningRequest,
) {
    let Some(name) = request.metadata.name.as_deref() else {
        return;
    };
    if !is_pending(request) {
        return;
    }
    let decision = match inspect(&request.spec) {
        Inspection::NotOurs => return,
        Inspection::Malformed(reason) => Decision::Deny(reason),
        Inspection::NodeClient(wanted) => match decide(context, &wanted).await {
            Ok(decision) => decision,
            Err(error) => {
                warn!(error = %one_line(&error), "cannot decide the request yet");
                return;
            }
        },
    };
    let (kind, reason, message) = match &decision {
        Decision::Approve(message) => ("Approved", APPROVED_REASON, message),
        Decision::Deny(message) => ("Denied", DENIED_REASON, message),
        Decision::Skip => return,
    };
    let patch = json!({ "status": { "conditions": [{
        "type": kind,
        "status": "True",
        "reason": reason,
        "message": message,
        "lastUpdateTime": Timestamp::now().to_string(),
    }]}});
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    if let Err(error) = fence.check().await {
        warn!(error = %one_line(&error), decision = kind, "not recording the decision");
        return;
    }
    match api
        .patch_approval(name, &params, &Patch::Merge(&patch))
        .await
    {
        Ok(_) => info!(decision = kind, %message, "node certificate request decided"),
        Err(error) => {
            warn!(error = %one_line(&error), decision = kind, "cannot record the decision")
        }
    }
}

/// Approves when `wanted`'s node has an admission record (in scope) that
/// names its bootstrap token and whose seal token holds the node now.
async fn decide(context: &Context, wanted: &NodeClientRequest) -> Result<Decision, ReconcileError> {
    let node = &wanted.node;
    if context.settings.exempt.contains(node.as_str()) {
        return Ok(Decision::Deny(format!(
            "node name {node} is reserved for a node outside staking"
        )));
    }
    let mut selector = format!("{},{NODE_LABEL}={node}", records_selector());
    if let Some(scope) = &context.settings.scope {
        selector = format!("{selector},{scope}");
    }
    let records = list_records(&context.kube, &selector)
        .await
        .map_err(|e| ReconcileError::Admission(Box::new(e)))?;
    let record = match records.into_iter().next().map(|stored| stored.record) {
        None if context.settings.scope.is_some() => return Ok(Decision::Skip),
        None => {
            return Ok(Decision::Deny(format!(
                "node {node} has no admission record: it must register with a worker seal token first"
            )));
        }
        Some(Err(reason)) => {
            return Ok(Decision::Deny(format!(
                "node {node}'s admission record is malformed: {reason}"
            )));
        }
        Some(Ok(record)) => record,
    };
    if record.bootstrap_token_id != wanted.token_id {
        return Ok(Decision::Deny(format!(
            "bootstrap token {} was not minted for node {node}",
            wanted.token_id
        )));
    }
    let now_ms = chain_time_ms(&context.chain)
        .await
        .map_err(ReconcileError::chain("reading the chain clock"))?;
    let verdict = review_worker(&context.chain, &record.claim(), now_ms)
        .await
        .map_err(ReconcileError::chain(format!(
            "reading seal token {}",
            record.seal_token
        )))?;
    Ok(match verdict {
        Ok(_) => Decision::Approve(format!(
            "node {node} admitted through seal token {}",
            record.seal_token
        )),
        Err(reason) => Decision::Deny(format!("node {node} is not admitted: {reason}")),
    })
}
