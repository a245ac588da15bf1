//! Why talking to an attested master failed.

use crate::attestation::AttestationError;

/// Why the attested client refused a master or a request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AttestedError {
    /// The master URL is unusable.
    #[error("master URL {url:?} is unusable: {reason}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// Insecure development attestation was allowed without a dev root.
    #[error(
        "insecure development attestation was allowed but no dev root was given (the master's <state-dir>/dev-root.pem)"
    )]
    DevRootMissing,
    /// The TLS configuration could not be built.
    #[error("cannot build the TLS 1.3 client configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    /// A request body could not be serialized.
    #[error("cannot encode the body of {path}: {source}")]
    BadRequestBody {
        /// The path requested.
        path: String,
        /// The encoder's error.
        #[source]
        source: serde_json::Error,
    },
    /// The request did not get an HTTP response (connection, TLS, timeout).
    #[error(
        "request to {url} failed: {}",
        crate::error_chain::transport_cause(source)
    )]
    Transport {
        /// The URL requested.
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The master answered with an error status.
    #[error("{url} answered HTTP {status}: {error}")]
    Status {
        /// The URL requested.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The master's error message.
        error: String,
    },
    /// The master's response body is not what the API says.
    #[error("{url} sent a malformed response: {reason}")]
    BadResponse {
        /// The URL requested.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// No TLS certificate was recorded for the attestation connection.
    #[error("the master presented no TLS certificate during attestation")]
    NoServerCertificate,
    /// A PCR differs from the expected value: the master runs other code.
    #[error("master runs unexpected code: PCR{index} is {got}, expected {expected}")]
    PcrMismatch {
        /// The PCR index.
        index: u8,
        /// The expected value (hex).
        expected: String,
        /// The document's value (hex).
        got: String,
    },
    /// The document carries another nonce: a replayed document.
    #[error(
        "attestation document carries nonce {got}, not this client's fresh nonce {expected}: a replayed document"
    )]
    NonceMismatch {
        /// This client's nonce (hex).
        expected: String,
        /// The document's nonce (hex).
        got: String,
    },
    /// The master offers development attestation and the client did not
    /// opt in.
    #[error(
        "master offers INSECURE development attestation ({tee_type}), which was not allowed; \
         accept it only on a development machine, with --allow-insecure-dev and the master's dev root"
    )]
    DevAttestationNotAllowed {
        /// The `tee_type` the master claimed.
        tee_type: String,
    },
    /// The document is invalid (signature, chain, freshness, fields).
    #[error("attestation refused: {0}")]
    Attestation(#[source] AttestationError),
    /// The TLS key of the attestation connection is not the one the
    /// document binds: a man in the middle.
    #[error(
        "TLS key not attested: the server presented a key with SPKI SHA-256 {presented}, \
         but the attestation document binds {attested} (man in the middle?)"
    )]
    TlsKeyNotAttested {
        /// SHA-256 (hex) of the presented SubjectPublicKeyInfo.
        presented: String,
        /// The document's `user_data` (hex), or `none`.
        attested: String,
    },
    /// After attestation, a server presented a key other than the attested
    /// one and re-attestation did not settle it.
    #[error(
        "unexpected server key: the server presented SPKI SHA-256 {got}, attested was {expected} (man in the middle?)"
    )]
    UnexpectedServerKey {
        /// The attested key's SPKI SHA-256 (hex).
        expected: String,
        /// The presented key's SPKI SHA-256 (hex).
        got: String,
    },
    /// The document's `public_key` is not an Ed25519 key.
    #[error("attestation document public_key is not a 32-byte Ed25519 key: {reason}")]
    SigningKey {
        /// What is wrong.
        reason: String,
    },
}

impl From<AttestationError> for AttestedError {
    fn from(error: AttestationError) -> Self {
        match error {
            AttestationError::PcrMismatch {
                index,
                expected,
                got,
            } => Self::PcrMismatch {
                index,
                expected,
                got,
            },
            AttestationError::NonceMismatch { expected, got } => {
                Self::NonceMismatch { expected, got }
            }
            other => Self::Attestation(other),
        }
    }
}
