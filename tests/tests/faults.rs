//! Fault injection, with real processes: a workload of stakes, worker
//! registrations and heartbeats, kubectl, unstakes, slashes, audit events
//! and gateway requests runs while, at points drawn from a seeded random
//! sequence, the devnet, the master and the API server are killed with
//! SIGKILL, and the chain is cut off for a while. Audit events are posted
//! all along, so kills land in the middle of their ingestion.
//!
//! After every fault the component comes back (as a supervisor would start
//! it) and the operator registers a restarted master's new key; nothing else
//! is repaired by hand. Then the invariants:
//! - no stake record the chain acknowledged is lost;
//! - no node is admitted or kept without a valid stake (slashed workers'
//!   nodes are gone, every labelled node's seal token is active);
//! - no kubectl request succeeds later than [`REVOCATION_BOUND`] after the
//!   user's unstake was acknowledged, during the faults or after them;
//! - no audit event the master acknowledged is lost;
//! - every acknowledged gateway request has exactly one result on chain and
//!   was executed at most once;
//! - everything recovers by itself: staked users and the master work again.
//!
//! `DAAS_FAULT_SEED` replays a run (the seed is printed); `DAAS_FAULT_ROUNDS`
//! sets how many faults are injected (default 6).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use daas_core::access::unix_now_secs;
use daas_core::access::worker_proof::{Purpose, WorkerClaims, WorkerProof};
use daas_core::api::MasterClient;
use daas_core::api::nodes::{
    Capacity, HEARTBEAT_PATH, HeartbeatRequest, NodeMetrics, NodeStatus, REGISTER_WORKER_PATH,
    RegisterWorkerRequest, RegisterWorkerResponse,
};
use daas_core::attested::AttestedError;
use daas_core::chain::calls::K8sRequest as Submission;
use daas_core::chain::{ChainClient, TransactionSigner};
use daas_core::package::gateway::HttpMethod;
use daas_core::package::{Mist, Role, SealTokenId};
use daas_core::wallet::{Keypair, Scheme};
use daas_e2e::audit::{access_token, event_list, webhook_client};
use daas_e2e::binaries::{AGENT, workspace_binary};
use daas_e2e::devnet::DevnetOptions;
use daas_e2e::enclave;
use daas_e2e::kwok;
use daas_e2e::slasher::slash;
use daas_e2e::stack::{Stack, StackOptions};
use daas_e2e::user::{Account, UserMachine};
use k8s_openapi::api::core::v1::{ConfigMap, Node};
use kube::Api;
use kube::api::ListParams;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde_json::json;
use sui_crypto::ed25519::Ed25519PrivateKey;
use sui_sdk_types::Address;
use tokio::task::JoinHandle;

const SUI: u64 = 1_000_000_000;
/// How long after an acknowledged unstake a kubectl success still counts
/// as in flight (the revocation target is 2 s; the rest is slack for a
/// loaded 2-core machine and the authorization answer cache).
const REVOCATION_BOUND: Duration = Duration::from_secs(5);
/// How long the invariants may take to hold after the last fault.
const SETTLE: Duration = Duration::from_secs(120);
/// The annotation carrying a node's seal token.
const SEAL_ANNOTATION: &str = "k3s-daas.io/seal-token";
/// The annotation the gateway puts on what it writes.
const REQUEST_ANNOTATION: &str = "k3s-daas.io/gateway-request";
/// The master's namespace, where the gateway keeps its ledger.
const MASTER_NAMESPACE: &str = "k3s-daas-system";

/// What goes wrong.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// The devnet is killed and started again at once (a crash).
    KillDevnet,
    /// The devnet is down while the workload runs (the chain cut off).
    CutChain,
    /// The master is killed and, after the workload ran, started again.
    KillMaster,
    /// The API server is killed and, after the workload ran, started again.
    KillApiServer,
    /// The simulated agents' process is killed and, after the workload
    /// ran, started again.
    KillAgents,
}

const FAULTS: [Fault; 5] = [
    Fault::KillDevnet,
    Fault::CutChain,
    Fault::KillMaster,
    Fault::KillApiServer,
    Fault::KillAgents,
];

/// One step of the workload.
#[derive(Debug, Clone, Copy)]
enum Op {
    Stake,
    Kubectl,
    RegisterWorker,
    Heartbeat,
    Unstake,
    Slash,
    Gateway,
}

const OPS: [Op; 7] = [
    Op::Stake,
    Op::Kubectl,
    Op::RegisterWorker,
    Op::Heartbeat,
    Op::Unstake,
    Op::Slash,
    Op::Gateway,
];

/// A staked user and their machine.
struct User {
    account: Account,
    token: SealTokenId,
    machine: UserMachine,
    /// When the chain acknowledged their unstake.
    unstaked: Option<Instant>,
}

impl User {
    fn namespace(&self) -> String {
        format!(
            "daas-u-{}",
            &self.account.address().to_string()["0x".len().."0x".len() + 16]
        )
    }
}

/// A staked worker and, once the master admitted it, its node.
struct Worker {
    account: Account,
    token: SealTokenId,
    node: String,
    admitted: bool,
    slashed: bool,
}

/// What the chain or the master acknowledged, to be checked at the end.
#[derive(Default)]
struct Ledger {
    users: Vec<User>,
    workers: Vec<Worker>,
    /// Gateway requests the chain accepted, with the ConfigMap each creates.
    requests: Vec<(Address, String, String)>,
    /// kubectl successes later than the bound after an unstake.
    late_access: Vec<String>,
    next_seed: u8,
}

impl Ledger {
    fn seed(&mut self) -> u8 {
        self.next_seed += 1;
        self.next_seed
    }
}

struct World {
    stack: Stack,
    chain: ChainClient,
    admin: Ed25519PrivateKey,
    slasher: Ed25519PrivateKey,
    config: Address,
    /// The master key registered on chain last.
    registered: Option<[u8; 32]>,
    /// The simulated agents.
    agents: Agents,
    /// A super-tier staker, who may read every audit event.
    auditor: (Keypair, SealTokenId),
    /// Holds the audit gas key file.
    _dir: tempfile::TempDir,
}

impl World {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let admin = Ed25519PrivateKey::new([0xad; 32]);
        let slasher = Ed25519PrivateKey::new([0x53; 32]);
        let gas = Keypair::from_bytes(Scheme::Ed25519, &[0x6a; 32]).unwrap();
        let gas_file = dir.path().join("gas.key");
        daas_core::private_file::write_atomic(&gas_file, gas.to_suiprivkey().as_bytes()).unwrap();
        let mut stack = Stack::start(StackOptions {
            devnet: DevnetOptions {
                admin: Some(TransactionSigner::address(&admin)),
                slasher: Some(TransactionSigner::address(&slasher)),
                ..DevnetOptions::default()
            },
            // Every acknowledged audit event is read back at the end: lift
            // the per-client and per-identity request budgets.
            master_config: format!(
                "audit:\n  checkpoint_events: 200\n  checkpoint_interval_ms: 1000\n  \
                 gas_key_file: \"{}\"\napi:\n  client_rate_limit_per_minute: 1000000\n\
                 access:\n  rate_limit_per_minute: 1000000\nnodes:\n  drain_timeout_secs: 5\n",
                gas_file.display()
            ),
            audit: true,
            ..StackOptions::default()
        })
        .await
        .unwrap();
        for address in [
            TransactionSigner::address(&admin),
            TransactionSigner::address(&slasher),
            gas.address(),
        ] {
            stack.devnet.fund(address).await.unwrap();
        }
        let config = enclave::trusted_config(&mut stack, &admin).await.unwrap();
        let chain = stack.devnet.client().unwrap();
        kwok::ensure_running(&stack.cluster).await.unwrap();
        let agents = Agents::start(&stack, dir.path()).await;
        let auditor_key = Keypair::from_bytes(Scheme::Ed25519, &[0xa0; 32]).unwrap();
        stack.devnet.fund(auditor_key.address()).await.unwrap();
        let auditor_seal = chain
            .stake_and_mint(&auditor_key, Mist::new(10 * SUI), Role::User, "")
            .await
            .unwrap()
            .token;
        let mut world = Self {
            stack,
            chain,
            admin,
            slasher,
            config,
            registered: None,
            agents,
            auditor: (auditor_key, auditor_seal),
            _dir: dir,
        };
        world.register_master().await.unwrap();
        world
    }

    /// Registers the running master's key and funds the address that pays
    /// for its gateway results, as the operator does after a restart.
    async fn register_master(&mut self) -> anyhow::Result<()> {
        let master = self.stack.master.client()?.master().await?;
        let key = master.signing_key().to_bytes();
        if self.registered != Some(key) {
            enclave::register_master(&self.stack, &self.admin, self.config, true).await?;
            self.registered = Some(key);
        }
        Ok(())
    }

    async fn kube(&self) -> kube::Client {
        self.stack.cluster.client().await.unwrap()
    }

    fn master(&self) -> anyhow::Result<MasterClient> {
        Ok(MasterClient::new(self.stack.master.client()?))
    }

    /// Starts the fault; returns once the component is down (or, for a
    /// crash, back).
    async fn inject(&mut self, fault: Fault) {
        match fault {
            Fault::KillDevnet => self.stack.devnet.restart().await.unwrap(),
            Fault::CutChain => self.stack.devnet.stop().await.unwrap(),
            Fault::KillMaster => self.stack.master.kill().await.unwrap(),
            Fault::KillApiServer => self.stack.cluster.kill_apiserver(),
            Fault::KillAgents => self.agents.kill().await,
        }
    }

    /// Brings the component back and registers a restarted master's key
    /// (retried: the chain may still be catching up).
    async fn recover(&mut self, fault: Fault) {
        match fault {
            Fault::KillDevnet => {}
            Fault::CutChain => self.stack.devnet.restart().await.unwrap(),
            Fault::KillMaster => self.stack.master.restart().await.unwrap(),
            Fault::KillApiServer => self.stack.cluster.start_apiserver().await.unwrap(),
            Fault::KillAgents => self.agents.spawn(&self.stack).await,
        }
        self.agents.supervise(&self.stack).await;
        let deadline = Instant::now() + SETTLE;
        loop {
            match self.stack.master.wait_ready().await {
                Ok(()) => match self.register_master().await {
                    Ok(()) => return,
                    Err(e) if Instant::now() > deadline => panic!("registering the master: {e:#}"),
                    Err(_) => {}
                },
                Err(e) if Instant::now() > deadline => panic!(
                    "the master did not recover from {fault:?}: {e:#}\n{}",
                    self.stack.master.log_tail(40)
                ),
                Err(_) => {}
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Runs one step; failures while a component is down are expected and
    /// only what was acknowledged is recorded.
    async fn run(&self, op: Op, ledger: &mut Ledger, rng: &mut StdRng) {
        match op {
            Op::Stake => {
                let seed = ledger.seed();
                if let Ok(user) = self.stake_user(seed).await {
                    ledger.users.push(user);
                }
                let seed = ledger.seed();
                if let Ok(worker) = self.stake_worker(seed).await {
                    ledger.workers.push(worker);
                }
            }
            Op::Kubectl => {
                for user in &ledger.users {
                    let allowed = self.kubectl_allowed(user);
                    if allowed
                        && user
                            .unstaked
                            .is_some_and(|at| at.elapsed() > REVOCATION_BOUND)
                    {
                        ledger.late_access.push(format!(
                            "{} allowed {:?} after the unstake",
                            user.account.address(),
                            user.unstaked.map(|at| at.elapsed())
                        ));
                    }
                }
            }
            Op::RegisterWorker => {
                for worker in ledger.workers.iter_mut().filter(|w| !w.admitted) {
                    if self.register(worker).await.is_ok() {
                        worker.admitted = true;
                        // The kubelet's part: kwok makes the Node.
                        let _ = kwok::create_node(
                            &self.stack.cluster,
                            &self.kube().await,
                            &worker.node,
                        )
                        .await;
                    }
                }
            }
            Op::Heartbeat => {
                for worker in ledger.workers.iter().filter(|w| w.admitted && !w.slashed) {
                    let _ = self.heartbeat(worker).await;
                }
            }
            Op::Unstake => {
                let active: Vec<usize> = (0..ledger.users.len())
                    .filter(|&i| ledger.users[i].unstaked.is_none())
                    .collect();
                // Keep at least two users staked for the final checks.
                if active.len() > 2 {
                    let user = &mut ledger.users[active[rng.gen_range(0..active.len())]];
                    if self
                        .chain
                        .request_unstake(&user.account.chain, user.token)
                        .await
                        .is_ok()
                    {
                        user.unstaked = Some(Instant::now());
                    }
                }
            }
            Op::Slash => {
                let candidates: Vec<usize> = (0..ledger.workers.len())
                    .filter(|&i| ledger.workers[i].admitted && !ledger.workers[i].slashed)
                    .collect();
                if candidates.len() > 1 {
                    let worker =
                        &mut ledger.workers[candidates[rng.gen_range(0..candidates.len())]];
                    if self.slash(worker).await.is_ok() {
                        worker.slashed = true;
                    }
                }
            }
            Op::Gateway => {
                let staked: Vec<usize> = (0..ledger.users.len())
                    .filter(|&i| ledger.users[i].unstaked.is_none())
                    .collect();
                if let Some(&i) = staked.first() {
                    let user = &ledger.users[i];
                    let name = format!("chain-{}", ledger.requests.len());
                    let namespace = user.namespace();
                    if let Ok(id) = self.submit(user, &namespace, &name).await {
                        ledger.requests.push((id, namespace, name));
                    }
                }
            }
        }
    }

    /// A funded user staking 2 SUI (developer), with a kubeconfig.
    async fn stake_user(&self, seed: u8) -> anyhow::Result<User> {
        let account = Account::funded(&self.stack.devnet, seed).await?;
        let token = self
            .chain
            .stake_and_mint(&account.chain, Mist::new(2 * SUI), Role::User, "")
            .await?
            .token;
        let machine = UserMachine::with_key(&account.wallet)?;
        let user = User {
            account,
            token,
            machine,
            unstaked: None,
        };
        // The kubeconfig needs nothing but the chain: retried until it is
        // written, so that the acknowledged stake is usable.
        let deadline = Instant::now() + SETTLE;
        while user
            .machine
            .write_kubeconfig(&self.stack.cluster, token)
            .is_err()
        {
            anyhow::ensure!(Instant::now() < deadline, "no kubeconfig for {token}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Ok(user)
    }

    /// A funded worker staking 5 SUI for a node of its own.
    async fn stake_worker(&self, seed: u8) -> anyhow::Result<Worker> {
        let account = Account::funded(&self.stack.devnet, seed).await?;
        let node = format!("fault-worker-{seed}");
        let token = self
            .chain
            .stake_and_mint(&account.chain, Mist::new(5 * SUI), Role::Worker, &node)
            .await?
            .token;
        Ok(Worker {
            account,
            token,
            node,
            admitted: false,
            slashed: false,
        })
    }

    fn proof(&self, worker: &Worker, purpose: Purpose) -> String {
        let claims = WorkerClaims::new(
            purpose,
            worker.token,
            worker.account.address(),
            worker.node.parse().unwrap(),
            self.stack.cluster.server(),
            unix_now_secs(),
        )
        .unwrap();
        WorkerProof::sign(&worker.account.wallet, &claims)
            .unwrap()
            .into_string()
    }

    async fn register(&self, worker: &Worker) -> anyhow::Result<()> {
        let request = RegisterWorkerRequest {
            node_id: worker.node.clone(),
            seal_token: worker.token.to_string(),
            ip_address: "10.0.1.7".to_owned(),
            capacity: Capacity {
                cpu: "4".to_owned(),
                memory: "16Gi".to_owned(),
                storage: "100Gi".to_owned(),
            },
            proof: self.proof(worker, Purpose::Register),
            agent_api: None,
        };
        let joined: RegisterWorkerResponse = self
            .stack
            .master
            .client()?
            .post_json(REGISTER_WORKER_PATH, &request)
            .await?;
        anyhow::ensure!(joined.success, "not admitted");
        Ok(())
    }

    async fn heartbeat(&self, worker: &Worker) -> anyhow::Result<()> {
        let request = HeartbeatRequest {
            node_id: worker.node.clone(),
            proof: self.proof(worker, Purpose::Heartbeat),
            status: NodeStatus::Ready,
            metrics: NodeMetrics {
                cpu_usage: 10.0,
                memory_usage: 20.0,
                pod_count: 0,
                container_count: 0,
                network_rx: 0,
                network_tx: 0,
                timestamp: unix_now_secs(),
            },
            agent_api: None,
        };
        let _: serde_json::Value = self
            .stack
            .master
            .client()?
            .post_json(HEARTBEAT_PATH, &request)
            .await?;
        Ok(())
    }

    async fn slash(&self, worker: &Worker) -> anyhow::Result<()> {
        slash(
            &self.chain,
            &worker.account.chain,
            &self.slasher,
            worker.token,
            "fault injection",
        )
        .await
    }

    async fn submit(&self, user: &User, namespace: &str, name: &str) -> anyhow::Result<Address> {
        let path = format!("/api/v1/namespaces/{namespace}/configmaps");
        let payload = serde_json::to_vec(&json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": { "name": name },
            "data": { "from": "chain" },
        }))?;
        Ok(self
            .chain
            .submit_k8s_request(
                &user.account.chain,
                user.token,
                &Submission {
                    method: HttpMethod::Post,
                    path: &path,
                    namespace,
                    resource_type: "configmaps",
                    payload: &payload,
                },
            )
            .await?
            .event
            .request_id)
    }

    fn kubectl_allowed(&self, user: &User) -> bool {
        user.machine
            .kubectl(
                &self.stack.cluster,
                &[
                    "get",
                    "pods",
                    "-n",
                    &user.namespace(),
                    "--request-timeout=5s",
                ],
            )
            .is_ok_and(|out| out.status.success())
    }
}

/// `daas-agent simulate`: a few agents, each with its own wallet, stake,
/// registration and kwok node, heartbeating every [`AGENT_HEARTBEAT_SECS`].
struct Agents {
    child: Option<tokio::process::Child>,
    log: PathBuf,
    /// Node names of the running process's agents start with this.
    prefix: String,
    starts: u32,
}

/// How many simulated agents run.
const AGENTS: usize = 3;
/// Their heartbeat interval.
const AGENT_HEARTBEAT_SECS: u64 = 2;

impl Agents {
    async fn start(stack: &Stack, dir: &Path) -> Self {
        let mut agents = Self {
            child: None,
            log: dir.join("simulate.log"),
            prefix: String::new(),
            starts: 0,
        };
        agents.spawn(stack).await;
        agents
    }

    /// Starts the process; a restarted one simulates new agents (with
    /// their own stakes): the killed ones' nodes stay behind, staked.
    async fn spawn(&mut self, stack: &Stack) {
        self.starts += 1;
        self.prefix = format!("fault-sim{}", self.starts);
        let binary = tokio::task::spawn_blocking(|| workspace_binary(AGENT))
            .await
            .unwrap()
            .unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = tokio::process::Command::new(binary)
            .arg("simulate")
            .args(["--count", &AGENTS.to_string()])
            .args(["--master", stack.master.url()])
            .args(["--chain", stack.devnet.url()])
            .arg("--kubeconfig")
            .arg(stack.cluster.kubeconfig_path())
            .arg("--dev-root")
            .arg(stack.master.state_dir().join("dev-root.pem"))
            .args(["--audience", stack.cluster.server()])
            .args(["--prefix", &self.prefix])
            .args(["--heartbeat-secs", &AGENT_HEARTBEAT_SECS.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.unwrap();
        }
    }

    /// Starts the process again if it exited, as systemd's
    /// `Restart=on-failure` does for an agent.
    async fn supervise(&mut self, stack: &Stack) {
        let exited = self
            .child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(Some(_))));
        if exited {
            eprintln!("the simulated agents exited; restarting them");
            self.spawn(stack).await;
        }
    }

    fn log_tail(&self) -> String {
        daas_e2e::k3s::log_tail(&self.log, 30)
    }
}

/// Posts audit EventLists to the master's webhook (with the API server's
/// client certificate) until stopped, through every fault; returns the
/// auditIDs the master answered 200 for.
fn audit_poster(
    world: &World,
    stop: tokio::sync::watch::Receiver<bool>,
) -> JoinHandle<Vec<String>> {
    let http = webhook_client(&world.stack).unwrap();
    let url = format!("{}/audit", world.stack.master.webhook_url());
    tokio::spawn(async move {
        let mut acknowledged = Vec::new();
        let mut batch = 0u32;
        while !*stop.borrow() {
            batch += 1;
            let ids: Vec<String> = (0..20).map(|i| format!("fault-{batch}-{i}")).collect();
            match http.post(&url).json(&event_list(&ids)).send().await {
                Ok(answer) if answer.status().is_success() => acknowledged.extend(ids),
                Ok(_) | Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        acknowledged
    })
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// Retries `check` until it returns `Ok` or [`SETTLE`] passes.
async fn settles<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let deadline = Instant::now() + SETTLE;
    loop {
        match check().await {
            Ok(()) => return,
            Err(why) if Instant::now() > deadline => panic!("{what} did not hold: {why}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invariants_hold_through_kills_and_a_chain_outage() {
    let seed = env_u64("DAAS_FAULT_SEED").unwrap_or_else(unix_now_secs);
    let rounds = env_u64("DAAS_FAULT_ROUNDS").unwrap_or(6);
    eprintln!("fault injection: DAAS_FAULT_SEED={seed} DAAS_FAULT_ROUNDS={rounds}");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut world = World::start().await;
    let mut ledger = Ledger::default();
    // A first few stakers, so that every step has someone to act on.
    for _ in 0..3 {
        world.run(Op::Stake, &mut ledger, &mut rng).await;
    }
    world.run(Op::RegisterWorker, &mut ledger, &mut rng).await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let poster = audit_poster(&world, stopped);

    for round in 0..rounds {
        let fault = FAULTS[rng.gen_range(0..FAULTS.len())];
        let steps: Vec<Op> = (0..6).map(|_| OPS[rng.gen_range(0..OPS.len())]).collect();
        let at = rng.gen_range(0..=steps.len());
        eprintln!("round {round}: {fault:?} before step {at} of {steps:?}");
        for (i, op) in steps.iter().enumerate() {
            if i == at {
                world.inject(fault).await;
            }
            world.run(*op, &mut ledger, &mut rng).await;
        }
        if at == steps.len() {
            world.inject(fault).await;
        }
        world.recover(fault).await;
    }
    stop.send(true).unwrap();
    let acknowledged = poster.await.unwrap();
    check_invariants(&world, &ledger, &acknowledged).await;
}

async fn check_invariants(world: &World, ledger: &Ledger, acknowledged: &[String]) {
    eprintln!(
        "checking: {} users, {} workers, {} gateway requests, {} audit events",
        ledger.users.len(),
        ledger.workers.len(),
        ledger.requests.len(),
        acknowledged.len()
    );
    assert!(ledger.late_access.is_empty(), "{:?}", ledger.late_access);
    stakes_kept(world, ledger).await;
    nodes_match_stakes(world, ledger).await;
    access_matches_stakes(world, ledger).await;
    audit_kept(world, acknowledged).await;
    gateway_once(world, ledger).await;
    agents_heartbeat(world).await;
}

/// The running simulated agents are registered and heartbeating: they
/// came through every fault (and a restarted master) by themselves.
async fn agents_heartbeat(world: &World) {
    let prefix = &world.agents.prefix;
    settles("the simulated agents heartbeat", || async {
        let list = world
            .master()
            .map_err(|e| e.to_string())?
            .node_health()
            .await
            .map_err(|e| e.to_string())?;
        let fresh = list
            .nodes
            .iter()
            .filter(|n| n.node.starts_with(prefix.as_str()))
            .filter(|n| {
                n.last_heartbeat_age_secs
                    .is_some_and(|age| age <= 3 * AGENT_HEARTBEAT_SECS)
            })
            .count();
        (fresh == AGENTS).then_some(()).ok_or_else(|| {
            format!(
                "{fresh} of {AGENTS} {prefix}-* agents heartbeat; their log ends with:\n{}",
                world.agents.log_tail()
            )
        })
    })
    .await;
}

/// Every stake the chain acknowledged is still there, in the state the
/// workload left it.
async fn stakes_kept(world: &World, ledger: &Ledger) {
    let tokens = ledger
        .users
        .iter()
        .map(|u| u.token)
        .chain(ledger.workers.iter().map(|w| w.token));
    for token in tokens {
        let state = world.chain.seal_token_state(token).await.unwrap();
        assert!(state.record.is_some(), "the stake behind {token} is lost");
    }
}

/// Slashed workers' nodes are gone; every node the master labelled carries
/// the seal token of its own worker, active on chain.
async fn nodes_match_stakes(world: &World, ledger: &Ledger) {
    let nodes: Api<Node> = Api::all(world.kube().await);
    let tokens: BTreeMap<&str, String> = ledger
        .workers
        .iter()
        .map(|w| (w.node.as_str(), w.token.to_string()))
        .collect();
    let slashed: BTreeSet<&str> = ledger
        .workers
        .iter()
        .filter(|w| w.slashed)
        .map(|w| w.node.as_str())
        .collect();
    settles("no node without a valid stake", || {
        let nodes = nodes.clone();
        let (tokens, slashed) = (&tokens, &slashed);
        async move {
            let list = nodes
                .list(&ListParams::default())
                .await
                .map_err(|e| e.to_string())?;
            for node in list.items {
                let name = node.metadata.name.clone().unwrap_or_default();
                if slashed.contains(name.as_str()) {
                    return Err(format!("slashed worker's node {name} is still there"));
                }
                let Some(seal) = node
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(SEAL_ANNOTATION).cloned())
                else {
                    continue;
                };
                if let Some(own) = tokens.get(name.as_str())
                    && *own != seal
                {
                    return Err(format!(
                        "node {name} is labelled with another seal token {seal}"
                    ));
                }
                let state = world
                    .chain
                    .seal_token_state(seal.parse().map_err(|e| format!("{e}"))?)
                    .await
                    .map_err(|e| e.to_string())?;
                if !state.is_active(unix_now_secs() * 1000) {
                    return Err(format!("node {name} is kept on an inactive stake {seal}"));
                }
            }
            Ok(())
        }
    })
    .await;
}

/// Unstaked users are refused; staked users work again by themselves.
async fn access_matches_stakes(world: &World, ledger: &Ledger) {
    for user in &ledger.users {
        let expected = user.unstaked.is_none();
        settles(
            &format!("access of {} = {expected}", user.account.address()),
            || async move {
                let allowed = world.kubectl_allowed(user);
                if allowed && !expected {
                    // Never wait for a refusal: access after revocation is
                    // a failure at once.
                    panic!("{} has access after the unstake", user.account.address());
                }
                (allowed == expected)
                    .then_some(())
                    .ok_or_else(|| "not yet".to_owned())
            },
        )
        .await;
    }
}

/// Every event the master acknowledged is stored and served with a proof.
async fn audit_kept(world: &World, acknowledged: &[String]) {
    assert!(!acknowledged.is_empty(), "no audit event was acknowledged");
    let master = world.master().unwrap();
    let (key, seal) = &world.auditor;
    let token = access_token(&world.stack, key, *seal).unwrap();
    for id in acknowledged {
        match master.audit_event(id, &token).await {
            Ok(_) | Err(AttestedError::Status { status: 409, .. }) => {}
            Err(error) => panic!("acknowledged audit event {id} is lost: {error}"),
        }
    }
}

/// Every acknowledged gateway request has one result on chain; each one
/// the API server answered 201 made exactly one object, once.
async fn gateway_once(world: &World, ledger: &Ledger) {
    let ledger_entries: Api<ConfigMap> = Api::namespaced(world.kube().await, MASTER_NAMESPACE);
    for (request, namespace, name) in &ledger.requests {
        let deadline = Instant::now() + SETTLE;
        let result = loop {
            if let Ok(on_chain) = world.chain.k8s_request(*request).await
                && let Some(result) = on_chain.value.result
            {
                break result;
            }
            assert!(
                Instant::now() < deadline,
                "no result for gateway request {request}; master log:\n{}",
                world.stack.master.log_tail(40)
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        let entries = ledger_entries
            .list(&ListParams::default().labels("k3s-daas.io/gateway-ledger=true"))
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|e| {
                e.data.as_ref().and_then(|d| d.get("request")) == Some(&request.to_string())
            })
            .count();
        assert_eq!(
            entries, 1,
            "gateway request {request} has {entries} ledger entries"
        );
        if result.status_code == 201 {
            let made: Api<ConfigMap> = Api::namespaced(world.kube().await, namespace);
            let object = made.get(name).await.unwrap();
            assert_eq!(
                object.metadata.annotations.unwrap()[REQUEST_ANNOTATION],
                request.to_string()
            );
        }
    }
}
