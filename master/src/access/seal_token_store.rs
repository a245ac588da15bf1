//! Where opaque seal tokens live, so that every master of the cluster
//! shares them, and why a master trusts what it reads there.
//!
//! **Records.** One Secret per token in the master's own namespace
//! ([`SECRET_NAMESPACE`]), named from the token's SHA-256
//! ([`secret_name`]), of type [`SECRET_TYPE`]. It holds the hash, the seal
//! token id, the owner, the expiry and a tag: HMAC-SHA256 under the
//! masters' record key ([`crate::record_key`]) over those four fields
//! ([`RECORD_DOMAIN`]). Every read checks the tag; a record that fails
//! (written by anyone but a master, or changed since) is logged and
//! refused, never trusted. The token itself is never stored.
//!
//! **Caching.** A found record is reused for at most [`RECORD_RECHECK`],
//! then read again: a token revoked or swept by any replica stops
//! authenticating on every replica within that time.
//!
//! **Issuance markers.** An access token issues at most one opaque token:
//! issuing creates a ConfigMap named from the access token's owner and
//! nonce ([`USE_MARKER_PREFIX`]); the API server admits one create per
//! name, so a second issuance with the same access token fails on every
//! replica.
//!
//! **Sweep.** Expired records and markers are deleted by
//! [`SealTokenStore::sweep_expired`], which any replica may run at any time
//! (deletes of what is gone already are no-ops).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use daas_core::access::{Claimant, OpaqueTokenHash};
use daas_core::package::SealTokenId;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, PostParams};
use kube::core::ObjectList;
use sha2::{Digest as _, Sha256};
use sui_sdk_types::Address;
use tracing::{info, warn};

use super::authenticator::{deadline_after, instant_at};
use crate::labels::{
    MANAGED_BY, MANAGED_BY_LABEL, OWNER_ANNOTATION, OWNER_LABEL, SEAL_TOKEN_ANNOTATION,
    address_label_value,
};
use crate::namespaces::MASTER_NAMESPACE;
use crate::record_key::{RecordKey, RecordKeyError, SharedRecordKey};
use daas_core::error_chain::one_line;

/// The namespace of the records: the master's own.
pub const SECRET_NAMESPACE: &str = MASTER_NAMESPACE;
/// Prefix of a record's name; the token's hash (64 hex digits) follows.
pub const SECRET_NAME_PREFIX: &str = "daas-seal-token-";
/// The records' type.
pub const SECRET_TYPE: &str = "k3s-daas.io/seal-token";
/// `app.kubernetes.io/component` of the records.
pub const COMPONENT: &str = "seal-token";
/// Data key: the token's SHA-256 (hex).
pub const KEY_HASH: &str = "token-sha256";
/// Data key: the seal token id.
pub const KEY_SEAL_TOKEN: &str = "seal-token-id";
/// Data key: the owner's address.
pub const KEY_OWNER: &str = "owner";
/// Data key: expiry, unix seconds.
pub const KEY_EXPIRES_AT: &str = "expires-at";
/// Data key: the record's tag (hex), see [`RECORD_DOMAIN`].
pub const KEY_TAG: &str = "record-tag";
/// Domain of a record's tag, which covers the token hash, the seal token
/// id, the owner and the expiry (8 bytes, big-endian).
pub const RECORD_DOMAIN: &str = "k3s-daas/seal-token-record/v1";
/// How long a found record is reused before it is read again.
pub const RECORD_RECHECK: Duration = Duration::from_secs(5);
/// How long "no such token" is remembered (random tokens are never
/// guessed, so this only spares the API server repeated probes).
pub const NEGATIVE_LOOKUP_TTL: Duration = Duration::from_secs(5);
/// Prefix of an issuance marker's name; 64 hex digits follow.
pub const USE_MARKER_PREFIX: &str = "daas-access-token-use-";
/// `app.kubernetes.io/component` of the issuance markers.
pub const USE_MARKER_COMPONENT: &str = "access-token-use";
/// Domain of the hash that names an issuance marker.
const USE_DOMAIN: &[u8] = b"k3s-daas/access-token-use/v1";
/// Lookups remembered at most.
const MAX_LOOKUPS: usize = 16_384;
/// Objects per page when listing.
const LIST_PAGE: u32 = 500;
/// The component label.
const COMPONENT_LABEL: &str = "app.kubernetes.io/component";

/// The record name of the token whose hash is `hash`.
pub fn secret_name(hash: OpaqueTokenHash) -> String {
    format!("{SECRET_NAME_PREFIX}{hash}")
}

/// The store could not be read or written.
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
    /// The record key cannot be had.
    #[error("the record key is unavailable")]
    Key(#[from] RecordKeyError),
}

fn api_error(action: impl Into<String>) -> impl FnOnce(kube::Error) -> StoreError {
    let action = action.into();
    move |source| StoreError::Api { action, source }
}

/// What a record says about one token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredSealToken {
    /// The seal token and owner it was issued for.
    pub claimant: Claimant,
    /// When it expires, unix seconds.
    pub expires_at: u64,
}

/// A record whose tag checked out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealTokenRecord {
    /// The token's hash (its id).
    pub hash: OpaqueTokenHash,
    /// What the record says.
    pub token: StoredSealToken,
}

/// What a sweep deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Expired token records.
    pub tokens: usize,
    /// Expired issuance markers.
    pub markers: usize,
}

#[derive(Debug, Clone, Copy)]
struct Lookup {
    found: Option<StoredSealToken>,
    until: Instant,
}

/// The records of opaque seal tokens and the issuance markers, with
/// lookups cached.
pub struct SealTokenStore {
    secrets: Api<Secret>,
    markers: Api<ConfigMap>,
    key: SharedRecordKey,
    lookups: Arc<RwLock<HashMap<OpaqueTokenHash, Lookup>>>,
}

impl std::fmt::Debug for SealTokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealTokenStore").finish_non_exhaustive()
    }
}

impl SealTokenStore {
    /// The store of the cluster `client` talks to.
    pub fn new(client: kube::Client) -> Self {
        Self {
            secrets: Api::namespaced(client.clone(), SECRET_NAMESPACE),
            markers: Api::namespaced(client.clone(), SECRET_NAMESPACE),
            key: SharedRecordKey::new(client),
            lookups: Arc::default(),
        }
    }

    /// The token whose hash is `hash`, if a master issued it and its record
    /// is intact. A record that fails its check is logged and refused.
    ///
    /// # Errors
    /// [`StoreError`] when the record or the key cannot be read.
    pub async fn lookup(
        &self,
        hash: OpaqueTokenHash,
    ) -> Result<Option<StoredSealToken>, StoreError> {
        if let Some(lookup) = self.cached(hash) {
            return Ok(lookup.found);
        }
        let name = secret_name(hash);
        let secret = self
            .secrets
            .get_opt(&name)
            .await
            .map_err(api_error(format!(
                "reading Secret {SECRET_NAMESPACE}/{name}"
            )))?;
        let found = match secret {
            Some(secret) => {
                let key = self.key.get().await?;
                trusted(key, &secret)
                    .filter(|record| record.hash == hash)
                    .map(|record| record.token)
            }
            None => None,
        };
        let until = found.map_or_else(
            || Instant::now() + NEGATIVE_LOOKUP_TTL,
            |token| instant_at(token.expires_at).min(deadline_after(RECORD_RECHECK)),
        );
        self.remember(hash, Lookup { found, until });
        Ok(found)
    }

    /// Stores the token whose hash is `hash`, tagged with the record key.
    ///
    /// # Errors
    /// [`StoreError`] when the key cannot be had or the API server refuses
    /// the record.
    pub async fn create(
        &self,
        hash: OpaqueTokenHash,
        token: StoredSealToken,
    ) -> Result<(), StoreError> {
        let key = self.key.get().await?;
        let record = SealTokenRecord { hash, token };
        let name = secret_name(hash);
        self.secrets
            .create(&PostParams::default(), &record_secret(key, &record))
            .await
            .map_err(api_error(format!(
                "creating Secret {SECRET_NAMESPACE}/{name}"
            )))?;
        let until = instant_at(token.expires_at).min(deadline_after(RECORD_RECHECK));
        self.remember(
            hash,
            Lookup {
                found: Some(token),
                until,
            },
        );
        Ok(())
    }

    /// The intact, unexpired records of `owner` at `now` (unix seconds).
    ///
    /// # Errors
    /// [`StoreError`] when the records or the key cannot be read.
    pub async fn owned_by(
        &self,
        owner: Address,
        now: u64,
    ) -> Result<Vec<SealTokenRecord>, StoreError> {
        let selector = format!(
            "{},{OWNER_LABEL}={}",
            component_selector(COMPONENT),
            address_label_value(owner)
        );
        let secrets = list_all(&self.secrets, &selector, "listing an owner's seal tokens").await?;
        if secrets.is_empty() {
            return Ok(Vec::new());
        }
        let key = self.key.get().await?;
        Ok(secrets
            .iter()
            .filter_map(|secret| trusted(key, secret))
            .filter(|record| record.token.claimant.owner == owner && record.token.expires_at > now)
            .collect())
    }

    /// Deletes the record of `hash` (a revocation). Returns whether it
    /// existed.
    ///
    /// # Errors
    /// [`StoreError::Api`] when the API server refuses the delete.
    pub async fn delete(&self, hash: OpaqueTokenHash) -> Result<bool, StoreError> {
        self.forget(hash);
        let name = secret_name(hash);
        delete_if_present(&self.secrets, &name).await
    }

    /// Forgets the token and deletes its record in the background (an
    /// expired token; a failure is logged, the token stays refused).
    pub fn delete_in_background(&self, hash: OpaqueTokenHash) {
        self.forget(hash);
        let api = self.secrets.clone();
        let name = secret_name(hash);
        tokio::spawn(async move {
            match delete_if_present(&api, &name).await {
                Ok(true) => info!(secret = %name, "expired seal token deleted"),
                Ok(false) => {}
                Err(error) => warn!(
                    secret = %name,
                    error = %one_line(&error),
                    "cannot delete an expired seal token"
                ),
            }
        });
    }

    /// Deletes every record and issuance marker that expired before `now`
    /// (unix seconds). Idempotent: any replica may run it at any time.
    ///
    /// # Errors
    /// [`StoreError::Api`] when listing or deleting fails.
    pub async fn sweep_expired(&self, now: u64) -> Result<SweepReport, StoreError> {
        let tokens = sweep(&self.secrets, COMPONENT, now, |secret: &Secret| {
            secret
                .data
                .as_ref()
                .and_then(|data| data.get(KEY_EXPIRES_AT))
                .map(|value| value.0.as_slice())
        })
        .await?;
        for hash in tokens.iter().filter_map(|name| {
            name.strip_prefix(SECRET_NAME_PREFIX)
                .and_then(|hex| hex.parse().ok())
        }) {
            self.forget(hash);
        }
        let markers = sweep(
            &self.markers,
            USE_MARKER_COMPONENT,
            now,
            |marker: &ConfigMap| {
                marker
                    .data
                    .as_ref()
                    .and_then(|data| data.get(KEY_EXPIRES_AT))
                    .map(String::as_bytes)
            },
        )
        .await?;
        Ok(SweepReport {
            tokens: tokens.len(),
            markers: markers.len(),
        })
    }

    /// Records that the access token of `owner` with `nonce` issued a token:
    /// `true` the first time, `false` if any replica recorded it before.
    /// The marker is swept after `expires_at` (the access token's expiry).
    ///
    /// # Errors
    /// [`StoreError::Api`] when the API server fails.
    pub async fn claim_access_token(
        &self,
        owner: Address,
        nonce: &[u8],
        expires_at: u64,
    ) -> Result<bool, StoreError> {
        // Having the key means the namespace exists: whoever created the
        // key created the namespace first.
        self.key.get().await?;
        let name = use_marker_name(owner, nonce);
        let marker = ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(SECRET_NAMESPACE.to_owned()),
                labels: Some(labels(USE_MARKER_COMPONENT, None)),
                ..ObjectMeta::default()
            },
            data: Some(BTreeMap::from([(
                KEY_EXPIRES_AT.to_owned(),
                expires_at.to_string(),
            )])),
            ..ConfigMap::default()
        };
        match self.markers.create(&PostParams::default(), &marker).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(source) => Err(StoreError::Api {
                action: format!("creating ConfigMap {SECRET_NAMESPACE}/{name}"),
                source,
            }),
        }
    }

    /// Undoes [`SealTokenStore::claim_access_token`] after a failed
    /// issuance, so the access token may be tried again. A failure is
    /// logged: the access token then stays used.
    pub async fn release_access_token(&self, owner: Address, nonce: &[u8]) {
        let name = use_marker_name(owner, nonce);
        if let Err(error) = delete_if_present(&self.markers, &name).await {
            warn!(
                marker = %name,
                error = %one_line(&error),
                "cannot release an access token after a failed issuance"
            );
        }
    }

    /// Drops what is cached about `hash`.
    pub fn forget(&self, hash: OpaqueTokenHash) {
        self.write_lookups().remove(&hash);
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

/// Deletes the objects of `component` whose expiry (unix seconds as text,
/// read by `expiry`) is before `now`; a missing or unreadable expiry is
/// left alone. Returns the names deleted.
async fn sweep<K>(
    api: &Api<K>,
    component: &str,
    now: u64,
    expiry: impl Fn(&K) -> Option<&[u8]>,
) -> Result<Vec<String>, StoreError>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let selector = component_selector(component);
    let mut deleted = Vec::new();
    for object in list_all(api, &selector, &format!("listing {component} objects")).await? {
        let name = object.meta().name.clone().unwrap_or_default();
        if expired(expiry(&object), now) && delete_if_present(api, &name).await? {
            deleted.push(name);
        }
    }
    Ok(deleted)
}

/// Whether a stored expiry (unix seconds as text) is before `now`.
fn expired(expires_at: Option<&[u8]>, now: u64) -> bool {
    expires_at
        .and_then(|bytes| std::str::from_utf8(bytes).ok())
        .and_then(|text| text.parse::<u64>().ok())
        .is_some_and(|at| at <= now)
}

fn component_selector(component: &str) -> String {
    format!("{MANAGED_BY_LABEL}={MANAGED_BY},{COMPONENT_LABEL}={component}")
}

fn labels(component: &str, owner: Option<Address>) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([
        (MANAGED_BY_LABEL.to_owned(), MANAGED_BY.to_owned()),
        (COMPONENT_LABEL.to_owned(), component.to_owned()),
    ]);
    if let Some(owner) = owner {
        labels.insert(OWNER_LABEL.to_owned(), address_label_value(owner));
    }
    labels
}

/// The name of the issuance marker of `owner`'s access token with `nonce`.
fn use_marker_name(owner: Address, nonce: &[u8]) -> String {
    let mut digest = Sha256::new();
    digest.update(USE_DOMAIN);
    digest.update(owner.as_bytes());
    digest.update(nonce);
    format!("{USE_MARKER_PREFIX}{}", hex::encode(digest.finalize()))
}

async fn list_all<K>(api: &Api<K>, selector: &str, action: &str) -> Result<Vec<K>, StoreError>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let mut items = Vec::new();
    let mut params = ListParams::default().labels(selector).limit(LIST_PAGE);
    loop {
        let page: ObjectList<K> = api.list(&params).await.map_err(api_error(action))?;
        items.extend(page.items);
        match page.metadata.continue_.filter(|token| !token.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => return Ok(items),
        }
    }
}

async fn delete_if_present<K>(api: &Api<K>, name: &str) -> Result<bool, StoreError>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
        Err(source) => Err(StoreError::Api {
            action: format!("deleting {SECRET_NAMESPACE}/{name}"),
            source,
        }),
    }
}

/// The bytes a record's tag covers, in order: hash, seal token id, owner,
/// expiry (8 bytes, big-endian).
fn tagged_fields(record: &SealTokenRecord) -> [Vec<u8>; 4] {
    let Claimant { seal_token, owner } = record.token.claimant;
    [
        record.hash.as_bytes().to_vec(),
        seal_token.address().as_bytes().to_vec(),
        owner.as_bytes().to_vec(),
        record.token.expires_at.to_be_bytes().to_vec(),
    ]
}

fn tag_of(key: &RecordKey, record: &SealTokenRecord) -> [u8; 32] {
    let fields = tagged_fields(record);
    key.tag(RECORD_DOMAIN, &fields.each_ref().map(Vec::as_slice))
}

fn tag_matches(key: &RecordKey, record: &SealTokenRecord, tag: &[u8]) -> bool {
    let fields = tagged_fields(record);
    key.verify(RECORD_DOMAIN, &fields.each_ref().map(Vec::as_slice), tag)
}

fn record_secret(key: &RecordKey, record: &SealTokenRecord) -> Secret {
    let Claimant { seal_token, owner } = record.token.claimant;
    Secret {
        metadata: ObjectMeta {
            name: Some(secret_name(record.hash)),
            namespace: Some(SECRET_NAMESPACE.to_owned()),
            labels: Some(labels(COMPONENT, Some(owner))),
            annotations: Some(BTreeMap::from([
                (SEAL_TOKEN_ANNOTATION.to_owned(), seal_token.to_string()),
                (OWNER_ANNOTATION.to_owned(), owner.to_string()),
            ])),
            ..ObjectMeta::default()
        },
        type_: Some(SECRET_TYPE.to_owned()),
        string_data: Some(BTreeMap::from([
            (KEY_HASH.to_owned(), record.hash.to_string()),
            (KEY_SEAL_TOKEN.to_owned(), seal_token.to_string()),
            (KEY_OWNER.to_owned(), owner.to_string()),
            (
                KEY_EXPIRES_AT.to_owned(),
                record.token.expires_at.to_string(),
            ),
            (KEY_TAG.to_owned(), hex::encode(tag_of(key, record))),
        ])),
        ..Secret::default()
    }
}

/// The record in `secret` if it is intact: well-formed, named from its own
/// hash, and tagged under `key`. Anything else is logged and refused.
fn trusted(key: &RecordKey, secret: &Secret) -> Option<SealTokenRecord> {
    let name = secret.metadata.name.as_deref().unwrap_or_default();
    match parse_record(key, name, secret) {
        Ok(record) => Some(record),
        Err(reason) => {
            warn!(
                secret = %format!("{SECRET_NAMESPACE}/{name}"),
                reason,
                "seal token record refused: not written by a master"
            );
            None
        }
    }
}

fn parse_record(key: &RecordKey, name: &str, secret: &Secret) -> Result<SealTokenRecord, String> {
    let field = |key: &str| -> Result<&str, String> {
        let bytes = secret
            .data
            .as_ref()
            .and_then(|data| data.get(key))
            .ok_or_else(|| format!("no `{key}`"))?;
        std::str::from_utf8(&bytes.0).map_err(|_| format!("`{key}` is not UTF-8"))
    };
    let hash: OpaqueTokenHash = field(KEY_HASH)?
        .parse()
        .map_err(|e| format!("`{KEY_HASH}`: {e}"))?;
    if name != secret_name(hash) {
        return Err(format!("`{KEY_HASH}` does not match the name"));
    }
    let seal_token: SealTokenId = field(KEY_SEAL_TOKEN)?
        .parse()
        .map_err(|e| format!("`{KEY_SEAL_TOKEN}`: {e}"))?;
    let owner: Address = field(KEY_OWNER)?
        .parse()
        .map_err(|e| format!("`{KEY_OWNER}`: {e}"))?;
    let expires_at: u64 = field(KEY_EXPIRES_AT)?
        .parse()
        .map_err(|e| format!("`{KEY_EXPIRES_AT}`: {e}"))?;
    let tag = hex::decode(field(KEY_TAG)?).map_err(|_| format!("`{KEY_TAG}` is not hex"))?;
    let record = SealTokenRecord {
        hash,
        token: StoredSealToken {
            claimant: Claimant { seal_token, owner },
            expires_at,
        },
    };
    if !tag_matches(key, &record, &tag) {
        return Err("its tag does not match (forged or altered)".to_owned());
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use k8s_openapi::ByteString;

    use super::*;

    fn record() -> SealTokenRecord {
        SealTokenRecord {
            hash: "ab".repeat(32).parse().unwrap(),
            token: StoredSealToken {
                claimant: Claimant {
                    seal_token: SealTokenId::new(Address::new([1; 32])),
                    owner: Address::new([2; 32]),
                },
                expires_at: 1_900_000_000,
            },
        }
    }

    /// The Secret as the API server returns it: `stringData` folded into
    /// `data`.
    fn as_stored(mut secret: Secret) -> Secret {
        let data = secret
            .string_data
            .take()
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k, ByteString(v.into_bytes())))
            .collect();
        secret.data = Some(data);
        secret
    }

    fn set(secret: &mut Secret, key: &str, value: &str) {
        secret
            .data
            .as_mut()
            .unwrap()
            .insert(key.to_owned(), ByteString(value.as_bytes().to_vec()));
    }

    #[test]
    fn a_record_checks_out_under_its_key_only() {
        let key = RecordKey::from_bytes([9; 32]);
        let record = record();
        let secret = as_stored(record_secret(&key, &record));
        assert_eq!(trusted(&key, &secret), Some(record));
        assert_eq!(trusted(&RecordKey::from_bytes([8; 32]), &secret), None);
    }

    #[test]
    fn altered_or_untagged_records_are_refused() {
        let key = RecordKey::from_bytes([9; 32]);
        let original = as_stored(record_secret(&key, &record()));
        let other = Address::new([3; 32]).to_string();
        for (field, value) in [
            (KEY_OWNER, other.as_str()),
            (KEY_SEAL_TOKEN, other.as_str()),
            (KEY_EXPIRES_AT, "1900000001"),
            (KEY_TAG, "00"),
            (KEY_TAG, "not hex"),
        ] {
            let mut secret = original.clone();
            set(&mut secret, field, value);
            assert_eq!(trusted(&key, &secret), None, "{field} = {value}");
        }
        let mut untagged = original.clone();
        untagged.data.as_mut().unwrap().remove(KEY_TAG);
        assert_eq!(trusted(&key, &untagged), None);
        // A valid record copied under another token's name.
        let mut renamed = original;
        renamed.metadata.name = Some(secret_name("cd".repeat(32).parse().unwrap()));
        assert_eq!(trusted(&key, &renamed), None);
    }

    #[test]
    fn markers_are_per_owner_and_nonce() {
        let a = Address::new([1; 32]);
        let b = Address::new([2; 32]);
        let name = use_marker_name(a, &[7; 16]);
        assert!(name.starts_with(USE_MARKER_PREFIX));
        assert_eq!(name.len(), USE_MARKER_PREFIX.len() + 64);
        assert_ne!(name, use_marker_name(b, &[7; 16]));
        assert_ne!(name, use_marker_name(a, &[8; 16]));
    }

    #[test]
    fn only_readable_past_expiries_are_expired() {
        assert!(expired(Some(b"100"), 100));
        assert!(!expired(Some(b"101"), 100));
        assert!(!expired(Some(b"soon"), 100));
        assert!(!expired(None, 100));
    }
}
