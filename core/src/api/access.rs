//! Wire types of the master's user-access endpoints, shared by the master
//! (which serves them) and the console (which calls them).
//!
//! - `POST` [`SEAL_TOKENS_PATH`] with `Authorization: Bearer daas1.…` →
//!   [`IssuedSealToken`];
//! - `GET` [`KUBECTL_CONFIG_PATH`]`?seal_token=0x…` → a kubeconfig (YAML)
//!   whose user runs `daas-console credential`.

use serde::{Deserialize, Serialize};
use sui_sdk_types::Address;

use crate::package::SealTokenId;

/// `POST`: an opaque seal token against a signed access token.
pub const SEAL_TOKENS_PATH: &str = "/api/v1/seal-tokens";
/// `GET`: the kubeconfig for a seal token.
pub const KUBECTL_CONFIG_PATH: &str = "/kubectl/config";
/// `GET`: readiness of the master ([`Readiness`], 200 or 503).
pub const READYZ_PATH: &str = "/readyz";

/// The answer of `POST /api/v1/seal-tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct IssuedSealToken {
    /// The opaque token: 64 lowercase hex digits, shown only this once.
    pub seal_token: String,
    /// Its id: the token's SHA-256 (64 hex digits), for listing and
    /// revocation.
    pub id: String,
    /// When it expires, unix seconds.
    pub expires_at: u64,
    /// The seal token it authenticates through.
    #[schemars(with = "String")]
    pub seal_token_id: SealTokenId,
    /// The owner it authenticates as.
    #[schemars(with = "String")]
    pub owner: Address,
}

/// The body of `GET /readyz`: `ready` or `not ready`, and each named
/// check's state (`ok` or why it fails).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Readiness {
    /// `ready` when every check passed.
    pub status: String,
    /// Each check (`chain`, `api_server`, `events`, …) and its state.
    pub checks: std::collections::BTreeMap<String, String>,
}

impl Readiness {
    /// Whether every check passed.
    pub fn is_ready(&self) -> bool {
        self.checks.values().all(|state| state == "ok")
    }
}
