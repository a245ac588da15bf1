//! The agent's local API (the seed's worker endpoints, issue #11 item 7):
//! HTTPS with TLS 1.3 on the agent's own key ([`identity`]), bound to
//! 127.0.0.1 by default. Paths and wire types are in
//! `daas_core::api::agent`, shared with the console's pinned client.
//!
//! - `POST /api/v1/staking`, `/register`, `/unstake`: an order from the
//!   node's owner ([`auth`]), then the [`AgentControl`] action;
//! - `GET /api/v1/metrics` ([`NodeMetrics`]), `GET /health`, Prometheus
//!   `GET /metrics` ([`prometheus`]), `GET /openapi.json` ([`openapi`]).

pub mod auth;
pub mod control;
mod error;
pub mod identity;
pub mod openapi;
pub mod prometheus;
pub mod serve;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use daas_core::access::agent_request::AgentAction;
use daas_core::access::unix_now_secs;
use daas_core::api::agent::{
    ActionResponse, AgentHealth, HEALTH_PATH, METRICS_PATH, NodeRequest, OPENAPI_PATH,
    PROMETHEUS_PATH, REGISTER_PATH, STAKING_PATH, StakingRequest, UNSTAKE_PATH,
};
use daas_core::api::nodes::NodeMetrics;
use daas_core::package::Mist;
use serde::de::DeserializeOwned;
use tracing::{Instrument as _, info, info_span, warn};

pub use crate::metrics::ProcMetrics;
pub use auth::OrderGuard;
pub use control::{AgentControl, ControlError, Outcome};
pub use error::ApiError;
pub use identity::AgentIdentity;

use prometheus::AgentMetrics;

/// The largest request body.
const MAX_BODY_LEN: usize = 4 * 1024;

/// What the routes share.
pub struct ApiState {
    guard: OrderGuard,
    control: Arc<dyn AgentControl>,
    proc: ProcMetrics,
    prometheus: AgentMetrics,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("guard", &self.guard)
            .finish_non_exhaustive()
    }
}

impl ApiState {
    /// State that obeys orders passing `guard`, carried out by `control`,
    /// with metrics read by `proc`.
    pub fn new(guard: OrderGuard, control: Arc<dyn AgentControl>, proc: ProcMetrics) -> Self {
        Self {
            guard,
            control,
            proc,
            prometheus: AgentMetrics::default(),
        }
    }
}

/// The routes.
pub fn router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route(STAKING_PATH, post(staking))
        .route(REGISTER_PATH, post(register))
        .route(UNSTAKE_PATH, post(unstake))
        .route(METRICS_PATH, get(node_metrics))
        .route(HEALTH_PATH, get(health))
        .route(PROMETHEUS_PATH, get(prometheus_text))
        .route(OPENAPI_PATH, get(|| async { Json(openapi::document()) }))
        .layer(DefaultBodyLimit::max(MAX_BODY_LEN))
        .with_state(state)
}

async fn staking(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<ActionResponse>, ApiError> {
    order(
        &state,
        &headers,
        AgentAction::Stake,
        &body,
        |request: StakingRequest| {
            let amount = request.stake_amount.parse::<u64>().map_err(|_| {
                ApiError::bad_request(format!(
                    "stake_amount {:?} is not a decimal amount of MIST",
                    request.stake_amount
                ))
            })?;
            Ok((request.node_id, Mist::new(amount)))
        },
    )
    .await
}

async fn register(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<ActionResponse>, ApiError> {
    order(
        &state,
        &headers,
        AgentAction::Register,
        &body,
        |r: NodeRequest| Ok((r.node_id, Mist::new(0))),
    )
    .await
}

async fn unstake(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<ActionResponse>, ApiError> {
    order(
        &state,
        &headers,
        AgentAction::Unstake,
        &body,
        |r: NodeRequest| Ok((r.node_id, Mist::new(0))),
    )
    .await
}

/// One order: authenticated first, then the body (its node must be the
/// agent's), then the action; counted by result.
async fn order<T: DeserializeOwned>(
    state: &ApiState,
    headers: &HeaderMap,
    action: AgentAction,
    body: &[u8],
    parse: impl FnOnce(T) -> Result<(String, Mist), ApiError>,
) -> Result<Json<ActionResponse>, ApiError> {
    let span = info_span!("order", %action);
    let result = async {
        let request = state.guard.admit(headers, action, body, unix_now_secs())?;
        info!(owner = %request.claims().owner, "owner order accepted");
        let parsed: T = serde_json::from_slice(body)
            .map_err(|error| ApiError::bad_request(format!("bad {action} body: {error}")))?;
        let (node, amount) = parse(parsed)?;
        if node != state.guard.node().as_str() {
            return Err(ApiError::bad_request(format!(
                "node_id {node:?} is not this agent's node {}",
                state.guard.node()
            )));
        }
        let outcome = match action {
            AgentAction::Stake => state.control.stake(amount).await,
            AgentAction::Register => state.control.register().await,
            AgentAction::Unstake => state.control.unstake().await,
        }?;
        Ok(Json(ActionResponse {
            success: true,
            action: action.to_string(),
            message: outcome.message,
            seal_token: outcome.seal_token,
        }))
    }
    .instrument(span)
    .await;
    let label = match &result {
        Ok(_) => "done",
        Err(error) if error.status().is_client_error() => "refused",
        Err(_) => "failed",
    };
    if let Err(error) = &result {
        warn!(%action, status = %error.status(), "order not done");
    }
    state.prometheus.order(action.as_str(), label);
    result
}

async fn node_metrics(State(state): State<Arc<ApiState>>) -> Result<Json<NodeMetrics>, ApiError> {
    read_metrics(&state).await.map(Json)
}

async fn read_metrics(state: &ApiState) -> Result<NodeMetrics, ApiError> {
    state.proc.read().await.map_err(|error| {
        warn!(%error, "metrics unreadable");
        ApiError::unavailable(format!("metrics unreadable: {error}"))
    })
}

async fn health(State(state): State<Arc<ApiState>>) -> Json<AgentHealth> {
    Json(AgentHealth {
        status: "ok".to_owned(),
        node_id: state.guard.node().to_string(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
    })
}

async fn prometheus_text(
    State(state): State<Arc<ApiState>>,
) -> Result<impl IntoResponse, ApiError> {
    let metrics = read_metrics(&state).await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.prometheus.encode(&metrics),
    ))
}
