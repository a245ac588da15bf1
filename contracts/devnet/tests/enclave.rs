//! Enclave configs, the devnet's registration hook, and the enclave-signed
//! gateway results and audit batches (`contracts/README.md`, gateway, audit
//! and enclave rows).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Account, Executed, Net, inputs, key, start};
use daas_core::package::audit::{AuditBatchPayload, AuditLog};
use daas_core::package::enclave::{IntentMessage, IntentScope};
use daas_core::package::gateway::K8sResultPayload;
use daas_core::package::staking::ROLE_USER;
use daas_core::package::{AUDIT_LOG_ID, ENCLAVE_CAP_ID, PACKAGE_ID, PackageEvent};
use serde::Serialize;
use sui_crypto::Signer;
use sui_crypto::ed25519::Ed25519PrivateKey;
use sui_sdk_types::{
    Address, CommandArgumentError, Ed25519Signature, ExecutionError, ExecutionStatus, Identifier,
    Object, Owner,
};
use sui_transaction_builder::{Function, ObjectInput, TransactionBuilder};

const SUI: u64 = 1_000_000_000;

fn function(module: &'static str, name: &'static str) -> Function {
    Function::new(
        PACKAGE_ID,
        Identifier::from_static(module),
        Identifier::from_static(name),
    )
}

fn events(executed: &Executed) -> Vec<PackageEvent> {
    executed
        .events
        .as_ref()
        .map(|e| {
            e.0.iter()
                .map(|e| {
                    PackageEvent::decode(PACKAGE_ID, &e.type_, &e.contents)
                        .unwrap()
                        .unwrap()
                })
                .collect()
        })
        .unwrap_or_default()
}

fn abort(executed: &Executed) -> (String, u64) {
    match executed.effects.status() {
        ExecutionStatus::Failure {
            error: ExecutionError::MoveAbort { location, code },
            ..
        } => (location.module.to_string(), *code),
        other => panic!("expected a Move abort, got {other:?}"),
    }
}

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

async fn register(net: &Net, config: Address, key: &Ed25519PrivateKey) -> Address {
    let response = reqwest::Client::new()
        .post(format!("{}/devnet/v1/register-enclave", net.devnet.url()))
        .json(&serde_json::json!({
            "config_id": config.to_string(),
            "public_key": hex::encode(key.public_key().as_bytes()),
        }))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{response:?}");
    let body: serde_json::Value = response.json().await.unwrap();
    body["enclave_id"].as_str().unwrap().parse().unwrap()
}

async fn create_config(net: &mut Net, admin: &Account) -> Address {
    let cap = net.object(ENCLAVE_CAP_ID).await;
    let executed = net
        .call(admin, |tx| {
            let args = vec![
                tx.object(ObjectInput::from(&cap)),
                tx.pure(&b"k3s-daas master".to_vec()),
                tx.pure(&vec![0u8; 48]),
                tx.pure(&vec![1u8; 48]),
                tx.pure(&vec![2u8; 48]),
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

#[tokio::test]
async fn enclave_signed_results_and_audit_batches() {
    let mut net = start().await;
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

    let enclave_id = register(&net, config_id, &enclave_key).await;
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
    assert_eq!(abort(&executed), ("gateway".to_owned(), 107));

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
    assert_eq!(abort(&executed), ("gateway".to_owned(), 105));

    // Audit batches.
    let log_object = net.object(AUDIT_LOG_ID).await;
    let anchor = |first: u64, last: u64, signature: Vec<u8>| {
        let enclave = enclave.clone();
        let config = config.clone();
        let log_object = log_object.clone();
        move |tx: &mut TransactionBuilder| {
            let args = vec![
                tx.object(shared(&log_object, true)),
                tx.object(shared(&enclave, false)),
                tx.object(shared(&config, false)),
                tx.pure(&vec![5u8; 32]),
                tx.pure(&first),
                tx.pure(&last),
                tx.pure(&timestamp_ms),
                tx.pure(&signature),
                tx.object(inputs::clock()),
            ];
            tx.move_call(function("audit", "anchor_batch"), args);
        }
    };
    let batch = |batch_index: u64, first: u64, last: u64| {
        IntentMessage::new(
            IntentScope::AuditBatch,
            timestamp_ms,
            AuditBatchPayload {
                log_id: AUDIT_LOG_ID,
                batch_index,
                merkle_root: vec![5u8; 32],
                first_seq: first,
                last_seq: last,
            },
        )
    };
    let executed = net
        .call(&alice, anchor(0, 9, sign(&enclave_key, &batch(0, 0, 9))))
        .await
        .unwrap();
    executed.assert_success();
    assert!(matches!(
        events(&executed).as_slice(),
        [PackageEvent::BatchAnchored(b)] if b.batch_index == 0 && b.last_seq == 9
    ));
    let log: AuditLog = bcs::from_bytes(
        net.object(AUDIT_LOG_ID)
            .await
            .as_struct()
            .unwrap()
            .contents(),
    )
    .unwrap();
    assert_eq!((log.next_batch, log.next_seq, log.batches.size), (1, 10, 1));
    let executed = net
        .call(
            &alice,
            anchor(11, 12, sign(&enclave_key, &batch(1, 11, 12))),
        )
        .await
        .unwrap();
    assert_eq!(abort(&executed), ("audit".to_owned(), 201));
    let executed = net
        .call(
            &alice,
            anchor(10, 12, sign(&enclave_key, &batch(0, 10, 12))),
        )
        .await
        .unwrap();
    assert_eq!(abort(&executed), ("audit".to_owned(), 204));

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
        .call(
            &alice,
            anchor(10, 12, sign(&enclave_key, &batch(1, 10, 12))),
        )
        .await
        .unwrap();
    assert_eq!(abort(&executed), ("enclave".to_owned(), 304));
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

#[tokio::test]
async fn register_enclave_hook_names_bad_input() {
    let net = start().await;
    let client = reqwest::Client::new();
    let url = format!("{}/devnet/v1/register-enclave", net.devnet.url());
    let response = client
        .post(&url)
        .json(&serde_json::json!({"config_id": "0x1234", "public_key": "zz"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::BAD_REQUEST);
    assert!(response.text().await.unwrap().contains("not hex"));
    let response = client
        .post(&url)
        .json(&serde_json::json!({"config_id": "0x1234", "public_key": "00"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::BAD_REQUEST);
    assert!(response.text().await.unwrap().contains("not found"));
    let response = client
        .post(format!("{}/devnet/v1/advance-clock", net.devnet.url()))
        .body("{}")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::BAD_REQUEST);
}
