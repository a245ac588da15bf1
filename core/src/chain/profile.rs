//! Where the chain is: the network profiles and the [`ChainConfig`] section.
//!
//! Three profiles exist:
//!
//! | profile   | default endpoint                           | package id                         |
//! |-----------|--------------------------------------------|------------------------------------|
//! | `devnet`  | `http://127.0.0.1:9000` (embedded devnet)  | fixed by the devnet's genesis      |
//! | `testnet` | `https://fullnode.testnet.sui.io:443`      | must be configured (from a publish)|
//! | `mainnet` | `https://fullnode.mainnet.sui.io:443`      | must be configured (from a publish)|
//!
//! On a real network the `k3s_daas` package and its shared `StakePool` only
//! exist after `deploy/` published them, so their ids have to be supplied in
//! the configuration; leaving them out is an error that says so. Their
//! endpoints are reached over the internet, so a service that trusts what
//! it reads also requires `https` ([`ChainConfig::require_tls`]).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sui_sdk_types::Address;

use super::error::ChainError;

/// Default gRPC endpoint of the embedded devnet.
pub const DEVNET_ENDPOINT: &str = "http://127.0.0.1:9000";
/// Sui testnet full node, gRPC (`sui.rpc.v2`).
pub const TESTNET_ENDPOINT: &str = "https://fullnode.testnet.sui.io:443";
/// Sui mainnet full node, gRPC (`sui.rpc.v2`).
pub const MAINNET_ENDPOINT: &str = "https://fullnode.mainnet.sui.io:443";

/// The `0x6` Clock shared object every Sui network has.
pub const CLOCK_ID: Address = Address::from_static("0x6");
/// Initial shared version of the Clock on every Sui network.
pub const CLOCK_INITIAL_SHARED_VERSION: u64 = 1;

/// Which network a [`ChainConfig`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// The embedded devnet on loopback; its package address is fixed.
    Devnet,
    /// Sui testnet; the package id comes from a publish.
    Testnet,
    /// Sui mainnet; the package id comes from a publish.
    Mainnet,
}

impl Profile {
    /// All profiles, in the order they are documented.
    pub const ALL: [Profile; 3] = [Profile::Devnet, Profile::Testnet, Profile::Mainnet];

    /// The profile's name as written in configuration files.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Devnet => "devnet",
            Profile::Testnet => "testnet",
            Profile::Mainnet => "mainnet",
        }
    }

    /// The gRPC endpoint used when the configuration names none.
    pub fn default_endpoint(self) -> &'static str {
        match self {
            Profile::Devnet => DEVNET_ENDPOINT,
            Profile::Testnet => TESTNET_ENDPOINT,
            Profile::Mainnet => MAINNET_ENDPOINT,
        }
    }

    /// Whether this is a public network, reached over the internet: its
    /// endpoint must use TLS (`https`), or anyone on the path could forge
    /// the stake records the caller trusts.
    pub fn requires_tls(self) -> bool {
        match self {
            Profile::Devnet => false,
            Profile::Testnet | Profile::Mainnet => true,
        }
    }

    /// How a transaction is known to be final on this network.
    ///
    /// The devnet answers `ExecuteTransaction` with final effects; on a real
    /// network the client also waits until a checkpoint includes the
    /// transaction.
    pub fn finality(self) -> Finality {
        match self {
            Profile::Devnet => Finality::Effects,
            Profile::Testnet | Profile::Mainnet => Finality::Checkpoint,
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Profile {
    type Err = ChainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "devnet" | "local" => Ok(Profile::Devnet),
            "testnet" => Ok(Profile::Testnet),
            "mainnet" => Ok(Profile::Mainnet),
            _ => Err(ChainError::UnknownProfile {
                given: s.to_owned(),
            }),
        }
    }
}

/// When a transaction counts as done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Finality {
    /// Effects returned by `ExecuteTransaction` are final (the devnet).
    Effects,
    /// The transaction must be included in a checkpoint (real networks).
    Checkpoint,
}

/// The `[chain]` section of a configuration file.
///
/// Only `profile` is required for the devnet; real networks need `package`
/// and `stake_pool` too.
///
/// ```toml
/// [chain]
/// profile = "testnet"
/// package = "0x…"      # from `sui client publish`
/// stake_pool = "0x…"   # the shared StakePool created by the publish
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainConfig {
    /// Which network.
    pub profile: Profile,
    /// gRPC endpoint (`http://` or `https://`); the profile's default if absent.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Id of the published `k3s_daas` package; fixed on the devnet.
    #[serde(default)]
    pub package: Option<Address>,
    /// Id of the shared `StakePool`; fixed on the devnet.
    #[serde(default)]
    pub stake_pool: Option<Address>,
    /// Id of the shared `EnclaveConfig`, if the deployment has one.
    #[serde(default)]
    pub enclave_config: Option<Address>,
    /// How long to wait for a transaction to become final, in seconds.
    #[serde(default = "default_finality_timeout_secs")]
    pub finality_timeout_secs: u64,
}

fn default_finality_timeout_secs() -> u64 {
    30
}

impl ChainConfig {
    /// A configuration for `profile` with every optional field left out.
    pub fn new(profile: Profile) -> Self {
        Self {
            profile,
            endpoint: None,
            package: None,
            stake_pool: None,
            enclave_config: None,
            finality_timeout_secs: default_finality_timeout_secs(),
        }
    }

    /// The embedded devnet listening at `endpoint` (e.g. `http://127.0.0.1:41234`).
    pub fn devnet(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: Some(endpoint.into()),
            ..Self::new(Profile::Devnet)
        }
    }

    /// Sets the package id.
    pub fn with_package(mut self, package: Address) -> Self {
        self.package = Some(package);
        self
    }

    /// Sets the StakePool id.
    pub fn with_stake_pool(mut self, stake_pool: Address) -> Self {
        self.stake_pool = Some(stake_pool);
        self
    }

    /// The endpoint to dial.
    pub fn endpoint(&self) -> &str {
        self.endpoint
            .as_deref()
            .unwrap_or_else(|| self.profile.default_endpoint())
    }

    /// How long to wait for finality.
    pub fn finality_timeout(&self) -> Duration {
        Duration::from_secs(self.finality_timeout_secs)
    }

    /// The `k3s_daas` package id.
    ///
    /// # Errors
    /// [`ChainError::MissingSetting`] on a real network without `package`.
    pub fn package_id(&self) -> Result<Address, ChainError> {
        match (self.package, self.profile) {
            (Some(id), _) => Ok(id),
            (None, Profile::Devnet) => Ok(crate::package::PACKAGE_ID),
            (None, profile) => Err(ChainError::MissingSetting {
                setting: "package",
                profile,
                hint: "the package id comes from publishing contracts/move (deploy/); put it in [chain] package",
            }),
        }
    }

    /// The shared `StakePool` id.
    ///
    /// # Errors
    /// [`ChainError::MissingSetting`] on a real network without `stake_pool`.
    pub fn stake_pool_id(&self) -> Result<Address, ChainError> {
        match (self.stake_pool, self.profile) {
            (Some(id), _) => Ok(id),
            (None, Profile::Devnet) => Ok(crate::package::STAKE_POOL_ID),
            (None, profile) => Err(ChainError::MissingSetting {
                setting: "stake_pool",
                profile,
                hint: "the StakePool is created when the package is published (deploy/); put its id in [chain] stake_pool",
            }),
        }
    }

    /// Checks that a public network ([`Profile::requires_tls`]) is reached
    /// over `https`. Not part of [`validate`](Self::validate): tests point
    /// the real-network code path at a plain-`http` devnet on purpose; a
    /// service that trusts what it reads calls both.
    ///
    /// # Errors
    /// [`ChainError::InvalidEndpoint`] naming the endpoint.
    pub fn require_tls(&self) -> Result<(), ChainError> {
        let endpoint = self.endpoint();
        let https = endpoint
            .get(..8)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"));
        if self.profile.requires_tls() && !https {
            return Err(ChainError::InvalidEndpoint {
                endpoint: endpoint.to_owned(),
                reason: "testnet and mainnet endpoints must use TLS (https://)",
            });
        }
        Ok(())
    }

    /// Checks that the section is usable: a parseable `http(s)` endpoint
    /// and, on real networks, the package and StakePool ids.
    ///
    /// # Errors
    /// The first problem found.
    pub fn validate(&self) -> Result<(), ChainError> {
        let endpoint = self.endpoint();
        let uri: http_uri::Uri = endpoint.parse().map_err(|_| ChainError::InvalidEndpoint {
            endpoint: endpoint.to_owned(),
            reason: "not a URI",
        })?;
        match uri.scheme_str() {
            Some("http") | Some("https") => {}
            _ => {
                return Err(ChainError::InvalidEndpoint {
                    endpoint: endpoint.to_owned(),
                    reason: "scheme must be http or https",
                });
            }
        }
        if uri.host().is_none() {
            return Err(ChainError::InvalidEndpoint {
                endpoint: endpoint.to_owned(),
                reason: "no host",
            });
        }
        if let Err(reason) = crate::clock::configured_secs(self.finality_timeout_secs) {
            return Err(ChainError::InvalidSetting {
                setting: "finality_timeout_secs",
                reason,
            });
        }
        self.package_id()?;
        self.stake_pool_id()?;
        Ok(())
    }
}

/// `http::Uri`, re-exported by tonic.
mod http_uri {
    pub use tonic::codegen::http::Uri;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_parse_and_name_themselves() {
        for profile in Profile::ALL {
            assert_eq!(profile.as_str().parse::<Profile>().unwrap(), profile);
        }
        assert_eq!(" MainNet ".parse::<Profile>().unwrap(), Profile::Mainnet);
        let err = "localnet-2".parse::<Profile>().unwrap_err();
        assert!(err.to_string().contains("localnet-2"), "{err}");
    }

    #[test]
    fn devnet_needs_no_ids_but_real_networks_do() {
        let devnet = ChainConfig::new(Profile::Devnet);
        devnet.validate().unwrap();
        assert_eq!(devnet.endpoint(), DEVNET_ENDPOINT);
        assert_eq!(devnet.package_id().unwrap(), crate::package::PACKAGE_ID);
        assert_eq!(devnet.profile.finality(), Finality::Effects);

        let testnet = ChainConfig::new(Profile::Testnet);
        assert_eq!(testnet.endpoint(), "https://fullnode.testnet.sui.io:443");
        assert_eq!(testnet.profile.finality(), Finality::Checkpoint);
        let err = testnet.validate().unwrap_err();
        assert!(
            matches!(
                err,
                ChainError::MissingSetting {
                    setting: "package",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("publish"), "{err}");
        let err = ChainConfig::new(Profile::Mainnet)
            .with_package(Address::new([1; 32]))
            .validate()
            .unwrap_err();
        assert!(
            matches!(
                err,
                ChainError::MissingSetting {
                    setting: "stake_pool",
                    ..
                }
            ),
            "{err}"
        );
        ChainConfig::new(Profile::Mainnet)
            .with_package(Address::new([1; 32]))
            .with_stake_pool(Address::new([2; 32]))
            .validate()
            .unwrap();
    }

    #[test]
    fn real_networks_require_tls() {
        let ids = |profile| {
            ChainConfig::new(profile)
                .with_package(Address::new([1; 32]))
                .with_stake_pool(Address::new([2; 32]))
        };
        for profile in [Profile::Testnet, Profile::Mainnet] {
            ids(profile).require_tls().unwrap();
            let plain = ChainConfig {
                endpoint: Some("http://fullnode.example:9000".to_owned()),
                ..ids(profile)
            };
            let err = plain.require_tls().unwrap_err();
            assert!(matches!(err, ChainError::InvalidEndpoint { .. }), "{err}");
            assert!(
                err.to_string().contains("http://fullnode.example:9000"),
                "{err}"
            );
            assert!(err.to_string().contains("https"), "{err}");
        }
        ChainConfig::devnet("http://127.0.0.1:9000")
            .require_tls()
            .unwrap();
        assert!(Profile::Mainnet.requires_tls() && !Profile::Devnet.requires_tls());
    }

    #[test]
    fn bad_endpoints_are_named() {
        for endpoint in ["fullnode:443", "ftp://example.org", "http://", "not a uri"] {
            let err = ChainConfig::devnet(endpoint).validate().unwrap_err();
            assert!(
                matches!(err, ChainError::InvalidEndpoint { .. }),
                "{endpoint}: {err}"
            );
            assert!(err.to_string().contains(endpoint), "{err}");
        }
    }

    #[test]
    fn config_section_deserializes_and_refuses_unknown_keys() {
        let config: ChainConfig =
            serde_json::from_str(r#"{"profile":"testnet","package":"0x7f","stake_pool":"0x70"}"#)
                .unwrap();
        assert_eq!(config.profile, Profile::Testnet);
        assert_eq!(config.finality_timeout(), Duration::from_secs(30));
        config.validate().unwrap();
        let err = serde_json::from_str::<ChainConfig>(r#"{"profile":"devnet","pakage":"0x1"}"#)
            .unwrap_err();
        assert!(err.to_string().contains("pakage"), "{err}");
        assert!(serde_json::from_str::<ChainConfig>(r#"{"profile":"moon"}"#).is_err());
    }

    #[test]
    fn finality_timeouts_are_a_second_to_a_year() {
        for secs in [0, u64::MAX] {
            let config = ChainConfig {
                finality_timeout_secs: secs,
                ..ChainConfig::devnet("http://127.0.0.1:9000")
                    .with_package(Address::new([1; 32]))
                    .with_stake_pool(Address::new([2; 32]))
            };
            let err = config.validate().unwrap_err();
            assert!(err.to_string().contains("finality_timeout_secs"), "{err}");
        }
    }
}
