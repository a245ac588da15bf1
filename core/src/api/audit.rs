//! The audit log's endpoints: events with their proofs, checkpoints, and
//! consistency proofs. Hashes are lowercase hex; notes are C2SP signed
//! notes (see [`crate::audit`]).

use serde::{Deserialize, Serialize};

use crate::audit::AuditLeaf;

/// `GET {AUDIT_EVENTS_PATH}/{auditID}`: one event and its proofs.
pub const AUDIT_EVENTS_PATH: &str = "/api/v1/audit/events";
/// `GET`: the signed checkpoints, oldest first.
pub const AUDIT_CHECKPOINTS_PATH: &str = "/api/v1/audit/checkpoints";
/// `GET ?from=&to=`: a consistency proof between two tree sizes.
pub const AUDIT_CONSISTENCY_PATH: &str = "/api/v1/audit/consistency";

/// A checkpoint the master signed, and where it was anchored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AuditCheckpoint {
    /// Leaves in the tree.
    pub tree_size: u64,
    /// The tree's root, hex.
    pub root: String,
    /// When the enclave signed, ms since the epoch (the on-chain intent
    /// message's timestamp).
    pub timestamp_ms: u64,
    /// The C2SP signed note of the checkpoint.
    pub note: String,
    /// The enclave key's signature (hex) over the on-chain intent message
    /// `{ INTENT_AUDIT_CHECKPOINT, timestamp_ms, AuditCheckpointPayload }`,
    /// which `audit::anchor_checkpoint` checks.
    pub signature: String,
    /// The anchor on chain, once the anchoring transaction executed.
    pub anchor: Option<AnchorRecord>,
}

/// Where a checkpoint is anchored on chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AnchorRecord {
    /// The `AuditLog` object.
    pub log_id: String,
    /// The `Enclave` whose key signed.
    pub enclave_id: String,
    /// The anchoring transaction's digest.
    pub tx_digest: String,
}

/// The log's checkpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AuditCheckpointList {
    /// The log's origin line.
    pub origin: String,
    /// Events stored (acknowledged) so far; may exceed the last checkpoint.
    pub stored: u64,
    /// The newest signed checkpoints (at most 1,000), oldest first.
    pub checkpoints: Vec<AuditCheckpoint>,
}

/// One event with its inclusion proof in a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AuditEventProof {
    /// The event as stored (its canonical leaf).
    pub event: AuditLeaf,
    /// Its index in the tree.
    pub leaf_index: u64,
    /// The RFC 9162 inclusion proof in the checkpoint's tree, hex.
    pub inclusion_proof: Vec<String>,
    /// The checkpoint the proof leads to: the first anchored one that
    /// covers the event, else the newest signed one.
    pub checkpoint: AuditCheckpoint,
}

/// A consistency proof between two tree sizes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AuditConsistency {
    /// The older size.
    pub from: u64,
    /// The newer size.
    pub to: u64,
    /// Root of the older tree, hex.
    pub from_root: String,
    /// Root of the newer tree, hex.
    pub to_root: String,
    /// The RFC 9162 consistency proof, hex.
    pub proof: Vec<String>,
}
