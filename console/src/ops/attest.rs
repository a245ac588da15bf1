//! Attestation: a running master's, live (a fresh nonce, the document
//! verified and bound to the TLS key the connection presented), or a
//! document file's, offline.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use daas_core::attestation::policy::DEFAULT_MAX_FUTURE_SKEW;
use daas_core::attestation::{
    AttestationError, ExpectedPcrs, Pcr, PcrPolicy, Policy, TrustRoots, VerifiedAttestation,
    decode_document_file, verify,
};
use daas_core::attested::AttestedMaster;
use serde::Serialize;

use super::{Context, OpsError};
use crate::config::PcrSource;

/// What was verified about a master.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MasterAttestation {
    /// The master's URL.
    pub master: String,
    /// Signed by a dev root: no hardware guarantee.
    pub insecure_dev: bool,
    /// The TEE type the master claims (`nitro`, `dev`).
    pub tee_type: String,
    /// Its security level.
    pub security_level: u8,
    /// `aws-nitro-root-g1` or `insecure-dev`.
    pub root: &'static str,
    /// The enclave's module id.
    pub enclave_id: String,
    /// When the document was made (ms).
    pub timestamp_ms: u64,
    /// When this client verified it (ms).
    pub verified_at_ms: u64,
    /// Where the expected PCRs came from: `profile`, `enclave-config 0x…`,
    /// or `none` (shown, not compared).
    pub pcrs_checked_against: String,
    /// The document's PCRs (hex), by index.
    pub pcrs: BTreeMap<u8, String>,
    /// The expected PCRs (hex), by index; empty when unchecked.
    pub expected_pcrs: BTreeMap<u8, String>,
    /// The master's Ed25519 signing key (hex).
    pub signing_public_key: String,
    /// SHA-256 of the pinned TLS SubjectPublicKeyInfo (hex).
    pub tls_spki_sha256: String,
    /// The verified document (raw CBOR).
    #[serde(skip)]
    pub document: Vec<u8>,
}

impl MasterAttestation {
    /// Whether the PCRs were compared with expected values.
    pub fn pcrs_checked(&self) -> bool {
        !self.expected_pcrs.is_empty()
    }

    /// Seconds between the document's time and `now`.
    pub fn age_secs(&self, now: SystemTime) -> u64 {
        let now_ms = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        now_ms.saturating_sub(self.timestamp_ms) / 1000
    }
}

/// Attests the profile's master now with a fresh nonce.
///
/// # Errors
/// Why the master is not attested (PCRs, root, nonce, TLS key), or it is
/// unreachable.
pub async fn attest_master(ctx: &Context) -> Result<MasterAttestation, OpsError> {
    let settings = ctx.master_settings()?;
    let client = ctx.master().await?;
    let master = client.attested().attest().await?;
    let (checked_against, expected) = match &settings.pcrs {
        PcrSource::Expected(pcrs) => ("profile".to_owned(), Some(pcrs.clone())),
        PcrSource::EnclaveConfig(id) => (
            format!("enclave-config {id}"),
            Some(ctx.chain()?.enclave_expected_pcrs(*id).await?),
        ),
        PcrSource::Unchecked => ("none".to_owned(), None),
    };
    describe(&settings.url, &master, checked_against, expected)
}

fn describe(
    url: &str,
    master: &AttestedMaster,
    checked_against: String,
    expected: Option<ExpectedPcrs>,
) -> Result<MasterAttestation, OpsError> {
    let attestation = master.attestation();
    let document = STANDARD
        .decode(&master.response().document)
        .map_err(|_| OpsError::Refused("the master's document is not base64".to_owned()))?;
    let verified_at_ms = master
        .verified_at()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    Ok(MasterAttestation {
        master: url.to_owned(),
        insecure_dev: master.is_insecure_dev(),
        tee_type: master.response().tee_type.to_string(),
        security_level: master.response().security_level,
        root: root_name(attestation),
        enclave_id: attestation.module_id().to_owned(),
        timestamp_ms: attestation.timestamp_ms(),
        verified_at_ms,
        pcrs_checked_against: checked_against,
        pcrs: attestation
            .pcrs()
            .iter()
            .map(|(i, pcr)| (i, pcr.to_string()))
            .collect(),
        expected_pcrs: expected.map(expected_map).unwrap_or_default(),
        signing_public_key: hex::encode(master.signing_key().as_bytes()),
        tls_spki_sha256: hex::encode(master.tls_spki_sha256()),
        document,
    })
}

fn expected_map(pcrs: ExpectedPcrs) -> BTreeMap<u8, String> {
    let mut map = BTreeMap::from([
        (0, pcrs.pcr0.to_string()),
        (1, pcrs.pcr1.to_string()),
        (2, pcrs.pcr2.to_string()),
    ]);
    if let Some(pcr8) = pcrs.pcr8 {
        map.insert(8, pcr8.to_string());
    }
    map
}

fn root_name(attestation: &VerifiedAttestation) -> &'static str {
    if attestation.is_dev() {
        "insecure-dev"
    } else {
        "aws-nitro-root-g1"
    }
}

/// How a document file is checked.
#[derive(Debug, Clone)]
pub struct FileCheck {
    /// Roots to trust.
    pub roots: TrustRoots,
    /// When the document must be valid.
    pub at: CheckTime,
    /// PCRs the document must have.
    pub expected: Vec<(u8, Pcr)>,
    /// Accept debug enclaves.
    pub allow_debug: bool,
    /// Refuse documents older than this.
    pub max_age: Option<Duration>,
}

/// When a document file is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckTime {
    /// This machine's clock: a document up to the default clock skew
    /// ([`DEFAULT_MAX_FUTURE_SKEW`]) ahead of it is accepted.
    Now,
    /// Exactly this time (`--at`): a document made after it is refused.
    At(SystemTime),
}

impl CheckTime {
    /// The instant and how far ahead of it a document may be.
    fn instant_and_skew(self) -> (SystemTime, Duration) {
        match self {
            Self::Now => (SystemTime::now(), DEFAULT_MAX_FUTURE_SKEW),
            Self::At(at) => (at, Duration::ZERO),
        }
    }
}

/// What was verified about a document file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DocumentReport {
    /// The enclave's module id.
    pub module_id: String,
    /// When the document was made (ms).
    pub timestamp_ms: u64,
    /// `aws-nitro-root-g1` or `insecure-dev`.
    pub root: &'static str,
    /// How the file was encoded (`Cbor`, `Base64`, `Hex`).
    pub encoding: String,
    /// PCRs by index (hex).
    pub pcrs: BTreeMap<u8, String>,
    /// The document's public key (hex).
    pub public_key: Option<String>,
    /// Its user data (hex).
    pub user_data: Option<String>,
    /// Its nonce (hex).
    pub nonce: Option<String>,
}

/// A document file has no nonce to prove freshness, so by default any age
/// is accepted.
const UNLIMITED_AGE: Duration = Duration::from_secs(u64::MAX / 4);

/// Verifies the document in `contents` (raw CBOR, Base64 or hex).
///
/// # Errors
/// The document is malformed, not trusted, or its PCRs differ.
pub fn verify_file(contents: &[u8], check: &FileCheck) -> Result<DocumentReport, OpsError> {
    let (encoding, document) = decode_document_file(contents)?;
    let (at, skew) = check.at.instant_and_skew();
    let policy = Policy::new(PcrPolicy::AnyMeasurement)
        .allow_debug(check.allow_debug)
        .with_max_age(check.max_age.unwrap_or(UNLIMITED_AGE))
        .with_max_future_skew(skew);
    let verified = verify(&document, &check.roots, &policy, at)?;
    for (index, want) in &check.expected {
        let got = verified
            .pcrs()
            .get(*index)
            .ok_or(AttestationError::PcrMissing { index: *index })?;
        if got != want {
            return Err(OpsError::Refused(format!(
                "PCR{index} is {got}, expected {want}"
            )));
        }
    }
    Ok(DocumentReport {
        module_id: verified.module_id().to_owned(),
        timestamp_ms: verified.timestamp_ms(),
        root: root_name(&verified),
        encoding: format!("{encoding:?}"),
        pcrs: verified
            .pcrs()
            .iter()
            .map(|(i, pcr)| (i, pcr.to_string()))
            .collect(),
        public_key: verified.public_key().map(hex::encode),
        user_data: verified.user_data().map(hex::encode),
        nonce: verified.nonce().map(hex::encode),
    })
}
