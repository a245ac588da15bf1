//! The event follower against a real devnet process: it reads with
//! `ListEvents` (filtered on the node) and a restart resumes from the
//! stored cursor without re-reading what was handled; a follower that read
//! quiet checkpoints (transactions of no package event) stores that it read
//! them, and a restart resumes after them instead of after the last event,
//! whether it lists events or reads checkpoints.
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
async fn a_restarted_follower_lists_only_the_events_after_its_cursor() {
    let devnet = Devnet::start().await.unwrap();
    let chain = devnet.client().unwrap();
    let user = Ed25519PrivateKey::new([0x62; 32]);
    devnet
        .fund(TransactionSigner::address(&user))
        .await
        .unwrap();
    let minted = chain
        .stake_and_mint(&user, Mist::new(SUI), Role::User, "")
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = FileCursorStore::new(dir.path().join("cursor.json"));
    // As the master follows: the cursor also moves past read checkpoints.
    let follower =
        || EventFollower::new(chain.clone(), store.clone()).with_checkpoint_cursor(Duration::ZERO);
    let mut first = follower();
    let handled = drain(&mut first).await;
    assert!(!handled.is_empty());
    assert!(first.uses_list_events());
    assert_eq!(first.stats().checkpoints_read, 0);
    assert_eq!(first.stats().listed_events, handled.len() as u64);
    let last = handled.last().unwrap().cursor;
    let stored = store.load().await.unwrap().unwrap();
    assert!(stored.is_whole_checkpoint() && stored > last, "{stored}");
    drop(first);

    // Quiet checkpoints and two new package events while it is down.
    devnet.fund(Address::new([0x77; 32])).await.unwrap();
    for _ in 0..2 {
        chain
            .add_stake(&user, minted.token, Mist::new(SUI))
            .await
            .unwrap();
    }
    let mut resumed = follower();
    let next = drain(&mut resumed).await;
    let names: Vec<_> = next
        .iter()
        .map(|e| e.event.event_type.name().to_string())
        .collect();
    assert_eq!(names, ["StakeAdded", "StakeAdded"]);
    assert!(next.iter().all(|e| e.cursor > last));
    // Nothing handled before the restart came over the wire again, and no
    // checkpoint was read one by one.
    assert_eq!(resumed.stats().listed_events, 2);
    assert_eq!(resumed.stats().checkpoints_read, 0);

    // The subscription wakes a caught-up follower when an event lands.
    let waiter = tokio::spawn(async move {
        resumed.wait(Duration::from_secs(30)).await;
        resumed
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    chain
        .add_stake(&user, minted.token, Mist::new(SUI))
        .await
        .unwrap();
    let mut resumed = tokio::time::timeout(Duration::from_secs(20), waiter)
        .await
        .expect("woken by the subscription before the 30 s limit")
        .unwrap();
    assert_eq!(drain(&mut resumed).await.len(), 1);
}

#[tokio::test]
async fn a_restarted_follower_resumes_after_the_quiet_checkpoints_it_read() {
    for by_checkpoints in [false, true] {
        resumes_after_quiet_checkpoints(by_checkpoints).await;
    }
}

async fn resumes_after_quiet_checkpoints(by_checkpoints: bool) {
    let source = |f: EventFollower<FileCursorStore>| {
        if by_checkpoints {
            f.by_checkpoints()
        } else {
            f
        }
    };
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
    let mut follower = source(
        EventFollower::new(chain.clone(), with_checkpoints.clone())
            .with_checkpoint_cursor(Duration::ZERO),
    );
    let mut plain = source(EventFollower::new(chain.clone(), events_only.clone()));
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
    let mut resumed = source(
        EventFollower::new(chain.clone(), with_checkpoints.clone())
            .with_checkpoint_cursor(Duration::ZERO),
    );
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
