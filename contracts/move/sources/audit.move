// Copyright (c) K3s-DaaS authors
// SPDX-License-Identifier: Apache-2.0

/// Merkle roots of batches of the Kubernetes API server's audit events.
///
/// The master numbers audit events from 0 and anchors contiguous batches:
/// each batch starts at the log's `next_seq` and covers
/// `first_seq..=last_seq`. Each anchor is signed by the current enclave.
module k3s_daas::audit;

use k3s_daas::enclave::{Enclave, EnclaveConfig};
use sui::clock::Clock;
use sui::event;
use sui::table::{Self, Table};

// === Abort codes ===

/// first_seq is not the log's next_seq.
const ESeqGap: u64 = 201;
/// last_seq is below first_seq.
const EInvalidRange: u64 = 202;
/// Merkle root is not 32 bytes.
const ERootLength: u64 = 203;
/// The enclave signature does not verify.
const EInvalidSignature: u64 = 204;

// === Constants ===

const MERKLE_ROOT_LEN: u64 = 32;
/// Intent scope of a signed audit batch.
const INTENT_AUDIT_BATCH: u8 = 2;

// === Objects ===

/// The shared log of anchored batches.
public struct AuditLog has key {
    id: UID,
    next_batch: u64,
    next_seq: u64,
    batches: Table<u64, BatchAnchor>,
}

/// One anchored batch.
public struct BatchAnchor has copy, drop, store {
    enclave_id: ID,
    merkle_root: vector<u8>,
    first_seq: u64,
    last_seq: u64,
    timestamp_ms: u64,
    anchored_at_ms: u64,
}

/// The data the enclave signs for a batch.
public struct AuditBatchPayload has copy, drop {
    log_id: ID,
    batch_index: u64,
    merkle_root: vector<u8>,
    first_seq: u64,
    last_seq: u64,
}

// === Events ===

public struct BatchAnchored has copy, drop {
    log_id: ID,
    batch_index: u64,
    enclave_id: ID,
    merkle_root: vector<u8>,
    first_seq: u64,
    last_seq: u64,
    timestamp_ms: u64,
    anchored_at_ms: u64,
}

// === Init ===

fun init(ctx: &mut TxContext) {
    transfer::share_object(AuditLog {
        id: object::new(ctx),
        next_batch: 0,
        next_seq: 0,
        batches: table::new(ctx),
    });
}

// === Functions ===

/// Anchors the next batch of audit events.
entry fun anchor_batch(
    log: &mut AuditLog,
    enclave: &Enclave,
    config: &EnclaveConfig,
    merkle_root: vector<u8>,
    first_seq: u64,
    last_seq: u64,
    timestamp_ms: u64,
    signature: vector<u8>,
    clock: &Clock,
) {
    assert!(merkle_root.length() == MERKLE_ROOT_LEN, ERootLength);
    assert!(first_seq <= last_seq, EInvalidRange);
    assert!(first_seq == log.next_seq, ESeqGap);
    enclave.assert_current(config);
    let log_id = object::id(log);
    let batch_index = log.next_batch;
    let payload = AuditBatchPayload { log_id, batch_index, merkle_root, first_seq, last_seq };
    assert!(
        enclave.verify_signature(INTENT_AUDIT_BATCH, timestamp_ms, payload, &signature),
        EInvalidSignature,
    );

    let anchor = BatchAnchor {
        enclave_id: object::id(enclave),
        merkle_root,
        first_seq,
        last_seq,
        timestamp_ms,
        anchored_at_ms: clock.timestamp_ms(),
    };
    log.batches.add(batch_index, anchor);
    log.next_batch = batch_index + 1;
    log.next_seq = last_seq + 1;

    event::emit(BatchAnchored {
        log_id,
        batch_index,
        enclave_id: anchor.enclave_id,
        merkle_root,
        first_seq,
        last_seq,
        timestamp_ms,
        anchored_at_ms: anchor.anchored_at_ms,
    });
}

/// The anchored batch `batch_index`.
public fun batch(log: &AuditLog, batch_index: u64): BatchAnchor {
    *log.batches.borrow(batch_index)
}

/// The sequence number the next batch must start at.
public fun next_seq(log: &AuditLog): u64 {
    log.next_seq
}

#[test_only]
public fun init_for_testing(ctx: &mut TxContext) {
    init(ctx);
}
