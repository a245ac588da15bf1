//! The revocation reconciler against a real devnet, the shared real API
//! server and kwok nodes running pods: slashes and unstakes of workers
//! take their nodes out (also when the node stripped what it could of its
//! labels), the re-check on becoming leader takes out expired workers
//! (expiry fires no event) and every Node without an admission record but
//! the exempt ones, and labels admitted nodes that appeared while no
//! master watched; a restarted master catches up from the stored cursor,
//! one of two replicas leads and the other takes over (at once after a
//! release, after expiry after a crash), a chain that cannot be read
//! revokes nothing, and the leader approves a kubelet's certificate request
//! only for the node its bootstrap token was minted for.
//!
//! Each test confines its reconcilers to objects carrying its own scope
//! label, so that tests sharing the API server never revoke each other's
//! nodes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use daas_core::access::NodeName;
use daas_core::chain::{ChainClient, EventCursor, TransactionSigner};
use daas_core::package::{Mist, Role, SLASHER_CAP_ID, SealTokenId};
use daas_e2e::devnet::{Devnet, DevnetOptions};
use daas_e2e::k3s::{self, Cluster};
use daas_e2e::kwok;
use daas_master::admission::bootstrap_rbac::ensure_node_bootstrap_bindings;
use daas_master::admission::bootstrap_token::KUBE_SYSTEM;
use daas_master::admission::csr::KUBELET_CLIENT_SIGNER;
use daas_master::admission::record::{record_name, write_record};
use daas_master::admission::{
    AdmissionRecord, MintedToken, WorkerNode, label_node, mint_bootstrap_token,
};
use daas_master::cursor::CURSOR_KEY;
use daas_master::labels::{
    NODE_ID_ANNOTATION, NODE_SEAL_TOKEN_LABEL, OWNER_ANNOTATION, SEAL_TOKEN_ANNOTATION,
    seal_token_label_value,
};
use daas_master::leader::LeaseSettings;
use daas_master::namespaces::{MASTER_NAMESPACE, ensure_master_namespace};
use daas_master::reconcile::{Invalidation, Reconciler, ReconcilerSettings, ReconcilerStatus};
use daas_master::revocation::DrainPolicy;
use daas_master::revocation::cleanup::node_password_secret;
use k8s_openapi::ByteString;
use k8s_openapi::api::certificates::v1::{
    CertificateSigningRequest, CertificateSigningRequestSpec,
};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod, Secret};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
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
        ensure_master_namespace(&kube).await.unwrap();
        ensure_node_bootstrap_bindings(&kube).await.unwrap();
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
    /// does: bootstrap token, admission record, labelled node,
    /// node-password Secret; runs a pod and a pod guarded by a budget
    /// (`min_available` 0 lets evictions through, 1 blocks them).
    async fn worker(&self, name: &str, min_available: i32) -> Worker {
        let (key, admitted) = self.staked(name).await;
        let bootstrap = self.admit(&admitted).await;
        let node = admitted.name.clone();
        self.create_node(node.as_str()).await;
        label_node(&self.kube, &admitted, Duration::from_secs(10))
            .await
            .unwrap();
        self.node_password(&node).await;
        self.run_pod(&node, "free", None).await;
        self.run_pod(&node, "guarded", Some(min_available)).await;
        Worker {
            key,
            token: admitted.seal_token,
            node,
            bootstrap,
        }
    }

    /// A funded key with 10 SUI staked for a worker node named `name-…`.
    async fn staked(&self, name: &str) -> (Ed25519PrivateKey, WorkerNode) {
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
        let admitted = WorkerNode {
            name: node,
            seal_token: token,
            owner: TransactionSigner::address(&key),
        };
        (key, admitted)
    }

    /// What registration writes: the bootstrap token and, before it is
    /// handed out, the admission record; both in this test's scope.
    async fn admit(&self, worker: &WorkerNode) -> MintedToken {
        let bootstrap = mint_bootstrap_token(&self.kube, worker, Duration::from_secs(600))
            .await
            .unwrap();
        let record = AdmissionRecord {
            node: worker.name.clone(),
            seal_token: worker.seal_token,
            owner: worker.owner,
            bootstrap_token_id: bootstrap.token.id().to_owned(),
            admitted_at: Timestamp::now(),
        };
        write_record(&self.kube, &record).await.unwrap();
        let params = PatchParams::default();
        Api::<Secret>::namespaced(self.kube.clone(), KUBE_SYSTEM)
            .patch(
                &bootstrap.token.secret_name(),
                &params,
                &Patch::Merge(self.scope_patch()),
            )
            .await
            .unwrap();
        Api::<ConfigMap>::namespaced(self.kube.clone(), MASTER_NAMESPACE)
            .patch(
                &record_name(&worker.name),
                &params,
                &Patch::Merge(self.scope_patch()),
            )
            .await
            .unwrap();
        bootstrap
    }

    /// A kwok Node in this test's scope.
    async fn create_node(&self, name: &str) {
        kwok::create_node(self.cluster, &self.kube, name)
            .await
            .unwrap();
        Api::<Node>::all(self.kube.clone())
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(self.scope_patch()),
            )
            .await
            .unwrap();
    }

    async fn node_password(&self, node: &NodeName) {
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(node_password_secret(node.as_str())),
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
                    .secret_exists(&node_password_secret(worker.node.as_str()))
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
            self.secret_exists(&node_password_secret(worker.node.as_str()))
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
    // The kubelet asks for its certificate meanwhile: it waits, neither
    // approved nor denied without the chain's answer.
    let bootstrapper = world
        .cluster
        .client_for_token(&worker.bootstrap.token.bearer())
        .await
        .unwrap();
    let csrs = Api::<CertificateSigningRequest>::all(world.kube.clone());
    let request = request_node_certificate(
        &Api::<CertificateSigningRequest>::all(bootstrapper),
        worker.node.as_str(),
    )
    .await;
    // Several re-checks fail meanwhile; none may take the node.
    tokio::time::sleep(Duration::from_secs(4)).await;
    world.assert_intact(&worker).await;
    assert!(running.status().leader);
    assert!(
        running.recorder.all.load(Ordering::SeqCst) >= 1,
        "cached decisions were not dropped during the outage"
    );
    assert_eq!(decision(&csrs, &request).await, None);

    world.devnet.restart().await.unwrap();
    let mut status = running.status.clone();
    tokio::time::timeout(PATIENCE, status.wait_for(|s| s.caught_up))
        .await
        .expect("the follower did not recover")
        .unwrap();
    eventually("the waiting request to be approved", || async {
        decision(&csrs, &request)
            .await
            .is_some_and(|(kind, _, _)| kind == "Approved")
    })
    .await;
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

/// A client acting as the kubelet of `node`: `system:node:<node>` in
/// `system:nodes`, the identity the Node authorizer and NodeRestriction
/// judge.
async fn as_node(cluster: &Cluster, node: &str) -> Client {
    let kubeconfig = Kubeconfig::from_yaml(cluster.kubeconfig()).unwrap();
    let mut config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .unwrap();
    config.auth_info.impersonate = Some(format!("system:node:{node}"));
    config.auth_info.impersonate_groups = Some(vec![
        "system:nodes".to_owned(),
        "system:authenticated".to_owned(),
    ]);
    Client::try_from(config).unwrap()
}

#[tokio::test]
async fn a_node_that_strips_its_labels_is_still_revoked_on_unstake() {
    let world = World::start("reconcile-strip").await;
    let worker = world.worker("stripped", 0).await;
    let name = worker.node.as_str();
    let kubelet = Api::<Node>::all(as_node(world.cluster, name).await);
    let params = PatchParams::default();

    // NodeRestriction: the node can neither remove nor change its
    // seal-token label.
    for value in [serde_json::Value::Null, json!("0".repeat(32))] {
        let patch = json!({ "metadata": { "labels": { NODE_SEAL_TOKEN_LABEL: value } } });
        match kubelet.patch(name, &params, &Patch::Merge(&patch)).await {
            Err(kube::Error::Api(status)) => {
                assert_eq!(status.code, 403, "{status:?}");
                assert!(status.message.contains("node-restriction"), "{status:?}");
            }
            other => panic!("the node changed its restricted label: {other:?}"),
        }
    }
    // It may strip everything else: annotations and ordinary labels (the
    // test's scope label too, so no re-check of this test sees it).
    let strip = json!({ "metadata": {
        "annotations": { SEAL_TOKEN_ANNOTATION: null, OWNER_ANNOTATION: null, NODE_ID_ANNOTATION: null },
        "labels": { SCOPE_LABEL: null },
    } });
    let stripped = kubelet
        .patch(name, &params, &Patch::Merge(&strip))
        .await
        .unwrap();
    let annotations = stripped.metadata.annotations.unwrap_or_default();
    assert!(!annotations.contains_key(SEAL_TOKEN_ANNOTATION));
    assert_eq!(
        stripped.metadata.labels.unwrap_or_default()[NODE_SEAL_TOKEN_LABEL],
        seal_token_label_value(worker.token)
    );

    let running = world.start_reconciler(world.settings("only"));
    running.wait_leading().await;
    world
        .chain
        .request_unstake(&worker.key, worker.token)
        .await
        .unwrap();
    world.wait_revoked(&worker).await;
    running.stop().await;
}

#[tokio::test]
async fn every_node_without_an_admission_record_is_revoked_but_the_exempt_ones() {
    let world = World::start("reconcile-deny").await;
    let worker = world.worker("admitted", 0).await;
    // Registered under one name, joined under another: the node has no
    // record (the record of the registered name waits for its node).
    let (_, registered) = world.staked("registered").await;
    world.admit(&registered).await;
    let rogue: NodeName = format!("rogue-{}", k3s::unique_suffix()).parse().unwrap();
    world.create_node(rogue.as_str()).await;
    world.run_pod(&rogue, "free", None).await;
    let exempt = format!("server-{}", k3s::unique_suffix());
    world.create_node(&exempt).await;
    // A record that does not parse holds nothing.
    let (_, broken) = world.staked("broken").await;
    world.admit(&broken).await;
    let records = Api::<ConfigMap>::namespaced(world.kube.clone(), MASTER_NAMESPACE);
    let unparsable = json!({ "data": { "owner": "not an address" } });
    records
        .patch(
            &record_name(&broken.name),
            &PatchParams::default(),
            &Patch::Merge(&unparsable),
        )
        .await
        .unwrap();
    world.create_node(broken.name.as_str()).await;

    let settings = ReconcilerSettings {
        exempt: BTreeSet::from([exempt.clone()]),
        ..world.settings("only")
    };
    let running = world.start_reconciler(settings);
    eventually("the node without a record and its pod to go", || async {
        world.node(&rogue).await.is_none() && world.pods_left(&rogue).await == 0
    })
    .await;
    eventually(
        "the node of the malformed record and the record to go",
        || async {
            world.node(&broken.name).await.is_none()
                && records
                    .get_opt(&record_name(&broken.name))
                    .await
                    .unwrap()
                    .is_none()
        },
    )
    .await;
    running.wait_leading().await;
    let server = Api::<Node>::all(world.kube.clone())
        .get(&exempt)
        .await
        .expect("the exempt node was deleted");
    assert_ne!(server.spec.and_then(|s| s.unschedulable), Some(true));
    world.assert_intact(&worker).await;
    let pending = Api::<ConfigMap>::namespaced(world.kube.clone(), MASTER_NAMESPACE)
        .get_opt(&record_name(&registered.name))
        .await
        .unwrap();
    assert!(
        pending.is_some(),
        "a valid record waiting for its node was deleted"
    );
    running.stop().await;
}

#[tokio::test]
async fn a_node_that_appears_while_no_master_watches_is_labelled_then_revoked_on_unstake() {
    let world = World::start("reconcile-pending").await;
    let (key, admitted) = world.staked("late").await;
    let bootstrap = world.admit(&admitted).await;
    // The master that admitted it stopped before the node appeared.
    world.create_node(admitted.name.as_str()).await;

    let running = world.start_reconciler(world.settings("only"));
    eventually("the node to be labelled from its record", || async {
        world.node(&admitted.name).await.is_some_and(|node| {
            node.metadata
                .labels
                .unwrap_or_default()
                .get(NODE_SEAL_TOKEN_LABEL)
                == Some(&seal_token_label_value(admitted.seal_token))
        })
    })
    .await;
    let node = world.node(&admitted.name).await.unwrap();
    assert_ne!(node.spec.and_then(|s| s.unschedulable), Some(true));

    world
        .chain
        .request_unstake(&key, admitted.seal_token)
        .await
        .unwrap();
    let records = Api::<ConfigMap>::namespaced(world.kube.clone(), MASTER_NAMESPACE);
    eventually("the node, its record and its token to go", || async {
        world.node(&admitted.name).await.is_none()
            && records
                .get_opt(&record_name(&admitted.name))
                .await
                .unwrap()
                .is_none()
            && !world.secret_exists(&bootstrap.token.secret_name()).await
    })
    .await;
    running.stop().await;
}

/// A certificate request for `node` as kubelet makes it (ECDSA P-256,
/// `CN=system:node:<node>`, `O=system:nodes`), submitted through `api`.
async fn request_node_certificate(api: &Api<CertificateSigningRequest>, node: &str) -> String {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::default();
    let mut subject = rcgen::DistinguishedName::new();
    subject.push(rcgen::DnType::CommonName, format!("system:node:{node}"));
    subject.push(rcgen::DnType::OrganizationName, "system:nodes");
    params.distinguished_name = subject;
    let pem = params.serialize_request(&key).unwrap().pem().unwrap();
    let request = CertificateSigningRequest {
        metadata: ObjectMeta {
            generate_name: Some("node-csr-".to_owned()),
            ..ObjectMeta::default()
        },
        spec: CertificateSigningRequestSpec {
            request: ByteString(pem.into_bytes()),
            signer_name: KUBELET_CLIENT_SIGNER.to_owned(),
            usages: Some(vec![
                "digital signature".to_owned(),
                "client auth".to_owned(),
            ]),
            ..CertificateSigningRequestSpec::default()
        },
        ..CertificateSigningRequest::default()
    };
    api.create(&PostParams::default(), &request)
        .await
        .unwrap()
        .metadata
        .name
        .unwrap()
}

/// The decision on request `name`: (type, reason, message), once made.
async fn decision(
    api: &Api<CertificateSigningRequest>,
    name: &str,
) -> Option<(String, String, String)> {
    let request = api.get(name).await.unwrap();
    let condition = request.status?.conditions?.into_iter().next()?;
    Some((
        condition.type_,
        condition.reason.unwrap_or_default(),
        condition.message.unwrap_or_default(),
    ))
}

#[tokio::test]
async fn the_leader_approves_a_kubelets_certificate_only_for_its_own_node() {
    let world = World::start("reconcile-csr").await;
    let (_, own) = world.staked("csr-own").await;
    let minted = world.admit(&own).await;
    let (_, other) = world.staked("csr-other").await;
    world.admit(&other).await;
    let running = world.start_reconciler(world.settings("only"));
    running.wait_leading().await;

    // The kubelet authenticates with its bootstrap token.
    let bootstrapper = world
        .cluster
        .client_for_token(&minted.token.bearer())
        .await
        .unwrap();
    let as_bootstrapper = Api::<CertificateSigningRequest>::all(bootstrapper);
    let admin = Api::<CertificateSigningRequest>::all(world.kube.clone());
    let mine = request_node_certificate(&as_bootstrapper, own.name.as_str()).await;
    let theirs = request_node_certificate(&as_bootstrapper, other.name.as_str()).await;

    // Its own node: approved, and the controller manager signs it.
    eventually("the request for its own node to be signed", || async {
        admin
            .get(&mine)
            .await
            .unwrap()
            .status
            .and_then(|s| s.certificate)
            .is_some_and(|c| !c.0.is_empty())
    })
    .await;
    let (kind, reason, _) = decision(&admin, &mine).await.unwrap();
    assert_eq!(
        (kind.as_str(), reason.as_str()),
        ("Approved", "K3sDaasNodeAdmitted")
    );

    // Another admitted node's name, with this token: denied, saying why.
    eventually("the request for another node to be denied", || async {
        decision(&admin, &theirs).await.is_some()
    })
    .await;
    let (kind, _, message) = decision(&admin, &theirs).await.unwrap();
    assert_eq!(kind, "Denied", "{message}");
    assert!(
        message.contains(&format!(
            "bootstrap token {} was not minted for node {}",
            minted.token.id(),
            other.name
        )),
        "{message}"
    );
    let signed = admin
        .get(&theirs)
        .await
        .unwrap()
        .status
        .and_then(|s| s.certificate);
    assert!(signed.is_none_or(|c| c.0.is_empty()));
    running.stop().await;
}
