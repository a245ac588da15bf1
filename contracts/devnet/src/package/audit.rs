//! `k3s_daas::audit`, executed natively (`contracts/README.md`, audit
//! rows).

use daas_core::package::audit::{
    self as a, AuditAbort, AuditCheckpointPayload, AuditLog, CheckpointAnchor, CheckpointAnchored,
};
use daas_core::package::enclave::{Enclave, EnclaveConfig, IntentMessage, IntentScope};
use daas_core::package::{AUDIT_CHECKPOINTS_TABLE_ID, AUDIT_LOG_ID, MoveTable, PackageAbort};
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
        tree_size: 0,
        root: Vec::new(),
        anchored: 0,
        checkpoints: MoveTable {
            id: AUDIT_CHECKPOINTS_TABLE_ID,
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
        a::function::ANCHOR_CHECKPOINT => anchor_checkpoint(ctx, args),
        _ => Err(CallError::Invariant("call to an unresolved audit function")),
    }?;
    Ok(Vec::new())
}

fn anchor_checkpoint(ctx: &mut CallContext<'_>, args: &Args<'_>) -> Result<(), CallError> {
    args.expect(8)?;
    let (log_id, mut log) = read::<AuditLog>(ctx, args, 0)?;
    let (enclave_id, enclave) = read::<Enclave>(ctx, args, 1)?;
    let (_, config) = read::<EnclaveConfig>(ctx, args, 2)?;
    let tree_size: u64 = args.pure(3)?;
    let root: Vec<u8> = args.pure(4)?;
    let timestamp_ms: u64 = args.pure(5)?;
    let signature: Vec<u8> = args.pure(6)?;
    let now = clock(ctx, args, 7)?;
    log.check_checkpoint(tree_size, &root).map_err(abort)?;
    enclave.check_current(&config).map_err(abort)?;
    let message = IntentMessage::new(
        IntentScope::AuditCheckpoint,
        timestamp_ms,
        AuditCheckpointPayload {
            log_id,
            tree_size,
            root: root.clone(),
        },
    );
    if !enclave.verify_signature(&message, &signature) {
        return Err(abort(AuditAbort::InvalidSignature));
    }
    let anchor = CheckpointAnchor {
        enclave_id,
        tree_size,
        root: root.clone(),
        timestamp_ms,
        signature,
        anchored_at_ms: now,
    };
    let table = Table {
        id: log.checkpoints.id,
        key: TypeTag::U64,
        value: package_type::<CheckpointAnchor>(),
    };
    // Move's `table::add` aborts on an existing key; a growing tree_size
    // never repeats one.
    if table.set(ctx, &tree_size, &anchor)? {
        log.checkpoints.size += 1;
    }
    log.tree_size = tree_size;
    log.root = root.clone();
    log.anchored = log.anchored.saturating_add(1);
    write(ctx, &log_id, &log)?;
    emit(
        ctx,
        &CheckpointAnchored {
            log_id,
            enclave_id,
            tree_size,
            root,
            timestamp_ms,
            anchored_at_ms: now,
        },
    )
}
