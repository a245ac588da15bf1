//! Programmable transactions for every entry function of `k3s_daas`, built
//! offline.
//!
//! Each function adds the commands of one call to a
//! [`TransactionBuilder`], in the argument order of `contracts/README.md`.
//! They do no I/O: object arguments come in as resolved [`ObjectInput`]s, so
//! the same code serves the live client ([`super::calls`]) and byte-exact
//! cross-checks against the TypeScript SDK. Pure arguments are added as
//! unique inputs, one per argument, as `@mysten/sui`'s `Transaction` does.

use sui_sdk_types::{Address, Identifier};
use sui_transaction_builder::{Argument, Function, ObjectInput, TransactionBuilder};

use super::profile::{CLOCK_ID, CLOCK_INITIAL_SHARED_VERSION};
use crate::package::staking::PoolParams;

/// The shared Clock (`0x6`), read-only.
pub fn clock() -> ObjectInput {
    ObjectInput::shared(CLOCK_ID, CLOCK_INITIAL_SHARED_VERSION, false)
}

fn call(
    tx: &mut TransactionBuilder,
    package: Address,
    module: &'static str,
    function: &'static str,
    arguments: Vec<Argument>,
) -> Argument {
    tx.move_call(
        Function::new(
            package,
            Identifier::from_static(module),
            Identifier::from_static(function),
        ),
        arguments,
    )
}

fn bytes(tx: &mut TransactionBuilder, value: &[u8]) -> Argument {
    tx.pure_unique(&value)
}

/// `staking::stake_and_mint(pool, payment, role, node_id, clock)` paying
/// `amount` MIST split off the gas coin.
pub fn stake_and_mint(
    tx: &mut TransactionBuilder,
    package: Address,
    pool: ObjectInput,
    amount: u64,
    role: u8,
    node_id: &[u8],
) {
    let amount = tx.pure_unique(&amount);
    let gas = tx.gas();
    let payment = tx.split_coins(gas, vec![amount]);
    let pool = tx.object(pool);
    let role = tx.pure_unique(&role);
    let node_id = bytes(tx, node_id);
    let clock = tx.object(clock());
    let mut arguments = vec![pool];
    arguments.extend(payment);
    arguments.extend([role, node_id, clock]);
    call(tx, package, "staking", "stake_and_mint", arguments);
}

/// `staking::add_stake(pool, token, payment)` paying `amount` MIST split off
/// the gas coin.
pub fn add_stake(
    tx: &mut TransactionBuilder,
    package: Address,
    pool: ObjectInput,
    token: ObjectInput,
    amount: u64,
) {
    let amount = tx.pure_unique(&amount);
    let gas = tx.gas();
    let payment = tx.split_coins(gas, vec![amount]);
    let pool = tx.object(pool);
    let token = tx.object(token);
    let mut arguments = vec![pool, token];
    arguments.extend(payment);
    call(tx, package, "staking", "add_stake", arguments);
}

/// `staking::refresh(pool, token, clock)`.
pub fn refresh(
    tx: &mut TransactionBuilder,
    package: Address,
    pool: ObjectInput,
    token: ObjectInput,
) {
    let arguments = vec![tx.object(pool), tx.object(token), tx.object(clock())];
    call(tx, package, "staking", "refresh", arguments);
}

/// `staking::request_unstake(pool, token, clock)`.
pub fn request_unstake(
    tx: &mut TransactionBuilder,
    package: Address,
    pool: ObjectInput,
    token: ObjectInput,
) {
    let arguments = vec![tx.object(pool), tx.object(token), tx.object(clock())];
    call(tx, package, "staking", "request_unstake", arguments);
}

/// `staking::withdraw(pool, token, clock)`; the token is consumed.
pub fn withdraw(
    tx: &mut TransactionBuilder,
    package: Address,
    pool: ObjectInput,
    token: ObjectInput,
) {
    let arguments = vec![tx.object(pool), tx.object(token), tx.object(clock())];
    call(tx, package, "staking", "withdraw", arguments);
}

/// `staking::propose_slash(pool, token_id, evidence_hash, reason, clock)`.
pub fn propose_slash(
    tx: &mut TransactionBuilder,
    package: Address,
    pool: ObjectInput,
    token_id: Address,
    evidence_hash: &[u8],
    reason: &str,
) {
    let pool = tx.object(pool);
    let token_id = tx.pure_unique(&token_id);
    let evidence_hash = bytes(tx, evidence_hash);
    let reason = tx.pure_unique(&reason);
    let clock = tx.object(clock());
    call(
        tx,
        package,
        "staking",
        "propose_slash",
        vec![pool, token_id, evidence_hash, reason, clock],
    );
}

/// `staking::approve_slash(pool, cap, proposal_id)`.
pub fn approve_slash(
    tx: &mut TransactionBuilder,
    package: Address,
    pool: ObjectInput,
    slasher_cap: ObjectInput,
    proposal_id: u64,
) {
    let arguments = vec![
        tx.object(pool),
        tx.object(slasher_cap),
        tx.pure_unique(&proposal_id),
    ];
    call(tx, package, "staking", "approve_slash", arguments);
}

/// `staking::reject_slash(pool, cap, proposal_id)`.
pub fn reject_slash(
    tx: &mut TransactionBuilder,
    package: Address,
    pool: ObjectInput,
    slasher_cap: ObjectInput,
    proposal_id: u64,
) {
    let arguments = vec![
        tx.object(pool),
        tx.object(slasher_cap),
        tx.pure_unique(&proposal_id),
    ];
    call(tx, package, "staking", "reject_slash", arguments);
}

/// `staking::set_params(pool, cap, …)`.
pub fn set_params(
    tx: &mut TransactionBuilder,
    package: Address,
    pool: ObjectInput,
    admin_cap: ObjectInput,
    params: &PoolParams,
) {
    let mut arguments = vec![tx.object(pool), tx.object(admin_cap)];
    for value in [
        params.min_stake.get(),
        params.worker_min_stake.get(),
        params.tiers.viewer.get(),
        params.tiers.developer.get(),
        params.tiers.admin.get(),
        params.tiers.superuser.get(),
        params.slash_rate_bps,
        params.unbonding_ms,
        params.token_lifetime_ms,
    ] {
        arguments.push(tx.pure_unique(&value));
    }
    call(tx, package, "staking", "set_params", arguments);
}

/// `staking::set_paused(pool, cap, paused)`.
pub fn set_paused(
    tx: &mut TransactionBuilder,
    package: Address,
    pool: ObjectInput,
    admin_cap: ObjectInput,
    paused: bool,
) {
    let arguments = vec![
        tx.object(pool),
        tx.object(admin_cap),
        tx.pure_unique(&paused),
    ];
    call(tx, package, "staking", "set_paused", arguments);
}

/// `staking::withdraw_treasury(pool, cap, amount)`.
pub fn withdraw_treasury(
    tx: &mut TransactionBuilder,
    package: Address,
    pool: ObjectInput,
    admin_cap: ObjectInput,
    amount: u64,
) {
    let arguments = vec![
        tx.object(pool),
        tx.object(admin_cap),
        tx.pure_unique(&amount),
    ];
    call(tx, package, "staking", "withdraw_treasury", arguments);
}

/// `staking::grant_slasher(pool, cap, recipient)`.
pub fn grant_slasher(
    tx: &mut TransactionBuilder,
    package: Address,
    pool: ObjectInput,
    admin_cap: ObjectInput,
    recipient: Address,
) {
    let arguments = vec![
        tx.object(pool),
        tx.object(admin_cap),
        tx.pure_unique(&recipient),
    ];
    call(tx, package, "staking", "grant_slasher", arguments);
}

/// The request fields of `gateway::submit_k8s_request`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct K8sRequestArgs<'a> {
    /// HTTP method (`GET`, `POST`, `PUT`, `PATCH`, `DELETE`).
    pub method: &'a str,
    /// API path, starting with `/`.
    pub path: &'a str,
    /// Namespace, may be empty.
    pub namespace: &'a str,
    /// Resource type, may be empty.
    pub resource_type: &'a str,
    /// Request body.
    pub payload: &'a [u8],
}

/// `gateway::submit_k8s_request(pool, token, method, path, namespace,
/// resource_type, payload, clock)`.
pub fn submit_k8s_request(
    tx: &mut TransactionBuilder,
    package: Address,
    pool: ObjectInput,
    token: ObjectInput,
    request: &K8sRequestArgs<'_>,
) {
    let pool = tx.object(pool);
    let token = tx.object(token);
    let method = tx.pure_unique(&request.method);
    let path = tx.pure_unique(&request.path);
    let namespace = tx.pure_unique(&request.namespace);
    let resource_type = tx.pure_unique(&request.resource_type);
    let payload = bytes(tx, request.payload);
    let clock = tx.object(clock());
    call(
        tx,
        package,
        "gateway",
        "submit_k8s_request",
        vec![
            pool,
            token,
            method,
            path,
            namespace,
            resource_type,
            payload,
            clock,
        ],
    );
}

/// A result signed by the enclave, for `gateway::record_k8s_result`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct K8sResultArgs<'a> {
    /// HTTP status code.
    pub status_code: u16,
    /// SHA-256 of the result (32 bytes).
    pub result_hash: &'a [u8],
    /// Time the enclave signed, ms.
    pub timestamp_ms: u64,
    /// Ed25519 signature over the intent message.
    pub signature: &'a [u8],
}

/// `gateway::record_k8s_result(request, enclave, config, status_code,
/// result_hash, timestamp_ms, signature, clock)`.
pub fn record_k8s_result(
    tx: &mut TransactionBuilder,
    package: Address,
    request: ObjectInput,
    enclave: ObjectInput,
    config: ObjectInput,
    result: &K8sResultArgs<'_>,
) {
    let request = tx.object(request);
    let enclave = tx.object(enclave);
    let config = tx.object(config);
    let status_code = tx.pure_unique(&result.status_code);
    let result_hash = bytes(tx, result.result_hash);
    let timestamp_ms = tx.pure_unique(&result.timestamp_ms);
    let signature = bytes(tx, result.signature);
    let clock = tx.object(clock());
    call(
        tx,
        package,
        "gateway",
        "record_k8s_result",
        vec![
            request,
            enclave,
            config,
            status_code,
            result_hash,
            timestamp_ms,
            signature,
            clock,
        ],
    );
}

/// A checkpoint signed by the enclave, for `audit::anchor_checkpoint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditCheckpointArgs<'a> {
    /// Leaves in the tree.
    pub tree_size: u64,
    /// The tree's root (32 bytes).
    pub root: &'a [u8],
    /// Time the enclave signed, ms.
    pub timestamp_ms: u64,
    /// Ed25519 signature over the intent message.
    pub signature: &'a [u8],
}

/// An enclave's signed request for an audit log of its own, for
/// `audit::create_log`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditLogArgs<'a> {
    /// Time the enclave signed, ms.
    pub timestamp_ms: u64,
    /// Ed25519 signature over the intent message of the
    /// `AuditLogPayload { enclave_id }`.
    pub signature: &'a [u8],
}

/// `audit::create_log(enclave, config, timestamp_ms, signature, clock)`.
pub fn create_audit_log(
    tx: &mut TransactionBuilder,
    package: Address,
    enclave: ObjectInput,
    config: ObjectInput,
    request: &AuditLogArgs<'_>,
) {
    let enclave = tx.object(enclave);
    let config = tx.object(config);
    let timestamp_ms = tx.pure_unique(&request.timestamp_ms);
    let signature = bytes(tx, request.signature);
    let clock = tx.object(clock());
    call(
        tx,
        package,
        "audit",
        "create_log",
        vec![enclave, config, timestamp_ms, signature, clock],
    );
}

/// `audit::anchor_checkpoint(log, enclave, config, tree_size, root,
/// timestamp_ms, signature, clock)`.
pub fn anchor_checkpoint(
    tx: &mut TransactionBuilder,
    package: Address,
    log: ObjectInput,
    enclave: ObjectInput,
    config: ObjectInput,
    checkpoint: &AuditCheckpointArgs<'_>,
) {
    let log = tx.object(log);
    let enclave = tx.object(enclave);
    let config = tx.object(config);
    let tree_size = tx.pure_unique(&checkpoint.tree_size);
    let root = bytes(tx, checkpoint.root);
    let timestamp_ms = tx.pure_unique(&checkpoint.timestamp_ms);
    let signature = bytes(tx, checkpoint.signature);
    let clock = tx.object(clock());
    call(
        tx,
        package,
        "audit",
        "anchor_checkpoint",
        vec![
            log,
            enclave,
            config,
            tree_size,
            root,
            timestamp_ms,
            signature,
            clock,
        ],
    );
}

/// Expected PCRs 0, 1 and 2 (48 bytes each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PcrArgs<'a> {
    /// PCR 0.
    pub pcr0: &'a [u8],
    /// PCR 1.
    pub pcr1: &'a [u8],
    /// PCR 2.
    pub pcr2: &'a [u8],
}

/// `enclave::create_config(cap, name, pcr0, pcr1, pcr2)`.
pub fn create_config(
    tx: &mut TransactionBuilder,
    package: Address,
    enclave_cap: ObjectInput,
    name: &str,
    pcrs: &PcrArgs<'_>,
) {
    let cap = tx.object(enclave_cap);
    let name = tx.pure_unique(&name);
    let pcr0 = bytes(tx, pcrs.pcr0);
    let pcr1 = bytes(tx, pcrs.pcr1);
    let pcr2 = bytes(tx, pcrs.pcr2);
    call(
        tx,
        package,
        "enclave",
        "create_config",
        vec![cap, name, pcr0, pcr1, pcr2],
    );
}

/// `enclave::update_pcrs(config, cap, pcr0, pcr1, pcr2)`.
pub fn update_pcrs(
    tx: &mut TransactionBuilder,
    package: Address,
    config: ObjectInput,
    enclave_cap: ObjectInput,
    pcrs: &PcrArgs<'_>,
) {
    let config = tx.object(config);
    let cap = tx.object(enclave_cap);
    let pcr0 = bytes(tx, pcrs.pcr0);
    let pcr1 = bytes(tx, pcrs.pcr1);
    let pcr2 = bytes(tx, pcrs.pcr2);
    call(
        tx,
        package,
        "enclave",
        "update_pcrs",
        vec![config, cap, pcr0, pcr1, pcr2],
    );
}

/// `enclave::update_name(config, cap, name)`.
pub fn update_name(
    tx: &mut TransactionBuilder,
    package: Address,
    config: ObjectInput,
    enclave_cap: ObjectInput,
    name: &str,
) {
    let arguments = vec![
        tx.object(config),
        tx.object(enclave_cap),
        tx.pure_unique(&name),
    ];
    call(tx, package, "enclave", "update_name", arguments);
}

/// `0x2::nitro_attestation::load_nitro_attestation(attestation, clock)`
/// followed by `enclave::register_enclave(config, document)`.
pub fn register_enclave(
    tx: &mut TransactionBuilder,
    package: Address,
    config: ObjectInput,
    attestation: &[u8],
) {
    let attestation = bytes(tx, attestation);
    let clock = tx.object(clock());
    let document = call(
        tx,
        Address::TWO,
        "nitro_attestation",
        "load_nitro_attestation",
        vec![attestation, clock],
    );
    let config = tx.object(config);
    call(
        tx,
        package,
        "enclave",
        "register_enclave",
        vec![config, document],
    );
}

/// `enclave::destroy_old_enclave(enclave, config)`.
pub fn destroy_old_enclave(
    tx: &mut TransactionBuilder,
    package: Address,
    enclave: ObjectInput,
    config: ObjectInput,
) {
    let arguments = vec![tx.object(enclave), tx.object(config)];
    call(tx, package, "enclave", "destroy_old_enclave", arguments);
}
