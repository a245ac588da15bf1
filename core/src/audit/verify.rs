//! Checking an event the master served, without trusting the master: the
//! leaf, its inclusion proof, the checkpoint's signature by the enclave key
//! and the anchor the chain holds for that checkpoint.
//!
//! [`verify_event_proof`] is the pure part; the caller reads the anchor
//! (`ChainClient::audit_checkpoint`) and the signing enclave's key
//! (`ChainClient::enclave`) from the chain and passes them in.

use ed25519_dalek::VerifyingKey;

use super::checkpoint::{CheckpointError, SignedCheckpoint, origin_for};
use super::merkle::{Hash, ProofError, verify_inclusion};
use crate::api::audit::AuditEventProof;
use crate::package::audit::{AuditCheckpointPayload, AuditLog, CheckpointAnchor};
use crate::package::enclave::{Enclave, IntentMessage, IntentScope};
use sui_sdk_types::Address;

/// Why an event does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The served event is another one.
    #[error("the master served event {served}, not {asked}")]
    WrongEvent {
        /// The auditID asked for.
        asked: String,
        /// The auditID served.
        served: String,
    },
    /// A hash is not 32 bytes of hex.
    #[error("{what} is not a 32-byte hex hash")]
    BadHash {
        /// Which hash.
        what: &'static str,
    },
    /// The inclusion proof does not lead to the checkpoint's root.
    #[error("inclusion proof: {0}")]
    Inclusion(#[source] ProofError),
    /// The checkpoint note is not signed by the registered key.
    #[error("checkpoint: {0}")]
    Checkpoint(#[source] CheckpointError),
    /// The registered key is not an Ed25519 key.
    #[error("the enclave's registered key is not an Ed25519 public key")]
    BadEnclaveKey,
    /// The served checkpoint disagrees with its own note or with the chain.
    #[error("{0}")]
    Mismatch(String),
}

/// What a verified event proved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedEvent {
    /// The event's leaf index.
    pub leaf_index: u64,
    /// The anchored tree size it is included in.
    pub tree_size: u64,
    /// That tree's root.
    pub root: Hash,
}

/// Parses a 32-byte hex hash.
///
/// # Errors
/// [`VerifyError::BadHash`] naming `what`.
pub fn parse_hash(text: &str, what: &'static str) -> Result<Hash, VerifyError> {
    let mut hash = [0u8; 32];
    hex::decode_to_slice(text, &mut hash).map_err(|_| VerifyError::BadHash { what })?;
    Ok(hash)
}

/// Checks `served` for `audit_id` against the chain's `log` (the
/// `AuditLog` the served checkpoint names), its `anchor` (the
/// `CheckpointAnchor` stored for the served tree size in `log`) and the
/// anchor's `enclave` (read from the chain by `anchor.enclave_id`):
///
/// 1. the served event is `audit_id`;
/// 2. the log is bound to that enclave;
/// 3. the checkpoint note is signed by the enclave's registered key, for
///    the origin of the log, and names the served size and root;
/// 4. the chain's anchor has that size and root, was made by that enclave,
///    and carries the enclave's signature over them;
/// 5. the event's leaf hash and inclusion proof lead to that root.
///
/// # Errors
/// [`VerifyError`] naming the first step that fails.
pub fn verify_event_proof(
    audit_id: &str,
    served: &AuditEventProof,
    log: &AuditLog,
    anchor: &CheckpointAnchor,
    enclave: &Enclave,
) -> Result<VerifiedEvent, VerifyError> {
    if served.event.audit_id != audit_id {
        return Err(VerifyError::WrongEvent {
            asked: audit_id.to_owned(),
            served: served.event.audit_id.clone(),
        });
    }
    let log_id = log.id;
    if log.enclave_id != enclave.id {
        return Err(VerifyError::Mismatch(format!(
            "AuditLog {log_id} is bound to enclave {}, not {}",
            log.enclave_id, enclave.id
        )));
    }
    let key = enclave_key(enclave)?;
    let origin = origin_for(log_id);
    let signed = SignedCheckpoint::verify_note(&served.checkpoint.note, &origin, &key)
        .map_err(VerifyError::Checkpoint)?;
    let checkpoint = signed.checkpoint;
    if checkpoint.origin != origin {
        return Err(VerifyError::Mismatch(format!(
            "the checkpoint is for log {:?}, not {origin:?}",
            checkpoint.origin
        )));
    }
    check_anchor(log_id, anchor, enclave, checkpoint.size, &checkpoint.root)?;
    let proof = served
        .inclusion_proof
        .iter()
        .map(|hash| parse_hash(hash, "an inclusion proof hash"))
        .collect::<Result<Vec<_>, _>>()?;
    verify_inclusion(
        &served.event.hash(),
        served.leaf_index,
        checkpoint.size,
        &proof,
        &checkpoint.root,
    )
    .map_err(VerifyError::Inclusion)?;
    Ok(VerifiedEvent {
        leaf_index: served.leaf_index,
        tree_size: checkpoint.size,
        root: checkpoint.root,
    })
}

fn enclave_key(enclave: &Enclave) -> Result<VerifyingKey, VerifyError> {
    let bytes: [u8; 32] = enclave
        .pk
        .as_slice()
        .try_into()
        .map_err(|_| VerifyError::BadEnclaveKey)?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| VerifyError::BadEnclaveKey)
}

/// The chain's anchor matches the checkpoint and carries the enclave's
/// signature over it.
fn check_anchor(
    log_id: Address,
    anchor: &CheckpointAnchor,
    enclave: &Enclave,
    size: u64,
    root: &Hash,
) -> Result<(), VerifyError> {
    if anchor.tree_size != size || anchor.root != root {
        return Err(VerifyError::Mismatch(format!(
            "the chain anchors a different root for a tree of {size} events"
        )));
    }
    if anchor.enclave_id != enclave.id {
        return Err(VerifyError::Mismatch(format!(
            "the anchor was signed by enclave {}, not {}",
            anchor.enclave_id, enclave.id
        )));
    }
    let message = IntentMessage::new(
        IntentScope::AuditCheckpoint,
        anchor.timestamp_ms,
        AuditCheckpointPayload {
            log_id,
            tree_size: size,
            root: root.to_vec(),
        },
    );
    if !enclave.verify_signature(&message, &anchor.signature) {
        return Err(VerifyError::Mismatch(
            "the anchor's signature is not the enclave's".to_owned(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use ed25519_dalek::{Signer as _, SigningKey};

    use super::*;
    use crate::api::audit::{AnchorRecord, AuditCheckpoint};
    use crate::audit::{AuditLeaf, Checkpoint, MerkleTree};

    const LOG: Address = Address::new([0x0b; 32]);

    fn leaf(i: u32) -> AuditLeaf {
        AuditLeaf {
            version: 1,
            audit_id: format!("id-{i}"),
            stage: "ResponseComplete".into(),
            stage_timestamp: "2026-12-04T13:00:00Z".into(),
            user: "sui:0xabc".into(),
            groups: vec!["daas:viewer".into()],
            impersonated_user: String::new(),
            verb: "get".into(),
            api_group: String::new(),
            resource: "pods".into(),
            subresource: String::new(),
            namespace: "default".into(),
            name: format!("p{i}"),
            request_uri: "/api/v1/namespaces/default/pods".into(),
            response_code: 200,
        }
    }

    struct Fixture {
        log: AuditLog,
        served: AuditEventProof,
        anchor: CheckpointAnchor,
        enclave: Enclave,
    }

    fn fixture(key: &SigningKey) -> Fixture {
        let mut tree = MerkleTree::new();
        for i in 0..7 {
            tree.push_hash(leaf(i).hash());
        }
        let root = tree.root();
        let signed = Checkpoint {
            origin: origin_for(LOG),
            size: 7,
            root,
        }
        .sign(key)
        .unwrap();
        let enclave = Enclave {
            id: Address::new([0xe0; 32]),
            config_id: Address::new([0xc0; 32]),
            config_version: 0,
            pk: key.verifying_key().to_bytes().to_vec(),
            owner: Address::new([0x0e; 32]),
            registered_at_ms: 0,
        };
        let message = IntentMessage::new(
            IntentScope::AuditCheckpoint,
            5,
            AuditCheckpointPayload {
                log_id: LOG,
                tree_size: 7,
                root: root.to_vec(),
            },
        );
        let signature = key.sign(&message.signing_bytes().unwrap());
        let anchor = CheckpointAnchor {
            enclave_id: enclave.id,
            tree_size: 7,
            root: root.to_vec(),
            timestamp_ms: 5,
            signature: signature.to_bytes().to_vec(),
            anchored_at_ms: 6,
        };
        let served = AuditEventProof {
            event: leaf(3),
            leaf_index: 3,
            inclusion_proof: tree
                .inclusion_proof(3, 7)
                .unwrap()
                .iter()
                .map(hex::encode)
                .collect(),
            checkpoint: AuditCheckpoint {
                tree_size: 7,
                root: hex::encode(root),
                timestamp_ms: 5,
                note: signed.to_note(),
                signature: String::new(),
                anchor: Some(AnchorRecord {
                    log_id: LOG.to_string(),
                    enclave_id: enclave.id.to_string(),
                    tx_digest: "digest".into(),
                }),
            },
        };
        let log = AuditLog {
            id: LOG,
            enclave_id: enclave.id,
            tree_size: 7,
            root: root.to_vec(),
            anchored: 1,
            checkpoints: crate::package::MoveTable {
                id: Address::new([0x0c; 32]),
                size: 1,
            },
        };
        Fixture {
            log,
            served,
            anchor,
            enclave,
        }
    }

    #[test]
    fn a_served_event_verifies_against_the_chain() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let f = fixture(&key);
        let verified =
            verify_event_proof("id-3", &f.served, &f.log, &f.anchor, &f.enclave).unwrap();
        assert_eq!((verified.leaf_index, verified.tree_size), (3, 7));
    }

    #[test]
    fn a_tampered_event_fails() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let mut f = fixture(&key);
        f.served.event.verb = "delete".into();
        assert!(matches!(
            verify_event_proof("id-3", &f.served, &f.log, &f.anchor, &f.enclave),
            Err(VerifyError::Inclusion(_))
        ));
    }

    #[test]
    fn a_proof_against_another_root_fails() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let mut f = fixture(&key);
        f.anchor.root = vec![0x42; 32];
        assert!(matches!(
            verify_event_proof("id-3", &f.served, &f.log, &f.anchor, &f.enclave),
            Err(VerifyError::Mismatch(_))
        ));
    }

    #[test]
    fn a_checkpoint_not_signed_by_the_registered_key_fails() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let mut f = fixture(&key);
        f.enclave.pk = SigningKey::from_bytes(&[8; 32])
            .verifying_key()
            .to_bytes()
            .to_vec();
        assert!(matches!(
            verify_event_proof("id-3", &f.served, &f.log, &f.anchor, &f.enclave),
            Err(VerifyError::Checkpoint(
                CheckpointError::NoSignatureByKey { .. }
            ))
        ));
    }

    #[test]
    fn another_event_or_log_fails() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let f = fixture(&key);
        assert!(matches!(
            verify_event_proof("id-4", &f.served, &f.log, &f.anchor, &f.enclave),
            Err(VerifyError::WrongEvent { .. })
        ));
        let mut other_log = f.log.clone();
        other_log.id = Address::new([1; 32]);
        assert!(verify_event_proof("id-3", &f.served, &other_log, &f.anchor, &f.enclave).is_err());
    }

    #[test]
    fn a_log_bound_to_another_enclave_fails() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let mut f = fixture(&key);
        f.log.enclave_id = Address::new([0xe1; 32]);
        assert!(matches!(
            verify_event_proof("id-3", &f.served, &f.log, &f.anchor, &f.enclave),
            Err(VerifyError::Mismatch(m)) if m.contains("bound to enclave")
        ));
    }
}
