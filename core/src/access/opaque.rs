//! Opaque seal tokens: the seed's 64-hex bearer tokens.
//!
//! Clients that cannot run the credential plugin may ask the master for an
//! opaque token against the same signed proof (an access token). It is 32
//! random bytes written as 64 lowercase hexadecimal digits; the master
//! stores only its SHA-256 ([`OpaqueTokenHash`]), so a leak of the store
//! yields no usable credential. The token authenticates as the user it was
//! issued to for as long as the on-chain review of its seal token allows.

use std::fmt;
use std::str::FromStr;

use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroize;

/// Random bytes in an opaque token.
pub const OPAQUE_TOKEN_BYTES: usize = 32;
/// Hex digits in an opaque token's wire form.
pub const OPAQUE_TOKEN_HEX_LEN: usize = OPAQUE_TOKEN_BYTES * 2;

/// Why a string is not an opaque token or a token hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpaqueTokenError {
    /// Not exactly 64 characters.
    #[error("an opaque seal token has {OPAQUE_TOKEN_HEX_LEN} hex digits, not {0} characters")]
    Length(usize),
    /// A character other than `0-9a-f`.
    #[error("an opaque seal token has only lowercase hex digits (0-9, a-f)")]
    NotLowercaseHex,
}

/// An opaque seal token: 32 random bytes. A credential: `Debug` hides it,
/// and the bytes are wiped on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct OpaqueToken([u8; OPAQUE_TOKEN_BYTES]);

impl OpaqueToken {
    /// A fresh token from the operating system's random source.
    pub fn generate() -> Self {
        let mut bytes = [0u8; OPAQUE_TOKEN_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// Parses the wire form: exactly 64 lowercase hex digits.
    ///
    /// # Errors
    /// [`OpaqueTokenError::Length`] or [`OpaqueTokenError::NotLowercaseHex`].
    pub fn parse(text: &str) -> Result<Self, OpaqueTokenError> {
        parse_hex32(text).map(Self)
    }

    /// Whether `text` has the shape of an opaque token (64 lowercase hex
    /// digits), without building one.
    pub fn looks_like(text: &str) -> bool {
        text.len() == OPAQUE_TOKEN_HEX_LEN && text.bytes().all(is_lower_hex)
    }

    /// The wire form, 64 lowercase hex digits: the bearer secret itself.
    pub fn expose(&self) -> String {
        hex::encode(self.0)
    }

    /// The SHA-256 of the token's 32 bytes: what the master stores.
    pub fn hash(&self) -> OpaqueTokenHash {
        OpaqueTokenHash(Sha256::digest(self.0).into())
    }
}

impl Drop for OpaqueToken {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for OpaqueToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OpaqueToken(..)")
    }
}

/// The SHA-256 of an opaque token; `Display` and `FromStr` use 64
/// lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpaqueTokenHash([u8; 32]);

impl OpaqueTokenHash {
    /// The hash bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for OpaqueTokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl FromStr for OpaqueTokenHash {
    type Err = OpaqueTokenError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        parse_hex32(text).map(Self)
    }
}

fn is_lower_hex(byte: u8) -> bool {
    byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte)
}

fn parse_hex32(text: &str) -> Result<[u8; 32], OpaqueTokenError> {
    if text.len() != OPAQUE_TOKEN_HEX_LEN {
        return Err(OpaqueTokenError::Length(text.len()));
    }
    if !text.bytes().all(is_lower_hex) {
        return Err(OpaqueTokenError::NotLowercaseHex);
    }
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(text, &mut bytes).map_err(|_| OpaqueTokenError::NotLowercaseHex)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_round_trip_and_differ() {
        let token = OpaqueToken::generate();
        let wire = token.expose();
        assert_eq!(wire.len(), 64);
        assert!(OpaqueToken::looks_like(&wire));
        let parsed = OpaqueToken::parse(&wire).unwrap();
        assert_eq!(parsed, token);
        assert_eq!(parsed.hash(), token.hash());
        assert_ne!(OpaqueToken::generate(), token);
        assert_eq!(format!("{token:?}"), "OpaqueToken(..)");
    }

    #[test]
    fn the_hash_is_sha256_of_the_bytes() {
        let token = OpaqueToken::parse(&"00".repeat(32)).unwrap();
        // SHA-256 of 32 zero bytes.
        assert_eq!(
            token.hash().to_string(),
            "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
        );
        let hash: OpaqueTokenHash = token.hash().to_string().parse().unwrap();
        assert_eq!(hash, token.hash());
        assert!(!token.hash().to_string().contains(&token.expose()));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        assert_eq!(OpaqueToken::parse("abc"), Err(OpaqueTokenError::Length(3)));
        assert_eq!(
            OpaqueToken::parse(&"A".repeat(64)),
            Err(OpaqueTokenError::NotLowercaseHex)
        );
        assert_eq!(
            OpaqueToken::parse(&"g".repeat(64)),
            Err(OpaqueTokenError::NotLowercaseHex)
        );
        assert!(!OpaqueToken::looks_like("daas1.x.y"));
        // Multi-byte characters of the right byte length.
        assert_eq!(
            OpaqueToken::parse(&"é".repeat(32)),
            Err(OpaqueTokenError::NotLowercaseHex)
        );
    }
}
