//! The access review end to end on a devnet process: stake with the chain
//! client, sign an access token with the same wallet key, verify it, then
//! fetch the seal token, stake record and pool and decide.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use daas_core::access::tokenreview::TokenReview;
use daas_core::access::{
    AccessToken, Claims, Decision, DenyReason, VerifiedToken, review, unix_now_secs,
};
use daas_core::chain::{ChainClient, TransactionSigner};
use daas_core::package::{Mist, Role, STAKE_POOL_ID, SealTokenId, Tier};
use daas_core::wallet::{Keypair, Scheme};
use daas_e2e::devnet::Devnet;
use sui_crypto::ed25519::Ed25519PrivateKey;
use sui_sdk_types::Address;

const SUI: u64 = 1_000_000_000;
const AUDIENCE: &str = "https://daas-devnet-cluster:6443";
const DAY_MS: u64 = 24 * 60 * 60 * 1000;

/// One key as the chain client signs with it and as the wallet signs.
struct User {
    chain: Ed25519PrivateKey,
    wallet: Keypair,
}

impl User {
    async fn funded(devnet: &Devnet, seed: u8) -> Self {
        let chain = Ed25519PrivateKey::new([seed; 32]);
        let wallet = Keypair::from_bytes(Scheme::Ed25519, &[seed; 32]).unwrap();
        assert_eq!(TransactionSigner::address(&chain), wallet.address());
        devnet.fund(wallet.address()).await.unwrap();
        Self { chain, wallet }
    }

    /// A verified access token for `seal`, as the master would get it.
    fn token(&self, seal: SealTokenId) -> VerifiedToken {
        let now = unix_now_secs();
        let claims = Claims::new(
            seal,
            self.wallet.address(),
            AUDIENCE,
            now,
            Duration::from_secs(300),
        )
        .unwrap();
        let wire = AccessToken::sign(&self.wallet, &claims).unwrap();
        AccessToken::parse(wire.as_str())
            .unwrap()
            .verify(AUDIENCE, now, Duration::from_secs(30))
            .unwrap()
    }
}

fn now_ms(offset_ms: u64) -> u64 {
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis();
    u64::try_from(wall).unwrap() + offset_ms
}

async fn decide(client: &ChainClient, token: &VerifiedToken, offset_ms: u64) -> Decision {
    review(client, token, now_ms(offset_ms)).await.unwrap()
}

#[tokio::test]
async fn staked_users_get_their_tier_and_everyone_else_is_denied() {
    let devnet = Devnet::start().await.unwrap();
    let client = devnet.client().unwrap();
    let alice = User::funded(&devnet, 0x11).await;
    let bob = User::funded(&devnet, 0x22).await;
    let worker = User::funded(&devnet, 0x33).await;

    // 2 SUI: developer.
    let minted = client
        .stake_and_mint(&alice.chain, Mist::new(2 * SUI), Role::User, "")
        .await
        .unwrap();
    let token = alice.token(minted.token);
    let Decision::Allowed(grant) = decide(&client, &token, 0).await else {
        panic!("alice denied");
    };
    assert_eq!(grant.tier, Tier::Developer);
    assert_eq!(grant.username, format!("sui:{}", alice.wallet.address()));
    assert_eq!(grant.groups, ["k3s-daas:developer", "k3s-daas:users"]);
    assert_eq!(grant.stake, Mist::new(2 * SUI));
    // The TokenReview answer the master would send.
    let answer = TokenReview::request("daas1.x.y", vec!["k3s".to_owned()])
        .answer(&Decision::Allowed(grant), "k3s");
    let status = answer.status.unwrap();
    assert!(status.authenticated);
    assert_eq!(status.audiences, ["k3s"]);

    // Adding stake raises the tier at the next review.
    client
        .add_stake(&alice.chain, minted.token, Mist::new(3 * SUI))
        .await
        .unwrap();
    let Decision::Allowed(grant) = decide(&client, &token, 0).await else {
        panic!("alice denied after adding stake");
    };
    assert_eq!(grant.tier, Tier::Admin);

    // Bob signs a token naming alice's seal token: his own signature, not
    // the owner's.
    assert_eq!(
        decide(&client, &bob.token(minted.token), 0).await,
        Decision::Denied(DenyReason::NotOwnedBySigner {
            signer: bob.wallet.address(),
            object_owner: Some(alice.wallet.address()),
        })
    );

    // A worker's seal token does not authenticate a user.
    let worker_seal = client
        .stake_and_mint(&worker.chain, Mist::new(5 * SUI), Role::Worker, "node-1")
        .await
        .unwrap();
    assert_eq!(
        decide(&client, &worker.token(worker_seal.token), 0).await,
        Decision::Denied(DenyReason::WorkerToken)
    );

    // No such object; an object that is not a seal token.
    let nowhere = SealTokenId::new(Address::new([0x42; 32]));
    assert_eq!(
        decide(&client, &alice.token(nowhere), 0).await,
        Decision::Denied(DenyReason::UnknownSealToken(nowhere))
    );
    let pool = SealTokenId::new(STAKE_POOL_ID);
    assert_eq!(
        decide(&client, &alice.token(pool), 0).await,
        Decision::Denied(DenyReason::NotASealToken(pool))
    );

    // Unstaking ends access at once.
    client
        .request_unstake(&alice.chain, minted.token)
        .await
        .unwrap();
    assert!(matches!(
        decide(&client, &token, 0).await,
        Decision::Denied(DenyReason::Unbonding { .. })
    ));

    // Bob's own stake expires with the chain's clock.
    let bobs = client
        .stake_and_mint(&bob.chain, Mist::new(SUI), Role::User, "")
        .await
        .unwrap();
    let bob_token = bob.token(bobs.token);
    assert!(decide(&client, &bob_token, 0).await.is_allowed());
    let offset = devnet.advance_clock(31 * DAY_MS).await.unwrap();
    assert!(matches!(
        decide(&client, &bob_token, offset).await,
        Decision::Denied(DenyReason::SealTokenExpired { .. })
    ));

    // A withdrawn seal token no longer exists.
    client.withdraw(&alice.chain, minted.token).await.unwrap();
    assert_eq!(
        decide(&client, &token, offset).await,
        Decision::Denied(DenyReason::UnknownSealToken(minted.token))
    );
}
