//! `daas-console attest`: `verify` checks a document file offline; without a
//! subcommand it attests a running master (see `attest_live`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use daas_core::attestation::{
    DevRoot, PcrPolicy, Policy, TrustRoots, VerifiedAttestation, decode_document_file, verify,
};
use serde_json::json;

use crate::cli::{AttestArgs, AttestCommand, VerifyArgs};
use crate::pcr_args;

/// A document file has no nonce to prove freshness, so by default any age is accepted.
const UNLIMITED_AGE: Duration = Duration::from_secs(u64::MAX / 4);

/// Runs `daas-console attest …`.
pub fn run(args: AttestArgs) -> anyhow::Result<()> {
    match args.command {
        Some(AttestCommand::Verify(args)) => verify_file(&args),
        None => crate::attest_live::run(&args.live),
    }
}

fn verify_file(args: &VerifyArgs) -> anyhow::Result<()> {
    let expected = pcr_args::parse(&args.expect_pcr)?;
    let contents = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let (encoding, document) =
        decode_document_file(&contents).with_context(|| args.file.display().to_string())?;
    let roots = match &args.dev_root {
        Some(path) => {
            let pem = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            TrustRoots::aws_and_insecure_dev(DevRoot::from_pem(&pem)?)
        }
        None => TrustRoots::aws(),
    };
    let at = args
        .at
        .map_or_else(SystemTime::now, |ms| UNIX_EPOCH + Duration::from_millis(ms));
    let policy = Policy::new(PcrPolicy::AnyMeasurement)
        .allow_debug(args.allow_debug)
        .with_max_age(args.max_age.map_or(UNLIMITED_AGE, Duration::from_secs))
        .with_max_future_skew(UNLIMITED_AGE);
    let verified = verify(&document, &roots, &policy, at).context("attestation refused")?;
    pcr_args::check(&verified, &expected)?;
    if args.json {
        out!(
            "{}",
            serde_json::to_string_pretty(&describe(&verified, &format!("{encoding:?}")))?
        )?;
        Ok(())
    } else {
        Ok(print_human(&verified)?)
    }
}

fn describe(verified: &VerifiedAttestation, encoding: &str) -> serde_json::Value {
    let pcrs: serde_json::Map<String, serde_json::Value> = verified
        .pcrs()
        .iter()
        .map(|(index, pcr)| (index.to_string(), pcr.to_string().into()))
        .collect();
    json!({
        "module_id": verified.module_id(),
        "timestamp_ms": verified.timestamp_ms(),
        "root": if verified.is_dev() { "insecure-dev" } else { "aws-nitro-root-g1" },
        "encoding": encoding,
        "pcrs": pcrs,
        "public_key": verified.public_key().map(hex::encode),
        "user_data": verified.user_data().map(hex::encode),
        "nonce": verified.nonce().map(hex::encode),
    })
}

fn print_human(verified: &VerifiedAttestation) -> std::io::Result<()> {
    if verified.is_dev() {
        out!(
            "!!! INSECURE DEVELOPMENT ATTESTATION: signed by a local dev root, no hardware guarantee !!!"
        )?;
    }
    let root = if verified.is_dev() {
        "the local dev root"
    } else {
        "AWS Nitro Enclaves Root G1"
    };
    out!("verified   chain to {root}")?;
    out!("module     {}", verified.module_id())?;
    out!("timestamp  {} ms since the epoch", verified.timestamp_ms())?;
    for (index, pcr) in verified
        .pcrs()
        .iter()
        .filter(|(index, pcr)| matches!(index, 0 | 1 | 2 | 8) || !pcr.is_zero())
    {
        out!("PCR{index:<2}      {pcr}")?;
    }
    for (name, value) in [
        ("public_key", verified.public_key()),
        ("user_data", verified.user_data()),
        ("nonce", verified.nonce()),
    ] {
        match value {
            Some(bytes) => out!(
                "{name:<10} {} bytes, sha256 {}",
                bytes.len(),
                hex::encode(sha256(bytes))
            )?,
            None => out!("{name:<10} -")?,
        }
    }
    Ok(())
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).into()
}
