//! Opaque seal tokens: `POST /api/v1/seal-tokens` issues one against a
//! signed access token, and [`SealTokenStore`] keeps them.
//!
//! A token is stored only as its SHA-256, one Secret per token in
//! `kube-system` named from the hash ([`secret_name`]), of type
//! [`SECRET_TYPE`], so every master of the cluster shares them. A Secret
//! holds the hash, the seal token id, the owner and the expiry; the token
//! itself is returned once, to the caller, and never stored.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use daas_core::access::token::PREFIX;
use daas_core::access::{Claimant, OpaqueToken, OpaqueTokenHash, unix_now_secs};
use daas_core::package::SealTokenId;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams};
use sui_sdk_types::Address;
use tracing::{info, instrument, warn};

use super::AccessService;
use super::authenticator::{bearer_token, instant_at};
use crate::http::ApiError;
use crate::labels::{MANAGED_BY, MANAGED_BY_LABEL, OWNER_ANNOTATION, SEAL_TOKEN_ANNOTATION};

/// The namespace of the Secrets.
pub const SECRET_NAMESPACE: &str = "kube-system";
/// Prefix of a Secret's name; the token's hash (64 hex digits) follows.
pub const SECRET_NAME_PREFIX: &str = "daas-seal-token-";
/// The Secrets' type.
pub const SECRET_TYPE: &str = "k3s-daas.io/seal-token";
/// `app.kubernetes.io/component` of the Secrets.
pub const COMPONENT: &str = "seal-token";
/// Data key: the token's SHA-256 (hex).
pub const KEY_HASH: &str = "token-sha256";
/// Data key: the seal token id.
pub const KEY_SEAL_TOKEN: &str = "seal-token-id";
/// Data key: the owner's address.
pub const KEY_OWNER: &str = "owner";
/// Data key: expiry, unix seconds.
pub const KEY_EXPIRES_AT: &str = "expires-at";
/// How long "no such token" is remembered (random tokens are never
/// guessed, so this only spares the API server repeated probes).
pub const NEGATIVE_LOOKUP_TTL: Duration = Duration::from_secs(5);
/// Lookups remembered at most.
const MAX_LOOKUPS: usize = 16_384;

/// The Secret name of the token whose hash is `hash`.
pub fn secret_name(hash: OpaqueTokenHash) -> String {
    format!("{SECRET_NAME_PREFIX}{hash}")
}

/// The store could not be read or written, or holds a malformed Secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The API server refused or failed.
    #[error("{action} failed")]
    Api {
        /// What was done.
        action: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// A Secret lacks a field or holds a value that does not parse.
    #[error("Secret {name} is malformed: {reason}")]
    Malformed {
        /// The Secret.
        name: String,
        /// What is wrong.
        reason: String,
    },
}

/// What the store knows about one token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredSealToken {
    /// The seal token and owner it was issued for.
    pub claimant: Claimant,
    /// When it expires, unix seconds.
    pub expires_at: u64,
}

#[derive(Debug, Clone, Copy)]
struct Lookup {
    found: Option<StoredSealToken>,
    until: Instant,
}

/// The Secrets holding opaque token hashes, with lookups cached.
pub struct SealTokenStore {
    api: Api<Secret>,
    lookups: Arc<RwLock<HashMap<OpaqueTokenHash, Lookup>>>,
}

impl std::fmt::Debug for SealTokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealTokenStore").finish_non_exhaustive()
    }
}

impl SealTokenStore {
    /// The store in `kube-system` of the cluster `client` talks to.
    pub fn new(client: kube::Client) -> Self {
        Self {
            api: Api::namespaced(client, SECRET_NAMESPACE),
            lookups: Arc::default(),
        }
    }

    /// The token whose hash is `hash`, if some master issued it.
    ///
    /// # Errors
    /// [`StoreError`] when the Secret cannot be read or is malformed.
    pub async fn lookup(
        &self,
        hash: OpaqueTokenHash,
    ) -> Result<Option<StoredSealToken>, StoreError> {
        if let Some(lookup) = self.cached(hash) {
            return Ok(lookup.found);
        }
        let name = secret_name(hash);
        let secret = self
            .api
            .get_opt(&name)
            .await
            .map_err(|source| StoreError::Api {
                action: format!("reading Secret {SECRET_NAMESPACE}/{name}"),
                source,
            })?;
        let found = secret.map(|s| parse_secret(&name, hash, &s)).transpose()?;
        let until = found.map_or(Instant::now() + NEGATIVE_LOOKUP_TTL, |f| {
            instant_at(f.expires_at)
        });
        self.remember(hash, Lookup { found, until });
        Ok(found)
    }

    /// Stores the token whose hash is `hash`.
    ///
    /// # Errors
    /// [`StoreError::Api`] when the API server refuses the Secret.
    pub async fn create(
        &self,
        hash: OpaqueTokenHash,
        stored: StoredSealToken,
    ) -> Result<(), StoreError> {
        let name = secret_name(hash);
        self.api
            .create(&PostParams::default(), &secret(&name, hash, stored))
            .await
            .map_err(|source| StoreError::Api {
                action: format!("creating Secret {SECRET_NAMESPACE}/{name}"),
                source,
            })?;
        let until = instant_at(stored.expires_at);
        self.remember(
            hash,
            Lookup {
                found: Some(stored),
                until,
            },
        );
        Ok(())
    }

    /// Forgets the token and deletes its Secret in the background (an
    /// expired token; a failure is logged, the token stays refused).
    pub fn delete_in_background(&self, hash: OpaqueTokenHash) {
        self.write_lookups().remove(&hash);
        let api = self.api.clone();
        let name = secret_name(hash);
        tokio::spawn(async move {
            match api.delete(&name, &DeleteParams::default()).await {
                Ok(_) => info!(secret = %name, "expired seal token deleted"),
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(error) => warn!(secret = %name, %error, "cannot delete an expired seal token"),
            }
        });
    }

    fn cached(&self, hash: OpaqueTokenHash) -> Option<Lookup> {
        let lookups = self.lookups.read().unwrap_or_else(PoisonError::into_inner);
        lookups
            .get(&hash)
            .filter(|l| l.until > Instant::now())
            .copied()
    }

    fn remember(&self, hash: OpaqueTokenHash, lookup: Lookup) {
        let mut lookups = self.write_lookups();
        if lookups.len() >= MAX_LOOKUPS {
            let now = Instant::now();
            lookups.retain(|_, l| l.until > now);
            if lookups.len() >= MAX_LOOKUPS {
                lookups.clear();
            }
        }
        lookups.insert(hash, lookup);
    }

    fn write_lookups(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<OpaqueTokenHash, Lookup>> {
        // A poisoned map only means a panic between two map operations.
        self.lookups.write().unwrap_or_else(PoisonError::into_inner)
    }
}

fn secret(name: &str, hash: OpaqueTokenHash, stored: StoredSealToken) -> Secret {
    let Claimant { seal_token, owner } = stored.claimant;
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(SECRET_NAMESPACE.to_owned()),
            labels: Some(BTreeMap::from([
                (MANAGED_BY_LABEL.to_owned(), MANAGED_BY.to_owned()),
                (
                    "app.kubernetes.io/component".to_owned(),
                    COMPONENT.to_owned(),
                ),
            ])),
            annotations: Some(BTreeMap::from([
                (SEAL_TOKEN_ANNOTATION.to_owned(), seal_token.to_string()),
                (OWNER_ANNOTATION.to_owned(), owner.to_string()),
            ])),
            ..ObjectMeta::default()
        },
        type_: Some(SECRET_TYPE.to_owned()),
        string_data: Some(BTreeMap::from([
            (KEY_HASH.to_owned(), hash.to_string()),
            (KEY_SEAL_TOKEN.to_owned(), seal_token.to_string()),
            (KEY_OWNER.to_owned(), owner.to_string()),
            (KEY_EXPIRES_AT.to_owned(), stored.expires_at.to_string()),
        ])),
        ..Secret::default()
    }
}

fn parse_secret(
    name: &str,
    hash: OpaqueTokenHash,
    secret: &Secret,
) -> Result<StoredSealToken, StoreError> {
    let malformed = |reason: String| StoreError::Malformed {
        name: name.to_owned(),
        reason,
    };
    let field = |key: &str| -> Result<String, StoreError> {
        let bytes = secret
            .data
            .as_ref()
            .and_then(|data| data.get(key))
            .ok_or_else(|| malformed(format!("no `{key}`")))?;
        String::from_utf8(bytes.0.clone()).map_err(|_| malformed(format!("`{key}` is not UTF-8")))
    };
    if field(KEY_HASH)? != hash.to_string() {
        return Err(malformed(format!("`{KEY_HASH}` does not match its name")));
    }
    let seal_token: SealTokenId = field(KEY_SEAL_TOKEN)?
        .parse()
        .map_err(|e| malformed(format!("`{KEY_SEAL_TOKEN}`: {e}")))?;
    let owner: Address = field(KEY_OWNER)?
        .parse()
        .map_err(|e| malformed(format!("`{KEY_OWNER}`: {e}")))?;
    let expires_at: u64 = field(KEY_EXPIRES_AT)?
        .parse()
        .map_err(|e| malformed(format!("`{KEY_EXPIRES_AT}`: {e}")))?;
    Ok(StoredSealToken {
        claimant: Claimant { seal_token, owner },
        expires_at,
    })
}

pub use daas_core::api::access::IssuedSealToken;

/// `POST /api/v1/seal-tokens`: authenticated by `Authorization: Bearer
/// daas1.…`, issues an opaque token for the caller's seal token, valid the
/// configured lifetime and never past the seal token's expiry.
#[instrument(skip_all, fields(owner))]
pub(super) async fn issue(
    State(service): State<Arc<AccessService>>,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<IssuedSealToken>), ApiError> {
    let bearer = bearer_token(&headers)?;
    if !bearer.starts_with(PREFIX) {
        return Err(ApiError::unauthorized(
            "opaque seal tokens are issued against a signed access token (`Bearer daas1.…`)",
        ));
    }
    let user = service.authenticate(bearer).await?;
    let owner = user.claimant.owner;
    tracing::Span::current().record("owner", tracing::field::display(owner));
    service
        .limiter
        .check(&owner.to_string())
        .map_err(ApiError::too_many_requests)?;
    let now = unix_now_secs();
    let expires_at = now
        .saturating_add(service.settings.seal_token_ttl.as_secs())
        .min(user.grant.seal_expires_at_ms / 1000);
    let token = OpaqueToken::generate();
    let stored = StoredSealToken {
        claimant: user.claimant,
        expires_at,
    };
    service
        .store
        .create(token.hash(), stored)
        .await
        .map_err(|e| ApiError::unavailable("cannot store the seal token", &e))?;
    info!(seal_token = %user.claimant.seal_token, expires_at, "opaque seal token issued");
    Ok((
        StatusCode::CREATED,
        Json(IssuedSealToken {
            seal_token: token.expose(),
            expires_at,
            seal_token_id: user.claimant.seal_token,
            owner,
        }),
    ))
}
