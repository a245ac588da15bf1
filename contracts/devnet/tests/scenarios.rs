//! The devnet side of the abort and event scenarios of `contracts/README.md`
//! that the other devnet tests do not cover: each test runs, over gRPC, the
//! scenario of the Move unit test with the same `// scenario:` marker
//! (`contracts/move/tests/`) and expects the same abort code or event.
//! `scenarios_parity.rs` checks that every row has both.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{
    Account, DevAuthority, Executed, Net, abort_code, events, function, inputs, key, pcr, start,
    start_net,
};
use daas_core::package::staking::{ROLE_USER, ROLE_WORKER, StakingAbort};
use daas_core::package::{ADMIN_CAP_ID, ENCLAVE_CAP_ID, Mist, PackageEvent, SLASHER_CAP_ID};
use sui_crypto::ed25519::Ed25519PrivateKey;
use sui_sdk_types::{Address, IdOperation, Identifier, Object, Owner};
use sui_transaction_builder::{Function, ObjectInput, TransactionBuilder};

const SUI: u64 = 1_000_000_000;
const EVIDENCE: [u8; 32] = [0xee; 32];

/// The `(module, code)` of a staking abort.
fn staking(abort: StakingAbort) -> (String, u64) {
    ("staking".to_owned(), abort.code())
}

/// A shared object as a transaction input at its initial version.
fn shared(object: &Object, mutable: bool) -> ObjectInput {
    let Owner::Shared(initial) = object.owner() else {
        panic!("not shared")
    };
    ObjectInput::shared(object.object_id(), *initial, mutable)
}

fn stake_and_mint(tx: &mut TransactionBuilder, amount: u64, role: u8, node_id: &[u8]) {
    let amount = tx.pure(&amount);
    let gas = tx.gas();
    let payment = tx.split_coins(gas, vec![amount]);
    let mut args = vec![tx.object(inputs::pool(true))];
    args.extend(payment);
    args.extend([
        tx.pure(&role),
        tx.pure(&node_id.to_vec()),
        tx.object(inputs::clock()),
    ]);
    tx.move_call(function("staking", "stake_and_mint"), args);
}

/// Stakes `amount` for a user token of `who` and returns the token's id.
async fn user_token(net: &mut Net, who: &Account, amount: u64) -> Address {
    let executed = net
        .call(who, |tx| stake_and_mint(tx, amount, ROLE_USER, b""))
        .await
        .unwrap();
    executed.assert_success();
    let emitted = events(&executed);
    let [PackageEvent::StakeCreated(created)] = emitted.as_slice() else {
        panic!("expected StakeCreated, got {emitted:?}");
    };
    created.token_id.address()
}

/// Calls `staking::<name>(pool, token, clock)` with the token's current
/// version.
async fn token_call(net: &mut Net, who: &Account, name: &'static str, token: Address) -> Executed {
    let token = net.object(token).await;
    net.call(who, |tx| {
        let args = vec![
            tx.object(inputs::pool(true)),
            tx.object(ObjectInput::from(&token)),
            tx.object(inputs::clock()),
        ];
        tx.move_call(function("staking", name), args);
    })
    .await
    .unwrap()
}

async fn propose(
    net: &mut Net,
    who: &Account,
    token: Address,
    evidence: &[u8],
    reason: &[u8],
) -> Executed {
    net.call(who, |tx| {
        let args = vec![
            tx.object(inputs::pool(true)),
            tx.pure(&token),
            tx.pure(&evidence.to_vec()),
            tx.pure(&reason.to_vec()),
            tx.object(inputs::clock()),
        ];
        tx.move_call(function("staking", "propose_slash"), args);
    })
    .await
    .unwrap()
}

/// Calls `staking::<name>(pool, cap, <pure arguments>)` with the cap `cap`.
async fn cap_call<T: serde::Serialize>(
    net: &mut Net,
    who: &Account,
    name: &'static str,
    cap: Address,
    pure: &[T],
) -> Executed {
    let cap = net.object(cap).await;
    net.call(who, |tx| {
        let mut args = vec![
            tx.object(inputs::pool(true)),
            tx.object(ObjectInput::from(&cap)),
        ];
        args.extend(pure.iter().map(|p| tx.pure(p)));
        tx.move_call(function("staking", name), args);
    })
    .await
    .unwrap()
}

/// `set_params` with the defaults except `developer` and `admin`.
async fn set_params(net: &mut Net, admin: &Account, developer: u64, tier_admin: u64) -> Executed {
    let params = [
        SUI / 2,
        5 * SUI,
        SUI / 2,
        developer,
        tier_admin,
        10 * SUI,
        1_000,
        604_800_000,
        2_592_000_000,
    ];
    cap_call(net, admin, "set_params", ADMIN_CAP_ID, &params).await
}

fn one_event(executed: &Executed) -> PackageEvent {
    executed.assert_success();
    let mut emitted = events(executed);
    assert_eq!(emitted.len(), 1, "{emitted:?}");
    emitted.remove(0)
}

// scenario: staking::ENodeIdTooLong
// scenario: staking::EUnknownToken
// scenario: staking::EZeroAmount
// scenario: staking::EInsufficientTreasury
// scenario: staking::EInvalidParams
// scenario: staking::EEvidenceHashLength
// scenario: staking::EReasonTooLong
// scenario: staking::ENotUnbonding
#[tokio::test]
async fn staking_argument_aborts_match_the_move_scenarios() {
    let mut net = start().await;
    let admin = net.account(daas_devnet::faucet::faucet_key()).await;
    let alice = net.account(key(1)).await;
    let reporter = net.account(key(2)).await;

    let long_node_id = vec![b'a'; 254];
    let executed = net
        .call(&alice, |tx| {
            stake_and_mint(tx, 6 * SUI, ROLE_WORKER, &long_node_id)
        })
        .await
        .unwrap();
    assert_eq!(abort_code(&executed), staking(StakingAbort::NodeIdTooLong));

    let nobody = Address::from_static("0x5ea1");
    let executed = propose(&mut net, &reporter, nobody, &EVIDENCE, b"no such token").await;
    assert_eq!(abort_code(&executed), staking(StakingAbort::UnknownToken));

    let executed = cap_call(&mut net, &admin, "withdraw_treasury", ADMIN_CAP_ID, &[0u64]).await;
    assert_eq!(abort_code(&executed), staking(StakingAbort::ZeroAmount));
    let executed = cap_call(&mut net, &admin, "withdraw_treasury", ADMIN_CAP_ID, &[1u64]).await;
    assert_eq!(
        abort_code(&executed),
        staking(StakingAbort::InsufficientTreasury)
    );

    // The developer threshold above the admin threshold.
    let executed = set_params(&mut net, &admin, 6 * SUI, 5 * SUI).await;
    assert_eq!(abort_code(&executed), staking(StakingAbort::InvalidParams));

    let token = user_token(&mut net, &alice, SUI).await;
    let executed = propose(&mut net, &reporter, token, &[0xee; 31], b"short hash").await;
    assert_eq!(
        abort_code(&executed),
        staking(StakingAbort::EvidenceHashLength)
    );
    let executed = propose(&mut net, &reporter, token, &EVIDENCE, &[b'r'; 1025]).await;
    assert_eq!(abort_code(&executed), staking(StakingAbort::ReasonTooLong));

    let executed = token_call(&mut net, &alice, "withdraw", token).await;
    assert_eq!(abort_code(&executed), staking(StakingAbort::NotUnbonding));
}

// scenario: staking::StakeAdded
// scenario: staking::TokenRefreshed
// scenario: staking::SlashRejected
// scenario: staking::EUnbonding
// scenario: staking::ETokenInactive
#[tokio::test]
async fn token_lifecycle_events_and_aborts_match_the_move_scenarios() {
    let mut net = start().await;
    let admin = net.account(daas_devnet::faucet::faucet_key()).await;
    let alice = net.account(key(1)).await;
    let reporter = net.account(key(2)).await;
    let token = user_token(&mut net, &alice, SUI).await;

    let token_object = net.object(token).await;
    let executed = net
        .call(&alice, |tx| {
            let amount = tx.pure(&SUI);
            let gas = tx.gas();
            let payment = tx.split_coins(gas, vec![amount]);
            let mut args = vec![
                tx.object(inputs::pool(true)),
                tx.object(ObjectInput::from(&token_object)),
            ];
            args.extend(payment);
            tx.move_call(function("staking", "add_stake"), args);
        })
        .await
        .unwrap();
    let PackageEvent::StakeAdded(added) = one_event(&executed) else {
        panic!("expected StakeAdded");
    };
    assert_eq!(
        (added.added, added.stake),
        (Mist::new(SUI), Mist::new(2 * SUI))
    );

    let executed = token_call(&mut net, &alice, "refresh", token).await;
    let PackageEvent::TokenRefreshed(refreshed) = one_event(&executed) else {
        panic!("expected TokenRefreshed");
    };
    assert_eq!(refreshed.token_id.address(), token);

    let executed = propose(&mut net, &reporter, token, &EVIDENCE, b"evicted pods").await;
    executed.assert_success();
    let executed = cap_call(&mut net, &admin, "reject_slash", SLASHER_CAP_ID, &[0u64]).await;
    let PackageEvent::SlashRejected(rejected) = one_event(&executed) else {
        panic!("expected SlashRejected");
    };
    assert_eq!(
        (rejected.proposal_id, rejected.rejecter),
        (0, admin.address)
    );

    let executed = token_call(&mut net, &alice, "request_unstake", token).await;
    executed.assert_success();
    let executed = token_call(&mut net, &alice, "request_unstake", token).await;
    assert_eq!(abort_code(&executed), staking(StakingAbort::Unbonding));

    // An unbonding token cannot submit a gateway request.
    let token_object = net.object(token).await;
    let executed = net
        .call(&alice, |tx| submit(tx, &token_object, "/api", b"", b""))
        .await
        .unwrap();
    assert_eq!(abort_code(&executed), staking(StakingAbort::TokenInactive));
}

// scenario: staking::ParamsUpdated
// scenario: staking::SlasherGranted
// scenario: staking::TreasuryWithdrawn
// scenario: staking::PauseChanged
// scenario: staking::EPaused
#[tokio::test]
async fn admin_events_and_pause_match_the_move_scenarios() {
    let mut net = start().await;
    let admin = net.account(daas_devnet::faucet::faucet_key()).await;
    let alice = net.account(key(1)).await;
    let reporter = net.account(key(2)).await;

    let executed = set_params(&mut net, &admin, 2 * SUI, 5 * SUI).await;
    assert!(matches!(
        one_event(&executed),
        PackageEvent::ParamsUpdated(_)
    ));

    let executed = cap_call(
        &mut net,
        &admin,
        "grant_slasher",
        ADMIN_CAP_ID,
        &[reporter.address],
    )
    .await;
    let PackageEvent::SlasherGranted(granted) = one_event(&executed) else {
        panic!("expected SlasherGranted");
    };
    assert_eq!(granted.recipient, reporter.address);
    let created = executed
        .v2()
        .changed_objects
        .iter()
        .find(|c| c.id_operation == IdOperation::Created)
        .unwrap();
    assert_eq!(created.object_id, granted.cap_id);

    // A slash fills the treasury, which the admin withdraws.
    let token = user_token(&mut net, &alice, 5 * SUI).await;
    propose(&mut net, &reporter, token, &EVIDENCE, b"evicted pods")
        .await
        .assert_success();
    cap_call(&mut net, &admin, "approve_slash", SLASHER_CAP_ID, &[0u64])
        .await
        .assert_success();
    let executed = cap_call(
        &mut net,
        &admin,
        "withdraw_treasury",
        ADMIN_CAP_ID,
        &[SUI / 2],
    )
    .await;
    let PackageEvent::TreasuryWithdrawn(withdrawn) = one_event(&executed) else {
        panic!("expected TreasuryWithdrawn");
    };
    assert_eq!(
        (withdrawn.amount, withdrawn.recipient),
        (Mist::new(SUI / 2), admin.address)
    );

    let executed = cap_call(&mut net, &admin, "set_paused", ADMIN_CAP_ID, &[true]).await;
    let PackageEvent::PauseChanged(changed) = one_event(&executed) else {
        panic!("expected PauseChanged");
    };
    assert!(changed.paused);
    let executed = net
        .call(&alice, |tx| stake_and_mint(tx, SUI, ROLE_USER, b""))
        .await
        .unwrap();
    assert_eq!(abort_code(&executed), staking(StakingAbort::Paused));
}

/// `gateway::submit_k8s_request` with GET and namespace `namespace`.
fn submit(
    tx: &mut TransactionBuilder,
    token: &Object,
    path: &str,
    namespace: &[u8],
    payload: &[u8],
) {
    let args = vec![
        tx.object(inputs::pool(false)),
        tx.object(ObjectInput::from(token)),
        tx.pure(&b"GET".to_vec()),
        tx.pure(&path.as_bytes().to_vec()),
        tx.pure(&namespace.to_vec()),
        tx.pure(&b"pods".to_vec()),
        tx.pure(&payload.to_vec()),
        tx.object(inputs::clock()),
    ];
    tx.move_call(function("gateway", "submit_k8s_request"), args);
}

/// `enclave::create_config` with PCRs `pcrs`.
fn create_config(tx: &mut TransactionBuilder, cap: &Object, pcrs: [&[u8]; 3]) {
    let args = vec![
        tx.object(ObjectInput::from(cap)),
        tx.pure(&b"k3s-daas master".to_vec()),
        tx.pure(&pcrs[0].to_vec()),
        tx.pure(&pcrs[1].to_vec()),
        tx.pure(&pcrs[2].to_vec()),
    ];
    tx.move_call(function("enclave", "create_config"), args);
}

/// A new config of PCRs 1, 2, 3.
/// Creates the audit log of `enclave`, signed by its `key`.
async fn audit_log(
    net: &mut Net,
    who: &Account,
    enclave: &Object,
    config: &Object,
    key: &Ed25519PrivateKey,
) -> Address {
    use daas_core::package::audit::AuditLogPayload;
    use daas_core::package::enclave::{IntentMessage, IntentScope};
    use sui_crypto::Signer;
    let request = IntentMessage::new(
        IntentScope::AuditLog,
        1,
        AuditLogPayload {
            enclave_id: enclave.object_id(),
        },
    );
    let signature: sui_sdk_types::Ed25519Signature =
        key.try_sign(&request.signing_bytes().unwrap()).unwrap();
    let executed = net
        .call(who, |tx| {
            let args = vec![
                tx.object(shared(enclave, false)),
                tx.object(shared(config, false)),
                tx.pure(&1u64),
                tx.pure(&signature.as_bytes().to_vec()),
                tx.object(inputs::clock()),
            ];
            tx.move_call(function("audit", "create_log"), args);
        })
        .await
        .unwrap();
    let PackageEvent::AuditLogCreated(created) = one_event(&executed) else {
        panic!("expected AuditLogCreated");
    };
    created.log_id
}

async fn new_config(net: &mut Net, admin: &Account) -> Object {
    let cap = net.object(ENCLAVE_CAP_ID).await;
    let executed = net
        .call(admin, |tx| {
            create_config(tx, &cap, [&pcr(1), &pcr(2), &pcr(3)])
        })
        .await
        .unwrap();
    let PackageEvent::EnclaveConfigCreated(created) = one_event(&executed) else {
        panic!("expected EnclaveConfigCreated");
    };
    net.object(created.config_id).await
}

/// Registers `key` under `config` with a dev document of PCRs 1, 2, 3.
async fn register(
    net: &mut Net,
    who: &Account,
    authority: &DevAuthority,
    config: &Object,
    key: &Ed25519PrivateKey,
) -> Object {
    let document = authority.document(
        [&pcr(1), &pcr(2), &pcr(3)],
        Some(key.public_key().as_bytes()),
    );
    let executed = net
        .call(who, |tx| {
            let document = tx.pure(&document);
            let clock = tx.object(inputs::clock());
            let loaded = tx.move_call(
                Function::new(
                    Address::TWO,
                    Identifier::from_static("nitro_attestation"),
                    Identifier::from_static("load_nitro_attestation"),
                ),
                vec![document, clock],
            );
            let config = tx.object(shared(config, false));
            tx.move_call(
                function("enclave", "register_enclave"),
                vec![config, loaded],
            );
        })
        .await
        .unwrap();
    let PackageEvent::EnclaveRegistered(registered) = one_event(&executed) else {
        panic!("expected EnclaveRegistered");
    };
    net.object(registered.enclave_id).await
}

/// `enclave::destroy_old_enclave(enclave, config)`.
async fn destroy(net: &mut Net, who: &Account, enclave: &Object, config: &Object) -> Executed {
    net.call(who, |tx| {
        let args = vec![
            tx.object(shared(enclave, true)),
            tx.object(shared(config, false)),
        ];
        tx.move_call(function("enclave", "destroy_old_enclave"), args);
    })
    .await
    .unwrap()
}

// scenario: gateway::EPathInvalid
// scenario: gateway::EFieldTooLong
// scenario: gateway::EPayloadTooLarge
// scenario: gateway::EResultHashLength
// scenario: audit::ERootLength
#[tokio::test]
async fn gateway_and_audit_aborts_match_the_move_scenarios() {
    let authority = DevAuthority::new("scenarios");
    let mut net = start_net(Some(authority.root.clone()), false).await;
    let admin = net.account(daas_devnet::faucet::faucet_key()).await;
    let alice = net.account(key(1)).await;
    let config = new_config(&mut net, &admin).await;
    let enclave_key = Ed25519PrivateKey::new([77; 32]);
    let enclave = register(&mut net, &alice, &authority, &config, &enclave_key).await;
    let token = user_token(&mut net, &alice, SUI).await;

    let cases: [(&str, Vec<u8>, Vec<u8>, u64); 3] = [
        ("api", b"default".to_vec(), b"{}".to_vec(), 102),
        ("/api", vec![b'n'; 254], b"{}".to_vec(), 103),
        ("/api", b"default".to_vec(), vec![b' '; 8193], 104),
    ];
    for (path, namespace, payload, code) in cases {
        let token_object = net.object(token).await;
        let executed = net
            .call(&alice, |tx| {
                submit(tx, &token_object, path, &namespace, &payload)
            })
            .await
            .unwrap();
        assert_eq!(abort_code(&executed), ("gateway".to_owned(), code));
    }

    let token_object = net.object(token).await;
    let executed = net
        .call(&alice, |tx| {
            submit(tx, &token_object, "/api", b"default", b"{}")
        })
        .await
        .unwrap();
    let PackageEvent::K8sRequestSubmitted(submitted) = one_event(&executed) else {
        panic!("expected K8sRequestSubmitted");
    };
    let request = net.object(submitted.request_id).await;
    let executed = net
        .call(&alice, |tx| {
            let args = vec![
                tx.object(shared(&request, true)),
                tx.object(shared(&enclave, false)),
                tx.object(shared(&config, false)),
                tx.pure(&200u16),
                tx.pure(&vec![9u8]),
                tx.pure(&1_744_038_900_000u64),
                tx.pure(&vec![0u8; 64]),
                tx.object(inputs::clock()),
            ];
            tx.move_call(function("gateway", "record_k8s_result"), args);
        })
        .await
        .unwrap();
    assert_eq!(abort_code(&executed), ("gateway".to_owned(), 106));

    let log_id = audit_log(&mut net, &alice, &enclave, &config, &enclave_key).await;
    let log = net.object(log_id).await;
    let executed = net
        .call(&alice, |tx| {
            let args = vec![
                tx.object(shared(&log, true)),
                tx.object(shared(&enclave, false)),
                tx.object(shared(&config, false)),
                tx.pure(&10u64),
                tx.pure(&vec![0x77u8]),
                tx.pure(&1_744_038_900_000u64),
                tx.pure(&vec![0u8; 64]),
                tx.object(inputs::clock()),
            ];
            tx.move_call(function("audit", "anchor_checkpoint"), args);
        })
        .await
        .unwrap();
    assert_eq!(abort_code(&executed), ("audit".to_owned(), 202));
}

// scenario: enclave::EInvalidPcrLength
// scenario: enclave::EWrongConfig
// scenario: enclave::ECurrentEnclave
// scenario: enclave::EnclaveConfigUpdated
// scenario: enclave::EnclaveDestroyed
#[tokio::test]
async fn enclave_lifecycle_matches_the_move_scenarios() {
    let authority = DevAuthority::new("lifecycle");
    let mut net = start_net(Some(authority.root.clone()), false).await;
    let admin = net.account(daas_devnet::faucet::faucet_key()).await;
    let alice = net.account(key(1)).await;

    let cap = net.object(ENCLAVE_CAP_ID).await;
    let executed = net
        .call(&admin, |tx| create_config(tx, &cap, [&[1], &[2], &[3]]))
        .await
        .unwrap();
    assert_eq!(abort_code(&executed), ("enclave".to_owned(), 307));

    let config = new_config(&mut net, &admin).await;
    let other = new_config(&mut net, &admin).await;
    let enclave_key = Ed25519PrivateKey::new([77; 32]);
    let enclave = register(&mut net, &alice, &authority, &config, &enclave_key).await;

    let executed = destroy(&mut net, &alice, &enclave, &other).await;
    assert_eq!(abort_code(&executed), ("enclave".to_owned(), 305));
    let executed = destroy(&mut net, &alice, &enclave, &config).await;
    assert_eq!(abort_code(&executed), ("enclave".to_owned(), 306));

    let cap = net.object(ENCLAVE_CAP_ID).await;
    let executed = net
        .call(&admin, |tx| {
            let config = tx.object(shared(&config, true));
            let cap = tx.object(ObjectInput::from(&cap));
            let pcrs = vec![
                config,
                cap,
                tx.pure(&pcr(3)),
                tx.pure(&pcr(4)),
                tx.pure(&pcr(5)),
            ];
            tx.move_call(function("enclave", "update_pcrs"), pcrs);
            let name = vec![config, cap, tx.pure(&b"k3s-daas master v2".to_vec())];
            tx.move_call(function("enclave", "update_name"), name);
        })
        .await
        .unwrap();
    executed.assert_success();
    let emitted = events(&executed);
    let [
        PackageEvent::EnclaveConfigUpdated(pcrs),
        PackageEvent::EnclaveConfigUpdated(name),
    ] = emitted.as_slice()
    else {
        panic!("expected two EnclaveConfigUpdated, got {emitted:?}");
    };
    assert_eq!((pcrs.version, pcrs.pcr2.clone()), (1, pcr(5)));
    assert_eq!(
        (name.version, name.name.as_str()),
        (1, "k3s-daas master v2")
    );

    let executed = destroy(&mut net, &alice, &enclave, &config).await;
    let PackageEvent::EnclaveDestroyed(destroyed) = one_event(&executed) else {
        panic!("expected EnclaveDestroyed");
    };
    assert_eq!(
        (destroyed.enclave_id, destroyed.config_id),
        (enclave.object_id(), config.object_id())
    );
}
