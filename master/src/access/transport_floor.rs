//! `POST /transport-floor?bytes=N` (feature `transport-floor`, for the
//! webhook bench only): takes a body as the TokenReview route does, then
//! answers `N` bytes without looking at it. Over the same listener it
//! measures what carrying a TokenReview's request and answer costs (TLS,
//! HTTP/2, the kernel) with no handler work, the floor under which no
//! TokenReview handler can go.

use axum::body::Bytes;
use axum::extract::RawQuery;
use axum::http::header;
use axum::response::IntoResponse;

/// Path of the route.
pub const TRANSPORT_FLOOR_PATH: &str = "/transport-floor";

/// The answer's bytes: JSON whitespace, so it is a valid JSON document
/// prefix of any length up to this.
static FILLER: [u8; 4096] = [b' '; 4096];

/// Drops the body and answers `bytes` (at most 4096) bytes.
pub(super) async fn answer(query: RawQuery, body: Bytes) -> impl IntoResponse {
    drop(body);
    let bytes = query
        .0
        .as_deref()
        .and_then(|q| q.strip_prefix("bytes="))
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(0)
        .min(FILLER.len());
    (
        [(header::CONTENT_TYPE, "application/json")],
        FILLER.get(..bytes).unwrap_or_default(),
    )
}
