//! The master's HTTP API.
//!
//! Each feature has its own router with its own state and body limit
//! ([`attestation`], the access and node endpoints); [`app`] merges them and
//! adds what every endpoint shares: a tracing span per request, JSON 404
//! and 405 answers, and `GET /healthz`.
//!
//! Every refusal is a 4xx with `{ "error": "<what is wrong>" }` naming the
//! problem ([`ApiError`]); server faults are a 5xx with a generic message
//! and the details in the log.

pub mod attestation;
pub mod client_limit;
mod error;
pub mod health;
pub mod openapi;

use axum::routing::get;
use axum::{Json, Router};
use daas_core::api::{HEALTHZ_PATH, Health};
use tower_http::trace::TraceLayer;

pub use error::{ApiError, ApiJson, method_not_allowed, not_found};

/// The whole API: `routes` (the merged feature routers) plus `/healthz`,
/// the JSON fallbacks and a span per request.
pub fn app(routes: Router) -> Router {
    routes
        .route(HEALTHZ_PATH, get(healthz))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(TraceLayer::new_for_http())
}

async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
    })
}
