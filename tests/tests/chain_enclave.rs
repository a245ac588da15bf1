//! On-chain enclave registration through
//! `0x2::nitro_attestation::load_nitro_attestation` and
//! `k3s_daas::enclave::register_enclave`, with the chain client against a
//! `daas-devnet` process that trusts a development root made here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use daas_core::attestation::{
    DevRoot, ExpectedPcrs, Pcr, PcrPolicy, Policy, TrustRoots, UnsignedDocument, verify,
};
use daas_core::chain::ptb::PcrArgs;
use daas_core::chain::{ChainClient, ChainError, TransactionSigner};
use daas_core::package::enclave::EnclaveAbort;
use daas_core::package::{ENCLAVE_CAP_ID, PackageAbort};
use daas_e2e::devnet::{Devnet, DevnetOptions};
use p384::pkcs8::DecodePrivateKey as _;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P384_SHA384,
};
use sui_crypto::ed25519::Ed25519PrivateKey;
use sui_sdk_types::Address;

/// Abort codes of Sui's `0x2::nitro_attestation`.
const NITRO_MODULE: &str = "nitro_attestation";
const E_PARSE_ERROR: u64 = 1;
const E_VERIFY_ERROR: u64 = 2;

/// A development attestation authority: a self-signed P-384 root CA and a
/// leaf whose key signs Nitro-format documents.
struct DevAuthority {
    root_pem: String,
    root_der: Vec<u8>,
    leaf_der: Vec<u8>,
    leaf_key: p384::ecdsa::SigningKey,
}

impl DevAuthority {
    fn new(name: &str) -> Self {
        let root_key = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).unwrap();
        let mut root_params = CertificateParams::default();
        root_params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} INSECURE dev root"));
        root_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        root_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let root = root_params.self_signed(&root_key).unwrap();
        let issuer = Issuer::new(root_params, root_key);
        let leaf_pair = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).unwrap();
        let leaf_key = p384::ecdsa::SigningKey::from_pkcs8_der(&leaf_pair.serialize_der()).unwrap();
        let mut leaf_params = CertificateParams::default();
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} dev enclave"));
        leaf_params.is_ca = IsCa::ExplicitNoCa;
        leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let leaf = leaf_params.signed_by(&leaf_pair, &issuer).unwrap();
        Self {
            root_pem: root.pem(),
            root_der: root.der().to_vec(),
            leaf_der: leaf.der().to_vec(),
            leaf_key,
        }
    }

    fn root(&self) -> DevRoot {
        DevRoot::from_pem(&self.root_pem).unwrap()
    }

    /// A document with PCR 0, 1, 2 = `pcrs` (PCR 3, 4, 8 zero, as the NSM
    /// reports unused ones) carrying `public_key`, signed now.
    fn document(&self, pcrs: &[Pcr; 3], public_key: &[u8]) -> Vec<u8> {
        let mut map: BTreeMap<u8, Pcr> = pcrs
            .iter()
            .enumerate()
            .map(|(index, pcr)| (index as u8, *pcr))
            .collect();
        for index in [3, 4, 8] {
            map.insert(index, Pcr::new([0; 48]));
        }
        UnsignedDocument {
            module_id: "i-0123456789abcdef0-enc0123456789abcdef".to_owned(),
            timestamp_ms: now_ms(),
            pcrs: map,
            certificate: self.leaf_der.clone(),
            cabundle: vec![self.root_der.clone()],
            public_key: Some(public_key.to_vec()),
            user_data: Some(b"sha256 of the TLS key".to_vec()),
            nonce: None,
        }
        .sign(&self.leaf_key)
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn configured_pcrs() -> [Pcr; 3] {
    [
        Pcr::new([0x10; 48]),
        Pcr::new([0x11; 48]),
        Pcr::new([0x12; 48]),
    ]
}

/// A devnet whose EnclaveCap belongs to `admin`, with an `EnclaveConfig`
/// of [`configured_pcrs`] and a funded `master` key.
struct Chain {
    _devnet: Devnet,
    client: ChainClient,
    master: Ed25519PrivateKey,
    config: Address,
}

impl Chain {
    async fn start(dev_root_pem: Option<&str>) -> Self {
        let admin = Ed25519PrivateKey::new([0xad; 32]);
        let master = Ed25519PrivateKey::new([0x3a; 32]);
        let devnet = Devnet::start_with_attestation(
            DevnetOptions {
                admin: Some(TransactionSigner::address(&admin)),
                ..DevnetOptions::default()
            },
            dev_root_pem,
        )
        .await
        .unwrap();
        devnet
            .fund(TransactionSigner::address(&admin))
            .await
            .unwrap();
        devnet
            .fund(TransactionSigner::address(&master))
            .await
            .unwrap();
        let client = devnet.client().unwrap();
        let [pcr0, pcr1, pcr2] = configured_pcrs();
        let created = client
            .create_enclave_config(
                &admin,
                ENCLAVE_CAP_ID,
                "k3s-daas master",
                &PcrArgs {
                    pcr0: pcr0.as_bytes(),
                    pcr1: pcr1.as_bytes(),
                    pcr2: pcr2.as_bytes(),
                },
            )
            .await
            .unwrap();
        Self {
            _devnet: devnet,
            client,
            master,
            config: created.event.config_id,
        }
    }

    async fn register(&self, document: &[u8]) -> Result<Address, ChainError> {
        self.client
            .register_enclave(&self.master, self.config, document)
            .await
            .map(|called| called.event.enclave_id)
    }
}

fn enclave_key() -> Ed25519PrivateKey {
    Ed25519PrivateKey::new([0x77; 32])
}

fn assert_nitro_abort(result: Result<Address, ChainError>, code: u64) {
    let error = result.expect_err("registration must be refused");
    assert!(
        error.is_abort(NITRO_MODULE, code),
        "expected abort {code} of 0x2::{NITRO_MODULE}, got {error}"
    );
}

#[tokio::test]
async fn a_dev_document_with_the_configured_pcrs_registers_its_key() {
    let authority = DevAuthority::new("register");
    let chain = Chain::start(Some(&authority.root_pem)).await;
    let key = enclave_key();
    let pk = key.public_key().as_bytes().to_vec();
    let document = authority.document(&configured_pcrs(), &pk);

    let called = chain
        .client
        .register_enclave(&chain.master, chain.config, &document)
        .await
        .unwrap();
    assert_eq!(called.event.pk, pk);
    assert_eq!(called.event.config_id, chain.config);
    assert_eq!(
        called.event.owner,
        TransactionSigner::address(&chain.master)
    );

    // The registered key is the document's public_key.
    let registered = chain
        .client
        .enclave_public_key(called.event.enclave_id)
        .await
        .unwrap();
    assert_eq!(registered.as_bytes().to_vec(), pk);
    let enclave = chain.client.enclave(called.event.enclave_id).await.unwrap();
    assert_eq!(enclave.value.config_version, 0);

    // A client pins the chain's PCRs instead of configured ones, and its
    // policy verifies the registered document.
    let expected = chain
        .client
        .enclave_expected_pcrs(chain.config)
        .await
        .unwrap();
    let [pcr0, pcr1, pcr2] = configured_pcrs();
    assert_eq!(
        expected,
        ExpectedPcrs {
            pcr0,
            pcr1,
            pcr2,
            pcr8: None,
        }
    );
    let verified = verify(
        &document,
        &TrustRoots::insecure_dev_only(authority.root()),
        &Policy::new(PcrPolicy::Expect(expected.clone())),
        SystemTime::now(),
    )
    .unwrap();
    assert!(verified.is_dev());
    assert_eq!(verified.public_key(), Some(registered.as_bytes()));

    // The same policy refuses a document of other PCRs.
    let other = authority.document(&[pcr0, pcr1, Pcr::new([0x99; 48])], &pk);
    let refused = verify(
        &other,
        &TrustRoots::insecure_dev_only(authority.root()),
        &Policy::new(PcrPolicy::Expect(expected)),
        SystemTime::now(),
    );
    assert!(refused.is_err());
}

#[tokio::test]
async fn documents_the_chain_must_refuse() {
    let authority = DevAuthority::new("refuse");
    let chain = Chain::start(Some(&authority.root_pem)).await;
    let pk = enclave_key().public_key().as_bytes().to_vec();
    let [pcr0, pcr1, _] = configured_pcrs();

    // Other PCRs: enclave::EPcrMismatch (301).
    let other = authority.document(&[pcr0, pcr1, Pcr::new([0x99; 48])], &pk);
    let error = chain.register(&other).await.unwrap_err();
    assert_eq!(
        error.package_abort(),
        Some(PackageAbort::Enclave(EnclaveAbort::PcrMismatch)),
        "{error}"
    );

    // Signed under a root the devnet does not trust: EVerifyError (2).
    let stranger = DevAuthority::new("stranger");
    assert_nitro_abort(
        chain
            .register(&stranger.document(&configured_pcrs(), &pk))
            .await,
        E_VERIFY_ERROR,
    );

    // Tampered: another key spliced into a signed document: EVerifyError.
    let document = authority.document(&configured_pcrs(), &pk);
    let at = document
        .windows(pk.len())
        .position(|window| window == pk.as_slice())
        .unwrap();
    let mut tampered = document.clone();
    tampered[at] ^= 0xff;
    assert_nitro_abort(chain.register(&tampered).await, E_VERIFY_ERROR);
    // Tampered signature.
    let mut tampered = document.clone();
    *tampered.last_mut().unwrap() ^= 1;
    assert_nitro_abort(chain.register(&tampered).await, E_VERIFY_ERROR);
    // Truncated and garbage: EParseError (1).
    assert_nitro_abort(
        chain.register(&document[..document.len() - 10]).await,
        E_PARSE_ERROR,
    );
    assert_nitro_abort(chain.register(b"not an attestation").await, E_PARSE_ERROR);

    // The untouched document still registers.
    chain.register(&document).await.unwrap();
}

#[tokio::test]
async fn a_devnet_without_the_dev_root_refuses_dev_documents() {
    let authority = DevAuthority::new("aws-only");
    let chain = Chain::start(None).await;
    let pk = enclave_key().public_key().as_bytes().to_vec();
    assert_nitro_abort(
        chain
            .register(&authority.document(&configured_pcrs(), &pk))
            .await,
        E_VERIFY_ERROR,
    );
}
