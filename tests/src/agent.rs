//! A worker machine for `daas-agent`: an encrypted wallet with a new key
//! funded by the devnet faucet, its passphrase in a 0600 file, a
//! `worker-config.yaml` for a [`Stack`], and the agent run as a process
//! with `daas-node` (real containerd + kubelet) as its node runtime.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};
use daas_core::wallet::{BackendKind, Keypair, Passphrase, Scheme, WalletStore};
use sui_sdk_types::Address;
use tempfile::TempDir;
use tokio::process::{Child, Command};

use crate::binaries::{self, AGENT};
use crate::k3s;
use crate::stack::Stack;
use crate::user::PASSPHRASE;

/// The variable that makes the agent crash after a step (test hook).
pub const CRASH_AFTER_VAR: &str = "DAAS_AGENT_TEST_CRASH_AFTER";
/// The exit status of such a crash.
pub const CRASH_EXIT: i32 = 137;

/// One worker machine: wallet, passphrase, configuration, state.
pub struct AgentHost {
    dir: TempDir,
    key: Keypair,
    agent: PathBuf,
    node_runtime: PathBuf,
    pcrs: BTreeMap<u8, String>,
    master_url: String,
    chain_url: String,
    dev_root: PathBuf,
}

impl AgentHost {
    /// A machine with a new funded wallet for `stack`, trusting the
    /// master's dev attestation with the PCRs it reports now.
    ///
    /// # Errors
    /// A binary is missing, the wallet or faucet failed, or the master did
    /// not answer.
    pub async fn new(stack: &Stack) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir().context("making the worker's directory")?;
        let key = Keypair::generate(Scheme::Ed25519);
        let mut store = WalletStore::open_with(
            &dir.path().join("wallet"),
            BackendKind::EncryptedFile,
            Some(Passphrase::new(PASSPHRASE)),
        )
        .context("creating the worker's wallet")?;
        store.add("worker", &key).context("adding the worker key")?;
        let passphrase = dir.path().join("passphrase");
        std::fs::write(&passphrase, format!("{PASSPHRASE}\n")).context("writing the passphrase")?;
        std::fs::set_permissions(&passphrase, std::fs::Permissions::from_mode(0o600))
            .context("chmod of the passphrase")?;
        stack.devnet.fund(key.address()).await?;
        let context = stack
            .master
            .client()?
            .security_context()
            .await
            .context("reading the master's PCRs")?;
        let (agent, node_runtime) = tokio::task::spawn_blocking(|| {
            Ok::<_, anyhow::Error>((
                binaries::workspace_binary(AGENT)?,
                binaries::workspace_binary("daas-node")?,
            ))
        })
        .await
        .context("locating the binaries")??;
        Ok(Self {
            dir,
            key,
            agent,
            node_runtime,
            pcrs: context.pcrs,
            master_url: stack.master.url().to_owned(),
            chain_url: stack.devnet.url().to_owned(),
            dev_root: stack.master.state_dir().join("dev-root.pem"),
        })
    }

    /// The wallet's address.
    pub fn address(&self) -> Address {
        self.key.address()
    }

    /// The wallet's key.
    pub fn key(&self) -> &Keypair {
        &self.key
    }

    /// The configuration file.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("worker-config.yaml")
    }

    /// The state directory.
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// The agent's log (its stderr, appended by every run).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("agent.log")
    }

    /// The last lines of the agent's log.
    pub fn log_tail(&self, lines: usize) -> String {
        k3s::log_tail(&self.log_path(), lines)
    }

    /// The log's length now, to read only what follows with
    /// [`Self::log_since`].
    pub fn log_len(&self) -> usize {
        std::fs::metadata(self.log_path()).map_or(0, |m| usize::try_from(m.len()).unwrap_or(0))
    }

    /// The log written since it was `offset` bytes long.
    pub fn log_since(&self, offset: usize) -> String {
        let log = std::fs::read(self.log_path()).unwrap_or_default();
        String::from_utf8_lossy(log.get(offset..).unwrap_or_default()).into_owned()
    }

    /// The master's PCRs as the machine pins them.
    pub fn pcrs(&self) -> &BTreeMap<u8, String> {
        &self.pcrs
    }

    /// A configuration for node `node` staking 5 SUI, heartbeating every
    /// second, with `pcrs` pinned.
    pub fn config_text(&self, node: &str, pcrs: &BTreeMap<u8, String>) -> String {
        let pcr_lines: String = pcrs
            .iter()
            .filter(|(index, _)| matches!(index, 0..=2))
            .map(|(index, value)| format!("    \"{index}\": \"{value}\"\n"))
            .collect();
        self.config_trusting(node, &format!("  pcrs:\n{pcr_lines}"))
    }

    /// [`Self::config_text`] trusting the PCRs of the on-chain
    /// `EnclaveConfig` `config` instead.
    pub fn config_pinned_to(&self, node: &str, config: Address) -> String {
        self.config_trusting(node, &format!("  enclave_config: \"{config}\"\n"))
    }

    /// The configuration with `pin` (YAML lines of `security:`).
    fn config_trusting(&self, node: &str, pin: &str) -> String {
        format!(
            "sui:\n  profile: devnet\n  rpc_endpoint: \"{chain}\"\n  wallet_dir: \"{wallet}\"\n  \
             passphrase_file: \"{passphrase}\"\n\
             k3s:\n  master_endpoint: \"{master}\"\n  data_dir: \"{data}\"\n\
             node:\n  id: {node}\n  stake_amount: 5000000000\n\
             security:\n  dev_root: \"{dev_root}\"\n  allow_insecure_dev: true\n{pin}\
             agent:\n  state_dir: \"{state}\"\n  api_listen: \"127.0.0.1:0\"\n  heartbeat_secs: 1\n  drain_timeout_secs: 60\n\
             runtime:\n  command: [\"{runtime}\"]\n  extra_args: [\"--ca-file\", \"{{ca_file}}\"]\n  \
             restart_backoff_max_secs: 5\n",
            chain = self.chain_url,
            wallet = self.dir.path().join("wallet").display(),
            passphrase = self.dir.path().join("passphrase").display(),
            master = self.master_url,
            data = self.dir.path().join("k3s").display(),
            dev_root = self.dev_root.display(),
            state = self.state_dir().display(),
            runtime = self.node_runtime.display(),
        )
    }

    /// Writes the configuration file.
    ///
    /// # Errors
    /// The write failed.
    pub fn write_config(&self, text: &str) -> anyhow::Result<()> {
        std::fs::write(self.config_path(), text).context("writing worker-config.yaml")
    }

    /// Starts `daas-agent <subcommand> --config …`, crashing after
    /// `crash_after` if given. Its stderr goes to [`Self::log_path`].
    ///
    /// # Errors
    /// It could not be spawned.
    pub fn spawn(&self, subcommand: &str, crash_after: Option<&str>) -> anyhow::Result<Child> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .context("opening the agent log")?;
        let mut command = Command::new(&self.agent);
        command
            .arg(subcommand)
            .arg("--config")
            .arg(self.config_path())
            .env("RUST_LOG", "info")
            .env_remove(CRASH_AFTER_VAR)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .kill_on_drop(true);
        if let Some(step) = crash_after {
            command.env(CRASH_AFTER_VAR, step);
        }
        command.spawn().context("spawning daas-agent")
    }

    /// Runs `daas-agent <subcommand>` to its end (at most `timeout`).
    ///
    /// # Errors
    /// It could not run or did not end in time.
    pub async fn run(
        &self,
        subcommand: &str,
        crash_after: Option<&str>,
        timeout: Duration,
    ) -> anyhow::Result<ExitStatus> {
        let mut child = self.spawn(subcommand, crash_after)?;
        wait(&mut child, timeout)
            .await
            .with_context(|| format!("daas-agent {subcommand}; its log:\n{}", self.log_tail(40)))
    }

    /// The persisted state (`state.json`), if any.
    pub fn state(&self) -> Option<serde_json::Value> {
        let bytes = std::fs::read(self.state_dir().join("state.json")).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// Waits for `child` to exit, at most `timeout`.
///
/// # Errors
/// It did not exit in time (it is killed), or waiting failed.
pub async fn wait(child: &mut Child, timeout: Duration) -> anyhow::Result<ExitStatus> {
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(status) => status.context("waiting for daas-agent"),
        Err(_) => {
            let _ = child.kill().await;
            bail!("did not exit within {timeout:?}")
        }
    }
}
