//! The master's configuration file, in the seed's `nautilus-config.yaml`
//! shape:
//!
//! ```yaml
//! tee:
//!   type: "AWS_NITRO"          # AWS_NITRO | DEV_INSECURE | auto
//!   attestation_interval: 3600 # seconds; clients re-attest this often
//! sui:
//!   rpc_endpoint: "https://fullnode.testnet.sui.io:443"
//!   event_filter: "k3s_daas::events"
//! k3s:
//!   cluster_cidr: "10.42.0.0/16"
//!   service_cidr: "10.43.0.0/16"
//! api:
//!   port: 6443                 # listen on tcp:0.0.0.0:PORT unless --listen
//!   listen: "vsock:16:6443"    # or any endpoint (overrides port)
//! ```
//!
//! Every section and key is optional; command-line flags win. Unknown keys
//! are refused (a typo must not be ignored silently). `sui` and `k3s` are
//! parsed for the stake-gated access work, which gives them meaning.
//! `api.tls_cert`/`api.tls_key` are accepted but ignored with a warning:
//! the attested TLS key is made in memory at every boot.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

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
    /// Full node gRPC endpoint.
    pub rpc_endpoint: Option<String>,
    /// Event type filter.
    pub event_filter: Option<String>,
}

/// `k3s:`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct K3sSection {
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
        if self.tee.attestation_interval == 0 {
            return Err(value(
                "tee.attestation_interval must be at least 1 second".to_owned(),
            ));
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

    /// `tee.attestation_interval`.
    pub fn attestation_interval(&self) -> Duration {
        Duration::from_secs(self.tee.attestation_interval)
    }
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
        let error = MasterConfig::load(&dir.path().join("missing.yaml"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("missing.yaml"), "{error}");
    }
}
