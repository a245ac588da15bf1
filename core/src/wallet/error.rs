//! Errors of the wallet module. None of them ever carries key material.

use std::path::PathBuf;

use super::Scheme;

/// A private key, a key encoding or a derivation input is invalid.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The flag byte in front of a key or signature is not a simple Sui scheme.
    #[error(
        "unknown signature scheme flag 0x{0:02x} (expected 0x00 Ed25519, 0x01 Secp256k1 or 0x02 Secp256r1)"
    )]
    UnknownFlag(u8),
    /// A scheme name could not be parsed.
    #[error("unknown signature scheme `{0}` (expected ed25519, secp256k1 or secp256r1)")]
    UnknownScheme(String),
    /// A key has the wrong number of bytes for its scheme.
    #[error("{scheme} private key must be {expected} bytes, got {got}")]
    WrongLength {
        /// The scheme named by the flag byte.
        scheme: Scheme,
        /// The length the scheme needs.
        expected: usize,
        /// The length found.
        got: usize,
    },
    /// The key bytes are not a valid secret scalar for the curve (zero or ≥ the group order).
    #[error("the bytes are not a valid {0} private key (zero or not below the curve order)")]
    InvalidScalar(Scheme),
    /// A key payload (`flag || key`) was empty.
    #[error("the private key payload is empty")]
    EmptyPayload,
    /// A `suiprivkey` string is not valid Bech32 (bad characters, mixed case or a bad checksum).
    #[error("invalid suiprivkey string: {0}")]
    Bech32(String),
    /// A Bech32 string has another human-readable part than `suiprivkey`.
    #[error("expected a `suiprivkey1…` string, got the prefix `{0}`")]
    WrongBech32Prefix(String),
    /// A Base64 key could not be decoded.
    #[error("invalid base64 private key: {0}")]
    Base64(#[source] base64::DecodeError),
    /// A BIP-39 mnemonic is invalid.
    #[error("invalid mnemonic: {0}")]
    Mnemonic(String),
    /// A derivation path is malformed or not allowed for the scheme.
    #[error("invalid derivation path `{path}`: {reason}")]
    DerivationPath {
        /// The path as given.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Key derivation produced an invalid key (probability about 2^-127; use the next index).
    #[error("derivation produced an invalid key at `{0}`; use another index")]
    DerivationFailed(String),
}

/// A serialized signature is malformed or does not verify.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The signature is not valid Base64.
    #[error("signature is not valid base64: {0}")]
    Base64(#[source] base64::DecodeError),
    /// The signature is empty.
    #[error("signature is empty")]
    Empty,
    /// The flag byte is unknown or not a simple scheme.
    #[error(
        "signature scheme flag 0x{0:02x} is not supported (expected 0x00 Ed25519, 0x01 Secp256k1 or 0x02 Secp256r1)"
    )]
    UnsupportedFlag(u8),
    /// The signature has the wrong length for the scheme its flag names.
    #[error(
        "{scheme} signature must be {expected} bytes (flag || signature || public key), got {got}"
    )]
    WrongLength {
        /// The scheme named by the flag.
        scheme: Scheme,
        /// The length that scheme needs.
        expected: usize,
        /// The length found.
        got: usize,
    },
    /// The embedded public key is not a valid point or key of the scheme.
    #[error("the embedded {0} public key is invalid")]
    InvalidPublicKey(Scheme),
    /// The signature does not verify for the message under the embedded key.
    #[error("{0} signature does not verify for this message")]
    Invalid(Scheme),
    /// The signature is valid but made by another address than expected.
    #[error("signature was made by {got}, expected {expected}")]
    WrongSigner {
        /// The address that was expected to sign.
        expected: sui_sdk_types::Address,
        /// The address whose key made the signature.
        got: sui_sdk_types::Address,
    },
    /// Signing itself failed (only possible with a broken key).
    #[error("signing failed: {0}")]
    Signing(String),
}

/// The wallet store could not complete an operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A file of the store could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A file of the store is not in the expected format.
    #[error("{path} is corrupt: {reason}")]
    Corrupt {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The passphrase does not decrypt the key file.
    #[error("wrong passphrase for {0} (or the file was tampered with)")]
    WrongPassphrase(PathBuf),
    /// The encrypted file store needs a passphrase and none was given.
    #[error(
        "the wallet at {0} is an encrypted file store and needs a passphrase (set DAAS_WALLET_PASSPHRASE or enter it when asked)"
    )]
    PassphraseRequired(PathBuf),
    /// The OS keyring could not be used.
    #[error("OS keyring: {0}")]
    Keyring(String),
    /// No wallet entry has this address or alias.
    #[error("no key `{0}` in the wallet")]
    UnknownKey(String),
    /// An entry with this address or alias already exists.
    #[error("the wallet already has a key `{0}`")]
    Duplicate(String),
    /// The wallet has no keys, or none is active.
    #[error("the wallet has no active key; add or import one first")]
    NoActiveKey,
    /// A key stored in the wallet is invalid.
    #[error("stored key for {address} is invalid: {source}")]
    BadStoredKey {
        /// The address of the entry.
        address: String,
        /// Why the key is invalid.
        #[source]
        source: KeyError,
    },
    /// Signing with a stored key failed.
    #[error(transparent)]
    Signature(#[from] SignatureError),
}

impl From<crate::private_file::PrivateFileError> for StoreError {
    fn from(error: crate::private_file::PrivateFileError) -> Self {
        Self::Io {
            action: error.action,
            path: error.path,
            source: error.source,
        }
    }
}
