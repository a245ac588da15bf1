//! The node endpoints (ARCHITECTURE.md, "Worker nodes"; issue #6 item 5).
//!
//! - [`register`]: `POST /api/v1/register-worker` checks a signed,
//!   single-use register proof and the worker seal token on chain, mints
//!   the node's bootstrap token and answers the K3s join token;
//! - [`heartbeat`]: `POST /api/v1/nodes/heartbeat` records a node's status
//!   and metrics, authenticated by a heartbeat proof whose `issued_at` must
//!   grow;
//! - [`health`]: `GET /api/v1/node-health[/{node}]`, read by the console
//!   (the list in [`page`]s by name):
//!   names, status and metrics for anyone, owners and seal tokens for
//!   their owners and the admin and super tiers;
//! - [`status`]: `GET /api/v1/staking/status`, the seed's troubleshooting
//!   view of seal tokens, stake and status;
//! - [`drain`]: `POST /api/v1/nodes/{node}/drain`, the owner's request to
//!   cordon and drain the node before unstaking.
//!
//! State is in memory and rebuilt from the Kubernetes API: the
//! [`registry`] of admitted nodes (a node it does not know is looked up by
//! its admission record and re-checked on chain once), and the [`replay`]
//! ledger of register nonces, shared by every replica through the API
//! server. Heartbeats touch neither the chain nor the API server; the
//! revocation reconciler drops cached admissions with
//! [`NodeService::forget_node`] and [`NodeService::invalidate_seal_token`],
//! and [`NodeService::sweep_quiet_nodes`] re-checks those of nodes that no
//! longer heartbeat.

mod client_ip;
pub mod drain;
pub mod health;
pub mod heartbeat;
mod metrics;
pub mod page;
pub mod register;
pub mod registry;
pub mod replay;
pub mod status;

use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};
use daas_core::access::worker::{AllowedWorker, WorkerClaim, chain_time_ms, review_worker};
use daas_core::access::worker_proof::{
    Purpose, VerifiedWorkerProof, WorkerProof, WorkerProofError,
};
use daas_core::access::{NodeName, unix_now_secs};
use daas_core::api::nodes::{
    DRAIN_SEGMENT, HEARTBEAT_PATH, NODE_HEALTH_PATH, NODES_PATH, REGISTER_WORKER_PATH,
    STAKING_STATUS_PATH,
};
use daas_core::chain::ChainClient;
use daas_core::package::SealTokenId;
use prometheus_client::registry::Registry;
use tracing::{info, warn};

pub use registry::AdmittedNode;

use crate::access::AccessService;
use crate::admission::record::read_record;
use crate::http::ApiError;
use crate::ratelimit::RateLimiter;
use crate::revocation::DrainPolicy;
use metrics::NodeMetricsSet;
use registry::NodeRegistry;
use replay::NonceLedger;

/// Largest request body of the node endpoints.
pub const MAX_BODY_LEN: usize = 16 * 1024;

/// How the node endpoints behave.
#[derive(Debug, Clone)]
pub struct NodeSettings {
    /// The API server URL given to joining nodes.
    pub api_server_url: String,
    /// The cluster CA bundle (PEM), hashed into join tokens.
    pub cluster_ca_pem: String,
    /// The audience worker proofs must name (the cluster).
    pub audience: String,
    /// Lifetime of a minted bootstrap token.
    pub bootstrap_token_ttl: Duration,
    /// Oldest worker proof accepted.
    pub proof_max_age: Duration,
    /// Clock difference tolerated on a proof's `issued_at`.
    pub clock_skew: Duration,
    /// Registrations, status queries and unknown-node heartbeats per
    /// minute and client address.
    pub rate_limit_per_minute: NonZeroU32,
    /// Node names outside staking (the K3s server's own node): never
    /// admitted through a seal token, never revoked.
    pub exempt: BTreeSet<String>,
}

/// The node endpoints' shared state.
pub struct NodeService {
    settings: NodeSettings,
    chain: ChainClient,
    kube: kube::Client,
    registry: NodeRegistry,
    nonces: NonceLedger,
    limiter: RateLimiter,
    metrics: NodeMetricsSet,
    /// Tells the admin and super tiers from other callers of node health.
    access: Option<Arc<AccessService>>,
    /// How an owner-requested drain evicts.
    drain_policy: DrainPolicy,
    /// Nodes whose owner-requested drain is running.
    draining: Arc<drain::Draining>,
}

impl std::fmt::Debug for NodeService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeService")
            .field("settings", &self.settings)
            .field("chain", &self.chain)
            .field("nodes", &self.registry.len())
            .finish_non_exhaustive()
    }
}

impl NodeService {
    /// The service, with its metrics registered into `registry`.
    pub fn new(
        settings: NodeSettings,
        chain: ChainClient,
        kube: kube::Client,
        registry: &mut Registry,
    ) -> Self {
        let limiter = RateLimiter::per_minute(settings.rate_limit_per_minute);
        Self {
            settings,
            chain,
            nonces: NonceLedger::new(kube.clone()),
            kube,
            registry: NodeRegistry::default(),
            limiter,
            metrics: NodeMetricsSet::register(registry),
            access: None,
            drain_policy: DrainPolicy::default(),
            draining: Arc::default(),
        }
    }

    /// How drains requested by node owners evict (default:
    /// [`DrainPolicy::default`]).
    #[must_use]
    pub fn with_drain_policy(mut self, policy: DrainPolicy) -> Self {
        self.drain_policy = policy;
        self
    }

    /// Lets callers that authenticate as the admin or super tier through
    /// `access` see every node's health in full (without it, only owners
    /// see their own nodes in full).
    #[must_use]
    pub fn with_access(mut self, access: Arc<AccessService>) -> Self {
        self.access = Some(access);
        self
    }

    /// Drops what the master remembers of `node` (after it was removed):
    /// its next heartbeat re-checks its labels and the chain.
    pub fn forget_node(&self, node: &str) {
        self.registry.forget(node);
        self.metrics.set_nodes(self.registry.len());
    }

    /// Invalidates every cached admission through seal token `id` (on
    /// unstake, slash, expiry or a change of owner): those nodes' next
    /// heartbeats re-check the chain, and are refused if it no longer
    /// admits them. Their health stays visible meanwhile.
    pub fn invalidate_seal_token(&self, id: SealTokenId) {
        self.registry.uncheck_seal_token(id);
    }

    /// Re-checks on chain the nodes whose admission a chain event
    /// invalidated and that sent no heartbeat for `quiet` (a node that
    /// heartbeats re-checks itself): one the chain still admits is
    /// admitted again, one it no longer admits is forgotten, so an unstaked
    /// or slashed node whose agent stopped leaves node health instead of
    /// staying there, stale, until the master restarts. The nodes
    /// forgotten. When the chain cannot be asked, the round stops there
    /// (said once, not once per node) and the rest wait for the next one.
    pub async fn recheck_quiet_nodes(&self, quiet: Duration) -> Vec<NodeName> {
        let mut forgotten = Vec::new();
        let quiet_nodes = self.registry.quiet_unchecked(quiet);
        let total = quiet_nodes.len();
        for (index, node) in quiet_nodes.into_iter().enumerate() {
            let claim = WorkerClaim {
                seal_token: node.seal_token,
                owner: node.owner,
                node: node.name.clone(),
            };
            match self.recheck(&claim).await {
                Ok(()) => {}
                Err(error) if error.status() == StatusCode::FORBIDDEN => {
                    info!(node = %node.name, reason = error.message(), "quiet node forgotten");
                    forgotten.push(node.name);
                }
                Err(error) => {
                    warn!(
                        waiting = total - index,
                        error = error.message(),
                        "cannot re-check quiet nodes; they wait for the next round"
                    );
                    break;
                }
            }
        }
        forgotten
    }

    /// Runs [`NodeService::recheck_quiet_nodes`] for nodes quiet longer
    /// than [`registry::stale_after`], at that interval, forever.
    pub async fn sweep_quiet_nodes(self: Arc<Self>) {
        loop {
            tokio::time::sleep(registry::stale_after()).await;
            self.recheck_quiet_nodes(registry::stale_after()).await;
        }
    }

    /// Invalidates every cached admission (after a change of the pool's
    /// parameters, or a gap in the chain events).
    pub fn invalidate_all(&self) {
        self.registry.uncheck_all();
    }

    /// Loads nodes admitted elsewhere into the registry without checking
    /// them. It trusts the caller: it exists for benchmarks and for a
    /// caller that has checked the nodes itself. Their heartbeats still
    /// need verified proofs from the seal token's owner.
    pub fn restore_admitted(&self, nodes: impl IntoIterator<Item = AdmittedNode>) {
        for node in nodes {
            self.registry.admit(node);
        }
        self.metrics.set_nodes(self.registry.len());
    }

    /// Parses and verifies a wire-form proof for `purpose` now.
    fn verify_proof(&self, wire: &str, purpose: Purpose) -> Result<VerifiedWorkerProof, ApiError> {
        let settings = &self.settings;
        WorkerProof::parse(wire)
            .and_then(|proof| {
                proof.verify(
                    &settings.audience,
                    unix_now_secs(),
                    settings.proof_max_age,
                    settings.clock_skew,
                )
            })
            .and_then(|proof| proof.require(purpose))
            .map_err(proof_error)
    }

    /// The claim of `proof` if the node's admission record (written by the
    /// master at registration) holds exactly it: 404 for a node never
    /// admitted, 403 for another seal token or owner, 503 when the API
    /// server cannot be read.
    async fn admitted_claim(&self, proof: &VerifiedWorkerProof) -> Result<WorkerClaim, ApiError> {
        let node = proof.node_id();
        let record = read_record(&self.kube, node)
            .await
            .map_err(|error| {
                ApiError::unavailable(
                    "cannot read the node's admission from the API server",
                    &error,
                )
            })?
            .and_then(|stored| stored.record.ok())
            .ok_or_else(|| {
                ApiError::not_found(format!("node {node} is not admitted by this cluster"))
            })?;
        let claim = WorkerClaim::from(proof);
        if record.claim() != claim {
            return Err(ApiError::forbidden(format!(
                "node {node} is not admitted through seal token {} of {}",
                claim.seal_token, claim.owner
            )));
        }
        Ok(claim)
    }

    /// The claim's seal token on chain now (the worker rule): 403 naming
    /// why it does not admit the worker, 503 when the chain cannot be read.
    async fn check_chain(&self, claim: &WorkerClaim) -> Result<AllowedWorker, ApiError> {
        let now_ms = chain_time_ms(&self.chain)
            .await
            .map_err(|error| ApiError::unavailable("cannot read the chain's clock", &error))?;
        review_worker(&self.chain, claim, now_ms)
            .await
            .map_err(|error| {
                ApiError::unavailable("cannot read the seal token from the chain", &error)
            })?
            .map_err(|reason| ApiError::forbidden(format!("worker refused: {reason}")))
    }

    /// Admits one request of the client `key` or answers 429.
    fn rate_limit(&self, key: &str) -> Result<(), ApiError> {
        self.limiter.check(key).map_err(ApiError::too_many_requests)
    }
}

/// A refused proof: 400 when it is not a proof at all, 401 when it does
/// not prove what it must.
fn proof_error(error: WorkerProofError) -> ApiError {
    let not_a_proof = match &error {
        WorkerProofError::Envelope(envelope) => envelope.is_malformed(),
        WorkerProofError::UnknownPurpose { .. }
        | WorkerProofError::InvalidNodeId(_)
        | WorkerProofError::InvalidAudience(_) => true,
        _ => false,
    };
    if not_a_proof {
        ApiError::bad_request(format!("bad proof: {error}"))
    } else {
        ApiError::unauthorized(format!("proof refused: {error}"))
    }
}

/// The node routes.
pub fn router(service: Arc<NodeService>) -> Router {
    Router::new()
        .route(REGISTER_WORKER_PATH, post(register::register_worker))
        .route(HEARTBEAT_PATH, post(heartbeat::heartbeat))
        .route(NODE_HEALTH_PATH, get(health::all_nodes))
        .route(
            &format!("{NODE_HEALTH_PATH}/{{node}}"),
            get(health::one_node),
        )
        .route(STAKING_STATUS_PATH, get(status::staking_status))
        .route(
            &format!("{NODES_PATH}/{{node}}/{DRAIN_SEGMENT}"),
            post(drain::drain_node),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY_LEN))
        .with_state(service)
}
