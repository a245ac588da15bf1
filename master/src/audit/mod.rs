//! The verifiable audit log (ARCHITECTURE.md, "Audit").
//!
//! The API server's audit webhook posts `audit.k8s.io/v1` `EventList`s to
//! `POST /audit` on the webhook listener. Each event becomes a canonical
//! leaf ([`daas_core::audit::AuditLeaf`]) appended, deduplicated by
//! `auditID`, to one append-only RFC 9162 tree whose leaves live in the
//! state directory ([`store`]); the answer is 200 only once the batch is
//! fsynced. Every replica keeps its own log and, once its enclave is
//! registered, asks the chain for an `AuditLog` of its own
//! (`audit::create_log`, signed by its enclave key); it is then bound to
//! that log for the rest of the boot. Every `checkpoint_events` events or
//! `checkpoint_interval_ms` it signs a checkpoint with its enclave key, as
//! a C2SP note and as the intent message `audit::anchor_checkpoint`
//! checks ([`checkpoints`]), and anchors the signed checkpoints in its own
//! log, in order, whether or not it leads ([`anchor`]). The attested API
//! serves every event with its inclusion proof, the checkpoints and
//! consistency proofs to authenticated stakers ([`http`]).

pub mod anchor;
pub mod checkpoints;
pub mod http;
pub mod store;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use daas_core::api::audit::{AnchorRecord, AuditCheckpoint};
use daas_core::audit::{AuditLeaf, Checkpoint, origin_for};
use daas_core::clock::unix_now_ms;
use daas_core::intent::{Scope, sign_intent};
use daas_core::package::audit::{AuditCheckpointPayload, AuditLogPayload};
use ed25519_dalek::SigningKey;
use sui_sdk_types::Address;

use self::checkpoints::CheckpointLog;
use self::store::{Appended, LeafStore, StoreError};

/// The stored tree disagrees with the chain's last anchored checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AnchorMismatch {
    /// The chain anchored more events than the leaf file holds.
    #[error(
        "the chain anchored {anchored} audit events but the leaf file holds only {stored}: \
         acknowledged events were lost from the state directory"
    )]
    Missing {
        /// Events stored.
        stored: u64,
        /// Events the chain anchored.
        anchored: u64,
    },
    /// The stored tree's root at the anchored size is another one.
    #[error(
        "the leaf file's first {size} events do not hash to the root the chain anchored: \
         the audit log was changed outside the master"
    )]
    Rewritten {
        /// The anchored size.
        size: u64,
    },
}

/// When to sign a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointPolicy {
    /// Sign once this many events are not yet in a checkpoint.
    pub events: u64,
    /// Sign pending events at least this often.
    pub interval: Duration,
}

/// The log: leaves, tree, checkpoints and the key that signs them.
pub struct AuditLog {
    state: Mutex<State>,
    key: SigningKey,
    /// This boot's on-chain `AuditLog`, once created.
    bound: OnceLock<Binding>,
    policy: CheckpointPolicy,
}

/// The on-chain log this boot signs for.
#[derive(Debug)]
struct Binding {
    log_id: Address,
    origin: String,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("origin", &self.origin())
            .finish_non_exhaustive()
    }
}

/// The log is already bound to another on-chain `AuditLog`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("this boot's audit log is bound to AuditLog {bound}, not {asked}")]
pub struct AlreadyBound {
    /// The log it is bound to.
    pub bound: Address,
    /// The log asked for.
    pub asked: Address,
}

struct State {
    leaves: LeafStore,
    checkpoints: CheckpointLog,
    last_signed: Instant,
}

impl AuditLog {
    /// Opens the log in `state_dir`, signing with `key` (the enclave key
    /// of this boot). Checkpoints are signed once it is [`bound`](Self::bind)
    /// to its on-chain `AuditLog`.
    ///
    /// # Errors
    /// The files are unreadable or corrupt.
    pub fn open(
        state_dir: &Path,
        key: SigningKey,
        policy: CheckpointPolicy,
    ) -> Result<Self, StoreError> {
        let leaves = LeafStore::open(state_dir)?;
        let checkpoints = CheckpointLog::open(state_dir)?;
        tracing::info!(
            events = leaves.size(),
            anchored = checkpoints.latest().map_or(0, |c| c.tree_size),
            "audit log opened"
        );
        Ok(Self {
            state: Mutex::new(State {
                leaves,
                checkpoints,
                last_signed: Instant::now(),
            }),
            key,
            bound: OnceLock::new(),
            policy,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent state behind
        // (every update is a whole append), so a poisoned lock is usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The log's origin line, once bound.
    pub fn origin(&self) -> Option<&str> {
        self.bound.get().map(|b| b.origin.as_str())
    }

    /// This boot's on-chain `AuditLog`, once bound.
    pub fn log_id(&self) -> Option<Address> {
        self.bound.get().map(|b| b.log_id)
    }

    /// Binds this boot's checkpoints to the on-chain `AuditLog` `log_id`
    /// (made by `audit::create_log` for this boot's enclave). Binding again
    /// to the same log is a no-op.
    ///
    /// # Errors
    /// [`AlreadyBound`] to another log: one boot signs for one log.
    pub fn bind(&self, log_id: Address) -> Result<(), AlreadyBound> {
        let bound = self.bound.get_or_init(|| Binding {
            log_id,
            origin: origin_for(log_id),
        });
        if bound.log_id == log_id {
            Ok(())
        } else {
            Err(AlreadyBound {
                bound: bound.log_id,
                asked: log_id,
            })
        }
    }

    /// This boot's enclave key's request for a log of its own: the
    /// signing time and the signature `audit::create_log` checks.
    pub fn sign_log_request(&self, enclave_id: Address) -> (u64, Vec<u8>) {
        let timestamp_ms = unix_now_ms();
        // BCS of an id cannot fail, nor hex made by the signer.
        let signature = sign_intent(
            &self.key,
            Scope::AuditLog,
            timestamp_ms,
            AuditLogPayload { enclave_id },
        )
        .ok()
        .and_then(|signed| hex::decode(signed.signature).ok())
        .unwrap_or_default();
        (timestamp_ms, signature)
    }

    /// The on-chain log of the newest checkpoint anchored by any boot, if
    /// any: the stored tree must extend what that log anchored.
    pub fn last_anchored_log(&self) -> Option<Address> {
        self.lock()
            .checkpoints
            .all()
            .rev()
            .find_map(|c| c.anchor.as_ref().and_then(|a| a.log_id.parse().ok()))
    }

    /// Appends `leaves` durably (blocking: call from a blocking thread).
    ///
    /// # Errors
    /// The write or the sync failed; nothing was acknowledged.
    pub fn append(&self, leaves: &[AuditLeaf]) -> Result<Appended, StoreError> {
        self.lock().leaves.append(leaves)
    }

    /// Events stored.
    pub fn size(&self) -> u64 {
        self.lock().leaves.size()
    }

    /// Signs a checkpoint of every stored event if the log is bound and
    /// the policy says one is due at `now`, or if `force` and any event is
    /// not in one. Returns the new checkpoint.
    ///
    /// # Errors
    /// The checkpoint could not be recorded.
    pub fn sign_if_due(
        &self,
        now: Instant,
        force: bool,
    ) -> Result<Option<AuditCheckpoint>, StoreError> {
        let Some(bound) = self.bound.get() else {
            return Ok(None);
        };
        let mut state = self.lock();
        let size = state.leaves.size();
        let signed = state.checkpoints.latest().map_or(0, |c| c.tree_size);
        let pending = size.saturating_sub(signed);
        let due = pending >= self.policy.events
            || (pending > 0 && now.duration_since(state.last_signed) >= self.policy.interval);
        if pending == 0 || !(due || force) {
            return Ok(None);
        }
        let checkpoint = self.sign(bound, size, state.leaves.tree().root());
        state.checkpoints.record(checkpoint.clone())?;
        state.last_signed = now;
        Ok(Some(checkpoint))
    }

    fn sign(&self, bound: &Binding, size: u64, root: [u8; 32]) -> AuditCheckpoint {
        let timestamp_ms = unix_now_ms();
        let note = Checkpoint {
            origin: bound.origin.clone(),
            size,
            root,
        }
        .sign(&self.key)
        // The origin is made by `origin_for`: one line, no spaces.
        .map(|signed| signed.to_note())
        .unwrap_or_default();
        let payload = AuditCheckpointPayload {
            log_id: bound.log_id,
            tree_size: size,
            root: root.to_vec(),
        };
        let signature = sign_intent(&self.key, Scope::AuditCheckpoint, timestamp_ms, payload)
            .map(|signed| signed.signature)
            .unwrap_or_default();
        AuditCheckpoint {
            tree_size: size,
            root: hex::encode(root),
            timestamp_ms,
            note,
            signature,
            anchor: None,
        }
    }

    /// Checks that the stored tree extends the checkpoint the chain
    /// anchored last (`anchored_size` events with root `anchored_root`):
    /// the leaf file, kept outside the enclave, lost nothing and was not
    /// rewritten.
    ///
    /// # Errors
    /// [`AnchorMismatch`] naming which.
    pub fn check_against_anchor(
        &self,
        anchored_size: u64,
        anchored_root: &[u8],
    ) -> Result<(), AnchorMismatch> {
        if anchored_size == 0 {
            return Ok(());
        }
        let state = self.lock();
        let tree = state.leaves.tree();
        match tree.root_at(anchored_size) {
            Err(_) => Err(AnchorMismatch::Missing {
                stored: tree.size(),
                anchored: anchored_size,
            }),
            Ok(root) if root.as_slice() != anchored_root => Err(AnchorMismatch::Rewritten {
                size: anchored_size,
            }),
            Ok(_) => Ok(()),
        }
    }

    /// The oldest checkpoint not yet anchored.
    pub fn first_pending(&self) -> Option<AuditCheckpoint> {
        self.lock().checkpoints.first_pending().cloned()
    }

    /// Records that the checkpoint of `tree_size` is anchored.
    ///
    /// # Errors
    /// The record could not be written.
    pub fn mark_anchored(&self, tree_size: u64, anchor: AnchorRecord) -> Result<(), StoreError> {
        self.lock().checkpoints.anchored(tree_size, anchor)
    }

    /// Forgets a pending checkpoint the chain will never take.
    pub fn drop_pending(&self, tree_size: u64) {
        self.lock().checkpoints.drop_pending(tree_size);
    }

    fn with_state<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self.lock())
    }
}

/// Shared handle.
pub type SharedAuditLog = Arc<AuditLog>;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use daas_core::audit::SignedCheckpoint;

    use super::*;

    fn leaf(id: &str) -> AuditLeaf {
        let mut leaf = daas_core::audit::parse_event_list(
            br#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"auditID":"x","verb":"get"}]}"#,
        )
        .unwrap()
        .remove(0);
        leaf.audit_id = id.to_owned();
        leaf
    }

    #[test]
    fn checkpoints_are_signed_by_count_or_time_and_verify() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::from_bytes(&[7; 32]);
        let log = AuditLog::open(
            dir.path(),
            key.clone(),
            CheckpointPolicy {
                events: 3,
                interval: Duration::from_secs(60),
            },
        )
        .unwrap();
        let start = Instant::now();
        log.append(&[leaf("a"), leaf("b"), leaf("c")]).unwrap();
        // Nothing is signed before the log has its on-chain AuditLog.
        assert!(log.sign_if_due(start, true).unwrap().is_none());
        assert_eq!(log.origin(), None);
        log.bind(Address::new([0x0b; 32])).unwrap();
        log.bind(Address::new([0x0b; 32])).unwrap();
        assert_eq!(
            log.bind(Address::new([0x0c; 32])),
            Err(AlreadyBound {
                bound: Address::new([0x0b; 32]),
                asked: Address::new([0x0c; 32])
            })
        );
        let signed = log.sign_if_due(start, false).unwrap().unwrap();
        assert_eq!(signed.tree_size, 3);
        let origin = log.origin().unwrap();
        let note =
            SignedCheckpoint::verify_note(&signed.note, origin, &key.verifying_key()).unwrap();
        assert_eq!(hex::encode(note.checkpoint.root), signed.root);
        log.append(&[leaf("d")]).unwrap();
        assert!(log.sign_if_due(start, false).unwrap().is_none());
        let later = start + Duration::from_secs(61);
        assert_eq!(log.sign_if_due(later, false).unwrap().unwrap().tree_size, 4);
        assert!(log.sign_if_due(later, true).unwrap().is_none());
        assert_eq!(log.first_pending().unwrap().tree_size, 3);
    }

    #[test]
    fn the_log_request_is_signed_for_create_log() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::from_bytes(&[7; 32]);
        let log = AuditLog::open(
            dir.path(),
            key.clone(),
            CheckpointPolicy {
                events: 1,
                interval: Duration::from_secs(60),
            },
        )
        .unwrap();
        let enclave_id = Address::new([0xe0; 32]);
        let (timestamp_ms, signature) = log.sign_log_request(enclave_id);
        let message = daas_core::package::enclave::IntentMessage::new(
            daas_core::package::enclave::IntentScope::AuditLog,
            timestamp_ms,
            AuditLogPayload { enclave_id },
        );
        let signature = ed25519_dalek::Signature::from_slice(&signature).unwrap();
        key.verifying_key()
            .verify_strict(&message.signing_bytes().unwrap(), &signature)
            .unwrap();
    }

    #[test]
    fn a_lost_or_rewritten_leaf_file_disagrees_with_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let open = || {
            let log = AuditLog::open(
                dir.path(),
                SigningKey::from_bytes(&[7; 32]),
                CheckpointPolicy {
                    events: 1,
                    interval: Duration::from_secs(60),
                },
            )
            .unwrap();
            log.bind(Address::new([0x0b; 32])).unwrap();
            log
        };
        let log = open();
        log.append(&[leaf("a"), leaf("b")]).unwrap();
        let anchored = log.sign_if_due(Instant::now(), false).unwrap().unwrap();
        let root = hex::decode(&anchored.root).unwrap();
        log.append(&[leaf("c")]).unwrap();
        assert_eq!(log.check_against_anchor(0, &[]), Ok(()));
        assert_eq!(log.check_against_anchor(2, &root), Ok(()));
        assert_eq!(
            log.check_against_anchor(5, &root),
            Err(AnchorMismatch::Missing {
                stored: 3,
                anchored: 5
            })
        );
        drop(log);
        // Someone rewrites the file outside the master with other events
        // (valid records, so it opens).
        std::fs::remove_file(dir.path().join(store::LEAVES_FILE)).unwrap();
        let log = open();
        log.append(&[leaf("x"), leaf("y")]).unwrap();
        assert_eq!(
            log.check_against_anchor(2, &root),
            Err(AnchorMismatch::Rewritten { size: 2 })
        );
    }
}
