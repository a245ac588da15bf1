//! The user's kubeconfig: an entry whose user runs `daas-console
//! credential`, with the API server and its CA taken from the attested
//! master (as `GET /kubectl/config` serves them) or given explicitly, merged
//! into a kubeconfig file atomically (0600).

use std::io::Read as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use daas_core::access::kubeconfig::{
    self, ExecPlugin, KubeconfigEntry, ServerTrust, credential_args,
};
use daas_core::access::review::user_namespace;
use daas_core::access::{AccessToken, Claims, unix_now_secs};
use daas_core::package::{SealTokenId, Tier};
use daas_core::private_file;
use serde_json::Value;

use super::{Context, OpsError};

/// A kubeconfig larger than this is refused.
const MAX_KUBECONFIG: u64 = 16 * 1024 * 1024;

/// Where the API server's URL and trust come from.
#[derive(Debug, Clone)]
pub enum ServerSource {
    /// The attested master's `GET /kubectl/config`.
    Master,
    /// Given by the user.
    Explicit {
        /// The API server URL.
        server: String,
        /// How to check it.
        trust: ServerTrust,
    },
}

/// What the entry says.
#[derive(Debug, Clone)]
pub struct EntryRequest {
    /// The seal token whose stake grants access.
    pub seal_token: SealTokenId,
    /// The API server.
    pub source: ServerSource,
    /// The audience (default: the master's, else the server URL).
    pub audience: Option<String>,
    /// The cluster and context name (the user is `<name>-user`).
    pub name: String,
    /// The context's namespace.
    pub namespace: Option<String>,
    /// The plugin program (this executable's absolute path).
    pub command: String,
}

/// The entry for `request`; with [`ServerSource::Master`] the server, CA and
/// audience come from the attested master.
///
/// # Errors
/// The master failed or served an unusable kubeconfig; a bad server URL.
pub async fn entry(ctx: &Context, request: &EntryRequest) -> Result<KubeconfigEntry, OpsError> {
    let (server, trust, served_audience) = match &request.source {
        ServerSource::Master => {
            let yaml = ctx
                .master()
                .await?
                .kubectl_config(request.seal_token)
                .await?;
            from_master(&yaml)?
        }
        ServerSource::Explicit { server, trust } => (server.clone(), trust.clone(), None),
    };
    if !(server.starts_with("https://") || server.starts_with("http://")) {
        return Err(OpsError::Invalid {
            what: "API server URL",
            value: server,
            reason: "not an http(s) URL".to_owned(),
        });
    }
    let audience = request
        .audience
        .clone()
        .or(served_audience)
        .unwrap_or_else(|| server.clone());
    Ok(KubeconfigEntry {
        cluster: request.name.clone(),
        server,
        trust,
        user: format!("{}-user", request.name),
        context: request.name.clone(),
        namespace: request.namespace.clone(),
        exec: ExecPlugin {
            command: request.command.clone(),
            args: plugin_args(ctx, request.seal_token, &audience)?,
            env: Vec::new(),
        },
    })
}

/// The namespace `seal_token`'s holder writes in: a developer's own
/// namespace (`daas-u-…`, the only one the tier writes in), as the master's
/// authenticated `GET /kubectl/config` sets it; `None` for the other tiers,
/// which write everywhere or nowhere.
///
/// # Errors
/// The chain failed, or does not know the seal token.
pub async fn own_namespace(
    ctx: &Context,
    seal_token: SealTokenId,
) -> Result<Option<String>, OpsError> {
    let state = ctx.chain()?.seal_token_state(seal_token).await?;
    Ok(match state.tier() {
        Some(Tier::Developer) => state.object_owner().map(user_namespace),
        _ => None,
    })
}

/// The plugin's arguments: the console settings it needs to find the
/// wallet and check the seal token on chain, then `credential …`.
fn plugin_args(
    ctx: &Context,
    seal_token: SealTokenId,
    audience: &str,
) -> Result<Vec<String>, OpsError> {
    let settings = ctx.settings();
    let mut args = Vec::new();
    if let Some(config) = &settings.source {
        args.extend([
            "--config-file".to_owned(),
            absolute(config)?,
            "--profile".to_owned(),
            settings.profile.clone(),
        ]);
    }
    args.extend(["--chain".to_owned(), settings.chain.endpoint().to_owned()]);
    let wallet_dir = settings.wallet_dir.as_deref().map(absolute).transpose()?;
    args.extend(credential_args(
        seal_token,
        audience,
        settings.key.as_deref(),
        wallet_dir.as_deref(),
    ));
    Ok(args)
}

fn absolute(path: &Path) -> Result<String, OpsError> {
    let absolute = std::path::absolute(path).map_err(|source| OpsError::File {
        action: "cannot resolve",
        path: path.to_owned(),
        source,
    })?;
    absolute
        .to_str()
        .map(str::to_owned)
        .ok_or_else(|| OpsError::Invalid {
            what: "path",
            value: absolute.display().to_string(),
            reason: "not UTF-8".to_owned(),
        })
}

/// The audience of access tokens for `seal_token`: the one the master's
/// kubeconfig (`GET /kubectl/config`) names.
///
/// # Errors
/// The master is unreachable, or its kubeconfig is malformed or names no
/// audience.
pub async fn master_audience(
    master: &daas_core::api::MasterClient,
    seal_token: daas_core::package::SealTokenId,
) -> Result<String, OpsError> {
    from_master(&master.kubectl_config(seal_token).await?)?
        .2
        .ok_or_else(|| OpsError::Refused("the master's kubeconfig names no audience".into()))
}

/// How long an access token signed for one request to the master lives.
const REQUEST_TOKEN_LIFETIME: std::time::Duration = std::time::Duration::from_secs(60);

/// A wallet-signed access token for `seal_token` and `master`'s audience,
/// for one request, with the address that signed it.
///
/// # Errors
/// The master or the wallet failed, or the claims are invalid.
pub(super) async fn request_token(
    ctx: &Context,
    master: &daas_core::api::MasterClient,
    seal_token: SealTokenId,
    unlock: &dyn super::Unlock,
) -> Result<(AccessToken, sui_sdk_types::Address), OpsError> {
    signed_token(ctx, master, seal_token, unlock, REQUEST_TOKEN_LIFETIME).await
}

/// A wallet-signed access token for `seal_token` and `master`'s audience
/// that lives `lifetime`, with the address that signed it.
///
/// # Errors
/// The master or the wallet failed, or the claims are invalid.
pub(super) async fn signed_token(
    ctx: &Context,
    master: &daas_core::api::MasterClient,
    seal_token: SealTokenId,
    unlock: &dyn super::Unlock,
    lifetime: std::time::Duration,
) -> Result<(AccessToken, sui_sdk_types::Address), OpsError> {
    let audience = master_audience(master, seal_token).await?;
    let signer = super::wallet::signer(ctx, unlock)?;
    let claims = Claims::new(
        seal_token,
        signer.address(),
        audience,
        unix_now_secs(),
        lifetime,
    )?;
    Ok((AccessToken::sign(&signer, &claims)?, signer.address()))
}

/// Server, trust and audience from the master's kubeconfig.
pub(super) fn from_master(yaml: &str) -> Result<(String, ServerTrust, Option<String>), OpsError> {
    let config = kubeconfig::from_yaml(yaml)?;
    let malformed = |reason: &str| OpsError::Invalid {
        what: "kubeconfig served by the master",
        value: yaml.chars().take(80).collect(),
        reason: reason.to_owned(),
    };
    let cluster = config
        .pointer("/clusters/0/cluster")
        .ok_or_else(|| malformed("no cluster"))?;
    let server = cluster
        .get("server")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("no server"))?
        .to_owned();
    let trust = match cluster
        .get("certificate-authority-data")
        .and_then(Value::as_str)
    {
        Some(data) => ServerTrust::CaPem(
            STANDARD
                .decode(data.trim())
                .map_err(|_| malformed("certificate-authority-data is not base64"))?,
        ),
        None => ServerTrust::System,
    };
    let audience = config
        .pointer("/users/0/user/exec/args")
        .and_then(Value::as_array)
        .and_then(|args| {
            args.iter()
                .skip_while(|a| a.as_str() != Some("--audience"))
                .nth(1)
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
    Ok((server, trust, audience))
}

/// The first path of `$KUBECONFIG`, else `~/.kube/config`.
///
/// # Errors
/// There is no home directory.
pub fn default_path() -> Result<PathBuf, OpsError> {
    if let Some(list) = std::env::var_os("KUBECONFIG")
        && let Some(first) = std::env::split_paths(&list).find(|p| !p.as_os_str().is_empty())
    {
        return Ok(first);
    }
    let home = directories::BaseDirs::new().ok_or(OpsError::NotConfigured {
        what: "kubeconfig path",
        hint: "there is no home directory; name the kubeconfig file",
    })?;
    Ok(home.home_dir().join(".kube").join("config"))
}

/// Merges `entry` into the kubeconfig at `path` (other entries are kept),
/// making its context current when `use_context`; the file is replaced
/// atomically, mode 0600. Nothing is written if the file does not parse.
///
/// # Errors
/// The file is unreadable, too large or not a kubeconfig; the write failed.
pub fn write(path: &Path, entry: &KubeconfigEntry, use_context: bool) -> Result<(), OpsError> {
    let existing = read_existing(path)?;
    let merged =
        kubeconfig::merge(existing, entry, use_context).map_err(|e| OpsError::Invalid {
            what: "kubeconfig",
            value: path.display().to_string(),
            reason: format!("cannot merge: {e}"),
        })?;
    private_file::write_atomic(path, kubeconfig::to_yaml(&merged)?.as_bytes()).map_err(|e| {
        OpsError::File {
            action: e.action,
            path: e.path,
            source: e.source,
        }
    })
}

fn read_existing(path: &Path) -> Result<Value, OpsError> {
    let file_error = |source| OpsError::File {
        action: "cannot read",
        path: path.to_owned(),
        source,
    };
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Value::Object(serde_json::Map::new()));
        }
        Err(e) => return Err(file_error(e)),
    };
    let mut text = String::new();
    file.take(MAX_KUBECONFIG + 1)
        .read_to_string(&mut text)
        .map_err(file_error)?;
    let invalid = |reason: String| OpsError::Invalid {
        what: "kubeconfig",
        value: path.display().to_string(),
        reason,
    };
    if text.len() as u64 > MAX_KUBECONFIG {
        return Err(invalid("larger than 16 MiB".to_owned()));
    }
    kubeconfig::from_yaml(&text).map_err(|e| invalid(format!("cannot parse: {e}")))
}
