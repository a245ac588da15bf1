//! The Nitro attestation document: the CBOR map carried as the COSE_Sign1
//! payload, decoded strictly.
//!
//! Schema (from `aws-nitro-enclaves-nsm-api`, `AttestationDoc`):
//!
//! | field | CBOR type | constraint |
//! |---|---|---|
//! | `module_id` | text | 1..=256 bytes |
//! | `digest` | text | `"SHA384"` |
//! | `timestamp` | uint | milliseconds since the Unix epoch, > 0 |
//! | `pcrs` | map uint => bstr | 1..=32 entries, index 0..=31, 48-byte values |
//! | `certificate` | bstr | DER X.509, 1..=1024 bytes |
//! | `cabundle` | array of bstr | 1..=[`MAX_CABUNDLE`] DER certificates, root first |
//! | `public_key` | bstr or null | optional, 1..=1024 bytes |
//! | `user_data` | bstr or null | optional, 0..=1024 bytes |
//! | `nonce` | bstr or null | optional, 0..=1024 bytes |
//!
//! Unknown keys are skipped (forward compatibility); a known key twice, a
//! wrong type or a size out of range is an error naming the field.

use std::collections::BTreeMap;
use std::fmt;

use p384::ecdsa::SigningKey;

use super::cbor::{Reader, Writer};
use super::cose;
use super::error::AttestationError;

/// Length of a SHA-384 PCR value.
pub const PCR_LEN: usize = 48;
/// Number of PCRs a Nitro Secure Module has (indices 0..=31).
pub const PCR_COUNT: usize = 32;
/// Most certificates accepted in `cabundle`.
pub const MAX_CABUNDLE: usize = 8;
/// Largest accepted `public_key`, `user_data` and `nonce`.
pub const MAX_OPTIONAL_FIELD_LEN: usize = 1024;
/// Largest accepted DER certificate.
pub const MAX_CERTIFICATE_LEN: usize = 1024;
/// Largest accepted `module_id`.
pub const MAX_MODULE_ID_LEN: usize = 256;

/// One SHA-384 PCR value.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pcr([u8; PCR_LEN]);

impl Pcr {
    /// Wraps 48 bytes.
    pub const fn new(bytes: [u8; PCR_LEN]) -> Self {
        Self(bytes)
    }

    /// Parses a PCR from bytes; `None` unless exactly 48 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; PCR_LEN]>::try_from(bytes).ok().map(Self)
    }

    /// Parses a PCR from 96 hex digits.
    pub fn from_hex(text: &str) -> Result<Self, hex::FromHexError> {
        let mut bytes = [0u8; PCR_LEN];
        hex::decode_to_slice(text.trim(), &mut bytes)?;
        Ok(Self(bytes))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; PCR_LEN] {
        &self.0
    }

    /// Whether every byte is zero (what debug-mode enclaves report).
    pub fn is_zero(&self) -> bool {
        self.0.iter().all(|byte| *byte == 0)
    }
}

impl fmt::Display for Pcr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Pcr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pcr({self})")
    }
}

/// The PCRs of a document, by index.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pcrs(BTreeMap<u8, Pcr>);

impl Pcrs {
    /// The PCR at `index`, if the document has it.
    pub fn get(&self, index: u8) -> Option<&Pcr> {
        self.0.get(&index)
    }

    /// All PCRs in index order.
    pub fn iter(&self) -> impl Iterator<Item = (u8, &Pcr)> {
        self.0.iter().map(|(index, pcr)| (*index, pcr))
    }

    /// Number of PCRs.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no PCRs.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<(u8, Pcr)> for Pcrs {
    fn from_iter<I: IntoIterator<Item = (u8, Pcr)>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

/// A decoded attestation document whose signature, chain and policy have
/// **not** been checked. Get one from [`super::parse_unverified`] to inspect
/// a document; trust only a [`super::VerifiedAttestation`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttestationDocument {
    pub(crate) module_id: String,
    pub(crate) timestamp_ms: u64,
    pub(crate) pcrs: Pcrs,
    pub(crate) certificate: Vec<u8>,
    pub(crate) cabundle: Vec<Vec<u8>>,
    pub(crate) public_key: Option<Vec<u8>>,
    pub(crate) user_data: Option<Vec<u8>>,
    pub(crate) nonce: Option<Vec<u8>>,
}

impl AttestationDocument {
    /// The enclave module id (e.g. `i-0f…-enc01…`).
    pub fn module_id(&self) -> &str {
        &self.module_id
    }

    /// Creation time, milliseconds since the Unix epoch.
    pub fn timestamp_ms(&self) -> u64 {
        self.timestamp_ms
    }

    /// The PCRs.
    pub fn pcrs(&self) -> &Pcrs {
        &self.pcrs
    }

    /// The leaf certificate (DER).
    pub fn certificate(&self) -> &[u8] {
        &self.certificate
    }

    /// The CA bundle (DER), root first.
    pub fn cabundle(&self) -> &[Vec<u8>] {
        &self.cabundle
    }

    /// The optional public key the enclave put in the document.
    pub fn public_key(&self) -> Option<&[u8]> {
        self.public_key.as_deref()
    }

    /// The optional user data the enclave put in the document.
    pub fn user_data(&self) -> Option<&[u8]> {
        self.user_data.as_deref()
    }

    /// The optional nonce the enclave put in the document.
    pub fn nonce(&self) -> Option<&[u8]> {
        self.nonce.as_deref()
    }

    /// Decodes the payload of a COSE_Sign1 envelope.
    pub(crate) fn decode(payload: &[u8]) -> Result<Self, AttestationError> {
        let mut reader = Reader::new(payload);
        let pairs = reader.map().map_err(AttestationError::document)?;
        let mut fields = Fields::default();
        for _ in 0..pairs {
            let key = reader.text().map_err(AttestationError::document)?;
            match key {
                "module_id" => {
                    let value = reader
                        .text()
                        .map_err(AttestationError::field("module_id"))?;
                    check_size("module_id", value.len(), 1, MAX_MODULE_ID_LEN)?;
                    set(&mut fields.module_id, "module_id", value.to_owned())?;
                }
                "digest" => {
                    let value = reader.text().map_err(AttestationError::field("digest"))?;
                    if value != "SHA384" {
                        return Err(AttestationError::Digest {
                            found: value.to_owned(),
                        });
                    }
                    set(&mut fields.digest, "digest", ())?;
                }
                "timestamp" => {
                    let value = reader
                        .unsigned()
                        .map_err(AttestationError::field("timestamp"))?;
                    if value == 0 {
                        return Err(AttestationError::ZeroTimestamp);
                    }
                    set(&mut fields.timestamp, "timestamp", value)?;
                }
                "pcrs" => {
                    let value = decode_pcrs(&mut reader)?;
                    set(&mut fields.pcrs, "pcrs", value)?;
                }
                "certificate" => {
                    let value = reader
                        .bytes()
                        .map_err(AttestationError::field("certificate"))?;
                    check_size("certificate", value.len(), 1, MAX_CERTIFICATE_LEN)?;
                    set(&mut fields.certificate, "certificate", value.to_vec())?;
                }
                "cabundle" => {
                    let value = decode_cabundle(&mut reader)?;
                    set(&mut fields.cabundle, "cabundle", value)?;
                }
                "public_key" => {
                    let value = optional_bytes(&mut reader, "public_key", 1)?;
                    set(&mut fields.public_key, "public_key", value)?;
                }
                "user_data" => {
                    let value = optional_bytes(&mut reader, "user_data", 0)?;
                    set(&mut fields.user_data, "user_data", value)?;
                }
                "nonce" => {
                    let value = optional_bytes(&mut reader, "nonce", 0)?;
                    set(&mut fields.nonce, "nonce", value)?;
                }
                _ => reader.skip().map_err(AttestationError::document)?,
            }
        }
        reader.finish().map_err(AttestationError::document)?;
        fields.finish()
    }
}

/// Fields as they are found, before the mandatory ones are checked.
#[derive(Default)]
struct Fields {
    module_id: Option<String>,
    digest: Option<()>,
    timestamp: Option<u64>,
    pcrs: Option<Pcrs>,
    certificate: Option<Vec<u8>>,
    cabundle: Option<Vec<Vec<u8>>>,
    public_key: Option<Option<Vec<u8>>>,
    user_data: Option<Option<Vec<u8>>>,
    nonce: Option<Option<Vec<u8>>>,
}

impl Fields {
    fn finish(self) -> Result<AttestationDocument, AttestationError> {
        fn required<T>(value: Option<T>, field: &'static str) -> Result<T, AttestationError> {
            value.ok_or(AttestationError::MissingField { field })
        }
        required(self.digest, "digest")?;
        Ok(AttestationDocument {
            module_id: required(self.module_id, "module_id")?,
            timestamp_ms: required(self.timestamp, "timestamp")?,
            pcrs: required(self.pcrs, "pcrs")?,
            certificate: required(self.certificate, "certificate")?,
            cabundle: required(self.cabundle, "cabundle")?,
            public_key: self.public_key.flatten(),
            user_data: self.user_data.flatten(),
            nonce: self.nonce.flatten(),
        })
    }
}

fn set<T>(slot: &mut Option<T>, field: &'static str, value: T) -> Result<(), AttestationError> {
    if slot.is_some() {
        return Err(AttestationError::DuplicateField { field });
    }
    *slot = Some(value);
    Ok(())
}

fn check_size(
    field: &'static str,
    len: usize,
    min: usize,
    max: usize,
) -> Result<(), AttestationError> {
    if (min..=max).contains(&len) {
        Ok(())
    } else {
        Err(AttestationError::FieldSize {
            field,
            len,
            min,
            max,
        })
    }
}

/// Converts a CBOR count to `usize` for a size check (saturating: a count
/// too large for `usize` is out of range anyway).
fn count(value: u64) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

fn optional_bytes(
    reader: &mut Reader<'_>,
    field: &'static str,
    min: usize,
) -> Result<Option<Vec<u8>>, AttestationError> {
    if reader.null() {
        return Ok(None);
    }
    let value = reader.bytes().map_err(AttestationError::field(field))?;
    check_size(field, value.len(), min, MAX_OPTIONAL_FIELD_LEN)?;
    Ok(Some(value.to_vec()))
}

fn decode_pcrs(reader: &mut Reader<'_>) -> Result<Pcrs, AttestationError> {
    let field = AttestationError::field;
    let entries = reader.map().map_err(field("pcrs"))?;
    check_size("pcrs", count(entries), 1, PCR_COUNT)?;
    let mut pcrs = BTreeMap::new();
    for _ in 0..entries {
        let index = reader.unsigned().map_err(field("pcrs"))?;
        let index = u8::try_from(index)
            .ok()
            .filter(|i| usize::from(*i) < PCR_COUNT)
            .ok_or(AttestationError::PcrIndex { index })?;
        let value = reader.bytes().map_err(field("pcrs"))?;
        let pcr = Pcr::from_slice(value).ok_or(AttestationError::PcrLength {
            index,
            len: value.len(),
        })?;
        if pcrs.insert(index, pcr).is_some() {
            return Err(AttestationError::DuplicatePcr { index });
        }
    }
    Ok(Pcrs(pcrs))
}

fn decode_cabundle(reader: &mut Reader<'_>) -> Result<Vec<Vec<u8>>, AttestationError> {
    let field = AttestationError::field;
    let entries = reader.array().map_err(field("cabundle"))?;
    check_size("cabundle", count(entries), 1, MAX_CABUNDLE)?;
    let mut bundle = Vec::with_capacity(count(entries));
    for _ in 0..entries {
        let certificate = reader.bytes().map_err(field("cabundle"))?;
        check_size("cabundle", certificate.len(), 1, MAX_CERTIFICATE_LEN)?;
        bundle.push(certificate.to_vec());
    }
    Ok(bundle)
}

/// The contents of an attestation document to be encoded and signed: what a
/// development attestation provider fills in to produce a Nitro-format
/// document under a local root (see [`super::TrustRoots`] and
/// [`super::DevRoot`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnsignedDocument {
    /// Module id (1..=256 bytes).
    pub module_id: String,
    /// Creation time, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// PCRs by index (0..=31).
    pub pcrs: BTreeMap<u8, Pcr>,
    /// Leaf certificate (DER) whose P-384 key signs the document.
    pub certificate: Vec<u8>,
    /// CA certificates (DER), root first.
    pub cabundle: Vec<Vec<u8>>,
    /// Optional public key.
    pub public_key: Option<Vec<u8>>,
    /// Optional user data.
    pub user_data: Option<Vec<u8>>,
    /// Optional nonce.
    pub nonce: Option<Vec<u8>>,
}

impl UnsignedDocument {
    /// Encodes the document as the CBOR map the NSM emits (field order as
    /// in real documents; `null` for absent optional fields).
    pub fn encode(&self) -> Vec<u8> {
        let mut writer = Writer::with_capacity(4096);
        writer
            .map(9)
            .text("module_id")
            .text(&self.module_id)
            .text("digest")
            .text("SHA384")
            .text("timestamp")
            .unsigned(self.timestamp_ms)
            .text("pcrs")
            .map(self.pcrs.len());
        for (index, pcr) in &self.pcrs {
            writer.unsigned(u64::from(*index)).bytes(pcr.as_bytes());
        }
        writer
            .text("certificate")
            .bytes(&self.certificate)
            .text("cabundle")
            .array(self.cabundle.len());
        for certificate in &self.cabundle {
            writer.bytes(certificate);
        }
        for (name, value) in [
            ("public_key", &self.public_key),
            ("user_data", &self.user_data),
            ("nonce", &self.nonce),
        ] {
            writer.text(name);
            match value {
                Some(bytes) => writer.bytes(bytes),
                None => writer.null(),
            };
        }
        writer.into_bytes()
    }

    /// Encodes the document and signs it into an untagged COSE_Sign1 with
    /// `leaf_key`, the private key of [`Self::certificate`].
    pub fn sign(&self, leaf_key: &SigningKey) -> Vec<u8> {
        cose::sign_es384(&self.encode(), leaf_key)
    }
}
