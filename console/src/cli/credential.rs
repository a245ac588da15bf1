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
use super::output::{note, out};
use super::prompt::TerminalUnlock;
use crate::ops::credential::{
    self as ops, AccessCheck, CHECK_TIMEOUT, CacheFiles, CredentialRequest, Issued,
};
use crate::ops::{Context, wallet};

/// The exec credential API versions kubectl may speak.
const API_V1: &str = "client.authentication.k8s.io/v1";
const API_V1BETA1: &str = "client.authentication.k8s.io/v1beta1";

/// Runs `daas-console credential`.
pub async fn run(global: &GlobalArgs, args: &CredentialArgs) -> anyhow::Result<()> {
    let invocation = Invocation::new(global, args)?;
    let answer = match invocation.cached_answer()? {
        Some(answer) => answer,
        None => invocation.answer().await?,
    };
    out!("{answer}")?;
    Ok(())
}

/// The kubectl credential plugin's answer from its cache alone, printed:
/// a still-good cached token whose chain check is recent. `false` when
/// the chain or the wallet is needed (`run` does both); nothing async,
/// no wallet and no network on this path.
///
/// # Errors
/// Bad arguments or configuration, for `main` to print.
pub fn run_from_cache(global: &GlobalArgs, args: &CredentialArgs) -> anyhow::Result<bool> {
    match Invocation::new(global, args)?.cached_answer()? {
        Some(answer) => {
            out!("{answer}")?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// One run of the plugin, its inputs resolved and its cache read once.
struct Invocation {
    ctx: Context,
    request: CredentialRequest,
    cache: Option<CacheFiles>,
    info: ExecInfo,
    /// The still-good cached token, if any.
    cached: Option<Issued>,
    /// Whether the chain must be asked: checking is on and no "allowed"
    /// from the last [`ops::CHECK_REUSE`] is remembered.
    needs_check: bool,
    /// When the inputs were read (ms), which a check remembers.
    now_ms: u64,
}

impl Invocation {
    fn new(global: &GlobalArgs, args: &CredentialArgs) -> anyhow::Result<Self> {
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
        let cache = CacheFiles::of(&ctx, &request)?;
        let now_ms = unix_now_ms();
        let recently_allowed = (cache.as_ref()).is_some_and(|c| c.recently_allowed(now_ms));
        let cached = cache.as_ref().and_then(|c| c.token(&request));
        Ok(Self {
            ctx,
            request,
            cache,
            info,
            cached,
            needs_check: !args.no_check && !recently_allowed,
            now_ms,
        })
    }

    /// The answer from the cache alone: a still-good cached token, when
    /// the chain need not be asked. `None` when the chain or the wallet is
    /// needed.
    fn cached_answer(&self) -> anyhow::Result<Option<String>> {
        match &self.cached {
            Some(issued) if !self.needs_check => self.exec_credential(issued).map(Some),
            _ => Ok(None),
        }
    }

    /// Checks the seal token on chain when needed, then reuses the cached
    /// token or signs a new one.
    async fn answer(&self) -> anyhow::Result<String> {
        let allowed_now = self.needs_check && check(&self.ctx, self.request.seal_token).await?;
        let signed;
        let issued = match &self.cached {
            Some(issued) => issued,
            None => {
                signed = self.sign()?;
                &signed
            }
        };
        if allowed_now
            && let Some(cache) = &self.cache
            && let Err(error) = cache.remember_allowed(self.now_ms)
        {
            note!("warning: cannot remember the chain's check: {error}");
        }
        self.exec_credential(issued)
    }

    /// A new token, cached (a failure to cache is only a warning).
    fn sign(&self) -> anyhow::Result<Issued> {
        let unlock = TerminalUnlock::of(&self.ctx);
        let (issued, cache_error) =
            ops::sign(&self.ctx, &self.request, self.cache.as_ref(), &unlock).context(
                "cannot sign a token for kubectl (kubectl gives the plugin a terminal only when it runs interactively)",
            )?;
        if let Some(error) = cache_error {
            note!("warning: cannot cache the credential: {error}");
        }
        Ok(issued)
    }

    fn exec_credential(&self, issued: &Issued) -> anyhow::Result<String> {
        let credential = ExecCredential {
            api_version: &self.info.api_version,
            kind: "ExecCredential",
            status: ExecCredentialStatus {
                expiration_timestamp: rfc3339(issued.expires_at)?,
                token: &issued.token,
            },
        };
        Ok(serde_json::to_string(&credential)?)
    }
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
            note!(
                "warning: cannot check seal token {seal_token} on chain ({error}); signing anyway"
            );
            Ok(false)
        }
        Err(_) => {
            note!("warning: the chain did not answer within {CHECK_TIMEOUT:?}; signing anyway");
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
