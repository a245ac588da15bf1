//! The master's configuration file, in the seed's `nautilus-config.yaml`
//! shape:
//!
//! ```yaml
//! tee:
//!   type: "AWS_NITRO"          # AWS_NITRO | DEV_INSECURE | auto
//!   attestation_interval: 3600 # seconds; clients re-attest this often
//! sui:
//!   profile: "devnet"          # devnet | testnet | mainnet
//!   rpc_endpoint: "https://fullnode.testnet.sui.io:443"
//!   package_id: "0x…"          # fixed on the devnet
//!   stake_pool_id: "0x…"       # fixed on the devnet
//!   event_filter: "k3s_daas::events"
//! k3s:
//!   kubeconfig: "/etc/rancher/k3s/k3s.yaml"   # the master's own credentials
//!   api_server_url: "https://10.0.0.1:6443"   # what users and workers are told
//!   audience: "k3s-daas-prod"  # access-token audience; default api_server_url
//!   cluster_cidr: "10.42.0.0/16"
//!   service_cidr: "10.43.0.0/16"
//! api:
//!   port: 6443                 # listen on tcp:0.0.0.0:PORT unless --listen
//!   listen: "vsock:16:6443"    # or any endpoint (overrides port)
//! access:
//!   rate_limit_per_minute: 100 # per identity (seed)
//!   decision_cache_secs: 30    # allowed decisions live at most this long
//!   seal_token_ttl_secs: 86400 # lifetime of issued opaque seal tokens
//!   seal_tokens_per_owner: 10  # live opaque seal tokens an owner may hold
//!   clock_skew_secs: 30        # tolerated for access tokens and proofs
//! nodes:
//!   bootstrap_token_ttl_secs: 600
//!   proof_max_age_secs: 60     # worker proofs older than this are stale
//!   drain_timeout_secs: 60     # then pods are deleted without eviction
//! ```
//!
//! Every section and key is optional; command-line flags win. Unknown keys
//! are refused (a typo must not be ignored silently). Tier thresholds are
//! not configured here: they are the stake pool's parameters on chain.
//! `api.tls_cert`/`api.tls_key` are accepted but ignored with a warning:
//! the attested TLS key is made in memory at every boot.

use std::path::{Path, PathBuf};
use std::time::Duration;

use daas_core::chain::{ChainConfig, Profile};
use serde::Deserialize;
use sui_sdk_types::Address;

use crate::attestation::AttestationMode;
use crate::endpoint::Endpoint;

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct MasterConfig {
    /// Attestation.
    #[serde(default)]
    pub tee: TeeSection,
    /// The chain.
    #[serde(default)]
    pub sui: SuiSection,
    /// The cluster.
    #[serde(default)]
    pub k3s: K3sSection,
    /// The HTTPS API.
    #[serde(default)]
    pub api: ApiSection,
    /// Cluster access.
    #[serde(default)]
    pub access: AccessSection,
    /// Worker nodes.
    #[serde(default)]
    pub nodes: NodesSection,
}

/// `tee:`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TeeSection {
    /// `AWS_NITRO`, `DEV_INSECURE` or `auto`.
    #[serde(rename = "type", default)]
    pub tee_type: Option<String>,
    /// Seconds between re-attestations (seed: 3600).
    #[serde(default = "default_interval")]
    pub attestation_interval: u64,
}

impl Default for TeeSection {
    fn default() -> Self {
        Self {
            tee_type: None,
            attestation_interval: default_interval(),
        }
    }
}

fn default_interval() -> u64 {
    3600
}

/// `sui:`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SuiSection {
    /// `devnet` (default), `testnet` or `mainnet`.
    pub profile: Option<String>,
    /// Full node gRPC endpoint; default: the profile's.
    pub rpc_endpoint: Option<String>,
    /// The `k3s_daas` package; required off the devnet.
    pub package_id: Option<String>,
    /// The stake pool; required off the devnet.
    pub stake_pool_id: Option<String>,
    /// Event type filter.
    pub event_filter: Option<String>,
}

/// `k3s:`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct K3sSection {
    /// Kubeconfig with the master's own credentials to the API server.
    pub kubeconfig: Option<PathBuf>,
    /// The API server URL users and workers are given.
    pub api_server_url: Option<String>,
    /// Audience of access tokens; default: `api_server_url`.
    pub audience: Option<String>,
    /// Pod CIDR.
    pub cluster_cidr: Option<String>,
    /// Service CIDR.
    pub service_cidr: Option<String>,
}

/// `api:`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ApiSection {
    /// TCP port on all interfaces.
    pub port: Option<u16>,
    /// Any endpoint (`tcp:…`, `unix:…`, `vsock:…`); wins over `port`.
    pub listen: Option<String>,
    /// Ignored: the attested TLS certificate is made at boot.
    pub tls_cert: Option<PathBuf>,
    /// Ignored: the attested TLS key is made at boot.
    pub tls_key: Option<PathBuf>,
}

/// `access:`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct AccessSection {
    /// Requests per minute and identity (seed: 100).
    pub rate_limit_per_minute: u32,
    /// Longest life of a cached allowed decision, seconds.
    pub decision_cache_secs: u64,
    /// Lifetime of an issued opaque seal token, seconds.
    pub seal_token_ttl_secs: u64,
    /// Live opaque seal tokens an owner may hold at once.
    pub seal_tokens_per_owner: u32,
    /// Clock skew tolerated for access tokens and worker proofs, seconds.
    pub clock_skew_secs: u64,
}

impl Default for AccessSection {
    fn default() -> Self {
        Self {
            rate_limit_per_minute: 100,
            decision_cache_secs: 30,
            seal_token_ttl_secs: 86_400,
            seal_tokens_per_owner: 10,
            clock_skew_secs: 30,
        }
    }
}

/// `nodes:`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct NodesSection {
    /// Lifetime of a per-node bootstrap token, seconds.
    pub bootstrap_token_ttl_secs: u64,
    /// Worker proofs older than this are stale, seconds.
    pub proof_max_age_secs: u64,
    /// Evictions are tried this long before pods are deleted, seconds.
    pub drain_timeout_secs: u64,
}

impl Default for NodesSection {
    fn default() -> Self {
        Self {
            bootstrap_token_ttl_secs: 600,
            proof_max_age_secs: 60,
            drain_timeout_secs: 60,
        }
    }
}

/// Why the configuration file was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid YAML of the expected shape.
    #[error("config file {path} is invalid: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message (line and column included).
        reason: String,
    },
    /// A value is out of range.
    #[error("config file {path}: {reason}")]
    Value {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl MasterConfig {
    /// Reads and checks a file.
    ///
    /// # Errors
    /// Why the file was refused.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text)
            .map_err(|reason| ConfigError::Parse {
                path: path.to_owned(),
                reason,
            })
            .and_then(|config| config.check(path).map(|()| config))
    }

    /// Parses YAML text.
    ///
    /// # Errors
    /// The parser's message.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_saphyr::from_str(text).map_err(|error| error.to_string())
    }

    fn check(&self, path: &Path) -> Result<(), ConfigError> {
        let value = |reason: String| ConfigError::Value {
            path: path.to_owned(),
            reason,
        };
        self.attestation_mode().map_err(value)?;
        self.listen().map_err(value)?;
        self.chain_config().map_err(value)?;
        for (key, seconds) in [
            ("tee.attestation_interval", self.tee.attestation_interval),
            (
                "access.decision_cache_secs",
                self.access.decision_cache_secs,
            ),
            (
                "access.seal_token_ttl_secs",
                self.access.seal_token_ttl_secs,
            ),
            (
                "nodes.bootstrap_token_ttl_secs",
                self.nodes.bootstrap_token_ttl_secs,
            ),
            ("nodes.proof_max_age_secs", self.nodes.proof_max_age_secs),
        ] {
            if seconds == 0 {
                return Err(value(format!("{key} must be at least 1 second")));
            }
        }
        for (key, count) in [
            (
                "access.rate_limit_per_minute",
                self.access.rate_limit_per_minute,
            ),
            (
                "access.seal_tokens_per_owner",
                self.access.seal_tokens_per_owner,
            ),
        ] {
            if count == 0 {
                return Err(value(format!("{key} must be at least 1")));
            }
        }
        Ok(())
    }

    /// `tee.type` as a mode (`None` if unset).
    ///
    /// # Errors
    /// An unknown type.
    pub fn attestation_mode(&self) -> Result<Option<AttestationMode>, String> {
        self.tee
            .tee_type
            .as_deref()
            .map(|text| text.parse().map_err(|error| format!("tee.type: {error}")))
            .transpose()
    }

    /// `api.listen`, or `tcp:0.0.0.0:<api.port>` (`None` if neither).
    ///
    /// # Errors
    /// A malformed endpoint.
    pub fn listen(&self) -> Result<Option<Endpoint>, String> {
        match (&self.api.listen, self.api.port) {
            (Some(listen), _) => listen
                .parse()
                .map(Some)
                .map_err(|error| format!("api.listen: {error}")),
            (None, Some(port)) => Ok(Some(Endpoint::Tcp(format!("0.0.0.0:{port}")))),
            (None, None) => Ok(None),
        }
    }

    /// The chain the master reads: `sui.profile` (default devnet) with its
    /// endpoint, package and stake pool overridden by the file.
    ///
    /// # Errors
    /// An unknown profile, a malformed id, or a profile without ids.
    pub fn chain_config(&self) -> Result<ChainConfig, String> {
        let profile = match self.sui.profile.as_deref() {
            None => Profile::Devnet,
            Some(text) => text
                .parse()
                .map_err(|error| format!("sui.profile: {error}"))?,
        };
        let mut config = ChainConfig::new(profile);
        if let Some(endpoint) = &self.sui.rpc_endpoint {
            config.endpoint = Some(endpoint.clone());
        }
        if let Some(id) = &self.sui.package_id {
            config = config.with_package(parse_id("sui.package_id", id)?);
        }
        if let Some(id) = &self.sui.stake_pool_id {
            config = config.with_stake_pool(parse_id("sui.stake_pool_id", id)?);
        }
        config.validate().map_err(|error| format!("sui: {error}"))?;
        Ok(config)
    }

    /// `access.rate_limit_per_minute` (checked to be positive by `load`).
    pub fn rate_limit_per_minute(&self) -> std::num::NonZeroU32 {
        std::num::NonZeroU32::new(self.access.rate_limit_per_minute)
            .unwrap_or(std::num::NonZeroU32::MIN)
    }

    /// `access.seal_tokens_per_owner` (checked to be positive by `load`).
    pub fn seal_tokens_per_owner(&self) -> std::num::NonZeroU32 {
        std::num::NonZeroU32::new(self.access.seal_tokens_per_owner)
            .unwrap_or(std::num::NonZeroU32::MIN)
    }

    /// `tee.attestation_interval`.
    pub fn attestation_interval(&self) -> Duration {
        Duration::from_secs(self.tee.attestation_interval)
    }
}

fn parse_id(key: &str, text: &str) -> Result<Address, String> {
    text.parse()
        .map_err(|error| format!("{key}: {text:?} is not a Sui object id: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = r#"
tee:
  type: "AWS_NITRO"
  attestation_interval: 3600

sui:
  rpc_endpoint: "https://fullnode.testnet.sui.io:443"
  event_filter: "k3s_daas::events"

k3s:
  cluster_cidr: "10.42.0.0/16"
  service_cidr: "10.43.0.0/16"

api:
  port: 6443
  tls_cert: "/etc/k3s/certs/server.crt"
  tls_key: "/etc/k3s/certs/server.key"
"#;

    #[test]
    fn parses_the_seed_file() {
        let config = MasterConfig::parse(SEED).unwrap();
        assert_eq!(
            config.attestation_mode().unwrap(),
            Some(AttestationMode::Nitro)
        );
        assert_eq!(config.attestation_interval(), Duration::from_secs(3600));
        assert_eq!(
            config.listen().unwrap(),
            Some(Endpoint::Tcp("0.0.0.0:6443".to_owned()))
        );
        assert_eq!(config.k3s.cluster_cidr.as_deref(), Some("10.42.0.0/16"));
        assert_eq!(config.sui.event_filter.as_deref(), Some("k3s_daas::events"));
    }

    #[test]
    fn empty_file_is_defaults() {
        let config = MasterConfig::parse("").unwrap();
        assert_eq!(config, MasterConfig::default());
        assert_eq!(config.attestation_interval(), Duration::from_secs(3600));
    }

    #[test]
    fn refuses_typos_and_bad_values() {
        let error = MasterConfig::parse("tee:\n  attestation_intervall: 5\n").unwrap_err();
        assert!(error.contains("attestation_intervall"), "{error}");
        let error = MasterConfig::parse("api:\n  port: 70000\n").unwrap_err();
        assert!(!error.is_empty());

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nautilus-config.yaml");
        std::fs::write(&path, "tee:\n  type: SGX\n").unwrap();
        let error = MasterConfig::load(&path).unwrap_err().to_string();
        assert!(
            error.contains("tee.type") && error.contains("SGX"),
            "{error}"
        );
        std::fs::write(&path, "api:\n  listen: \"udp:1\"\n").unwrap();
        let error = MasterConfig::load(&path).unwrap_err().to_string();
        assert!(error.contains("api.listen"), "{error}");
        std::fs::write(&path, "tee:\n  attestation_interval: 0\n").unwrap();
        assert!(MasterConfig::load(&path).is_err());
        std::fs::write(&path, "access:\n  seal_tokens_per_owner: 0\n").unwrap();
        let error = MasterConfig::load(&path).unwrap_err().to_string();
        assert!(error.contains("access.seal_tokens_per_owner"), "{error}");
        let error = MasterConfig::load(&dir.path().join("missing.yaml"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("missing.yaml"), "{error}");
    }
}
