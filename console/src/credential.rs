//! `daas-console credential`: the kubectl exec credential plugin
//! (`client.authentication.k8s.io/v1`).
//!
//! kubectl runs it with the arguments of the kubeconfig's `exec.args` and,
//! in `KUBERNETES_EXEC_INFO`, an `ExecCredential` whose `spec` says whether
//! the plugin may talk to the user (`interactive`) and, with
//! `provideClusterInfo`, which cluster it is for. The plugin prints an
//! `ExecCredential` whose `status.token` is a wallet-signed access token
//! (`daas_core::access::token`) and whose `status.expirationTimestamp` tells
//! kubectl when to ask again.
//!
//! Tokens are cached in a 0600 file in a 0700 directory under the user's
//! cache dir, one file per audience, seal token, wallet and key, and reused
//! while enough of their lifetime remains. A seal token cannot change hands
//! (contracts/README.md), so the seal token also fixes the owner address;
//! a cached token is only reused when its claims still match.
//!
//! Passphrase: an encrypted-file wallet is unlocked with
//! `DAAS_WALLET_PASSPHRASE` or, when kubectl gives the plugin the terminal
//! (`interactiveMode: IfAvailable` and a terminal on stdin), a prompt.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use daas_core::access::{AccessToken, Claims, unix_now_secs};
use daas_core::package::SealTokenId;
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::cli::{CredentialArgs, GlobalArgs};
use crate::wallet::open_store;

/// The exec credential API versions kubectl may speak.
const API_V1: &str = "client.authentication.k8s.io/v1";
const API_V1BETA1: &str = "client.authentication.k8s.io/v1beta1";
/// Reuse a cached token while at least this much of its life remains (or
/// half its lifetime, for short-lived tokens).
const REUSE_MARGIN_SECS: u64 = 60;
/// A cache file larger than this is not ours.
const MAX_CACHE_FILE: u64 = 64 * 1024;

/// Runs `daas-console credential`.
pub fn run(global: &GlobalArgs, args: &CredentialArgs) -> anyhow::Result<()> {
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
    let now = unix_now_secs();
    let cache = if args.no_cache {
        None
    } else {
        Some(cache_path(global, args, seal_token, &audience)?)
    };
    if let Some(path) = &cache
        && let Some(token) = cached_token(path, seal_token, &audience, args.key.as_deref(), now)
    {
        return print_credential(&info.api_version, &token);
    }
    let store = open_store(global).context(
        "cannot unlock the wallet; for kubectl, set DAAS_WALLET_PASSPHRASE (kubectl gives the plugin no terminal unless it runs interactively)",
    )?;
    let key = store.keypair(args.key.as_deref())?;
    let claims = Claims::new(
        seal_token,
        key.address(),
        audience,
        now,
        Duration::from_secs(args.lifetime),
    )?;
    let token = AccessToken::sign(&key, &claims)?;
    let issued = Issued {
        token: token.as_str().to_owned(),
        expires_at: claims.expires_at,
    };
    if let Some(path) = &cache
        && let Err(error) = write_cache(path, &issued)
    {
        eprintln!("warning: cannot cache the credential: {error:#}");
    }
    print_credential(&info.api_version, &issued)
}

/// A token and its expiry (unix seconds).
struct Issued {
    token: String,
    expires_at: u64,
}

/// What kubectl told the plugin in `KUBERNETES_EXEC_INFO`.
struct ExecInfo {
    /// The API version to answer in.
    api_version: String,
    /// `spec.cluster.server`, with `provideClusterInfo`.
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

fn print_credential(api_version: &str, issued: &Issued) -> anyhow::Result<()> {
    let credential = ExecCredential {
        api_version,
        kind: "ExecCredential",
        status: ExecCredentialStatus {
            expiration_timestamp: rfc3339(issued.expires_at)?,
            token: &issued.token,
        },
    };
    out!("{}", serde_json::to_string(&credential)?)?;
    Ok(())
}

fn rfc3339(unix_secs: u64) -> anyhow::Result<String> {
    let secs = i64::try_from(unix_secs).context("expiry out of range")?;
    let timestamp = jiff::Timestamp::from_second(secs).context("expiry out of range")?;
    Ok(timestamp.to_string())
}

/// `<cache dir>/<hash of audience, seal token, wallet dir and key>.json`.
fn cache_path(
    global: &GlobalArgs,
    args: &CredentialArgs,
    seal_token: SealTokenId,
    audience: &str,
) -> anyhow::Result<PathBuf> {
    let dir = match &args.cache_dir {
        Some(dir) => dir.clone(),
        None => directories::ProjectDirs::from("io", "k3s-daas", "k3s-daas")
            .map(|dirs| dirs.cache_dir().join("credentials"))
            .context("cannot find a cache directory; pass --cache-dir or --no-cache")?,
    };
    let mut hash = Sha256::new();
    for part in [
        audience.as_bytes(),
        seal_token.to_string().as_bytes(),
        global
            .wallet_dir
            .as_deref()
            .map(Path::as_os_str)
            .map(std::ffi::OsStr::as_encoded_bytes)
            .unwrap_or_default(),
        args.key.as_deref().unwrap_or_default().as_bytes(),
    ] {
        hash.update((part.len() as u64).to_le_bytes());
        hash.update(part);
    }
    let digest = hash.finalize();
    Ok(dir.join(format!("{}.json", hex::encode(&digest[..16]))))
}

/// The cached token at `path` if it is still good for this request:
/// readable, a well-formed token for the same seal token and audience (and
/// key, when `key` is an address), not issued in the future, and with enough
/// life left. Anything else is a miss.
fn cached_token(
    path: &Path,
    seal_token: SealTokenId,
    audience: &str,
    key: Option<&str>,
    now: u64,
) -> Option<Issued> {
    let file = std::fs::File::open(path).ok()?;
    let mut text = String::new();
    file.take(MAX_CACHE_FILE).read_to_string(&mut text).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    let token = value.pointer("/status/token")?.as_str()?;
    let parsed = AccessToken::parse(token).ok()?;
    let claims = parsed.unverified_claims();
    // A key named by address (an address parses as an object id) must be
    // the token's owner; an alias is part of the cache file's name.
    let key_matches = key
        .and_then(|k| k.parse::<SealTokenId>().ok())
        .is_none_or(|address| address.address() == claims.owner);
    let margin = REUSE_MARGIN_SECS.min(claims.lifetime_secs() / 2);
    let fresh = claims.issued_at <= now && now.saturating_add(margin) <= claims.expires_at;
    (claims.seal_token == seal_token && claims.audience == audience && key_matches && fresh).then(
        || Issued {
            token: token.to_owned(),
            expires_at: claims.expires_at,
        },
    )
}

/// Writes the credential atomically: a 0600 temp file in the (0700) cache
/// directory, renamed over the old one.
fn write_cache(path: &Path, issued: &Issued) -> anyhow::Result<()> {
    let dir = path.parent().context("cache path has no directory")?;
    create_private_dir(dir)?;
    let credential = ExecCredential {
        api_version: API_V1,
        kind: "ExecCredential",
        status: ExecCredentialStatus {
            expiration_timestamp: rfc3339(issued.expires_at)?,
            token: &issued.token,
        },
    };
    let mut file = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot create a file in {}", dir.display()))?;
    set_private(file.path(), 0o600)?;
    serde_json::to_writer(&mut file, &credential)?;
    file.as_file().sync_all()?;
    file.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(())
}

#[cfg(unix)]
fn set_private(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot restrict {}", path.display()))
}

#[cfg(not(unix))]
fn set_private(_path: &Path, _mode: u32) -> anyhow::Result<()> {
    Ok(())
}
