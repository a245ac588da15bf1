//! Cross-checks of wallet bytes against the official TypeScript SDK
//! (`@mysten/sui`, pinned in tests/js/package.json), run through Node.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::OnceLock;

use daas_core::wallet::{DerivationPath, Keypair, Scheme, SerializedSignature};
use serde_json::{Value, json};

const SECRETS: [(Scheme, &str); 3] = [
    (
        Scheme::Ed25519,
        "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20",
    ),
    (
        Scheme::Secp256k1,
        "8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    ),
    (
        Scheme::Secp256r1,
        "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721",
    ),
];

const MNEMONICS: [&str; 2] = [
    "film crazy soon outside stand loop subway crumble thrive popular green nuclear struggle pistol arm wife phrase warfare march wheat nephew ask sunny firm",
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
];

fn messages() -> Vec<Vec<u8>> {
    vec![
        b"hello k3s-daas".to_vec(),
        Vec::new(),
        vec![0xff, 0x00, 0x80, 0x7f],
        (0..1000u32).map(|i| (i % 251) as u8).collect(),
    ]
}

fn fixed_keys() -> Vec<Keypair> {
    SECRETS
        .iter()
        .map(|(scheme, secret)| {
            Keypair::from_bytes(*scheme, &hex::decode(secret).unwrap()).unwrap()
        })
        .collect()
}

/// Mnemonic derivations: every scheme on its default path and on account 1, address 2.
fn derivations() -> Vec<(Scheme, &'static str, DerivationPath)> {
    let mut out = Vec::new();
    for phrase in MNEMONICS {
        for scheme in Scheme::ALL {
            out.push((scheme, phrase, DerivationPath::default_for(scheme)));
            out.push((scheme, phrase, DerivationPath::sui(scheme, 1, 0, 2)));
        }
    }
    out
}

/// Signatures made by Rust that TypeScript must verify.
fn rust_signatures() -> Vec<(Vec<u8>, SerializedSignature, Keypair)> {
    let mut out = Vec::new();
    for key in fixed_keys()
        .into_iter()
        .chain(Scheme::ALL.map(Keypair::generate))
    {
        for message in messages() {
            let signature = key.sign_personal_message(&message).unwrap();
            out.push((message, signature, key.clone()));
        }
    }
    out
}

struct Reference {
    output: Value,
    rust_signatures: Vec<(Vec<u8>, SerializedSignature, Keypair)>,
}

/// One Node run computes every reference value the tests below compare against.
fn reference() -> &'static Reference {
    static REFERENCE: OnceLock<Reference> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        let rust_signatures = rust_signatures();
        let input = json!({
            "keys": SECRETS.iter().map(|(s, secret)| json!({"scheme": s.to_string(), "secret": secret})).collect::<Vec<_>>(),
            "mnemonics": derivations().iter().map(|(s, phrase, path)| json!({"scheme": s.to_string(), "phrase": phrase, "path": path.to_string()})).collect::<Vec<_>>(),
            "messages": messages().iter().map(hex::encode).collect::<Vec<_>>(),
            "rust_signatures": rust_signatures.iter().map(|(m, sig, key)| json!({
                "message": hex::encode(m),
                "signature": sig.to_base64(),
                "address": key.address().to_string(),
            })).collect::<Vec<_>>(),
        });
        let output = support::node::run_script("wallet.mjs", &input);
        Reference { output, rust_signatures }
    })
}

fn ts_key(index: usize) -> &'static Value {
    &reference().output["keys"][index]
}

#[test]
fn typescript_addresses_public_keys_and_suiprivkeys_are_identical() {
    for (index, key) in fixed_keys().iter().enumerate() {
        let ts = ts_key(index);
        assert_eq!(ts["address"], key.address().to_string(), "{}", key.scheme());
        assert_eq!(ts["public_key"], key.sui_public_key(), "{}", key.scheme());
        assert_eq!(
            ts["suiprivkey"],
            key.to_suiprivkey().as_str(),
            "{}",
            key.scheme()
        );
        let imported = Keypair::from_suiprivkey(ts["suiprivkey"].as_str().unwrap()).unwrap();
        assert_eq!(imported.address(), key.address());
    }
}

#[test]
fn typescript_ed25519_personal_message_signatures_are_byte_identical() {
    let key = &fixed_keys()[0];
    assert_eq!(key.scheme(), Scheme::Ed25519);
    for (message, ts_signature) in messages()
        .iter()
        .zip(ts_key(0)["signatures"].as_array().unwrap())
    {
        let rust = key.sign_personal_message(message).unwrap();
        assert_eq!(
            ts_signature,
            &rust.to_base64(),
            "message {}",
            hex::encode(message)
        );
    }
}

#[test]
fn typescript_signatures_verify_in_rust() {
    for (index, key) in fixed_keys().iter().enumerate() {
        for (message, ts_signature) in messages()
            .iter()
            .zip(ts_key(index)["signatures"].as_array().unwrap())
        {
            daas_core::wallet::verify_personal_message(
                message,
                ts_signature.as_str().unwrap(),
                key.address(),
            )
            .unwrap_or_else(|e| panic!("{} signature from TypeScript: {e}", key.scheme()));
        }
    }
}

#[test]
fn typescript_verifies_rust_signatures_of_every_scheme() {
    let reference = reference();
    let verdicts = reference.output["verified"].as_array().unwrap();
    assert_eq!(verdicts.len(), reference.rust_signatures.len());
    for ((message, signature, key), verdict) in reference.rust_signatures.iter().zip(verdicts) {
        assert_eq!(
            verdict,
            "ok",
            "{} signature over {} bytes",
            key.scheme(),
            message.len()
        );
        assert_eq!(signature.scheme(), key.scheme());
    }
}

#[test]
fn typescript_mnemonic_derivation_is_identical() {
    let ts = reference().output["mnemonics"].as_array().unwrap();
    for ((scheme, phrase, path), ts) in derivations().iter().zip(ts) {
        let key = Keypair::from_mnemonic(phrase, *scheme, Some(path)).unwrap();
        assert_eq!(ts["address"], key.address().to_string(), "{scheme} {path}");
        assert_eq!(
            ts["suiprivkey"],
            key.to_suiprivkey().as_str(),
            "{scheme} {path}"
        );
    }
}
