//! `POST /api/v1/nodes/heartbeat`: a node reports its status and metrics.
//!
//! The proof (purpose `heartbeat`, for the body's node) is verified
//! offline; the node must be admitted through the proof's seal token and
//! owner, and the proof must be issued later than the node's previous
//! heartbeat proof (no replay, no reordering). A node the registry does not
//! know (this master restarted, or another replica admitted it) is looked
//! up once by its Node annotations and checked on chain, then cached; that
//! slow path is rate-limited by client address. The usual path reads
//! neither the chain nor the API server.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use daas_core::access::worker::AllowedWorker;
use daas_core::access::worker_proof::{Purpose, VerifiedWorkerProof};
use daas_core::api::nodes::{
    HEARTBEAT_INTERVAL_SECS, HeartbeatRequest, HeartbeatResponse, NodeStatus,
};
use k8s_openapi::api::core::v1::Node;
use kube::Api;
use tracing::{Instrument as _, debug, info_span};

use super::client_ip::ClientIp;
use super::registry::{Beat, HeartbeatRefusal};
use super::{AdmittedNode, NodeService};
use crate::http::{ApiError, ApiJson};
use crate::labels::{OWNER_ANNOTATION, SEAL_TOKEN_ANNOTATION};
use crate::node_name::NodeName;

/// The handler.
pub async fn heartbeat(
    State(service): State<Arc<NodeService>>,
    ClientIp(client): ClientIp,
    ApiJson(request): ApiJson<HeartbeatRequest>,
) -> Result<Json<HeartbeatResponse>, ApiError> {
    let span = info_span!("heartbeat", node = %request.node_id);
    let result = record(&service, &client, &request).instrument(span).await;
    service.metrics.heartbeat(match &result {
        Ok(()) => "accepted",
        Err(error) if error.status().is_client_error() => "refused",
        Err(_) => "failed",
    });
    result.map(|()| {
        Json(HeartbeatResponse {
            success: true,
            next_heartbeat_secs: HEARTBEAT_INTERVAL_SECS,
        })
    })
}

async fn record(
    service: &NodeService,
    client: &str,
    request: &HeartbeatRequest,
) -> Result<(), ApiError> {
    if request.status == NodeStatus::Registered {
        return Err(ApiError::bad_request(
            "status `registered` is the master's; report ready, not_ready or draining",
        ));
    }
    let proof = service.verify_proof(&request.proof, Purpose::Heartbeat)?;
    if proof.node_id() != request.node_id {
        return Err(ApiError::bad_request(format!(
            "the proof is for node {:?}, the request names {:?}",
            proof.node_id(),
            request.node_id
        )));
    }
    let beat = Beat {
        node: &request.node_id,
        seal_token: proof.seal_token(),
        owner: proof.signer(),
        issued_at: proof.issued_at(),
        status: request.status,
        metrics: request.metrics,
    };
    match service.registry.heartbeat(beat) {
        Err(HeartbeatRefusal::Unknown) => {
            service.rate_limit(client)?;
            learn(service, &proof).await?;
        }
        Err(HeartbeatRefusal::Unchecked) => recheck(service, &proof).await?,
        other => return other.map_err(refusal),
    }
    service.registry.heartbeat(beat).map_err(refusal)
}

fn refusal(refusal: HeartbeatRefusal) -> ApiError {
    match refusal {
        HeartbeatRefusal::Unknown => ApiError::not_found("the node is not admitted"),
        HeartbeatRefusal::Unchecked => {
            ApiError::conflict("the node's admission is being re-checked; retry")
        }
        HeartbeatRefusal::OtherSealToken { seal_token } => ApiError::forbidden(format!(
            "the node is admitted through seal token {seal_token} and its owner, not the proof's"
        )),
        HeartbeatRefusal::NotNewer { last } => ApiError::conflict(format!(
            "the heartbeat proof is not newer than the last one (issued at {last}): replayed or out of order"
        )),
    }
}

/// Learns an unknown node from its Node annotations, checks its seal token
/// on chain, and admits it into the registry.
async fn learn(service: &NodeService, proof: &VerifiedWorkerProof) -> Result<(), ApiError> {
    let node_id = proof.node_id();
    let name: NodeName = node_id
        .parse()
        .map_err(|error| ApiError::bad_request(format!("node_id: {error}")))?;
    let node = Api::<Node>::all(service.kube.clone())
        .get_opt(node_id)
        .await
        .map_err(|error| ApiError::unavailable("cannot read the node from the API server", &error))?
        .ok_or_else(|| {
            ApiError::not_found(format!("node {node_id} is not admitted by this cluster"))
        })?;
    let annotations = node.metadata.annotations.unwrap_or_default();
    let annotated = |key: &str| annotations.get(key).map(String::as_str);
    let seal = proof.seal_token().to_string();
    let owner = proof.signer().to_string();
    if annotated(SEAL_TOKEN_ANNOTATION) != Some(&seal)
        || annotated(OWNER_ANNOTATION) != Some(&owner)
    {
        return Err(ApiError::forbidden(format!(
            "node {node_id} is not admitted through seal token {seal} of {owner}"
        )));
    }
    let allowed = service.check_chain(proof).await?;
    debug!("node learnt from its annotations");
    service.registry.admit(learnt(name, &allowed));
    service.metrics.set_nodes(service.registry.len());
    Ok(())
}

/// Re-checks an invalidated admission on chain: re-admitted, or forgotten
/// and refused.
async fn recheck(service: &NodeService, proof: &VerifiedWorkerProof) -> Result<(), ApiError> {
    let name: NodeName = proof
        .node_id()
        .parse()
        .map_err(|error| ApiError::bad_request(format!("node_id: {error}")))?;
    match service.check_chain(proof).await {
        Ok(allowed) => {
            service.registry.admit(learnt(name, &allowed));
            Ok(())
        }
        Err(error) => {
            if error.status() == StatusCode::FORBIDDEN {
                service.forget_node(name.as_str());
            }
            Err(error)
        }
    }
}

/// A node admitted by a check here, not by a registration.
fn learnt(name: NodeName, allowed: &AllowedWorker) -> AdmittedNode {
    AdmittedNode {
        name,
        seal_token: allowed.seal_token,
        owner: allowed.owner,
        ip_address: String::new(),
        capacity: None,
    }
}
