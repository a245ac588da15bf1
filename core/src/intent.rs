//! Results signed by the master's enclave key, Nautilus style.
//!
//! The master signs the BCS encoding of an
//! [`IntentMessage<T>`](crate::package::enclave::IntentMessage)
//! `{ intent: u8, timestamp_ms: u64, data: T }` with the Ed25519 key whose
//! public half is the `public_key` of its attestation document. The
//! `intent` byte says what the signature is for ([`Scope`]), so a signature
//! made for one purpose never verifies for another. The bytes are exactly
//! what the on-chain `enclave` module checks with `ed25519_verify` (see
//! `contracts/README.md`): no hashing, no prefix.
//!
//! ```
//! use daas_core::intent::{Scope, sign_intent, verify_intent};
//!
//! let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
//! let signed = sign_intent(&key, Scope::K8sResult, 1_744_038_900_000, vec![1u8, 2, 3]).unwrap();
//! let data = verify_intent(&key.verifying_key(), Scope::K8sResult, &signed).unwrap();
//! assert_eq!(data, &vec![1u8, 2, 3]);
//! ```

use std::fmt;

use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use serde::{Deserialize, Serialize};

pub use crate::package::enclave::IntentMessage;
use crate::package::enclave::IntentScope;

/// `intent` byte of a signed worker join response. Off-chain only: the
/// agent checks it; the Move package defines no such scope.
pub const INTENT_JOIN_RESPONSE: u8 = 0;

/// What a signature is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scope {
    /// A worker join response (checked by the agent):
    /// [`INTENT_JOIN_RESPONSE`].
    JoinResponse,
    /// The result of an on-chain gateway request (`gateway::INTENT_K8S_RESULT`).
    K8sResult,
    /// A checkpoint of the audit log (`audit::INTENT_AUDIT_CHECKPOINT`).
    AuditCheckpoint,
    /// An enclave's request for an audit log of its own
    /// (`audit::INTENT_AUDIT_LOG`).
    AuditLog,
}

impl Scope {
    /// The `intent` byte.
    pub const fn code(self) -> u8 {
        match self {
            Self::JoinResponse => INTENT_JOIN_RESPONSE,
            Self::K8sResult => IntentScope::K8sResult.code(),
            Self::AuditCheckpoint => IntentScope::AuditCheckpoint.code(),
            Self::AuditLog => IntentScope::AuditLog.code(),
        }
    }

    /// The scope of an `intent` byte, if it is one.
    pub fn from_code(code: u8) -> Option<Self> {
        [
            Self::JoinResponse,
            Self::K8sResult,
            Self::AuditCheckpoint,
            Self::AuditLog,
        ]
        .into_iter()
        .find(|scope| scope.code() == code)
    }
}

impl From<IntentScope> for Scope {
    fn from(scope: IntentScope) -> Self {
        match scope {
            IntentScope::K8sResult => Self::K8sResult,
            IntentScope::AuditCheckpoint => Self::AuditCheckpoint,
            IntentScope::AuditLog => Self::AuditLog,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::JoinResponse => "join response",
            Self::K8sResult => "gateway result",
            Self::AuditCheckpoint => "audit anchor",
            Self::AuditLog => "audit log creation",
        };
        write!(f, "{name} (intent {})", self.code())
    }
}

/// A message and the master's signature over its BCS bytes, as carried in
/// JSON: `{ "message": { "intent", "timestamp_ms", "data" }, "signature": "<hex>" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedIntent<T> {
    /// What was signed.
    pub message: IntentMessage<T>,
    /// The Ed25519 signature (hex, 64 bytes) over `bcs(message)`.
    pub signature: String,
}

/// Why signing or verifying a result failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IntentError {
    /// The data cannot be encoded as BCS.
    #[error("cannot encode the intent message as BCS: {0}")]
    Encode(#[from] bcs::Error),
    /// The message was signed for another purpose.
    #[error("signed message has intent {got}, expected {expected}")]
    WrongScope {
        /// The scope the caller expects.
        expected: Scope,
        /// The message's `intent` byte.
        got: u8,
    },
    /// The signature is not 64 bytes of hex.
    #[error("signature is not 64 bytes of hex: {reason}")]
    SignatureEncoding {
        /// What is wrong.
        reason: String,
    },
    /// The signature does not verify with the master's key.
    #[error("signature does not verify with the master's Ed25519 key {public_key}")]
    BadSignature {
        /// The key (hex) it was checked against.
        public_key: String,
    },
}

/// Signs `data` for `scope` at `timestamp_ms` with the master's key.
///
/// # Errors
/// [`IntentError::Encode`] if `data` cannot be encoded as BCS.
pub fn sign_intent<T: Serialize>(
    key: &SigningKey,
    scope: Scope,
    timestamp_ms: u64,
    data: T,
) -> Result<SignedIntent<T>, IntentError> {
    let message = IntentMessage {
        intent: scope.code(),
        timestamp_ms,
        data,
    };
    let bytes = message.signing_bytes()?;
    let signature = key.sign(&bytes);
    Ok(SignedIntent {
        message,
        signature: hex::encode(signature.to_bytes()),
    })
}

/// Checks that `signed` is `key`'s signature for `scope` and returns the
/// data.
///
/// # Errors
/// [`IntentError::WrongScope`], [`IntentError::SignatureEncoding`],
/// [`IntentError::BadSignature`], or [`IntentError::Encode`].
pub fn verify_intent<'a, T: Serialize>(
    key: &VerifyingKey,
    scope: Scope,
    signed: &'a SignedIntent<T>,
) -> Result<&'a T, IntentError> {
    if signed.message.intent != scope.code() {
        return Err(IntentError::WrongScope {
            expected: scope,
            got: signed.message.intent,
        });
    }
    let mut raw = [0u8; 64];
    hex::decode_to_slice(&signed.signature, &mut raw).map_err(|error| {
        IntentError::SignatureEncoding {
            reason: error.to_string(),
        }
    })?;
    let bytes = signed.message.signing_bytes()?;
    key.verify(&bytes, &Signature::from_bytes(&raw))
        .map_err(|_| IntentError::BadSignature {
            public_key: hex::encode(key.as_bytes()),
        })?;
    Ok(&signed.message.data)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A join-response payload shaped like the agent's: what the golden
    /// vectors sign.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    struct JoinDigest {
        node_id: String,
        response_sha256: Vec<u8>,
    }

    const TIMESTAMP_MS: u64 = 1_744_038_900_000;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7; 32])
    }

    #[test]
    fn scope_codes_match_the_package() {
        assert_eq!(Scope::JoinResponse.code(), 0);
        assert_eq!(
            Scope::K8sResult.code(),
            crate::package::gateway::INTENT_K8S_RESULT
        );
        assert_eq!(
            Scope::AuditCheckpoint.code(),
            crate::package::audit::INTENT_AUDIT_CHECKPOINT
        );
        for scope in [
            Scope::JoinResponse,
            Scope::K8sResult,
            Scope::AuditCheckpoint,
        ] {
            assert_eq!(Scope::from_code(scope.code()), Some(scope));
        }
        assert_eq!(Scope::from_code(9), None);
    }

    /// Golden BCS bytes: intent (1 byte), timestamp (u64 little endian),
    /// then the data (a ULEB128 length before each string or vector).
    #[test]
    fn golden_bcs_bytes() {
        let message = IntentMessage {
            intent: Scope::JoinResponse.code(),
            timestamp_ms: TIMESTAMP_MS,
            data: JoinDigest {
                node_id: "worker-001".to_owned(),
                response_sha256: vec![0xab; 4],
            },
        };
        let expected = concat!(
            "00",               // intent: join response
            "20b1d11096010000", // 1744038900000 ms, little endian
            "0a",               // 10-byte string
            "776f726b65722d303031",
            "04", // 4-byte vector
            "abababab",
        );
        assert_eq!(hex::encode(message.signing_bytes().unwrap()), expected);

        let gateway = IntentMessage {
            intent: Scope::K8sResult.code(),
            timestamp_ms: 1,
            data: [0x11u8; 32],
        };
        assert_eq!(
            hex::encode(gateway.signing_bytes().unwrap()),
            format!("01{}{}", "0100000000000000", "11".repeat(32))
        );

        let audit = IntentMessage {
            intent: Scope::AuditCheckpoint.code(),
            timestamp_ms: u64::MAX,
            data: (7u64, vec![0xeeu8; 2]),
        };
        assert_eq!(
            hex::encode(audit.signing_bytes().unwrap()),
            "02ffffffffffffffff070000000000000002eeee"
        );
    }

    /// Ed25519 is deterministic: the signature of the golden message with
    /// the fixed key is pinned too.
    #[test]
    fn golden_signature() {
        let signed = sign_intent(&key(), Scope::K8sResult, 1, [0x11u8; 32]).unwrap();
        assert_eq!(signed.signature, GOLDEN_SIGNATURE);
        assert_eq!(
            verify_intent(&key().verifying_key(), Scope::K8sResult, &signed).unwrap(),
            &[0x11u8; 32]
        );
    }

    const GOLDEN_SIGNATURE: &str = "3e2146dc857c28080b8d06c8bcf1567cb55dd30c29f3a59a19726210ea4412bb03cfa52400e35692a6540a78284f2b680c607d77f65eee78089ce70756abb20f";

    /// The package binding's `Enclave::verify_signature` (what the Move
    /// `enclave` module does, through sui-crypto) accepts what
    /// [`sign_intent`] makes.
    #[test]
    fn package_verifier_accepts_signed_intents() {
        use crate::package::enclave::Enclave;
        use sui_sdk_types::Address;

        let enclave = Enclave {
            id: Address::ZERO,
            config_id: Address::ZERO,
            config_version: 1,
            pk: key().verifying_key().to_bytes().to_vec(),
            owner: Address::ZERO,
            registered_at_ms: 0,
        };
        let signed = sign_intent(&key(), Scope::K8sResult, 1, [0x11u8; 32]).unwrap();
        let signature = hex::decode(&signed.signature).unwrap();
        assert!(enclave.verify_signature(&signed.message, &signature));
        let mut other = signed.message.clone();
        other.intent = Scope::AuditCheckpoint.code();
        assert!(!enclave.verify_signature(&other, &signature));
    }

    #[test]
    fn refuses_other_scope_tampering_and_other_key() {
        let data = JoinDigest {
            node_id: "worker-001".to_owned(),
            response_sha256: vec![1, 2, 3],
        };
        let signed = sign_intent(&key(), Scope::JoinResponse, TIMESTAMP_MS, data).unwrap();
        let public = key().verifying_key();
        assert!(verify_intent(&public, Scope::JoinResponse, &signed).is_ok());

        let error = verify_intent(&public, Scope::AuditCheckpoint, &signed).unwrap_err();
        assert!(matches!(error, IntentError::WrongScope { got: 0, .. }));

        let mut tampered = signed.clone();
        tampered.message.timestamp_ms += 1;
        assert!(matches!(
            verify_intent(&public, Scope::JoinResponse, &tampered),
            Err(IntentError::BadSignature { .. })
        ));

        // The same bytes under another scope byte do not verify either.
        let mut rescoped = signed.clone();
        rescoped.message.intent = Scope::K8sResult.code();
        assert!(matches!(
            verify_intent(&public, Scope::K8sResult, &rescoped),
            Err(IntentError::BadSignature { .. })
        ));

        let other = SigningKey::from_bytes(&[8; 32]).verifying_key();
        assert!(matches!(
            verify_intent(&other, Scope::JoinResponse, &signed),
            Err(IntentError::BadSignature { .. })
        ));

        let mut short = signed;
        short.signature.truncate(10);
        assert!(matches!(
            verify_intent(&public, Scope::JoinResponse, &short),
            Err(IntentError::SignatureEncoding { .. })
        ));
    }

    #[test]
    fn json_round_trip() {
        let signed = sign_intent(&key(), Scope::AuditCheckpoint, 5, vec![9u8; 3]).unwrap();
        let json = serde_json::to_string(&signed).unwrap();
        let back: SignedIntent<Vec<u8>> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, signed);
    }
}
