//! `POST /api/v1/register-worker`: admit a worker node.
//!
//! In order, cheapest first: the rate limit by client address; the body's
//! shape; the proof (format, audience, age, signature, purpose `register`)
//! and that it names the request's node and seal token; that the name is
//! not exempt from staking; the seal token on chain at the chain's time
//! (the worker rule: a worker token of the signer, for this node, active,
//! never slashed); the proof's nonce (single use across every replica);
//! that the node name is not admitted through another seal token, nor a
//! Node without an admission record. Then the bootstrap token is minted,
//! the admission record written (binding the token to the node), the
//! answer carries the join token, and the node is labelled in the
//! background once it registers.

use std::net::IpAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use daas_core::access::NodeName;
use daas_core::access::kubeconfig::to_yaml;
use daas_core::access::unix_now_secs;
use daas_core::access::worker::{WorkerClaim, chain_time_ms, review_worker};
use daas_core::access::worker_proof::{Purpose, VerifiedWorkerProof};
use daas_core::api::nodes::{Capacity, RegisterWorkerRequest, RegisterWorkerResponse};
use daas_core::error_chain::one_line;
use daas_core::package::SealTokenId;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use serde_json::json;
use sui_sdk_types::Address;
use tracing::{Instrument as _, info, info_span, warn};

use super::client_ip::ClientIp;
use super::{AdmittedNode, NodeService};
use crate::admission::record::{read_record, write_record};
use crate::admission::{
    AdmissionError, AdmissionRecord, CaHash, JoinToken, MintedToken, WorkerNode,
    delete_bootstrap_token, label_node, mint_bootstrap_token,
};
use crate::http::{ApiError, ApiJson};

/// Longest capacity quantity accepted (`"16Gi"` and the like).
pub(super) const MAX_QUANTITY_LEN: usize = 64;

/// The handler.
pub async fn register_worker(
    State(service): State<Arc<NodeService>>,
    ClientIp(client): ClientIp,
    ApiJson(request): ApiJson<RegisterWorkerRequest>,
) -> Result<Json<RegisterWorkerResponse>, ApiError> {
    let span = info_span!("register_worker", node = %request.node_id, %client);
    let result = async {
        service.rate_limit(&client)?;
        admit(&service, request).await
    }
    .instrument(span)
    .await;
    service.metrics.registration(match &result {
        Ok(_) => "accepted",
        Err(error) if error.status().is_client_error() => "refused",
        Err(_) => "failed",
    });
    result.map(Json)
}

/// Everything after the rate limit.
async fn admit(
    service: &NodeService,
    request: RegisterWorkerRequest,
) -> Result<RegisterWorkerResponse, ApiError> {
    let (proof, name) = check_request(service, &request)?;
    if service.settings.exempt.contains(name.as_str()) {
        return Err(ApiError::conflict(format!(
            "node name {name} is reserved for a node outside staking"
        )));
    }
    let allowed = service.check_chain(&WorkerClaim::from(&proof)).await?;
    claim_nonce(service, &proof).await?;
    check_name_free(service, &name, allowed.seal_token).await?;
    let worker = WorkerNode {
        name,
        seal_token: allowed.seal_token,
        owner: allowed.owner,
    };
    let minted = mint_bootstrap_token(&service.kube, &worker, service.settings.bootstrap_token_ttl)
        .await
        .map_err(|error| ApiError::unavailable("cannot mint the bootstrap token", &error))?;
    let response = answer(service, &worker, &minted)?;
    record_admission(service, &worker, &minted).await?;
    service.registry.admit(AdmittedNode {
        name: worker.name.clone(),
        seal_token: worker.seal_token,
        owner: worker.owner,
        ip_address: Some(request.ip_address),
        capacity: Some(request.capacity),
        agent_api: request.agent_api,
    });
    service.metrics.set_nodes(service.registry.len());
    info!(seal_token = %worker.seal_token, token_id = minted.token.id(), "worker admitted");
    spawn_labelling(service, worker);
    Ok(response)
}

/// The body and the proof, offline.
fn check_request(
    service: &NodeService,
    request: &RegisterWorkerRequest,
) -> Result<(VerifiedWorkerProof, NodeName), ApiError> {
    let seal: SealTokenId = request.seal_token.parse().map_err(|error| {
        ApiError::bad_request(format!(
            "seal_token {:?} is not an object id: {error}",
            request.seal_token
        ))
    })?;
    let name: NodeName = request
        .node_id
        .parse()
        .map_err(|error| ApiError::bad_request(format!("node_id: {error}")))?;
    request.ip_address.parse::<IpAddr>().map_err(|_| {
        ApiError::bad_request(format!(
            "ip_address {:?} is not an IP address",
            request.ip_address
        ))
    })?;
    check_capacity(&request.capacity)?;
    if let Some(endpoint) = &request.agent_api {
        endpoint.check().map_err(ApiError::bad_request)?;
    }
    let proof = service.verify_proof(&request.proof, Purpose::Register)?;
    if proof.seal_token() != seal {
        return Err(ApiError::bad_request(format!(
            "the proof is for seal token {}, the request names {seal}",
            proof.seal_token()
        )));
    }
    if *proof.node_id() != name {
        return Err(ApiError::bad_request(format!(
            "the proof is for node {:?}, the request names {name:?}",
            proof.node_id()
        )));
    }
    Ok((proof, name))
}

fn check_capacity(capacity: &Capacity) -> Result<(), ApiError> {
    for (field, value) in [
        ("cpu", &capacity.cpu),
        ("memory", &capacity.memory),
        ("storage", &capacity.storage),
    ] {
        let valid = !value.is_empty()
            && value.len() <= MAX_QUANTITY_LEN
            && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '.');
        if !valid {
            return Err(ApiError::bad_request(format!(
                "capacity.{field} {value:?} is not a quantity (1-{MAX_QUANTITY_LEN} letters, digits and dots)"
            )));
        }
    }
    Ok(())
}

/// Claims the proof's nonce in the shared ledger: 409 for a replay (to
/// this replica or any other, before or after a restart), 503 when the
/// ledger cannot be written.
pub(super) async fn claim_nonce(
    service: &NodeService,
    proof: &VerifiedWorkerProof,
) -> Result<(), ApiError> {
    let keep_until = proof
        .issued_at()
        .saturating_add(service.settings.proof_max_age.as_secs());
    let fresh = service
        .nonces
        .claim(proof.nonce(), keep_until, unix_now_secs())
        .await
        .map_err(|error| ApiError::unavailable("cannot record the proof's nonce", &error))?;
    if fresh {
        Ok(())
    } else {
        Err(ApiError::conflict(
            "this proof was already used (replayed nonce); sign a new one",
        ))
    }
}

/// 409 when `name` is admitted through another seal token that still
/// holds it, or a Node of that name exists without an admission record;
/// 503 while an admission whose seal token no longer holds the node is
/// being revoked (see [`taken`]).
async fn check_name_free(
    service: &NodeService,
    name: &NodeName,
    seal: SealTokenId,
) -> Result<(), ApiError> {
    // The admission record decides, not this replica's registry: the
    // registry keeps a revoked node until it is admitted anew (a revoked
    // agent may never heartbeat again to make it forget).
    let unavailable = |error: &(dyn std::error::Error + 'static)| {
        ApiError::unavailable(
            "cannot read the node's admission from the API server",
            error,
        )
    };
    let stored = read_record(&service.kube, name)
        .await
        .map_err(|error| unavailable(&error))?;
    match stored.map(|stored| stored.record) {
        Some(Ok(record)) if record.seal_token == seal => Ok(()),
        Some(Ok(record)) => Err(taken(service, name, (record.seal_token, record.owner)).await),
        Some(Err(reason)) => Err(ApiError::conflict(format!(
            "node {name} is already admitted through a malformed record ({reason})"
        ))),
        None => {
            let node = Api::<Node>::all(service.kube.clone())
                .get_opt(name.as_str())
                .await
                .map_err(|error| unavailable(&error))?;
            match node {
                Some(_) => Err(ApiError::conflict(format!(
                    "node {name} already exists and has no admission record"
                ))),
                None => Ok(()),
            }
        }
    }
}

/// The refusal for `name`, admitted through `holder` (seal token, owner):
/// 409 while that token still holds the node on chain. Once it no longer
/// does (slashed, unstaked, withdrawn) the reconciler is revoking that
/// admission and the name is about to be free: 503, so that a worker
/// re-registering with a new stake (the slashing recovery) tries again
/// rather than giving up. A chain that cannot be read keeps the 409.
async fn taken(
    service: &NodeService,
    name: &NodeName,
    (seal_token, owner): (SealTokenId, Address),
) -> ApiError {
    let claim = WorkerClaim {
        seal_token,
        owner,
        node: name.clone(),
    };
    let refusal = match chain_time_ms(&service.chain).await {
        Ok(now_ms) => review_worker(&service.chain, &claim, now_ms).await.ok(),
        Err(_) => None,
    };
    match refusal {
        Some(Err(reason)) => ApiError::unavailable(
            &format!("node {name} is being revoked: seal token {seal_token} no longer holds it"),
            &reason,
        ),
        _ => ApiError::conflict(format!(
            "node {name} is already admitted through seal token {seal_token}"
        )),
    }
}

/// Writes the admission record binding `minted` to the node, before the
/// token is handed out. If it cannot be written the token is deleted (it
/// was never handed out) and the registration refused.
async fn record_admission(
    service: &NodeService,
    worker: &WorkerNode,
    minted: &MintedToken,
) -> Result<(), ApiError> {
    let record = AdmissionRecord {
        node: worker.name.clone(),
        seal_token: worker.seal_token,
        owner: worker.owner,
        bootstrap_token_id: minted.token.id().to_owned(),
        admitted_at: Timestamp::now(),
    };
    let Err(error) = write_record(&service.kube, &record).await else {
        return Ok(());
    };
    if let Err(cleanup) = delete_bootstrap_token(&service.kube, &minted.token.secret_name()).await {
        warn!(error = %cleanup, "the unused bootstrap token was not deleted; it expires");
    }
    Err(match error {
        AdmissionError::NodeTaken { node, holder } => {
            ApiError::conflict(format!("node {node} is already admitted through {holder}"))
        }
        other => ApiError::unavailable("cannot write the admission record", &other),
    })
}

/// The seed's answer plus the join token.
fn answer(
    service: &NodeService,
    worker: &WorkerNode,
    minted: &MintedToken,
) -> Result<RegisterWorkerResponse, ApiError> {
    let settings = &service.settings;
    let ca_hash = CaHash::of_bundle(settings.cluster_ca_pem.as_bytes())
        .map_err(|error| ApiError::internal("the cluster CA does not parse", &error))?;
    let join = JoinToken::new(ca_hash, minted.token.clone());
    let kubeconfig = bootstrap_kubeconfig(service, worker, &minted.token.bearer())?;
    Ok(RegisterWorkerResponse {
        success: true,
        kubeconfig: BASE64.encode(kubeconfig),
        ca_cert: BASE64.encode(&settings.cluster_ca_pem),
        api_server: settings.api_server_url.clone(),
        join_token: join.expose().to_string(),
        node_name: worker.name.to_string(),
        expires_at: minted.expires_at.as_second(),
    })
}

/// A kubeconfig for the API server with the bootstrap token as bearer.
fn bootstrap_kubeconfig(
    service: &NodeService,
    worker: &WorkerNode,
    bearer: &str,
) -> Result<String, ApiError> {
    let settings = &service.settings;
    let user = format!("k3s-daas-bootstrap-{}", worker.name);
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{
            "name": "k3s-daas",
            "cluster": {
                "server": settings.api_server_url,
                "certificate-authority-data": BASE64.encode(&settings.cluster_ca_pem),
            },
        }],
        "users": [{ "name": user, "user": { "token": bearer } }],
        "contexts": [{ "name": "k3s-daas", "context": { "cluster": "k3s-daas", "user": user } }],
        "current-context": "k3s-daas",
    });
    to_yaml(&config).map_err(|error| ApiError::internal("cannot write the kubeconfig", &error))
}

/// Labels the node in the background once it registers (until its
/// bootstrap token expires); a failure is logged.
fn spawn_labelling(service: &NodeService, worker: WorkerNode) {
    let kube = service.kube.clone();
    let timeout = service.settings.bootstrap_token_ttl;
    tokio::spawn(
        async move {
            if let Err(error) = label_node(&kube, &worker, timeout).await {
                warn!(error = %one_line(&error), "the admitted node was not labelled");
            }
        }
        .in_current_span(),
    );
}
