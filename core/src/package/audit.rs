//! `k3s_daas::audit`: checkpoints of the master's audit log (an RFC 9162
//! Merkle tree over the API server's audit events, see
//! [`crate::audit`]), anchored by the enclave in the shared [`AuditLog`].
//!
//! Each log is bound to one enclave, which asked for it with a signed
//! [`AuditLogPayload`] (`create_log`); only that enclave anchors into it.
//! The anchored tree only grows: each checkpoint's `tree_size` is larger
//! than the last one's, and it is stored under its `tree_size`.

use sui_sdk_types::{Address, TypeTag};

use super::MoveTable;

/// `ROOT_LEN`: bytes of a checkpoint's Merkle root.
pub const ROOT_LEN: u64 = 32;
/// `INTENT_AUDIT_CHECKPOINT`: intent scope of a signed audit checkpoint.
pub const INTENT_AUDIT_CHECKPOINT: u8 = 2;
/// `INTENT_AUDIT_LOG`: intent scope of an enclave's request for its own
/// audit log.
pub const INTENT_AUDIT_LOG: u8 = 3;

/// The module's Move constants by name, as `u64`, for table checks.
pub const MOVE_CONSTANTS: &[(&str, u64)] = &[
    ("ROOT_LEN", ROOT_LEN),
    ("INTENT_AUDIT_CHECKPOINT", INTENT_AUDIT_CHECKPOINT as u64),
    ("INTENT_AUDIT_LOG", INTENT_AUDIT_LOG as u64),
];

/// Entry function names of `k3s_daas::audit`.
pub mod function {
    /// `create_log(enclave, config, timestamp_ms, signature, clock)`.
    pub const CREATE_LOG: &str = "create_log";
    /// `anchor_checkpoint(log, enclave, config, tree_size, root,
    /// timestamp_ms, signature, clock)`.
    pub const ANCHOR_CHECKPOINT: &str = "anchor_checkpoint";
    /// Every entry function of the module, in table order.
    pub const ALL: &[&str] = &[CREATE_LOG, ANCHOR_CHECKPOINT];
}

abort_codes! {
    /// Abort codes of `k3s_daas::audit`.
    "audit" => AuditAbort {
        /// `ETreeNotGrown`.
        TreeNotGrown = 201, "ETreeNotGrown", "tree_size is not larger than the last anchored tree_size";
        /// `ERootLength`.
        RootLength = 202, "ERootLength", "root is not 32 bytes";
        /// `EInvalidSignature`.
        InvalidSignature = 203, "EInvalidSignature", "the enclave signature does not verify";
        /// `EWrongEnclave`.
        WrongEnclave = 204, "EWrongEnclave", "the enclave is not the one the log is bound to";
    }
}

move_struct! {
    /// `AuditLog`: the shared log of anchored checkpoints of one enclave.
    "audit"::AuditLog {
        /// The log's object id.
        id: Address => "UID",
        /// The only `Enclave` whose checkpoints the log takes.
        enclave_id: Address => "ID",
        /// Size of the last anchored tree (0 before the first).
        tree_size: u64 => "u64",
        /// Root of the last anchored tree (empty before the first).
        root: Vec<u8> => "vector<u8>",
        /// How many checkpoints were anchored.
        anchored: u64 => "u64",
        /// Anchored checkpoints keyed by tree size.
        checkpoints: MoveTable => "Table<u64, CheckpointAnchor>",
    }
}

impl AuditLog {
    /// Move's checks of `anchor_checkpoint` by `enclave_id` before the
    /// enclave's own, in Move's order.
    ///
    /// # Errors
    /// The abort Move raises for the first violated rule.
    pub fn check_checkpoint(
        &self,
        tree_size: u64,
        root: &[u8],
        enclave_id: Address,
    ) -> Result<(), AuditAbort> {
        if u64::try_from(root.len()).ok() != Some(ROOT_LEN) {
            Err(AuditAbort::RootLength)
        } else if tree_size <= self.tree_size {
            Err(AuditAbort::TreeNotGrown)
        } else if enclave_id != self.enclave_id {
            Err(AuditAbort::WrongEnclave)
        } else {
            Ok(())
        }
    }
}

/// The object id of the dynamic field holding the checkpoint anchored for
/// `tree_size` in the log whose `checkpoints` table has UID `table`.
pub fn checkpoint_field_id(table: Address, tree_size: u64) -> Address {
    table.derive_dynamic_child_id(&TypeTag::U64, &tree_size.to_le_bytes())
}

move_struct! {
    /// `CheckpointAnchor`: one anchored checkpoint.
    "audit"::CheckpointAnchor {
        /// The enclave that signed it.
        enclave_id: Address => "ID",
        /// Leaves in the tree.
        tree_size: u64 => "u64",
        /// The tree's RFC 9162 root (32 bytes).
        root: Vec<u8> => "vector<u8>",
        /// When the enclave signed.
        timestamp_ms: u64 => "u64",
        /// The enclave's signature over the intent message of the
        /// [`AuditCheckpointPayload`].
        signature: Vec<u8> => "vector<u8>",
        /// When it was anchored on chain.
        anchored_at_ms: u64 => "u64",
    }
}

move_struct! {
    /// `AuditCheckpointPayload`: the data of the
    /// [`IntentMessage`](super::enclave::IntentMessage) the enclave signs
    /// for a checkpoint (scope `INTENT_AUDIT_CHECKPOINT`).
    "audit"::AuditCheckpointPayload {
        /// The log.
        log_id: Address => "ID",
        /// Leaves in the tree.
        tree_size: u64 => "u64",
        /// The tree's root (32 bytes).
        root: Vec<u8> => "vector<u8>",
    }
}

move_struct! {
    /// `AuditLogPayload`: the data of the
    /// [`IntentMessage`](super::enclave::IntentMessage) an enclave signs to
    /// ask for a log of its own (scope `INTENT_AUDIT_LOG`).
    "audit"::AuditLogPayload {
        /// The enclave the log is bound to.
        enclave_id: Address => "ID",
    }
}

move_struct! {
    /// Event `AuditLogCreated`.
    "audit"::AuditLogCreated {
        /// The new log.
        log_id: Address => "ID",
        /// The enclave it is bound to.
        enclave_id: Address => "ID",
        /// When it was created.
        created_at_ms: u64 => "u64",
    }
}

move_struct! {
    /// Event `CheckpointAnchored`.
    "audit"::CheckpointAnchored {
        /// The log.
        log_id: Address => "ID",
        /// The signing enclave.
        enclave_id: Address => "ID",
        /// Leaves in the tree.
        tree_size: u64 => "u64",
        /// The tree's root.
        root: Vec<u8> => "vector<u8>",
        /// When the enclave signed.
        timestamp_ms: u64 => "u64",
        /// When it was anchored.
        anchored_at_ms: u64 => "u64",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::enclave::{IntentMessage, IntentScope};

    fn log() -> AuditLog {
        AuditLog {
            id: Address::new([0x0b; 32]),
            enclave_id: Address::new([0xe0; 32]),
            tree_size: 100,
            root: vec![0x77; 32],
            anchored: 2,
            checkpoints: MoveTable {
                id: Address::new([0x0c; 32]),
                size: 2,
            },
        }
    }

    #[test]
    fn golden_audit_log() {
        let l = log();
        let expected = format!(
            "{}{}640000000000000020{}0200000000000000{}0200000000000000",
            "0b".repeat(32),
            "e0".repeat(32),
            "77".repeat(32),
            "0c".repeat(32)
        );
        let bytes = bcs::to_bytes(&l).unwrap();
        assert_eq!(hex::encode(&bytes), expected);
        assert_eq!(bcs::from_bytes::<AuditLog>(&bytes).unwrap(), l);
    }

    /// The payload bytes are shared with `payload_bcs_matches_rust` in
    /// `contracts/move/tests/audit_tests.move`.
    #[test]
    fn golden_checkpoint_anchor_and_payload() {
        let anchor = CheckpointAnchor {
            enclave_id: Address::new([0xe0; 32]),
            tree_size: 149,
            root: vec![0x77; 32],
            timestamp_ms: 1,
            signature: vec![0x5a; 64],
            anchored_at_ms: 2,
        };
        let expected = format!(
            "{}950000000000000020{}010000000000000040{}0200000000000000",
            "e0".repeat(32),
            "77".repeat(32),
            "5a".repeat(64),
        );
        let bytes = bcs::to_bytes(&anchor).unwrap();
        assert_eq!(hex::encode(&bytes), expected);
        assert_eq!(bcs::from_bytes::<CheckpointAnchor>(&bytes).unwrap(), anchor);

        let payload = AuditCheckpointPayload {
            log_id: Address::new([0x0b; 32]),
            tree_size: 7,
            root: vec![0x77; 32],
        };
        assert_eq!(
            hex::encode(bcs::to_bytes(&payload).unwrap()),
            format!("{}070000000000000020{}", "0b".repeat(32), "77".repeat(32))
        );
        let message = IntentMessage::new(IntentScope::AuditCheckpoint, 1_744_038_900_000, payload);
        assert_eq!(
            hex::encode(message.signing_bytes().unwrap()),
            format!(
                "0220b1d11096010000{}070000000000000020{}",
                "0b".repeat(32),
                "77".repeat(32)
            )
        );
    }

    #[test]
    fn checkpoint_checks_follow_move_order() {
        let l = log();
        let own = l.enclave_id;
        let other = Address::new([0xe1; 32]);
        assert_eq!(l.check_checkpoint(101, &[0; 32], own), Ok(()));
        assert_eq!(
            l.check_checkpoint(1, &[0; 31], other),
            Err(AuditAbort::RootLength)
        );
        assert_eq!(
            l.check_checkpoint(100, &[0; 32], other),
            Err(AuditAbort::TreeNotGrown)
        );
        assert_eq!(
            l.check_checkpoint(7, &[0; 32], own),
            Err(AuditAbort::TreeNotGrown)
        );
        assert_eq!(
            l.check_checkpoint(101, &[0; 32], other),
            Err(AuditAbort::WrongEnclave)
        );
    }

    #[test]
    fn checkpoint_fields_are_keyed_by_tree_size() {
        let table = Address::new([0x0c; 32]);
        assert_ne!(checkpoint_field_id(table, 1), checkpoint_field_id(table, 2));
        assert_eq!(checkpoint_field_id(table, 1), checkpoint_field_id(table, 1));
    }

    /// The BCS of a log request, shared with `log_payload_bcs_matches_rust`
    /// in `contracts/move/tests/audit_tests.move`.
    #[test]
    fn golden_audit_log_payload() {
        let payload = AuditLogPayload {
            enclave_id: Address::new([0xe0; 32]),
        };
        assert_eq!(
            hex::encode(bcs::to_bytes(&payload).unwrap()),
            "e0".repeat(32)
        );
        let created = AuditLogCreated {
            log_id: Address::new([0x0b; 32]),
            enclave_id: Address::new([0xe0; 32]),
            created_at_ms: 5,
        };
        assert_eq!(
            hex::encode(bcs::to_bytes(&created).unwrap()),
            format!("{}{}0500000000000000", "0b".repeat(32), "e0".repeat(32))
        );
    }

    /// The ids and signatures of `contracts/move/tests/audit_tests.move`
    /// and `event_scenarios_tests.move`: in test_scenario's first
    /// transaction (digest = BCS of hint 0, zero-padded) the config is the
    /// first object, the enclave the second and the log the third, signed
    /// by the enclave key of secret `[7; 32]`.
    #[test]
    fn golden_signed_checkpoint_shared_with_move() {
        let tx0 = sui_sdk_types::Digest::new([0; 32]);
        let enclave_id = Address::derive_id(tx0, 1);
        let log_id = Address::derive_id(tx0, 2);
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let checkpoint = crate::intent::sign_intent(
            &key,
            crate::intent::Scope::AuditCheckpoint,
            1_744_038_900_000,
            AuditCheckpointPayload {
                log_id,
                tree_size: 10,
                root: vec![0x77; 32],
            },
        )
        .unwrap();
        let request = crate::intent::sign_intent(
            &key,
            crate::intent::Scope::AuditLog,
            1_744_038_900_000,
            AuditLogPayload { enclave_id },
        )
        .unwrap();
        let got = [
            hex::encode(enclave_id.as_bytes()),
            hex::encode(log_id.as_bytes()),
            checkpoint.signature,
            request.signature,
        ];
        assert_eq!(
            got,
            [
                "a4137e2ed945e7f4e8c307001c32e97472fb3eebb8f7b4ab7534b447d22da89b",
                "5ef2fcf809fb9535ea0aeaea421f683026f06c34569aafc42bcde652ef6dd270",
                "5c043a7b12a1b47bb25b889b84ffb6aa0580232921ee41028f59c13c2d042b76ebc7413f0282e87d4af723b4c5ad65de9f793ee8e6710f42e1f93681e2e78702",
                "7e8e5654aa33d93e78da343ecc239e8c80eea6176c5e347d374542d7e4899b8346f46a8da9a736a2450b8e20357cd1d08be31fa8f5bb122bce04ac842bd46d05"
            ]
        );
    }
}
