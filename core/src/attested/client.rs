//! The attested HTTPS client.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::VerifyingKey;
use rand::RngCore as _;
use reqwest::{Method, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::Mutex;
use tracing::Instrument as _;

use super::error::AttestedError;
use super::tls::{ServerKeyVerifier, client_config};
use crate::api::attestation::{AttestationRequest, AttestationResponse, SecurityContext, TeeType};
use crate::api::{ATTESTATION_PATH, ErrorBody, SECURITY_CONTEXT_PATH};
use crate::attestation::{
    AttestationError, PcrPolicy, Policy, TrustRoots, VerifiedAttestation, parse_unverified,
};

/// The seed's periodic re-attestation interval (one hour).
pub const DEFAULT_REATTEST_INTERVAL: Duration = Duration::from_secs(3600);
/// Default timeout of one request.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes of the nonce the client sends.
pub const NONCE_LEN: usize = 32;
/// Largest response body the client reads.
pub const MAX_RESPONSE_LEN: usize = 1024 * 1024;

/// What the client requires of a master.
#[derive(Debug, Clone)]
pub struct AttestedClientConfig {
    roots: TrustRoots,
    pcrs: PcrPolicy,
    allow_insecure_dev: bool,
    reattest_interval: Duration,
    request_timeout: Duration,
}

impl AttestedClientConfig {
    /// Trusts `roots` and requires `pcrs`; development attestation is
    /// refused (even if `roots` holds a dev root) until
    /// [`Self::allow_insecure_dev`].
    pub fn new(roots: TrustRoots, pcrs: PcrPolicy) -> Self {
        Self {
            roots,
            pcrs,
            allow_insecure_dev: false,
            reattest_interval: DEFAULT_REATTEST_INTERVAL,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }

    /// Accepts documents that chain to the dev root of `roots`: **no
    /// hardware guarantee**; for development machines only.
    pub fn allow_insecure_dev(mut self, allow: bool) -> Self {
        self.allow_insecure_dev = allow;
        self
    }

    /// Re-attests when the current document is older than `interval`.
    pub fn with_reattest_interval(mut self, interval: Duration) -> Self {
        self.reattest_interval = interval;
        self
    }

    /// Timeout of one request (connect, TLS, response).
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }
}

/// A master whose attestation document this client verified, bound to the
/// TLS key of the connection it came over.
#[derive(Debug, Clone)]
pub struct AttestedMaster {
    attestation: VerifiedAttestation,
    response: AttestationResponse,
    signing_key: VerifyingKey,
    tls_spki_sha256: [u8; 32],
    verified_at: SystemTime,
}

impl AttestedMaster {
    /// The verified document.
    pub fn attestation(&self) -> &VerifiedAttestation {
        &self.attestation
    }

    /// The master's response (its unverified convenience fields included).
    pub fn response(&self) -> &AttestationResponse {
        &self.response
    }

    /// The master's Ed25519 key (the document's `public_key`): checks its
    /// signed results ([`crate::intent::verify_intent`]).
    pub fn signing_key(&self) -> &VerifyingKey {
        &self.signing_key
    }

    /// SHA-256 of the attested TLS SubjectPublicKeyInfo (the document's
    /// `user_data`), which every later connection is pinned to.
    pub fn tls_spki_sha256(&self) -> [u8; 32] {
        self.tls_spki_sha256
    }

    /// Whether the document chains to a dev root: **no hardware
    /// guarantee**.
    pub fn is_insecure_dev(&self) -> bool {
        self.attestation.is_dev()
    }

    /// When this client verified the document.
    pub fn verified_at(&self) -> SystemTime {
        self.verified_at
    }
}

/// An attested session: the master and an HTTP client pinned to its key.
#[derive(Debug, Clone)]
struct Session {
    master: Arc<AttestedMaster>,
    http: reqwest::Client,
    verifier: Arc<ServerKeyVerifier>,
    started: Instant,
}

/// HTTPS client of one master that trusts it only after verifying its
/// attestation.
///
/// Flow: a fresh random nonce goes to `POST /api/v1/attestation` over a
/// connection whose verifier records the presented TLS key; the document
/// is verified (roots, signature, nonce, PCRs, dev opt-in) and its
/// `user_data` must equal the SHA-256 of that key's SubjectPublicKeyInfo.
/// Every later request goes over connections pinned to that key. The
/// client re-attests when the document is older than the configured
/// interval, and when a (re)connection meets another key (e.g. the master
/// restarted with new keys); if the new key cannot be attested, the
/// request fails with the attestation error.
#[derive(Debug)]
pub struct AttestedClient {
    base: Url,
    config: AttestedClientConfig,
    session: Mutex<Option<Session>>,
}

impl AttestedClient {
    /// A client of the master at `base_url` (`https://host:port`).
    ///
    /// # Errors
    /// [`AttestedError::InvalidUrl`] unless an `https` URL;
    /// [`AttestedError::DevRootMissing`] if dev attestation is allowed
    /// without a dev root.
    pub fn new(base_url: &str, mut config: AttestedClientConfig) -> Result<Self, AttestedError> {
        let invalid = |reason: String| AttestedError::InvalidUrl {
            url: base_url.to_owned(),
            reason,
        };
        let base = Url::parse(base_url).map_err(|error| invalid(error.to_string()))?;
        if base.scheme() != "https" {
            return Err(invalid("the scheme must be https".to_owned()));
        }
        if base.host_str().is_none() {
            return Err(invalid("no host".to_owned()));
        }
        if config.allow_insecure_dev {
            if config.roots.dev.is_none() {
                return Err(AttestedError::DevRootMissing);
            }
        } else {
            // Without the explicit opt-in a dev root is never trusted.
            config.roots.dev = None;
        }
        Ok(Self {
            base,
            config,
            session: Mutex::new(None),
        })
    }

    /// The master's URL.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// Attests the master now with a fresh nonce, replacing any current
    /// session.
    ///
    /// # Errors
    /// Why the master was refused.
    pub async fn attest(&self) -> Result<Arc<AttestedMaster>, AttestedError> {
        let mut slot = self.session.lock().await;
        *slot = None;
        let session = self.new_session().await?;
        let master = Arc::clone(&session.master);
        *slot = Some(session);
        Ok(master)
    }

    /// The attested master, attesting first if there is no session or the
    /// document is older than the re-attestation interval.
    ///
    /// # Errors
    /// Why the master was refused.
    pub async fn master(&self) -> Result<Arc<AttestedMaster>, AttestedError> {
        self.session().await.map(|session| session.master)
    }

    /// `GET /api/v1/security-context` over the attested connection.
    ///
    /// # Errors
    /// Attestation, transport or response errors.
    pub async fn security_context(&self) -> Result<SecurityContext, AttestedError> {
        self.get_json(SECURITY_CONTEXT_PATH).await
    }

    /// `GET path`, answered with JSON, over the attested connection.
    ///
    /// # Errors
    /// Attestation, transport or response errors.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, AttestedError> {
        decode_json(self.send(&Request::new(Method::GET, path)).await?)
    }

    /// `POST path` with a JSON body, answered with JSON, over the attested
    /// connection.
    ///
    /// # Errors
    /// Attestation, transport or response errors.
    pub async fn post_json<B: Serialize + Sync, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, AttestedError> {
        let request = Request::new(Method::POST, path).json(body)?;
        decode_json(self.send(&request).await?)
    }

    /// Sends `request` over the attested connection and returns the answer
    /// whatever its status (`/readyz` answers 503 with a body worth
    /// reading); [`RawResponse::success`] turns an error status into
    /// [`AttestedError::Status`].
    ///
    /// # Errors
    /// Attestation or transport errors, or a body over
    /// [`MAX_RESPONSE_LEN`].
    pub async fn send(&self, request: &Request) -> Result<RawResponse, AttestedError> {
        let url = self.url(&request.path)?;
        let mut reattested = false;
        loop {
            let session = self.session().await?;
            let result = send(&session.http, request, url.clone()).await;
            match (result, session.verifier.rejected()) {
                (Err(error), Some(presented)) => {
                    if reattested {
                        tracing::warn!(%error, "server key changed again after re-attestation");
                        return Err(AttestedError::UnexpectedServerKey {
                            expected: hex::encode(session.master.tls_spki_sha256),
                            got: hex::encode(presented),
                        });
                    }
                    tracing::info!(
                        presented = %hex::encode(presented),
                        "master presented a new TLS key; re-attesting"
                    );
                    self.discard(&session).await;
                    reattested = true;
                }
                (result, _) => return result,
            }
        }
    }

    async fn discard(&self, stale: &Session) {
        let mut slot = self.session.lock().await;
        if slot
            .as_ref()
            .is_some_and(|current| Arc::ptr_eq(&current.master, &stale.master))
        {
            *slot = None;
        }
    }

    async fn session(&self) -> Result<Session, AttestedError> {
        let mut slot = self.session.lock().await;
        if let Some(session) = slot.as_ref()
            && session.started.elapsed() < self.config.reattest_interval
        {
            return Ok(session.clone());
        }
        let session = self.new_session().await?;
        *slot = Some(session.clone());
        Ok(session)
    }

    fn url(&self, path: &str) -> Result<Url, AttestedError> {
        self.base
            .join(path)
            .map_err(|error| AttestedError::InvalidUrl {
                url: format!("{}{path}", self.base),
                reason: error.to_string(),
            })
    }

    fn http_client(
        &self,
        verifier: Arc<ServerKeyVerifier>,
    ) -> Result<reqwest::Client, AttestedError> {
        reqwest::Client::builder()
            .use_preconfigured_tls(client_config(verifier)?)
            .https_only(true)
            .timeout(self.config.request_timeout)
            .connect_timeout(self.config.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(AttestedError::Client)
    }

    async fn new_session(&self) -> Result<Session, AttestedError> {
        let span = tracing::info_span!("attest", master = %self.base);
        self.attest_session().instrument(span).await
    }

    async fn attest_session(&self) -> Result<Session, AttestedError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);

        let capture = ServerKeyVerifier::capture();
        let http = self.http_client(Arc::clone(&capture))?;
        let url = self.url(ATTESTATION_PATH)?;
        let request =
            Request::new(Method::POST, ATTESTATION_PATH).json(&AttestationRequest::new(&nonce))?;
        let response: AttestationResponse = decode_json(send(&http, &request, url.clone()).await?)?;
        let presented = capture
            .accepted()
            .ok_or(AttestedError::NoServerCertificate)?;

        let document = STANDARD
            .decode(response.document.as_bytes())
            .map_err(|error| AttestedError::BadResponse {
                url: url.to_string(),
                reason: format!("`document` is not base64: {error}"),
            })?;
        let master = self.verify(&document, &nonce, presented, response)?;
        if master.is_insecure_dev() {
            tracing::warn!(
                enclave = master.attestation.module_id(),
                "master attested with INSECURE development attestation (no hardware guarantee)"
            );
        } else {
            tracing::info!(enclave = master.attestation.module_id(), "master attested");
        }
        // The capturing client goes on as the session's: its verifier now
        // accepts only the attested key (as a pinned one would), and its
        // pool keeps the connection the document came over, so behind a
        // load balancer the requests reach the replica that was attested
        // instead of a new connection's (which would mean re-attesting).
        Ok(Session {
            master: Arc::new(master),
            http,
            verifier: capture,
            started: Instant::now(),
        })
    }

    /// Verifies a document received over a connection that presented the
    /// key `presented` (SPKI SHA-256) in answer to `nonce`.
    fn verify(
        &self,
        document: &[u8],
        nonce: &[u8],
        presented: [u8; 32],
        response: AttestationResponse,
    ) -> Result<AttestedMaster, AttestedError> {
        let policy = Policy::new(self.config.pcrs.clone()).with_nonce(nonce.to_vec());
        let now = SystemTime::now();
        let attestation = crate::attestation::verify(document, &self.config.roots, &policy, now)
            .map_err(|error| self.explain(error, document, response.tee_type))?;
        if attestation.is_dev() && !self.config.allow_insecure_dev {
            return Err(AttestedError::DevAttestationNotAllowed {
                tee_type: response.tee_type.to_string(),
            });
        }
        if attestation.user_data() != Some(presented.as_slice()) {
            return Err(AttestedError::TlsKeyNotAttested {
                presented: hex::encode(presented),
                attested: attestation
                    .user_data()
                    .map_or_else(|| "none".to_owned(), hex::encode),
            });
        }
        let signing_key = attestation
            .public_key()
            .ok_or_else(|| "absent".to_owned())
            .and_then(|key| <[u8; 32]>::try_from(key).map_err(|_| format!("{} bytes", key.len())))
            .and_then(|key| VerifyingKey::from_bytes(&key).map_err(|error| error.to_string()))
            .map_err(|reason| AttestedError::SigningKey { reason })?;
        Ok(AttestedMaster {
            attestation,
            response,
            signing_key,
            tls_spki_sha256: presented,
            verified_at: now,
        })
    }

    /// Names a refusal: a document that does not chain to a trusted root
    /// but is (or claims to be) development attestation is refused for the
    /// missing opt-in, not for an unknown root.
    fn explain(&self, error: AttestationError, document: &[u8], claimed: TeeType) -> AttestedError {
        let untrusted_root = matches!(
            error,
            AttestationError::UntrustedRoot { .. } | AttestationError::NoTrustedRoot
        );
        if untrusted_root && !self.config.allow_insecure_dev {
            let claims_aws = parse_unverified(document)
                .ok()
                .and_then(|doc| doc.cabundle().first().cloned())
                .zip(crate::attestation::aws_nitro_root_der().ok())
                .is_some_and(|(first, aws)| first == aws);
            if claimed.is_insecure() || !claims_aws {
                return AttestedError::DevAttestationNotAllowed {
                    tee_type: claimed.to_string(),
                };
            }
        }
        error.into()
    }
}

/// One request to the master: method, path, and optionally a JSON body and
/// a bearer credential (never logged: [`Request`]'s `Debug` hides it).
#[derive(Clone)]
pub struct Request {
    method: Method,
    path: String,
    body: Option<Vec<u8>>,
    bearer: Option<zeroize::Zeroizing<String>>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("bearer", &self.bearer.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

impl Request {
    /// `method path` with no body.
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            body: None,
            bearer: None,
        }
    }

    /// `GET path`.
    pub fn get(path: impl Into<String>) -> Self {
        Self::new(Method::GET, path)
    }

    /// With `body` as JSON.
    ///
    /// # Errors
    /// [`AttestedError::BadRequestBody`] if `body` does not serialize.
    pub fn json<B: Serialize + ?Sized>(mut self, body: &B) -> Result<Self, AttestedError> {
        let bytes = serde_json::to_vec(body).map_err(|source| AttestedError::BadRequestBody {
            path: self.path.clone(),
            source,
        })?;
        self.body = Some(bytes);
        Ok(self)
    }

    /// With `Authorization: Bearer <token>`.
    pub fn bearer(mut self, token: &str) -> Self {
        self.bearer = Some(zeroize::Zeroizing::new(token.to_owned()));
        self
    }
}

/// An answer of the master, whatever its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawResponse {
    /// The URL requested.
    pub url: String,
    /// The HTTP status.
    pub status: u16,
    /// The body (at most [`MAX_RESPONSE_LEN`] bytes).
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The response if its status is a success.
    ///
    /// # Errors
    /// [`AttestedError::Status`] naming the master's error message.
    pub fn success(self) -> Result<Self, AttestedError> {
        if (200..300).contains(&self.status) {
            return Ok(self);
        }
        let error = serde_json::from_slice::<ErrorBody>(&self.body)
            .map(|body| body.error)
            .unwrap_or_else(|_| {
                String::from_utf8_lossy(&self.body)
                    .chars()
                    .take(200)
                    .collect()
            });
        Err(AttestedError::Status {
            url: self.url,
            status: self.status,
            error,
        })
    }

    /// The body decoded as JSON, whatever the status.
    ///
    /// # Errors
    /// [`AttestedError::BadResponse`] if it is not the expected JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, AttestedError> {
        serde_json::from_slice(&self.body).map_err(|error| AttestedError::BadResponse {
            url: self.url.clone(),
            reason: error.to_string(),
        })
    }

    /// The body as UTF-8 text.
    ///
    /// # Errors
    /// [`AttestedError::BadResponse`] if it is not UTF-8.
    pub fn text(self) -> Result<String, AttestedError> {
        String::from_utf8(self.body).map_err(|_| AttestedError::BadResponse {
            url: self.url,
            reason: "the body is not UTF-8".to_owned(),
        })
    }
}

/// A successful answer decoded as JSON, or the error it names.
fn decode_json<T: DeserializeOwned>(response: RawResponse) -> Result<T, AttestedError> {
    response.success()?.json()
}

/// Sends one request and reads its answer (at most [`MAX_RESPONSE_LEN`]).
async fn send(
    http: &reqwest::Client,
    request: &Request,
    url: Url,
) -> Result<RawResponse, AttestedError> {
    let mut builder = http.request(request.method.clone(), url.clone());
    if let Some(body) = &request.body {
        builder = builder
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.clone());
    }
    if let Some(token) = &request.bearer {
        builder = builder.bearer_auth(token.as_str());
    }
    let transport = |source| AttestedError::Transport {
        url: url.to_string(),
        source,
    };
    let mut response = builder.send().await.map_err(transport)?;
    let status = response.status();
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        if bytes.len() + chunk.len() > MAX_RESPONSE_LEN {
            return Err(AttestedError::BadResponse {
                url: url.to_string(),
                reason: format!("body larger than {MAX_RESPONSE_LEN} bytes"),
            });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(RawResponse {
        url: url.to_string(),
        status: status.as_u16(),
        body: bytes,
    })
}
