//! Enclave configs, registration through
//! `0x2::nitro_attestation::load_nitro_attestation` with dev-root documents,
//! and the enclave-signed gateway results and audit batches
//! (`contracts/README.md`, gateway, audit and enclave rows).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{
    Account, DevAuthority, Executed, Net, abort_code, events, function, inputs, key, pcr, start,
    start_net,
};
use daas_core::package::audit::{AuditCheckpointPayload, AuditLog, AuditLogPayload};
use daas_core::package::enclave::{IntentMessage, IntentScope};
use daas_core::package::gateway::K8sResultPayload;
use daas_core::package::staking::ROLE_USER;
use daas_core::package::{ENCLAVE_CAP_ID, PackageEvent};
use serde::Serialize;
use sui_crypto::Signer;
use sui_crypto::ed25519::Ed25519PrivateKey;
use sui_sdk_types::{
    Address, CommandArgumentError, Ed25519Signature, ExecutionError, ExecutionStatus, Identifier,
    Object, Owner,
};
use sui_transaction_builder::{Function, ObjectInput, TransactionBuilder};

const SUI: u64 = 1_000_000_000;

fn shared(object: &Object, mutable: bool) -> ObjectInput {
    let Owner::Shared(initial) = object.owner() else {
        panic!("not shared")
    };
    ObjectInput::shared(object.object_id(), *initial, mutable)
}

fn sign<T: Serialize>(key: &Ed25519PrivateKey, message: &IntentMessage<T>) -> Vec<u8> {
    let signature: Ed25519Signature = key.try_sign(&message.signing_bytes().unwrap()).unwrap();
    signature.as_bytes().to_vec()
}

fn register_with(
    config: &Object,
    document: Vec<u8>,
) -> impl FnOnce(&mut TransactionBuilder) + use<> {
    let config = config.clone();
    move |tx: &mut TransactionBuilder| {
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
        let config = tx.object(shared(&config, false));
        tx.move_call(
            function("enclave", "register_enclave"),
            vec![config, loaded],
        );
    }
}

/// Registers `key` under `config` with a dev document of the config's PCRs.
async fn register(
    net: &mut Net,
    who: &Account,
    authority: &DevAuthority,
    config: Address,
    key: &Ed25519PrivateKey,
) -> Address {
    let config = net.object(config).await;
    let document = authority.document(
        [&pcr(1), &pcr(2), &pcr(3)],
        Some(key.public_key().as_bytes()),
    );
    let executed = net
        .call(who, register_with(&config, document))
        .await
        .unwrap();
    executed.assert_success();
    let emitted = events(&executed);
    let [PackageEvent::EnclaveRegistered(registered)] = emitted.as_slice() else {
        panic!("expected EnclaveRegistered, got {emitted:?}");
    };
    assert_eq!(registered.pk, key.public_key().as_bytes().to_vec());
    assert_eq!(registered.owner, who.address);
    registered.enclave_id
}

/// Calls `audit::create_log` for `enclave` with a request signed by `key`.
async fn create_log(
    net: &mut Net,
    who: &Account,
    enclave: &Object,
    config: &Object,
    key: &Ed25519PrivateKey,
) -> Executed {
    let request = IntentMessage::new(
        IntentScope::AuditLog,
        1_700_000_000_000,
        AuditLogPayload {
            enclave_id: enclave.object_id(),
        },
    );
    let signature = sign(key, &request);
    net.call(who, |tx| {
        let args = vec![
            tx.object(shared(enclave, false)),
            tx.object(shared(config, false)),
            tx.pure(&1_700_000_000_000u64),
            tx.pure(&signature),
            tx.object(inputs::clock()),
        ];
        tx.move_call(function("audit", "create_log"), args);
    })
    .await
    .unwrap()
}

/// The log a successful `create_log` made.
fn created_log(executed: &Executed) -> Address {
    executed.assert_success();
    let emitted = events(executed);
    let [PackageEvent::AuditLogCreated(created)] = emitted.as_slice() else {
        panic!("expected AuditLogCreated, got {emitted:?}");
    };
    created.log_id
}

async fn create_config(net: &mut Net, admin: &Account) -> Address {
    let cap = net.object(ENCLAVE_CAP_ID).await;
    let executed = net
        .call(admin, |tx| {
            let args = vec![
                tx.object(ObjectInput::from(&cap)),
                tx.pure(&b"k3s-daas master".to_vec()),
                tx.pure(&pcr(1)),
                tx.pure(&pcr(2)),
                tx.pure(&pcr(3)),
            ];
            tx.move_call(function("enclave", "create_config"), args);
        })
        .await
        .unwrap();
    executed.assert_success();
    let emitted = events(&executed);
    let [PackageEvent::EnclaveConfigCreated(created)] = emitted.as_slice() else {
        panic!("expected EnclaveConfigCreated");
    };
    created.config_id
}

fn stake(tx: &mut TransactionBuilder) {
    let amount = tx.pure(&SUI);
    let gas = tx.gas();
    let payment = tx.split_coins(gas, vec![amount]);
    let mut args = vec![tx.object(inputs::pool(true))];
    args.extend(payment);
    args.extend([
        tx.pure(&ROLE_USER),
        tx.pure(&Vec::<u8>::new()),
        tx.object(inputs::clock()),
    ]);
    tx.move_call(function("staking", "stake_and_mint"), args);
}

// scenario: enclave::EnclaveConfigCreated
// scenario: gateway::EInvalidSignature
// scenario: gateway::K8sResultRecorded
// scenario: gateway::EAlreadyRecorded
// scenario: audit::CheckpointAnchored
// scenario: audit::ETreeNotGrown
// scenario: audit::EInvalidSignature
// scenario: enclave::EStaleEnclave
#[tokio::test]
async fn enclave_signed_results_and_audit_checkpoints() {
    let authority = DevAuthority::new("results");
    let mut net = start_net(Some(authority.root.clone()), false).await;
    let admin = net.account(daas_devnet::faucet::faucet_key()).await;
    let alice = net.account(key(1)).await;
    let enclave_key = Ed25519PrivateKey::new([77; 32]);

    let config_id = create_config(&mut net, &admin).await;
    let config = net.object(config_id).await;
    assert!(matches!(config.owner(), Owner::Shared(_)));

    // A user cannot register without an attestation document.
    let executed = net
        .call(&alice, |tx| {
            let args = vec![
                tx.object(shared(&config, false)),
                tx.pure(&enclave_key.public_key().as_bytes().to_vec()),
            ];
            tx.move_call(function("enclave", "register_enclave"), args);
        })
        .await
        .unwrap();
    assert!(matches!(
        executed.effects.status(),
        ExecutionStatus::Failure {
            error: ExecutionError::CommandArgumentError {
                argument: 1,
                kind: CommandArgumentError::TypeMismatch
            },
            ..
        }
    ));

    let enclave_id = register(&mut net, &alice, &authority, config_id, &enclave_key).await;
    let enclave = net.object(enclave_id).await;

    // Alice submits a request; the enclave's result is recorded.
    let executed = net.call(&alice, stake).await.unwrap();
    executed.assert_success();
    let token = executed
        .v2()
        .changed_objects
        .iter()
        .map(|c| c.object_id)
        .collect::<Vec<_>>();
    let mut token_object = None;
    for id in token {
        let o = net.object(id).await;
        if o.as_struct().unwrap().object_type().name().as_str() == "SealToken" {
            token_object = Some(o);
        }
    }
    let token_object = token_object.unwrap();
    let executed = net
        .call(&alice, |tx| {
            let args = vec![
                tx.object(inputs::pool(false)),
                tx.object(ObjectInput::from(&token_object)),
                tx.pure(&b"GET".to_vec()),
                tx.pure(&b"/api/v1/pods".to_vec()),
                tx.pure(&Vec::<u8>::new()),
                tx.pure(&b"pods".to_vec()),
                tx.pure(&Vec::<u8>::new()),
                tx.object(inputs::clock()),
            ];
            tx.move_call(function("gateway", "submit_k8s_request"), args);
        })
        .await
        .unwrap();
    executed.assert_success();
    let emitted = events(&executed);
    let [PackageEvent::K8sRequestSubmitted(submitted)] = emitted.as_slice() else {
        panic!("expected K8sRequestSubmitted");
    };
    let request = net.object(submitted.request_id).await;

    let result_hash = vec![9u8; 32];
    let timestamp_ms = 1_700_000_000_000;
    let message = IntentMessage::new(
        IntentScope::K8sResult,
        timestamp_ms,
        K8sResultPayload {
            request_id: submitted.request_id,
            status_code: 200,
            result_hash: result_hash.clone(),
        },
    );
    let record = |request: Object, signature: Vec<u8>| {
        let enclave = enclave.clone();
        let config = config.clone();
        let result_hash = result_hash.clone();
        move |tx: &mut TransactionBuilder| {
            let args = vec![
                tx.object(shared(&request, true)),
                tx.object(shared(&enclave, false)),
                tx.object(shared(&config, false)),
                tx.pure(&200u16),
                tx.pure(&result_hash),
                tx.pure(&timestamp_ms),
                tx.pure(&signature),
                tx.object(inputs::clock()),
            ];
            tx.move_call(function("gateway", "record_k8s_result"), args);
        }
    };
    let forged = sign(&Ed25519PrivateKey::new([78; 32]), &message);
    let executed = net
        .call(&alice, record(request.clone(), forged))
        .await
        .unwrap();
    assert_eq!(abort_code(&executed), ("gateway".to_owned(), 107));

    let good = sign(&enclave_key, &message);
    let executed = net
        .call(&alice, record(request.clone(), good.clone()))
        .await
        .unwrap();
    executed.assert_success();
    assert!(matches!(
        events(&executed).as_slice(),
        [PackageEvent::K8sResultRecorded(r)] if r.enclave_id == enclave_id && r.status_code == 200
    ));
    let executed = net.call(&alice, record(request, good)).await.unwrap();
    assert_eq!(abort_code(&executed), ("gateway".to_owned(), 105));

    // Audit checkpoints: signed by the enclave, and the tree only grows.
    let executed = create_log(&mut net, &alice, &enclave, &config, &enclave_key).await;
    let log_id = created_log(&executed);
    let log_object = net.object(log_id).await;
    let anchor = |tree_size: u64, signature: Vec<u8>| {
        let enclave = enclave.clone();
        let config = config.clone();
        let log_object = log_object.clone();
        move |tx: &mut TransactionBuilder| {
            let args = vec![
                tx.object(shared(&log_object, true)),
                tx.object(shared(&enclave, false)),
                tx.object(shared(&config, false)),
                tx.pure(&tree_size),
                tx.pure(&vec![5u8; 32]),
                tx.pure(&timestamp_ms),
                tx.pure(&signature),
                tx.object(inputs::clock()),
            ];
            tx.move_call(function("audit", "anchor_checkpoint"), args);
        }
    };
    let checkpoint = |tree_size: u64| {
        IntentMessage::new(
            IntentScope::AuditCheckpoint,
            timestamp_ms,
            AuditCheckpointPayload {
                log_id,
                tree_size,
                root: vec![5u8; 32],
            },
        )
    };
    let executed = net
        .call(&alice, anchor(10, sign(&enclave_key, &checkpoint(10))))
        .await
        .unwrap();
    executed.assert_success();
    assert!(matches!(
        events(&executed).as_slice(),
        [PackageEvent::CheckpointAnchored(c)] if c.tree_size == 10 && c.enclave_id == enclave_id
    ));
    let log: AuditLog =
        bcs::from_bytes(net.object(log_id).await.as_struct().unwrap().contents()).unwrap();
    assert_eq!(
        (log.tree_size, log.anchored, log.checkpoints.size),
        (10, 1, 1)
    );
    // The same size again, or a smaller one, is refused.
    for size in [10, 9] {
        let executed = net
            .call(&alice, anchor(size, sign(&enclave_key, &checkpoint(size))))
            .await
            .unwrap();
        assert_eq!(abort_code(&executed), ("audit".to_owned(), 201));
    }
    // A signature over another size is refused.
    let executed = net
        .call(&alice, anchor(12, sign(&enclave_key, &checkpoint(11))))
        .await
        .unwrap();
    assert_eq!(abort_code(&executed), ("audit".to_owned(), 203));

    // New PCRs make the enclave stale; it can then be destroyed.
    let cap = net.object(ENCLAVE_CAP_ID).await;
    let executed = net
        .call(&admin, |tx| {
            let args = vec![
                tx.object(shared(&config, true)),
                tx.object(ObjectInput::from(&cap)),
                tx.pure(&vec![3u8; 48]),
                tx.pure(&vec![4u8; 48]),
                tx.pure(&vec![5u8; 48]),
            ];
            tx.move_call(function("enclave", "update_pcrs"), args);
        })
        .await
        .unwrap();
    executed.assert_success();
    let executed = net
        .call(&alice, anchor(12, sign(&enclave_key, &checkpoint(12))))
        .await
        .unwrap();
    assert_eq!(abort_code(&executed), ("enclave".to_owned(), 304));
    let executed = net
        .call(&alice, |tx| {
            let args = vec![
                tx.object(shared(&enclave, true)),
                tx.object(shared(&config, false)),
            ];
            tx.move_call(function("enclave", "destroy_old_enclave"), args);
        })
        .await
        .unwrap();
    executed.assert_success();
    assert!(net.try_object(enclave_id).await.is_err());
}

// scenario: audit::AuditLogCreated
// scenario: audit::EWrongEnclave
#[tokio::test]
async fn an_audit_log_is_bound_to_the_enclave_that_asked_for_it() {
    let authority = DevAuthority::new("logs");
    let mut net = start_net(Some(authority.root.clone()), false).await;
    let admin = net.account(daas_devnet::faucet::faucet_key()).await;
    let alice = net.account(key(1)).await;
    let config_id = create_config(&mut net, &admin).await;
    let config = net.object(config_id).await;
    let key_a = Ed25519PrivateKey::new([77; 32]);
    let key_b = Ed25519PrivateKey::new([78; 32]);
    let enclave_a = register(&mut net, &alice, &authority, config_id, &key_a).await;
    let enclave_b = register(&mut net, &alice, &authority, config_id, &key_b).await;
    let enclave_a = net.object(enclave_a).await;
    let enclave_b = net.object(enclave_b).await;

    // Only the enclave's own key asks for its log.
    let executed = create_log(&mut net, &alice, &enclave_a, &config, &key_b).await;
    assert_eq!(abort_code(&executed), ("audit".to_owned(), 203));
    let executed = create_log(&mut net, &alice, &enclave_a, &config, &key_a).await;
    let log_id = created_log(&executed);
    let log: AuditLog =
        bcs::from_bytes(net.object(log_id).await.as_struct().unwrap().contents()).unwrap();
    assert_eq!(
        (log.enclave_id, log.tree_size, log.anchored),
        (enclave_a.object_id(), 0, 0)
    );
    assert!(matches!(net.object(log_id).await.owner(), Owner::Shared(_)));

    // Enclave B signs a checkpoint for A's log: refused by the binding.
    let log_object = net.object(log_id).await;
    let checkpoint = IntentMessage::new(
        IntentScope::AuditCheckpoint,
        1_700_000_000_000,
        AuditCheckpointPayload {
            log_id,
            tree_size: 3,
            root: vec![5u8; 32],
        },
    );
    let anchor = |enclave: &Object, signature: Vec<u8>| {
        let enclave = enclave.clone();
        let config = config.clone();
        let log_object = log_object.clone();
        move |tx: &mut TransactionBuilder| {
            let args = vec![
                tx.object(shared(&log_object, true)),
                tx.object(shared(&enclave, false)),
                tx.object(shared(&config, false)),
                tx.pure(&3u64),
                tx.pure(&vec![5u8; 32]),
                tx.pure(&1_700_000_000_000u64),
                tx.pure(&signature),
                tx.object(inputs::clock()),
            ];
            tx.move_call(function("audit", "anchor_checkpoint"), args);
        }
    };
    let executed = net
        .call(&alice, anchor(&enclave_b, sign(&key_b, &checkpoint)))
        .await
        .unwrap();
    assert_eq!(abort_code(&executed), ("audit".to_owned(), 204));
    let executed = net
        .call(&alice, anchor(&enclave_a, sign(&key_a, &checkpoint)))
        .await
        .unwrap();
    executed.assert_success();
}

#[tokio::test]
async fn the_unauthenticated_registration_hook_is_gone() {
    let net = start().await;
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{}/devnet/v1/register-enclave", net.devnet.url()))
        .json(&serde_json::json!({"config_id": "0x1234", "public_key": "00"}))
        .send()
        .await
        .unwrap();
    // Unknown paths fall through to the gRPC router: UNIMPLEMENTED.
    let grpc_status = response
        .headers()
        .get("grpc-status")
        .map(|v| v.to_str().unwrap().to_owned());
    assert!(
        response.status() == reqwest::StatusCode::NOT_FOUND || grpc_status.as_deref() == Some("12"),
        "{response:?}"
    );
    let response = client
        .post(format!("{}/devnet/v1/advance-clock", net.devnet.url()))
        .body("{}")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::BAD_REQUEST);
}

fn nitro_abort(executed: &Executed) -> u64 {
    match executed.effects.status() {
        ExecutionStatus::Failure {
            error: ExecutionError::MoveAbort { location, code },
            command: Some(0),
        } if location.package == Address::TWO
            && location.module.as_str() == "nitro_attestation" =>
        {
            *code
        }
        other => panic!("expected an abort of 0x2::nitro_attestation, got {other:?}"),
    }
}

// scenario: enclave::EPcrMismatch
// scenario: enclave::EMissingPublicKey
// scenario: enclave::EInvalidPublicKey
// scenario: enclave::EnclaveRegistered
#[tokio::test]
async fn registration_verifies_the_document_and_its_pcrs() {
    let authority = DevAuthority::new("devnet");
    let mut net = start_net(Some(authority.root.clone()), false).await;
    let admin = net.account(daas_devnet::faucet::faucet_key()).await;
    let alice = net.account(key(1)).await;
    let enclave_key = Ed25519PrivateKey::new([77; 32]);
    let pk = enclave_key.public_key().as_bytes().to_vec();
    let config_id = create_config(&mut net, &admin).await;
    let config = net.object(config_id).await;
    let good = [pcr(1), pcr(2), pcr(3)];
    let good = [good[0].as_slice(), good[1].as_slice(), good[2].as_slice()];

    // Bad bytes: EParseError (1) of 0x2::nitro_attestation.
    let document = authority.document(good, Some(&pk));
    for bad in [
        Vec::new(),
        document[..document.len() / 2].to_vec(),
        b"garbage, not CBOR at all".to_vec(),
        vec![0xff; 2048],
    ] {
        let executed = net.call(&alice, register_with(&config, bad)).await.unwrap();
        assert_eq!(nitro_abort(&executed), 1);
    }
    // A tampered signature: EVerifyError (2).
    let mut tampered = document.clone();
    *tampered.last_mut().unwrap() ^= 1;
    let executed = net
        .call(&alice, register_with(&config, tampered))
        .await
        .unwrap();
    assert_eq!(nitro_abort(&executed), 2);
    // A document under another, untrusted root: EVerifyError (2).
    let stranger = DevAuthority::new("stranger");
    let executed = net
        .call(
            &alice,
            register_with(&config, stranger.document(good, Some(&pk))),
        )
        .await
        .unwrap();
    assert_eq!(nitro_abort(&executed), 2);
    // A leaf certificate not valid at the clock's time: EVerifyError (2).
    let expired = DevAuthority::expired("devnet");
    let executed = net
        .call(
            &alice,
            register_with(&config, expired.document(good, Some(&pk))),
        )
        .await
        .unwrap();
    assert_eq!(nitro_abort(&executed), 2);
    // A nonce longer than Sui's 512 bytes: EParseError (1).
    let mut unsigned = authority.unsigned(good, Some(&pk));
    unsigned.nonce = Some(vec![1; 513]);
    let executed = net
        .call(&alice, register_with(&config, authority.sign(&unsigned)))
        .await
        .unwrap();
    assert_eq!(nitro_abort(&executed), 1);
    // Without PCR 8: EInvalidPCRsError (3).
    let mut unsigned = authority.unsigned(good, Some(&pk));
    unsigned.pcrs.remove(&8);
    let executed = net
        .call(&alice, register_with(&config, authority.sign(&unsigned)))
        .await
        .unwrap();
    assert_eq!(nitro_abort(&executed), 3);
    // A debug-mode document (zero PCRs): refused unless allowed.
    let zero = pcr(0);
    let executed = net
        .call(
            &alice,
            register_with(
                &config,
                authority.document([&zero, &zero, &zero], Some(&pk)),
            ),
        )
        .await
        .unwrap();
    assert_eq!(nitro_abort(&executed), 3);

    // Verified documents the package refuses.
    let other = pcr(9);
    for (document, code) in [
        (
            authority.document([good[0], good[1], &other], Some(&pk)),
            301,
        ),
        (authority.document(good, None), 302),
        (authority.document(good, Some(&[7u8; 33])), 303),
    ] {
        let executed = net
            .call(&alice, register_with(&config, document))
            .await
            .unwrap();
        assert_eq!(abort_code(&executed), ("enclave".to_owned(), code));
    }

    // The document value cannot be forged from pure bytes, nor used twice.
    let executed = net
        .call(&alice, |tx| {
            let args = vec![tx.object(shared(&config, false)), tx.pure(&pk)];
            tx.move_call(function("enclave", "register_enclave"), args);
        })
        .await
        .unwrap();
    assert!(matches!(
        executed.effects.status(),
        ExecutionStatus::Failure {
            error: ExecutionError::CommandArgumentError {
                argument: 1,
                kind: CommandArgumentError::TypeMismatch
            },
            ..
        }
    ));
    let twice = authority.document(good, Some(&pk));
    let executed = net
        .call(&alice, |tx| {
            let document = tx.pure(&twice);
            let clock = tx.object(inputs::clock());
            let loaded = tx.move_call(
                Function::new(
                    Address::TWO,
                    Identifier::from_static("nitro_attestation"),
                    Identifier::from_static("load_nitro_attestation"),
                ),
                vec![document, clock],
            );
            let config = tx.object(shared(&config, false));
            tx.move_call(
                function("enclave", "register_enclave"),
                vec![config, loaded],
            );
            tx.move_call(
                function("enclave", "register_enclave"),
                vec![config, loaded],
            );
        })
        .await
        .unwrap();
    assert!(
        matches!(
            executed.effects.status(),
            ExecutionStatus::Failure {
                error: ExecutionError::CommandArgumentError {
                    argument: 1,
                    kind: CommandArgumentError::InvalidValueUsage
                },
                command: Some(2),
            }
        ),
        "{:?}",
        executed.effects.status()
    );
    // The clock must be the clock.
    let executed = net
        .call(&alice, |tx| {
            let document = tx.pure(&document);
            let not_a_clock = tx.pure(&0u64);
            tx.move_call(
                Function::new(
                    Address::TWO,
                    Identifier::from_static("nitro_attestation"),
                    Identifier::from_static("load_nitro_attestation"),
                ),
                vec![document, not_a_clock],
            );
        })
        .await
        .unwrap();
    assert!(
        matches!(
            executed.effects.status(),
            ExecutionStatus::Failure {
                error: ExecutionError::CommandArgumentError {
                    argument: 1,
                    kind: CommandArgumentError::TypeMismatch
                },
                command: Some(0),
            }
        ),
        "{:?}",
        executed.effects.status()
    );
    // Loading alone is fine: the document has `drop`.
    let alone = authority.document(good, Some(&pk));
    let executed = net
        .call(&alice, |tx| {
            let document = tx.pure(&alone);
            let clock = tx.object(inputs::clock());
            tx.move_call(
                Function::new(
                    Address::TWO,
                    Identifier::from_static("nitro_attestation"),
                    Identifier::from_static("load_nitro_attestation"),
                ),
                vec![document, clock],
            );
        })
        .await
        .unwrap();
    executed.assert_success();

    // The good document registers the key, stamped with its timestamp.
    let unsigned = authority.unsigned(good, Some(&pk));
    let executed = net
        .call(&alice, register_with(&config, authority.sign(&unsigned)))
        .await
        .unwrap();
    executed.assert_success();
    let emitted = events(&executed);
    let [PackageEvent::EnclaveRegistered(registered)] = emitted.as_slice() else {
        panic!("expected EnclaveRegistered, got {emitted:?}");
    };
    assert_eq!(registered.pk, pk);
    assert_eq!(registered.owner, alice.address);
    assert_eq!(registered.config_version, 0);
    assert_eq!(registered.registered_at_ms, unsigned.timestamp_ms);
    let enclave: daas_core::package::enclave::Enclave = bcs::from_bytes(
        net.object(registered.enclave_id)
            .await
            .as_struct()
            .unwrap()
            .contents(),
    )
    .unwrap();
    assert_eq!(enclave.pk, pk);
    assert_eq!(enclave.config_id, config_id);
}

#[tokio::test]
async fn dev_documents_need_the_dev_root_and_debug_needs_its_flag() {
    let authority = DevAuthority::new("unconfigured");
    let enclave_key = Ed25519PrivateKey::new([5; 32]);
    let pk = enclave_key.public_key().as_bytes().to_vec();

    // A devnet that only trusts AWS refuses dev documents.
    let mut net = start().await;
    let admin = net.account(daas_devnet::faucet::faucet_key()).await;
    let config_id = create_config(&mut net, &admin).await;
    let config = net.object(config_id).await;
    let document = authority.document([&pcr(1), &pcr(2), &pcr(3)], Some(&pk));
    let executed = net
        .call(&admin, register_with(&config, document))
        .await
        .unwrap();
    assert_eq!(nitro_abort(&executed), 2);

    // With --allow-debug-attestation a debug document registers against a
    // zero-PCR config.
    let mut net = start_net(Some(authority.root.clone()), true).await;
    let admin = net.account(daas_devnet::faucet::faucet_key()).await;
    let cap = net.object(ENCLAVE_CAP_ID).await;
    let zero = pcr(0);
    let executed = net
        .call(&admin, |tx| {
            let args = vec![
                tx.object(ObjectInput::from(&cap)),
                tx.pure(&b"debug".to_vec()),
                tx.pure(&zero),
                tx.pure(&zero),
                tx.pure(&zero),
            ];
            tx.move_call(function("enclave", "create_config"), args);
        })
        .await
        .unwrap();
    executed.assert_success();
    let emitted = events(&executed);
    let [PackageEvent::EnclaveConfigCreated(created)] = emitted.as_slice() else {
        panic!("expected EnclaveConfigCreated");
    };
    let config = net.object(created.config_id).await;
    let document = authority.document([&zero, &zero, &zero], Some(&pk));
    let executed = net
        .call(&admin, register_with(&config, document))
        .await
        .unwrap();
    executed.assert_success();
}
