//! The key that authenticates the records the master keeps in the
//! Kubernetes API.
//!
//! A record the master trusts for an access decision (an opaque seal token,
//! [`crate::access::seal_tokens`]) carries an HMAC-SHA256 tag under a key
//! only masters hold, and the master checks the tag on every read: a record
//! written by anyone else fails and is refused.
//!
//! **Where the key lives.** 32 random bytes in the Secret
//! [`KEY_SECRET`] of the master's own namespace
//! ([`crate::namespaces::MASTER_NAMESPACE`]), created by whichever replica
//! first needs it (create-if-absent: a replica that loses the race reads
//! the winner's key), so every replica checks every other replica's
//! records. No tier below super may read Secrets in a system namespace
//! (the tier table, [`crate::tiers`]), so only the masters and super hold
//! the key; super is `cluster-admin` and could change anything anyway.
//! A key the master cannot read or parse is an error, never replaced: every
//! record stays refused (fail closed) until super repairs or deletes the
//! Secret. Deleting it makes the next replica that starts create a new
//! key, which invalidates every record signed with the old one.
//!
//! Tags are domain-separated (each kind of record names its own domain)
//! and cover length-prefixed fields, so no two records of different kinds
//! or field splits share a tag.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac as _};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ObjectMeta, PostParams};
use rand::RngCore as _;
use sha2::Sha256;
use tokio::sync::OnceCell;
use zeroize::Zeroizing;

use crate::labels::{MANAGED_BY, MANAGED_BY_LABEL};
use crate::namespaces::{MASTER_NAMESPACE, ensure_master_namespace};

/// Name of the Secret holding the key.
pub const KEY_SECRET: &str = "k3s-daas-record-key";
/// Type of the Secret holding the key.
pub const KEY_SECRET_TYPE: &str = "k3s-daas.io/record-key";
/// Data key of the 32 key bytes.
pub const KEY_DATA: &str = "hmac-sha256-key";
/// Bytes of key.
pub const KEY_LEN: usize = 32;
/// Bytes of a tag.
pub const TAG_LEN: usize = 32;

type HmacSha256 = Hmac<Sha256>;

/// Why the key could not be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordKeyError {
    /// The API server refused or failed.
    #[error("{action} failed")]
    Api {
        /// What was done.
        action: &'static str,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// The Secret exists but holds no usable key.
    #[error(
        "Secret {MASTER_NAMESPACE}/{KEY_SECRET} holds no {KEY_LEN}-byte `{KEY_DATA}`; \
         repair or delete it"
    )]
    Malformed,
}

/// The masters' record key. `Debug` does not print it; it is wiped on
/// drop.
pub struct RecordKey {
    key: Zeroizing<[u8; KEY_LEN]>,
}

impl std::fmt::Debug for RecordKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecordKey(..)")
    }
}

impl RecordKey {
    /// A key of these bytes (tests; the master reads its key with
    /// [`RecordKey::load_or_create`]).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self {
            key: Zeroizing::new(bytes),
        }
    }

    /// Reads the key from the cluster, or creates it if no replica has.
    ///
    /// # Errors
    /// [`RecordKeyError`]: the API server failed, or the Secret is
    /// malformed.
    pub async fn load_or_create(client: &kube::Client) -> Result<Self, RecordKeyError> {
        let api: Api<Secret> = Api::namespaced(client.clone(), MASTER_NAMESPACE);
        let read = |source| RecordKeyError::Api {
            action: "reading the record key Secret",
            source,
        };
        if let Some(secret) = api.get_opt(KEY_SECRET).await.map_err(read)? {
            return Self::from_secret(&secret);
        }
        ensure_master_namespace(client)
            .await
            .map_err(|source| RecordKeyError::Api {
                action: "creating the master's namespace",
                source,
            })?;
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        rand::rngs::OsRng.fill_bytes(bytes.as_mut());
        match api
            .create(&PostParams::default(), &key_secret(&bytes))
            .await
        {
            Ok(_) => {
                tracing::info!(
                    secret = %format!("{MASTER_NAMESPACE}/{KEY_SECRET}"),
                    "record key created"
                );
                Ok(Self { key: bytes })
            }
            // Another replica created it first: use theirs.
            Err(kube::Error::Api(status)) if status.code == 409 => {
                let secret = api.get(KEY_SECRET).await.map_err(read)?;
                Self::from_secret(&secret)
            }
            Err(source) => Err(RecordKeyError::Api {
                action: "creating the record key Secret",
                source,
            }),
        }
    }

    fn from_secret(secret: &Secret) -> Result<Self, RecordKeyError> {
        let bytes = secret
            .data
            .as_ref()
            .and_then(|data| data.get(KEY_DATA))
            .and_then(|value| <[u8; KEY_LEN]>::try_from(value.0.as_slice()).ok())
            .ok_or(RecordKeyError::Malformed)?;
        Ok(Self::from_bytes(bytes))
    }

    /// The tag of the record of kind `domain` made of `fields`.
    pub fn tag(&self, domain: &str, fields: &[&[u8]]) -> [u8; TAG_LEN] {
        self.mac(domain, fields).finalize().into_bytes().into()
    }

    /// Whether `tag` is the tag of the record of kind `domain` made of
    /// `fields` (in constant time).
    pub fn verify(&self, domain: &str, fields: &[&[u8]], tag: &[u8]) -> bool {
        self.mac(domain, fields).verify_slice(tag).is_ok()
    }

    fn mac(&self, domain: &str, fields: &[&[u8]]) -> HmacSha256 {
        // HMAC takes keys of any length; 32 bytes cannot be refused.
        let mut mac = <HmacSha256 as hmac::Mac>::new_from_slice(self.key.as_ref())
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        for part in std::iter::once(domain.as_bytes()).chain(fields.iter().copied()) {
            // Lengths are tiny (ids, hashes); u64 cannot overflow.
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac
    }
}

fn key_secret(bytes: &[u8; KEY_LEN]) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(KEY_SECRET.to_owned()),
            namespace: Some(MASTER_NAMESPACE.to_owned()),
            labels: Some(BTreeMap::from([(
                MANAGED_BY_LABEL.to_owned(),
                MANAGED_BY.to_owned(),
            )])),
            ..ObjectMeta::default()
        },
        type_: Some(KEY_SECRET_TYPE.to_owned()),
        data: Some(BTreeMap::from([(
            KEY_DATA.to_owned(),
            ByteString(bytes.to_vec()),
        )])),
        ..Secret::default()
    }
}

/// The record key of a cluster, read (or created) on first use and then
/// kept: the master starts even while the API server is away, and a
/// failed read is retried by the next use.
pub struct SharedRecordKey {
    client: kube::Client,
    key: OnceCell<RecordKey>,
}

impl std::fmt::Debug for SharedRecordKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedRecordKey")
            .field("loaded", &self.key.initialized())
            .finish_non_exhaustive()
    }
}

impl SharedRecordKey {
    /// The key of the cluster `client` talks to, not read yet.
    pub fn new(client: kube::Client) -> Self {
        Self {
            client,
            key: OnceCell::new(),
        }
    }

    /// The key, read or created now if this is the first use.
    ///
    /// # Errors
    /// [`RecordKeyError`] from [`RecordKey::load_or_create`].
    pub async fn get(&self) -> Result<&RecordKey, RecordKeyError> {
        self.key
            .get_or_try_init(|| RecordKey::load_or_create(&self.client))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_depend_on_key_domain_and_field_split() {
        let key = RecordKey::from_bytes([7; KEY_LEN]);
        let tag = key.tag("d", &[b"ab", b"c"]);
        assert!(key.verify("d", &[b"ab", b"c"], &tag));
        assert!(!key.verify("d", &[b"a", b"bc"], &tag));
        assert!(!key.verify("e", &[b"ab", b"c"], &tag));
        assert!(!key.verify("d", &[b"ab", b"c"], &tag[..16]));
        let other = RecordKey::from_bytes([8; KEY_LEN]);
        assert!(!other.verify("d", &[b"ab", b"c"], &tag));
        assert_eq!(format!("{key:?}"), "RecordKey(..)");
    }

    #[test]
    fn a_secret_without_a_full_key_is_malformed() {
        let mut secret = key_secret(&[1; KEY_LEN]);
        assert!(RecordKey::from_secret(&secret).is_ok());
        secret.data = Some(BTreeMap::from([(
            KEY_DATA.to_owned(),
            ByteString(vec![1; 16]),
        )]));
        assert!(matches!(
            RecordKey::from_secret(&secret),
            Err(RecordKeyError::Malformed)
        ));
        secret.data = None;
        assert!(RecordKey::from_secret(&secret).is_err());
    }
}
