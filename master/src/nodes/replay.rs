//! Single use of register proofs, across every replica: each proof's nonce
//! is recorded where all masters see it while the proof can still verify.
//!
//! A proof verifies for `max_age` after its `issued_at`, so its nonce is
//! kept until then and no longer. The record is one ConfigMap per nonce in
//! the master's namespace, named from the nonce's hash ([`nonce_name`]):
//! creating it is the claim, and `AlreadyExists` means the proof was used,
//! by this replica or another, before or after a restart. The leader
//! deletes expired ones ([`sweep_expired_nonces`]). An in-memory set
//! ([`NonceStore`]) answers replays to the same replica without a request.
//!
//! Only proofs that passed the chain check are recorded, so strangers
//! cannot fill either.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use daas_core::access::worker_proof::NONCE_LEN;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, PostParams};
use sha2::{Digest as _, Sha256};
use tracing::{debug, instrument};

use crate::labels::{COMPONENT_LABEL, MANAGED_BY, MANAGED_BY_LABEL};
use crate::namespaces::MASTER_NAMESPACE;
use crate::paged_list;

/// [`COMPONENT_LABEL`] of nonce records.
pub const NONCE_COMPONENT: &str = "register-nonce";
/// Prefix of a nonce record's name; the SHA-256 of the nonce follows.
pub const NONCE_NAME_PREFIX: &str = "register-nonce-";
/// Data key: until when the nonce is kept (unix seconds).
pub const KEY_KEEP_UNTIL: &str = "keep-until";

/// The record name of `nonce`: its SHA-256 in hex, so every name has the
/// same shape whatever the nonce's bytes.
pub fn nonce_name(nonce: &[u8; NONCE_LEN]) -> String {
    format!("{NONCE_NAME_PREFIX}{}", hex::encode(Sha256::digest(nonce)))
}

fn nonce_selector() -> String {
    format!("{MANAGED_BY_LABEL}={MANAGED_BY},{COMPONENT_LABEL}={NONCE_COMPONENT}")
}

/// Register nonces, shared by every replica through the API server.
#[derive(Debug)]
pub struct NonceLedger {
    local: NonceStore,
    api: Api<ConfigMap>,
}

impl NonceLedger {
    /// The ledger in the master's namespace of the cluster `client` talks
    /// to.
    pub fn new(client: kube::Client) -> Self {
        Self {
            local: NonceStore::default(),
            api: Api::namespaced(client, MASTER_NAMESPACE),
        }
    }

    /// Claims `nonce` until `keep_until` (unix seconds): `Ok(false)` when
    /// any replica claimed it before (a replay).
    ///
    /// # Errors
    /// The API server failed; the claim is not made (fail closed: the
    /// caller refuses the registration).
    pub async fn claim(
        &self,
        nonce: [u8; NONCE_LEN],
        keep_until: u64,
        now: u64,
    ) -> Result<bool, kube::Error> {
        if self.local.contains(&nonce, now) {
            return Ok(false);
        }
        let record = ConfigMap {
            metadata: ObjectMeta {
                name: Some(nonce_name(&nonce)),
                labels: Some(BTreeMap::from([
                    (MANAGED_BY_LABEL.to_owned(), MANAGED_BY.to_owned()),
                    (COMPONENT_LABEL.to_owned(), NONCE_COMPONENT.to_owned()),
                ])),
                ..ObjectMeta::default()
            },
            data: Some(BTreeMap::from([(
                KEY_KEEP_UNTIL.to_owned(),
                keep_until.to_string(),
            )])),
            ..ConfigMap::default()
        };
        match self.api.create(&PostParams::default(), &record).await {
            Ok(_) => Ok(self.local.claim(nonce, keep_until, now)),
            Err(kube::Error::Api(status)) if status.code == 409 => {
                self.local.claim(nonce, keep_until, now);
                Ok(false)
            }
            Err(error) => Err(error),
        }
    }
}

/// Deletes the nonce records whose time passed by `now` (unix seconds);
/// returns how many. Records that do not parse are deleted too: a nonce
/// record is worth nothing once its proof is stale, and a proof is stale
/// long before anyone could mistake a wrong `keep-until` for a live one.
///
/// # Errors
/// The API server failed; what was deleted stays deleted.
#[instrument(skip(client))]
pub async fn sweep_expired_nonces(client: &Client, now: u64) -> Result<usize, kube::Error> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), MASTER_NAMESPACE);
    // One name per expired nonce is all that outlives its page.
    let expired = paged_list::list(
        &api,
        &ListParams::default().labels(&nonce_selector()),
        |record| expired_name(record, now),
    )
    .await?;
    let mut deleted = 0;
    for name in expired.into_iter().flatten() {
        match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => deleted += 1,
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(error) => return Err(error),
        }
    }
    debug!(deleted, "expired register nonces deleted");
    Ok(deleted)
}

/// The name of `record` if it may be forgotten at `now`.
fn expired_name(record: ConfigMap, now: u64) -> Option<String> {
    let keep_until = record
        .data
        .as_ref()
        .and_then(|data| data.get(KEY_KEEP_UNTIL))
        .and_then(|value| value.parse::<u64>().ok());
    if keep_until.is_some_and(|until| until >= now) {
        return None;
    }
    record.metadata.name
}

/// The nonces this replica has seen, with when each may be forgotten
/// (unix seconds): the fast path of [`NonceLedger`].
#[derive(Debug, Default)]
pub struct NonceStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    seen: HashMap<[u8; NONCE_LEN], u64>,
    /// Insertion order, for pruning.
    order: VecDeque<([u8; NONCE_LEN], u64)>,
}

impl NonceStore {
    /// Claims `nonce` until `keep_until` (unix seconds); false when it was
    /// already claimed (a replay). Expired nonces are pruned at `now`.
    pub fn claim(&self, nonce: [u8; NONCE_LEN], keep_until: u64, now: u64) -> bool {
        let mut inner = self.lock();
        inner.prune(now);
        if inner.seen.contains_key(&nonce) {
            return false;
        }
        inner.seen.insert(nonce, keep_until);
        inner.order.push_back((nonce, keep_until));
        true
    }

    /// Whether `nonce` is claimed at `now`.
    pub fn contains(&self, nonce: &[u8; NONCE_LEN], now: u64) -> bool {
        let mut inner = self.lock();
        inner.prune(now);
        inner.seen.contains_key(nonce)
    }

    /// How many nonces are kept.
    pub fn len(&self) -> usize {
        self.lock().seen.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Inner {
    /// Drops nonces from the front whose time has passed. Entries are
    /// roughly ordered by expiry; one that outlives its successors only
    /// delays their pruning, never drops an unexpired nonce.
    fn prune(&mut self, now: u64) {
        while let Some(&(nonce, keep_until)) = self.order.front() {
            if keep_until >= now {
                break;
            }
            self.order.pop_front();
            self.seen.remove(&nonce);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_single_use_until_it_expires() {
        let store = NonceStore::default();
        assert!(store.claim([1; NONCE_LEN], 100, 10));
        assert!(store.contains(&[1; NONCE_LEN], 50));
        assert!(!store.claim([1; NONCE_LEN], 100, 50));
        assert!(store.claim([2; NONCE_LEN], 120, 50));
        assert!(!store.claim([1; NONCE_LEN], 100, 100));
        // Past its time the first is pruned; the second is kept.
        assert!(store.claim([3; NONCE_LEN], 200, 101));
        assert_eq!(store.len(), 2);
        assert!(!store.claim([2; NONCE_LEN], 200, 101));
        assert!(!store.is_empty());
    }

    #[test]
    fn nonce_names_are_valid_object_names() {
        let name = nonce_name(&[0xff; NONCE_LEN]);
        assert_eq!(name.len(), NONCE_NAME_PREFIX.len() + 64);
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        );
        assert_ne!(name, nonce_name(&[0xfe; NONCE_LEN]));
    }
}
