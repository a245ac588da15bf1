//! `k3s_daas::gateway`, executed natively (`contracts/README.md`, gateway
//! rows).

use daas_core::package::PackageAbort;
use daas_core::package::enclave::{Enclave, EnclaveConfig, IntentMessage, IntentScope};
use daas_core::package::gateway::{
    self as g, GatewayAbort, K8sRequest, K8sRequestSubmitted, K8sResult, K8sResultPayload,
    K8sResultRecorded, RESULT_HASH_LEN,
};
use sui_sdk_types::Owner;

use super::{Args, CallArg, CallError, clock, create, emit, read, staking, write};
use crate::working_set::CallContext;

fn abort(a: impl Into<PackageAbort>) -> CallError {
    CallError::from(a.into())
}

pub(super) fn call(
    ctx: &mut CallContext<'_>,
    function: &str,
    args: &Args<'_>,
) -> Result<Vec<CallArg>, CallError> {
    match function {
        g::function::SUBMIT_K8S_REQUEST => submit_k8s_request(ctx, args),
        g::function::RECORD_K8S_RESULT => record_k8s_result(ctx, args),
        _ => Err(CallError::Invariant(
            "call to an unresolved gateway function",
        )),
    }?;
    Ok(Vec::new())
}

fn submit_k8s_request(ctx: &mut CallContext<'_>, args: &Args<'_>) -> Result<(), CallError> {
    args.expect(8)?;
    let method = args.string(2)?;
    let path = args.string(3)?;
    let namespace = args.string(4)?;
    let resource_type = args.string(5)?;
    let payload: Vec<u8> = args.pure(6)?;
    let now = clock(ctx, args, 7)?;
    let (pool_id, _, _, tier) = staking::assert_active(ctx, args, 0, 1, now)?;
    let (_, token) = read::<daas_core::package::staking::SealToken>(ctx, args, 1)?;
    let method =
        g::check_request(&method, &path, &namespace, &resource_type, &payload).map_err(abort)?;
    let payload_hash = g::payload_hash(&payload).to_vec();
    let id = ctx.new_id();
    let sender = ctx.sender();
    let request = K8sRequest {
        id,
        pool_id,
        token_id: token.id,
        sender,
        tier,
        method,
        path: path.clone(),
        namespace: namespace.clone(),
        resource_type: resource_type.clone(),
        payload_hash: payload_hash.clone(),
        submitted_at_ms: now,
        result: None,
    };
    create(ctx, &request, Owner::Shared(crate::execute::NEW_SHARED))?;
    emit(
        ctx,
        &K8sRequestSubmitted {
            request_id: id,
            pool_id,
            token_id: token.id,
            sender,
            tier,
            method,
            path,
            namespace,
            resource_type,
            payload,
            payload_hash,
            submitted_at_ms: now,
        },
    )
}

fn record_k8s_result(ctx: &mut CallContext<'_>, args: &Args<'_>) -> Result<(), CallError> {
    args.expect(8)?;
    let (request_id, mut request) = read::<K8sRequest>(ctx, args, 0)?;
    let (enclave_id, enclave) = read::<Enclave>(ctx, args, 1)?;
    let (_, config) = read::<EnclaveConfig>(ctx, args, 2)?;
    let status_code: u16 = args.pure(3)?;
    let result_hash: Vec<u8> = args.pure(4)?;
    let timestamp_ms: u64 = args.pure(5)?;
    let signature: Vec<u8> = args.pure(6)?;
    let now = clock(ctx, args, 7)?;
    if request.result.is_some() {
        return Err(abort(GatewayAbort::AlreadyRecorded));
    }
    if result_hash.len() as u64 != RESULT_HASH_LEN {
        return Err(abort(GatewayAbort::ResultHashLength));
    }
    enclave.check_current(&config).map_err(abort)?;
    let message = IntentMessage::new(
        IntentScope::K8sResult,
        timestamp_ms,
        K8sResultPayload {
            request_id,
            status_code,
            result_hash: result_hash.clone(),
        },
    );
    if !enclave.verify_signature(&message, &signature) {
        return Err(abort(GatewayAbort::InvalidSignature));
    }
    request.result = Some(K8sResult {
        enclave_id,
        status_code,
        result_hash: result_hash.clone(),
        timestamp_ms,
        recorded_at_ms: now,
    });
    write(ctx, &request_id, &request)?;
    emit(
        ctx,
        &K8sResultRecorded {
            request_id,
            enclave_id,
            status_code,
            result_hash,
            timestamp_ms,
            recorded_at_ms: now,
        },
    )
}
