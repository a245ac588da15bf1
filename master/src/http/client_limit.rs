//! Limits before work: every request on the public listener is counted
//! against its client's address ([`Peer::rate_limit_key`]) before any
//! handler runs, so no caller, authenticated or not, can make the master
//! verify signatures, read the chain or attest without bound. A client
//! over its budget gets 429 with `Retry-After`.
//!
//! Behind the enclave's parent proxy the address is the one its PROXY v2
//! header names; headers such as `X-Forwarded-For` are never trusted.
//! Per-identity limits (the caller's Sui address) apply on top, after
//! authentication.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::Extensions;
use axum::http::request::Parts;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse as _, Response};

use super::ApiError;
use crate::endpoint::Peer;
use crate::ratelimit::RateLimiter;

/// The key used when the server did not record the peer (a router called
/// in process): every such caller then shares one budget.
pub const UNKNOWN_PEER: &str = "unknown-peer";

/// The rate-limiting key of the request's client: [`Peer::rate_limit_key`]
/// of the `ConnectInfo<Peer>` the serve loop records, else the IP of a
/// `ConnectInfo<SocketAddr>`, else [`UNKNOWN_PEER`].
pub fn client_key(extensions: &Extensions) -> String {
    if let Some(ConnectInfo(peer)) = extensions.get::<ConnectInfo<Peer>>() {
        peer.rate_limit_key()
    } else if let Some(ConnectInfo(address)) = extensions.get::<ConnectInfo<SocketAddr>>() {
        Peer::Ip(*address).rate_limit_key()
    } else {
        UNKNOWN_PEER.to_owned()
    }
}

/// Extracts [`client_key`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientKey(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientKey {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(client_key(&parts.extensions)))
    }
}

/// `routes` with every request first counted against its client's budget
/// in `limiter`.
pub fn limit_by_client(routes: Router, limiter: Arc<RateLimiter>) -> Router {
    routes.layer(middleware::from_fn_with_state(limiter, admit))
}

async fn admit(State(limiter): State<Arc<RateLimiter>>, request: Request, next: Next) -> Response {
    match limiter.check(&client_key(request.extensions())) {
        Ok(()) => next.run(request).await,
        Err(wait) => ApiError::too_many_requests(wait).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use axum::body::Body;
    use axum::http::{StatusCode, header};
    use axum::routing::get;
    use tower::ServiceExt as _;

    use super::*;

    fn from(peer: &str) -> Request {
        let mut request = Request::builder().uri("/work").body(Body::empty()).unwrap();
        let peer = Peer::Ip(peer.parse().unwrap());
        request.extensions_mut().insert(ConnectInfo(peer));
        request
    }

    #[tokio::test]
    async fn a_client_over_its_budget_gets_429_before_the_handler_runs() {
        let calls = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let counted = Arc::clone(&calls);
        let routes = Router::new().route(
            "/work",
            get(move || async move {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }),
        );
        let limiter = Arc::new(RateLimiter::per_minute(NonZeroU32::new(3).unwrap()));
        let app = limit_by_client(routes, limiter);
        for port in 1..=3 {
            // Another port of the same address is the same client.
            let response = app
                .clone()
                .oneshot(from(&format!("192.0.2.1:{port}")))
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
        }
        let refused = app.clone().oneshot(from("192.0.2.1:4")).await.unwrap();
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(refused.headers().contains_key(header::RETRY_AFTER));
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 3);
        // Another client has its own budget.
        let other = app.oneshot(from("192.0.2.2:1")).await.unwrap();
        assert_eq!(other.status(), StatusCode::OK);
    }
}
