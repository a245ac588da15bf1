//! Revocation latency: from an approved slash (the transaction executed on
//! a real devnet) to the reconciler's `seal_token_changed` call (cached
//! decisions dropped: the next TokenReview is denied), and to the worker's
//! kwok Node being cordoned on the real API server. Prints p50 and p99 over
//! the rounds (target: p99 ≤ 2 s).
//!
//! ```sh
//! cargo bench -p daas-master --bench revocation             # 20 rounds
//! DAAS_BENCH_ROUNDS=50 cargo bench -p daas-master --bench revocation
//! ```
//!
//! Every round has its own staked worker and labelled node, prepared before
//! the clock starts; rounds run one after the other, each timed from the
//! moment `approve_slash` returned.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use daas_core::access::NodeName;
use daas_core::chain::{ChainClient, TransactionSigner};
use daas_core::package::{Mist, Role, SLASHER_CAP_ID, SealTokenId};
use daas_e2e::devnet::{Devnet, DevnetOptions};
use daas_e2e::k3s::{self, Cluster};
use daas_e2e::kwok;
use daas_master::admission::record::{record_name, write_record};
use daas_master::admission::{AdmissionRecord, WorkerNode, label_node};
use daas_master::leader::LeaseSettings;
use daas_master::namespaces::{MASTER_NAMESPACE, ensure_master_namespace};
use daas_master::reconcile::{Invalidation, Reconciler, ReconcilerSettings};
use k8s_openapi::api::core::v1::{ConfigMap, Node};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use sui_crypto::ed25519::Ed25519PrivateKey;

const SUI: u64 = 1_000_000_000;
const SCOPE_LABEL: &str = "revocation-bench.k3s-daas.io/scope";
const TARGET: Duration = Duration::from_secs(2);

/// When each seal token was first reported changed.
#[derive(Default)]
struct Recorder {
    changed: Mutex<HashMap<SealTokenId, Instant>>,
}

impl Invalidation for Recorder {
    fn seal_token_changed(&self, id: SealTokenId) {
        self.changed
            .lock()
            .unwrap()
            .entry(id)
            .or_insert_with(Instant::now);
    }

    fn all_changed(&self) {}
}

struct Worker {
    token: SealTokenId,
    node: NodeName,
}

struct Bench {
    devnet: Devnet,
    chain: ChainClient,
    slasher: Ed25519PrivateKey,
    reporter: Ed25519PrivateKey,
    cluster: &'static Cluster,
    kube: Client,
    namespace: String,
}

impl Bench {
    async fn start() -> Self {
        let slasher = Ed25519PrivateKey::new(rand::random());
        let reporter = Ed25519PrivateKey::new(rand::random());
        let devnet = Devnet::start_with(DevnetOptions {
            slasher: Some(TransactionSigner::address(&slasher)),
            ..DevnetOptions::default()
        })
        .await
        .unwrap();
        for key in [&slasher, &reporter] {
            devnet.fund(TransactionSigner::address(key)).await.unwrap();
        }
        let chain = devnet.client().unwrap();
        let cluster = k3s::shared().await.unwrap();
        kwok::ensure_running(cluster).await.unwrap();
        let kube = cluster.client().await.unwrap();
        ensure_master_namespace(&kube).await.unwrap();
        let namespace = cluster
            .create_namespace(&kube, "revocation-bench")
            .await
            .unwrap();
        Self {
            devnet,
            chain,
            slasher,
            reporter,
            cluster,
            kube,
            namespace,
        }
    }

    async fn worker(&self, round: usize) -> Worker {
        let key = Ed25519PrivateKey::new(rand::random());
        self.devnet
            .fund(TransactionSigner::address(&key))
            .await
            .unwrap();
        let node: NodeName = format!("bench-{round}-{}", k3s::unique_suffix())
            .parse()
            .unwrap();
        let token = self
            .chain
            .stake_and_mint(&key, Mist::new(10 * SUI), Role::Worker, node.as_str())
            .await
            .unwrap()
            .token;
        let admitted = WorkerNode {
            name: node.clone(),
            seal_token: token,
            owner: TransactionSigner::address(&key),
        };
        // Admitted as registration does: the record first, in scope.
        let record = AdmissionRecord {
            node: node.clone(),
            seal_token: token,
            owner: admitted.owner,
            bootstrap_token_id: "bench0".to_owned(),
            admitted_at: Timestamp::now(),
        };
        write_record(&self.kube, &record).await.unwrap();
        let scope = json!({ "metadata": { "labels": { SCOPE_LABEL: self.namespace } } });
        Api::<ConfigMap>::namespaced(self.kube.clone(), MASTER_NAMESPACE)
            .patch(
                &record_name(&node),
                &PatchParams::default(),
                &Patch::Merge(&scope),
            )
            .await
            .unwrap();
        kwok::create_node(self.cluster, &self.kube, node.as_str())
            .await
            .unwrap();
        label_node(&self.kube, &admitted, Duration::from_secs(10))
            .await
            .unwrap();
        Api::<Node>::all(self.kube.clone())
            .patch(
                node.as_str(),
                &PatchParams::default(),
                &Patch::Merge(&scope),
            )
            .await
            .unwrap();
        Worker { token, node }
    }

    fn settings(&self) -> ReconcilerSettings {
        ReconcilerSettings {
            recheck_interval: Duration::from_secs(600),
            lease: LeaseSettings {
                namespace: self.namespace.clone(),
                ..LeaseSettings::default()
            },
            cursor_namespace: self.namespace.clone(),
            scope: Some(format!("{SCOPE_LABEL}={}", self.namespace)),
            ..ReconcilerSettings::new("bench")
        }
    }

    /// Slashes `token`; the instant the approval returned.
    async fn slash(&self, token: SealTokenId) -> Instant {
        let proposed = self
            .chain
            .propose_slash(&self.reporter, token, &[9u8; 32], "bench")
            .await
            .unwrap();
        self.chain
            .approve_slash(&self.slasher, SLASHER_CAP_ID, proposed.event.proposal_id)
            .await
            .unwrap();
        Instant::now()
    }

    /// Polls every 10 ms until `node` is cordoned or gone.
    async fn wait_cordoned(&self, node: &NodeName) -> Instant {
        let nodes = Api::<Node>::all(self.kube.clone());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let current = nodes.get_opt(node.as_str()).await.unwrap();
            let cordoned =
                current.is_none_or(|n| n.spec.and_then(|s| s.unschedulable) == Some(true));
            if cordoned {
                return Instant::now();
            }
            assert!(Instant::now() < deadline, "node {node} never cordoned");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn wait_changed(recorder: &Recorder, token: SealTokenId) -> Instant {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(at) = recorder.changed.lock().unwrap().get(&token) {
            return *at;
        }
        assert!(
            Instant::now() < deadline,
            "seal token {token} never reported"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The `q` quantile (0..=1) of `samples`, nearest rank.
fn quantile(samples: &mut [Duration], q: f64) -> Duration {
    samples.sort_unstable();
    let rank = (q * samples.len() as f64).ceil() as usize;
    samples[rank.clamp(1, samples.len()) - 1]
}

fn report(what: &str, samples: &mut [Duration]) {
    let p50 = quantile(samples, 0.50);
    let p99 = quantile(samples, 0.99);
    let verdict = if p99 <= TARGET { "meets" } else { "MISSES" };
    println!(
        "{what:<36} p50 {:>7.1} ms   p99 {:>7.1} ms   ({verdict} p99 ≤ {} s, n = {})",
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        TARGET.as_secs(),
        samples.len()
    );
}

#[tokio::main]
async fn main() {
    let rounds: usize = std::env::var("DAAS_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let bench = Bench::start().await;
    let mut workers = Vec::with_capacity(rounds);
    for round in 0..rounds {
        workers.push(bench.worker(round).await);
    }
    let recorder = Arc::new(Recorder::default());
    let reconciler = Reconciler::new(
        bench.settings(),
        bench.chain.clone(),
        bench.kube.clone(),
        Arc::clone(&recorder) as Arc<dyn Invalidation>,
    )
    .unwrap();
    let mut status = reconciler.status();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(reconciler.run(async move {
        let _ = stopped.await;
    }));
    status.wait_for(|s| s.leader && s.caught_up).await.unwrap();

    let mut to_invalidation = Vec::with_capacity(rounds);
    let mut to_cordon = Vec::with_capacity(rounds);
    for worker in &workers {
        let executed = bench.slash(worker.token).await;
        let (changed, cordoned) = tokio::join!(
            wait_changed(&recorder, worker.token),
            bench.wait_cordoned(&worker.node)
        );
        to_invalidation.push(changed.saturating_duration_since(executed));
        to_cordon.push(cordoned.saturating_duration_since(executed));
    }
    println!("revocation latency over {rounds} rounds (devnet, real API server, kwok):");
    report("slash → seal_token_changed", &mut to_invalidation);
    report("slash → node cordoned", &mut to_cordon);
    let _ = stop.send(());
    task.await.unwrap();
}
