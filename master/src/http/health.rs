//! `GET /readyz` and `GET /metrics`.
//!
//! Readiness is reported, not probed on request: each dependency (the
//! chain, the API server, the event follower) has a named check that its
//! owner updates; `/readyz` is 200 only when every check passed, else 503
//! naming the failing ones. A load balancer thus stops sending webhooks to
//! a replica that cannot reach the chain, which would deny them all.
//!
//! `/readyz` is public, so it says why a check fails only in a fixed
//! vocabulary ([`NotReady`]): never an error's text, an address or a chain
//! of sources. The details go to the log when a check's state changes.

use std::collections::BTreeMap;
use std::fmt;
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

/// Why a readiness check fails: the whole vocabulary `/readyz` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotReady {
    /// Nothing was reported yet.
    NotCheckedYet,
    /// The dependency cannot be reached or answers with errors.
    Unreachable,
    /// Reached, but the master's set-up on it is not done yet.
    SettingUp,
    /// Behind what it follows (the chain event follower).
    Behind,
}

impl NotReady {
    /// What `/readyz` says.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotCheckedYet => "not checked yet",
            Self::Unreachable => "unreachable",
            Self::SettingUp => "setting up",
            Self::Behind => "behind",
        }
    }
}

/// The named readiness checks and their last results.
#[derive(Debug, Default)]
pub struct Readiness {
    checks: RwLock<BTreeMap<&'static str, Result<(), NotReady>>>,
}

impl Readiness {
    /// Checks named `names`, all failing ("not checked yet") until reported.
    pub fn new(names: &[&'static str]) -> Self {
        let checks = names
            .iter()
            .map(|name| (*name, Err(NotReady::NotCheckedYet)))
            .collect();
        Self {
            checks: RwLock::new(checks),
        }
    }

    /// Records that check `name` passed.
    pub fn pass(&self, name: &'static str) {
        if self.set(name, Ok(())).is_some_and(|before| before.is_err()) {
            tracing::info!(check = name, "ready");
        }
    }

    /// Records that check `name` failed for `reason`; `detail` (an error,
    /// an address) goes to the log, once per change of state, and never
    /// to `/readyz`.
    pub fn fail(&self, name: &'static str, reason: NotReady, detail: &dyn fmt::Display) {
        if self.set(name, Err(reason)) != Some(Err(reason)) {
            tracing::warn!(check = name, reason = reason.as_str(), %detail, "not ready");
        } else {
            tracing::debug!(check = name, reason = reason.as_str(), %detail, "still not ready");
        }
    }

    /// Sets the state of `name`, returning the one before.
    fn set(&self, name: &'static str, state: Result<(), NotReady>) -> Option<Result<(), NotReady>> {
        let mut checks = self
            .checks
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        checks.insert(name, state)
    }

    /// Whether every check passed, and each check's state.
    pub fn snapshot(&self) -> (bool, BTreeMap<&'static str, &'static str>) {
        let checks = self
            .checks
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let ready = checks.values().all(Result::is_ok);
        let states = checks
            .iter()
            .map(|(name, result)| (*name, result.map_or_else(NotReady::as_str, |()| "ok")))
            .collect();
        (ready, states)
    }
}

/// The body of `/readyz`.
#[derive(Debug, Serialize)]
struct ReadyBody {
    status: &'static str,
    checks: BTreeMap<&'static str, &'static str>,
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
        readiness.pass("chain");
        readiness.fail("kubernetes", NotReady::Unreachable, &"refused");
        let (status, body) = get_body(router(Arc::clone(&state)), READYZ_PATH).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("\"kubernetes\":\"unreachable\""), "{body}");
        readiness.pass("kubernetes");
        let (status, body) = get_body(router(state), READYZ_PATH).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    #[tokio::test]
    async fn reasons_come_from_a_fixed_vocabulary_and_hide_details() {
        let readiness = Arc::new(Readiness::new(&["chain", "kubernetes", "chain-events"]));
        let state = Arc::new(HealthState {
            readiness: Arc::clone(&readiness),
            registry: Registry::default(),
        });
        let detail = "error trying to connect: tcp connect error: Connection refused \
                      (os error 111) at https://10.0.3.7:6443/version: caused by: hyper";
        readiness.fail("chain", NotReady::Unreachable, &detail);
        readiness.fail("kubernetes", NotReady::SettingUp, &detail);
        readiness.fail("chain-events", NotReady::Behind, &detail);
        let (status, body) = get_body(router(state), READYZ_PATH).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "status": "not ready",
                "checks": {
                    "chain": "unreachable",
                    "chain-events": "behind",
                    "kubernetes": "setting up"
                }
            })
        );
        for leak in ["10.0.3.7", "refused", "os error", "hyper", "caused by"] {
            assert!(!body.contains(leak), "{leak} in {body}");
        }
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
