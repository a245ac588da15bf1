//! [`OpsError`]: why an operation failed, in terms of what was asked (never
//! of CLI flags or screens).

use std::path::PathBuf;

use daas_core::access::TokenError;
use daas_core::access::kubeconfig::KubeconfigError;
use daas_core::api::agent::AgentClientError;
use daas_core::attestation::{AttestationError, DocumentFileError};
use daas_core::attested::AttestedError;
use daas_core::chain::ChainError;
use daas_core::error_chain::one_line;
use daas_core::wallet::{KeyError, KeystoreError, StoreError};

use super::unlock::UnlockError;
use crate::config::ConfigError;

/// Why an operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpsError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The wallet refused (locked, unknown key, I/O).
    #[error(transparent)]
    Wallet(#[from] StoreError),
    /// A key could not be parsed or made.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A Sui CLI keystore file is unusable.
    #[error(transparent)]
    Keystore(#[from] KeystoreError),
    /// The wallet could not be unlocked.
    #[error(transparent)]
    Unlock(#[from] UnlockError),
    /// The chain refused or failed.
    #[error("chain: {0}")]
    Chain(#[from] ChainError),
    /// An audit event does not verify against the chain.
    #[error("audit verification FAILED: {0}")]
    AuditVerify(#[from] daas_core::audit::verify::VerifyError),
    /// The master refused, failed or is not attested.
    #[error("master: {0}")]
    Master(#[from] AttestedError),
    /// An attestation document is invalid.
    #[error(transparent)]
    Attestation(#[from] AttestationError),
    /// An attestation document file is not in a known encoding.
    #[error(transparent)]
    DocumentFile(#[from] DocumentFileError),
    /// The Kubernetes API server refused or failed. Not a `source`: the
    /// message says it, a refusal once, without the client's dump of the
    /// API server's `Status` ([`one_line`]).
    #[error("Kubernetes API: {action}: {}", one_line(error))]
    Kube {
        /// What was being done.
        action: String,
        /// The client's error.
        error: kube::Error,
    },
    /// A kubeconfig could not be read or written.
    #[error(transparent)]
    Kubeconfig(#[from] KubeconfigError),
    /// An access token could not be made.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// A file could not be read or written.
    #[error("{action} {path}: {source}")]
    File {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Something the operation needs is not configured.
    #[error("no {what} configured: {hint}")]
    NotConfigured {
        /// What is missing.
        what: &'static str,
        /// How to configure it.
        hint: &'static str,
    },
    /// An input is not acceptable.
    #[error("{what} `{value}` is invalid: {reason}")]
    Invalid {
        /// What the input is.
        what: &'static str,
        /// The input.
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// The operation would fail on chain or break a rule; nothing was sent.
    #[error("{0}")]
    Refused(String),
    /// The profile is read-only and the operation mutates.
    #[error("refused: `{action}` changes state and this session is read-only")]
    ReadOnly {
        /// The refused action.
        action: &'static str,
    },
    /// A node's agent could not be reached or refused.
    #[error(transparent)]
    Agent(#[from] AgentClientError),
    /// The faucet refused or is unreachable.
    #[error("faucet {url}: {reason}")]
    Faucet {
        /// The faucet's URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
}

impl OpsError {
    /// A Kubernetes API error while doing `action`.
    pub fn kube(action: impl Into<String>, source: kube::Error) -> Self {
        Self::Kube {
            action: action.into(),
            error: source,
        }
    }
}

#[cfg(test)]
mod tests {
    use kube::core::Status;

    use super::*;

    #[test]
    fn an_api_server_refusal_is_said_once_without_its_dump() {
        let refused = kube::Error::Api(
            Status::failure("nodes \"nope\" not found", "NotFound")
                .with_code(404)
                .boxed(),
        );
        let error = OpsError::kube("cordoning node nope", refused);
        let expected =
            "Kubernetes API: cordoning node nope: nodes \"nope\" not found (HTTP 404 NotFound)";
        assert_eq!(one_line(&error), expected);
        // The TUI's status line shows the message alone.
        assert_eq!(error.to_string(), expected);
    }
}
