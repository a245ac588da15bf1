//! Leaving the cluster (`daas-agent unstake`), each step persisted before
//! the next so that a restart continues where the agent stopped:
//!
//! 1. **draining**: ask the master (signed drain proof) to cordon and drain
//!    the node, and repeat until no pod is left or the drain timeout passed;
//! 2. **requesting**: request unstake on chain (skipped if the chain
//!    already shows it), then stop the runtime; the master revokes the
//!    Node on the `UnstakeRequested` event;
//! 3. **unbonding**: wait until the unbonding period ends on the chain's
//!    clock, then withdraw the stake.

use std::time::Duration;

use daas_core::access::worker::chain_time_ms;
use daas_core::access::worker_proof::Purpose;
use daas_core::api::nodes::DrainRequest;
use daas_core::attested::AttestedError;
use daas_core::clock::format_ms;
use daas_core::package::SealTokenId;
use daas_core::package::staking::TokenStatus;
use tracing::{info, warn};

use super::{Agent, AgentError, Outcome, crash, join};
use crate::runtime::{Supervisor, stop_left_over};
use crate::state::{Phase, UnstakeStep};

/// How often the drain is followed.
const DRAIN_POLL: Duration = Duration::from_secs(2);
/// Longest wait between reads of the unbonding clock.
const UNBONDING_POLL: Duration = Duration::from_secs(5);

/// Runs the unstake steps from the persisted one. `running` is the runtime
/// (and the cluster's audience) when the agent was serving.
///
/// # Errors
/// The chain or master failed; the step reached is persisted.
pub async fn leave(
    agent: &mut Agent,
    running: Option<(Supervisor, String)>,
) -> Result<Outcome, AgentError> {
    let Some(seal) = join::staked(agent).await? else {
        return nothing_staked(agent);
    };
    let (supervisor, audience) = match running {
        Some((supervisor, audience)) => (Some(supervisor), Some(audience)),
        None => (None, None),
    };
    if step(agent) == Some(UnstakeStep::Draining) {
        drain(agent, seal, audience).await?;
        set_step(agent, UnstakeStep::Requesting)?;
        crash::point("drained");
    }
    if step(agent) == Some(UnstakeStep::Requesting) {
        request_unstake(agent, seal).await?;
        set_step(agent, UnstakeStep::Unbonding)?;
        crash::point("unstake-requested");
    }
    match supervisor {
        Some(supervisor) => supervisor.stop().await,
        None => stop_left_over(&agent.runtime_pid_file(), &agent.config.runtime.command).await,
    }
    crash::point("runtime-stopped");
    withdraw(agent, seal).await?;
    agent.state.phase = Phase::Withdrawn;
    agent.save()?;
    remove_unstake_request(agent);
    info!(%seal, "the stake was withdrawn; the node left the cluster");
    Ok(Outcome::Left)
}

/// Leaving a node that holds no stake: nothing to do, and the state stays
/// as it was, so the node may still join later.
fn nothing_staked(agent: &mut Agent) -> Result<Outcome, AgentError> {
    agent.state.phase = Phase::Joining;
    agent.save()?;
    remove_unstake_request(agent);
    warn!(
        node = %agent.config.node,
        owner = %agent.key.address(),
        "nothing to leave: the wallet holds no active stake for this node (manage other stakes with `daas-console stake status`)"
    );
    Ok(Outcome::Left)
}

fn remove_unstake_request(agent: &Agent) {
    if let Err(error) = std::fs::remove_file(agent.store.path(super::UNSTAKE_REQUEST_FILE))
        && error.kind() != std::io::ErrorKind::NotFound
    {
        warn!(%error, "the unstake request file was not removed");
    }
}

fn step(agent: &Agent) -> Option<UnstakeStep> {
    match agent.state.phase {
        Phase::Unstaking { step } => Some(step),
        _ => None,
    }
}

fn set_step(agent: &mut Agent, step: UnstakeStep) -> Result<(), AgentError> {
    agent.state.phase = Phase::Unstaking { step };
    agent.save()
}

/// Asks the master to drain until no pod is left or the timeout passed. A
/// master that does not know the node (never registered, already revoked)
/// has nothing to drain.
async fn drain(
    agent: &Agent,
    seal: SealTokenId,
    audience: Option<String>,
) -> Result<(), AgentError> {
    let audience = match audience {
        Some(audience) => audience,
        None => join::audience(agent, seal).await?,
    };
    let node = agent.config.node.as_str();
    let deadline = tokio::time::Instant::now() + agent.config.drain_timeout;
    loop {
        let request = DrainRequest {
            proof: agent.proof(Purpose::Drain, seal, &audience)?,
        };
        match agent.master.drain_node(node, &request).await {
            Ok(answer) if answer.pods_remaining == 0 => {
                info!(cordoned = answer.cordoned, "the node is drained");
                return Ok(());
            }
            Ok(answer) => info!(pods_remaining = answer.pods_remaining, "draining"),
            Err(AttestedError::Status { status, error, .. }) if matches!(status, 403 | 404) => {
                warn!(status, %error, "the master will not drain the node; nothing to drain");
                return Ok(());
            }
            Err(error) => warn!(%error, "drain request failed; retrying"),
        }
        if tokio::time::Instant::now() >= deadline {
            warn!(timeout = ?agent.config.drain_timeout, "pods are still on the node; unstaking anyway (the master removes them)");
            return Ok(());
        }
        tokio::time::sleep(DRAIN_POLL).await;
    }
}

/// Requests unstake unless the chain already shows it (or the withdrawal).
async fn request_unstake(agent: &Agent, seal: SealTokenId) -> Result<(), AgentError> {
    if !matches!(
        token_status(agent, seal).await?.1,
        Some(TokenStatus::Active | TokenStatus::Expired { .. } | TokenStatus::UnderStaked { .. })
    ) {
        return Ok(());
    }
    let called = agent
        .chain
        .request_unstake(&agent.key, seal)
        .await
        .map_err(AgentError::chain(format!("requesting unstake of {seal}")))?;
    info!(digest = %called.outcome.digest, until = %format_ms(called.event.unbonding_until_ms), "unstake requested");
    Ok(())
}

/// The chain's time and the token's status then; `None` once withdrawn
/// (no stake record or no token object).
async fn token_status(
    agent: &Agent,
    seal: SealTokenId,
) -> Result<(u64, Option<TokenStatus>), AgentError> {
    let now_ms = chain_time_ms(&agent.chain)
        .await
        .map_err(AgentError::chain("reading the chain's clock"))?;
    match agent.chain.seal_token_state(seal).await {
        Ok(state) => Ok((now_ms, state.status(now_ms))),
        Err(daas_core::chain::ChainError::ObjectNotFound { .. }) => Ok((now_ms, None)),
        Err(error) => Err(AgentError::chain(format!("reading seal token {seal}"))(
            error,
        )),
    }
}

/// Waits for the end of unbonding, then withdraws (once). The wait is said
/// once, not at every read of the clock: unbonding lasts days.
async fn withdraw(agent: &Agent, seal: SealTokenId) -> Result<(), AgentError> {
    let mut said = None;
    loop {
        let (now_ms, status) = token_status(agent, seal).await?;
        let wait_ms = match status {
            None => return Ok(()),
            Some(TokenStatus::Unbonding { until_ms }) => {
                if said != Some(until_ms) {
                    said = Some(until_ms);
                    info!(until = %format_ms(until_ms), "unbonding; the stake is withdrawn when it ends (stopping and running `daas-agent unstake` again resumes the wait)");
                }
                until_ms.saturating_sub(now_ms)
            }
            Some(_) => 0,
        };
        if wait_ms == 0 {
            match agent.chain.withdraw(&agent.key, seal).await {
                Ok(called) => {
                    info!(digest = %called.outcome.digest, amount = %called.event.amount, "withdrawn");
                    return Ok(());
                }
                Err(error) if error.move_abort().is_some() => {
                    warn!(%error, "withdraw refused for now; waiting");
                }
                Err(error) => return Err(AgentError::chain(format!("withdrawing {seal}"))(error)),
            }
        }
        tokio::time::sleep(Duration::from_millis(wait_ms.max(1000)).min(UNBONDING_POLL)).await;
    }
}
