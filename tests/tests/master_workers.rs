//! Worker admission and removal, end to end with the devnet, the control
//! plane, kwok and `daas-master serve` as processes: a worker registers
//! with a signed proof and gets a join token that authenticates as a K3s
//! bootstrapper; bad proofs are refused; a slash that happens while the
//! master is down removes the node once the master is back. A node joins
//! by TLS bootstrapping as a kubelet does and gets a certificate for its
//! own name only; a node that strips its labels, one that appeared while
//! the master was down (never labelled), and one that joined under a name
//! nobody registered are all revoked, the exempt server node never; a
//! register proof replayed after a restart gets no second join token.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use daas_core::access::unix_now_secs;
use daas_core::access::worker_proof::{Purpose, WorkerClaims, WorkerProof};
use daas_core::api::nodes::{
    Capacity, HEARTBEAT_PATH, HeartbeatRequest, NODE_HEALTH_PATH, NodeHealth, NodeMetrics,
    NodeStatus, REGISTER_WORKER_PATH, RegisterWorkerRequest, RegisterWorkerResponse,
};
use daas_core::attested::{AttestedClient, AttestedError};
use daas_core::package::{Mist, Role, SealTokenId};
use daas_e2e::kwok;
use daas_e2e::slasher::{slash, stack_with_slasher};
use daas_e2e::stack::{Stack, StackOptions};
use daas_e2e::user::Account;
use k8s_openapi::ByteString;
use k8s_openapi::api::certificates::v1::{
    CertificateSigningRequest, CertificateSigningRequestSpec,
};
use k8s_openapi::api::core::v1::{Node, Pod, Secret};
use kube::api::{ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client};
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
use serde_json::json;
use sui_crypto::ed25519::Ed25519PrivateKey;

const SUI: u64 = 1_000_000_000;
const NODE: &str = "worker-e2e-1";
/// The seal-token label the master puts on nodes, which NodeRestriction
/// keeps kubelets from touching.
const RESTRICTED_LABEL: &str = "node-restriction.kubernetes.io/k3s-daas-seal-token-prefix";

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
        node.parse().unwrap(),
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
        agent_api: None,
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
    let mut stack = stack_with_slasher(&slasher, "nodes:\n  drain_timeout_secs: 5\n")
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
    slash(
        &chain,
        &worker.chain,
        &slasher,
        seal,
        "e2e: misbehaving worker",
    )
    .await
    .unwrap();

    // Back up, the master catches up: the Node, its pods and its
    // credentials are gone.
    stack.master.restart().await.unwrap();
    let restarted = Instant::now();

    // Slashing recovery: a new stake for the same node. While the slashed
    // admission is being revoked the master says "try again" (503), never
    // "taken" (409); once it is gone the new token is admitted.
    let new_seal = chain
        .stake_and_mint(&worker.chain, Mist::new(5 * SUI), Role::Worker, NODE)
        .await
        .unwrap()
        .token;
    let mut first = None;
    let rejoined = loop {
        let request = register_request(&stack, &worker, new_seal, NODE, unix_now_secs());
        match register(&stack.master.client().unwrap(), &request).await {
            Ok(joined) => break joined,
            Err(AttestedError::Status { status: 503, .. }) => {
                first.get_or_insert(503);
                assert!(restarted.elapsed() < Duration::from_secs(120));
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(other) => panic!("re-registering with a new stake: {other}"),
        }
    };
    assert!(rejoined.success);
    eprintln!(
        "re-registered {:?} after the restart (first answer {})",
        restarted.elapsed(),
        first.map_or("200".to_owned(), |s| s.to_string())
    );
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
    // What is left for the node is the new admission's bootstrap token.
    let (_, new_bootstrap) = rejoined.join_token.split_once("::").unwrap();
    let new_secret = format!(
        "bootstrap-token-{}",
        new_bootstrap.split('.').next().unwrap()
    );
    let left = secrets
        .list(&ListParams::default().labels(&format!("k3s-daas.io/node={NODE}")))
        .await
        .unwrap();
    assert!(
        left.items
            .iter()
            .all(|secret| secret.metadata.name.as_deref() == Some(new_secret.as_str())),
        "{:?}",
        left.items
    );

    assert_spans_plain(
        &stack,
        &["revoke_node{", "label_node{", "mint_bootstrap_token{"],
    );
}

/// The master's log of admission, labelling and revocation (which holds
/// `expected` spans) names what each span is about in plain values, never
/// a dump of the master's structures.
fn assert_spans_plain(stack: &Stack, expected: &[&str]) {
    let log = std::fs::read_to_string(stack.master.log_path()).unwrap();
    for span in expected {
        assert!(log.contains(span), "no {span} span in the master's log");
    }
    for line in log.lines() {
        assert!(
            !spans_of(line).contains(" { "),
            "a span of the master's log dumps a structure: {line}"
        );
    }
}

/// The spans of a log line (`a{x=1}:b`): the text between the level and
/// the event's target (`daas_master::…: `); empty when it has none.
fn spans_of(line: &str) -> &str {
    let Some(rest) = ["TRACE ", "DEBUG ", "INFO ", "WARN ", "ERROR "]
        .iter()
        .find_map(|level| line.split_once(level).map(|(_, rest)| rest.trim_start()))
    else {
        return "";
    };
    // A target is a path (`crate::module`) followed by `: `.
    let is_target = |text: &str| {
        text.split_once(": ")
            .is_some_and(|(path, _)| path.contains("::") && !path.contains([' ', '{']))
    };
    if is_target(rest) {
        return "";
    }
    rest.match_indices(": ")
        .find(|(at, _)| is_target(&rest[at + 2..]))
        .map_or(rest, |(at, _)| &rest[..at])
}

const SERVER_NODE: &str = "server-node";

/// Asks, as a kubelet does with its bootstrap token `bearer`, for a client
/// certificate of `node`: the request's name and the key.
async fn request_certificate(stack: &Stack, bearer: &str, node: &str) -> (String, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    let mut subject = DistinguishedName::new();
    subject.push(DnType::CommonName, format!("system:node:{node}"));
    subject.push(DnType::OrganizationName, "system:nodes");
    params.distinguished_name = subject;
    let pem = params.serialize_request(&key).unwrap().pem().unwrap();
    let request = CertificateSigningRequest {
        metadata: ObjectMeta {
            generate_name: Some("node-csr-".to_owned()),
            ..ObjectMeta::default()
        },
        spec: CertificateSigningRequestSpec {
            request: ByteString(pem.into_bytes()),
            signer_name: "kubernetes.io/kube-apiserver-client-kubelet".to_owned(),
            usages: Some(vec![
                "digital signature".to_owned(),
                "client auth".to_owned(),
            ]),
            ..CertificateSigningRequestSpec::default()
        },
        ..CertificateSigningRequest::default()
    };
    let bootstrapper = stack.cluster.client_for_token(bearer).await.unwrap();
    let created = Api::<CertificateSigningRequest>::all(bootstrapper)
        .create(&PostParams::default(), &request)
        .await
        .unwrap();
    (created.metadata.name.unwrap(), key)
}

/// Waits for the decision on request `name`: its condition type and
/// message, and the signed certificate (PEM) once approved.
async fn decided(kube: &Client, name: &str) -> (String, String, Option<String>) {
    let api = Api::<CertificateSigningRequest>::all(kube.clone());
    let start = Instant::now();
    loop {
        let status = api.get(name).await.unwrap().status.unwrap_or_default();
        let condition = status.conditions.unwrap_or_default().into_iter().next();
        let certificate = status
            .certificate
            .filter(|c| !c.0.is_empty())
            .map(|c| String::from_utf8(c.0).unwrap());
        match condition {
            Some(c) if c.type_ != "Approved" || certificate.is_some() => {
                return (c.type_, c.message.unwrap_or_default(), certificate);
            }
            _ => {}
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "request {name} was not decided"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A client authenticated by a client certificate, as the kubelet is once
/// bootstrapped.
async fn client_with_certificate(stack: &Stack, cert_pem: &str, key: &KeyPair) -> Client {
    let yaml = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {}\n    \
         certificate-authority-data: {}\nusers:\n- name: u\n  user:\n    client-certificate-data: {}\n    \
         client-key-data: {}\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\n\
         current-context: c\n",
        stack.cluster.server(),
        BASE64.encode(stack.cluster.ca_pem()),
        BASE64.encode(cert_pem),
        BASE64.encode(key.serialize_pem()),
    );
    let config = kube::Config::from_custom_kubeconfig(
        Kubeconfig::from_yaml(&yaml).unwrap(),
        &KubeConfigOptions::default(),
    )
    .await
    .unwrap();
    Client::try_from(config).unwrap()
}

/// Stakes 5 SUI for `node` and registers it; the seal token and the
/// answer.
async fn stake_and_register(
    stack: &Stack,
    master: &AttestedClient,
    worker: &Account,
    node: &str,
) -> (SealTokenId, RegisterWorkerRequest, RegisterWorkerResponse) {
    let seal = stack
        .devnet
        .client()
        .unwrap()
        .stake_and_mint(&worker.chain, Mist::new(5 * SUI), Role::Worker, node)
        .await
        .unwrap()
        .token;
    let request = register_request(stack, worker, seal, node, unix_now_secs());
    let joined = register(master, &request).await.unwrap();
    (seal, request, joined)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_nodes_held_by_an_active_worker_token_stay_whatever_they_do() {
    let mut stack = Stack::start(StackOptions {
        master_config: format!(
            "nodes:\n  drain_timeout_secs: 5\n  recheck_interval_secs: 2\n  exempt: [\"{SERVER_NODE}\"]\n"
        ),
        ..StackOptions::default()
    })
    .await
    .unwrap();
    let chain = stack.devnet.client().unwrap();
    let master = stack.master.client().unwrap();
    let kube = stack.cluster.client().await.unwrap();
    kwok::ensure_running(&stack.cluster).await.unwrap();
    let nodes = Api::<Node>::all(kube.clone());

    // 1. A kubelet joins by TLS bootstrapping: its bootstrap token gets a
    // certificate for its own node, none for another name.
    let alice = Account::funded(&stack.devnet, 0x81).await.unwrap();
    let (alice_seal, _, joined) = stake_and_register(&stack, &master, &alice, "alice-node").await;
    let bearer = joined.join_token.split_once("::").unwrap().1.to_owned();
    let (own, key) = request_certificate(&stack, &bearer, "alice-node").await;
    let (other, _) = request_certificate(&stack, &bearer, "somebody-else").await;
    let (kind, _, certificate) = decided(&kube, &own).await;
    assert_eq!(kind, "Approved");
    let (kind, message, _) = decided(&kube, &other).await;
    assert_eq!(kind, "Denied", "{message}");
    assert!(message.contains("no admission record"), "{message}");
    let kubelet = client_with_certificate(&stack, &certificate.unwrap(), &key).await;
    let as_node = Api::<Node>::all(kubelet);
    as_node
        .create(&PostParams::default(), &kwok::fake_node("alice-node"))
        .await
        .unwrap();
    wait_for("alice's node to be labelled", || async {
        restricted_label(&nodes, "alice-node").await.is_some()
    })
    .await;
    let pods: Api<Pod> = Api::namespaced(kube.clone(), "default");
    pods.create(
        &Default::default(),
        &kwok::simple_pod("on-alice", Some("alice-node")),
    )
    .await
    .unwrap();

    // The node cannot shed its restricted label; it strips all it can.
    let params = PatchParams::default();
    let shed = json!({ "metadata": { "labels": { RESTRICTED_LABEL: null } } });
    match as_node
        .patch("alice-node", &params, &Patch::Merge(&shed))
        .await
    {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 403, "{status:?}"),
        other => panic!("the node removed its restricted label: {other:?}"),
    }
    let strip = json!({ "metadata": { "annotations": {
        "k3s-daas.io/seal-token": null, "k3s-daas.io/owner": null, "k3s-daas.io/node-id": null,
    } } });
    as_node
        .patch("alice-node", &params, &Patch::Merge(&strip))
        .await
        .unwrap();

    // 2. Bob registers; the master dies before his node appears, and a
    // copy of his register proof is replayed to the restarted master.
    let bob = Account::funded(&stack.devnet, 0x82).await.unwrap();
    let (bob_seal, bob_request, _) = stake_and_register(&stack, &master, &bob, "bob-node").await;
    stack.master.kill().await.unwrap();
    kwok::create_node(&stack.cluster, &kube, "bob-node")
        .await
        .unwrap();
    stack.master.restart().await.unwrap();
    let master = stack.master.client().unwrap();
    assert_eq!(status_of(register(&master, &bob_request).await), 409);
    let bob_tokens = Api::<Secret>::namespaced(kube.clone(), "kube-system")
        .list(&ListParams::default().labels("k3s-daas.io/node=bob-node"))
        .await
        .unwrap();
    assert_eq!(bob_tokens.items.len(), 1, "a replay minted a second token");
    wait_for("bob's node to be labelled after the restart", || async {
        restricted_label(&nodes, "bob-node").await.is_some()
    })
    .await;

    // 3. A node under a name nobody registered is revoked; the exempt
    // server node stays.
    for name in ["unregistered-node", SERVER_NODE] {
        nodes
            .create(&PostParams::default(), &kwok::fake_node(name))
            .await
            .unwrap();
    }
    wait_for("the unregistered node to be revoked", || async {
        nodes.get_opt("unregistered-node").await.unwrap().is_none()
    })
    .await;
    let server = nodes.get(SERVER_NODE).await.unwrap();
    assert_ne!(server.spec.and_then(|s| s.unschedulable), Some(true));

    // 4. Unstake: both admitted nodes go, stripped and late-labelled alike.
    assert!(nodes.get_opt("alice-node").await.unwrap().is_some());
    chain
        .request_unstake(&alice.chain, alice_seal)
        .await
        .unwrap();
    chain.request_unstake(&bob.chain, bob_seal).await.unwrap();
    wait_for("both unstaked nodes to be removed", || async {
        nodes.get_opt("alice-node").await.unwrap().is_none()
            && nodes.get_opt("bob-node").await.unwrap().is_none()
    })
    .await;
    assert!(pods.get_opt("on-alice").await.unwrap().is_none());
    assert!(nodes.get_opt(SERVER_NODE).await.unwrap().is_some());
    assert_spans_plain(&stack, &["revoke_node{"]);
}

/// The value of the node's `node-restriction.kubernetes.io/` seal-token
/// label, if it has one.
async fn restricted_label(nodes: &Api<Node>, name: &str) -> Option<String> {
    nodes
        .get_opt(name)
        .await
        .unwrap()?
        .metadata
        .labels?
        .remove(RESTRICTED_LABEL)
}

async fn heartbeat(stack: &Stack, master: &AttestedClient, worker: &Account, seal: SealTokenId) {
    let claims = WorkerClaims::new(
        Purpose::Heartbeat,
        seal,
        worker.address(),
        NODE.parse().unwrap(),
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
        agent_api: None,
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
