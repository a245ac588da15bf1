//! `POST /api/v1/register-worker`: admit a worker node.
//!
//! In order, cheapest first: the rate limit by client address; the body's
//! shape; the proof (format, audience, age, signature, purpose `register`)
//! and that it names the request's node and seal token; the seal token on
//! chain at the chain's time (a worker token of the signer, for this node,
//! active); the proof's nonce (single use); that the node name is not
//! admitted through another seal token. Then the bootstrap token is
//! minted, the answer carries the join token, and the node is labelled in
//! the background once it registers.

use std::net::IpAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use daas_core::access::kubeconfig::to_yaml;
use daas_core::access::unix_now_secs;
use daas_core::access::worker_proof::{Purpose, VerifiedWorkerProof};
use daas_core::api::nodes::{Capacity, RegisterWorkerRequest, RegisterWorkerResponse};
use daas_core::package::SealTokenId;
use k8s_openapi::api::core::v1::Node;
use kube::Api;
use serde_json::json;
use tracing::{Instrument as _, info, info_span, warn};

use super::client_ip::ClientIp;
use super::{AdmittedNode, NodeService};
use crate::admission::{
    CaHash, JoinToken, MintedToken, WorkerNode, label_node, mint_bootstrap_token,
};
use crate::http::{ApiError, ApiJson};
use crate::labels::SEAL_TOKEN_ANNOTATION;
use crate::node_name::NodeName;

/// Longest capacity quantity accepted (`"16Gi"` and the like).
const MAX_QUANTITY_LEN: usize = 64;

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
    let allowed = service.check_chain(&proof).await?;
    let keep_until = proof
        .issued_at()
        .saturating_add(service.settings.proof_max_age.as_secs());
    if !service
        .nonces
        .claim(proof.nonce(), keep_until, unix_now_secs())
    {
        return Err(ApiError::conflict(
            "this register proof was already used (replayed nonce); sign a new one",
        ));
    }
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
    service.registry.admit(AdmittedNode {
        name: worker.name.clone(),
        seal_token: worker.seal_token,
        owner: worker.owner,
        ip_address: request.ip_address,
        capacity: Some(request.capacity),
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
    let proof = service.verify_proof(&request.proof, Purpose::Register)?;
    if proof.seal_token() != seal {
        return Err(ApiError::bad_request(format!(
            "the proof is for seal token {}, the request names {seal}",
            proof.seal_token()
        )));
    }
    if proof.node_id() != name.as_str() {
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

/// 409 when `name` is admitted, or exists, through another seal token.
async fn check_name_free(
    service: &NodeService,
    name: &NodeName,
    seal: SealTokenId,
) -> Result<(), ApiError> {
    if let Some(other) = service
        .registry
        .seal_token_of(name.as_str())
        .filter(|other| *other != seal)
    {
        return Err(taken(name, &other.to_string()));
    }
    let node = Api::<Node>::all(service.kube.clone())
        .get_opt(name.as_str())
        .await
        .map_err(|error| {
            ApiError::unavailable("cannot read the node from the API server", &error)
        })?;
    let Some(node) = node else {
        return Ok(());
    };
    let annotated = node
        .metadata
        .annotations
        .as_ref()
        .and_then(|annotations| annotations.get(SEAL_TOKEN_ANNOTATION));
    match annotated {
        Some(other) if *other == seal.to_string() => Ok(()),
        Some(other) => Err(taken(name, other)),
        None => Err(ApiError::conflict(format!(
            "node {name} already exists and is not tied to a seal token"
        ))),
    }
}

fn taken(name: &NodeName, other: &str) -> ApiError {
    ApiError::conflict(format!(
        "node {name} is already admitted through seal token {other}"
    ))
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
    let span = info_span!("label_node", node = %worker.name);
    tokio::spawn(
        async move {
            if let Err(error) = label_node(&kube, &worker, timeout).await {
                warn!(%error, "the admitted node was not labelled");
            }
        }
        .instrument(span),
    );
}
