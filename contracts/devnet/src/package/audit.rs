//! `k3s_daas::audit`, executed natively (`contracts/README.md`, audit
//! rows).

use daas_core::package::audit::{
    self as a, AuditAbort, AuditCheckpointPayload, AuditLog, AuditLogCreated, AuditLogPayload,
    CheckpointAnchor, CheckpointAnchored,
};
use daas_core::package::enclave::{Enclave, EnclaveConfig, IntentMessage, IntentScope};
use daas_core::package::{MoveTable, PackageAbort};
use sui_sdk_types::{Owner, TypeTag};

use super::{Args, CallArg, CallError, Table, clock, create, emit, package_type, read, write};
use crate::working_set::CallContext;

fn abort(e: impl Into<PackageAbort>) -> CallError {
    CallError::from(e.into())
}

pub(super) fn call(
    ctx: &mut CallContext<'_>,
    function: &str,
    args: &Args<'_>,
) -> Result<Vec<CallArg>, CallError> {
    match function {
        a::function::CREATE_LOG => create_log(ctx, args),
        a::function::ANCHOR_CHECKPOINT => anchor_checkpoint(ctx, args),
        _ => Err(CallError::Invariant("call to an unresolved audit function")),
    }?;
    Ok(Vec::new())
}

fn create_log(ctx: &mut CallContext<'_>, args: &Args<'_>) -> Result<(), CallError> {
    args.expect(5)?;
    let (enclave_id, enclave) = read::<Enclave>(ctx, args, 0)?;
    let (_, config) = read::<EnclaveConfig>(ctx, args, 1)?;
    let timestamp_ms: u64 = args.pure(2)?;
    let signature: Vec<u8> = args.pure(3)?;
    let now = clock(ctx, args, 4)?;
    enclave.check_current(&config).map_err(abort)?;
    let message = IntentMessage::new(
        IntentScope::AuditLog,
        timestamp_ms,
        AuditLogPayload { enclave_id },
    );
    if !enclave.verify_signature(&message, &signature) {
        return Err(abort(AuditAbort::InvalidSignature));
    }
    // Move's order: the log's UID, then its table's.
    let log_id = ctx.new_id();
    let table_id = ctx.new_id();
    let log = AuditLog {
        id: log_id,
        enclave_id,
        tree_size: 0,
        root: Vec::new(),
        anchored: 0,
        checkpoints: MoveTable {
            id: table_id,
            size: 0,
        },
    };
    emit(
        ctx,
        &AuditLogCreated {
            log_id,
            enclave_id,
            created_at_ms: now,
        },
    )?;
    create(ctx, &log, Owner::Shared(crate::execute::NEW_SHARED))?;
    Ok(())
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
    log.check_checkpoint(tree_size, &root, enclave_id)
        .map_err(abort)?;
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
