//! `daas-agent simulate --count N`: **SIMULATION**, for load and scale
//! tests (issue #11 item 6). N simulated agents run in one process; each
//! does what a real agent does towards the chain and the master, and
//! nothing towards a machine:
//!
//! 1. a fresh wallet key, funded by the devnet faucet;
//! 2. a worker stake for its node name, on chain;
//! 3. a registration with the attested master (a signed single-use proof);
//! 4. a kwok-managed Node object (labelled `kwok.x-k8s.io/node=fake`, which
//!    kwok keeps Ready) in place of a kubelet;
//! 5. a heartbeat with a fresh proof every interval, with zeroed metrics
//!    (there is no machine to measure).
//!
//! Agents share a few attested connections to the master (`--connections`)
//! rather than one each; the requests, proofs and chain reads are one per
//! agent, as N real agents would make them.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use daas_core::access::unix_now_secs;
use daas_core::access::worker_proof::{Purpose, WorkerClaims, WorkerProof};
use daas_core::api::MasterClient;
use daas_core::api::nodes::{
    Capacity, HEARTBEAT_INTERVAL_SECS, HeartbeatRequest, NodeMetrics, NodeStatus,
    RegisterWorkerRequest,
};
use daas_core::attestation::{DevRoot, PcrPolicy, TrustRoots};
use daas_core::attested::{AttestedClient, AttestedClientConfig, AttestedError};
use daas_core::chain::{ChainClient, ChainConfig};
use daas_core::package::{Mist, Role, SealTokenId};
use daas_core::wallet::{Keypair, Scheme};
use futures::StreamExt as _;
use k8s_openapi::api::core::v1::{Node, NodeSpec};
use kube::api::{Api, ObjectMeta, PostParams};
use rand::RngCore as _;
use sui_crypto::ed25519::Ed25519PrivateKey;
use sui_sdk_types::Address;
use tracing::{Instrument as _, info_span, warn};

/// Tries of a request that failed before the master answered.
const ATTEMPTS: u32 = 3;
/// The label kwok manages nodes by.
const KWOK_LABEL: &str = "kwok.x-k8s.io/node";

/// `daas-agent simulate`.
#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// How many simulated agents.
    #[arg(long)]
    pub count: usize,
    /// The attested master (https://HOST:PORT).
    #[arg(long, env = "MASTER_ENDPOINT")]
    pub master: String,
    /// The chain's gRPC endpoint (a devnet: its faucet funds the agents).
    #[arg(long, env = "SUI_RPC_URL")]
    pub chain: String,
    /// The faucet (default: the chain endpoint, as the devnet serves it).
    #[arg(long)]
    pub faucet: Option<String>,
    /// Kubeconfig allowed to create the kwok Node objects.
    #[arg(long)]
    pub kubeconfig: PathBuf,
    /// The master's dev root (INSECURE development attestation, any
    /// measurement). Without it, AWS roots and the PCRs of --enclave-config.
    #[arg(long, value_name = "PEM")]
    pub dev_root: Option<PathBuf>,
    /// The on-chain EnclaveConfig whose PCRs the master must show.
    #[arg(long, value_name = "OBJECT_ID")]
    pub enclave_config: Option<Address>,
    /// The cluster audience of worker proofs (the API server URL).
    #[arg(long)]
    pub audience: String,
    /// Stake per agent, in SUI.
    #[arg(long, default_value = "5")]
    pub stake: Mist,
    /// Node names are PREFIX-0, PREFIX-1, …
    #[arg(long, default_value = "sim")]
    pub prefix: String,
    /// Agents starting at once.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Attested connections to the master, shared by the agents.
    #[arg(long, default_value_t = 8)]
    pub connections: usize,
    /// Seconds between an agent's heartbeats.
    #[arg(long, default_value_t = HEARTBEAT_INTERVAL_SECS)]
    pub heartbeat_secs: u64,
    /// Stop heartbeating and exit after this many seconds once all are
    /// registered (default: until interrupted).
    #[arg(long)]
    pub duration_secs: Option<u64>,
}

/// One simulated agent, registered.
struct SimAgent {
    node: String,
    key: Keypair,
    seal: SealTokenId,
}

/// What every simulated agent shares.
struct Shared {
    args: SimulateArgs,
    chain: ChainClient,
    masters: Vec<MasterClient>,
    kube: kube::Client,
    http: reqwest::Client,
    heartbeats: AtomicU64,
    refused: AtomicU64,
}

/// Runs the simulation: prints a `SIMULATION` banner, then one JSON line
/// once every agent is registered (`{"registered":N,"seconds":S}`), then
/// heartbeats until `--duration-secs` or Ctrl-C, then a JSON line of
/// heartbeat counts.
///
/// # Errors
/// Bad arguments, an unreachable master, chain or API server, or an agent
/// that could not join.
pub async fn run(args: SimulateArgs) -> anyhow::Result<()> {
    if args.count == 0 || args.concurrency == 0 || args.connections == 0 {
        bail!("--count, --concurrency and --connections must be at least 1");
    }
    eprintln!(
        "SIMULATION: {} simulated agents (kwok nodes, zeroed metrics), not real nodes",
        args.count
    );
    let shared = Arc::new(Shared::connect(args).await?);
    let started = Instant::now();
    let agents: Vec<SimAgent> = futures::stream::iter(0..shared.args.count)
        .map(|index| {
            let shared = shared.clone();
            async move { join(&shared, index).await }
        })
        .buffer_unordered(shared.args.concurrency)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    println!(
        "{}",
        serde_json::json!({
            "simulation": true,
            "registered": agents.len(),
            "seconds": started.elapsed().as_secs_f64(),
        })
    );
    heartbeat_all(&shared, agents).await;
    println!(
        "{}",
        serde_json::json!({
            "simulation": true,
            "heartbeats": shared.heartbeats.load(Ordering::Relaxed),
            "refused": shared.refused.load(Ordering::Relaxed),
        })
    );
    Ok(())
}

impl Shared {
    async fn connect(args: SimulateArgs) -> anyhow::Result<Self> {
        let chain = ChainClient::new(ChainConfig::devnet(args.chain.clone()))
            .context("connecting to the chain")?;
        let config = match &args.dev_root {
            Some(path) => {
                let pem = std::fs::read_to_string(path)
                    .with_context(|| format!("reading the dev root {}", path.display()))?;
                let root = DevRoot::from_pem(&pem).context("parsing the dev root")?;
                AttestedClientConfig::new(
                    TrustRoots::insecure_dev_only(root),
                    PcrPolicy::AnyMeasurement,
                )
                .allow_insecure_dev(true)
            }
            None => {
                let config = args
                    .enclave_config
                    .context("without --dev-root, --enclave-config names the expected PCRs")?;
                let pcrs = chain.enclave_expected_pcrs(config).await?;
                AttestedClientConfig::new(TrustRoots::aws(), PcrPolicy::Expect(pcrs))
            }
        };
        let masters = (0..args.connections)
            .map(|_| AttestedClient::new(&args.master, config.clone()).map(MasterClient::new))
            .collect::<Result<Vec<_>, _>>()?;
        let kubeconfig = kube::config::Kubeconfig::read_from(&args.kubeconfig)
            .with_context(|| format!("reading {}", args.kubeconfig.display()))?;
        let kube_config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self {
            chain,
            masters,
            kube: kube::Client::try_from(kube_config)?,
            http,
            heartbeats: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            args,
        })
    }

    fn master(&self, index: usize) -> &MasterClient {
        &self.masters[index % self.masters.len()]
    }
}

/// One agent: key, faucet, stake, registration, kwok node.
async fn join(shared: &Shared, index: usize) -> anyhow::Result<SimAgent> {
    let node = format!("{}-{index}", shared.args.prefix);
    let span = info_span!("simulated_agent", %node);
    async {
        let mut seed = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut seed);
        let key = Keypair::from_bytes(Scheme::Ed25519, &seed)?;
        let signer = Ed25519PrivateKey::new(seed);
        fund(shared, key.address()).await?;
        let seal = shared
            .chain
            .stake_and_mint(&signer, shared.args.stake, Role::Worker, &node)
            .await
            .with_context(|| format!("staking for {node}"))?
            .token;
        register(shared, index, &node, &key, seal).await?;
        create_kwok_node(&shared.kube, &node).await?;
        Ok(SimAgent { node, key, seal })
    }
    .instrument(span)
    .await
}

async fn fund(shared: &Shared, address: Address) -> anyhow::Result<()> {
    let base = shared.args.faucet.as_ref().unwrap_or(&shared.args.chain);
    let url = format!("{}/v2/gas", base.trim_end_matches('/'));
    let body = serde_json::json!({ "FixedAmountRequest": { "recipient": address.to_string() } });
    let response = shared
        .http
        .post(&url)
        .json(&body)
        .send()
        .await
        .with_context(|| format!("calling the faucet {url}"))?;
    if !response.status().is_success() {
        bail!("the faucet {url} answered {}", response.status());
    }
    Ok(())
}

async fn register(
    shared: &Shared,
    index: usize,
    node: &str,
    key: &Keypair,
    seal: SealTokenId,
) -> anyhow::Result<()> {
    retrying(|| async {
        let request = register_request(shared, node, key, seal)?;
        Ok(shared.master(index).register_worker(&request).await?)
    })
    .await
    .with_context(|| format!("registering {node}"))?;
    Ok(())
}

/// Runs `attempt` again (up to [`ATTEMPTS`] times) when it fails before
/// the master answered: the master closes idle connections, and a request
/// can meet a pooled connection just as it closes. Each attempt signs its
/// own proof.
async fn retrying<T, F, Fut>(mut attempt: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let mut tries = 1;
    loop {
        match attempt().await {
            Err(error)
                if tries < ATTEMPTS
                    && matches!(
                        error.downcast_ref::<AttestedError>(),
                        Some(AttestedError::Transport { .. })
                    ) =>
            {
                tokio::time::sleep(Duration::from_millis(100 * u64::from(tries))).await;
                tries += 1;
            }
            other => return other,
        }
    }
}

fn register_request(
    shared: &Shared,
    node: &str,
    key: &Keypair,
    seal: SealTokenId,
) -> anyhow::Result<RegisterWorkerRequest> {
    let claims = WorkerClaims::new(
        Purpose::Register,
        seal,
        key.address(),
        node.parse()?,
        shared.args.audience.clone(),
        unix_now_secs(),
    )?;
    Ok(RegisterWorkerRequest {
        node_id: node.to_owned(),
        seal_token: seal.to_string(),
        ip_address: "127.0.0.1".to_owned(),
        capacity: Capacity {
            cpu: "1".to_owned(),
            memory: "1Gi".to_owned(),
            storage: "10Gi".to_owned(),
        },
        proof: WorkerProof::sign(key, &claims)?.into_string(),
        agent_api: None,
    })
}

/// The Node object a kubelet would create, for kwok to keep Ready.
async fn create_kwok_node(kube: &kube::Client, name: &str) -> anyhow::Result<()> {
    let node = Node {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(
                [
                    (KWOK_LABEL.to_owned(), "fake".to_owned()),
                    ("kubernetes.io/hostname".to_owned(), name.to_owned()),
                    ("kubernetes.io/os".to_owned(), "linux".to_owned()),
                    ("type".to_owned(), "kwok".to_owned()),
                ]
                .into(),
            ),
            annotations: Some([(KWOK_LABEL.to_owned(), "fake".to_owned())].into()),
            ..ObjectMeta::default()
        },
        spec: Some(NodeSpec::default()),
        ..Node::default()
    };
    Api::<Node>::all(kube.clone())
        .create(&PostParams::default(), &node)
        .await
        .with_context(|| format!("creating the kwok node {name}"))?;
    Ok(())
}

/// Heartbeats every agent, spread evenly over the interval, until the
/// duration ends or Ctrl-C.
async fn heartbeat_all(shared: &Arc<Shared>, agents: Vec<SimAgent>) {
    let interval = Duration::from_secs(shared.args.heartbeat_secs.max(1));
    let count = u32::try_from(agents.len()).unwrap_or(u32::MAX).max(1);
    let mut tasks = tokio::task::JoinSet::new();
    for (index, agent) in agents.into_iter().enumerate() {
        let shared = shared.clone();
        let offset = interval / count * u32::try_from(index).unwrap_or(0);
        tasks.spawn(async move {
            tokio::time::sleep(offset).await;
            let mut ticks = tokio::time::interval(interval);
            loop {
                ticks.tick().await;
                beat(&shared, index, &agent).await;
            }
        });
    }
    let stop = async {
        match shared.args.duration_secs {
            Some(secs) => tokio::time::sleep(Duration::from_secs(secs)).await,
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    };
    stop.await;
    tasks.shutdown().await;
}

async fn beat(shared: &Shared, index: usize, agent: &SimAgent) {
    let sent = retrying(|| async {
        let claims = WorkerClaims::new(
            Purpose::Heartbeat,
            agent.seal,
            agent.key.address(),
            agent.node.parse()?,
            shared.args.audience.clone(),
            unix_now_secs(),
        )?;
        let request = HeartbeatRequest {
            node_id: agent.node.clone(),
            proof: WorkerProof::sign(&agent.key, &claims)?.into_string(),
            status: NodeStatus::Ready,
            metrics: NodeMetrics {
                cpu_usage: 0.0,
                memory_usage: 0.0,
                pod_count: 0,
                container_count: 0,
                network_rx: 0,
                network_tx: 0,
                timestamp: unix_now_secs(),
            },
            agent_api: None,
        };
        shared.master(index).heartbeat(&request).await?;
        anyhow::Ok(())
    });
    match sent.await {
        Ok(()) => shared.heartbeats.fetch_add(1, Ordering::Relaxed),
        Err(error) => {
            warn!(node = %agent.node, %error, "heartbeat refused");
            shared.refused.fetch_add(1, Ordering::Relaxed)
        }
    };
}
