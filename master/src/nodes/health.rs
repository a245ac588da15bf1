//! `GET /api/v1/node-health` and `GET /api/v1/node-health/{node}`: what
//! the master knows of each admitted node, for the console. Read-only.
//!
//! Anyone may see which nodes there are and how they do (name, status,
//! heartbeat, metrics), as any cluster user sees Node objects. Who runs a
//! node and where (owner, seal token, address, capacity, the agent's API
//! endpoint and TLS key) is shown only to
//! the node's owner and to the admin and super tiers ([`HealthView`]):
//! a caller presents a `daas1.` access token signed by their wallet (for
//! any of their seal tokens: an owner of worker tokens alone has no user
//! token), or an opaque seal token. A credential that does not verify is
//! refused with 401 rather than silently shown less.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use daas_core::access::token::PREFIX;
use daas_core::access::{AccessToken, NodeName, unix_now_secs};
use daas_core::api::nodes::{HEARTBEAT_INTERVAL_SECS, HealthView, NodeHealth, NodeHealthList};
use daas_core::package::Tier;
use sui_sdk_types::Address;
use tracing::debug;

use super::NodeService;
use super::client_ip::ClientIp;
use super::page::{self, PageQuery};
use super::registry::stale_after;
use crate::access::authenticator::bearer_token;
use crate::http::ApiError;

/// Who asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Viewer {
    /// No credentials.
    Public,
    /// The owner of this address's nodes.
    Owner(Address),
    /// The admin or super tier.
    Operator,
}

impl Viewer {
    fn view(self) -> HealthView {
        match self {
            Self::Public => HealthView::Public,
            Self::Owner(_) => HealthView::Owner,
            Self::Operator => HealthView::Operator,
        }
    }

    /// `health` as this viewer may see it.
    fn show(self, mut health: NodeHealth) -> NodeHealth {
        let full = match self {
            Self::Operator => true,
            Self::Owner(address) => health.owner == Some(address.to_string()),
            Self::Public => false,
        };
        if !full {
            health.seal_token = None;
            health.owner = None;
            health.ip_address = None;
            health.capacity = None;
            health.agent_api = None;
        }
        health
    }
}

/// One page of nodes, by name (`?limit=N&continue=TOKEN`, [`page`]).
///
/// # Errors
/// 400 naming a bad `limit` or `continue` (or another parameter), 401 for
/// a credential that does not verify, 429 past the rate limit.
pub async fn all_nodes(
    State(service): State<Arc<NodeService>>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<NodeHealthList>, ApiError> {
    let Query(query) = query.map_err(|rejection| {
        ApiError::bad_request(format!("bad query: {}", rejection.body_text()))
    })?;
    let request = query.check()?;
    let viewer = viewer(&service, &client, &headers).await?;
    let after = request.after.as_ref().map(NodeName::as_str);
    let (nodes, more) = service.registry.health_page(after, request.limit);
    let continue_token = more
        .then(|| nodes.last().map(|last| page::encode(&last.node)))
        .flatten();
    Ok(Json(NodeHealthList {
        view: viewer.view(),
        nodes: nodes
            .into_iter()
            .map(|health| viewer.show(health))
            .collect(),
        heartbeat_interval_secs: HEARTBEAT_INTERVAL_SECS,
        stale_after_secs: stale_after().as_secs(),
        continue_token,
    }))
}

/// One node; 404 naming it when unknown.
///
/// # Errors
/// 401 for a credential that does not verify, 404 for an unknown node,
/// 429 past the rate limit.
pub async fn one_node(
    State(service): State<Arc<NodeService>>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    Path(node): Path<String>,
) -> Result<Json<NodeHealth>, ApiError> {
    let viewer = viewer(&service, &client, &headers).await?;
    service
        .registry
        .health(&node)
        .map(|health| Json(viewer.show(health)))
        .ok_or_else(|| ApiError::not_found(format!("node {node:?} is not known to this master")))
}

/// Who the request's credential says the caller is. Requests with a
/// credential are rate-limited by client address (checking one may read
/// the chain).
async fn viewer(
    service: &NodeService,
    client: &str,
    headers: &HeaderMap,
) -> Result<Viewer, ApiError> {
    if !headers.contains_key(header::AUTHORIZATION) {
        return Ok(Viewer::Public);
    }
    service.rate_limit(client)?;
    let bearer = bearer_token(headers)?;
    let signer = if bearer.starts_with(PREFIX) {
        let settings = &service.settings;
        let token = AccessToken::parse(bearer)
            .and_then(|token| {
                token.verify(&settings.audience, unix_now_secs(), settings.clock_skew)
            })
            .map_err(|error| ApiError::unauthorized(format!("access token refused: {error}")))?;
        Some(token.signer())
    } else {
        None
    };
    if let Some(access) = &service.access {
        match access.authenticate(bearer).await {
            Ok(user) if user.grant.tier >= Tier::Admin => return Ok(Viewer::Operator),
            Ok(user) => return Ok(Viewer::Owner(user.claimant.owner)),
            // A signed token shows its signer's nodes whatever its seal
            // token grants (a worker's owner may hold no user token).
            Err(error) if signer.is_some() => {
                debug!(%error, "no tier for the node-health caller; owner view");
            }
            Err(error) => return Err(error.into()),
        }
    }
    signer.map(Viewer::Owner).ok_or_else(|| {
        ApiError::unauthorized("node health takes a `daas1.` access token as its credential")
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use daas_core::api::nodes::{AgentEndpoint, Capacity, NodeStatus};

    use super::*;

    fn health(owner: Address) -> NodeHealth {
        NodeHealth {
            node: "worker-1".to_owned(),
            seal_token: Some("0x02".to_owned()),
            owner: Some(owner.to_string()),
            status: NodeStatus::Ready,
            last_heartbeat_age_secs: Some(3),
            stale: false,
            metrics: None,
            ip_address: Some("10.0.0.1".to_owned()),
            capacity: Some(Capacity {
                cpu: "4".to_owned(),
                memory: "16Gi".to_owned(),
                storage: "100Gi".to_owned(),
            }),
            agent_api: Some(AgentEndpoint {
                url: "https://10.0.0.1:8443".to_owned(),
                tls_spki_sha256: "ab".repeat(32),
            }),
        }
    }

    #[test]
    fn a_full_page_of_the_largest_nodes_stays_under_half_the_client_limit() {
        use daas_core::api::nodes::{MAX_AGENT_URL_LEN, NODE_HEALTH_MAX_LIMIT, NodeMetrics};
        use daas_core::attested::MAX_RESPONSE_LEN;

        use crate::nodes::register::MAX_QUANTITY_LEN;

        let quantity = "9".repeat(MAX_QUANTITY_LEN);
        let largest = NodeHealth {
            node: "n".repeat(daas_core::access::MAX_NODE_NAME_LEN),
            status: NodeStatus::NotReady,
            last_heartbeat_age_secs: Some(u64::MAX),
            metrics: Some(NodeMetrics {
                cpu_usage: -f64::MAX,
                memory_usage: -f64::MIN_POSITIVE,
                pod_count: u32::MAX,
                container_count: u32::MAX,
                network_rx: u64::MAX,
                network_tx: u64::MAX,
                timestamp: u64::MAX,
            }),
            ip_address: Some("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255".to_owned()),
            capacity: Some(Capacity {
                cpu: quantity.clone(),
                memory: quantity.clone(),
                storage: quantity,
            }),
            agent_api: Some(AgentEndpoint {
                url: format!("https://{}", "h".repeat(MAX_AGENT_URL_LEN - 8)),
                tls_spki_sha256: "ab".repeat(32),
            }),
            ..health(Address::new([0xff; 32]))
        };
        let page = NodeHealthList {
            view: HealthView::Operator,
            nodes: vec![largest; NODE_HEALTH_MAX_LIMIT as usize],
            heartbeat_interval_secs: HEARTBEAT_INTERVAL_SECS,
            stale_after_secs: u64::MAX,
            continue_token: Some(page::encode(
                &"n".repeat(daas_core::access::MAX_NODE_NAME_LEN),
            )),
        };
        let len = serde_json::to_vec(&page).unwrap().len();
        assert!(len < MAX_RESPONSE_LEN / 2, "a full page is {len} bytes");
    }

    #[test]
    fn each_viewer_sees_what_it_may() {
        let alice = Address::new([1; 32]);
        let bob = Address::new([2; 32]);
        let full = health(alice);
        let public = NodeHealth {
            seal_token: None,
            owner: None,
            ip_address: None,
            capacity: None,
            agent_api: None,
            ..full.clone()
        };
        assert_eq!(Viewer::Public.show(full.clone()), public);
        assert_eq!(Viewer::Owner(alice).show(full.clone()), full);
        assert_eq!(Viewer::Owner(bob).show(full.clone()), public);
        assert_eq!(Viewer::Operator.show(full.clone()), full);
        let json = serde_json::to_value(&public).unwrap();
        for hidden in ["seal_token", "owner", "ip_address", "capacity", "agent_api"] {
            assert!(json.get(hidden).is_none(), "{json}");
        }
        assert_eq!(json["status"], "ready");
    }
}
