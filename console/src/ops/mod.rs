//! The operations under both faces of the console: UI-free and async, they
//! return data and typed errors ([`OpsError`]); they never print, prompt or
//! build a runtime. A wallet is unlocked through [`Unlock`], which each
//! face implements its own way.
//!
//! Every operation that changes state checks [`Context::ensure_writable`]
//! first, so a read-only session refuses it whichever face asked.

pub mod attest;
pub mod audit;
pub mod credential;
pub mod drain;
pub mod enclave;
pub mod enclave_config;
mod error;
pub mod gateway;
mod json;
pub mod kubeconfig;
pub mod nodes;
pub mod opaque;
pub mod slash;
pub mod stake;
pub mod unlock;
pub mod wallet;

use std::path::PathBuf;
use std::sync::Arc;

use daas_core::api::MasterClient;
use daas_core::attestation::{DevRoot, PcrPolicy, TrustRoots};
use daas_core::attested::{AttestedClient, AttestedClientConfig};
use daas_core::chain::ChainClient;
use daas_core::wallet::WalletStore;

pub use error::OpsError;
pub use unlock::{Unlock, UnlockError};

use crate::config::{MasterSettings, PcrSource, Settings};

/// What every operation works with: the resolved settings, and the
/// clients made from them (made once, shared by clones, so a TUI that
/// refreshes every few seconds keeps its connections and its attested
/// session).
#[derive(Debug, Clone)]
pub struct Context {
    settings: Settings,
    clients: Arc<Clients>,
}

/// The clients of a [`Context`], made on first use.
#[derive(Default)]
struct Clients {
    chain: std::sync::OnceLock<ChainClient>,
    master: tokio::sync::OnceCell<MasterClient>,
    kube: tokio::sync::OnceCell<kube::Client>,
}

impl std::fmt::Debug for Clients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clients")
            .field("chain", &self.chain.get().is_some())
            .field("master", &self.master.get().is_some())
            .field("kube", &self.kube.get().is_some())
            .finish()
    }
}

impl Context {
    /// A context over `settings`.
    pub fn new(settings: Settings) -> Self {
        Self {
            settings,
            clients: Arc::default(),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Refuses `action` in a read-only session.
    ///
    /// # Errors
    /// [`OpsError::ReadOnly`].
    pub fn ensure_writable(&self, action: &'static str) -> Result<(), OpsError> {
        if self.settings.readonly {
            return Err(OpsError::ReadOnly { action });
        }
        Ok(())
    }

    /// The wallet directory: configured, else the platform default.
    ///
    /// # Errors
    /// [`OpsError::NotConfigured`] when there is no data directory.
    pub fn wallet_dir(&self) -> Result<PathBuf, OpsError> {
        match &self.settings.wallet_dir {
            Some(dir) => Ok(dir.clone()),
            None => WalletStore::default_dir().ok_or(OpsError::NotConfigured {
                what: "wallet directory",
                hint: "there is no platform data directory; set a wallet directory",
            }),
        }
    }

    /// A client of the profile's chain (connects lazily).
    ///
    /// # Errors
    /// The chain settings are unusable.
    pub fn chain(&self) -> Result<ChainClient, OpsError> {
        if let Some(chain) = self.clients.chain.get() {
            return Ok(chain.clone());
        }
        let chain = ChainClient::new(self.settings.chain.clone())?;
        Ok(self.clients.chain.get_or_init(|| chain).clone())
    }

    /// The profile's master settings.
    ///
    /// # Errors
    /// [`OpsError::NotConfigured`] without a master.
    pub fn master_settings(&self) -> Result<&MasterSettings, OpsError> {
        self.settings
            .master
            .as_ref()
            .ok_or(OpsError::NotConfigured {
                what: "master",
                hint: "set `master` in the profile or pass a master URL",
            })
    }

    /// A client of the profile's master, trusting what the profile says
    /// (PCRs from the profile or the on-chain `EnclaveConfig`, dev roots
    /// only when one is configured). Nothing is sent until it is used.
    ///
    /// # Errors
    /// No master, an unreadable dev root, or unreadable on-chain PCRs.
    pub async fn master(&self) -> Result<MasterClient, OpsError> {
        self.clients
            .master
            .get_or_try_init(|| self.new_master())
            .await
            .cloned()
    }

    async fn new_master(&self) -> Result<MasterClient, OpsError> {
        let settings = self.master_settings()?;
        let pcrs = match &settings.pcrs {
            PcrSource::Expected(pcrs) => PcrPolicy::Expect(pcrs.clone()),
            PcrSource::EnclaveConfig(config) => {
                PcrPolicy::Expect(self.chain()?.enclave_expected_pcrs(*config).await?)
            }
            PcrSource::Unchecked => PcrPolicy::AnyMeasurement,
        };
        let (roots, dev) = match &settings.dev_root {
            Some(path) => (TrustRoots::aws_and_insecure_dev(read_dev_root(path)?), true),
            None => (TrustRoots::aws(), false),
        };
        let config = AttestedClientConfig::new(roots, pcrs)
            .allow_insecure_dev(dev)
            .with_request_timeout(settings.timeout);
        Ok(MasterClient::new(AttestedClient::new(
            &settings.url,
            config,
        )?))
    }

    /// A client of the Kubernetes API server for node operations, from the
    /// profile's kubeconfig and context (default: `$KUBECONFIG` or
    /// `~/.kube/config`, current context).
    ///
    /// # Errors
    /// The kubeconfig is unreadable or unusable.
    pub async fn kube(&self) -> Result<kube::Client, OpsError> {
        self.clients
            .kube
            .get_or_try_init(|| self.new_kube())
            .await
            .cloned()
    }

    async fn new_kube(&self) -> Result<kube::Client, OpsError> {
        let options = kube::config::KubeConfigOptions {
            context: self.settings.kube.context.clone(),
            ..kube::config::KubeConfigOptions::default()
        };
        let config = match &self.settings.kube.kubeconfig {
            Some(path) => {
                let kubeconfig =
                    kube::config::Kubeconfig::read_from(path).map_err(|e| OpsError::Invalid {
                        what: "kubeconfig",
                        value: path.display().to_string(),
                        reason: e.to_string(),
                    })?;
                kube::Config::from_custom_kubeconfig(kubeconfig, &options).await
            }
            None => kube::Config::from_kubeconfig(&options).await,
        }
        .map_err(|e| OpsError::Invalid {
            what: "kubeconfig",
            value: self.settings.kube.kubeconfig.as_ref().map_or_else(
                || "(default: $KUBECONFIG, else ~/.kube/config)".to_owned(),
                |p| p.display().to_string(),
            ),
            reason: format!("{e}; name one with --kube-config or the profile's `kubeconfig`"),
        })?;
        kube::Client::try_from(config).map_err(|e| OpsError::kube("making a client", e))
    }
}

/// Reads a dev root PEM.
///
/// # Errors
/// The file is unreadable or not a certificate.
pub fn read_dev_root(path: &std::path::Path) -> Result<DevRoot, OpsError> {
    let pem = std::fs::read_to_string(path).map_err(|source| OpsError::File {
        action: "cannot read the dev root",
        path: path.to_owned(),
        source,
    })?;
    Ok(DevRoot::from_pem(&pem)?)
}
