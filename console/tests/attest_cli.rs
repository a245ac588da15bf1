//! `daas-console attest verify` on the real Nitro documents in shared/fixtures/nitro.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Command, Output};

const PROD: &str = "prod-2024-09-07-blocky.b64";
const PROD_AT: &str = "1725719859545";
const DEBUG: &str = "debug-2024-09-07-blocky.b64";
const DEBUG_AT: &str = "1725719886508";
const ANJUNA: &str = "prod-2021-03-24-anjuna-publickey.cbor";
const ANJUNA_AT: &str = "1616602241734";
const ANJUNA_PCR0: &str = "672cd3c91b7ac756037d260051169c70b1de59c7a3a9a8253322c98763697891c722fec043cbf72a824ae5d5ac41fc41";

fn fixture(name: &str) -> String {
    let dir = std::env::var_os("DAAS_NITRO_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/fixtures/nitro"
            ))
        });
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "Nitro fixture {} is missing: put shared/ beside the checkout or set DAAS_NITRO_FIXTURES",
        path.display()
    );
    path.to_string_lossy().into_owned()
}

fn attest(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_daas-console"))
        .arg("attest")
        .args(args)
        .output()
        .unwrap()
}

fn refused(output: &Output) -> String {
    assert!(
        !output.status.success(),
        "accepted: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn production_documents_verify_at_their_own_time() {
    let output = attest(&["verify", &fixture(PROD), "--at", PROD_AT, "--json"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["root"], "aws-nitro-root-g1");
    assert!(json["pcrs"]["0"].as_str().unwrap().starts_with("e72a46ca"));

    let output = attest(&[
        "verify",
        &fixture(ANJUNA),
        "--at",
        ANJUNA_AT,
        "--expect-pcr",
        &format!("0={ANJUNA_PCR0}"),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("AWS Nitro Enclaves Root G1"),
        "{stdout}"
    );
}

#[test]
fn expired_chain_debug_mode_and_wrong_pcr_are_refused_with_reasons() {
    let stderr = refused(&attest(&["verify", &fixture(PROD)]));
    assert!(stderr.contains("not at the verification time"), "{stderr}");
    let stderr = refused(&attest(&["verify", &fixture(DEBUG), "--at", DEBUG_AT]));
    assert!(stderr.contains("debug mode"), "{stderr}");
    let output = attest(&["verify", &fixture(DEBUG), "--at", DEBUG_AT, "--allow-debug"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let wrong = "ab".repeat(48);
    let stderr = refused(&attest(&[
        "verify",
        &fixture(ANJUNA),
        "--at",
        ANJUNA_AT,
        "--expect-pcr",
        &format!("0={wrong}"),
    ]));
    assert!(
        stderr.contains(&format!("PCR0 is {ANJUNA_PCR0}, expected {wrong}")),
        "{stderr}"
    );
    let stderr = refused(&attest(&[
        "verify",
        &fixture(ANJUNA),
        "--expect-pcr",
        "0=00ff",
    ]));
    assert!(stderr.contains("not 96 hex digits"), "{stderr}");
}

/// `--at` is the verification time itself: a document made after it, even
/// by a millisecond and while its certificates are already valid, is from
/// the future and refused.
#[test]
fn a_document_made_after_the_verification_time_is_refused() {
    let just_before: u64 = PROD_AT.parse::<u64>().unwrap() - 1;
    let stderr = refused(&attest(&[
        "verify",
        &fixture(PROD),
        "--at",
        &just_before.to_string(),
    ]));
    assert!(stderr.contains("1 ms in the future"), "{stderr}");
    let an_hour_before = PROD_AT.parse::<u64>().unwrap() - 3_600_000;
    refused(&attest(&[
        "verify",
        &fixture(PROD),
        "--at",
        &an_hour_before.to_string(),
    ]));
}

#[test]
fn bad_files_and_arguments_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.txt");
    std::fs::write(&garbage, "this is not an attestation document").unwrap();
    let stderr = refused(&attest(&["verify", garbage.to_str().unwrap()]));
    assert!(
        stderr.contains("neither raw CBOR, hex nor base64"),
        "{stderr}"
    );
    let truncated = dir.path().join("truncated.cbor");
    std::fs::write(&truncated, &std::fs::read(fixture(ANJUNA)).unwrap()[..200]).unwrap();
    refused(&attest(&[
        "verify",
        truncated.to_str().unwrap(),
        "--at",
        ANJUNA_AT,
    ]));
    let stderr = refused(&attest(&[
        "verify",
        &fixture(PROD),
        "--expect-pcr",
        "zero=00",
    ]));
    assert!(stderr.contains("is not a PCR index"), "{stderr}");
    let stderr = refused(&attest(&["verify", "/nonexistent/doc.cbor"]));
    assert!(
        stderr.contains("cannot read /nonexistent/doc.cbor"),
        "{stderr}"
    );
}
