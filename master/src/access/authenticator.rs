//! From a bearer token to an allowed user: [`AccessService::authenticate`].
//!
//! 1. The bearer token proves a [`Claimant`] (seal token and owner): a
//!    `daas1.` access token by its signature, an opaque seal token by its
//!    hash in the shared store. Cached by the SHA-256 of the bearer string.
//! 2. The claimant's on-chain decision, cached per seal token (for the
//!    configured TTL while the chain event follower is caught up, else at
//!    most [`BEHIND_DECISION_TTL`](super::cache::BEHIND_DECISION_TTL)); on a miss the chain is read at the
//!    chain's time, and an allowed user's RBAC objects are ensured once per
//!    seal token and tier.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, header};
use daas_core::access::review::EXTRA_OPAQUE_TOKEN;
use daas_core::access::token::{MAX_TOKEN_LEN, PREFIX};
use daas_core::access::{
    AccessToken, Claimant, Decision, DenyReason, Grant, OpaqueToken, OpaqueTokenError,
    OpaqueTokenHash, ReviewError, TokenError, VerifiedToken, review_at_chain_time, unix_now_secs,
};
use daas_core::clock::unix_now_ms;
use daas_core::error_chain::one_line;
use sha2::{Digest as _, Sha256};
use tracing::{debug, warn};

use super::AccessService;
pub use super::cache::CredentialKind;
use super::cache::{CachedDecision, Credential, DecisionLifetime};
use super::metrics::Cache;
use super::seal_token_store::{RECORD_RECHECK, StoreError};
use crate::http::ApiError;
use crate::rbac;

/// How long a denial is reused at most (events drop it sooner).
pub const DENIAL_TTL: Duration = Duration::from_secs(2);

/// Why a bearer token does not authenticate a user.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No token was presented.
    #[error("no bearer token was presented")]
    Missing,
    /// Longer than any K3s-DaaS token.
    #[error("the bearer token is longer than {MAX_TOKEN_LEN} bytes")]
    TooLong,
    /// Neither a `daas1.` access token nor an opaque seal token.
    #[error("not a K3s-DaaS token: expected `daas1.…` or 64 lowercase hex digits")]
    Unrecognized,
    /// The access token is malformed, badly signed, expired or for
    /// another audience.
    #[error("access token refused: {0}")]
    AccessToken(#[source] TokenError),
    /// The opaque token is malformed.
    #[error("opaque seal token refused: {0}")]
    OpaqueMalformed(#[source] OpaqueTokenError),
    /// No master issued this opaque token (or it was deleted).
    #[error("the opaque seal token is unknown")]
    OpaqueUnknown,
    /// The opaque token expired.
    #[error("the opaque seal token expired at {}", daas_core::clock::format_secs(*.0))]
    OpaqueExpired(u64),
    /// The chain denies access through the seal token.
    #[error("access denied: {0}")]
    Denied(DenyReason),
    /// The chain could not be read; nothing is allowed meanwhile.
    #[error("cannot check the chain: {0}")]
    Chain(#[source] ReviewError),
    /// The opaque seal token store could not be read.
    #[error("cannot read the seal token store: {0}")]
    Store(#[source] StoreError),
}

impl AuthError {
    /// Whether the failure is the master's (chain or store unreachable)
    /// rather than the token's.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Chain(_) | Self::Store(_))
    }

    /// A short label for metrics.
    pub(super) fn label(&self) -> &'static str {
        match self {
            Self::Denied(_) => "denied",
            Self::Chain(_) | Self::Store(_) => "error",
            _ => "invalid",
        }
    }
}

impl From<AuthError> for ApiError {
    /// 503 when the master cannot decide, else 401 naming the reason.
    fn from(error: AuthError) -> Self {
        if error.is_unavailable() {
            ApiError::unavailable("cannot check access", &error)
        } else {
            ApiError::unauthorized(error.to_string())
        }
    }
}

/// An allowed user.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The seal token and its owner.
    pub claimant: Claimant,
    /// How the user authenticated.
    pub kind: CredentialKind,
    /// Who the user is in Kubernetes terms.
    pub grant: Arc<Grant>,
}

impl Authenticated {
    /// Who the user is in Kubernetes terms for this credential: the grant,
    /// plus, for an opaque token, its id in the extra
    /// [`EXTRA_OPAQUE_TOKEN`], so the authorization webhook refuses its
    /// requests once it is revoked.
    pub fn kubernetes_user(&self) -> Grant {
        let mut grant = Grant::clone(&self.grant);
        if let Some((key, value)) = self.credential_extra() {
            grant.extra.insert(key.to_owned(), vec![value]);
        }
        grant
    }

    /// The extra attribute the credential adds to the grant's: an opaque
    /// token's id under [`EXTRA_OPAQUE_TOKEN`]; none for an access token.
    pub fn credential_extra(&self) -> Option<(&'static str, String)> {
        match self.kind {
            CredentialKind::Opaque(hash) => Some((EXTRA_OPAQUE_TOKEN, hash.to_string())),
            CredentialKind::AccessToken => None,
        }
    }
}

/// The bearer token of `Authorization: Bearer <token>`.
///
/// # Errors
/// 401 when the header is missing, not UTF-8 or not a bearer token.
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer <token>"))?;
    let text = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("the Authorization header is not ASCII"))?;
    match text.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() => {
            Ok(token.trim())
        }
        _ => Err(ApiError::unauthorized(
            "the Authorization header must be `Bearer <token>`",
        )),
    }
}

/// The longest anything is cached, whatever a configuration or a stored
/// expiry says (keeps `Instant` arithmetic far from overflow).
pub const MAX_CACHE_LIFETIME: Duration = Duration::from_secs(366 * 24 * 3600);

/// The instant `after` from now, capped at [`MAX_CACHE_LIFETIME`].
pub(super) fn deadline_after(after: Duration) -> Instant {
    Instant::now() + after.min(MAX_CACHE_LIFETIME)
}

/// The instant at which unix time `at` (seconds) is reached (capped at
/// [`MAX_CACHE_LIFETIME`] from now).
pub(super) fn instant_at(at: u64) -> Instant {
    deadline_after(Duration::from_secs(at.saturating_sub(unix_now_secs())))
}

impl AccessService {
    /// Authenticates `bearer` (a `daas1.` access token or an opaque seal
    /// token) and returns the user if the chain allows them now.
    ///
    /// # Errors
    /// [`AuthError`]: why the token does not authenticate a user, or that
    /// the chain or the store cannot be read (fail closed).
    pub async fn authenticate(&self, bearer: &str) -> Result<Authenticated, AuthError> {
        let credential = self.credential(bearer).await?;
        match self.decision(&credential.claimant).await? {
            CachedDecision::Allowed(grant) => Ok(Authenticated {
                claimant: credential.claimant,
                kind: credential.kind,
                grant,
            }),
            CachedDecision::Denied(reason) => Err(AuthError::Denied(reason)),
        }
    }

    /// What `bearer` proves, from the cache or by checking it.
    async fn credential(&self, bearer: &str) -> Result<Credential, AuthError> {
        if bearer.is_empty() {
            return Err(AuthError::Missing);
        }
        if bearer.len() > MAX_TOKEN_LEN {
            return Err(AuthError::TooLong);
        }
        let key: [u8; 32] = Sha256::digest(bearer.as_bytes()).into();
        if let Some(credential) = self.cache.credential(&key, Instant::now()) {
            self.metrics.cache(Cache::Credential, true);
            return Ok(credential);
        }
        self.metrics.cache(Cache::Credential, false);
        let credential = if bearer.starts_with(PREFIX) {
            let verified = self.verified_access_token(bearer)?;
            Credential {
                claimant: Claimant::from(&verified),
                kind: CredentialKind::AccessToken,
                expires: instant_at(verified.expires_at()),
            }
        } else if OpaqueToken::looks_like(bearer) {
            // Boxed, as every cold path here: inline, its store reads would
            // make every warm request's future kilobytes larger, and that
            // future is moved several times per request.
            Box::pin(self.opaque_credential(bearer)).await?
        } else {
            return Err(AuthError::Unrecognized);
        };
        self.cache.insert_credential(key, credential);
        Ok(credential)
    }

    /// Verifies a `daas1.` access token (signature, audience, times),
    /// without the chain.
    ///
    /// # Errors
    /// [`AuthError::AccessToken`] naming what is wrong.
    pub(super) fn verified_access_token(&self, bearer: &str) -> Result<VerifiedToken, AuthError> {
        AccessToken::parse(bearer)
            .and_then(|token| {
                token.verify(
                    &self.settings.audience,
                    unix_now_secs(),
                    self.settings.clock_skew,
                )
            })
            .map_err(AuthError::AccessToken)
    }

    async fn opaque_credential(&self, bearer: &str) -> Result<Credential, AuthError> {
        let token = OpaqueToken::parse(bearer).map_err(AuthError::OpaqueMalformed)?;
        let hash = token.hash();
        let stored = self
            .store
            .lookup(hash)
            .await
            .map_err(AuthError::Store)?
            .ok_or(AuthError::OpaqueUnknown)?;
        if stored.expires_at <= unix_now_secs() {
            self.store.delete_in_background(hash);
            return Err(AuthError::OpaqueExpired(stored.expires_at));
        }
        Ok(Credential {
            claimant: stored.claimant,
            kind: CredentialKind::Opaque(hash),
            // Read the record again soon: it may be revoked.
            expires: instant_at(stored.expires_at).min(deadline_after(RECORD_RECHECK)),
        })
    }

    /// Whether the opaque token `hash` is still issued and unexpired (the
    /// authorization webhook's check of an opaque token's requests).
    ///
    /// # Errors
    /// [`AuthError::Store`] when the store cannot be read.
    pub(super) async fn opaque_token_live(&self, hash: OpaqueTokenHash) -> Result<bool, AuthError> {
        let stored = self.store.lookup(hash).await.map_err(AuthError::Store)?;
        Ok(stored.is_some_and(|stored| stored.expires_at > unix_now_secs()))
    }

    /// The current decision about `claimant`: cached, else reviewed on
    /// chain (and cached unless an invalidation raced the review).
    pub(super) async fn decision(&self, claimant: &Claimant) -> Result<CachedDecision, AuthError> {
        let lifetime = DecisionLifetime {
            configured: self.settings.decision_cache_ttl,
        };
        let max_age = lifetime.max_age(self.events_caught_up());
        if let Some(decision) = self.cache.decision(claimant, Instant::now(), max_age) {
            self.metrics.cache(Cache::Decision, true);
            return Ok(decision);
        }
        self.metrics.cache(Cache::Decision, false);
        // Boxed: see `credential`.
        Box::pin(self.review_on_chain(claimant, max_age)).await
    }

    /// Reviews `claimant` on chain and caches the decision for at most
    /// `max_age`.
    async fn review_on_chain(
        &self,
        claimant: &Claimant,
        max_age: Duration,
    ) -> Result<CachedDecision, AuthError> {
        let ticket = self.cache.ticket(claimant.seal_token);
        let timed = review_at_chain_time(&self.chain, claimant, unix_now_ms())
            .await
            .map_err(AuthError::Chain)?;
        let (decision, ttl) = match timed.decision {
            Decision::Allowed(grant) => {
                let left =
                    Duration::from_millis(grant.seal_expires_at_ms.saturating_sub(timed.now_ms));
                self.provision(&grant).await;
                (CachedDecision::Allowed(Arc::new(grant)), max_age.min(left))
            }
            Decision::Denied(reason) => (CachedDecision::Denied(reason), max_age.min(DENIAL_TTL)),
        };
        let stored =
            self.cache
                .insert_decision(ticket, claimant, decision.clone(), deadline_after(ttl));
        debug!(seal_token = %claimant.seal_token, stored, "seal token reviewed on chain");
        Ok(decision)
    }

    /// Who `claimant` is now, as the TokenReview would answer (the same
    /// cached decision, with the tier's RBAC objects ensured); `Err` with
    /// the reason when access is denied. The on-chain gateway acts as this
    /// user.
    ///
    /// # Errors
    /// [`AuthError`] when the chain cannot be read (fail closed).
    pub async fn user(&self, claimant: &Claimant) -> Result<Result<Grant, DenyReason>, AuthError> {
        Ok(match self.decision(claimant).await? {
            CachedDecision::Allowed(grant) => Ok(Grant::clone(&grant)),
            CachedDecision::Denied(reason) => Err(reason),
        })
    }

    /// Ensures the RBAC objects of an allowed user's tier, once per seal
    /// token and tier. A failure is logged and retried at the next review:
    /// authentication stands, RBAC then refuses what is missing.
    async fn provision(&self, grant: &Grant) {
        if self.provisioned_map().get(&grant.seal_token) == Some(&grant.tier) {
            return;
        }
        match rbac::ensure_user_access(&self.kube, grant.address, Some(grant.tier)).await {
            Ok(_) => {
                self.provisioned_map().insert(grant.seal_token, grant.tier);
            }
            Err(error) => {
                warn!(address = %grant.address, error = %one_line(&error), "cannot ensure the user's RBAC objects");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    /// The size of the future `handler` returns, without calling it.
    fn future_size<F, A, B, Fut>(_: F) -> usize
    where
        F: FnOnce(A, B) -> Fut,
    {
        std::mem::size_of::<Fut>()
    }

    /// The webhook handlers' futures stay small: each request's future is
    /// moved several times (into its box and through the router's layers),
    /// and with the chain review or a store read inline they were 5.9 KB,
    /// copies that cost the warm TokenReview more than its JSON.
    #[test]
    fn warm_webhook_futures_keep_cold_paths_boxed() {
        for (handler, size) in [
            (
                "TokenReview",
                future_size(crate::access::tokenreview::authenticate),
            ),
            (
                "SubjectAccessReview",
                future_size(crate::access::authorize::authorize),
            ),
        ] {
            assert!(
                size < 2048,
                "the {handler} handler's future is {size} bytes"
            );
        }
    }
}
