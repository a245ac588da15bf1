//! `daas-agent simulate --count N`: **SIMULATION**, for load and scale
//! tests (issue #11 item 6). N simulated agents run in one process; each
//! does what a real agent does towards the chain and the master, and
//! nothing towards a machine:
//!
//! 1. a wallet key, funded by the devnet faucet: a fresh one, or with
//!    `--state-dir` the one kept there (0600) by an earlier run;
//! 2. a worker stake for its node name, on chain (a kept key whose active
//!    stake for the node the chain shows is not staked again);
//! 3. a registration with the attested master (a signed single-use proof);
//! 4. a kwok-managed Node object (labelled `kwok.x-k8s.io/node=fake`, which
//!    kwok keeps Ready) in place of a kubelet;
//! 5. a heartbeat with a fresh proof every interval, with zeroed metrics
//!    (there is no machine to measure).
//!
//! With `--state-dir`, a simulated agent keeps its identity across runs:
//! the same wallet, stake and node name, as a restarted real agent does.
//!
//! Joining survives a chain, faucet, master or API server that is down for
//! a while: a step that failed for want of an answer is retried for up to
//! `REGISTER_RETRY_FOR`, and a retry first looks for the stake an
//! earlier attempt may have made, so no agent stakes twice.
//!
//! Agents share a few attested connections to the master (`--connections`)
//! rather than one each; the requests, proofs and chain reads are one per
//! agent, as N real agents would make them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use daas_core::access::worker::{WorkerClaim, WorkerDenyReason, chain_time_ms, review_worker};
use daas_core::access::worker_proof::{Purpose, WorkerClaims, WorkerProof, WorkerProofError};
use daas_core::access::{NodeName, NodeNameError, unix_now_secs};
use daas_core::api::MasterClient;
use daas_core::api::nodes::{
    Capacity, HEARTBEAT_INTERVAL_SECS, HeartbeatRequest, NodeMetrics, NodeStatus,
    RegisterWorkerRequest,
};
use daas_core::attestation::{DevRoot, PcrPolicy, TrustRoots};
use daas_core::attested::{AttestedClient, AttestedClientConfig, AttestedError};
use daas_core::chain::{ChainClient, ChainConfig, ChainError};
use daas_core::package::staking::SealToken;
use daas_core::package::{Mist, MoveStruct as _, Role, SealTokenId};
use daas_core::private_file;
use daas_core::wallet::{Keypair, Scheme};
use futures::StreamExt as _;
use k8s_openapi::api::core::v1::{Node, NodeSpec, Taint};
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use sui_sdk_types::Address;
use tracing::{Instrument as _, info, info_span, warn};

use crate::run::join::{REGISTER_RETRY_FOR, REGISTER_RETRY_INTERVAL};

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
    /// Keep each agent's wallet key in DIR/NODE.key (owner-only) and reuse
    /// it on the next run: the same wallet, stake and node name (default:
    /// fresh wallets every run).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Stop heartbeating and exit after this many seconds once all are
    /// registered (default: until interrupted).
    #[arg(long)]
    pub duration_secs: Option<u64>,
}

/// Why the simulation stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimulateError {
    /// A count given on the command line is zero.
    #[error("--count, --concurrency and --connections must be at least 1")]
    ZeroCount,
    /// Nothing says which master to trust.
    #[error("without --dev-root, --enclave-config names the expected PCRs")]
    NoTrust,
    /// The dev root file cannot be read.
    #[error("cannot read the dev root {path}: {source}")]
    DevRootFile {
        /// The file.
        path: PathBuf,
        /// The read error.
        #[source]
        source: std::io::Error,
    },
    /// The dev root file is not a dev root.
    #[error("the dev root {path} is unusable: {source}")]
    DevRoot {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: daas_core::attestation::AttestationError,
    },
    /// The kubeconfig cannot be read or used.
    #[error("cannot use the kubeconfig {path}: {source}")]
    Kubeconfig {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// The HTTP client for the faucet cannot be built.
    #[error("cannot build the faucet's HTTP client: {0}")]
    HttpClient(#[source] reqwest::Error),
    /// The chain cannot be reached, or refused a call.
    #[error("{context}: {source}")]
    Chain {
        /// What was being done.
        context: String,
        /// The chain's error.
        #[source]
        source: ChainError,
    },
    /// The master cannot be reached or attested, or refused a request.
    #[error("{context}: {source}")]
    Master {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: AttestedError,
    },
    /// The API server cannot be reached, or refused a call.
    #[error("{context}: {source}")]
    Kube {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: kube::Error,
    },
    /// The faucet cannot be reached.
    #[error("the faucet {url} cannot be reached: {source}")]
    FaucetUnreachable {
        /// The faucet's URL.
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The faucet refused.
    #[error("the faucet {url} answered HTTP {status}")]
    FaucetRefused {
        /// The faucet's URL.
        url: String,
        /// Its HTTP status.
        status: u16,
    },
    /// A kept key of a simulated agent cannot be read, used or written.
    #[error("the simulated agent's key file {path} {reason}")]
    KeyFile {
        /// The file (under `--state-dir`).
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A node name made from `--prefix` is not one the master admits.
    #[error("node name {node:?} (from --prefix) is refused: {source}")]
    NodeName {
        /// The name.
        node: String,
        /// Why.
        #[source]
        source: NodeNameError,
    },
    /// A worker proof cannot be made.
    #[error("cannot sign a worker proof for {node}: {source}")]
    Proof {
        /// The node.
        node: String,
        /// Why.
        #[source]
        source: WorkerProofError,
    },
}

impl SimulateError {
    fn chain(context: impl Into<String>) -> impl FnOnce(ChainError) -> Self {
        let context = context.into();
        move |source| Self::Chain { context, source }
    }

    fn master(context: impl Into<String>) -> impl FnOnce(AttestedError) -> Self {
        let context = context.into();
        move |source| Self::Master { context, source }
    }

    fn kube(context: impl Into<String>) -> impl FnOnce(kube::Error) -> Self {
        let context = context.into();
        move |source| Self::Kube { context, source }
    }

    /// Whether the master answered that it does not admit the node (403
    /// or 404), as it does once the node's stake is gone.
    fn refused_by_master(&self) -> bool {
        matches!(
            self,
            Self::Master {
                source: AttestedError::Status {
                    status: 403 | 404,
                    ..
                },
                ..
            }
        )
    }

    /// Whether the request failed before the master answered (worth
    /// another try).
    fn before_answer(&self) -> bool {
        matches!(
            self,
            Self::Master {
                source: AttestedError::Transport { .. },
                ..
            }
        )
    }

    /// Whether the chain, the faucet, the master or the API server was
    /// unreachable or busy, so that joining again later may succeed.
    fn is_transient(&self) -> bool {
        if self.before_answer() {
            return true;
        }
        match self {
            Self::Chain { source, .. } => source.is_transient(),
            Self::FaucetUnreachable { .. } => true,
            Self::FaucetRefused { status, .. } => transient_status(*status),
            Self::Master {
                source: AttestedError::Status { status, .. },
                ..
            } => transient_status(*status),
            Self::Kube { source, .. } => match source {
                kube::Error::Api(status) => transient_status(status.code),
                kube::Error::HyperError(_) | kube::Error::Service(_) => true,
                _ => false,
            },
            _ => false,
        }
    }
}

/// 429 and the 5xx statuses of a server that is down or busy.
fn transient_status(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

/// One simulated agent, registered.
struct SimAgent {
    node: NodeName,
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
    /// Agents stopped because the chain no longer backs their node.
    revoked: AtomicU64,
}

/// Runs the simulation: prints a `SIMULATION` banner, then one JSON line
/// once every agent is registered (`{"registered":N,"seconds":S}`), then
/// heartbeats until `--duration-secs` or Ctrl-C, then a JSON line of
/// heartbeat counts.
///
/// # Errors
/// Bad arguments, an unreachable master, chain or API server, or an agent
/// that could not join.
pub async fn run(args: SimulateArgs) -> Result<(), SimulateError> {
    if args.count == 0 || args.concurrency == 0 || args.connections == 0 {
        return Err(SimulateError::ZeroCount);
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
        .collect::<Result<_, _>>()?;
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
            "revoked": shared.revoked.load(Ordering::Relaxed),
        })
    );
    Ok(())
}

impl Shared {
    async fn connect(args: SimulateArgs) -> Result<Self, SimulateError> {
        let chain = ChainClient::new(ChainConfig::devnet(args.chain.clone())).map_err(
            SimulateError::chain(format!("cannot use the chain {}", args.chain)),
        )?;
        let config = match &args.dev_root {
            Some(path) => {
                let pem =
                    std::fs::read_to_string(path).map_err(|source| SimulateError::DevRootFile {
                        path: path.clone(),
                        source,
                    })?;
                let root = DevRoot::from_pem(&pem).map_err(|source| SimulateError::DevRoot {
                    path: path.clone(),
                    source,
                })?;
                AttestedClientConfig::new(
                    TrustRoots::insecure_dev_only(root),
                    PcrPolicy::AnyMeasurement,
                )
                .allow_insecure_dev(true)
            }
            None => {
                let config = args.enclave_config.ok_or(SimulateError::NoTrust)?;
                let pcrs =
                    chain
                        .enclave_expected_pcrs(config)
                        .await
                        .map_err(SimulateError::chain(format!(
                            "cannot read the PCRs of {config}"
                        )))?;
                AttestedClientConfig::new(TrustRoots::aws(), PcrPolicy::Expect(pcrs))
            }
        };
        let masters = (0..args.connections)
            .map(|_| AttestedClient::new(&args.master, config.clone()).map(MasterClient::new))
            .collect::<Result<Vec<_>, _>>()
            .map_err(SimulateError::master(format!(
                "cannot use the master {}",
                args.master
            )))?;
        let kubeconfig_error = |source| SimulateError::Kubeconfig {
            path: args.kubeconfig.clone(),
            source,
        };
        let kubeconfig =
            kube::config::Kubeconfig::read_from(&args.kubeconfig).map_err(kubeconfig_error)?;
        let kube_config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .map_err(kubeconfig_error)?;
        let kube = kube::Client::try_from(kube_config).map_err(SimulateError::kube(format!(
            "cannot use the API server of {}",
            args.kubeconfig.display()
        )))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(SimulateError::HttpClient)?;
        Ok(Self {
            chain,
            masters,
            kube,
            http,
            heartbeats: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            revoked: AtomicU64::new(0),
            args,
        })
    }

    fn master(&self, index: usize) -> &MasterClient {
        &self.masters[index % self.masters.len()]
    }
}

/// One agent, joined: its identity, then [`join_once`] again while it
/// fails transiently, for up to [`REGISTER_RETRY_FOR`].
async fn join(shared: &Shared, index: usize) -> Result<SimAgent, SimulateError> {
    let node = format!("{}-{index}", shared.args.prefix);
    let span = info_span!("simulated_agent", %node);
    async {
        let name: NodeName = node.parse().map_err(|source| SimulateError::NodeName {
            node: node.clone(),
            source,
        })?;
        let (key, kept) = identity(shared.args.state_dir.as_deref(), &node)?;
        let deadline = Instant::now() + REGISTER_RETRY_FOR;
        // A kept key, or one an interrupted attempt may have staked with,
        // may already hold the node's stake.
        let mut may_be_staked = kept;
        loop {
            match join_once(shared, index, &name, &key, may_be_staked).await {
                Err(error) if error.is_transient() && Instant::now() < deadline => {
                    warn!(%error, "joining failed; trying again");
                    may_be_staked = true;
                    tokio::time::sleep(REGISTER_RETRY_INTERVAL).await;
                }
                Err(error) => return Err(error),
                Ok(seal) => {
                    return Ok(SimAgent {
                        node: name,
                        key,
                        seal,
                    });
                }
            }
        }
    }
    .instrument(span)
    .await
}

/// Faucet and stake (unless the chain shows `key`'s stake for the node,
/// looked for when `may_be_staked`), registration, kwok node.
async fn join_once(
    shared: &Shared,
    index: usize,
    name: &NodeName,
    key: &Keypair,
    may_be_staked: bool,
) -> Result<SealTokenId, SimulateError> {
    let node = name.as_str();
    let staked = if may_be_staked {
        staked(shared, key, name).await?
    } else {
        None
    };
    let seal = match staked {
        Some(seal) => {
            info!(%seal, "reusing this wallet's stake");
            seal
        }
        None => {
            fund(shared, key.address()).await?;
            shared
                .chain
                .stake_and_mint(key, shared.args.stake, Role::Worker, node)
                .await
                .map_err(SimulateError::chain(format!("staking for {node}")))?
                .token
        }
    };
    register(shared, index, node, key, seal).await?;
    create_kwok_node(&shared.kube, node).await?;
    Ok(seal)
}

/// The agent's key and whether it was kept: without a state directory a
/// fresh one; with one, the key kept there for `node`, else a fresh one
/// written there (owner-only) before anything is staked with it.
///
/// # Errors
/// [`SimulateError::KeyFile`] naming the file when it cannot be read,
/// holds no key, or cannot be written.
fn identity(dir: Option<&Path>, node: &str) -> Result<(Keypair, bool), SimulateError> {
    let Some(dir) = dir else {
        return Ok((Keypair::generate(Scheme::Ed25519), false));
    };
    let path = dir.join(format!("{node}.key"));
    let key_file = |reason: String| SimulateError::KeyFile {
        path: path.clone(),
        reason,
    };
    let kept = private_file::read_if_exists(&path)
        .map_err(|error| key_file(format!("cannot be read: {}", error.source)))?;
    let Some(bytes) = kept else {
        let key = Keypair::generate(Scheme::Ed25519);
        private_file::write_atomic(&path, key.to_suiprivkey().as_bytes())
            .map_err(|error| key_file(format!("cannot be written: {error}")))?;
        return Ok((key, false));
    };
    let bytes = zeroize::Zeroizing::new(bytes);
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| key_file("is not a suiprivkey1… key (not text)".to_owned()))?;
    let key = Keypair::from_suiprivkey(text)
        .map_err(|error| key_file(format!("is not a suiprivkey1… key: {error}")))?;
    Ok((key, true))
}

/// An active worker seal token of `key`'s wallet for `node`, as the
/// master would judge it.
async fn staked(
    shared: &Shared,
    key: &Keypair,
    node: &NodeName,
) -> Result<Option<SealTokenId>, SimulateError> {
    let owner = key.address();
    let chain = &shared.chain;
    let ids = chain
        .owned_objects_of_type(owner, &SealToken::struct_tag(chain.package_id()))
        .await
        .map_err(SimulateError::chain(format!(
            "listing the seal tokens of {owner}"
        )))?;
    let now_ms = chain_time_ms(chain)
        .await
        .map_err(SimulateError::chain("reading the chain's clock"))?;
    for id in ids {
        let claim = WorkerClaim {
            seal_token: SealTokenId::new(id),
            owner,
            node: node.clone(),
        };
        let verdict = review_worker(chain, &claim, now_ms)
            .await
            .map_err(SimulateError::chain(format!("reading seal token {id}")))?;
        if verdict.is_ok() {
            return Ok(Some(claim.seal_token));
        }
    }
    Ok(None)
}

async fn fund(shared: &Shared, address: Address) -> Result<(), SimulateError> {
    let base = shared.args.faucet.as_ref().unwrap_or(&shared.args.chain);
    let url = format!("{}/v2/gas", base.trim_end_matches('/'));
    let body = serde_json::json!({ "FixedAmountRequest": { "recipient": address.to_string() } });
    let response = shared
        .http
        .post(&url)
        .json(&body)
        .send()
        .await
        .map_err(|source| SimulateError::FaucetUnreachable {
            url: url.clone(),
            source,
        })?;
    if !response.status().is_success() {
        return Err(SimulateError::FaucetRefused {
            status: response.status().as_u16(),
            url,
        });
    }
    Ok(())
}

async fn register(
    shared: &Shared,
    index: usize,
    node: &str,
    key: &Keypair,
    seal: SealTokenId,
) -> Result<(), SimulateError> {
    retrying(|| async {
        let request = register_request(shared, node, key, seal)?;
        shared
            .master(index)
            .register_worker(&request)
            .await
            .map_err(SimulateError::master(format!("registering {node}")))
    })
    .await?;
    Ok(())
}

/// Runs `attempt` again (up to [`ATTEMPTS`] times) when it fails before
/// the master answered: the master closes idle connections, and a request
/// can meet a pooled connection just as it closes. Each attempt signs its
/// own proof.
async fn retrying<T, F, Fut>(mut attempt: F) -> Result<T, SimulateError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, SimulateError>>,
{
    let mut tries = 1;
    loop {
        match attempt().await {
            Err(error) if tries < ATTEMPTS && error.before_answer() => {
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
) -> Result<RegisterWorkerRequest, SimulateError> {
    let proof = sign_proof(shared, Purpose::Register, node, key, seal)?;
    Ok(RegisterWorkerRequest {
        node_id: node.to_owned(),
        seal_token: seal.to_string(),
        ip_address: "127.0.0.1".to_owned(),
        capacity: Capacity {
            cpu: "1".to_owned(),
            memory: "1Gi".to_owned(),
            storage: "10Gi".to_owned(),
        },
        proof,
        agent_api: None,
    })
}

/// A `purpose` proof for `node`, signed now by `key`.
fn sign_proof(
    shared: &Shared,
    purpose: Purpose,
    node: &str,
    key: &Keypair,
    seal: SealTokenId,
) -> Result<String, SimulateError> {
    let proof_error = |source| SimulateError::Proof {
        node: node.to_owned(),
        source,
    };
    let name = node.parse().map_err(|source| SimulateError::NodeName {
        node: node.to_owned(),
        source,
    })?;
    let claims = WorkerClaims::new(
        purpose,
        seal,
        key.address(),
        name,
        shared.args.audience.clone(),
        unix_now_secs(),
    )
    .map_err(proof_error)?;
    Ok(WorkerProof::sign(key, &claims)
        .map_err(proof_error)?
        .into_string())
}

/// The taint that keeps workloads off simulated nodes (kwok's own
/// convention): pods land on real nodes unless they tolerate it.
fn simulated_taint() -> Taint {
    Taint {
        key: KWOK_LABEL.to_owned(),
        value: Some("fake".to_owned()),
        effect: "NoSchedule".to_owned(),
        time_added: None,
    }
}

/// The Node object a kubelet would create, for kwok to keep Ready, tainted
/// so that no real workload is scheduled where nothing runs; one already
/// there (from an earlier run with the same identity) is kept, and given
/// the taint.
async fn create_kwok_node(kube: &kube::Client, name: &str) -> Result<(), SimulateError> {
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
        spec: Some(NodeSpec {
            taints: Some(vec![simulated_taint()]),
            ..NodeSpec::default()
        }),
        ..Node::default()
    };
    let nodes = Api::<Node>::all(kube.clone());
    match nodes.create(&PostParams::default(), &node).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 409 => {
            let taint = serde_json::json!({ "spec": { "taints": [simulated_taint()] } });
            nodes
                .patch(name, &PatchParams::default(), &Patch::Merge(&taint))
                .await
                .map(drop)
                .map_err(SimulateError::kube(format!(
                    "tainting the kwok node {name}"
                )))
        }
        Err(error) => Err(SimulateError::kube(format!(
            "creating the kwok node {name}"
        ))(error)),
    }
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
                if !beat(&shared, index, &agent).await {
                    break;
                }
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

/// Sends one heartbeat of `agent`; `false` once the chain no longer backs
/// its node, when the agent stops as a real one exits (status 10).
async fn beat(shared: &Shared, index: usize, agent: &SimAgent) -> bool {
    let sent = retrying(|| async {
        let proof = sign_proof(
            shared,
            Purpose::Heartbeat,
            agent.node.as_str(),
            &agent.key,
            agent.seal,
        )?;
        let request = HeartbeatRequest {
            node_id: agent.node.to_string(),
            proof,
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
        shared
            .master(index)
            .heartbeat(&request)
            .await
            .map(drop)
            .map_err(SimulateError::master(format!(
                "heartbeat of {}",
                agent.node
            )))
    });
    let error = match sent.await {
        Ok(()) => {
            shared.heartbeats.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        Err(error) => error,
    };
    shared.refused.fetch_add(1, Ordering::Relaxed);
    // A refusal is the master's view; the chain decides.
    if error.refused_by_master()
        && let Some(reason) = revoked(shared, agent).await
    {
        warn!(node = %agent.node, %reason, "revoked: this simulated agent stops");
        shared.revoked.fetch_add(1, Ordering::Relaxed);
        return false;
    }
    warn!(node = %agent.node, %error, "heartbeat refused");
    true
}

/// Why the chain no longer backs `agent`'s node; `None` while it does or
/// cannot be read (the agent keeps going, as a real one does).
async fn revoked(shared: &Shared, agent: &SimAgent) -> Option<WorkerDenyReason> {
    let claim = WorkerClaim {
        seal_token: agent.seal,
        owner: agent.key.address(),
        node: agent.node.clone(),
    };
    let now_ms = chain_time_ms(&shared.chain).await.ok()?;
    review_worker(&shared.chain, &claim, now_ms)
        .await
        .ok()?
        .err()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn args(dir: &std::path::Path) -> SimulateArgs {
        SimulateArgs {
            count: 1,
            master: "https://127.0.0.1:9".to_owned(),
            chain: "http://127.0.0.1:9".to_owned(),
            faucet: None,
            kubeconfig: dir.join("kubeconfig"),
            dev_root: Some(dir.join("dev-root.pem")),
            enclave_config: None,
            audience: "https://127.0.0.1:6443".to_owned(),
            stake: "5".parse().unwrap(),
            prefix: "sim".to_owned(),
            concurrency: 1,
            connections: 1,
            heartbeat_secs: 10,
            state_dir: None,
            duration_secs: Some(1),
        }
    }

    #[tokio::test]
    async fn bad_arguments_are_typed_errors_that_name_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let zero = SimulateArgs {
            connections: 0,
            ..args(dir.path())
        };
        assert!(matches!(run(zero).await, Err(SimulateError::ZeroCount)));

        let error = run(args(dir.path())).await.unwrap_err();
        assert!(
            matches!(&error, SimulateError::DevRootFile { path, .. } if path.ends_with("dev-root.pem")),
            "{error}"
        );
        assert!(error.to_string().contains("dev-root.pem"), "{error}");

        std::fs::write(dir.path().join("dev-root.pem"), "not a PEM").unwrap();
        let error = run(args(dir.path())).await.unwrap_err();
        assert!(matches!(error, SimulateError::DevRoot { .. }), "{error}");

        let untrusted = SimulateArgs {
            dev_root: None,
            ..args(dir.path())
        };
        assert!(matches!(run(untrusted).await, Err(SimulateError::NoTrust)));
    }

    #[test]
    fn a_kept_key_is_reused_and_a_bad_one_is_named() {
        use std::os::unix::fs::PermissionsExt as _;

        let dir = tempfile::tempdir().unwrap();
        let (fresh, kept) = identity(None, "sim-0").unwrap();
        assert!(!kept);
        assert_ne!(
            fresh.address(),
            identity(None, "sim-0").unwrap().0.address()
        );

        let (first, kept) = identity(Some(dir.path()), "sim-0").unwrap();
        assert!(!kept, "no key was kept yet");
        let file = dir.path().join("sim-0.key");
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the key file is owner-only");
        let (again, kept) = identity(Some(dir.path()), "sim-0").unwrap();
        assert!(kept);
        assert_eq!(again.address(), first.address());
        let (other, _) = identity(Some(dir.path()), "sim-1").unwrap();
        assert_ne!(other.address(), first.address());

        for corrupt in [&b"suiprivkey1garbage"[..], &[0xff, 0xfe][..], &b""[..]] {
            std::fs::write(&file, corrupt).unwrap();
            let error = identity(Some(dir.path()), "sim-0").unwrap_err();
            assert!(matches!(error, SimulateError::KeyFile { .. }), "{error}");
            assert!(error.to_string().contains("sim-0.key"), "{error}");
            assert!(error.to_string().contains("not a suiprivkey1"), "{error}");
        }
        std::fs::remove_file(&file).unwrap();
        std::fs::create_dir(&file).unwrap();
        let error = identity(Some(dir.path()), "sim-0").unwrap_err();
        assert!(error.to_string().contains("sim-0.key"), "{error}");
        assert!(error.to_string().contains("cannot be read"), "{error}");
    }

    #[test]
    fn only_an_unreachable_or_busy_service_is_worth_joining_again() {
        let status = |status| SimulateError::Master {
            context: "registering sim-0".to_owned(),
            source: AttestedError::Status {
                url: "https://127.0.0.1:9/api/v1/nodes/register".to_owned(),
                status,
                error: "no".to_owned(),
            },
        };
        assert!(status(503).is_transient());
        assert!(status(429).is_transient());
        assert!(!status(403).is_transient(), "a refusal is final");
        assert!(!status(409).is_transient());
        let faucet = |status| SimulateError::FaucetRefused {
            url: "http://127.0.0.1:9/v2/gas".to_owned(),
            status,
        };
        assert!(faucet(502).is_transient());
        assert!(!faucet(400).is_transient());
        let api = |code| SimulateError::Kube {
            context: "creating the kwok node sim-0".to_owned(),
            source: kube::Error::Api(Box::new(
                kube::core::Status::failure("no", "x").with_code(code),
            )),
        };
        assert!(api(503).is_transient());
        assert!(!api(422).is_transient());
        assert!(!SimulateError::ZeroCount.is_transient());
        assert!(
            !SimulateError::Proof {
                node: "sim-0".to_owned(),
                source: WorkerProofError::InvalidAudience("empty"),
            }
            .is_transient()
        );
    }
}
