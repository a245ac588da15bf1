//! `k3s_daas::audit`, executed natively (`contracts/README.md`, audit
//! rows).

use daas_core::package::audit::{
    self as a, AuditAbort, AuditBatchPayload, AuditLog, BatchAnchor, BatchAnchored,
};
use daas_core::package::enclave::{Enclave, EnclaveConfig, IntentMessage, IntentScope};
use daas_core::package::{AUDIT_BATCHES_TABLE_ID, AUDIT_LOG_ID, MoveTable, PackageAbort};
use sui_sdk_types::{Owner, TypeTag};

use super::{Args, CallArg, CallError, Table, clock, emit, new_object, package_type, read, write};
use crate::genesis::GENESIS_VERSION;
use crate::object::MoveObject;
use crate::working_set::CallContext;

fn abort(e: impl Into<PackageAbort>) -> CallError {
    CallError::from(e.into())
}

/// The init object: the shared, empty audit log.
pub(super) fn genesis() -> Vec<MoveObject> {
    let log = AuditLog {
        id: AUDIT_LOG_ID,
        next_batch: 0,
        next_seq: 0,
        batches: MoveTable {
            id: AUDIT_BATCHES_TABLE_ID,
            size: 0,
        },
    };
    new_object(&log, Owner::Shared(GENESIS_VERSION))
        .into_iter()
        .collect()
}

pub(super) fn call(
    ctx: &mut CallContext<'_>,
    function: &str,
    args: &Args<'_>,
) -> Result<Vec<CallArg>, CallError> {
    match function {
        a::function::ANCHOR_BATCH => anchor_batch(ctx, args),
        _ => Err(CallError::Invariant("call to an unresolved audit function")),
    }?;
    Ok(Vec::new())
}

fn anchor_batch(ctx: &mut CallContext<'_>, args: &Args<'_>) -> Result<(), CallError> {
    args.expect(9)?;
    let (log_id, mut log) = read::<AuditLog>(ctx, args, 0)?;
    let (enclave_id, enclave) = read::<Enclave>(ctx, args, 1)?;
    let (_, config) = read::<EnclaveConfig>(ctx, args, 2)?;
    let merkle_root: Vec<u8> = args.pure(3)?;
    let first_seq: u64 = args.pure(4)?;
    let last_seq: u64 = args.pure(5)?;
    let timestamp_ms: u64 = args.pure(6)?;
    let signature: Vec<u8> = args.pure(7)?;
    let now = clock(ctx, args, 8)?;
    log.check_batch(&merkle_root, first_seq, last_seq)
        .map_err(abort)?;
    enclave.check_current(&config).map_err(abort)?;
    let batch_index = log.next_batch;
    let message = IntentMessage::new(
        IntentScope::AuditBatch,
        timestamp_ms,
        AuditBatchPayload {
            log_id,
            batch_index,
            merkle_root: merkle_root.clone(),
            first_seq,
            last_seq,
        },
    );
    if !enclave.verify_signature(&message, &signature) {
        return Err(abort(AuditAbort::InvalidSignature));
    }
    let anchor = BatchAnchor {
        enclave_id,
        merkle_root: merkle_root.clone(),
        first_seq,
        last_seq,
        timestamp_ms,
        anchored_at_ms: now,
    };
    let table = Table {
        id: log.batches.id,
        key: TypeTag::U64,
        value: package_type::<BatchAnchor>(),
    };
    if table.set(ctx, &batch_index, &anchor)? {
        log.batches.size += 1;
    }
    log.next_batch += 1;
    log.next_seq = last_seq.saturating_add(1);
    write(ctx, &log_id, &log)?;
    emit(
        ctx,
        &BatchAnchored {
            log_id,
            batch_index,
            enclave_id,
            merkle_root,
            first_seq,
            last_seq,
            timestamp_ms,
            anchored_at_ms: now,
        },
    )
}
