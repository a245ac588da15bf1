//! Acceptance tests of the chain client: the real `sui-rpc` gRPC client of
//! `daas_core::chain` against a `daas-devnet` process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use daas_core::chain::{
    ChainClient, ChainConfig, ChainError, ChainEvent, CursorStore, EventFollower, FileCursorStore,
    GasOptions, Profile, Stage, TransactionSigner,
};
use daas_core::package::staking::{StakingAbort, TokenStatus};
use daas_core::package::{
    Mist, PACKAGE_ID, PackageAbort, Role, SLASHER_CAP_ID, STAKE_POOL_ID, Tier,
};
use daas_e2e::devnet::{Devnet, DevnetOptions};
use sui_crypto::SignatureError;
use sui_crypto::ed25519::Ed25519PrivateKey;
use sui_sdk_types::{Address, Transaction, UserSignature};
use sui_transaction_builder::{ObjectInput, TransactionBuilder};

const SUI: u64 = 1_000_000_000;
const DAY_MS: u64 = 24 * 60 * 60 * 1000;

fn key(seed: u8) -> Ed25519PrivateKey {
    Ed25519PrivateKey::new([seed; 32])
}

fn sui(n: u64) -> Mist {
    Mist::new(n * SUI)
}

/// A devnet whose AdminCap belongs to `admin` and SlasherCap to `slasher`,
/// with every key funded.
struct Chain {
    devnet: Devnet,
    client: ChainClient,
    admin: Ed25519PrivateKey,
    slasher: Ed25519PrivateKey,
}

impl Chain {
    async fn start() -> Self {
        let admin = key(0xad);
        let slasher = key(0x51);
        let devnet = Devnet::start_with(DevnetOptions {
            admin: Some(TransactionSigner::address(&admin)),
            slasher: Some(TransactionSigner::address(&slasher)),
            faucet_amount: None,
        })
        .await
        .unwrap();
        let client = devnet.client().unwrap();
        let chain = Self {
            devnet,
            client,
            admin,
            slasher,
        };
        chain.fund(&chain.admin).await;
        chain.fund(&chain.slasher).await;
        chain
    }

    async fn fund(&self, signer: &Ed25519PrivateKey) {
        self.devnet
            .fund(TransactionSigner::address(signer))
            .await
            .unwrap();
    }

    async fn funded(&self, seed: u8) -> Ed25519PrivateKey {
        let key = key(seed);
        self.fund(&key).await;
        key
    }
}

fn abort_of(error: &ChainError) -> PackageAbort {
    error
        .package_abort()
        .unwrap_or_else(|| panic!("expected a k3s_daas abort, got {error}"))
}

fn rpc_code(error: &ChainError) -> tonic::Code {
    match error {
        ChainError::Rpc { status, .. } => status.code(),
        other => panic!("expected a refused RPC, got {other:?}"),
    }
}

#[tokio::test]
async fn staking_mints_a_seal_token_owned_by_the_staker_with_the_right_tier() {
    let chain = Chain::start().await;
    let user = chain.funded(1).await;
    let worker = chain.funded(2).await;

    let minted = chain
        .client
        .stake_and_mint(&user, sui(2), Role::User, "")
        .await
        .unwrap();
    assert_eq!(minted.event.owner, user.address());
    assert_eq!(minted.event.tier, Some(Tier::Developer));
    assert_eq!(minted.event.stake, sui(2));
    let state = chain.client.seal_token_state(minted.token).await.unwrap();
    assert_eq!(state.object_owner(), Some(user.address()));
    assert_eq!(state.token.value.owner, user.address());
    assert_eq!(state.token.value.role, Role::User);
    assert_eq!(state.token.object.version, minted.version);
    assert_eq!(state.record.as_ref().unwrap().stake, sui(2));
    assert_eq!(state.tier(), Some(Tier::Developer));
    assert!(state.is_active(state.record.as_ref().unwrap().created_at_ms));

    let minted = chain
        .client
        .stake_and_mint(&worker, sui(5), Role::Worker, "worker-1")
        .await
        .unwrap();
    let token = chain.client.seal_token(minted.token).await.unwrap().value;
    assert_eq!(token.role, Role::Worker);
    assert_eq!(token.node_id, b"worker-1");
    assert_eq!(minted.event.tier, Some(Tier::Admin));
    let state = chain.client.seal_token_state(minted.token).await.unwrap();
    assert_eq!(state.tier(), None, "a worker's stake buys no access tier");
}

#[tokio::test]
async fn add_stake_raises_the_tier_and_refresh_extends_the_expiry() {
    let chain = Chain::start().await;
    let user = chain.funded(3).await;
    let minted = chain
        .client
        .stake_and_mint(&user, Mist::new(SUI / 2), Role::User, "")
        .await
        .unwrap();
    assert_eq!(minted.event.tier, Some(Tier::Viewer));

    let added = chain
        .client
        .add_stake(&user, minted.token, Mist::new(9 * SUI + SUI / 2))
        .await
        .unwrap();
    assert_eq!(added.event.stake, sui(10));
    assert_eq!(added.event.tier, Some(Tier::Super));
    let state = chain.client.seal_token_state(minted.token).await.unwrap();
    assert_eq!(state.tier(), Some(Tier::Super));

    let before = state.record.unwrap().expires_at_ms;
    chain.devnet.advance_clock(DAY_MS).await.unwrap();
    let refreshed = chain.client.refresh(&user, minted.token).await.unwrap();
    assert!(
        refreshed.event.expires_at_ms >= before + DAY_MS,
        "expiry {} not extended by a day from {before}",
        refreshed.event.expires_at_ms
    );
    let record = chain
        .client
        .stake_record(minted.token)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.expires_at_ms, refreshed.event.expires_at_ms);
}

#[tokio::test]
async fn request_unstake_deactivates_at_once_and_withdraw_waits_for_unbonding() {
    let chain = Chain::start().await;
    let user = chain.funded(4).await;
    let minted = chain
        .client
        .stake_and_mint(&user, sui(3), Role::User, "")
        .await
        .unwrap();

    let early = chain
        .client
        .withdraw(&user, minted.token)
        .await
        .unwrap_err();
    assert_eq!(
        abort_of(&early),
        PackageAbort::Staking(StakingAbort::NotUnbonding),
        "{early}"
    );

    let unstaked = chain
        .client
        .request_unstake(&user, minted.token)
        .await
        .unwrap();
    let state = chain.client.seal_token_state(minted.token).await.unwrap();
    let now = state.record.as_ref().unwrap().created_at_ms;
    assert!(!state.is_active(now));
    assert_eq!(
        state.status(now),
        Some(TokenStatus::Unbonding {
            until_ms: unstaked.event.unbonding_until_ms
        })
    );

    let too_early = chain
        .client
        .withdraw(&user, minted.token)
        .await
        .unwrap_err();
    assert_eq!(
        abort_of(&too_early),
        PackageAbort::Staking(StakingAbort::UnbondingNotOver),
        "{too_early}"
    );
    assert!(too_early.is_abort("staking", 13));

    let pool = chain.client.stake_pool().await.unwrap().value;
    chain
        .devnet
        .advance_clock(pool.params.unbonding_ms + 1_000)
        .await
        .unwrap();
    let before = chain.client.sui_balance(user.address()).await.unwrap();
    let withdrawn = chain.client.withdraw(&user, minted.token).await.unwrap();
    assert_eq!(withdrawn.event.amount, sui(3));
    let after = chain.client.sui_balance(user.address()).await.unwrap();
    assert_eq!(
        i128::from(after),
        i128::from(before) + i128::from(3 * SUI) - withdrawn.outcome.gas_charged,
        "the whole stake comes back, minus gas"
    );
    assert!(matches!(
        chain.client.seal_token(minted.token).await.unwrap_err(),
        ChainError::ObjectNotFound { .. }
    ));
    assert_eq!(chain.client.stake_record(minted.token).await.unwrap(), None);
}

#[tokio::test]
async fn slashing_by_proposal_approval_and_rejection() {
    let chain = Chain::start().await;
    let user = chain.funded(5).await;
    let reporter = chain.funded(6).await;
    let minted = chain
        .client
        .stake_and_mint(&user, sui(10), Role::User, "")
        .await
        .unwrap();
    let treasury_before = chain.client.stake_pool().await.unwrap().value.treasury;

    let proposed = chain
        .client
        .propose_slash(&reporter, minted.token, &[7u8; 32], "double signing")
        .await
        .unwrap();
    assert_eq!(proposed.event.token_id, minted.token);
    assert!(
        chain
            .client
            .slash_proposal(proposed.event.proposal_id)
            .await
            .unwrap()
            .is_some()
    );

    // Without the SlasherCap the reporter cannot approve.
    let refused = chain
        .client
        .approve_slash(&reporter, SLASHER_CAP_ID, proposed.event.proposal_id)
        .await
        .unwrap_err();
    assert_eq!(
        rpc_code(&refused),
        tonic::Code::InvalidArgument,
        "{refused}"
    );
    assert!(
        refused.to_string().contains("SimulateTransaction"),
        "{refused}"
    );

    let approved = chain
        .client
        .approve_slash(&chain.slasher, SLASHER_CAP_ID, proposed.event.proposal_id)
        .await
        .unwrap();
    assert_eq!(approved.event.slashed, sui(1));
    assert_eq!(approved.event.stake, sui(9));
    assert_eq!(approved.event.approver, chain.slasher.address());
    assert!(
        approved
            .outcome
            .events
            .iter()
            .any(|e| e.event_type.name().as_str() == "SlashApproved")
    );
    let record = chain
        .client
        .stake_record(minted.token)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.stake, sui(9));
    assert_eq!(record.slashed_total, sui(1));
    let treasury_after = chain.client.stake_pool().await.unwrap().value.treasury;
    assert_eq!(treasury_after.get(), treasury_before.get() + SUI);
    assert_eq!(
        chain
            .client
            .slash_proposal(proposed.event.proposal_id)
            .await
            .unwrap(),
        None
    );

    let second = chain
        .client
        .propose_slash(&reporter, minted.token, &[8u8; 32], "false alarm")
        .await
        .unwrap();
    let rejected = chain
        .client
        .reject_slash(&chain.slasher, SLASHER_CAP_ID, second.event.proposal_id)
        .await
        .unwrap();
    assert_eq!(rejected.event.proposal_id, second.event.proposal_id);
    let record = chain
        .client
        .stake_record(minted.token)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.stake, sui(9), "a rejected proposal leaves the stake");
    let gone = chain
        .client
        .approve_slash(&chain.slasher, SLASHER_CAP_ID, second.event.proposal_id)
        .await
        .unwrap_err();
    assert_eq!(
        abort_of(&gone),
        PackageAbort::Staking(StakingAbort::UnknownProposal)
    );
}

/// Claims one address but signs with another key.
struct Impostor {
    claims: Address,
    key: Ed25519PrivateKey,
}

impl TransactionSigner for Impostor {
    fn address(&self) -> Address {
        self.claims
    }

    fn sign_transaction(&self, transaction: &Transaction) -> Result<UserSignature, SignatureError> {
        TransactionSigner::sign_transaction(&self.key, transaction)
    }
}

#[tokio::test]
async fn rejections_carry_the_documented_errors() {
    let chain = Chain::start().await;
    let alice = chain.funded(7).await;
    let mallory = chain.funded(8).await;

    // Stake below the minimum, and a worker below the worker minimum.
    let low = chain
        .client
        .stake_and_mint(&alice, Mist::new(SUI / 10), Role::User, "")
        .await
        .unwrap_err();
    assert_eq!(
        abort_of(&low),
        PackageAbort::Staking(StakingAbort::StakeTooLow)
    );
    assert!(matches!(
        low,
        ChainError::Aborted {
            stage: Stage::Simulation,
            ..
        }
    ));
    let low_worker = chain
        .client
        .stake_and_mint(&alice, sui(1), Role::Worker, "node-a")
        .await
        .unwrap_err();
    assert_eq!(
        abort_of(&low_worker),
        PackageAbort::Staking(StakingAbort::WorkerStakeTooLow)
    );

    // Wrong signer: Mallory signs a transaction whose sender is Alice.
    let impostor = Impostor {
        claims: alice.address(),
        key: key(8),
    };
    let forged = chain
        .client
        .stake_and_mint(&impostor, sui(1), Role::User, "")
        .await
        .unwrap_err();
    assert_eq!(rpc_code(&forged), tonic::Code::Unauthenticated, "{forged}");
    assert!(
        forged.to_string().contains("not from the sender"),
        "{forged}"
    );

    // Someone else's seal token.
    let minted = chain
        .client
        .stake_and_mint(&alice, sui(1), Role::User, "")
        .await
        .unwrap();
    let stolen = chain
        .client
        .refresh(&mallory, minted.token)
        .await
        .unwrap_err();
    assert_eq!(rpc_code(&stolen), tonic::Code::InvalidArgument, "{stolen}");
    assert!(stolen.to_string().contains("not by the sender"), "{stolen}");
    let stolen = chain
        .client
        .request_unstake(&mallory, minted.token)
        .await
        .unwrap_err();
    assert_eq!(rpc_code(&stolen), tonic::Code::InvalidArgument, "{stolen}");
    assert!(
        chain
            .client
            .seal_token_state(minted.token)
            .await
            .unwrap()
            .is_active(minted.event.created_at_ms),
        "the owner's token is untouched"
    );

    // Stale object version: a gas coin reference from before a transaction.
    let coin = chain.client.sui_coins(alice.address()).await.unwrap()[0];
    chain.client.refresh(&alice, minted.token).await.unwrap();
    let mut tx = TransactionBuilder::new();
    tx.set_sender(alice.address());
    tx.set_gas_price(chain.client.reference_gas_price().await.unwrap());
    tx.set_gas_budget(10_000_000);
    tx.add_gas_objects([ObjectInput::owned(coin.id, coin.version, coin.digest)]);
    let pool = chain
        .client
        .shared_object(chain.client.stake_pool_id(), true)
        .await
        .unwrap();
    let token = chain
        .client
        .owned_object(minted.token.address())
        .await
        .unwrap();
    daas_core::chain::ptb::refresh(&mut tx, chain.client.package_id(), pool, token);
    let stale = chain
        .client
        .sign_and_execute(&alice, tx.try_build().unwrap())
        .await
        .unwrap_err();
    assert_eq!(rpc_code(&stale), tonic::Code::FailedPrecondition, "{stale}");
    assert!(stale.to_string().contains("version"), "{stale}");

    // Insufficient gas: a budget that covers less than the call costs.
    let starved = chain
        .client
        .with_gas(GasOptions {
            price: None,
            budget: Some(1_000_000),
        })
        .stake_and_mint(&alice, sui(1), Role::User, "")
        .await
        .unwrap_err();
    match &starved {
        ChainError::ExecutionFailed {
            stage: Stage::Execution,
            kind,
            digest: Some(_),
            ..
        } => assert_eq!(kind, "INSUFFICIENT_GAS"),
        other => panic!("expected INSUFFICIENT_GAS, got {other:?}"),
    }
}

#[tokio::test]
async fn a_restarted_devnet_keeps_its_state() {
    let mut chain = Chain::start().await;
    let user = chain.funded(9).await;
    let minted = chain
        .client
        .stake_and_mint(&user, sui(2), Role::User, "")
        .await
        .unwrap();
    let balance = chain.client.sui_balance(user.address()).await.unwrap();
    let pool = chain.client.stake_pool().await.unwrap();

    chain.devnet.restart().await.unwrap();
    let client = chain.devnet.client().unwrap();
    let state = client.seal_token_state(minted.token).await.unwrap();
    assert_eq!(state.token.object.version, minted.version);
    assert_eq!(state.record.unwrap().stake, sui(2));
    assert_eq!(client.sui_balance(user.address()).await.unwrap(), balance);
    assert_eq!(client.stake_pool().await.unwrap().value, pool.value);
    // And it keeps working.
    client.add_stake(&user, minted.token, sui(1)).await.unwrap();
    chain.client = client;
    assert_eq!(
        chain
            .client
            .stake_record(minted.token)
            .await
            .unwrap()
            .unwrap()
            .stake,
        sui(3)
    );
}

/// Reads every event now on chain, acknowledging each.
async fn drain<S: CursorStore>(follower: &mut EventFollower<S>) -> Vec<ChainEvent> {
    let mut seen = Vec::new();
    while let Some(event) = follower.try_next().await.unwrap() {
        follower.ack(&event).await.unwrap();
        seen.push(event);
    }
    seen
}

fn names(client: &ChainClient, events: &[ChainEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            let decoded = e.decode(client.package_id()).unwrap().unwrap();
            format!("{}:{decoded:?}", e.event.event_type.name())
        })
        .collect()
}

#[tokio::test]
async fn the_event_follower_resumes_from_its_cursor_and_sees_every_event_once_in_order() {
    let mut chain = Chain::start().await;
    let user = chain.funded(10).await;
    let dir = tempfile::tempdir().unwrap();
    let cursor_file = dir.path().join("cursor.json");

    // Everything that will happen, in order.
    let minted = chain
        .client
        .stake_and_mint(&user, sui(1), Role::User, "")
        .await
        .unwrap();
    chain
        .client
        .add_stake(&user, minted.token, sui(1))
        .await
        .unwrap();

    let mut follower = EventFollower::new(chain.client.clone(), FileCursorStore::new(&cursor_file));
    let first = drain(&mut follower).await;
    assert_eq!(first.len(), 2, "{:?}", names(&chain.client, &first));
    drop(follower);

    chain.client.refresh(&user, minted.token).await.unwrap();
    chain
        .client
        .request_unstake(&user, minted.token)
        .await
        .unwrap();
    chain.devnet.restart().await.unwrap();
    chain.client = chain.devnet.client().unwrap();
    chain
        .client
        .propose_slash(&user, minted.token, &[1u8; 32], "self-report")
        .await
        .unwrap();

    let mut follower = EventFollower::new(chain.client.clone(), FileCursorStore::new(&cursor_file));
    let second = drain(&mut follower).await;
    drop(follower);

    // A follower from scratch sees the whole history: the two runs together
    // must be exactly that, without gaps or repeats.
    let dir2 = tempfile::tempdir().unwrap();
    let mut fresh = EventFollower::new(
        chain.client.clone(),
        FileCursorStore::new(dir2.path().join("cursor.json")),
    );
    let all = drain(&mut fresh).await;

    let mut resumed = first.clone();
    resumed.extend(second.iter().cloned());
    assert_eq!(
        names(&chain.client, &resumed),
        names(&chain.client, &all),
        "resumed follower differs from a full read"
    );
    assert_eq!(all.len(), 5);
    let kinds: Vec<String> = all
        .iter()
        .map(|e| e.event.event_type.name().to_string())
        .collect();
    assert_eq!(
        kinds,
        [
            "StakeCreated",
            "StakeAdded",
            "TokenRefreshed",
            "UnstakeRequested",
            "SlashProposed"
        ]
    );
    assert!(all.windows(2).all(|w| w[0].cursor < w[1].cursor));
    assert_eq!(
        FileCursorStore::new(&cursor_file).load().await.unwrap(),
        Some(all[4].cursor)
    );
}

#[tokio::test]
async fn the_testnet_profile_waits_for_checkpoint_inclusion() {
    let chain = Chain::start().await;
    let user = chain.funded(12).await;
    // The real-network code path (finality by checkpoint, configured ids)
    // pointed at the devnet.
    let config = ChainConfig {
        endpoint: Some(chain.devnet.url().to_owned()),
        ..ChainConfig::new(Profile::Testnet)
            .with_package(PACKAGE_ID)
            .with_stake_pool(STAKE_POOL_ID)
    };
    let client = ChainClient::new(config).unwrap();
    let minted = client
        .stake_and_mint(&user, sui(1), Role::User, "")
        .await
        .unwrap();
    let checkpoint = minted.outcome.checkpoint.expect("final by checkpoint");
    assert_eq!(
        client
            .wait_for_checkpoint(minted.outcome.digest)
            .await
            .unwrap(),
        checkpoint
    );
    assert!(client.service_info().await.unwrap().checkpoint_height >= checkpoint);
}
