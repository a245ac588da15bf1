//! The stake-and-mint and create-audit-log transactions built by
//! `daas_core::chain` must be the very bytes (and digest) that the official
//! TypeScript SDK builds for the same inputs: `tests/js/tx_stake_and_mint.mjs`
//! and `tests/js/tx_create_audit_log.mjs` with `@mysten/sui`.
//!
//! Needs `node` and `tests/js/node_modules` (run `deploy/dev/setup.sh`);
//! without them the tests fail, they do not skip.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use base64::Engine;
use daas_core::chain::ptb;
use daas_core::package::{PACKAGE_ID, STAKE_POOL_ID};
use sui_sdk_types::{Address, Digest};
use sui_transaction_builder::{ObjectInput, TransactionBuilder};

struct Case {
    sender: Address,
    gas: Vec<(Address, u64, Digest)>,
    price: u64,
    budget: u64,
    package: Address,
    pool: Address,
    pool_version: u64,
    amount: u64,
    role: u8,
    node_id: &'static [u8],
}

/// Runs the TypeScript builder.
fn typescript_build(case: &Case) -> (Vec<u8>, String) {
    let input = serde_json::json!({
        "sender": case.sender.to_string(),
        "gasPrice": case.price.to_string(),
        "gasBudget": case.budget.to_string(),
        "gasPayment": case.gas.iter().map(|(id, version, digest)| serde_json::json!({
            "objectId": id.to_string(),
            "version": version.to_string(),
            "digest": digest.to_string(),
        })).collect::<Vec<_>>(),
        "package": case.package.to_string(),
        "pool": { "objectId": case.pool.to_string(), "initialSharedVersion": case.pool_version.to_string() },
        "amount": case.amount.to_string(),
        "role": case.role,
        "nodeIdHex": hex::encode(case.node_id),
    });
    let answer = support::node::run_script("tx_stake_and_mint.mjs", &input);
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(answer["bytes"].as_str().unwrap())
        .unwrap();
    (bytes, answer["digest"].as_str().unwrap().to_owned())
}

fn rust_build(case: &Case) -> (Vec<u8>, String) {
    let mut tx = TransactionBuilder::new();
    tx.set_sender(case.sender);
    tx.set_gas_price(case.price);
    tx.set_gas_budget(case.budget);
    tx.add_gas_objects(
        case.gas
            .iter()
            .map(|(id, version, digest)| ObjectInput::owned(*id, *version, *digest)),
    );
    ptb::stake_and_mint(
        &mut tx,
        case.package,
        ObjectInput::shared(case.pool, case.pool_version, true),
        case.amount,
        case.role,
        case.node_id,
    );
    let transaction = tx.try_build().unwrap();
    (
        bcs::to_bytes(&transaction).unwrap(),
        transaction.digest().to_string(),
    )
}

fn assert_same(case: &Case) {
    let (rust_bytes, rust_digest) = rust_build(case);
    let (ts_bytes, ts_digest) = typescript_build(case);
    assert_eq!(
        hex::encode(&rust_bytes),
        hex::encode(&ts_bytes),
        "transaction bytes differ between daas_core::chain and @mysten/sui"
    );
    assert_eq!(rust_digest, ts_digest, "transaction digests differ");
}

fn digest(byte: u8) -> Digest {
    Digest::new([byte; 32])
}

#[test]
fn typescript_sdk_builds_the_same_worker_stake_and_mint() {
    assert_same(&Case {
        sender: Address::new([0x11; 32]),
        gas: vec![(Address::new([0x22; 32]), 7, digest(0x33))],
        price: 1_000,
        budget: 10_000_000,
        package: PACKAGE_ID,
        pool: STAKE_POOL_ID,
        pool_version: 1,
        amount: 5_000_000_000,
        role: 0,
        node_id: b"worker-1",
    });
}

#[test]
fn typescript_sdk_builds_the_same_user_stake_and_mint() {
    assert_same(&Case {
        sender: Address::new([0xab; 32]),
        gas: vec![(Address::new([0x01; 32]), 1, digest(0x02))],
        price: 750,
        budget: 2_345_678,
        package: PACKAGE_ID,
        pool: STAKE_POOL_ID,
        pool_version: 3,
        amount: 500_000_000,
        role: 1,
        node_id: b"",
    });
}

#[test]
fn typescript_sdk_builds_the_same_with_merged_gas_coins_and_published_package() {
    assert_same(&Case {
        sender: Address::new([0x5e; 32]),
        gas: vec![
            (Address::new([0xc1; 32]), 42, digest(0xd1)),
            (Address::new([0xc2; 32]), 43, digest(0xd2)),
            (Address::new([0xc3; 32]), 44, digest(0xd3)),
        ],
        price: 1_000,
        budget: 50_000_000,
        package: Address::new([0x7f; 32]),
        pool: Address::new([0x70; 32]),
        pool_version: 123_456,
        amount: 12_000_000_000,
        role: 0,
        node_id: b"ip-10-0-3-17.eu-west-1.compute.internal",
    });
}

/// `audit::create_log(enclave, config, timestamp_ms, signature, clock)`
/// with two shared objects of different initial versions and a 64-byte
/// signature.
#[test]
fn typescript_sdk_builds_the_same_create_audit_log() {
    let sender = Address::new([0x6a; 32]);
    let gas = (Address::new([0x6b; 32]), 9, digest(0x6c));
    let enclave = (Address::new([0xe0; 32]), 17);
    let config = (Address::new([0xc0; 32]), 5);
    let signature = [0x5a; 64];
    let timestamp_ms = 1_744_038_900_000u64;
    let input = serde_json::json!({
        "sender": sender.to_string(),
        "gasPrice": "1000",
        "gasBudget": "20000000",
        "gasPayment": [{
            "objectId": gas.0.to_string(),
            "version": gas.1.to_string(),
            "digest": gas.2.to_string(),
        }],
        "package": PACKAGE_ID.to_string(),
        "enclave": { "objectId": enclave.0.to_string(), "initialSharedVersion": enclave.1.to_string() },
        "config": { "objectId": config.0.to_string(), "initialSharedVersion": config.1.to_string() },
        "timestampMs": timestamp_ms.to_string(),
        "signatureHex": hex::encode(signature),
    });
    let answer = support::node::run_script("tx_create_audit_log.mjs", &input);
    let ts_bytes = base64::engine::general_purpose::STANDARD
        .decode(answer["bytes"].as_str().unwrap())
        .unwrap();

    let mut tx = TransactionBuilder::new();
    tx.set_sender(sender);
    tx.set_gas_price(1_000);
    tx.set_gas_budget(20_000_000);
    tx.add_gas_objects([ObjectInput::owned(gas.0, gas.1, gas.2)]);
    ptb::create_audit_log(
        &mut tx,
        PACKAGE_ID,
        ObjectInput::shared(enclave.0, enclave.1, false),
        ObjectInput::shared(config.0, config.1, false),
        &ptb::AuditLogArgs {
            timestamp_ms,
            signature: &signature,
        },
    );
    let transaction = tx.try_build().unwrap();
    assert_eq!(
        hex::encode(bcs::to_bytes(&transaction).unwrap()),
        hex::encode(&ts_bytes),
        "create_log bytes differ between daas_core::chain and @mysten/sui"
    );
    assert_eq!(
        transaction.digest().to_string(),
        answer["digest"].as_str().unwrap()
    );
}
