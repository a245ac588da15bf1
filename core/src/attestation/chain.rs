//! X.509 certificate chains of attestation documents and the roots they are
//! anchored to.
//!
//! A Nitro document carries `cabundle = [root, intermediate…]` and a leaf
//! `certificate`; the chain runs `cabundle[0] → … → cabundle[n-1] →
//! certificate`. The chain must start at a root the caller trusts
//! ([`TrustRoots`]): either `cabundle[0]` is byte-identical to it, or
//! `cabundle[0]` is issued by it. Every certificate, the trusted root
//! included, must be valid at the verification time; every issuer must be a
//! CA (basic constraints, key usage, path length); signatures must be ECDSA
//! P-384/SHA-384 (or P-256/SHA-256).

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use der::asn1::ObjectIdentifier;
use der::{Decode, Header, Reader, SliceReader, Tag};
use sha2::{Digest, Sha256};
use x509_cert::Certificate;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage};
use x509_cert::name::Name;

use super::error::{AttestationError, CertificateRole};
use super::signature::{Curve, EcKey, Scheme, SignatureCheck, verify_all};

/// The AWS Nitro Enclaves Root G1 certificate (PEM), as published by AWS.
pub const AWS_NITRO_ROOT_G1_PEM: &str = include_str!("aws-nitro-root-g1.pem");

/// SHA-256 fingerprint of the DER of the AWS Nitro Enclaves Root G1, checked
/// when the embedded certificate is loaded.
pub const AWS_NITRO_ROOT_G1_SHA256: [u8; 32] = [
    0x64, 0x1a, 0x03, 0x21, 0xa3, 0xe2, 0x44, 0xef, 0xe4, 0x56, 0x46, 0x31, 0x95, 0xd6, 0x06, 0x31,
    0x7e, 0xd7, 0xcd, 0xcc, 0x3c, 0x17, 0x56, 0xe0, 0x98, 0x93, 0xf3, 0xc6, 0x8f, 0x79, 0xbb, 0x5b,
];

const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_PRIME256V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const OID_ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const OID_BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
const OID_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
const OID_EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");

/// Which kind of root a verified document chains to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RootKind {
    /// The pinned AWS Nitro Enclaves Root G1: a real Nitro Enclave.
    AwsNitro,
    /// A local development root: **no hardware guarantee at all**.
    Dev,
}

/// A local development root CA, for machines without Nitro Enclaves.
///
/// The dev attestation provider creates a self-signed ECDSA P-384 (or P-256)
/// CA, issues a leaf certificate with a P-384 key under it, and signs
/// Nitro-format documents with that key ([`super::UnsignedDocument::sign`]).
/// Clients verify such documents only when they were explicitly told to
/// accept insecure development attestation, by putting the dev root in
/// [`TrustRoots::dev`].
#[derive(Clone, Debug)]
pub struct DevRoot {
    anchor: Anchor,
}

impl DevRoot {
    /// Loads a dev root from DER. It must be a self-signed CA certificate
    /// with an ECDSA P-384 or P-256 key.
    pub fn from_der(der: &[u8]) -> Result<Self, AttestationError> {
        let anchor = Anchor::load(der).map_err(|reason| AttestationError::DevRoot { reason })?;
        Ok(Self { anchor })
    }

    /// Loads a dev root from a PEM `CERTIFICATE` block.
    pub fn from_pem(pem: &str) -> Result<Self, AttestationError> {
        let der = pem_to_der(pem).map_err(|reason| AttestationError::DevRoot { reason })?;
        Self::from_der(&der)
    }

    /// The certificate (DER).
    pub fn certificate_der(&self) -> &[u8] {
        &self.anchor.der
    }

    /// SHA-256 fingerprint of the certificate's DER.
    pub fn fingerprint(&self) -> [u8; 32] {
        self.anchor.fingerprint
    }
}

/// The roots a verifier accepts.
///
/// Production clients use [`TrustRoots::aws`]. A dev root is accepted only
/// when it is set in [`TrustRoots::dev`], which callers must do only when
/// the operator explicitly asked for insecure development attestation; a
/// document that chains to it is reported as [`RootKind::Dev`] by
/// [`super::VerifiedAttestation::root`], so the caller can show it loudly.
#[derive(Clone, Debug)]
pub struct TrustRoots {
    /// Accept the pinned AWS Nitro Enclaves Root G1.
    pub aws: bool,
    /// Also accept this local development root (insecure).
    pub dev: Option<DevRoot>,
}

impl TrustRoots {
    /// Only the AWS Nitro Enclaves Root G1 (production).
    pub fn aws() -> Self {
        Self {
            aws: true,
            dev: None,
        }
    }

    /// The AWS root and, insecurely, a local development root.
    pub fn aws_and_insecure_dev(dev: DevRoot) -> Self {
        Self {
            aws: true,
            dev: Some(dev),
        }
    }

    /// Only a local development root (insecure; tests and local stacks).
    pub fn insecure_dev_only(dev: DevRoot) -> Self {
        Self {
            aws: false,
            dev: Some(dev),
        }
    }

    fn describe(&self) -> String {
        match (self.aws, self.dev.is_some()) {
            (true, true) => "AWS Nitro Root G1 and a dev root".to_owned(),
            (true, false) => "AWS Nitro Root G1".to_owned(),
            (false, true) => "a dev root".to_owned(),
            (false, false) => "none".to_owned(),
        }
    }
}

impl Default for TrustRoots {
    fn default() -> Self {
        Self::aws()
    }
}

/// The DER of the embedded AWS Nitro Enclaves Root G1, after its
/// fingerprint has been checked against [`AWS_NITRO_ROOT_G1_SHA256`].
pub fn aws_nitro_root_der() -> Result<&'static [u8], AttestationError> {
    aws_root().map(|anchor| anchor.der.as_slice())
}

fn aws_root() -> Result<&'static Anchor, AttestationError> {
    static ROOT: OnceLock<Result<Anchor, String>> = OnceLock::new();
    ROOT.get_or_init(|| {
        let der = pem_to_der(AWS_NITRO_ROOT_G1_PEM)?;
        let anchor = Anchor::load(&der)?;
        if anchor.fingerprint != AWS_NITRO_ROOT_G1_SHA256 {
            return Err(format!(
                "SHA-256 fingerprint is {}, expected {}",
                hex::encode(anchor.fingerprint),
                hex::encode(AWS_NITRO_ROOT_G1_SHA256)
            ));
        }
        Ok(anchor)
    })
    .as_ref()
    .map_err(|reason| AttestationError::EmbeddedRoot {
        reason: reason.clone(),
    })
}

fn pem_to_der(pem: &str) -> Result<Vec<u8>, String> {
    let (label, der) = der::pem::decode_vec(pem.trim().as_bytes())
        .map_err(|error| format!("invalid PEM: {error}"))?;
    if label != "CERTIFICATE" {
        return Err(format!("PEM label is {label:?}, expected \"CERTIFICATE\""));
    }
    Ok(der)
}

/// A trusted root, parsed once.
#[derive(Clone, Debug)]
struct Anchor {
    der: Vec<u8>,
    fingerprint: [u8; 32],
    certificate: Certificate,
    key: EcKey,
    /// The root's own path length constraint.
    path_len: Option<u8>,
}

impl Anchor {
    /// Parses and checks a root: self-issued, self-signed, a CA.
    fn load(der: &[u8]) -> Result<Self, String> {
        let which = CertificateRole::TrustedRoot;
        let parsed = ParsedCertificate::parse(der, which).map_err(|e| e.to_string())?;
        let tbs = &parsed.certificate.tbs_certificate;
        if tbs.issuer != tbs.subject {
            return Err("not self-issued (issuer differs from subject)".to_owned());
        }
        let key = parsed.key(which).map_err(|e| e.to_string())?;
        let self_signature = parsed
            .signature_check(&key, which, None)
            .map_err(|e| e.to_string())?;
        verify_all(vec![self_signature], None)
            .map_err(|_| "its self-signature does not verify".to_owned())?;
        let path_len = parsed
            .extensions(which)
            .and_then(|ext| ext.require_ca(which))
            .map_err(|e| e.to_string())?;
        Ok(Self {
            der: der.to_vec(),
            fingerprint: Sha256::digest(der).into(),
            certificate: parsed.certificate,
            key,
            path_len,
        })
    }
}

/// What the extensions of a certificate say.
struct Extensions {
    basic_constraints: Option<BasicConstraints>,
    key_usage: Option<KeyUsage>,
}

impl Extensions {
    fn require_ca(&self, which: CertificateRole) -> Result<Option<u8>, AttestationError> {
        let constraints = self
            .basic_constraints
            .as_ref()
            .ok_or(AttestationError::NotCa {
                which,
                reason: "no basic constraints extension",
            })?;
        if !constraints.ca {
            return Err(AttestationError::NotCa {
                which,
                reason: "basic constraints say cA = false",
            });
        }
        if let Some(usage) = &self.key_usage
            && !usage.key_cert_sign()
        {
            return Err(AttestationError::NotCa {
                which,
                reason: "key usage lacks keyCertSign",
            });
        }
        Ok(constraints.path_len_constraint)
    }
}

/// A certificate with the raw bytes of its to-be-signed part.
struct ParsedCertificate<'a> {
    tbs: &'a [u8],
    certificate: Certificate,
}

impl<'a> ParsedCertificate<'a> {
    fn parse(der: &'a [u8], which: CertificateRole) -> Result<Self, AttestationError> {
        let parse_error = |source| AttestationError::CertificateParse { which, source };
        let certificate = Certificate::from_der(der).map_err(parse_error)?;
        // Signatures cover the TBS bytes exactly as they appear in the input.
        let mut reader = SliceReader::new(der).map_err(parse_error)?;
        let header = Header::decode(&mut reader).map_err(parse_error)?;
        header.tag.assert_eq(Tag::Sequence).map_err(parse_error)?;
        let tbs = reader.tlv_bytes().map_err(parse_error)?;
        Ok(Self { tbs, certificate })
    }

    fn subject(&self) -> &Name {
        &self.certificate.tbs_certificate.subject
    }

    fn issuer(&self) -> &Name {
        &self.certificate.tbs_certificate.issuer
    }

    /// The certificate's EC public key, checked to be a point of its curve.
    fn key(&self, which: CertificateRole) -> Result<EcKey, AttestationError> {
        let spki = &self.certificate.tbs_certificate.subject_public_key_info;
        let unsupported = |reason| AttestationError::UnsupportedKey { which, reason };
        if spki.algorithm.oid != OID_EC_PUBLIC_KEY {
            return Err(unsupported("not an EC key"));
        }
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|params| params.decode_as::<ObjectIdentifier>().ok())
            .ok_or(unsupported("EC key without a named curve"))?;
        let point = spki
            .subject_public_key
            .as_bytes()
            .ok_or(unsupported("key bit string has unused bits"))?;
        // The verifier (ring) takes uncompressed points only.
        if point.first() != Some(&0x04) {
            return Err(unsupported("EC point is not uncompressed"));
        }
        let curve = match curve {
            OID_SECP384R1 => p384::PublicKey::from_sec1_bytes(point)
                .map(|_| Curve::P384)
                .map_err(|_| unsupported("invalid P-384 point")),
            OID_PRIME256V1 => p256::PublicKey::from_sec1_bytes(point)
                .map(|_| Curve::P256)
                .map_err(|_| unsupported("invalid P-256 point")),
            _ => Err(unsupported("curve is neither P-384 nor P-256")),
        }?;
        Ok(EcKey {
            curve,
            point: point.to_vec(),
        })
    }

    /// The certificate's P-384 key, the only kind that signs documents.
    fn p384_key(&self, which: CertificateRole) -> Result<EcKey, AttestationError> {
        let key = self.key(which)?;
        if key.curve != Curve::P384 {
            return Err(AttestationError::UnsupportedKey {
                which,
                reason: "documents are signed with ES384, which needs a P-384 key",
            });
        }
        Ok(key)
    }

    /// The check of this certificate's signature by `issuer`, after its
    /// algorithm was found to match the issuer's key.
    fn signature_check(
        &self,
        issuer: &EcKey,
        which: CertificateRole,
        cache_key: Option<[u8; 32]>,
    ) -> Result<SignatureCheck<'a>, AttestationError> {
        let outer = &self.certificate.signature_algorithm;
        let inner = &self.certificate.tbs_certificate.signature;
        let unsupported = || AttestationError::UnsupportedSignatureAlgorithm {
            which,
            algorithm: outer.oid.to_string(),
        };
        if outer != inner || outer.parameters.is_some() {
            return Err(unsupported());
        }
        match (outer.oid, issuer.curve) {
            (OID_ECDSA_SHA384, Curve::P384) | (OID_ECDSA_SHA256, Curve::P256) => {}
            _ => return Err(unsupported()),
        }
        let signature = self
            .certificate
            .signature
            .as_bytes()
            .ok_or(AttestationError::CertificateSignature { which })?;
        Ok(SignatureCheck {
            key: issuer.clone(),
            scheme: Scheme::X509,
            message: std::borrow::Cow::Borrowed(self.tbs),
            // The signature lives in the decoded certificate, not in `der`.
            signature: std::borrow::Cow::Owned(signature.to_vec()),
            error: AttestationError::CertificateSignature { which },
            cache_key,
        })
    }

    /// Checks `notBefore <= at <= notAfter`.
    fn check_validity(&self, at: Duration, which: CertificateRole) -> Result<(), AttestationError> {
        check_validity(&self.certificate, at, which)
    }

    /// Decodes the extensions this verifier uses and refuses unknown
    /// critical ones.
    fn extensions(&self, which: CertificateRole) -> Result<Extensions, AttestationError> {
        let mut found = Extensions {
            basic_constraints: None,
            key_usage: None,
        };
        let extensions = self
            .certificate
            .tbs_certificate
            .extensions
            .as_deref()
            .unwrap_or_default();
        for extension in extensions {
            let oid = extension.extn_id;
            let value = extension.extn_value.as_bytes();
            let decode_error = |source| AttestationError::Extension {
                which,
                oid: oid.to_string(),
                source,
            };
            match oid {
                OID_BASIC_CONSTRAINTS => {
                    found.basic_constraints =
                        Some(BasicConstraints::from_der(value).map_err(decode_error)?);
                }
                OID_KEY_USAGE => {
                    found.key_usage = Some(KeyUsage::from_der(value).map_err(decode_error)?);
                }
                // Extended key usage is not used by Nitro chains; it only
                // narrows what a key may do, so it is safe to skip.
                OID_EXT_KEY_USAGE => {}
                _ if extension.critical => {
                    return Err(AttestationError::UnsupportedCriticalExtension {
                        which,
                        oid: oid.to_string(),
                    });
                }
                _ => {}
            }
        }
        Ok(found)
    }
}

fn check_validity(
    certificate: &Certificate,
    at: Duration,
    which: CertificateRole,
) -> Result<(), AttestationError> {
    let validity = &certificate.tbs_certificate.validity;
    let not_before = validity.not_before.to_unix_duration();
    let not_after = validity.not_after.to_unix_duration();
    if not_before <= at && at <= not_after {
        Ok(())
    } else {
        Err(AttestationError::CertificateNotValidAt {
            which,
            not_before_s: not_before.as_secs(),
            not_after_s: not_after.as_secs(),
            at_ms: at.as_millis(),
        })
    }
}

/// A name for error messages: its RFC 4514 string.
fn display_name(name: &Name) -> String {
    name.to_string()
}

/// A chain whose structure was checked, with the certificate signatures
/// still to verify.
pub(crate) struct CheckedChain<'a> {
    /// The kind of root it is anchored to.
    pub(crate) kind: RootKind,
    /// The leaf's P-384 key, which signs the document.
    pub(crate) leaf_key: EcKey,
    /// The signatures of its links, in chain order, minus those `cache`
    /// already holds.
    pub(crate) checks: Vec<SignatureCheck<'a>>,
}

/// Checks the chain `cabundle[0] → … → certificate` up to a trusted root
/// at time `at` (since the Unix epoch): everything but the signatures,
/// which are returned to be verified together with the document's (see
/// [`verify_all`]). When the structure is refused, the signatures above
/// the refused certificate are verified first, so that the error is the
/// first problem in chain order.
pub(crate) fn check_chain<'a>(
    cabundle: &'a [Vec<u8>],
    leaf: &'a [u8],
    roots: &TrustRoots,
    at: Duration,
    cache: Option<&LinkCache>,
) -> Result<CheckedChain<'a>, AttestationError> {
    let mut checks = Vec::with_capacity(cabundle.len() + 2);
    match walk_chain(cabundle, leaf, roots, at, cache, &mut checks) {
        Ok((kind, leaf_key)) => Ok(CheckedChain {
            kind,
            leaf_key,
            checks,
        }),
        Err(error) => {
            verify_all(checks, None)?;
            Err(error)
        }
    }
}

/// The structural walk of [`check_chain`], collecting signature checks.
fn walk_chain<'a>(
    cabundle: &'a [Vec<u8>],
    leaf: &'a [u8],
    roots: &TrustRoots,
    at: Duration,
    cache: Option<&LinkCache>,
    checks: &mut Vec<SignatureCheck<'a>>,
) -> Result<(RootKind, EcKey), AttestationError> {
    let mut anchors: Vec<(RootKind, &Anchor)> = Vec::with_capacity(2);
    if roots.aws {
        anchors.push((RootKind::AwsNitro, aws_root()?));
    }
    if let Some(dev) = &roots.dev {
        anchors.push((RootKind::Dev, &dev.anchor));
    }
    if anchors.is_empty() {
        return Err(AttestationError::NoTrustedRoot);
    }
    let first = cabundle.first().ok_or(AttestationError::FieldSize {
        field: "cabundle",
        len: 0,
        min: 1,
        max: super::document::MAX_CABUNDLE,
    })?;

    // Anchor: cabundle[0] is the trusted root itself, or is issued by it.
    let (kind, anchor, start) = match anchors.iter().find(|(_, anchor)| anchor.der == *first) {
        Some((kind, anchor)) => (*kind, *anchor, 1),
        None => {
            let parsed = ParsedCertificate::parse(first, CertificateRole::CaBundle(0))?;
            let issuer = parsed.issuer();
            match anchors
                .iter()
                .find(|(_, anchor)| anchor.certificate.tbs_certificate.subject == *issuer)
            {
                Some((kind, anchor)) => (*kind, *anchor, 0),
                None => {
                    return Err(AttestationError::UntrustedRoot {
                        fingerprint: hex::encode(Sha256::digest(first)),
                        trusted: roots.describe(),
                    });
                }
            }
        }
    };
    check_validity(&anchor.certificate, at, CertificateRole::TrustedRoot)?;

    let mut issuer = Issuer {
        der: &anchor.der,
        name: anchor.certificate.tbs_certificate.subject.clone(),
        key: anchor.key.clone(),
    };
    // Remaining number of intermediate CAs allowed below the current issuer.
    let mut path_budget: Option<u8> = anchor.path_len;

    let intermediates = cabundle
        .iter()
        .enumerate()
        .skip(start)
        .map(|(index, der)| (CertificateRole::CaBundle(index), der.as_slice()));
    for (which, der) in intermediates {
        let parsed = check_link(der, which, &issuer, at, cache, checks)?;
        let path_len = parsed.extensions(which)?.require_ca(which)?;
        // This CA is itself an intermediate below the previous issuer.
        if parsed.issuer() != parsed.subject() {
            path_budget = match path_budget {
                Some(0) => return Err(AttestationError::PathLength { which }),
                Some(budget) => Some(budget - 1),
                None => None,
            };
        }
        if let Some(limit) = path_len {
            path_budget = Some(path_budget.map_or(limit, |budget| budget.min(limit)));
        }
        issuer = Issuer {
            der,
            key: parsed.key(which)?,
            name: parsed.subject().clone(),
        };
    }

    let which = CertificateRole::Leaf;
    let parsed = check_link(leaf, which, &issuer, at, cache, checks)?;
    let extensions = parsed.extensions(which)?;
    if let Some(usage) = &extensions.key_usage
        && !usage.digital_signature()
    {
        return Err(AttestationError::UnsupportedKey {
            which,
            reason: "key usage lacks digitalSignature",
        });
    }
    Ok((kind, parsed.p384_key(which)?))
}

/// Parses one certificate and checks it against its issuer: validity at
/// `at`, issuer name, and (pushed to `checks` unless `cache` holds it) its
/// signature.
fn check_link<'a>(
    der: &'a [u8],
    which: CertificateRole,
    issuer: &Issuer<'_>,
    at: Duration,
    cache: Option<&LinkCache>,
    checks: &mut Vec<SignatureCheck<'a>>,
) -> Result<ParsedCertificate<'a>, AttestationError> {
    let parsed = ParsedCertificate::parse(der, which)?;
    parsed.check_validity(at, which)?;
    if *parsed.issuer() != issuer.name {
        return Err(AttestationError::IssuerMismatch {
            which,
            issuer: display_name(parsed.issuer()),
            expected: display_name(&issuer.name),
        });
    }
    let cache_key = match cache {
        Some(cache) => {
            let key = LinkCache::key(issuer.der, der);
            if cache.contains(&key) {
                return Ok(parsed);
            }
            Some(key)
        }
        None => None,
    };
    checks.push(parsed.signature_check(&issuer.key, which, cache_key)?);
    Ok(parsed)
}

/// The certificate above the one being checked.
struct Issuer<'a> {
    der: &'a [u8],
    name: Name,
    key: EcKey,
}

/// Certificate signatures already verified, so that repeated documents
/// from the same enclave (same regional and zonal CAs) cost one ECDSA
/// verification for the COSE signature instead of five.
///
/// Only the signature check is cached, keyed by the SHA-256 of the exact
/// issuer and subject DER; parsing, validity at the verification time,
/// names and CA constraints are checked every time. Bounded: it is emptied
/// when it reaches [`LinkCache::CAPACITY`] entries.
#[derive(Debug, Default)]
pub(crate) struct LinkCache {
    links: Mutex<HashSet<[u8; 32]>>,
}

impl LinkCache {
    /// Most entries kept.
    pub(crate) const CAPACITY: usize = 1024;

    fn key(issuer_der: &[u8], subject_der: &[u8]) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update((issuer_der.len() as u64).to_be_bytes());
        hasher.update(issuer_der);
        hasher.update(subject_der);
        hasher.finalize().into()
    }

    fn contains(&self, key: &[u8; 32]) -> bool {
        // A poisoned lock only costs a cache miss.
        self.links
            .lock()
            .map(|links| links.contains(key))
            .unwrap_or(false)
    }

    pub(crate) fn insert(&self, key: [u8; 32]) {
        if let Ok(mut links) = self.links.lock() {
            if links.len() >= Self::CAPACITY {
                links.clear();
            }
            links.insert(key);
        }
    }
}
