//! The event follower's checkpoint-level cursor against a real devnet: a
//! follower that read quiet checkpoints (transactions of no package event)
//! stores that it read them, and a restart resumes after them instead of
//! after the last event.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use daas_core::chain::{
    ChainEvent, CursorStore, EventCursor, EventFollower, FileCursorStore, TransactionSigner,
};
use daas_core::package::{Mist, Role};
use daas_e2e::devnet::Devnet;
use sui_crypto::ed25519::Ed25519PrivateKey;
use sui_sdk_types::Address;

const SUI: u64 = 1_000_000_000;

async fn drain<S: CursorStore>(follower: &mut EventFollower<S>) -> Vec<ChainEvent> {
    let mut seen = Vec::new();
    while let Some(event) = follower.try_next().await.unwrap() {
        follower.ack(&event).await.unwrap();
        seen.push(event);
    }
    seen
}

#[tokio::test]
async fn a_restarted_follower_resumes_after_the_quiet_checkpoints_it_read() {
    let devnet = Devnet::start().await.unwrap();
    let chain = devnet.client().unwrap();
    let user = Ed25519PrivateKey::new([0x61; 32]);
    devnet
        .fund(TransactionSigner::address(&user))
        .await
        .unwrap();
    let minted = chain
        .stake_and_mint(&user, Mist::new(SUI), Role::User, "")
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let with_checkpoints = FileCursorStore::new(dir.path().join("checkpoints.json"));
    let events_only = FileCursorStore::new(dir.path().join("events.json"));
    let mut follower = EventFollower::new(chain.clone(), with_checkpoints.clone())
        .with_checkpoint_cursor(Duration::ZERO);
    let mut plain = EventFollower::new(chain.clone(), events_only.clone());
    assert_eq!(drain(&mut follower).await.len(), 1);
    assert_eq!(drain(&mut plain).await.len(), 1);

    // Quiet checkpoints: faucet transfers, no package event.
    for seed in 0..5u8 {
        devnet.fund(Address::new([seed; 32])).await.unwrap();
    }
    let height = chain.service_info().await.unwrap().checkpoint_height;
    assert!(height > minted.outcome.checkpoint.unwrap_or_default());
    assert!(drain(&mut follower).await.is_empty());
    assert!(drain(&mut plain).await.is_empty());

    // The event-only cursor is still at the mint; the checkpoint cursor
    // covers every checkpoint read.
    let at_event = events_only.load().await.unwrap().unwrap();
    assert!(!at_event.is_whole_checkpoint());
    assert!(at_event.checkpoint < height);
    let at_checkpoint = with_checkpoints.load().await.unwrap().unwrap();
    assert_eq!(at_checkpoint, EventCursor::after_checkpoint(height));
    assert_eq!(at_checkpoint.resume_checkpoint(), height + 1);
    drop(follower);

    // A restart resumes there and still sees the next event, once.
    chain
        .add_stake(&user, minted.token, Mist::new(SUI))
        .await
        .unwrap();
    let mut resumed = EventFollower::new(chain.clone(), with_checkpoints.clone())
        .with_checkpoint_cursor(Duration::ZERO);
    let next = drain(&mut resumed).await;
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].event.event_type.name().to_string(), "StakeAdded");
    assert!(next[0].cursor.checkpoint > height);
    // Caught up again: everything read so far is covered.
    let now = chain.service_info().await.unwrap().checkpoint_height;
    assert_eq!(
        with_checkpoints.load().await.unwrap(),
        Some(EventCursor::after_checkpoint(now))
    );
}
