//! The whole product on one machine: the devnet, the control plane wired to
//! the master's webhooks, and `daas-master serve` with dev attestation.
//!
//! Order matters and mirrors a real boot: the master's webhook identity and
//! the API server's webhook files come first (`daas-master webhook-files`),
//! then the API server, then the master itself, which needs the API
//! server's kubeconfig.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use daas_core::attestation::{DevRoot, PcrPolicy, TrustRoots};
use daas_core::attested::{AttestedClient, AttestedClientConfig};
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

use crate::binaries::{self, MASTER};
use crate::devnet::{Devnet, DevnetOptions};
use crate::k3s::{self, Cluster, ClusterBuilder, StaticToken};

/// How long the master may take to print its address.
pub const MASTER_START_TIMEOUT: Duration = Duration::from_secs(60);
/// The API server caches webhook token answers; it holds successes for 10 s
/// whatever this says, so revocation relies on the authorization webhook.
pub(crate) const TOKEN_CACHE_TTL: Duration = Duration::from_secs(10);

/// Knobs of a [`Stack`].
#[derive(Debug, Clone, Default)]
pub struct StackOptions {
    /// Devnet genesis options (admin, slasher, faucet).
    pub devnet: DevnetOptions,
    /// Extra master configuration, appended to the generated file (YAML,
    /// whole top-level sections such as `access:` or `nodes:`).
    pub master_config: String,
    /// Users of the API server's static token file (for comparisons).
    pub static_tokens: Vec<StaticToken>,
    /// Send the API server's audit events to the master (its audit policy
    /// and webhook, batches sent after at most a second).
    pub audit: bool,
}

/// A running devnet, control plane and master. Dropping it stops them.
pub struct Stack {
    /// The chain.
    pub devnet: Devnet,
    /// The control plane.
    pub cluster: Cluster,
    /// The master.
    pub master: MasterProcess,
}

impl Stack {
    /// Starts everything and waits until the master is ready.
    ///
    /// # Errors
    /// A component failed to start.
    pub async fn start(options: StackOptions) -> anyhow::Result<Self> {
        let devnet = Devnet::start_with(options.devnet.clone()).await?;
        let dir = tempfile::tempdir().context("making the master's directory")?;
        let webhook_port = k3s::free_port()?;
        let files = write_webhook_files(dir.path(), webhook_port).await?;
        let cluster = cluster_builder(&files, &options).start().await?;
        let config = dir.path().join("nautilus-config.yaml");
        std::fs::write(
            &config,
            master_config(&devnet, &cluster, &options.master_config),
        )
        .context("writing the master's config")?;
        let master = MasterProcess::start(dir, config, webhook_port).await?;
        master.wait_ready().await?;
        Ok(Self {
            devnet,
            cluster,
            master,
        })
    }
}

/// The control plane of a stack: its webhooks and admission from `files`,
/// the static tokens and (if asked) the audit webhook of `options`.
pub(crate) fn cluster_builder(files: &WebhookFiles, options: &StackOptions) -> ClusterBuilder {
    let mut builder = ClusterBuilder::new()
        .token_webhook(&files.authentication, TOKEN_CACHE_TTL)
        .authorization_config(&files.authorization)
        .admission_control_config(&files.admission);
    for token in &options.static_tokens {
        builder = builder.static_token(token.clone());
    }
    if options.audit {
        builder = builder
            .audit_policy_file(&files.audit_policy)
            .audit_webhook_config_file(&files.audit_webhook)
            .apiserver_arg("audit-webhook-batch-max-wait", "1s");
    }
    builder
}

fn master_config(devnet: &Devnet, cluster: &Cluster, extra: &str) -> String {
    master_config_for(devnet.url(), cluster, extra)
}

/// The master's `nautilus-config.yaml` for the chain at `chain_url` and
/// `cluster`, with `extra` top-level sections appended.
pub(crate) fn master_config_for(chain_url: &str, cluster: &Cluster, extra: &str) -> String {
    format!(
        "sui:\n  profile: devnet\n  rpc_endpoint: \"{chain_url}\"\nk3s:\n  kubeconfig: \"{}\"\n  \
         api_server_url: \"{}\"\n{extra}",
        cluster.kubeconfig_path().display(),
        cluster.server(),
    )
}

/// The API server's webhook and admission files, written by the master
/// binary.
pub(crate) struct WebhookFiles {
    pub(crate) authentication: PathBuf,
    pub(crate) authorization: PathBuf,
    pub(crate) admission: PathBuf,
    pub(crate) audit_policy: PathBuf,
    pub(crate) audit_webhook: PathBuf,
}

/// Where the API server's webhook files are written, in the master's
/// directory.
const APISERVER_DIR: &str = "apiserver";

/// Runs `daas-master webhook-files` for a master whose state is
/// `dir/state` and whose webhook listener is on `port`; the files land in
/// `dir/apiserver`.
pub(crate) async fn write_webhook_files(dir: &Path, port: u16) -> anyhow::Result<WebhookFiles> {
    let binary = master_binary().await?;
    let out = dir.join(APISERVER_DIR);
    let status = Command::new(&binary)
        .arg("webhook-files")
        .arg("--state-dir")
        .arg(dir.join("state"))
        .arg("--url")
        .arg(format!("https://127.0.0.1:{port}"))
        .arg("--out")
        .arg(&out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .await
        .context("running daas-master webhook-files")?;
    if !status.success() {
        bail!("daas-master webhook-files failed ({status})");
    }
    Ok(WebhookFiles::in_dir(&out))
}

impl WebhookFiles {
    /// The files `daas-master webhook-files --out DIR` writes into `dir`.
    fn in_dir(dir: &Path) -> Self {
        Self {
            authentication: dir.join("authn-webhook.kubeconfig"),
            authorization: dir.join("authorization-config.yaml"),
            admission: dir.join("admission-config.yaml"),
            audit_policy: dir.join("audit-policy.yaml"),
            audit_webhook: dir.join("audit-webhook.kubeconfig"),
        }
    }
}

async fn master_binary() -> anyhow::Result<PathBuf> {
    tokio::task::spawn_blocking(|| binaries::workspace_binary(MASTER))
        .await
        .context("locating daas-master")?
}

/// A `daas-master serve` process, killed on drop.
pub struct MasterProcess {
    child: Option<Child>,
    dir: TempDir,
    config: PathBuf,
    webhook_port: u16,
    url: String,
    /// The binary it runs, when not the workspace's (a new image).
    binary: Option<PathBuf>,
}

impl MasterProcess {
    /// Starts a master whose state is `dir/state`, on `config`, serving
    /// the webhooks on `webhook_port`; does not wait until it is ready.
    pub(crate) async fn start(
        dir: TempDir,
        config: PathBuf,
        webhook_port: u16,
    ) -> anyhow::Result<Self> {
        let mut master = Self {
            child: None,
            dir,
            config,
            webhook_port,
            url: String::new(),
            binary: None,
        };
        master.spawn().await?;
        Ok(master)
    }

    /// The attested API, e.g. `https://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The master process's id while it runs (for resource sampling).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// The master's directory (its state directory, log and the API
    /// server's files).
    pub(crate) fn dir(&self) -> PathBuf {
        self.dir.path().to_owned()
    }

    /// The configuration file it serves on.
    pub fn config_path(&self) -> &Path {
        &self.config
    }

    /// The state directory (dev attestation root, webhook identity).
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// The webhook listener the API server calls, e.g.
    /// `https://127.0.0.1:9443` (its certificate names
    /// `daas-master-webhook`; it requires the API server's client
    /// certificate).
    pub fn webhook_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.webhook_port)
    }

    /// The API server's TokenReview webhook kubeconfig, as
    /// `daas-master webhook-files` wrote it (with the client certificate).
    pub fn authentication_kubeconfig(&self) -> PathBuf {
        self.webhook_files().authentication
    }

    /// The API server's audit webhook kubeconfig, as `daas-master
    /// webhook-files` wrote it (with the client certificate).
    pub fn audit_kubeconfig(&self) -> PathBuf {
        self.webhook_files().audit_webhook
    }

    fn webhook_files(&self) -> WebhookFiles {
        WebhookFiles::in_dir(&self.dir.path().join(APISERVER_DIR))
    }

    /// The master's log (its stderr).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("master.log")
    }

    /// The last lines of the master's log, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        k3s::log_tail(&self.log_path(), lines)
    }

    /// An attested client of the master that accepts its dev attestation
    /// (any measurement: the tests do not pin the binary's PCRs).
    ///
    /// # Errors
    /// The master's dev root is unreadable.
    pub fn client(&self) -> anyhow::Result<AttestedClient> {
        dev_client(&self.url, &self.state_dir())
    }

    /// Waits until `/readyz` answers 200 (chain, API server and event
    /// follower all fine).
    ///
    /// # Errors
    /// Not ready within [`MASTER_START_TIMEOUT`]; the last answer is named.
    pub async fn wait_ready(&self) -> anyhow::Result<()> {
        wait_master_ready(&self.client()?, &self.log_path()).await
    }

    /// Kills the master (SIGKILL: nothing is flushed or released).
    ///
    /// # Errors
    /// The kill failed.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().await.context("killing the master")?;
        }
        Ok(())
    }

    /// Starts the master again with the same state, configuration and
    /// address (as a supervisor restarts a crashed service: its clients keep
    /// their endpoint) and waits until it is ready.
    ///
    /// # Errors
    /// It did not come up.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.kill().await?;
        if let Err(error) = self.spawn().await {
            // Another process took the port meanwhile: take a new one.
            tracing::warn!("the master did not get its port back ({error:#}); a new port");
            self.url.clear();
            self.spawn().await?;
        }
        self.wait_ready().await
    }

    /// Restarts the master from `binary`, as an operator deploys a new
    /// master image: same state, configuration and address, new dev PCRs
    /// (they measure the running binary).
    ///
    /// # Errors
    /// It did not come up.
    pub async fn upgrade(&mut self, binary: PathBuf) -> anyhow::Result<()> {
        self.binary = Some(binary);
        self.restart().await
    }

    async fn spawn(&mut self) -> anyhow::Result<()> {
        let binary = match &self.binary {
            Some(binary) => binary.clone(),
            None => master_binary().await?,
        };
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .context("opening the master log")?;
        // The first start picks a free port; restarts keep it.
        let port = self
            .url
            .rsplit_once(':')
            .map_or("0", |(_, port)| port)
            .to_owned();
        let mut child = Command::new(&binary)
            .arg("serve")
            .arg("--listen")
            .arg(format!("tcp:127.0.0.1:{port}"))
            .args(["--attestation", "dev"])
            .arg("--webhook-listen")
            .arg(format!("tcp:127.0.0.1:{}", self.webhook_port))
            .arg("--state-dir")
            .arg(self.state_dir())
            .arg("--config")
            .arg(&self.config)
            .env(
                "RUST_LOG",
                std::env::var("DAAS_MASTER_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("spawning {}", binary.display()))?;
        let stdout = child.stdout.take().context("master stdout not piped")?;
        let mut lines = BufReader::new(stdout).lines();
        let first = match tokio::time::timeout(MASTER_START_TIMEOUT, lines.next_line()).await {
            Ok(Ok(Some(line))) => line,
            other => bail!(
                "daas-master printed no address ({other:?}); its log:\n{}",
                self.log_tail(40)
            ),
        };
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        self.url = first
            .strip_prefix("daas-master listening on ")
            .with_context(|| format!("unexpected first line {first:?}"))?
            .to_owned();
        self.child = Some(child);
        Ok(())
    }
}

/// An attested client of the master at `url` whose state directory is
/// `state_dir`, accepting its dev attestation (any measurement).
///
/// # Errors
/// The master's dev root is unreadable.
pub fn dev_client(url: &str, state_dir: &Path) -> anyhow::Result<AttestedClient> {
    let pem = std::fs::read_to_string(state_dir.join("dev-root.pem"))
        .context("reading the master's dev root")?;
    let root = DevRoot::from_pem(&pem).context("parsing the master's dev root")?;
    let config = AttestedClientConfig::new(
        TrustRoots::insecure_dev_only(root),
        PcrPolicy::AnyMeasurement,
    )
    .allow_insecure_dev(true);
    AttestedClient::new(url, config).context("making an attested client")
}

/// Waits until the master behind `client` answers `/readyz` with 200
/// (chain, API server and event follower all fine).
///
/// # Errors
/// Not ready within [`MASTER_START_TIMEOUT`]; the last answer and the end
/// of `log` are quoted.
pub async fn wait_master_ready(client: &AttestedClient, log: &Path) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + MASTER_START_TIMEOUT;
    loop {
        match client.get_json::<serde_json::Value>("/readyz").await {
            Ok(_) => return Ok(()),
            Err(error) if tokio::time::Instant::now() >= deadline => bail!(
                "the master was not ready within {MASTER_START_TIMEOUT:?} ({error}); \
                 its log:\n{}",
                k3s::log_tail(log, 40)
            ),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}
