//! Joining: the worker seal token (found, or staked for exactly once) and
//! the registration with the attested master.

use std::net::{IpAddr, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use daas_core::access::worker_proof::Purpose;
use daas_core::api::nodes::{Capacity, RegisterWorkerRequest};
use daas_core::attested::AttestedError;
use daas_core::chain::ChainError;
use daas_core::package::staking::SealToken;
use daas_core::package::{MoveStruct as _, Role, SealTokenId};
use tracing::{info, warn};

use super::{Agent, AgentError, crash};
use crate::runtime::{Launch, command_line};
use crate::state::{CA_FILE, JOIN_TOKEN_FILE, PendingStake};

/// How long joining is retried while the master answers 503 (it revokes a
/// node's previous admission within a reconcile pass and a drain) or, for
/// simulated agents, while the chain or the master cannot be reached.
pub(crate) const REGISTER_RETRY_FOR: Duration = Duration::from_secs(180);
/// The pause between those attempts.
pub(crate) const REGISTER_RETRY_INTERVAL: Duration = Duration::from_secs(2);

/// What registration gave the runtime.
#[derive(Debug, Clone)]
pub struct Joined {
    /// The runtime's command line (no secret in it).
    pub runtime_line: Vec<String>,
    /// The audience of this cluster's worker proofs.
    pub audience: String,
}

/// This node's worker seal token: the one the operator named, the one in
/// the state, the outcome of a recorded stake, an active one of the wallet
/// for this node, or a new stake (recorded before it is sent).
///
/// # Errors
/// The chain failed, staking is not configured, or the chain refuses the
/// token (revoked).
pub async fn seal_token(agent: &mut Agent) -> Result<SealTokenId, AgentError> {
    if let Some(chosen) = agent.chosen.take() {
        return adopt(agent, chosen).await;
    }
    if let Some(seal) = agent.state.seal_token {
        return usable(agent, seal).await;
    }
    if let Some(seal) = recorded_or_found(agent).await? {
        return Ok(seal);
    }
    let seal = stake(agent).await?;
    remember(agent, seal)
}

/// This node's seal token if one may be held, for leaving: the remembered
/// one, a recorded stake's outcome, or an active one of the wallet for this
/// node; never a new stake.
///
/// # Errors
/// The chain failed.
pub async fn staked(agent: &mut Agent) -> Result<Option<SealTokenId>, AgentError> {
    match agent.state.seal_token {
        Some(seal) => Ok(Some(seal)),
        None => recorded_or_found(agent).await,
    }
}

/// With no token remembered: the outcome of a recorded stake, else an
/// active worker token of the wallet for this node; remembered.
async fn recorded_or_found(agent: &mut Agent) -> Result<Option<SealTokenId>, AgentError> {
    if let Some(pending) = agent.state.pending_stake.clone()
        && let Some(seal) = settle_pending(agent, &pending).await?
    {
        return remember(agent, seal).map(Some);
    }
    match find_on_chain(agent).await? {
        Some(seal) => {
            info!(%seal, "found this node's worker seal token on chain");
            remember(agent, seal).map(Some)
        }
        None => Ok(None),
    }
}

fn remember(agent: &mut Agent, seal: SealTokenId) -> Result<SealTokenId, AgentError> {
    agent.state.seal_token = Some(seal);
    agent.state.pending_stake = None;
    agent.save()?;
    crash::point("staked");
    Ok(seal)
}

/// Replaces the remembered seal token with `seal` once the chain says it
/// holds this node for this wallet; the state is untouched otherwise. A
/// stake whose outcome is unknown is settled first, so no stake is
/// forgotten.
async fn adopt(agent: &mut Agent, seal: SealTokenId) -> Result<SealTokenId, AgentError> {
    if let Some(pending) = &agent.state.pending_stake {
        return Err(AgentError::Local(format!(
            "a stake of this agent (transaction {}) has no known outcome; run once without \
             --seal-token to settle it",
            pending.digest
        )));
    }
    if let Err(reason) = agent.review(seal).await?.1 {
        return Err(AgentError::SealTokenRefused {
            seal,
            node: agent.config.node.to_string(),
            reason,
        });
    }
    if agent.state.seal_token != Some(seal) {
        info!(%seal, previous = ?agent.state.seal_token, "registering with the named seal token");
    }
    remember(agent, seal)
}

/// `seal` if the chain still backs the node through it; else another
/// active worker token of the wallet for this node (a new stake after a
/// slash or an unstake, made with `daas-console stake --node`), which the
/// same check admits; else revoked. Never a new stake: after a revocation
/// only its owner decides to stake again.
async fn usable(agent: &mut Agent, seal: SealTokenId) -> Result<SealTokenId, AgentError> {
    let reason = match agent.review(seal).await?.1 {
        Ok(_) => return Ok(seal),
        Err(reason) => reason,
    };
    match find_on_chain(agent).await? {
        Some(new) => {
            info!(%new, previous = %seal, previous_refused = %reason, "adopting this node's new worker seal token");
            remember(agent, new)
        }
        None => Err(AgentError::Revoked {
            node: agent.config.node.to_string(),
            reason,
        }),
    }
}

/// The token a recorded stake minted: `Some` if it executed; `None` if it
/// failed or can never execute (its inputs changed), so a new stake is
/// safe. A transaction the chain has not seen is sent again: the same
/// digest executes at most once.
async fn settle_pending(
    agent: &mut Agent,
    pending: &PendingStake,
) -> Result<Option<SealTokenId>, AgentError> {
    let outcome = match agent.chain.transaction(pending.digest).await {
        Ok(Some(outcome)) => Some(outcome),
        Ok(None) => {
            info!(digest = %pending.digest, "the recorded stake was not executed; sending it again");
            let transaction = pending
                .transaction()
                .map_err(|reason| AgentError::Local(format!("the state's {reason}")))?;
            match agent.chain.sign_and_execute(&agent.key, transaction).await {
                Ok(outcome) => Some(outcome),
                Err(error) if is_final_refusal(&error) => {
                    warn!(%error, "the recorded stake can no longer execute; staking anew");
                    None
                }
                Err(error) => {
                    return Err(AgentError::chain("re-sending the recorded stake")(error));
                }
            }
        }
        Err(error) if error.move_abort().is_some() => {
            warn!(%error, "the recorded stake failed on chain; staking anew");
            None
        }
        Err(error) => return Err(AgentError::chain("looking up the recorded stake")(error)),
    };
    let Some(outcome) = outcome else {
        agent.state.pending_stake = None;
        agent.save()?;
        return Ok(None);
    };
    let minted = agent
        .chain
        .minted(outcome)
        .map_err(AgentError::chain("reading the recorded stake's outcome"))?;
    info!(seal = %minted.token, digest = %pending.digest, "the recorded stake had executed");
    Ok(Some(minted.token))
}

/// Whether `error` means the transaction can never execute.
fn is_final_refusal(error: &ChainError) -> bool {
    error.move_abort().is_some() || !error.is_transient()
}

/// An active worker token of the wallet for this node.
async fn find_on_chain(agent: &Agent) -> Result<Option<SealTokenId>, AgentError> {
    let owner = agent.key.address();
    let ids = agent
        .chain
        .owned_objects_of_type(owner, &SealToken::struct_tag(agent.chain.package_id()))
        .await
        .map_err(AgentError::chain("listing the wallet's seal tokens"))?;
    for id in ids {
        let seal = SealTokenId::new(id);
        if let Ok((_, Ok(_))) = agent.review(seal).await {
            return Ok(Some(seal));
        }
    }
    Ok(None)
}

/// Stakes for this node: the transaction is recorded, then sent.
async fn stake(agent: &mut Agent) -> Result<SealTokenId, AgentError> {
    let amount = agent.config.stake.ok_or_else(|| AgentError::NoSealToken {
        node: agent.config.node.to_string(),
        owner: agent.key.address(),
    })?;
    let transaction = agent
        .chain
        .prepare_stake_and_mint(
            agent.key.address(),
            amount,
            Role::Worker,
            agent.config.node.as_str(),
        )
        .await
        .map_err(AgentError::chain(format!("preparing a stake of {amount}")))?;
    let pending = PendingStake::of(&transaction)
        .map_err(|error| AgentError::Local(format!("encoding the stake transaction: {error}")))?;
    info!(digest = %pending.digest, %amount, "staking for the node");
    agent.state.pending_stake = Some(pending);
    agent.save()?;
    crash::point("stake-recorded");
    let outcome = agent
        .chain
        .sign_and_execute(&agent.key, transaction)
        .await
        .map_err(AgentError::chain(format!("staking {amount}")))?;
    let minted = agent
        .chain
        .minted(outcome)
        .map_err(AgentError::chain("reading the stake's outcome"))?;
    info!(seal = %minted.token, "staked");
    Ok(minted.token)
}

/// Verifies the master's attestation (before anything is staked or
/// signed for it).
///
/// # Errors
/// [`AgentError::MasterRefused`] when its attestation or PCRs do not match;
/// [`AgentError::Master`] when it cannot be reached.
pub async fn attest(agent: &Agent) -> Result<(), AgentError> {
    let url = &agent.config.master.url;
    let master = agent
        .master
        .master()
        .await
        .map_err(|source| classify(url, source))?;
    info!(
        insecure_dev = master.is_insecure_dev(),
        "the master's attestation is verified"
    );
    Ok(())
}

/// Registers with a signed single-use proof and writes the join token
/// (0600) and the cluster CA for the runtime.
///
/// # Errors
/// The master refuses the node or cannot be reached; files cannot be
/// written.
pub async fn register(agent: &Agent, seal: SealTokenId) -> Result<Joined, AgentError> {
    let url = agent.config.master.url.clone();
    let audience = audience(agent, seal).await?;
    let deadline = Instant::now() + REGISTER_RETRY_FOR;
    let answer = loop {
        // A new proof each time: the master spends its nonce.
        let request = RegisterWorkerRequest {
            node_id: agent.config.node.to_string(),
            seal_token: seal.to_string(),
            ip_address: local_ip(&url).to_string(),
            capacity: capacity(&agent.config.data_dir),
            proof: agent.proof(Purpose::Register, seal, &audience)?,
            agent_api: agent.agent_api(),
        };
        match agent.master.register_worker(&request).await {
            // The master asks to try again, e.g. while it revokes the
            // node's previous (slashed) admission.
            Err(AttestedError::Status {
                status: 503, error, ..
            }) if Instant::now() < deadline => {
                warn!(%error, "the master cannot admit the node yet; trying again");
                tokio::time::sleep(REGISTER_RETRY_INTERVAL).await;
            }
            result => break result,
        }
    }
    .map_err(|source| match classify(&url, source) {
        AgentError::Master { source, .. } => AgentError::Master {
            action: format!("registering node {}", agent.config.node),
            source,
        },
        other => other,
    })?;
    let ca = BASE64.decode(&answer.ca_cert).map_err(|error| {
        AgentError::Local(format!("the master's ca_cert is not base64: {error}"))
    })?;
    let token_file = agent
        .store
        .write_private(JOIN_TOKEN_FILE, answer.join_token.as_bytes())?;
    let ca_file = agent.store.write_private(CA_FILE, &ca)?;
    info!(node = %answer.node_name, api_server = %answer.api_server, "registered; join token accepted");
    crash::point("registered");
    let launch = Launch {
        server: answer.api_server,
        token_file,
        ca_file,
        node_name: answer.node_name,
        data_dir: agent.config.data_dir.clone(),
    };
    Ok(Joined {
        runtime_line: command_line(&agent.config.runtime, &launch),
        audience,
    })
}

/// Attestation failures refuse the master; the rest are failures to reach it.
fn classify(url: &str, source: AttestedError) -> AgentError {
    if refuses_master(&source) {
        AgentError::MasterRefused {
            url: url.to_owned(),
            source,
        }
    } else {
        AgentError::Master {
            action: format!("attesting the master at {url}"),
            source,
        }
    }
}

/// Whether `error` refuses the master for what it attests (not a failure
/// to reach it).
pub(super) fn refuses_master(error: &AttestedError) -> bool {
    matches!(
        error,
        AttestedError::PcrMismatch { .. }
            | AttestedError::NonceMismatch { .. }
            | AttestedError::DevAttestationNotAllowed { .. }
            | AttestedError::Attestation(_)
            | AttestedError::TlsKeyNotAttested { .. }
            | AttestedError::UnexpectedServerKey { .. }
            | AttestedError::SigningKey { .. }
            | AttestedError::NoServerCertificate
            | AttestedError::DevRootMissing
    )
}

/// The configured audience, or the one the master's kubeconfig names.
pub(super) async fn audience(agent: &Agent, seal: SealTokenId) -> Result<String, AgentError> {
    if let Some(audience) = &agent.config.master.audience {
        return Ok(audience.clone());
    }
    let yaml = agent
        .master
        .kubectl_config(seal)
        .await
        .map_err(AgentError::master(
            "reading the cluster's audience from the master",
        ))?;
    served_audience(&yaml).ok_or_else(|| {
        AgentError::Local("the master's kubeconfig names no audience; set k3s.audience".to_owned())
    })
}

/// The value after `--audience` in a kubeconfig's exec arguments.
fn served_audience(yaml: &str) -> Option<String> {
    fn walk(value: &serde_json::Value) -> Option<String> {
        match value {
            serde_json::Value::Array(items) => items
                .windows(2)
                .find(|pair| pair[0] == "--audience")
                .and_then(|pair| pair[1].as_str().map(str::to_owned))
                .or_else(|| items.iter().find_map(walk)),
            serde_json::Value::Object(map) => map.values().find_map(walk),
            _ => None,
        }
    }
    walk(&daas_core::access::kubeconfig::from_yaml(yaml).ok()?)
}

/// The address this machine reaches `url` from (no packet is sent).
pub(super) fn local_ip(url: &str) -> IpAddr {
    let host_port = url
        .trim_start_matches("https://")
        .split('/')
        .next()
        .unwrap_or_default();
    UdpSocket::bind("0.0.0.0:0")
        .and_then(|socket| {
            socket.connect(host_port)?;
            socket.local_addr()
        })
        .map_or(IpAddr::from([127, 0, 0, 1]), |addr| addr.ip())
}

/// CPUs, memory and the data directory's file system, as quantities.
fn capacity(data_dir: &Path) -> Capacity {
    let cpu = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let memory_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .unwrap_or(0);
    let existing = data_dir
        .ancestors()
        .find(|dir| dir.exists())
        .unwrap_or(Path::new("/"));
    let storage_kib = rustix::fs::statvfs(existing)
        .map_or(0, |fs| fs.f_blocks.saturating_mul(fs.f_frsize) / 1024);
    Capacity {
        cpu: cpu.to_string(),
        memory: format!("{memory_kib}Ki"),
        storage: format!("{storage_kib}Ki"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audience_is_read_from_the_exec_arguments() {
        let yaml = "users:\n- name: u\n  user:\n    exec:\n      args: [\"credential\", \"--audience\", \"https://10.0.0.1:6443\"]\n";
        assert_eq!(
            served_audience(yaml).as_deref(),
            Some("https://10.0.0.1:6443")
        );
        assert_eq!(served_audience("users: []\n"), None);
    }

    #[test]
    fn capacity_is_made_of_quantities() {
        let capacity = capacity(Path::new("/nonexistent/k3s"));
        for value in [&capacity.cpu, &capacity.memory, &capacity.storage] {
            assert!(value.chars().all(|c| c.is_ascii_alphanumeric()), "{value}");
        }
    }
}
