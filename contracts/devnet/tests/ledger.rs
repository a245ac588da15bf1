//! The generic ledger through a real `sui-rpc` client: faucet, coins,
//! signatures, versions, gas, unknown functions, checkpoints, restart and
//! idempotent re-submission.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{BUDGET, Net, address_of, builder, coin_balance, key, start, start_in};
use futures::StreamExt;
use sui_crypto::SuiSigner;
use sui_rpc::proto::sui::rpc::v2 as proto;
use sui_sdk_types::{
    Address, ExecutionError, ExecutionStatus, IdOperation, ObjectIn, ObjectOut, Owner,
};
use sui_transaction_builder::{Function, ObjectInput};

const SUI: u64 = 1_000_000_000;

#[tokio::test]
async fn faucet_funds_an_address_through_a_checkpointed_transaction() {
    let mut net = start().await;
    let alice = address_of(&key(1));
    let coin = net.fund(alice).await;
    assert_eq!(coin.owner(), &Owner::Address(alice));
    assert_eq!(coin_balance(&coin), daas_devnet::DEFAULT_FAUCET_AMOUNT);
    assert_eq!(net.balance(alice).await, daas_devnet::DEFAULT_FAUCET_AMOUNT);

    let mut request = proto::ListOwnedObjectsRequest::default();
    request.owner = Some(alice.to_string());
    let owned = net
        .client
        .state_client()
        .list_owned_objects(request)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(owned.objects.len(), 1);

    // The payout is a transaction in its own checkpoint.
    let tx = net.client.ledger_client();
    let mut tx = tx;
    let mut request = proto::GetTransactionRequest::default();
    request.digest = Some(coin.previous_transaction().to_string());
    let executed = tx.get_transaction(request).await.unwrap().into_inner();
    let checkpoint = executed.transaction.unwrap().checkpoint.unwrap();
    assert!(checkpoint >= 1);
}

#[tokio::test]
async fn split_and_transfer_then_merge_have_sui_effects() {
    let mut net = start().await;
    let alice_key = key(1);
    let alice = address_of(&alice_key);
    let bob_key = key(2);
    let bob = address_of(&bob_key);
    let gas = net.fund(alice).await;

    let mut tx = builder(alice, &gas, BUDGET);
    let g = tx.gas();
    let one = tx.pure(&SUI);
    let two = tx.pure(&(2 * SUI));
    let coins = tx.split_coins(g, vec![one, two]);
    let to = tx.pure(&bob);
    tx.transfer_objects(coins, to);
    let tx = tx.try_build().unwrap();
    let executed = net.execute(&tx, &alice_key).await.unwrap();
    executed.assert_success();
    let effects = executed.v2();
    assert_eq!(effects.lamport_version, gas.version() + 1);
    let created: Vec<_> = effects
        .changed_objects
        .iter()
        .filter(|c| c.id_operation == IdOperation::Created)
        .collect();
    assert_eq!(created.len(), 2);
    for c in &created {
        assert!(matches!(c.input_state, ObjectIn::NotExist));
        assert!(
            matches!(c.output_state, ObjectOut::ObjectWrite { owner: Owner::Address(a), .. } if a == bob)
        );
        let object = net.object(c.object_id).await;
        assert_eq!(object.version(), effects.lamport_version);
        assert_eq!(object.previous_transaction(), tx.digest());
    }
    let gas_change = &effects.changed_objects[effects.gas_object_index.unwrap() as usize];
    assert_eq!(gas_change.object_id, gas.object_id());
    let ObjectOut::ObjectWrite { digest, .. } = gas_change.output_state else {
        panic!("gas coin not written")
    };
    let new_gas = net.object(gas.object_id()).await;
    assert_eq!(new_gas.digest(), digest);
    let summary = &effects.gas_used;
    let net_cost = summary.computation_cost + summary.storage_cost - summary.storage_rebate;
    assert_eq!(summary.computation_cost, 3 * 1_000_000);
    assert_eq!(summary.storage_rebate, gas.storage_rebate());
    assert_eq!(
        coin_balance(&new_gas),
        coin_balance(&gas) - 3 * SUI - net_cost
    );
    assert_eq!(net.balance(bob).await, 3 * SUI);
    assert_eq!(executed.digest, tx.digest().to_string());

    // Bob merges his two coins, paying gas with one of them.
    let ids: Vec<Address> = created.iter().map(|c| c.object_id).collect();
    let first = net.object(ids[0]).await;
    let second = net.object(ids[1]).await;
    let mut tx = builder(bob, &first, BUDGET);
    let g = tx.gas();
    let other = tx.object(ObjectInput::from(&second));
    tx.merge_coins(g, vec![other]);
    let tx = tx.try_build().unwrap();
    let executed = net.execute(&tx, &bob_key).await.unwrap();
    executed.assert_success();
    let effects = executed.v2();
    assert_eq!(
        effects.lamport_version,
        first.version().max(second.version()) + 1
    );
    let deleted = effects
        .changed_objects
        .iter()
        .find(|c| c.id_operation == IdOperation::Deleted)
        .unwrap();
    assert_eq!(deleted.object_id, second.object_id());
    assert!(matches!(deleted.output_state, ObjectOut::NotExist));
    assert_eq!(
        net.try_object(second.object_id()).await.unwrap_err().code(),
        tonic::Code::NotFound
    );
    let summary = &effects.gas_used;
    let cost = summary.computation_cost + summary.storage_cost - summary.storage_rebate;
    assert_eq!(net.balance(bob).await, 3 * SUI - cost);
}

#[tokio::test]
async fn signature_must_be_the_senders_and_over_this_transaction() {
    let mut net = start().await;
    let alice_key = key(1);
    let alice = address_of(&alice_key);
    let gas = net.fund(alice).await;
    let mut tx = builder(alice, &gas, BUDGET);
    let g = tx.gas();
    let amount = tx.pure(&SUI);
    let coins = tx.split_coins(g, vec![amount]);
    let to = tx.pure(&alice);
    tx.transfer_objects(coins, to);
    let tx = tx.try_build().unwrap();

    // Signed by someone else.
    let err = net.execute(&tx, &key(9)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated, "{err}");
    assert!(err.message().contains("not from the sender"), "{err}");

    // Alice's signature over a different transaction.
    let mut other = tx.clone();
    other.gas_payment.budget += 1;
    let signature = alice_key.sign_transaction(&other).unwrap();
    let err = net.execute_signed(&tx, vec![signature]).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated, "{err}");
    assert!(err.message().contains("invalid signature"), "{err}");

    // No signature at all.
    let err = net.execute_signed(&tx, vec![]).await.unwrap_err();
    assert!(err.message().contains("exactly one signature"), "{err}");

    // Nothing was applied.
    assert_eq!(net.object(gas.object_id()).await, gas);
    net.execute(&tx, &alice_key).await.unwrap().assert_success();
}

#[tokio::test]
async fn secp256k1_and_secp256r1_senders_are_accepted() {
    let mut net = start().await;
    let k1 = sui_crypto::secp256k1::Secp256k1PrivateKey::new([3; 32]).unwrap();
    let r1 = sui_crypto::secp256r1::Secp256r1PrivateKey::new([4; 32]);
    let k1_address = k1.public_key().derive_address();
    let r1_address = r1.public_key().derive_address();
    for (address, sign) in [
        (
            k1_address,
            Box::new(move |t: &sui_sdk_types::Transaction| k1.sign_transaction(t).unwrap())
                as Box<dyn Fn(&sui_sdk_types::Transaction) -> sui_sdk_types::UserSignature>,
        ),
        (
            r1_address,
            Box::new(move |t: &sui_sdk_types::Transaction| r1.sign_transaction(t).unwrap()),
        ),
    ] {
        let gas = net.fund(address).await;
        let mut tx = builder(address, &gas, BUDGET);
        let g = tx.gas();
        let amount = tx.pure(&SUI);
        let coins = tx.split_coins(g, vec![amount]);
        let to = tx.pure(&Address::ZERO);
        tx.transfer_objects(coins, to);
        let tx = tx.try_build().unwrap();
        let signature = sign(&tx);
        net.execute_signed(&tx, vec![signature])
            .await
            .unwrap()
            .assert_success();
    }
    assert_eq!(net.balance(Address::ZERO).await, 2 * SUI);
}

#[tokio::test]
async fn stale_version_and_foreign_objects_are_rejected() {
    let mut net = start().await;
    let alice_key = key(1);
    let alice = address_of(&alice_key);
    let gas = net.fund(alice).await;
    let spend = |gas: &sui_sdk_types::Object| {
        let mut tx = builder(alice, gas, BUDGET);
        let g = tx.gas();
        let amount = tx.pure(&1u64);
        let coins = tx.split_coins(g, vec![amount]);
        let to = tx.pure(&alice);
        tx.transfer_objects(coins, to);
        tx.try_build().unwrap()
    };
    net.execute(&spend(&gas), &alice_key)
        .await
        .unwrap()
        .assert_success();
    // The same coin at its old version: a different transaction (other
    // amount) so it is not a re-submission.
    let mut stale = builder(alice, &gas, BUDGET + 1);
    let g = stale.gas();
    let amount = stale.pure(&2u64);
    let coins = stale.split_coins(g, vec![amount]);
    let to = stale.pure(&alice);
    stale.transfer_objects(coins, to);
    let err = net
        .execute(&stale.try_build().unwrap(), &alice_key)
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition, "{err}");
    assert!(err.message().contains("version"), "{err}");

    // Bob cannot use Alice's coin.
    let bob_key = key(2);
    let bob = address_of(&bob_key);
    let bob_gas = net.fund(bob).await;
    let current = net.object(gas.object_id()).await;
    let mut tx = builder(bob, &bob_gas, BUDGET);
    let theirs = tx.object(ObjectInput::from(&current));
    let to = tx.pure(&bob);
    tx.transfer_objects(vec![theirs], to);
    let err = net
        .execute(&tx.try_build().unwrap(), &bob_key)
        .await
        .unwrap_err();
    assert!(err.message().contains("not by the sender"), "{err}");
}

#[tokio::test]
async fn gas_budget_and_balance_are_enforced() {
    let mut net = start().await;
    let alice_key = key(1);
    let alice = address_of(&alice_key);
    let gas = net.fund(alice).await;
    let transfer = |gas: &sui_sdk_types::Object, budget: u64| {
        let mut tx = builder(alice, gas, budget);
        let g = tx.gas();
        let amount = tx.pure(&SUI);
        let coins = tx.split_coins(g, vec![amount]);
        let to = tx.pure(&alice);
        tx.transfer_objects(coins, to);
        tx.try_build().unwrap()
    };

    // Budget above the gas coin's balance: rejected, nothing charged.
    let err = net
        .execute(&transfer(&gas, coin_balance(&gas) + 1), &alice_key)
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err}");
    assert!(
        err.message().contains("outside the accepted range")
            || err.message().contains("less than the gas budget"),
        "{err}"
    );

    // Budget below the minimum.
    let err = net
        .execute(&transfer(&gas, 10), &alice_key)
        .await
        .unwrap_err();
    assert!(err.message().contains("gas budget 10"), "{err}");

    // Budget that covers computation but not storage: executed, fails with
    // InsufficientGas, charges at most the budget, and reverts the split.
    let budget = 3_000_000;
    let executed = net
        .execute(&transfer(&gas, budget), &alice_key)
        .await
        .unwrap();
    assert!(matches!(
        executed.effects.status(),
        ExecutionStatus::Failure {
            error: ExecutionError::InsufficientGas,
            ..
        }
    ));
    let created = executed
        .v2()
        .changed_objects
        .iter()
        .filter(|c| c.id_operation == IdOperation::Created)
        .count();
    assert_eq!(created, 0);
    let after = net.object(gas.object_id()).await;
    let summary = &executed.v2().gas_used;
    assert!(summary.computation_cost + summary.storage_cost <= budget);
    assert_eq!(
        coin_balance(&after),
        coin_balance(&gas) + summary.storage_rebate
            - summary.computation_cost
            - summary.storage_cost
    );
}

#[tokio::test]
async fn unknown_package_module_or_function_is_rejected_by_name() {
    let mut net = start().await;
    let alice_key = key(1);
    let alice = address_of(&alice_key);
    let gas = net.fund(alice).await;
    let package = daas_core::package::PACKAGE_ID;
    let call = |package: Address, module: &'static str, function: &'static str| {
        let mut tx = builder(alice, &gas, BUDGET);
        tx.move_call(
            Function::new(package, module.parse().unwrap(), function.parse().unwrap()),
            vec![],
        );
        tx.try_build().unwrap()
    };
    let cases = [
        (
            call(Address::from_static("0xbad"), "staking", "stake_and_mint"),
            "package 0x0000000000000000000000000000000000000000000000000000000000000bad",
        ),
        (call(package, "ledger", "stake_and_mint"), "module ledger"),
        (
            call(package, "staking", "mint_for_free"),
            "function mint_for_free",
        ),
        (
            call(Address::TWO, "nitro_attestation", "module_id"),
            "0x2::nitro_attestation::module_id cannot be called",
        ),
    ];
    for (tx, expected) in cases {
        let err = net.execute(&tx, &alice_key).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err}");
        assert!(err.message().contains(expected), "{err} lacks {expected}");
    }
    assert_eq!(net.object(gas.object_id()).await, gas);
}

#[tokio::test]
async fn resubmission_is_idempotent_and_state_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let devnet = start_in(dir.path()).await;
    let mut net = Net {
        client: sui_rpc::Client::new(devnet.url()).unwrap(),
        devnet,
        dir,
    };
    let alice_key = key(1);
    let alice = address_of(&alice_key);
    let gas = net.fund(alice).await;
    let mut tx = builder(alice, &gas, BUDGET);
    let g = tx.gas();
    let amount = tx.pure(&SUI);
    let coins = tx.split_coins(g, vec![amount]);
    let to = tx.pure(&Address::ZERO);
    tx.transfer_objects(coins, to);
    let tx = tx.try_build().unwrap();
    let first = net.execute(&tx, &alice_key).await.unwrap();
    first.assert_success();
    let balance = net.balance(alice).await;

    let again = net.execute(&tx, &alice_key).await.unwrap();
    assert_eq!(again.effects, first.effects);
    assert_eq!(again.checkpoint, first.checkpoint);
    assert_eq!(net.balance(alice).await, balance);
    assert_eq!(net.balance(Address::ZERO).await, SUI);

    // Restart on the same directory.
    let Net { devnet, dir, .. } = net;
    devnet.shutdown().await.unwrap();
    let devnet = start_in(dir.path()).await;
    let mut net = Net {
        client: sui_rpc::Client::new(devnet.url()).unwrap(),
        devnet,
        dir,
    };
    assert_eq!(net.balance(alice).await, balance);
    let after = net.execute(&tx, &alice_key).await.unwrap();
    assert_eq!(after.effects, first.effects);
    assert_eq!(net.balance(Address::ZERO).await, SUI);
    let mut request = proto::GetTransactionRequest::default();
    request.digest = Some(tx.digest().to_string());
    let stored = net
        .client
        .ledger_client()
        .get_transaction(request)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stored.transaction.unwrap().checkpoint, first.checkpoint);
}

#[tokio::test]
async fn checkpoints_stream_and_chain() {
    let mut net = start().await;
    let alice_key = key(1);
    let alice = address_of(&alice_key);
    let gas = net.fund(alice).await;

    let mut stream = net
        .client
        .subscription_client()
        .subscribe_checkpoints(proto::SubscribeCheckpointsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let mut tx = builder(alice, &gas, BUDGET);
    let g = tx.gas();
    let amount = tx.pure(&SUI);
    let coins = tx.split_coins(g, vec![amount]);
    let to = tx.pure(&alice);
    tx.transfer_objects(coins, to);
    let tx = tx.try_build().unwrap();

    // The SDK's execute-and-wait helper needs the subscription, GetTransaction
    // and checkpoint numbers to line up.
    let signature = alice_key.sign_transaction(&tx).unwrap();
    let mut request = proto::ExecuteTransactionRequest::default();
    request.transaction = Some(tx.clone().into());
    request.signatures = vec![signature.into()];
    let response = net
        .client
        .execute_transaction_and_wait_for_checkpoint(request, Duration::from_secs(10))
        .await
        .unwrap()
        .into_inner();
    let sequence = response.transaction.unwrap().checkpoint.unwrap();

    let item = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let checkpoint = item.checkpoint.unwrap();
    assert_eq!(checkpoint.sequence_number, Some(sequence));
    assert_eq!(
        checkpoint.transactions[0].digest.as_deref(),
        Some(tx.digest().to_string().as_str())
    );

    let mut request = proto::GetCheckpointRequest::default();
    request.checkpoint_id = Some(proto::get_checkpoint_request::CheckpointId::SequenceNumber(
        sequence,
    ));
    let fetched = net
        .client
        .ledger_client()
        .get_checkpoint(request)
        .await
        .unwrap()
        .into_inner()
        .checkpoint
        .unwrap();
    assert_eq!(fetched.digest, checkpoint.digest);
    let summary =
        sui_sdk_types::CheckpointSummary::try_from(fetched.summary.as_ref().unwrap()).unwrap();
    let mut request = proto::GetCheckpointRequest::default();
    request.checkpoint_id = Some(proto::get_checkpoint_request::CheckpointId::SequenceNumber(
        sequence - 1,
    ));
    let previous = net
        .client
        .ledger_client()
        .get_checkpoint(request)
        .await
        .unwrap()
        .into_inner()
        .checkpoint
        .unwrap();
    assert_eq!(
        summary.previous_digest.map(|d| d.to_string()),
        previous.digest
    );

    let epoch = net
        .client
        .ledger_client()
        .get_epoch(proto::GetEpochRequest::default())
        .await
        .unwrap()
        .into_inner()
        .epoch
        .unwrap();
    assert_eq!(epoch.reference_gas_price, Some(1000));
    let info = net
        .client
        .ledger_client()
        .get_service_info(proto::GetServiceInfoRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(info.checkpoint_height.unwrap() >= sequence);
}

#[tokio::test]
async fn unimplemented_methods_name_themselves() {
    let mut net = start().await;
    let err = net
        .client
        .state_client()
        .list_balances(proto::ListBalancesRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unimplemented);
    assert!(err.message().contains("ListBalances"), "{err}");
    let err = sui_rpc::proto::sui::rpc::v2::name_service_client::NameServiceClient::connect(
        net.devnet.url(),
    )
    .await
    .unwrap()
    .lookup_name(proto::LookupNameRequest::default())
    .await
    .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unimplemented);
    assert!(err.message().contains("LookupName"), "{err}");
}

#[tokio::test]
async fn bad_requests_name_the_problem() {
    let mut net = start().await;
    let mut request = proto::GetObjectRequest::default();
    request.object_id = Some("not-an-address".to_owned());
    let err = net
        .client
        .ledger_client()
        .get_object(request)
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("not-an-address"), "{err}");

    let err = net
        .client
        .execution_client()
        .execute_transaction(proto::ExecuteTransactionRequest::default())
        .await
        .unwrap_err();
    assert!(err.message().contains("missing transaction"), "{err}");
}
