//! The master's configuration file, in the seed's `nautilus-config.yaml`
//! shape:
//!
//! ```yaml
//! tee:
//!   type: "AWS_NITRO"          # AWS_NITRO | DEV_INSECURE | auto
//!   attestation_interval: 3600 # seconds; clients re-attest this often
//!   allow_dev_fallback: false  # auto without /dev/nsm: refuse (default) or dev
//!   attestation_rate_limit_per_minute: 60  # POST /api/v1/attestation per client
//! sui:                         # required with k3s.kubeconfig: no default chain
//!   profile: "devnet"          # devnet | testnet | mainnet (required)
//!   rpc_endpoint: "https://fullnode.testnet.sui.io:443"  # https off the devnet
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
//!   proxy_protocol: true       # require a PROXY v2 header; default: on vsock only
//!   client_rate_limit_per_minute: 1200  # every public request, per client address
//!   max_connections: 8192      # public listener (the webhooks have their own)
//!   webhook_max_connections: 512
//!   handshake_timeout_secs: 10 # PROXY header and TLS handshake
//!   idle_timeout_secs: 2       # closed after this long without a request
//!   webhook_idle_timeout_secs: 120  # the same for the API server's webhook connections
//!   body_timeout_secs: 10      # a request body must arrive within this
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
//!   recheck_interval_secs: 60  # every Node is re-checked this often
//!   exempt: ["server-node"]    # Nodes outside staking, never revoked
//! gateway:
//!   enabled: true              # execute on-chain K8s requests (leader only)
//! leader:                      # the Lease electing the replica that leads
//!   lease_duration_secs: 15    # a successor takes over this long after the last renewal
//!   renew_deadline_ms: 10000   # the leader stops leading unrenewed after this (< lease)
//!   retry_period_ms: 2000      # renewals and candidates' attempts (< renew deadline)
//! audit:
//!   checkpoint_events: 1000    # sign a checkpoint once this many events wait
//!   checkpoint_interval_ms: 2000  # and at least this often
//!   gas_key_file: "/etc/k3s-daas/audit-gas.key"  # suiprivkey1… (0600); unset: sign, don't anchor
//! ```
//!
//! Every section and key is optional, except that a master with a cluster
//! (`k3s.kubeconfig`) must name its chain (`sui.profile`): it never reads a
//! chain it was not told to. Command-line flags win. Unknown keys are
//! refused (a typo must not be ignored silently). Tier thresholds are
//! not configured here: they are the stake pool's parameters on chain.
//! `api.tls_cert`/`api.tls_key` are accepted but ignored with a warning:
//! the attested TLS key is made in memory at every boot.

use std::fmt;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use daas_core::access::node_name::check_kubernetes_node_name;
use daas_core::chain::{ChainConfig, Profile};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use sui_sdk_types::Address;

use crate::attestation::{AttestationMode, DevFallback};
use crate::endpoint::Endpoint;
use crate::leader::LeaseSettings;
use crate::serve::{ConnectionLimits, ProxyProtocol};

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
    /// The on-chain gateway.
    #[serde(default)]
    pub gateway: GatewaySection,
    /// The audit log.
    #[serde(default)]
    pub audit: AuditSection,
    /// Leader election among replicas.
    #[serde(default)]
    pub leader: LeaderSection,
}

/// `leader:`: the Lease that elects the replica running the revocation
/// reconciler and the gateway. Defaults are client-go's.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct LeaderSection {
    /// How long after the last renewal another replica may take the lease
    /// over (`leaseDurationSeconds`), seconds.
    pub lease_duration_secs: u64,
    /// How long the leader keeps leading without a successful renewal,
    /// ms; below the lease duration, so it stops before a successor starts.
    pub renew_deadline_ms: u64,
    /// How often the leader renews and candidates try, ms; below the renew
    /// deadline.
    pub retry_period_ms: u64,
}

impl Default for LeaderSection {
    fn default() -> Self {
        let lease = LeaseSettings::default();
        Self {
            lease_duration_secs: lease.lease_duration.as_secs(),
            renew_deadline_ms: millis(lease.renew_deadline),
            retry_period_ms: millis(lease.renew_interval),
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl LeaderSection {
    /// The Lease settings: the default Lease, with these durations.
    pub fn lease_settings(&self) -> LeaseSettings {
        LeaseSettings {
            lease_duration: Duration::from_secs(self.lease_duration_secs),
            renew_deadline: Duration::from_millis(self.renew_deadline_ms),
            renew_interval: Duration::from_millis(self.retry_period_ms),
            ..LeaseSettings::default()
        }
    }

    fn check(&self) -> Result<(), String> {
        let Self {
            lease_duration_secs: lease,
            renew_deadline_ms: deadline,
            retry_period_ms: retry,
        } = *self;
        if lease == 0 || i32::try_from(lease).is_err() {
            return Err(format!(
                "leader.lease_duration_secs is {lease}: it must be 1 to {}",
                i32::MAX
            ));
        }
        if u128::from(deadline) >= u128::from(lease) * 1000 {
            return Err(format!(
                "leader.renew_deadline_ms ({deadline}) must be below \
                 leader.lease_duration_secs ({lease} s): a leader must stop before a \
                 successor may start"
            ));
        }
        if retry == 0 || retry >= deadline {
            return Err(format!(
                "leader.retry_period_ms ({retry}) must be at least 1 and below \
                 leader.renew_deadline_ms ({deadline})"
            ));
        }
        self.lease_settings()
            .validate()
            .map_err(|error| format!("leader: {error}"))
    }
}

/// `gateway:`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct GatewaySection {
    /// Whether the leader executes `K8sRequestSubmitted` requests (default
    /// on; it waits until this master's enclave key is registered).
    #[serde(default = "default_gateway_enabled")]
    pub enabled: bool,
}

impl Default for GatewaySection {
    fn default() -> Self {
        Self {
            enabled: default_gateway_enabled(),
        }
    }
}

fn default_gateway_enabled() -> bool {
    true
}

/// `tee:`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TeeSection {
    /// `AWS_NITRO`, `DEV_INSECURE` or `auto`.
    #[serde(rename = "type", default, deserialize_with = "tee_type")]
    pub tee_type: Option<AttestationMode>,
    /// Between re-attestations; seconds in the file (seed: 3600).
    #[serde(
        default = "default_interval",
        deserialize_with = "attestation_interval"
    )]
    pub attestation_interval: Duration,
    /// Whether `auto` may fall back to INSECURE dev attestation when
    /// `/dev/nsm` is missing (else it refuses to start).
    #[serde(default)]
    pub allow_dev_fallback: bool,
    /// `POST /api/v1/attestation` calls per minute and client address:
    /// each costs one NSM request or one signature.
    #[serde(
        default = "default_attestation_rate",
        deserialize_with = "attestation_rate"
    )]
    pub attestation_rate_limit_per_minute: NonZeroU32,
}

impl Default for TeeSection {
    fn default() -> Self {
        Self {
            tee_type: None,
            attestation_interval: default_interval(),
            allow_dev_fallback: false,
            attestation_rate_limit_per_minute: default_attestation_rate(),
        }
    }
}

fn default_interval() -> Duration {
    Duration::from_secs(3600)
}

fn default_attestation_rate() -> NonZeroU32 {
    crate::http::attestation::DEFAULT_RATE_LIMIT_PER_MINUTE
}

/// `sui:`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SuiSection {
    /// `devnet`, `testnet` or `mainnet`; required when the master reads
    /// the chain.
    #[serde(default, deserialize_with = "sui_profile")]
    pub profile: Option<Profile>,
    /// Full node gRPC endpoint; default: the profile's. `https` off the
    /// devnet.
    pub rpc_endpoint: Option<String>,
    /// The `k3s_daas` package; required off the devnet.
    #[serde(default, deserialize_with = "package_id")]
    pub package_id: Option<Address>,
    /// The stake pool; required off the devnet.
    #[serde(default, deserialize_with = "stake_pool_id")]
    pub stake_pool_id: Option<Address>,
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
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct ApiSection {
    /// TCP port on all interfaces.
    pub port: Option<u16>,
    /// Any endpoint (`tcp:…`, `unix:…`, `vsock:…`); wins over `port`.
    #[serde(deserialize_with = "api_listen")]
    pub listen: Option<Endpoint>,
    /// Whether the public listener requires a PROXY protocol v2 header
    /// naming the client (sent by `daas-master proxy`); default: on for
    /// vsock, off otherwise. Never read when off.
    pub proxy_protocol: Option<bool>,
    /// Requests per minute and client address on the public listener,
    /// counted before any other work.
    #[serde(deserialize_with = "client_rate")]
    pub client_rate_limit_per_minute: NonZeroU32,
    /// Open connections of the public listener at most.
    #[serde(deserialize_with = "max_connections")]
    pub max_connections: NonZeroU32,
    /// Open connections of the webhook listener at most (a budget of its
    /// own, so a flood of the public port cannot starve the API server).
    #[serde(deserialize_with = "webhook_max_connections")]
    pub webhook_max_connections: NonZeroU32,
    /// For the PROXY header and the TLS handshake (`handshake_timeout_secs`).
    #[serde(
        rename = "handshake_timeout_secs",
        deserialize_with = "handshake_timeout"
    )]
    pub handshake_timeout: Duration,
    /// How long a connection may stay without a request in flight
    /// (`idle_timeout_secs`).
    #[serde(rename = "idle_timeout_secs", deserialize_with = "idle_timeout")]
    pub idle_timeout: Duration,
    /// The same for the webhook listener's connections, the API server's
    /// (`webhook_idle_timeout_secs`).
    #[serde(
        rename = "webhook_idle_timeout_secs",
        deserialize_with = "webhook_idle_timeout"
    )]
    pub webhook_idle_timeout: Duration,
    /// How long a request body may take to arrive (`body_timeout_secs`).
    #[serde(rename = "body_timeout_secs", deserialize_with = "body_timeout")]
    pub body_timeout: Duration,
    /// Ignored: the attested TLS certificate is made at boot.
    pub tls_cert: Option<PathBuf>,
    /// Ignored: the attested TLS key is made at boot.
    pub tls_key: Option<PathBuf>,
}

impl Default for ApiSection {
    fn default() -> Self {
        let limits = ConnectionLimits::default();
        Self {
            port: None,
            listen: None,
            proxy_protocol: None,
            client_rate_limit_per_minute: const { NonZeroU32::new(1200).unwrap() },
            max_connections: limits.max_connections,
            webhook_max_connections: ConnectionLimits::WEBHOOK_MAX_CONNECTIONS,
            handshake_timeout: limits.handshake_timeout,
            idle_timeout: limits.idle_timeout,
            webhook_idle_timeout: ConnectionLimits::WEBHOOK_IDLE_TIMEOUT,
            body_timeout: limits.body_timeout,
            tls_cert: None,
            tls_key: None,
        }
    }
}

/// `access:`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct AccessSection {
    /// Requests per minute and identity (seed: 100).
    #[serde(deserialize_with = "identity_rate")]
    pub rate_limit_per_minute: NonZeroU32,
    /// Longest life of a cached allowed decision (`decision_cache_secs`).
    #[serde(rename = "decision_cache_secs", deserialize_with = "decision_cache")]
    pub decision_cache: Duration,
    /// Lifetime of an issued opaque seal token (`seal_token_ttl_secs`).
    #[serde(rename = "seal_token_ttl_secs", deserialize_with = "seal_token_ttl")]
    pub seal_token_ttl: Duration,
    /// Live opaque seal tokens an owner may hold at once.
    #[serde(deserialize_with = "seal_tokens_per_owner")]
    pub seal_tokens_per_owner: NonZeroU32,
    /// Clock skew tolerated for access tokens and worker proofs
    /// (`clock_skew_secs`); none at all is a choice, more than a year is
    /// not.
    #[serde(rename = "clock_skew_secs", deserialize_with = "clock_skew")]
    pub clock_skew: Duration,
}

impl Default for AccessSection {
    fn default() -> Self {
        Self {
            rate_limit_per_minute: const { NonZeroU32::new(100).unwrap() },
            decision_cache: Duration::from_secs(30),
            seal_token_ttl: Duration::from_secs(86_400),
            seal_tokens_per_owner: const { NonZeroU32::new(10).unwrap() },
            clock_skew: Duration::from_secs(30),
        }
    }
}

/// `nodes:`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct NodesSection {
    /// Lifetime of a per-node bootstrap token (`bootstrap_token_ttl_secs`).
    #[serde(
        rename = "bootstrap_token_ttl_secs",
        deserialize_with = "bootstrap_token_ttl"
    )]
    pub bootstrap_token_ttl: Duration,
    /// Worker proofs older than this are stale (`proof_max_age_secs`).
    #[serde(rename = "proof_max_age_secs", deserialize_with = "proof_max_age")]
    pub proof_max_age: Duration,
    /// Evictions are tried this long before pods are deleted
    /// (`drain_timeout_secs`).
    #[serde(rename = "drain_timeout_secs", deserialize_with = "drain_timeout")]
    pub drain_timeout: Duration,
    /// How often the leader re-checks every Node (`recheck_interval_secs`).
    #[serde(
        rename = "recheck_interval_secs",
        deserialize_with = "recheck_interval"
    )]
    pub recheck_interval: Duration,
    /// Names of Nodes outside staking (the K3s server's own node when it
    /// runs an agent): never revoked, never admitted through a seal token.
    pub exempt: Vec<String>,
}

impl Default for NodesSection {
    fn default() -> Self {
        Self {
            bootstrap_token_ttl: Duration::from_secs(600),
            proof_max_age: Duration::from_secs(60),
            drain_timeout: Duration::from_secs(60),
            recheck_interval: Duration::from_secs(60),
            exempt: Vec::new(),
        }
    }
}

impl NodesSection {
    /// `nodes.exempt` as a set.
    pub fn exempt(&self) -> std::collections::BTreeSet<String> {
        self.exempt.iter().cloned().collect()
    }

    /// Checks `nodes.exempt`: Kubernetes node names.
    fn check_exempt(&self) -> Result<(), String> {
        self.exempt
            .iter()
            .try_for_each(|name| check_kubernetes_node_name(name))
            .map_err(|error| format!("nodes.exempt: {error}"))
    }
}

/// `audit:`: the verifiable audit log.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct AuditSection {
    /// Sign a checkpoint once this many events are not yet in one.
    pub checkpoint_events: u64,
    /// Sign a checkpoint of pending events at least this often
    /// (`checkpoint_interval_ms`).
    #[serde(
        rename = "checkpoint_interval_ms",
        deserialize_with = "checkpoint_interval"
    )]
    pub checkpoint_interval: Duration,
    /// A file (mode 0600) holding the `suiprivkey1…` key that pays for
    /// anchoring transactions. Without one the master signs checkpoints
    /// but does not anchor them.
    pub gas_key_file: Option<PathBuf>,
}

impl Default for AuditSection {
    fn default() -> Self {
        Self {
            checkpoint_events: 1000,
            checkpoint_interval: Duration::from_millis(2000),
            gas_key_file: None,
        }
    }
}

impl AuditSection {
    fn check(&self) -> Result<(), String> {
        if self.checkpoint_events == 0 {
            return Err("audit.checkpoint_events must be at least 1".to_owned());
        }
        Ok(())
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
        Self::parse_file(path, &text)
    }

    /// Parses and checks the text of the file at `path` (named in errors).
    ///
    /// # Errors
    /// Why the text was refused.
    pub fn parse_file(path: &Path, text: &str) -> Result<Self, ConfigError> {
        Self::parse(text)
            .map_err(|reason| ConfigError::Parse {
                path: path.to_owned(),
                reason,
            })
            .and_then(|config| config.check(path).map(|()| config))
    }

    /// Parses YAML text, without the checks across keys of
    /// [`Self::parse_file`].
    fn parse(text: &str) -> Result<Self, String> {
        daas_core::yaml::from_str(text).map_err(|error| error.to_string())
    }

    fn check(&self, path: &Path) -> Result<(), ConfigError> {
        let value = |reason: String| ConfigError::Value {
            path: path.to_owned(),
            reason,
        };
        self.nodes.check_exempt().map_err(value)?;
        self.audit.check().map_err(value)?;
        self.leader.check().map_err(value)?;
        if self.reads_chain() {
            self.chain_config().map_err(value)?;
        }
        Ok(())
    }

    /// Whether the master will read the chain: it has a cluster, or the
    /// file says anything about the chain (checked even if unused, so a
    /// half-written `sui:` section is not ignored).
    fn reads_chain(&self) -> bool {
        self.k3s.kubeconfig.is_some() || self.sui != SuiSection::default()
    }

    /// `api.listen`, or `tcp:0.0.0.0:<api.port>` (`None` if neither).
    pub fn listen(&self) -> Option<Endpoint> {
        match (&self.api.listen, self.api.port) {
            (Some(listen), _) => Some(listen.clone()),
            (None, Some(port)) => Some(Endpoint::Tcp(format!("0.0.0.0:{port}"))),
            (None, None) => None,
        }
    }

    /// The chain the master reads: `sui.profile` (required: there is no
    /// default chain) with its endpoint, package and stake pool overridden
    /// by the file. Testnet and mainnet endpoints must use `https`.
    ///
    /// # Errors
    /// No or an unknown profile, a malformed id, a profile without ids, or
    /// a public network over plain `http`.
    pub fn chain_config(&self) -> Result<ChainConfig, String> {
        let profile = self.sui.profile.ok_or_else(|| {
            "sui.profile is not set: name the chain the master reads stake from \
             (devnet, testnet or mainnet); there is no default chain"
                .to_owned()
        })?;
        let mut config = ChainConfig::new(profile);
        if let Some(endpoint) = &self.sui.rpc_endpoint {
            config.endpoint = Some(endpoint.clone());
        }
        if let Some(id) = self.sui.package_id {
            config = config.with_package(id);
        }
        if let Some(id) = self.sui.stake_pool_id {
            config = config.with_stake_pool(id);
        }
        config.validate().map_err(|error| format!("sui: {error}"))?;
        config
            .require_tls()
            .map_err(|error| format!("sui.rpc_endpoint: {error}"))?;
        Ok(config)
    }

    /// `tee.allow_dev_fallback`.
    pub fn dev_fallback(&self) -> DevFallback {
        if self.tee.allow_dev_fallback {
            DevFallback::Allow
        } else {
            DevFallback::Refuse
        }
    }

    /// Whether the public listener at `listen` requires a PROXY v2 header:
    /// `api.proxy_protocol`, by default on for vsock (where the parent's
    /// `daas-master proxy` forwards) and off otherwise.
    pub fn proxy_protocol(&self, listen: &Endpoint) -> ProxyProtocol {
        let required = self
            .api
            .proxy_protocol
            .unwrap_or(matches!(listen, Endpoint::Vsock { .. }));
        if required {
            ProxyProtocol::Required
        } else {
            ProxyProtocol::Off
        }
    }

    /// The public listener's limits (`api.*`).
    pub fn connection_limits(&self) -> ConnectionLimits {
        ConnectionLimits {
            max_connections: self.api.max_connections,
            handshake_timeout: self.api.handshake_timeout,
            idle_timeout: self.api.idle_timeout,
            body_timeout: self.api.body_timeout,
            ..ConnectionLimits::default()
        }
    }

    /// The webhook listener's limits: the public ones with a connection
    /// budget and an idle time of its own.
    pub fn webhook_connection_limits(&self) -> ConnectionLimits {
        ConnectionLimits {
            max_connections: self.api.webhook_max_connections,
            idle_timeout: self.api.webhook_idle_timeout,
            ..self.connection_limits()
        }
    }
}

/// An optional value the file writes as text, parsed once, here: a value
/// that does not parse is refused naming `key`.
fn parsed<'de, D, T>(deserializer: D, key: &str) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: fmt::Display,
{
    Option::<String>::deserialize(deserializer)?
        .map(|text| {
            text.parse()
                .map_err(|error| D::Error::custom(format!("{key}: {error}")))
        })
        .transpose()
}

/// An optional Sui object id, refused naming `key` and quoting the text.
fn object_id<'de, D: Deserializer<'de>>(d: D, key: &str) -> Result<Option<Address>, D::Error> {
    parsed::<_, ObjectId>(d, key).map(|id| id.map(|id| id.0))
}

/// A count the file gives, which must be at least 1: zero is refused
/// naming `key`.
fn at_least_one<'de, D: Deserializer<'de>>(
    deserializer: D,
    key: &str,
) -> Result<NonZeroU32, D::Error> {
    NonZeroU32::new(u32::deserialize(deserializer)?)
        .ok_or_else(|| D::Error::custom(format!("{key} must be at least 1")))
}

/// `secs` as a configured span (1 second to a year), refused naming `key`.
fn configured<E: serde::de::Error>(secs: u64, key: &str) -> Result<Duration, E> {
    daas_core::clock::configured_secs(secs).map_err(|reason| E::custom(format!("{key} {reason}")))
}

/// A span the file gives in seconds, from 1 second to a year.
fn seconds<'de, D: Deserializer<'de>>(deserializer: D, key: &str) -> Result<Duration, D::Error> {
    configured(u64::deserialize(deserializer)?, key)
}

/// A span in seconds that may be zero, at most a year.
fn seconds_or_none<'de, D: Deserializer<'de>>(
    deserializer: D,
    key: &str,
) -> Result<Duration, D::Error> {
    match u64::deserialize(deserializer)? {
        0 => Ok(Duration::ZERO),
        secs => configured(secs, key),
    }
}

/// A span the file gives in milliseconds, from 1 ms to a year.
fn milliseconds<'de, D: Deserializer<'de>>(
    deserializer: D,
    key: &str,
) -> Result<Duration, D::Error> {
    let ms = u64::deserialize(deserializer)?;
    let most = daas_core::clock::MAX_CONFIGURED_SECS * 1000;
    if ms == 0 || ms > most {
        return Err(D::Error::custom(format!(
            "{key} must be from 1 to {most} (a year), not {ms}"
        )));
    }
    Ok(Duration::from_millis(ms))
}

/// One `deserialize_with` function per typed key, so that every refusal
/// names the key as the file writes it: `name -> Type = helper("key")`.
macro_rules! keyed {
    ($($name:ident -> $ty:ty = $helper:ident($key:literal);)*) => {$(
        fn $name<'de, D: Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
            $helper(d, $key)
        }
    )*};
}

keyed! {
    tee_type -> Option<AttestationMode> = parsed("tee.type");
    attestation_rate -> NonZeroU32 = at_least_one("tee.attestation_rate_limit_per_minute");
    sui_profile -> Option<Profile> = parsed("sui.profile");
    package_id -> Option<Address> = object_id("sui.package_id");
    stake_pool_id -> Option<Address> = object_id("sui.stake_pool_id");
    api_listen -> Option<Endpoint> = parsed("api.listen");
    client_rate -> NonZeroU32 = at_least_one("api.client_rate_limit_per_minute");
    max_connections -> NonZeroU32 = at_least_one("api.max_connections");
    webhook_max_connections -> NonZeroU32 = at_least_one("api.webhook_max_connections");
    identity_rate -> NonZeroU32 = at_least_one("access.rate_limit_per_minute");
    seal_tokens_per_owner -> NonZeroU32 = at_least_one("access.seal_tokens_per_owner");
    attestation_interval -> Duration = seconds("tee.attestation_interval");
    handshake_timeout -> Duration = seconds("api.handshake_timeout_secs");
    idle_timeout -> Duration = seconds("api.idle_timeout_secs");
    webhook_idle_timeout -> Duration = seconds("api.webhook_idle_timeout_secs");
    body_timeout -> Duration = seconds("api.body_timeout_secs");
    decision_cache -> Duration = seconds("access.decision_cache_secs");
    seal_token_ttl -> Duration = seconds("access.seal_token_ttl_secs");
    clock_skew -> Duration = seconds_or_none("access.clock_skew_secs");
    bootstrap_token_ttl -> Duration = seconds("nodes.bootstrap_token_ttl_secs");
    proof_max_age -> Duration = seconds("nodes.proof_max_age_secs");
    drain_timeout -> Duration = seconds("nodes.drain_timeout_secs");
    recheck_interval -> Duration = seconds("nodes.recheck_interval_secs");
    checkpoint_interval -> Duration = milliseconds("audit.checkpoint_interval_ms");
}

/// A Sui object id whose parse error quotes the text.
struct ObjectId(Address);

impl FromStr for ObjectId {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.parse()
            .map(Self)
            .map_err(|error| format!("{text:?} is not a Sui object id: {error}"))
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
        assert_eq!(config.tee.tee_type, Some(AttestationMode::Nitro));
        assert_eq!(config.tee.attestation_interval, Duration::from_secs(3600));
        assert_eq!(
            config.listen(),
            Some(Endpoint::Tcp("0.0.0.0:6443".to_owned()))
        );
        assert_eq!(config.k3s.cluster_cidr.as_deref(), Some("10.42.0.0/16"));
        assert_eq!(config.sui.event_filter.as_deref(), Some("k3s_daas::events"));
    }

    #[test]
    fn exempt_nodes_and_the_recheck_interval_parse() {
        let config = MasterConfig::parse(
            "nodes:\n  exempt: [\"server-node\", \"k3s.example.com\"]\n  recheck_interval_secs: 5\n",
        )
        .unwrap();
        assert_eq!(config.nodes.recheck_interval, Duration::from_secs(5));
        assert!(config.nodes.exempt().contains("server-node"));
        assert!(config.nodes.check_exempt().is_ok());
        assert!(MasterConfig::default().nodes.exempt().is_empty());
    }

    #[test]
    fn empty_file_is_defaults() {
        let config = MasterConfig::parse("").unwrap();
        assert_eq!(config, MasterConfig::default());
        assert_eq!(config.tee.attestation_interval, Duration::from_secs(3600));
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
        std::fs::write(&path, "nodes:\n  exempt: [\"Server_Node\"]\n").unwrap();
        let error = MasterConfig::load(&path).unwrap_err().to_string();
        assert!(
            error.contains("nodes.exempt") && error.contains("Server_Node"),
            "{error}"
        );
        std::fs::write(&path, "nodes:\n  recheck_interval_secs: 0\n").unwrap();
        let error = MasterConfig::load(&path).unwrap_err().to_string();
        assert!(error.contains("nodes.recheck_interval_secs"), "{error}");
        std::fs::write(&path, "access:\n  seal_tokens_per_owner: 0\n").unwrap();
        let error = MasterConfig::load(&path).unwrap_err().to_string();
        assert!(error.contains("access.seal_tokens_per_owner"), "{error}");
        for (text, key) in [
            (
                "audit:\n  checkpoint_events: 0\n",
                "audit.checkpoint_events",
            ),
            (
                "audit:\n  checkpoint_interval_ms: 0\n",
                "audit.checkpoint_interval_ms",
            ),
            ("audit:\n  log_id: \"0x1\"\n", "log_id"),
        ] {
            std::fs::write(&path, text).unwrap();
            let error = MasterConfig::load(&path).unwrap_err().to_string();
            assert!(error.contains(key), "{error}");
        }
        let error = MasterConfig::load(&dir.path().join("missing.yaml"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("missing.yaml"), "{error}");
    }

    /// Writes `text` as a config file and loads it.
    fn load(
        text: &str,
    ) -> (
        tempfile::TempDir,
        PathBuf,
        Result<MasterConfig, ConfigError>,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nautilus-config.yaml");
        std::fs::write(&path, text).unwrap();
        let loaded = MasterConfig::load(&path);
        (dir, path, loaded)
    }

    /// Asserts the file is refused with a message naming `key`, the file
    /// and `needle`.
    fn refused(text: &str, key: &str, needle: &str) {
        let (_dir, path, loaded) = load(text);
        let error = loaded.unwrap_err().to_string();
        assert!(
            error.contains(key)
                && error.contains(&path.display().to_string())
                && error.contains(needle),
            "{text}: {error}"
        );
    }

    const IDS: &str = "  package_id: \"0x7f\"\n  stake_pool_id: \"0x70\"\n";

    #[test]
    fn a_master_that_reads_the_chain_must_name_it() {
        let cluster = "k3s:\n  kubeconfig: \"/etc/rancher/k3s/k3s.yaml\"\n";
        refused(cluster, "sui.profile", "no default chain");
        // An endpoint and ids alone do not say which network's rules apply.
        refused(
            &format!("{cluster}sui:\n  rpc_endpoint: \"https://fullnode.example:443\"\n{IDS}"),
            "sui.profile",
            "devnet, testnet or mainnet",
        );
        // A half-written sui section is refused even without a cluster.
        refused(
            "sui:\n  rpc_endpoint: \"http://127.0.0.1:9000\"\n",
            "sui.profile",
            "not set",
        );
        let (_dir, _path, loaded) = load(&format!("{cluster}sui:\n  profile: devnet\n"));
        let devnet = loaded.unwrap().chain_config().unwrap();
        assert_eq!(devnet.profile, Profile::Devnet);
        // Attestation only: no chain is read, none needs naming.
        let (_dir, _path, loaded) = load("tee:\n  type: dev\n");
        assert!(loaded.is_ok());
    }

    #[test]
    fn text_values_are_parsed_once_into_their_types() {
        let (_dir, _path, loaded) = load(&format!(
            "tee:\n  type: DEV_INSECURE\napi:\n  listen: \"vsock:16:6443\"\nsui:\n  profile: testnet\n{IDS}"
        ));
        let config = loaded.unwrap();
        assert_eq!(config.tee.tee_type, Some(AttestationMode::Dev));
        assert_eq!(
            config.listen(),
            Some(Endpoint::Vsock {
                cid: 16,
                port: 6443
            })
        );
        assert_eq!(config.sui.profile, Some(Profile::Testnet));
        assert_eq!(config.sui.package_id, Some("0x7f".parse().unwrap()));
        assert_eq!(config.sui.stake_pool_id, Some("0x70".parse().unwrap()));
        for (text, key, needle) in [
            ("sui:\n  profile: localnet\n", "sui.profile", "localnet"),
            (
                "sui:\n  profile: devnet\n  package_id: \"0xzz\"\n",
                "sui.package_id",
                "\"0xzz\" is not a Sui object id",
            ),
            (
                "sui:\n  profile: devnet\n  stake_pool_id: \"pool\"\n",
                "sui.stake_pool_id",
                "\"pool\" is not a Sui object id",
            ),
            ("api:\n  listen: \"vsock:x\"\n", "api.listen", "line 2"),
            ("tee:\n  type: 7\n", "tee.type", "unknown attestation mode"),
        ] {
            refused(text, key, needle);
        }
    }

    #[test]
    fn spans_are_durations_in_the_unit_their_key_names() {
        let (_dir, _path, loaded) = load(
            "access:\n  clock_skew_secs: 0\n  decision_cache_secs: 7\naudit:\n  \
             checkpoint_interval_ms: 250\nnodes:\n  drain_timeout_secs: 9\n",
        );
        let config = loaded.unwrap();
        assert_eq!(config.access.clock_skew, Duration::ZERO);
        assert_eq!(config.access.decision_cache, Duration::from_secs(7));
        assert_eq!(config.audit.checkpoint_interval, Duration::from_millis(250));
        assert_eq!(config.nodes.drain_timeout, Duration::from_secs(9));
        refused(
            "access:\n  decision_cache_secs: 0\n",
            "access.decision_cache_secs",
            "at least 1 second",
        );
        refused(
            "nodes:\n  proof_max_age_secs: -1\n",
            "proof_max_age_secs",
            "line 2",
        );
    }

    #[test]
    fn public_networks_need_tls() {
        for profile in ["testnet", "mainnet"] {
            refused(
                &format!(
                    "sui:\n  profile: {profile}\n  rpc_endpoint: \"http://fullnode.example:9000\"\n{IDS}"
                ),
                "sui.rpc_endpoint",
                "https",
            );
            let (_dir, _path, loaded) = load(&format!(
                "sui:\n  profile: {profile}\n  rpc_endpoint: \"https://fullnode.example:443\"\n{IDS}"
            ));
            assert!(
                loaded
                    .unwrap()
                    .chain_config()
                    .unwrap()
                    .profile
                    .requires_tls()
            );
        }
        refused("sui:\n  profile: testnet\n", "sui", "package");
    }

    #[test]
    fn connection_limits_and_the_proxy_protocol_are_typed() {
        let config = MasterConfig::default();
        let tcp = Endpoint::Tcp("0.0.0.0:8443".to_owned());
        let vsock = Endpoint::Vsock {
            cid: 16,
            port: 8443,
        };
        assert_eq!(config.proxy_protocol(&tcp), ProxyProtocol::Off);
        assert_eq!(config.proxy_protocol(&vsock), ProxyProtocol::Required);
        assert_eq!(config.connection_limits(), ConnectionLimits::default());
        let webhook = config.webhook_connection_limits();
        assert_eq!(
            webhook.max_connections,
            ConnectionLimits::WEBHOOK_MAX_CONNECTIONS
        );
        assert_eq!(webhook.idle_timeout, ConnectionLimits::WEBHOOK_IDLE_TIMEOUT);
        assert_eq!(
            webhook.body_timeout,
            ConnectionLimits::default().body_timeout
        );

        let (_dir, _path, loaded) = load(
            "api:\n  proxy_protocol: true\n  max_connections: 8\n  webhook_max_connections: 4\n  \
             handshake_timeout_secs: 3\n  idle_timeout_secs: 5\n  body_timeout_secs: 7\n  \
             webhook_idle_timeout_secs: 9\n",
        );
        let config = loaded.unwrap();
        assert_eq!(config.proxy_protocol(&tcp), ProxyProtocol::Required);
        let limits = config.connection_limits();
        assert_eq!(limits.max_connections.get(), 8);
        assert_eq!(limits.handshake_timeout, Duration::from_secs(3));
        assert_eq!(limits.idle_timeout, Duration::from_secs(5));
        assert_eq!(limits.body_timeout, Duration::from_secs(7));
        let webhook = config.webhook_connection_limits();
        assert_eq!(webhook.max_connections.get(), 4);
        assert_eq!(webhook.idle_timeout, Duration::from_secs(9));
        assert_eq!(webhook.body_timeout, limits.body_timeout);
        let (_dir, _path, loaded) = load("api:\n  proxy_protocol: false\n");
        assert_eq!(loaded.unwrap().proxy_protocol(&vsock), ProxyProtocol::Off);

        for key in [
            "max_connections",
            "webhook_max_connections",
            "client_rate_limit_per_minute",
        ] {
            refused(
                &format!("api:\n  {key}: 0\n"),
                &format!("api.{key}"),
                "at least 1",
            );
        }
        for key in [
            "handshake_timeout_secs",
            "idle_timeout_secs",
            "webhook_idle_timeout_secs",
            "body_timeout_secs",
        ] {
            refused(
                &format!("api:\n  {key}: 0\n"),
                &format!("api.{key}"),
                "1 second",
            );
            refused(
                &format!("api:\n  {key}: {}\n", u64::MAX),
                &format!("api.{key}"),
                "at most 31622400 seconds",
            );
        }
        for (section, key) in [
            ("tee", "attestation_interval"),
            ("access", "decision_cache_secs"),
            ("access", "seal_token_ttl_secs"),
            ("nodes", "recheck_interval_secs"),
            ("nodes", "drain_timeout_secs"),
            ("access", "clock_skew_secs"),
        ] {
            refused(
                &format!("{section}:\n  {key}: 31622401\n"),
                &format!("{section}.{key}"),
                "a year",
            );
        }
        refused(
            &format!("audit:\n  checkpoint_interval_ms: {}\n", u64::MAX),
            "audit.checkpoint_interval_ms",
            "a year",
        );
        refused(
            "tee:\n  attestation_rate_limit_per_minute: 0\n",
            "tee.attestation_rate_limit_per_minute",
            "at least 1",
        );
    }

    #[test]
    fn lease_settings_parse_and_default_to_client_go() {
        assert_eq!(
            MasterConfig::default().leader.lease_settings(),
            LeaseSettings::default()
        );
        let (_dir, _path, loaded) = load(
            "leader:\n  lease_duration_secs: 5\n  renew_deadline_ms: 3000\n  retry_period_ms: 500\n",
        );
        let lease = loaded.unwrap().leader.lease_settings();
        assert_eq!(lease.lease_duration, Duration::from_secs(5));
        assert_eq!(lease.renew_deadline, Duration::from_millis(3000));
        assert_eq!(lease.renew_interval, Duration::from_millis(500));
        assert_eq!(lease.name, LeaseSettings::default().name);
        assert!(lease.validate().is_ok());
    }

    #[test]
    fn lease_settings_that_cannot_work_are_refused() {
        for (text, key, needle) in [
            (
                "leader:\n  lease_duration_secs: 0\n",
                "leader.lease_duration_secs",
                "1 to",
            ),
            (
                "leader:\n  lease_duration_secs: 4294967296\n",
                "leader.lease_duration_secs",
                "1 to",
            ),
            // The default renew deadline (10 s) is not below a 5 s lease.
            (
                "leader:\n  lease_duration_secs: 5\n",
                "leader.renew_deadline_ms",
                "below leader.lease_duration_secs",
            ),
            (
                "leader:\n  renew_deadline_ms: 15000\n",
                "leader.renew_deadline_ms",
                "below",
            ),
            (
                "leader:\n  retry_period_ms: 0\n",
                "leader.retry_period_ms",
                "at least 1",
            ),
            (
                "leader:\n  retry_period_ms: 10000\n",
                "leader.retry_period_ms",
                "below leader.renew_deadline_ms",
            ),
            (
                "leader:\n  renew_deadline_ms: 1000\n",
                "leader.retry_period_ms",
                "below leader.renew_deadline_ms",
            ),
        ] {
            refused(text, key, needle);
        }
        let error = MasterConfig::parse("leader:\n  lease_duration: 5\n").unwrap_err();
        assert!(error.contains("lease_duration"), "{error}");
        let error = MasterConfig::parse("leader:\n  lease_duration_secs: -5\n").unwrap_err();
        assert!(!error.is_empty());
    }

    #[test]
    fn the_dev_fallback_is_off_unless_configured() {
        assert_eq!(MasterConfig::default().dev_fallback(), DevFallback::Refuse);
        let (_dir, _path, loaded) = load("tee:\n  type: auto\n  allow_dev_fallback: true\n");
        assert_eq!(loaded.unwrap().dev_fallback(), DevFallback::Allow);
    }
}
