//! The agent request: a signed, timestamped, single-use order from a node's
//! owner to that node's agent (`POST /api/v1/staking`, `/register`,
//! `/unstake` of the agent's local API).
//!
//! # Format
//!
//! The signed payload is the BCS encoding of
//!
//! ```text
//! struct Payload {
//!     domain: String,        // "k3s-daas/agent-request/v1"
//!     version: u8,           // 1
//!     action: u8,            // 0 = stake, 1 = register, 2 = unstake
//!     owner: address,        // the signer's Sui address
//!     node_id: String,       // the node the agent runs, a NodeName
//!     agent_key: [u8; 32],   // SHA-256 of the agent's TLS SubjectPublicKeyInfo
//!     body_sha256: [u8; 32], // SHA-256 of the request body
//!     issued_at: u64,        // unix seconds
//!     nonce: [u8; 16],       // random
//! }
//! ```
//!
//! signed as a Sui personal message in the envelope of the access token and
//! the worker proof (the private `envelope` module), under its own domain
//! tag so none can pass for another. The wire form, sent as
//! `Authorization: Bearer …`, is
//!
//! ```text
//! daasa1.<base64url(payload)>.<base64url(serialized signature)>
//! ```
//!
//! The agent key is the audience: a request made for one agent is refused
//! by every other. The body hash binds the order's parameters. The agent
//! refuses a request older than its `max_age`, issued in the future beyond
//! its clock skew, or whose nonce it has seen.

use std::fmt;
use std::time::Duration;

use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use sui_sdk_types::Address;

use super::envelope::{self, Envelope, EnvelopeError, Opened};
use super::node_name::{NodeName, NodeNameError};
use crate::wallet::{Keypair, SerializedSignature};

/// The domain tag that starts every signed payload.
pub const DOMAIN: &str = "k3s-daas/agent-request/v1";
/// The payload version this code writes and accepts.
pub const VERSION: u8 = 1;
/// The prefix of the wire form.
pub const PREFIX: &str = "daasa1.";
/// The longest wire form accepted by [`AgentRequest::parse`], in bytes.
pub const MAX_REQUEST_LEN: usize = 2048;
/// Bytes of the random nonce.
pub const NONCE_LEN: usize = 16;

const ENVELOPE: Envelope = Envelope {
    prefix: PREFIX,
    domain: DOMAIN,
    version: VERSION,
    max_len: MAX_REQUEST_LEN,
};

/// What the owner orders the agent to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgentAction {
    /// Stake for the node (code 0).
    Stake,
    /// Register the node with the master (code 1).
    Register,
    /// Drain the node and unstake (code 2).
    Unstake,
}

impl AgentAction {
    /// Every action.
    pub const ALL: [Self; 3] = [Self::Stake, Self::Register, Self::Unstake];

    /// The payload code.
    pub const fn code(self) -> u8 {
        match self {
            Self::Stake => 0,
            Self::Register => 1,
            Self::Unstake => 2,
        }
    }

    /// The action of a payload code.
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Self::Stake),
            1 => Some(Self::Register),
            2 => Some(Self::Unstake),
            _ => None,
        }
    }

    /// `"stake"`, `"register"` or `"unstake"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Stake => "stake",
            Self::Register => "register",
            Self::Unstake => "unstake",
        }
    }
}

impl fmt::Display for AgentAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an agent request could not be made, parsed or verified.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentRequestError {
    /// Not a well-formed, validly signed envelope (see [`EnvelopeError`]).
    #[error("agent request: {0}")]
    Envelope(#[from] EnvelopeError),
    /// The action code is unknown.
    #[error("agent request action {got} is unknown (0 stake, 1 register, 2 unstake)")]
    UnknownAction {
        /// The code found.
        got: u8,
    },
    /// The node id is not a node name.
    #[error("invalid node id: {0}")]
    InvalidNodeId(#[source] NodeNameError),
    /// The request is for another agent (another TLS key).
    #[error("the agent request is for the agent with TLS key {got}, this agent's is {expected}")]
    WrongAgent {
        /// This agent's key (hex).
        expected: String,
        /// The request's (hex).
        got: String,
    },
}

/// What a request says. Only [`VerifiedAgentRequest::claims`] is vouched
/// for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRequestClaims {
    /// What the owner orders.
    pub action: AgentAction,
    /// The address that signs: the node's owner.
    pub owner: Address,
    /// The node the agent runs.
    pub node_id: NodeName,
    /// SHA-256 of the agent's TLS SubjectPublicKeyInfo.
    pub agent_key: [u8; 32],
    /// SHA-256 of the request body.
    pub body_sha256: [u8; 32],
    /// When the request was made (unix seconds).
    pub issued_at: u64,
    /// Random bytes that make every request distinct.
    pub nonce: [u8; NONCE_LEN],
}

impl AgentRequestClaims {
    /// Claims for `action` with `body`, to the agent whose TLS key hashes
    /// to `agent_key`, issued at `issued_at` with a fresh random nonce.
    pub fn new(
        action: AgentAction,
        owner: Address,
        node_id: NodeName,
        agent_key: [u8; 32],
        body: &[u8],
        issued_at: u64,
    ) -> Self {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        Self {
            action,
            owner,
            node_id,
            agent_key,
            body_sha256: Sha256::digest(body).into(),
            issued_at,
            nonce,
        }
    }
}

/// The BCS layout of the signed payload (see the module documentation).
#[derive(serde::Serialize, serde::Deserialize)]
struct Payload {
    domain: String,
    version: u8,
    action: u8,
    owner: Address,
    node_id: String,
    agent_key: [u8; 32],
    body_sha256: [u8; 32],
    issued_at: u64,
    nonce: [u8; NONCE_LEN],
}

impl Payload {
    fn of(claims: &AgentRequestClaims) -> Self {
        Self {
            domain: DOMAIN.to_owned(),
            version: VERSION,
            action: claims.action.code(),
            owner: claims.owner,
            node_id: claims.node_id.to_string(),
            agent_key: claims.agent_key,
            body_sha256: claims.body_sha256,
            issued_at: claims.issued_at,
            nonce: claims.nonce,
        }
    }

    fn into_claims(self) -> Result<AgentRequestClaims, AgentRequestError> {
        let action = AgentAction::from_code(self.action)
            .ok_or(AgentRequestError::UnknownAction { got: self.action })?;
        let node_id = self
            .node_id
            .parse()
            .map_err(AgentRequestError::InvalidNodeId)?;
        Ok(AgentRequestClaims {
            action,
            owner: self.owner,
            node_id,
            agent_key: self.agent_key,
            body_sha256: self.body_sha256,
            issued_at: self.issued_at,
            nonce: self.nonce,
        })
    }
}

/// A signed agent request in its wire form. It is a single-use credential:
/// `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct AgentRequest(String);

impl AgentRequest {
    /// Signs `claims` with `key`, which must be the owner's.
    ///
    /// # Errors
    /// [`EnvelopeError::SignerIsNotOwner`], or a signing failure.
    pub fn sign(key: &Keypair, claims: &AgentRequestClaims) -> Result<Self, AgentRequestError> {
        Self::sign_with(claims, |message| key.sign_personal_message(message))
    }

    /// Signs `claims` with any personal-message signer (a wallet).
    ///
    /// # Errors
    /// The signer's error, or [`EnvelopeError::SignerIsNotOwner`].
    pub fn sign_with<F, E>(claims: &AgentRequestClaims, sign: F) -> Result<Self, AgentRequestError>
    where
        F: FnOnce(&[u8]) -> Result<SerializedSignature, E>,
        E: std::error::Error + Send + Sync + 'static,
    {
        let payload = envelope::encode(&Payload::of(claims))?;
        Ok(Self(ENVELOPE.seal(&payload, claims.owner, sign)?))
    }

    /// Parses the wire form. Nothing is verified yet: see
    /// [`UnverifiedAgentRequest::verify`].
    ///
    /// # Errors
    /// [`EnvelopeError::Malformed`], [`EnvelopeError::WrongDomain`],
    /// [`EnvelopeError::UnsupportedVersion`],
    /// [`AgentRequestError::UnknownAction`],
    /// [`AgentRequestError::InvalidNodeId`], or
    /// [`EnvelopeError::InvalidSignature`] for a signature of the wrong
    /// shape.
    pub fn parse(wire: &str) -> Result<UnverifiedAgentRequest, AgentRequestError> {
        let opened = ENVELOPE.open(wire, Payload::into_claims)?;
        Ok(UnverifiedAgentRequest { opened })
    }

    /// The wire form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AgentRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AgentRequest(..)")
    }
}

/// A request whose format is valid but whose signature and claims are not
/// checked yet.
#[derive(Clone)]
pub struct UnverifiedAgentRequest {
    opened: Opened<AgentRequestClaims>,
}

impl fmt::Debug for UnverifiedAgentRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnverifiedAgentRequest")
            .field("claims", self.opened.claims())
            .finish_non_exhaustive()
    }
}

impl UnverifiedAgentRequest {
    /// The claims as written, not vouched for by anyone.
    pub fn unverified_claims(&self) -> &AgentRequestClaims {
        self.opened.claims()
    }

    /// Verifies the request for the agent whose TLS key hashes to
    /// `agent_key` at `now` (unix seconds): at most `max_age` old, not
    /// issued after `now + skew`, signed by its `owner` claim. Cheapest
    /// first: the agent key, the times, then the signature.
    ///
    /// # Errors
    /// [`AgentRequestError::WrongAgent`], [`EnvelopeError::IssuedInFuture`],
    /// [`EnvelopeError::Stale`], [`EnvelopeError::InvalidSignature`],
    /// [`EnvelopeError::SignerIsNotOwner`].
    pub fn verify(
        &self,
        agent_key: &[u8; 32],
        now: u64,
        max_age: Duration,
        skew: Duration,
    ) -> Result<VerifiedAgentRequest, AgentRequestError> {
        let claims = self.opened.claims();
        if claims.agent_key != *agent_key {
            return Err(AgentRequestError::WrongAgent {
                expected: hex::encode(agent_key),
                got: hex::encode(claims.agent_key),
            });
        }
        envelope::check_fresh(claims.issued_at, now, max_age, skew)?;
        self.opened.verify(claims.owner)?;
        Ok(VerifiedAgentRequest {
            claims: claims.clone(),
        })
    }
}

/// A request whose signature, owner, agent key and age were verified. Only
/// [`UnverifiedAgentRequest::verify`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAgentRequest {
    claims: AgentRequestClaims,
}

impl VerifiedAgentRequest {
    /// The verified claims.
    pub fn claims(&self) -> &AgentRequestClaims {
        &self.claims
    }

    /// Whether `body` is the body the owner signed.
    pub fn covers_body(&self, body: &[u8]) -> bool {
        <[u8; 32]>::from(Sha256::digest(body)) == self.claims.body_sha256
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::wallet::Scheme;

    const NOW: u64 = 1_800_000_000;
    const MAX_AGE: Duration = Duration::from_secs(60);
    const SKEW: Duration = Duration::from_secs(30);
    const AGENT: [u8; 32] = [0x11; 32];

    fn key(seed: u8) -> Keypair {
        Keypair::from_bytes(Scheme::Ed25519, &[seed; 32]).unwrap()
    }

    fn claims(key: &Keypair, issued_at: u64) -> AgentRequestClaims {
        AgentRequestClaims::new(
            AgentAction::Unstake,
            key.address(),
            "worker-1".parse().unwrap(),
            AGENT,
            b"{}",
            issued_at,
        )
    }

    fn verify(wire: &str, now: u64) -> Result<VerifiedAgentRequest, AgentRequestError> {
        AgentRequest::parse(wire)?.verify(&AGENT, now, MAX_AGE, SKEW)
    }

    #[test]
    fn signs_and_verifies_with_every_scheme_and_action() {
        for scheme in Scheme::ALL {
            let key = Keypair::generate(scheme);
            for action in AgentAction::ALL {
                let claims = AgentRequestClaims {
                    action,
                    ..claims(&key, NOW)
                };
                let request = AgentRequest::sign(&key, &claims).unwrap();
                assert!(request.as_str().starts_with(PREFIX));
                assert_eq!(format!("{request:?}"), "AgentRequest(..)");
                let verified = verify(request.as_str(), NOW + 5).unwrap();
                assert_eq!(verified.claims(), &claims);
                assert!(verified.covers_body(b"{}"));
                assert!(!verified.covers_body(b"{ }"));
            }
        }
    }

    #[test]
    fn another_agent_stale_and_future_requests_are_refused() {
        let key = key(1);
        let request = AgentRequest::sign(&key, &claims(&key, NOW)).unwrap();
        let parsed = AgentRequest::parse(request.as_str()).unwrap();
        let error = parsed.verify(&[0x22; 32], NOW, MAX_AGE, SKEW).unwrap_err();
        assert!(
            matches!(error, AgentRequestError::WrongAgent { .. }),
            "{error}"
        );
        assert!(verify(request.as_str(), NOW + 60).is_ok());
        assert!(matches!(
            verify(request.as_str(), NOW + 61),
            Err(AgentRequestError::Envelope(EnvelopeError::Stale {
                age: 61,
                ..
            }))
        ));
        assert!(matches!(
            verify(request.as_str(), NOW - 31),
            Err(AgentRequestError::Envelope(
                EnvelopeError::IssuedInFuture { .. }
            ))
        ));
    }

    #[test]
    fn forged_requests_are_refused() {
        let owner = key(2);
        let thief = key(3);
        let claims = claims(&owner, NOW);
        assert!(matches!(
            AgentRequest::sign(&thief, &claims),
            Err(AgentRequestError::Envelope(
                EnvelopeError::SignerIsNotOwner { .. }
            ))
        ));
        let thief_claims = AgentRequestClaims {
            owner: thief.address(),
            ..claims.clone()
        };
        let thief_request = AgentRequest::sign(&thief, &thief_claims).unwrap();
        let owner_request = AgentRequest::sign(&owner, &claims).unwrap();
        let (payload, _) = owner_request.as_str().rsplit_once('.').unwrap();
        let (_, signature) = thief_request.as_str().rsplit_once('.').unwrap();
        let error = verify(&format!("{payload}.{signature}"), NOW).unwrap_err();
        assert!(
            matches!(
                error,
                AgentRequestError::Envelope(EnvelopeError::InvalidSignature(_))
            ),
            "{error}"
        );
    }

    #[test]
    fn other_envelopes_and_garbage_are_named() {
        for (wire, needle) in [
            ("", "does not start with `daasa1.`"),
            ("daasw1.AA.AA", "does not start with `daasa1.`"),
            ("daasa1.AA", "expected `daasa1.<payload>.<signature>`"),
            ("daasa1.!!.AA", "not base64url"),
        ] {
            let error = AgentRequest::parse(wire).unwrap_err();
            assert!(error.to_string().contains(needle), "{wire}: {error}");
        }
    }
}
