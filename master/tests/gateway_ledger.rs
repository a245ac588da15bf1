//! The gateway's execution ledger in ConfigMaps of the real API server:
//! of two masters starting the same request only one may send it, an
//! executed entry is believed only under the master's record key, and
//! anything else reads as an interrupted attempt.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use daas_e2e::k3s;
use daas_master::gateway::ledger::{Begun, IdempotencyKey, Ledger, Outcome};
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

    // Two masters start the same request: one sends, the other finds an
    // attempt in progress and must read the target back instead.
    assert_eq!(
        first.begin(key(0), REQUEST, &record_key).await.unwrap(),
        Begun::Fresh
    );
    assert_eq!(
        second.begin(key(0), REQUEST, &record_key).await.unwrap(),
        Begun::Interrupted
    );
    // Another event of the same transaction is another request.
    assert_eq!(
        second.begin(key(1), REQUEST, &record_key).await.unwrap(),
        Begun::Fresh
    );

    let outcome = Outcome {
        status: 201,
        result_hash: [9; 32],
    };
    first
        .finish(key(0), REQUEST, &outcome, &record_key)
        .await
        .unwrap();
    assert_eq!(
        second.begin(key(0), REQUEST, &record_key).await.unwrap(),
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
        first.begin(key(0), REQUEST, &record_key).await.unwrap(),
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
        )
        .await
        .unwrap();
    assert_eq!(
        first.begin(key(1), REQUEST, &other_key).await.unwrap(),
        Begun::Interrupted
    );
}
