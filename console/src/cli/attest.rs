//! `daas-console attest`: a running master, live, or (`verify`) a document
//! file, offline.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use daas_core::attestation::{DevRoot, PcrPolicy, TrustRoots};
use daas_core::clock::format_ms;

use super::args::{AttestArgs, AttestCommand, AttestLiveArgs, GlobalArgs, VerifyArgs};
use super::output::{self, INSECURE_BANNER, out};
use super::pcr_args;
use crate::config::PcrSource;
use crate::ops::attest::{self as ops, CheckTime, DocumentReport, FileCheck, MasterAttestation};
use crate::ops::{Context, OpsError};

const UNCHECKED_BANNER: &str = "!!! PCRs NOT CHECKED: no expected PCRs given; compare them with the \
     published enclave image yourself !!!";

/// Runs `daas-console attest …`.
pub async fn run(global: &GlobalArgs, args: AttestArgs) -> anyhow::Result<()> {
    match args.command {
        Some(AttestCommand::Verify(verify)) => verify_file(global, &verify),
        None => live(global, &args.live).await,
    }
}

async fn live(global: &GlobalArgs, args: &AttestLiveArgs) -> anyhow::Result<()> {
    let mut settings = super::settings(global, args.url.as_deref())?;
    let Some(master) = settings.master.as_mut() else {
        return Err(OpsError::NotConfigured {
            what: "master",
            hint: "name a master URL (`daas-console attest https://HOST:PORT`) or set one in the profile; \
                   or verify a file with `daas-console attest verify <file>`",
        }
        .into());
    };
    if let PcrPolicy::Expect(expected) = pcr_args::policy(&args.expect_pcr)? {
        master.pcrs = PcrSource::Expected(expected);
    }
    let url = master.url.clone();
    let ctx = Context::new(settings);
    let report = ops::attest_master(&ctx)
        .await
        .with_context(|| format!("master {url} is NOT attested"))?;
    if let Some(path) = &args.save {
        daas_core::private_file::write_atomic(path, &report.document)
            .map_err(|e| anyhow::anyhow!("{} {}: {}", e.action, e.path.display(), e.source))?;
    }
    if args.json {
        let mut value = serde_json::to_value(&report)?;
        value["attested"] = true.into();
        value["warning"] = report.insecure_dev.then_some(INSECURE_BANNER).into();
        return output::json(&value);
    }
    print_master(&report)
}

fn print_master(report: &MasterAttestation) -> anyhow::Result<()> {
    if report.insecure_dev {
        out!("{INSECURE_BANNER}")?;
    }
    out!("master        {}", report.master)?;
    out!(
        "verdict       ATTESTED{}",
        if report.insecure_dev {
            " (INSECURE DEV)"
        } else {
            ""
        }
    )?;
    out!("tee_type      {}", report.tee_type)?;
    out!("security      level {}", report.security_level)?;
    out!("root          {}", report.root)?;
    out!("enclave_id    {}", report.enclave_id)?;
    out!(
        "timestamp_ms  {} ({}, {}s old)",
        report.timestamp_ms,
        format_ms(report.timestamp_ms),
        report.age_secs(SystemTime::now())
    )?;
    out!(
        "pcrs          {}",
        if report.pcrs_checked() {
            format!(
                "match the expected values ({})",
                report.pcrs_checked_against
            )
        } else {
            "NOT CHECKED".to_owned()
        }
    )?;
    for (index, pcr) in &report.pcrs {
        out!("  PCR{index:<2}       {pcr}")?;
    }
    out!(
        "signing_key   {} (Ed25519; checks the master's signed results)",
        report.signing_public_key
    )?;
    out!(
        "tls_spki      sha256:{} (pinned for this session)",
        report.tls_spki_sha256
    )?;
    if !report.pcrs_checked() {
        out!("{UNCHECKED_BANNER}")?;
    }
    if report.insecure_dev {
        out!("{INSECURE_BANNER}")?;
    }
    Ok(())
}

fn verify_file(global: &GlobalArgs, args: &VerifyArgs) -> anyhow::Result<()> {
    let expected = pcr_args::parse(&args.expect_pcr)?;
    let contents = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let roots = match &global.dev_root {
        Some(path) => {
            let pem = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            TrustRoots::aws_and_insecure_dev(DevRoot::from_pem(&pem)?)
        }
        None => TrustRoots::aws(),
    };
    let check = FileCheck {
        roots,
        at: args.at.map_or(CheckTime::Now, |ms| {
            CheckTime::At(UNIX_EPOCH + Duration::from_millis(ms))
        }),
        expected,
        allow_debug: args.allow_debug,
        max_age: args.max_age.map(Duration::from_secs),
    };
    let report = ops::verify_file(&contents, &check)
        .with_context(|| args.file.display().to_string())
        .context("attestation refused")?;
    if args.json {
        return output::json(&report);
    }
    print_document(&report)
}

fn print_document(report: &DocumentReport) -> anyhow::Result<()> {
    let dev = report.root == "insecure-dev";
    if dev {
        out!(
            "!!! INSECURE DEVELOPMENT ATTESTATION: signed by a local dev root, no hardware guarantee !!!"
        )?;
    }
    let root = if dev {
        "the local dev root"
    } else {
        "AWS Nitro Enclaves Root G1"
    };
    out!("verified   chain to {root}")?;
    out!("module     {}", report.module_id)?;
    out!(
        "timestamp  {} ms since the epoch ({})",
        report.timestamp_ms,
        format_ms(report.timestamp_ms)
    )?;
    for (index, pcr) in &report.pcrs {
        if matches!(index, 0 | 1 | 2 | 8) || pcr.chars().any(|c| c != '0') {
            out!("PCR{index:<2}      {pcr}")?;
        }
    }
    for (name, value) in [
        ("public_key", &report.public_key),
        ("user_data", &report.user_data),
        ("nonce", &report.nonce),
    ] {
        match value {
            Some(hex) => out!("{name:<10} {} bytes: {hex}", hex.len() / 2)?,
            None => out!("{name:<10} -")?,
        }
    }
    Ok(())
}
