//! `POST /api/v1/attestation` and `GET /api/v1/security-context`.
//!
//! The attestation response carries the seed's `TEEAttestationReport`
//! fields (`enclave_id`, `measurement`, `signature`, `certificate`,
//! `tee_type`, `security_level`) plus the whole COSE_Sign1 `document`, which
//! is the only thing a client trusts: the other fields are conveniences
//! derived from it.
//!
//! Binding (see ARCHITECTURE.md, "Attestation and authenticated HTTPS"): the
//! document's `public_key` is the master's Ed25519 signing key (32 bytes),
//! its `user_data` the SHA-256 of the DER SubjectPublicKeyInfo of the TLS
//! certificate the master serves, and its `nonce` the client's.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Fewest nonce bytes a client may send.
pub const MIN_NONCE_LEN: usize = 16;
/// Most nonce bytes a client may send.
pub const MAX_NONCE_LEN: usize = 64;

/// Body of `POST /api/v1/attestation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AttestationRequest {
    /// The client's fresh nonce, hex, [`MIN_NONCE_LEN`]..=[`MAX_NONCE_LEN`]
    /// bytes.
    pub nonce: String,
}

impl AttestationRequest {
    /// A request carrying `nonce` (hex-encoded).
    pub fn new(nonce: &[u8]) -> Self {
        Self {
            nonce: hex::encode(nonce),
        }
    }

    /// The nonce bytes, checked: hex, [`MIN_NONCE_LEN`]..=[`MAX_NONCE_LEN`]
    /// bytes.
    pub fn nonce_bytes(&self) -> Result<Vec<u8>, NonceError> {
        parse_nonce(&self.nonce)
    }
}

/// Why a nonce was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NonceError {
    /// The nonce is not hex.
    #[error("nonce is not hex: {reason}")]
    NotHex {
        /// The decoder's complaint.
        reason: String,
    },
    /// The nonce is too short or too long.
    #[error("nonce is {len} bytes; it must be {MIN_NONCE_LEN}..={MAX_NONCE_LEN} bytes")]
    Length {
        /// Bytes given.
        len: usize,
    },
}

/// Parses a hex nonce of [`MIN_NONCE_LEN`]..=[`MAX_NONCE_LEN`] bytes.
pub fn parse_nonce(text: &str) -> Result<Vec<u8>, NonceError> {
    // Refuse absurd lengths before decoding anything.
    if text.len() > 2 * MAX_NONCE_LEN + 2 {
        return Err(NonceError::Length {
            len: text.len() / 2,
        });
    }
    let bytes = hex::decode(text).map_err(|error| NonceError::NotHex {
        reason: error.to_string(),
    })?;
    if (MIN_NONCE_LEN..=MAX_NONCE_LEN).contains(&bytes.len()) {
        Ok(bytes)
    } else {
        Err(NonceError::Length { len: bytes.len() })
    }
}

/// Which kind of trusted execution environment produced a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[non_exhaustive]
pub enum TeeType {
    /// A real AWS Nitro Enclave (documents signed under the AWS root).
    #[serde(rename = "AWS_NITRO")]
    AwsNitro,
    /// The insecure development provider: documents signed by a local root
    /// on a machine without Nitro. **No hardware guarantee at all.**
    #[serde(rename = "DEV_INSECURE")]
    DevInsecure,
}

impl TeeType {
    /// The wire name (`AWS_NITRO`, `DEV_INSECURE`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AwsNitro => "AWS_NITRO",
            Self::DevInsecure => "DEV_INSECURE",
        }
    }

    /// Whether this kind gives no hardware guarantee.
    pub const fn is_insecure(self) -> bool {
        matches!(self, Self::DevInsecure)
    }

    /// The seed's `security_level`: 5 for Nitro, 0 for development.
    pub const fn security_level(self) -> u8 {
        match self {
            Self::AwsNitro => 5,
            Self::DevInsecure => 0,
        }
    }
}

impl fmt::Display for TeeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Body of a successful `POST /api/v1/attestation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AttestationResponse {
    /// The enclave (module) id from the document.
    pub enclave_id: String,
    /// `"sha384:<PCR0 hex>"`: the enclave image measurement.
    pub measurement: String,
    /// Base64 of the document's raw ES384 COSE signature (r||s, 96 bytes).
    pub signature: String,
    /// Base64 of the DER leaf certificate whose key signed the document.
    pub certificate: String,
    /// Which TEE produced the document.
    pub tee_type: TeeType,
    /// 5 for Nitro, 0 for insecure development attestation.
    pub security_level: u8,
    /// Whether the document gives no hardware guarantee (development).
    pub insecure: bool,
    /// Base64 of the whole COSE_Sign1 attestation document: what a client
    /// verifies. Everything else here is derived from it.
    pub document: String,
}

/// Body of `GET /api/v1/security-context`.
///
/// Unauthenticated information for operators; a client trusts only what
/// it verified in a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SecurityContext {
    /// Which TEE the master runs in.
    pub tee_type: TeeType,
    /// 5 for Nitro, 0 for insecure development attestation.
    pub security_level: u8,
    /// Whether the master's attestation gives no hardware guarantee.
    pub insecure: bool,
    /// Whether the master was asked for `auto` attestation, found no Nitro
    /// Secure Module and fell back to dev attestation (allowed explicitly
    /// by its operator). Absent (false) from masters that predate it.
    #[serde(default)]
    pub dev_fallback: bool,
    /// The enclave (module) id.
    pub enclave_id: String,
    /// PCRs by index, hex.
    pub pcrs: BTreeMap<u8, String>,
    /// The master's Ed25519 signing key (hex, 32 bytes): the `public_key`
    /// of its documents, the key of its signed results.
    pub signing_public_key: String,
    /// SHA-256 (hex) of the DER SubjectPublicKeyInfo of the master's TLS
    /// certificate: the `user_data` of its documents.
    pub tls_spki_sha256: String,
    /// Seconds since the master last produced a document (`None` before the
    /// first one).
    pub attestation_age_secs: Option<u64>,
    /// How often clients should re-attest, in seconds.
    pub attestation_interval_secs: u64,
    /// Seconds since the master started.
    pub uptime_secs: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonce_bounds() {
        assert!(parse_nonce(&"00".repeat(16)).is_ok());
        assert!(parse_nonce(&"ab".repeat(64)).is_ok());
        assert_eq!(
            parse_nonce(&"00".repeat(15)),
            Err(NonceError::Length { len: 15 })
        );
        assert_eq!(
            parse_nonce(&"00".repeat(65)),
            Err(NonceError::Length { len: 65 })
        );
        assert!(matches!(
            parse_nonce(&"zz".repeat(16)),
            Err(NonceError::NotHex { .. })
        ));
        assert!(matches!(
            parse_nonce(&"0".repeat(33)),
            Err(NonceError::NotHex { .. })
        ));
        assert!(matches!(
            parse_nonce(&"0".repeat(100_000)),
            Err(NonceError::Length { .. })
        ));
    }

    #[test]
    fn tee_type_wire_names() {
        assert_eq!(
            serde_json::to_string(&TeeType::DevInsecure).unwrap(),
            "\"DEV_INSECURE\""
        );
        assert_eq!(
            serde_json::from_str::<TeeType>("\"AWS_NITRO\"").unwrap(),
            TeeType::AwsNitro
        );
        assert_eq!(TeeType::DevInsecure.security_level(), 0);
        assert!(TeeType::DevInsecure.is_insecure());
    }
}
