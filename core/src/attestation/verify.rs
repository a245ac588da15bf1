//! Verification of an attestation document: envelope, document, chain,
//! signature, then policy.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::chain::{LinkCache, RootKind, TrustRoots, check_chain};
use super::cose::CoseSign1;
use super::document::{AttestationDocument, Pcrs};
use super::error::AttestationError;
use super::policy::Policy;
use super::signature::verify_all;

/// Largest accepted COSE_Sign1 input. Real documents are under 10 KiB even
/// with 1024-byte `public_key`, `user_data` and `nonce`.
pub const MAX_DOCUMENT_LEN: usize = 16 * 1024;

/// An attestation document whose COSE signature, certificate chain,
/// freshness and PCRs have been checked.
///
/// Only [`verify`] (or [`Verifier::verify`]) constructs one: the fields are
/// private, there is no public constructor and no `Deserialize`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedAttestation {
    document: AttestationDocument,
    root: RootKind,
}

impl VerifiedAttestation {
    /// The enclave module id.
    pub fn module_id(&self) -> &str {
        self.document.module_id()
    }

    /// Creation time, milliseconds since the Unix epoch.
    pub fn timestamp_ms(&self) -> u64 {
        self.document.timestamp_ms()
    }

    /// Creation time.
    pub fn timestamp(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.document.timestamp_ms())
    }

    /// The PCRs.
    pub fn pcrs(&self) -> &Pcrs {
        self.document.pcrs()
    }

    /// The public key the enclave put in the document (the master's signing
    /// key), if any.
    pub fn public_key(&self) -> Option<&[u8]> {
        self.document.public_key()
    }

    /// The user data the enclave put in the document (the master binds its
    /// TLS key here), if any.
    pub fn user_data(&self) -> Option<&[u8]> {
        self.document.user_data()
    }

    /// The nonce, if any.
    pub fn nonce(&self) -> Option<&[u8]> {
        self.document.nonce()
    }

    /// Which root the chain led to.
    pub fn root(&self) -> RootKind {
        self.root
    }

    /// Whether the document chains to a local development root rather than
    /// to AWS: no hardware guarantee; show this loudly.
    pub fn is_dev(&self) -> bool {
        self.root == RootKind::Dev
    }

    /// The whole verified document, certificates included.
    pub fn document(&self) -> &AttestationDocument {
        &self.document
    }
}

/// Trust roots, kept for repeated verification.
///
/// Unlike the free function [`verify`], a `Verifier` remembers which
/// certificate signatures it has already checked (keyed by the exact issuer
/// and subject DER, at most 1024 of them), so verifying further documents
/// from the same enclave costs one ECDSA verification (the COSE signature)
/// plus the new leaf instead of five. Everything else (parsing, validity at
/// the verification time, names, CA constraints, the COSE signature, the
/// policy) is checked every time. The policy is given per call, since the
/// nonce changes with every request. Clones share the cache.
#[derive(Clone, Debug)]
pub struct Verifier {
    roots: TrustRoots,
    cache: Arc<LinkCache>,
}

impl Verifier {
    /// A verifier that accepts these roots.
    pub fn new(roots: TrustRoots) -> Self {
        Self {
            roots,
            cache: Arc::new(LinkCache::default()),
        }
    }

    /// The roots it accepts.
    pub fn roots(&self) -> &TrustRoots {
        &self.roots
    }

    /// Verifies `document` (a COSE_Sign1) under `policy` as of `at`; see
    /// [`verify`].
    pub fn verify(
        &self,
        document: &[u8],
        policy: &Policy,
        at: SystemTime,
    ) -> Result<VerifiedAttestation, AttestationError> {
        verify_with(document, &self.roots, policy, at, Some(&self.cache))
    }
}

/// Decodes a COSE_Sign1 attestation document **without verifying** its
/// signature, chain or policy: for showing what a document claims.
pub fn parse_unverified(document: &[u8]) -> Result<AttestationDocument, AttestationError> {
    parse(document).map(|(_, document)| document)
}

fn parse(bytes: &[u8]) -> Result<(CoseSign1<'_>, AttestationDocument), AttestationError> {
    if bytes.len() > MAX_DOCUMENT_LEN {
        return Err(AttestationError::TooLarge {
            len: bytes.len(),
            max: MAX_DOCUMENT_LEN,
        });
    }
    let envelope = CoseSign1::parse(bytes)?;
    let document = AttestationDocument::decode(envelope.payload)?;
    Ok((envelope, document))
}

/// Verifies a Nitro attestation document (a COSE_Sign1, tagged or not) as
/// of the time `at`.
///
/// In order: the envelope (ES384 protected header, 96-byte signature); the
/// document fields; the certificate chain `cabundle[0] → … → certificate`
/// up to one of `roots`, every certificate valid at `at`; the COSE
/// signature with the leaf's key; then `policy` (nonce, age relative to
/// `at`, debug PCRs, expected PCRs). Pass `SystemTime::now()` in
/// production; tests pin `at` to the document's own timestamp.
pub fn verify(
    document: &[u8],
    roots: &TrustRoots,
    policy: &Policy,
    at: SystemTime,
) -> Result<VerifiedAttestation, AttestationError> {
    verify_with(document, roots, policy, at, None)
}

fn verify_with(
    document: &[u8],
    roots: &TrustRoots,
    policy: &Policy,
    at: SystemTime,
    cache: Option<&LinkCache>,
) -> Result<VerifiedAttestation, AttestationError> {
    let at = at
        .duration_since(UNIX_EPOCH)
        .map_err(|_| AttestationError::TimeBeforeEpoch)?;
    let (envelope, document) = parse(document)?;
    let chain = check_chain(&document.cabundle, &document.certificate, roots, at, cache)?;
    let root = chain.kind;
    let mut checks = chain.checks;
    checks.push(envelope.signature_check(chain.leaf_key));
    verify_all(checks, cache)?;
    policy.check(&document, at)?;
    Ok(VerifiedAttestation { document, root })
}
