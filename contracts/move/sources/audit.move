// Copyright (c) K3s-DaaS authors
// SPDX-License-Identifier: Apache-2.0

/// Checkpoints of the master's audit log: an append-only RFC 9162 Merkle
/// tree over the Kubernetes API server's audit events.
///
/// The enclave signs each checkpoint (tree size and root); the log accepts
/// it only from the current enclave and only if the tree grew, and keeps
/// every anchored checkpoint under its tree size.
module k3s_daas::audit;

use k3s_daas::enclave::{Enclave, EnclaveConfig};
use sui::clock::Clock;
use sui::event;
use sui::table::{Self, Table};

// === Abort codes ===

/// tree_size is not larger than the last anchored tree_size.
const ETreeNotGrown: u64 = 201;
/// root is not 32 bytes.
const ERootLength: u64 = 202;
/// The enclave signature does not verify.
const EInvalidSignature: u64 = 203;

// === Constants ===

const ROOT_LEN: u64 = 32;
/// Intent scope of a signed audit checkpoint.
const INTENT_AUDIT_CHECKPOINT: u8 = 2;

// === Objects ===

/// The shared log of anchored checkpoints.
public struct AuditLog has key {
    id: UID,
    tree_size: u64,
    root: vector<u8>,
    anchored: u64,
    checkpoints: Table<u64, CheckpointAnchor>,
}

/// One anchored checkpoint.
public struct CheckpointAnchor has copy, drop, store {
    enclave_id: ID,
    tree_size: u64,
    root: vector<u8>,
    timestamp_ms: u64,
    signature: vector<u8>,
    anchored_at_ms: u64,
}

/// The data the enclave signs for a checkpoint.
public struct AuditCheckpointPayload has copy, drop {
    log_id: ID,
    tree_size: u64,
    root: vector<u8>,
}

// === Events ===

public struct CheckpointAnchored has copy, drop {
    log_id: ID,
    enclave_id: ID,
    tree_size: u64,
    root: vector<u8>,
    timestamp_ms: u64,
    anchored_at_ms: u64,
}

// === Init ===

fun init(ctx: &mut TxContext) {
    transfer::share_object(AuditLog {
        id: object::new(ctx),
        tree_size: 0,
        root: vector[],
        anchored: 0,
        checkpoints: table::new(ctx),
    });
}

// === Functions ===

/// Anchors an enclave-signed checkpoint of a larger tree.
entry fun anchor_checkpoint(
    log: &mut AuditLog,
    enclave: &Enclave,
    config: &EnclaveConfig,
    tree_size: u64,
    root: vector<u8>,
    timestamp_ms: u64,
    signature: vector<u8>,
    clock: &Clock,
) {
    assert!(root.length() == ROOT_LEN, ERootLength);
    assert!(tree_size > log.tree_size, ETreeNotGrown);
    enclave.assert_current(config);
    let log_id = object::id(log);
    let payload = AuditCheckpointPayload { log_id, tree_size, root };
    assert!(
        enclave.verify_signature(INTENT_AUDIT_CHECKPOINT, timestamp_ms, payload, &signature),
        EInvalidSignature,
    );

    let anchor = CheckpointAnchor {
        enclave_id: object::id(enclave),
        tree_size,
        root,
        timestamp_ms,
        signature,
        anchored_at_ms: clock.timestamp_ms(),
    };
    log.checkpoints.add(tree_size, anchor);
    log.tree_size = tree_size;
    log.root = root;
    log.anchored = log.anchored + 1;

    event::emit(CheckpointAnchored {
        log_id,
        enclave_id: anchor.enclave_id,
        tree_size,
        root,
        timestamp_ms,
        anchored_at_ms: anchor.anchored_at_ms,
    });
}

/// The checkpoint anchored for a tree of `tree_size` leaves.
public fun checkpoint(log: &AuditLog, tree_size: u64): CheckpointAnchor {
    *log.checkpoints.borrow(tree_size)
}

/// The size of the last anchored tree.
public fun tree_size(log: &AuditLog): u64 {
    log.tree_size
}

#[test_only]
public fun init_for_testing(ctx: &mut TxContext) {
    init(ctx);
}

#[test_only]
/// The BCS of a payload, for the golden vector shared with the Rust
/// bindings.
public fun payload_bytes_for_testing(log_id: ID, tree_size: u64, root: vector<u8>): vector<u8> {
    sui::bcs::to_bytes(&AuditCheckpointPayload { log_id, tree_size, root })
}
