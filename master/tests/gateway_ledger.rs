//! The gateway's execution ledger in ConfigMaps of the real API server:
//! of two masters starting the same request only one may send it, an
//! executed entry is believed only under the master's record key, and
//! anything else reads as an interrupted attempt.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use daas_e2e::k3s;
use std::time::Duration;

use daas_master::gateway::GatewayError;
use daas_master::gateway::ledger::{Begun, IdempotencyKey, Ledger, Outcome};
use daas_master::leader::{Elector, FenceError, LeaseSettings};
use daas_master::record_key::{KEY_LEN, RecordKey};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use sui_sdk_types::{Address, Digest};

const REQUEST: Address = Address::new([0x0a; 32]);

fn key(index: u32) -> IdempotencyKey {
    IdempotencyKey {
        transaction: Digest::new([0x5e; 32]),
        event_index: index,
    }
}

fn lease(namespace: &str) -> LeaseSettings {
    LeaseSettings {
        namespace: namespace.to_owned(),
        name: "gateway-ledger-lease".to_owned(),
        lease_duration: Duration::from_secs(15),
        renew_interval: Duration::from_secs(2),
        renew_deadline: Duration::from_secs(10),
    }
}

fn fenced(result: Result<impl std::fmt::Debug, GatewayError>) -> FenceError {
    match result {
        Err(GatewayError::Fenced(error)) => error,
        other => panic!("expected a fenced refusal, got {other:?}"),
    }
}

/// A stale leader neither starts nor finishes a request: its term's
/// generation is checked against the real Lease, and an entry a newer
/// generation wrote is refused.
#[tokio::test]
async fn a_stale_leader_cannot_write_the_ledger() {
    let cluster = k3s::shared().await.unwrap();
    let client = cluster.client().await.unwrap();
    let namespace = cluster
        .create_namespace(&client, "gateway-fence")
        .await
        .unwrap();
    let ledger = Ledger::new(client.clone(), &namespace);
    let record_key = RecordKey::from_bytes([3; KEY_LEN]);
    let outcome = Outcome {
        status: 201,
        result_hash: [9; 32],
    };

    let mut a = Elector::new(client.clone(), lease(&namespace), "master-a").unwrap();
    assert!(a.try_acquire_or_renew().await.unwrap());
    let old = a.current_fence().unwrap();
    assert_eq!(
        ledger
            .begin(key(0), REQUEST, &record_key, &old)
            .await
            .unwrap(),
        Begun::Fresh
    );

    // "a" gives the lease up; "b" takes it: a's writes are refused.
    a.release().await.unwrap();
    let mut b = Elector::new(client.clone(), lease(&namespace), "master-b").unwrap();
    assert!(b.try_acquire_or_renew().await.unwrap());
    let newer = b.current_fence().unwrap();
    assert!(newer.generation() > old.generation());
    assert!(matches!(
        fenced(ledger.finish(key(0), REQUEST, &outcome, &record_key, &old).await),
        FenceError::NotHolder { holder: Some(h) } if h == "master-b"
    ));
    assert!(matches!(
        fenced(ledger.begin(key(1), REQUEST, &record_key, &old).await),
        FenceError::NotHolder { .. }
    ));
    // "b" takes the interrupted request over and finishes it.
    assert_eq!(
        ledger
            .begin(key(0), REQUEST, &record_key, &newer)
            .await
            .unwrap(),
        Begun::Interrupted
    );
    ledger
        .finish(key(0), REQUEST, &outcome, &record_key, &newer)
        .await
        .unwrap();

    // "a" leads again, in a new term: its old term's fence stays stale.
    b.release().await.unwrap();
    assert!(a.try_acquire_or_renew().await.unwrap());
    assert!(matches!(
        fenced(ledger.begin(key(2), REQUEST, &record_key, &old).await),
        FenceError::StaleGeneration { .. }
    ));
    // Its new term finds b's result and does not execute again.
    let current = a.current_fence().unwrap();
    assert!(current.generation() > newer.generation());
    assert_eq!(
        ledger
            .begin(key(0), REQUEST, &record_key, &current)
            .await
            .unwrap(),
        Begun::Executed(outcome)
    );
}

#[tokio::test]
async fn one_master_sends_and_only_a_keyed_result_is_believed() {
    let cluster = k3s::shared().await.unwrap();
    let client = cluster.client().await.unwrap();
    let namespace = cluster
        .create_namespace(&client, "gateway-ledger")
        .await
        .unwrap();
    let first = Ledger::new(client.clone(), &namespace);
    let second = Ledger::new(client.clone(), &namespace);
    let record_key = RecordKey::from_bytes([3; KEY_LEN]);
    let mut elector = Elector::new(client.clone(), lease(&namespace), "master-a").unwrap();
    assert!(elector.try_acquire_or_renew().await.unwrap());
    let fence = elector.current_fence().unwrap();

    // Two masters start the same request: one sends, the other finds an
    // attempt in progress and must read the target back instead.
    assert_eq!(
        first
            .begin(key(0), REQUEST, &record_key, &fence)
            .await
            .unwrap(),
        Begun::Fresh
    );
    assert_eq!(
        second
            .begin(key(0), REQUEST, &record_key, &fence)
            .await
            .unwrap(),
        Begun::Interrupted
    );
    // Another event of the same transaction is another request.
    assert_eq!(
        second
            .begin(key(1), REQUEST, &record_key, &fence)
            .await
            .unwrap(),
        Begun::Fresh
    );

    let outcome = Outcome {
        status: 201,
        result_hash: [9; 32],
    };
    first
        .finish(key(0), REQUEST, &outcome, &record_key, &fence)
        .await
        .unwrap();
    assert_eq!(
        second
            .begin(key(0), REQUEST, &record_key, &fence)
            .await
            .unwrap(),
        Begun::Executed(outcome)
    );

    // A result changed by anyone without the key is not signed: the entry
    // reads as interrupted.
    let entries: Api<ConfigMap> = Api::namespaced(client, &namespace);
    let planted = serde_json::json!({ "data": { "status": "200" } });
    entries
        .patch(
            &key(0).config_map_name(),
            &PatchParams::default(),
            &Patch::Merge(&planted),
        )
        .await
        .unwrap();
    assert_eq!(
        first
            .begin(key(0), REQUEST, &record_key, &fence)
            .await
            .unwrap(),
        Begun::Interrupted
    );
    // And under another master key nothing is believed either.
    let other_key = RecordKey::from_bytes([4; KEY_LEN]);
    first
        .finish(
            key(1),
            REQUEST,
            &Outcome {
                status: 200,
                result_hash: [1; 32],
            },
            &record_key,
            &fence,
        )
        .await
        .unwrap();
    assert_eq!(
        first
            .begin(key(1), REQUEST, &other_key, &fence)
            .await
            .unwrap(),
        Begun::Interrupted
    );
}
