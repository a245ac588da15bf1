//! `k3s_daas::enclave`: the Nautilus pattern. An [`EnclaveConfig`] holds the
//! expected PCRs; `register_enclave` takes a verified Nitro attestation
//! document and records the enclave's Ed25519 key in a shared [`Enclave`];
//! results the enclave signs are [`IntentMessage`]s checked against it.

use serde::Serialize;
use sui_crypto::Verifier;
use sui_crypto::ed25519::Ed25519VerifyingKey;
use sui_sdk_types::{Address, Ed25519PublicKey, Ed25519Signature};

use super::{MoveField, MoveStruct};

/// `PCR_LEN`: bytes of a SHA-384 PCR.
pub const PCR_LEN: u64 = 48;
/// `ED25519_PK_LEN`: bytes of an Ed25519 public key.
pub const ED25519_PK_LEN: u64 = 32;

/// The module's Move constants by name, as `u64`, for table checks.
pub const MOVE_CONSTANTS: &[(&str, u64)] =
    &[("PCR_LEN", PCR_LEN), ("ED25519_PK_LEN", ED25519_PK_LEN)];

/// Function names of `k3s_daas::enclave`.
pub mod function {
    /// `create_config(cap, name, pcr0, pcr1, pcr2)`.
    pub const CREATE_CONFIG: &str = "create_config";
    /// `update_pcrs(config, cap, pcr0, pcr1, pcr2)`.
    pub const UPDATE_PCRS: &str = "update_pcrs";
    /// `update_name(config, cap, name)`.
    pub const UPDATE_NAME: &str = "update_name";
    /// `register_enclave(config, document)`: a `public fun` whose document
    /// comes from `0x2::nitro_attestation::load_nitro_attestation`.
    pub const REGISTER_ENCLAVE: &str = "register_enclave";
    /// `destroy_old_enclave(enclave, config)`.
    pub const DESTROY_OLD_ENCLAVE: &str = "destroy_old_enclave";
    /// Every function of the module callable from a transaction, in table order.
    pub const ALL: &[&str] = &[
        CREATE_CONFIG,
        UPDATE_PCRS,
        UPDATE_NAME,
        REGISTER_ENCLAVE,
        DESTROY_OLD_ENCLAVE,
    ];
    /// Module of the framework function that parses and verifies a Nitro
    /// attestation document (`0x2::nitro_attestation`).
    pub const NITRO_ATTESTATION_MODULE: &str = "nitro_attestation";
    /// `0x2::nitro_attestation::load_nitro_attestation(attestation, clock)`.
    pub const LOAD_NITRO_ATTESTATION: &str = "load_nitro_attestation";
}

abort_codes! {
    /// Abort codes of `k3s_daas::enclave`.
    "enclave" => EnclaveAbort {
        /// `EPcrMismatch`.
        PcrMismatch = 301, "EPcrMismatch", "the document's PCR 0, 1 or 2 is missing or differs from the config";
        /// `EMissingPublicKey`.
        MissingPublicKey = 302, "EMissingPublicKey", "the document carries no public key";
        /// `EInvalidPublicKey`.
        InvalidPublicKey = 303, "EInvalidPublicKey", "the public key is not a 32-byte Ed25519 key";
        /// `EStaleEnclave`.
        StaleEnclave = 304, "EStaleEnclave", "the enclave was registered under an older config version";
        /// `EWrongConfig`.
        WrongConfig = 305, "EWrongConfig", "the enclave belongs to another config";
        /// `ECurrentEnclave`.
        CurrentEnclave = 306, "ECurrentEnclave", "the enclave is still current and cannot be destroyed";
        /// `EInvalidPcrLength`.
        InvalidPcrLength = 307, "EInvalidPcrLength", "a PCR is not PCR_LEN bytes";
    }
}

/// What an enclave signature is for: the `intent` byte of an
/// [`IntentMessage`], so a signature for one purpose never verifies for
/// another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IntentScope {
    /// `gateway::INTENT_K8S_RESULT`: a Kubernetes result.
    K8sResult,
    /// `audit::INTENT_AUDIT_CHECKPOINT`: an audit checkpoint.
    AuditCheckpoint,
    /// `audit::INTENT_AUDIT_LOG`: an enclave's request for its own log.
    AuditLog,
}

impl IntentScope {
    /// The on-chain byte.
    pub const fn code(self) -> u8 {
        match self {
            Self::K8sResult => super::gateway::INTENT_K8S_RESULT,
            Self::AuditCheckpoint => super::audit::INTENT_AUDIT_CHECKPOINT,
            Self::AuditLog => super::audit::INTENT_AUDIT_LOG,
        }
    }
}

/// `IntentMessage<T>`: what the enclave signs, as BCS.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IntentMessage<T> {
    /// The [`IntentScope`] code.
    pub intent: u8,
    /// When the enclave signed, in ms since the epoch.
    pub timestamp_ms: u64,
    /// The signed data.
    pub data: T,
}

impl<T> MoveStruct for IntentMessage<T> {
    const MODULE: &'static str = "enclave";
    const NAME: &'static str = "IntentMessage";
    const FIELDS: &'static [MoveField] = &[
        MoveField {
            name: "intent",
            move_type: "u8",
        },
        MoveField {
            name: "timestamp_ms",
            move_type: "u64",
        },
        MoveField {
            name: "data",
            move_type: "T",
        },
    ];
}

impl<T: Serialize> IntentMessage<T> {
    /// A message of `scope` signed at `timestamp_ms`.
    pub const fn new(scope: IntentScope, timestamp_ms: u64, data: T) -> Self {
        Self {
            intent: scope.code(),
            timestamp_ms,
            data,
        }
    }

    /// The bytes the enclave signs: the message's BCS.
    ///
    /// # Errors
    /// A `bcs` error if `T` cannot be encoded (never for the package's
    /// payload types).
    pub fn signing_bytes(&self) -> Result<Vec<u8>, bcs::Error> {
        bcs::to_bytes(self)
    }
}

move_struct! {
    /// `EnclaveConfig`: the PCRs an enclave must attest to.
    "enclave"::EnclaveConfig {
        /// The config's object id.
        id: Address => "UID",
        /// Human-readable name.
        name: String => "String",
        /// Expected PCR0 (enclave image), 48 bytes.
        pcr0: Vec<u8> => "vector<u8>",
        /// Expected PCR1 (kernel and bootstrap), 48 bytes.
        pcr1: Vec<u8> => "vector<u8>",
        /// Expected PCR2 (application), 48 bytes.
        pcr2: Vec<u8> => "vector<u8>",
        /// Incremented by every `update_pcrs`.
        version: u64 => "u64",
    }
}

impl EnclaveConfig {
    /// Whether the given PCR values are the expected ones.
    pub fn pcrs_match(&self, pcr0: &[u8], pcr1: &[u8], pcr2: &[u8]) -> bool {
        self.pcr0 == pcr0 && self.pcr1 == pcr1 && self.pcr2 == pcr2
    }
}

move_struct! {
    /// `Enclave`: a registered enclave instance and its signing key.
    "enclave"::Enclave {
        /// The enclave's object id.
        id: Address => "UID",
        /// The config it was registered under.
        config_id: Address => "ID",
        /// The config's version at registration.
        config_version: u64 => "u64",
        /// The enclave's Ed25519 public key (32 bytes).
        pk: Vec<u8> => "vector<u8>",
        /// Who registered it.
        owner: Address => "address",
        /// The attestation document's timestamp.
        registered_at_ms: u64 => "u64",
    }
}

impl Enclave {
    /// Move `enclave::assert_current`: the enclave belongs to `config` and
    /// was registered under its current version.
    ///
    /// # Errors
    /// [`EnclaveAbort::WrongConfig`] or [`EnclaveAbort::StaleEnclave`].
    pub fn check_current(&self, config: &EnclaveConfig) -> Result<(), EnclaveAbort> {
        if self.config_id != config.id {
            Err(EnclaveAbort::WrongConfig)
        } else if self.config_version != config.version {
            Err(EnclaveAbort::StaleEnclave)
        } else {
            Ok(())
        }
    }

    /// Move `enclave::verify_signature`: whether `signature` (64 bytes) is
    /// the enclave key's Ed25519 signature over `message`'s BCS.
    pub fn verify_signature<T: Serialize>(
        &self,
        message: &IntentMessage<T>,
        signature: &[u8],
    ) -> bool {
        let Ok(pk) = <[u8; 32]>::try_from(self.pk.as_slice()) else {
            return false;
        };
        let Ok(sig) = <[u8; 64]>::try_from(signature) else {
            return false;
        };
        let Ok(key) = Ed25519VerifyingKey::new(&Ed25519PublicKey::new(pk)) else {
            return false;
        };
        let Ok(bytes) = message.signing_bytes() else {
            return false;
        };
        key.verify(&bytes, &Ed25519Signature::new(sig)).is_ok()
    }
}

move_struct! {
    /// `EnclaveCap`: creates and updates enclave configs.
    "enclave"::EnclaveCap {
        /// The cap's object id.
        id: Address => "UID",
    }
}

move_struct! {
    /// Event `EnclaveConfigCreated`.
    "enclave"::EnclaveConfigCreated {
        /// The new config.
        config_id: Address => "ID",
        /// Its name.
        name: String => "String",
        /// Expected PCR0.
        pcr0: Vec<u8> => "vector<u8>",
        /// Expected PCR1.
        pcr1: Vec<u8> => "vector<u8>",
        /// Expected PCR2.
        pcr2: Vec<u8> => "vector<u8>",
        /// Its version (0).
        version: u64 => "u64",
    }
}

move_struct! {
    /// Event `EnclaveConfigUpdated`: PCRs or name changed.
    "enclave"::EnclaveConfigUpdated {
        /// The config.
        config_id: Address => "ID",
        /// Its name.
        name: String => "String",
        /// Expected PCR0.
        pcr0: Vec<u8> => "vector<u8>",
        /// Expected PCR1.
        pcr1: Vec<u8> => "vector<u8>",
        /// Expected PCR2.
        pcr2: Vec<u8> => "vector<u8>",
        /// Its version now.
        version: u64 => "u64",
    }
}

move_struct! {
    /// Event `EnclaveRegistered`.
    "enclave"::EnclaveRegistered {
        /// The new enclave.
        enclave_id: Address => "ID",
        /// Its config.
        config_id: Address => "ID",
        /// The config's version.
        config_version: u64 => "u64",
        /// Its Ed25519 public key.
        pk: Vec<u8> => "vector<u8>",
        /// Who registered it.
        owner: Address => "address",
        /// The attestation document's timestamp.
        registered_at_ms: u64 => "u64",
    }
}

move_struct! {
    /// Event `EnclaveDestroyed`: a stale enclave was deleted.
    "enclave"::EnclaveDestroyed {
        /// The deleted enclave.
        enclave_id: Address => "ID",
        /// Its config.
        config_id: Address => "ID",
    }
}

#[cfg(test)]
mod tests {
    use sui_crypto::Signer;
    use sui_crypto::ed25519::Ed25519PrivateKey;

    use super::*;

    /// Nautilus' own `test_serde` payload, to pin the intent-message layout
    /// to the one the Move `bcs::to_bytes` produces.
    #[derive(serde::Serialize)]
    struct SigningPayload {
        location: String,
        temperature: u64,
    }

    #[test]
    fn golden_intent_message_matches_nautilus() {
        let message = IntentMessage {
            intent: 0,
            timestamp_ms: 1_744_038_900_000,
            data: SigningPayload {
                location: "San Francisco".to_owned(),
                temperature: 13,
            },
        };
        assert_eq!(
            hex::encode(message.signing_bytes().unwrap()),
            "0020b1d110960100000d53616e204672616e636973636f0d00000000000000"
        );
    }

    /// Same vector as `test_intent_message_serde` in
    /// contracts/move/sources/enclave.move.
    #[test]
    fn golden_intent_message_u64() {
        let message = IntentMessage {
            intent: 0,
            timestamp_ms: 1_744_038_900_000,
            data: 13u64,
        };
        assert_eq!(
            hex::encode(message.signing_bytes().unwrap()),
            "0020b1d110960100000d00000000000000"
        );
        let back: IntentMessage<u64> = bcs::from_bytes(&message.signing_bytes().unwrap()).unwrap();
        assert_eq!(back, message);
    }

    /// Ed25519 public key of the secret `[7; 32]`, used by the Move test
    /// `enclave_tests::signature_from_rust_verifies`.
    const GOLDEN_PK: &str = "ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c";
    /// Its signature over `IntentMessage { intent: 2, timestamp_ms:
    /// 1744038900000, data: 42u64 }` (Ed25519 is deterministic).
    const GOLDEN_SIG: &str = "7a79f9d313f947180c3a8cda11533fa1f3344a6749dae74bbfd05b848d6c21bc466eda3cdccce7169a9c2ac2633e5fde21abbfc9f11e0acd793f677e7b926e09";

    #[test]
    fn golden_enclave_signature_shared_with_move() {
        let key = Ed25519PrivateKey::new([7; 32]);
        assert_eq!(hex::encode(key.public_key().into_inner()), GOLDEN_PK);
        let message = IntentMessage::new(IntentScope::AuditCheckpoint, 1_744_038_900_000, 42u64);
        assert_eq!(
            hex::encode(message.signing_bytes().unwrap()),
            "0220b1d110960100002a00000000000000"
        );
        let signature: Ed25519Signature = key.sign(&message.signing_bytes().unwrap());
        assert_eq!(hex::encode(signature.inner()), GOLDEN_SIG);
        let enclave = Enclave {
            id: Address::ZERO,
            config_id: Address::ZERO,
            config_version: 0,
            pk: hex::decode(GOLDEN_PK).unwrap(),
            owner: Address::ZERO,
            registered_at_ms: 0,
        };
        assert!(enclave.verify_signature(&message, &hex::decode(GOLDEN_SIG).unwrap()));
    }

    fn config() -> EnclaveConfig {
        EnclaveConfig {
            id: Address::new([0xc0; 32]),
            name: "master".to_owned(),
            pcr0: vec![0; 48],
            pcr1: vec![1; 48],
            pcr2: vec![2; 48],
            version: 1,
        }
    }

    #[test]
    fn golden_enclave_config_and_enclave() {
        let c = config();
        let expected = format!("{}066d6173746572" /* "master" */, "c0".repeat(32))
            + &format!(
                "30{}30{}30{}0100000000000000",
                "00".repeat(48),
                "01".repeat(48),
                "02".repeat(48)
            );
        let bytes = bcs::to_bytes(&c).unwrap();
        assert_eq!(hex::encode(&bytes), expected);
        assert_eq!(bcs::from_bytes::<EnclaveConfig>(&bytes).unwrap(), c);

        let e = Enclave {
            id: Address::new([0xe0; 32]),
            config_id: c.id,
            config_version: 1,
            pk: vec![7; 32],
            owner: Address::new([0x11; 32]),
            registered_at_ms: 1_744_038_900_000,
        };
        let expected = format!(
            "{}{}010000000000000020{}{}20b1d11096010000",
            "e0".repeat(32),
            "c0".repeat(32),
            "07".repeat(32),
            "11".repeat(32)
        );
        let bytes = bcs::to_bytes(&e).unwrap();
        assert_eq!(hex::encode(&bytes), expected);
        assert_eq!(bcs::from_bytes::<Enclave>(&bytes).unwrap(), e);
    }

    #[test]
    fn enclave_signatures_verify_only_for_the_signed_message() {
        let key = Ed25519PrivateKey::new([9; 32]);
        let c = config();
        let enclave = Enclave {
            id: Address::new([0xe0; 32]),
            config_id: c.id,
            config_version: c.version,
            pk: key.public_key().into_inner().to_vec(),
            owner: Address::ZERO,
            registered_at_ms: 0,
        };
        assert_eq!(enclave.check_current(&c), Ok(()));
        let message = IntentMessage::new(IntentScope::AuditCheckpoint, 5, 42u64);
        let signature: Ed25519Signature = key.sign(&message.signing_bytes().unwrap());
        assert!(enclave.verify_signature(&message, signature.inner()));

        let other_scope = IntentMessage::new(IntentScope::K8sResult, 5, 42u64);
        assert!(!enclave.verify_signature(&other_scope, signature.inner()));
        let other_time = IntentMessage::new(IntentScope::AuditCheckpoint, 6, 42u64);
        assert!(!enclave.verify_signature(&other_time, signature.inner()));
        assert!(!enclave.verify_signature(&message, &signature.inner()[..63]));

        let mut updated = c.clone();
        updated.version += 1;
        assert_eq!(
            enclave.check_current(&updated),
            Err(EnclaveAbort::StaleEnclave)
        );
        updated.id = Address::ZERO;
        assert_eq!(
            enclave.check_current(&updated),
            Err(EnclaveAbort::WrongConfig)
        );
        assert!(c.pcrs_match(&[0; 48], &[1; 48], &[2; 48]));
        assert!(!c.pcrs_match(&[0; 48], &[1; 48], &[3; 48]));
    }
}
