//! `worker-config.yaml`: the seed's worker configuration, typed once.
//!
//! ```yaml
//! sui:
//!   profile: testnet                      # devnet | testnet | mainnet
//!   rpc_endpoint: "https://fullnode.testnet.sui.io:443"
//!   staking_contract: "0x…"               # the k3s_daas package
//!   stake_pool: "0x…"                     # its shared StakePool
//!   wallet_address: "0x…"                 # which wallet key (default: active)
//!   wallet_dir: /var/lib/daas-agent/wallet
//!   passphrase_file: /etc/daas-agent/passphrase   # or $CREDENTIALS_DIRECTORY
//! k3s:
//!   master_endpoint: "https://tee-master:6443"
//!   data_dir: /var/lib/k3s
//!   audience: "https://10.0.0.1:6443"     # default: what the master serves
//! node:
//!   id: worker-001
//!   stake_amount: 5000000000              # MIST; absent: never stake
//! security:
//!   pcrs: { "0": "…", "1": "…", "2": "…" } # or enclave_config: "0x…"
//! ```
//!
//! Unknown keys are refused; every error names the file and the field.
//! [`Overrides`] (flags and the seed's environment variables `SUI_RPC_URL`,
//! `STAKING_CONTRACT`, `MASTER_ENDPOINT`) win over the file.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use daas_core::access::NodeName;
use daas_core::attestation::ExpectedPcrs;
use daas_core::chain::{ChainConfig, Profile};
use daas_core::package::Mist;
use serde::Deserialize;

use crate::api::serve::DEFAULT_LISTEN;
use sui_sdk_types::Address;

/// Default seconds between heartbeats.
pub const DEFAULT_HEARTBEAT_SECS: u64 = daas_core::api::nodes::HEARTBEAT_INTERVAL_SECS;
/// Default: refresh the seal token this long before it expires (one day).
pub const DEFAULT_REFRESH_MARGIN_SECS: u64 = 24 * 3600;
/// Default time the agent waits for the master to drain the node.
pub const DEFAULT_DRAIN_TIMEOUT_SECS: u64 = 300;
/// Default longest back-off between runtime restarts.
pub const DEFAULT_RESTART_BACKOFF_MAX_SECS: u64 = 60;

/// `agent.api_listen`: an address, or `off`.
fn api_listen(value: Option<&str>) -> Result<Option<SocketAddr>, String> {
    match value.unwrap_or(DEFAULT_LISTEN) {
        "off" => Ok(None),
        address => address
            .parse()
            .map(Some)
            .map_err(|_| format!("{address:?} is not HOST:PORT with an IP address, or `off`")),
    }
}

/// The production node runtime.
pub const DEFAULT_RUNTIME: [&str; 2] = ["/usr/local/bin/k3s", "agent"];

/// Why the configuration was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not YAML of the expected shape (unknown or mistyped key).
    #[error("config file {path} is invalid: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, naming the key, line and column.
        reason: String,
    },
    /// A field is missing or its value is unusable.
    #[error("config file {path}: {field}: {reason}")]
    Field {
        /// The file.
        path: PathBuf,
        /// The field, e.g. `node.id`.
        field: String,
        /// What is wrong.
        reason: String,
    },
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    sui: SuiSection,
    #[serde(default)]
    k3s: K3sSection,
    #[serde(default)]
    node: NodeSection,
    #[serde(default)]
    security: SecuritySection,
    #[serde(default)]
    agent: AgentSection,
    #[serde(default)]
    runtime: RuntimeSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuiSection {
    profile: Option<String>,
    rpc_endpoint: Option<String>,
    staking_contract: Option<String>,
    stake_pool: Option<String>,
    enclave_config: Option<String>,
    wallet_address: Option<String>,
    wallet_dir: Option<PathBuf>,
    passphrase_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct K3sSection {
    master_endpoint: Option<String>,
    data_dir: Option<PathBuf>,
    audience: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeSection {
    id: Option<String>,
    stake_amount: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SecuritySection {
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    pcrs: Option<BTreeMap<String, String>>,
    enclave_config: Option<String>,
    dev_root: Option<PathBuf>,
    #[serde(default)]
    allow_insecure_dev: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentSection {
    state_dir: Option<PathBuf>,
    api_listen: Option<String>,
    heartbeat_secs: Option<u64>,
    refresh_margin_secs: Option<u64>,
    drain_timeout_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuntimeSection {
    command: Option<Vec<String>>,
    #[serde(default)]
    extra_args: Vec<String>,
    restart_backoff_max_secs: Option<u64>,
}

/// What flags and environment variables override.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `--sui-rpc-url` / `SUI_RPC_URL`.
    pub rpc_endpoint: Option<String>,
    /// `--staking-contract` / `STAKING_CONTRACT`.
    pub staking_contract: Option<String>,
    /// `--master-endpoint` / `MASTER_ENDPOINT`.
    pub master_endpoint: Option<String>,
    /// `--stake-amount` in SUI (`5`, `5.5`).
    pub stake_amount: Option<Mist>,
}

/// Which PCRs the master must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PcrSource {
    /// These values.
    Expected(ExpectedPcrs),
    /// Those of the on-chain `EnclaveConfig` with this id.
    EnclaveConfig(Address),
}

/// How the wallet is found and unlocked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletSettings {
    /// The wallet directory (`daas-console`'s format).
    pub dir: PathBuf,
    /// Which key; `None`: the wallet's active key.
    pub address: Option<Address>,
    /// A 0600 file holding the passphrase of an encrypted wallet.
    pub passphrase_file: Option<PathBuf>,
}

/// How the master is reached and trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterSettings {
    /// `https://host:port`.
    pub url: String,
    /// The PCRs it must have.
    pub pcrs: PcrSource,
    /// A root whose INSECURE development attestation is accepted (only with
    /// `security.allow_insecure_dev: true`).
    pub dev_root: Option<PathBuf>,
    /// The audience of worker proofs; `None`: the one the master serves.
    pub audience: Option<String>,
}

/// The node runtime the agent supervises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeSettings {
    /// The program and its leading arguments (`k3s agent`).
    pub command: Vec<String>,
    /// Appended after the agent's own flags; `{ca_file}`, `{node_name}`
    /// and `{data_dir}` are replaced.
    pub extra_args: Vec<String>,
    /// Longest wait between restarts.
    pub max_backoff: Duration,
}

/// The agent's whole configuration, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentConfig {
    /// The file it came from.
    pub source: PathBuf,
    /// The chain.
    pub chain: ChainConfig,
    /// The wallet.
    pub wallet: WalletSettings,
    /// The master.
    pub master: MasterSettings,
    /// The node's name (the seal token's node id).
    pub node: NodeName,
    /// Stake to put up when no seal token exists; `None`: never stake.
    pub stake: Option<Mist>,
    /// The runtime's data directory.
    pub data_dir: PathBuf,
    /// Where the agent keeps its state and the join token.
    pub state_dir: PathBuf,
    /// Seconds between heartbeats.
    pub heartbeat: Duration,
    /// Refresh the seal token this long before it expires.
    pub refresh_margin: Duration,
    /// How long the master may take to drain the node on unstake.
    pub drain_timeout: Duration,
    /// Where the local API listens (`agent.api_listen`, default
    /// [`DEFAULT_LISTEN`]); `None` when set to `off`.
    pub api_listen: Option<SocketAddr>,
    /// The local API's TLS certificate and key (seed `security.tls_*`).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// The node runtime.
    pub runtime: RuntimeSettings,
}

impl AgentConfig {
    /// Reads `path` and applies `overrides`.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file and the field.
    pub fn load(path: &Path, overrides: &Overrides) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(path, &text, overrides)
    }

    /// Parses `text` (the contents of `path`) and applies `overrides`.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file and the field.
    pub fn parse(path: &Path, text: &str, overrides: &Overrides) -> Result<Self, ConfigError> {
        let file: File = daas_core::yaml::from_str(text).map_err(|error| ConfigError::Parse {
            path: path.to_owned(),
            reason: error.to_string(),
        })?;
        Resolver { path, overrides }.resolve(file)
    }
}

/// Turns the file's sections into an [`AgentConfig`].
struct Resolver<'a> {
    path: &'a Path,
    overrides: &'a Overrides,
}

impl Resolver<'_> {
    fn field(&self, field: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError::Field {
            path: self.path.to_owned(),
            field: field.to_owned(),
            reason: reason.into(),
        }
    }

    fn address(&self, field: &str, text: &str) -> Result<Address, ConfigError> {
        text.trim()
            .parse()
            .map_err(|_| self.field(field, format!("{text:?} is not a Sui address (0x + hex)")))
    }

    fn resolve(&self, file: File) -> Result<AgentConfig, ConfigError> {
        let chain = self.chain(&file.sui)?;
        let node = self.node(&file.node)?;
        let stake = self.stake(&file.node)?;
        let master = self.master(&file.k3s, &file.security, &chain)?;
        let wallet = self.wallet(&file.sui)?;
        let data_dir = file
            .k3s
            .data_dir
            .unwrap_or_else(|| PathBuf::from("/var/lib/k3s"));
        let state_dir = file
            .agent
            .state_dir
            .unwrap_or_else(|| PathBuf::from("/var/lib/daas-agent"));
        let tls = match (file.security.tls_cert, file.security.tls_key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => {
                return Err(self.field(
                    "security.tls_cert",
                    "give both security.tls_cert and security.tls_key, or neither",
                ));
            }
        };
        Ok(AgentConfig {
            source: self.path.to_owned(),
            chain,
            wallet,
            master,
            node,
            stake,
            data_dir,
            state_dir,
            heartbeat: self.seconds(
                "agent.heartbeat_secs",
                file.agent.heartbeat_secs,
                DEFAULT_HEARTBEAT_SECS,
            )?,
            refresh_margin: self.seconds(
                "agent.refresh_margin_secs",
                file.agent.refresh_margin_secs,
                DEFAULT_REFRESH_MARGIN_SECS,
            )?,
            drain_timeout: self.seconds(
                "agent.drain_timeout_secs",
                file.agent.drain_timeout_secs,
                DEFAULT_DRAIN_TIMEOUT_SECS,
            )?,
            api_listen: api_listen(file.agent.api_listen.as_deref())
                .map_err(|reason| self.field("agent.api_listen", reason))?,
            tls,
            runtime: self.runtime(file.runtime)?,
        })
    }

    fn seconds(
        &self,
        field: &str,
        value: Option<u64>,
        default: u64,
    ) -> Result<Duration, ConfigError> {
        daas_core::clock::configured_secs(value.unwrap_or(default))
            .map_err(|reason| self.field(field, reason))
    }

    fn chain(&self, sui: &SuiSection) -> Result<ChainConfig, ConfigError> {
        let profile: Profile = sui
            .profile
            .as_deref()
            .ok_or_else(|| {
                self.field(
                    "sui.profile",
                    "missing: name the chain to stake on (devnet, testnet or mainnet)",
                )
            })?
            .parse()
            .map_err(|error| self.field("sui.profile", format!("{error}")))?;
        let mut chain = ChainConfig::new(profile);
        chain.endpoint = self
            .overrides
            .rpc_endpoint
            .clone()
            .or_else(|| sui.rpc_endpoint.clone());
        let contract = self
            .overrides
            .staking_contract
            .as_deref()
            .or(sui.staking_contract.as_deref());
        if let Some(id) = contract {
            chain.package = Some(self.address("sui.staking_contract", id)?);
        }
        if let Some(id) = &sui.stake_pool {
            chain.stake_pool = Some(self.address("sui.stake_pool", id)?);
        }
        if let Some(id) = &sui.enclave_config {
            chain.enclave_config = Some(self.address("sui.enclave_config", id)?);
        }
        chain.validate().map_err(|error| {
            let field = match error {
                daas_core::chain::ChainError::MissingSetting {
                    setting: "package", ..
                } => "sui.staking_contract",
                daas_core::chain::ChainError::MissingSetting { .. } => "sui.stake_pool",
                _ => "sui.rpc_endpoint",
            };
            self.field(field, error.to_string())
        })?;
        chain
            .require_tls()
            .map_err(|error| self.field("sui.rpc_endpoint", error.to_string()))?;
        Ok(chain)
    }

    fn node(&self, node: &NodeSection) -> Result<NodeName, ConfigError> {
        let id = node
            .id
            .as_deref()
            .ok_or_else(|| self.field("node.id", "missing: the node's name"))?;
        id.parse()
            .map_err(|error| self.field("node.id", format!("{id:?}: {error}")))
    }

    fn stake(&self, node: &NodeSection) -> Result<Option<Mist>, ConfigError> {
        let stake = self
            .overrides
            .stake_amount
            .or(node.stake_amount.map(Mist::new));
        match stake {
            Some(mist) if mist.get() == 0 => {
                Err(self.field("node.stake_amount", "must be more than 0 MIST"))
            }
            other => Ok(other),
        }
    }

    fn master(
        &self,
        k3s: &K3sSection,
        security: &SecuritySection,
        chain: &ChainConfig,
    ) -> Result<MasterSettings, ConfigError> {
        let url = self
            .overrides
            .master_endpoint
            .clone()
            .or_else(|| k3s.master_endpoint.clone())
            .ok_or_else(|| self.field("k3s.master_endpoint", "missing: the master's URL"))?;
        if !url.starts_with("https://") {
            return Err(self.field(
                "k3s.master_endpoint",
                format!("{url:?}: the master is reached over attested HTTPS (https://)"),
            ));
        }
        let pcrs = match (
            &security.pcrs,
            &security.enclave_config,
            chain.enclave_config,
        ) {
            (Some(pcrs), _, _) => PcrSource::Expected(
                ExpectedPcrs::from_indexed(pcrs.iter().map(|(i, v)| (i.as_str(), v.as_str())))
                    .map_err(|error| {
                        self.field(&format!("security.{}", error.field), error.reason)
                    })?,
            ),
            (None, Some(id), _) => {
                PcrSource::EnclaveConfig(self.address("security.enclave_config", id)?)
            }
            (None, None, Some(id)) => PcrSource::EnclaveConfig(id),
            (None, None, None) => {
                return Err(self.field(
                    "security.pcrs",
                    "missing: pin the master's PCRs (security.pcrs) or name the on-chain \
                     EnclaveConfig (security.enclave_config); an unpinned master is never trusted",
                ));
            }
        };
        if security.dev_root.is_some() && !security.allow_insecure_dev {
            return Err(self.field(
                "security.dev_root",
                "a dev root trusts INSECURE development attestation; set \
                 security.allow_insecure_dev: true to accept it",
            ));
        }
        if let Some(audience) = &k3s.audience
            && audience.trim().is_empty()
        {
            return Err(self.field("k3s.audience", "must not be empty"));
        }
        Ok(MasterSettings {
            url,
            pcrs,
            dev_root: security.dev_root.clone(),
            audience: k3s.audience.clone(),
        })
    }

    fn wallet(&self, sui: &SuiSection) -> Result<WalletSettings, ConfigError> {
        let address = sui
            .wallet_address
            .as_deref()
            .map(|text| self.address("sui.wallet_address", text))
            .transpose()?;
        let dir = sui
            .wallet_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("/var/lib/daas-agent/wallet"));
        Ok(WalletSettings {
            dir,
            address,
            passphrase_file: sui.passphrase_file.clone(),
        })
    }

    fn runtime(&self, runtime: RuntimeSection) -> Result<RuntimeSettings, ConfigError> {
        let command = runtime
            .command
            .unwrap_or_else(|| DEFAULT_RUNTIME.iter().map(|s| (*s).to_owned()).collect());
        if command
            .first()
            .is_none_or(|program| program.trim().is_empty())
        {
            return Err(self.field("runtime.command", "must name the program to run"));
        }
        for arg in &runtime.extra_args {
            if matches!(arg.as_str(), "--token" | "-t") || arg.starts_with("--token=") {
                return Err(self.field(
                    "runtime.extra_args",
                    "the join token is passed in a 0600 file (--token-file), never in argv",
                ));
            }
        }
        Ok(RuntimeSettings {
            command,
            extra_args: runtime.extra_args,
            max_backoff: self.seconds(
                "runtime.restart_backoff_max_secs",
                runtime.restart_backoff_max_secs,
                DEFAULT_RESTART_BACKOFF_MAX_SECS,
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn the_local_api_listens_on_loopback_unless_turned_off() {
        assert_eq!(
            api_listen(None).unwrap(),
            Some(DEFAULT_LISTEN.parse().unwrap())
        );
        assert_eq!(api_listen(Some("off")).unwrap(), None);
        assert!(api_listen(Some("localhost")).is_err());
    }

    const PCR: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f";

    fn good() -> String {
        format!(
            "sui:\n  profile: devnet\n  rpc_endpoint: \"http://127.0.0.1:9000\"\n\
             k3s:\n  master_endpoint: \"https://127.0.0.1:6443\"\n\
             node:\n  id: worker-001\n  stake_amount: 5000000000\n\
             security:\n  pcrs:\n    \"0\": \"{PCR}\"\n    \"1\": \"{PCR}\"\n    \"2\": \"{PCR}\"\n"
        )
    }

    fn parse(text: &str) -> Result<AgentConfig, ConfigError> {
        AgentConfig::parse(Path::new("/etc/w.yaml"), text, &Overrides::default())
    }

    fn error(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn the_seed_shape_parses_with_defaults() {
        let config = parse(&good()).unwrap();
        assert_eq!(config.node.as_str(), "worker-001");
        assert_eq!(config.stake, Some(Mist::new(5_000_000_000)));
        assert_eq!(
            config.heartbeat,
            Duration::from_secs(DEFAULT_HEARTBEAT_SECS)
        );
        assert_eq!(config.runtime.command, ["/usr/local/bin/k3s", "agent"]);
        assert!(matches!(config.master.pcrs, PcrSource::Expected(_)));
    }

    #[test]
    fn overrides_win_over_the_file() {
        let overrides = Overrides {
            rpc_endpoint: Some("http://127.0.0.1:9999".to_owned()),
            master_endpoint: Some("https://10.0.0.1:1".to_owned()),
            stake_amount: Some("7".parse().unwrap()),
            staking_contract: Some("0x2".to_owned()),
        };
        let config = AgentConfig::parse(Path::new("w.yaml"), &good(), &overrides).unwrap();
        assert_eq!(config.chain.endpoint(), "http://127.0.0.1:9999");
        assert_eq!(config.master.url, "https://10.0.0.1:1");
        assert_eq!(config.stake, Some(Mist::new(7_000_000_000)));
        assert_eq!(config.chain.package, Some("0x2".parse().unwrap()));
    }

    #[test]
    fn unknown_keys_are_refused_by_name_and_file() {
        let text = good().replace("node:\n", "node:\n  colour: blue\n");
        let message = error(&text);
        assert!(message.contains("/etc/w.yaml"), "{message}");
        assert!(message.contains("colour"), "{message}");
        let message = error(&format!("{}extra: 1\n", good()));
        assert!(message.contains("extra"), "{message}");
    }

    #[test]
    fn bad_fields_are_named() {
        for (text, field) in [
            (good().replace("  id: worker-001\n", ""), "node.id"),
            (good().replace("worker-001", &"a".repeat(64)), "node.id"),
            (good().replace("worker-001", "Bad_Name"), "node.id"),
            (
                good().replace("profile: devnet", "profile: moon"),
                "sui.profile",
            ),
            (
                good().replace("https://127.0.0.1:6443", "http://127.0.0.1:6443"),
                "k3s.master_endpoint",
            ),
            (
                good().replace("stake_amount: 5000000000", "stake_amount: 0"),
                "node.stake_amount",
            ),
            (
                good().replace(&format!("\"2\": \"{PCR}\""), "\"2\": \"xx\""),
                "security.pcrs.2",
            ),
            (
                good().replace(&format!("    \"2\": \"{PCR}\"\n"), ""),
                "security.pcrs.2",
            ),
            (
                good().replace("security:\n", "security:\n  dev_root: /x.pem\n"),
                "security.dev_root",
            ),
            (
                good().replace("profile: devnet", "profile: testnet"),
                "sui.staking_contract",
            ),
            (
                format!(
                    "{}runtime:\n  extra_args: [\"--token\", \"K10x\"]\n",
                    good()
                ),
                "runtime.extra_args",
            ),
            (
                format!("{}agent:\n  heartbeat_secs: 0\n", good()),
                "agent.heartbeat_secs",
            ),
            (
                format!("{}agent:\n  drain_timeout_secs: {}\n", good(), u64::MAX),
                "agent.drain_timeout_secs",
            ),
            (
                format!("{}agent:\n  api_listen: localhost\n", good()),
                "agent.api_listen",
            ),
        ] {
            let message = error(&text);
            assert!(message.contains(field), "{field}: {message}");
            assert!(message.contains("/etc/w.yaml"), "{message}");
        }
    }

    #[test]
    fn mistyped_values_are_named() {
        let message = error(&good().replace("stake_amount: 5000000000", "stake_amount: many"));
        eprintln!("{message}");
        assert!(message.contains("stake_amount"), "{message}");
    }

    #[test]
    fn an_unpinned_master_is_refused() {
        let text = good();
        let start = text.find("security:").unwrap();
        let message = error(&text[..start]);
        assert!(message.contains("security.pcrs"), "{message}");
    }

    #[test]
    fn the_shipped_template_parses() {
        let text = include_str!("../../deploy/worker/worker-config.yaml");
        let config = parse(text).unwrap();
        assert_eq!(config.node.as_str(), "worker-001");
    }
}
