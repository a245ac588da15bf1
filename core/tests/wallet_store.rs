//! The wallet store on real files: encryption, permissions, bad passphrases
//! and corrupt files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::Path;

use daas_core::wallet::{
    BackendKind, Keypair, Passphrase, Scheme, StoreError, WalletStore, verify_personal_message,
};

fn passphrase() -> Option<Passphrase> {
    Some(Passphrase::new("correct horse battery staple"))
}

fn file_store(dir: &Path) -> WalletStore {
    WalletStore::open_with(dir, BackendKind::EncryptedFile, passphrase()).unwrap()
}

#[test]
fn keys_survive_reopening_and_sign() {
    let dir = tempfile::tempdir().unwrap();
    let keys: Vec<Keypair> = Scheme::ALL.iter().map(|s| Keypair::generate(*s)).collect();
    {
        let mut store = file_store(dir.path());
        for (i, key) in keys.iter().enumerate() {
            store.add(&format!("key{i}"), key).unwrap();
        }
    }
    let store = file_store(dir.path());
    assert_eq!(store.backend(), BackendKind::EncryptedFile);
    let listed: Vec<_> = store.list().iter().map(|e| e.address).collect();
    assert_eq!(
        listed,
        keys.iter().map(Keypair::address).collect::<Vec<_>>()
    );
    assert_eq!(
        store.active().unwrap().alias,
        "key0",
        "the first key becomes active"
    );
    for (i, key) in keys.iter().enumerate() {
        let signature = store
            .sign_personal_message(Some(&format!("key{i}")), b"join")
            .unwrap();
        verify_personal_message(b"join", &signature.to_base64(), key.address()).unwrap();
    }
}

#[test]
fn set_active_and_remove() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = file_store(dir.path());
    let a = Keypair::generate(Scheme::Ed25519);
    let b = Keypair::generate(Scheme::Secp256k1);
    store.add("a", &a).unwrap();
    store.add("b", &b).unwrap();
    store.set_active(&b.address().to_string()).unwrap();
    assert_eq!(store.active().unwrap().alias, "b");
    store.remove("b").unwrap();
    assert_eq!(
        store.active().unwrap().alias,
        "a",
        "removing the active key activates another"
    );
    assert!(matches!(
        store.keypair(Some("b")),
        Err(StoreError::UnknownKey(_))
    ));
    drop(store);
    let mut store = file_store(dir.path());
    assert_eq!(store.list().len(), 1);
    let err = store.set_active("b").unwrap_err();
    assert!(
        matches!(err, StoreError::UnknownKey(ref name) if name == "b"),
        "{err}"
    );
}

#[test]
fn duplicates_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = file_store(dir.path());
    let key = Keypair::generate(Scheme::Ed25519);
    store.add("main", &key).unwrap();
    assert!(matches!(
        store.add("other", &key),
        Err(StoreError::Duplicate(_))
    ));
    let err = store
        .add("main", &Keypair::generate(Scheme::Ed25519))
        .unwrap_err();
    assert_eq!(err.to_string(), "the wallet already has a key `main`");
}

#[test]
fn wrong_passphrase_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    file_store(dir.path())
        .add("k", &Keypair::generate(Scheme::Ed25519))
        .unwrap();
    let err = WalletStore::open_with(
        dir.path(),
        BackendKind::EncryptedFile,
        Some(Passphrase::new("wrong")),
    )
    .err()
    .unwrap();
    assert!(matches!(err, StoreError::WrongPassphrase(_)), "{err}");
    let err = WalletStore::open_with(dir.path(), BackendKind::EncryptedFile, None)
        .err()
        .unwrap();
    assert!(matches!(err, StoreError::PassphraseRequired(_)), "{err}");
    assert!(err.to_string().contains("DAAS_WALLET_PASSPHRASE"), "{err}");
}

#[test]
fn files_are_private_and_hold_no_plaintext_key() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let key = Keypair::generate(Scheme::Secp256r1);
    file_store(dir.path()).add("k", &key).unwrap();
    for name in ["wallet.json", "keys.enc"] {
        let path = dir.path().join(name);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{name} has mode {mode:o}");
        let text = fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains(key.to_suiprivkey().as_str()),
            "{name} holds the key"
        );
        assert!(!text.contains("suiprivkey"), "{name} holds a key");
    }
}

#[test]
fn tampered_or_corrupt_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    file_store(dir.path())
        .add("k", &Keypair::generate(Scheme::Ed25519))
        .unwrap();
    let keys = dir.path().join("keys.enc");
    let mut envelope: serde_json::Value =
        serde_json::from_slice(&fs::read(&keys).unwrap()).unwrap();
    let ciphertext = envelope["ciphertext"].as_str().unwrap().to_owned();
    let flipped = if ciphertext.starts_with('A') {
        "B"
    } else {
        "A"
    };
    envelope["ciphertext"] = format!("{flipped}{}", &ciphertext[1..]).into();
    fs::write(&keys, serde_json::to_vec(&envelope).unwrap()).unwrap();
    let err = WalletStore::open_with(dir.path(), BackendKind::EncryptedFile, passphrase())
        .err()
        .unwrap();
    assert!(matches!(err, StoreError::WrongPassphrase(_)), "{err}");

    fs::write(&keys, b"{not json").unwrap();
    let err = WalletStore::open_with(dir.path(), BackendKind::EncryptedFile, passphrase())
        .err()
        .unwrap();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");

    fs::write(dir.path().join("wallet.json"), b"[]").unwrap();
    let err = WalletStore::open(dir.path(), passphrase()).err().unwrap();
    assert!(err.to_string().contains("wallet.json is corrupt"), "{err}");
}

#[test]
fn new_wallets_use_the_keyring_only_when_reachable() {
    let dir = tempfile::tempdir().unwrap();
    let store = WalletStore::open(dir.path(), passphrase()).unwrap();
    let expected = if WalletStore::keyring_available() {
        BackendKind::Keyring
    } else {
        BackendKind::EncryptedFile
    };
    assert_eq!(store.backend(), expected);
}

#[test]
fn the_backend_is_fixed_at_creation() {
    let dir = tempfile::tempdir().unwrap();
    file_store(dir.path())
        .add("k", &Keypair::generate(Scheme::Ed25519))
        .unwrap();
    let store = WalletStore::open(dir.path(), passphrase()).unwrap();
    assert_eq!(store.backend(), BackendKind::EncryptedFile);
    let err = WalletStore::open_with(dir.path(), BackendKind::Keyring, None)
        .err()
        .unwrap();
    assert!(err.to_string().contains("uses the encrypted file"), "{err}");
}

#[test]
fn no_active_key_in_an_empty_wallet() {
    let dir = tempfile::tempdir().unwrap();
    let store = file_store(dir.path());
    let err = store.sign_personal_message(None, b"m").unwrap_err();
    assert!(matches!(err, StoreError::NoActiveKey), "{err}");
}
