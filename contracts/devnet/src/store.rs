//! On-disk state of the devnet in a redb database.
//!
//! Layout (all values are BCS):
//!
//! | table | key | value |
//! |---|---|---|
//! | `objects` | object id (32 bytes) | live `Object` |
//! | `object_history` | object id ‖ version (u64 big-endian) | every written `Object` version |
//! | `owned` | owner address ‖ object id | `()` (index for `ListOwnedObjects`) |
//! | `transactions` | transaction digest | [`StoredTransaction`] |
//! | `checkpoints` | sequence number | [`StoredCheckpoint`] |
//! | `meta` | name | `u64` (clock offset) |
//!
//! [`Store::commit`] writes everything one executed transaction changes in a
//! single redb write transaction, so a crash never leaves half a transaction
//! and never applies one twice.

use std::path::Path;

use redb::{Database, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use sui_sdk_types::{
    Address, CheckpointContents, CheckpointSummary, Digest, Object, Owner, Transaction,
    TransactionEffects, TransactionEvents, UserSignature,
};

const OBJECTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("objects");
const OBJECT_HISTORY: TableDefinition<&[u8], &[u8]> = TableDefinition::new("object_history");
const OWNED: TableDefinition<&[u8], ()> = TableDefinition::new("owned");
const TRANSACTIONS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("transactions");
const CHECKPOINTS: TableDefinition<u64, &[u8]> = TableDefinition::new("checkpoints");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// Name of the meta entry holding the clock offset in milliseconds.
pub const META_CLOCK_OFFSET_MS: &str = "clock_offset_ms";

/// Errors of the on-disk store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[source] Box<redb::Error>),
    /// A stored value could not be encoded or decoded.
    #[error("corrupt stored value in table {table}: {source}")]
    Encoding {
        /// The table the value belongs to.
        table: &'static str,
        /// The BCS error.
        #[source]
        source: bcs::Error,
    },
}

fn db_err<E: Into<redb::Error>>(e: E) -> StoreError {
    StoreError::Database(Box::new(e.into()))
}

fn decode<T: for<'de> Deserialize<'de>>(
    table: &'static str,
    bytes: &[u8],
) -> Result<T, StoreError> {
    bcs::from_bytes(bytes).map_err(|source| StoreError::Encoding { table, source })
}

fn encode<T: Serialize>(table: &'static str, value: &T) -> Result<Vec<u8>, StoreError> {
    bcs::to_bytes(value).map_err(|source| StoreError::Encoding { table, source })
}

/// An executed transaction as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredTransaction {
    /// The transaction data.
    pub transaction: Transaction,
    /// The user signatures it was submitted with.
    pub signatures: Vec<UserSignature>,
    /// Its effects.
    pub effects: TransactionEffects,
    /// Its events, if it emitted any.
    pub events: Option<TransactionEvents>,
    /// The checkpoint that contains it.
    pub checkpoint: u64,
    /// The checkpoint's timestamp.
    pub timestamp_ms: u64,
    /// Input objects as they were before the transaction.
    pub input_objects: Vec<Object>,
    /// Objects written by the transaction.
    pub output_objects: Vec<Object>,
}

/// A checkpoint as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredCheckpoint {
    /// The summary (its digest is the checkpoint digest).
    pub summary: CheckpointSummary,
    /// The transactions it contains.
    pub contents: CheckpointContents,
}

/// Everything one executed transaction changes.
#[derive(Debug, Clone)]
pub struct Commit {
    /// Objects written (created or mutated), at their new versions.
    pub written: Vec<Object>,
    /// Ids of deleted objects.
    pub deleted: Vec<Address>,
    /// The transaction record.
    pub transaction: StoredTransaction,
    /// The transaction digest (the idempotency key).
    pub digest: Digest,
    /// The checkpoint that records it.
    pub checkpoint: StoredCheckpoint,
}

/// The redb-backed store.
#[derive(Debug)]
pub struct Store {
    db: Database,
}

fn history_key(id: &Address, version: u64) -> Vec<u8> {
    let mut key = id.as_bytes().to_vec();
    key.extend_from_slice(&version.to_be_bytes());
    key
}

fn owned_key(owner: &Address, id: &Address) -> Vec<u8> {
    let mut key = owner.as_bytes().to_vec();
    key.extend_from_slice(id.as_bytes());
    key
}

impl Store {
    /// Opens (or creates) the database at `path` and its tables.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = Database::create(path).map_err(db_err)?;
        let txn = db.begin_write().map_err(db_err)?;
        {
            txn.open_table(OBJECTS).map_err(db_err)?;
            txn.open_table(OBJECT_HISTORY).map_err(db_err)?;
            txn.open_table(OWNED).map_err(db_err)?;
            txn.open_table(TRANSACTIONS).map_err(db_err)?;
            txn.open_table(CHECKPOINTS).map_err(db_err)?;
            txn.open_table(META).map_err(db_err)?;
        }
        txn.commit().map_err(db_err)?;
        Ok(Self { db })
    }

    /// The live version of an object.
    pub fn object(&self, id: &Address) -> Result<Option<Object>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let table = txn.open_table(OBJECTS).map_err(db_err)?;
        match table.get(id.as_bytes()).map_err(db_err)? {
            Some(v) => decode("objects", v.value()).map(Some),
            None => Ok(None),
        }
    }

    /// A given version of an object, live or historical.
    pub fn object_at(&self, id: &Address, version: u64) -> Result<Option<Object>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let table = txn.open_table(OBJECT_HISTORY).map_err(db_err)?;
        match table
            .get(history_key(id, version).as_slice())
            .map_err(db_err)?
        {
            Some(v) => decode("object_history", v.value()).map(Some),
            None => Ok(None),
        }
    }

    /// Up to `limit` objects owned by `owner`, in object-id order, starting
    /// after `after`.
    pub fn owned_objects(
        &self,
        owner: &Address,
        after: Option<&Address>,
        limit: usize,
    ) -> Result<Vec<Object>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let index = txn.open_table(OWNED).map_err(db_err)?;
        let objects = txn.open_table(OBJECTS).map_err(db_err)?;
        let start = match after {
            Some(a) => {
                let mut k = owned_key(owner, a);
                k.push(0);
                k
            }
            None => owner.as_bytes().to_vec(),
        };
        let end = owned_key(owner, &Address::new([0xff; 32]));
        let mut out = Vec::new();
        for entry in index
            .range::<&[u8]>(start.as_slice()..=end.as_slice())
            .map_err(db_err)?
        {
            if out.len() >= limit {
                break;
            }
            let (key, _) = entry.map_err(db_err)?;
            let id = key.value().get(32..).unwrap_or_default().to_vec();
            if let Some(v) = objects.get(id.as_slice()).map_err(db_err)? {
                out.push(decode("objects", v.value())?);
            }
        }
        Ok(out)
    }

    /// An executed transaction by digest.
    pub fn transaction(&self, digest: &Digest) -> Result<Option<StoredTransaction>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let table = txn.open_table(TRANSACTIONS).map_err(db_err)?;
        match table.get(digest.inner().as_slice()).map_err(db_err)? {
            Some(v) => decode("transactions", v.value()).map(Some),
            None => Ok(None),
        }
    }

    /// A checkpoint by sequence number.
    pub fn checkpoint(&self, sequence: u64) -> Result<Option<StoredCheckpoint>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let table = txn.open_table(CHECKPOINTS).map_err(db_err)?;
        match table.get(sequence).map_err(db_err)? {
            Some(v) => decode("checkpoints", v.value()).map(Some),
            None => Ok(None),
        }
    }

    /// The latest checkpoint, if genesis has run.
    pub fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let table = txn.open_table(CHECKPOINTS).map_err(db_err)?;
        match table.last().map_err(db_err)? {
            Some((_, v)) => decode("checkpoints", v.value()).map(Some),
            None => Ok(None),
        }
    }

    /// A meta value.
    pub fn meta(&self, key: &str) -> Result<Option<u64>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let table = txn.open_table(META).map_err(db_err)?;
        Ok(table.get(key).map_err(db_err)?.map(|v| v.value()))
    }

    /// Sets a meta value.
    pub fn set_meta(&self, key: &str, value: u64) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(db_err)?;
        {
            let mut table = txn.open_table(META).map_err(db_err)?;
            table.insert(key, value).map_err(db_err)?;
        }
        txn.commit().map_err(db_err)
    }

    /// Applies one executed transaction atomically: objects, indexes, the
    /// transaction record and its checkpoint.
    pub fn commit(&self, commit: &Commit) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(db_err)?;
        {
            let mut objects = txn.open_table(OBJECTS).map_err(db_err)?;
            let mut history = txn.open_table(OBJECT_HISTORY).map_err(db_err)?;
            let mut owned = txn.open_table(OWNED).map_err(db_err)?;
            let mut transactions = txn.open_table(TRANSACTIONS).map_err(db_err)?;
            let mut checkpoints = txn.open_table(CHECKPOINTS).map_err(db_err)?;

            let unindex = |id: &Address,
                           objects: &redb::Table<&[u8], &[u8]>,
                           owned: &mut redb::Table<&[u8], ()>|
             -> Result<(), StoreError> {
                let previous = match objects.get(id.as_bytes()).map_err(db_err)? {
                    Some(v) => Some(decode::<Object>("objects", v.value())?),
                    None => None,
                };
                if let Some(Owner::Address(a)) = previous.as_ref().map(Object::owner) {
                    owned.remove(owned_key(a, id).as_slice()).map_err(db_err)?;
                }
                Ok(())
            };

            for id in &commit.deleted {
                unindex(id, &objects, &mut owned)?;
                objects.remove(id.as_bytes()).map_err(db_err)?;
            }
            for object in &commit.written {
                let id = object.object_id();
                unindex(&id, &objects, &mut owned)?;
                let bytes = encode("objects", object)?;
                objects
                    .insert(id.as_bytes(), bytes.as_slice())
                    .map_err(db_err)?;
                history
                    .insert(
                        history_key(&id, object.version()).as_slice(),
                        bytes.as_slice(),
                    )
                    .map_err(db_err)?;
                if let Owner::Address(a) = object.owner() {
                    owned
                        .insert(owned_key(a, &id).as_slice(), ())
                        .map_err(db_err)?;
                }
            }
            let tx = encode("transactions", &commit.transaction)?;
            transactions
                .insert(commit.digest.inner().as_slice(), tx.as_slice())
                .map_err(db_err)?;
            let cp = encode("checkpoints", &commit.checkpoint)?;
            checkpoints
                .insert(commit.checkpoint.summary.sequence_number, cp.as_slice())
                .map_err(db_err)?;
        }
        txn.commit().map_err(db_err)
    }
}

#[cfg(test)]
mod tests {
    use sui_sdk_types::{
        CheckpointContents, CheckpointSummary, GasCostSummary, GasPayment, GenesisTransaction,
        TransactionExpiration, TransactionKind,
    };

    use super::*;
    use crate::object::sui_coin;

    fn record() -> StoredTransaction {
        let transaction = Transaction {
            kind: TransactionKind::Genesis(GenesisTransaction {
                objects: Vec::new(),
            }),
            sender: Address::ZERO,
            gas_payment: GasPayment {
                objects: Vec::new(),
                owner: Address::ZERO,
                price: 1,
                budget: 0,
            },
            expiration: TransactionExpiration::None,
        };
        StoredTransaction {
            effects: crate::genesis::build(&crate::genesis::GenesisConfig {
                admin: Address::ZERO,
                slasher: Address::ZERO,
                timestamp_ms: 0,
            })
            .effects,
            transaction,
            signatures: Vec::new(),
            events: None,
            checkpoint: 0,
            timestamp_ms: 0,
            input_objects: Vec::new(),
            output_objects: Vec::new(),
        }
    }

    fn checkpoint(sequence_number: u64) -> StoredCheckpoint {
        StoredCheckpoint {
            summary: CheckpointSummary {
                epoch: 0,
                sequence_number,
                network_total_transactions: sequence_number + 1,
                content_digest: Digest::ZERO,
                previous_digest: None,
                epoch_rolling_gas_cost_summary: GasCostSummary::default(),
                timestamp_ms: 0,
                checkpoint_commitments: Vec::new(),
                end_of_epoch_data: None,
                version_specific_data: Vec::new(),
            },
            contents: CheckpointContents::new_v1(Vec::new()),
        }
    }

    #[test]
    fn commit_indexes_owners_and_keeps_history_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.redb");
        let alice = Address::from_static("0xa");
        let bob = Address::from_static("0xb");
        let id = Address::from_static("0xc0");
        let coin = |version, owner| {
            sui_coin(id, 5, Owner::Address(owner))
                .to_object(version, Digest::ZERO, 0)
                .unwrap()
        };
        {
            let store = Store::open(&path).unwrap();
            store
                .commit(&Commit {
                    written: vec![coin(1, alice)],
                    deleted: Vec::new(),
                    transaction: record(),
                    digest: Digest::ZERO,
                    checkpoint: checkpoint(0),
                })
                .unwrap();
            store
                .commit(&Commit {
                    written: vec![coin(2, bob)],
                    deleted: Vec::new(),
                    transaction: record(),
                    digest: Digest::new([1; 32]),
                    checkpoint: checkpoint(1),
                })
                .unwrap();
            assert!(store.owned_objects(&alice, None, 10).unwrap().is_empty());
            assert_eq!(
                store.owned_objects(&bob, None, 10).unwrap(),
                vec![coin(2, bob)]
            );
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.object(&id).unwrap(), Some(coin(2, bob)));
        assert_eq!(store.object_at(&id, 1).unwrap(), Some(coin(1, alice)));
        assert_eq!(
            store
                .latest_checkpoint()
                .unwrap()
                .unwrap()
                .summary
                .sequence_number,
            1
        );
        assert!(store.transaction(&Digest::new([1; 32])).unwrap().is_some());
        assert!(store.transaction(&Digest::new([2; 32])).unwrap().is_none());

        store
            .commit(&Commit {
                written: Vec::new(),
                deleted: vec![id],
                transaction: record(),
                digest: Digest::new([3; 32]),
                checkpoint: checkpoint(2),
            })
            .unwrap();
        assert_eq!(store.object(&id).unwrap(), None);
        assert!(store.owned_objects(&bob, None, 10).unwrap().is_empty());
        store.set_meta(META_CLOCK_OFFSET_MS, 42).unwrap();
        assert_eq!(store.meta(META_CLOCK_OFFSET_MS).unwrap(), Some(42));
    }
}
