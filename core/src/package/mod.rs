//! Rust bindings of the on-chain `k3s_daas` package.
//!
//! `contracts/README.md` is the single table of the package: every object,
//! entry function, abort code, event and constant. This module mirrors it
//! BCS-exactly, one file per Move module:
//!
//! - [`staking`]: the shared `StakePool`, seal tokens, stake records,
//!   slashing, [`Role`] and [`Tier`];
//! - [`gateway`]: Kubernetes API requests recorded on chain;
//! - [`audit`]: Merkle roots of audit batches;
//! - [`enclave`]: enclave configs, registered enclaves and the
//!   intent messages they sign.
//!
//! Every object and event type implements [`MoveStruct`], which names its
//! module, its Move name and its fields in BCS order; a test walks
//! `contracts/README.md` against these lists so the table and the bindings
//! cannot drift. [`PackageEvent`] decodes any event of the package and
//! [`PackageAbort`] turns a Move abort `(module, code)` into a typed error.
//!
//! Wire formats: `UID` and `ID` are 32-byte [`Address`]es, `Balance<SUI>` is
//! a [`Mist`] (`u64`), `Table<K, V>` is a [`MoveTable`], `Option<T>` is a
//! BCS option, `String` and `vector<u8>` are length-prefixed bytes.

use sui_sdk_types::{Address, Identifier, StructTag};

/// Defines a Move-mirroring struct: serde derives in BCS field order and a
/// [`MoveStruct`] impl listing each field with its Move type.
macro_rules! move_struct {
    (
        $(#[$meta:meta])*
        $module:literal :: $name:ident {
            $(
                $(#[$fmeta:meta])*
                $field:ident : $ty:ty => $move_ty:literal
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        pub struct $name {
            $(
                $(#[$fmeta])*
                pub $field: $ty,
            )*
        }

        impl $crate::package::MoveStruct for $name {
            const MODULE: &'static str = $module;
            const NAME: &'static str = stringify!($name);
            const FIELDS: &'static [$crate::package::MoveField] = &[
                $(
                    $crate::package::MoveField {
                        name: stringify!($field),
                        move_type: $move_ty,
                    },
                )*
            ];
        }
    };
}

/// Defines the abort codes of one Move module as a typed enum with
/// `code()`, `from_code()`, `name()` and a `thiserror` message.
macro_rules! abort_codes {
    (
        $(#[$meta:meta])*
        $module:literal => $enum:ident {
            $(
                $(#[$vmeta:meta])*
                $variant:ident = $code:literal, $move_name:literal, $message:literal;
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
        pub enum $enum {
            $(
                $(#[$vmeta])*
                #[error($message)]
                $variant,
            )*
        }

        impl $enum {
            /// The Move module that raises these codes.
            pub const MODULE: &'static str = $module;

            /// Every code of the module, in table order.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)*];

            /// The Move abort code.
            pub const fn code(self) -> u64 {
                match self {
                    $(Self::$variant => $code,)*
                }
            }

            /// The Move constant's name, e.g. `EPaused`.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $move_name,)*
                }
            }

            /// The abort with this Move code, if the module defines it.
            pub const fn from_code(code: u64) -> Option<Self> {
                match code {
                    $($code => Some(Self::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

pub mod audit;
pub mod enclave;
mod event;
pub mod gateway;
mod mist;
pub mod staking;

pub use event::{DecodeError, PackageEvent};
pub use mist::{Mist, MistParseError};
pub use staking::{Role, SealTokenId, Tier, TierThresholds};

/// The Move package name (`[package] name` in `Move.toml`).
pub const PACKAGE_NAME: &str = "k3s_daas";

/// The package address on the embedded devnet (fixed at genesis).
///
/// On real networks the address is the one the publish returned; it comes
/// from the configuration, never from this constant.
pub const PACKAGE_ID: Address =
    Address::from_static("0x000000000000000000000000000000000000000000000000000000000000daa5");

/// The shared `StakePool` created at devnet genesis.
pub const STAKE_POOL_ID: Address =
    Address::from_static("0x00000000000000000000000000000000000000000000000000000000daa50001");

/// The `AdminCap` of the devnet pool, owned by the devnet's operator.
pub const ADMIN_CAP_ID: Address =
    Address::from_static("0x00000000000000000000000000000000000000000000000000000000daa50003");

/// The `SlasherCap` of the devnet pool, owned by the devnet's operator.
pub const SLASHER_CAP_ID: Address =
    Address::from_static("0x00000000000000000000000000000000000000000000000000000000daa50004");

/// The `EnclaveCap` created at devnet genesis, owned by the devnet's operator.
pub const ENCLAVE_CAP_ID: Address =
    Address::from_static("0x00000000000000000000000000000000000000000000000000000000daa50005");

/// The `UID` of `StakePool.records` on the devnet.
pub const STAKE_RECORDS_TABLE_ID: Address =
    Address::from_static("0x00000000000000000000000000000000000000000000000000000000daa50006");

/// The `UID` of `StakePool.proposals` on the devnet.
pub const SLASH_PROPOSALS_TABLE_ID: Address =
    Address::from_static("0x00000000000000000000000000000000000000000000000000000000daa50007");

/// Names of the package's Move modules.
pub mod module {
    /// `k3s_daas::staking`.
    pub const STAKING: &str = "staking";
    /// `k3s_daas::gateway`.
    pub const GATEWAY: &str = "gateway";
    /// `k3s_daas::audit`.
    pub const AUDIT: &str = "audit";
    /// `k3s_daas::enclave`.
    pub const ENCLAVE: &str = "enclave";
    /// Every module of the package.
    pub const ALL: &[&str] = &[STAKING, GATEWAY, AUDIT, ENCLAVE];
}

/// One field of a Move struct: its name and its Move type as written in
/// `contracts/README.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MoveField {
    /// The field's name.
    pub name: &'static str,
    /// The field's Move type, e.g. `Balance<SUI>`.
    pub move_type: &'static str,
}

/// A Rust type that mirrors a struct of the `k3s_daas` package.
pub trait MoveStruct {
    /// The Move module that defines the struct.
    const MODULE: &'static str;
    /// The struct's Move name.
    const NAME: &'static str;
    /// The fields in BCS order.
    const FIELDS: &'static [MoveField];

    /// The struct's type tag when the package lives at `package`.
    fn struct_tag(package: Address) -> StructTag {
        StructTag::new(
            package,
            Identifier::from_static(Self::MODULE),
            Identifier::from_static(Self::NAME),
            Vec::new(),
        )
    }

    /// Whether `tag` names this struct of the package at `package`.
    fn matches(tag: &StructTag, package: Address) -> bool {
        *tag.address() == package
            && tag.module().as_str() == Self::MODULE
            && tag.name().as_str() == Self::NAME
            && tag.type_params().is_empty()
    }
}

/// `0x2::table::Table<K, V>`: the table's own `UID` and its entry count.
///
/// The entries are dynamic fields of `id`; see [`DynamicField`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct MoveTable {
    /// The table's `UID`, parent of its entries.
    pub id: Address,
    /// How many entries the table holds.
    pub size: u64,
}

/// `0x2::dynamic_field::Field<K, V>`: one table entry stored as an object.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DynamicField<K, V> {
    /// The field object's id, derived from the parent and the key.
    pub id: Address,
    /// The key.
    pub name: K,
    /// The value.
    pub value: V,
}

/// A Move abort raised by one of the package's modules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum PackageAbort {
    /// Raised by `k3s_daas::staking`.
    #[error("staking: {0}")]
    Staking(#[from] staking::StakingAbort),
    /// Raised by `k3s_daas::gateway`.
    #[error("gateway: {0}")]
    Gateway(#[from] gateway::GatewayAbort),
    /// Raised by `k3s_daas::audit`.
    #[error("audit: {0}")]
    Audit(#[from] audit::AuditAbort),
    /// Raised by `k3s_daas::enclave`.
    #[error("enclave: {0}")]
    Enclave(#[from] enclave::EnclaveAbort),
}

impl PackageAbort {
    /// The typed abort for Move abort `code` raised in `module`, if the
    /// package defines it.
    pub fn from_module_code(module: &str, code: u64) -> Option<Self> {
        match module {
            module::STAKING => staking::StakingAbort::from_code(code).map(Self::Staking),
            module::GATEWAY => gateway::GatewayAbort::from_code(code).map(Self::Gateway),
            module::AUDIT => audit::AuditAbort::from_code(code).map(Self::Audit),
            module::ENCLAVE => enclave::EnclaveAbort::from_code(code).map(Self::Enclave),
            _ => None,
        }
    }

    /// The module that raised the abort.
    pub const fn module(self) -> &'static str {
        match self {
            Self::Staking(_) => module::STAKING,
            Self::Gateway(_) => module::GATEWAY,
            Self::Audit(_) => module::AUDIT,
            Self::Enclave(_) => module::ENCLAVE,
        }
    }

    /// The Move abort code.
    pub const fn code(self) -> u64 {
        match self {
            Self::Staking(a) => a.code(),
            Self::Gateway(a) => a.code(),
            Self::Audit(a) => a.code(),
            Self::Enclave(a) => a.code(),
        }
    }

    /// The Move constant's name, e.g. `EPaused`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Staking(a) => a.name(),
            Self::Gateway(a) => a.name(),
            Self::Audit(a) => a.name(),
            Self::Enclave(a) => a.name(),
        }
    }

    /// What it means, e.g. `the pool is paused`.
    pub fn meaning(self) -> String {
        match self {
            Self::Staking(a) => a.to_string(),
            Self::Gateway(a) => a.to_string(),
            Self::Audit(a) => a.to_string(),
            Self::Enclave(a) => a.to_string(),
        }
    }
}

#[cfg(test)]
mod contract_table;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devnet_ids_are_distinct_and_fixed() {
        let ids = [
            PACKAGE_ID,
            STAKE_POOL_ID,
            ADMIN_CAP_ID,
            SLASHER_CAP_ID,
            ENCLAVE_CAP_ID,
            STAKE_RECORDS_TABLE_ID,
            SLASH_PROPOSALS_TABLE_ID,
        ];
        for (i, a) in ids.iter().enumerate() {
            for b in &ids[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_eq!(PACKAGE_ID.as_bytes()[30..], [0xda, 0xa5]);
    }

    #[test]
    fn aborts_round_trip_through_module_and_code() {
        let all = staking::StakingAbort::ALL
            .iter()
            .map(|a| PackageAbort::from(*a))
            .chain(
                gateway::GatewayAbort::ALL
                    .iter()
                    .map(|a| PackageAbort::from(*a)),
            )
            .chain(
                audit::AuditAbort::ALL
                    .iter()
                    .map(|a| PackageAbort::from(*a)),
            )
            .chain(
                enclave::EnclaveAbort::ALL
                    .iter()
                    .map(|a| PackageAbort::from(*a)),
            );
        let mut codes = std::collections::HashSet::new();
        for abort in all {
            assert_eq!(
                PackageAbort::from_module_code(abort.module(), abort.code()),
                Some(abort)
            );
            assert!(
                codes.insert(abort.code()),
                "duplicate code {}",
                abort.code()
            );
            assert!(abort.name().starts_with('E'));
        }
        assert_eq!(PackageAbort::from_module_code("staking", 0), None);
        assert_eq!(PackageAbort::from_module_code("coin", 1), None);
    }

    #[test]
    fn table_and_field_encode_as_framework_types() {
        let table = MoveTable {
            id: STAKE_RECORDS_TABLE_ID,
            size: 2,
        };
        let bytes = bcs::to_bytes(&table).unwrap();
        assert_eq!(bytes.len(), 40);
        assert_eq!(&bytes[..32], STAKE_RECORDS_TABLE_ID.as_bytes());
        assert_eq!(&bytes[32..], &2u64.to_le_bytes());
        assert_eq!(bcs::from_bytes::<MoveTable>(&bytes).unwrap(), table);
    }
}
