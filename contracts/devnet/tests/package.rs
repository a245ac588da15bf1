//! The `k3s_daas` package executed by the devnet, through gRPC, following
//! `contracts/README.md`: staking with the clock hook, slashing by proposal,
//! admin capabilities and the gateway.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Executed, Net, abort_code, events, function, inputs, key, start};
use daas_core::package::staking::{
    ROLE_USER, ROLE_WORKER, SealToken, StakePool, StakeRecord, StakingAbort, Tier,
    stake_record_field_id,
};
use daas_core::package::{
    ADMIN_CAP_ID, DynamicField, Mist, PackageEvent, SLASHER_CAP_ID, STAKE_POOL_ID,
    STAKE_RECORDS_TABLE_ID,
};
use sui_sdk_types::{Address, IdOperation, Object, ObjectOut, Owner};
use sui_transaction_builder::{ObjectInput, TransactionBuilder};

const SUI: u64 = 1_000_000_000;

fn stake_and_mint(tx: &mut TransactionBuilder, amount: u64, role: u8, node_id: &[u8]) {
    let amount = tx.pure(&amount);
    let gas = tx.gas();
    let payment = tx.split_coins(gas, vec![amount]);
    let pool = tx.object(inputs::pool(true));
    let role = tx.pure(&role);
    let node_id = tx.pure(&node_id.to_vec());
    let clock = tx.object(inputs::clock());
    let mut args = vec![pool];
    args.extend(payment);
    args.extend([role, node_id, clock]);
    tx.move_call(function("staking", "stake_and_mint"), args);
}

fn decode<T: serde::de::DeserializeOwned>(object: &Object) -> T {
    bcs::from_bytes(object.as_struct().unwrap().contents()).unwrap()
}

/// The seal token created by a successful stake_and_mint.
async fn minted_token(net: &mut Net, executed: &Executed) -> Object {
    for change in &executed.v2().changed_objects {
        if change.id_operation != IdOperation::Created {
            continue;
        }
        let object = net.object(change.object_id).await;
        let type_ = object.as_struct().unwrap().object_type().clone();
        if type_.name().as_str() == "SealToken" {
            return object;
        }
    }
    panic!("no SealToken created");
}

async fn pool(net: &mut Net) -> StakePool {
    decode(&net.object(STAKE_POOL_ID).await)
}

async fn record(net: &mut Net, token: Address) -> Option<StakeRecord> {
    let id = stake_record_field_id(STAKE_RECORDS_TABLE_ID, token.into());
    let object = net.try_object(id).await.ok()?;
    assert_eq!(object.owner(), &Owner::Object(STAKE_RECORDS_TABLE_ID));
    let field: DynamicField<Address, StakeRecord> = decode(&object);
    assert_eq!(field.name, token);
    Some(field.value)
}

// scenario: staking::StakeCreated
#[tokio::test]
async fn stake_and_mint_creates_token_record_and_event() {
    let mut net = start().await;
    let alice = net.account(key(1)).await;
    let executed = net
        .call(&alice, |tx| stake_and_mint(tx, 2 * SUI, ROLE_USER, b""))
        .await
        .unwrap();
    executed.assert_success();

    let token_object = minted_token(&mut net, &executed).await;
    assert_eq!(token_object.owner(), &Owner::Address(alice.address));
    let token: SealToken = decode(&token_object);
    assert_eq!(token.owner, alice.address);
    assert_eq!(token.pool_id, STAKE_POOL_ID);

    let record = record(&mut net, token_object.object_id()).await.unwrap();
    assert_eq!(record.stake, Mist::new(2 * SUI));
    assert_eq!(record.owner, alice.address);
    assert_eq!(
        record.expires_at_ms - record.created_at_ms,
        30 * 24 * 3_600_000
    );

    let pool = pool(&mut net).await;
    assert_eq!(pool.total_staked, Mist::new(2 * SUI));
    assert_eq!(pool.records.size, 1);

    let events = events(&executed);
    let [PackageEvent::StakeCreated(event)] = events.as_slice() else {
        panic!("expected one StakeCreated, got {events:?}");
    };
    assert_eq!(event.token_id.address(), token_object.object_id());
    assert_eq!(event.tier, Some(Tier::Developer));
    assert_eq!(event.stake, Mist::new(2 * SUI));

    // The pool is shared since genesis and its version advanced.
    let pool_object = net.object(STAKE_POOL_ID).await;
    assert_eq!(pool_object.owner(), &Owner::Shared(1));
    assert_eq!(pool_object.version(), executed.v2().lamport_version);
}

// scenario: staking::EInvalidRole
// scenario: staking::ENodeIdRequired
// scenario: staking::ENodeIdNotAllowed
// scenario: staking::EStakeTooLow
// scenario: staking::EWorkerStakeTooLow
#[tokio::test]
async fn stake_and_mint_aborts_follow_the_table() {
    let mut net = start().await;
    let alice = net.account(key(1)).await;
    let cases: [(u64, u8, &[u8], StakingAbort); 5] = [
        (SUI, 7, b"", StakingAbort::InvalidRole),
        (6 * SUI, ROLE_WORKER, b"", StakingAbort::NodeIdRequired),
        (SUI, ROLE_USER, b"node-1", StakingAbort::NodeIdNotAllowed),
        (SUI / 10, ROLE_USER, b"", StakingAbort::StakeTooLow),
        (SUI, ROLE_WORKER, b"node-1", StakingAbort::WorkerStakeTooLow),
    ];
    for (amount, role, node_id, expected) in cases {
        let before = net.object(alice.gas).await;
        let executed = net
            .call(&alice, |tx| stake_and_mint(tx, amount, role, node_id))
            .await
            .unwrap();
        assert_eq!(
            abort_code(&executed),
            ("staking".to_owned(), expected.code()),
            "{expected:?}"
        );
        // Only gas was charged: no object but the gas coin changed.
        assert_eq!(executed.v2().changed_objects.len(), 2, "gas coin and pool");
        assert!(executed.events.is_none());
        let after = net.object(alice.gas).await;
        assert!(common::coin_balance(&after) < common::coin_balance(&before));
    }
    assert_eq!(pool(&mut net).await.total_staked, Mist::ZERO);
}

// scenario: staking::UnstakeRequested
// scenario: staking::EUnbondingNotOver
// scenario: staking::Withdrawn
#[tokio::test]
async fn unstake_waits_for_the_unbonding_period_via_the_clock_hook() {
    let mut net = start().await;
    let alice = net.account(key(1)).await;
    let executed = net
        .call(&alice, |tx| {
            stake_and_mint(tx, 6 * SUI, ROLE_WORKER, b"node-1")
        })
        .await
        .unwrap();
    executed.assert_success();
    let token = minted_token(&mut net, &executed).await;
    let token_id = token.object_id();

    let token_input = |object: &Object| ObjectInput::from(object);
    let t = net.object(token_id).await;
    let executed = net
        .call(&alice, |tx| {
            let args = vec![
                tx.object(inputs::pool(true)),
                tx.object(token_input(&t)),
                tx.object(inputs::clock()),
            ];
            tx.move_call(function("staking", "request_unstake"), args);
        })
        .await
        .unwrap();
    executed.assert_success();
    assert!(matches!(
        events(&executed).as_slice(),
        [PackageEvent::UnstakeRequested(_)]
    ));

    let withdraw = |t: Object| {
        move |tx: &mut TransactionBuilder| {
            let args = vec![
                tx.object(inputs::pool(true)),
                tx.object(ObjectInput::from(&t)),
                tx.object(inputs::clock()),
            ];
            tx.move_call(function("staking", "withdraw"), args);
        }
    };
    let t = net.object(token_id).await;
    let executed = net.call(&alice, withdraw(t)).await.unwrap();
    assert_eq!(
        abort_code(&executed),
        ("staking".to_owned(), StakingAbort::UnbondingNotOver.code())
    );

    let week = 7 * 24 * 3_600_000;
    net.devnet.ledger().advance_clock(week + 1_000).unwrap();
    let before = net.balance(alice.address).await;
    let t = net.object(token_id).await;
    let executed = net.call(&alice, withdraw(t)).await.unwrap();
    executed.assert_success();
    let emitted = events(&executed);
    let [PackageEvent::Withdrawn(event)] = emitted.as_slice() else {
        panic!("expected Withdrawn");
    };
    assert_eq!(event.amount, Mist::new(6 * SUI));
    assert!(net.try_object(token_id).await.is_err(), "token deleted");
    assert_eq!(record(&mut net, token_id).await, None);
    let gas = &executed.v2().gas_used;
    assert_eq!(
        net.balance(alice.address).await,
        before + 6 * SUI + gas.storage_rebate - gas.computation_cost - gas.storage_cost
    );
    let pool = pool(&mut net).await;
    assert_eq!(pool.total_staked, Mist::ZERO);
    assert_eq!(pool.records.size, 0);
}

// scenario: staking::SlashProposed
// scenario: staking::SlashApproved
// scenario: staking::EUnknownProposal
#[tokio::test]
async fn slash_by_proposal_and_admin_caps() {
    let mut net = start().await;
    // Genesis gives the caps to the faucet's address by default.
    let admin = net.account(daas_devnet::faucet::faucet_key()).await;
    let alice = net.account(key(1)).await;
    let bob = net.account(key(2)).await;
    let executed = net
        .call(&bob, |tx| stake_and_mint(tx, 5 * SUI, ROLE_USER, b""))
        .await
        .unwrap();
    executed.assert_success();
    let token_id = minted_token(&mut net, &executed).await.object_id();

    let executed = net
        .call(&alice, |tx| {
            let args = vec![
                tx.object(inputs::pool(true)),
                tx.pure(&token_id),
                tx.pure(&vec![7u8; 32]),
                tx.pure(&"double signing".as_bytes().to_vec()),
                tx.object(inputs::clock()),
            ];
            tx.move_call(function("staking", "propose_slash"), args);
        })
        .await
        .unwrap();
    executed.assert_success();
    let emitted = events(&executed);
    let [PackageEvent::SlashProposed(proposed)] = emitted.as_slice() else {
        panic!("expected SlashProposed");
    };
    assert_eq!(proposed.proposal_id, 0);
    assert_eq!(proposed.reporter, alice.address);

    // Alice holds no SlasherCap: using the admin's is refused before execution.
    let cap = net.object(SLASHER_CAP_ID).await;
    let approve = |cap: Object| {
        move |tx: &mut TransactionBuilder| {
            let args = vec![
                tx.object(inputs::pool(true)),
                tx.object(ObjectInput::from(&cap)),
                tx.pure(&0u64),
            ];
            tx.move_call(function("staking", "approve_slash"), args);
        }
    };
    let err = net.call(&alice, approve(cap.clone())).await.unwrap_err();
    assert!(err.message().contains("not by the sender"), "{err}");

    let executed = net.call(&admin, approve(cap)).await.unwrap();
    executed.assert_success();
    let emitted = events(&executed);
    let [PackageEvent::SlashApproved(approved)] = emitted.as_slice() else {
        panic!("expected SlashApproved");
    };
    assert_eq!(approved.slashed, Mist::new(SUI / 2));
    assert_eq!(approved.stake, Mist::new(5 * SUI - SUI / 2));
    assert_eq!(approved.tier, Some(Tier::Developer));
    assert_eq!(approved.approver, admin.address);
    let pool_state = pool(&mut net).await;
    assert_eq!(pool_state.treasury, Mist::new(SUI / 2));
    assert_eq!(pool_state.proposals.size, 0);
    assert_eq!(
        record(&mut net, token_id).await.unwrap().slashed_total,
        Mist::new(SUI / 2)
    );

    // A second approval of the same proposal aborts EUnknownProposal.
    let cap = net.object(SLASHER_CAP_ID).await;
    let executed = net.call(&admin, approve(cap)).await.unwrap();
    assert_eq!(
        abort_code(&executed),
        ("staking".to_owned(), StakingAbort::UnknownProposal.code())
    );

    // The admin withdraws the treasury.
    let admin_cap = net.object(ADMIN_CAP_ID).await;
    let executed = net
        .call(&admin, |tx| {
            let args = vec![
                tx.object(inputs::pool(true)),
                tx.object(ObjectInput::from(&admin_cap)),
                tx.pure(&(SUI / 2)),
            ];
            tx.move_call(function("staking", "withdraw_treasury"), args);
        })
        .await
        .unwrap();
    executed.assert_success();
    let coin = executed
        .v2()
        .changed_objects
        .iter()
        .find(|c| {
            c.id_operation == IdOperation::Created
                && matches!(c.output_state, ObjectOut::ObjectWrite { owner: Owner::Address(a), .. } if a == admin.address)
        })
        .unwrap();
    assert_eq!(
        common::coin_balance(&net.object(coin.object_id).await),
        SUI / 2
    );
    assert_eq!(pool(&mut net).await.treasury, Mist::ZERO);
}

// scenario: gateway::K8sRequestSubmitted
// scenario: gateway::EMethodInvalid
#[tokio::test]
async fn gateway_records_requests_of_active_tokens() {
    let mut net = start().await;
    let alice = net.account(key(1)).await;
    let executed = net
        .call(&alice, |tx| stake_and_mint(tx, SUI, ROLE_USER, b""))
        .await
        .unwrap();
    executed.assert_success();
    let token = minted_token(&mut net, &executed).await;

    let submit = |token: Object, method: &'static str| {
        move |tx: &mut TransactionBuilder| {
            let args = vec![
                tx.object(inputs::pool(false)),
                tx.object(ObjectInput::from(&token)),
                tx.pure(&method.as_bytes().to_vec()),
                tx.pure(&"/api/v1/namespaces/default/pods".as_bytes().to_vec()),
                tx.pure(&"default".as_bytes().to_vec()),
                tx.pure(&"pods".as_bytes().to_vec()),
                tx.pure(&b"{}".to_vec()),
                tx.object(inputs::clock()),
            ];
            tx.move_call(function("gateway", "submit_k8s_request"), args);
        }
    };
    let executed = net
        .call(&alice, submit(token.clone(), "GET"))
        .await
        .unwrap();
    executed.assert_success();
    let emitted = events(&executed);
    let [PackageEvent::K8sRequestSubmitted(event)] = emitted.as_slice() else {
        panic!("expected K8sRequestSubmitted");
    };
    assert_eq!(event.tier, Some(Tier::Viewer));
    assert_eq!(
        event.payload_hash,
        daas_core::package::gateway::payload_hash(b"{}").to_vec()
    );
    let request = net.object(event.request_id).await;
    assert_eq!(
        request.owner(),
        &Owner::Shared(executed.v2().lamport_version),
        "newly shared at the transaction's lamport version"
    );

    let token = net.object(token.object_id()).await;
    let executed = net.call(&alice, submit(token, "BREW")).await.unwrap();
    assert_eq!(abort_code(&executed), ("gateway".to_owned(), 101));
}
