//! [`PackageEvent`]: every event of the package, decoded from a Sui event's
//! type tag and BCS contents.

use sui_sdk_types::{Address, StructTag};

use super::staking::SealTokenId;
use super::{MoveField, MoveStruct, audit, enclave, gateway, staking};

/// Why an event of the package could not be decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The type tag names the package but no event it defines.
    #[error("the k3s_daas package defines no event {module}::{name}")]
    UnknownEvent {
        /// The module in the tag.
        module: String,
        /// The struct name in the tag.
        name: String,
    },
    /// The contents are not the BCS of the event (wrong length, bad UTF-8,
    /// unknown role, tier or method code).
    #[error("malformed {name} event contents")]
    Contents {
        /// The event's Move name.
        name: &'static str,
        /// What BCS found wrong.
        #[source]
        source: bcs::Error,
    },
}

macro_rules! package_events {
    ($($module:ident :: $name:ident),* $(,)?) => {
        /// Any event the `k3s_daas` package emits.
        #[derive(Debug, Clone, PartialEq, Eq)]
        #[non_exhaustive]
        pub enum PackageEvent {
            $(
                #[doc = concat!("`", stringify!($module), "::", stringify!($name), "`.")]
                $name($module::$name),
            )*
        }

        impl PackageEvent {
            /// Module, name and fields of every event, in table order.
            pub const ALL: &'static [(&'static str, &'static str, &'static [MoveField])] = &[
                $((
                    <$module::$name as MoveStruct>::MODULE,
                    <$module::$name as MoveStruct>::NAME,
                    <$module::$name as MoveStruct>::FIELDS,
                ),)*
            ];

            /// Decodes a Sui event of type `tag` with BCS `contents`.
            ///
            /// Returns `Ok(None)` when the tag names a type outside the
            /// package at `package` (another package's event).
            ///
            /// # Errors
            /// [`DecodeError::UnknownEvent`] for a type of the package that
            /// is no event; [`DecodeError::Contents`] for bad contents.
            pub fn decode(
                package: Address,
                tag: &StructTag,
                contents: &[u8],
            ) -> Result<Option<Self>, DecodeError> {
                if *tag.address() != package {
                    return Ok(None);
                }
                $(
                    if <$module::$name as MoveStruct>::matches(tag, package) {
                        return bcs::from_bytes(contents)
                            .map(|event| Some(Self::$name(event)))
                            .map_err(|source| DecodeError::Contents {
                                name: stringify!($name),
                                source,
                            });
                    }
                )*
                Err(DecodeError::UnknownEvent {
                    module: tag.module().to_string(),
                    name: tag.name().to_string(),
                })
            }

            /// The event's type tag when the package lives at `package`.
            pub fn struct_tag(&self, package: Address) -> StructTag {
                match self {
                    $(Self::$name(_) => <$module::$name as MoveStruct>::struct_tag(package),)*
                }
            }

            /// The event's BCS contents.
            ///
            /// # Errors
            /// A `bcs` error (not expected for these types).
            pub fn to_bcs(&self) -> Result<Vec<u8>, bcs::Error> {
                match self {
                    $(Self::$name(event) => bcs::to_bytes(event),)*
                }
            }

            /// The event's Move name.
            pub const fn name(&self) -> &'static str {
                match self {
                    $(Self::$name(_) => stringify!($name),)*
                }
            }
        }

        $(
            impl From<$module::$name> for PackageEvent {
                fn from(event: $module::$name) -> Self {
                    Self::$name(event)
                }
            }
        )*
    };
}

package_events! {
    staking::StakeCreated,
    staking::StakeAdded,
    staking::TokenRefreshed,
    staking::UnstakeRequested,
    staking::Withdrawn,
    staking::SlashProposed,
    staking::SlashApproved,
    staking::SlashRejected,
    staking::ParamsUpdated,
    staking::PauseChanged,
    staking::TreasuryWithdrawn,
    staking::SlasherGranted,
    gateway::K8sRequestSubmitted,
    gateway::K8sResultRecorded,
    audit::AuditLogCreated,
    audit::CheckpointAnchored,
    enclave::EnclaveConfigCreated,
    enclave::EnclaveConfigUpdated,
    enclave::EnclaveRegistered,
    enclave::EnclaveDestroyed,
}

impl PackageEvent {
    /// The seal token whose access this event may change (stake created,
    /// added, refreshed, unstaked, withdrawn or slashed), for the master's
    /// revocation path. `None` for events that change no token's access.
    pub fn affected_token(&self) -> Option<SealTokenId> {
        match self {
            Self::StakeCreated(e) => Some(e.token_id),
            Self::StakeAdded(e) => Some(e.token_id),
            Self::TokenRefreshed(e) => Some(e.token_id),
            Self::UnstakeRequested(e) => Some(e.token_id),
            Self::Withdrawn(e) => Some(e.token_id),
            Self::SlashApproved(e) => Some(e.token_id),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::{Mist, PACKAGE_ID, Role};

    fn withdrawn() -> staking::Withdrawn {
        staking::Withdrawn {
            pool_id: Address::new([1; 32]),
            token_id: SealTokenId::new(Address::new([0xaa; 32])),
            owner: Address::new([0x11; 32]),
            role: Role::User,
            node_id: Vec::new(),
            amount: Mist::new(1),
        }
    }

    #[test]
    fn decodes_by_tag_and_round_trips() {
        let event = PackageEvent::from(withdrawn());
        let tag = event.struct_tag(PACKAGE_ID);
        let bytes = event.to_bcs().unwrap();
        let decoded = PackageEvent::decode(PACKAGE_ID, &tag, &bytes).unwrap();
        assert_eq!(decoded, Some(event.clone()));
        assert_eq!(event.name(), "Withdrawn");
        assert_eq!(
            event.affected_token(),
            Some(SealTokenId::new(Address::new([0xaa; 32])))
        );
    }

    #[test]
    fn foreign_unknown_and_malformed_events() {
        let tag = <staking::Withdrawn as MoveStruct>::struct_tag(Address::TWO);
        assert!(
            PackageEvent::decode(PACKAGE_ID, &tag, &[])
                .unwrap()
                .is_none()
        );

        let unknown = <staking::StakePool as MoveStruct>::struct_tag(PACKAGE_ID);
        assert!(matches!(
            PackageEvent::decode(PACKAGE_ID, &unknown, &[]),
            Err(DecodeError::UnknownEvent { .. })
        ));

        let tag = <staking::Withdrawn as MoveStruct>::struct_tag(PACKAGE_ID);
        let mut bytes = bcs::to_bytes(&withdrawn()).unwrap();
        bytes.push(0);
        assert!(matches!(
            PackageEvent::decode(PACKAGE_ID, &tag, &bytes),
            Err(DecodeError::Contents {
                name: "Withdrawn",
                ..
            })
        ));
        assert!(PackageEvent::decode(PACKAGE_ID, &tag, &bytes[..10]).is_err());
    }

    #[test]
    fn event_names_are_unique() {
        let mut names: Vec<_> = PackageEvent::ALL.iter().map(|(_, n, _)| *n).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
    }
}
