//! Wire types of the master's HTTP API, shared by the master (which serves
//! them) and its clients (agent, console).
//!
//! Every endpoint speaks JSON. A refused request gets a 4xx status and an
//! [`ErrorBody`] naming the problem; a server fault gets a 5xx with a
//! generic [`ErrorBody`] (the details stay in the master's log).

pub mod access;
pub mod agent;
pub mod attestation;
pub mod audit;
pub mod client;
pub mod nodes;
pub mod schema;

pub use agent::AgentClient;
pub use client::{MasterClient, StatusQuery};

use serde::{Deserialize, Serialize};

/// `POST` path of the attestation endpoint.
pub const ATTESTATION_PATH: &str = "/api/v1/attestation";
/// `GET` path of the security context.
pub const SECURITY_CONTEXT_PATH: &str = "/api/v1/security-context";
/// `GET` path of the liveness probe.
pub const HEALTHZ_PATH: &str = "/healthz";

/// The body of every error response: `{ "error": "<what is wrong>" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ErrorBody {
    /// A human-readable sentence naming the problem.
    pub error: String,
}

impl ErrorBody {
    /// An error body with this message.
    pub fn new(error: impl Into<String>) -> Self {
        Self {
            error: error.into(),
        }
    }
}

/// The body of `GET /healthz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Health {
    /// `"ok"` while the master serves.
    pub status: String,
    /// The master's version.
    pub version: String,
}
