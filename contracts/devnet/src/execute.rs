//! Transaction execution: the checks the devnet enforces before running a
//! transaction (signature, gas, input ownership and versions), then the run
//! (the `ptb` module), gas charging, and the resulting effects, computed the
//! Sui way.

use std::collections::{BTreeMap, BTreeSet};

use sui_crypto::SuiVerifier;
use sui_crypto::simple::SimpleVerifier;
use sui_sdk_types::{
    Address, ChangedObject, Command, Digest, ExecutionError, ExecutionStatus, IdOperation, Input,
    Mutability, Object, ObjectIn, ObjectOut, Owner, ProgrammableTransaction, SimpleSignature,
    Transaction, TransactionEffects, TransactionEffectsV2, TransactionEvents,
    TransactionExpiration, TransactionKind, UnchangedConsensusKind, UnchangedConsensusObject,
    UserSignature,
};

use crate::gas::{self, GasCharge};
use crate::nitro::{self, Attestation};
use crate::object::{self, CLOCK_ID, MoveObject};
use crate::package;
use crate::ptb::{Slot, run_commands};
use crate::store::StoreError;
use crate::working_set::{Access, Working, WorkingSet};

/// Why a transaction was rejected before execution. Nothing is recorded and
/// no gas is charged for these.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RejectError {
    /// Only programmable transactions can be submitted.
    #[error("only programmable transactions can be submitted, got {0}")]
    UnsupportedKind(&'static str),
    /// The number of signatures is wrong.
    #[error("expected exactly one signature from the sender, got {0}")]
    SignatureCount(usize),
    /// Sponsored transactions are not supported.
    #[error(
        "sponsored transactions are not supported by the devnet (gas owner {owner} differs from sender {sender})"
    )]
    Sponsored {
        /// The gas owner.
        owner: Address,
        /// The sender.
        sender: Address,
    },
    /// The signature scheme is not supported.
    #[error(
        "unsupported signature scheme {0}: the devnet accepts ed25519, secp256k1 and secp256r1"
    )]
    UnsupportedScheme(String),
    /// The signature's public key is not the sender's.
    #[error("signature is from {signer}, not from the sender {sender}")]
    SignerMismatch {
        /// Address derived from the signature's public key.
        signer: Address,
        /// The sender.
        sender: Address,
    },
    /// The signature does not verify over the transaction.
    #[error("invalid signature: {0}")]
    BadSignature(String),
    /// The transaction has expired.
    #[error("transaction expired: {0}")]
    Expired(String),
    /// Gas price below the reference gas price.
    #[error("gas price {price} is below the reference gas price {reference}")]
    GasPriceTooLow {
        /// Offered price.
        price: u64,
        /// Reference gas price.
        reference: u64,
    },
    /// Gas budget out of range.
    #[error("gas budget {budget} is outside the accepted range {min}..={max}")]
    GasBudget {
        /// Offered budget.
        budget: u64,
        /// Minimum.
        min: u64,
        /// Maximum.
        max: u64,
    },
    /// No gas coin was given.
    #[error("no gas payment object given")]
    NoGas,
    /// A gas object is not a SUI coin.
    #[error("gas object {0} is not a 0x2::coin::Coin<0x2::sui::SUI>")]
    GasNotCoin(Address),
    /// The gas coins cannot cover the budget.
    #[error("gas balance {balance} is less than the gas budget {budget}")]
    InsufficientGasBalance {
        /// Total balance of the gas coins.
        balance: u64,
        /// The budget.
        budget: u64,
    },
    /// An input object does not exist.
    #[error("object {0} not found")]
    ObjectNotFound(Address),
    /// An owned object's version or digest does not match the live object.
    #[error(
        "object {id} is at version {current} with digest {current_digest}, the transaction gives version {given} with digest {given_digest}"
    )]
    StaleObject {
        /// Object id.
        id: Address,
        /// Live version.
        current: u64,
        /// Live digest.
        current_digest: Digest,
        /// Version given.
        given: u64,
        /// Digest given.
        given_digest: Digest,
    },
    /// An owned object is not owned by the sender.
    #[error("object {id} is owned by {owner}, not by the sender {sender}")]
    NotOwner {
        /// Object id.
        id: Address,
        /// Its owner.
        owner: String,
        /// The sender.
        sender: Address,
    },
    /// A shared object was passed as owned or an owned one as shared.
    #[error("object {id} is {actual}, but was passed as {given}")]
    WrongInputKind {
        /// Object id.
        id: Address,
        /// How it is owned.
        actual: String,
        /// How it was passed.
        given: &'static str,
    },
    /// A shared object's initial shared version is wrong.
    #[error(
        "shared object {id} has initial shared version {initial}, the transaction gives {given}"
    )]
    SharedVersion {
        /// Object id.
        id: Address,
        /// Its initial shared version.
        initial: u64,
        /// Version given.
        given: u64,
    },
    /// The clock may only be read.
    #[error("the clock 0x6 can only be passed as an immutable shared input")]
    MutableClock,
    /// The same object appears twice among the inputs and gas.
    #[error("object {0} appears more than once among the inputs and gas payment")]
    DuplicateObject(Address),
    /// Input kinds the devnet does not support.
    #[error("input {index}: {what} inputs are not supported by the devnet")]
    UnsupportedInput {
        /// Input index.
        index: usize,
        /// Kind of input.
        what: &'static str,
    },
    /// Commands the devnet does not support.
    #[error("command {index}: {what} is not supported by the devnet")]
    UnsupportedCommand {
        /// Command index.
        index: usize,
        /// Command name.
        what: &'static str,
    },
    /// A MoveCall names a package, module or function that does not exist.
    #[error("command {index}: {what}")]
    UnknownFunction {
        /// Command index.
        index: usize,
        /// What is unknown, naming it.
        what: String,
    },
    /// A `0x2::nitro_attestation` function other than
    /// `load_nitro_attestation` (the accessors take references, which a
    /// transaction cannot pass).
    #[error(
        "command {index}: 0x2::nitro_attestation::{function} cannot be called by the devnet; only load_nitro_attestation can"
    )]
    UnsupportedFrameworkFunction {
        /// Command index.
        index: usize,
        /// The function.
        function: String,
    },
    /// Reading the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Initial shared version a native function gives an object it shares;
/// replaced by the transaction's lamport version when effects are computed,
/// as Sui does for newly shared objects.
pub const NEW_SHARED: u64 = 0;

/// Source of live objects for execution.
pub trait ObjectSource {
    /// The live version of an object.
    fn live_object(&self, id: &Address) -> Result<Option<Object>, StoreError>;
}

/// Chain context of an execution.
#[derive(Debug, Clone, Copy)]
pub struct ChainContext {
    /// Current epoch.
    pub epoch: u64,
    /// Timestamp of the checkpoint being built (also the clock's).
    pub timestamp_ms: u64,
    /// Digest of the genesis checkpoint (the chain identifier).
    pub chain: Digest,
}

/// The outcome of an executed transaction.
#[derive(Debug, Clone)]
pub struct Executed {
    /// Effects (V2).
    pub effects: TransactionEffects,
    /// Events, if any.
    pub events: Option<TransactionEvents>,
    /// Objects written, at their new versions.
    pub written: Vec<Object>,
    /// Ids of deleted objects.
    pub deleted: Vec<Address>,
    /// Input objects before execution.
    pub input_objects: Vec<Object>,
}

/// Verifies that `signatures` holds exactly one valid signature by the
/// transaction's sender (ed25519, secp256k1 or secp256r1).
pub fn verify_signatures(
    transaction: &Transaction,
    signatures: &[UserSignature],
) -> Result<(), RejectError> {
    let [signature] = signatures else {
        return Err(RejectError::SignatureCount(signatures.len()));
    };
    if transaction.gas_payment.owner != transaction.sender {
        return Err(RejectError::Sponsored {
            owner: transaction.gas_payment.owner,
            sender: transaction.sender,
        });
    }
    let UserSignature::Simple(simple) = signature else {
        return Err(RejectError::UnsupportedScheme(format!(
            "{:?}",
            signature.scheme()
        )));
    };
    let signer = match simple {
        SimpleSignature::Ed25519 { public_key, .. } => public_key.derive_address(),
        SimpleSignature::Secp256k1 { public_key, .. } => public_key.derive_address(),
        SimpleSignature::Secp256r1 { public_key, .. } => public_key.derive_address(),
        other => {
            return Err(RejectError::UnsupportedScheme(format!(
                "{:?}",
                other.scheme()
            )));
        }
    };
    if signer != transaction.sender {
        return Err(RejectError::SignerMismatch {
            signer,
            sender: transaction.sender,
        });
    }
    SimpleVerifier
        .verify_transaction(transaction, signature)
        .map_err(|e| RejectError::BadSignature(e.to_string()))
}

fn owner_text(owner: &Owner) -> String {
    match owner {
        Owner::Address(a) => format!("address {a}"),
        Owner::Object(a) => format!("object {a}"),
        Owner::Shared(v) => format!("shared (initial version {v})"),
        Owner::Immutable => "immutable".to_owned(),
        other => format!("{other:?}"),
    }
}

/// Executes a transaction against `source`, verifying attestation
/// documents with `attestation`. Signatures must have been verified
/// already.
pub fn execute(
    source: &dyn ObjectSource,
    chain: &ChainContext,
    attestation: &Attestation,
    transaction: &Transaction,
) -> Result<Executed, RejectError> {
    let TransactionKind::ProgrammableTransaction(ptb) = &transaction.kind else {
        return Err(RejectError::UnsupportedKind(kind_name(&transaction.kind)));
    };
    check_expiration(chain, &transaction.expiration)?;
    check_commands(ptb)?;
    let gas = &transaction.gas_payment;
    if gas.price < gas::REFERENCE_GAS_PRICE {
        return Err(RejectError::GasPriceTooLow {
            price: gas.price,
            reference: gas::REFERENCE_GAS_PRICE,
        });
    }
    if !(gas::MIN_GAS_BUDGET..=gas::MAX_GAS_BUDGET).contains(&gas.budget) {
        return Err(RejectError::GasBudget {
            budget: gas.budget,
            min: gas::MIN_GAS_BUDGET,
            max: gas::MAX_GAS_BUDGET,
        });
    }
    let sender = transaction.sender;
    let digest = transaction.digest();

    // Load and check every input object and the gas coins.
    let mut seen = BTreeSet::new();
    let mut loaded: BTreeMap<Address, (Object, Access)> = BTreeMap::new();
    let mut slots = Vec::with_capacity(ptb.inputs.len());
    for (index, input) in ptb.inputs.iter().enumerate() {
        match input {
            Input::Pure(bytes) => slots.push(Slot::Pure(bytes.clone())),
            Input::ImmutableOrOwned(r) => {
                let id = *r.object_id();
                if !seen.insert(id) {
                    return Err(RejectError::DuplicateObject(id));
                }
                let object = load(source, &id)?;
                let access = match object.owner() {
                    Owner::Address(owner) if *owner == sender => Access::Owned,
                    Owner::Address(_) | Owner::Object(_) | Owner::ConsensusAddress { .. } => {
                        return Err(RejectError::NotOwner {
                            id,
                            owner: owner_text(object.owner()),
                            sender,
                        });
                    }
                    Owner::Immutable => Access::Immutable,
                    other => {
                        return Err(RejectError::WrongInputKind {
                            id,
                            actual: owner_text(other),
                            given: "an owned or immutable object",
                        });
                    }
                };
                check_reference(&object, r.version(), r.digest())?;
                loaded.insert(id, (object, access));
                slots.push(Slot::Object(id));
            }
            Input::Shared(shared) => {
                let id = shared.object_id();
                if !seen.insert(id) {
                    return Err(RejectError::DuplicateObject(id));
                }
                let object = load(source, &id)?;
                let Owner::Shared(initial) = object.owner() else {
                    return Err(RejectError::WrongInputKind {
                        id,
                        actual: owner_text(object.owner()),
                        given: "a shared object",
                    });
                };
                if *initial != shared.version() {
                    return Err(RejectError::SharedVersion {
                        id,
                        initial: *initial,
                        given: shared.version(),
                    });
                }
                let access = match shared.mutability() {
                    Mutability::Immutable => Access::SharedRead,
                    _ if id == CLOCK_ID => return Err(RejectError::MutableClock),
                    _ => Access::SharedMut,
                };
                loaded.insert(id, (object, access));
                slots.push(Slot::Object(id));
            }
            Input::Receiving(_) => {
                return Err(RejectError::UnsupportedInput {
                    index,
                    what: "receiving",
                });
            }
            _ => {
                return Err(RejectError::UnsupportedInput {
                    index,
                    what: "funds withdrawal",
                });
            }
        }
    }
    let gas_id = match gas.objects.first() {
        Some(first) => *first.object_id(),
        None => return Err(RejectError::NoGas),
    };
    let mut gas_total: u64 = 0;
    for r in &gas.objects {
        let id = *r.object_id();
        if !seen.insert(id) {
            return Err(RejectError::DuplicateObject(id));
        }
        let object = load(source, &id)?;
        if *object.owner() != Owner::Address(sender) {
            return Err(RejectError::NotOwner {
                id,
                owner: owner_text(object.owner()),
                sender,
            });
        }
        check_reference(&object, r.version(), r.digest())?;
        let balance = MoveObject::from_object(&object)
            .as_ref()
            .and_then(object::coin_balance)
            .ok_or(RejectError::GasNotCoin(id))?;
        gas_total = gas_total.saturating_add(balance);
        loaded.insert(id, (object, Access::Owned));
    }
    if gas_total < gas.budget {
        return Err(RejectError::InsufficientGasBalance {
            balance: gas_total,
            budget: gas.budget,
        });
    }

    // The working set before execution: gas coins smashed into the first,
    // with the budget held back while commands run.
    let mut base = WorkingSet {
        objects: BTreeMap::new(),
        events: Vec::new(),
        created: 0,
        digest,
        sender,
        timestamp_ms: chain.timestamp_ms,
    };
    for (id, (object, access)) in &loaded {
        let mut mo = MoveObject::from_object(object).ok_or(RejectError::WrongInputKind {
            id: *id,
            actual: "a package".to_owned(),
            given: "an object",
        })?;
        let mut deleted = false;
        if gas.objects.iter().any(|r| r.object_id() == id) {
            if *id == gas_id {
                object::set_coin_balance(&mut mo, gas_total - gas.budget);
            } else {
                deleted = true;
            }
        }
        base.objects.insert(
            *id,
            Working {
                object: mo,
                input: Some((object.clone(), *access)),
                deleted,
                dirty: false,
                held: None,
            },
        );
    }

    let mut set = base.clone();
    let mut status = match run_commands(&mut set, source, attestation, ptb, &slots, gas_id) {
        Ok(()) => ExecutionStatus::Success,
        Err(f) => ExecutionStatus::Failure {
            error: *f.error,
            command: f.command,
        },
    };
    if !matches!(status, ExecutionStatus::Success) {
        set = base.clone();
    }

    let lamport = set
        .objects
        .values()
        .filter_map(|w| w.input.as_ref().map(|(o, _)| o.version()))
        .chain(loaded.values().map(|(o, _)| o.version()))
        .max()
        .unwrap_or(0)
        .saturating_add(1);
    let computation = gas::computation_cost(ptb.commands.len(), gas.price);
    let mut finished = finish(&set, lamport, digest, computation, gas_id, gas.budget);
    if finished.charge.budget_cost() > gas.budget && matches!(status, ExecutionStatus::Success) {
        status = ExecutionStatus::Failure {
            error: ExecutionError::InsufficientGas,
            command: None,
        };
        set = base.clone();
        finished = finish(&set, lamport, digest, computation, gas_id, gas.budget);
    }
    if finished.charge.budget_cost() > gas.budget {
        // Even the reverted transaction costs more than the budget: charge
        // the whole budget as computation.
        let computation = gas.budget.saturating_sub(finished.charge.storage);
        finished = finish(&set, lamport, digest, computation, gas_id, gas.budget);
        if matches!(status, ExecutionStatus::Success) {
            status = ExecutionStatus::Failure {
                error: ExecutionError::InsufficientGas,
                command: None,
            };
        }
    }

    let events = if matches!(status, ExecutionStatus::Success) && !set.events.is_empty() {
        Some(TransactionEvents(set.events.clone()))
    } else {
        None
    };
    let mut dependencies: Vec<Digest> = loaded
        .values()
        .map(|(o, _)| o.previous_transaction())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    dependencies.retain(|d| *d != digest);
    let unchanged_consensus_objects = loaded
        .iter()
        .filter(|(_, (_, a))| *a == Access::SharedRead)
        .map(|(id, (o, _))| UnchangedConsensusObject {
            object_id: *id,
            kind: UnchangedConsensusKind::ReadOnlyRoot {
                version: o.version(),
                digest: o.digest(),
            },
        })
        .collect();
    let gas_object_index = finished
        .changed
        .iter()
        .position(|c| c.object_id == gas_id)
        .and_then(|i| u32::try_from(i).ok());
    let effects = TransactionEffectsV2 {
        status,
        epoch: chain.epoch,
        gas_used: finished.charge.summary(),
        transaction_digest: digest,
        gas_object_index,
        events_digest: events.as_ref().map(TransactionEvents::digest),
        dependencies,
        lamport_version: lamport,
        changed_objects: finished.changed,
        unchanged_consensus_objects,
        auxiliary_data_digest: None,
    };
    Ok(Executed {
        effects: TransactionEffects::V2(Box::new(effects)),
        events,
        written: finished.written,
        deleted: finished.deleted,
        input_objects: loaded.into_values().map(|(o, _)| o).collect(),
    })
}

struct Finished {
    charge: GasCharge,
    changed: Vec<ChangedObject>,
    written: Vec<Object>,
    deleted: Vec<Address>,
}

/// Computes storage costs, charges gas to the gas coin, assigns the
/// lamport version and digests, and lists changed objects.
fn finish(
    set: &WorkingSet,
    lamport: u64,
    digest: Digest,
    computation: u64,
    gas_id: Address,
    budget: u64,
) -> Finished {
    let mut charge = GasCharge {
        computation,
        ..GasCharge::default()
    };
    // Objects to write: mutable inputs still alive and created objects.
    let mut to_write: Vec<MoveObject> = Vec::new();
    let mut deleted = Vec::new();
    for (id, w) in &set.objects {
        match &w.input {
            Some((original, Access::Child)) => {
                if w.deleted {
                    charge.rebate = charge.rebate.saturating_add(original.storage_rebate());
                    deleted.push(*id);
                } else if w.dirty {
                    charge.rebate = charge.rebate.saturating_add(original.storage_rebate());
                    to_write.push(w.object.clone());
                }
            }
            Some((original, Access::Owned | Access::SharedMut)) => {
                charge.rebate = charge.rebate.saturating_add(original.storage_rebate());
                if w.deleted {
                    deleted.push(*id);
                } else {
                    to_write.push(w.object.clone());
                }
            }
            Some(_) => {}
            None => {
                if !w.deleted {
                    to_write.push(w.object.clone());
                }
            }
        }
    }
    let mut sizes = Vec::with_capacity(to_write.len());
    for mo in &to_write {
        let size = mo
            .to_object(lamport, digest, 0)
            .and_then(|o| bcs::serialized_size(&o).ok())
            .unwrap_or(0);
        let cost = gas::storage_cost(size);
        charge.storage = charge.storage.saturating_add(cost);
        sizes.push(cost);
    }
    // Return the held-back budget minus the charge to the gas coin.
    let refund = budget
        .saturating_add(charge.rebate)
        .saturating_sub(charge.budget_cost());
    let mut written = Vec::with_capacity(to_write.len());
    let mut changed = Vec::new();
    for (mut mo, rebate) in to_write.into_iter().zip(sizes) {
        let Some(id) = mo.id() else { continue };
        if matches!(mo.owner, Owner::Shared(NEW_SHARED)) {
            mo.owner = Owner::Shared(lamport);
        }
        if id == gas_id {
            let balance = object::coin_balance(&mo)
                .unwrap_or(0)
                .saturating_add(refund);
            object::set_coin_balance(&mut mo, balance);
        }
        let Some(object) = mo.to_object(lamport, digest, rebate) else {
            continue;
        };
        let input_state = match set.objects.get(&id).and_then(|w| w.input.as_ref()) {
            Some((original, _)) => ObjectIn::Exist {
                version: original.version(),
                digest: original.digest(),
                owner: *original.owner(),
            },
            None => ObjectIn::NotExist,
        };
        let id_operation = if matches!(input_state, ObjectIn::NotExist) {
            IdOperation::Created
        } else {
            IdOperation::None
        };
        changed.push(ChangedObject {
            object_id: id,
            input_state,
            output_state: ObjectOut::ObjectWrite {
                digest: object.digest(),
                owner: *object.owner(),
            },
            id_operation,
        });
        written.push(object);
    }
    for id in &deleted {
        if let Some((original, _)) = set.objects.get(id).and_then(|w| w.input.as_ref()) {
            changed.push(ChangedObject {
                object_id: *id,
                input_state: ObjectIn::Exist {
                    version: original.version(),
                    digest: original.digest(),
                    owner: *original.owner(),
                },
                output_state: ObjectOut::NotExist,
                id_operation: IdOperation::Deleted,
            });
        }
    }
    changed.sort_by_key(|c| c.object_id);
    Finished {
        charge,
        changed,
        written,
        deleted,
    }
}

fn load(source: &dyn ObjectSource, id: &Address) -> Result<Object, RejectError> {
    source
        .live_object(id)?
        .ok_or(RejectError::ObjectNotFound(*id))
}

fn check_reference(object: &Object, version: u64, digest: &Digest) -> Result<(), RejectError> {
    let current_digest = object.digest();
    if object.version() != version || current_digest != *digest {
        return Err(RejectError::StaleObject {
            id: object.object_id(),
            current: object.version(),
            current_digest,
            given: version,
            given_digest: *digest,
        });
    }
    Ok(())
}

fn kind_name(kind: &TransactionKind) -> &'static str {
    match kind {
        TransactionKind::ProgrammableTransaction(_) => "ProgrammableTransaction",
        TransactionKind::Genesis(_) => "Genesis",
        TransactionKind::ChangeEpoch(_) => "ChangeEpoch",
        TransactionKind::EndOfEpoch(_) => "EndOfEpoch",
        _ => "a system transaction",
    }
}

fn check_expiration(
    chain: &ChainContext,
    expiration: &TransactionExpiration,
) -> Result<(), RejectError> {
    match expiration {
        TransactionExpiration::None => Ok(()),
        TransactionExpiration::Epoch(e) if *e < chain.epoch => Err(RejectError::Expired(format!(
            "valid until epoch {e}, current epoch is {}",
            chain.epoch
        ))),
        TransactionExpiration::Epoch(_) => Ok(()),
        TransactionExpiration::ValidDuring {
            min_epoch,
            max_epoch,
            min_timestamp,
            max_timestamp,
            chain: chain_id,
            ..
        } => {
            if *chain_id != chain.chain {
                return Err(RejectError::Expired(format!(
                    "transaction is for chain {chain_id}, this devnet is {}",
                    chain.chain
                )));
            }
            if min_epoch.is_some_and(|m| chain.epoch < m)
                || max_epoch.is_some_and(|m| chain.epoch > m)
            {
                return Err(RejectError::Expired(format!(
                    "epoch {} is outside the valid range",
                    chain.epoch
                )));
            }
            if min_timestamp.is_some_and(|m| chain.timestamp_ms < m)
                || max_timestamp.is_some_and(|m| chain.timestamp_ms > m)
            {
                return Err(RejectError::Expired(format!(
                    "time {} ms is outside the valid range",
                    chain.timestamp_ms
                )));
            }
            Ok(())
        }
        _ => Err(RejectError::Expired("unknown expiration kind".to_owned())),
    }
}

/// Rejects commands the devnet cannot run and calls to unknown functions,
/// naming them.
fn check_commands(ptb: &ProgrammableTransaction) -> Result<(), RejectError> {
    for (index, command) in ptb.commands.iter().enumerate() {
        let what = match command {
            Command::MoveCall(call) => {
                if call.package == Address::TWO && call.module.as_str() == nitro::MODULE {
                    if call.function.as_str() != nitro::LOAD_NITRO_ATTESTATION {
                        return Err(RejectError::UnsupportedFrameworkFunction {
                            index,
                            function: call.function.to_string(),
                        });
                    }
                    continue;
                }
                package::resolve(&call.package, call.module.as_str(), call.function.as_str())
                    .map_err(|what| RejectError::UnknownFunction { index, what })?;
                continue;
            }
            Command::SplitCoins(_) | Command::MergeCoins(_) | Command::TransferObjects(_) => {
                continue;
            }
            Command::Publish(_) => "Publish",
            Command::Upgrade(_) => "Upgrade",
            Command::MakeMoveVector(_) => "MakeMoveVector",
            _ => "this command",
        };
        return Err(RejectError::UnsupportedCommand { index, what });
    }
    Ok(())
}
