//! The kubectl credential: a wallet-signed access token
//! (`daas_core::access::token`), cached per audience, seal token, wallet
//! and key, and checked on chain first so a user learns *why* access would
//! be refused (unstaked, slashed, expired, not found) instead of a bare
//! `Unauthorized`.
//!
//! Tokens are cached in 0600 files in a 0700 directory under the user's
//! cache dir, reused while enough of their lifetime remains. kubectl runs
//! the plugin for every command, so the chain's "allowed" is remembered
//! beside the cached token for [`CHECK_REUSE`]: a loop of commands asks
//! the chain once, not once per command (the master decides every request
//! whatever the plugin said). Unstaking through the console forgets both
//! ([`forget`]), so the next command says why access ended. A seal token
//! cannot change hands (contracts/README.md), so it also fixes the owner;
//! a cached token is reused only when its claims still match.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use daas_core::access::review::{Claimant, Decision, DenyReason, decide_claimant};
use daas_core::access::{AccessToken, Claims, unix_now_secs};
use daas_core::chain::ChainError;
use daas_core::clock::format_ms;
use daas_core::package::{Mist, SealTokenId, Tier};
use daas_core::private_file;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use sui_sdk_types::Address;

use super::{Context, OpsError, Unlock, wallet};

/// Reuse a cached token while at least this much of its life remains (or
/// half its lifetime, for short-lived tokens).
const REUSE_MARGIN_SECS: u64 = 60;
/// A cache file larger than this is not ours.
const MAX_CACHE_FILE: u64 = 64 * 1024;
/// How long the on-chain check may take before the plugin signs anyway
/// (the master still decides).
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the chain's "allowed" for a credential is reused before the
/// plugin asks again.
pub const CHECK_REUSE: Duration = Duration::from_secs(30);
/// A remembered check file larger than this is not ours.
const MAX_CHECK_FILE: u64 = 64;

/// What to sign.
#[derive(Debug, Clone)]
pub struct CredentialRequest {
    /// The seal token granting the access.
    pub seal_token: SealTokenId,
    /// The cluster the token is for.
    pub audience: String,
    /// Token lifetime (at most 900 s).
    pub lifetime: Duration,
    /// The cache directory; `None` neither reads nor writes a cache.
    pub cache_dir: Option<PathBuf>,
}

/// A signed token and its expiry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issued {
    /// The token (a bearer secret: never log it).
    pub token: String,
    /// Expiry, unix seconds.
    pub expires_at: u64,
}

/// The default cache directory (`~/.cache/k3s-daas/credentials`).
pub fn default_cache_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("io", "k3s-daas", "k3s-daas")
        .map(|dirs| dirs.cache_dir().join("credentials"))
}

/// Where one credential is cached: its token (`<hash>.json`) and, beside
/// it, when the chain last allowed it (`<hash>.checked`). Resolved once
/// per run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheFiles {
    token: PathBuf,
    /// The configured key (an address or a wallet alias), whose tokens
    /// these are.
    key: Option<String>,
}

impl CacheFiles {
    /// `request`'s files: `<cache dir>/<hash of audience, seal token,
    /// wallet dir and key>.json`; `None` without a cache directory.
    ///
    /// # Errors
    /// There is no wallet directory to hash.
    pub fn of(ctx: &Context, request: &CredentialRequest) -> Result<Option<Self>, OpsError> {
        let Some(dir) = &request.cache_dir else {
            return Ok(None);
        };
        let wallet_dir = ctx.wallet_dir()?;
        let key = ctx.settings().key.clone();
        let mut hash = Sha256::new();
        for part in [
            request.audience.as_bytes(),
            request.seal_token.to_string().as_bytes(),
            wallet_dir.as_os_str().as_encoded_bytes(),
            key.as_deref().unwrap_or_default().as_bytes(),
        ] {
            hash.update((part.len() as u64).to_le_bytes());
            hash.update(part);
        }
        let digest = hash.finalize();
        Ok(Some(Self {
            token: dir.join(format!("{}.json", hex::encode(&digest[..16]))),
            key,
        }))
    }

    /// The cached token if it is still good for `request` (see `cached`).
    pub fn token(&self, request: &CredentialRequest) -> Option<Issued> {
        cached(&self.token, request, self.key.as_deref(), unix_now_secs())
    }

    /// Whether the chain allowed the credential less than [`CHECK_REUSE`]
    /// before `now_ms`.
    pub fn recently_allowed(&self, now_ms: u64) -> bool {
        allowed_within(&self.checked(), now_ms)
    }

    /// Remembers that the chain allowed the credential at `now_ms`.
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn remember_allowed(&self, now_ms: u64) -> Result<(), OpsError> {
        write_private(&self.checked(), now_ms.to_string().as_bytes())
    }

    fn checked(&self) -> PathBuf {
        self.token.with_extension("checked")
    }
}

/// A new token for `request`, signed with the configured key (unlocking
/// the wallet through `unlock`) and cached in `cache` (a still-good cached
/// one is [`CacheFiles::token`]). Returns the token and, when caching
/// failed, why (the token is still good).
///
/// # Errors
/// The wallet cannot be unlocked or the claims are invalid.
pub fn sign(
    ctx: &Context,
    request: &CredentialRequest,
    cache: Option<&CacheFiles>,
    unlock: &dyn Unlock,
) -> Result<(Issued, Option<OpsError>), OpsError> {
    let signer = wallet::signer(ctx, unlock)?;
    let claims = Claims::new(
        request.seal_token,
        signer.address(),
        request.audience.clone(),
        unix_now_secs(),
        request.lifetime,
    )?;
    let token = AccessToken::sign(&signer, &claims)?;
    let issued = Issued {
        token: token.into_string(),
        expires_at: claims.expires_at,
    };
    let cache_error = cache.and_then(|files| write_cache(&files.token, &issued).err());
    Ok((issued, cache_error))
}

/// Forgets every cached token of `seal_token` in `dir`, with its
/// remembered check, so that the next kubectl command signs anew and asks
/// the chain. Returns how many tokens were forgotten.
///
/// # Errors
/// The directory cannot be read or an entry cannot be removed.
pub fn forget(dir: &Path, seal_token: SealTokenId) -> Result<usize, OpsError> {
    let io = |action: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| OpsError::File {
            action,
            path,
            source,
        }
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(error) => return Err(io("read", dir)(error)),
    };
    let mut forgotten = 0;
    for entry in entries {
        let path = entry.map_err(io("read", dir))?.path();
        let of_token = path.extension().is_some_and(|ext| ext == "json")
            && read_issued(&path).is_some_and(|issued| {
                AccessToken::parse(&issued.token)
                    .is_ok_and(|token| token.unverified_claims().seal_token == seal_token)
            });
        if !of_token {
            continue;
        }
        for file in [path.with_extension("checked"), path.clone()] {
            match std::fs::remove_file(&file) {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(io("remove", &file)(error)),
            }
        }
        forgotten += 1;
    }
    Ok(forgotten)
}

/// Whether the check remembered at `path` is younger than [`CHECK_REUSE`]
/// at `now_ms` (and not from the future).
fn allowed_within(path: &Path, now_ms: u64) -> bool {
    let mut text = String::new();
    let read = std::fs::File::open(path)
        .and_then(|file| file.take(MAX_CHECK_FILE).read_to_string(&mut text));
    let Some(at_ms) = read.ok().and_then(|_| text.trim().parse::<u64>().ok()) else {
        return false;
    };
    at_ms <= now_ms && now_ms - at_ms < CHECK_REUSE.as_millis() as u64
}

fn read_issued(path: &Path) -> Option<Issued> {
    let file = std::fs::File::open(path).ok()?;
    let mut text = String::new();
    file.take(MAX_CACHE_FILE).read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

/// The cached token at `path` if it is still good: readable, a
/// well-formed token for the same seal token and audience (and key, when
/// `key` is an address), not issued in the future, with enough life left.
/// Anything else is a miss.
fn cached(path: &Path, request: &CredentialRequest, key: Option<&str>, now: u64) -> Option<Issued> {
    let issued = read_issued(path)?;
    let parsed = AccessToken::parse(&issued.token).ok()?;
    let claims = parsed.unverified_claims();
    let key_matches = key
        .and_then(|k| k.parse::<Address>().ok())
        .is_none_or(|address| address == claims.owner);
    let margin = REUSE_MARGIN_SECS.min(claims.lifetime_secs() / 2);
    let fresh = claims.issued_at <= now && now.saturating_add(margin) <= claims.expires_at;
    (claims.seal_token == request.seal_token
        && claims.audience == request.audience
        && key_matches
        && fresh)
        .then_some(Issued {
            expires_at: claims.expires_at,
            token: issued.token,
        })
}

fn write_cache(path: &Path, issued: &Issued) -> Result<(), OpsError> {
    let json = serde_json::to_vec(issued).map_err(|e| OpsError::Refused(e.to_string()))?;
    write_private(path, &json)
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), OpsError> {
    private_file::write_atomic(path, bytes).map_err(|e| OpsError::File {
        action: e.action,
        path: e.path,
        source: e.source,
    })
}

/// What the chain says about a seal token's access, before signing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessCheck {
    /// The master will allow it (as far as the chain says now).
    Allowed {
        /// The tier the stake buys.
        tier: Tier,
        /// When the seal token expires (ms).
        expires_at_ms: u64,
    },
    /// The master will refuse it, for this reason (a sentence).
    Refused(String),
}

/// Reads the seal token, its stake record and the pool, and decides as the
/// master does, for `owner` (the configured key's address).
///
/// # Errors
/// The chain could not be read (the caller may sign anyway: the master
/// decides).
pub async fn check(
    ctx: &Context,
    seal_token: SealTokenId,
    owner: Address,
) -> Result<AccessCheck, OpsError> {
    let chain = ctx.chain()?;
    let state = match chain.seal_token_state(seal_token).await {
        Ok(state) => state,
        Err(ChainError::ObjectNotFound { .. }) => {
            return Ok(AccessCheck::Refused(format!(
                "seal token {seal_token} does not exist on chain (never minted, or its stake was withdrawn); stake again"
            )));
        }
        Err(error) => return Err(error.into()),
    };
    let now_ms = chain
        .clock_timestamp_ms()
        .await?
        .max(unix_now_secs() * 1000);
    let claimant = Claimant { seal_token, owner };
    let decision = decide_claimant(
        &claimant,
        &state.token.value,
        state.object_owner(),
        state.record.as_ref(),
        &state.pool,
        now_ms,
    );
    let slashed = state
        .record
        .as_ref()
        .map_or(Mist::new(0), |r| r.slashed_total);
    Ok(match decision {
        Decision::Allowed(grant) => AccessCheck::Allowed {
            tier: grant.tier,
            expires_at_ms: grant.seal_expires_at_ms,
        },
        Decision::Denied(reason) => AccessCheck::Refused(explain(&reason, slashed)),
    })
}

/// Why access will be refused, for the user who staked.
fn explain(reason: &DenyReason, slashed: Mist) -> String {
    match reason {
        DenyReason::Unbonding { until_ms } => format!(
            "the stake behind this seal token was unstaked: access ended when unstake was requested (withdrawable from {})",
            format_ms(*until_ms)
        ),
        DenyReason::SealTokenExpired { at_ms } => format!(
            "the seal token expired at {}; refresh it to extend it",
            format_ms(*at_ms)
        ),
        DenyReason::UnderStaked { stake, required } if !slashed.is_zero() => format!(
            "the stake was slashed by {slashed} to {stake}, below the required {required}; add stake"
        ),
        DenyReason::UnderStaked { stake, required } => {
            format!("the stake {stake} is below the required {required}; add stake")
        }
        DenyReason::UnknownSealToken(id) => format!(
            "seal token {id} does not exist on chain (never minted, or its stake was withdrawn)"
        ),
        DenyReason::NotOwnedBySigner { .. } | DenyReason::OwnerMismatch { .. } => {
            format!("{reason}: sign with the key that staked")
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use daas_core::wallet::{Keypair, Scheme};

    use super::*;

    fn cached_token(dir: &Path, name: &str, seal: SealTokenId) -> PathBuf {
        let key = Keypair::generate(Scheme::Ed25519);
        let claims = Claims::new(
            seal,
            key.address(),
            "https://k3s.test:6443".to_owned(),
            unix_now_secs(),
            Duration::from_secs(600),
        )
        .unwrap();
        let issued = Issued {
            token: AccessToken::sign(&key, &claims).unwrap().into_string(),
            expires_at: claims.expires_at,
        };
        let path = dir.join(format!("{name}.json"));
        write_cache(&path, &issued).unwrap();
        write_private(&path.with_extension("checked"), b"1").unwrap();
        path
    }

    #[test]
    fn a_remembered_check_serves_only_for_its_window() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.checked");
        assert!(!allowed_within(&path, 10_000), "no file");
        write_private(&path, b"10000").unwrap();
        let window = CHECK_REUSE.as_millis() as u64;
        assert!(allowed_within(&path, 10_000));
        assert!(allowed_within(&path, 10_000 + window - 1));
        assert!(!allowed_within(&path, 10_000 + window), "expired");
        assert!(!allowed_within(&path, 9_999), "from the future");
        for bad in [&b""[..], b"soon", b"-1", &[0xff; 200][..]] {
            write_private(&path, bad).unwrap();
            assert!(!allowed_within(&path, 10_000), "{bad:?}");
        }
    }

    #[test]
    fn forgetting_a_seal_token_removes_only_its_tokens_and_checks() {
        let dir = tempfile::tempdir().unwrap();
        let gone = SealTokenId::new(Address::new([0x11; 32]));
        let kept = SealTokenId::new(Address::new([0x22; 32]));
        let first = cached_token(dir.path(), "first", gone);
        let second = cached_token(dir.path(), "second", gone);
        let other = cached_token(dir.path(), "other", kept);
        std::fs::write(dir.path().join("junk.json"), "not a token").unwrap();

        assert_eq!(forget(dir.path(), gone).unwrap(), 2);
        for path in [&first, &second] {
            assert!(!path.exists() && !path.with_extension("checked").exists());
        }
        assert!(other.exists() && other.with_extension("checked").exists());
        assert!(dir.path().join("junk.json").exists());
        assert_eq!(forget(dir.path(), gone).unwrap(), 0);
        assert_eq!(forget(&dir.path().join("missing"), gone).unwrap(), 0);
    }
}
