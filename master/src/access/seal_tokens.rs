//! Opaque seal tokens for clients that cannot run the credential plugin:
//! issued, listed and revoked by their owner with a wallet-signed access
//! token (`Authorization: Bearer daas1.…`); kept by
//! [`super::seal_token_store`].
//!
//! | route | what |
//! |---|---|
//! | `POST /api/v1/seal-tokens` | issues one: 201 with the token, shown only this once |
//! | `GET /api/v1/seal-tokens` | the caller's live tokens (ids and expiries) and the cap |
//! | `DELETE /api/v1/seal-tokens/{id}` | revokes the caller's token whose id (its SHA-256) starts with `{id}` |
//!
//! Limits: an access token issues at most one opaque token (its nonce is
//! recorded where every replica sees it); an owner holds at most
//! `access.seal_tokens_per_owner` live tokens (409 naming the cap); a token
//! lives `access.seal_token_ttl_secs`, never past its seal token's expiry.
//!
//! A revoked token stops authenticating within
//! [`RECORD_RECHECK`](super::seal_token_store::RECORD_RECHECK) on every
//! replica: each re-reads a record that often, and the TokenReview answer
//! names the opaque token, so the authorization webhook refuses its
//! requests once the record is gone, although the API server still caches
//! the authentication.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use daas_core::access::token::PREFIX;
use daas_core::access::{OpaqueToken, OpaqueTokenHash, unix_now_secs};
use daas_core::package::SealTokenId;
use serde::{Deserialize, Serialize};
use tracing::{info, instrument};

use super::authenticator::bearer_token;
use super::seal_token_store::{SealTokenRecord, StoreError, StoredSealToken};
use super::{AccessService, Authenticated, SEAL_TOKENS_PATH};
use crate::http::ApiError;

/// The fewest hex digits of an id that a revocation accepts.
pub const MIN_ID_PREFIX: usize = 8;

pub use daas_core::api::access::IssuedSealToken;

/// One live token in `GET /api/v1/seal-tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SealTokenSummary {
    /// The token's SHA-256 (64 hex digits).
    pub id: String,
    /// When it expires, unix seconds.
    pub expires_at: u64,
    /// The seal token it authenticates through.
    #[schemars(with = "String")]
    pub seal_token_id: SealTokenId,
}

/// The answer of `GET /api/v1/seal-tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SealTokenList {
    /// How many live tokens an owner may hold.
    pub cap: u32,
    /// The caller's live tokens, soonest expiry first.
    pub tokens: Vec<SealTokenSummary>,
}

impl From<&SealTokenRecord> for SealTokenSummary {
    fn from(record: &SealTokenRecord) -> Self {
        Self {
            id: record.hash.to_string(),
            expires_at: record.token.expires_at,
            seal_token_id: record.token.claimant.seal_token,
        }
    }
}

fn store_unavailable(error: &StoreError) -> ApiError {
    ApiError::unavailable("cannot read or write the seal token store", error)
}

/// The caller of a management route: authenticated by a wallet-signed
/// access token (opaque tokens do not manage opaque tokens), within the
/// rate limit.
pub(crate) async fn wallet_user(
    service: &AccessService,
    headers: &HeaderMap,
) -> Result<Authenticated, ApiError> {
    let bearer = bearer_token(headers)?;
    if !bearer.starts_with(PREFIX) {
        return Err(ApiError::unauthorized(
            "opaque seal tokens are managed with a signed access token (`Bearer daas1.…`)",
        ));
    }
    let user = service.authenticate(bearer).await?;
    tracing::Span::current().record("owner", tracing::field::display(user.claimant.owner));
    service
        .limiter
        .check(&user.claimant.owner.to_string())
        .map_err(ApiError::too_many_requests)?;
    Ok(user)
}

/// `POST /api/v1/seal-tokens`: issues an opaque token for the caller's seal
/// token, once per access token and within the owner's cap.
#[instrument(skip_all, fields(owner))]
pub(super) async fn issue(
    State(service): State<Arc<AccessService>>,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<IssuedSealToken>), ApiError> {
    let user = wallet_user(&service, &headers).await?;
    let bearer = bearer_token(&headers)?;
    let access_token = service.verified_access_token(bearer)?;
    let owner = user.claimant.owner;
    // One issuance at a time in this replica, so the cap holds here; across
    // replicas it can be passed by at most one token per replica.
    let _issuing = service.issuing.lock().await;
    let now = unix_now_secs();
    let live = service
        .store
        .owned_by(owner, now)
        .await
        .map_err(|e| store_unavailable(&e))?;
    let cap = service.settings.seal_tokens_per_owner.get();
    if live.len() >= usize::try_from(cap).unwrap_or(usize::MAX) {
        return Err(ApiError::conflict(format!(
            "{owner} already holds {} live opaque seal tokens, the cap \
             (access.seal_tokens_per_owner = {cap}); revoke one with \
             DELETE {SEAL_TOKENS_PATH}/<id> or wait until one expires",
            live.len()
        )));
    }
    let nonce = access_token.claims().nonce;
    let fresh = service
        .store
        .claim_access_token(owner, &nonce, access_token.expires_at())
        .await
        .map_err(|e| store_unavailable(&e))?;
    if !fresh {
        return Err(ApiError::conflict(
            "this access token has already issued an opaque seal token; sign a new one",
        ));
    }
    let expires_at = now
        .saturating_add(service.settings.seal_token_ttl.as_secs())
        .min(user.grant.seal_expires_at_ms / 1000);
    let token = OpaqueToken::generate();
    let stored = StoredSealToken {
        claimant: user.claimant,
        expires_at,
    };
    if let Err(error) = service.store.create(token.hash(), stored).await {
        service.store.release_access_token(owner, &nonce).await;
        return Err(store_unavailable(&error));
    }
    info!(seal_token = %user.claimant.seal_token, expires_at, "opaque seal token issued");
    Ok((
        StatusCode::CREATED,
        Json(IssuedSealToken {
            seal_token: token.expose(),
            id: token.hash().to_string(),
            expires_at,
            seal_token_id: user.claimant.seal_token,
            owner,
        }),
    ))
}

/// `GET /api/v1/seal-tokens`: the caller's live tokens.
#[instrument(skip_all, fields(owner))]
pub(super) async fn list(
    State(service): State<Arc<AccessService>>,
    headers: HeaderMap,
) -> Result<Json<SealTokenList>, ApiError> {
    let user = wallet_user(&service, &headers).await?;
    let mut tokens: Vec<SealTokenSummary> = service
        .store
        .owned_by(user.claimant.owner, unix_now_secs())
        .await
        .map_err(|e| store_unavailable(&e))?
        .iter()
        .map(SealTokenSummary::from)
        .collect();
    tokens.sort_by(|a, b| a.expires_at.cmp(&b.expires_at).then(a.id.cmp(&b.id)));
    Ok(Json(SealTokenList {
        cap: service.settings.seal_tokens_per_owner.get(),
        tokens,
    }))
}

/// `DELETE /api/v1/seal-tokens/{id}`: revokes the caller's live token whose
/// id starts with `id` (at least [`MIN_ID_PREFIX`] hex digits).
#[instrument(skip_all, fields(owner))]
pub(super) async fn revoke(
    State(service): State<Arc<AccessService>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    check_id_prefix(&id)?;
    let user = wallet_user(&service, &headers).await?;
    let owner = user.claimant.owner;
    let live = service
        .store
        .owned_by(owner, unix_now_secs())
        .await
        .map_err(|e| store_unavailable(&e))?;
    let hash = only_match(&live, &id)?;
    service
        .store
        .delete(hash)
        .await
        .map_err(|e| store_unavailable(&e))?;
    info!(id = %hash, "opaque seal token revoked");
    Ok(StatusCode::NO_CONTENT)
}

fn check_id_prefix(id: &str) -> Result<(), ApiError> {
    let hex = id
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if (MIN_ID_PREFIX..=64).contains(&id.len()) && hex {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "a seal token id is {MIN_ID_PREFIX} to 64 lowercase hex digits of the token's \
             SHA-256 (the `id` of the issuing answer), not {id:?}"
        )))
    }
}

/// The one token of `live` whose id starts with `prefix`.
fn only_match(live: &[SealTokenRecord], prefix: &str) -> Result<OpaqueTokenHash, ApiError> {
    let mut matches = live
        .iter()
        .map(|record| record.hash)
        .filter(|hash| hash.to_string().starts_with(prefix));
    match (matches.next(), matches.next()) {
        (Some(hash), None) => Ok(hash),
        (None, _) => Err(ApiError::not_found(format!(
            "you hold no live opaque seal token whose id starts with {prefix}"
        ))),
        (Some(_), Some(_)) => Err(ApiError::conflict(format!(
            "several of your opaque seal tokens have ids starting with {prefix}; give more digits"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use daas_core::access::Claimant;
    use sui_sdk_types::Address;

    use super::*;

    fn record(hash_hex: &str) -> SealTokenRecord {
        SealTokenRecord {
            hash: hash_hex.parse().unwrap(),
            token: StoredSealToken {
                claimant: Claimant {
                    seal_token: SealTokenId::new(Address::new([1; 32])),
                    owner: Address::new([2; 32]),
                },
                expires_at: 10,
            },
        }
    }

    #[test]
    fn ids_are_hex_prefixes_of_at_least_eight_digits() {
        assert!(check_id_prefix("0123abcd").is_ok());
        assert!(check_id_prefix(&"a".repeat(64)).is_ok());
        for bad in [
            "0123abc",
            "0123ABCD",
            "0123abcg",
            &"a".repeat(65),
            "../../x",
        ] {
            let error = check_id_prefix(bad).unwrap_err();
            assert_eq!(error.status(), StatusCode::BAD_REQUEST, "{bad}");
        }
    }

    #[test]
    fn a_prefix_must_name_exactly_one_token() {
        let live = [
            record(&format!("aaaa1111{}", "0".repeat(56))),
            record(&format!("aaaa2222{}", "0".repeat(56))),
        ];
        assert_eq!(only_match(&live, "aaaa1111").unwrap(), live[0].hash);
        let error = only_match(&live, "aaaa").unwrap_err();
        assert_eq!(error.status(), StatusCode::CONFLICT);
        let error = only_match(&live, "bbbb1111").unwrap_err();
        assert_eq!(error.status(), StatusCode::NOT_FOUND);
    }
}
