//! A cluster user's machine: a `daas-console` wallet holding one key, the
//! credential plugin's cache, and a kubeconfig that runs the plugin, so
//! `kubectl` runs exactly as a user runs it.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use anyhow::{Context as _, bail};
use daas_core::package::SealTokenId;
use daas_core::wallet::{Keypair, Scheme};
use sui_crypto::ed25519::Ed25519PrivateKey;
use sui_sdk_types::Address;

use crate::binaries::{self, CONSOLE};
use crate::devnet::Devnet;
use crate::k3s::Cluster;

/// The wallet passphrase of every test machine.
pub const PASSPHRASE: &str = "k3s-daas e2e passphrase";
/// A chain no plugin reaches (nothing listens on port 1). Not the console's
/// default, `127.0.0.1:9000`: that is where `deploy/dev/up.sh` serves its
/// devnet, whose chain knows none of a test's seal tokens.
pub const UNREACHABLE_CHAIN: &str = "http://127.0.0.1:1";

/// A user's home: wallet, cache and kubeconfig in a temporary directory.
pub struct UserMachine {
    dir: tempfile::TempDir,
    console: PathBuf,
}

impl UserMachine {
    /// A machine whose wallet holds `key` as its active address.
    ///
    /// # Errors
    /// The console could not be built or refused the key.
    pub fn with_key(key: &Keypair) -> anyhow::Result<Self> {
        let machine = Self {
            dir: tempfile::tempdir().context("making the user's directory")?,
            console: binaries::workspace_binary(CONSOLE)?,
        };
        machine.console(
            &["wallet", "import", "--alias", "me", "--suiprivkey"],
            key.to_suiprivkey().as_bytes(),
        )?;
        Ok(machine)
    }

    /// Runs `daas-console ARGS` with `stdin`; fails unless it succeeds.
    ///
    /// # Errors
    /// It could not run or exited unsuccessfully (stderr included).
    pub fn console(&self, args: &[&str], stdin: &[u8]) -> anyhow::Result<Output> {
        let mut child = self
            .command(&self.console)
            .arg("--wallet-dir")
            .arg(self.dir.path().join("wallet"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("running daas-console")?;
        if let Some(mut input) = child.stdin.take() {
            input
                .write_all(stdin)
                .context("writing daas-console's stdin")?;
        }
        let output = child
            .wait_with_output()
            .context("waiting for daas-console")?;
        if !output.status.success() {
            bail!(
                "daas-console {args:?} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(output)
    }

    /// Writes the kubeconfig for `cluster` and `seal_token` with
    /// `daas-console kubeconfig`. Its plugin's chain is
    /// [`UNREACHABLE_CHAIN`]: the plugin warns and signs, and the master
    /// alone decides (see [`Self::write_kubeconfig_with_chain`]).
    ///
    /// # Errors
    /// The console failed.
    pub fn write_kubeconfig(
        &self,
        cluster: &Cluster,
        seal_token: SealTokenId,
    ) -> anyhow::Result<()> {
        self.kubeconfig_entry(cluster, &["--chain", UNREACHABLE_CHAIN], seal_token)
    }

    /// As [`Self::write_kubeconfig`], with the plugin checking `chain` (a
    /// devnet URL) first, as a user's configured console does.
    ///
    /// # Errors
    /// The console failed.
    pub fn write_kubeconfig_with_chain(
        &self,
        cluster: &Cluster,
        chain: &str,
        seal_token: SealTokenId,
    ) -> anyhow::Result<()> {
        self.kubeconfig_entry(cluster, &["--chain", chain], seal_token)
    }

    fn kubeconfig_entry(
        &self,
        cluster: &Cluster,
        global: &[&str],
        seal_token: SealTokenId,
    ) -> anyhow::Result<()> {
        let ca = self.dir.path().join("ca.pem");
        std::fs::write(&ca, cluster.ca_pem()).context("writing the cluster CA")?;
        let seal = seal_token.to_string();
        let kubeconfig = self.kubeconfig();
        let entry = [
            "kubeconfig",
            "--kubeconfig",
            path_str(&kubeconfig)?,
            "--server",
            cluster.server(),
            "--seal-token",
            &seal,
            "--ca-file",
            path_str(&ca)?,
            "--name",
            "daas-e2e",
        ];
        self.console(&[global, &entry[..]].concat(), b"").map(drop)
    }

    /// The user's kubeconfig.
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// `kubectl ARGS` as the user runs it: their kubeconfig, no terminal.
    ///
    /// # Errors
    /// kubectl could not be started.
    pub fn kubectl(&self, cluster: &Cluster, args: &[&str]) -> anyhow::Result<Output> {
        self.command(&cluster.binaries().kubectl)
            .arg("--kubeconfig")
            .arg(self.kubeconfig())
            .args(args)
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null())
            .output()
            .context("running kubectl")
    }

    /// The credential plugin alone, as kubectl runs it from the kubeconfig
    /// (its `exec` command and arguments, the user's environment), ready to
    /// run.
    ///
    /// # Errors
    /// The kubeconfig has no exec section.
    pub fn credential_plugin(&self) -> anyhow::Result<Command> {
        let yaml = std::fs::read_to_string(self.kubeconfig()).context("reading the kubeconfig")?;
        let config = daas_core::access::kubeconfig::from_yaml(&yaml)?;
        let exec = &config["users"][0]["user"]["exec"];
        let command = exec["command"]
            .as_str()
            .context("no exec command in the kubeconfig")?;
        let args = exec["args"].as_array().into_iter().flatten();
        let mut plugin = self.command(Path::new(command));
        plugin
            .args(args.filter_map(|arg| arg.as_str()))
            .stdin(Stdio::null());
        Ok(plugin)
    }

    /// How many tokens the credential plugin has cached (its `.json`
    /// files; a `.checked` file beside one remembers the chain's check).
    pub fn cached_credentials(&self) -> usize {
        std::fs::read_dir(self.cache_home().join("k3s-daas/credentials"))
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "json"))
                    .count()
            })
            .unwrap_or(0)
    }

    /// `program` in this user's environment: the wallet's passphrase and
    /// the plugin's cache, and none of the console settings of the shell
    /// that runs the tests (`kubectl` passes its environment to the plugin).
    fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        binaries::without_console_env(&mut command)
            .env("DAAS_WALLET_PASSPHRASE", PASSPHRASE)
            .env("XDG_CACHE_HOME", self.cache_home());
        command
    }

    fn cache_home(&self) -> PathBuf {
        self.dir.path().join("cache")
    }
}

fn path_str(path: &Path) -> anyhow::Result<&str> {
    path.to_str()
        .with_context(|| format!("{} is not UTF-8", path.display()))
}

/// One key as the chain client signs with it and as a wallet signs with it.
pub struct Account {
    /// The transaction signer.
    pub chain: Ed25519PrivateKey,
    /// The wallet key (personal messages, access tokens, worker proofs).
    pub wallet: Keypair,
}

impl Account {
    /// The account of the Ed25519 key `[seed; 32]`, funded by the faucet.
    ///
    /// # Errors
    /// The faucet refused.
    pub async fn funded(devnet: &Devnet, seed: u8) -> anyhow::Result<Self> {
        let chain = Ed25519PrivateKey::new([seed; 32]);
        let wallet =
            Keypair::from_bytes(Scheme::Ed25519, &[seed; 32]).context("making the wallet key")?;
        devnet.fund(wallet.address()).await?;
        Ok(Self { chain, wallet })
    }

    /// The account's address.
    pub fn address(&self) -> Address {
        self.wallet.address()
    }
}
