//! Slashing: propose (anyone, with a reason and the hash of evidence kept
//! off chain), the queue of pending proposals with what each would take,
//! the history of decided ones (from the package's events), and approve or
//! reject with the wallet's `SlasherCap`.

use daas_core::chain::{ChainClient, ChainError, EventFollower, MemoryCursorStore, StartAt};
use daas_core::package::staking::SlasherCap;
use daas_core::package::{Mist, MoveStruct as _, PackageEvent, SealTokenId};
use daas_core::wallet::Keypair;
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use sui_sdk_types::{Address, Digest};

use super::{Context, OpsError};

/// A pending proposal and what approving it would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Proposal {
    /// The proposal's id.
    pub id: u64,
    /// The seal token it targets.
    pub seal_token: SealTokenId,
    /// Who proposed it.
    pub reporter: Address,
    /// Why.
    pub reason: String,
    /// SHA-256 of the evidence (hex).
    pub evidence_hash: String,
    /// When (ms).
    pub created_at_ms: u64,
    /// The token's owner, if it still exists.
    pub owner: Option<Address>,
    /// The worker's node name (empty for a user).
    pub node: String,
    /// The stake now.
    pub stake: Option<Mist>,
    /// What approving would take at the current rate.
    pub amount: Option<Mist>,
}

/// A decided proposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decided {
    /// The proposal's id.
    pub id: u64,
    /// The seal token.
    pub seal_token: SealTokenId,
    /// `approved` or `rejected`.
    pub outcome: &'static str,
    /// Who decided.
    pub by: Address,
    /// What was slashed (approved only).
    pub slashed: Option<Mist>,
    /// The reason given when it was proposed, if seen.
    pub reason: String,
    /// The deciding transaction.
    pub digest: Digest,
}

/// Every pending proposal, oldest first.
///
/// # Errors
/// The chain failed.
pub async fn pending(ctx: &Context) -> Result<Vec<Proposal>, OpsError> {
    let chain = ctx.chain()?;
    let pool = chain.stake_pool().await?.value;
    let mut proposals = Vec::new();
    for id in 0..pool.next_proposal_id {
        let Some(proposal) = chain.slash_proposal(id).await? else {
            continue;
        };
        let state = match chain.seal_token_state(proposal.token_id).await {
            Ok(state) => Some(state),
            Err(ChainError::ObjectNotFound { .. }) => None,
            Err(error) => return Err(error.into()),
        };
        let record = state.as_ref().and_then(|s| s.record.as_ref());
        proposals.push(Proposal {
            id,
            seal_token: proposal.token_id,
            reporter: proposal.reporter,
            reason: proposal.reason,
            evidence_hash: hex::encode(&proposal.evidence_hash),
            created_at_ms: proposal.created_at_ms,
            owner: record.map(|r| r.owner),
            node: state
                .as_ref()
                .map(|s| String::from_utf8_lossy(&s.token.value.node_id).into_owned())
                .unwrap_or_default(),
            stake: record.map(|r| r.stake),
            amount: record.map(|r| pool.params.slash_amount(r.stake)),
        });
    }
    Ok(proposals)
}

/// Every decided proposal, in chain order, from the package's events.
///
/// # Errors
/// The chain failed.
pub async fn history(ctx: &Context) -> Result<Vec<Decided>, OpsError> {
    let chain = ctx.chain()?;
    let package = chain.package_id();
    let mut follower =
        EventFollower::new(chain, MemoryCursorStore::default()).with_start(StartAt::Genesis);
    let mut reasons = std::collections::HashMap::new();
    let mut decided = Vec::new();
    while let Some(event) = follower.try_next().await? {
        let Ok(Some(decoded)) = event.decode(package) else {
            continue;
        };
        match decoded {
            PackageEvent::SlashProposed(e) => {
                reasons.insert(e.proposal_id, e.reason);
            }
            PackageEvent::SlashApproved(e) => decided.push(Decided {
                id: e.proposal_id,
                seal_token: e.token_id,
                outcome: "approved",
                by: e.approver,
                slashed: Some(e.slashed),
                reason: reasons.remove(&e.proposal_id).unwrap_or_default(),
                digest: event.transaction_digest,
            }),
            PackageEvent::SlashRejected(e) => decided.push(Decided {
                id: e.proposal_id,
                seal_token: e.token_id,
                outcome: "rejected",
                by: e.rejecter,
                slashed: None,
                reason: reasons.remove(&e.proposal_id).unwrap_or_default(),
                digest: event.transaction_digest,
            }),
            _ => {}
        }
    }
    Ok(decided)
}

/// A submitted proposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Proposed {
    /// The new proposal's id.
    pub id: u64,
    /// The seal token.
    pub seal_token: SealTokenId,
    /// SHA-256 of the evidence (hex).
    pub evidence_hash: String,
    /// The transaction.
    pub digest: Digest,
}

/// Proposes slashing `token` for `reason`, with the SHA-256 of `evidence`
/// on chain (the evidence itself stays with the reporter).
///
/// # Errors
/// Read-only session; an empty reason; the chain refused.
pub async fn propose(
    ctx: &Context,
    signer: &Keypair,
    token: SealTokenId,
    reason: &str,
    evidence: &[u8],
) -> Result<Proposed, OpsError> {
    ctx.ensure_writable("propose a slash")?;
    if reason.trim().is_empty() {
        return Err(OpsError::Invalid {
            what: "slash reason",
            value: reason.to_owned(),
            reason: "say why the stake should be slashed".to_owned(),
        });
    }
    let hash: [u8; 32] = Sha256::digest(evidence).into();
    let called = ctx
        .chain()?
        .propose_slash(signer, token, &hash, reason)
        .await?;
    Ok(Proposed {
        id: called.event.proposal_id,
        seal_token: token,
        evidence_hash: hex::encode(hash),
        digest: called.outcome.digest,
    })
}

/// The `SlasherCap` `owner` holds, if any.
///
/// # Errors
/// The chain failed.
pub async fn slasher_cap(chain: &ChainClient, owner: Address) -> Result<Option<Address>, OpsError> {
    let caps = chain
        .owned_objects_of_type(owner, &SlasherCap::struct_tag(chain.package_id()))
        .await?;
    Ok(caps.into_iter().next())
}

/// A decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Slash the stake.
    Approve,
    /// Drop the proposal.
    Reject,
}

/// A decision made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DecisionMade {
    /// The proposal.
    pub id: u64,
    /// `approved` or `rejected`.
    pub outcome: &'static str,
    /// What was slashed.
    pub slashed: Option<Mist>,
    /// The transaction.
    pub digest: Digest,
}

/// Approves or rejects proposal `id` with the signer's `SlasherCap`.
///
/// # Errors
/// Read-only session; the signer holds no `SlasherCap`; the chain refused
/// (e.g. an unknown proposal).
pub async fn decide(
    ctx: &Context,
    signer: &Keypair,
    id: u64,
    decision: Decision,
) -> Result<DecisionMade, OpsError> {
    ctx.ensure_writable(match decision {
        Decision::Approve => "approve a slash",
        Decision::Reject => "reject a slash",
    })?;
    let chain = ctx.chain()?;
    let cap = slasher_cap(&chain, signer.address())
        .await?
        .ok_or_else(|| {
            OpsError::Refused(format!(
                "{} holds no SlasherCap: only a slasher may decide proposals",
                signer.address()
            ))
        })?;
    Ok(match decision {
        Decision::Approve => {
            let called = chain.approve_slash(signer, cap, id).await?;
            DecisionMade {
                id,
                outcome: "approved",
                slashed: Some(called.event.slashed),
                digest: called.outcome.digest,
            }
        }
        Decision::Reject => {
            let called = chain.reject_slash(signer, cap, id).await?;
            DecisionMade {
                id,
                outcome: "rejected",
                slashed: None,
                digest: called.outcome.digest,
            }
        }
    })
}
