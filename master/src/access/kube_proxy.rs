//! `ANY /api/*` and `/apis/*`: the Kubernetes API for clients that cannot
//! run exec plugins (seed endpoint).
//!
//! The caller authenticates with a `daas1.` access token or an opaque seal
//! token; the request then goes to the API server with the master's own
//! client (its TLS and credentials) and impersonates the caller:
//! `Impersonate-User: sui:<address>`, `Impersonate-Uid`, one
//! `Impersonate-Group` per group and `Impersonate-Extra-<key>` per extra
//! value (keys percent-encoded as Kubernetes requires).
//!
//! Of the caller's headers, none that carries identity or routing goes on
//! ([`forwarded_headers`]): `Authorization`, `Impersonate-*`, the
//! front-proxy identity headers `X-Remote-*` (an API server that trusted
//! the master's client certificate as a front proxy would believe them),
//! the client-address headers `Forwarded`, `X-Forwarded-*` and
//! `X-Real-Ip` (the API server records them as the audit log's source
//! IPs), hop-by-hop headers, and every header the caller's `Connection`
//! header names (RFC 9110, 7.6.1: hop-by-hop for this request).
//! The answer streams back, so `watch` works. Connection upgrades (exec,
//! attach, port-forward) are refused: use `kubectl` with the plugin.

use std::collections::HashSet;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use daas_core::access::Grant;
use tracing::instrument;

use super::AccessService;
use super::authenticator::bearer_token;
use crate::http::ApiError;

/// Largest request body forwarded.
pub const PROXY_BODY_LIMIT: usize = 3 * 1024 * 1024;

/// Prefixes of header names never forwarded: impersonation, front-proxy
/// identity, client addresses.
const DROPPED_PREFIXES: [&str; 3] = ["impersonate-", "x-remote-", "x-forwarded-"];

/// Header names never forwarded besides the hop-by-hop ones: the
/// credential, client addresses, and what the client layer sets itself.
const DROPPED: [&str; 5] = [
    "authorization",
    "forwarded",
    "x-real-ip",
    "host",
    "content-length",
];

/// Hop-by-hop headers (RFC 9110, 7.6.1) and those the client layer sets.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Forwards one request as the authenticated caller.
#[instrument(skip_all, fields(method = %request.method(), path = %request.uri().path(), user))]
pub(super) async fn forward(
    State(service): State<Arc<AccessService>>,
    request: Request,
) -> Result<Response, ApiError> {
    let result = forward_as_user(&service, request).await;
    let label = match &result {
        Ok(_) => "forwarded",
        Err(error) if error.status() == StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        Err(error) if error.status().is_client_error() => "refused",
        Err(_) => "error",
    };
    service.metrics.proxied.inc(label);
    result
}

async fn forward_as_user(service: &AccessService, request: Request) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let bearer = bearer_token(&parts.headers)?;
    let user = service.authenticate(bearer).await?;
    tracing::Span::current().record("user", user.grant.username.as_str());
    service
        .limiter
        .check(&user.claimant.owner.to_string())
        .map_err(ApiError::too_many_requests)?;
    if parts.headers.contains_key(header::UPGRADE) {
        return Err(ApiError::bad_request(
            "connection upgrades (exec, attach, port-forward) are not proxied; use kubectl with the credential plugin",
        ));
    }
    let body = read_body(body).await?;
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut upstream = axum::http::Request::builder()
        .method(parts.method.clone())
        .uri(path)
        .body(kube::client::Body::from(body))
        .map_err(|e| ApiError::bad_request(format!("cannot forward the request: {e}")))?;
    *upstream.headers_mut() = forwarded_headers(&parts.headers)?;
    impersonate(upstream.headers_mut(), &user.kubernetes_user())?;
    let response = service
        .kube
        .send(upstream)
        .await
        .map_err(|e| ApiError::unavailable("cannot reach the API server", &e))?;
    Ok(downstream(response))
}

async fn read_body(body: Body) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, PROXY_BODY_LIMIT)
        .await
        .map_err(|error| {
            let too_large = std::error::Error::source(&error)
                .is_some_and(|e| e.is::<http_body_util::LengthLimitError>());
            if too_large {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("request body is larger than {PROXY_BODY_LIMIT} bytes"),
                )
            } else {
                ApiError::bad_request(format!("cannot read the request body: {error}"))
            }
        })
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    HOP_BY_HOP.contains(&name.as_str())
}

/// The caller's headers that go on to the API server: all but those the
/// module documentation lists.
///
/// # Errors
/// 400 when a `Connection` header is not ASCII (the headers it names
/// could not be told).
pub fn forwarded_headers(headers: &HeaderMap) -> Result<HeaderMap, ApiError> {
    let named_by_connection = connection_options(headers)?;
    let mut forwarded = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let text = name.as_str();
        let dropped = DROPPED.contains(&text)
            || DROPPED_PREFIXES
                .iter()
                .any(|prefix| text.starts_with(prefix))
            || is_hop_by_hop(name)
            || named_by_connection.contains(text);
        if !dropped {
            forwarded.append(name.clone(), value.clone());
        }
    }
    Ok(forwarded)
}

/// The header names the `Connection` headers list, lower-cased.
fn connection_options(headers: &HeaderMap) -> Result<HashSet<String>, ApiError> {
    let mut options = HashSet::new();
    for value in headers.get_all(header::CONNECTION) {
        let text = value
            .to_str()
            .map_err(|_| ApiError::bad_request("the Connection header is not ASCII"))?;
        options.extend(
            text.split(',')
                .map(|option| option.trim().to_ascii_lowercase())
                .filter(|option| !option.is_empty()),
        );
    }
    Ok(options)
}

/// Adds the impersonation headers of `grant`.
pub(crate) fn impersonate(headers: &mut HeaderMap, grant: &Grant) -> Result<(), ApiError> {
    let value = |text: &str| {
        HeaderValue::from_str(text)
            .map_err(|error| ApiError::internal("cannot impersonate the user", &error))
    };
    headers.insert("impersonate-user", value(&grant.username)?);
    headers.insert("impersonate-uid", value(&grant.username)?);
    for group in &grant.groups {
        headers.append("impersonate-group", value(group)?);
    }
    for (key, values) in &grant.extra {
        let name = HeaderName::from_bytes(extra_header_name(key).as_bytes())
            .map_err(|e| ApiError::internal("cannot impersonate the user", &e))?;
        for extra in values {
            headers.append(name.clone(), value(extra)?);
        }
    }
    Ok(())
}

/// `Impersonate-Extra-<key>` with the key percent-encoded: Kubernetes
/// unescapes it (Go's `url.PathUnescape`), and header names cannot hold
/// `/` and other characters that extra keys may have.
pub fn extra_header_name(key: &str) -> String {
    let mut name = String::from("impersonate-extra-");
    for byte in key.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            name.push(char::from(byte));
        } else {
            name.push_str(&format!("%{byte:02X}"));
        }
    }
    name
}

/// The API server's answer, streamed, minus hop-by-hop headers.
fn downstream(response: axum::http::Response<kube::client::Body>) -> Response {
    let (parts, body) = response.into_parts();
    let mut answer = Response::new(Body::new(body));
    *answer.status_mut() = parts.status;
    for (name, value) in &parts.headers {
        if !is_hop_by_hop(name) && name != header::CONTENT_LENGTH {
            answer.headers_mut().append(name.clone(), value.clone());
        }
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_keys_are_percent_encoded() {
        assert_eq!(
            extra_header_name("k3s-daas.io/seal-token-id"),
            "impersonate-extra-k3s-daas.io%2Fseal-token-id"
        );
        assert_eq!(extra_header_name("a b%"), "impersonate-extra-a%20b%25");
    }

    #[test]
    fn credentials_and_impersonation_are_not_forwarded() {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        headers.insert("impersonate-user", HeaderValue::from_static("admin"));
        headers.insert(
            "Impersonate-Group",
            HeaderValue::from_static("system:masters"),
        );
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        let forwarded = forwarded_headers(&headers).unwrap();
        assert_eq!(forwarded.len(), 1);
        assert_eq!(forwarded[header::ACCEPT], "application/json");
    }

    #[test]
    fn identity_address_and_connection_named_headers_are_not_forwarded() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("x-remote-user", "system:admin"),
            ("X-Remote-Group", "system:masters"),
            ("x-remote-extra-scopes", "all"),
            ("x-forwarded-for", "10.0.0.1"),
            ("x-real-ip", "10.0.0.1"),
            ("forwarded", "for=10.0.0.1"),
            ("x-secret", "dropped because Connection names it"),
            ("x-kept", "kept"),
            ("user-agent", "kubectl"),
        ] {
            headers.append(name, HeaderValue::from_static(value));
        }
        headers.append(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, X-Secret"),
        );
        headers.append(header::CONNECTION, HeaderValue::from_static(" ,User-Agent"));
        let forwarded = forwarded_headers(&headers).unwrap();
        let names: Vec<&str> = forwarded.keys().map(HeaderName::as_str).collect();
        assert_eq!(names, ["x-kept"]);

        let mut bad = HeaderMap::new();
        bad.insert(
            header::CONNECTION,
            HeaderValue::from_bytes(b"x-secret, \xff").unwrap(),
        );
        let error = forwarded_headers(&bad).unwrap_err();
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
        assert!(
            error.message().contains("Connection"),
            "{}",
            error.message()
        );
    }
}
