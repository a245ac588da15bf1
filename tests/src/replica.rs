//! A further master replica on a running stack: another `daas-master
//! serve` on the stack's configuration (same chain, same control plane),
//! with its own state directory, webhook port and enclave key.
//!
//! It shares the stack master's dev attestation root and webhook CA
//! (copied into its state directory before it starts), as replicas behind
//! one deployment do: the API server's webhook client certificate is
//! accepted by both, the devnet trusts both attestations, and one
//! `--dev-root` lets the console attest either.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use daas_core::attested::AttestedClient;
use daas_local::binaries::{MASTER, workspace_binary};
use daas_local::k3s;
use daas_local::stack::{Stack, dev_client};
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

/// What a replica copies from the stack master's state directory: the dev
/// attestation root (certificate and key) and the webhook CA.
const SHARED_STATE: [&str; 4] = [
    "dev-root.pem",
    "dev-root-key.pem",
    "webhook-ca.crt",
    "webhook-ca.key",
];

/// How long the replica may take to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A second `daas-master serve`, killed on drop.
pub struct Replica {
    _child: Child,
    dir: TempDir,
    url: String,
    webhook_port: u16,
}

impl Replica {
    /// Starts a replica of `stack`'s master, on the stack master's
    /// configuration with each `(from, to)` of `replace` applied to its
    /// text (e.g. its own `audit.gas_key_file`: replicas that paid from one
    /// address would race for the same gas coins).
    ///
    /// # Errors
    /// The shared state cannot be copied, the configuration read or
    /// written, or the process did not start.
    pub async fn start(stack: &Stack, replace: &[(&str, &str)]) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir().context("making the replica's directory")?;
        let state = dir.path().join("state");
        std::fs::create_dir_all(&state).context("making the replica's state directory")?;
        let source = stack.master.state_dir();
        for name in SHARED_STATE {
            copy_private(&source.join(name), &state.join(name))?;
        }
        let stack_config = source
            .parent()
            .context("the stack master's state directory has no parent")?
            .join("nautilus-config.yaml");
        let mut text = std::fs::read_to_string(&stack_config)
            .with_context(|| format!("reading {}", stack_config.display()))?;
        for (from, to) in replace {
            text = text.replace(from, to);
        }
        let config = dir.path().join("nautilus-config.yaml");
        std::fs::write(&config, text).context("writing the replica's configuration")?;
        let webhook_port = k3s::free_port()?;
        let binary = tokio::task::spawn_blocking(|| workspace_binary(MASTER))
            .await
            .context("locating daas-master")??;
        let log = std::fs::File::create(dir.path().join("master.log"))
            .context("creating the replica's log")?;
        let mut child = Command::new(binary)
            .arg("serve")
            .args(["--listen", "tcp:127.0.0.1:0", "--attestation", "dev"])
            .arg("--webhook-listen")
            .arg(format!("tcp:127.0.0.1:{webhook_port}"))
            .arg("--state-dir")
            .arg(&state)
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .context("spawning the replica")?;
        let stdout = child.stdout.take().context("replica stdout not piped")?;
        let mut lines = BufReader::new(stdout).lines();
        let first = match tokio::time::timeout(START_TIMEOUT, lines.next_line()).await {
            Ok(Ok(Some(line))) => line,
            other => bail!(
                "the replica printed no address ({other:?}); its log:\n{}",
                k3s::log_tail(&dir.path().join("master.log"), 40)
            ),
        };
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let url = first
            .strip_prefix("daas-master listening on ")
            .with_context(|| format!("unexpected first line {first:?}"))?
            .to_owned();
        Ok(Self {
            _child: child,
            dir,
            url,
            webhook_port,
        })
    }

    /// The attested API.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The state directory.
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// The webhook listener (the audit webhook is `{webhook_url}/audit`).
    pub fn webhook_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.webhook_port)
    }

    /// An attested client accepting the shared dev attestation.
    ///
    /// # Errors
    /// The dev root is unreadable.
    pub fn client(&self) -> anyhow::Result<AttestedClient> {
        dev_client(&self.url, &self.state_dir())
    }

    /// The last lines of the replica's log.
    pub fn log_tail(&self, lines: usize) -> String {
        k3s::log_tail(&self.dir.path().join("master.log"), lines)
    }
}

/// Copies `from` to `to` with mode 0600 (keys among them).
fn copy_private(from: &Path, to: &Path) -> anyhow::Result<()> {
    let bytes = std::fs::read(from).with_context(|| format!("reading {}", from.display()))?;
    daas_core::private_file::write_atomic(to, &bytes)
        .with_context(|| format!("writing {}", to.display()))
}
