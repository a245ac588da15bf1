//! `daas-console kubeconfig`: writes or merges a kubeconfig whose user runs
//! `daas-console credential` (built by `daas_core::access::kubeconfig`).
//!
//! The target is `--kubeconfig`, else the first path of `$KUBECONFIG`, else
//! `~/.kube/config`. Entries of other names are kept; the file is replaced
//! atomically and is 0600 afterwards.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use daas_core::access::kubeconfig::{
    self, ExecPlugin, KubeconfigEntry, ServerTrust, credential_args,
};
use daas_core::package::SealTokenId;

use crate::cli::{GlobalArgs, KubeconfigArgs};

/// A kubeconfig larger than this is refused.
const MAX_KUBECONFIG: u64 = 16 * 1024 * 1024;

/// Runs `daas-console kubeconfig`.
pub fn run(global: &GlobalArgs, args: &KubeconfigArgs) -> anyhow::Result<()> {
    let entry = entry(global, args)?;
    if args.stdout {
        out!("{}", kubeconfig::to_yaml(&entry.to_config())?.trim_end())?;
        return Ok(());
    }
    let path = match &args.kubeconfig {
        Some(path) => path.clone(),
        None => default_path()?,
    };
    let existing = read_existing(&path)?;
    let merged = kubeconfig::merge(existing, &entry, !args.keep_current_context)
        .with_context(|| format!("cannot merge into {}", path.display()))?;
    write_private(&path, kubeconfig::to_yaml(&merged)?.as_bytes())?;
    out!(
        "wrote context `{}` (cluster {}, user {}) to {}",
        entry.context,
        entry.server,
        entry.user,
        path.display()
    )?;
    Ok(())
}

fn entry(global: &GlobalArgs, args: &KubeconfigArgs) -> anyhow::Result<KubeconfigEntry> {
    let seal_token: SealTokenId = args
        .seal_token
        .parse()
        .with_context(|| format!("`{}` is not a seal token id (0x…)", args.seal_token))?;
    if !(args.server.starts_with("https://") || args.server.starts_with("http://")) {
        bail!("--server must be an http(s) URL, got `{}`", args.server);
    }
    let trust = match (&args.ca_file, args.insecure_skip_tls_verify) {
        (Some(path), _) => {
            let pem = std::fs::read(path)
                .with_context(|| format!("cannot read the CA file {}", path.display()))?;
            if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
                bail!("{} is not a PEM certificate", path.display());
            }
            ServerTrust::CaPem(pem)
        }
        (None, true) => ServerTrust::InsecureSkipVerify,
        (None, false) => ServerTrust::System,
    };
    let command = match &args.command {
        Some(command) => command.clone(),
        None => std::env::current_exe()
            .context("cannot find this executable's path; pass --command")?
            .to_str()
            .context("this executable's path is not UTF-8; pass --command")?
            .to_owned(),
    };
    let wallet_dir = match &global.wallet_dir {
        Some(dir) => Some(
            std::path::absolute(dir)
                .with_context(|| format!("cannot resolve {}", dir.display()))?
                .to_str()
                .context("the wallet directory is not UTF-8")?
                .to_owned(),
        ),
        None => None,
    };
    let audience = args.audience.clone().unwrap_or_else(|| args.server.clone());
    Ok(KubeconfigEntry {
        cluster: args.name.clone(),
        server: args.server.clone(),
        trust,
        user: format!("{}-user", args.name),
        context: args.name.clone(),
        namespace: args.namespace.clone(),
        exec: ExecPlugin {
            command,
            args: credential_args(
                seal_token,
                &audience,
                args.key.as_deref(),
                wallet_dir.as_deref(),
            ),
            env: Vec::new(),
        },
    })
}

/// The first path of `$KUBECONFIG`, else `~/.kube/config`.
fn default_path() -> anyhow::Result<PathBuf> {
    if let Some(list) = std::env::var_os("KUBECONFIG")
        && let Some(first) = std::env::split_paths(&list).find(|p| !p.as_os_str().is_empty())
    {
        return Ok(first);
    }
    let home = directories::BaseDirs::new()
        .context("cannot find the home directory; pass --kubeconfig")?;
    Ok(home.home_dir().join(".kube").join("config"))
}

fn read_existing(path: &Path) -> anyhow::Result<serde_json::Value> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(serde_json::Value::Object(serde_json::Map::new()));
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut text = String::new();
    file.take(MAX_KUBECONFIG + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if text.len() as u64 > MAX_KUBECONFIG {
        bail!("{} is larger than 16 MiB", path.display());
    }
    kubeconfig::from_yaml(&text).with_context(|| format!("cannot parse {}", path.display()))
}

/// Replaces `path` atomically with `contents`, mode 0600.
fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut file = tempfile::NamedTempFile::new_in(&dir)
        .with_context(|| format!("cannot create a file in {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(file.path(), std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(contents)?;
    file.as_file().sync_all()?;
    file.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
