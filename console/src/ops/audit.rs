//! Checking the master's audit log against the chain, trusting the master
//! for nothing: the event it serves must hash into the tree whose root the
//! chain anchored, in a checkpoint signed by the key the chain registered
//! for the anchoring enclave. Each master replica (and each boot) anchors
//! its own `AuditLog`; the served checkpoint names the log, and the chain
//! says which enclave that log is bound to.
//!
//! The master serves its audit log only to stakers: every request carries
//! an access token signed by the wallet for one of its seal tokens (the
//! one named, else its only active user token).

use daas_core::access::AccessToken;
use daas_core::api::MasterClient;
use daas_core::api::audit::AuditCheckpointList;
use daas_core::attested::AttestedError;
use daas_core::audit::AuditLeaf;
use daas_core::audit::verify::verify_event_proof;
use daas_core::package::SealTokenId;
use serde::Serialize;
use sui_sdk_types::Address;

use super::{Context, OpsError, Unlock};
use crate::config::PcrSource;

/// A verified event and what proves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifiedEvent {
    /// The event.
    pub event: AuditLeaf,
    /// Its leaf index.
    pub leaf_index: u64,
    /// The anchored tree it is in.
    pub tree_size: u64,
    /// That tree's root (hex).
    pub root: String,
    /// The on-chain `AuditLog`.
    pub log_id: Address,
    /// The enclave whose registered key signed the checkpoint.
    pub enclave_id: Address,
    /// That key (hex).
    pub enclave_public_key: String,
    /// When the chain anchored it (ms since the epoch, chain time).
    pub anchored_at_ms: u64,
    /// The anchoring transaction, as the master recorded it (empty when
    /// an earlier attempt's answer was lost).
    pub tx_digest: String,
}

/// A signed access token for reading the master's audit log through
/// `seal_token` (default: the wallet's only active user token).
async fn read_token(
    ctx: &Context,
    master: &MasterClient,
    seal_token: Option<SealTokenId>,
    unlock: &dyn Unlock,
) -> Result<AccessToken, OpsError> {
    let seal_token = match seal_token {
        Some(token) => token,
        None => super::stake::only_active_user_token(ctx).await?,
    };
    let (token, _) = super::kubeconfig::request_token(ctx, master, seal_token, unlock).await?;
    Ok(token)
}

/// Verifies event `audit_id`, read with an access token for `seal_token`:
/// leaf → inclusion proof → checkpoint signature by the enclave key read
/// from the chain → the chain's anchor of that checkpoint in the log the
/// checkpoint names, bound on chain to that enclave.
///
/// # Errors
/// [`OpsError::AuditVerify`] naming the step that failed;
/// [`OpsError::Refused`] for an event not yet anchored; master (401/403
/// for a reader the master refuses), wallet and chain errors.
pub async fn verify_event(
    ctx: &Context,
    audit_id: &str,
    seal_token: Option<SealTokenId>,
    unlock: &dyn Unlock,
) -> Result<VerifiedEvent, OpsError> {
    let master = ctx.master().await?;
    let token = read_token(ctx, &master, seal_token, unlock).await?;
    let served = match master.audit_event(audit_id, &token).await {
        Err(AttestedError::Status { status: 404, .. }) => {
            return Err(OpsError::Refused(format!(
                "the master's audit log holds no event {audit_id:?} (yet: the API server sends \
                 events in batches, so a request of the last few seconds may still be on its \
                 way; try again shortly)"
            )));
        }
        served => served?,
    };
    let Some(record) = &served.checkpoint.anchor else {
        return Err(OpsError::Refused(format!(
            "event {audit_id} is in checkpoint {} of the master's log, which is not anchored on \
             chain yet; try again shortly",
            served.checkpoint.tree_size
        )));
    };
    let log_id: Address = record.log_id.parse().map_err(|_| {
        OpsError::Refused(format!(
            "the master names no AuditLog id: {:?}",
            record.log_id
        ))
    })?;
    let chain = ctx.chain()?;
    // Typed reads: only the package's own AuditLog and Enclave objects
    // decode, so the master cannot point at look-alikes.
    let log = chain.audit_log(log_id).await?;
    let tree_size = served.checkpoint.tree_size;
    let anchor = chain
        .audit_checkpoint(log.value.checkpoints.id, tree_size)
        .await?
        .ok_or_else(|| {
            OpsError::Refused(format!(
                "the chain holds no checkpoint of {tree_size} events in AuditLog {log_id}, \
                 though the master says it anchored one"
            ))
        })?;
    let enclave = chain.enclave(anchor.enclave_id).await?.value;
    if let Some(PcrSource::EnclaveConfig(config)) =
        ctx.settings().master.as_ref().map(|master| &master.pcrs)
        && enclave.config_id != *config
    {
        return Err(OpsError::Refused(format!(
            "the checkpoint was signed by enclave {} of EnclaveConfig {}, not of the profile's {config}",
            enclave.id, enclave.config_id
        )));
    }
    let verified = verify_event_proof(audit_id, &served, &log.value, &anchor, &enclave)?;
    Ok(VerifiedEvent {
        event: served.event,
        leaf_index: verified.leaf_index,
        tree_size: verified.tree_size,
        root: hex::encode(verified.root),
        log_id,
        enclave_id: enclave.id,
        enclave_public_key: hex::encode(&enclave.pk),
        anchored_at_ms: anchor.anchored_at_ms,
        tx_digest: record.tx_digest.clone(),
    })
}

/// The master's signed checkpoints, oldest first, read with an access
/// token for `seal_token`.
///
/// # Errors
/// Master (401 for a reader the master refuses), wallet and chain errors.
pub async fn checkpoints(
    ctx: &Context,
    seal_token: Option<SealTokenId>,
    unlock: &dyn Unlock,
) -> Result<AuditCheckpointList, OpsError> {
    let master = ctx.master().await?;
    let token = read_token(ctx, &master, seal_token, unlock).await?;
    Ok(master.audit_checkpoints(&token).await?)
}
