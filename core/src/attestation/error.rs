//! Errors of attestation parsing and verification.

use std::fmt;

use super::cbor::{CborError, CborProblem};

/// Which certificate of a document's chain an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertificateRole {
    /// The trusted root the chain was anchored to (AWS or dev).
    TrustedRoot,
    /// Entry `n` of the document's `cabundle` (0 is the root end).
    CaBundle(usize),
    /// The document's `certificate` field, whose key signs the document.
    Leaf,
}

impl fmt::Display for CertificateRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TrustedRoot => f.write_str("the trusted root certificate"),
            Self::CaBundle(index) => write!(f, "certificate cabundle[{index}]"),
            Self::Leaf => f.write_str("the leaf certificate"),
        }
    }
}

/// Why an attestation document was refused.
///
/// Every variant names what was wrong: the CBOR offset, the document field,
/// the certificate, the PCR index, or the expected and actual values.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AttestationError {
    /// The input is larger than any real attestation document.
    #[error("attestation document is {len} bytes, more than the {max} accepted")]
    TooLarge {
        /// Size of the input.
        len: usize,
        /// Largest accepted size.
        max: usize,
    },
    /// The COSE_Sign1 envelope is not well-formed CBOR of the right shape.
    #[error("malformed COSE_Sign1 {part} at byte {offset}: {problem}")]
    Cose {
        /// Which part of the envelope (e.g. "array", "protected header").
        part: &'static str,
        /// Byte offset in the envelope (or in the protected header bytes).
        offset: usize,
        /// What was wrong.
        problem: CborProblem,
    },
    /// The envelope carries a CBOR tag other than 18 (COSE_Sign1).
    #[error("COSE_Sign1 has CBOR tag {tag}; only 18 or no tag is accepted")]
    CoseTag {
        /// The tag found.
        tag: u64,
    },
    /// The envelope is not an array of four items.
    #[error("COSE_Sign1 must be an array of 4 items, found {found}")]
    CoseArrayLength {
        /// Number of items found.
        found: u64,
    },
    /// The protected header does not select ES384.
    #[error("COSE protected header algorithm is {found:?}, expected ES384 (-35)")]
    UnsupportedAlgorithm {
        /// The `alg` (label 1) value found, if any.
        found: Option<i64>,
    },
    /// The protected header marks parameters as critical, which this
    /// verifier does not understand.
    #[error("COSE protected header has critical parameters, which are not supported")]
    CriticalHeader,
    /// The signature is not 96 bytes (raw r||s of an ES384 signature).
    #[error("COSE signature is {len} bytes, expected 96 (raw r||s of ES384)")]
    SignatureLength {
        /// Length found.
        len: usize,
    },
    /// The ES384 signature does not verify with the leaf certificate's key.
    #[error("COSE ES384 signature does not verify with the leaf certificate's key")]
    SignatureInvalid,
    /// The payload is not well-formed CBOR of the document's shape.
    #[error("malformed attestation document at byte {offset}: {problem}")]
    Document {
        /// Byte offset in the payload.
        offset: usize,
        /// What was wrong.
        problem: CborProblem,
    },
    /// A document field has the wrong CBOR type or is malformed.
    #[error("attestation document field `{field}` is malformed at byte {offset}: {problem}")]
    Field {
        /// The field name.
        field: &'static str,
        /// Byte offset in the payload.
        offset: usize,
        /// What was wrong.
        problem: CborProblem,
    },
    /// A mandatory document field is absent.
    #[error("attestation document field `{field}` is missing")]
    MissingField {
        /// The field name.
        field: &'static str,
    },
    /// A document field appears twice.
    #[error("attestation document field `{field}` appears more than once")]
    DuplicateField {
        /// The field name.
        field: &'static str,
    },
    /// A document field's size is out of the allowed range.
    #[error("attestation document field `{field}` has size {len}, allowed {min}..={max}")]
    FieldSize {
        /// The field name.
        field: &'static str,
        /// Size found (bytes, or entries for arrays and maps).
        len: usize,
        /// Smallest allowed size.
        min: usize,
        /// Largest allowed size.
        max: usize,
    },
    /// The `digest` field names an algorithm other than SHA384.
    #[error("attestation document digest is {found:?}, expected \"SHA384\"")]
    Digest {
        /// The digest found.
        found: String,
    },
    /// The `timestamp` field is zero.
    #[error("attestation document timestamp is zero")]
    ZeroTimestamp,
    /// A PCR index is outside 0..=31.
    #[error("PCR index {index} is out of range 0..=31")]
    PcrIndex {
        /// The index found.
        index: u64,
    },
    /// A PCR index appears twice.
    #[error("PCR{index} appears more than once")]
    DuplicatePcr {
        /// The index.
        index: u8,
    },
    /// A PCR value is not 48 bytes (SHA-384).
    #[error("PCR{index} is {len} bytes, expected 48 (SHA-384)")]
    PcrLength {
        /// The index.
        index: u8,
        /// Length found.
        len: usize,
    },
    /// The `cabundle` holds more certificates than accepted.
    #[error("cabundle holds {len} certificates, more than the {max} accepted")]
    ChainTooLong {
        /// Number of certificates.
        len: usize,
        /// Most accepted.
        max: usize,
    },
    /// A certificate is not valid DER X.509.
    #[error("{which} cannot be parsed: {source}")]
    CertificateParse {
        /// Which certificate.
        which: CertificateRole,
        /// The DER error.
        #[source]
        source: der::Error,
    },
    /// A certificate is not valid at the verification time.
    #[error(
        "{which} is valid from {not_before_s} to {not_after_s} (unix s), not at the verification time {at_ms} (unix ms)"
    )]
    CertificateNotValidAt {
        /// Which certificate.
        which: CertificateRole,
        /// Start of validity, seconds since the Unix epoch.
        not_before_s: u64,
        /// End of validity, seconds since the Unix epoch.
        not_after_s: u64,
        /// The verification time, milliseconds since the Unix epoch.
        at_ms: u128,
    },
    /// A certificate's issuer is not the subject of the one above it.
    #[error("{which} has issuer {issuer}, but the certificate above it is {expected}")]
    IssuerMismatch {
        /// Which certificate.
        which: CertificateRole,
        /// The issuer name in the certificate.
        issuer: String,
        /// The subject of the certificate above it.
        expected: String,
    },
    /// A certificate's signature does not verify with its issuer's key.
    #[error("{which}: signature does not verify with its issuer's key")]
    CertificateSignature {
        /// Which certificate.
        which: CertificateRole,
    },
    /// A certificate uses a signature algorithm this verifier does not accept.
    #[error("{which}: unsupported signature algorithm {algorithm}")]
    UnsupportedSignatureAlgorithm {
        /// Which certificate.
        which: CertificateRole,
        /// The algorithm OID.
        algorithm: String,
    },
    /// A certificate's key is not an accepted EC key.
    #[error("{which}: unsupported public key ({reason})")]
    UnsupportedKey {
        /// Which certificate.
        which: CertificateRole,
        /// What is wrong with the key.
        reason: &'static str,
    },
    /// A certificate that issues another one is not marked as a CA.
    #[error("{which} issues a certificate but is not a CA ({reason})")]
    NotCa {
        /// Which certificate.
        which: CertificateRole,
        /// The missing property.
        reason: &'static str,
    },
    /// A CA's path length constraint is exceeded.
    #[error("{which} exceeds the path length constraint of a CA above it")]
    PathLength {
        /// Which certificate.
        which: CertificateRole,
    },
    /// A certificate has a critical extension this verifier does not process.
    #[error("{which} has an unsupported critical extension {oid}")]
    UnsupportedCriticalExtension {
        /// Which certificate.
        which: CertificateRole,
        /// The extension OID.
        oid: String,
    },
    /// A certificate's extensions cannot be decoded.
    #[error("{which}: extension {oid} cannot be decoded: {source}")]
    Extension {
        /// Which certificate.
        which: CertificateRole,
        /// The extension OID.
        oid: String,
        /// The DER error.
        #[source]
        source: der::Error,
    },
    /// The chain does not start at a root the caller trusts.
    #[error(
        "certificate chain is not anchored to a trusted root (cabundle[0] SHA-256 {fingerprint}; trusted: {trusted})"
    )]
    UntrustedRoot {
        /// SHA-256 fingerprint (hex) of `cabundle[0]`.
        fingerprint: String,
        /// Which roots were trusted ("AWS Nitro Root G1", "dev root", ...).
        trusted: String,
    },
    /// The caller trusts no root at all.
    #[error("no trusted root configured: enable the AWS root, a dev root, or both")]
    NoTrustedRoot,
    /// The embedded AWS Nitro root is not the pinned certificate.
    #[error("embedded AWS Nitro root is invalid: {reason}")]
    EmbeddedRoot {
        /// What is wrong.
        reason: String,
    },
    /// A dev root given by the caller is unusable.
    #[error("dev root certificate is unusable: {reason}")]
    DevRoot {
        /// What is wrong.
        reason: String,
    },
    /// The verification time is before the Unix epoch.
    #[error("verification time is before the Unix epoch")]
    TimeBeforeEpoch,
    /// The policy requires a nonce and the document has none.
    #[error("attestation document has no nonce, expected {expected}")]
    NonceMissing {
        /// The expected nonce (hex).
        expected: String,
    },
    /// The document's nonce is not the expected one.
    #[error("attestation document nonce is {got}, expected {expected}")]
    NonceMismatch {
        /// The expected nonce (hex).
        expected: String,
        /// The document's nonce (hex).
        got: String,
    },
    /// The document is older than the policy's maximum age.
    #[error("attestation document is {age_ms} ms old, more than the {max_ms} ms allowed")]
    TooOld {
        /// Age at the verification time.
        age_ms: u128,
        /// Maximum age allowed.
        max_ms: u128,
    },
    /// The document's timestamp is ahead of the verification time.
    #[error(
        "attestation document is {ahead_ms} ms in the future, more than the {max_ms} ms allowed"
    )]
    FromTheFuture {
        /// How far ahead of the verification time.
        ahead_ms: u128,
        /// Maximum clock skew allowed.
        max_ms: u128,
    },
    /// PCR0, PCR1 or PCR2 is all zeros: the enclave runs in debug mode.
    #[error("PCR{index} is all zeros: the enclave runs in debug mode, which is not allowed")]
    DebugMode {
        /// The first all-zero PCR among 0, 1 and 2.
        index: u8,
    },
    /// A PCR the policy expects is absent from the document.
    #[error("PCR{index} is expected but absent from the document")]
    PcrMissing {
        /// The index.
        index: u8,
    },
    /// A PCR differs from the expected value.
    #[error("PCR{index} is {got}, expected {expected}")]
    PcrMismatch {
        /// The index.
        index: u8,
        /// The expected value (hex).
        expected: String,
        /// The document's value (hex).
        got: String,
    },
}

impl AttestationError {
    pub(crate) fn cose(part: &'static str, error: CborError) -> Self {
        Self::Cose {
            part,
            offset: error.offset,
            problem: error.problem,
        }
    }

    pub(crate) fn document(error: CborError) -> Self {
        Self::Document {
            offset: error.offset,
            problem: error.problem,
        }
    }

    pub(crate) fn field(field: &'static str) -> impl FnOnce(CborError) -> Self {
        move |error| Self::Field {
            field,
            offset: error.offset,
            problem: error.problem,
        }
    }
}

/// Why a document file could not be decoded into CBOR bytes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DocumentFileError {
    /// The file is empty (or only whitespace).
    #[error("attestation document file is empty")]
    Empty,
    /// The file is text but neither valid hex nor valid base64.
    #[error("attestation document file is neither raw CBOR, hex nor base64: {reason}")]
    UnknownEncoding {
        /// Why base64 decoding failed.
        reason: String,
    },
    /// The file is larger than any real document.
    #[error("attestation document file is {len} bytes, more than the {max} accepted")]
    TooLarge {
        /// Size of the file.
        len: usize,
        /// Largest accepted size.
        max: usize,
    },
}
