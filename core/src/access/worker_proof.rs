//! The worker proof: a signed, timestamped, single-use statement by the
//! owner of a worker seal token that a node may join (or is alive).
//!
//! # Format (`docs/worker-proof.md`)
//!
//! The signed payload is the BCS encoding of
//!
//! ```text
//! struct Payload {
//!     domain: String,        // "k3s-daas/worker-proof/v1"
//!     version: u8,           // 1
//!     purpose: u8,           // 0 = register, 1 = heartbeat, 2 = drain
//!     seal_token: address,   // the worker seal token's object id
//!     owner: address,        // the signer's Sui address
//!     node_id: String,       // the node's name (the token's node id), a NodeName
//!     audience: String,      // the cluster
//!     issued_at: u64,        // unix seconds
//!     nonce: [u8; 16],       // random
//! }
//! ```
//!
//! signed as a Sui personal message in the same envelope as the access
//! token ([`super::token`], the private `envelope` module), whose domain tag
//! differs so neither can pass for the other. The wire form is
//!
//! ```text
//! daasw1.<base64url(payload)>.<base64url(serialized signature)>
//! ```
//!
//! A proof has no expiry of its own: the verifier refuses one older than
//! its `max_age` or issued in the future beyond its clock skew, and the
//! master makes a register proof single-use by its nonce and heartbeat
//! proofs monotonic by `issued_at`.

use std::fmt;
use std::time::Duration;

use rand::RngCore as _;
use sui_sdk_types::Address;

use super::envelope::{self, Envelope, EnvelopeError, Opened};
use super::node_name::{NodeName, NodeNameError};
use crate::package::SealTokenId;
use crate::wallet::{Keypair, SerializedSignature};

/// The domain tag that starts every signed payload.
pub const DOMAIN: &str = "k3s-daas/worker-proof/v1";
/// The payload version this code writes and accepts.
pub const VERSION: u8 = 1;
/// The prefix of the wire form.
pub const PREFIX: &str = "daasw1.";
/// The longest audience, in bytes.
pub const MAX_AUDIENCE_LEN: usize = 512;
/// The longest wire form accepted by [`WorkerProof::parse`], in bytes.
pub const MAX_PROOF_LEN: usize = 4096;
/// Bytes of the random nonce.
pub const NONCE_LEN: usize = 16;

/// The worker proof's kind of signed envelope.
const ENVELOPE: Envelope = Envelope {
    prefix: PREFIX,
    domain: DOMAIN,
    version: VERSION,
    max_len: MAX_PROOF_LEN,
};

/// What a proof may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// `POST /api/v1/register-worker` (code 0).
    Register,
    /// `POST /api/v1/nodes/heartbeat` (code 1).
    Heartbeat,
    /// `POST /api/v1/nodes/{node}/drain`: the owner asks the master to
    /// cordon and drain the node before unstaking (code 2).
    Drain,
}

impl Purpose {
    /// The payload code.
    pub const fn code(self) -> u8 {
        match self {
            Self::Register => 0,
            Self::Heartbeat => 1,
            Self::Drain => 2,
        }
    }

    /// The purpose of a payload code.
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Self::Register),
            1 => Some(Self::Heartbeat),
            2 => Some(Self::Drain),
            _ => None,
        }
    }

    /// `"register"` or `"heartbeat"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::Heartbeat => "heartbeat",
            Self::Drain => "drain",
        }
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a proof could not be made, parsed or verified.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkerProofError {
    /// Not a well-formed, validly signed envelope (see [`EnvelopeError`]).
    #[error("worker proof: {0}")]
    Envelope(#[from] EnvelopeError),
    /// The purpose code is not register (0), heartbeat (1) or drain (2).
    #[error("worker proof purpose {got} is unknown (0 register, 1 heartbeat, 2 drain)")]
    UnknownPurpose {
        /// The code found.
        got: u8,
    },
    /// The proof is for another purpose than the endpoint's.
    #[error("the worker proof is for {got}, this endpoint needs a {expected} proof")]
    WrongPurpose {
        /// What the endpoint needs.
        expected: Purpose,
        /// What the proof says.
        got: Purpose,
    },
    /// The proof is meant for another cluster.
    #[error("the worker proof is for audience `{got}`, expected `{expected}`")]
    WrongAudience {
        /// The audience the verifier serves.
        expected: String,
        /// The audience in the proof.
        got: String,
    },
    /// The audience is empty, too long or has control characters.
    #[error("invalid audience: {0}")]
    InvalidAudience(&'static str),
    /// The node id is not a node name the master admits.
    #[error("invalid node id: {0}")]
    InvalidNodeId(#[source] NodeNameError),
}

/// What a proof says. Only [`VerifiedWorkerProof::claims`] is vouched for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerClaims {
    /// What the proof is for.
    pub purpose: Purpose,
    /// The worker seal token.
    pub seal_token: SealTokenId,
    /// The address that signs and must own the seal token.
    pub owner: Address,
    /// The node's name, equal to the seal token's node id.
    pub node_id: NodeName,
    /// The cluster the proof is for.
    pub audience: String,
    /// When the proof was made (unix seconds).
    pub issued_at: u64,
    /// Random bytes that make every proof distinct.
    pub nonce: [u8; NONCE_LEN],
}

impl WorkerClaims {
    /// Claims for a new proof issued at `issued_at` (unix seconds) with a
    /// fresh random nonce.
    ///
    /// # Errors
    /// [`WorkerProofError::InvalidAudience`].
    pub fn new(
        purpose: Purpose,
        seal_token: SealTokenId,
        owner: Address,
        node_id: NodeName,
        audience: impl Into<String>,
        issued_at: u64,
    ) -> Result<Self, WorkerProofError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let claims = Self {
            purpose,
            seal_token,
            owner,
            node_id,
            audience: audience.into(),
            issued_at,
            nonce,
        };
        claims.check_shape()?;
        Ok(claims)
    }

    /// Checks what does not depend on time or signature (the node id is
    /// checked by its type).
    fn check_shape(&self) -> Result<(), WorkerProofError> {
        check_text(&self.audience, MAX_AUDIENCE_LEN).map_err(WorkerProofError::InvalidAudience)
    }
}

fn check_text(text: &str, max: usize) -> Result<(), &'static str> {
    if text.is_empty() {
        return Err("it is empty");
    }
    if text.len() > max {
        return Err("it is too long");
    }
    if text.chars().any(char::is_control) {
        return Err("it contains control characters");
    }
    Ok(())
}

/// The BCS layout of the signed payload (see the module documentation).
#[derive(serde::Serialize, serde::Deserialize)]
struct Payload {
    domain: String,
    version: u8,
    purpose: u8,
    seal_token: SealTokenId,
    owner: Address,
    node_id: String,
    audience: String,
    issued_at: u64,
    nonce: [u8; NONCE_LEN],
}

impl Payload {
    fn of(claims: &WorkerClaims) -> Self {
        Self {
            domain: DOMAIN.to_owned(),
            version: VERSION,
            purpose: claims.purpose.code(),
            seal_token: claims.seal_token,
            owner: claims.owner,
            node_id: claims.node_id.to_string(),
            audience: claims.audience.clone(),
            issued_at: claims.issued_at,
            nonce: claims.nonce,
        }
    }

    fn into_claims(self) -> Result<WorkerClaims, WorkerProofError> {
        let purpose = Purpose::from_code(self.purpose)
            .ok_or(WorkerProofError::UnknownPurpose { got: self.purpose })?;
        let node_id = self
            .node_id
            .parse()
            .map_err(WorkerProofError::InvalidNodeId)?;
        Ok(WorkerClaims {
            purpose,
            seal_token: self.seal_token,
            owner: self.owner,
            node_id,
            audience: self.audience,
            issued_at: self.issued_at,
            nonce: self.nonce,
        })
    }
}

/// The canonical bytes that are signed for `claims`.
///
/// # Errors
/// [`EnvelopeError::Malformed`] if BCS fails (it cannot for these types).
pub fn signing_bytes(claims: &WorkerClaims) -> Result<Vec<u8>, WorkerProofError> {
    Ok(envelope::encode(&Payload::of(claims))?)
}

/// A signed worker proof in its wire form. It is a single-use credential:
/// `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct WorkerProof(String);

impl WorkerProof {
    /// Signs `claims` with `key`, whose address must be `claims.owner`.
    ///
    /// # Errors
    /// [`EnvelopeError::SignerIsNotOwner`], invalid claims,
    /// [`EnvelopeError::Signing`].
    pub fn sign(key: &Keypair, claims: &WorkerClaims) -> Result<Self, WorkerProofError> {
        envelope::check_signer(key.address(), claims.owner)?;
        Self::sign_with(claims, |message| key.sign_personal_message(message))
    }

    /// Signs `claims` with any personal-message signer. The signature is
    /// checked to come from `claims.owner`.
    ///
    /// # Errors
    /// Invalid claims, [`EnvelopeError::Signing`],
    /// [`EnvelopeError::SignerIsNotOwner`].
    pub fn sign_with<F, E>(claims: &WorkerClaims, sign: F) -> Result<Self, WorkerProofError>
    where
        F: FnOnce(&[u8]) -> Result<SerializedSignature, E>,
        E: std::error::Error + Send + Sync + 'static,
    {
        claims.check_shape()?;
        let payload = signing_bytes(claims)?;
        Ok(Self(ENVELOPE.seal(&payload, claims.owner, sign)?))
    }

    /// Parses the wire form and checks its format (prefix, base64url,
    /// domain tag, version, purpose, BCS layout, signature shape). Nothing
    /// is verified yet: see [`UnverifiedWorkerProof::verify`].
    ///
    /// # Errors
    /// [`EnvelopeError::Malformed`], [`EnvelopeError::WrongDomain`],
    /// [`EnvelopeError::UnsupportedVersion`],
    /// [`WorkerProofError::UnknownPurpose`],
    /// [`EnvelopeError::InvalidSignature`] for a signature of the wrong
    /// shape.
    pub fn parse(proof: &str) -> Result<UnverifiedWorkerProof, WorkerProofError> {
        let opened = ENVELOPE.open(proof, Payload::into_claims)?;
        Ok(UnverifiedWorkerProof { opened })
    }

    /// The wire form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The wire form, by value.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Debug for WorkerProof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WorkerProof(..)")
    }
}

/// A proof whose format is valid but whose signature and claims are not
/// checked yet.
#[derive(Clone)]
pub struct UnverifiedWorkerProof {
    opened: Opened<WorkerClaims>,
}

impl UnverifiedWorkerProof {
    /// The claims as written, not vouched for by anyone.
    pub fn unverified_claims(&self) -> &WorkerClaims {
        self.opened.claims()
    }

    /// Verifies the proof for a verifier serving `audience` at `now` (unix
    /// seconds): at most `max_age` old and not issued after `now + skew`.
    ///
    /// Checks, cheapest first: the audience's shape, the audience, the
    /// times, then the signature over the payload and that the signing
    /// key's address is the `owner` claim. (The node id was checked when
    /// the proof was parsed.)
    ///
    /// # Errors
    /// [`WorkerProofError::InvalidAudience`],
    /// [`WorkerProofError::WrongAudience`],
    /// [`EnvelopeError::IssuedInFuture`], [`EnvelopeError::Stale`],
    /// [`EnvelopeError::InvalidSignature`],
    /// [`EnvelopeError::SignerIsNotOwner`].
    pub fn verify(
        &self,
        audience: &str,
        now: u64,
        max_age: Duration,
        skew: Duration,
    ) -> Result<VerifiedWorkerProof, WorkerProofError> {
        let claims = self.opened.claims();
        claims.check_shape()?;
        if claims.audience != audience {
            return Err(WorkerProofError::WrongAudience {
                expected: audience.to_owned(),
                got: claims.audience.clone(),
            });
        }
        envelope::check_fresh(claims.issued_at, now, max_age, skew)?;
        self.opened.verify(claims.owner)?;
        Ok(VerifiedWorkerProof {
            claims: claims.clone(),
        })
    }
}

impl fmt::Debug for UnverifiedWorkerProof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnverifiedWorkerProof")
            .field("claims", self.opened.claims())
            .finish_non_exhaustive()
    }
}

/// A proof whose signature, owner, audience and age were verified. Only
/// [`UnverifiedWorkerProof::verify`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedWorkerProof {
    claims: WorkerClaims,
}

impl VerifiedWorkerProof {
    /// The verified claims.
    pub fn claims(&self) -> &WorkerClaims {
        &self.claims
    }

    /// Returns the proof if it is for `expected`.
    ///
    /// # Errors
    /// [`WorkerProofError::WrongPurpose`].
    pub fn require(self, expected: Purpose) -> Result<Self, WorkerProofError> {
        if self.claims.purpose == expected {
            Ok(self)
        } else {
            Err(WorkerProofError::WrongPurpose {
                expected,
                got: self.claims.purpose,
            })
        }
    }

    /// The seal token the proof is made through.
    pub fn seal_token(&self) -> SealTokenId {
        self.claims.seal_token
    }

    /// The address whose key signed the proof (equal to the owner claim).
    pub fn signer(&self) -> Address {
        self.claims.owner
    }

    /// The node the proof is for.
    pub fn node_id(&self) -> &NodeName {
        &self.claims.node_id
    }

    /// When the proof was made (unix seconds).
    pub fn issued_at(&self) -> u64 {
        self.claims.issued_at
    }

    /// The proof's nonce.
    pub fn nonce(&self) -> [u8; NONCE_LEN] {
        self.claims.nonce
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;

    use super::*;
    use crate::wallet::Scheme;

    const AUDIENCE: &str = "https://cluster.example:6443";
    const NOW: u64 = 1_800_000_000;
    const MAX_AGE: Duration = Duration::from_secs(60);
    const SKEW: Duration = Duration::from_secs(30);

    fn key(seed: u8) -> Keypair {
        Keypair::from_bytes(Scheme::Ed25519, &[seed; 32]).unwrap()
    }

    fn claims(key: &Keypair, purpose: Purpose, issued_at: u64) -> WorkerClaims {
        WorkerClaims::new(
            purpose,
            SealTokenId::new(Address::new([7; 32])),
            key.address(),
            "worker-1".parse().unwrap(),
            AUDIENCE,
            issued_at,
        )
        .unwrap()
    }

    fn verify(wire: &str, now: u64) -> Result<VerifiedWorkerProof, WorkerProofError> {
        WorkerProof::parse(wire)?.verify(AUDIENCE, now, MAX_AGE, SKEW)
    }

    fn with_payload(wire: &str, edit: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut parts = wire.trim_start_matches(PREFIX).split('.');
        let mut payload = B64URL.decode(parts.next().unwrap()).unwrap();
        edit(&mut payload);
        format!(
            "{PREFIX}{}.{}",
            B64URL.encode(payload),
            parts.next().unwrap()
        )
    }

    #[test]
    fn signs_and_verifies_with_every_scheme() {
        for scheme in Scheme::ALL {
            let key = Keypair::generate(scheme);
            for purpose in [Purpose::Register, Purpose::Heartbeat, Purpose::Drain] {
                let claims = claims(&key, purpose, NOW);
                let proof = WorkerProof::sign(&key, &claims).unwrap();
                assert!(proof.as_str().starts_with(PREFIX));
                assert_eq!(format!("{proof:?}"), "WorkerProof(..)");
                let verified = verify(proof.as_str(), NOW + 5).unwrap();
                assert_eq!(verified.claims(), &claims);
                assert_eq!(verified.signer(), key.address());
                assert_eq!(verified.node_id(), "worker-1");
                assert!(verified.clone().require(purpose).is_ok());
            }
        }
    }

    #[test]
    fn purpose_codes_round_trip() {
        for purpose in [Purpose::Register, Purpose::Heartbeat, Purpose::Drain] {
            assert_eq!(Purpose::from_code(purpose.code()), Some(purpose));
        }
        assert_eq!(Purpose::Drain.code(), 2);
        assert_eq!(Purpose::from_code(3), None);
    }

    #[test]
    fn the_wrong_purpose_is_named() {
        let key = key(1);
        let proof = WorkerProof::sign(&key, &claims(&key, Purpose::Heartbeat, NOW)).unwrap();
        let error = verify(proof.as_str(), NOW)
            .unwrap()
            .require(Purpose::Register)
            .unwrap_err();
        assert!(error.to_string().contains("is for heartbeat"), "{error}");
    }

    #[test]
    fn stale_and_future_proofs_are_refused() {
        let key = key(2);
        let proof = WorkerProof::sign(&key, &claims(&key, Purpose::Register, NOW)).unwrap();
        assert!(verify(proof.as_str(), NOW + 60).is_ok());
        let stale = verify(proof.as_str(), NOW + 61).unwrap_err();
        assert!(
            matches!(
                stale,
                WorkerProofError::Envelope(EnvelopeError::Stale { age: 61, .. })
            ),
            "{stale}"
        );
        assert!(stale.to_string().contains("stale"));
        assert!(verify(proof.as_str(), NOW - 30).is_ok());
        let future = verify(proof.as_str(), NOW - 31).unwrap_err();
        assert!(
            matches!(
                future,
                WorkerProofError::Envelope(EnvelopeError::IssuedInFuture { .. })
            ),
            "{future}"
        );
    }

    #[test]
    fn forged_proofs_are_refused() {
        let owner = key(3);
        let thief = key(4);
        let claims = claims(&owner, Purpose::Register, NOW);
        assert!(matches!(
            WorkerProof::sign(&thief, &claims),
            Err(WorkerProofError::Envelope(
                EnvelopeError::SignerIsNotOwner { .. }
            ))
        ));
        // Signed by the thief over claims naming the owner.
        let forged = WorkerProof::sign_with(&claims, |m| thief.sign_personal_message(m));
        assert!(matches!(
            forged,
            Err(WorkerProofError::Envelope(
                EnvelopeError::SignerIsNotOwner { .. }
            ))
        ));
        let thief_claims = WorkerClaims {
            owner: thief.address(),
            ..claims.clone()
        };
        let thief_proof = WorkerProof::sign(&thief, &thief_claims).unwrap();
        let owner_proof = WorkerProof::sign(&owner, &claims).unwrap();
        // The owner's payload with the thief's signature.
        let (payload, _) = owner_proof.as_str().rsplit_once('.').unwrap();
        let (_, signature) = thief_proof.as_str().rsplit_once('.').unwrap();
        let error = verify(&format!("{payload}.{signature}"), NOW).unwrap_err();
        assert!(
            matches!(
                error,
                WorkerProofError::Envelope(EnvelopeError::InvalidSignature(_))
            ),
            "{error}"
        );
        // A changed byte of the payload (the node id's last letter).
        let tampered = with_payload(owner_proof.as_str(), |p| {
            let at = p.len() - 16 - 8 - AUDIENCE.len() - 2;
            p[at] = b'2';
        });
        let error = verify(&tampered, NOW).unwrap_err();
        assert!(
            matches!(
                error,
                WorkerProofError::Envelope(EnvelopeError::InvalidSignature(_))
            ),
            "{error}"
        );
    }

    #[test]
    fn another_audience_is_refused() {
        let key = key(5);
        let proof = WorkerProof::sign(&key, &claims(&key, Purpose::Register, NOW)).unwrap();
        let error = WorkerProof::parse(proof.as_str())
            .unwrap()
            .verify("https://other:6443", NOW, MAX_AGE, SKEW)
            .unwrap_err();
        assert!(
            matches!(error, WorkerProofError::WrongAudience { .. }),
            "{error}"
        );
    }

    #[test]
    fn malformed_wire_forms_name_the_problem() {
        let key = key(6);
        let good = WorkerProof::sign(&key, &claims(&key, Purpose::Register, NOW)).unwrap();
        let good = good.as_str();
        let access_like = good.replacen(PREFIX, "daas1.", 1);
        let cases: Vec<(String, &str)> = vec![
            (String::new(), "does not start"),
            (access_like, "does not start"),
            ("daasw1.abc".to_owned(), "expected `daasw1."),
            (format!("{good}.x"), "more than three"),
            ("daasw1.!!.AA".to_owned(), "not base64url"),
            (
                format!("daasw1..{}", good.rsplit_once('.').unwrap().1),
                "empty",
            ),
            ("x".repeat(MAX_PROOF_LEN + 1), "longer than"),
            (
                with_payload(good, |p| p.truncate(p.len() - 1)),
                "does not decode",
            ),
            (with_payload(good, |p| p.push(0)), "does not decode"),
        ];
        for (wire, needle) in cases {
            let error = WorkerProof::parse(&wire).unwrap_err();
            assert!(error.to_string().contains(needle), "{wire:.40}: {error}");
        }
        let tag_len = bcs::to_bytes(DOMAIN).unwrap().len();
        let wrong_domain = with_payload(good, |p| p[1] = b'x');
        assert!(matches!(
            WorkerProof::parse(&wrong_domain),
            Err(WorkerProofError::Envelope(EnvelopeError::WrongDomain))
        ));
        let version = with_payload(good, |p| p[tag_len] = 2);
        assert!(matches!(
            WorkerProof::parse(&version),
            Err(WorkerProofError::Envelope(
                EnvelopeError::UnsupportedVersion { got: 2, .. }
            ))
        ));
        let purpose = with_payload(good, |p| p[tag_len + 1] = 9);
        assert!(matches!(
            WorkerProof::parse(&purpose),
            Err(WorkerProofError::UnknownPurpose { got: 9 })
        ));
        let (payload, _) = good.rsplit_once('.').unwrap();
        let short_signature = format!("{payload}.AAAA");
        assert!(matches!(
            WorkerProof::parse(&short_signature),
            Err(WorkerProofError::Envelope(EnvelopeError::InvalidSignature(
                _
            )))
        ));
    }

    #[test]
    fn bad_node_ids_and_audiences_are_refused() {
        let key = key(8);
        let seal = SealTokenId::new(Address::new([7; 32]));
        let name = "n".parse().unwrap();
        let error =
            WorkerClaims::new(Purpose::Register, seal, key.address(), name, "", NOW).unwrap_err();
        assert!(
            matches!(error, WorkerProofError::InvalidAudience(_)),
            "{error}"
        );
        // A signed payload whose node id the master would refuse: an
        // uppercase letter, and a name too long for a label value (the
        // chain accepts 253 bytes).
        let good = WorkerProof::sign(&key, &claims(&key, Purpose::Register, NOW)).unwrap();
        let upper = with_payload(good.as_str(), |p| {
            let at = p.len() - 16 - 8 - AUDIENCE.len() - 2 - 7;
            p[at] = b'W';
        });
        let long = signed_with_node_id(&key, &"a".repeat(64));
        for wire in [upper, long] {
            let error = WorkerProof::parse(&wire).unwrap_err();
            assert!(
                matches!(error, WorkerProofError::InvalidNodeId(_)),
                "{error}"
            );
            assert!(error.to_string().contains("invalid node id"), "{error}");
        }
    }

    /// A proof signed by `key` over a payload naming `node_id` as is.
    fn signed_with_node_id(key: &Keypair, node_id: &str) -> String {
        let claims = claims(key, Purpose::Register, NOW);
        let payload = Payload {
            node_id: node_id.to_owned(),
            ..Payload::of(&claims)
        };
        let bytes = envelope::encode(&payload).unwrap();
        ENVELOPE
            .seal(&bytes, key.address(), |m| key.sign_personal_message(m))
            .unwrap()
    }

    #[test]
    fn the_payload_layout_is_the_documented_one() {
        let key = key(9);
        let mut claims = claims(&key, Purpose::Heartbeat, 0x0102_0304);
        claims.nonce = [0xab; NONCE_LEN];
        let bytes = signing_bytes(&claims).unwrap();
        let mut expected = vec![u8::try_from(DOMAIN.len()).unwrap()];
        expected.extend_from_slice(DOMAIN.as_bytes());
        expected.extend_from_slice(&[VERSION, 1]);
        expected.extend_from_slice(&[7; 32]);
        expected.extend_from_slice(key.address().as_bytes());
        expected.push(8);
        expected.extend_from_slice(b"worker-1");
        expected.push(u8::try_from(AUDIENCE.len()).unwrap());
        expected.extend_from_slice(AUDIENCE.as_bytes());
        expected.extend_from_slice(&0x0102_0304u64.to_le_bytes());
        expected.extend_from_slice(&[0xab; NONCE_LEN]);
        assert_eq!(bytes, expected);
    }
}
