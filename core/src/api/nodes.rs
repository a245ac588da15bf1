//! Wire types of the master's node endpoints, shared with the agent (which
//! registers and heartbeats) and the console (which reads node health and
//! stake status).
//!
//! - `POST` [`REGISTER_WORKER_PATH`]: [`RegisterWorkerRequest`] →
//!   [`RegisterWorkerResponse`] (the seed's shapes plus the signed proof and
//!   the K3s join token);
//! - `POST` [`HEARTBEAT_PATH`]: [`HeartbeatRequest`] → [`HeartbeatResponse`];
//! - `GET` [`NODE_HEALTH_PATH`]`?limit=&continue=` → [`NodeHealthList`], one
//!   page of nodes by name ([`NodeHealthQuery`]), and
//!   `GET {NODE_HEALTH_PATH}/{node}` → [`NodeHealth`]; without credentials
//!   a node shows only its name, status, heartbeat and metrics; with a
//!   `daas1.` access token (`Authorization: Bearer`) its owner sees the
//!   seal token, owner, address and capacity of their own nodes, and the
//!   admin and super tiers see them for every node ([`HealthView`]);
//! - `GET` [`STAKING_STATUS_PATH`]`?owner=|node=|seal_token=` →
//!   [`StakingStatus`].
//!
//! The proofs are `daas_core::access::worker_proof` wire forms.

use serde::{Deserialize, Serialize};

/// `POST`: a worker asks to join.
pub const REGISTER_WORKER_PATH: &str = "/api/v1/register-worker";
/// `POST`: a worker reports it is alive.
pub const HEARTBEAT_PATH: &str = "/api/v1/nodes/heartbeat";
/// `GET`: every node's health; `/{node}` for one.
pub const NODE_HEALTH_PATH: &str = "/api/v1/node-health";
/// `GET`: seal tokens, stake and status as the master sees them.
pub const STAKING_STATUS_PATH: &str = "/api/v1/staking/status";
/// `POST {NODES_PATH}/{node}/drain`: the node's owner asks the master to
/// cordon and drain it ([`DrainRequest`] → [`DrainResponse`]).
pub const NODES_PATH: &str = "/api/v1/nodes";
/// The last path segment of the drain endpoint.
pub const DRAIN_SEGMENT: &str = "drain";
/// How often an agent heartbeats.
pub const HEARTBEAT_INTERVAL_SECS: u64 = 10;
/// A node is stale after this many intervals without a heartbeat.
pub const STALE_AFTER_INTERVALS: u64 = 3;
/// Nodes in a page of [`NODE_HEALTH_PATH`] when the request names no
/// `limit`.
pub const NODE_HEALTH_DEFAULT_LIMIT: u32 = 250;
/// The most nodes a page of [`NODE_HEALTH_PATH`] holds. A node in full view
/// is at most about 1.1 KB of JSON (every field is bounded at registration),
/// so a page stays under half of what the attested client reads
/// (`daas_core::attested::MAX_RESPONSE_LEN`, 1 MiB).
pub const NODE_HEALTH_MAX_LIMIT: u32 = 400;

/// What a worker offers (the seed's `capacity`: Kubernetes quantities).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Capacity {
    /// CPUs, e.g. `"4"`.
    pub cpu: String,
    /// Memory, e.g. `"16Gi"`.
    pub memory: String,
    /// Storage, e.g. `"100Gi"`.
    pub storage: String,
}

/// `POST /api/v1/register-worker`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterWorkerRequest {
    /// The node name; must equal the seal token's node id.
    pub node_id: String,
    /// The worker seal token's object id (`0x` + 64 hex digits).
    pub seal_token: String,
    /// The node's address as the agent sees it.
    pub ip_address: String,
    /// What the node offers.
    pub capacity: Capacity,
    /// A register-purpose worker proof (`daasw1.…`) for this node and seal
    /// token, signed by the token's owner.
    pub proof: String,
    /// Where the node's agent serves its local API (absent from agents
    /// that serve none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_api: Option<AgentEndpoint>,
}

/// Where a node's agent serves its local API, and the key it serves it
/// with: a client reaches the agent by pinning that key (no CA), trusting
/// it because the attested master relays what the node's owner reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentEndpoint {
    /// `https://<host>:<port>`.
    pub url: String,
    /// Hex SHA-256 of the DER SubjectPublicKeyInfo of the agent's TLS
    /// certificate.
    pub tls_spki_sha256: String,
}

/// The longest agent URL accepted.
pub const MAX_AGENT_URL_LEN: usize = 256;

impl AgentEndpoint {
    /// Checks the shape (an `https://` URL with a host and port, of at most
    /// [`MAX_AGENT_URL_LEN`] bytes, and 64 hex digits) and returns the key
    /// hash.
    ///
    /// # Errors
    /// A sentence naming the field and what is wrong with it.
    pub fn check(&self) -> Result<[u8; 32], String> {
        let url = &self.url;
        let authority = url
            .strip_prefix("https://")
            .ok_or_else(|| format!("agent_api.url {url:?} does not start with https://"))?;
        let well_formed = url.len() <= MAX_AGENT_URL_LEN
            && !authority.is_empty()
            && authority
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
            && authority
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !well_formed {
            return Err(format!(
                "agent_api.url {url:?} is not https://<host>:<port> (at most {MAX_AGENT_URL_LEN} bytes, no path)"
            ));
        }
        let mut key = [0u8; 32];
        hex::decode_to_slice(&self.tls_spki_sha256, &mut key).map_err(|_| {
            format!(
                "agent_api.tls_spki_sha256 {:?} is not 64 hex digits",
                self.tls_spki_sha256
            )
        })?;
        Ok(key)
    }
}

/// The answer to a registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RegisterWorkerResponse {
    /// Always `true` (refusals are errors).
    pub success: bool,
    /// Base64 of a kubeconfig that authenticates with the bootstrap token.
    pub kubeconfig: String,
    /// Base64 of the cluster CA bundle (PEM).
    pub ca_cert: String,
    /// The API server URL.
    pub api_server: String,
    /// The K3s join token `K10<ca-hash>::<id>.<secret>` (`K3S_TOKEN`).
    pub join_token: String,
    /// The node name to join as (`--node-name`).
    pub node_name: String,
    /// When the bootstrap token expires (unix seconds).
    pub expires_at: i64,
}

/// `POST /api/v1/nodes/{node}/drain`: the owner's request to cordon and
/// drain the node before unstaking. Repeating it (with a new proof) is how
/// the owner follows the drain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DrainRequest {
    /// A drain-purpose worker proof for the path's node, signed by the
    /// owner of the seal token it is admitted through (single use).
    pub proof: String,
}

/// Where a drain stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DrainResponse {
    /// Whether the Node exists and is cordoned.
    pub cordoned: bool,
    /// Pods on the node the drain still has to remove (mirror and
    /// DaemonSet pods are not counted: they go with the Node).
    pub pods_remaining: u32,
}

/// Usage figures a node reports (the seed's metrics shape).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeMetrics {
    /// CPU use in percent.
    pub cpu_usage: f64,
    /// Memory use in percent.
    pub memory_usage: f64,
    /// Pods running.
    pub pod_count: u32,
    /// Containers running.
    pub container_count: u32,
    /// Bytes received.
    pub network_rx: u64,
    /// Bytes sent.
    pub network_tx: u64,
    /// When measured (unix seconds).
    pub timestamp: u64,
}

/// How a node says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    /// Admitted; no heartbeat yet.
    Registered,
    /// Ready for pods.
    Ready,
    /// Running but not ready.
    NotReady,
    /// Shutting down or cordoned by its operator.
    Draining,
}

/// `POST /api/v1/nodes/heartbeat`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatRequest {
    /// The node.
    pub node_id: String,
    /// A heartbeat-purpose worker proof for this node, issued later than
    /// the node's previous heartbeat proof.
    pub proof: String,
    /// How the node is (`ready`, `not_ready` or `draining`).
    pub status: NodeStatus,
    /// Its usage figures.
    pub metrics: NodeMetrics,
    /// Where the node's agent serves its local API now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_api: Option<AgentEndpoint>,
}

/// The answer to a heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HeartbeatResponse {
    /// Always `true`.
    pub success: bool,
    /// When the agent should heartbeat next, in seconds.
    pub next_heartbeat_secs: u64,
}

/// One node as the master sees it. The optional fields are left out for
/// callers who may not see them ([`HealthView`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NodeHealth {
    /// The node name.
    pub node: String,
    /// Its seal token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal_token: Option<String>,
    /// The token's owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The last reported status ([`NodeStatus::Registered`] before any).
    pub status: NodeStatus,
    /// Seconds since the last heartbeat; `None` before the first.
    pub last_heartbeat_age_secs: Option<u64>,
    /// No heartbeat for [`STALE_AFTER_INTERVALS`] intervals (counted from
    /// admission before the first).
    pub stale: bool,
    /// The last reported metrics.
    pub metrics: Option<NodeMetrics>,
    /// The address given at registration (absent when the node was
    /// learnt from its admission record by another replica).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    /// The capacity given at registration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<Capacity>,
    /// The agent's local API, as last reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_api: Option<AgentEndpoint>,
}

/// How much of each node a caller of [`NODE_HEALTH_PATH`] sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HealthView {
    /// No credentials: names, status, heartbeats and metrics only (no
    /// seal token, owner, address, capacity or agent endpoint).
    Public,
    /// A node owner: their own nodes in full, the others as in `public`.
    Owner,
    /// The admin or super tier: every node in full.
    Operator,
}

/// `GET /api/v1/node-health`: one page of nodes, in the order of their
/// names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NodeHealthList {
    /// What the caller was shown.
    pub view: HealthView,
    /// The nodes of this page, by name.
    pub nodes: Vec<NodeHealth>,
    /// The expected heartbeat interval in seconds.
    pub heartbeat_interval_secs: u64,
    /// Seconds without a heartbeat after which a node is stale.
    pub stale_after_secs: u64,
    /// Present when more nodes follow: an opaque token to send as
    /// `continue` for the next page (Kubernetes' `metadata.continue`).
    #[serde(rename = "continue", default, skip_serializing_if = "Option::is_none")]
    pub continue_token: Option<String>,
}

/// Which page of [`NODE_HEALTH_PATH`] to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeHealthQuery {
    /// Nodes per page (1 to [`NODE_HEALTH_MAX_LIMIT`]); the master's
    /// default ([`NODE_HEALTH_DEFAULT_LIMIT`]) when `None`.
    pub limit: Option<u32>,
    /// The previous page's [`NodeHealthList::continue_token`]; the first
    /// page when `None`.
    pub continue_token: Option<String>,
}

impl NodeHealthQuery {
    /// The request path and query string.
    pub fn path(&self) -> String {
        let mut query = Vec::new();
        if let Some(limit) = self.limit {
            query.push(format!("limit={limit}"));
        }
        if let Some(token) = &self.continue_token {
            // Tokens are URL-safe as the master makes them; encode anyway,
            // as the client cannot know.
            query.push(format!("continue={}", super::client::escape(token)));
        }
        if query.is_empty() {
            NODE_HEALTH_PATH.to_owned()
        } else {
            format!("{NODE_HEALTH_PATH}?{}", query.join("&"))
        }
    }
}

/// Where a seal token stands, as [`SealTokenStatus::status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum StakeState {
    /// Grants access.
    Active {
        /// When it expires unless refreshed (ms).
        expires_at_ms: u64,
    },
    /// Unstake requested; withdrawable from `until_ms`.
    Unbonding {
        /// When (ms).
        until_ms: u64,
    },
    /// Past its expiry.
    Expired {
        /// When it expired (ms).
        at_ms: u64,
    },
    /// Slashed below the minimum of its role.
    Understaked {
        /// The least stake of its role (MIST).
        required_mist: u64,
    },
    /// The stake was withdrawn (no stake record).
    Withdrawn,
}

/// One seal token as the master sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SealTokenStatus {
    /// The token's object id.
    pub seal_token: String,
    /// Its owner.
    pub owner: String,
    /// `worker` or `user`.
    pub role: String,
    /// The worker's node id (empty for a user).
    pub node_id: String,
    /// The stake in MIST.
    pub stake_mist: u64,
    /// The stake in SUI, e.g. `"5.5 SUI"`.
    pub stake_sui: String,
    /// The access tier the stake buys, if any; none for a worker seal token.
    pub tier: Option<String>,
    /// Whether it grants access now, and if not why.
    pub status: StakeState,
    /// When it was minted (ms).
    pub created_at_ms: u64,
    /// The node admitted through it, if any.
    pub admitted_node: Option<String>,
}

/// `GET /api/v1/staking/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StakingStatus {
    /// The chain time the statuses are computed at (ms).
    pub chain_time_ms: u64,
    /// The matching seal tokens.
    pub seal_tokens: Vec<SealTokenStatus>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn heartbeat_bodies_use_the_seed_metric_names() {
        let body = serde_json::json!({
            "node_id": "worker-1",
            "proof": "daasw1.x.y",
            "status": "ready",
            "metrics": {
                "cpu_usage": 45.2, "memory_usage": 67.8, "pod_count": 25,
                "container_count": 48, "network_rx": 1_024_000, "network_tx": 512_000,
                "timestamp": 1_234_567_890u64
            }
        });
        let request: HeartbeatRequest = serde_json::from_value(body).unwrap();
        assert_eq!(request.status, NodeStatus::Ready);
        assert_eq!(request.metrics.pod_count, 25);
    }

    #[test]
    fn agent_endpoints_are_checked() {
        let good = AgentEndpoint {
            url: "https://10.0.0.5:8443".to_owned(),
            tls_spki_sha256: "ab".repeat(32),
        };
        assert_eq!(good.check().unwrap(), [0xab; 32]);
        let ipv6 = AgentEndpoint {
            url: "https://[::1]:8443".to_owned(),
            ..good.clone()
        };
        assert!(ipv6.check().is_ok());
        for (url, key, needle) in [
            (
                "http://10.0.0.5:8443",
                "ab".repeat(32),
                "does not start with https://",
            ),
            (
                "https://10.0.0.5",
                "ab".repeat(32),
                "is not https://<host>:<port>",
            ),
            (
                "https://h:1/x",
                "ab".repeat(32),
                "is not https://<host>:<port>",
            ),
            (
                "https://:80",
                "ab".repeat(32),
                "is not https://<host>:<port>",
            ),
            ("https://h:1", "ab".repeat(31), "is not 64 hex digits"),
            ("https://h:1", "zz".repeat(32), "is not 64 hex digits"),
        ] {
            let endpoint = AgentEndpoint {
                url: url.to_owned(),
                tls_spki_sha256: key,
            };
            let error = endpoint.check().unwrap_err();
            assert!(error.contains(needle), "{url}: {error}");
        }
        // Older agents send no endpoint.
        let body = serde_json::json!({
            "node_id": "w", "proof": "p", "status": "ready",
            "metrics": { "cpu_usage": 1.0, "memory_usage": 1.0, "pod_count": 0,
                "container_count": 0, "network_rx": 0, "network_tx": 0, "timestamp": 0 }
        });
        let request: HeartbeatRequest = serde_json::from_value(body).unwrap();
        assert!(request.agent_api.is_none());
    }

    #[test]
    fn health_queries_name_limit_and_continue() {
        assert_eq!(NodeHealthQuery::default().path(), NODE_HEALTH_PATH);
        let query = NodeHealthQuery {
            limit: Some(5),
            continue_token: Some("n1.d29y a/+".to_owned()),
        };
        assert_eq!(
            query.path(),
            "/api/v1/node-health?limit=5&continue=n1.d29y%20a%2F%2B"
        );
        let list: NodeHealthList = serde_json::from_value(serde_json::json!({
            "view": "public", "nodes": [], "heartbeat_interval_secs": 10,
            "stale_after_secs": 30, "continue": "tok"
        }))
        .unwrap();
        assert_eq!(list.continue_token.as_deref(), Some("tok"));
        let mut last = list.clone();
        last.continue_token = None;
        assert!(
            serde_json::to_value(&last)
                .unwrap()
                .get("continue")
                .is_none()
        );
    }

    #[test]
    fn stake_states_are_tagged() {
        let json = serde_json::to_value(StakeState::Unbonding { until_ms: 5 }).unwrap();
        assert_eq!(
            json,
            serde_json::json!({ "state": "unbonding", "until_ms": 5 })
        );
    }
}
