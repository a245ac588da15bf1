//! Two `daas-master serve` processes on one control plane: one leads (the
//! Lease), both serve; kill -9 of the leader while a worker is slashed
//! moves the reconciler to the other, which takes the Lease over within
//! one lease period and revokes the slashed worker's node. Prints the
//! failover time (kill → new leader holds the Lease → node removed) for the
//! README's benchmarks.
//!
//! The second master is started here, not by the harness: the stack's
//! helpers start one master per stack.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use daas_core::access::unix_now_secs;
use daas_core::access::worker_proof::{Purpose, WorkerClaims, WorkerProof};
use daas_core::api::nodes::{
    Capacity, REGISTER_WORKER_PATH, RegisterWorkerRequest, RegisterWorkerResponse,
};
use daas_core::package::{Mist, Role, SLASHER_CAP_ID, SealTokenId};
use daas_e2e::binaries::{MASTER, workspace_binary};
use daas_e2e::k3s;
use daas_e2e::kwok;
use daas_e2e::slasher::stack_with_slasher;
use daas_e2e::stack::Stack;
use daas_e2e::user::Account;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use kube::Api;
use sui_crypto::ed25519::Ed25519PrivateKey;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const SUI: u64 = 1_000_000_000;
/// The master's Lease in `kube-system` (`daas_master::leader::LEASE_NAME`).
const LEASE_NAME: &str = "k3s-daas-master";
const NODE: &str = "worker-ha-1";
/// The master's Lease duration (`LeaseSettings::default`).
const LEASE_DURATION: Duration = Duration::from_secs(15);
/// The Lease's renew interval: a candidate tries this often.
const RENEW_INTERVAL: Duration = Duration::from_secs(2);

/// A second master on the stack's configuration, with its own state
/// directory and webhook port; killed on drop.
struct SecondMaster {
    /// Held so that dropping the value kills the process.
    _child: Child,
    dir: tempfile::TempDir,
}

impl SecondMaster {
    async fn start(config: &Path) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let binary = tokio::task::spawn_blocking(|| workspace_binary(MASTER))
            .await
            .unwrap()
            .unwrap();
        let log = std::fs::File::create(dir.path().join("master.log")).unwrap();
        let mut child = Command::new(binary)
            .arg("serve")
            .args(["--listen", "tcp:127.0.0.1:0", "--attestation", "dev"])
            .arg("--webhook-listen")
            .arg(format!("tcp:127.0.0.1:{}", k3s::free_port().unwrap()))
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("the second master prints its address")
            .unwrap()
            .unwrap();
        assert!(first.starts_with("daas-master listening on "), "{first}");
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self { _child: child, dir }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("master.log")).unwrap_or_default()
    }
}

fn register_request(stack: &Stack, worker: &Account, seal: SealTokenId) -> RegisterWorkerRequest {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_during_a_slash_moves_revocation_to_the_other_master() {
    let slasher = Ed25519PrivateKey::new([0x53; 32]);
    let mut stack = stack_with_slasher(&slasher, "nodes:\n  drain_timeout_secs: 5\n")
        .await
        .unwrap();
    let kube = stack.cluster.client().await.unwrap();

    // The stack's master is alone, so it leads.
    wait_for(
        "the first master to lead",
        Duration::from_secs(60),
        || async { lease(&kube).await.0.is_some() },
    )
    .await;
    let first_holder = lease(&kube).await.0.unwrap();
    let config = stack
        .master
        .state_dir()
        .parent()
        .unwrap()
        .join("nautilus-config.yaml");
    let second = SecondMaster::start(&config).await;

    // A worker joins through the leader; its node appears and is labelled.
    let chain = stack.devnet.client().unwrap();
    let worker = Account::funded(&stack.devnet, 0x73).await.unwrap();
    let seal = chain
        .stake_and_mint(&worker.chain, Mist::new(5 * SUI), Role::Worker, NODE)
        .await
        .unwrap()
        .token;
    let joined: RegisterWorkerResponse = stack
        .master
        .client()
        .unwrap()
        .post_json(
            REGISTER_WORKER_PATH,
            &register_request(&stack, &worker, seal),
        )
        .await
        .unwrap();
    assert!(joined.success);
    kwok::ensure_running(&stack.cluster).await.unwrap();
    kwok::create_node(&stack.cluster, &kube, NODE)
        .await
        .unwrap();
    let nodes: Api<Node> = Api::all(kube.clone());
    wait_for(
        "the node to be labelled",
        Duration::from_secs(90),
        || async {
            let node = nodes.get(NODE).await.unwrap();
            node.metadata
                .annotations
                .unwrap_or_default()
                .get("k3s-daas.io/seal-token")
                == Some(&seal.to_string())
        },
    )
    .await;
    assert_eq!(lease(&kube).await.0.as_deref(), Some(first_holder.as_str()));
    let (_, generation_before) = lease(&kube).await;

    // kill -9 of the leader; the slash lands during the handover.
    stack.master.kill().await.unwrap();
    let killed = Instant::now();
    let proposed = chain
        .propose_slash(
            &worker.chain,
            seal,
            &[7u8; 32],
            "e2e: slashed during the handover",
        )
        .await
        .unwrap();
    chain
        .approve_slash(&slasher, SLASHER_CAP_ID, proposed.event.proposal_id)
        .await
        .unwrap();

    // The other master takes the Lease over within one lease period (plus
    // one attempt interval and the API round trips), in a new generation.
    let limit = LEASE_DURATION + RENEW_INTERVAL + Duration::from_secs(5);
    wait_for("the second master to take the lease", limit, || async {
        matches!(lease(&kube).await.0, Some(h) if h != first_holder)
    })
    .await;
    let took_over = killed.elapsed();
    let (holder, generation_after) = lease(&kube).await;
    assert!(generation_after > generation_before, "{generation_after}");
    let holder = holder.unwrap();
    assert!(
        second.log().contains(&holder),
        "the second master's log names {holder}"
    );

    // ... and revokes the slashed worker's node.
    wait_for(
        "the slashed node to be removed",
        Duration::from_secs(60),
        || async { nodes.get_opt(NODE).await.unwrap().is_none() },
    )
    .await;
    let revoked = killed.elapsed();
    eprintln!(
        "failover: leader killed → new leader holds the Lease in {took_over:?}; \
         → slashed node removed in {revoked:?}"
    );
    drop(second);
}
