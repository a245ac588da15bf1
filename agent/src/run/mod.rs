//! `daas-agent run`: the worker's life, as a state machine persisted in
//! the state directory ([`crate::state`]):
//!
//! 1. verify the master's attestation ([`join::attest`]) before anything is
//!    staked or signed for it;
//! 2. find this node's worker seal token on chain, or stake for one
//!    ([`join::seal_token`]: the transaction is recorded before it is sent),
//!    or adopt the one the operator names (`run --seal-token`, after a
//!    slash and a new stake) once the chain says it holds the node,
//!    and register with a signed, single-use proof ([`join::register`]);
//!    the K10 join token goes to a 0600 file;
//! 3. start the node runtime and keep it running ([`crate::runtime`]);
//! 4. heartbeat every N seconds with the seed's metrics, refresh the seal
//!    token on chain before it expires, and watch the chain: when it no
//!    longer backs the node (unstaked, slashed, expired), stop the runtime
//!    and exit [`crate::exit::Exit::Revoked`];
//! 5. on an unstake request, leave ([`unstake`]).
//!
//! Every step survives kill -9: a restart reads the state and continues.

pub mod crash;
pub mod join;
mod local_api;
pub mod unstake;

use std::path::PathBuf;
use std::time::Duration;

use daas_core::access::unix_now_secs;
use daas_core::access::worker::{AllowedWorker, WorkerClaim, chain_time_ms, review_worker};
use daas_core::access::worker_proof::{Purpose, WorkerClaims, WorkerProof};
use daas_core::api::MasterClient;
use daas_core::api::nodes::{AgentEndpoint, HeartbeatRequest, NodeMetrics, NodeStatus};
use daas_core::attestation::{DevRoot, ExpectedPcrs, PcrPolicy, TrustRoots};
use daas_core::attested::{AttestedClient, AttestedClientConfig, AttestedError};
use daas_core::chain::{ChainClient, ChainError};
use daas_core::package::SealTokenId;
use daas_core::wallet::Keypair;
use tokio::signal::unix::{SignalKind, signal};
use tracing::{debug, error, info, warn};

use crate::config::{AgentConfig, ConfigError, PcrSource};
use crate::exit::Exit;
use crate::metrics::ProcMetrics;
use crate::runtime::{RuntimeState, Supervisor};
use crate::state::{AgentState, Phase, StateError, StateStore, UnstakeStep};
use crate::wallet::{self, WalletError};

/// The file whose presence asks a running agent to leave.
pub const UNSTAKE_REQUEST_FILE: &str = "unstake-requested";
/// The runtime's pid file in the state directory.
pub const RUNTIME_PID_FILE: &str = "runtime.pid";
/// How often the agent reads its seal token on chain (and refreshes it).
const CHAIN_CHECK: Duration = Duration::from_secs(30);

/// Why the agent stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The wallet could not be opened.
    #[error(transparent)]
    Wallet(#[from] WalletError),
    /// The state file could not be read or written.
    #[error(transparent)]
    State(#[from] StateError),
    /// A chain read or transaction failed.
    #[error("{action}: {source}")]
    Chain {
        /// What was being done.
        action: String,
        /// The chain's error.
        #[source]
        source: ChainError,
    },
    /// The master refused a request or could not be reached.
    #[error("{action}: {source}")]
    Master {
        /// What was being done.
        action: String,
        /// The client's error.
        #[source]
        source: AttestedError,
    },
    /// The master's attestation does not prove the expected code.
    #[error("the master at {url} is refused: {source}")]
    MasterRefused {
        /// The master.
        url: String,
        /// Why.
        #[source]
        source: AttestedError,
    },
    /// There is no seal token for the node and staking is not configured.
    #[error(
        "no active worker seal token of {owner} holds node {node}, and node.stake_amount is \
         not set: stake with daas-console or set node.stake_amount (or --stake-amount)"
    )]
    NoSealToken {
        /// The node.
        node: String,
        /// The wallet.
        owner: sui_sdk_types::Address,
    },
    /// The chain no longer backs the node.
    #[error("node {node} was revoked: {reason}")]
    Revoked {
        /// The node.
        node: String,
        /// Why, as the worker rule says it.
        reason: String,
    },
    /// The seal token the operator named cannot hold the node.
    #[error("seal token {seal} cannot hold node {node}: {reason}; nothing was changed")]
    SealTokenRefused {
        /// The named seal token.
        seal: SealTokenId,
        /// The node.
        node: String,
        /// Why, as the worker rule says it.
        reason: String,
    },
    /// Something local failed (a file, a signal handler).
    #[error("{0}")]
    Local(String),
}

impl AgentError {
    /// The exit status this error ends the agent with.
    pub fn exit(&self) -> Exit {
        match self {
            Self::Config(_) | Self::Wallet(_) | Self::State(_) | Self::NoSealToken { .. } => {
                Exit::Config
            }
            Self::MasterRefused { .. } => Exit::MasterRefused,
            Self::Revoked { .. } | Self::SealTokenRefused { .. } => Exit::Revoked,
            Self::Chain { .. } | Self::Master { .. } | Self::Local(_) => Exit::Failed,
        }
    }

    fn chain(action: impl Into<String>) -> impl FnOnce(ChainError) -> Self {
        let action = action.into();
        move |source| Self::Chain { action, source }
    }

    fn master(action: impl Into<String>) -> impl FnOnce(AttestedError) -> Self {
        let action = action.into();
        move |source| Self::Master { action, source }
    }
}

/// Why heartbeats fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HeartbeatFailure {
    /// The master could not be reached, or failed.
    Unreachable,
    /// The master was refused for what it attests.
    Refused,
}

/// How a run ended without error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Stopped by a signal; the runtime was stopped.
    Stopped,
    /// Unstaked and withdrawn: the node left.
    Left,
}

impl Outcome {
    /// The exit status.
    pub fn exit(self) -> Exit {
        match self {
            Self::Stopped => Exit::Stopped,
            Self::Left => Exit::Left,
        }
    }
}

/// Everything a running agent holds.
pub struct Agent {
    /// The configuration.
    pub config: AgentConfig,
    key: Keypair,
    chain: ChainClient,
    master: MasterClient,
    /// The PCRs `master` is attested against.
    pinned: ExpectedPcrs,
    /// Why heartbeats have been failing, as last said (each change of
    /// reason is said once, and so is their recovery).
    heartbeats_failing: Option<HeartbeatFailure>,
    store: StateStore,
    state: AgentState,
    /// The local API once `run` started it.
    api: Option<local_api::LocalApi>,
    /// The seal token the operator named for this run, not yet adopted.
    chosen: Option<SealTokenId>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("node", &self.config.node)
            .field("owner", &self.key.address())
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl Agent {
    /// Opens the wallet, the state and the clients of `config`.
    ///
    /// # Errors
    /// An unusable wallet, state, chain or master setting.
    pub async fn open(config: AgentConfig) -> Result<Self, AgentError> {
        let key = wallet::open(&config.wallet)?;
        let store = StateStore::new(&config.state_dir);
        let state = store.load(config.node.as_str(), key.address())?;
        let chain = ChainClient::new(config.chain.clone())
            .map_err(AgentError::chain("connecting to the chain"))?;
        let pinned = expected_pcrs(&config, &chain).await?;
        let master = master_client(&config, pinned.clone())?;
        if config.master.dev_root.is_some() {
            warn!("INSECURE: development attestation is accepted (security.allow_insecure_dev)");
        }
        Ok(Self {
            config,
            key,
            chain,
            master,
            pinned,
            heartbeats_failing: None,
            store,
            state,
            api: None,
            chosen: None,
        })
    }

    /// Registers with `seal` (when `Some`) instead of the remembered seal
    /// token: `run` adopts it once the chain says it holds this node.
    #[must_use]
    pub fn with_seal_token(mut self, seal: Option<SealTokenId>) -> Self {
        self.chosen = seal;
        self
    }

    /// The persisted state.
    pub fn state(&self) -> &AgentState {
        &self.state
    }

    fn save(&self) -> Result<(), AgentError> {
        Ok(self.store.save(&self.state)?)
    }

    fn runtime_pid_file(&self) -> PathBuf {
        self.store.path(RUNTIME_PID_FILE)
    }

    fn unstake_requested(&self) -> bool {
        self.store.path(UNSTAKE_REQUEST_FILE).exists()
    }

    /// Signs a worker proof for `purpose`.
    fn proof(
        &self,
        purpose: Purpose,
        seal: SealTokenId,
        audience: &str,
    ) -> Result<String, AgentError> {
        let claims = WorkerClaims::new(
            purpose,
            seal,
            self.key.address(),
            self.config.node.clone(),
            audience,
            unix_now_secs(),
        )
        .map_err(|error| AgentError::Local(format!("making a {purpose} proof: {error}")))?;
        WorkerProof::sign(&self.key, &claims)
            .map(WorkerProof::into_string)
            .map_err(|error| AgentError::Local(format!("signing a {purpose} proof: {error}")))
    }

    /// The chain's time and its verdict on `seal` holding this node now:
    /// the outer error when the chain cannot be read (no verdict), the inner
    /// when it says no.
    async fn review(
        &self,
        seal: SealTokenId,
    ) -> Result<(u64, Result<AllowedWorker, String>), AgentError> {
        let claim = WorkerClaim {
            seal_token: seal,
            owner: self.key.address(),
            node: self.config.node.clone(),
        };
        let now_ms = chain_time_ms(&self.chain)
            .await
            .map_err(AgentError::chain("reading the chain's clock"))?;
        let verdict = review_worker(&self.chain, &claim, now_ms)
            .await
            .map_err(AgentError::chain(format!("reading seal token {seal}")))?
            .map_err(|reason| reason.to_string());
        Ok((now_ms, verdict))
    }

    /// Runs the agent until it is stopped, revoked, or has left.
    ///
    /// # Errors
    /// [`AgentError`]; [`AgentError::exit`] gives the exit status.
    pub async fn run(mut self) -> Result<Outcome, AgentError> {
        if self.unstake_requested() && self.state.phase == Phase::Joining {
            self.begin_unstake()?;
        }
        match self.state.phase {
            Phase::Withdrawn => {
                warn!(
                    node = %self.config.node,
                    state_dir = %self.config.state_dir.display(),
                    "this node left the cluster earlier (its stake was withdrawn) and its state directory is finished; to join again, use a new state directory"
                );
                return Ok(Outcome::Left);
            }
            Phase::Unstaking { .. } => return unstake::leave(&mut self, None).await,
            Phase::Joining => {}
        }
        join::attest(&self).await?;
        self.api = local_api::start(&self).await?;
        let seal = join::seal_token(&mut self).await?;
        let joined = join::register(&self, seal).await?;
        let supervisor = Supervisor::start(
            joined.runtime_line,
            self.runtime_pid_file(),
            self.config.runtime.max_backoff,
        )
        .await;
        crash::point("runtime-started");
        self.serve(seal, &joined.audience, supervisor).await
    }

    /// The local API's endpoint, for the master.
    fn agent_api(&self) -> Option<AgentEndpoint> {
        self.api.as_ref().map(|api| api.endpoint.clone())
    }

    /// Marks the state as leaving (persisted before anything is done).
    fn begin_unstake(&mut self) -> Result<(), AgentError> {
        self.state.phase = Phase::Unstaking {
            step: UnstakeStep::Draining,
        };
        self.save()
    }

    /// Heartbeats, refreshes and watches the chain until a signal, an
    /// unstake request or a revocation.
    async fn serve(
        &mut self,
        seal: SealTokenId,
        audience: &str,
        supervisor: Supervisor,
    ) -> Result<Outcome, AgentError> {
        let mut terminate = signal(SignalKind::terminate())
            .map_err(|error| AgentError::Local(format!("watching SIGTERM: {error}")))?;
        let mut heartbeat = tokio::time::interval(self.config.heartbeat);
        let mut chain_check = tokio::time::interval(CHAIN_CHECK.min(self.config.heartbeat * 3));
        let metrics = ProcMetrics::default();
        loop {
            tokio::select! {
                _ = heartbeat.tick() => {
                    let status = match supervisor.state() {
                        RuntimeState::Running => NodeStatus::Ready,
                        _ => NodeStatus::NotReady,
                    };
                    let accepted = match self.heartbeat(seal, audience, status, &metrics).await {
                        Ok(accepted) => accepted,
                        Err(error) => return Err(stop_with(supervisor, error).await),
                    };
                    // A refusal is the master's view; the chain decides.
                    if !accepted && let Err(error @ AgentError::Revoked { .. }) = self.check_chain(seal).await {
                        return Err(stop_with(supervisor, error).await);
                    }
                }
                _ = chain_check.tick() => {
                    if self.unstake_requested() {
                        if let Err(error) = self.begin_unstake() {
                            return Err(stop_with(supervisor, error).await);
                        }
                        return unstake::leave(self, Some((supervisor, audience.to_owned()))).await;
                    }
                    match self.check_chain(seal).await {
                        Err(error @ AgentError::Revoked { .. }) => {
                            return Err(stop_with(supervisor, error).await);
                        }
                        Err(error) => warn!(%error, "chain check failed; retrying"),
                        Ok(()) => {}
                    }
                }
                _ = terminate.recv() => break,
                _ = tokio::signal::ctrl_c() => break,
            }
        }
        info!("stopping: signal received");
        supervisor.stop().await;
        Ok(Outcome::Stopped)
    }

    /// Sends one heartbeat. `Ok(false)` when the master refused the node
    /// (the chain decides next); transport and server errors are logged.
    async fn heartbeat(
        &mut self,
        seal: SealTokenId,
        audience: &str,
        status: NodeStatus,
        metrics: &ProcMetrics,
    ) -> Result<bool, AgentError> {
        let request = HeartbeatRequest {
            node_id: self.config.node.to_string(),
            proof: self.proof(Purpose::Heartbeat, seal, audience)?,
            status,
            metrics: read_metrics(metrics).await,
            agent_api: self.agent_api(),
        };
        match self.master.heartbeat(&request).await {
            Ok(_) => {
                if self.heartbeats_failing.take().is_some() {
                    info!("heartbeats reach the master again");
                }
                Ok(true)
            }
            Err(AttestedError::Status { status, error, .. }) if matches!(status, 403 | 404) => {
                warn!(status, %error, "the master refused the heartbeat; asking the chain");
                Ok(false)
            }
            Err(error) if join::refuses_master(&error) && self.follow_enclave_config().await => {
                Ok(true)
            }
            Err(error) => {
                self.heartbeat_failed(&error);
                Ok(true)
            }
        }
    }

    /// Says why heartbeats fail, once per reason.
    fn heartbeat_failed(&mut self, error: &AttestedError) {
        let failure = if join::refuses_master(error) {
            HeartbeatFailure::Refused
        } else {
            HeartbeatFailure::Unreachable
        };
        if self.heartbeats_failing.replace(failure) == Some(failure) {
            debug!(%error, "heartbeat failed");
            return;
        }
        match (failure, &self.config.master.pcrs) {
            (HeartbeatFailure::Unreachable, _) => {
                warn!(%error, "heartbeat failed; retrying at every interval");
            }
            (HeartbeatFailure::Refused, PcrSource::Expected(_)) => warn!(
                %error,
                "heartbeat failed: the master does not attest to the configured PCRs; retrying \
                 at every interval (security.enclave_config instead follows the operator's new \
                 images)"
            ),
            (HeartbeatFailure::Refused, PcrSource::EnclaveConfig(config)) => warn!(
                %error,
                "heartbeat failed: the master does not attest to the PCRs EnclaveConfig {config} \
                 expects; retrying at every interval, and following the config once its \
                 operator updates it"
            ),
        }
    }

    /// After the master was refused for what it attests: when the PCRs come
    /// from an `EnclaveConfig` whose operator has since replaced them (a new
    /// master image, `update_pcrs`), trust the new ones from the next
    /// request on, as a restarted agent would. Whether the pin changed.
    async fn follow_enclave_config(&mut self) -> bool {
        let PcrSource::EnclaveConfig(config) = self.config.master.pcrs else {
            return false;
        };
        let pcrs = match self.chain.enclave_expected_pcrs(config).await {
            Ok(pcrs) if pcrs != self.pinned => pcrs,
            Ok(_) => return false,
            Err(error) => {
                // The chain checks report the chain's trouble; the refusal
                // is said by the caller.
                debug!(%error, "cannot re-read the pinned EnclaveConfig");
                return false;
            }
        };
        match master_client(&self.config, pcrs.clone()) {
            Ok(master) => {
                info!(%config, "EnclaveConfig expects new PCRs (a new master image): following it");
                self.master = master;
                self.pinned = pcrs;
                true
            }
            Err(error) => {
                warn!(%error, "cannot follow the EnclaveConfig's new PCRs");
                false
            }
        }
    }

    /// Reads the seal token on chain: [`AgentError::Revoked`] when the
    /// chain no longer backs the node; refreshes it when it expires within
    /// the configured margin.
    async fn check_chain(&self, seal: SealTokenId) -> Result<(), AgentError> {
        let (now_ms, allowed) = match self.review(seal).await {
            Ok((now_ms, Ok(allowed))) => (now_ms, allowed),
            Ok((_, Err(reason))) => {
                return Err(AgentError::Revoked {
                    node: self.config.node.to_string(),
                    reason,
                });
            }
            Err(error) => {
                warn!(%error, "cannot read the seal token; keeping the node until the chain answers");
                return Ok(());
            }
        };
        let margin_ms = u64::try_from(self.config.refresh_margin.as_millis()).unwrap_or(u64::MAX);
        if now_ms.saturating_add(margin_ms) >= allowed.expires_at_ms {
            info!(
                expires_at_ms = allowed.expires_at_ms,
                "refreshing the seal token"
            );
            let refreshed = self
                .chain
                .refresh(&self.key, seal)
                .await
                .map_err(AgentError::chain(format!("refreshing seal token {seal}")));
            match refreshed {
                Ok(called) => info!(digest = %called.outcome.digest, "seal token refreshed"),
                Err(error) => error!(%error, "refresh failed; retrying at the next check"),
            }
        }
        Ok(())
    }
}

/// Stops the runtime, then returns `error` (said once, by whoever ends
/// the agent with it).
async fn stop_with(supervisor: Supervisor, error: AgentError) -> AgentError {
    info!("stopping the runtime");
    supervisor.stop().await;
    error
}

/// The PCRs the master must attest to: the configuration's, or those the
/// on-chain `EnclaveConfig` expects now.
async fn expected_pcrs(
    config: &AgentConfig,
    chain: &ChainClient,
) -> Result<ExpectedPcrs, AgentError> {
    match &config.master.pcrs {
        PcrSource::Expected(pcrs) => Ok(pcrs.clone()),
        PcrSource::EnclaveConfig(id) => {
            chain
                .enclave_expected_pcrs(*id)
                .await
                .map_err(AgentError::chain(format!(
                    "reading the PCRs of EnclaveConfig {id}"
                )))
        }
    }
}

/// The attested client of the configured master, expecting `pcrs`.
fn master_client(config: &AgentConfig, pcrs: ExpectedPcrs) -> Result<MasterClient, AgentError> {
    let (roots, dev) = match &config.master.dev_root {
        Some(path) => {
            let pem = std::fs::read_to_string(path).map_err(|error| {
                AgentError::Local(format!("reading the dev root {}: {error}", path.display()))
            })?;
            let root = DevRoot::from_pem(&pem).map_err(|error| {
                AgentError::Local(format!("parsing the dev root {}: {error}", path.display()))
            })?;
            (TrustRoots::aws_and_insecure_dev(root), true)
        }
        None => (TrustRoots::aws(), false),
    };
    let client_config =
        AttestedClientConfig::new(roots, PcrPolicy::Expect(pcrs)).allow_insecure_dev(dev);
    let client = AttestedClient::new(&config.master.url, client_config)
        .map_err(AgentError::master("making the master client"))?;
    Ok(MasterClient::new(client))
}

/// This machine's figures, or zeros (with a warning) when `/proc` cannot be
/// read: a heartbeat without figures still keeps the node fresh.
async fn read_metrics(metrics: &ProcMetrics) -> NodeMetrics {
    metrics.read().await.unwrap_or_else(|error| {
        warn!(%error, "cannot read this machine's metrics; heartbeat with zeros");
        NodeMetrics {
            cpu_usage: 0.0,
            memory_usage: 0.0,
            pod_count: 0,
            container_count: 0,
            network_rx: 0,
            network_tx: 0,
            timestamp: daas_core::access::unix_now_secs(),
        }
    })
}
