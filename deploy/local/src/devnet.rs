//! A `daas-devnet` process for tests: started on a free loopback port with
//! a temporary data directory, killed on drop, restartable on the same
//! directory and port.
//!
//! # Finding the binary
//!
//! `env!("CARGO_BIN_EXE_daas-devnet")` only exists inside the devnet's own
//! package, and artifact dependencies are unstable, so the harness asks
//! Cargo: once per test process it runs
//! `cargo build -p daas-devnet --bin daas-devnet --message-format=json`
//! in the workspace (with the same `cargo`, profile-free dev build and the
//! inherited `CARGO_TARGET_DIR`) and takes the executable path from Cargo's
//! `compiler-artifact` message. That is a no-op when the binary is fresh,
//! rebuilds it when the devnet's sources changed, and never guesses a
//! target directory. Set `DAAS_DEVNET_BIN` to use a prebuilt binary instead.

use std::path::PathBuf;
use std::process::Stdio;

use std::time::Duration;

use anyhow::{Context, bail};
use daas_core::chain::{ChainClient, ChainConfig};
use sui_sdk_types::Address;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How long a devnet may take to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Genesis choices of a test devnet.
#[derive(Debug, Clone, Default)]
pub struct DevnetOptions {
    /// Owner of the `AdminCap` and `EnclaveCap` (default: the faucet).
    pub admin: Option<Address>,
    /// Owner of the `SlasherCap` (default: the admin).
    pub slasher: Option<Address>,
    /// MIST per faucet request (default: the devnet's, 100 SUI).
    pub faucet_amount: Option<u64>,
}

/// A running `daas-devnet` child process.
pub struct Devnet {
    child: Option<Child>,
    dir: tempfile::TempDir,
    listen: String,
    url: String,
    options: DevnetOptions,
    dev_attestation_root: Option<PathBuf>,
    http: reqwest::Client,
}

impl std::fmt::Debug for Devnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Devnet")
            .field("url", &self.url)
            .field("data_dir", &self.data_dir())
            .finish_non_exhaustive()
    }
}

/// The `daas-devnet` executable, built by Cargo if needed (see
/// [`crate::binaries`]).
///
/// # Errors
/// Cargo failed or produced no executable.
pub fn devnet_binary() -> anyhow::Result<PathBuf> {
    crate::binaries::workspace_binary(crate::binaries::DEVNET)
}

impl Devnet {
    /// Starts a devnet with default genesis.
    ///
    /// # Errors
    /// The binary could not be built or the process did not come up.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(DevnetOptions::default()).await
    }

    /// Starts a devnet with the given genesis options.
    ///
    /// # Errors
    /// The binary could not be built or the process did not come up.
    pub async fn start_with(options: DevnetOptions) -> anyhow::Result<Self> {
        Self::start_with_attestation(options, None).await
    }

    /// Starts a devnet with the given genesis options that also trusts the
    /// **insecure** development attestation root `dev_root_pem` (a PEM
    /// certificate) for `0x2::nitro_attestation::load_nitro_attestation`
    /// (`--insecure-dev-attestation-root`). Without one, only documents
    /// under the AWS Nitro root verify, as on Sui.
    ///
    /// # Errors
    /// The root could not be written, the binary could not be built or the
    /// process did not come up.
    pub async fn start_with_attestation(
        options: DevnetOptions,
        dev_root_pem: Option<&str>,
    ) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("daas-devnet-")
            .tempdir()
            .context("creating the devnet's temp dir")?;
        let http = http_client()?;
        let dev_attestation_root = match dev_root_pem {
            Some(pem) => {
                let path = dir.path().join("insecure-dev-attestation-root.pem");
                std::fs::write(&path, pem).context("writing the dev attestation root")?;
                Some(path)
            }
            None => None,
        };
        let mut devnet = Self {
            child: None,
            dir,
            listen: "127.0.0.1:0".to_owned(),
            url: String::new(),
            options,
            dev_attestation_root,
            http,
        };
        devnet.spawn().await?;
        Ok(devnet)
    }

    /// The devnet's base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The ledger's directory (kept across restarts).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("ledger")
    }

    /// The devnet's log (its stderr), for failure messages.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("devnet.log")
    }

    /// A chain configuration for this devnet.
    pub fn chain_config(&self) -> ChainConfig {
        ChainConfig::devnet(self.url.clone())
    }

    /// A chain client connected to this devnet.
    ///
    /// # Errors
    /// The configuration was refused.
    pub fn client(&self) -> anyhow::Result<ChainClient> {
        ChainClient::new(self.chain_config()).context("building a chain client for the devnet")
    }

    /// Asks the faucet to send SUI to `recipient` (`POST /v2/gas`).
    ///
    /// # Errors
    /// The faucet refused or is unreachable.
    pub async fn fund(&self, recipient: Address) -> anyhow::Result<()> {
        request_gas(&self.http, &self.url, recipient).await
    }

    /// Moves the devnet's clock forward by `ms` (`POST /devnet/v1/advance-clock`)
    /// and returns the total offset.
    ///
    /// # Errors
    /// The devnet refused or is unreachable.
    pub async fn advance_clock(&self, ms: u64) -> anyhow::Result<u64> {
        let response = self
            .http
            .post(format!("{}/devnet/v1/advance-clock", self.url))
            .json(&serde_json::json!({ "ms": ms }))
            .send()
            .await
            .context("calling advance-clock")?;
        let status = response.status();
        let body: serde_json::Value = response.json().await.context("advance-clock answer")?;
        if !status.is_success() {
            bail!("advance-clock answered {status}: {body}");
        }
        body["offset_ms"]
            .as_u64()
            .with_context(|| format!("advance-clock answer without offset_ms: {body}"))
    }

    /// Restarts the devnet (same ledger and port) trusting the **insecure**
    /// development attestation root `dev_root_pem` as well, for a master
    /// whose dev root exists only once the devnet runs.
    ///
    /// # Errors
    /// The root could not be written or the process did not come back.
    pub async fn trust_dev_attestation_root(&mut self, dev_root_pem: &str) -> anyhow::Result<()> {
        let path = self.dir.path().join("insecure-dev-attestation-root.pem");
        std::fs::write(&path, dev_root_pem).context("writing the dev attestation root")?;
        self.dev_attestation_root = Some(path);
        self.restart().await
    }

    /// Kills the process (as a crash would) and starts it again on the same
    /// data directory and port.
    ///
    /// # Errors
    /// The process did not come back.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop().await?;
        self.spawn().await
    }

    /// Kills the process and waits for it to exit.
    ///
    /// # Errors
    /// The kill failed.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().await.context("killing the devnet")?;
        }
        Ok(())
    }

    async fn spawn(&mut self) -> anyhow::Result<()> {
        let binary = tokio::task::spawn_blocking(devnet_binary)
            .await
            .context("locating daas-devnet")??;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .context("opening the devnet log")?;
        let mut command = Command::new(&binary);
        command
            .arg("start")
            .arg("--data-dir")
            .arg(self.data_dir())
            .arg("--listen")
            .arg(&self.listen)
            .env(
                "RUST_LOG",
                std::env::var("DAAS_DEVNET_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .kill_on_drop(true);
        if let Some(admin) = self.options.admin {
            command.arg("--admin").arg(admin.to_string());
        }
        if let Some(slasher) = self.options.slasher {
            command.arg("--slasher").arg(slasher.to_string());
        }
        if let Some(amount) = self.options.faucet_amount {
            command.arg("--faucet-amount").arg(amount.to_string());
        }
        if let Some(root) = &self.dev_attestation_root {
            command.arg("--insecure-dev-attestation-root").arg(root);
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("spawning {}", binary.display()))?;
        let stdout = child.stdout.take().context("devnet stdout not piped")?;
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(START_TIMEOUT, lines.next_line()).await;
        let first = match first {
            Ok(Ok(Some(line))) => line,
            other => {
                let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
                bail!(
                    "daas-devnet printed no address ({other:?}); its log:\n{}",
                    tail(&log, 40)
                );
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let url = first
            .split_whitespace()
            .find(|word| word.starts_with("http://"))
            .with_context(|| format!("no http:// address in the devnet's first line {first:?}"))?
            .to_owned();
        self.listen = url.trim_start_matches("http://").to_owned();
        self.url = url;
        self.child = Some(child);
        Ok(())
    }
}

/// A client of the devnet's HTTP endpoints (faucet, clock), which are plain
/// http on loopback; the TLS config (required by the workspace's
/// provider-less reqwest) trusts nothing.
///
/// # Errors
/// The client could not be built.
pub fn http_client() -> anyhow::Result<reqwest::Client> {
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("TLS protocol versions")?
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(Duration::from_secs(30))
        .build()
        .context("building the HTTP client")
}

/// Asks the faucet of the devnet at `url` to send SUI to `recipient`
/// (`POST /v2/gas`).
///
/// # Errors
/// The faucet refused or is unreachable.
pub async fn request_gas(
    http: &reqwest::Client,
    url: &str,
    recipient: Address,
) -> anyhow::Result<()> {
    let response = http
        .post(format!("{url}/v2/gas"))
        .json(&serde_json::json!({ "FixedAmountRequest": { "recipient": recipient.to_string() } }))
        .send()
        .await
        .context("calling the devnet faucet")?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("faucet answered {status}: {body}");
    }
    Ok(())
}

/// Asks the faucet of the devnet at `url` for SUI for `address` when its
/// balance on `chain` is below `floor` (MIST): for an account that spends
/// gas as long as a stack runs. Whether it asked.
///
/// # Errors
/// The balance could not be read, or the faucet refused.
pub async fn top_up(
    chain: &ChainClient,
    url: &str,
    address: Address,
    floor: u64,
) -> anyhow::Result<bool> {
    let balance = chain
        .sui_balance(address)
        .await
        .with_context(|| format!("reading the balance of {address}"))?;
    if balance >= floor {
        return Ok(false);
    }
    request_gas(&http_client()?, url, address)
        .await
        .with_context(|| format!("topping up {address} from the faucet"))?;
    Ok(true)
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
