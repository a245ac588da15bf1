//! The access token: a short-lived bearer token signed by the user's wallet
//! key, proving control of a seal token's owner address to the master.
//!
//! # Format (`docs/access-token.md`)
//!
//! The signed payload is the BCS encoding of
//!
//! ```text
//! struct Payload {
//!     domain: String,        // "k3s-daas/access-token/v1"
//!     version: u8,           // 1
//!     seal_token: address,   // the seal token's object id (32 bytes)
//!     owner: address,        // the signer's Sui address (32 bytes)
//!     audience: String,      // the cluster (its API server URL or name)
//!     issued_at: u64,        // unix seconds
//!     expires_at: u64,       // unix seconds, at most 15 min after issued_at
//!     nonce: [u8; 16],       // random
//! }
//! ```
//!
//! signed as a Sui personal message (intent `PersonalMessage`, so it can
//! never be mistaken for a transaction, and the domain tag keeps it apart
//! from every other personal message). The wire form, a valid bearer token
//! (`token68` characters and dots only), is
//!
//! ```text
//! daas1.<base64url(payload)>.<base64url(serialized signature)>
//! ```
//!
//! base64url without padding; the serialized signature is Sui's
//! `flag || signature || public key`. The worker proof
//! ([`super::worker_proof`]) shares this envelope with another prefix and
//! domain tag (the private `envelope` module).
//!
//! # Types
//!
//! [`AccessToken::sign`] makes a token; [`AccessToken::parse`] checks the
//! format and gives an [`UnverifiedToken`]; only
//! [`UnverifiedToken::verify`] makes a [`VerifiedToken`], which is what the
//! access decision ([`super::review()`]) takes.

use std::fmt;
use std::time::Duration;

use rand::RngCore as _;
use sui_sdk_types::Address;

use super::envelope::{self, Envelope, EnvelopeError, Opened};
use crate::package::SealTokenId;
use crate::wallet::{Keypair, SerializedSignature};

/// The domain tag that starts every signed payload.
pub const DOMAIN: &str = "k3s-daas/access-token/v1";
/// The payload version this code writes and accepts.
pub const VERSION: u8 = 1;
/// The prefix of the wire form.
pub const PREFIX: &str = "daas1.";
/// The longest lifetime a token may have: 15 minutes.
pub const MAX_LIFETIME_SECS: u64 = 15 * 60;
/// The longest audience, in bytes.
pub const MAX_AUDIENCE_LEN: usize = 512;
/// The longest wire form accepted by [`AccessToken::parse`], in bytes.
pub const MAX_TOKEN_LEN: usize = 4096;
/// Bytes of the random nonce.
pub const NONCE_LEN: usize = 16;

/// The access token's kind of signed envelope.
const ENVELOPE: Envelope = Envelope {
    prefix: PREFIX,
    domain: DOMAIN,
    version: VERSION,
    max_len: MAX_TOKEN_LEN,
};

pub use crate::clock::unix_now_secs;

/// Why a token could not be made, parsed or verified.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Not a well-formed, validly signed envelope (see [`EnvelopeError`]).
    #[error("access token: {0}")]
    Envelope(#[from] EnvelopeError),
    /// The token is meant for another cluster.
    #[error("the access token is for audience `{got}`, expected `{expected}`")]
    WrongAudience {
        /// The audience the verifier serves.
        expected: String,
        /// The audience in the token.
        got: String,
    },
    /// The audience is empty, too long or has control characters.
    #[error("invalid audience: {0}")]
    InvalidAudience(&'static str),
    /// The token has expired (beyond the allowed clock skew).
    #[error(
        "the access token expired at {}; now is {}",
        crate::clock::format_secs(*expired_at),
        crate::clock::format_secs(*now)
    )]
    Expired {
        /// Its `expires_at` claim.
        expired_at: u64,
        /// The verifier's time.
        now: u64,
    },
    /// `expires_at` is not after `issued_at`.
    #[error("the access token expires ({expires_at}) no later than it is issued ({issued_at})")]
    NonPositiveLifetime {
        /// Its `issued_at` claim.
        issued_at: u64,
        /// Its `expires_at` claim.
        expires_at: u64,
    },
    /// The lifetime is longer than [`MAX_LIFETIME_SECS`].
    #[error("the access token lives {lifetime} s, more than the maximum {max} s")]
    LifetimeTooLong {
        /// `expires_at - issued_at`.
        lifetime: u64,
        /// [`MAX_LIFETIME_SECS`].
        max: u64,
    },
}

/// What a token says. Only [`VerifiedToken::claims`] is vouched for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Claims {
    /// The seal token whose stake grants the access.
    pub seal_token: SealTokenId,
    /// The address that signs the token and must own the seal token.
    pub owner: Address,
    /// The cluster the token is for.
    pub audience: String,
    /// When the token was made (unix seconds).
    pub issued_at: u64,
    /// When it stops being valid (unix seconds).
    pub expires_at: u64,
    /// Random bytes that make every token distinct.
    pub nonce: [u8; NONCE_LEN],
}

impl Claims {
    /// Claims for a new token issued at `issued_at` (unix seconds) living
    /// `lifetime` (whole seconds), with a fresh random nonce.
    ///
    /// # Errors
    /// [`TokenError::InvalidAudience`], [`TokenError::NonPositiveLifetime`],
    /// [`TokenError::LifetimeTooLong`].
    pub fn new(
        seal_token: SealTokenId,
        owner: Address,
        audience: impl Into<String>,
        issued_at: u64,
        lifetime: Duration,
    ) -> Result<Self, TokenError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let claims = Self {
            seal_token,
            owner,
            audience: audience.into(),
            issued_at,
            expires_at: issued_at.saturating_add(lifetime.as_secs()),
            nonce,
        };
        claims.check_shape()?;
        Ok(claims)
    }

    /// `expires_at - issued_at` in seconds (0 if negative).
    pub fn lifetime_secs(&self) -> u64 {
        self.expires_at.saturating_sub(self.issued_at)
    }

    /// Checks what does not depend on the time or the signature: audience
    /// and lifetime.
    fn check_shape(&self) -> Result<(), TokenError> {
        check_audience(&self.audience)?;
        if self.expires_at <= self.issued_at {
            return Err(TokenError::NonPositiveLifetime {
                issued_at: self.issued_at,
                expires_at: self.expires_at,
            });
        }
        let lifetime = self.lifetime_secs();
        if lifetime > MAX_LIFETIME_SECS {
            return Err(TokenError::LifetimeTooLong {
                lifetime,
                max: MAX_LIFETIME_SECS,
            });
        }
        Ok(())
    }
}

fn check_audience(audience: &str) -> Result<(), TokenError> {
    if audience.is_empty() {
        return Err(TokenError::InvalidAudience("the audience is empty"));
    }
    if audience.len() > MAX_AUDIENCE_LEN {
        return Err(TokenError::InvalidAudience(
            "the audience is longer than 512 bytes",
        ));
    }
    if audience.chars().any(char::is_control) {
        return Err(TokenError::InvalidAudience(
            "the audience contains control characters",
        ));
    }
    Ok(())
}

/// The BCS layout of the signed payload (see the module documentation).
#[derive(serde::Serialize, serde::Deserialize)]
struct Payload {
    domain: String,
    version: u8,
    seal_token: SealTokenId,
    owner: Address,
    audience: String,
    issued_at: u64,
    expires_at: u64,
    nonce: [u8; NONCE_LEN],
}

impl Payload {
    fn of(claims: &Claims) -> Self {
        Self {
            domain: DOMAIN.to_owned(),
            version: VERSION,
            seal_token: claims.seal_token,
            owner: claims.owner,
            audience: claims.audience.clone(),
            issued_at: claims.issued_at,
            expires_at: claims.expires_at,
            nonce: claims.nonce,
        }
    }

    fn into_claims(self) -> Claims {
        Claims {
            seal_token: self.seal_token,
            owner: self.owner,
            audience: self.audience,
            issued_at: self.issued_at,
            expires_at: self.expires_at,
            nonce: self.nonce,
        }
    }
}

/// The canonical bytes that are signed for `claims`.
///
/// # Errors
/// [`EnvelopeError::Malformed`] if BCS fails (it cannot for these types).
pub fn signing_bytes(claims: &Claims) -> Result<Vec<u8>, TokenError> {
    Ok(envelope::encode(&Payload::of(claims))?)
}

/// A signed access token in its wire form, ready to be sent as
/// `Authorization: Bearer …`. It is a credential: `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(String);

impl AccessToken {
    /// Signs `claims` with `key`, whose address must be `claims.owner`.
    ///
    /// # Errors
    /// [`EnvelopeError::SignerIsNotOwner`], invalid claims (audience,
    /// lifetime), [`EnvelopeError::Signing`].
    pub fn sign(key: &Keypair, claims: &Claims) -> Result<Self, TokenError> {
        envelope::check_signer(key.address(), claims.owner)?;
        Self::sign_with(claims, |message| key.sign_personal_message(message))
    }

    /// Signs `claims` with any personal-message signer (a wallet store, a
    /// hardware key). The signature is checked to come from `claims.owner`.
    ///
    /// # Errors
    /// Invalid claims, [`EnvelopeError::Signing`] (the signer's error),
    /// [`EnvelopeError::SignerIsNotOwner`].
    pub fn sign_with<F, E>(claims: &Claims, sign: F) -> Result<Self, TokenError>
    where
        F: FnOnce(&[u8]) -> Result<SerializedSignature, E>,
        E: std::error::Error + Send + Sync + 'static,
    {
        claims.check_shape()?;
        let payload = signing_bytes(claims)?;
        Ok(Self(ENVELOPE.seal(&payload, claims.owner, sign)?))
    }

    /// Parses the wire form and checks its format (prefix, base64url,
    /// domain tag, version, BCS layout, signature shape). Nothing is
    /// verified yet: see [`UnverifiedToken::verify`].
    ///
    /// # Errors
    /// [`EnvelopeError::Malformed`], [`EnvelopeError::WrongDomain`],
    /// [`EnvelopeError::UnsupportedVersion`], [`EnvelopeError::InvalidSignature`]
    /// for a signature of the wrong shape.
    pub fn parse(token: &str) -> Result<UnverifiedToken, TokenError> {
        let opened = ENVELOPE.open(token, |payload: Payload| {
            Ok::<_, TokenError>(payload.into_claims())
        })?;
        Ok(UnverifiedToken { opened })
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

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(..)")
    }
}

/// A token whose format is valid but whose signature and claims are not
/// checked yet.
#[derive(Clone)]
pub struct UnverifiedToken {
    opened: Opened<Claims>,
}

impl UnverifiedToken {
    /// The claims as written, not vouched for by anyone.
    pub fn unverified_claims(&self) -> &Claims {
        self.opened.claims()
    }

    /// Verifies the token for a verifier serving `audience` at `now` (unix
    /// seconds), tolerating `max_skew` of clock difference on `issued_at`
    /// and `expires_at`.
    ///
    /// Checks, cheapest first (the webhook must shrug off garbage fast): the
    /// lifetime (positive, at most [`MAX_LIFETIME_SECS`]), the audience, not
    /// issued in the future, not expired, then the signature over the
    /// payload and that the signing key's address is the `owner` claim.
    ///
    /// # Errors
    /// [`TokenError::NonPositiveLifetime`], [`TokenError::LifetimeTooLong`],
    /// [`TokenError::WrongAudience`], [`EnvelopeError::IssuedInFuture`],
    /// [`TokenError::Expired`], [`EnvelopeError::InvalidSignature`],
    /// [`EnvelopeError::SignerIsNotOwner`].
    pub fn verify(
        &self,
        audience: &str,
        now: u64,
        max_skew: Duration,
    ) -> Result<VerifiedToken, TokenError> {
        let claims = self.opened.claims();
        claims.check_shape()?;
        if claims.audience != audience {
            return Err(TokenError::WrongAudience {
                expected: audience.to_owned(),
                got: claims.audience.clone(),
            });
        }
        envelope::check_issued(claims.issued_at, now, max_skew)?;
        let skew = max_skew.as_secs();
        if now >= claims.expires_at.saturating_add(skew) {
            return Err(TokenError::Expired {
                expired_at: claims.expires_at,
                now,
            });
        }
        self.opened.verify(claims.owner)?;
        Ok(VerifiedToken {
            claims: claims.clone(),
        })
    }
}

impl fmt::Debug for UnverifiedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnverifiedToken")
            .field("claims", self.opened.claims())
            .finish_non_exhaustive()
    }
}

/// A token whose signature, owner, audience and times were verified. Only
/// [`UnverifiedToken::verify`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    claims: Claims,
}

impl VerifiedToken {
    /// The verified claims.
    pub fn claims(&self) -> &Claims {
        &self.claims
    }

    /// The seal token the access is claimed through.
    pub fn seal_token(&self) -> SealTokenId {
        self.claims.seal_token
    }

    /// The address whose key signed the token (equal to the owner claim).
    pub fn signer(&self) -> Address {
        self.claims.owner
    }

    /// When the token expires (unix seconds).
    pub fn expires_at(&self) -> u64 {
        self.claims.expires_at
    }
}
