//! Stake-gated cluster access for users: the master's side of
//! ARCHITECTURE.md, "Who may do what".
//!
//! Webhooks for the API server ([`webhook_router`]):
//!
//! | route | what |
//! |---|---|
//! | `POST /authenticate` | TokenReview webhook ([`tokenreview`]) |
//! | `POST /authorize` | SubjectAccessReview webhook: denies revoked users at once ([`authorize`]) |
//!
//! User-facing routes ([`router`]), rate limited per caller:
//!
//! | route | what |
//! |---|---|
//! | `POST /api/v1/seal-tokens` | issues an opaque 64-hex seal token against a signed access token ([`seal_tokens`]) |
//! | `GET /api/v1/seal-tokens` | the caller's live opaque seal tokens |
//! | `DELETE /api/v1/seal-tokens/{id}` | revokes one of them |
//! | `GET /kubectl/config` | the kubeconfig that runs the credential plugin ([`kubectl_config`]) |
//! | `ANY /api/*`, `/apis/*` | the Kubernetes API, impersonating the caller ([`kube_proxy`]) |
//!
//! Every route authenticates through [`AccessService::authenticate`]: a
//! bearer token (a `daas1.` access token or an opaque seal token) becomes a
//! [`Claimant`](daas_core::access::Claimant) (seal token and owner), whose current on-chain decision
//! says who the user is. Both steps are cached ([`cache`]); the chain-event
//! reconciler drops a seal token's decision with
//! [`AccessService::invalidate_seal_token`], and while it is not caught up
//! with the chain's events decisions live at most
//! [`cache::BEHIND_DECISION_TTL`] ([`AccessService::set_events_caught_up`]).
//!
//! What a user may do once authenticated is the tier table
//! ([`crate::tiers`]): RBAC grants, and refusals the authorization webhook
//! ([`authorize`]) enforces.

pub mod authenticator;
pub mod authorize;
pub mod cache;
pub mod kube_proxy;
pub mod kubectl_config;
mod metrics;
pub mod seal_token_store;
pub mod seal_tokens;
pub mod tokenreview;
#[cfg(feature = "transport-floor")]
pub mod transport_floor;

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{any, delete, get, post};
use daas_core::access::unix_now_secs;
use daas_core::chain::ChainClient;
use daas_core::package::{SealTokenId, Tier};
use prometheus_client::registry::Registry;

pub use authenticator::{AuthError, Authenticated, CredentialKind};
use cache::DecisionCache;
use metrics::AccessMetrics;
use seal_token_store::SealTokenStore;

use crate::ratelimit::RateLimiter;

/// The TokenReview webhook's path.
pub const AUTHENTICATE_PATH: &str = "/authenticate";
/// The SubjectAccessReview webhook's path.
pub const AUTHORIZE_PATH: &str = "/authorize";
pub use daas_core::api::access::{KUBECTL_CONFIG_PATH, SEAL_TOKENS_PATH};
/// Largest webhook or seal-token request body accepted (a TokenReview
/// carries one token of at most 4 KiB).
pub const WEBHOOK_BODY_LIMIT: usize = 64 * 1024;

/// How the access endpoints behave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessSettings {
    /// The cluster's audience: access tokens must name it.
    pub audience: String,
    /// The API server URL put into served kubeconfigs.
    pub api_server_url: String,
    /// The API server's CA (PEM) put into served kubeconfigs; empty for
    /// the system roots.
    pub cluster_ca_pem: String,
    /// How long a seal token's on-chain decision is reused (events drop it
    /// sooner).
    pub decision_cache_ttl: Duration,
    /// Lifetime of an issued opaque seal token (never past the seal
    /// token's on-chain expiry).
    pub seal_token_ttl: Duration,
    /// Live opaque seal tokens an owner may hold at once.
    pub seal_tokens_per_owner: NonZeroU32,
    /// Clock difference tolerated on access tokens' times.
    pub clock_skew: Duration,
    /// Requests per minute and identity on the user-facing endpoints.
    pub rate_limit_per_minute: NonZeroU32,
}

/// The access feature: authentication, decisions and their caches, opaque
/// seal tokens, and the Kubernetes API proxy.
pub struct AccessService {
    settings: AccessSettings,
    chain: ChainClient,
    kube: kube::Client,
    cache: DecisionCache,
    store: SealTokenStore,
    limiter: RateLimiter,
    metrics: AccessMetrics,
    /// The tier whose RBAC objects were ensured, per seal token, so
    /// `rbac::ensure_user_access` runs once per seal token and tier.
    provisioned: Mutex<HashMap<SealTokenId, Tier>>,
    /// Whether the chain event follower is caught up (decisions are then
    /// dropped by events, and may live the configured TTL).
    events_caught_up: AtomicBool,
    /// Held while an opaque seal token is issued (the owner's cap).
    issuing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for AccessService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessService")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl AccessService {
    /// The service, reading the chain with `chain` and the cluster with
    /// `kube` (which also forwards proxied requests); its metrics go into
    /// `registry`.
    pub fn new(
        settings: AccessSettings,
        chain: ChainClient,
        kube: kube::Client,
        registry: &mut Registry,
    ) -> Self {
        let limiter = RateLimiter::per_minute(settings.rate_limit_per_minute);
        Self {
            settings,
            chain,
            store: SealTokenStore::new(kube.clone()),
            kube,
            cache: DecisionCache::new(),
            limiter,
            metrics: AccessMetrics::register(registry),
            provisioned: Mutex::new(HashMap::new()),
            events_caught_up: AtomicBool::new(false),
            issuing: tokio::sync::Mutex::new(()),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &AccessSettings {
        &self.settings
    }

    /// Drops what is cached about seal token `id`: its decisions (the next
    /// review reads the chain) and its RBAC provisioning. A review in
    /// flight does not store its possibly stale result. Called by the
    /// chain-event reconciler for every event naming a seal token.
    pub fn invalidate_seal_token(&self, id: SealTokenId) {
        self.cache.invalidate(id);
        self.provisioned_map().remove(&id);
        tracing::debug!(seal_token = %id, "access decisions dropped");
    }

    /// Tells the service whether the chain event follower is caught up.
    /// Until it first is, and whenever it falls behind, decisions are
    /// reused for at most [`cache::BEHIND_DECISION_TTL`]: an unstake the
    /// follower has not seen yet must still end access within the
    /// revocation target.
    pub fn set_events_caught_up(&self, caught_up: bool) {
        let was = self.events_caught_up.swap(caught_up, Ordering::Relaxed);
        if was != caught_up {
            tracing::info!(
                caught_up,
                "access decisions follow the chain event follower"
            );
        }
    }

    fn events_caught_up(&self) -> bool {
        self.events_caught_up.load(Ordering::Relaxed)
    }

    /// Deletes the opaque seal tokens and issuance markers that expired
    /// before `now` (unix seconds).
    ///
    /// # Errors
    /// The store cannot be listed or a delete fails.
    pub async fn sweep_expired_seal_tokens(
        &self,
        now: u64,
    ) -> Result<seal_token_store::SweepReport, seal_token_store::StoreError> {
        self.store.sweep_expired(now).await
    }

    /// Runs [`AccessService::sweep_expired_seal_tokens`] every `interval`,
    /// forever (every replica may: deletes are idempotent). Failures are
    /// logged and retried at the next round.
    pub async fn sweep_seal_tokens(self: Arc<Self>, interval: Duration) {
        loop {
            tokio::time::sleep(interval).await;
            match self.sweep_expired_seal_tokens(unix_now_secs()).await {
                Ok(report) if report == seal_token_store::SweepReport::default() => {}
                Ok(report) => tracing::info!(
                    tokens = report.tokens,
                    markers = report.markers,
                    "expired opaque seal tokens swept"
                ),
                Err(error) => tracing::warn!(
                    error = %daas_core::error_chain::one_line(&error),
                    "cannot sweep expired opaque seal tokens"
                ),
            }
        }
    }

    /// Drops every cached decision (events may have been missed).
    pub fn invalidate_all(&self) {
        self.cache.invalidate_all();
        self.provisioned_map().clear();
        tracing::info!("all access decisions dropped");
    }

    fn provisioned_map(&self) -> std::sync::MutexGuard<'_, HashMap<SealTokenId, Tier>> {
        // A poisoned map only means a panic between two map operations.
        self.provisioned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The user-facing access routes, for the master's public API: opaque
/// seal tokens, the kubeconfig and the Kubernetes API proxy. Rate limited
/// per caller.
pub fn router(service: Arc<AccessService>) -> Router {
    let proxy = any(kube_proxy::forward);
    Router::new()
        .route(
            SEAL_TOKENS_PATH,
            post(seal_tokens::issue).get(seal_tokens::list),
        )
        .route(
            &format!("{SEAL_TOKENS_PATH}/{{id}}"),
            delete(seal_tokens::revoke),
        )
        .route(KUBECTL_CONFIG_PATH, get(kubectl_config::serve))
        .route("/api", proxy.clone())
        .route("/api/{*path}", proxy.clone())
        .route("/apis", proxy.clone())
        .route("/apis/{*path}", proxy)
        .layer(DefaultBodyLimit::max(WEBHOOK_BODY_LIMIT))
        .with_state(service)
}

/// The webhooks the API server calls (TokenReview and SubjectAccessReview),
/// for the master's internal webhook listener. Not rate limited.
pub fn webhook_router(service: Arc<AccessService>) -> Router {
    let router = Router::new()
        .route(AUTHENTICATE_PATH, post(tokenreview::authenticate))
        .route(AUTHORIZE_PATH, post(authorize::authorize));
    #[cfg(feature = "transport-floor")]
    let router = router.route(
        transport_floor::TRANSPORT_FLOOR_PATH,
        post(transport_floor::answer),
    );
    router
        .layer(DefaultBodyLimit::max(WEBHOOK_BODY_LIMIT))
        .with_state(service)
}
