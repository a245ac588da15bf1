//! The agent's local API (the seed's worker endpoints), its wire types, and
//! [`AgentClient`], which reaches an agent over TLS 1.3 pinned to the key
//! the attested master relays for it ([`super::nodes::AgentEndpoint`]): no
//! CA anywhere.
//!
//! - `POST` [`STAKING_PATH`], [`REGISTER_PATH`], [`UNSTAKE_PATH`]: orders
//!   from the node's owner, each authorized by a single-use
//!   [`crate::access::agent_request`] (`Authorization: Bearer daasa1.…`)
//!   over the exact body; answered with [`ActionResponse`];
//! - `GET` [`METRICS_PATH`]: the seed's metrics ([`NodeMetrics`]);
//! - `GET` [`HEALTH_PATH`]: [`AgentHealth`];
//! - `GET` [`PROMETHEUS_PATH`]: the same figures in the Prometheus text
//!   format;
//! - `GET` [`OPENAPI_PATH`]: an OpenAPI 3.1 description of the routes.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::ErrorBody;
use super::nodes::NodeMetrics;
use sui_sdk_types::Address;

use crate::access::agent_request::{AgentAction, AgentRequest, AgentRequestClaims};
use crate::access::{NodeName, unix_now_secs};
use crate::attested::tls::{ServerKeyVerifier, client_config};
use crate::wallet::SerializedSignature;

/// `POST`: stake for the node.
pub const STAKING_PATH: &str = "/api/v1/staking";
/// `POST`: register the node with the master.
pub const REGISTER_PATH: &str = "/api/v1/register";
/// `POST`: drain the node and unstake.
pub const UNSTAKE_PATH: &str = "/api/v1/unstake";
/// `GET`: the seed's metrics.
pub const METRICS_PATH: &str = "/api/v1/metrics";
/// `GET`: liveness.
pub const HEALTH_PATH: &str = "/health";
/// `GET`: Prometheus text format.
pub const PROMETHEUS_PATH: &str = "/metrics";
/// `GET`: the OpenAPI description.
pub const OPENAPI_PATH: &str = "/openapi.json";
/// The largest answer read from an agent.
const MAX_ANSWER_LEN: usize = 256 * 1024;

/// The path of the route behind `action`.
pub const fn action_path(action: AgentAction) -> &'static str {
    match action {
        AgentAction::Stake => STAKING_PATH,
        AgentAction::Register => REGISTER_PATH,
        AgentAction::Unstake => UNSTAKE_PATH,
    }
}

/// `POST /api/v1/staking`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StakingRequest {
    /// The node the agent runs (must be the agent's).
    pub node_id: String,
    /// The stake in MIST, decimal (the seed's `"5000000000"`).
    pub stake_amount: String,
}

/// `POST /api/v1/register` and `POST /api/v1/unstake`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeRequest {
    /// The node the agent runs (must be the agent's).
    pub node_id: String,
}

/// The answer to an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ActionResponse {
    /// Always `true` (refusals are errors).
    pub success: bool,
    /// What was ordered.
    pub action: String,
    /// What the agent did or started, in a sentence.
    pub message: String,
    /// The node's worker seal token, when the agent knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal_token: Option<String>,
}

/// `GET /health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AgentHealth {
    /// `"ok"` while the agent serves.
    pub status: String,
    /// The node the agent runs.
    pub node_id: String,
    /// The agent's version.
    pub version: String,
}

/// Why talking to an agent failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentClientError {
    /// The agent URL is unusable.
    #[error("agent URL {url:?} is unusable: {reason}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The TLS or HTTP client could not be built.
    #[error("cannot build the pinned TLS 1.3 client: {0}")]
    Client(String),
    /// The agent presented another TLS key than the pinned one.
    #[error(
        "the agent at {url} presented TLS key {presented}, not the key {pinned} reported for it; refusing to talk to it"
    )]
    KeyMismatch {
        /// The URL requested.
        url: String,
        /// SHA-256 of the key pinned (hex).
        pinned: String,
        /// SHA-256 of the key presented (hex).
        presented: String,
    },
    /// No HTTP answer (connection, TLS, timeout).
    #[error(
        "request to {url} failed: {}",
        crate::error_chain::transport_cause(source)
    )]
    Transport {
        /// The URL requested.
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The agent answered with an error status.
    #[error("{url} answered HTTP {status}: {error}")]
    Status {
        /// The URL requested.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The agent's error message.
        error: String,
    },
    /// The answer is not what the API says.
    #[error("{url} sent a malformed response: {reason}")]
    BadResponse {
        /// The URL requested.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The order could not be signed.
    #[error("cannot sign the order: {0}")]
    Signing(String),
}

/// A client of one agent, pinned to its TLS key.
#[derive(Debug, Clone)]
pub struct AgentClient {
    base: Url,
    key: [u8; 32],
    verifier: Arc<ServerKeyVerifier>,
    http: reqwest::Client,
}

impl AgentClient {
    /// A client of the agent at `url` (`https://host:port`) that accepts
    /// only the TLS key whose DER SubjectPublicKeyInfo hashes to
    /// `spki_sha256`, over TLS 1.3.
    ///
    /// # Errors
    /// [`AgentClientError::InvalidUrl`], [`AgentClientError::Client`].
    pub fn new(
        url: &str,
        spki_sha256: [u8; 32],
        timeout: Duration,
    ) -> Result<Self, AgentClientError> {
        let base = Url::parse(url).map_err(|error| AgentClientError::InvalidUrl {
            url: url.to_owned(),
            reason: error.to_string(),
        })?;
        if base.scheme() != "https" {
            return Err(AgentClientError::InvalidUrl {
                url: url.to_owned(),
                reason: "not https".to_owned(),
            });
        }
        let verifier = ServerKeyVerifier::pinned(spki_sha256);
        let tls = client_config(verifier.clone())
            .map_err(|error| AgentClientError::Client(error.to_string()))?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .https_only(true)
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|error| AgentClientError::Client(error.to_string()))?;
        Ok(Self {
            base,
            key: spki_sha256,
            verifier,
            http,
        })
    }

    /// `GET /api/v1/metrics`.
    ///
    /// # Errors
    /// Transport, key, status or response errors.
    pub async fn metrics(&self) -> Result<NodeMetrics, AgentClientError> {
        self.get(METRICS_PATH).await
    }

    /// `GET /health`.
    ///
    /// # Errors
    /// Transport, key, status or response errors.
    pub async fn health(&self) -> Result<AgentHealth, AgentClientError> {
        self.get(HEALTH_PATH).await
    }

    /// Sends `body` to the route of `action`, authorized by an agent
    /// request for this agent's key, `owner` and `node`, that `sign` (the
    /// owner's wallet) signs over exactly that body, issued now.
    ///
    /// # Errors
    /// Signing, transport, key, status or response errors.
    pub async fn order<B, F, E>(
        &self,
        action: AgentAction,
        owner: Address,
        node: NodeName,
        body: &B,
        sign: F,
    ) -> Result<ActionResponse, AgentClientError>
    where
        B: Serialize,
        F: FnOnce(&[u8]) -> Result<SerializedSignature, E>,
        E: std::error::Error + Send + Sync + 'static,
    {
        let bytes = serde_json::to_vec(body)
            .map_err(|error| AgentClientError::Signing(error.to_string()))?;
        let claims =
            AgentRequestClaims::new(action, owner, node, self.key, &bytes, unix_now_secs());
        let signed = AgentRequest::sign_with(&claims, sign)
            .map_err(|error| AgentClientError::Signing(error.to_string()))?;
        self.send_signed(action, signed.as_str(), bytes).await
    }

    /// Sends `body` to the route of `action` with `authorization` as the
    /// bearer, as is (for callers that sign themselves, and for tests of
    /// refusals).
    ///
    /// # Errors
    /// Transport, key, status or response errors.
    pub async fn send_signed(
        &self,
        action: AgentAction,
        authorization: &str,
        body: Vec<u8>,
    ) -> Result<ActionResponse, AgentClientError> {
        let url = self.url(action_path(action))?;
        let request = self
            .http
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .bearer_auth(authorization)
            .body(body);
        self.read(url, request).await
    }

    /// The pinned key (SHA-256 of the agent's SubjectPublicKeyInfo).
    pub fn key(&self) -> [u8; 32] {
        self.key
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, AgentClientError> {
        let url = self.url(path)?;
        let request = self.http.get(url.clone());
        self.read(url, request).await
    }

    fn url(&self, path: &str) -> Result<Url, AgentClientError> {
        self.base
            .join(path)
            .map_err(|error| AgentClientError::InvalidUrl {
                url: format!("{}{path}", self.base),
                reason: error.to_string(),
            })
    }

    async fn read<T: DeserializeOwned>(
        &self,
        url: Url,
        request: reqwest::RequestBuilder,
    ) -> Result<T, AgentClientError> {
        let mut response = request
            .send()
            .await
            .map_err(|source| self.transport(&url, source))?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|source| self.transport(&url, source))?
        {
            if body.len() + chunk.len() > MAX_ANSWER_LEN {
                return Err(AgentClientError::BadResponse {
                    url: url.to_string(),
                    reason: format!("body larger than {MAX_ANSWER_LEN} bytes"),
                });
            }
            body.extend_from_slice(&chunk);
        }
        if !(200..300).contains(&status) {
            let error = serde_json::from_slice::<ErrorBody>(&body)
                .map(|body| body.error)
                .unwrap_or_else(|_| String::from_utf8_lossy(&body).chars().take(200).collect());
            return Err(AgentClientError::Status {
                url: url.to_string(),
                status,
                error,
            });
        }
        serde_json::from_slice(&body).map_err(|error| AgentClientError::BadResponse {
            url: url.to_string(),
            reason: error.to_string(),
        })
    }

    /// A transport error, or the key mismatch that caused it.
    fn transport(&self, url: &Url, source: reqwest::Error) -> AgentClientError {
        match self.verifier.rejected() {
            Some(presented) => AgentClientError::KeyMismatch {
                url: url.to_string(),
                pinned: hex::encode(self.key),
                presented: hex::encode(presented),
            },
            None => AgentClientError::Transport {
                url: url.to_string(),
                source,
            },
        }
    }
}
