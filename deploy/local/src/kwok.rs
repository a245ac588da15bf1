//! kwok against a test [`Cluster`]: fake nodes that become Ready and keep
//! heartbeating, and pods on them that become Running, without a kubelet or
//! a container runtime.
//!
//! kwok manages only nodes labelled [`NODE_LABEL`]`=`[`NODE_LABEL_VALUE`]
//! (`--manage-all-nodes=false`), so tests create fake nodes with
//! [`fake_node`] and real nodes are left alone. Its stages come from
//! `deploy/k3s/kwok/stages.yaml`. kwok runs as one of the cluster's
//! components, so it stops and is cleaned up with the cluster.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, Node, NodeSpec, Pod, PodSecurityContext, PodSpec, SeccompProfile,
    SecurityContext,
};
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};

use crate::k3s::{Cluster, default_bin_dir, ensure_executable, log_tail};

/// Environment variable naming the kwok binary; without it the harness uses
/// the link that `deploy/k3s/build.sh` makes.
pub const KWOK_BIN_ENV: &str = "DAAS_KWOK_BIN";

/// Label that marks a node as kwok's.
pub const NODE_LABEL: &str = "kwok.x-k8s.io/node";

/// Value of [`NODE_LABEL`] on kwok's nodes.
pub const NODE_LABEL_VALUE: &str = "fake";

/// The stages kwok plays (node ready and heartbeat, pod running, pod delete).
const STAGES: &str = include_str!("../../k3s/kwok/stages.yaml");

/// Name of kwok among the cluster's components (and of its log).
const COMPONENT: &str = "kwok";

/// The kwok binary: `$DAAS_KWOK_BIN`, or `kwok` in the build script's links.
pub fn binary() -> Result<PathBuf> {
    let path = match std::env::var_os(KWOK_BIN_ENV) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => default_bin_dir()?.join("kwok"),
    };
    ensure_executable(&path)?;
    Ok(path)
}

/// Starts kwok against `cluster` unless it already runs there. Safe to call
/// from every test that needs fake nodes.
pub async fn ensure_running(cluster: &Cluster) -> Result<()> {
    cluster
        .kwok
        .get_or_try_init(|| async { start(cluster) })
        .await
        .map(|_| ())
}

fn start(cluster: &Cluster) -> Result<()> {
    let binary = binary()?;
    let dir = cluster.data_dir().join("kwok");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let stages = dir.join("stages.yaml");
    std::fs::write(&stages, STAGES).with_context(|| format!("writing {}", stages.display()))?;
    let args = vec![
        format!("--kubeconfig={}", cluster.kubeconfig_path().display()),
        format!("--config={}", stages.display()),
        "--manage-all-nodes=false".to_owned(),
        format!("--manage-nodes-with-label-selector={NODE_LABEL}={NODE_LABEL_VALUE}"),
        "--cidr=10.42.0.0/16".to_owned(),
        "--node-ip=127.0.0.1".to_owned(),
    ];
    // HOME points into the data directory so that a ~/.kwok/kwok.yaml of the
    // person running the tests is not loaded too; no --server-address, so
    // kwok binds no port.
    cluster.spawn_component_with_env(COMPONENT, &binary, &args, &[("HOME", dir.as_path())])?;
    Ok(())
}

/// A node object that kwok manages: labelled for kwok, with `name` as its
/// hostname label.
pub fn fake_node(name: &str) -> Node {
    Node {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(
                [
                    (NODE_LABEL.to_owned(), NODE_LABEL_VALUE.to_owned()),
                    ("kubernetes.io/hostname".to_owned(), name.to_owned()),
                    ("kubernetes.io/os".to_owned(), "linux".to_owned()),
                    ("kubernetes.io/arch".to_owned(), "amd64".to_owned()),
                    ("type".to_owned(), "kwok".to_owned()),
                ]
                .into(),
            ),
            annotations: Some([("kwok.x-k8s.io/node".to_owned(), "fake".to_owned())].into()),
            ..ObjectMeta::default()
        },
        spec: Some(NodeSpec::default()),
        ..Node::default()
    }
}

/// A one-container pod; bound to `node` when given, else left to the
/// scheduler. It meets Pod Security `restricted`, which the product's
/// stack enforces by default.
pub fn simple_pod(name: &str, node: Option<&str>) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            node_name: node.map(str::to_owned),
            automount_service_account_token: Some(false),
            security_context: Some(PodSecurityContext {
                run_as_non_root: Some(true),
                run_as_user: Some(65_534),
                seccomp_profile: Some(SeccompProfile {
                    type_: "RuntimeDefault".to_owned(),
                    ..SeccompProfile::default()
                }),
                ..PodSecurityContext::default()
            }),
            containers: vec![Container {
                name: "main".to_owned(),
                image: Some("registry.invalid/fake:1".to_owned()),
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

/// Creates a kwok node called `name` (kwok must be running) and waits until
/// it is Ready.
pub async fn create_node(cluster: &Cluster, client: &Client, name: &str) -> Result<Node> {
    let nodes: Api<Node> = Api::all(client.clone());
    nodes
        .create(&PostParams::default(), &fake_node(name))
        .await
        .with_context(|| format!("creating node {name}"))?;
    wait_for(
        cluster,
        Duration::from_secs(60),
        &format!("node {name} to be Ready"),
        || {
            let nodes = nodes.clone();
            async move {
                let node = nodes.get(name).await?;
                Ok(node_ready(&node).then_some(node))
            }
        },
    )
    .await
}

/// Whether the node's Ready condition is True.
pub fn node_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Waits until pod `name` in `namespace` is Running and returns it.
pub async fn wait_pod_running(
    cluster: &Cluster,
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<Pod> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    wait_for(
        cluster,
        Duration::from_secs(60),
        &format!("pod {namespace}/{name} to run"),
        || {
            let pods = pods.clone();
            async move {
                let pod = pods.get(name).await?;
                let running =
                    pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
                Ok(running.then_some(pod))
            }
        },
    )
    .await
}

/// Polls `probe` every 100 ms until it yields a value, failing after
/// `timeout` with kwok's log, or at once if a component died.
async fn wait_for<T, F, Fut>(
    cluster: &Cluster,
    timeout: Duration,
    what: &str,
    mut probe: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let deadline = Instant::now() + timeout;
    let mut last_error = None;
    loop {
        cluster.check_alive()?;
        match probe().await {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => {}
            Err(e) => last_error = Some(e),
        }
        if Instant::now() > deadline {
            let log = log_tail(&kwok_log(cluster), 30);
            let err = anyhow!(
                "timed out after {timeout:?} waiting for {what}; kwok's log ends with:\n{log}"
            );
            return Err(match last_error {
                Some(e) => err.context(format!("last error: {e:#}")),
                None => err,
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Path of kwok's log in the cluster's data directory.
pub fn kwok_log(cluster: &Cluster) -> PathBuf {
    cluster.log_path(COMPONENT)
}
