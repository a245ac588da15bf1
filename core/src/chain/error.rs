//! Errors of the chain client.

use sui_sdk_types::{Address, Digest};

use super::profile::Profile;
use crate::package::PackageAbort;

/// Where a Move abort happened and with which code.
///
/// Callers match on it to tell documented aborts apart, e.g.
/// `abort.is("staking", code)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoveAbort {
    /// Package that aborted.
    pub package: Option<Address>,
    /// Module that aborted (e.g. `staking`).
    pub module: String,
    /// Function that aborted, when the node names it.
    pub function: Option<String>,
    /// The abort code.
    pub code: u64,
    /// Index of the PTB command that aborted.
    pub command: Option<u64>,
}

impl MoveAbort {
    /// Whether this abort is `code` raised in `module`.
    pub fn is(&self, module: &str, code: u64) -> bool {
        self.module == module && self.code == code
    }

    /// The typed abort of the `k3s_daas` package, when the code is one of
    /// its documented aborts.
    pub fn package_abort(&self) -> Option<PackageAbort> {
        PackageAbort::from_module_code(&self.module, self.code)
    }
}

impl std::fmt::Display for MoveAbort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Move abort {} in module {}", self.code, self.module)?;
        if let Some(function) = &self.function {
            write!(f, " (function {function})")?;
        }
        if let Some(package) = &self.package {
            write!(f, " of package {package}")?;
        }
        if let Some(known) = self.package_abort() {
            write!(f, ": {} ({})", known.name(), known.meaning())?;
        }
        Ok(())
    }
}

/// Which step of a transaction's life failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stage {
    /// The dry run used to estimate gas.
    Simulation,
    /// The real execution.
    Execution,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stage::Simulation => "simulation",
            Stage::Execution => "execution",
        })
    }
}

/// Everything that can go wrong talking to the chain.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// A profile name that is not `devnet`, `testnet` or `mainnet`.
    #[error("unknown chain profile {given:?}: expected devnet, testnet or mainnet")]
    UnknownProfile {
        /// What was given.
        given: String,
    },
    /// A setting that this profile requires is missing.
    #[error("chain setting `{setting}` is required for profile {profile}: {hint}")]
    MissingSetting {
        /// The setting's name in the `[chain]` section.
        setting: &'static str,
        /// The profile in use.
        profile: Profile,
        /// Where the value comes from.
        hint: &'static str,
    },
    /// A setting has a value that cannot work.
    #[error("chain setting `{setting}` is invalid: {reason}")]
    InvalidSetting {
        /// The setting's name.
        setting: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The endpoint is not a usable gRPC URL.
    #[error("chain endpoint {endpoint:?} is invalid: {reason}")]
    InvalidEndpoint {
        /// The endpoint given.
        endpoint: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A gRPC call failed (network, server error, bad request).
    #[error("chain RPC {method} failed: {}", status.message())]
    Rpc {
        /// The RPC method.
        method: &'static str,
        /// The gRPC status.
        #[source]
        status: Box<tonic::Status>,
    },
    /// An object does not exist (or was deleted).
    #[error("object {id} not found on chain")]
    ObjectNotFound {
        /// The object id asked for.
        id: Address,
    },
    /// An object exists but is not of the expected type.
    #[error("object {id} has type {found}, expected {expected}")]
    WrongObjectType {
        /// The object.
        id: Address,
        /// The type that was asked for.
        expected: String,
        /// The type found on chain.
        found: String,
    },
    /// An object is not owned the way the call needs it.
    #[error("object {id} has unexpected ownership: {reason}")]
    WrongOwnership {
        /// The object.
        id: Address,
        /// What was expected.
        reason: String,
    },
    /// The node's answer lacks a field or carries a malformed one.
    #[error("malformed chain response: {what}")]
    MalformedResponse {
        /// What is missing or wrong.
        what: String,
    },
    /// BCS contents did not decode into the expected Rust type.
    #[error("cannot decode {what} from BCS")]
    Decode {
        /// What was being decoded.
        what: String,
        /// The BCS error.
        #[source]
        source: bcs::Error,
    },
    /// The sender's SUI coins do not cover amount plus gas.
    #[error("insufficient SUI for {owner}: need {needed} MIST, have {available} MIST")]
    InsufficientFunds {
        /// The sender.
        owner: Address,
        /// MIST needed (amounts plus gas budget).
        needed: u64,
        /// MIST available in the sender's coins.
        available: u64,
    },
    /// An argument given by the caller is unusable.
    #[error("invalid argument `{argument}`: {reason}")]
    InvalidArgument {
        /// The argument.
        argument: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The transaction could not be assembled.
    #[error("cannot build transaction")]
    Build(#[source] sui_transaction_builder::Error),
    /// The signer refused or failed.
    #[error("cannot sign transaction")]
    Sign(#[source] sui_crypto::SignatureError),
    /// The transaction aborted in Move.
    #[error("transaction {stage} aborted: {abort}")]
    Aborted {
        /// Simulation or execution.
        stage: Stage,
        /// Where and with which code.
        abort: Box<MoveAbort>,
        /// Digest, when the transaction was executed.
        digest: Option<Digest>,
    },
    /// The transaction failed for another reason (gas, object versions, …).
    #[error("transaction {stage} failed ({kind}): {description}")]
    ExecutionFailed {
        /// Simulation or execution.
        stage: Stage,
        /// The node's error kind, e.g. `INSUFFICIENT_GAS`.
        kind: String,
        /// The node's description.
        description: String,
        /// Digest, when the transaction was executed.
        digest: Option<Digest>,
    },
    /// The transaction was executed but did not reach a checkpoint in time.
    #[error("transaction {digest} not final after {waited_secs} s")]
    FinalityTimeout {
        /// The transaction.
        digest: Digest,
        /// How long the client waited.
        waited_secs: u64,
    },
    /// Reading or writing the event cursor failed.
    #[error("event cursor store failed: {what}")]
    CursorStore {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl ChainError {
    /// The Move abort, if this error is one.
    pub fn move_abort(&self) -> Option<&MoveAbort> {
        match self {
            ChainError::Aborted { abort, .. } => Some(abort.as_ref()),
            _ => None,
        }
    }

    /// The typed abort of the `k3s_daas` package, e.g.
    /// `PackageAbort::Staking(StakingAbort::StakeTooLow)`.
    pub fn package_abort(&self) -> Option<PackageAbort> {
        self.move_abort().and_then(MoveAbort::package_abort)
    }

    /// Whether this is the Move abort `code` in `module`.
    pub fn is_abort(&self, module: &str, code: u64) -> bool {
        self.move_abort().is_some_and(|a| a.is(module, code))
    }

    /// Whether the node could not be reached or answered with a transient
    /// error, so retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            ChainError::Rpc { status, .. } => matches!(
                status.code(),
                tonic::Code::Unavailable
                    | tonic::Code::DeadlineExceeded
                    | tonic::Code::ResourceExhausted
                    | tonic::Code::Aborted
                    | tonic::Code::Unknown
            ),
            ChainError::FinalityTimeout { .. } => true,
            _ => false,
        }
    }

    pub(crate) fn rpc(method: &'static str, status: tonic::Status) -> Self {
        ChainError::Rpc {
            method,
            status: Box::new(status),
        }
    }

    pub(crate) fn malformed(what: impl Into<String>) -> Self {
        ChainError::MalformedResponse { what: what.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::staking::StakingAbort;

    #[test]
    fn documented_aborts_become_typed() {
        let err = ChainError::Aborted {
            stage: Stage::Execution,
            abort: Box::new(MoveAbort {
                package: None,
                module: "staking".to_owned(),
                function: Some("stake_and_mint".to_owned()),
                code: 3,
                command: Some(1),
            }),
            digest: None,
        };
        assert!(err.is_abort("staking", 3));
        assert_eq!(
            err.package_abort(),
            Some(PackageAbort::Staking(StakingAbort::StakeTooLow))
        );
        assert!(
            err.to_string().contains("Move abort 3 in module staking")
                && err
                    .to_string()
                    .ends_with(": EStakeTooLow (stake below min_stake)"),
            "{err}"
        );
    }

    #[test]
    fn unknown_aborts_stay_untyped() {
        let abort = MoveAbort {
            package: None,
            module: "coin".to_owned(),
            function: None,
            code: 3,
            command: None,
        };
        assert_eq!(abort.package_abort(), None);
    }
}
