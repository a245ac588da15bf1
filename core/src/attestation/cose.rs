//! COSE_Sign1 (RFC 9052) envelopes as produced by the Nitro Secure Module:
//! `[protected: bstr {1: -35}, unprotected: {}, payload: bstr, signature: bstr]`,
//! optionally wrapped in CBOR tag 18, signed with ES384 (raw 96-byte r||s)
//! over the `Sig_structure` `["Signature1", protected, h'', payload]`.

use std::borrow::Cow;

use p384::ecdsa::signature::Signer;
use p384::ecdsa::{Signature, SigningKey};

use super::cbor::{Reader, Writer};
use super::error::AttestationError;
use super::signature::{EcKey, Scheme, SignatureCheck};

/// CBOR tag of COSE_Sign1.
pub const COSE_SIGN1_TAG: u64 = 18;
/// COSE algorithm identifier of ES384 (ECDSA P-384 with SHA-384).
pub const ES384: i64 = -35;
/// Length of a raw ES384 signature (r||s).
pub const ES384_SIGNATURE_LEN: usize = 96;

/// COSE header label of `alg`.
const LABEL_ALG: i64 = 1;
/// COSE header label of `crit`.
const LABEL_CRIT: i64 = 2;

/// A parsed COSE_Sign1 envelope, borrowing from the input bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CoseSign1<'a> {
    pub(crate) protected: &'a [u8],
    pub(crate) payload: &'a [u8],
    pub(crate) signature: &'a [u8],
}

impl<'a> CoseSign1<'a> {
    /// Parses a tagged (18) or untagged COSE_Sign1 and checks that its
    /// protected header selects ES384 and that the signature is 96 bytes.
    pub(crate) fn parse(input: &'a [u8]) -> Result<Self, AttestationError> {
        let mut reader = Reader::new(input);
        let cose = |error| AttestationError::cose("envelope", error);
        if let Some(tag) = reader.optional_tag().map_err(cose)?
            && tag != COSE_SIGN1_TAG
        {
            return Err(AttestationError::CoseTag { tag });
        }
        let items = reader.array().map_err(cose)?;
        if items != 4 {
            return Err(AttestationError::CoseArrayLength { found: items });
        }
        let protected = reader
            .bytes()
            .map_err(|e| AttestationError::cose("protected header", e))?;
        // The unprotected header must be a map; its contents are not used.
        reader
            .map()
            .map_err(|e| AttestationError::cose("unprotected header", e))
            .and_then(|pairs| {
                for _ in 0..pairs {
                    reader
                        .skip()
                        .and_then(|()| reader.skip())
                        .map_err(|e| AttestationError::cose("unprotected header", e))?;
                }
                Ok(())
            })?;
        let payload = reader
            .bytes()
            .map_err(|e| AttestationError::cose("payload", e))?;
        let signature = reader
            .bytes()
            .map_err(|e| AttestationError::cose("signature", e))?;
        reader.finish().map_err(cose)?;

        check_protected_header(protected)?;
        if signature.len() != ES384_SIGNATURE_LEN {
            return Err(AttestationError::SignatureLength {
                len: signature.len(),
            });
        }
        Ok(Self {
            protected,
            payload,
            signature,
        })
    }

    /// The check of the ES384 signature with `key` (the leaf's P-384 key).
    pub(crate) fn signature_check(&self, key: EcKey) -> SignatureCheck<'a> {
        SignatureCheck {
            key,
            scheme: Scheme::Es384,
            message: Cow::Owned(sig_structure(self.protected, self.payload)),
            signature: Cow::Borrowed(self.signature),
            error: AttestationError::SignatureInvalid,
            cache_key: None,
        }
    }
}

/// Checks that the protected header is a map whose `alg` is ES384 and that
/// it marks nothing as critical.
fn check_protected_header(protected: &[u8]) -> Result<(), AttestationError> {
    let header = |error| AttestationError::cose("protected header", error);
    let mut reader = Reader::new(protected);
    let pairs = reader.map().map_err(header)?;
    let mut alg = None;
    for _ in 0..pairs {
        let label = reader.integer().map_err(header)?;
        match label {
            LABEL_ALG => alg = Some(reader.integer().map_err(header)?),
            LABEL_CRIT => return Err(AttestationError::CriticalHeader),
            _ => reader.skip().map_err(header)?,
        }
    }
    reader.finish().map_err(header)?;
    if alg == Some(ES384) {
        Ok(())
    } else {
        Err(AttestationError::UnsupportedAlgorithm { found: alg })
    }
}

/// The bytes an ES384 COSE_Sign1 signature covers:
/// `["Signature1", protected, h'', payload]`.
fn sig_structure(protected: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut writer = Writer::with_capacity(protected.len() + payload.len() + 32);
    writer
        .array(4)
        .text("Signature1")
        .bytes(protected)
        .bytes(&[])
        .bytes(payload);
    writer.into_bytes()
}

/// Wraps `payload` (an encoded attestation document) in an untagged
/// COSE_Sign1 envelope signed with ES384, exactly as the Nitro Secure Module
/// does.
///
/// This is what a development attestation provider uses to produce
/// Nitro-format documents under a local root (see [`super::TrustRoots`]).
pub fn sign_es384(payload: &[u8], key: &SigningKey) -> Vec<u8> {
    let mut protected = Writer::with_capacity(4);
    protected.map(1).integer(LABEL_ALG).integer(ES384);
    let protected = protected.into_bytes();
    let signature: Signature = key.sign(&sig_structure(&protected, payload));
    let mut writer = Writer::with_capacity(payload.len() + 128);
    writer
        .array(4)
        .bytes(&protected)
        .map(0)
        .bytes(payload)
        .bytes(&signature.to_bytes());
    writer.into_bytes()
}
