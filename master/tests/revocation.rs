//! Revoking a kwok node against the real API server: cordon, drain with
//! evictions (a PodDisruptionBudget-blocked pod force-deleted after the
//! timeout, DaemonSet pods left alone), then the Node, its node-password
//! Secret and its bootstrap tokens deleted; running it again is harmless.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use daas_core::access::NodeName;
use daas_core::package::SealTokenId;
use daas_e2e::k3s::{self, Cluster};
use daas_e2e::kwok;
use daas_master::admission::bootstrap_token::KUBE_SYSTEM;
use daas_master::admission::{WorkerNode, mint_bootstrap_token};
use daas_master::revocation::cleanup::node_password_secret;
use daas_master::revocation::{DrainPolicy, RevocationReport, drain, revoke_node};
use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetSpec};
use k8s_openapi::api::core::v1::{Node, Pod, PodTemplateSpec, Secret};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Client;
use kube::api::{Api, ListParams, ObjectMeta, PostParams};
use sui_sdk_types::Address;

const POLICY: DrainPolicy = DrainPolicy {
    timeout: Duration::from_secs(6),
    initial_backoff: Duration::from_millis(100),
    max_backoff: Duration::from_millis(500),
};

fn labels(app: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("app".to_owned(), app.to_owned())])
}

async fn fake_node(cluster: &Cluster, client: &Client, prefix: &str) -> NodeName {
    kwok::ensure_running(cluster).await.unwrap();
    let name = format!("{prefix}-{}", k3s::unique_suffix());
    kwok::create_node(cluster, client, &name).await.unwrap();
    name.parse().unwrap()
}

async fn run_pod(
    cluster: &Cluster,
    client: &Client,
    namespace: &str,
    name: &str,
    node: &NodeName,
    app: &str,
) {
    let mut pod = kwok::simple_pod(name, Some(node.as_str()));
    pod.metadata.labels = Some(labels(app));
    Api::<Pod>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &pod)
        .await
        .unwrap();
    kwok::wait_pod_running(cluster, client, namespace, name)
        .await
        .unwrap();
}

async fn guard_with_budget(client: &Client, namespace: &str, app: &str) {
    let pdb = PodDisruptionBudget {
        metadata: ObjectMeta {
            name: Some(format!("{app}-pdb")),
            ..ObjectMeta::default()
        },
        spec: Some(PodDisruptionBudgetSpec {
            min_available: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector {
                match_labels: Some(labels(app)),
                ..LabelSelector::default()
            }),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    };
    Api::<PodDisruptionBudget>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &pdb)
        .await
        .unwrap();
}

/// A DaemonSet pinned to `node`; returns its pod's name once it runs.
async fn daemon_pod(client: &Client, namespace: &str, node: &NodeName) -> String {
    let app = "daemon";
    let template = kwok::simple_pod("unused", None);
    let mut spec = template.spec.unwrap();
    spec.node_selector = Some(BTreeMap::from([(
        "kubernetes.io/hostname".to_owned(),
        node.to_string(),
    )]));
    let daemon_set = DaemonSet {
        metadata: ObjectMeta {
            name: Some(app.to_owned()),
            ..ObjectMeta::default()
        },
        spec: DaemonSetSpec {
            selector: LabelSelector {
                match_labels: Some(labels(app)),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(app)),
                    ..ObjectMeta::default()
                }),
                spec: Some(spec),
            },
            ..DaemonSetSpec::default()
        },
        ..DaemonSet::default()
    };
    Api::<DaemonSet>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &daemon_set)
        .await
        .unwrap();
    let pods = Api::<Pod>::namespaced(client.clone(), namespace);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let list = pods
            .list(&ListParams::default().labels(&format!("app={app}")))
            .await
            .unwrap();
        let running = list
            .items
            .into_iter()
            .find(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"));
        if let Some(pod) = running {
            return pod.metadata.name.unwrap();
        }
        assert!(Instant::now() < deadline, "the DaemonSet's pod did not run");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn node_password(client: &Client, node: &NodeName) {
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(node_password_secret(node.as_str())),
            ..ObjectMeta::default()
        },
        string_data: Some(BTreeMap::from([("hash".to_owned(), "$1:fake".to_owned())])),
        ..Secret::default()
    };
    Api::<Secret>::namespaced(client.clone(), KUBE_SYSTEM)
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
}

#[tokio::test]
async fn revoke_drains_and_removes_the_node() {
    let cluster = k3s::shared().await.unwrap();
    let client = cluster.client().await.unwrap();
    let node = fake_node(cluster, &client, "revoke").await;
    let namespace = cluster.create_namespace(&client, "revoke").await.unwrap();
    run_pod(cluster, &client, &namespace, "free", &node, "free").await;
    run_pod(cluster, &client, &namespace, "guarded", &node, "guarded").await;
    guard_with_budget(&client, &namespace, "guarded").await;
    let daemon = daemon_pod(&client, &namespace, &node).await;
    node_password(&client, &node).await;
    let worker = WorkerNode {
        name: node.clone(),
        seal_token: SealTokenId::new(Address::new(rand::random())),
        owner: Address::new(rand::random()),
    };
    let minted = mint_bootstrap_token(&client, &worker, Duration::from_secs(600))
        .await
        .unwrap();

    let started = Instant::now();
    let report = revoke_node(&client, node.as_str(), POLICY).await.unwrap();
    let took = started.elapsed();
    assert!(report.cordoned);
    assert_eq!(report.drain.evicted, vec![format!("{namespace}/free")]);
    assert_eq!(
        report.drain.force_deleted,
        vec![format!("{namespace}/guarded")]
    );
    assert_eq!(report.drain.skipped, vec![format!("{namespace}/{daemon}")]);
    assert!(
        took >= POLICY.timeout,
        "the budget was not waited for: {took:?}"
    );
    assert!(report.node_deleted && report.node_password_deleted);
    assert_eq!(report.bootstrap_tokens_deleted, 1);

    let pods = Api::<Pod>::namespaced(client.clone(), &namespace);
    assert!(pods.get_opt("free").await.unwrap().is_none());
    assert!(pods.get_opt("guarded").await.unwrap().is_none());
    assert!(
        Api::<Node>::all(client.clone())
            .get_opt(node.as_str())
            .await
            .unwrap()
            .is_none()
    );
    let secrets = Api::<Secret>::namespaced(client.clone(), KUBE_SYSTEM);
    assert!(
        secrets
            .get_opt(&node_password_secret(node.as_str()))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        secrets
            .get_opt(&minted.token.secret_name())
            .await
            .unwrap()
            .is_none()
    );

    // A restarted master re-runs the revocation: nothing left to do.
    let again = revoke_node(&client, node.as_str(), POLICY).await.unwrap();
    assert_eq!(
        again,
        RevocationReport {
            drain: again.drain.clone(),
            ..RevocationReport::default()
        }
    );
    assert!(again.drain.evicted.is_empty() && again.drain.force_deleted.is_empty());
}

#[tokio::test]
async fn cordon_marks_the_node_unschedulable_and_drain_evicts_at_once() {
    let cluster = k3s::shared().await.unwrap();
    let client = cluster.client().await.unwrap();
    let node = fake_node(cluster, &client, "cordon").await;
    let namespace = cluster.create_namespace(&client, "cordon").await.unwrap();
    run_pod(cluster, &client, &namespace, "one", &node, "one").await;

    assert!(drain::cordon(&client, node.as_str()).await.unwrap());
    assert!(drain::cordon(&client, node.as_str()).await.unwrap());
    let current = Api::<Node>::all(client.clone())
        .get(node.as_str())
        .await
        .unwrap();
    assert_eq!(current.spec.unwrap().unschedulable, Some(true));

    let started = Instant::now();
    let report = drain::drain(&client, node.as_str(), DrainPolicy::default())
        .await
        .unwrap();
    assert_eq!(report.evicted, vec![format!("{namespace}/one")]);
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(!drain::cordon(&client, "no-such-node").await.unwrap());
}
