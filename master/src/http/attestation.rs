//! `POST /api/v1/attestation` and `GET /api/v1/security-context`: the
//! master proves what it runs and which keys it holds.
//!
//! Every attestation costs an NSM request (or a P-384 signature in dev
//! mode), so it is limited per client address (429 beyond it) and at most
//! [`ATTESTATIONS_IN_FLIGHT`] run at once.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use daas_core::api::attestation::{AttestationRequest, AttestationResponse, SecurityContext};
use daas_core::api::{ATTESTATION_PATH, SECURITY_CONTEXT_PATH};
use daas_core::attestation::{Pcrs, parse_unverified};

use super::client_limit::ClientKey;
use super::{ApiError, ApiJson};
use crate::attestation::{AttestationProvider, ProviderError};
use crate::identity::MasterIdentity;
use crate::ratelimit::RateLimiter;

/// Largest attestation request body accepted.
pub const MAX_BODY_LEN: usize = 4096;
/// Attestations per minute and client address unless configured
/// (`tee.attestation_rate_limit_per_minute`).
pub const DEFAULT_RATE_LIMIT_PER_MINUTE: NonZeroU32 = match NonZeroU32::new(60) {
    Some(limit) => limit,
    None => NonZeroU32::MIN,
};
/// Attestations made at once; more wait their turn.
pub const ATTESTATIONS_IN_FLIGHT: usize = 2;
/// Length of the raw ES384 signature that ends a COSE_Sign1 document.
const COSE_SIGNATURE_LEN: usize = 96;

/// What the handlers share.
#[derive(Debug)]
pub struct AttestationState {
    provider: Arc<dyn AttestationProvider>,
    identity: Arc<MasterIdentity>,
    attestation_interval: Duration,
    started: Instant,
    enclave_id: String,
    pcrs: Pcrs,
    last_attestation: Mutex<Instant>,
    limiter: RateLimiter,
    in_flight: tokio::sync::Semaphore,
}

impl AttestationState {
    /// Checks that `provider` works by making a first document (no nonce),
    /// and remembers its enclave id and PCRs for the security context.
    ///
    /// # Errors
    /// Why the provider failed.
    pub fn new(
        provider: Arc<dyn AttestationProvider>,
        identity: Arc<MasterIdentity>,
        attestation_interval: Duration,
    ) -> Result<Self, ProviderError> {
        let document = provider.attest(
            None,
            &identity.signing_public_key(),
            &identity.tls_spki_sha256(),
        )?;
        let parsed = parse_unverified(&document)?;
        Ok(Self {
            provider,
            identity,
            attestation_interval,
            started: Instant::now(),
            enclave_id: parsed.module_id().to_owned(),
            pcrs: parsed.pcrs().clone(),
            last_attestation: Mutex::new(Instant::now()),
            limiter: RateLimiter::per_minute(DEFAULT_RATE_LIMIT_PER_MINUTE),
            in_flight: tokio::sync::Semaphore::new(ATTESTATIONS_IN_FLIGHT),
        })
    }

    /// Limits attestations to `per_minute` per client address.
    #[must_use]
    pub fn with_rate_limit(mut self, per_minute: NonZeroU32) -> Self {
        self.limiter = RateLimiter::per_minute(per_minute);
        self
    }

    /// The master's keys.
    pub fn identity(&self) -> &MasterIdentity {
        &self.identity
    }

    fn touch(&self) {
        if let Ok(mut last) = self.last_attestation.lock() {
            *last = Instant::now();
        }
    }
}

/// The attestation routes.
pub fn router(state: Arc<AttestationState>) -> Router {
    Router::new()
        .route(ATTESTATION_PATH, post(attestation))
        .route(SECURITY_CONTEXT_PATH, get(security_context))
        .layer(DefaultBodyLimit::max(MAX_BODY_LEN))
        .with_state(state)
}

async fn attestation(
    State(state): State<Arc<AttestationState>>,
    ClientKey(client): ClientKey,
    ApiJson(request): ApiJson<AttestationRequest>,
) -> Result<Json<AttestationResponse>, ApiError> {
    state
        .limiter
        .check(&client)
        .map_err(ApiError::too_many_requests)?;
    let nonce = request
        .nonce_bytes()
        .map_err(|error| ApiError::bad_request(error.to_string()))?;
    // Never closed: `acquire` only fails on a closed semaphore.
    let _turn = state
        .in_flight
        .acquire()
        .await
        .map_err(|error| ApiError::internal("attestation queue closed", &error))?;
    let provider = Arc::clone(&state.provider);
    let public_key = state.identity.signing_public_key();
    let user_data = state.identity.tls_spki_sha256();
    let document =
        tokio::task::spawn_blocking(move || provider.attest(Some(&nonce), &public_key, &user_data))
            .await
            .map_err(|error| ApiError::internal("attestation task failed", &error))?
            .map_err(|error| ApiError::internal("attestation failed", &error))?;
    state.touch();
    let response = describe(&document, &*state.provider)
        .map_err(|error| ApiError::internal("attestation document unreadable", &error))?;
    tracing::info!(enclave = %response.enclave_id, "attestation document issued");
    Ok(Json(response))
}

/// The seed's report fields, derived from a document.
fn describe(
    document: &[u8],
    provider: &dyn AttestationProvider,
) -> Result<AttestationResponse, ProviderError> {
    let parsed = parse_unverified(document)?;
    let measurement = parsed
        .pcrs()
        .get(0)
        .map_or_else(|| "sha384:".to_owned(), |pcr| format!("sha384:{pcr}"));
    // The COSE_Sign1 array ends with the signature: a 96-byte bstr
    // (header 0x58 0x60, then r||s).
    let signature = document
        .len()
        .checked_sub(COSE_SIGNATURE_LEN + 2)
        .and_then(|start| document.get(start..))
        .filter(|tail| tail.starts_with(&[0x58, 0x60]))
        .map(|tail| STANDARD.encode(&tail[2..]))
        .unwrap_or_default();
    let tee_type = provider.tee_type();
    Ok(AttestationResponse {
        enclave_id: parsed.module_id().to_owned(),
        measurement,
        signature,
        certificate: STANDARD.encode(parsed.certificate()),
        tee_type,
        security_level: tee_type.security_level(),
        insecure: provider.is_insecure(),
        document: STANDARD.encode(document),
    })
}

async fn security_context(State(state): State<Arc<AttestationState>>) -> Json<SecurityContext> {
    let tee_type = state.provider.tee_type();
    let age = state
        .last_attestation
        .lock()
        .map(|last| last.elapsed().as_secs())
        .ok();
    Json(SecurityContext {
        tee_type,
        security_level: tee_type.security_level(),
        insecure: state.provider.is_insecure(),
        dev_fallback: state.provider.is_dev_fallback(),
        enclave_id: state.enclave_id.clone(),
        pcrs: state
            .pcrs
            .iter()
            .map(|(index, pcr)| (index, pcr.to_string()))
            .collect(),
        signing_public_key: state.identity.signing_public_key_hex(),
        tls_spki_sha256: hex::encode(state.identity.tls_spki_sha256()),
        attestation_age_secs: age,
        attestation_interval_secs: state.attestation_interval.as_secs(),
        uptime_secs: state.started.elapsed().as_secs(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use daas_core::api::HEALTHZ_PATH;
    use tower::ServiceExt as _;

    use crate::attestation::dev::DevProvider;

    fn state() -> (tempfile::TempDir, Arc<AttestationState>) {
        let dir = tempfile::tempdir().unwrap();
        let provider = DevProvider::with_binary_measurement(dir.path(), &[5; 48]).unwrap();
        let identity = Arc::new(MasterIdentity::generate().unwrap());
        let state =
            AttestationState::new(Arc::new(provider), identity, Duration::from_secs(3600)).unwrap();
        (dir, Arc::new(state))
    }

    async fn call(
        state: &Arc<AttestationState>,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<Body>,
    ) -> (StatusCode, serde_json::Value) {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        let response = crate::http::app(router(Arc::clone(state)))
            .oneshot(request.body(body.into()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let json = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("body is not JSON: {bytes:?}"));
        (status, json)
    }

    async fn post_attestation(
        state: &Arc<AttestationState>,
        body: impl Into<Body>,
    ) -> (StatusCode, serde_json::Value) {
        call(
            state,
            "POST",
            ATTESTATION_PATH,
            Some("application/json"),
            body,
        )
        .await
    }

    fn error_of(json: &serde_json::Value) -> &str {
        json["error"].as_str().unwrap_or_default()
    }

    #[tokio::test]
    async fn attestation_binds_nonce_keys_and_reports_dev() {
        let (_dir, state) = state();
        let nonce = "ab".repeat(32);
        let (status, json) = post_attestation(&state, format!(r#"{{"nonce":"{nonce}"}}"#)).await;
        assert_eq!(status, StatusCode::OK, "{json}");
        let response: AttestationResponse = serde_json::from_value(json).unwrap();
        assert_eq!(response.tee_type.as_str(), "DEV_INSECURE");
        assert_eq!(response.security_level, 0);
        assert!(response.insecure);
        let document = STANDARD.decode(&response.document).unwrap();
        let parsed = parse_unverified(&document).unwrap();
        assert_eq!(
            parsed.nonce(),
            Some(hex::decode(&nonce).unwrap().as_slice())
        );
        assert_eq!(
            parsed.public_key(),
            Some(&state.identity().signing_public_key()[..])
        );
        assert_eq!(
            parsed.user_data(),
            Some(&state.identity().tls_spki_sha256()[..])
        );
        assert_eq!(
            response.measurement,
            format!("sha384:{}", hex::encode([5u8; 48]))
        );
        assert_eq!(response.enclave_id, parsed.module_id());
        assert_eq!(
            STANDARD.decode(&response.certificate).unwrap(),
            parsed.certificate()
        );
        let signature = STANDARD.decode(&response.signature).unwrap();
        assert_eq!(signature.len(), 96);
        assert!(document.ends_with(&signature));
    }

    #[tokio::test]
    async fn security_context_and_healthz() {
        let (_dir, state) = state();
        let (status, json) = call(&state, "GET", SECURITY_CONTEXT_PATH, None, Body::empty()).await;
        assert_eq!(status, StatusCode::OK);
        let context: SecurityContext = serde_json::from_value(json).unwrap();
        assert!(context.insecure);
        assert_eq!(context.security_level, 0);
        assert_eq!(context.pcrs.len(), 6);
        assert_eq!(context.pcrs[&0], hex::encode([5u8; 48]));
        assert_eq!(
            context.signing_public_key,
            state.identity().signing_public_key_hex()
        );
        assert_eq!(context.attestation_interval_secs, 3600);
        let (status, json) = call(&state, "GET", HEALTHZ_PATH, None, Body::empty()).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(json["status"], "ok");
    }

    #[tokio::test]
    async fn bad_nonces_are_400_naming_the_problem() {
        let (_dir, state) = state();
        let short = format!(r#"{{"nonce":"{}"}}"#, "00".repeat(15));
        let long = format!(r#"{{"nonce":"{}"}}"#, "00".repeat(65));
        let not_hex = format!(r#"{{"nonce":"{}"}}"#, "zz".repeat(16));
        let odd = format!(r#"{{"nonce":"{}"}}"#, "0".repeat(33));
        for (body, needle) in [
            (short, "15 bytes"),
            (long, "65 bytes"),
            (not_hex, "not hex"),
            (odd, "not hex"),
        ] {
            let (status, json) = post_attestation(&state, body).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
            assert!(error_of(&json).contains(needle), "{json}");
        }
    }

    #[tokio::test]
    async fn malformed_bodies_are_4xx_json() {
        let (_dir, state) = state();
        let cases: [(&str, StatusCode, &str); 5] = [
            ("{", StatusCode::BAD_REQUEST, "EOF"),
            (
                "{}",
                StatusCode::UNPROCESSABLE_ENTITY,
                "missing field `nonce`",
            ),
            (
                r#"{"nonce":5}"#,
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid type",
            ),
            (
                r#"{"nonce":"00000000000000000000000000000000","x":1}"#,
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown field",
            ),
            ("[]", StatusCode::UNPROCESSABLE_ENTITY, "expected struct"),
        ];
        for (body, expected, needle) in cases {
            let (status, json) = post_attestation(&state, body).await;
            assert_eq!(status, expected, "{body}: {json}");
            assert!(error_of(&json).contains(needle), "{body}: {json}");
        }
    }

    #[tokio::test]
    async fn wrong_content_type_oversize_and_unknown_routes() {
        let (_dir, state) = state();
        let body = format!(r#"{{"nonce":"{}"}}"#, "00".repeat(16));
        let (status, json) = call(
            &state,
            "POST",
            ATTESTATION_PATH,
            Some("text/plain"),
            body.clone(),
        )
        .await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(error_of(&json).contains("Content-Type"), "{json}");
        let (status, json) = call(&state, "POST", ATTESTATION_PATH, None, body).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(error_of(&json).contains("Content-Type"), "{json}");

        let huge = format!(r#"{{"nonce":"{}"}}"#, "0".repeat(MAX_BODY_LEN * 4));
        let (status, json) = post_attestation(&state, huge).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(error_of(&json).contains("larger than"), "{json}");

        let (status, json) = call(&state, "GET", ATTESTATION_PATH, None, Body::empty()).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert!(error_of(&json).contains("method"), "{json}");
        let (status, json) = call(&state, "GET", "/nope", None, Body::empty()).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(error_of(&json).contains("no such endpoint"), "{json}");
    }
}
