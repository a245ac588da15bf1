// Copyright (c) K3s-DaaS authors
// SPDX-License-Identifier: Apache-2.0

/// Checkpoints of the master's audit log: an append-only RFC 9162 Merkle
/// tree over the Kubernetes API server's audit events.
///
/// Each log is bound to one enclave (one master replica and boot), which
/// asks for it with a signed intent (`create_log`). The enclave signs each
/// checkpoint (tree size and root); the log accepts it only from its own
/// enclave while current and only if the tree grew, and keeps every
/// anchored checkpoint under its tree size.
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
/// The enclave is not the one the log is bound to.
const EWrongEnclave: u64 = 204;

// === Constants ===

const ROOT_LEN: u64 = 32;
/// Intent scope of a signed audit checkpoint.
const INTENT_AUDIT_CHECKPOINT: u8 = 2;
/// Intent scope of an enclave's request for its own audit log.
const INTENT_AUDIT_LOG: u8 = 3;

// === Objects ===

/// The shared log of anchored checkpoints of one enclave.
public struct AuditLog has key {
    id: UID,
    enclave_id: ID,
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

/// The data the enclave signs to ask for a log of its own.
public struct AuditLogPayload has copy, drop {
    enclave_id: ID,
}

// === Events ===

public struct AuditLogCreated has copy, drop {
    log_id: ID,
    enclave_id: ID,
    created_at_ms: u64,
}

public struct CheckpointAnchored has copy, drop {
    log_id: ID,
    enclave_id: ID,
    tree_size: u64,
    root: vector<u8>,
    timestamp_ms: u64,
    anchored_at_ms: u64,
}

// === Functions ===

/// Shares a new, empty log bound to `enclave`, which signed for it.
entry fun create_log(
    enclave: &Enclave,
    config: &EnclaveConfig,
    timestamp_ms: u64,
    signature: vector<u8>,
    clock: &Clock,
    ctx: &mut TxContext,
) {
    enclave.assert_current(config);
    let enclave_id = object::id(enclave);
    assert!(
        enclave.verify_signature(
            INTENT_AUDIT_LOG,
            timestamp_ms,
            AuditLogPayload { enclave_id },
            &signature,
        ),
        EInvalidSignature,
    );
    let log = AuditLog {
        id: object::new(ctx),
        enclave_id,
        tree_size: 0,
        root: vector[],
        anchored: 0,
        checkpoints: table::new(ctx),
    };
    event::emit(AuditLogCreated {
        log_id: object::id(&log),
        enclave_id,
        created_at_ms: clock.timestamp_ms(),
    });
    transfer::share_object(log);
}

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
    assert!(object::id(enclave) == log.enclave_id, EWrongEnclave);
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

/// The enclave the log is bound to.
public fun enclave_id(log: &AuditLog): ID {
    log.enclave_id
}

#[test_only]
/// Shares an empty log bound to `enclave_id` without its signature.
public fun new_log_for_testing(enclave_id: ID, ctx: &mut TxContext) {
    transfer::share_object(AuditLog {
        id: object::new(ctx),
        enclave_id,
        tree_size: 0,
        root: vector[],
        anchored: 0,
        checkpoints: table::new(ctx),
    });
}

#[test_only]
/// The BCS of a payload, for the golden vector shared with the Rust
/// bindings.
public fun payload_bytes_for_testing(log_id: ID, tree_size: u64, root: vector<u8>): vector<u8> {
    sui::bcs::to_bytes(&AuditCheckpointPayload { log_id, tree_size, root })
}

#[test_only]
/// The BCS of a log request, for the golden vector shared with the Rust
/// bindings.
public fun log_payload_bytes_for_testing(enclave_id: ID): vector<u8> {
    sui::bcs::to_bytes(&AuditLogPayload { enclave_id })
}
