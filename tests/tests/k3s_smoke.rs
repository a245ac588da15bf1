//! Smoke tests of the test cluster itself: the API through kube-rs and
//! kubectl, a static-token user under RBAC, bootstrap-token authentication,
//! and kwok nodes running pods, on one shared cluster; the token and audit
//! webhooks that the product plugs in, on a cluster of their own; and the
//! build of the real node's runtime and images (`kubelet_node.rs` runs it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use daas_e2e::k3s::{self, E2E_USER, unique_suffix};
use daas_e2e::{kwok, node, webhook};
use k8s_openapi::ByteString;
use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, PostParams};
use tokio::net::TcpListener;

/// Who the API server says the client is.
async fn whoami(client: &Client) -> (String, Vec<String>) {
    let reviews: Api<SelfSubjectReview> = Api::all(client.clone());
    let review = reviews
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await
        .expect("SelfSubjectReview");
    let info = review
        .status
        .and_then(|s| s.user_info)
        .expect("user info in the review");
    (
        info.username.unwrap_or_default(),
        info.groups.unwrap_or_default(),
    )
}

fn is_forbidden(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(status) if status.code == 403)
}

#[tokio::test]
async fn objects_are_created_listed_and_deleted_through_kube_rs() {
    let cluster = k3s::shared().await.unwrap();
    let client = cluster.client().await.unwrap();
    let version = client.apiserver_version().await.unwrap();
    assert_eq!(format!("v{}.{}", version.major, version.minor), "v1.37");

    let ns = cluster.create_namespace(&client, "crud").await.unwrap();
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    for i in 0..3 {
        let map = ConfigMap {
            metadata: ObjectMeta {
                name: Some(format!("map-{i}")),
                labels: Some(BTreeMap::from([("smoke".to_owned(), "yes".to_owned())])),
                ..ObjectMeta::default()
            },
            data: Some(BTreeMap::from([("index".to_owned(), i.to_string())])),
            ..ConfigMap::default()
        };
        maps.create(&PostParams::default(), &map).await.unwrap();
    }
    let listed = maps
        .list(&ListParams::default().labels("smoke=yes"))
        .await
        .unwrap();
    let mut names: Vec<_> = listed
        .items
        .iter()
        .filter_map(|m| m.metadata.name.clone())
        .collect();
    names.sort();
    assert_eq!(names, ["map-0", "map-1", "map-2"]);
    assert_eq!(
        maps.get("map-1").await.unwrap().data.unwrap()["index"],
        "1",
        "the stored object round-trips"
    );

    maps.delete("map-1", &DeleteParams::default())
        .await
        .unwrap();
    assert!(maps.get_opt("map-1").await.unwrap().is_none());
    let err = maps
        .delete("map-1", &DeleteParams::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 404),
        "{err}"
    );
    let left = maps
        .list(&ListParams::default().labels("smoke=yes"))
        .await
        .unwrap();
    assert_eq!(left.items.len(), 2);
}

#[tokio::test]
async fn kubectl_works_against_the_cluster() {
    let cluster = k3s::shared().await.unwrap();
    let client = cluster.client().await.unwrap();
    let ns = cluster.create_namespace(&client, "kubectl").await.unwrap();

    let out = cluster
        .kubectl()
        .args([
            "create",
            "configmap",
            "from-kubectl",
            "-n",
            &ns,
            "--from-literal=k=v",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubectl create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    assert_eq!(
        maps.get("from-kubectl").await.unwrap().data.unwrap()["k"],
        "v"
    );

    let out = cluster
        .kubectl()
        .args(["get", "configmaps", "-n", &ns, "-o", "name"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubectl get: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("configmap/from-kubectl"));

    let out = cluster
        .kubectl()
        .args(["auth", "whoami", "-o", "name"])
        .output()
        .unwrap();
    let out_text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "kubectl auth whoami: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out_text.contains("selfsubjectreview"), "{out_text}");

    let out = cluster
        .kubectl()
        .args(["version", "-o", "json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let version: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        version["serverVersion"]["gitVersion"],
        k3s::KUBERNETES_VERSION
    );
}

#[tokio::test]
async fn a_static_token_user_is_denied_until_bound() {
    let cluster = k3s::shared().await.unwrap();
    let admin = cluster.client().await.unwrap();
    let ns = cluster.create_namespace(&admin, "rbac").await.unwrap();
    let token = cluster.static_token(E2E_USER).unwrap();
    let user = cluster.client_for_token(&token.token).await.unwrap();

    let (name, groups) = whoami(&user).await;
    assert_eq!(name, E2E_USER);
    assert!(
        groups.contains(&"system:authenticated".to_owned()),
        "{groups:?}"
    );

    let maps: Api<ConfigMap> = Api::namespaced(user.clone(), &ns);
    let err = maps.list(&ListParams::default()).await.unwrap_err();
    assert!(
        is_forbidden(&err),
        "an unbound user must be forbidden, got {err}"
    );

    let binding = RoleBinding {
        metadata: ObjectMeta {
            name: Some("e2e-user-view".to_owned()),
            ..ObjectMeta::default()
        },
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".to_owned()),
            kind: "ClusterRole".to_owned(),
            name: "view".to_owned(),
        },
        subjects: Some(vec![Subject {
            kind: "User".to_owned(),
            api_group: Some("rbac.authorization.k8s.io".to_owned()),
            name: E2E_USER.to_owned(),
            namespace: None,
        }]),
    };
    Api::<RoleBinding>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();

    // The RBAC authorizer reads bindings from an informer: allow it a moment.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match maps.list(&ListParams::default()).await {
            Ok(_) => break,
            Err(e) if is_forbidden(&e) && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("a bound viewer must be allowed to list, got {e}"),
        }
    }
    // `view` does not allow writing.
    let err = maps
        .create(
            &PostParams::default(),
            &ConfigMap {
                metadata: ObjectMeta {
                    name: Some("nope".to_owned()),
                    ..ObjectMeta::default()
                },
                ..ConfigMap::default()
            },
        )
        .await
        .unwrap_err();
    assert!(is_forbidden(&err), "a viewer must not create, got {err}");
    // A wrong token is not a user at all.
    let stranger = cluster.client_for_token("not-a-token").await.unwrap();
    let err = Api::<ConfigMap>::namespaced(stranger, &ns)
        .list(&ListParams::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 401),
        "{err}"
    );
}

#[tokio::test]
async fn a_bootstrap_token_secret_authenticates_as_system_bootstrap() {
    let cluster = k3s::shared().await.unwrap();
    let admin = cluster.client().await.unwrap();
    // Token ids are [a-z0-9]{6}, secrets [a-z0-9]{16}.
    let suffix = format!("{:0>6}", unique_suffix());
    let id: String = suffix.chars().rev().take(6).collect();
    let secret = "0123456789abcdef";
    let group = "system:bootstrappers:k3s:default-node-token";
    let data = BTreeMap::from([
        ("token-id".to_owned(), ByteString(id.clone().into_bytes())),
        (
            "token-secret".to_owned(),
            ByteString(secret.as_bytes().to_vec()),
        ),
        (
            "usage-bootstrap-authentication".to_owned(),
            ByteString(b"true".to_vec()),
        ),
        (
            "auth-extra-groups".to_owned(),
            ByteString(group.as_bytes().to_vec()),
        ),
    ]);
    let secret_object = Secret {
        metadata: ObjectMeta {
            name: Some(format!("bootstrap-token-{id}")),
            ..ObjectMeta::default()
        },
        type_: Some("bootstrap.kubernetes.io/token".to_owned()),
        data: Some(data),
        ..Secret::default()
    };
    Api::<Secret>::namespaced(admin.clone(), "kube-system")
        .create(&PostParams::default(), &secret_object)
        .await
        .unwrap();

    let node_client = cluster
        .client_for_token(&format!("{id}.{secret}"))
        .await
        .unwrap();
    // The authenticator reads Secrets from an informer: allow it a moment.
    let reviews: Api<SelfSubjectReview> = Api::all(node_client.clone());
    let deadline = Instant::now() + Duration::from_secs(15);
    let review = loop {
        match reviews
            .create(&PostParams::default(), &SelfSubjectReview::default())
            .await
        {
            Ok(r) => break r,
            Err(kube::Error::Api(s)) if s.code == 401 && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the bootstrap token was not accepted: {e}"),
        }
    };
    let info = review.status.and_then(|s| s.user_info).unwrap();
    assert_eq!(
        info.username.as_deref(),
        Some(format!("system:bootstrap:{id}").as_str())
    );
    let groups = info.groups.unwrap_or_default();
    assert!(
        groups.contains(&"system:bootstrappers".to_owned()),
        "{groups:?}"
    );
    assert!(groups.contains(&group.to_owned()), "{groups:?}");

    // A wrong secret for the same id is refused.
    let wrong = cluster
        .client_for_token(&format!("{id}.ffffffffffffffff"))
        .await
        .unwrap();
    let err = Api::<SelfSubjectReview>::all(wrong)
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 401),
        "{err}"
    );
}

#[tokio::test]
async fn kwok_nodes_appear_and_their_pods_run() {
    let cluster = k3s::shared().await.unwrap();
    let client = cluster.client().await.unwrap();
    kwok::ensure_running(cluster).await.unwrap();
    let ns = cluster.create_namespace(&client, "kwok").await.unwrap();

    let node_name = format!("kwok-node-{}", unique_suffix());
    let node = kwok::create_node(cluster, &client, &node_name)
        .await
        .unwrap();
    assert!(kwok::node_ready(&node));

    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    // One pod bound to the node by name, one placed by the scheduler (the only
    // schedulable nodes are kwok's, so it lands on one of them).
    pods.create(
        &PostParams::default(),
        &kwok::simple_pod("bound", Some(&node_name)),
    )
    .await
    .unwrap();
    pods.create(&PostParams::default(), &kwok::simple_pod("scheduled", None))
        .await
        .unwrap();
    let bound = kwok::wait_pod_running(cluster, &client, &ns, "bound")
        .await
        .unwrap();
    assert_eq!(
        bound.spec.unwrap().node_name.as_deref(),
        Some(node_name.as_str())
    );
    assert!(
        bound.status.unwrap().pod_ip.is_some(),
        "kwok gives running pods an IP"
    );
    let scheduled = kwok::wait_pod_running(cluster, &client, &ns, "scheduled")
        .await
        .unwrap();
    let placed_on = scheduled.spec.unwrap().node_name.unwrap();
    assert!(
        placed_on.starts_with("kwok-node-"),
        "scheduled onto {placed_on}"
    );

    // Deleting a pod on a kwok node removes it (no kubelet to confirm).
    pods.delete("bound", &DeleteParams::default())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while pods.get_opt("bound").await.unwrap().is_some() {
        assert!(
            Instant::now() < deadline,
            "the deleted pod was never removed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What `program arg` prints on stdout.
fn output_of(program: &std::path::Path, arg: &str) -> String {
    let out = std::process::Command::new(program)
        .arg(arg)
        .output()
        .unwrap();
    assert!(out.status.success(), "{} {arg}: {out:?}", program.display());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn the_node_runtime_and_its_images_are_built() {
    let binaries = node::NodeBinaries::locate().unwrap();
    assert_eq!(
        output_of(&binaries.kubelet, "--version").trim(),
        format!("Kubernetes {}", k3s::KUBERNETES_VERSION)
    );
    for program in [&binaries.containerd, &binaries.ctr] {
        let version = output_of(program, "--version");
        assert!(
            version.contains(&format!("containerd/v2 {}", node::CONTAINERD_VERSION)),
            "{version}"
        );
    }
    let shim = output_of(&binaries.containerd_shim, "-v");
    assert!(
        shim.contains(&format!("Version:  {}", node::CONTAINERD_VERSION)),
        "{shim}"
    );
    let runc = output_of(&binaries.runc, "--version");
    assert!(runc.starts_with("runc version"), "{runc}");
    for plugin in ["ptp", "host-local", "loopback"] {
        assert!(
            binaries.cni_bin_dir.join(plugin).is_file(),
            "no CNI {plugin}"
        );
    }
    assert_eq!(
        node::image_reference(&binaries.pause_image).await.unwrap(),
        node::PAUSE_IMAGE
    );
    let busybox = node::image_reference(&binaries.busybox_image)
        .await
        .unwrap();
    assert!(
        busybox.starts_with("localhost/k3s-daas/busybox:1."),
        "{busybox}"
    );
}

/// What the webhook server below has received.
#[derive(Default)]
struct Received {
    token_reviews: Vec<serde_json::Value>,
    audit_bodies: Vec<String>,
}

/// Answers the API server's webhooks: `POST /authenticate` answers
/// TokenReviews (token `daas-good-token` is `sui:0xabc` in group
/// `daas:viewer`, anything else is unauthenticated) and `POST /audit` records
/// audit event lists.
async fn answer_webhook(received: Arc<Mutex<Received>>, path: String, body: Vec<u8>) -> String {
    if !path.starts_with("/authenticate") {
        received
            .lock()
            .unwrap()
            .audit_bodies
            .push(String::from_utf8_lossy(&body).into_owned());
        return "{}".to_owned();
    }
    let review: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let token = review["spec"]["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    received.lock().unwrap().token_reviews.push(review);
    let status = if token == "daas-good-token" {
        serde_json::json!({"authenticated": true, "user": {
            "username": "sui:0xabc", "uid": "0xabc", "groups": ["daas:viewer"]}})
    } else {
        serde_json::json!({"authenticated": false})
    };
    serde_json::json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
        "status": status})
    .to_string()
}

#[tokio::test]
async fn token_and_audit_webhooks_reach_their_server_and_a_dropped_cluster_is_removed() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = Arc::new(Mutex::new(Received::default()));
    let answer = {
        let received = received.clone();
        move |path, body| answer_webhook(received.clone(), path, body)
    };
    tokio::spawn(webhook::serve(listener, answer));

    let files = tempfile::tempdir().unwrap();
    let token_config = files.path().join("token-webhook.yaml");
    let audit_config = files.path().join("audit-webhook.yaml");
    let audit_policy = files.path().join("audit-policy.yaml");
    std::fs::write(
        &token_config,
        webhook::config_file(&format!("http://127.0.0.1:{port}/authenticate")),
    )
    .unwrap();
    std::fs::write(
        &audit_config,
        webhook::config_file(&format!("http://127.0.0.1:{port}/audit")),
    )
    .unwrap();
    std::fs::write(
        &audit_policy,
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n- level: Metadata\n",
    )
    .unwrap();

    let cluster = k3s::ClusterBuilder::new()
        .token_webhook(&token_config, Duration::from_millis(500))
        .audit_policy_file(&audit_policy)
        .audit_webhook_config_file(&audit_config)
        .apiserver_arg("audit-webhook-batch-max-wait", "500ms")
        .start()
        .await
        .unwrap();
    let data_dir = cluster.data_dir().to_owned();
    assert!(data_dir.is_dir());

    // The webhook decides who a bearer token belongs to.
    let user = cluster.client_for_token("daas-good-token").await.unwrap();
    let (name, groups) = whoami(&user).await;
    assert_eq!(name, "sui:0xabc");
    assert!(groups.contains(&"daas:viewer".to_owned()), "{groups:?}");
    let stranger = cluster.client_for_token("daas-bad-token").await.unwrap();
    let err = Api::<SelfSubjectReview>::all(stranger)
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 401),
        "{err}"
    );
    {
        let got = received.lock().unwrap();
        assert!(
            got.token_reviews
                .iter()
                .any(|r| r["apiVersion"] == "authentication.k8s.io/v1"
                    && r["spec"]["token"] == "daas-good-token")
        );
    }

    // Audit events of a write reach the audit webhook.
    let admin = cluster.client().await.unwrap();
    let ns = cluster.create_namespace(&admin, "audit").await.unwrap();
    let marker = format!("audited-{}", unique_suffix());
    Api::<ConfigMap>::namespaced(admin.clone(), &ns)
        .create(
            &PostParams::default(),
            &ConfigMap {
                metadata: ObjectMeta {
                    name: Some(marker.clone()),
                    ..ObjectMeta::default()
                },
                ..ConfigMap::default()
            },
        )
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if received
            .lock()
            .unwrap()
            .audit_bodies
            .iter()
            .any(|b| b.contains(&marker))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no audit event for {marker} reached the webhook"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let event_list: serde_json::Value = {
        let got = received.lock().unwrap();
        let body = got
            .audit_bodies
            .iter()
            .find(|b| b.contains(&marker))
            .unwrap();
        serde_json::from_str(body).unwrap()
    };
    assert_eq!(event_list["kind"], "EventList");
    assert_eq!(event_list["apiVersion"], "audit.k8s.io/v1");

    // Dropping the cluster stops it and removes its data directory.
    drop(cluster);
    assert!(!data_dir.exists(), "{} was left behind", data_dir.display());
}
