//! Signing checkpoints and anchoring them on chain.
//!
//! Every replica signs checkpoints of its log on the policy's schedule.
//! The leader (the replica holding the reconciler's Lease) anchors them
//! with `audit::anchor_checkpoint`, oldest first, each only after the one
//! before it is on chain: a chain outage delays anchoring and loses
//! nothing, and anchoring catches up in order when the chain is back.
//! Each anchoring transaction is sent only after the leader's [`Fence`]
//! confirmed its term still holds: a stale leader anchors nothing.
//!
//! The chain needs the `Enclave` object of this boot's key. The operator
//! registers it after the master starts (from its attestation document),
//! so the master learns its id from the `EnclaveRegistered` event whose
//! key is its own, following events from its start.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use daas_core::api::audit::{AnchorRecord, AuditCheckpoint};
use daas_core::chain::ptb::AuditCheckpointArgs;
use daas_core::chain::{
    ChainClient, ChainError, CursorStore, EventCursor, EventFollower, StartAt, TransactionSigner,
};
use daas_core::package::PackageAbort;
use daas_core::package::PackageEvent;
use daas_core::package::audit::AuditAbort;
use daas_core::wallet::Keypair;
use sui_sdk_types::Address;
use tokio::sync::watch;
use tracing::{error, info, instrument, warn};

use super::{AnchorMismatch, AuditLog};
use crate::leader::{Fence, FenceError, error_chain};
use crate::reconcile::ReconcilerStatus;

/// Why anchoring stopped for now (it is retried).
#[derive(Debug, thiserror::Error)]
enum AnchorError {
    /// This replica's term of leadership does not hold.
    #[error("not anchoring: leadership does not hold")]
    Fenced(#[from] FenceError),
    /// The chain failed or refused.
    #[error("anchoring failed")]
    Chain(#[from] ChainError),
}

/// How often the loop looks for due checkpoints and pending anchors.
const TICK: Duration = Duration::from_millis(200);
/// Longest wait between anchoring attempts while the chain fails.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Why the gas key cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GasKeyError {
    /// The file cannot be read.
    #[error("cannot read audit.gas_key_file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file holds no `suiprivkey1…` key.
    #[error("audit.gas_key_file {path} holds no suiprivkey1… key")]
    Malformed {
        /// The file.
        path: String,
    },
}

/// Loads the key that pays for anchoring from a `suiprivkey1…` file.
///
/// # Errors
/// [`GasKeyError`] naming the file.
pub fn load_gas_key(path: &Path) -> Result<Keypair, GasKeyError> {
    let text = zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|source| {
        GasKeyError::Read {
            path: path.display().to_string(),
            source,
        }
    })?);
    Keypair::from_suiprivkey(text.trim()).map_err(|_| GasKeyError::Malformed {
        path: path.display().to_string(),
    })
}

/// The on-chain enclave of this boot's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnclaveRef {
    /// The `Enclave` object.
    pub enclave_id: Address,
    /// Its `EnclaveConfig`.
    pub config_id: Address,
}

/// What the anchoring loop needs.
pub struct Anchoring {
    /// The log.
    pub log: Arc<AuditLog>,
    /// The chain.
    pub chain: ChainClient,
    /// Pays for anchoring; `None`: sign only.
    pub gas: Option<Arc<dyn TransactionSigner>>,
    /// This boot's enclave public key.
    pub public_key: [u8; 32],
    /// The reconciler's status (who leads).
    pub status: watch::Receiver<ReconcilerStatus>,
    /// The fence of the current term of leadership.
    pub fence: watch::Receiver<Option<Fence>>,
}

impl Anchoring {
    /// Signs and (when leading) anchors until the task is dropped.
    pub async fn run(self) {
        let (enclave_tx, enclave_rx) = watch::channel(None);
        let watcher = watch_registration(self.chain.clone(), self.public_key, enclave_tx);
        tokio::select! {
            () = watcher => {}
            () = self.sign_and_anchor(enclave_rx) => {}
        }
    }

    async fn sign_and_anchor(self, enclave: watch::Receiver<Option<EnclaveRef>>) {
        if self.gas.is_none() {
            warn!("audit.gas_key_file is not set: checkpoints are signed but not anchored");
        }
        let mut backoff = TICK;
        let mut next_attempt = Instant::now();
        let mut checked = false;
        loop {
            tokio::time::sleep(TICK).await;
            self.sign_due().await;
            let leading = self.status.borrow().leader;
            let target = *enclave.borrow();
            let fence = self.fence.borrow().clone();
            let (Some(gas), Some(target), Some(fence), true) = (&self.gas, target, fence, leading)
            else {
                continue;
            };
            if Instant::now() < next_attempt {
                continue;
            }
            if !checked {
                match self.check_against_chain().await {
                    Ok(()) => checked = true,
                    Err(CheckError::Chain(error)) => {
                        warn!(error = %error_chain(&error), retry_in = ?backoff, "cannot read the anchored audit log yet");
                        next_attempt = Instant::now() + backoff;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        continue;
                    }
                    Err(CheckError::Mismatch(mismatch)) => {
                        // Fail closed: anchoring a tree that does not
                        // extend the chain's would hide the damage.
                        error!(%mismatch, "the audit log disagrees with the chain; not anchoring");
                        return;
                    }
                }
            }
            match self.anchor_pending(gas.as_ref(), target, &fence).await {
                Ok(()) => backoff = TICK,
                Err(error) => {
                    warn!(error = %error_chain(&error), retry_in = ?backoff, "cannot anchor an audit checkpoint yet");
                    next_attempt = Instant::now() + backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    async fn sign_due(&self) {
        let log = Arc::clone(&self.log);
        let signed =
            tokio::task::spawn_blocking(move || log.sign_if_due(Instant::now(), false)).await;
        match signed {
            Ok(Ok(Some(checkpoint))) => {
                info!(tree_size = checkpoint.tree_size, root = %checkpoint.root, "audit checkpoint signed");
            }
            Ok(Ok(None)) => {}
            Ok(Err(error)) => {
                warn!(error = %error_chain(&error), "cannot record an audit checkpoint")
            }
            Err(error) => warn!(%error, "the checkpoint signing task failed"),
        }
    }

    /// Checks the stored tree against the chain's last anchored checkpoint.
    async fn check_against_chain(&self) -> Result<(), CheckError> {
        let anchored = self
            .chain
            .audit_log(self.log.log_id())
            .await
            .map_err(CheckError::Chain)?
            .value;
        self.log
            .check_against_anchor(anchored.tree_size, &anchored.root)
            .map_err(CheckError::Mismatch)
    }

    /// Anchors every pending checkpoint, oldest first.
    async fn anchor_pending(
        &self,
        gas: &dyn TransactionSigner,
        target: EnclaveRef,
        fence: &Fence,
    ) -> Result<(), AnchorError> {
        while let Some(checkpoint) = self.log.first_pending() {
            fence.check().await?;
            self.anchor_one(gas, target, &checkpoint).await?;
        }
        Ok(())
    }

    #[instrument(skip_all, fields(tree_size = checkpoint.tree_size), err)]
    async fn anchor_one(
        &self,
        gas: &dyn TransactionSigner,
        target: EnclaveRef,
        checkpoint: &AuditCheckpoint,
    ) -> Result<(), ChainError> {
        let (Ok(root), Ok(signature)) = (
            hex::decode(&checkpoint.root),
            hex::decode(&checkpoint.signature),
        ) else {
            warn!("a stored checkpoint is malformed; skipping it");
            self.log.drop_pending(checkpoint.tree_size);
            return Ok(());
        };
        let args = AuditCheckpointArgs {
            tree_size: checkpoint.tree_size,
            root: &root,
            timestamp_ms: checkpoint.timestamp_ms,
            signature: &signature,
        };
        let log_id = self.log.log_id();
        let anchored = self
            .chain
            .anchor_checkpoint(gas, log_id, target.enclave_id, target.config_id, &args)
            .await;
        let tx_digest = match anchored {
            Ok(called) => called.outcome.digest.to_string(),
            Err(error)
                if error.package_abort() == Some(PackageAbort::Audit(AuditAbort::TreeNotGrown)) =>
            {
                return self.already_anchored(checkpoint, &root).await;
            }
            Err(error) => return Err(error),
        };
        info!(%tx_digest, "audit checkpoint anchored");
        self.record(checkpoint.tree_size, target.enclave_id, tx_digest);
        Ok(())
    }

    /// The chain already holds a tree at least this large: an earlier
    /// attempt whose answer was lost anchored this checkpoint (then it is
    /// recorded, without its digest), or the chain moved past it (then it
    /// is dropped: a later checkpoint covers its events).
    async fn already_anchored(
        &self,
        checkpoint: &AuditCheckpoint,
        root: &[u8],
    ) -> Result<(), ChainError> {
        let log = self.chain.audit_log(self.log.log_id()).await?;
        match self
            .chain
            .audit_checkpoint(log.value.checkpoints.id, checkpoint.tree_size)
            .await?
        {
            Some(anchor) if anchor.root == root => {
                self.record(checkpoint.tree_size, anchor.enclave_id, String::new());
            }
            _ => {
                warn!(
                    tree_size = checkpoint.tree_size,
                    anchored = log.value.tree_size,
                    "the chain holds a larger audit tree; dropping this checkpoint"
                );
                self.log.drop_pending(checkpoint.tree_size);
            }
        }
        Ok(())
    }

    fn record(&self, tree_size: u64, enclave_id: Address, tx_digest: String) {
        let anchor = AnchorRecord {
            log_id: self.log.log_id().to_string(),
            enclave_id: enclave_id.to_string(),
            tx_digest,
        };
        if let Err(error) = self.log.mark_anchored(tree_size, anchor) {
            warn!(error = %error_chain(&error), "cannot record an anchor; it will be re-checked");
        }
    }
}

/// Why the stored tree could not be checked against the chain.
enum CheckError {
    /// The chain could not be read.
    Chain(ChainError),
    /// The stored tree does not extend the anchored one.
    Mismatch(AnchorMismatch),
}

/// A cursor that lives only in the watcher: it starts at the chain head.
struct FromStart;

impl CursorStore for FromStart {
    async fn load(&self) -> Result<Option<EventCursor>, ChainError> {
        Ok(None)
    }

    async fn store(&self, _cursor: EventCursor) -> Result<(), ChainError> {
        Ok(())
    }
}

/// Follows events from the chain head until an `EnclaveRegistered` with
/// this boot's key, then reports it and returns to idle.
async fn watch_registration(
    chain: ChainClient,
    public_key: [u8; 32],
    found: watch::Sender<Option<EnclaveRef>>,
) {
    let package = chain.package_id();
    let mut follower = EventFollower::new(chain, FromStart).with_start(StartAt::Latest);
    let mut backoff = TICK;
    loop {
        match follower.next().await {
            Ok(event) => {
                backoff = TICK;
                if let Ok(Some(PackageEvent::EnclaveRegistered(registered))) = event.decode(package)
                    && registered.pk == public_key
                {
                    info!(enclave = %registered.enclave_id, "this master's enclave key is registered on chain");
                    found.send_replace(Some(EnclaveRef {
                        enclave_id: registered.enclave_id,
                        config_id: registered.config_id,
                    }));
                }
                // The in-memory store cannot fail.
                let _ = follower.ack(&event).await;
            }
            Err(error) => {
                warn!(error = %error_chain(&error), "cannot follow chain events for the enclave registration");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_gas_key_file_must_hold_a_suiprivkey() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.key");
        assert!(matches!(
            load_gas_key(&missing),
            Err(GasKeyError::Read { .. })
        ));
        let bad = dir.path().join("bad.key");
        std::fs::write(&bad, "not a key\n").unwrap();
        let error = load_gas_key(&bad).unwrap_err();
        assert!(matches!(error, GasKeyError::Malformed { .. }));
        // The message names the file, never its contents.
        assert!(!error.to_string().contains("not a key"), "{error}");
        let key = Keypair::from_bytes(daas_core::wallet::Scheme::Ed25519, &[0x6a; 32]).unwrap();
        let good = dir.path().join("gas.key");
        std::fs::write(&good, format!("{}\n", key.to_suiprivkey().as_str())).unwrap();
        assert_eq!(load_gas_key(&good).unwrap().address(), key.address());
    }
}
