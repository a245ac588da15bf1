//! `daas-console attest verify`: offline verification of a document file.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use daas_core::attestation::{
    DevRoot, PcrPolicy, Policy, TrustRoots, VerifiedAttestation, decode_document_file, verify,
};
use serde_json::json;

use crate::cli::{AttestArgs, AttestCommand, VerifyArgs};

/// A document file has no nonce to prove freshness, so by default any age is accepted.
const UNLIMITED_AGE: Duration = Duration::from_secs(u64::MAX / 4);

/// Runs `daas-console attest …`.
pub fn run(args: AttestArgs) -> anyhow::Result<()> {
    match args.command {
        Some(AttestCommand::Verify(args)) => verify_file(&args),
        None => bail!("name a command: `daas-console attest verify <file>` (see --help)"),
    }
}

fn verify_file(args: &VerifyArgs) -> anyhow::Result<()> {
    let expected = args
        .expect_pcr
        .iter()
        .map(|spec| parse_expected_pcr(spec))
        .collect::<anyhow::Result<Vec<_>>>()?;
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
    check_expected(&verified, &expected)?;
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

fn parse_expected_pcr(spec: &str) -> anyhow::Result<(u8, Vec<u8>)> {
    let (index, value) = spec
        .split_once('=')
        .with_context(|| format!("--expect-pcr `{spec}` must be INDEX=HEX"))?;
    let index: u8 = index
        .trim()
        .parse()
        .ok()
        .filter(|i| *i < 32)
        .with_context(|| format!("--expect-pcr `{spec}`: `{index}` is not a PCR index (0..=31)"))?;
    let value = hex::decode(value.trim().trim_start_matches("0x"))
        .with_context(|| format!("--expect-pcr `{spec}`: the value is not hex"))?;
    Ok((index, value))
}

fn check_expected(
    verified: &VerifiedAttestation,
    expected: &[(u8, Vec<u8>)],
) -> anyhow::Result<()> {
    for (index, want) in expected {
        let got = verified
            .pcrs()
            .get(*index)
            .with_context(|| format!("the document has no PCR{index}"))?;
        if got.as_bytes().as_slice() != want.as_slice() {
            bail!("PCR{index} is {got}, expected {}", hex::encode(want));
        }
    }
    Ok(())
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
