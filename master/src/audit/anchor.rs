//! Creating this boot's on-chain log, signing checkpoints and anchoring
//! them.
//!
//! Every replica, leader or not, anchors its own log: the chain needs the
//! `Enclave` object of this boot's key, which the operator registers after
//! the master starts (from its attestation document), so the master learns
//! its id from the `EnclaveRegistered` event whose key is its own,
//! following events from its start. It then creates its `AuditLog` with
//! `audit::create_log` (signed by the same key; a create whose answer was
//! lost is found again from the `AuditLogCreated` event for its enclave)
//! and anchors its checkpoints there with `audit::anchor_checkpoint`,
//! oldest first, each only after the one before it is on chain: a chain
//! outage delays anchoring and loses nothing, and anchoring catches up in
//! order when the chain is back. No fencing is needed: the log has one
//! writer (the chain takes checkpoints for it only from its enclave), and
//! the chain refuses a tree that does not grow.
//!
//! A restarted master has a new key, hence a new enclave and a new log;
//! its leaf file is the same, so its first checkpoint covers every event
//! stored before, including those the previous boot signed but never
//! anchored.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use daas_core::api::audit::{AnchorRecord, AuditCheckpoint};
use daas_core::chain::ptb::{AuditCheckpointArgs, AuditLogArgs};
use daas_core::chain::{
    ChainClient, ChainError, EventFollower, MemoryCursorStore, StartAt, TransactionSigner,
};
use daas_core::package::PackageAbort;
use daas_core::package::PackageEvent;
use daas_core::package::audit::AuditAbort;
use daas_core::wallet::Keypair;
use sui_sdk_types::Address;
use tokio::sync::watch;
use tracing::{error, info, instrument, warn};

use super::{AnchorMismatch, AuditLog};
use daas_core::error_chain::one_line;

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
    /// Pays for creating the log and anchoring; `None`: neither.
    pub gas: Option<Arc<dyn TransactionSigner>>,
    /// This boot's enclave public key.
    pub public_key: [u8; 32],
}

/// What the chain watcher learned about this boot's enclave.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Found {
    /// The registered enclave of this boot's key.
    enclave: Option<EnclaveRef>,
    /// The first `AuditLog` created for that enclave.
    log: Option<Address>,
}

impl Anchoring {
    /// Creates this boot's log, signs and anchors until the task is
    /// dropped.
    pub async fn run(self) {
        let (found_tx, found_rx) = watch::channel(Found::default());
        let watcher = watch_chain(self.chain.clone(), self.public_key, found_tx);
        tokio::select! {
            () = watcher => {}
            () = self.sign_and_anchor(found_rx) => {}
        }
    }

    async fn sign_and_anchor(self, found: watch::Receiver<Found>) {
        if self.gas.is_none() {
            warn!(
                "audit.gas_key_file is not set: no audit log is created on chain and nothing is anchored"
            );
        }
        let mut backoff = TICK;
        let mut next_attempt = Instant::now();
        let mut checked = false;
        loop {
            tokio::time::sleep(TICK).await;
            self.sign_due().await;
            let seen = *found.borrow();
            let (Some(gas), Some(target)) = (&self.gas, seen.enclave) else {
                continue;
            };
            if Instant::now() < next_attempt {
                continue;
            }
            match self
                .step(gas.as_ref(), target, seen.log, &mut checked)
                .await
            {
                Ok(()) => backoff = TICK,
                Err(StepError::Chain(error)) => {
                    warn!(error = %one_line(&error), retry_in = ?backoff, "cannot create or anchor the audit log yet");
                    next_attempt = Instant::now() + backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                Err(StepError::Mismatch(mismatch)) => {
                    // Fail closed: anchoring a tree that does not extend
                    // the chain's would hide the damage.
                    error!(%mismatch, "the audit log disagrees with the chain; not anchoring");
                    return;
                }
            }
        }
    }

    /// Binds the log (creating it on chain if needed), checks the stored
    /// tree against the chain once, then anchors what is pending.
    async fn step(
        &self,
        gas: &dyn TransactionSigner,
        target: EnclaveRef,
        found_log: Option<Address>,
        checked: &mut bool,
    ) -> Result<(), StepError> {
        let log_id = match (self.log.log_id(), found_log) {
            (Some(bound), _) => bound,
            (None, Some(found)) => self.bind(found),
            (None, None) => {
                let created = self.create_log(gas, target).await?;
                self.bind(created)
            }
        };
        if !*checked {
            self.check_against_chain().await?;
            *checked = true;
        }
        self.anchor_pending(gas, target, log_id).await?;
        Ok(())
    }

    /// Binds the log to `log_id`; the first binding of the boot wins.
    fn bind(&self, log_id: Address) -> Address {
        match self.log.bind(log_id) {
            Ok(()) => {
                info!(log = %log_id, "this master's audit log is bound to its AuditLog on chain");
                log_id
            }
            Err(already) => already.bound,
        }
    }

    /// `audit::create_log` for this boot's enclave.
    #[instrument(skip_all, fields(enclave = %target.enclave_id), err(level = "debug"))]
    async fn create_log(
        &self,
        gas: &dyn TransactionSigner,
        target: EnclaveRef,
    ) -> Result<Address, ChainError> {
        let (timestamp_ms, signature) = self.log.sign_log_request(target.enclave_id);
        let args = AuditLogArgs {
            timestamp_ms,
            signature: &signature,
        };
        let created = self
            .chain
            .create_audit_log(gas, target.enclave_id, target.config_id, &args)
            .await?;
        info!(log = %created.event.log_id, tx_digest = %created.outcome.digest, "audit log created on chain");
        Ok(created.event.log_id)
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
                warn!(error = %one_line(&error), "cannot record an audit checkpoint")
            }
            Err(error) => warn!(%error, "the checkpoint signing task failed"),
        }
    }

    /// Checks the stored tree against what the chain anchored last for
    /// this state directory (in the log of the newest anchored checkpoint,
    /// whichever boot made it): the leaf file lost and changed nothing.
    async fn check_against_chain(&self) -> Result<(), StepError> {
        let Some(log_id) = self.log.last_anchored_log() else {
            return Ok(());
        };
        let anchored = self.chain.audit_log(log_id).await?.value;
        self.log
            .check_against_anchor(anchored.tree_size, &anchored.root)
            .map_err(StepError::Mismatch)
    }

    /// Anchors every pending checkpoint in `log_id`, oldest first.
    async fn anchor_pending(
        &self,
        gas: &dyn TransactionSigner,
        target: EnclaveRef,
        log_id: Address,
    ) -> Result<(), ChainError> {
        while let Some(checkpoint) = self.log.first_pending() {
            self.anchor_one(gas, target, log_id, &checkpoint).await?;
        }
        Ok(())
    }

    #[instrument(skip_all, fields(tree_size = checkpoint.tree_size), err(level = "debug"))]
    async fn anchor_one(
        &self,
        gas: &dyn TransactionSigner,
        target: EnclaveRef,
        log_id: Address,
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
        let anchored = self
            .chain
            .anchor_checkpoint(gas, log_id, target.enclave_id, target.config_id, &args)
            .await;
        let tx_digest = match anchored {
            Ok(called) => called.outcome.digest.to_string(),
            Err(error)
                if error.package_abort() == Some(PackageAbort::Audit(AuditAbort::TreeNotGrown)) =>
            {
                return self.already_anchored(log_id, checkpoint, &root).await;
            }
            Err(error) => return Err(error),
        };
        info!(%tx_digest, "audit checkpoint anchored");
        self.record(log_id, checkpoint.tree_size, target.enclave_id, tx_digest);
        Ok(())
    }

    /// The chain already holds a tree at least this large: an earlier
    /// attempt whose answer was lost anchored this checkpoint (then it is
    /// recorded, without its digest), or the chain moved past it (then it
    /// is dropped: a later checkpoint covers its events).
    async fn already_anchored(
        &self,
        log_id: Address,
        checkpoint: &AuditCheckpoint,
        root: &[u8],
    ) -> Result<(), ChainError> {
        let log = self.chain.audit_log(log_id).await?;
        match self
            .chain
            .audit_checkpoint(log.value.checkpoints.id, checkpoint.tree_size)
            .await?
        {
            Some(anchor) if anchor.root == root => {
                self.record(
                    log_id,
                    checkpoint.tree_size,
                    anchor.enclave_id,
                    String::new(),
                );
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

    fn record(&self, log_id: Address, tree_size: u64, enclave_id: Address, tx_digest: String) {
        let anchor = AnchorRecord {
            log_id: log_id.to_string(),
            enclave_id: enclave_id.to_string(),
            tx_digest,
        };
        if let Err(error) = self.log.mark_anchored(tree_size, anchor) {
            warn!(error = %one_line(&error), "cannot record an anchor; it will be re-checked");
        }
    }
}

/// Why a step of creating, checking and anchoring stopped.
#[derive(Debug, thiserror::Error)]
enum StepError {
    /// The chain failed or refused (retried).
    #[error("the chain failed or refused")]
    Chain(#[from] ChainError),
    /// The stored tree does not extend the anchored one (anchoring stops).
    #[error(transparent)]
    Mismatch(AnchorMismatch),
}

/// Follows events from the chain head, reporting the `EnclaveRegistered`
/// with this boot's key, then the first `AuditLogCreated` for that
/// enclave.
async fn watch_chain(chain: ChainClient, public_key: [u8; 32], found: watch::Sender<Found>) {
    let package = chain.package_id();
    let mut follower =
        EventFollower::new(chain, MemoryCursorStore::default()).with_start(StartAt::Latest);
    let mut backoff = TICK;
    loop {
        match follower.next().await {
            Ok(event) => {
                backoff = TICK;
                if let Ok(Some(decoded)) = event.decode(package) {
                    found.send_if_modified(|seen| learn(seen, &decoded, &public_key));
                }
                // The in-memory store cannot fail.
                let _ = follower.ack(&event).await;
            }
            Err(error) => {
                warn!(error = %one_line(&error), "cannot follow chain events for the enclave registration");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Updates what is known of this boot's enclave and log from one event;
/// returns whether anything changed.
fn learn(seen: &mut Found, event: &PackageEvent, public_key: &[u8; 32]) -> bool {
    match event {
        PackageEvent::EnclaveRegistered(registered)
            if seen.enclave.is_none() && registered.pk == public_key =>
        {
            info!(enclave = %registered.enclave_id, "this master's enclave key is registered on chain");
            seen.enclave = Some(EnclaveRef {
                enclave_id: registered.enclave_id,
                config_id: registered.config_id,
            });
            true
        }
        PackageEvent::AuditLogCreated(created)
            if seen.log.is_none()
                && seen.enclave.map(|e| e.enclave_id) == Some(created.enclave_id) =>
        {
            seen.log = Some(created.log_id);
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use daas_core::package::audit::AuditLogCreated;
    use daas_core::package::enclave::EnclaveRegistered;

    use super::*;

    #[test]
    fn the_watcher_learns_its_enclave_then_the_first_log_for_it() {
        let key = [9; 32];
        let registered = |pk: [u8; 32], id: u8| {
            PackageEvent::EnclaveRegistered(EnclaveRegistered {
                enclave_id: Address::new([id; 32]),
                config_id: Address::new([0xc0; 32]),
                config_version: 0,
                pk: pk.to_vec(),
                owner: Address::new([1; 32]),
                registered_at_ms: 0,
            })
        };
        let created = |enclave: u8, log: u8| {
            PackageEvent::AuditLogCreated(AuditLogCreated {
                log_id: Address::new([log; 32]),
                enclave_id: Address::new([enclave; 32]),
                created_at_ms: 0,
            })
        };
        let mut seen = Found::default();
        // A log before the enclave is known, another key's enclave.
        assert!(!learn(&mut seen, &created(0xe1, 0x11), &key));
        assert!(!learn(&mut seen, &registered([8; 32], 0xe0), &key));
        assert!(learn(&mut seen, &registered(key, 0xe1), &key));
        // Another enclave's log, then ours, then a later one for ours.
        assert!(!learn(&mut seen, &created(0xe0, 0x10), &key));
        assert!(learn(&mut seen, &created(0xe1, 0x12), &key));
        assert!(!learn(&mut seen, &created(0xe1, 0x13), &key));
        assert_eq!(seen.log, Some(Address::new([0x12; 32])));
        assert_eq!(
            seen.enclave.map(|e| e.enclave_id),
            Some(Address::new([0xe1; 32]))
        );
    }

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
