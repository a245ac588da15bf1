//! Sui personal-message signatures in their serialized form
//! `flag || signature || public key`, Base64-encoded.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sui_crypto::SuiVerifier as _;
use sui_crypto::simple::SimpleVerifier;
use sui_sdk_types::{Address, PersonalMessage, SimpleSignature, UserSignature};

use super::{Scheme, SignatureError};

/// A simple-scheme Sui signature, checked for shape when parsed:
/// a known flag and the exact length `1 + 64 + public key length`.
#[derive(Clone, PartialEq, Eq)]
pub struct SerializedSignature {
    scheme: Scheme,
    bytes: Vec<u8>,
}

impl SerializedSignature {
    /// Parses the raw serialized bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SignatureError> {
        let flag = *bytes.first().ok_or(SignatureError::Empty)?;
        let scheme = Scheme::from_flag(flag).map_err(|_| SignatureError::UnsupportedFlag(flag))?;
        let expected = 1 + scheme.signature_len() + scheme.public_key_len();
        if bytes.len() != expected {
            return Err(SignatureError::WrongLength {
                scheme,
                expected,
                got: bytes.len(),
            });
        }
        Ok(Self {
            scheme,
            bytes: bytes.to_vec(),
        })
    }

    pub(super) fn from_user_signature(signature: &UserSignature) -> Result<Self, SignatureError> {
        Self::from_bytes(&signature.to_bytes())
    }

    /// The scheme named by the flag byte.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The serialized bytes `flag || signature || public key`.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The Base64 encoding used on the wire by Sui wallets and SDKs.
    pub fn to_base64(&self) -> String {
        BASE64.encode(&self.bytes)
    }

    /// The address of the embedded public key.
    pub fn signer(&self) -> Result<Address, SignatureError> {
        Ok(self.simple()?.public_key_derive_address())
    }

    fn simple(&self) -> Result<SimpleSignature, SignatureError> {
        match UserSignature::from_bytes(&self.bytes) {
            Ok(UserSignature::Simple(simple)) => Ok(simple),
            _ => Err(SignatureError::InvalidPublicKey(self.scheme)),
        }
    }

    /// Verifies this signature over `message` as a Sui personal message and
    /// returns the signer's address.
    pub fn verify_personal_message(&self, message: &[u8]) -> Result<Address, SignatureError> {
        let simple = self.simple()?;
        let signer = simple.public_key_derive_address();
        let signature = UserSignature::Simple(simple);
        SimpleVerifier
            .verify_personal_message(&PersonalMessage(message.into()), &signature)
            .map_err(|_| SignatureError::Invalid(self.scheme))?;
        Ok(signer)
    }
}

/// Address derivation from the public key embedded in a simple signature.
trait DeriveSigner {
    fn public_key_derive_address(&self) -> Address;
}

impl DeriveSigner for SimpleSignature {
    fn public_key_derive_address(&self) -> Address {
        match self {
            SimpleSignature::Ed25519 { public_key, .. } => public_key.derive_address(),
            SimpleSignature::Secp256k1 { public_key, .. } => public_key.derive_address(),
            SimpleSignature::Secp256r1 { public_key, .. } => public_key.derive_address(),
            _ => Address::ZERO,
        }
    }
}

impl FromStr for SerializedSignature {
    type Err = SignatureError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = BASE64.decode(s.trim()).map_err(SignatureError::Base64)?;
        Self::from_bytes(&bytes)
    }
}

impl fmt::Display for SerializedSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

impl fmt::Debug for SerializedSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SerializedSignature({}, {})",
            self.scheme,
            self.to_base64()
        )
    }
}

/// Verifies a Base64 serialized signature over a personal message and checks
/// that `expected` made it.
pub fn verify_personal_message(
    message: &[u8],
    signature_base64: &str,
    expected: Address,
) -> Result<(), SignatureError> {
    let signature: SerializedSignature = signature_base64.parse()?;
    let got = signature.verify_personal_message(message)?;
    if got != expected {
        return Err(SignatureError::WrongSigner { expected, got });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::Keypair;
    use super::*;

    #[test]
    fn sign_and_verify_every_scheme() {
        for scheme in Scheme::ALL {
            let key = Keypair::generate(scheme);
            let signature = key.sign_personal_message(b"hello k3s-daas").unwrap();
            assert_eq!(signature.scheme(), scheme);
            verify_personal_message(b"hello k3s-daas", &signature.to_base64(), key.address())
                .unwrap();
            let err = verify_personal_message(b"other", &signature.to_base64(), key.address())
                .unwrap_err();
            assert!(
                matches!(err, SignatureError::Invalid(s) if s == scheme),
                "{err}"
            );
        }
    }

    #[test]
    fn wrong_signer_is_named() {
        let key = Keypair::generate(Scheme::Ed25519);
        let other = Keypair::generate(Scheme::Ed25519);
        let signature = key.sign_personal_message(b"m").unwrap();
        let err =
            verify_personal_message(b"m", &signature.to_base64(), other.address()).unwrap_err();
        assert!(matches!(err, SignatureError::WrongSigner { .. }), "{err}");
    }

    #[test]
    fn truncated_signature_is_named() {
        let key = Keypair::generate(Scheme::Secp256k1);
        let signature = key.sign_personal_message(b"m").unwrap();
        let bytes = &signature.as_bytes()[..50];
        let err = SerializedSignature::from_bytes(bytes).unwrap_err();
        assert_eq!(
            err.to_string(),
            "secp256k1 signature must be 98 bytes (flag || signature || public key), got 50"
        );
        assert!(matches!(
            SerializedSignature::from_bytes(&[]),
            Err(SignatureError::Empty)
        ));
        assert!(matches!(
            "%%".parse::<SerializedSignature>(),
            Err(SignatureError::Base64(_))
        ));
    }

    #[test]
    fn wrong_scheme_flag_is_refused() {
        let key = Keypair::generate(Scheme::Ed25519);
        let mut bytes = key.sign_personal_message(b"m").unwrap().as_bytes().to_vec();
        bytes[0] = Scheme::Secp256k1.flag();
        let err = SerializedSignature::from_bytes(&bytes).unwrap_err();
        assert!(
            matches!(
                err,
                SignatureError::WrongLength {
                    scheme: Scheme::Secp256k1,
                    ..
                }
            ),
            "{err}"
        );
        bytes[0] = 0x03;
        let err = SerializedSignature::from_bytes(&bytes).unwrap_err();
        assert!(
            matches!(err, SignatureError::UnsupportedFlag(0x03)),
            "{err}"
        );
    }

    #[test]
    fn ecdsa_signature_with_bad_public_key_is_refused() {
        let key = Keypair::generate(Scheme::Secp256r1);
        let mut bytes = key.sign_personal_message(b"m").unwrap().as_bytes().to_vec();
        bytes[65] = 0x07; // not a valid SEC1 compressed point tag
        let signature = SerializedSignature::from_bytes(&bytes).unwrap();
        let err = signature.verify_personal_message(b"m").unwrap_err();
        assert!(
            matches!(
                err,
                SignatureError::InvalidPublicKey(_) | SignatureError::Invalid(_)
            ),
            "{err}"
        );
    }
}
