//! The OS keyring backend against a real Secret Service: gnome-keyring in a
//! private D-Bus session, with HOME and the XDG dirs in a temp dir so the
//! user's own keyring is never touched.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use daas_core::wallet::{
    BackendKind, Keypair, Scheme, StoreError, WalletStore, verify_personal_message,
};

const INNER: &str = "DAAS_KEYRING_TEST_SESSION";

/// Starts an unlocked gnome-keyring (secrets component) in the session, then the test binary.
const SESSION_SCRIPT: &str = r#"
set -e
mkdir -p "$HOME" "$XDG_DATA_HOME" "$XDG_RUNTIME_DIR"
chmod 700 "$XDG_RUNTIME_DIR"
printf 'test' | gnome-keyring-daemon --unlock --components=secrets --daemonize >/dev/null
exec "$@"
"#;

#[test]
fn os_keyring_backend_stores_signs_and_deletes() {
    if std::env::var_os(INNER).is_none() {
        return run_inside_a_keyring_session("os_keyring_backend_stores_signs_and_deletes");
    }
    assert!(
        WalletStore::keyring_available(),
        "the Secret Service of the session is not reachable"
    );
    let dir = tempfile::tempdir().unwrap();
    let keys: Vec<Keypair> = Scheme::ALL.iter().map(|s| Keypair::generate(*s)).collect();
    {
        let mut store = WalletStore::open(dir.path(), None).unwrap();
        assert_eq!(
            store.backend(),
            BackendKind::Keyring,
            "a reachable keyring is preferred"
        );
        for (i, key) in keys.iter().enumerate() {
            store.add(&format!("k{i}"), key).unwrap();
        }
    }
    assert!(
        !dir.path().join("keys.enc").exists(),
        "no key file next to a keyring wallet"
    );
    let index = std::fs::read_to_string(dir.path().join("wallet.json")).unwrap();
    assert!(!index.contains("suiprivkey"));

    let mut store = WalletStore::open(dir.path(), None).unwrap();
    for (i, key) in keys.iter().enumerate() {
        let loaded = store.keypair(Some(&format!("k{i}"))).unwrap();
        assert_eq!(
            loaded.to_suiprivkey().as_str(),
            key.to_suiprivkey().as_str()
        );
        let signature = store
            .sign_personal_message(Some(&format!("k{i}")), b"m")
            .unwrap();
        verify_personal_message(b"m", &signature.to_base64(), key.address()).unwrap();
    }
    store.remove("k1").unwrap();
    let err = store
        .keypair(Some(&keys[1].address().to_string()))
        .unwrap_err();
    assert!(matches!(err, StoreError::UnknownKey(_)), "{err}");
}

fn run_inside_a_keyring_session(test: &str) {
    let home = tempfile::tempdir().unwrap();
    for tool in ["dbus-run-session", "gnome-keyring-daemon"] {
        assert!(
            Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .unwrap()
                .status
                .success(),
            "{tool} is missing: run deploy/dev/setup.sh (it installs dbus and gnome-keyring)"
        );
    }
    let output = Command::new("dbus-run-session")
        .args(["--", "sh", "-c", SESSION_SCRIPT, "sh"])
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(INNER, "1")
        .env("HOME", home.path().join("home"))
        .env("XDG_DATA_HOME", home.path().join("data"))
        .env("XDG_RUNTIME_DIR", home.path().join("run"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "keyring session failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
