//! `k3s_daas::audit`: Merkle roots of batches of the API server's audit
//! events, anchored by the enclave in the shared [`AuditLog`].
//!
//! Batches are contiguous: each starts at the log's `next_seq`, so a batch
//! covering `first_seq..=last_seq` holds `last_seq - first_seq + 1` events.

use sui_sdk_types::Address;

use super::MoveTable;

/// `MERKLE_ROOT_LEN`: bytes of a batch Merkle root.
pub const MERKLE_ROOT_LEN: u64 = 32;
/// `INTENT_AUDIT_BATCH`: intent scope of a signed audit batch.
pub const INTENT_AUDIT_BATCH: u8 = 2;

/// The module's Move constants by name, as `u64`, for table checks.
pub const MOVE_CONSTANTS: &[(&str, u64)] = &[
    ("MERKLE_ROOT_LEN", MERKLE_ROOT_LEN),
    ("INTENT_AUDIT_BATCH", INTENT_AUDIT_BATCH as u64),
];

/// Entry function names of `k3s_daas::audit`.
pub mod function {
    /// `anchor_batch(log, enclave, config, merkle_root, first_seq, last_seq,
    /// timestamp_ms, signature, clock)`.
    pub const ANCHOR_BATCH: &str = "anchor_batch";
    /// Every entry function of the module, in table order.
    pub const ALL: &[&str] = &[ANCHOR_BATCH];
}

abort_codes! {
    /// Abort codes of `k3s_daas::audit`.
    "audit" => AuditAbort {
        /// `ESeqGap`.
        SeqGap = 201, "ESeqGap", "first_seq is not the log's next_seq";
        /// `EInvalidRange`.
        InvalidRange = 202, "EInvalidRange", "last_seq is below first_seq";
        /// `ERootLength`.
        RootLength = 203, "ERootLength", "merkle root is not 32 bytes";
        /// `EInvalidSignature`.
        InvalidSignature = 204, "EInvalidSignature", "the enclave signature does not verify";
    }
}

move_struct! {
    /// `AuditLog`: the shared log of anchored batches.
    "audit"::AuditLog {
        /// The log's object id.
        id: Address => "UID",
        /// Index the next batch gets.
        next_batch: u64 => "u64",
        /// Sequence number the next batch must start at.
        next_seq: u64 => "u64",
        /// Anchored batches keyed by batch index.
        batches: MoveTable => "Table<u64, BatchAnchor>",
    }
}

impl AuditLog {
    /// Move's range checks of `anchor_batch` before the signature, in
    /// Move's order (the enclave checks come after and are `enclave`'s).
    ///
    /// # Errors
    /// The abort Move raises for the first violated rule.
    pub fn check_batch(
        &self,
        merkle_root: &[u8],
        first_seq: u64,
        last_seq: u64,
    ) -> Result<(), AuditAbort> {
        if u64::try_from(merkle_root.len()).ok() != Some(MERKLE_ROOT_LEN) {
            Err(AuditAbort::RootLength)
        } else if last_seq < first_seq {
            Err(AuditAbort::InvalidRange)
        } else if first_seq != self.next_seq {
            Err(AuditAbort::SeqGap)
        } else {
            Ok(())
        }
    }
}

move_struct! {
    /// `BatchAnchor`: one anchored batch.
    "audit"::BatchAnchor {
        /// The enclave that signed it.
        enclave_id: Address => "ID",
        /// Merkle root of the batch's events (32 bytes).
        merkle_root: Vec<u8> => "vector<u8>",
        /// First event sequence number.
        first_seq: u64 => "u64",
        /// Last event sequence number (inclusive).
        last_seq: u64 => "u64",
        /// When the enclave signed.
        timestamp_ms: u64 => "u64",
        /// When it was anchored on chain.
        anchored_at_ms: u64 => "u64",
    }
}

impl BatchAnchor {
    /// How many events the batch covers.
    pub fn event_count(&self) -> u64 {
        self.last_seq
            .saturating_sub(self.first_seq)
            .saturating_add(1)
    }
}

move_struct! {
    /// `AuditBatchPayload`: the data of the
    /// [`IntentMessage`](super::enclave::IntentMessage) the enclave signs
    /// for a batch (scope `INTENT_AUDIT_BATCH`).
    "audit"::AuditBatchPayload {
        /// The log.
        log_id: Address => "ID",
        /// The index the batch gets (`AuditLog.next_batch`).
        batch_index: u64 => "u64",
        /// Merkle root (32 bytes).
        merkle_root: Vec<u8> => "vector<u8>",
        /// First event sequence number.
        first_seq: u64 => "u64",
        /// Last event sequence number (inclusive).
        last_seq: u64 => "u64",
    }
}

move_struct! {
    /// Event `BatchAnchored`.
    "audit"::BatchAnchored {
        /// The log.
        log_id: Address => "ID",
        /// The batch's index.
        batch_index: u64 => "u64",
        /// The signing enclave.
        enclave_id: Address => "ID",
        /// Merkle root.
        merkle_root: Vec<u8> => "vector<u8>",
        /// First event sequence number.
        first_seq: u64 => "u64",
        /// Last event sequence number (inclusive).
        last_seq: u64 => "u64",
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
            next_batch: 2,
            next_seq: 100,
            batches: MoveTable {
                id: Address::new([0x0c; 32]),
                size: 2,
            },
        }
    }

    #[test]
    fn golden_audit_log() {
        let l = log();
        let expected = format!(
            "{}02000000000000006400000000000000{}0200000000000000",
            "0b".repeat(32),
            "0c".repeat(32)
        );
        let bytes = bcs::to_bytes(&l).unwrap();
        assert_eq!(hex::encode(&bytes), expected);
        assert_eq!(bcs::from_bytes::<AuditLog>(&bytes).unwrap(), l);
    }

    #[test]
    fn golden_batch_anchor_and_payload() {
        let anchor = BatchAnchor {
            enclave_id: Address::new([0xe0; 32]),
            merkle_root: vec![0x77; 32],
            first_seq: 100,
            last_seq: 149,
            timestamp_ms: 1,
            anchored_at_ms: 2,
        };
        assert_eq!(anchor.event_count(), 50);
        let expected = format!(
            "{}20{}{}{}{}{}",
            "e0".repeat(32),
            "77".repeat(32),
            "6400000000000000",
            "9500000000000000",
            "0100000000000000",
            "0200000000000000"
        );
        let bytes = bcs::to_bytes(&anchor).unwrap();
        assert_eq!(hex::encode(&bytes), expected);
        assert_eq!(bcs::from_bytes::<BatchAnchor>(&bytes).unwrap(), anchor);

        let message = IntentMessage::new(
            IntentScope::AuditBatch,
            1_744_038_900_000,
            AuditBatchPayload {
                log_id: Address::new([0x0b; 32]),
                batch_index: 2,
                merkle_root: vec![0x77; 32],
                first_seq: 100,
                last_seq: 149,
            },
        );
        let expected = format!(
            "0220b1d11096010000{}020000000000000020{}64000000000000009500000000000000",
            "0b".repeat(32),
            "77".repeat(32)
        );
        assert_eq!(hex::encode(message.signing_bytes().unwrap()), expected);
    }

    #[test]
    fn batch_checks_follow_move_order() {
        let l = log();
        assert_eq!(l.check_batch(&[0; 32], 100, 100), Ok(()));
        assert_eq!(l.check_batch(&[0; 31], 5, 1), Err(AuditAbort::RootLength));
        assert_eq!(
            l.check_batch(&[0; 32], 101, 100),
            Err(AuditAbort::InvalidRange)
        );
        assert_eq!(l.check_batch(&[0; 32], 99, 120), Err(AuditAbort::SeqGap));
    }
}
