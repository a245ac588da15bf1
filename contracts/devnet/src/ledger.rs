//! The ledger: the store plus the single writer that executes transactions,
//! seals checkpoints and runs genesis, and the reads the services need.

use daas_core::clock::unix_now_ms;
use std::path::Path;
use std::sync::Mutex;

use sui_sdk_types::{
    Address, Digest, IdOperation, Object, ObjectOut, Owner, Transaction, TransactionEffects,
    UserSignature,
};
use tokio::sync::broadcast;

use crate::checkpoint;
use crate::execute::{self, ChainContext, Executed, ObjectSource, RejectError};
use crate::faucet::{self, CoinSent, FAUCET_COIN_ID};
use crate::genesis::{self, GenesisConfig};
use crate::nitro::Attestation;
use crate::object::{self, CLOCK_ID, ClockContents, MoveObject};
use crate::store::{Commit, META_CLOCK_OFFSET_MS, Store, StoreError, StoredTransaction};

/// The devnet's only epoch.
pub const EPOCH: u64 = 0;

/// Errors of the ledger.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// The transaction was rejected before execution.
    #[error(transparent)]
    Rejected(#[from] RejectError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The data directory cannot be used.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The stored state is inconsistent.
    #[error("inconsistent ledger state: {0}")]
    Inconsistent(String),
    /// A faucet payout could not be signed.
    #[error("faucet signing failed: {0}")]
    FaucetSigning(String),
    /// A faucet payout failed on chain.
    #[error("faucet payout failed: {0}")]
    FaucetFailed(String),
}

/// Result of submitting a transaction.
#[derive(Debug, Clone)]
pub struct Submitted {
    /// The transaction digest.
    pub digest: Digest,
    /// The stored record (effects, events, checkpoint).
    pub record: StoredTransaction,
    /// Whether the transaction had already been executed before this
    /// submission (the stored effects are returned unchanged).
    pub duplicate: bool,
}

/// The devnet ledger.
#[derive(Debug)]
pub struct Ledger {
    store: Store,
    writer: Mutex<()>,
    faucet: Mutex<()>,
    faucet_amount: u64,
    chain: Digest,
    checkpoints: broadcast::Sender<u64>,
    attestation: Attestation,
}

struct WithClock<'a> {
    store: &'a Store,
    clock: &'a Object,
}

impl ObjectSource for WithClock<'_> {
    fn live_object(&self, id: &Address) -> Result<Option<Object>, StoreError> {
        if *id == CLOCK_ID {
            return Ok(Some(self.clock.clone()));
        }
        self.store.object(id)
    }
}

impl Ledger {
    /// Opens the ledger in `data_dir`, running genesis with `config` if the
    /// directory holds no ledger yet. A faucet request pays
    /// `faucet_amount` MIST; `0x2::nitro_attestation` documents are verified
    /// with `attestation`.
    pub fn open(
        data_dir: &Path,
        config: &GenesisConfig,
        faucet_amount: u64,
        attestation: Attestation,
    ) -> Result<Self, LedgerError> {
        std::fs::create_dir_all(data_dir).map_err(|source| LedgerError::DataDir {
            path: data_dir.display().to_string(),
            source,
        })?;
        let store = Store::open(&data_dir.join("ledger.redb"))?;
        if store.latest_checkpoint()?.is_none() {
            let g = genesis::build(config);
            let digest = g.transaction.digest();
            let cp = checkpoint::next_checkpoint(
                None,
                EPOCH,
                config.timestamp_ms,
                digest,
                g.effects.digest(),
                Vec::new(),
                g.effects.gas_summary(),
            );
            store.commit(&Commit {
                written: g.objects.clone(),
                deleted: Vec::new(),
                transaction: StoredTransaction {
                    transaction: g.transaction,
                    signatures: Vec::new(),
                    effects: g.effects,
                    events: None,
                    checkpoint: 0,
                    timestamp_ms: config.timestamp_ms,
                    input_objects: Vec::new(),
                    output_objects: g.objects,
                },
                digest,
                checkpoint: cp,
            })?;
            tracing::info!(%digest, "genesis committed");
        }
        let genesis = store
            .checkpoint(0)?
            .ok_or_else(|| LedgerError::Inconsistent("checkpoint 0 is missing".to_owned()))?;
        let (checkpoints, _) = broadcast::channel(1024);
        Ok(Self {
            store,
            writer: Mutex::new(()),
            faucet: Mutex::new(()),
            faucet_amount,
            chain: genesis.summary.digest(),
            checkpoints,
            attestation,
        })
    }

    /// The chain identifier: the digest of checkpoint 0.
    pub fn chain_id(&self) -> Digest {
        self.chain
    }

    /// The store, for reads.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Receives the sequence number of every new checkpoint.
    pub fn subscribe(&self) -> broadcast::Receiver<u64> {
        self.checkpoints.subscribe()
    }

    /// Milliseconds added to the wall clock (the test hook).
    pub fn clock_offset_ms(&self) -> Result<u64, LedgerError> {
        Ok(self.store.meta(META_CLOCK_OFFSET_MS)?.unwrap_or(0))
    }

    /// Moves the devnet's clock forward by `ms` milliseconds, for tests of
    /// expiry and unbonding. Returns the new offset. The clock object shows
    /// the new time from the next checkpoint on.
    pub fn advance_clock(&self, ms: u64) -> Result<u64, LedgerError> {
        let _w = self.writer.lock().map_err(|_| poisoned())?;
        let offset = self.clock_offset_ms()?.saturating_add(ms);
        self.store.set_meta(META_CLOCK_OFFSET_MS, offset)?;
        Ok(offset)
    }

    /// Time of the next checkpoint: the wall clock plus the offset, never
    /// before the latest checkpoint.
    fn next_timestamp(&self, latest: u64) -> Result<u64, LedgerError> {
        let now = unix_now_ms().saturating_add(self.clock_offset_ms()?);
        Ok(now.max(latest))
    }

    /// The clock object as it will be in the next checkpoint.
    fn next_clock(&self, timestamp_ms: u64, digest: Digest) -> Result<Object, LedgerError> {
        let current = self
            .store
            .object(&CLOCK_ID)?
            .ok_or_else(|| LedgerError::Inconsistent("clock 0x6 is missing".to_owned()))?;
        let mut clock = MoveObject::from_object(&current)
            .ok_or_else(|| LedgerError::Inconsistent("clock 0x6 is a package".to_owned()))?;
        clock.contents = object::encode(&ClockContents {
            id: CLOCK_ID,
            timestamp_ms,
        });
        clock
            .to_object(current.version() + 1, digest, 0)
            .ok_or_else(|| LedgerError::Inconsistent("clock 0x6 has no id".to_owned()))
    }

    /// Verifies, executes and commits a signed transaction. Re-submitting an
    /// executed transaction returns its stored record.
    pub fn submit(
        &self,
        transaction: &Transaction,
        signatures: &[UserSignature],
    ) -> Result<Submitted, LedgerError> {
        self.apply(transaction, signatures)
    }

    fn apply(
        &self,
        transaction: &Transaction,
        signatures: &[UserSignature],
    ) -> Result<Submitted, LedgerError> {
        let digest = transaction.digest();
        let _w = self.writer.lock().map_err(|_| poisoned())?;
        if let Some(record) = self.store.transaction(&digest)? {
            return Ok(Submitted {
                digest,
                record,
                duplicate: true,
            });
        }
        execute::verify_signatures(transaction, signatures)?;
        let latest = self
            .store
            .latest_checkpoint()?
            .ok_or_else(|| LedgerError::Inconsistent("no checkpoint".to_owned()))?;
        let timestamp_ms = self.next_timestamp(latest.summary.timestamp_ms)?;
        let clock = self.next_clock(timestamp_ms, digest)?;
        let chain = ChainContext {
            epoch: EPOCH,
            timestamp_ms,
            chain: self.chain,
        };
        let source = WithClock {
            store: &self.store,
            clock: &clock,
        };
        let executed = execute::execute(&source, &chain, &self.attestation, transaction)?;
        let effects_digest = executed.effects.digest();
        let cp = checkpoint::next_checkpoint(
            Some(&latest),
            EPOCH,
            timestamp_ms,
            digest,
            effects_digest,
            signatures.to_vec(),
            executed.effects.gas_summary(),
        );
        let sequence = cp.summary.sequence_number;
        let record = StoredTransaction {
            transaction: transaction.clone(),
            signatures: signatures.to_vec(),
            effects: executed.effects,
            events: executed.events,
            checkpoint: sequence,
            timestamp_ms,
            input_objects: executed.input_objects,
            output_objects: executed.written.clone(),
        };
        let mut written = executed.written;
        written.push(clock);
        self.store.commit(&Commit {
            written,
            deleted: executed.deleted,
            transaction: record.clone(),
            digest,
            checkpoint: cp,
        })?;
        // Nobody listening is fine.
        let _ = self.checkpoints.send(sequence);
        tracing::info!(%digest, checkpoint = sequence, "transaction committed");
        Ok(Submitted {
            digest,
            record,
            duplicate: false,
        })
    }

    /// Executes a transaction without signatures and without committing.
    pub fn simulate(&self, transaction: &Transaction) -> Result<Executed, LedgerError> {
        let latest = self
            .store
            .latest_checkpoint()?
            .ok_or_else(|| LedgerError::Inconsistent("no checkpoint".to_owned()))?;
        let timestamp_ms = self.next_timestamp(latest.summary.timestamp_ms)?;
        let clock = self.next_clock(timestamp_ms, transaction.digest())?;
        let chain = ChainContext {
            epoch: EPOCH,
            timestamp_ms,
            chain: self.chain,
        };
        Ok(execute::execute(
            &WithClock {
                store: &self.store,
                clock: &clock,
            },
            &chain,
            &self.attestation,
            transaction,
        )?)
    }

    /// Pays the faucet amount to `recipient` with a real transaction.
    pub fn faucet(&self, recipient: Address) -> Result<CoinSent, LedgerError> {
        let _f = self.faucet.lock().map_err(|_| poisoned())?;
        let coin = self
            .store
            .object(&FAUCET_COIN_ID)?
            .ok_or_else(|| LedgerError::Inconsistent("the faucet coin is missing".to_owned()))?;
        let (transaction, signature) =
            faucet::payout_transaction(object::reference(&coin), recipient, self.faucet_amount)
                .map_err(|e| LedgerError::FaucetSigning(e.to_string()))?;
        let submitted = self.submit(&transaction, &[signature])?;
        let effects = &submitted.record.effects;
        if let sui_sdk_types::ExecutionStatus::Failure { error, .. } = effects.status() {
            return Err(LedgerError::FaucetFailed(format!("{error:?}")));
        }
        let TransactionEffects::V2(v2) = effects else {
            return Err(LedgerError::Inconsistent("effects are not V2".to_owned()));
        };
        let id = v2
            .changed_objects
            .iter()
            .find(|c| {
                c.id_operation == IdOperation::Created
                    && matches!(c.output_state, ObjectOut::ObjectWrite { owner: Owner::Address(a), .. } if a == recipient)
            })
            .map(|c| c.object_id)
            .ok_or_else(|| LedgerError::Inconsistent("faucet payout created no coin".to_owned()))?;
        Ok(CoinSent {
            amount: self.faucet_amount,
            id,
            transfer_tx_digest: submitted.digest,
        })
    }

    /// Total balance of the SUI coins owned by `owner`, and how many there are.
    pub fn sui_balance(&self, owner: &Address) -> Result<(u64, usize), LedgerError> {
        let mut total = 0u64;
        let mut count = 0;
        let mut after: Option<Address> = None;
        loop {
            let page = self.store.owned_objects(owner, after.as_ref(), 500)?;
            let Some(last) = page.last() else { break };
            after = Some(last.object_id());
            for o in &page {
                if let Some(b) = MoveObject::from_object(o)
                    .as_ref()
                    .and_then(object::coin_balance)
                {
                    total = total.saturating_add(b);
                    count += 1;
                }
            }
        }
        Ok((total, count))
    }
}

fn poisoned() -> LedgerError {
    LedgerError::Inconsistent("a writer panicked while holding the ledger lock".to_owned())
}
