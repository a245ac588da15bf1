//! `0x2::nitro_attestation::load_nitro_attestation`, executed natively with
//! the workspace's Nitro verifier (`daas_core::attestation`).
//!
//! It mirrors Sui's native (`sui-move-natives` `nitro_attestation.rs` and
//! `sui-types` `nitro_attestation.rs`):
//!
//! - the document is parsed (COSE_Sign1 with an ES384 protected header,
//!   then the CBOR document; `user_data` and `nonce` at most
//!   [`MAX_USER_DATA_LEN`] bytes); a failure aborts
//!   [`NitroAbort::Parse`] (`EParseError`, 1);
//! - the COSE signature is checked with the leaf certificate's key and the
//!   chain up to a trusted root, every certificate valid **at the clock's
//!   time**; a failure aborts [`NitroAbort::Verify`] (`EVerifyError`, 2).
//!   Like Sui, the document's own `timestamp` is not compared with the
//!   clock: the certificates' validity (hours for AWS leaves) bounds its
//!   age;
//! - the PCRs kept are those with index 0, 1, 2, 3, 4 and 8 (what AWS
//!   reports); a document lacking one of them aborts
//!   [`NitroAbort::InvalidPcrs`] (`EInvalidPCRsError`, 3).
//!
//! The devnet adds one check Sui does not make: a debug-mode document
//! (PCR 0, 1 or 2 all zeros) aborts [`NitroAbort::InvalidPcrs`] unless the
//! devnet was started with `--allow-debug-attestation`.
//!
//! Trust roots: the AWS Nitro Enclaves Root G1 always; a development root
//! only when the devnet was started with `--insecure-dev-attestation-root`
//! (see [`Attestation::new`]). The PCRs are **not** compared with any
//! expected value here: that is `k3s_daas::enclave::register_enclave`'s job,
//! against its `EnclaveConfig`, as in Nautilus.

use std::time::{Duration, UNIX_EPOCH};

use daas_core::attestation::{DevRoot, PcrPolicy, Policy, TrustRoots, Verifier, parse_unverified};
use serde::{Deserialize, Serialize};
use sui_sdk_types::{Address, Identifier, StructTag};

/// The framework module, `0x2::nitro_attestation`.
pub const MODULE: &str = "nitro_attestation";
/// `load_nitro_attestation(attestation: vector<u8>, clock: &Clock)`.
pub const LOAD_NITRO_ATTESTATION: &str = "load_nitro_attestation";
/// The struct `load_nitro_attestation` returns.
pub const DOCUMENT_STRUCT: &str = "NitroAttestationDocument";
/// Largest `user_data` and `nonce` Sui's parser accepts.
pub const MAX_USER_DATA_LEN: usize = 512;
/// The PCR indices Sui keeps, in order; a document must have all of them.
pub const PCR_INDICES: [u8; 6] = [0, 1, 2, 3, 4, 8];

/// Why `load_nitro_attestation` aborted: the framework's abort codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NitroAbort {
    /// `ENotSupportedError` (0): the feature is off on this network.
    NotSupported,
    /// `EParseError` (1): the bytes are not a well-formed document.
    Parse,
    /// `EVerifyError` (2): signature or certificate chain do not verify at
    /// the clock's time, or the chain leads to no trusted root.
    Verify,
    /// `EInvalidPCRsError` (3): PCR 0, 1, 2, 3, 4 or 8 is missing (or, on
    /// the devnet, the document is from a debug-mode enclave).
    InvalidPcrs,
}

impl NitroAbort {
    /// The abort code.
    pub const fn code(self) -> u64 {
        match self {
            Self::NotSupported => 0,
            Self::Parse => 1,
            Self::Verify => 2,
            Self::InvalidPcrs => 3,
        }
    }

    /// The Move constant's name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::NotSupported => "ENotSupportedError",
            Self::Parse => "EParseError",
            Self::Verify => "EVerifyError",
            Self::InvalidPcrs => "EInvalidPCRsError",
        }
    }
}

/// `0x2::nitro_attestation::PCREntry`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PcrEntry {
    /// PCR index.
    pub index: u8,
    /// PCR value.
    pub value: Vec<u8>,
}

/// `0x2::nitro_attestation::NitroAttestationDocument`, BCS-exact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NitroAttestationDocument {
    /// Issuing Nitro hypervisor module id.
    pub module_id: Vec<u8>,
    /// Creation time, ms since the Unix epoch.
    pub timestamp: u64,
    /// Digest function name (`SHA384`).
    pub digest: Vec<u8>,
    /// PCRs 0, 1, 2, 3, 4 and 8, in that order.
    pub pcrs: Vec<PcrEntry>,
    /// The enclave's public key, if any.
    pub public_key: Option<Vec<u8>>,
    /// User data, if any.
    pub user_data: Option<Vec<u8>>,
    /// Nonce, if any.
    pub nonce: Option<Vec<u8>>,
}

impl NitroAttestationDocument {
    /// The PCR with `index`, if present.
    pub fn pcr(&self, index: u8) -> Option<&[u8]> {
        self.pcrs
            .iter()
            .find(|entry| entry.index == index)
            .map(|entry| entry.value.as_slice())
    }
}

/// The type `0x2::nitro_attestation::NitroAttestationDocument`.
pub fn document_type() -> StructTag {
    StructTag::new(
        Address::TWO,
        Identifier::from_static(MODULE),
        Identifier::from_static(DOCUMENT_STRUCT),
        Vec::new(),
    )
}

/// How the devnet verifies attestation documents.
#[derive(Debug, Clone)]
pub struct Attestation {
    verifier: Verifier,
    allow_debug: bool,
}

impl Default for Attestation {
    fn default() -> Self {
        Self::new(None, false)
    }
}

impl Attestation {
    /// Trusts the AWS Nitro Enclaves Root G1 and, when given, the
    /// **insecure** development root `dev_root` (for local stacks and tests
    /// only: anyone holding its key can attest anything). `allow_debug`
    /// accepts debug-mode documents (all-zero PCR 0, 1 or 2).
    pub fn new(dev_root: Option<DevRoot>, allow_debug: bool) -> Self {
        let roots = match dev_root {
            Some(root) => TrustRoots::aws_and_insecure_dev(root),
            None => TrustRoots::aws(),
        };
        Self {
            verifier: Verifier::new(roots),
            allow_debug,
        }
    }

    /// Whether an insecure development root is trusted.
    pub fn trusts_dev_root(&self) -> bool {
        self.verifier.roots().dev.is_some()
    }

    /// Whether debug-mode documents are accepted.
    pub fn allows_debug(&self) -> bool {
        self.allow_debug
    }

    /// `load_nitro_attestation_internal(attestation, clock_ms)`: parses and
    /// verifies `attestation` as of the clock time `clock_ms` and returns
    /// the document value (see the module documentation for the rules).
    ///
    /// # Errors
    /// The framework abort, with the verifier's reason.
    pub fn load(
        &self,
        attestation: &[u8],
        clock_ms: u64,
    ) -> Result<NitroAttestationDocument, (NitroAbort, String)> {
        let parsed =
            parse_unverified(attestation).map_err(|e| (NitroAbort::Parse, e.to_string()))?;
        for (field, value) in [("user_data", parsed.user_data()), ("nonce", parsed.nonce())] {
            if let Some(value) = value
                && value.len() > MAX_USER_DATA_LEN
            {
                return Err((
                    NitroAbort::Parse,
                    format!(
                        "{field} is {} bytes, more than the {MAX_USER_DATA_LEN} Sui accepts",
                        value.len()
                    ),
                ));
            }
        }
        // Any measurement, no age limit: only signature and chain at the
        // clock's time, as Sui.
        let policy = Policy::new(PcrPolicy::AnyMeasurement)
            .with_max_age(Duration::MAX)
            .with_max_future_skew(Duration::MAX)
            .allow_debug(true);
        let at = UNIX_EPOCH + Duration::from_millis(clock_ms);
        let verified = self
            .verifier
            .verify(attestation, &policy, at)
            .map_err(|e| (NitroAbort::Verify, e.to_string()))?;
        let mut pcrs = Vec::with_capacity(PCR_INDICES.len());
        for index in PCR_INDICES {
            let pcr = verified.pcrs().get(index).ok_or_else(|| {
                (
                    NitroAbort::InvalidPcrs,
                    format!("the document has no PCR{index}"),
                )
            })?;
            pcrs.push(PcrEntry {
                index,
                value: pcr.as_bytes().to_vec(),
            });
        }
        if !self.allow_debug
            && let Some(index) = pcrs
                .iter()
                .take(3)
                .find(|entry| entry.value.iter().all(|byte| *byte == 0))
                .map(|entry| entry.index)
        {
            return Err((
                NitroAbort::InvalidPcrs,
                format!(
                    "PCR{index} is all zeros (a debug-mode enclave); start the devnet with \
                     --allow-debug-attestation to accept it"
                ),
            ));
        }
        Ok(NitroAttestationDocument {
            module_id: verified.module_id().as_bytes().to_vec(),
            timestamp: verified.timestamp_ms(),
            digest: b"SHA384".to_vec(),
            pcrs,
            public_key: verified.public_key().map(<[u8]>::to_vec),
            user_data: verified.user_data().map(<[u8]>::to_vec),
            nonce: verified.nonce().map(<[u8]>::to_vec),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn abort_of(bytes: &[u8]) -> NitroAbort {
        match Attestation::default().load(bytes, 1_700_000_000_000) {
            Ok(document) => panic!("accepted {document:?}"),
            Err((abort, _)) => abort,
        }
    }

    #[test]
    fn empty_truncated_and_garbage_documents_are_parse_errors() {
        assert_eq!(abort_of(&[]), NitroAbort::Parse);
        assert_eq!(abort_of(b"not a COSE_Sign1 document"), NitroAbort::Parse);
        // A COSE_Sign1 array header (0x84) and protected header, then cut.
        assert_eq!(abort_of(&[0x84, 0x44, 0xa1, 0x01, 0x38]), NitroAbort::Parse);
        // Random-looking bytes.
        let garbage: Vec<u8> = (0u32..4096)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        assert_eq!(abort_of(&garbage), NitroAbort::Parse);
        // Larger than any document.
        assert_eq!(abort_of(&vec![0x84; 64 * 1024]), NitroAbort::Parse);
    }

    #[test]
    fn codes_are_the_frameworks() {
        let codes: Vec<(u64, &str)> = [
            NitroAbort::NotSupported,
            NitroAbort::Parse,
            NitroAbort::Verify,
            NitroAbort::InvalidPcrs,
        ]
        .into_iter()
        .map(|a| (a.code(), a.name()))
        .collect();
        assert_eq!(
            codes,
            [
                (0, "ENotSupportedError"),
                (1, "EParseError"),
                (2, "EVerifyError"),
                (3, "EInvalidPCRsError")
            ]
        );
        assert_eq!(
            document_type().to_string(),
            "0x0000000000000000000000000000000000000000000000000000000000000002::nitro_attestation::NitroAttestationDocument"
        );
        assert!(!Attestation::default().trusts_dev_root());
    }
}
