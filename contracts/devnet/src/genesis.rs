//! Genesis: the objects the devnet starts with, recorded as a `Genesis`
//! transaction in checkpoint 0.
//!
//! - the clock `0x6`, shared since version 1;
//! - the `k3s_daas` package at [`daas_core::package::PACKAGE_ID`];
//! - the package's init objects (shared `StakePool` and `AuditLog`,
//!   `AdminCap` and `EnclaveCap` for the admin, `SlasherCap` for the
//!   slasher) at the fixed ids of `daas_core::package`;
//! - the faucet's coin, owned by [`crate::faucet::faucet_address`].

use std::collections::BTreeMap;

use sui_sdk_types::{
    Address, ChangedObject, Digest, ExecutionStatus, GasCostSummary, GasPayment, GenesisObject,
    GenesisTransaction, IdOperation, Identifier, MovePackage, Object, ObjectData, ObjectIn,
    ObjectOut, Owner, Transaction, TransactionEffects, TransactionEffectsV2, TransactionExpiration,
    TransactionKind,
};

use crate::object::{self, MoveObject};
use crate::package;

/// Version of every genesis object (Sui's `OBJECT_START_VERSION`).
pub const GENESIS_VERSION: u64 = 1;

/// Balance of the faucet's coin at genesis: 9 billion SUI.
pub const FAUCET_SUPPLY: u64 = 9_000_000_000_000_000_000;

/// Who holds the package's capabilities at genesis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenesisConfig {
    /// Owner of the `AdminCap` and the `EnclaveCap` (the publisher).
    pub admin: Address,
    /// Owner of the `SlasherCap`.
    pub slasher: Address,
    /// Timestamp of checkpoint 0 and the clock's first time.
    pub timestamp_ms: u64,
}

/// The genesis transaction, its objects and effects.
#[derive(Debug, Clone)]
pub struct Genesis {
    /// The `Genesis` transaction.
    pub transaction: Transaction,
    /// Its effects: every object created at version 1.
    pub effects: TransactionEffects,
    /// The objects.
    pub objects: Vec<Object>,
}

fn package_object() -> ObjectData {
    let modules: BTreeMap<Identifier, Vec<u8>> = daas_core::package::module::ALL
        .iter()
        .map(|m| (Identifier::from_static(m), Vec::new()))
        .collect();
    ObjectData::Package(MovePackage {
        id: daas_core::package::PACKAGE_ID,
        version: GENESIS_VERSION,
        modules,
        type_origin_table: Vec::new(),
        linkage_table: BTreeMap::new(),
    })
}

/// Builds genesis for `config`.
pub fn build(config: &GenesisConfig) -> Genesis {
    let mut structs: Vec<MoveObject> = vec![
        object::clock(config.timestamp_ms),
        object::sui_coin(
            crate::faucet::FAUCET_COIN_ID,
            FAUCET_SUPPLY,
            Owner::Address(crate::faucet::faucet_address()),
        ),
    ];
    structs.extend(package::genesis_objects(config.admin, config.slasher));

    let mut genesis_objects = vec![GenesisObject::new(package_object(), Owner::Immutable)];
    let mut datas = vec![(package_object(), Owner::Immutable)];
    for s in &structs {
        if let Some(o) = s.to_object(GENESIS_VERSION, Digest::ZERO, 0) {
            genesis_objects.push(GenesisObject::new(o.data().clone(), s.owner));
            datas.push((o.data().clone(), s.owner));
        }
    }
    let transaction = Transaction {
        kind: TransactionKind::Genesis(GenesisTransaction {
            objects: genesis_objects,
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
    let digest = transaction.digest();
    let objects: Vec<Object> = datas
        .into_iter()
        .map(|(data, owner)| Object::new(data, owner, digest, 0))
        .collect();
    let mut changed_objects: Vec<ChangedObject> = objects
        .iter()
        .map(|o| ChangedObject {
            object_id: o.object_id(),
            input_state: ObjectIn::NotExist,
            output_state: match o.data() {
                ObjectData::Package(_) => ObjectOut::PackageWrite {
                    version: GENESIS_VERSION,
                    digest: o.digest(),
                },
                ObjectData::Struct(_) => ObjectOut::ObjectWrite {
                    digest: o.digest(),
                    owner: *o.owner(),
                },
            },
            id_operation: IdOperation::Created,
        })
        .collect();
    changed_objects.sort_by_key(|c| c.object_id);
    let effects = TransactionEffects::V2(Box::new(TransactionEffectsV2 {
        status: ExecutionStatus::Success,
        epoch: 0,
        gas_used: GasCostSummary::default(),
        transaction_digest: digest,
        gas_object_index: None,
        events_digest: None,
        dependencies: Vec::new(),
        lamport_version: GENESIS_VERSION,
        changed_objects,
        unchanged_consensus_objects: Vec::new(),
        auxiliary_data_digest: None,
    }));
    Genesis {
        transaction,
        effects,
        objects,
    }
}
