//! `GET /readyz` and `GET /metrics`.
//!
//! Readiness is reported, not probed on request: each dependency (the
//! chain, the API server, the event follower) has a named check that its
//! owner updates; `/readyz` is 200 only when every check passed, else 503
//! naming the failing ones. A load balancer thus stops sending webhooks to
//! a replica that cannot reach the chain, which would deny them all.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;
use serde::Serialize;

pub use daas_core::api::access::READYZ_PATH;
/// Path of the Prometheus metrics.
pub const METRICS_PATH: &str = "/metrics";

/// The named readiness checks and their last results.
#[derive(Debug, Default)]
pub struct Readiness {
    checks: RwLock<BTreeMap<&'static str, Result<(), String>>>,
}

impl Readiness {
    /// Checks named `names`, all failing ("not checked yet") until reported.
    pub fn new(names: &[&'static str]) -> Self {
        let checks = names
            .iter()
            .map(|name| (*name, Err("not checked yet".to_owned())))
            .collect();
        Self {
            checks: RwLock::new(checks),
        }
    }

    /// Records the latest result of check `name`.
    pub fn report(&self, name: &'static str, result: Result<(), String>) {
        let mut checks = self
            .checks
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        checks.insert(name, result);
    }

    /// Whether every check passed, and each check's state.
    pub fn snapshot(&self) -> (bool, BTreeMap<&'static str, String>) {
        let checks = self
            .checks
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let ready = checks.values().all(Result::is_ok);
        let states = checks
            .iter()
            .map(|(name, result)| {
                let state = match result {
                    Ok(()) => "ok".to_owned(),
                    Err(reason) => reason.clone(),
                };
                (*name, state)
            })
            .collect();
        (ready, states)
    }
}

/// The body of `/readyz`.
#[derive(Debug, Serialize)]
struct ReadyBody {
    status: &'static str,
    checks: BTreeMap<&'static str, String>,
}

/// What the health routes share.
#[derive(Debug)]
pub struct HealthState {
    /// The readiness checks.
    pub readiness: Arc<Readiness>,
    /// Every metric of the master.
    pub registry: Registry,
}

/// `/readyz` and `/metrics`.
pub fn router(state: Arc<HealthState>) -> Router {
    Router::new()
        .route(READYZ_PATH, get(readyz))
        .route(METRICS_PATH, get(metrics))
        .with_state(state)
}

async fn readyz(State(state): State<Arc<HealthState>>) -> (StatusCode, Json<ReadyBody>) {
    let (ready, checks) = state.readiness.snapshot();
    let (status, text) = if ready {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    };
    (
        status,
        Json(ReadyBody {
            status: text,
            checks,
        }),
    )
}

async fn metrics(State(state): State<Arc<HealthState>>) -> Response {
    let mut text = String::new();
    match encode(&mut text, &state.registry) {
        Ok(()) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(error) => super::ApiError::internal("cannot encode metrics", &error).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use prometheus_client::metrics::counter::Counter;
    use tower::ServiceExt as _;

    async fn get_body(app: Router, path: &str) -> (StatusCode, String) {
        let response = app
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn ready_only_when_every_check_passed() {
        let readiness = Arc::new(Readiness::new(&["chain", "kubernetes"]));
        let state = Arc::new(HealthState {
            readiness: Arc::clone(&readiness),
            registry: Registry::default(),
        });
        let (status, body) = get_body(router(Arc::clone(&state)), READYZ_PATH).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("not checked yet"), "{body}");
        readiness.report("chain", Ok(()));
        readiness.report("kubernetes", Err("API server unreachable".to_owned()));
        let (status, body) = get_body(router(Arc::clone(&state)), READYZ_PATH).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("API server unreachable"), "{body}");
        readiness.report("kubernetes", Ok(()));
        let (status, body) = get_body(router(state), READYZ_PATH).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    #[tokio::test]
    async fn metrics_are_openmetrics_text() {
        let mut registry = Registry::default();
        let counter = Counter::<u64>::default();
        registry.register("daas_test_requests", "Requests seen", counter.clone());
        counter.inc();
        let state = Arc::new(HealthState {
            readiness: Arc::new(Readiness::new(&[])),
            registry,
        });
        let (status, body) = get_body(router(state), METRICS_PATH).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("daas_test_requests_total 1"), "{body}");
        assert!(body.ends_with("# EOF\n"), "{body}");
    }
}
