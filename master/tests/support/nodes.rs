//! The node endpoints against a real devnet and the shared real API server:
//! staked workers, signed proofs, and the router called in-process.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use daas_core::access::worker_proof::{Purpose, WorkerClaims, WorkerProof};
use daas_core::access::{AccessToken, Claims, unix_now_secs};
use daas_core::chain::{ChainClient, ChainConfig};
use daas_core::package::{Mist, Role, SealTokenId};
use daas_core::wallet::{Keypair, Scheme};
use daas_e2e::devnet::{Devnet, DevnetOptions};
use daas_e2e::k3s::{self, Cluster};
use daas_master::access::{AccessService, AccessSettings};
use daas_master::namespaces::ensure_master_namespace;
use daas_master::nodes::{self, NodeService, NodeSettings};
use serde_json::{Value, json};
use tower::ServiceExt as _;

/// The audience proofs name.
pub const AUDIENCE: &str = "https://k3s-daas-nodes-test:6443";
/// Seed of the SlasherCap's owner.
pub const SLASHER_SEED: u8 = 0x51;
const SUI: u64 = 1_000_000_000;

/// A devnet, the shared API server, and a node service over both (which
/// tells tiers apart through an access service on the same chain).
pub struct Harness {
    pub devnet: Devnet,
    pub cluster: &'static Cluster,
    pub chain: ChainClient,
    pub kube: kube::Client,
    pub service: Arc<NodeService>,
    pub router: Router,
}

impl Harness {
    /// Starts a devnet whose SlasherCap belongs to [`SLASHER_SEED`]'s key.
    pub async fn start() -> Self {
        let slasher = key(SLASHER_SEED);
        let devnet = Devnet::start_with(DevnetOptions {
            slasher: Some(slasher.address()),
            ..DevnetOptions::default()
        })
        .await
        .unwrap();
        devnet.fund(slasher.address()).await.unwrap();
        let chain = devnet.client().unwrap();
        let cluster = k3s::shared().await.unwrap();
        let kube = cluster.client().await.unwrap();
        ensure_master_namespace(&kube).await.unwrap();
        let service = service(cluster, chain.clone(), kube.clone(), 1000);
        let router = daas_master::http::app(nodes::router(Arc::clone(&service)));
        Self {
            devnet,
            cluster,
            chain,
            kube,
            service,
            router,
        }
    }

    /// Another service (a restarted master) over the same chain and cluster.
    pub fn fresh_router(&self, rate_per_minute: u32) -> Router {
        let service = service(
            self.cluster,
            self.chain.clone(),
            self.kube.clone(),
            rate_per_minute,
        );
        daas_master::http::app(nodes::router(service))
    }

    /// A router whose chain client points at `config` (a stopped devnet).
    pub fn router_with_chain(&self, config: ChainConfig) -> Router {
        let chain = ChainClient::new(config).unwrap();
        let service = service(self.cluster, chain, self.kube.clone(), 1000);
        daas_master::http::app(nodes::router(service))
    }

    /// A router whose API server does not answer (nothing listens at its
    /// address), over the real chain.
    pub fn router_without_api_server(&self) -> Router {
        let config = kube::Config::new("https://127.0.0.1:9".parse().unwrap());
        let kube = kube::Client::try_from(config).unwrap();
        let service = service(self.cluster, self.chain.clone(), kube, 1000);
        daas_master::http::app(nodes::router(service))
    }

    /// A funded key.
    pub async fn funded(&self, seed: u8) -> Keypair {
        let key = key(seed);
        self.devnet.fund(key.address()).await.unwrap();
        key
    }

    /// Stakes `sui` SUI for `role` and `node`; the new seal token.
    pub async fn stake(&self, key: &Keypair, sui: u64, role: Role, node: &str) -> SealTokenId {
        self.chain
            .stake_and_mint(key, Mist::new(sui * SUI), role, node)
            .await
            .unwrap()
            .token
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        call(
            &self.router,
            "POST",
            path,
            Some("application/json"),
            body.to_string(),
        )
        .await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        call(&self.router, "GET", path, None, String::new()).await
    }

    /// `GET path` with `Authorization: Bearer token`.
    pub async fn get_as(&self, path: &str, token: &str) -> (StatusCode, Value) {
        let request = Request::builder()
            .method("GET")
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        respond(&self.router, request).await
    }
}

fn service(
    cluster: &Cluster,
    chain: ChainClient,
    kube: kube::Client,
    rate: u32,
) -> Arc<NodeService> {
    let settings = NodeSettings {
        api_server_url: cluster.server().to_owned(),
        cluster_ca_pem: cluster.ca_pem().to_owned(),
        audience: AUDIENCE.to_owned(),
        bootstrap_token_ttl: Duration::from_secs(600),
        proof_max_age: Duration::from_secs(60),
        clock_skew: Duration::from_secs(30),
        rate_limit_per_minute: NonZeroU32::new(rate).unwrap(),
        exempt: BTreeSet::from(["exempt-server".to_owned()]),
    };
    let mut registry = prometheus_client::registry::Registry::default();
    let access = AccessService::new(
        AccessSettings {
            audience: AUDIENCE.to_owned(),
            api_server_url: cluster.server().to_owned(),
            cluster_ca_pem: cluster.ca_pem().to_owned(),
            decision_cache_ttl: Duration::from_secs(30),
            seal_token_ttl: Duration::from_secs(3600),
            seal_tokens_per_owner: NonZeroU32::new(10).unwrap(),
            clock_skew: Duration::from_secs(30),
            rate_limit_per_minute: NonZeroU32::new(1000).unwrap(),
        },
        chain.clone(),
        kube.clone(),
        &mut registry,
    );
    Arc::new(NodeService::new(settings, chain, kube, &mut registry).with_access(Arc::new(access)))
}

/// A `daas1.` access token for `seal`, signed by `key`, issued now.
pub fn access_token(key: &Keypair, seal: SealTokenId) -> String {
    let claims = Claims::new(
        seal,
        key.address(),
        AUDIENCE,
        unix_now_secs(),
        Duration::from_secs(600),
    )
    .unwrap();
    AccessToken::sign(key, &claims).unwrap().into_string()
}

/// The Ed25519 key of `seed`.
pub fn key(seed: u8) -> Keypair {
    Keypair::from_bytes(Scheme::Ed25519, &[seed; 32]).unwrap()
}

/// A unique node name.
pub fn node_name(prefix: &str) -> String {
    format!("{prefix}-{}", k3s::unique_suffix())
}

/// A proof signed by `key` (claiming `key`'s address as owner).
pub fn proof(
    key: &Keypair,
    purpose: Purpose,
    seal: SealTokenId,
    node: &str,
    issued_at: u64,
) -> String {
    proof_for(key, purpose, seal, node, AUDIENCE, issued_at)
}

/// A proof for another audience.
pub fn proof_for(
    key: &Keypair,
    purpose: Purpose,
    seal: SealTokenId,
    node: &str,
    audience: &str,
    issued_at: u64,
) -> String {
    let claims = WorkerClaims::new(
        purpose,
        seal,
        key.address(),
        node.parse().unwrap(),
        audience,
        issued_at,
    )
    .unwrap();
    WorkerProof::sign(key, &claims).unwrap().into_string()
}

/// A register proof issued now.
pub fn register_proof(key: &Keypair, seal: SealTokenId, node: &str) -> String {
    proof(key, Purpose::Register, seal, node, unix_now_secs())
}

/// The registration body.
pub fn register_body(seal: SealTokenId, node: &str, proof: &str) -> Value {
    json!({
        "node_id": node,
        "seal_token": seal.to_string(),
        "ip_address": "10.0.1.5",
        "capacity": { "cpu": "4", "memory": "16Gi", "storage": "100Gi" },
        "proof": proof,
    })
}

/// A heartbeat body.
pub fn heartbeat_body(node: &str, proof: &str, pods: u32) -> Value {
    json!({
        "node_id": node,
        "proof": proof,
        "status": "ready",
        "metrics": {
            "cpu_usage": 45.2, "memory_usage": 67.8, "pod_count": pods,
            "container_count": 48, "network_rx": 1_024_000, "network_tx": 512_000,
            "timestamp": unix_now_secs(),
        },
    })
}

/// Calls `router` in-process; the answer's status and JSON body.
pub async fn call(
    router: &Router,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: String,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(content_type) = content_type {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    respond(router, request.body(Body::from(body)).unwrap()).await
}

/// Calls `router` in-process with `request`.
async fn respond(router: &Router, request: Request<Body>) -> (StatusCode, Value) {
    let (method, path) = (request.method().clone(), request.uri().clone());
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 16 << 20)
        .await
        .unwrap();
    let json = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| panic!("{method} {path}: body is not JSON: {bytes:?}"));
    (status, json)
}

/// The error message of an error body.
pub fn error_of(json: &Value) -> &str {
    json["error"].as_str().unwrap_or_default()
}
