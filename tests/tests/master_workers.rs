//! Worker admission and removal, end to end with the devnet, the control
//! plane, kwok and `daas-master serve` as processes: a worker registers
//! with a signed proof and gets a join token that authenticates as a K3s
//! bootstrapper; bad proofs are refused; a slash that happens while the
//! master is down removes the node once the master is back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use daas_core::access::unix_now_secs;
use daas_core::access::worker_proof::{Purpose, WorkerClaims, WorkerProof};
use daas_core::api::nodes::{
    Capacity, HEARTBEAT_PATH, HeartbeatRequest, NODE_HEALTH_PATH, NodeHealth, NodeMetrics,
    NodeStatus, REGISTER_WORKER_PATH, RegisterWorkerRequest, RegisterWorkerResponse,
};
use daas_core::attested::{AttestedClient, AttestedError};
use daas_core::chain::TransactionSigner;
use daas_core::package::{Mist, Role, SLASHER_CAP_ID, SealTokenId};
use daas_e2e::devnet::DevnetOptions;
use daas_e2e::kwok;
use daas_e2e::stack::{Stack, StackOptions};
use daas_e2e::user::Account;
use k8s_openapi::api::core::v1::{Node, Pod, Secret};
use kube::Api;
use kube::api::ListParams;
use sui_crypto::ed25519::Ed25519PrivateKey;

const SUI: u64 = 1_000_000_000;
const NODE: &str = "worker-e2e-1";

fn register_request(
    stack: &Stack,
    worker: &Account,
    seal: SealTokenId,
    node: &str,
    issued_at: u64,
) -> RegisterWorkerRequest {
    let claims = WorkerClaims::new(
        Purpose::Register,
        seal,
        worker.address(),
        node,
        stack.cluster.server(),
        issued_at,
    )
    .unwrap();
    RegisterWorkerRequest {
        node_id: node.to_owned(),
        seal_token: seal.to_string(),
        ip_address: "10.0.1.5".to_owned(),
        capacity: Capacity {
            cpu: "4".to_owned(),
            memory: "16Gi".to_owned(),
            storage: "100Gi".to_owned(),
        },
        proof: WorkerProof::sign(&worker.wallet, &claims)
            .unwrap()
            .into_string(),
    }
}

async fn register(
    client: &AttestedClient,
    request: &RegisterWorkerRequest,
) -> Result<RegisterWorkerResponse, AttestedError> {
    client.post_json(REGISTER_WORKER_PATH, request).await
}

fn status_of(result: Result<RegisterWorkerResponse, AttestedError>) -> u16 {
    match result {
        Err(AttestedError::Status { status, .. }) => status,
        other => panic!("expected an HTTP error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_register_and_a_slash_while_the_master_is_down_removes_the_node() {
    let slasher = Ed25519PrivateKey::new([0x52; 32]);
    let mut stack = Stack::start(StackOptions {
        devnet: DevnetOptions {
            slasher: Some(TransactionSigner::address(&slasher)),
            ..DevnetOptions::default()
        },
        master_config: "nodes:\n  drain_timeout_secs: 5\n".to_owned(),
        ..StackOptions::default()
    })
    .await
    .unwrap();
    stack
        .devnet
        .fund(TransactionSigner::address(&slasher))
        .await
        .unwrap();
    let chain = stack.devnet.client().unwrap();
    let master = stack.master.client().unwrap();

    let worker = Account::funded(&stack.devnet, 0x71).await.unwrap();
    let seal = chain
        .stake_and_mint(&worker.chain, Mist::new(5 * SUI), Role::Worker, NODE)
        .await
        .unwrap()
        .token;

    // Registration answers a K3s join token whose bootstrap token
    // authenticates as a K3s node bootstrapper.
    let request = register_request(&stack, &worker, seal, NODE, unix_now_secs());
    let joined = register(&master, &request).await.unwrap();
    assert!(joined.success);
    assert_eq!(joined.node_name, NODE);
    assert_eq!(joined.api_server, stack.cluster.server());
    let (prefix, bootstrap) = joined.join_token.split_once("::").unwrap();
    assert!(prefix.starts_with("K10"), "{}", joined.join_token);
    let whoami = self_subject_review(&stack, bootstrap).await;
    let token_id = bootstrap.split('.').next().unwrap();
    assert_eq!(
        whoami["status"]["userInfo"]["username"],
        format!("system:bootstrap:{token_id}")
    );
    assert!(
        whoami["status"]["userInfo"]["groups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g == "system:bootstrappers:k3s:default-node-token"),
        "{whoami}"
    );

    // Refused: the same proof again, a stale proof, a user seal token.
    assert_eq!(status_of(register(&master, &request).await), 409);
    let stale = register_request(&stack, &worker, seal, NODE, unix_now_secs() - 3600);
    assert!((400..500).contains(&status_of(register(&master, &stale).await)));
    let user = Account::funded(&stack.devnet, 0x72).await.unwrap();
    let user_seal = chain
        .stake_and_mint(&user.chain, Mist::new(5 * SUI), Role::User, "")
        .await
        .unwrap()
        .token;
    let by_user = register_request(&stack, &user, user_seal, NODE, unix_now_secs());
    assert_eq!(status_of(register(&master, &by_user).await), 403);

    // The node appears (kwok stands in for `k3s agent`), runs a pod, is
    // labelled with its seal token and heartbeats.
    let kube = stack.cluster.client().await.unwrap();
    kwok::ensure_running(&stack.cluster).await.unwrap();
    kwok::create_node(&stack.cluster, &kube, NODE)
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(kube.clone(), "default");
    pods.create(
        &Default::default(),
        &kwok::simple_pod("on-worker", Some(NODE)),
    )
    .await
    .unwrap();
    kwok::wait_pod_running(&stack.cluster, &kube, "default", "on-worker")
        .await
        .unwrap();
    wait_for("the node to be labelled", || async {
        let node = Api::<Node>::all(kube.clone()).get(NODE).await.unwrap();
        let annotations = node.metadata.annotations.unwrap_or_default();
        annotations.get("k3s-daas.io/seal-token") == Some(&seal.to_string())
    })
    .await;
    heartbeat(&stack, &master, &worker, seal).await;

    // The master goes down; the worker is slashed meanwhile.
    stack.master.kill().await.unwrap();
    let proposed = chain
        .propose_slash(&worker.chain, seal, &[9u8; 32], "e2e: misbehaving worker")
        .await
        .unwrap();
    chain
        .approve_slash(&slasher, SLASHER_CAP_ID, proposed.event.proposal_id)
        .await
        .unwrap();

    // Back up, the master catches up: the Node, its pods and its
    // credentials are gone.
    stack.master.restart().await.unwrap();
    let restarted = Instant::now();
    wait_for("the slashed node to be removed", || async {
        Api::<Node>::all(kube.clone())
            .get_opt(NODE)
            .await
            .unwrap()
            .is_none()
    })
    .await;
    eprintln!("node removed {:?} after the restart", restarted.elapsed());
    assert!(pods.get_opt("on-worker").await.unwrap().is_none());
    let secrets: Api<Secret> = Api::namespaced(kube.clone(), "kube-system");
    assert!(
        secrets
            .get_opt(&format!("{NODE}.node-password.k3s"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        secrets
            .get_opt(&format!("bootstrap-token-{token_id}"))
            .await
            .unwrap()
            .is_none()
    );
    let left = secrets
        .list(&ListParams::default().labels(&format!("k3s-daas.io/node={NODE}")))
        .await
        .unwrap();
    assert!(left.items.is_empty(), "{:?}", left.items);
}

async fn heartbeat(stack: &Stack, master: &AttestedClient, worker: &Account, seal: SealTokenId) {
    let claims = WorkerClaims::new(
        Purpose::Heartbeat,
        seal,
        worker.address(),
        NODE,
        stack.cluster.server(),
        unix_now_secs(),
    )
    .unwrap();
    let request = HeartbeatRequest {
        node_id: NODE.to_owned(),
        proof: WorkerProof::sign(&worker.wallet, &claims)
            .unwrap()
            .into_string(),
        status: NodeStatus::Ready,
        metrics: NodeMetrics {
            cpu_usage: 45.2,
            memory_usage: 67.8,
            pod_count: 1,
            container_count: 1,
            network_rx: 1024,
            network_tx: 512,
            timestamp: unix_now_secs(),
        },
    };
    let _: serde_json::Value = master.post_json(HEARTBEAT_PATH, &request).await.unwrap();
    let health: NodeHealth = master
        .get_json(&format!("{NODE_HEALTH_PATH}/{NODE}"))
        .await
        .unwrap();
    assert_eq!(health.node, NODE);
    assert!(!health.stale);
    assert_eq!(health.metrics.unwrap().pod_count, 1);
}

/// `POST selfsubjectreviews` with `bearer`: who the API server says it is.
async fn self_subject_review(stack: &Stack, bearer: &str) -> serde_json::Value {
    let client = stack.cluster.client_for_token(bearer).await.unwrap();
    let body = serde_json::to_vec(&serde_json::json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "SelfSubjectReview",
    }))
    .unwrap();
    let request = http::Request::post("/apis/authentication.k8s.io/v1/selfsubjectreviews")
        .header("content-type", "application/json")
        .body(body)
        .unwrap();
    client.request(request).await.unwrap()
}

async fn wait_for<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !done().await {
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
