//! `daas-console attest <master-url>`: attest a running master live with
//! the attested HTTPS client of `daas-core`, and print what was verified.

use std::time::{Duration, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use daas_core::attestation::{DevRoot, PcrPolicy, TrustRoots};
use daas_core::attested::{AttestedClient, AttestedClientConfig, AttestedMaster};

use crate::cli::{AttestLiveArgs, MasterTrustArgs};
use crate::pcr_args;

const INSECURE_BANNER: &str = "!!! INSECURE DEVELOPMENT ATTESTATION: signed by a local dev root, \
     NO hardware guarantee; never trust this master with real stake !!!";
const UNCHECKED_BANNER: &str = "!!! PCRs NOT CHECKED: no --expect-pcr given; compare them with the \
     published enclave image yourself !!!";

/// Runs `daas-console attest <master-url> …`.
pub fn run(args: &AttestLiveArgs) -> anyhow::Result<()> {
    let Some(url) = args.url.as_deref() else {
        bail!(
            "name a master URL (`daas-console attest https://HOST:PORT`) or a command \
             (`daas-console attest verify <file>`); see --help"
        );
    };
    let pcrs = pcr_args::policy(&args.expect_pcr)?;
    let pcrs_checked = matches!(pcrs, PcrPolicy::Expect(_));
    let config = client_config(&args.trust, trust_roots(&args.trust)?, pcrs);
    let client = AttestedClient::new(url, config)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let master = runtime
        .block_on(client.master())
        .with_context(|| format!("master {url} is NOT attested"))?;
    if args.json {
        print_json(url, &master, pcrs_checked)
    } else {
        print_text(url, &master, pcrs_checked)
    }
}

/// The roots a master may chain to: AWS, plus the dev root `--dev-root` when
/// `--allow-insecure-dev` opts in (each flag refuses to work without the other).
pub(crate) fn trust_roots(trust: &MasterTrustArgs) -> anyhow::Result<TrustRoots> {
    match (trust.dev_root.as_deref(), trust.allow_insecure_dev) {
        (None, false) => Ok(TrustRoots::aws()),
        (Some(_), false) => {
            bail!("--dev-root is trusted only with --allow-insecure-dev (insecure!)")
        }
        (None, true) => bail!(
            "--allow-insecure-dev needs --dev-root <PEM> (the master's <state-dir>/dev-root.pem)"
        ),
        (Some(path), true) => {
            let pem = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the dev root {}", path.display()))?;
            let root = DevRoot::from_pem(&pem)
                .with_context(|| format!("dev root {} is unusable", path.display()))?;
            Ok(TrustRoots::aws_and_insecure_dev(root))
        }
    }
}

/// The attested client's settings for `roots`, `pcrs` and the trust flags.
pub(crate) fn client_config(
    trust: &MasterTrustArgs,
    roots: TrustRoots,
    pcrs: PcrPolicy,
) -> AttestedClientConfig {
    AttestedClientConfig::new(roots, pcrs)
        .allow_insecure_dev(trust.allow_insecure_dev)
        .with_request_timeout(Duration::from_secs(trust.timeout.max(1)))
}

fn timestamp_ms(master: &AttestedMaster) -> u64 {
    master.attestation().timestamp_ms()
}

fn print_text(url: &str, master: &AttestedMaster, pcrs_checked: bool) -> anyhow::Result<()> {
    let attestation = master.attestation();
    if master.is_insecure_dev() {
        out!("{INSECURE_BANNER}")?;
    }
    out!("master        {url}")?;
    out!(
        "verdict       ATTESTED{}",
        if master.is_insecure_dev() {
            " (INSECURE DEV)"
        } else {
            ""
        }
    )?;
    out!("tee_type      {}", master.response().tee_type)?;
    out!("security      level {}", master.response().security_level)?;
    out!("root          {:?}", attestation.root())?;
    out!("enclave_id    {}", attestation.module_id())?;
    out!("timestamp_ms  {}", timestamp_ms(master))?;
    out!(
        "pcrs          {}",
        if pcrs_checked {
            "match the expected values"
        } else {
            "NOT CHECKED"
        }
    )?;
    for (index, pcr) in attestation.pcrs().iter() {
        out!("  PCR{index:<2}       {pcr}")?;
    }
    out!(
        "signing_key   {} (Ed25519; checks the master's signed results)",
        hex::encode(master.signing_key().as_bytes())
    )?;
    out!(
        "tls_spki      sha256:{} (pinned for this session)",
        hex::encode(master.tls_spki_sha256())
    )?;
    if !pcrs_checked {
        out!("{UNCHECKED_BANNER}")?;
    }
    if master.is_insecure_dev() {
        out!("{INSECURE_BANNER}")?;
    }
    Ok(())
}

fn print_json(url: &str, master: &AttestedMaster, pcrs_checked: bool) -> anyhow::Result<()> {
    let attestation = master.attestation();
    let verified_at_ms = master
        .verified_at()
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_millis())
        .unwrap_or_default();
    let pcrs: serde_json::Map<String, serde_json::Value> = attestation
        .pcrs()
        .iter()
        .map(|(index, pcr)| (index.to_string(), pcr.to_string().into()))
        .collect();
    let report = serde_json::json!({
        "master": url,
        "attested": true,
        "insecure_dev": master.is_insecure_dev(),
        "warning": master.is_insecure_dev().then_some(INSECURE_BANNER),
        "tee_type": master.response().tee_type,
        "security_level": master.response().security_level,
        "root": format!("{:?}", attestation.root()),
        "enclave_id": attestation.module_id(),
        "timestamp_ms": timestamp_ms(master),
        "verified_at_ms": verified_at_ms,
        "pcrs_checked": pcrs_checked,
        "pcrs": pcrs,
        "signing_public_key": hex::encode(master.signing_key().as_bytes()),
        "tls_spki_sha256": hex::encode(master.tls_spki_sha256()),
    });
    out!("{}", serde_json::to_string_pretty(&report)?)?;
    Ok(())
}
