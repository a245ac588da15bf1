//! `daas-console credential`: the kubectl exec credential plugin
//! (`client.authentication.k8s.io/v1`).
//!
//! kubectl runs it with the kubeconfig's `exec.args` and, in
//! `KUBERNETES_EXEC_INFO`, an `ExecCredential` whose `spec` says whether it
//! may talk to the user and, with `provideClusterInfo`, which cluster it is
//! for. It prints an `ExecCredential` whose `status.token` is a
//! wallet-signed access token and whose `status.expirationTimestamp` tells
//! kubectl when to ask again. Before signing it checks the seal token on
//! chain and, if the master would refuse, says why on stderr and fails.

use std::time::Duration;

use anyhow::{Context as _, bail};
use daas_core::clock::unix_now_ms;
use daas_core::package::SealTokenId;
use serde::Serialize;

use super::args::{CredentialArgs, GlobalArgs};
use super::output::out;
use super::prompt::TerminalUnlock;
use crate::ops::credential::{self as ops, AccessCheck, CHECK_TIMEOUT, CredentialRequest};
use crate::ops::{Context, wallet};

/// The exec credential API versions kubectl may speak.
const API_V1: &str = "client.authentication.k8s.io/v1";
const API_V1BETA1: &str = "client.authentication.k8s.io/v1beta1";

/// Runs `daas-console credential`.
pub async fn run(global: &GlobalArgs, args: &CredentialArgs) -> anyhow::Result<()> {
    let seal_token: SealTokenId = args
        .seal_token
        .parse()
        .with_context(|| format!("`{}` is not a seal token id (0x…)", args.seal_token))?;
    let info = ExecInfo::from_env()?;
    let audience = match (&args.audience, &info.server) {
        (Some(audience), _) => audience.clone(),
        (None, Some(server)) => server.clone(),
        (None, None) => bail!(
            "no --audience given and kubectl passed no cluster (set provideClusterInfo: true or add --audience to exec.args)"
        ),
    };
    let ctx = super::context(global, None)?;
    let request = CredentialRequest {
        seal_token,
        audience,
        lifetime: Duration::from_secs(args.lifetime),
        cache_dir: match (args.no_cache, &args.cache_dir) {
            (true, _) => None,
            (false, Some(dir)) => Some(dir.clone()),
            (false, None) => Some(
                ops::default_cache_dir()
                    .context("cannot find a cache directory; pass --cache-dir or --no-cache")?,
            ),
        },
    };
    let now_ms = unix_now_ms();
    let allowed_now = !args.no_check
        && !ops::recently_allowed(&ctx, &request, now_ms)
        && check(&ctx, seal_token).await?;
    let unlock = TerminalUnlock::of(&ctx);
    let (issued, cache_error) = ops::issue(&ctx, &request, &unlock).context(
        "cannot unlock the wallet; for kubectl, set DAAS_WALLET_PASSPHRASE (kubectl gives the plugin no terminal unless it runs interactively)",
    )?;
    if let Some(error) = cache_error {
        eprintln!("warning: cannot cache the credential: {error}");
    }
    if allowed_now && let Err(error) = ops::remember_allowed(&ctx, &request, now_ms) {
        eprintln!("warning: cannot remember the chain's check: {error}");
    }
    let credential = ExecCredential {
        api_version: &info.api_version,
        kind: "ExecCredential",
        status: ExecCredentialStatus {
            expiration_timestamp: rfc3339(issued.expires_at)?,
            token: &issued.token,
        },
    };
    out!("{}", serde_json::to_string(&credential)?)?;
    Ok(())
}

/// Fails with the reason when the chain says the master will refuse; warns
/// and goes on when the chain cannot be asked (the master decides).
/// Whether the chain allowed it.
async fn check(ctx: &Context, seal_token: SealTokenId) -> anyhow::Result<bool> {
    let Ok(owner) = wallet::address(ctx) else {
        // The signing step names the wallet problem.
        return Ok(false);
    };
    match tokio::time::timeout(CHECK_TIMEOUT, ops::check(ctx, seal_token, owner)).await {
        Ok(Ok(AccessCheck::Allowed { .. })) => Ok(true),
        Ok(Ok(AccessCheck::Refused(why))) => {
            bail!("K3s-DaaS access will be refused: {why}")
        }
        Ok(Err(error)) => {
            eprintln!(
                "warning: cannot check seal token {seal_token} on chain ({error}); signing anyway"
            );
            Ok(false)
        }
        Err(_) => {
            eprintln!("warning: the chain did not answer within {CHECK_TIMEOUT:?}; signing anyway");
            Ok(false)
        }
    }
}

/// What kubectl told the plugin in `KUBERNETES_EXEC_INFO`.
struct ExecInfo {
    api_version: String,
    server: Option<String>,
}

impl ExecInfo {
    fn from_env() -> anyhow::Result<Self> {
        match std::env::var("KUBERNETES_EXEC_INFO") {
            Ok(text) => Self::parse(&text),
            Err(std::env::VarError::NotPresent) => Ok(Self {
                api_version: API_V1.to_owned(),
                server: None,
            }),
            Err(std::env::VarError::NotUnicode(_)) => {
                bail!("KUBERNETES_EXEC_INFO is not valid UTF-8")
            }
        }
    }

    fn parse(text: &str) -> anyhow::Result<Self> {
        let value: serde_json::Value =
            serde_json::from_str(text).context("KUBERNETES_EXEC_INFO is not JSON")?;
        let api_version = value
            .get("apiVersion")
            .and_then(serde_json::Value::as_str)
            .unwrap_or(API_V1);
        if api_version != API_V1 && api_version != API_V1BETA1 {
            bail!(
                "kubectl asks for ExecCredential {api_version}; this plugin speaks {API_V1} (set exec.apiVersion in the kubeconfig)"
            );
        }
        let server = value
            .pointer("/spec/cluster/server")
            .and_then(serde_json::Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        Ok(Self {
            api_version: api_version.to_owned(),
            server,
        })
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExecCredential<'a> {
    api_version: &'a str,
    kind: &'static str,
    status: ExecCredentialStatus<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExecCredentialStatus<'a> {
    expiration_timestamp: String,
    token: &'a str,
}

fn rfc3339(unix_secs: u64) -> anyhow::Result<String> {
    let secs = i64::try_from(unix_secs).context("expiry out of range")?;
    let timestamp = jiff::Timestamp::from_second(secs).context("expiry out of range")?;
    Ok(timestamp.to_string())
}
