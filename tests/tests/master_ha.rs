//! Two `daas-master serve` replicas on one control plane, behind one
//! address ([`ReplicatedStack`]: the API server's webhooks and the users
//! reach either through a round-robin TCP forwarder). One leads (the
//! Lease, 5 s here through `leader:` in the config) and runs the
//! revocation reconciler and the gateway; both answer webhooks and the API.
//!
//! While a developer submits gateway requests on chain without pause, the
//! leader is killed with SIGKILL and a worker is slashed during the
//! handover. The other replica takes the Lease within one lease period (in
//! a new generation), revokes the slashed worker's Node, and resumes the
//! gateway from the stored cursor; every request ends with exactly one
//! result on chain and was executed once against the API server; kubectl
//! keeps working through the surviving replica. Prints the figures
//! (`BENCH` lines) for the README's benchmarks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use daas_core::access::unix_now_secs;
use daas_core::access::worker_proof::{Purpose, WorkerClaims, WorkerProof};
use daas_core::api::nodes::{
    Capacity, REGISTER_WORKER_PATH, RegisterWorkerRequest, RegisterWorkerResponse,
};
use daas_core::chain::calls::K8sRequest as Submission;
use daas_core::chain::{ChainClient, EventFollower, FileCursorStore, StartAt, TransactionSigner};
use daas_core::package::gateway::HttpMethod;
use daas_core::package::{Mist, PackageEvent, Role, SealTokenId};
use daas_e2e::devnet::DevnetOptions;
use daas_e2e::enclave;
use daas_e2e::kwok;
use daas_e2e::replicas::ReplicatedStack;
use daas_e2e::slasher::slash;
use daas_e2e::stack::{MasterProcess, StackOptions};
use daas_e2e::user::{Account, UserMachine};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Node};
use kube::Api;
use sui_crypto::ed25519::Ed25519PrivateKey;
use sui_sdk_types::Address;

const SUI: u64 = 1_000_000_000;
/// The master's Lease in `kube-system` (`daas_master::leader::LEASE_NAME`).
const LEASE_NAME: &str = "k3s-daas-master";
const NODE: &str = "worker-ha-1";
/// The Lease as configured below: a successor may take over this long
/// after the last renewal it saw ...
const LEASE_DURATION: Duration = Duration::from_secs(5);
/// ... and tries this often.
const RETRY_PERIOD: Duration = Duration::from_secs(1);
const MASTER_CONFIG: &str = "nodes:\n  drain_timeout_secs: 5\nleader:\n  \
     lease_duration_secs: 5\n  renew_deadline_ms: 3000\n  retry_period_ms: 1000\n";
/// The annotation the gateway puts on what it writes.
const REQUEST_ANNOTATION: &str = "k3s-daas.io/gateway-request";
/// Gateway requests submitted before the kill, and at least this many
/// after the new leader holds the Lease.
const REQUESTS_BEFORE: usize = 4;
const REQUESTS_AFTER: usize = 4;

/// The Lease's holder and transitions.
async fn lease(kube: &kube::Client) -> (Option<String>, i32) {
    let lease = Api::<Lease>::namespaced(kube.clone(), "kube-system")
        .get_opt(LEASE_NAME)
        .await
        .unwrap();
    let spec = lease.and_then(|l| l.spec).unwrap_or_default();
    (
        spec.holder_identity.filter(|h| !h.is_empty()),
        spec.lease_transitions.unwrap_or(0),
    )
}

async fn wait_for<F, Fut>(what: &str, limit: Duration, mut done: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !done().await {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    start.elapsed()
}

/// Which replica is the Lease holder `identity` (its election spans
/// carry `identity=…`; another replica's log may name it only as a
/// previous holder).
fn replica_of(stack: &ReplicatedStack, identity: &str) -> usize {
    let field = format!("identity={identity}");
    let found: Vec<usize> = (0..stack.masters.len())
        .filter(|&i| log(&stack.masters[i]).contains(&field))
        .collect();
    assert_eq!(found.len(), 1, "one replica's log names {identity}");
    found[0]
}

fn log(master: &MasterProcess) -> String {
    std::fs::read_to_string(master.log_path()).unwrap_or_default()
}

/// Makes an `EnclaveConfig` of the replicas' measurements (one build:
/// the same PCRs) and registers and funds every replica's key, so whichever
/// leads can sign and pay for gateway results.
async fn register_replicas(stack: &ReplicatedStack, chain: &ChainClient) {
    let admin = Ed25519PrivateKey::new([0xad; 32]);
    let first = stack.masters[0].client().unwrap();
    let config = enclave::create_config(&first, chain, &admin).await.unwrap();
    for master in &stack.masters {
        enclave::register_key(
            &master.client().unwrap(),
            &stack.devnet,
            &admin,
            config,
            true,
        )
        .await
        .unwrap();
    }
}

fn register_request(
    stack: &ReplicatedStack,
    worker: &Account,
    seal: SealTokenId,
) -> RegisterWorkerRequest {
    let claims = WorkerClaims::new(
        Purpose::Register,
        seal,
        worker.address(),
        NODE.parse().unwrap(),
        stack.cluster.server(),
        unix_now_secs(),
    )
    .unwrap();
    RegisterWorkerRequest {
        node_id: NODE.to_owned(),
        seal_token: seal.to_string(),
        ip_address: "10.0.1.7".to_owned(),
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

/// A worker stakes, joins through the one API address, and its Node (a
/// kwok node) is labelled by the leader.
async fn join_worker(
    stack: &ReplicatedStack,
    chain: &ChainClient,
    worker: &Account,
) -> SealTokenId {
    let seal = chain
        .stake_and_mint(&worker.chain, Mist::new(5 * SUI), Role::Worker, NODE)
        .await
        .unwrap()
        .token;
    let joined: RegisterWorkerResponse = stack
        .client()
        .unwrap()
        .post_json(REGISTER_WORKER_PATH, &register_request(stack, worker, seal))
        .await
        .unwrap();
    assert!(joined.success);
    let kube = stack.cluster.client().await.unwrap();
    kwok::ensure_running(&stack.cluster).await.unwrap();
    kwok::create_node(&stack.cluster, &kube, NODE)
        .await
        .unwrap();
    let nodes: Api<Node> = Api::all(kube);
    wait_for(
        "the node to be labelled",
        Duration::from_secs(90),
        || async {
            nodes
                .get(NODE)
                .await
                .unwrap()
                .metadata
                .annotations
                .unwrap_or_default()
                .get("k3s-daas.io/seal-token")
                == Some(&seal.to_string())
        },
    )
    .await;
    seal
}

/// A developer (2 SUI) who has used kubectl once, so their namespace
/// exists.
async fn developer(
    stack: &ReplicatedStack,
    chain: &ChainClient,
) -> (Account, SealTokenId, UserMachine) {
    let account = Account::funded(&stack.devnet, 0x44).await.unwrap();
    let token = chain
        .stake_and_mint(&account.chain, Mist::new(2 * SUI), Role::User, "")
        .await
        .unwrap()
        .token;
    let machine = UserMachine::with_key(&account.wallet).unwrap();
    machine.write_kubeconfig(&stack.cluster, token).unwrap();
    kubectl_works(stack, &machine, "default");
    (account, token, machine)
}

fn kubectl_works(stack: &ReplicatedStack, machine: &UserMachine, namespace: &str) {
    let output = machine
        .kubectl(&stack.cluster, &["get", "configmaps", "-n", namespace])
        .unwrap();
    assert!(
        output.status.success(),
        "kubectl get configmaps -n {namespace}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn namespace_of(account: &Account) -> String {
    format!(
        "daas-u-{}",
        &account.address().to_string()["0x".len().."0x".len() + 16]
    )
}

/// A gateway request as submitted: its ConfigMap's name, when it was
/// submitted, and its result (status, when first seen) once on chain.
#[derive(Debug, Clone)]
struct Submitted {
    name: String,
    at: Instant,
    result: Option<(u16, Instant)>,
}

type Submissions = Arc<Mutex<BTreeMap<Address, Submitted>>>;

/// Submits `POST` of ConfigMap `ha-<i>` into `namespace`, one after the
/// other, until `stop` is set and at least `minimum` were submitted.
async fn submit_stream(
    chain: ChainClient,
    signer: Ed25519PrivateKey,
    token: SealTokenId,
    namespace: String,
    stop: Arc<AtomicBool>,
    minimum: usize,
    submissions: Submissions,
) {
    let path = format!("/api/v1/namespaces/{namespace}/configmaps");
    for i in 0.. {
        if stop.load(Ordering::SeqCst) && i >= minimum {
            return;
        }
        let name = format!("ha-{i}");
        let payload = serde_json::to_vec(&serde_json::json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": { "name": name },
            "data": { "from": "chain" },
        }))
        .unwrap();
        let id = chain
            .submit_k8s_request(
                &signer,
                token,
                &Submission {
                    method: HttpMethod::Post,
                    path: &path,
                    namespace: &namespace,
                    resource_type: "configmaps",
                    payload: &payload,
                },
            )
            .await
            .unwrap()
            .event
            .request_id;
        let submitted = Submitted {
            name,
            at: Instant::now(),
            result: None,
        };
        submissions.lock().unwrap().insert(id, submitted);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Notes when each submitted request's result first appears on chain,
/// until every request has one and the stream has ended.
async fn watch_results(chain: ChainClient, submissions: Submissions, ended: Arc<AtomicBool>) {
    loop {
        let ended = ended.load(Ordering::SeqCst);
        let waiting: Vec<Address> = submissions
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, s)| s.result.is_none())
            .map(|(id, _)| *id)
            .collect();
        if ended && waiting.is_empty() {
            return;
        }
        for id in waiting {
            let on_chain = chain.k8s_request(id).await.unwrap().value;
            if let Some(result) = on_chain.result {
                let seen = (result.status_code, Instant::now());
                if let Some(s) = submissions.lock().unwrap().get_mut(&id) {
                    s.result = Some(seen);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The ConfigMaps in `namespace` the gateway made.
async fn gateway_made(configmaps: &Api<ConfigMap>) -> Vec<ConfigMap> {
    let all = configmaps.list(&Default::default()).await.unwrap().items;
    all.into_iter()
        .filter(|c| {
            c.metadata
                .annotations
                .as_ref()
                .is_some_and(|a| a.contains_key(REQUEST_ANNOTATION))
        })
        .collect()
}

/// How many `K8sResultRecorded` events the chain holds per request.
async fn recorded_results(chain: &ChainClient) -> BTreeMap<Address, usize> {
    let dir = tempfile::tempdir().unwrap();
    let mut follower = EventFollower::new(
        chain.clone(),
        FileCursorStore::new(dir.path().join("cursor")),
    )
    .with_start(StartAt::Genesis);
    let mut counts = BTreeMap::new();
    while let Some(event) = follower.try_next().await.unwrap() {
        if let Ok(Some(PackageEvent::K8sResultRecorded(recorded))) =
            event.decode(chain.package_id())
        {
            *counts.entry(recorded.request_id).or_insert(0) += 1;
        }
        follower.ack(&event).await.unwrap();
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_mid_stream_moves_revocation_and_the_gateway_exactly_once() {
    let slasher = Ed25519PrivateKey::new([0x53; 32]);
    let admin = Ed25519PrivateKey::new([0xad; 32]);
    let mut stack = ReplicatedStack::start(
        StackOptions {
            devnet: DevnetOptions {
                admin: Some(TransactionSigner::address(&admin)),
                slasher: Some(TransactionSigner::address(&slasher)),
                ..DevnetOptions::default()
            },
            master_config: MASTER_CONFIG.to_owned(),
            ..StackOptions::default()
        },
        2,
    )
    .await
    .unwrap();
    for key in [&admin, &slasher] {
        stack
            .devnet
            .fund(TransactionSigner::address(key))
            .await
            .unwrap();
    }
    // The replicas share one dev root (one "vendor"): trusting it once
    // makes every replica's document verifiable on chain.
    let pem = std::fs::read_to_string(stack.masters[0].state_dir().join("dev-root.pem")).unwrap();
    stack.devnet.trust_dev_attestation_root(&pem).await.unwrap();
    for master in &stack.masters {
        master.wait_ready().await.unwrap();
    }
    let chain = stack.devnet.client().unwrap();
    let kube = stack.cluster.client().await.unwrap();
    register_replicas(&stack, &chain).await;

    wait_for("a leader", Duration::from_secs(60), || async {
        lease(&kube).await.0.is_some()
    })
    .await;
    let (holder, generation_before) = lease(&kube).await;
    let holder = holder.unwrap();
    let leader = replica_of(&stack, &holder);
    let survivor = 1 - leader;

    let (dev, token, machine) = developer(&stack, &chain).await;
    let own = namespace_of(&dev);
    let worker = Account::funded(&stack.devnet, 0x73).await.unwrap();
    let seal = join_worker(&stack, &chain, &worker).await;
    let cursors: Api<ConfigMap> = Api::namespaced(kube.clone(), "kube-system");
    wait_for("the gateway's cursor", Duration::from_secs(60), || async {
        cursors
            .get_opt("k3s-daas-gateway-cursor")
            .await
            .unwrap()
            .is_some()
    })
    .await;
    assert_eq!(lease(&kube).await.0.as_deref(), Some(holder.as_str()));

    // Gateway requests stream in; the leader is killed mid-stream.
    let stop = Arc::new(AtomicBool::new(false));
    let ended = Arc::new(AtomicBool::new(false));
    let submissions = Submissions::default();
    let stream = tokio::spawn(submit_stream(
        chain.clone(),
        dev.chain.clone(),
        token,
        own.clone(),
        Arc::clone(&stop),
        REQUESTS_BEFORE + REQUESTS_AFTER,
        Arc::clone(&submissions),
    ));
    let watcher = tokio::spawn(watch_results(
        chain.clone(),
        Arc::clone(&submissions),
        Arc::clone(&ended),
    ));
    let configmaps: Api<ConfigMap> = Api::namespaced(kube.clone(), &own);
    wait_for(
        "the leader's gateway to execute requests",
        Duration::from_secs(120),
        || async { gateway_made(&configmaps).await.len() >= REQUESTS_BEFORE },
    )
    .await;
    stack.masters[leader].kill().await.unwrap();
    let killed = Instant::now();

    // The slash lands during the handover.
    slash(
        &chain,
        &worker.chain,
        &slasher,
        seal,
        "e2e: slashed during the handover",
    )
    .await
    .unwrap();

    // The survivor takes the Lease within one lease period (plus one
    // attempt and the API round trips), in a new generation.
    let limit = LEASE_DURATION + RETRY_PERIOD + Duration::from_secs(5);
    wait_for("the survivor to take the lease", limit, || async {
        matches!(lease(&kube).await.0, Some(h) if h != holder)
    })
    .await;
    let took_over = killed.elapsed();
    let (new_holder, generation_after) = lease(&kube).await;
    assert!(generation_after > generation_before, "{generation_after}");
    assert_eq!(replica_of(&stack, &new_holder.unwrap()), survivor);

    // ... and revokes the slashed worker's Node.
    let nodes: Api<Node> = Api::all(kube.clone());
    wait_for(
        "the slashed node to be removed",
        Duration::from_secs(60),
        || async { nodes.get_opt(NODE).await.unwrap().is_none() },
    )
    .await;
    let revoked = killed.elapsed();

    // kubectl works through the survivor (the webhooks' forwarder skips
    // the dead replica), and the one API address still answers.
    kubectl_works(&stack, &machine, &own);
    stack
        .client()
        .unwrap()
        .get_json::<serde_json::Value>("/readyz")
        .await
        .unwrap();

    stop.store(true, Ordering::SeqCst);
    stream.await.unwrap();
    ended.store(true, Ordering::SeqCst);
    tokio::time::timeout(Duration::from_secs(120), watcher)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "not every request got a result; replica logs:\n{}\n---\n{}",
                stack.masters[0].log_tail(40),
                stack.masters[1].log_tail(40)
            )
        })
        .unwrap();
    let submitted = submissions.lock().unwrap().clone();

    // Every request: a 201 and the one ConfigMap it made (a second
    // execution would have met 409 AlreadyExists) ...
    for (id, request) in &submitted {
        let (status, _) = request.result.unwrap();
        assert_eq!(status, 201, "request {id} ({})", request.name);
        let made = configmaps.get(&request.name).await.unwrap();
        assert_eq!(
            made.metadata.annotations.unwrap()[REQUEST_ANNOTATION],
            id.to_string()
        );
    }
    assert_eq!(gateway_made(&configmaps).await.len(), submitted.len());
    // ... exactly one result recorded on chain ...
    let recorded = recorded_results(&chain).await;
    for id in submitted.keys() {
        assert_eq!(recorded.get(id), Some(&1), "results recorded for {id}");
    }
    // Sent to the API server at most once, over both replicas' logs.
    let logs = log(&stack.masters[0]) + &log(&stack.masters[1]);
    for id in submitted.keys() {
        let sent = logs
            .lines()
            .filter(|l| l.contains("gateway request executed") && l.contains(&id.to_string()))
            .count();
        assert!(sent <= 1, "request {id} was sent {sent} times");
    }

    let after_kill: Vec<&Submitted> = submitted.values().filter(|r| r.at > killed).collect();
    let slowest = after_kill
        .iter()
        .filter_map(|r| {
            r.result
                .map(|(_, seen)| seen.saturating_duration_since(r.at))
        })
        .max()
        .unwrap_or_default();
    let first_after = after_kill
        .iter()
        .filter_map(|r| r.result.map(|(_, seen)| seen))
        .min()
        .map(|seen| seen.saturating_duration_since(killed))
        .unwrap_or_default();
    eprintln!(
        "BENCH leader failover (2 replicas, lease 5 s, retry 1 s): kill -9 → survivor holds \
         the Lease in {} ms; → slashed Node removed in {} ms",
        took_over.as_millis(),
        revoked.as_millis()
    );
    eprintln!(
        "BENCH gateway across the failover: {} requests ({} submitted after the kill), each \
         with one result on chain; the first result of a request submitted after the kill \
         came {} ms after the kill; the slowest such request took {} ms to its result",
        submitted.len(),
        after_kill.len(),
        first_after.as_millis(),
        slowest.as_millis()
    );
}
