// Copyright (c) K3s-DaaS authors
// SPDX-License-Identifier: Apache-2.0

/// The enclave that runs the K3s control plane and `daas-master`, in the
/// Nautilus pattern: an `EnclaveConfig` holds the PCRs the published image
/// measures to; `register_enclave` takes a Nitro attestation document that
/// `sui::nitro_attestation` verified in the same transaction and records
/// the enclave's Ed25519 key in a shared `Enclave`. Results the enclave
/// signs are BCS `IntentMessage`s checked with `verify_signature`.
///
/// An `Enclave` is current only while its config keeps the version it was
/// registered under; `update_pcrs` retires every older enclave.
module k3s_daas::enclave;

use std::bcs;
use std::string::String;
use sui::ed25519;
use sui::event;
use sui::nitro_attestation::NitroAttestationDocument;

// === Abort codes ===

/// The document's PCR 0, 1 or 2 is missing or differs from the config.
const EPcrMismatch: u64 = 301;
/// The document carries no public key.
const EMissingPublicKey: u64 = 302;
/// The public key is not a 32-byte Ed25519 key.
const EInvalidPublicKey: u64 = 303;
/// The enclave was registered under an older config version.
const EStaleEnclave: u64 = 304;
/// The enclave belongs to another config.
const EWrongConfig: u64 = 305;
/// The enclave is still current and cannot be destroyed.
const ECurrentEnclave: u64 = 306;
/// A PCR is not PCR_LEN bytes.
const EInvalidPcrLength: u64 = 307;

// === Constants ===

/// Bytes of a SHA-384 PCR.
const PCR_LEN: u64 = 48;
/// Bytes of an Ed25519 public key.
const ED25519_PK_LEN: u64 = 32;

// === Objects ===

/// The PCRs an enclave must attest to.
public struct EnclaveConfig has key {
    id: UID,
    name: String,
    pcr0: vector<u8>,
    pcr1: vector<u8>,
    pcr2: vector<u8>,
    version: u64,
}

/// A registered enclave instance and its signing key.
public struct Enclave has key {
    id: UID,
    config_id: ID,
    config_version: u64,
    pk: vector<u8>,
    owner: address,
    registered_at_ms: u64,
}

/// Creates and updates enclave configs.
public struct EnclaveCap has key, store {
    id: UID,
}

/// What the enclave signs: the BCS of this message.
public struct IntentMessage<T: drop> has copy, drop {
    intent: u8,
    timestamp_ms: u64,
    data: T,
}

// === Events ===

public struct EnclaveConfigCreated has copy, drop {
    config_id: ID,
    name: String,
    pcr0: vector<u8>,
    pcr1: vector<u8>,
    pcr2: vector<u8>,
    version: u64,
}

public struct EnclaveConfigUpdated has copy, drop {
    config_id: ID,
    name: String,
    pcr0: vector<u8>,
    pcr1: vector<u8>,
    pcr2: vector<u8>,
    version: u64,
}

public struct EnclaveRegistered has copy, drop {
    enclave_id: ID,
    config_id: ID,
    config_version: u64,
    pk: vector<u8>,
    owner: address,
    registered_at_ms: u64,
}

public struct EnclaveDestroyed has copy, drop {
    enclave_id: ID,
    config_id: ID,
}

// === Init ===

fun init(ctx: &mut TxContext) {
    transfer::public_transfer(EnclaveCap { id: object::new(ctx) }, ctx.sender());
}

// === Configs ===

/// Shares a new config at version 0.
entry fun create_config(
    _cap: &EnclaveCap,
    name: String,
    pcr0: vector<u8>,
    pcr1: vector<u8>,
    pcr2: vector<u8>,
    ctx: &mut TxContext,
) {
    assert_pcr_lengths(&pcr0, &pcr1, &pcr2);
    let config = EnclaveConfig { id: object::new(ctx), name, pcr0, pcr1, pcr2, version: 0 };
    event::emit(EnclaveConfigCreated {
        config_id: object::id(&config),
        name: config.name,
        pcr0: config.pcr0,
        pcr1: config.pcr1,
        pcr2: config.pcr2,
        version: 0,
    });
    transfer::share_object(config);
}

/// Replaces the expected PCRs and bumps the version, retiring every enclave
/// registered under the old one.
entry fun update_pcrs(
    config: &mut EnclaveConfig,
    _cap: &EnclaveCap,
    pcr0: vector<u8>,
    pcr1: vector<u8>,
    pcr2: vector<u8>,
) {
    assert_pcr_lengths(&pcr0, &pcr1, &pcr2);
    config.pcr0 = pcr0;
    config.pcr1 = pcr1;
    config.pcr2 = pcr2;
    config.version = config.version + 1;
    emit_updated(config);
}

/// Renames the config.
entry fun update_name(config: &mut EnclaveConfig, _cap: &EnclaveCap, name: String) {
    config.name = name;
    emit_updated(config);
}

// === Enclaves ===

/// Registers the enclave that produced `document`, which the previous
/// command of the transaction made with
/// `sui::nitro_attestation::load_nitro_attestation`.
public fun register_enclave(
    config: &EnclaveConfig,
    document: NitroAttestationDocument,
    ctx: &mut TxContext,
) {
    assert!(pcrs_match(config, &document), EPcrMismatch);
    assert!(document.public_key().is_some(), EMissingPublicKey);
    let pk = *document.public_key().borrow();
    assert!(pk.length() == ED25519_PK_LEN, EInvalidPublicKey);

    let enclave = Enclave {
        id: object::new(ctx),
        config_id: object::id(config),
        config_version: config.version,
        pk,
        owner: ctx.sender(),
        registered_at_ms: *document.timestamp(),
    };
    event::emit(EnclaveRegistered {
        enclave_id: object::id(&enclave),
        config_id: enclave.config_id,
        config_version: enclave.config_version,
        pk: enclave.pk,
        owner: enclave.owner,
        registered_at_ms: enclave.registered_at_ms,
    });
    transfer::share_object(enclave);
}

/// Deletes an enclave whose config has moved on.
entry fun destroy_old_enclave(enclave: Enclave, config: &EnclaveConfig) {
    assert!(enclave.config_id == object::id(config), EWrongConfig);
    assert!(enclave.config_version < config.version, ECurrentEnclave);
    let Enclave {
        id,
        config_id,
        config_version: _,
        pk: _,
        owner: _,
        registered_at_ms: _,
    } = enclave;
    event::emit(EnclaveDestroyed { enclave_id: id.to_inner(), config_id });
    id.delete();
}

/// Aborts unless `enclave` belongs to `config` and is current.
public fun assert_current(enclave: &Enclave, config: &EnclaveConfig) {
    assert!(enclave.config_id == object::id(config), EWrongConfig);
    assert!(enclave.config_version == config.version, EStaleEnclave);
}

/// Whether `signature` is the enclave key's Ed25519 signature over the BCS
/// of `IntentMessage { intent, timestamp_ms, data }`.
public fun verify_signature<T: drop>(
    enclave: &Enclave,
    intent: u8,
    timestamp_ms: u64,
    data: T,
    signature: &vector<u8>,
): bool {
    let message = IntentMessage { intent, timestamp_ms, data };
    ed25519::ed25519_verify(signature, &enclave.pk, &bcs::to_bytes(&message))
}

/// The enclave's Ed25519 public key.
public fun pk(enclave: &Enclave): &vector<u8> {
    &enclave.pk
}

/// The expected PCRs 0, 1 and 2.
public fun pcrs(config: &EnclaveConfig): (vector<u8>, vector<u8>, vector<u8>) {
    (config.pcr0, config.pcr1, config.pcr2)
}

// === Internal ===

fun assert_pcr_lengths(pcr0: &vector<u8>, pcr1: &vector<u8>, pcr2: &vector<u8>) {
    assert!(
        pcr0.length() == PCR_LEN && pcr1.length() == PCR_LEN && pcr2.length() == PCR_LEN,
        EInvalidPcrLength,
    );
}

/// Whether the document has PCRs 0, 1 and 2 and each equals the config's.
fun pcrs_match(config: &EnclaveConfig, document: &NitroAttestationDocument): bool {
    let entries = document.pcrs();
    let mut seen = vector[false, false, false];
    let mut i = 0;
    while (i < entries.length()) {
        let pcr = entries.borrow(i);
        let index = pcr.index();
        if (index <= 2) {
            let expected = if (index == 0) &config.pcr0
            else if (index == 1) &config.pcr1
            else &config.pcr2;
            if (pcr.value() != expected) return false;
            *seen.borrow_mut(index as u64) = true;
        };
        i = i + 1;
    };
    *seen.borrow(0) && *seen.borrow(1) && *seen.borrow(2)
}

fun emit_updated(config: &EnclaveConfig) {
    event::emit(EnclaveConfigUpdated {
        config_id: object::id(config),
        name: config.name,
        pcr0: config.pcr0,
        pcr1: config.pcr1,
        pcr2: config.pcr2,
        version: config.version,
    });
}

#[test_only]
public fun init_for_testing(ctx: &mut TxContext) {
    init(ctx);
}

#[test_only]
public fun new_enclave_for_testing(
    config: &EnclaveConfig,
    pk: vector<u8>,
    ctx: &mut TxContext,
): Enclave {
    Enclave {
        id: object::new(ctx),
        config_id: object::id(config),
        config_version: config.version,
        pk,
        owner: ctx.sender(),
        registered_at_ms: 0,
    }
}

#[test_only]
public fun new_config_for_testing(ctx: &mut TxContext): EnclaveConfig {
    EnclaveConfig {
        id: object::new(ctx),
        name: b"test".to_string(),
        pcr0: vector[],
        pcr1: vector[],
        pcr2: vector[],
        version: 0,
    }
}

#[test_only]
public fun share_for_testing(config: EnclaveConfig, enclave: Enclave) {
    transfer::share_object(config);
    transfer::share_object(enclave);
}

#[test]
fun test_intent_message_serde() {
    // Same vector as `golden_intent_message_u64` in
    // core/src/package/enclave.rs.
    let message = IntentMessage { intent: 0, timestamp_ms: 1744038900000, data: 13u64 };
    assert!(bcs::to_bytes(&message) == x"0020b1d110960100000d00000000000000", 0);
}
