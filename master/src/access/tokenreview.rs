//! `POST /authenticate`: the API server's TokenReview webhook
//! (`authentication.k8s.io/v1`).
//!
//! A bad token is a normal answer, `authenticated: false` with `error`
//! naming why; only a malformed TokenReview is a 4xx. An allowed answer
//! names the configured audience only if the reviewer asked for it, never
//! another ([`TokenReview::answer`]). When the chain or the
//! seal token store cannot be read the answer is a 503 (the API server
//! treats it as unauthenticated and does not cache it): fail closed.
//!
//! An allowed answer is written straight from the cached grant
//! ([`TokenReview::allowed_json`]): on the warm path, copying and freeing
//! the grant cost as much as deciding.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use daas_core::access::tokenreview::{KIND, TokenReview};
use tracing::instrument;

use super::AccessService;
use crate::http::{ApiError, ApiJson};

/// The API group a TokenReview must belong to.
const GROUP: &str = "authentication.k8s.io/";

/// Answers a TokenReview. Its span is at debug level, as the request's own
/// (`TraceLayer`): the webhook is the master's hottest path, and at info
/// level its span cost each warm answer about 0.4 µs (of 22 µs) in
/// `perf`.
#[instrument(level = "debug", skip_all)]
pub(super) async fn authenticate(
    State(service): State<Arc<AccessService>>,
    ApiJson(review): ApiJson<TokenReview>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let (answer, result) = match answer(&service, &review).await {
        Ok((answer, result)) => (Ok(answer), result),
        Err(error) => (Err(error), "error"),
    };
    service.metrics.tokenreviews.inc(result);
    service
        .metrics
        .tokenreview_seconds
        .observe(started.elapsed().as_secs_f64());
    answer
}

/// The answer and its result label.
async fn answer(
    service: &AccessService,
    review: &TokenReview,
) -> Result<(Response, &'static str), ApiError> {
    if !review.api_version.starts_with(GROUP) || review.kind != KIND {
        return Err(ApiError::bad_request(format!(
            "expected a {KIND} of {GROUP}v1, got {} {}",
            review.api_version, review.kind
        )));
    }
    match service.authenticate(&review.spec.token).await {
        Ok(user) => {
            let extra = user.credential_extra();
            let body = review.allowed_json(
                &user.grant,
                extra.as_ref().map(|(key, value)| (*key, value.as_str())),
                &service.settings.audience,
            );
            let json = [(header::CONTENT_TYPE, "application/json")];
            Ok(((json, body).into_response(), "allowed"))
        }
        Err(error) if error.is_unavailable() => Err(error.into()),
        Err(error) => {
            tracing::debug!(%error, "token refused");
            let result = error.label();
            Ok((
                Json(review.reject(error.to_string())).into_response(),
                result,
            ))
        }
    }
}
