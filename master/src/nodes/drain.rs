//! `POST /api/v1/nodes/{node}/drain`: the node's owner asks the master to
//! cordon and drain it before unstaking (`daas-agent unstake`).
//!
//! In order: the rate limit by client address; the proof (format,
//! audience, age, signature, purpose `drain`) and that it names the path's
//! node; the node's admission record, which must bind it to the proof's
//! seal token and owner (no one else may drain it); the seal token on chain
//! (the worker rule); the proof's nonce (single use). Then the Node is
//! cordoned and drained in the background with the master's drain policy
//! (evictions that respect PodDisruptionBudgets, force deletion after the
//! timeout; [`crate::revocation::drain`]). The answer says how many pods
//! are still to go, so the owner repeats the request (with a new proof)
//! until none are.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Json;
use axum::extract::{Path, State};
use daas_core::access::NodeName;
use daas_core::access::worker_proof::Purpose;
use daas_core::api::nodes::{DrainRequest, DrainResponse};
use daas_core::error_chain::one_line;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::ListParams;
use tracing::{Instrument as _, info, info_span, warn};

use super::NodeService;
use super::client_ip::ClientIp;
use super::register::claim_nonce;
use crate::http::{ApiError, ApiJson};
use crate::revocation::drain::{cordon, drain, is_skipped};

/// The nodes whose owner-requested drain is running (one drain per node).
#[derive(Debug, Default)]
pub struct Draining(Mutex<BTreeSet<String>>);

impl Draining {
    /// Marks `node` draining; `false` if it already was.
    fn begin(&self, node: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(node.to_owned())
    }

    fn end(&self, node: &str) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(node);
    }
}

/// The handler.
pub async fn drain_node(
    State(service): State<Arc<NodeService>>,
    ClientIp(client): ClientIp,
    Path(node): Path<String>,
    ApiJson(request): ApiJson<DrainRequest>,
) -> Result<Json<DrainResponse>, ApiError> {
    let span = info_span!("drain_node", %node, %client);
    async {
        service.rate_limit(&client)?;
        let name = check(&service, &node, &request).await?;
        start(&service, &name).await
    }
    .instrument(span)
    .await
    .map(Json)
}

/// Everything that decides whether the caller may drain `node`.
async fn check(
    service: &NodeService,
    node: &str,
    request: &DrainRequest,
) -> Result<NodeName, ApiError> {
    let name: NodeName = node
        .parse()
        .map_err(|error| ApiError::bad_request(format!("node {node:?}: {error}")))?;
    let proof = service.verify_proof(&request.proof, Purpose::Drain)?;
    if *proof.node_id() != name {
        return Err(ApiError::bad_request(format!(
            "the proof is for node {:?}, the path names {name:?}",
            proof.node_id()
        )));
    }
    let claim = service.admitted_claim(&proof).await?;
    service.check_chain(&claim).await?;
    claim_nonce(service, &proof).await?;
    Ok(name)
}

/// Cordons the node, starts its drain unless one runs, and counts the pods
/// still to go.
async fn start(service: &NodeService, name: &NodeName) -> Result<DrainResponse, ApiError> {
    let node = name.as_str();
    let unavailable = |error: &(dyn std::error::Error + 'static)| {
        ApiError::unavailable("cannot drain the node through the API server", error)
    };
    let cordoned = cordon(&service.kube, node)
        .await
        .map_err(|error| unavailable(&error))?;
    let pods = Api::<Pod>::all(service.kube.clone())
        .list(&ListParams::default().fields(&format!("spec.nodeName={node}")))
        .await
        .map_err(|error| unavailable(&error))?;
    let remaining = pods.items.iter().filter(|pod| !is_skipped(pod)).count();
    if remaining > 0 && service.draining.begin(node) {
        spawn_drain(service, node.to_owned());
    }
    Ok(DrainResponse {
        cordoned,
        pods_remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
    })
}

fn spawn_drain(service: &NodeService, node: String) {
    let kube = service.kube.clone();
    let policy = service.drain_policy;
    let draining = Arc::clone(&service.draining);
    let span = info_span!("owner_drain", %node);
    tokio::spawn(
        async move {
            match drain(&kube, &node, policy).await {
                Ok(report) => info!(
                    evicted = report.evicted.len(),
                    force_deleted = report.force_deleted.len(),
                    "drained at the owner's request"
                ),
                Err(error) => {
                    warn!(error = %one_line(&error), "the owner-requested drain failed; a new request retries it")
                }
            }
            draining.end(&node);
        }
        .instrument(span),
    );
}
