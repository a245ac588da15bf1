//! Typed reads of the `k3s_daas` objects: `GetObject` with BCS contents,
//! checked against the expected Move type and decoded into the
//! `daas_core::package` structs.
//!
//! Table entries (stake records, slash proposals) are dynamic-field
//! objects whose ids are derived from the table's `UID` and the key
//! (`daas_core::package::staking::stake_record_field_id`).

use serde::de::DeserializeOwned;
use sui_sdk_types::{Address, Ed25519PublicKey, Owner};
use tracing::instrument;

use super::client::{ChainClient, RawObject};
use super::error::ChainError;
use crate::attestation::{ExpectedPcrs, Pcr};
use crate::package::audit::{AuditLog, CheckpointAnchor, checkpoint_field_id};
use crate::package::enclave::{Enclave, EnclaveConfig};
use crate::package::gateway::K8sRequest;
use crate::package::staking::{
    SealToken, SlashProposal, StakePool, StakeRecord, TokenStatus, slash_proposal_field_id,
    stake_record_field_id,
};
use crate::package::{DynamicField, MoveStruct, SealTokenId, Tier};

/// A decoded object with its on-chain reference data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<T> {
    /// The decoded Move value.
    pub value: T,
    /// The object as read (id, version, digest, owner, raw contents).
    pub object: RawObject,
}

/// Everything the master needs to decide about one seal token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealTokenState {
    /// The token object.
    pub token: Versioned<SealToken>,
    /// Its stake record; `None` once withdrawn (or for a foreign pool).
    pub record: Option<StakeRecord>,
    /// The pool's state at the time of the read.
    pub pool: StakePool,
}

impl SealTokenState {
    /// The address that owns the token object, if an address owns it.
    pub fn object_owner(&self) -> Option<Address> {
        match self.token.object.owner {
            Owner::Address(owner) => Some(owner),
            _ => None,
        }
    }

    /// The token's status at `now_ms`; `None` without a stake record.
    pub fn status(&self, now_ms: u64) -> Option<TokenStatus> {
        self.record
            .as_ref()
            .map(|r| r.status(now_ms, &self.pool.params))
    }

    /// Whether the token grants access at `now_ms`: record present, owned
    /// by the record's owner, active.
    pub fn is_active(&self, now_ms: u64) -> bool {
        let Some(record) = &self.record else {
            return false;
        };
        self.object_owner() == Some(record.owner)
            && self.token.value.pool_id == self.pool.id
            && record.status(now_ms, &self.pool.params) == TokenStatus::Active
    }

    /// The access tier the token's current stake buys; none for a
    /// worker's token, whose stake admits a node and never grants
    /// `kubectl` access (the package's events still carry a tier for it).
    pub fn tier(&self) -> Option<Tier> {
        let tier = self.record.as_ref().and_then(|r| r.tier(&self.pool.params));
        self.token.value.role.access_tier(tier)
    }
}

/// The PCRs `config` expects, as the attestation verifier's
/// [`ExpectedPcrs`] (PCR 0, 1, 2; PCR 8 is not pinned on chain), so a
/// client can build its [`crate::attestation::Policy`] from the chain.
///
/// # Errors
/// [`ChainError::MalformedResponse`] if a PCR is not 48 bytes (the package
/// never stores one; fails closed).
pub fn expected_pcrs(config: &EnclaveConfig) -> Result<ExpectedPcrs, ChainError> {
    let pcr = |index: u8, bytes: &[u8]| {
        Pcr::from_slice(bytes).ok_or_else(|| {
            ChainError::malformed(format!(
                "EnclaveConfig {} has a {}-byte PCR{index}, expected 48",
                config.id,
                bytes.len()
            ))
        })
    };
    Ok(ExpectedPcrs {
        pcr0: pcr(0, &config.pcr0)?,
        pcr1: pcr(1, &config.pcr1)?,
        pcr2: pcr(2, &config.pcr2)?,
        pcr8: None,
    })
}

/// The Ed25519 public key registered in `enclave`.
///
/// # Errors
/// [`ChainError::MalformedResponse`] if the key is not 32 bytes (the
/// package never stores one; fails closed).
pub fn enclave_public_key(enclave: &Enclave) -> Result<Ed25519PublicKey, ChainError> {
    <[u8; 32]>::try_from(enclave.pk.as_slice())
        .map(Ed25519PublicKey::new)
        .map_err(|_| {
            ChainError::malformed(format!(
                "Enclave {} holds a {}-byte public key, expected 32",
                enclave.id,
                enclave.pk.len()
            ))
        })
}

impl ChainClient {
    /// Reads object `id` and decodes it as the package struct `T`.
    ///
    /// # Errors
    /// [`ChainError::ObjectNotFound`], [`ChainError::WrongObjectType`],
    /// [`ChainError::Decode`].
    pub async fn read<T: MoveStruct + DeserializeOwned>(
        &self,
        id: Address,
    ) -> Result<Versioned<T>, ChainError> {
        let object = self.object(id).await?;
        let value = object.decode::<T>(self.package_id(), T::MODULE, T::NAME)?;
        Ok(Versioned { value, object })
    }

    /// Reads the dynamic field `id` (a table entry) and decodes its value.
    async fn read_field<K: DeserializeOwned, V: DeserializeOwned>(
        &self,
        id: Address,
        what: &str,
    ) -> Result<Option<V>, ChainError> {
        let object = match self.object(id).await {
            Ok(object) => object,
            Err(ChainError::ObjectNotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let tag = &object.object_type;
        if *tag.address() != Address::TWO
            || tag.module().as_str() != "dynamic_field"
            || tag.name().as_str() != "Field"
        {
            return Err(ChainError::WrongObjectType {
                id,
                expected: format!("0x2::dynamic_field::Field<_, {what}>"),
                found: tag.to_string(),
            });
        }
        let field: DynamicField<K, V> =
            bcs::from_bytes(&object.contents).map_err(|source| ChainError::Decode {
                what: format!("{what} table entry {id}"),
                source,
            })?;
        Ok(Some(field.value))
    }

    /// The shared `StakePool`.
    ///
    /// # Errors
    /// As [`ChainClient::read`].
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn stake_pool(&self) -> Result<Versioned<StakePool>, ChainError> {
        self.read(self.stake_pool_id()).await
    }

    /// A `SealToken`.
    ///
    /// # Errors
    /// As [`ChainClient::read`]; a withdrawn token is
    /// [`ChainError::ObjectNotFound`].
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn seal_token(&self, token: SealTokenId) -> Result<Versioned<SealToken>, ChainError> {
        self.read(token.address()).await
    }

    /// The `StakeRecord` behind `token` in the configured pool, `None` if
    /// the pool holds none (withdrawn, or never staked there).
    ///
    /// # Errors
    /// The node failed or the entry is malformed.
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn stake_record(
        &self,
        token: SealTokenId,
    ) -> Result<Option<StakeRecord>, ChainError> {
        let pool = self.stake_pool().await?;
        self.stake_record_in(&pool.value, token).await
    }

    async fn stake_record_in(
        &self,
        pool: &StakePool,
        token: SealTokenId,
    ) -> Result<Option<StakeRecord>, ChainError> {
        let id = stake_record_field_id(pool.records.id, token);
        self.read_field::<Address, StakeRecord>(id, "StakeRecord")
            .await
    }

    /// The pending `SlashProposal` `proposal_id`, `None` once approved or
    /// rejected.
    ///
    /// # Errors
    /// The node failed or the entry is malformed.
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn slash_proposal(
        &self,
        proposal_id: u64,
    ) -> Result<Option<SlashProposal>, ChainError> {
        let pool = self.stake_pool().await?;
        let id = slash_proposal_field_id(pool.value.proposals.id, proposal_id);
        self.read_field::<u64, SlashProposal>(id, "SlashProposal")
            .await
    }

    /// Token, stake record and pool in one go, for access decisions.
    ///
    /// # Errors
    /// As [`ChainClient::read`]; a withdrawn token is
    /// [`ChainError::ObjectNotFound`].
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn seal_token_state(&self, token: SealTokenId) -> Result<SealTokenState, ChainError> {
        let object = self.seal_token(token).await?;
        let pool = self.stake_pool().await?.value;
        let record = if object.value.pool_id == pool.id {
            self.stake_record_in(&pool, token).await?
        } else {
            None
        };
        Ok(SealTokenState {
            token: object,
            record,
            pool,
        })
    }

    /// An `EnclaveConfig`.
    ///
    /// # Errors
    /// As [`ChainClient::read`].
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn enclave_config(
        &self,
        id: Address,
    ) -> Result<Versioned<EnclaveConfig>, ChainError> {
        self.read(id).await
    }

    /// A registered `Enclave`.
    ///
    /// # Errors
    /// As [`ChainClient::read`].
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn enclave(&self, id: Address) -> Result<Versioned<Enclave>, ChainError> {
        self.read(id).await
    }

    /// The PCRs the `EnclaveConfig` `config` expects (see
    /// [`expected_pcrs`]): what a client pins instead of configured PCRs.
    ///
    /// # Errors
    /// As [`ChainClient::read`]; a PCR that is not 48 bytes.
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn enclave_expected_pcrs(&self, config: Address) -> Result<ExpectedPcrs, ChainError> {
        expected_pcrs(&self.enclave_config(config).await?.value)
    }

    /// The Ed25519 public key of the registered `Enclave` `enclave`.
    ///
    /// # Errors
    /// As [`ChainClient::read`]; a key that is not 32 bytes.
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn enclave_public_key(
        &self,
        enclave: Address,
    ) -> Result<Ed25519PublicKey, ChainError> {
        enclave_public_key(&self.enclave(enclave).await?.value)
    }

    /// A gateway `K8sRequest`.
    ///
    /// # Errors
    /// As [`ChainClient::read`].
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn k8s_request(&self, id: Address) -> Result<Versioned<K8sRequest>, ChainError> {
        self.read(id).await
    }

    /// The shared `AuditLog` `id`.
    ///
    /// # Errors
    /// As [`ChainClient::read`].
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn audit_log(&self, id: Address) -> Result<Versioned<AuditLog>, ChainError> {
        self.read(id).await
    }

    /// The checkpoint anchored for a tree of `tree_size` leaves in the log
    /// whose `checkpoints` table has UID `table`; `None` when no
    /// checkpoint of that size was anchored.
    ///
    /// # Errors
    /// The node failed or the entry is malformed.
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn audit_checkpoint(
        &self,
        table: Address,
        tree_size: u64,
    ) -> Result<Option<CheckpointAnchor>, ChainError> {
        let id = checkpoint_field_id(table, tree_size);
        self.read_field::<u64, CheckpointAnchor>(id, "CheckpointAnchor")
            .await
    }
}

/// BCS layout of the `0x2::clock::Clock` shared object (`0x6`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
struct ClockContents {
    /// Always `0x6`.
    #[allow(dead_code, reason = "a BCS field; only the layout needs it")]
    id: Address,
    /// The time of the latest checkpoint, ms since the Unix epoch.
    timestamp_ms: u64,
}

impl ChainClient {
    /// The chain's time: `timestamp_ms` of the Clock object `0x6`, which
    /// shows the time of the latest checkpoint (on the devnet, including
    /// any clock advance made by tests).
    ///
    /// # Errors
    /// [`ChainError::ObjectNotFound`], [`ChainError::WrongObjectType`] or
    /// [`ChainError::Decode`] if `0x6` is not a clock; RPC failures.
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn clock_timestamp_ms(&self) -> Result<u64, ChainError> {
        let object = self.object(super::profile::CLOCK_ID).await?;
        let clock: ClockContents = object.decode(Address::TWO, "clock", "Clock")?;
        Ok(clock.timestamp_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pcr2: Vec<u8>) -> EnclaveConfig {
        EnclaveConfig {
            id: Address::from_static("0xc0"),
            name: "master".to_owned(),
            pcr0: vec![1; 48],
            pcr1: vec![2; 48],
            pcr2,
            version: 3,
        }
    }

    #[test]
    fn expected_pcrs_come_from_the_config() {
        let expected = expected_pcrs(&config(vec![3; 48])).unwrap();
        assert_eq!(expected.pcr0, Pcr::new([1; 48]));
        assert_eq!(expected.pcr1, Pcr::new([2; 48]));
        assert_eq!(expected.pcr2, Pcr::new([3; 48]));
        assert_eq!(expected.pcr8, None);
    }

    #[test]
    fn a_malformed_pcr_fails_closed() {
        let err = expected_pcrs(&config(vec![3; 47])).unwrap_err();
        assert!(err.to_string().contains("47-byte PCR2"), "{err}");
    }

    #[test]
    fn enclave_keys_must_be_32_bytes() {
        let mut enclave = Enclave {
            id: Address::from_static("0xe1"),
            config_id: Address::from_static("0xc0"),
            config_version: 0,
            pk: vec![9; 32],
            owner: Address::ZERO,
            registered_at_ms: 1,
        };
        assert_eq!(
            enclave_public_key(&enclave).unwrap(),
            Ed25519PublicKey::new([9; 32])
        );
        enclave.pk.push(0);
        let err = enclave_public_key(&enclave).unwrap_err();
        assert!(err.to_string().contains("33-byte public key"), "{err}");
    }
}
