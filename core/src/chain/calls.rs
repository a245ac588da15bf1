//! Typed calls of every entry function of the `k3s_daas` package.
//!
//! Each call resolves its object arguments (shared objects by initial
//! shared version, owned objects at their current version), builds the
//! programmable transaction of [`super::ptb`], pays, signs, executes and
//! waits through [`ChainClient::execute`], and returns the event the entry
//! function emits, decoded into its `daas_core::package` type, with the
//! whole [`TxOutcome`]. A Move abort comes back as [`ChainError::Aborted`];
//! [`ChainError::package_abort`] turns it into the package's typed abort.

use serde::de::DeserializeOwned;
use sui_sdk_types::{Address, Digest};
use tracing::instrument;

use super::client::{ChainClient, TxOutcome};
use super::error::ChainError;
use super::ptb;
use super::signer::TransactionSigner;
use crate::access::NodeName;
use crate::package::audit::{AuditLogCreated, CheckpointAnchored};
use crate::package::enclave::{
    EnclaveConfigCreated, EnclaveConfigUpdated, EnclaveDestroyed, EnclaveRegistered,
};
use crate::package::gateway::{HttpMethod, K8sRequestSubmitted, K8sResultRecorded};
use crate::package::staking::{
    ParamsUpdated, PauseChanged, PoolParams, SealToken, SlashApproved, SlashProposed,
    SlashRejected, SlasherGranted, StakeAdded, StakeCreated, TokenRefreshed, TreasuryWithdrawn,
    UnstakeRequested, Withdrawn,
};
use crate::package::{Mist, MoveStruct, Role, SealTokenId};

/// A successful call: the event it emitted and the transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Called<E> {
    /// The entry function's event.
    pub event: E,
    /// The executed transaction.
    pub outcome: TxOutcome,
}

/// The result of `stake_and_mint`: the new seal token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Minted {
    /// The new token's id.
    pub token: SealTokenId,
    /// The token object's version.
    pub version: u64,
    /// The token object's digest.
    pub digest: Option<Digest>,
    /// The `StakeCreated` event.
    pub event: StakeCreated,
    /// The executed transaction.
    pub outcome: TxOutcome,
}

/// A Kubernetes API request for `gateway::submit_k8s_request`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct K8sRequest<'a> {
    /// HTTP method.
    pub method: HttpMethod,
    /// API path, starting with `/`.
    pub path: &'a str,
    /// Namespace, may be empty.
    pub namespace: &'a str,
    /// Resource type, may be empty.
    pub resource_type: &'a str,
    /// Request body.
    pub payload: &'a [u8],
}

/// The event of type `E` in `outcome`, decoded.
///
/// # Errors
/// [`ChainError::MalformedResponse`] if the transaction emitted no such
/// event, [`ChainError::Decode`] if its contents do not decode.
pub fn event_of<E: MoveStruct + DeserializeOwned>(
    outcome: &TxOutcome,
    package: Address,
) -> Result<E, ChainError> {
    let event = outcome
        .events
        .iter()
        .find(|e| E::matches(&e.event_type, package))
        .ok_or_else(|| {
            ChainError::malformed(format!(
                "transaction {} emitted no {}::{} event",
                outcome.digest,
                E::MODULE,
                E::NAME
            ))
        })?;
    bcs::from_bytes(&event.contents).map_err(|source| ChainError::Decode {
        what: format!("{}::{} event", E::MODULE, E::NAME),
        source,
    })
}

/// Refuses a `stake_and_mint` node id the master would refuse: a worker's
/// must be a [`NodeName`], a user's must be empty.
fn check_stake_node_id(role: Role, node_id: &str) -> Result<(), ChainError> {
    let reason = match role {
        Role::Worker => node_id.parse::<NodeName>().err().map(|e| e.to_string()),
        Role::User => (!node_id.is_empty())
            .then(|| format!("a user seal token has no node id (got {node_id:?})")),
    };
    match reason {
        None => Ok(()),
        Some(reason) => Err(ChainError::InvalidArgument {
            argument: "node_id",
            reason,
        }),
    }
}

impl ChainClient {
    async fn call<E, F>(
        &self,
        signer: &dyn TransactionSigner,
        spend: u64,
        build: F,
    ) -> Result<Called<E>, ChainError>
    where
        E: MoveStruct + DeserializeOwned,
        F: FnOnce(&mut sui_transaction_builder::TransactionBuilder) -> Result<(), ChainError>,
    {
        let outcome = self
            .execute(signer, spend, self.gas_options(), build)
            .await?;
        let event = event_of(&outcome, self.package_id())?;
        Ok(Called { event, outcome })
    }

    /// `staking::stake_and_mint`: stakes `amount` from the signer's SUI and
    /// mints a seal token for `role` (`node_id` is the worker's Kubernetes
    /// node name, empty for a user).
    ///
    /// A worker's node name must be one the master admits ([`NodeName`]:
    /// the package alone would accept names the master refuses, and the
    /// stake would admit no node); a user token takes no node id. Both are
    /// checked before anything is read or signed.
    ///
    /// # Errors
    /// [`ChainError::InvalidArgument`] for such a `node_id`; aborts such as
    /// `EStakeTooLow`, `EWorkerStakeTooLow`; see `contracts/README.md`.
    #[instrument(skip(self, signer), fields(sender = %signer.address()), err(level = "debug"))]
    pub async fn stake_and_mint(
        &self,
        signer: &dyn TransactionSigner,
        amount: Mist,
        role: Role,
        node_id: &str,
    ) -> Result<Minted, ChainError> {
        let transaction = self
            .prepare_stake_and_mint(signer.address(), amount, role, node_id)
            .await?;
        let outcome = self.sign_and_execute(signer, transaction).await?;
        self.minted(outcome)
    }

    /// The paid-for `stake_and_mint` transaction of `sender`, unsigned, for
    /// a caller that records it before sending it
    /// ([`ChainClient::sign_and_execute`]) so that a crash never stakes
    /// twice; [`minted`](Self::minted) reads its outcome.
    ///
    /// # Errors
    /// As [`stake_and_mint`](Self::stake_and_mint), up to the dry run.
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn prepare_stake_and_mint(
        &self,
        sender: Address,
        amount: Mist,
        role: Role,
        node_id: &str,
    ) -> Result<sui_sdk_types::Transaction, ChainError> {
        check_stake_node_id(role, node_id)?;
        let package = self.package_id();
        let pool = self.shared_object(self.stake_pool_id(), true).await?;
        self.prepare(sender, amount.get(), self.gas_options(), |tx| {
            ptb::stake_and_mint(
                tx,
                package,
                pool,
                amount.get(),
                role.code(),
                node_id.as_bytes(),
            );
            Ok(())
        })
        .await
    }

    /// The seal token a `stake_and_mint` transaction minted.
    ///
    /// # Errors
    /// [`ChainError::MalformedResponse`] or [`ChainError::WrongObjectType`]
    /// when `outcome` is not such a transaction.
    pub fn minted(&self, outcome: TxOutcome) -> Result<Minted, ChainError> {
        let package = self.package_id();
        let event: StakeCreated = event_of(&outcome, package)?;
        let token = event.token_id;
        let change = outcome.change_of(token.address()).ok_or_else(|| {
            ChainError::malformed(format!(
                "transaction {} minted token {token} but its effects do not list it",
                outcome.digest
            ))
        })?;
        let version = change
            .version
            .ok_or_else(|| ChainError::malformed(format!("minted token {token} has no version")))?;
        if change
            .object_type
            .as_ref()
            .is_some_and(|t| !SealToken::matches(t, package))
        {
            return Err(ChainError::WrongObjectType {
                id: token.address(),
                expected: SealToken::struct_tag(package).to_string(),
                found: change
                    .object_type
                    .as_ref()
                    .map_or_else(String::new, ToString::to_string),
            });
        }
        let digest = change.digest;
        Ok(Minted {
            token,
            version,
            digest,
            event,
            outcome,
        })
    }

    /// `staking::add_stake`: adds `amount` to the stake behind `token`.
    ///
    /// # Errors
    /// Aborts such as `EUnbonding`, `EZeroAmount`.
    #[instrument(skip(self, signer), fields(sender = %signer.address()), err(level = "debug"))]
    pub async fn add_stake(
        &self,
        signer: &dyn TransactionSigner,
        token: SealTokenId,
        amount: Mist,
    ) -> Result<Called<StakeAdded>, ChainError> {
        let package = self.package_id();
        let pool = self.shared_object(self.stake_pool_id(), true).await?;
        let token = self.owned_object(token.address()).await?;
        self.call(signer, amount.get(), |tx| {
            ptb::add_stake(tx, package, pool, token, amount.get());
            Ok(())
        })
        .await
    }

    /// `staking::refresh`: extends `token`'s expiry by the token lifetime.
    ///
    /// # Errors
    /// Aborts such as `EUnbonding`, `EStakeTooLow`.
    #[instrument(skip(self, signer), fields(sender = %signer.address()), err(level = "debug"))]
    pub async fn refresh(
        &self,
        signer: &dyn TransactionSigner,
        token: SealTokenId,
    ) -> Result<Called<TokenRefreshed>, ChainError> {
        let package = self.package_id();
        let pool = self.shared_object(self.stake_pool_id(), true).await?;
        let token = self.owned_object(token.address()).await?;
        self.call(signer, 0, |tx| {
            ptb::refresh(tx, package, pool, token);
            Ok(())
        })
        .await
    }

    /// `staking::request_unstake`: ends `token`'s access now and starts the
    /// unbonding period.
    ///
    /// # Errors
    /// Aborts such as `EUnbonding`.
    #[instrument(skip(self, signer), fields(sender = %signer.address()), err(level = "debug"))]
    pub async fn request_unstake(
        &self,
        signer: &dyn TransactionSigner,
        token: SealTokenId,
    ) -> Result<Called<UnstakeRequested>, ChainError> {
        let package = self.package_id();
        let pool = self.shared_object(self.stake_pool_id(), true).await?;
        let token = self.owned_object(token.address()).await?;
        self.call(signer, 0, |tx| {
            ptb::request_unstake(tx, package, pool, token);
            Ok(())
        })
        .await
    }

    /// `staking::withdraw`: after unbonding, returns the whole stake to the
    /// signer and deletes `token`.
    ///
    /// # Errors
    /// Aborts `ENotUnbonding`, `EUnbondingNotOver`.
    #[instrument(skip(self, signer), fields(sender = %signer.address()), err(level = "debug"))]
    pub async fn withdraw(
        &self,
        signer: &dyn TransactionSigner,
        token: SealTokenId,
    ) -> Result<Called<Withdrawn>, ChainError> {
        let package = self.package_id();
        let pool = self.shared_object(self.stake_pool_id(), true).await?;
        let token = self.owned_object(token.address()).await?;
        self.call(signer, 0, |tx| {
            ptb::withdraw(tx, package, pool, token);
            Ok(())
        })
        .await
    }

    /// `staking::propose_slash`: anyone proposes slashing `token`'s stake.
    ///
    /// # Errors
    /// Aborts such as `EUnknownToken`, `EEvidenceHashLength`.
    #[instrument(skip(self, signer, evidence_hash), fields(sender = %signer.address()), err(level = "debug"))]
    pub async fn propose_slash(
        &self,
        signer: &dyn TransactionSigner,
        token: SealTokenId,
        evidence_hash: &[u8],
        reason: &str,
    ) -> Result<Called<SlashProposed>, ChainError> {
        let package = self.package_id();
        let pool = self.shared_object(self.stake_pool_id(), true).await?;
        self.call(signer, 0, |tx| {
            ptb::propose_slash(tx, package, pool, token.address(), evidence_hash, reason);
            Ok(())
        })
        .await
    }

    /// `staking::approve_slash` with the `SlasherCap` `cap`.
    ///
    /// # Errors
    /// Aborts such as `EUnknownProposal`; a signer without `cap` is refused.
    #[instrument(skip(self, signer), fields(sender = %signer.address()), err(level = "debug"))]
    pub async fn approve_slash(
        &self,
        signer: &dyn TransactionSigner,
        cap: Address,
        proposal_id: u64,
    ) -> Result<Called<SlashApproved>, ChainError> {
        let package = self.package_id();
        let pool = self.shared_object(self.stake_pool_id(), true).await?;
        let cap = self.owned_object(cap).await?;
        self.call(signer, 0, |tx| {
            ptb::approve_slash(tx, package, pool, cap, proposal_id);
            Ok(())
        })
        .await
    }

    /// `staking::reject_slash` with the `SlasherCap` `cap`.
    ///
    /// # Errors
    /// Abort `EUnknownProposal`; a signer without `cap` is refused.
    #[instrument(skip(self, signer), fields(sender = %signer.address()), err(level = "debug"))]
    pub async fn reject_slash(
        &self,
        signer: &dyn TransactionSigner,
        cap: Address,
        proposal_id: u64,
    ) -> Result<Called<SlashRejected>, ChainError> {
        let package = self.package_id();
        let pool = self.shared_object(self.stake_pool_id(), true).await?;
        let cap = self.owned_object(cap).await?;
        self.call(signer, 0, |tx| {
            ptb::reject_slash(tx, package, pool, cap, proposal_id);
            Ok(())
        })
        .await
    }

    /// `staking::set_params` with the `AdminCap` `cap`.
    ///
    /// # Errors
    /// [`ChainError::InvalidArgument`] for parameters the package would
    /// refuse (checked before sending); abort `EInvalidParams`.
    #[instrument(skip(self, signer, params), fields(sender = %signer.address()), err(level = "debug"))]
    pub async fn set_params(
        &self,
        signer: &dyn TransactionSigner,
        cap: Address,
        params: &PoolParams,
    ) -> Result<Called<ParamsUpdated>, ChainError> {
        params.validate().map_err(|e| ChainError::InvalidArgument {
            argument: "params",
            reason: e.to_string(),
        })?;
        let package = self.package_id();
        let pool = self.shared_object(self.stake_pool_id(), true).await?;
        let cap = self.owned_object(cap).await?;
        self.call(signer, 0, |tx| {
            ptb::set_params(tx, package, pool, cap, params);
            Ok(())
        })
        .await
    }

    /// `staking::set_paused` with the `AdminCap` `cap`.
    ///
    /// # Errors
    /// Abort `EWrongPool`; a signer without `cap` is refused.
    #[instrument(skip(self, signer), fields(sender = %signer.address()), err(level = "debug"))]
    pub async fn set_paused(
        &self,
        signer: &dyn TransactionSigner,
        cap: Address,
        paused: bool,
    ) -> Result<Called<PauseChanged>, ChainError> {
        let package = self.package_id();
        let pool = self.shared_object(self.stake_pool_id(), true).await?;
        let cap = self.owned_object(cap).await?;
        self.call(signer, 0, |tx| {
            ptb::set_paused(tx, package, pool, cap, paused);
            Ok(())
        })
        .await
    }

    /// `staking::withdraw_treasury` with the `AdminCap` `cap`.
    ///
    /// # Errors
    /// Aborts `EZeroAmount`, `EInsufficientTreasury`.
    #[instrument(skip(self, signer), fields(sender = %signer.address()), err(level = "debug"))]
    pub async fn withdraw_treasury(
        &self,
        signer: &dyn TransactionSigner,
        cap: Address,
        amount: Mist,
    ) -> Result<Called<TreasuryWithdrawn>, ChainError> {
        let package = self.package_id();
        let pool = self.shared_object(self.stake_pool_id(), true).await?;
        let cap = self.owned_object(cap).await?;
        self.call(signer, 0, |tx| {
            ptb::withdraw_treasury(tx, package, pool, cap, amount.get());
            Ok(())
        })
        .await
    }

    /// `staking::grant_slasher`: mints a `SlasherCap` to `recipient`.
    ///
    /// # Errors
    /// Abort `EWrongPool`; a signer without `cap` is refused.
    #[instrument(skip(self, signer), fields(sender = %signer.address()), err(level = "debug"))]
    pub async fn grant_slasher(
        &self,
        signer: &dyn TransactionSigner,
        cap: Address,
        recipient: Address,
    ) -> Result<Called<SlasherGranted>, ChainError> {
        let package = self.package_id();
        let pool = self.shared_object(self.stake_pool_id(), false).await?;
        let cap = self.owned_object(cap).await?;
        self.call(signer, 0, |tx| {
            ptb::grant_slasher(tx, package, pool, cap, recipient);
            Ok(())
        })
        .await
    }

    /// `gateway::submit_k8s_request` with the signer's seal token.
    ///
    /// # Errors
    /// Aborts `staking::ETokenInactive`, `EMethodInvalid`, `EPathInvalid`, …
    #[instrument(skip(self, signer, request), fields(sender = %signer.address()), err(level = "debug"))]
    pub async fn submit_k8s_request(
        &self,
        signer: &dyn TransactionSigner,
        token: SealTokenId,
        request: &K8sRequest<'_>,
    ) -> Result<Called<K8sRequestSubmitted>, ChainError> {
        let package = self.package_id();
        let pool = self.shared_object(self.stake_pool_id(), false).await?;
        let token = self.owned_object(token.address()).await?;
        let args = ptb::K8sRequestArgs {
            method: request.method.as_str(),
            path: request.path,
            namespace: request.namespace,
            resource_type: request.resource_type,
            payload: request.payload,
        };
        self.call(signer, 0, |tx| {
            ptb::submit_k8s_request(tx, package, pool, token, &args);
            Ok(())
        })
        .await
    }

    /// `gateway::record_k8s_result`: records the enclave-signed result of
    /// the shared `K8sRequest` `request`.
    ///
    /// # Errors
    /// Aborts `EAlreadyRecorded`, `EInvalidSignature`, `enclave::EStaleEnclave`, …
    #[instrument(skip(self, signer, result), fields(sender = %signer.address()), err(level = "debug"))]
    pub async fn record_k8s_result(
        &self,
        signer: &dyn TransactionSigner,
        request: Address,
        enclave: Address,
        config: Address,
        result: &ptb::K8sResultArgs<'_>,
    ) -> Result<Called<K8sResultRecorded>, ChainError> {
        let package = self.package_id();
        let request = self.shared_object(request, true).await?;
        let enclave = self.shared_object(enclave, false).await?;
        let config = self.shared_object(config, false).await?;
        self.call(signer, 0, |tx| {
            ptb::record_k8s_result(tx, package, request, enclave, config, result);
            Ok(())
        })
        .await
    }

    /// `audit::create_log`: shares a new audit log bound to `enclave`,
    /// which signed the request.
    ///
    /// # Errors
    /// Aborts `EInvalidSignature`, `enclave::EStaleEnclave`, …
    #[instrument(skip(self, signer, request), fields(sender = %signer.address()), err(level = "debug"))]
    pub async fn create_audit_log(
        &self,
        signer: &dyn TransactionSigner,
        enclave: Address,
        config: Address,
        request: &ptb::AuditLogArgs<'_>,
    ) -> Result<Called<AuditLogCreated>, ChainError> {
        let package = self.package_id();
        let enclave = self.shared_object(enclave, false).await?;
        let config = self.shared_object(config, false).await?;
        self.call(signer, 0, |tx| {
            ptb::create_audit_log(tx, package, enclave, config, request);
            Ok(())
        })
        .await
    }

    /// `audit::anchor_checkpoint`: anchors an enclave-signed checkpoint
    /// of the audit log in the shared `AuditLog` `log`.
    ///
    /// # Errors
    /// Aborts `ETreeNotGrown`, `EInvalidSignature`, `enclave::EStaleEnclave`, …
    #[instrument(skip(self, signer, checkpoint), fields(sender = %signer.address(), tree_size = checkpoint.tree_size), err(level = "debug"))]
    pub async fn anchor_checkpoint(
        &self,
        signer: &dyn TransactionSigner,
        log: Address,
        enclave: Address,
        config: Address,
        checkpoint: &ptb::AuditCheckpointArgs<'_>,
    ) -> Result<Called<CheckpointAnchored>, ChainError> {
        let package = self.package_id();
        let log = self.shared_object(log, true).await?;
        let enclave = self.shared_object(enclave, false).await?;
        let config = self.shared_object(config, false).await?;
        self.call(signer, 0, |tx| {
            ptb::anchor_checkpoint(tx, package, log, enclave, config, checkpoint);
            Ok(())
        })
        .await
    }

    /// `enclave::create_config` with the `EnclaveCap` `cap`.
    ///
    /// # Errors
    /// Abort `EInvalidPcrLength`.
    #[instrument(skip(self, signer, pcrs), fields(sender = %signer.address()), err(level = "debug"))]
    pub async fn create_enclave_config(
        &self,
        signer: &dyn TransactionSigner,
        cap: Address,
        name: &str,
        pcrs: &ptb::PcrArgs<'_>,
    ) -> Result<Called<EnclaveConfigCreated>, ChainError> {
        let package = self.package_id();
        let cap = self.owned_object(cap).await?;
        self.call(signer, 0, |tx| {
            ptb::create_config(tx, package, cap, name, pcrs);
            Ok(())
        })
        .await
    }

    /// `enclave::update_pcrs` with the `EnclaveCap` `cap`.
    ///
    /// # Errors
    /// Abort `EInvalidPcrLength`.
    #[instrument(skip(self, signer, pcrs), fields(sender = %signer.address()), err(level = "debug"))]
    pub async fn update_enclave_pcrs(
        &self,
        signer: &dyn TransactionSigner,
        config: Address,
        cap: Address,
        pcrs: &ptb::PcrArgs<'_>,
    ) -> Result<Called<EnclaveConfigUpdated>, ChainError> {
        let package = self.package_id();
        let config = self.shared_object(config, true).await?;
        let cap = self.owned_object(cap).await?;
        self.call(signer, 0, |tx| {
            ptb::update_pcrs(tx, package, config, cap, pcrs);
            Ok(())
        })
        .await
    }

    /// `enclave::update_name` with the `EnclaveCap` `cap`.
    ///
    /// # Errors
    /// A signer without `cap` is refused.
    #[instrument(skip(self, signer), fields(sender = %signer.address()), err(level = "debug"))]
    pub async fn update_enclave_name(
        &self,
        signer: &dyn TransactionSigner,
        config: Address,
        cap: Address,
        name: &str,
    ) -> Result<Called<EnclaveConfigUpdated>, ChainError> {
        let package = self.package_id();
        let config = self.shared_object(config, true).await?;
        let cap = self.owned_object(cap).await?;
        self.call(signer, 0, |tx| {
            ptb::update_name(tx, package, config, cap, name);
            Ok(())
        })
        .await
    }

    /// `enclave::register_enclave` after
    /// `0x2::nitro_attestation::load_nitro_attestation(attestation, clock)`.
    ///
    /// # Errors
    /// Aborts `EPcrMismatch`, `EMissingPublicKey`, `EInvalidPublicKey`, or
    /// the framework's attestation aborts.
    #[instrument(skip(self, signer, attestation), fields(sender = %signer.address()), err(level = "debug"))]
    pub async fn register_enclave(
        &self,
        signer: &dyn TransactionSigner,
        config: Address,
        attestation: &[u8],
    ) -> Result<Called<EnclaveRegistered>, ChainError> {
        let package = self.package_id();
        let config = self.shared_object(config, false).await?;
        self.call(signer, 0, |tx| {
            ptb::register_enclave(tx, package, config, attestation);
            Ok(())
        })
        .await
    }

    /// `enclave::destroy_old_enclave`: deletes an enclave registered under
    /// an older config version.
    ///
    /// # Errors
    /// Aborts `EWrongConfig`, `ECurrentEnclave`.
    #[instrument(skip(self, signer), fields(sender = %signer.address()), err(level = "debug"))]
    pub async fn destroy_old_enclave(
        &self,
        signer: &dyn TransactionSigner,
        enclave: Address,
        config: Address,
    ) -> Result<Called<EnclaveDestroyed>, ChainError> {
        let package = self.package_id();
        let enclave = self.shared_object(enclave, true).await?;
        let config = self.shared_object(config, false).await?;
        self.call(signer, 0, |tx| {
            ptb::destroy_old_enclave(tx, package, enclave, config);
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::atomic::{AtomicUsize, Ordering};

    use sui_sdk_types::{Transaction, UserSignature};

    use super::*;
    use crate::chain::{ChainConfig, Profile};

    /// A signer that only counts how often it is asked.
    #[derive(Default)]
    struct Counting(AtomicUsize);

    impl TransactionSigner for Counting {
        fn address(&self) -> Address {
            Address::new([1; 32])
        }

        fn sign_transaction(
            &self,
            _transaction: &Transaction,
        ) -> Result<UserSignature, sui_crypto::SignatureError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Err(sui_crypto::SignatureError::from_source("not in this test"))
        }
    }

    #[tokio::test]
    async fn names_the_master_would_refuse_are_refused_before_anything_is_signed() {
        // No chain listens here: the refusal must come before any read.
        let mut config = ChainConfig::new(Profile::Devnet);
        config.endpoint = Some("http://127.0.0.1:9".to_owned());
        let client = ChainClient::new(config).unwrap();
        let signer = Counting::default();
        let too_long = "a".repeat(64);
        let cases = [
            (Role::Worker, too_long.as_str(), "at most 63"),
            (Role::Worker, "Worker_1", "contains"),
            (Role::Worker, "", "empty"),
            (Role::Worker, "-a", "start and end"),
            (Role::User, "node-1", "has no node id"),
        ];
        for (role, node_id, needle) in cases {
            let error = client
                .stake_and_mint(&signer, Mist::new(5_000_000_000), role, node_id)
                .await
                .unwrap_err();
            assert!(
                matches!(&error, ChainError::InvalidArgument { argument: "node_id", reason } if reason.contains(needle)),
                "{node_id:?}: {error}"
            );
        }
        assert_eq!(signer.0.load(Ordering::SeqCst), 0);
        // A name the master admits passes the check (and then fails to
        // reach the chain, not to be signed).
        let error = client
            .stake_and_mint(
                &signer,
                Mist::new(5_000_000_000),
                Role::Worker,
                &"a".repeat(63),
            )
            .await
            .unwrap_err();
        assert!(
            !matches!(error, ChainError::InvalidArgument { .. }),
            "{error}"
        );
        assert_eq!(signer.0.load(Ordering::SeqCst), 0);
    }
}
