//! The signed envelope shared by the access token ([`super::token`]) and the
//! worker proof ([`super::worker_proof`]).
//!
//! A payload is the BCS encoding of a struct whose first fields are a domain
//! tag (`String`) and a version (`u8`), signed as a Sui personal message by
//! the owner it names. The wire form is
//!
//! ```text
//! <prefix><base64url(payload)>.<base64url(serialized signature)>
//! ```
//!
//! base64url without padding, the prefix ending in a dot (`daas1.`,
//! `daasw1.`), the serialized signature Sui's
//! `flag || signature || public key`. An [`Envelope`] says which kind it is;
//! each kind's error wraps [`EnvelopeError`].

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sui_sdk_types::Address;

use crate::wallet::{SerializedSignature, SignatureError};

/// One kind of signed envelope: its prefix, domain tag, version and
/// longest wire form.
#[derive(Debug, Clone, Copy)]
pub(super) struct Envelope {
    /// The prefix of the wire form, ending in a dot.
    pub prefix: &'static str,
    /// The domain tag that starts every payload.
    pub domain: &'static str,
    /// The payload version written and accepted.
    pub version: u8,
    /// The longest wire form accepted, in bytes.
    pub max_len: usize,
}

/// Why a signed envelope (an access token, a worker proof, an agent
/// request) could not be made, opened or verified: what every kind shares.
/// Each kind's error wraps it and names the kind.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// The wire form is not `<prefix><payload>.<signature>` with valid
    /// base64url and a payload that decodes, for this reason.
    #[error("malformed: {0}")]
    Malformed(String),
    /// The payload does not start with the kind's domain tag: it is another
    /// kind of credential, or none.
    #[error("the payload's domain tag is not this kind's")]
    WrongDomain,
    /// The payload version is not the supported one.
    #[error("version {got} is not supported (expected {expected})")]
    UnsupportedVersion {
        /// The version found.
        got: u8,
        /// The version supported.
        expected: u8,
    },
    /// The signature is malformed or does not verify over the payload.
    #[error("the signature is invalid: {0}")]
    InvalidSignature(#[source] SignatureError),
    /// The signature verifies, but the signing key is not the owner claimed.
    #[error("signed by {signer}, not by its owner {owner}")]
    SignerIsNotOwner {
        /// The address of the signing key.
        signer: Address,
        /// The owner claimed.
        owner: Address,
    },
    /// The signer failed.
    #[error("signing failed: {0}")]
    Signing(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Issued later than now plus the allowed clock skew.
    #[error("issued at {issued_at} (unix s), in the future; now is {now}")]
    IssuedInFuture {
        /// Its `issued_at` claim.
        issued_at: u64,
        /// The verifier's time.
        now: u64,
    },
    /// Older than the verifier accepts.
    #[error(
        "stale: issued at {issued_at} (unix s), {age} s ago, more than the {max_age} s allowed"
    )]
    Stale {
        /// Its `issued_at` claim.
        issued_at: u64,
        /// Seconds since then.
        age: u64,
        /// The largest age accepted, in seconds.
        max_age: u64,
    },
}

impl EnvelopeError {
    /// Whether the input is not a well-formed envelope of the kind at all
    /// (as opposed to one that does not prove what it must).
    #[must_use]
    pub fn is_malformed(&self) -> bool {
        matches!(
            self,
            Self::Malformed(_) | Self::WrongDomain | Self::UnsupportedVersion { .. }
        )
    }
}

/// Checks that `issued_at` is not later than `now` plus `skew`.
///
/// # Errors
/// [`EnvelopeError::IssuedInFuture`].
pub(super) fn check_issued(issued_at: u64, now: u64, skew: Duration) -> Result<(), EnvelopeError> {
    if issued_at > now.saturating_add(skew.as_secs()) {
        return Err(EnvelopeError::IssuedInFuture { issued_at, now });
    }
    Ok(())
}

/// Checks that `issued_at` is neither in the future (beyond `skew`) nor
/// more than `max_age` before `now`: a single-use credential's window.
///
/// # Errors
/// [`EnvelopeError::IssuedInFuture`], [`EnvelopeError::Stale`].
pub(super) fn check_fresh(
    issued_at: u64,
    now: u64,
    max_age: Duration,
    skew: Duration,
) -> Result<(), EnvelopeError> {
    check_issued(issued_at, now, skew)?;
    let age = now.saturating_sub(issued_at);
    if age > max_age.as_secs() {
        return Err(EnvelopeError::Stale {
            issued_at,
            age,
            max_age: max_age.as_secs(),
        });
    }
    Ok(())
}

/// The canonical BCS bytes of `payload`.
///
/// # Errors
/// [`EnvelopeError::Malformed`] if BCS fails.
pub(super) fn encode<P: Serialize>(payload: &P) -> Result<Vec<u8>, EnvelopeError> {
    bcs::to_bytes(payload)
        .map_err(|e| EnvelopeError::Malformed(format!("cannot encode the payload: {e}")))
}

/// Checks that `signer`, the address of a signing key, is `owner`.
///
/// # Errors
/// [`EnvelopeError::SignerIsNotOwner`].
pub(super) fn check_signer(signer: Address, owner: Address) -> Result<(), EnvelopeError> {
    if signer == owner {
        Ok(())
    } else {
        Err(EnvelopeError::SignerIsNotOwner { signer, owner })
    }
}

impl Envelope {
    /// Signs `payload` as a personal message with `sign`, checks that the
    /// signature verifies and comes from `owner`, and gives the wire form.
    ///
    /// # Errors
    /// [`EnvelopeError::Signing`] (the signer's error),
    /// [`EnvelopeError::InvalidSignature`],
    /// [`EnvelopeError::SignerIsNotOwner`].
    pub(super) fn seal<F, E>(
        &self,
        payload: &[u8],
        owner: Address,
        sign: F,
    ) -> Result<String, EnvelopeError>
    where
        F: FnOnce(&[u8]) -> Result<SerializedSignature, E>,
        E: std::error::Error + Send + Sync + 'static,
    {
        let signature = sign(payload).map_err(|e| EnvelopeError::Signing(Box::new(e)))?;
        let signer = signature
            .verify_personal_message(payload)
            .map_err(EnvelopeError::InvalidSignature)?;
        check_signer(signer, owner)?;
        Ok(format!(
            "{}{}.{}",
            self.prefix,
            B64URL.encode(payload),
            B64URL.encode(signature.as_bytes())
        ))
    }

    /// Parses the wire form: length, prefix, three parts, strict
    /// base64url, then the payload (domain tag, version, BCS layout `P`,
    /// turned into claims by `claims_of`), then the signature's shape.
    /// Nothing is verified yet: see [`Opened::verify`].
    ///
    /// # Errors
    /// [`EnvelopeError::Malformed`], [`EnvelopeError::WrongDomain`],
    /// [`EnvelopeError::UnsupportedVersion`], `claims_of`'s error,
    /// [`EnvelopeError::InvalidSignature`] for a signature of the wrong
    /// shape.
    pub(super) fn open<P, C, X>(
        &self,
        wire: &str,
        claims_of: impl FnOnce(P) -> Result<C, X>,
    ) -> Result<Opened<C>, X>
    where
        P: DeserializeOwned,
        X: From<EnvelopeError>,
    {
        let (payload, signature) = self.split(wire)?;
        let claims = claims_of(self.decode(&payload)?)?;
        let signature =
            SerializedSignature::from_bytes(&signature).map_err(EnvelopeError::InvalidSignature)?;
        Ok(Opened {
            claims,
            payload,
            signature,
        })
    }

    /// Splits the wire form and decodes the payload and signature bytes.
    fn split(&self, wire: &str) -> Result<(Vec<u8>, Vec<u8>), EnvelopeError> {
        let prefix = self.prefix;
        if wire.len() > self.max_len {
            return Err(malformed(format!("longer than {} bytes", self.max_len)));
        }
        let rest = wire
            .strip_prefix(prefix)
            .ok_or_else(|| malformed(format!("does not start with `{prefix}`")))?;
        let (payload, signature) = rest
            .split_once('.')
            .ok_or_else(|| malformed(format!("expected `{prefix}<payload>.<signature>`")))?;
        if signature.contains('.') {
            return Err(malformed("more than three dot-separated parts".to_owned()));
        }
        Ok((
            decode_part(payload, "payload")?,
            decode_part(signature, "signature")?,
        ))
    }

    /// Checks the domain tag and version, then decodes the whole payload.
    fn decode<P: DeserializeOwned>(&self, payload: &[u8]) -> Result<P, EnvelopeError> {
        if payload.is_empty() {
            return Err(malformed("the payload is empty".to_owned()));
        }
        let tag = bcs::to_bytes(self.domain)
            .map_err(|e| malformed(format!("cannot encode the domain tag: {e}")))?;
        let Some(after_tag) = payload.strip_prefix(tag.as_slice()) else {
            return Err(EnvelopeError::WrongDomain);
        };
        match after_tag.first() {
            None => Err(malformed("the payload is truncated".to_owned())),
            Some(&got) if got != self.version => Err(EnvelopeError::UnsupportedVersion {
                got,
                expected: self.version,
            }),
            Some(_) => bcs::from_bytes(payload)
                .map_err(|e| malformed(format!("the payload does not decode: {e}"))),
        }
    }
}

fn malformed(reason: String) -> EnvelopeError {
    EnvelopeError::Malformed(reason)
}

fn decode_part(part: &str, what: &str) -> Result<Vec<u8>, EnvelopeError> {
    B64URL
        .decode(part)
        .map_err(|e| malformed(format!("the {what} is not base64url: {e}")))
}

/// Claims opened from an envelope, with the payload bytes and signature
/// they came in. Nothing is verified yet.
#[derive(Clone)]
pub(super) struct Opened<C> {
    claims: C,
    payload: Vec<u8>,
    signature: SerializedSignature,
}

impl<C> Opened<C> {
    /// The claims as written, not vouched for by anyone.
    pub(super) fn claims(&self) -> &C {
        &self.claims
    }

    /// Verifies the signature over the payload and that the signing key's
    /// address is `owner`.
    ///
    /// # Errors
    /// [`EnvelopeError::InvalidSignature`],
    /// [`EnvelopeError::SignerIsNotOwner`].
    pub(super) fn verify(&self, owner: Address) -> Result<(), EnvelopeError> {
        let signer = self
            .signature
            .verify_personal_message(&self.payload)
            .map_err(EnvelopeError::InvalidSignature)?;
        check_signer(signer, owner)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::wallet::{Keypair, Scheme};

    const TEST: Envelope = Envelope {
        prefix: "test1.",
        domain: "k3s-daas/test/v1",
        version: 3,
        max_len: 256,
    };

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Payload {
        domain: String,
        version: u8,
        owner: Address,
    }

    fn payload(key: &Keypair) -> Payload {
        Payload {
            domain: TEST.domain.to_owned(),
            version: TEST.version,
            owner: key.address(),
        }
    }

    fn open(wire: &str) -> Result<Opened<Payload>, EnvelopeError> {
        TEST.open(wire, Ok::<_, EnvelopeError>)
    }

    #[test]
    fn seals_opens_and_verifies() {
        let key = Keypair::from_bytes(Scheme::Ed25519, &[1; 32]).unwrap();
        let bytes = encode(&payload(&key)).unwrap();
        let wire = TEST
            .seal(&bytes, key.address(), |m| key.sign_personal_message(m))
            .unwrap();
        assert!(wire.starts_with("test1."));
        let opened = open(&wire).unwrap();
        assert_eq!(opened.claims(), &payload(&key));
        assert!(opened.verify(key.address()).is_ok());
        let other = Address::new([9; 32]);
        assert!(matches!(
            opened.verify(other),
            Err(EnvelopeError::SignerIsNotOwner { .. })
        ));
        assert!(matches!(
            TEST.seal(&bytes, other, |m| key.sign_personal_message(m)),
            Err(EnvelopeError::SignerIsNotOwner { .. })
        ));
    }

    #[test]
    fn the_kind_decides_prefix_length_domain_and_version() {
        let key = Keypair::from_bytes(Scheme::Ed25519, &[2; 32]).unwrap();
        let wire = |payload: &Payload| {
            let bytes = encode(payload).unwrap();
            let signature = key.sign_personal_message(&bytes).unwrap();
            format!(
                "test1.{}.{}",
                B64URL.encode(&bytes),
                B64URL.encode(signature.as_bytes())
            )
        };
        let message = |wire: &str| match open(wire) {
            Err(EnvelopeError::Malformed(reason)) => reason,
            other => panic!("{:?}", other.map(|o| o.claims)),
        };
        assert!(message("daas1.AA.AA").contains("does not start with `test1.`"));
        assert!(message("test1.AA").contains("expected `test1.<payload>.<signature>`"));
        assert!(message(&"x".repeat(257)).contains("longer than 256 bytes"));
        let mut other_domain = payload(&key);
        other_domain.domain = "k3s-daas/other/v1".to_owned();
        assert!(matches!(
            open(&wire(&other_domain)),
            Err(EnvelopeError::WrongDomain)
        ));
        let mut other_version = payload(&key);
        other_version.version = 1;
        assert!(matches!(
            open(&wire(&other_version)),
            Err(EnvelopeError::UnsupportedVersion { got: 1, .. })
        ));
    }
}
