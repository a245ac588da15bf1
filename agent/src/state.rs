//! What the agent remembers across restarts, in `<state_dir>/state.json`,
//! written atomically and owner-only after every step, so that kill -9 at
//! any point and a restart continue the flow: no second stake, the same
//! node name.
//!
//! The only step whose outcome the chain cannot answer by itself is a
//! stake: the agent records the signed-for transaction (its bytes and
//! digest) before sending it, and after a crash looks the digest up, or
//! sends the very same transaction again (Sui executes a digest at most
//! once).

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use daas_core::package::SealTokenId;
use daas_core::private_file::{self, PrivateFileError};
use serde::{Deserialize, Serialize};
use sui_sdk_types::{Address, Digest, Transaction};

/// The state file's name in the state directory.
pub const STATE_FILE: &str = "state.json";
/// The join token's file in the state directory (0600).
pub const JOIN_TOKEN_FILE: &str = "join-token";
/// The cluster CA's file in the state directory.
pub const CA_FILE: &str = "cluster-ca.pem";
/// The format version this code writes.
const VERSION: u32 = 1;

/// Why the state could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// The file could not be read or written.
    #[error(transparent)]
    File(#[from] PrivateFileError),
    /// The file does not hold a state of this version.
    #[error("state file {path} is corrupt: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The state belongs to another node or wallet.
    #[error(
        "state file {path} is for {found}; the configuration says {configured}: move the state \
         directory away to start over"
    )]
    Foreign {
        /// The file.
        path: PathBuf,
        /// `node <name> of <owner>` in the state.
        found: String,
        /// `node <name> of <owner>` configured.
        configured: String,
    },
}

/// A stake transaction recorded before it was sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingStake {
    /// Its digest.
    pub digest: Digest,
    /// Its BCS bytes, base64 (not secret: it is unsigned).
    pub transaction: String,
}

impl PendingStake {
    /// Records `transaction`.
    pub fn of(transaction: &Transaction) -> Result<Self, bcs::Error> {
        Ok(Self {
            digest: transaction.digest(),
            transaction: BASE64.encode(bcs::to_bytes(transaction)?),
        })
    }

    /// The recorded transaction.
    ///
    /// # Errors
    /// The bytes do not decode (a corrupt state file).
    pub fn transaction(&self) -> Result<Transaction, String> {
        let bytes = BASE64
            .decode(&self.transaction)
            .map_err(|error| format!("pending stake transaction: {error}"))?;
        bcs::from_bytes(&bytes).map_err(|error| format!("pending stake transaction: {error}"))
    }
}

/// Where the agent is in its life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// Finding or making the seal token, registering, running.
    Joining,
    /// Leaving at the operator's request: the step reached.
    Unstaking {
        /// The step.
        step: UnstakeStep,
    },
    /// The stake was withdrawn; nothing is left to do.
    Withdrawn,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Joining => "joining or running",
            Self::Unstaking {
                step: UnstakeStep::Draining,
            } => "leaving: the master drains the node",
            Self::Unstaking {
                step: UnstakeStep::Requesting,
            } => "leaving: requesting unstake on chain",
            Self::Unstaking {
                step: UnstakeStep::Unbonding,
            } => "leaving: the stake unbonds, then is withdrawn",
            Self::Withdrawn => "left: the stake was withdrawn",
        })
    }
}

/// The steps of leaving, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnstakeStep {
    /// The master drains the node; the agent waits until the pods left.
    Draining,
    /// Unstake is requested on chain (access ends at once).
    Requesting,
    /// Waiting for the unbonding period to end, then withdrawing.
    Unbonding,
}

/// The persisted state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentState {
    /// The format version.
    pub version: u32,
    /// The node's name.
    pub node: String,
    /// The wallet address that owns the seal token.
    pub owner: Address,
    /// The worker seal token, once known.
    pub seal_token: Option<SealTokenId>,
    /// A stake transaction sent (or about to be) whose outcome is unknown.
    pub pending_stake: Option<PendingStake>,
    /// Where the agent is.
    pub phase: Phase,
}

/// The state file of one state directory.
#[derive(Debug, Clone)]
pub struct StateStore {
    dir: PathBuf,
}

impl StateStore {
    /// The store in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `<dir>/<name>`.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The state for `node` of `owner`: the stored one, or a fresh one.
    ///
    /// # Errors
    /// An unreadable or corrupt file, or one of another node or owner.
    pub fn load(&self, node: &str, owner: Address) -> Result<AgentState, StateError> {
        let path = self.path(STATE_FILE);
        let Some(bytes) = private_file::read_if_exists(&path)? else {
            return Ok(AgentState {
                version: VERSION,
                node: node.to_owned(),
                owner,
                seal_token: None,
                pending_stake: None,
                phase: Phase::Joining,
            });
        };
        let state: AgentState =
            serde_json::from_slice(&bytes).map_err(|error| StateError::Corrupt {
                path: path.clone(),
                reason: error.to_string(),
            })?;
        if state.version != VERSION {
            return Err(StateError::Corrupt {
                path,
                reason: format!("version {} (this agent reads {VERSION})", state.version),
            });
        }
        if state.node != node || state.owner != owner {
            return Err(StateError::Foreign {
                path,
                found: format!("node {} of {}", state.node, state.owner),
                configured: format!("node {node} of {owner}"),
            });
        }
        Ok(state)
    }

    /// Replaces the state file with `state`.
    ///
    /// # Errors
    /// The write failed (the old state is intact).
    pub fn save(&self, state: &AgentState) -> Result<(), StateError> {
        let bytes = serde_json::to_vec_pretty(state).map_err(|error| StateError::Corrupt {
            path: self.path(STATE_FILE),
            reason: error.to_string(),
        })?;
        Ok(private_file::write_atomic(&self.path(STATE_FILE), &bytes)?)
    }

    /// Writes a private file in the state directory.
    ///
    /// # Errors
    /// The write failed.
    pub fn write_private(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, StateError> {
        let path = self.path(name);
        private_file::write_atomic(&path, bytes)?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    const OWNER: Address = Address::from_static("0x7");

    #[test]
    fn state_round_trips_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path().join("state"));
        let mut state = store.load("worker-1", OWNER).unwrap();
        assert_eq!(state.phase, Phase::Joining);
        state.phase = Phase::Unstaking {
            step: UnstakeStep::Requesting,
        };
        store.save(&state).unwrap();
        assert_eq!(store.load("worker-1", OWNER).unwrap(), state);
        let mode = std::fs::metadata(store.path(STATE_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn another_nodes_or_a_corrupt_state_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path());
        store.save(&store.load("worker-1", OWNER).unwrap()).unwrap();
        let message = store.load("worker-2", OWNER).unwrap_err().to_string();
        assert!(
            message.contains("worker-1") && message.contains("worker-2"),
            "{message}"
        );
        std::fs::write(store.path(STATE_FILE), b"{\"version\": 1").unwrap();
        assert!(matches!(
            store.load("worker-1", OWNER),
            Err(StateError::Corrupt { .. })
        ));
    }
}
