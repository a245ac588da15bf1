//! Paged lists against the shared real API server: every object once, in
//! pages smaller than the list, with managed fields dropped.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use daas_e2e::k3s::{self, unique_suffix};
use daas_master::paged_list;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, ObjectMeta, PostParams};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_smaller_than_the_list_return_every_object_once() {
    let cluster = k3s::shared().await.unwrap();
    let client = cluster.client().await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let run = format!("paged-{}", unique_suffix());
    let mut names = BTreeSet::new();
    for i in 0..7 {
        let name = format!("{run}-{i}");
        let map = ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some([("paged-list-test".to_owned(), run.clone())].into()),
                ..ObjectMeta::default()
            },
            ..ConfigMap::default()
        };
        api.create(&PostParams::default(), &map).await.unwrap();
        names.insert(name);
    }
    let params = ListParams::default()
        .labels(&format!("paged-list-test={run}"))
        .limit(3);

    let listed = paged_list::list(&api, &params, |map| map.metadata.name.unwrap())
        .await
        .unwrap();
    assert_eq!(listed.len(), names.len(), "{listed:?}");
    assert_eq!(listed.iter().cloned().collect::<BTreeSet<_>>(), names);

    let metadata = paged_list::list_metadata(&api, &params).await.unwrap();
    assert_eq!(metadata.len(), names.len());
    assert!(metadata.iter().all(|meta| meta.managed_fields.is_none()));
    let listed: BTreeSet<String> = metadata.into_iter().filter_map(|m| m.name).collect();
    assert_eq!(listed, names);
}
