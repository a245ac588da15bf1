//! The verifiable audit log: RFC 9162 Merkle trees and proofs, the
//! canonical leaf of an API server audit event, and C2SP checkpoints.
//!
//! Everything a verifier needs to check an event against the chain lives
//! here, with no I/O: the master builds the log with it and the console
//! verifies with the same code.

pub mod checkpoint;
pub mod event;
pub mod merkle;
pub mod verify;

pub use checkpoint::{Checkpoint, CheckpointError, SignedCheckpoint, origin_for};
pub use event::{AuditEventError, AuditLeaf, parse_event_list};
pub use merkle::{Hash, MerkleTree, ProofError, verify_consistency, verify_inclusion};
