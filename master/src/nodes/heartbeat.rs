//! `POST /api/v1/nodes/heartbeat`: a node reports its status and metrics.
//!
//! The proof (purpose `heartbeat`, for the body's node) is verified
//! offline; the node must be admitted through the proof's seal token and
//! owner, and the proof must be issued later than the node's previous
//! heartbeat proof (no replay, no reordering). A node the registry does not
//! know (this master restarted, or another replica admitted it) is looked
//! up once by its admission record and checked on chain, then cached; that
//! slow path is rate-limited by client address. The usual path reads
//! neither the chain nor the API server.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use daas_core::access::worker::{AllowedWorker, WorkerClaim};
use daas_core::access::worker_proof::{Purpose, VerifiedWorkerProof};
use daas_core::api::nodes::{
    HEARTBEAT_INTERVAL_SECS, HeartbeatRequest, HeartbeatResponse, NodeStatus,
};
use tracing::{Instrument as _, debug, info_span};

use super::client_ip::ClientIp;
use super::registry::{Beat, HeartbeatRefusal};
use super::{AdmittedNode, NodeService};
use crate::http::{ApiError, ApiJson};

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
    if let Some(endpoint) = &request.agent_api {
        endpoint.check().map_err(ApiError::bad_request)?;
    }
    let proof = service.verify_proof(&request.proof, Purpose::Heartbeat)?;
    if *proof.node_id() != request.node_id.as_str() {
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
        agent_api: request.agent_api.as_ref(),
    };
    match service.registry.heartbeat(beat) {
        Err(HeartbeatRefusal::Unknown) => {
            service.rate_limit(client)?;
            learn(service, &proof).await?;
        }
        Err(HeartbeatRefusal::Unchecked) => service.recheck(&WorkerClaim::from(&proof)).await?,
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

/// Learns an unknown node from its admission record, checks its seal
/// token on chain, and admits it into the registry.
async fn learn(service: &NodeService, proof: &VerifiedWorkerProof) -> Result<(), ApiError> {
    let claim = service.admitted_claim(proof).await?;
    let allowed = service.check_chain(&claim).await?;
    debug!("node learnt from its admission record");
    service.registry.admit(learnt(&allowed));
    service.metrics.set_nodes(service.registry.len());
    Ok(())
}

impl NodeService {
    /// Re-checks an invalidated admission on chain: admitted again, or
    /// forgotten and refused (403); a 503 when the chain cannot be read.
    pub(super) async fn recheck(&self, claim: &WorkerClaim) -> Result<(), ApiError> {
        match self.check_chain(claim).await {
            Ok(allowed) => {
                self.registry.admit(learnt(&allowed));
                Ok(())
            }
            Err(error) => {
                if error.status() == StatusCode::FORBIDDEN {
                    self.forget_node(claim.node.as_str());
                }
                Err(error)
            }
        }
    }
}

/// A node admitted by a check here, not by a registration.
fn learnt(allowed: &AllowedWorker) -> AdmittedNode {
    AdmittedNode {
        name: allowed.node.clone(),
        seal_token: allowed.seal_token,
        owner: allowed.owner,
        ip_address: None,
        capacity: None,
        agent_api: None,
    }
}
