//! The one error type of every endpoint, and the JSON body extractor that
//! turns axum's rejections into it.
//!
//! Every refusal is a 4xx with `{ "error": "<what is wrong>" }`; server
//! faults are a 5xx with a generic message and the details in the log.

use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use daas_core::api::ErrorBody;
use daas_core::error_chain::one_line;
use serde::de::DeserializeOwned;

use crate::serve::BodyTimeout;

/// An HTTP error with a JSON body naming the problem.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    retry_after: Option<Duration>,
}

impl ApiError {
    /// An error with this status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 400: the request is malformed.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 401: the caller is not authenticated.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }

    /// 403: the caller is authenticated but may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    /// 404: the thing asked about does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 409: the request conflicts with the current state (a replayed proof).
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    /// 429 with `Retry-After` (whole seconds, at least 1).
    pub fn too_many_requests(retry_after: Duration) -> Self {
        let mut error = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "rate limit exceeded; retry after {} s",
                retry_after_secs(retry_after)
            ),
        );
        error.retry_after = Some(retry_after);
        error
    }

    /// 503: a dependency (chain, API server) cannot be reached; the request
    /// may succeed later. Fails closed: nothing is allowed meanwhile.
    pub fn unavailable(context: &str, error: &(dyn std::error::Error + 'static)) -> Self {
        tracing::warn!(error = %one_line(error), "{context}");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{context}; try again later"),
        )
    }

    /// 500: a fault of the master; the details go to the log only.
    pub fn internal(context: &str, error: &(dyn std::error::Error + 'static)) -> Self {
        tracing::error!(error = %one_line(error), "{context}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{context}; see the master's log"),
        )
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

fn retry_after_secs(retry_after: Duration) -> u64 {
    retry_after.as_secs_f64().ceil().max(1.0) as u64
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        if let Some(timeout) = BodyTimeout::find(&rejection) {
            return Self::new(StatusCode::REQUEST_TIMEOUT, timeout.to_string());
        }
        let status = rejection.status();
        let message = match &rejection {
            JsonRejection::MissingJsonContentType(_) => NOT_JSON.to_owned(),
            _ if status == StatusCode::PAYLOAD_TOO_LARGE => {
                "request body is larger than this endpoint accepts".to_owned()
            }
            _ => rejection.body_text(),
        };
        Self::new(status, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(ErrorBody::new(self.message))).into_response();
        if let Some(retry_after) = self.retry_after {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs(retry_after)),
            );
        }
        response
    }
}

/// The refusal of a body that is not declared as JSON.
const NOT_JSON: &str = "request body must be JSON with Content-Type: application/json";

/// Whether `Content-Type` is JSON: `application/json` or
/// `application/<anything>+json`, with any parameters, as axum's `Json`
/// accepts.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case("json") || subtype.to_ascii_lowercase().ends_with("+json"))
}

/// A JSON request body whose rejections are [`ApiError`]s: wrong content
/// type 415, oversize 413, syntax 400, shape 422, each naming the problem.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(request.headers()) {
            return Err(Self::Rejection::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                NOT_JSON,
            ));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(JsonRejection::from)?;
        // The plain parse is the fast path; only a refused body is parsed
        // again by axum, whose message names where it went wrong.
        match serde_json::from_slice(&bytes) {
            Ok(value) => Ok(Self(value)),
            Err(_) => {
                let Json(value) = Json::<T>::from_bytes(&bytes)?;
                Ok(Self(value))
            }
        }
    }
}

/// The fallback of every router: 404 as JSON.
pub async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}

/// The method fallback of every router: 405 as JSON.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this endpoint",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let response = ApiError::too_many_requests(Duration::from_millis(1200)).into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
        let response = ApiError::too_many_requests(Duration::ZERO).into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    }

    #[test]
    fn json_content_types_are_recognised_as_axum_does() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
            is_json(&headers)
        };
        for json in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON",
            "application/merge-patch+json",
        ] {
            assert!(with(json), "{json}");
        }
        for other in [
            "text/plain",
            "application/jsonx",
            "json",
            "application/",
            "",
        ] {
            assert!(!with(other), "{other}");
        }
        assert!(!is_json(&HeaderMap::new()));
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        count: u32,
    }

    async fn extract(content_type: &str, body: &str) -> Result<Body, ApiError> {
        let request = Request::builder()
            .header(header::CONTENT_TYPE, content_type)
            .body(axum::body::Body::from(body.to_owned()))
            .unwrap();
        ApiJson::<Body>::from_request(request, &())
            .await
            .map(|ApiJson(body)| body)
    }

    #[tokio::test]
    async fn every_body_refusal_names_the_problem() {
        let body = extract("application/json", r#"{"name":"a","count":2}"#)
            .await
            .unwrap();
        assert_eq!((body.name.as_str(), body.count), ("a", 2));

        let error = extract("text/plain", "{}").await.unwrap_err();
        assert_eq!(error.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(error.message(), NOT_JSON);

        let error = extract("application/json", "{\"name\":").await.unwrap_err();
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
        assert!(error.message().contains("EOF"), "{}", error.message());

        let error = extract("application/json", r#"{"name":"a","count":-1}"#)
            .await
            .unwrap_err();
        assert_eq!(error.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            error.message().contains("count") && error.message().contains("-1"),
            "the path and the value: {}",
            error.message()
        );
    }
}
