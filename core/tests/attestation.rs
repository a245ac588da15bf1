//! Attestation verifier against real AWS Nitro documents (in
//! `shared/fixtures/nitro`, or `$DAAS_NITRO_FIXTURES`) and documents signed
//! under generated development roots.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use daas_core::attestation::{
    AWS_NITRO_ROOT_G1_PEM, AWS_NITRO_ROOT_G1_SHA256, AttestationError, CborProblem,
    CertificateRole, DevRoot, ExpectedPcrs, FileEncoding, Pcr, PcrPolicy, Policy, RootKind,
    TrustRoots, UnsignedDocument, VerifiedAttestation, aws_nitro_root_der, decode_document_file,
    parse_unverified, sign_es384, verify,
};
use der::{Decode, Encode};
use p384::ecdsa::{DerSignature, SigningKey};
use proptest::prelude::*;
use sha2::{Digest, Sha256};
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::time::{Time, Validity};

// ---------------------------------------------------------------------------
// Fixtures

const PROD_BLOCKY: &str = "prod-2024-09-07-blocky.b64";
const DEBUG_BLOCKY: &str = "debug-2024-09-07-blocky.b64";
const PROD_ANJUNA: &str = "prod-2021-03-24-anjuna-publickey.cbor";
const PROD_BLOCKY_TS: u64 = 1_725_719_859_545;
const DEBUG_BLOCKY_TS: u64 = 1_725_719_886_508;
const PROD_ANJUNA_TS: u64 = 1_616_602_241_734;

fn fixtures_dir() -> PathBuf {
    let dir = std::env::var_os("DAAS_NITRO_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/fixtures/nitro"
            ))
        });
    assert!(
        dir.is_dir(),
        "Nitro attestation fixtures not found at {}: put shared/fixtures/nitro beside the \
         checkout or set DAAS_NITRO_FIXTURES",
        dir.display()
    );
    dir
}

fn fixture(name: &str) -> Vec<u8> {
    let path = fixtures_dir().join(name);
    let contents = std::fs::read(&path)
        .unwrap_or_else(|error| panic!("cannot read fixture {}: {error}", path.display()));
    decode_document_file(&contents).unwrap().1
}

fn at_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

fn any_pcrs() -> Policy {
    Policy::new(PcrPolicy::AnyMeasurement)
}

fn verify_aws(
    bytes: &[u8],
    policy: &Policy,
    at: SystemTime,
) -> Result<VerifiedAttestation, AttestationError> {
    verify(bytes, &TrustRoots::aws(), policy, at)
}

/// The expected PCRs of a document, read from the document itself.
fn own_pcrs(bytes: &[u8]) -> ExpectedPcrs {
    let document = parse_unverified(bytes).unwrap();
    let pcr = |index| *document.pcrs().get(index).unwrap();
    ExpectedPcrs {
        pcr0: pcr(0),
        pcr1: pcr(1),
        pcr2: pcr(2),
        pcr8: document.pcrs().get(8).copied(),
    }
}

fn position(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
        .expect("needle present")
}

fn flipped(bytes: &[u8], offset: usize) -> Vec<u8> {
    let mut copy = bytes.to_vec();
    copy[offset] ^= 0x01;
    copy
}

// ---------------------------------------------------------------------------
// Real documents

#[test]
fn production_blocky_document_verifies_at_its_own_timestamp() {
    let bytes = fixture(PROD_BLOCKY);
    let verified = verify_aws(&bytes, &any_pcrs(), at_ms(PROD_BLOCKY_TS)).unwrap();
    assert_eq!(
        verified.module_id(),
        "i-0a22e5c5f24d22174-enc0191cceb4289903f"
    );
    assert_eq!(verified.timestamp_ms(), PROD_BLOCKY_TS);
    assert_eq!(verified.timestamp(), at_ms(PROD_BLOCKY_TS));
    assert_eq!(verified.root(), RootKind::AwsNitro);
    assert!(!verified.is_dev());
    assert_eq!(verified.public_key().map(<[u8]>::len), Some(1024));
    assert_eq!(verified.user_data().map(<[u8]>::len), Some(1024));
    assert_eq!(verified.nonce().map(<[u8]>::len), Some(1024));
    let pcr0 = verified.pcrs().get(0).unwrap().to_string();
    assert!(pcr0.starts_with("e72a46ca"), "PCR0 {pcr0}");
    assert_eq!(verified.pcrs().len(), 16);
    assert_eq!(verified.document().cabundle().len(), 4);
}

#[test]
fn production_anjuna_document_with_rsa_public_key_verifies_at_its_own_timestamp() {
    let bytes = fixture(PROD_ANJUNA);
    let verified = verify_aws(&bytes, &any_pcrs(), at_ms(PROD_ANJUNA_TS)).unwrap();
    assert_eq!(verified.timestamp_ms(), PROD_ANJUNA_TS);
    assert_eq!(verified.root(), RootKind::AwsNitro);
    assert_eq!(verified.public_key().map(<[u8]>::len), Some(294));
    assert_eq!(verified.user_data(), None);
    assert_eq!(verified.nonce(), None);
    let pcr0 = verified.pcrs().get(0).unwrap().to_string();
    assert!(pcr0.starts_with("672cd3c9"), "PCR0 {pcr0}");
}

#[test]
fn tagged_cose_sign1_is_accepted_and_other_tags_refused() {
    let bytes = fixture(PROD_BLOCKY);
    let mut tagged = vec![0xd2];
    tagged.extend_from_slice(&bytes);
    verify_aws(&tagged, &any_pcrs(), at_ms(PROD_BLOCKY_TS)).unwrap();

    let mut wrong = vec![0xd1];
    wrong.extend_from_slice(&bytes);
    let error = verify_aws(&wrong, &any_pcrs(), at_ms(PROD_BLOCKY_TS)).unwrap_err();
    assert!(
        matches!(error, AttestationError::CoseTag { tag: 17 }),
        "{error}"
    );
}

#[test]
fn debug_document_refused_unless_debug_allowed() {
    let bytes = fixture(DEBUG_BLOCKY);
    let error = verify_aws(&bytes, &any_pcrs(), at_ms(DEBUG_BLOCKY_TS)).unwrap_err();
    assert!(
        matches!(error, AttestationError::DebugMode { index: 0 }),
        "{error}"
    );
    assert!(error.to_string().contains("debug mode"));

    // Debug documents chain to the real AWS root: only the PCRs differ.
    let verified = verify_aws(
        &bytes,
        &any_pcrs().allow_debug(true),
        at_ms(DEBUG_BLOCKY_TS),
    )
    .unwrap();
    assert!(verified.pcrs().get(0).unwrap().is_zero());
    assert_eq!(verified.root(), RootKind::AwsNitro);
}

#[test]
fn every_document_is_refused_today_because_its_chain_expired() {
    for name in [PROD_BLOCKY, DEBUG_BLOCKY, PROD_ANJUNA] {
        let bytes = fixture(name);
        let policy = any_pcrs().allow_debug(true).with_max_age(Duration::MAX);
        let error = verify_aws(&bytes, &policy, SystemTime::now()).unwrap_err();
        assert!(
            matches!(error, AttestationError::CertificateNotValidAt { .. }),
            "{name}: {error}"
        );
    }
}

#[test]
fn every_document_is_refused_under_a_wrong_root() {
    let now = SystemTime::now();
    let pki = DevPki::new(
        now - Duration::from_secs(3600),
        now + Duration::from_secs(3600),
    );
    for (name, ts) in [
        (PROD_BLOCKY, PROD_BLOCKY_TS),
        (DEBUG_BLOCKY, DEBUG_BLOCKY_TS),
        (PROD_ANJUNA, PROD_ANJUNA_TS),
    ] {
        let bytes = fixture(name);
        let policy = any_pcrs().allow_debug(true);
        let roots = TrustRoots::insecure_dev_only(pki.dev_root());
        let error = verify(&bytes, &roots, &policy, at_ms(ts)).unwrap_err();
        match &error {
            AttestationError::UntrustedRoot {
                fingerprint,
                trusted,
            } => {
                assert_eq!(
                    fingerprint,
                    &hex::encode(AWS_NITRO_ROOT_G1_SHA256),
                    "{name}"
                );
                assert_eq!(trusted, "a dev root");
            }
            other => panic!("{name}: {other}"),
        }
        let none = TrustRoots {
            aws: false,
            dev: None,
        };
        let error = verify(&bytes, &none, &policy, at_ms(ts)).unwrap_err();
        assert!(matches!(error, AttestationError::NoTrustedRoot), "{error}");
    }
}

#[test]
fn flipped_payload_byte_breaks_the_cose_signature() {
    let bytes = fixture(PROD_BLOCKY);
    let at = at_ms(PROD_BLOCKY_TS);
    // Inside the module id text.
    let module_id = position(&bytes, b"i-0a22e5c5f24d22174-enc");
    let error = verify_aws(&flipped(&bytes, module_id + 3), &any_pcrs(), at).unwrap_err();
    assert!(
        matches!(error, AttestationError::SignatureInvalid),
        "{error}"
    );
    // Inside PCR0.
    let pcr0 = *parse_unverified(&bytes).unwrap().pcrs().get(0).unwrap();
    let offset = position(&bytes, pcr0.as_bytes());
    let error = verify_aws(&flipped(&bytes, offset + 10), &any_pcrs(), at).unwrap_err();
    assert!(
        matches!(error, AttestationError::SignatureInvalid),
        "{error}"
    );
    // Inside the nonce.
    let nonce = parse_unverified(&bytes).unwrap().nonce().unwrap().to_vec();
    let offset = position(&bytes, &nonce);
    let error = verify_aws(&flipped(&bytes, offset + 500), &any_pcrs(), at).unwrap_err();
    assert!(
        matches!(error, AttestationError::SignatureInvalid),
        "{error}"
    );
}

#[test]
fn flipped_signature_byte_is_refused() {
    let bytes = fixture(PROD_BLOCKY);
    let at = at_ms(PROD_BLOCKY_TS);
    // The signature is the last item: its 96 bytes end the document.
    for back in [1, 30, 48, 60, 96] {
        let offset = bytes.len() - back;
        let error = verify_aws(&flipped(&bytes, offset), &any_pcrs(), at).unwrap_err();
        assert!(
            matches!(error, AttestationError::SignatureInvalid),
            "{back}: {error}"
        );
    }
}

#[test]
fn flipped_certificate_bytes_are_refused_naming_the_certificate() {
    let bytes = fixture(PROD_BLOCKY);
    let at = at_ms(PROD_BLOCKY_TS);
    let document = parse_unverified(&bytes).unwrap();

    // Last byte of the leaf's signature value.
    let leaf = document.certificate().to_vec();
    let offset = position(&bytes, &leaf) + leaf.len() - 1;
    let error = verify_aws(&flipped(&bytes, offset), &any_pcrs(), at).unwrap_err();
    assert!(
        matches!(
            error,
            AttestationError::CertificateSignature {
                which: CertificateRole::Leaf
            }
        ),
        "{error}"
    );

    // A byte of the leaf's public key (inside the signed TBS part).
    let leaf_cert = x509_cert::Certificate::from_der(&leaf).unwrap();
    let key = leaf_cert
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes()
        .to_vec();
    let offset = position(&bytes, &key) + 20;
    let error = verify_aws(&flipped(&bytes, offset), &any_pcrs(), at).unwrap_err();
    assert!(
        matches!(
            error,
            AttestationError::CertificateSignature {
                which: CertificateRole::Leaf
            } | AttestationError::UnsupportedKey {
                which: CertificateRole::Leaf,
                ..
            }
        ),
        "{error}"
    );

    // Last byte of cabundle[2] (an intermediate).
    let intermediate = document.cabundle()[2].clone();
    let offset = position(&bytes, &intermediate) + intermediate.len() - 1;
    let error = verify_aws(&flipped(&bytes, offset), &any_pcrs(), at).unwrap_err();
    assert!(
        matches!(
            error,
            AttestationError::CertificateSignature {
                which: CertificateRole::CaBundle(2)
            }
        ),
        "{error}"
    );

    // Last byte of cabundle[0]: no longer the pinned root, but it names the
    // root as issuer, so its (now broken) signature is checked against it.
    let root = document.cabundle()[0].clone();
    let offset = position(&bytes, &root) + root.len() - 1;
    let error = verify_aws(&flipped(&bytes, offset), &any_pcrs(), at).unwrap_err();
    assert!(
        matches!(
            error,
            AttestationError::CertificateSignature {
                which: CertificateRole::CaBundle(0)
            }
        ),
        "{error}"
    );

    // The DER tag of cabundle[1]: it no longer parses.
    let second = document.cabundle()[1].clone();
    let offset = position(&bytes, &second);
    let error = verify_aws(&flipped(&bytes, offset), &any_pcrs(), at).unwrap_err();
    assert!(
        matches!(
            error,
            AttestationError::CertificateParse {
                which: CertificateRole::CaBundle(1),
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn truncation_at_every_offset_is_an_error_not_a_panic() {
    let bytes = fixture(PROD_ANJUNA);
    for len in 0..bytes.len() {
        let result = verify_aws(&bytes[..len], &any_pcrs(), at_ms(PROD_ANJUNA_TS));
        assert!(result.is_err(), "truncated to {len} bytes was accepted");
    }
    let error = parse_unverified(&bytes[..bytes.len() - 1]).unwrap_err();
    assert!(
        matches!(
            error,
            AttestationError::Cose {
                problem: CborProblem::Truncated,
                ..
            }
        ),
        "{error}"
    );
    // Trailing garbage is refused too.
    let mut longer = bytes.clone();
    longer.push(0);
    let error = parse_unverified(&longer).unwrap_err();
    assert!(
        matches!(
            error,
            AttestationError::Cose {
                problem: CborProblem::TrailingBytes,
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn random_bytes_are_an_error_not_a_panic() {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..2000 {
        let len = (next() % 512) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        // Half of the inputs start like a COSE_Sign1 to get past the head.
        if round % 2 == 0 && !bytes.is_empty() {
            bytes[0] = 0x84;
        }
        assert!(parse_unverified(&bytes).is_err());
    }
    assert!(matches!(
        parse_unverified(&[0xa0]).unwrap_err(),
        AttestationError::Cose {
            problem: CborProblem::UnexpectedType { .. },
            ..
        }
    ));
    assert!(matches!(
        parse_unverified(&[0x9f, 0xff]).unwrap_err(),
        AttestationError::Cose {
            problem: CborProblem::IndefiniteLength,
            ..
        }
    ));
    let huge = vec![0u8; daas_core::attestation::MAX_DOCUMENT_LEN + 1];
    assert!(matches!(
        parse_unverified(&huge).unwrap_err(),
        AttestationError::TooLarge { .. }
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any single-byte change of a real document is refused (or, where the
    /// byte is not covered by anything, like the unprotected header, at
    /// least never panics).
    #[test]
    fn mutated_document_never_panics(offset in 0usize..4693, value in any::<u8>()) {
        let bytes = fixture(PROD_ANJUNA);
        let mut mutated = bytes.clone();
        let offset = offset % mutated.len();
        prop_assume!(mutated[offset] != value);
        mutated[offset] = value;
        let result = verify_aws(&mutated, &any_pcrs(), at_ms(PROD_ANJUNA_TS));
        prop_assert!(result.is_err(), "mutation at {} accepted", offset);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = parse_unverified(&bytes);
        let _ = decode_document_file(&bytes);
    }
}

// ---------------------------------------------------------------------------
// Policy

#[test]
fn matching_expected_pcrs_are_accepted() {
    let bytes = fixture(PROD_BLOCKY);
    let expected = own_pcrs(&bytes);
    assert!(expected.pcr8.is_some());
    let policy = Policy::new(PcrPolicy::Expect(expected.clone()));
    verify_aws(&bytes, &policy, at_ms(PROD_BLOCKY_TS)).unwrap();
    let without_pcr8 = ExpectedPcrs {
        pcr8: None,
        ..expected
    };
    verify_aws(
        &bytes,
        &Policy::new(PcrPolicy::Expect(without_pcr8)),
        at_ms(PROD_BLOCKY_TS),
    )
    .unwrap();
}

#[test]
fn wrong_expected_pcr_is_refused_naming_it() {
    let bytes = fixture(PROD_BLOCKY);
    let expected = own_pcrs(&bytes);
    let wrong = Pcr::new([0xab; 48]);
    for (index, pcrs) in [
        (
            0u8,
            ExpectedPcrs {
                pcr0: wrong,
                ..expected.clone()
            },
        ),
        (
            1,
            ExpectedPcrs {
                pcr1: wrong,
                ..expected.clone()
            },
        ),
        (
            2,
            ExpectedPcrs {
                pcr2: wrong,
                ..expected.clone()
            },
        ),
        (
            8,
            ExpectedPcrs {
                pcr8: Some(wrong),
                ..expected.clone()
            },
        ),
    ] {
        let error = verify_aws(
            &bytes,
            &Policy::new(PcrPolicy::Expect(pcrs)),
            at_ms(PROD_BLOCKY_TS),
        )
        .unwrap_err();
        match &error {
            AttestationError::PcrMismatch {
                index: got_index,
                expected,
                ..
            } => {
                assert_eq!(*got_index, index);
                assert_eq!(expected, &"ab".repeat(48));
                assert!(
                    error.to_string().starts_with(&format!("PCR{index} is ")),
                    "{error}"
                );
            }
            other => panic!("PCR{index}: {other}"),
        }
    }
}

#[test]
fn nonce_must_match_when_required() {
    let bytes = fixture(PROD_BLOCKY);
    let nonce = parse_unverified(&bytes).unwrap().nonce().unwrap().to_vec();
    let at = at_ms(PROD_BLOCKY_TS);
    verify_aws(&bytes, &any_pcrs().with_nonce(nonce.clone()), at).unwrap();

    let mut other = nonce;
    other[0] ^= 0xff;
    let error = verify_aws(&bytes, &any_pcrs().with_nonce(other), at).unwrap_err();
    assert!(
        matches!(error, AttestationError::NonceMismatch { .. }),
        "{error}"
    );

    let anjuna = fixture(PROD_ANJUNA);
    let error = verify_aws(
        &anjuna,
        &any_pcrs().with_nonce(b"fresh".to_vec()),
        at_ms(PROD_ANJUNA_TS),
    )
    .unwrap_err();
    assert!(
        matches!(error, AttestationError::NonceMissing { .. }),
        "{error}"
    );
}

#[test]
fn too_old_and_future_documents_are_refused() {
    let bytes = fixture(PROD_BLOCKY);
    // One minute later the leaf is still valid (it lives three hours).
    let later = at_ms(PROD_BLOCKY_TS + 60_000);
    let policy = any_pcrs().with_max_age(Duration::from_secs(30));
    let error = verify_aws(&bytes, &policy, later).unwrap_err();
    assert!(
        matches!(
            error,
            AttestationError::TooOld {
                age_ms: 60_000,
                max_ms: 30_000
            }
        ),
        "{error}"
    );
    verify_aws(
        &bytes,
        &any_pcrs().with_max_age(Duration::from_secs(61)),
        later,
    )
    .unwrap();

    // The verifier's clock is 2 s behind the enclave's (the leaf became
    // valid 3 s before the document was made, so the chain still holds):
    // refused with a 1 s skew allowance, accepted with the default 30 s.
    let earlier = at_ms(PROD_BLOCKY_TS - 2_000);
    let policy = any_pcrs().with_max_future_skew(Duration::from_secs(1));
    let error = verify_aws(&bytes, &policy, earlier).unwrap_err();
    assert!(
        matches!(
            error,
            AttestationError::FromTheFuture {
                ahead_ms: 2_000,
                ..
            }
        ),
        "{error}"
    );
    verify_aws(&bytes, &any_pcrs(), earlier).unwrap();
}

// ---------------------------------------------------------------------------
// Embedded root and file formats

#[test]
fn embedded_root_is_the_fixture_root_with_the_pinned_fingerprint() {
    let fixture_pem =
        std::fs::read_to_string(fixtures_dir().join("aws-nitro-enclaves-root-g1.pem")).unwrap();
    assert_eq!(fixture_pem.trim(), AWS_NITRO_ROOT_G1_PEM.trim());
    let der = aws_nitro_root_der().unwrap();
    assert_eq!(
        hex::encode(Sha256::digest(der)),
        "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b"
    );
    // Real documents carry the root as cabundle[0], byte for byte.
    let document = parse_unverified(&fixture(PROD_BLOCKY)).unwrap();
    assert_eq!(document.cabundle()[0], der);
}

#[test]
fn document_files_decode_from_cbor_base64_and_hex() {
    let raw = std::fs::read(fixtures_dir().join(PROD_ANJUNA)).unwrap();
    assert_eq!(
        decode_document_file(&raw).unwrap(),
        (FileEncoding::Cbor, raw.clone())
    );

    let hex_text = format!("{}\n", hex::encode(&raw));
    assert_eq!(
        decode_document_file(hex_text.as_bytes()).unwrap(),
        (FileEncoding::Hex, raw.clone())
    );

    let b64 = std::fs::read(fixtures_dir().join(PROD_BLOCKY)).unwrap();
    let (encoding, bytes) = decode_document_file(&b64).unwrap();
    assert_eq!(encoding, FileEncoding::Base64);
    assert_eq!(bytes[0], 0x84);

    use base64::Engine;
    let wrapped: String = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(&raw)
        .as_bytes()
        .chunks(64)
        .map(|line| format!("{}\n", std::str::from_utf8(line).unwrap()))
        .collect();
    assert_eq!(decode_document_file(wrapped.as_bytes()).unwrap().1, raw);

    assert!(decode_document_file(b"").is_err());
    assert!(decode_document_file(b"  \n").is_err());
    assert!(decode_document_file(b"not a document!").is_err());
}

// ---------------------------------------------------------------------------
// Development roots

/// A generated development PKI: root → intermediate → leaf, all P-384.
struct DevPki {
    root_der: Vec<u8>,
    intermediate_der: Vec<u8>,
    leaf_der: Vec<u8>,
    leaf_key: SigningKey,
}

fn name(text: &str) -> Name {
    let name = Name::from_str(text).unwrap();
    Name::from_der(&name.to_der().unwrap()).unwrap()
}

fn spki(key: &SigningKey) -> SubjectPublicKeyInfoOwned {
    SubjectPublicKeyInfoOwned::from_key(*key.verifying_key()).unwrap()
}

fn validity(not_before: SystemTime, not_after: SystemTime) -> Validity {
    Validity {
        not_before: Time::try_from(not_before).unwrap(),
        not_after: Time::try_from(not_after).unwrap(),
    }
}

impl DevPki {
    fn new(not_before: SystemTime, not_after: SystemTime) -> Self {
        let mut rng = rand::rngs::OsRng;
        let root_key = SigningKey::random(&mut rng);
        let intermediate_key = SigningKey::random(&mut rng);
        let leaf_key = SigningKey::random(&mut rng);
        let root_name = name("CN=daas dev root,O=K3s-DaaS");
        let intermediate_name = name("CN=daas dev intermediate,O=K3s-DaaS");
        let leaf_name = name("CN=daas dev enclave,O=K3s-DaaS");

        let root = CertificateBuilder::new(
            Profile::Root,
            SerialNumber::from(1u32),
            validity(not_before, not_after),
            root_name.clone(),
            spki(&root_key),
            &root_key,
        )
        .unwrap()
        .build::<DerSignature>()
        .unwrap();
        let intermediate = CertificateBuilder::new(
            Profile::SubCA {
                issuer: root_name,
                path_len_constraint: Some(0),
            },
            SerialNumber::from(2u32),
            validity(not_before, not_after),
            intermediate_name.clone(),
            spki(&intermediate_key),
            &root_key,
        )
        .unwrap()
        .build::<DerSignature>()
        .unwrap();
        let leaf = CertificateBuilder::new(
            Profile::Leaf {
                issuer: intermediate_name,
                enable_key_agreement: false,
                enable_key_encipherment: false,
            },
            SerialNumber::from(3u32),
            validity(not_before, not_after),
            leaf_name,
            spki(&leaf_key),
            &intermediate_key,
        )
        .unwrap()
        .build::<DerSignature>()
        .unwrap();
        Self {
            root_der: root.to_der().unwrap(),
            intermediate_der: intermediate.to_der().unwrap(),
            leaf_der: leaf.to_der().unwrap(),
            leaf_key,
        }
    }

    fn dev_root(&self) -> DevRoot {
        DevRoot::from_der(&self.root_der).unwrap()
    }

    fn document(&self, timestamp_ms: u64) -> UnsignedDocument {
        let pcrs: BTreeMap<u8, Pcr> = (0u8..16)
            .map(|index| (index, Pcr::new([index + 1; 48])))
            .collect();
        UnsignedDocument {
            module_id: "i-dev-enc0001".to_owned(),
            timestamp_ms,
            pcrs,
            certificate: self.leaf_der.clone(),
            cabundle: vec![self.root_der.clone(), self.intermediate_der.clone()],
            public_key: Some(vec![7; 32]),
            user_data: Some(b"tls key hash".to_vec()),
            nonce: Some(b"client nonce".to_vec()),
        }
    }
}

fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

#[test]
fn dev_document_verifies_only_when_dev_is_allowed() {
    let now = SystemTime::now();
    let pki = DevPki::new(
        now - Duration::from_secs(60),
        now + Duration::from_secs(3600),
    );
    let ts = now_ms();
    let bytes = pki.document(ts).sign(&pki.leaf_key);
    let at = at_ms(ts + 1_000);
    let policy = any_pcrs().with_nonce(b"client nonce".to_vec());

    let verified = verify(
        &bytes,
        &TrustRoots::aws_and_insecure_dev(pki.dev_root()),
        &policy,
        at,
    )
    .unwrap();
    assert!(verified.is_dev());
    assert_eq!(verified.root(), RootKind::Dev);
    assert_eq!(verified.module_id(), "i-dev-enc0001");
    assert_eq!(verified.public_key(), Some(&[7u8; 32][..]));
    assert_eq!(verified.user_data(), Some(&b"tls key hash"[..]));

    // PEM loading gives the same root.
    let pem =
        der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &pki.root_der).unwrap();
    let from_pem = DevRoot::from_pem(&pem).unwrap();
    assert_eq!(from_pem.fingerprint(), pki.dev_root().fingerprint());
    verify(
        &bytes,
        &TrustRoots::insecure_dev_only(from_pem),
        &policy,
        at,
    )
    .unwrap();

    // Production clients refuse it.
    let error = verify(&bytes, &TrustRoots::aws(), &policy, at).unwrap_err();
    assert!(
        matches!(error, AttestationError::UntrustedRoot { .. }),
        "{error}"
    );

    // Another dev root is not this one: same name, other key.
    let other = DevPki::new(
        now - Duration::from_secs(60),
        now + Duration::from_secs(3600),
    );
    let error = verify(
        &bytes,
        &TrustRoots::insecure_dev_only(other.dev_root()),
        &policy,
        at,
    )
    .unwrap_err();
    assert!(
        matches!(
            error,
            AttestationError::CertificateSignature {
                which: CertificateRole::CaBundle(0)
            }
        ),
        "{error}"
    );
}

#[test]
fn dev_document_signed_by_another_key_is_refused() {
    let now = SystemTime::now();
    let pki = DevPki::new(
        now - Duration::from_secs(60),
        now + Duration::from_secs(3600),
    );
    let ts = now_ms();
    let intruder = SigningKey::random(&mut rand::rngs::OsRng);
    let bytes = pki.document(ts).sign(&intruder);
    let error = verify(
        &bytes,
        &TrustRoots::insecure_dev_only(pki.dev_root()),
        &any_pcrs(),
        at_ms(ts),
    )
    .unwrap_err();
    assert!(
        matches!(error, AttestationError::SignatureInvalid),
        "{error}"
    );
}

#[test]
fn dev_root_must_be_a_self_signed_ca() {
    let now = SystemTime::now();
    let pki = DevPki::new(
        now - Duration::from_secs(60),
        now + Duration::from_secs(3600),
    );
    let error = DevRoot::from_der(&pki.leaf_der).unwrap_err();
    assert!(matches!(error, AttestationError::DevRoot { .. }), "{error}");
    let error = DevRoot::from_der(b"not a certificate").unwrap_err();
    assert!(matches!(error, AttestationError::DevRoot { .. }), "{error}");
    assert!(
        DevRoot::from_pem("-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n")
            .is_err()
    );
}

#[test]
fn dev_chain_that_breaks_the_path_length_is_refused() {
    let now = SystemTime::now();
    let pki = DevPki::new(
        now - Duration::from_secs(60),
        now + Duration::from_secs(3600),
    );
    let ts = now_ms();
    // Put the intermediate twice: the second one is below a pathlen:0 CA.
    let mut document = pki.document(ts);
    document.cabundle.push(pki.intermediate_der.clone());
    let bytes = document.sign(&pki.leaf_key);
    let error = verify(
        &bytes,
        &TrustRoots::insecure_dev_only(pki.dev_root()),
        &any_pcrs(),
        at_ms(ts),
    )
    .unwrap_err();
    // The duplicated intermediate names the intermediate, not the root,
    // as its issuer.
    assert!(
        matches!(
            error,
            AttestationError::IssuerMismatch {
                which: CertificateRole::CaBundle(2),
                ..
            } | AttestationError::PathLength {
                which: CertificateRole::CaBundle(2)
            }
        ),
        "{error}"
    );
}

#[test]
fn dev_leaf_cannot_issue_certificates() {
    let now = SystemTime::now();
    let pki = DevPki::new(
        now - Duration::from_secs(60),
        now + Duration::from_secs(3600),
    );
    let ts = now_ms();
    // The leaf placed in the bundle as if it were a CA.
    let mut document = pki.document(ts);
    document.cabundle.push(pki.leaf_der.clone());
    let bytes = document.sign(&pki.leaf_key);
    let error = verify(
        &bytes,
        &TrustRoots::insecure_dev_only(pki.dev_root()),
        &any_pcrs(),
        at_ms(ts),
    )
    .unwrap_err();
    assert!(
        matches!(
            error,
            AttestationError::NotCa {
                which: CertificateRole::CaBundle(2),
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn dev_chain_is_checked_at_the_verification_time() {
    let now = SystemTime::now();
    let pki = DevPki::new(now - Duration::from_secs(60), now + Duration::from_secs(60));
    let ts = now_ms() + 3_600_000;
    let bytes = pki.document(ts).sign(&pki.leaf_key);
    let error = verify(
        &bytes,
        &TrustRoots::insecure_dev_only(pki.dev_root()),
        &any_pcrs(),
        at_ms(ts),
    )
    .unwrap_err();
    assert!(
        matches!(
            error,
            AttestationError::CertificateNotValidAt {
                which: CertificateRole::TrustedRoot,
                ..
            }
        ),
        "{error}"
    );
}

// ---------------------------------------------------------------------------
// Strict decoding of hand-made documents

/// A CBOR value for building malformed documents.
enum V {
    U(u64),
    N(i64),
    B(Vec<u8>),
    T(&'static str),
    A(Vec<V>),
    M(Vec<(V, V)>),
    Null,
}

fn head(out: &mut Vec<u8>, major: u8, n: u64) {
    let major = major << 5;
    if n < 24 {
        out.push(major | n as u8);
    } else if n <= 0xff {
        out.extend([major | 24, n as u8]);
    } else if n <= 0xffff {
        out.push(major | 25);
        out.extend((n as u16).to_be_bytes());
    } else {
        out.push(major | 27);
        out.extend(n.to_be_bytes());
    }
}

fn encode(value: &V, out: &mut Vec<u8>) {
    match value {
        V::U(n) => head(out, 0, *n),
        V::N(n) => head(out, 1, (-1 - n) as u64),
        V::B(bytes) => {
            head(out, 2, bytes.len() as u64);
            out.extend(bytes);
        }
        V::T(text) => {
            head(out, 3, text.len() as u64);
            out.extend(text.as_bytes());
        }
        V::A(items) => {
            head(out, 4, items.len() as u64);
            items.iter().for_each(|item| encode(item, out));
        }
        V::M(pairs) => {
            head(out, 5, pairs.len() as u64);
            for (key, value) in pairs {
                encode(key, out);
                encode(value, out);
            }
        }
        V::Null => out.push(0xf6),
    }
}

fn cbor(value: &V) -> Vec<u8> {
    let mut out = Vec::new();
    encode(value, &mut out);
    out
}

/// A well-formed document map with one field replaced (or removed, with
/// `None`), or one extra pair appended.
fn document_with(field: &'static str, value: Option<V>) -> Vec<u8> {
    let mut pairs = vec![
        (V::T("module_id"), V::T("i-test")),
        (V::T("digest"), V::T("SHA384")),
        (V::T("timestamp"), V::U(1_700_000_000_000)),
        (
            V::T("pcrs"),
            V::M(vec![
                (V::U(0), V::B(vec![1; 48])),
                (V::U(1), V::B(vec![2; 48])),
            ]),
        ),
        (V::T("certificate"), V::B(vec![0x30; 10])),
        (V::T("cabundle"), V::A(vec![V::B(vec![0x30; 10])])),
        (V::T("public_key"), V::Null),
        (V::T("user_data"), V::Null),
        (V::T("nonce"), V::Null),
    ];
    match pairs
        .iter()
        .position(|(key, _)| matches!(key, V::T(name) if *name == field))
    {
        Some(index) => match value {
            Some(value) => pairs[index].1 = value,
            None => {
                pairs.remove(index);
            }
        },
        None => pairs.push((V::T(field), value.unwrap_or(V::Null))),
    }
    cbor(&V::M(pairs))
}

fn parse_payload(payload: &[u8]) -> Result<(), AttestationError> {
    let key = SigningKey::random(&mut rand::rngs::OsRng);
    parse_unverified(&sign_es384(payload, &key)).map(|_| ())
}

#[test]
fn hand_made_well_formed_document_parses() {
    parse_payload(&document_with(
        "unknown_future_field",
        Some(V::A(vec![V::U(1)])),
    ))
    .unwrap();
}

/// Whether an error is the expected one.
type ErrorCheck = fn(&AttestationError) -> bool;

#[test]
fn strict_decoding_names_the_field() {
    let cases: Vec<(&str, Vec<u8>, ErrorCheck)> = vec![
        ("missing module_id", document_with("module_id", None), |e| {
            matches!(e, AttestationError::MissingField { field: "module_id" })
        }),
        ("missing digest", document_with("digest", None), |e| {
            matches!(e, AttestationError::MissingField { field: "digest" })
        }),
        ("missing cabundle", document_with("cabundle", None), |e| {
            matches!(e, AttestationError::MissingField { field: "cabundle" })
        }),
        (
            "timestamp as text",
            document_with("timestamp", Some(V::T("now"))),
            |e| {
                matches!(
                    e,
                    AttestationError::Field {
                        field: "timestamp",
                        problem: CborProblem::UnexpectedType { .. },
                        ..
                    }
                )
            },
        ),
        (
            "negative timestamp",
            document_with("timestamp", Some(V::N(-5))),
            |e| {
                matches!(
                    e,
                    AttestationError::Field {
                        field: "timestamp",
                        ..
                    }
                )
            },
        ),
        (
            "zero timestamp",
            document_with("timestamp", Some(V::U(0))),
            |e| matches!(e, AttestationError::ZeroTimestamp),
        ),
        (
            "digest SHA256",
            document_with("digest", Some(V::T("SHA256"))),
            |e| matches!(e, AttestationError::Digest { found } if found == "SHA256"),
        ),
        (
            "short PCR",
            document_with("pcrs", Some(V::M(vec![(V::U(3), V::B(vec![0; 47]))]))),
            |e| matches!(e, AttestationError::PcrLength { index: 3, len: 47 }),
        ),
        (
            "PCR index 32",
            document_with("pcrs", Some(V::M(vec![(V::U(32), V::B(vec![0; 48]))]))),
            |e| matches!(e, AttestationError::PcrIndex { index: 32 }),
        ),
        (
            "PCR twice",
            document_with(
                "pcrs",
                Some(V::M(vec![
                    (V::U(4), V::B(vec![0; 48])),
                    (V::U(4), V::B(vec![0; 48])),
                ])),
            ),
            |e| matches!(e, AttestationError::DuplicatePcr { index: 4 }),
        ),
        (
            "empty pcrs",
            document_with("pcrs", Some(V::M(vec![]))),
            |e| {
                matches!(
                    e,
                    AttestationError::FieldSize {
                        field: "pcrs",
                        len: 0,
                        ..
                    }
                )
            },
        ),
        (
            "pcrs as array",
            document_with("pcrs", Some(V::A(vec![]))),
            |e| matches!(e, AttestationError::Field { field: "pcrs", .. }),
        ),
        (
            "nonce too long",
            document_with("nonce", Some(V::B(vec![0; 1025]))),
            |e| {
                matches!(
                    e,
                    AttestationError::FieldSize {
                        field: "nonce",
                        len: 1025,
                        max: 1024,
                        ..
                    }
                )
            },
        ),
        (
            "user_data too long",
            document_with("user_data", Some(V::B(vec![0; 1025]))),
            |e| {
                matches!(
                    e,
                    AttestationError::FieldSize {
                        field: "user_data",
                        len: 1025,
                        ..
                    }
                )
            },
        ),
        (
            "empty public_key",
            document_with("public_key", Some(V::B(vec![]))),
            |e| {
                matches!(
                    e,
                    AttestationError::FieldSize {
                        field: "public_key",
                        len: 0,
                        ..
                    }
                )
            },
        ),
        (
            "public_key as text",
            document_with("public_key", Some(V::T("key"))),
            |e| {
                matches!(
                    e,
                    AttestationError::Field {
                        field: "public_key",
                        ..
                    }
                )
            },
        ),
        (
            "empty cabundle",
            document_with("cabundle", Some(V::A(vec![]))),
            |e| {
                matches!(
                    e,
                    AttestationError::FieldSize {
                        field: "cabundle",
                        len: 0,
                        ..
                    }
                )
            },
        ),
        (
            "cabundle of text",
            document_with("cabundle", Some(V::A(vec![V::T("cert")]))),
            |e| {
                matches!(
                    e,
                    AttestationError::Field {
                        field: "cabundle",
                        ..
                    }
                )
            },
        ),
        (
            "certificate too long",
            document_with("certificate", Some(V::B(vec![0; 1025]))),
            |e| {
                matches!(
                    e,
                    AttestationError::FieldSize {
                        field: "certificate",
                        ..
                    }
                )
            },
        ),
        (
            "empty module_id",
            document_with("module_id", Some(V::T(""))),
            |e| {
                matches!(
                    e,
                    AttestationError::FieldSize {
                        field: "module_id",
                        len: 0,
                        ..
                    }
                )
            },
        ),
        (
            "module_id twice",
            {
                let mut doc = document_with("module_id", None);
                // Re-encode with module_id appended twice.
                doc.clear();
                let pairs = vec![
                    (V::T("module_id"), V::T("a")),
                    (V::T("module_id"), V::T("b")),
                ];
                encode(&V::M(pairs), &mut doc);
                doc
            },
            |e| matches!(e, AttestationError::DuplicateField { field: "module_id" }),
        ),
        ("not a map", cbor(&V::A(vec![])), |e| {
            matches!(
                e,
                AttestationError::Document {
                    problem: CborProblem::UnexpectedType { .. },
                    ..
                }
            )
        }),
        ("integer key", cbor(&V::M(vec![(V::U(1), V::U(2))])), |e| {
            matches!(e, AttestationError::Document { .. })
        }),
    ];
    for (what, payload, check) in cases {
        let error = parse_payload(&payload).unwrap_err();
        assert!(check(&error), "{what}: unexpected error {error:?}");
    }
}

#[test]
fn cose_envelope_is_checked() {
    let payload = document_with("x", None);
    let signature = V::B(vec![0; 96]);
    let envelope = |protected: Vec<u8>, signature: V| {
        cbor(&V::A(vec![
            V::B(protected),
            V::M(vec![]),
            V::B(payload.clone()),
            signature,
        ]))
    };
    let es384 = cbor(&V::M(vec![(V::U(1), V::N(-35))]));
    parse_unverified(&envelope(es384.clone(), V::B(vec![0; 96]))).unwrap();

    let es256 = cbor(&V::M(vec![(V::U(1), V::N(-7))]));
    let error = parse_unverified(&envelope(es256, V::B(vec![0; 96]))).unwrap_err();
    assert!(
        matches!(
            error,
            AttestationError::UnsupportedAlgorithm { found: Some(-7) }
        ),
        "{error}"
    );

    let error = parse_unverified(&envelope(Vec::new(), V::B(vec![0; 96]))).unwrap_err();
    assert!(
        matches!(
            error,
            AttestationError::Cose {
                part: "protected header",
                ..
            }
        ),
        "{error}"
    );

    let no_alg = cbor(&V::M(vec![]));
    let error = parse_unverified(&envelope(no_alg, V::B(vec![0; 96]))).unwrap_err();
    assert!(
        matches!(
            error,
            AttestationError::UnsupportedAlgorithm { found: None }
        ),
        "{error}"
    );

    let crit = cbor(&V::M(vec![
        (V::U(1), V::N(-35)),
        (V::U(2), V::A(vec![V::U(99)])),
    ]));
    let error = parse_unverified(&envelope(crit, V::B(vec![0; 96]))).unwrap_err();
    assert!(matches!(error, AttestationError::CriticalHeader), "{error}");

    let error = parse_unverified(&envelope(es384.clone(), V::B(vec![0; 64]))).unwrap_err();
    assert!(
        matches!(error, AttestationError::SignatureLength { len: 64 }),
        "{error}"
    );

    let error = parse_unverified(&envelope(es384.clone(), V::Null)).unwrap_err();
    assert!(
        matches!(
            error,
            AttestationError::Cose {
                part: "signature",
                ..
            }
        ),
        "{error}"
    );

    let three = cbor(&V::A(vec![V::B(es384), V::M(vec![]), signature]));
    let error = parse_unverified(&three).unwrap_err();
    assert!(
        matches!(error, AttestationError::CoseArrayLength { found: 3 }),
        "{error}"
    );
}

#[test]
fn deeply_nested_unknown_field_is_skipped_without_recursion() {
    let mut payload = document_with("zzz_nested", Some(V::Null));
    assert_eq!(payload.pop(), Some(0xf6));
    payload.extend(std::iter::repeat_n(0x81, 12_000));
    payload.push(0x00);
    parse_payload(&payload).unwrap();

    // Unterminated nesting is an error, not a hang or a stack overflow.
    let mut payload = document_with("zzz_nested", Some(V::Null));
    payload.pop();
    payload.extend(std::iter::repeat_n(0x9f, 12_000));
    let error = parse_payload(&payload).unwrap_err();
    assert!(
        matches!(
            error,
            AttestationError::Document {
                problem: CborProblem::IndefiniteLength,
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn caching_verifier_still_checks_every_document() {
    use daas_core::attestation::Verifier;
    let bytes = fixture(PROD_BLOCKY);
    let at = at_ms(PROD_BLOCKY_TS);
    let verifier = Verifier::new(TrustRoots::aws());
    let policy = any_pcrs();
    for _ in 0..3 {
        assert_eq!(
            verifier.verify(&bytes, &policy, at).unwrap().timestamp_ms(),
            PROD_BLOCKY_TS
        );
    }
    // Cached links do not cover changed certificates, the COSE signature,
    // the validity period or the policy.
    let document = parse_unverified(&bytes).unwrap();
    let leaf = document.certificate().to_vec();
    let offset = position(&bytes, &leaf) + leaf.len() - 1;
    let error = verifier
        .verify(&flipped(&bytes, offset), &policy, at)
        .unwrap_err();
    assert!(
        matches!(
            error,
            AttestationError::CertificateSignature {
                which: CertificateRole::Leaf
            }
        ),
        "{error}"
    );
    let error = verifier
        .verify(&flipped(&bytes, bytes.len() - 1), &policy, at)
        .unwrap_err();
    assert!(
        matches!(error, AttestationError::SignatureInvalid),
        "{error}"
    );
    let error = verifier
        .verify(&bytes, &policy, SystemTime::now())
        .unwrap_err();
    assert!(
        matches!(error, AttestationError::CertificateNotValidAt { .. }),
        "{error}"
    );
    let debug = fixture(DEBUG_BLOCKY);
    let error = verifier
        .verify(&debug, &policy, at_ms(DEBUG_BLOCKY_TS))
        .unwrap_err();
    assert!(
        matches!(error, AttestationError::DebugMode { index: 0 }),
        "{error}"
    );
}

#[test]
fn p256_dev_root_with_sha256_signatures_is_accepted() {
    let now = SystemTime::now();
    let root_key = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let leaf_key = SigningKey::random(&mut rand::rngs::OsRng);
    let root_name = name("CN=daas dev p256 root");
    let root = CertificateBuilder::new(
        Profile::Root,
        SerialNumber::from(1u32),
        validity(
            now - Duration::from_secs(60),
            now + Duration::from_secs(3600),
        ),
        root_name.clone(),
        SubjectPublicKeyInfoOwned::from_key(*root_key.verifying_key()).unwrap(),
        &root_key,
    )
    .unwrap()
    .build::<p256::ecdsa::DerSignature>()
    .unwrap();
    // A P-256 root signs (ecdsa-with-SHA256) a leaf with a P-384 key.
    let leaf = CertificateBuilder::new(
        Profile::Leaf {
            issuer: root_name,
            enable_key_agreement: false,
            enable_key_encipherment: false,
        },
        SerialNumber::from(2u32),
        validity(
            now - Duration::from_secs(60),
            now + Duration::from_secs(3600),
        ),
        name("CN=daas dev p384 leaf"),
        spki(&leaf_key),
        &root_key,
    )
    .unwrap()
    .build::<p256::ecdsa::DerSignature>()
    .unwrap();
    let root_der = root.to_der().unwrap();
    let ts = now_ms();
    let document = UnsignedDocument {
        module_id: "i-dev-p256".to_owned(),
        timestamp_ms: ts,
        pcrs: (0u8..3).map(|index| (index, Pcr::new([9; 48]))).collect(),
        certificate: leaf.to_der().unwrap(),
        cabundle: vec![root_der.clone()],
        ..UnsignedDocument::default()
    };
    let bytes = document.sign(&leaf_key);
    let roots = TrustRoots::insecure_dev_only(DevRoot::from_der(&root_der).unwrap());
    let verified = verify(&bytes, &roots, &any_pcrs(), at_ms(ts)).unwrap();
    assert!(verified.is_dev());
    assert_eq!(verified.public_key(), None);
}
