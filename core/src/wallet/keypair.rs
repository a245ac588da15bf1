//! [`Keypair`]: a private key of one of the simple Sui schemes.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bech32::primitives::decode::CheckedHrpstring;
use sui_crypto::ed25519::Ed25519PrivateKey;
use sui_crypto::secp256k1::Secp256k1PrivateKey;
use sui_crypto::secp256r1::Secp256r1PrivateKey;
use sui_crypto::simple::SimpleKeypair;
use sui_crypto::{Signer as _, SuiSigner as _};
use sui_sdk_types::{
    Address, MultisigMemberPublicKey, PersonalMessage, Transaction, UserSignature,
};
use zeroize::{Zeroize, Zeroizing};

use super::derivation::{self, DerivationPath};
use super::personal_message::SerializedSignature;
use super::{KeyError, Scheme, SignatureError};

/// The human-readable part of Sui's Bech32 private key encoding.
const SUIPRIVKEY_HRP: &str = "suiprivkey";

/// A Sui private key with its scheme.
///
/// The secret is zeroized on drop (the underlying `ed25519-dalek`, `k256`
/// and `p256` keys do so) and is never printed: `Debug` shows only the
/// scheme and the address.
#[derive(Clone)]
pub struct Keypair {
    inner: SimpleKeypair,
    scheme: Scheme,
}

impl Keypair {
    /// Generates a new random key of `scheme` from the OS random source.
    pub fn generate(scheme: Scheme) -> Self {
        let rng = rand::rngs::OsRng;
        let inner = match scheme {
            Scheme::Ed25519 => SimpleKeypair::from(Ed25519PrivateKey::generate(rng)),
            Scheme::Secp256k1 => SimpleKeypair::from(Secp256k1PrivateKey::generate(rng)),
            Scheme::Secp256r1 => SimpleKeypair::from(Secp256r1PrivateKey::generate(rng)),
        };
        Self { inner, scheme }
    }

    /// Builds a key from raw secret bytes of `scheme`.
    pub fn from_bytes(scheme: Scheme, bytes: &[u8]) -> Result<Self, KeyError> {
        let mut secret: [u8; 32] = bytes.try_into().map_err(|_| KeyError::WrongLength {
            scheme,
            expected: scheme.private_key_len(),
            got: bytes.len(),
        })?;
        let inner = keypair_from_secret(scheme, &secret);
        secret.zeroize();
        Ok(Self {
            inner: inner?,
            scheme,
        })
    }

    /// Builds a key from a Sui `flag || private key` payload.
    pub fn from_flagged_bytes(payload: &[u8]) -> Result<Self, KeyError> {
        let (flag, key) = payload.split_first().ok_or(KeyError::EmptyPayload)?;
        Self::from_bytes(Scheme::from_flag(*flag)?, key)
    }

    /// Parses a Bech32 `suiprivkey1…` string, as printed by `sui keytool export`.
    pub fn from_suiprivkey(encoded: &str) -> Result<Self, KeyError> {
        let parsed = CheckedHrpstring::new::<bech32::Bech32>(encoded.trim())
            .map_err(|e| KeyError::Bech32(e.to_string()))?;
        let hrp = parsed.hrp();
        if hrp.as_str() != SUIPRIVKEY_HRP {
            return Err(KeyError::WrongBech32Prefix(hrp.to_string()));
        }
        let payload = Zeroizing::new(parsed.byte_iter().collect::<Vec<u8>>());
        Self::from_flagged_bytes(&payload)
    }

    /// Parses a Base64 `flag || private key` string, one entry of a Sui CLI `sui.keystore`.
    pub fn from_flagged_base64(encoded: &str) -> Result<Self, KeyError> {
        let payload = Zeroizing::new(BASE64.decode(encoded.trim()).map_err(KeyError::Base64)?);
        Self::from_flagged_bytes(&payload)
    }

    /// Derives a key from a BIP-39 mnemonic along `path`, or Sui's default path
    /// for the scheme (`m/44'/784'/0'/0'/0'`, `m/54'/784'/0'/0/0`, `m/74'/784'/0'/0/0`).
    pub fn from_mnemonic(
        phrase: &str,
        scheme: Scheme,
        path: Option<&DerivationPath>,
    ) -> Result<Self, KeyError> {
        let default_path;
        let path = match path {
            Some(path) => path,
            None => {
                default_path = DerivationPath::default_for(scheme);
                &default_path
            }
        };
        let secret = derivation::derive_from_mnemonic(phrase, scheme, path)?;
        Self::from_bytes(scheme, secret.as_ref())
    }

    /// Exports the key as a Bech32 `suiprivkey1…` string.
    pub fn to_suiprivkey(&self) -> Zeroizing<String> {
        // Encoding a 33-byte payload cannot fail; an empty string would be refused on import.
        Zeroizing::new(self.inner.to_suiprivkey().unwrap_or_default())
    }

    /// The key's scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The Sui address of this key: BLAKE2b-256 of `flag || public key`.
    pub fn address(&self) -> Address {
        self.inner.verifying_key().derive_address()
    }

    /// The raw public key bytes (32 bytes Ed25519, 33 bytes compressed ECDSA).
    pub fn public_key_bytes(&self) -> Vec<u8> {
        let public_key = self.inner.public_key();
        let bytes: &[u8] = match &public_key {
            MultisigMemberPublicKey::Ed25519(pk) => pk.as_ref(),
            MultisigMemberPublicKey::Secp256k1(pk) => pk.as_ref(),
            MultisigMemberPublicKey::Secp256r1(pk) => pk.as_ref(),
            _ => &[],
        };
        bytes.to_vec()
    }

    /// The Sui public key: Base64 of `flag || public key`.
    pub fn sui_public_key(&self) -> String {
        let mut bytes = vec![self.scheme.flag()];
        bytes.extend(self.public_key_bytes());
        BASE64.encode(bytes)
    }

    /// Signs `message` as a Sui personal message (intent scope `PersonalMessage`).
    pub fn sign_personal_message(
        &self,
        message: &[u8],
    ) -> Result<SerializedSignature, SignatureError> {
        let message = PersonalMessage(message.into());
        let signature = self
            .inner
            .sign_personal_message(&message)
            .map_err(|e| SignatureError::Signing(e.to_string()))?;
        SerializedSignature::from_user_signature(&normalize(signature))
    }

    /// Signs a transaction (intent scope `TransactionData`).
    pub fn sign_transaction(
        &self,
        transaction: &Transaction,
    ) -> Result<UserSignature, SignatureError> {
        self.inner
            .sign_transaction(transaction)
            .map(normalize)
            .map_err(|e| SignatureError::Signing(e.to_string()))
    }

    /// Signs raw bytes with the scheme's signing function (no intent, no hashing by Sui).
    pub fn sign_raw(&self, message: &[u8]) -> Result<UserSignature, SignatureError> {
        self.inner
            .try_sign(message)
            .map(normalize)
            .map_err(|e| SignatureError::Signing(e.to_string()))
    }
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keypair")
            .field("scheme", &self.scheme)
            .field("address", &self.address())
            .finish_non_exhaustive()
    }
}

fn keypair_from_secret(scheme: Scheme, secret: &[u8; 32]) -> Result<SimpleKeypair, KeyError> {
    match scheme {
        Scheme::Ed25519 => Ok(SimpleKeypair::from(Ed25519PrivateKey::new(*secret))),
        Scheme::Secp256k1 => Secp256k1PrivateKey::new(*secret)
            .map(SimpleKeypair::from)
            .map_err(|_| KeyError::InvalidScalar(scheme)),
        Scheme::Secp256r1 => {
            // `Secp256r1PrivateKey::new` panics on an invalid scalar, so check first.
            p256::SecretKey::from_slice(secret).map_err(|_| KeyError::InvalidScalar(scheme))?;
            Ok(SimpleKeypair::from(Secp256r1PrivateKey::new(*secret)))
        }
    }
}

/// Sui verifiers accept only low-S ECDSA signatures; `p256` does not normalize by itself.
fn normalize(signature: UserSignature) -> UserSignature {
    use sui_sdk_types::{Secp256r1Signature, SimpleSignature};
    match signature {
        UserSignature::Simple(SimpleSignature::Secp256r1 {
            signature,
            public_key,
        }) => {
            let normalized = p256::ecdsa::Signature::from_slice(signature.as_ref())
                .ok()
                .and_then(|s| s.normalize_s())
                .map(|s| Secp256r1Signature::new(s.to_bytes().into()))
                .unwrap_or(signature);
            UserSignature::Simple(SimpleSignature::Secp256r1 {
                signature: normalized,
                public_key,
            })
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_round_trip_through_suiprivkey() {
        for scheme in Scheme::ALL {
            let key = Keypair::generate(scheme);
            let encoded = key.to_suiprivkey();
            assert!(encoded.starts_with("suiprivkey1"));
            let back = Keypair::from_suiprivkey(&encoded).unwrap();
            assert_eq!(back.address(), key.address());
            assert_eq!(back.scheme(), scheme);
        }
    }

    #[test]
    fn debug_does_not_show_the_secret() {
        let key = Keypair::from_bytes(Scheme::Ed25519, &[7u8; 32]).unwrap();
        let printed = format!("{key:?}");
        let secret = key.to_suiprivkey();
        assert!(!printed.contains(secret.as_str()));
        assert!(!printed.contains(&hex::encode([7u8; 32])));
        assert!(printed.contains("Ed25519"), "{printed}");
    }

    #[test]
    fn wrong_length_is_named() {
        let err = Keypair::from_bytes(Scheme::Secp256k1, &[1u8; 31]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "secp256k1 private key must be 32 bytes, got 31"
        );
    }

    #[test]
    fn zero_scalar_is_refused_not_panicking() {
        for scheme in [Scheme::Secp256k1, Scheme::Secp256r1] {
            let err = Keypair::from_bytes(scheme, &[0u8; 32]).unwrap_err();
            assert!(matches!(err, KeyError::InvalidScalar(s) if s == scheme));
            let err = Keypair::from_bytes(scheme, &[0xffu8; 32]).unwrap_err();
            assert!(matches!(err, KeyError::InvalidScalar(_)));
        }
    }

    #[test]
    fn unknown_flag_in_payload() {
        let mut payload = vec![0x03];
        payload.extend([1u8; 32]);
        let err = Keypair::from_flagged_bytes(&payload).unwrap_err();
        assert!(matches!(err, KeyError::UnknownFlag(0x03)));
        assert!(matches!(
            Keypair::from_flagged_bytes(&[]),
            Err(KeyError::EmptyPayload)
        ));
    }

    #[test]
    fn bad_bech32_checksum_is_refused() {
        let key = Keypair::generate(Scheme::Ed25519);
        let mut encoded = key.to_suiprivkey().to_string();
        let last = encoded.pop().unwrap();
        encoded.push(if last == 'q' { 'p' } else { 'q' });
        let err = Keypair::from_suiprivkey(&encoded).unwrap_err();
        assert!(matches!(err, KeyError::Bech32(_)), "{err}");
        assert!(err.to_string().contains("checksum"), "{err}");
    }

    #[test]
    fn wrong_bech32_prefix_is_refused() {
        let hrp = bech32::Hrp::parse("suipubkey").unwrap();
        let encoded = bech32::encode::<bech32::Bech32>(hrp, &[0u8; 33]).unwrap();
        let err = Keypair::from_suiprivkey(&encoded).unwrap_err();
        assert!(
            matches!(err, KeyError::WrongBech32Prefix(ref p) if p == "suipubkey"),
            "{err}"
        );
    }
}
