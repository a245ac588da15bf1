//! Real kubelet nodes (containerd, runc, CNI, kubelet v1.37.2) joining the
//! test control plane by TLS bootstrapping with a bootstrap token, running a
//! pod under the restricted Pod Security Standard whose output `kubectl logs`
//! shows, and leaving nothing behind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use daas_e2e::k3s::{self, Cluster, unique_suffix};
use daas_e2e::node::{Footprint, Node, NodeBuilder};
use daas_e2e::tls_bootstrap::{self, BootstrapToken};
use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use k8s_openapi::api::core::v1::{
    Capabilities, Container, Namespace, Node as NodeObject, Pod, PodSecurityContext, PodSpec,
    SeccompProfile, SecurityContext,
};
use kube::Client;
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};

/// How long a kubelet may take from start to a Ready Node on a busy machine.
const READY_TIMEOUT: Duration = Duration::from_secs(180);
/// How long a pod may take to start or go away.
const POD_TIMEOUT: Duration = Duration::from_secs(120);

/// A namespace for one test that enforces the restricted Pod Security
/// Standard, so a pod that is not compliant is refused.
async fn restricted_namespace(cluster: &Cluster, client: &Client, prefix: &str) -> String {
    let ns = cluster.create_namespace(client, prefix).await.unwrap();
    let patch = serde_json::json!({"metadata": {"labels": {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
    }}});
    Api::<Namespace>::all(client.clone())
        .patch(&ns, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    ns
}

/// A busybox pod on `node` that prints `message` and its user id, then waits.
/// Compliant with the restricted Pod Security Standard.
fn busybox_pod(name: &str, node: &Node, message: &str) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            node_name: Some(node.name().to_owned()),
            automount_service_account_token: Some(false),
            termination_grace_period_seconds: Some(1),
            security_context: Some(PodSecurityContext {
                run_as_non_root: Some(true),
                run_as_user: Some(1000),
                run_as_group: Some(1000),
                seccomp_profile: Some(SeccompProfile {
                    type_: "RuntimeDefault".to_owned(),
                    ..SeccompProfile::default()
                }),
                ..PodSecurityContext::default()
            }),
            containers: vec![Container {
                name: "main".to_owned(),
                image: Some(node.busybox_image().to_owned()),
                image_pull_policy: Some("Never".to_owned()),
                command: Some(vec![
                    "sh".to_owned(),
                    "-c".to_owned(),
                    format!("echo {message}; echo uid=$(id -u); exec sleep 3600"),
                ]),
                security_context: Some(SecurityContext {
                    allow_privilege_escalation: Some(false),
                    capabilities: Some(Capabilities {
                        drop: Some(vec!["ALL".to_owned()]),
                        ..Capabilities::default()
                    }),
                    ..SecurityContext::default()
                }),
                ..Container::default()
            }],
            ..PodSpec::default()
        }),
        ..Pod::default()
    }
}

/// Polls `probe` every 250 ms until it yields a value, panicking with `what`
/// and the node's kubelet log after `timeout`.
async fn eventually<T, F, Fut>(node: &Node, timeout: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        node.check_alive().unwrap();
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {timeout:?}; the kubelet's log ends with:\n{}",
            k3s::log_tail(&node.log_path("kubelet"), 40)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Starts a node that joins with a fresh bootstrap token, approves its CSR
/// as the admin (checking who asked), and waits until it is Ready.
async fn join_node(cluster: &Cluster, admin: &Client, name: &str) -> (Node, BootstrapToken) {
    let token = tls_bootstrap::create_bootstrap_token(admin, Duration::from_secs(3600))
        .await
        .unwrap();
    let node = NodeBuilder::new(cluster, name, &token)
        .label("daas.e2e/real-node", "true")
        .start()
        .await
        .unwrap();
    let csr_name = tls_bootstrap::approve_bootstrap_csr(admin, &token, READY_TIMEOUT)
        .await
        .unwrap();
    let csr = Api::<CertificateSigningRequest>::all(admin.clone())
        .get(&csr_name)
        .await
        .unwrap();
    assert_eq!(csr.spec.username.as_deref(), Some(token.user().as_str()));
    // What an approver (the master) sees from a kubelet 1.37 with its ECDSA
    // key: no key encipherment.
    assert_eq!(
        csr.spec.usages.clone().unwrap_or_default(),
        ["digital signature", "client auth"]
    );
    let groups = csr.spec.groups.clone().unwrap_or_default();
    assert!(
        groups.contains(&tls_bootstrap::NODE_BOOTSTRAP_GROUP.to_owned()),
        "{groups:?}"
    );
    node.wait_ready(admin, READY_TIMEOUT).await.unwrap();
    (node, token)
}

#[tokio::test]
async fn real_nodes_join_by_bootstrap_token_run_a_restricted_pod_and_leave_nothing_behind() {
    let cluster = k3s::shared().await.unwrap();
    let admin = cluster.client().await.unwrap();
    tls_bootstrap::allow_node_bootstrap(&admin).await.unwrap();
    let ns = restricted_namespace(cluster, &admin, "kubelet").await;

    // Two nodes side by side on this machine.
    let names = [
        format!("real-a-{}", unique_suffix()),
        format!("real-b-{}", unique_suffix()),
    ];
    let ((node_a, _), (node_b, _)) = tokio::join!(
        join_node(cluster, &admin, &names[0]),
        join_node(cluster, &admin, &names[1])
    );
    assert_ne!(node_a.internal_ip(), node_b.internal_ip());

    // The Node carries the kubelet's version, the node IP and its label.
    let nodes: Api<NodeObject> = Api::all(admin.clone());
    let object = nodes.get(node_a.name()).await.unwrap();
    let status = object.status.clone().unwrap();
    assert_eq!(
        status.node_info.unwrap().kubelet_version,
        k3s::KUBERNETES_VERSION
    );
    let addresses = status.addresses.unwrap_or_default();
    assert!(
        addresses
            .iter()
            .any(|a| a.type_ == "InternalIP" && a.address == node_a.internal_ip().to_string()),
        "{addresses:?}"
    );
    assert_eq!(
        object.metadata.labels.unwrap_or_default()["daas.e2e/real-node"],
        "true"
    );

    // A restricted pod on each node; kubectl logs shows what it printed.
    let pods: Api<Pod> = Api::namespaced(admin.clone(), &ns);
    for (pod, node) in [("hello-a", &node_a), ("hello-b", &node_b)] {
        pods.create(
            &PostParams::default(),
            &busybox_pod(pod, node, &format!("hello from {}", node.name())),
        )
        .await
        .unwrap();
    }
    for (pod, node) in [("hello-a", &node_a), ("hello-b", &node_b)] {
        let running = eventually(node, POD_TIMEOUT, &format!("pod {pod} running"), || {
            let pods = pods.clone();
            async move {
                let pod = pods.get(pod).await.ok()?;
                let status = pod.status.clone()?;
                (status.phase.as_deref() == Some("Running")).then_some(pod)
            }
        })
        .await;
        let pod_ip: std::net::Ipv4Addr = running.status.unwrap().pod_ip.unwrap().parse().unwrap();
        assert!(
            node.pod_cidr().starts_with(&format!(
                "{}.",
                pod_ip.octets()[..3]
                    .iter()
                    .map(u8::to_string)
                    .collect::<Vec<_>>()
                    .join(".")
            )),
            "pod IP {pod_ip} outside {}",
            node.pod_cidr()
        );
        let logs = eventually(
            node,
            POD_TIMEOUT,
            &format!("kubectl logs {pod}"),
            || async {
                let out = cluster
                    .kubectl()
                    .args(["logs", "-n", &ns, pod])
                    .output()
                    .ok()?;
                let text = String::from_utf8_lossy(&out.stdout).into_owned();
                (out.status.success() && text.contains("uid=")).then_some(text)
            },
        )
        .await;
        assert!(
            logs.contains(&format!("hello from {}", node.name())),
            "{logs}"
        );
        assert!(logs.contains("uid=1000"), "{logs}");
    }

    // Deleting a pod stops its container on the node.
    pods.delete("hello-a", &DeleteParams::default())
        .await
        .unwrap();
    eventually(&node_a, POD_TIMEOUT, "pod hello-a gone", || async {
        pods.get_opt("hello-a")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;

    // Drain node b (its bare pod is evicted: --force), stop both nodes,
    // delete both Nodes.
    let out = cluster
        .kubectl()
        .args([
            "drain",
            node_b.name(),
            "--ignore-daemonsets",
            "--delete-emptydir-data",
            "--force",
            "--timeout=120s",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubectl drain: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(pods.get_opt("hello-b").await.unwrap().is_none());
    let drained = nodes.get(node_b.name()).await.unwrap();
    assert_eq!(drained.spec.unwrap().unschedulable, Some(true));

    let footprints = [node_a.footprint().clone(), node_b.footprint().clone()];
    for footprint in &footprints {
        assert!(!footprint.remaining().is_empty(), "a running node shows");
    }
    // Stopped first: a running kubelet would register its Node again.
    drop(node_a);
    drop(node_b);
    for name in &names {
        nodes.delete(name, &DeleteParams::default()).await.unwrap();
    }
    for footprint in &footprints {
        let left = footprint.remaining();
        assert!(left.is_empty(), "left behind: {left:#?}");
    }
    for name in &names {
        assert!(nodes.get_opt(name).await.unwrap().is_none());
    }
}

/// Waits until the node's kubelet has logged `line` and returns its log.
async fn kubelet_logged(node: &Node, line: &str) -> String {
    eventually(
        node,
        READY_TIMEOUT,
        &format!("kubelet log line {line:?}"),
        || async {
            let log = std::fs::read_to_string(node.log_path("kubelet")).ok()?;
            log.contains(line).then_some(log)
        },
    )
    .await
}

#[tokio::test]
async fn a_kubelet_without_a_known_token_or_an_approved_csr_never_joins() {
    let cluster = k3s::shared().await.unwrap();
    let admin = cluster.client().await.unwrap();
    tls_bootstrap::allow_node_bootstrap(&admin).await.unwrap();
    let csrs: Api<CertificateSigningRequest> = Api::all(admin.clone());
    let nodes: Api<NodeObject> = Api::all(admin.clone());

    // A token that was never created: the API server refuses it and no CSR
    // is made.
    let unknown = BootstrapToken::generate();
    let stranger = NodeBuilder::new(cluster, &format!("stranger-{}", unique_suffix()), &unknown)
        .start()
        .await
        .unwrap();
    // A real token whose CSR the approver denies.
    let token = tls_bootstrap::create_bootstrap_token(&admin, Duration::from_secs(3600))
        .await
        .unwrap();
    let denied = NodeBuilder::new(cluster, &format!("denied-{}", unique_suffix()), &token)
        .start()
        .await
        .unwrap();
    let csr_name = tls_bootstrap::deny_bootstrap_csr(&admin, &token, READY_TIMEOUT)
        .await
        .unwrap();

    // The kubelet keeps asking (with back-off), but it has no certificate
    // and so no Node.
    kubelet_logged(&denied, "certificate signing request is denied").await;
    let csr = csrs.get(&csr_name).await.unwrap();
    assert!(
        csr.status.and_then(|s| s.certificate).is_none(),
        "a denied CSR got a certificate"
    );
    assert!(!denied.client_certificate_path().exists());
    assert!(nodes.get_opt(denied.name()).await.unwrap().is_none());

    kubelet_logged(
        &stranger,
        "cannot create certificate signing request: Unauthorized",
    )
    .await;
    let from_stranger = csrs
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|c| c.spec.username.as_deref() == Some(unknown.user().as_str()))
        .count();
    assert_eq!(from_stranger, 0, "an unknown token created a CSR");
    assert!(!stranger.client_certificate_path().exists());
    assert!(nodes.get_opt(stranger.name()).await.unwrap().is_none());
}

/// Set by [`a_node_of_a_killed_test_process_leaves_nothing_behind`] for the
/// copy of this test binary that it kills: where that copy reports its node.
const KILLED_CHILD_REPORT: &str = "DAAS_E2E_KILLED_CHILD_REPORT";

/// The copy of the test binary that gets killed: starts a cluster and a
/// Ready node running a pod, reports the node's footprint, and waits.
async fn run_child_until_killed(report: &std::path::Path) {
    let cluster = k3s::shared().await.unwrap();
    let admin = cluster.client().await.unwrap();
    tls_bootstrap::allow_node_bootstrap(&admin).await.unwrap();
    let ns = restricted_namespace(cluster, &admin, "killed").await;
    let (node, _) = join_node(cluster, &admin, &format!("killed-{}", unique_suffix())).await;
    let pods: Api<Pod> = Api::namespaced(admin.clone(), &ns);
    pods.create(
        &PostParams::default(),
        &busybox_pod("victim", &node, "doomed"),
    )
    .await
    .unwrap();
    eventually(&node, POD_TIMEOUT, "pod victim running", || {
        let pods = pods.clone();
        async move {
            let pod = pods.get("victim").await.ok()?;
            (pod.status?.phase.as_deref() == Some("Running")).then_some(())
        }
    })
    .await;
    let json = serde_json::json!({
        "cluster_dir": cluster.data_dir(),
        "footprint": node.footprint().to_json(),
    });
    std::fs::write(report.with_extension("tmp"), json.to_string()).unwrap();
    std::fs::rename(report.with_extension("tmp"), report).unwrap();
    std::future::pending::<()>().await;
}

#[tokio::test]
async fn a_node_of_a_killed_test_process_leaves_nothing_behind() {
    if let Some(report) = std::env::var_os(KILLED_CHILD_REPORT) {
        run_child_until_killed(std::path::Path::new(&report)).await;
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let report = scratch.path().join("report.json");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_node_of_a_killed_test_process_leaves_nothing_behind",
            "--nocapture",
        ])
        .env(KILLED_CHILD_REPORT, &report)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(scratch.path().join("child.log")).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    while !report.exists() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "the child test exited ({status}) before its node ran:\n{}",
                std::fs::read_to_string(scratch.path().join("child.log")).unwrap()
            );
        }
        assert!(Instant::now() < deadline, "the child's node never ran");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let reported: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let footprint = Footprint::from_json(&reported["footprint"]).unwrap();
    let cluster_dir = std::path::PathBuf::from(reported["cluster_dir"].as_str().unwrap());
    let running = footprint.remaining();
    assert!(
        running.iter().any(|l| l.contains("sleep 3600")),
        "the child's pod runs in the node's namespaces: {running:#?}"
    );

    // kill -9: no Drop runs; the janitors must clean up.
    child.kill().unwrap();
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = footprint.remaining();
        if left.is_empty() && !cluster_dir.exists() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "left behind by a killed test: {left:#?}, cluster directory exists: {}",
            cluster_dir.exists()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn the_daas_node_process_joins_with_a_k10_token_and_stops_cleanly_on_sigterm() {
    use sha2::{Digest as _, Sha256};
    use std::os::unix::fs::PermissionsExt as _;
    use tokio::io::AsyncBufReadExt as _;

    let cluster = k3s::shared().await.unwrap();
    let admin = cluster.client().await.unwrap();
    tls_bootstrap::allow_node_bootstrap(&admin).await.unwrap();
    let token = tls_bootstrap::create_bootstrap_token(&admin, Duration::from_secs(3600))
        .await
        .unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let ca_file = scratch.path().join("ca.crt");
    std::fs::write(&ca_file, cluster.ca_pem()).unwrap();
    let token_file = scratch.path().join("token");
    let ca_hash = hex::encode(Sha256::digest(cluster.ca_pem().as_bytes()));
    std::fs::write(&token_file, format!("K10{ca_hash}::{}\n", token.bearer())).unwrap();
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let name = format!("stand-in-{}", unique_suffix());

    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_daas-node"))
        .arg("--server")
        .arg(cluster.server())
        .arg("--token-file")
        .arg(&token_file)
        .arg("--ca-file")
        .arg(&ca_file)
        .args([
            "--node-name",
            &name,
            "--node-label",
            "daas.e2e/stand-in=true",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(scratch.path().join("stderr")).unwrap())
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let Some(started) = lines.next_line().await.unwrap() else {
        panic!(
            "daas-node exited before starting its node: {}",
            std::fs::read_to_string(scratch.path().join("stderr")).unwrap()
        );
    };
    let started: serde_json::Value = serde_json::from_str(&started).unwrap();
    assert_eq!(started["node"], name.as_str());
    let footprint = Footprint::from_json(&started["footprint"]).unwrap();

    // The master's part, done here by the admin: approve, then the Node runs.
    tls_bootstrap::approve_bootstrap_csr(&admin, &token, READY_TIMEOUT)
        .await
        .unwrap();
    let nodes: Api<NodeObject> = Api::all(admin.clone());
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        assert!(
            child.try_wait().unwrap().is_none(),
            "daas-node exited: {}",
            std::fs::read_to_string(scratch.path().join("stderr")).unwrap()
        );
        let node = nodes.get_opt(&name).await.unwrap();
        if node.as_ref().is_some_and(daas_e2e::kwok::node_ready) {
            let labels = node.unwrap().metadata.labels.unwrap_or_default();
            assert_eq!(labels["daas.e2e/stand-in"], "true");
            break;
        }
        assert!(Instant::now() < deadline, "{name} never became Ready");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let pid = child.id().unwrap().to_string();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().await.unwrap();
    assert!(
        status.success(),
        "daas-node did not stop cleanly ({status}): {}",
        std::fs::read_to_string(scratch.path().join("stderr")).unwrap()
    );
    // The kernel may still be finishing the node's namespaces' processes
    // (a pause container was seen alive once, right after the exit).
    let deadline = Instant::now() + Duration::from_secs(10);
    let left = loop {
        let left = footprint.remaining();
        if left.is_empty() || Instant::now() > deadline {
            break left;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(left.is_empty(), "left behind: {left:#?}");
    nodes.delete(&name, &DeleteParams::default()).await.unwrap();
}
