//! `daas-console wallet` as a user runs it: the real binary on a temp wallet.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const MNEMONIC: &str = "film crazy soon outside stand loop subway crumble thrive popular green nuclear struggle pistol arm wife phrase warfare march wheat nephew ask sunny firm";
/// The address Sui's documentation gives for this mnemonic on the default Ed25519 path.
const MNEMONIC_ADDRESS: &str = "0xa2d14fad60c56049ecf75246a481934691214ce413e6a8ae2fe6834c173a6133";

fn console(dir: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_daas-console"))
        .args(args)
        .env("DAAS_WALLET_DIR", dir)
        .env("DAAS_WALLET_PASSPHRASE", "test passphrase")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn import_sign_and_verify_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let out = stdout(&console(
        dir.path(),
        &["wallet", "import", "--alias", "m", "--mnemonic"],
        MNEMONIC.as_bytes(),
    ));
    assert!(out.contains(MNEMONIC_ADDRESS), "{out}");
    let signature = stdout(&console(
        dir.path(),
        &["wallet", "sign-message"],
        b"join me",
    ));
    let verified = console(
        dir.path(),
        &[
            "wallet",
            "verify-message",
            "--address",
            MNEMONIC_ADDRESS,
            "--signature",
            signature.trim(),
        ],
        b"join me",
    );
    assert!(stdout(&verified).contains("valid signature"));
    let tampered = console(
        dir.path(),
        &[
            "wallet",
            "verify-message",
            "--address",
            MNEMONIC_ADDRESS,
            "--signature",
            signature.trim(),
        ],
        b"join you",
    );
    assert!(!tampered.status.success());
    assert!(String::from_utf8_lossy(&tampered.stderr).contains("does not verify"));
}

#[test]
fn exported_key_reimports_to_the_same_address() {
    let dir = tempfile::tempdir().unwrap();
    stdout(&console(
        dir.path(),
        &["wallet", "new", "--alias", "k", "--scheme", "secp256k1"],
        b"",
    ));
    let secret = stdout(&console(dir.path(), &["wallet", "export", "k"], b""));
    assert!(secret.starts_with("suiprivkey1"));
    let other = tempfile::tempdir().unwrap();
    let imported = stdout(&console(
        other.path(),
        &["wallet", "import", "--alias", "k", "--suiprivkey"],
        secret.as_bytes(),
    ));
    let listed = stdout(&console(dir.path(), &["wallet", "list"], b""));
    let address = imported.split_whitespace().nth(1).unwrap();
    assert!(listed.contains(address), "{listed} / {imported}");
}

#[test]
fn bad_input_gives_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &[u8], &str); 4] = [
        (
            &["wallet", "import", "--alias", "x", "--suiprivkey"],
            b"suiprivkey1qqqqqq",
            "invalid suiprivkey",
        ),
        (
            &["wallet", "import", "--alias", "x", "--mnemonic"],
            b"one two three",
            "invalid mnemonic",
        ),
        (
            &["wallet", "import", "--alias", "x", "--suiprivkey"],
            b"",
            "nothing on stdin",
        ),
        (
            &["wallet", "new", "--alias", "x", "--scheme", "rsa"],
            b"",
            "unknown signature scheme `rsa`",
        ),
    ];
    for (args, stdin, expected) in cases {
        let output = console(dir.path(), args, stdin);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    let keystore = dir.path().join("sui.keystore");
    std::fs::write(&keystore, "[\"AAE=\"").unwrap();
    let output = console(
        dir.path(),
        &[
            "wallet",
            "import",
            "--alias",
            "ks",
            "--keystore",
            keystore.to_str().unwrap(),
        ],
        b"",
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("is not a JSON array"));
}
