//! The revocation reconciler against a real devnet, the shared real API
//! server and kwok nodes running pods: slashes and unstakes of workers
//! take their nodes out, the re-check on becoming leader takes out expired
//! workers (expiry fires no event), a restarted master catches up from the
//! stored cursor, one of two replicas leads and the other takes over (at
//! once after a release, after expiry after a crash), and a chain that
//! cannot be read revokes nothing.
//!
//! Each test confines its reconcilers to objects carrying its own scope
//! label, so that tests sharing the API server never revoke each other's
//! nodes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use daas_core::chain::{ChainClient, EventCursor, TransactionSigner};
use daas_core::package::{Mist, Role, SLASHER_CAP_ID, SealTokenId};
use daas_e2e::devnet::{Devnet, DevnetOptions};
use daas_e2e::k3s::{self, Cluster};
use daas_e2e::kwok;
use daas_master::admission::bootstrap_token::KUBE_SYSTEM;
use daas_master::admission::{MintedToken, WorkerNode, label_node, mint_bootstrap_token};
use daas_master::cursor::CURSOR_KEY;
use daas_master::leader::LeaseSettings;
use daas_master::node_name::NodeName;
use daas_master::reconcile::{Invalidation, Reconciler, ReconcilerSettings, ReconcilerStatus};
use daas_master::revocation::DrainPolicy;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod, Secret};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Client;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use serde_json::json;
use sui_crypto::ed25519::Ed25519PrivateKey;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

const SUI: u64 = 1_000_000_000;
/// Label that confines each test's reconcilers to its own objects on the
/// shared API server.
const SCOPE_LABEL: &str = "reconcile-test.k3s-daas.io/scope";
/// How long a test waits for the reconciler to act.
const PATIENCE: Duration = Duration::from_secs(60);

/// Records what the reconciler reported.
#[derive(Default)]
struct Recorder {
    tokens: Mutex<Vec<SealTokenId>>,
    all: AtomicUsize,
}

impl Invalidation for Recorder {
    fn seal_token_changed(&self, id: SealTokenId) {
        self.tokens.lock().unwrap().push(id);
    }

    fn all_changed(&self) {
        self.all.fetch_add(1, Ordering::SeqCst);
    }
}

impl Recorder {
    fn saw(&self, id: SealTokenId) -> bool {
        self.tokens.lock().unwrap().contains(&id)
    }
}

/// Polls `probe` every 50 ms until it holds.
async fn eventually<F, Fut>(what: &str, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + PATIENCE;
    while !probe().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A devnet with a funded slasher, the shared API server, a namespace for
/// the Lease, the cursor and pods, and a scope label for this test.
struct World {
    devnet: Devnet,
    chain: ChainClient,
    slasher: Ed25519PrivateKey,
    cluster: &'static Cluster,
    kube: Client,
    namespace: String,
    scope: String,
}

/// A staked worker with its kwok node, pods, node-password Secret and
/// bootstrap token.
struct Worker {
    key: Ed25519PrivateKey,
    token: SealTokenId,
    node: NodeName,
    bootstrap: MintedToken,
}

/// A running reconciler.
struct Running {
    status: watch::Receiver<ReconcilerStatus>,
    recorder: Arc<Recorder>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Running {
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(20), &mut self.task)
            .await
            .expect("the reconciler did not stop")
            .unwrap();
    }

    fn status(&self) -> ReconcilerStatus {
        *self.status.borrow()
    }

    async fn wait_leading(&self) {
        let mut status = self.status.clone();
        tokio::time::timeout(PATIENCE, status.wait_for(|s| s.leader && s.caught_up))
            .await
            .expect("the reconciler did not lead")
            .unwrap();
    }
}

impl World {
    async fn start(prefix: &str) -> Self {
        let slasher = Ed25519PrivateKey::new(rand::random());
        let devnet = Devnet::start_with(DevnetOptions {
            slasher: Some(TransactionSigner::address(&slasher)),
            ..DevnetOptions::default()
        })
        .await
        .unwrap();
        devnet
            .fund(TransactionSigner::address(&slasher))
            .await
            .unwrap();
        let chain = devnet.client().unwrap();
        let cluster = k3s::shared().await.unwrap();
        kwok::ensure_running(cluster).await.unwrap();
        let kube = cluster.client().await.unwrap();
        let namespace = cluster.create_namespace(&kube, prefix).await.unwrap();
        Self {
            devnet,
            chain,
            slasher,
            cluster,
            kube,
            scope: namespace.clone(),
            namespace,
        }
    }

    fn settings(&self, identity: &str) -> ReconcilerSettings {
        ReconcilerSettings {
            drain: DrainPolicy {
                timeout: Duration::from_secs(4),
                initial_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_millis(500),
            },
            recheck_interval: Duration::from_secs(30),
            poll_interval: Duration::from_millis(100),
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            lease: LeaseSettings {
                namespace: self.namespace.clone(),
                name: "leader".to_owned(),
                lease_duration: Duration::from_secs(3),
                renew_interval: Duration::from_millis(300),
                renew_deadline: Duration::from_secs(2),
            },
            cursor_namespace: self.namespace.clone(),
            cursor_name: "cursor".to_owned(),
            scope: Some(format!("{SCOPE_LABEL}={}", self.scope)),
            ..ReconcilerSettings::new(identity)
        }
    }

    fn start_reconciler(&self, settings: ReconcilerSettings) -> Running {
        let recorder = Arc::new(Recorder::default());
        let reconciler = Reconciler::new(
            settings,
            self.chain.clone(),
            self.kube.clone(),
            Arc::clone(&recorder) as Arc<dyn Invalidation>,
        )
        .unwrap();
        let status = reconciler.status();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(reconciler.run(async move {
            let _ = stopped.await;
        }));
        Running {
            status,
            recorder,
            stop: Some(stop),
            task,
        }
    }

    fn scope_patch(&self) -> serde_json::Value {
        json!({ "metadata": { "labels": { SCOPE_LABEL: self.scope } } })
    }

    /// Stakes 10 SUI for a worker and admits its kwok node as the master
    /// does: labelled node, node-password Secret, bootstrap token; runs a
    /// pod and a pod guarded by a budget (`min_available` 0 lets evictions
    /// through, 1 blocks them).
    async fn worker(&self, name: &str, min_available: i32) -> Worker {
        let key = Ed25519PrivateKey::new(rand::random());
        self.devnet
            .fund(TransactionSigner::address(&key))
            .await
            .unwrap();
        let node: NodeName = format!("{name}-{}", k3s::unique_suffix()).parse().unwrap();
        let token = self
            .chain
            .stake_and_mint(&key, Mist::new(10 * SUI), Role::Worker, node.as_str())
            .await
            .unwrap()
            .token;
        kwok::create_node(self.cluster, &self.kube, node.as_str())
            .await
            .unwrap();
        let admitted = WorkerNode {
            name: node.clone(),
            seal_token: token,
            owner: TransactionSigner::address(&key),
        };
        label_node(&self.kube, &admitted, Duration::from_secs(10))
            .await
            .unwrap();
        let params = PatchParams::default();
        Api::<Node>::all(self.kube.clone())
            .patch(node.as_str(), &params, &Patch::Merge(self.scope_patch()))
            .await
            .unwrap();
        let bootstrap = mint_bootstrap_token(&self.kube, &admitted, Duration::from_secs(600))
            .await
            .unwrap();
        let secrets = Api::<Secret>::namespaced(self.kube.clone(), KUBE_SYSTEM);
        secrets
            .patch(
                &bootstrap.token.secret_name(),
                &params,
                &Patch::Merge(self.scope_patch()),
            )
            .await
            .unwrap();
        self.node_password(&node).await;
        self.run_pod(&node, "free", None).await;
        self.run_pod(&node, "guarded", Some(min_available)).await;
        Worker {
            key,
            token,
            node,
            bootstrap,
        }
    }

    async fn node_password(&self, node: &NodeName) {
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(node.node_password_secret()),
                ..ObjectMeta::default()
            },
            string_data: Some(BTreeMap::from([("hash".to_owned(), "$1:fake".to_owned())])),
            ..Secret::default()
        };
        Api::<Secret>::namespaced(self.kube.clone(), KUBE_SYSTEM)
            .create(&PostParams::default(), &secret)
            .await
            .unwrap();
    }

    async fn run_pod(&self, node: &NodeName, app: &str, min_available: Option<i32>) {
        let name = format!("{app}-{node}");
        let labels = BTreeMap::from([("app".to_owned(), name.clone())]);
        let mut pod = kwok::simple_pod(&name, Some(node.as_str()));
        pod.metadata.labels = Some(labels.clone());
        Api::<Pod>::namespaced(self.kube.clone(), &self.namespace)
            .create(&PostParams::default(), &pod)
            .await
            .unwrap();
        kwok::wait_pod_running(self.cluster, &self.kube, &self.namespace, &name)
            .await
            .unwrap();
        let Some(min_available) = min_available else {
            return;
        };
        let budget = PodDisruptionBudget {
            metadata: ObjectMeta {
                name: Some(name),
                ..ObjectMeta::default()
            },
            spec: Some(PodDisruptionBudgetSpec {
                min_available: Some(IntOrString::Int(min_available)),
                selector: Some(LabelSelector {
                    match_labels: Some(labels),
                    ..LabelSelector::default()
                }),
                ..PodDisruptionBudgetSpec::default()
            }),
            ..PodDisruptionBudget::default()
        };
        Api::<PodDisruptionBudget>::namespaced(self.kube.clone(), &self.namespace)
            .create(&PostParams::default(), &budget)
            .await
            .unwrap();
    }

    /// Proposes and approves a 10 % slash of `token`; the checkpoint of
    /// the approval.
    async fn slash(&self, token: SealTokenId) -> u64 {
        let reporter = Ed25519PrivateKey::new(rand::random());
        self.devnet
            .fund(TransactionSigner::address(&reporter))
            .await
            .unwrap();
        let proposed = self
            .chain
            .propose_slash(&reporter, token, &[7u8; 32], "double signing")
            .await
            .unwrap();
        let approved = self
            .chain
            .approve_slash(&self.slasher, SLASHER_CAP_ID, proposed.event.proposal_id)
            .await
            .unwrap();
        // Punitive: the stake left is still above the worker minimum.
        assert!(approved.event.stake >= Mist::new(9 * SUI));
        let digest = approved.outcome.digest;
        self.chain.wait_for_checkpoint(digest).await.unwrap()
    }

    async fn node(&self, node: &NodeName) -> Option<Node> {
        Api::<Node>::all(self.kube.clone())
            .get_opt(node.as_str())
            .await
            .unwrap()
    }

    async fn secret_exists(&self, name: &str) -> bool {
        Api::<Secret>::namespaced(self.kube.clone(), KUBE_SYSTEM)
            .get_opt(name)
            .await
            .unwrap()
            .is_some()
    }

    async fn pods_left(&self, node: &NodeName) -> usize {
        let pods = Api::<Pod>::namespaced(self.kube.clone(), &self.namespace);
        let mut left = 0;
        for app in ["free", "guarded"] {
            if pods
                .get_opt(&format!("{app}-{node}"))
                .await
                .unwrap()
                .is_some()
            {
                left += 1;
            }
        }
        left
    }

    /// Waits until `worker`'s node, pods and secrets are all gone.
    async fn wait_revoked(&self, worker: &Worker) {
        eventually("the node and its pods and secrets to go", || async {
            self.node(&worker.node).await.is_none()
                && self.pods_left(&worker.node).await == 0
                && !self
                    .secret_exists(&worker.node.node_password_secret())
                    .await
                && !self
                    .secret_exists(&worker.bootstrap.token.secret_name())
                    .await
        })
        .await;
    }

    /// Asserts that `worker` still has everything and is schedulable.
    async fn assert_intact(&self, worker: &Worker) {
        let node = self.node(&worker.node).await.expect("the node was deleted");
        let unschedulable = node.spec.and_then(|s| s.unschedulable);
        assert_ne!(unschedulable, Some(true), "the node was cordoned");
        assert_eq!(self.pods_left(&worker.node).await, 2);
        assert!(
            self.secret_exists(&worker.node.node_password_secret())
                .await
        );
        assert!(
            self.secret_exists(&worker.bootstrap.token.secret_name())
                .await
        );
    }

    async fn stored_cursor(&self) -> Option<EventCursor> {
        let config_map = Api::<ConfigMap>::namespaced(self.kube.clone(), &self.namespace)
            .get_opt("cursor")
            .await
            .unwrap()?;
        let text = config_map.data?.remove(CURSOR_KEY)?;
        Some(serde_json::from_str(&text).unwrap())
    }

    async fn lease_holder(&self) -> Option<String> {
        Api::<Lease>::namespaced(self.kube.clone(), &self.namespace)
            .get_opt("leader")
            .await
            .unwrap()?
            .spec?
            .holder_identity
            .filter(|h| !h.is_empty())
    }
}

#[tokio::test]
async fn a_slashed_worker_is_cordoned_drained_and_removed() {
    let world = World::start("reconcile-slash").await;
    let worker = world.worker("slashed", 0).await;
    let running = world.start_reconciler(world.settings("only"));
    running.wait_leading().await;
    // An active, unslashed worker survives the re-check on becoming leader.
    world.assert_intact(&worker).await;

    world.slash(worker.token).await;
    eventually("seal_token_changed for the slashed token", || async {
        running.recorder.saw(worker.token)
    })
    .await;
    world.wait_revoked(&worker).await;
    running.stop().await;
}

#[tokio::test]
async fn an_unstaking_worker_is_cordoned_then_drained_past_a_blocking_budget() {
    let world = World::start("reconcile-unstake").await;
    let worker = world.worker("unstaking", 1).await;
    let running = world.start_reconciler(world.settings("only"));
    running.wait_leading().await;

    world
        .chain
        .request_unstake(&worker.key, worker.token)
        .await
        .unwrap();
    // The budget holds the guarded pod for the drain timeout: the node is
    // cordoned meanwhile.
    eventually("the node to be cordoned", || async {
        world
            .node(&worker.node)
            .await
            .and_then(|n| n.spec?.unschedulable)
            == Some(true)
    })
    .await;
    // The invalidation follower runs beside the leader's, not before it.
    eventually("seal_token_changed for the unstaked token", || async {
        running.recorder.saw(worker.token)
    })
    .await;
    world.wait_revoked(&worker).await;
    running.stop().await;
}

#[tokio::test]
async fn a_restarted_master_catches_up_on_a_slash_it_missed() {
    let world = World::start("reconcile-restart").await;
    let worker = world.worker("missed", 0).await;
    let first = world.start_reconciler(world.settings("first"));
    first.wait_leading().await;
    eventually("the first leader to store a cursor", || async {
        world.stored_cursor().await.is_some()
    })
    .await;
    first.stop().await;

    let slashed_at = world.slash(worker.token).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    world.assert_intact(&worker).await;

    let second = world.start_reconciler(world.settings("second"));
    world.wait_revoked(&worker).await;
    // It resumed from the stored cursor and acknowledged the slash.
    eventually("the cursor to pass the slash", || async {
        world
            .stored_cursor()
            .await
            .is_some_and(|c| c.checkpoint >= slashed_at)
    })
    .await;
    assert!(second.status().leader);
    second.stop().await;
}

#[tokio::test]
async fn one_of_two_replicas_leads_and_the_other_takes_over() {
    let world = World::start("reconcile-leader").await;
    let worker = world.worker("elected", 0).await;
    let a = world.start_reconciler(world.settings("replica-a"));
    let b = world.start_reconciler(world.settings("replica-b"));
    eventually("one replica to lead", || async {
        a.status().leader || b.status().leader
    })
    .await;
    for _ in 0..20 {
        assert!(
            !(a.status().leader && b.status().leader),
            "both replicas lead"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (leader, follower, follower_id) = if a.status().leader {
        (a, b, "replica-b")
    } else {
        (b, a, "replica-a")
    };
    assert_ne!(world.lease_holder().await.as_deref(), Some(follower_id));

    // Both replicas drop cached decisions on events.
    let topped_up = world
        .chain
        .add_stake(&worker.key, worker.token, Mist::new(SUI))
        .await
        .unwrap();
    assert_eq!(topped_up.event.token_id, worker.token);
    eventually("both replicas to see the top-up", || async {
        leader.recorder.saw(worker.token) && follower.recorder.saw(worker.token)
    })
    .await;

    // Shutdown releases the Lease; the other replica takes over at once.
    leader.stop().await;
    eventually("the other replica to take over", || async {
        follower.status().leader
    })
    .await;
    assert_eq!(world.lease_holder().await.as_deref(), Some(follower_id));
    world.slash(worker.token).await;
    world.wait_revoked(&worker).await;
    follower.stop().await;
    assert_eq!(world.lease_holder().await, None);
}

#[tokio::test]
async fn a_chain_that_cannot_be_read_revokes_nothing() {
    let mut world = World::start("reconcile-outage").await;
    let worker = world.worker("outage", 0).await;
    let settings = ReconcilerSettings {
        recheck_interval: Duration::from_millis(500),
        ..world.settings("only")
    };
    let running = world.start_reconciler(settings);
    running.wait_leading().await;

    world.devnet.stop().await.unwrap();
    eventually("the follower to notice the outage", || async {
        !running.status().caught_up
    })
    .await;
    // Several re-checks fail meanwhile; none may take the node.
    tokio::time::sleep(Duration::from_secs(4)).await;
    world.assert_intact(&worker).await;
    assert!(running.status().leader);
    assert!(
        running.recorder.all.load(Ordering::SeqCst) >= 1,
        "cached decisions were not dropped during the outage"
    );

    world.devnet.restart().await.unwrap();
    let mut status = running.status.clone();
    tokio::time::timeout(PATIENCE, status.wait_for(|s| s.caught_up))
        .await
        .expect("the follower did not recover")
        .unwrap();
    world.slash(worker.token).await;
    world.wait_revoked(&worker).await;
    running.stop().await;
}

#[tokio::test]
async fn the_recheck_on_becoming_leader_takes_out_expired_workers_only() {
    let world = World::start("reconcile-expiry").await;
    let expired = world.worker("expired", 0).await;
    let refreshed = world.worker("refreshed", 0).await;
    // Expiry fires no event: past the 30-day lifetime, only the re-check
    // sees it. The refresh also moves the chain's clock.
    world
        .devnet
        .advance_clock(31 * 24 * 60 * 60 * 1000)
        .await
        .unwrap();
    world
        .chain
        .refresh(&refreshed.key, refreshed.token)
        .await
        .unwrap();

    let running = world.start_reconciler(world.settings("only"));
    world.wait_revoked(&expired).await;
    assert!(running.recorder.saw(expired.token));
    world.assert_intact(&refreshed).await;
    running.stop().await;
}

#[tokio::test]
async fn a_leader_that_dies_without_releasing_is_replaced_after_the_lease_expires() {
    let world = World::start("reconcile-expire").await;
    let a = world.start_reconciler(world.settings("replica-a"));
    a.wait_leading().await;
    let b = world.start_reconciler(world.settings("replica-b"));
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(!b.status().leader, "took a lease that was being renewed");

    // A crash: no release. The lease (3 s) must expire first.
    a.task.abort();
    let died = Instant::now();
    eventually("the survivor to take over", || async { b.status().leader }).await;
    let took = died.elapsed();
    assert!(took >= Duration::from_secs(2), "took over after {took:?}");
    assert_eq!(world.lease_holder().await.as_deref(), Some("replica-b"));
    b.stop().await;
}
