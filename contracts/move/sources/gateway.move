// Copyright (c) K3s-DaaS authors
// SPDX-License-Identifier: Apache-2.0

/// Kubernetes API requests recorded on chain.
///
/// A holder of an active seal token submits a request; it becomes a shared
/// `K8sRequest` carrying the submitter's tier at submission. The master,
/// inside the enclave, executes it with that tier and records the result
/// hash, signed by the enclave key registered in `k3s_daas::enclave`.
module k3s_daas::gateway;

use k3s_daas::enclave::{Enclave, EnclaveConfig};
use k3s_daas::staking::{Self, StakePool, SealToken};
use std::hash;
use std::string::String;
use sui::clock::Clock;
use sui::event;

// === Abort codes ===

/// Method is not GET, POST, PUT, PATCH or DELETE.
const EMethodInvalid: u64 = 101;
/// Path is empty, does not start with / or is longer than MAX_PATH_LEN.
const EPathInvalid: u64 = 102;
/// Namespace or resource type longer than MAX_NAME_LEN.
const EFieldTooLong: u64 = 103;
/// Payload longer than MAX_PAYLOAD_LEN.
const EPayloadTooLarge: u64 = 104;
/// The request already has a result.
const EAlreadyRecorded: u64 = 105;
/// Result hash is not 32 bytes.
const EResultHashLength: u64 = 106;
/// The enclave signature does not verify.
const EInvalidSignature: u64 = 107;

// === Constants ===

const MAX_PATH_LEN: u64 = 2_048;
const MAX_NAME_LEN: u64 = 253;
const MAX_PAYLOAD_LEN: u64 = 8_192;
const RESULT_HASH_LEN: u64 = 32;
/// Intent scope of a signed Kubernetes result.
const INTENT_K8S_RESULT: u8 = 1;

// === Objects ===

/// What the enclave recorded for a request.
public struct K8sResult has copy, drop, store {
    enclave_id: ID,
    status_code: u16,
    result_hash: vector<u8>,
    timestamp_ms: u64,
    recorded_at_ms: u64,
}

/// One Kubernetes API request.
public struct K8sRequest has key {
    id: UID,
    pool_id: ID,
    token_id: ID,
    sender: address,
    tier: u8,
    method: String,
    path: String,
    namespace: String,
    resource_type: String,
    payload_hash: vector<u8>,
    submitted_at_ms: u64,
    result: Option<K8sResult>,
}

/// The data the enclave signs for a result.
public struct K8sResultPayload has copy, drop {
    request_id: ID,
    status_code: u16,
    result_hash: vector<u8>,
}

// === Events ===

public struct K8sRequestSubmitted has copy, drop {
    request_id: ID,
    pool_id: ID,
    token_id: ID,
    sender: address,
    tier: u8,
    method: String,
    path: String,
    namespace: String,
    resource_type: String,
    payload: vector<u8>,
    payload_hash: vector<u8>,
    submitted_at_ms: u64,
}

public struct K8sResultRecorded has copy, drop {
    request_id: ID,
    enclave_id: ID,
    status_code: u16,
    result_hash: vector<u8>,
    timestamp_ms: u64,
    recorded_at_ms: u64,
}

// === Functions ===

/// Records a request made with an active seal token.
entry fun submit_k8s_request(
    pool: &StakePool,
    token: &SealToken,
    method: String,
    path: String,
    namespace: String,
    resource_type: String,
    payload: vector<u8>,
    clock: &Clock,
    ctx: &mut TxContext,
) {
    let tier = staking::active_tier(pool, token, clock);
    assert!(is_valid_method(&method), EMethodInvalid);
    let path_bytes = path.as_bytes();
    assert!(
        !path_bytes.is_empty()
            && *path_bytes.borrow(0) == 0x2f // '/'
            && path_bytes.length() <= MAX_PATH_LEN,
        EPathInvalid,
    );
    assert!(
        namespace.length() <= MAX_NAME_LEN && resource_type.length() <= MAX_NAME_LEN,
        EFieldTooLong,
    );
    assert!(payload.length() <= MAX_PAYLOAD_LEN, EPayloadTooLarge);

    let request = K8sRequest {
        id: object::new(ctx),
        pool_id: object::id(pool),
        token_id: object::id(token),
        sender: ctx.sender(),
        tier,
        method,
        path,
        namespace,
        resource_type,
        payload_hash: hash::sha2_256(payload),
        submitted_at_ms: clock.timestamp_ms(),
        result: option::none(),
    };
    event::emit(K8sRequestSubmitted {
        request_id: object::id(&request),
        pool_id: request.pool_id,
        token_id: request.token_id,
        sender: request.sender,
        tier,
        method: request.method,
        path: request.path,
        namespace: request.namespace,
        resource_type: request.resource_type,
        payload,
        payload_hash: request.payload_hash,
        submitted_at_ms: request.submitted_at_ms,
    });
    transfer::share_object(request);
}

/// Records the enclave-signed result of a request.
entry fun record_k8s_result(
    request: &mut K8sRequest,
    enclave: &Enclave,
    config: &EnclaveConfig,
    status_code: u16,
    result_hash: vector<u8>,
    timestamp_ms: u64,
    signature: vector<u8>,
    clock: &Clock,
) {
    assert!(request.result.is_none(), EAlreadyRecorded);
    assert!(result_hash.length() == RESULT_HASH_LEN, EResultHashLength);
    enclave.assert_current(config);
    let request_id = object::id(request);
    let payload = K8sResultPayload { request_id, status_code, result_hash };
    assert!(
        enclave.verify_signature(INTENT_K8S_RESULT, timestamp_ms, payload, &signature),
        EInvalidSignature,
    );

    let result = K8sResult {
        enclave_id: object::id(enclave),
        status_code,
        result_hash,
        timestamp_ms,
        recorded_at_ms: clock.timestamp_ms(),
    };
    request.result = option::some(result);
    event::emit(K8sResultRecorded {
        request_id,
        enclave_id: result.enclave_id,
        status_code,
        result_hash,
        timestamp_ms,
        recorded_at_ms: result.recorded_at_ms,
    });
}

/// The request's result, once recorded.
public fun result(request: &K8sRequest): Option<K8sResult> {
    request.result
}

/// The tier the submitter had at submission.
public fun tier(request: &K8sRequest): u8 {
    request.tier
}

fun is_valid_method(method: &String): bool {
    let m = *method.as_bytes();
    m == b"GET" || m == b"POST" || m == b"PUT" || m == b"PATCH" || m == b"DELETE"
}
