//! The event cursor in a ConfigMap of the real API server: read and write,
//! resume from another store, and compare-and-swap between two masters.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use daas_core::chain::{CursorStore, EventCursor};
use daas_e2e::k3s;
use daas_master::cursor::{CURSOR_KEY, CursorError, KubeCursorStore};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};

fn cursor(checkpoint: u64) -> EventCursor {
    EventCursor {
        checkpoint,
        transaction_index: 2,
        event_index: 3,
    }
}

/// A store on a ConfigMap of its own in a fresh namespace.
async fn stores(prefix: &str) -> (Client, String, KubeCursorStore, KubeCursorStore) {
    let cluster = k3s::shared().await.unwrap();
    let client = cluster.client().await.unwrap();
    let namespace = cluster.create_namespace(&client, prefix).await.unwrap();
    let a = KubeCursorStore::new(client.clone(), &namespace, "cursor");
    let b = KubeCursorStore::new(client.clone(), &namespace, "cursor");
    (client, namespace, a, b)
}

#[tokio::test]
async fn cursor_round_trips_and_resumes() {
    let (_, _, store, restarted) = stores("cursor-rt").await;
    assert_eq!(store.load().await.unwrap(), None);
    store.store(cursor(7)).await.unwrap();
    store.store(cursor(8)).await.unwrap();
    assert_eq!(store.load().await.unwrap(), Some(cursor(8)));
    // A master started later resumes from the stored cursor.
    assert_eq!(restarted.load().await.unwrap(), Some(cursor(8)));
    restarted.store(cursor(9)).await.unwrap();
    assert_eq!(restarted.load().await.unwrap(), Some(cursor(9)));
}

#[tokio::test]
async fn only_one_of_two_masters_advances_the_cursor() {
    let (_, _, first, second) = stores("cursor-cas").await;
    first.store(cursor(1)).await.unwrap_err();
    assert_eq!(first.read().await.unwrap(), None);
    assert_eq!(second.read().await.unwrap(), None);
    // Both saw "absent"; only one may create it.
    first.write(cursor(1)).await.unwrap();
    let err = second.write(cursor(2)).await.unwrap_err();
    assert!(matches!(err, CursorError::Conflict { .. }), "{err}");

    // Both read version v; the first advances it, the second is refused.
    assert_eq!(second.read().await.unwrap(), Some(cursor(1)));
    first.write(cursor(3)).await.unwrap();
    let err = second.write(cursor(4)).await.unwrap_err();
    assert!(matches!(err, CursorError::Conflict { .. }), "{err}");
    // After a conflict it must read again before it writes.
    let err = second.write(cursor(4)).await.unwrap_err();
    assert!(matches!(err, CursorError::NotRead { .. }), "{err}");
    assert_eq!(second.read().await.unwrap(), Some(cursor(3)));
    second.write(cursor(4)).await.unwrap();
    assert_eq!(first.read().await.unwrap(), Some(cursor(4)));
}

#[tokio::test]
async fn malformed_cursor_is_reported() {
    let (client, namespace, store, _) = stores("cursor-bad").await;
    let config_map = ConfigMap {
        metadata: ObjectMeta {
            name: Some("cursor".to_owned()),
            ..ObjectMeta::default()
        },
        data: Some([(CURSOR_KEY.to_owned(), "{\"checkpoint\": -1}".to_owned())].into()),
        ..ConfigMap::default()
    };
    Api::<ConfigMap>::namespaced(client, &namespace)
        .create(&PostParams::default(), &config_map)
        .await
        .unwrap();
    let err = store.read().await.unwrap_err();
    assert!(matches!(err, CursorError::Malformed { .. }), "{err}");
    assert!(store.load().await.is_err());
}

#[tokio::test]
async fn default_store_lives_in_kube_system() {
    let cluster = k3s::shared().await.unwrap();
    let client = cluster.client().await.unwrap();
    let store = KubeCursorStore::in_kube_system(client.clone());
    store.load().await.unwrap();
    store.store(cursor(42)).await.unwrap();
    let stored = Api::<ConfigMap>::namespaced(client, "kube-system")
        .get(daas_master::cursor::CURSOR_CONFIG_MAP)
        .await
        .unwrap();
    let text = &stored.data.unwrap()[CURSOR_KEY];
    assert_eq!(
        serde_json::from_str::<EventCursor>(text).unwrap(),
        cursor(42)
    );
}
