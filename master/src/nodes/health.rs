//! `GET /api/v1/node-health` and `GET /api/v1/node-health/{node}`: what
//! the master knows of each admitted node, for the console. Read-only.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use daas_core::api::nodes::{HEARTBEAT_INTERVAL_SECS, NodeHealth, NodeHealthList};

use super::NodeService;
use super::registry::stale_after;
use crate::http::ApiError;

/// Every node, by name.
pub async fn all_nodes(State(service): State<Arc<NodeService>>) -> Json<NodeHealthList> {
    Json(NodeHealthList {
        nodes: service.registry.all_health(),
        heartbeat_interval_secs: HEARTBEAT_INTERVAL_SECS,
        stale_after_secs: stale_after().as_secs(),
    })
}

/// One node; 404 naming it when unknown.
pub async fn one_node(
    State(service): State<Arc<NodeService>>,
    Path(node): Path<String>,
) -> Result<Json<NodeHealth>, ApiError> {
    service
        .registry
        .health(&node)
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("node {node:?} is not known to this master")))
}
