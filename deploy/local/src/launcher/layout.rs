//! Where the local stack keeps its state and which ports it serves.

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};

use crate::launcher::LocalError;

/// Default ports: the devnet where the console's built-in `local` profile
/// looks (9000), the master on the seed's 8443, its webhook listener, the
/// API server on K3s's 6443 and the real agent's local API on the seed's
/// worker port 8080.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Args)]
pub struct Ports {
    /// The devnet (chain gRPC and faucet).
    #[arg(long, default_value_t = 9000)]
    pub devnet_port: u16,
    /// The master's attested API.
    #[arg(long, default_value_t = 8443)]
    pub master_port: u16,
    /// The master's webhook listener (called by the API server).
    #[arg(long, default_value_t = 9443)]
    pub webhook_port: u16,
    /// The Kubernetes API server.
    #[arg(long, default_value_t = 6443)]
    pub apiserver_port: u16,
    /// The real agent's local API.
    #[arg(long, default_value_t = 8080)]
    pub agent_api_port: u16,
}

impl Ports {
    /// Each port with what serves it.
    pub fn named(&self) -> [(u16, &'static str); 5] {
        [
            (self.devnet_port, "the devnet (--devnet-port)"),
            (self.master_port, "the master (--master-port)"),
            (self.webhook_port, "the master's webhooks (--webhook-port)"),
            (self.apiserver_port, "the API server (--apiserver-port)"),
            (
                self.agent_api_port,
                "the agent's local API (--agent-api-port)",
            ),
        ]
    }

    /// Fails naming the first port that is taken or given twice.
    ///
    /// # Errors
    /// [`LocalError::PortBusy`] or [`LocalError::PortTwice`].
    pub fn check_free(&self) -> Result<(), LocalError> {
        let named = self.named();
        for (i, (port, what)) in named.iter().enumerate() {
            if let Some((_, other)) = named[..i].iter().find(|(p, _)| p == port) {
                return Err(LocalError::PortTwice {
                    port: *port,
                    first: other,
                    second: what,
                });
            }
            if let Err(source) = TcpListener::bind((Ipv4Addr::LOCALHOST, *port)) {
                return Err(LocalError::PortBusy {
                    port: *port,
                    what,
                    source,
                });
            }
        }
        Ok(())
    }
}

/// The state directory's layout.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// The layout under `root`.
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    /// The state directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The lock held by a running launcher.
    pub fn lock_file(&self) -> PathBuf {
        self.root.join("launcher.lock")
    }

    /// The running launcher's pid.
    pub fn pid_file(&self) -> PathBuf {
        self.root.join("launcher.pid")
    }

    /// Facts kept between runs (wallet addresses, EnclaveConfig).
    pub fn facts_file(&self) -> PathBuf {
        self.root.join("stack.json")
    }

    /// The supervised processes other than the control plane (`pids/`,
    /// `logs/`).
    pub fn run_dir(&self) -> PathBuf {
        self.root.join("run")
    }

    /// What the running stack's `up` printed (where everything is, what to
    /// do next), for `status` to say again.
    pub fn summary_file(&self) -> PathBuf {
        self.run_dir().join("summary.txt")
    }

    /// The control plane: PKI, kubeconfigs, kine database, its logs.
    pub fn cluster_dir(&self) -> PathBuf {
        self.root.join("cluster")
    }

    /// The devnet's ledger.
    pub fn devnet_ledger(&self) -> PathBuf {
        self.root.join("devnet").join("ledger")
    }

    /// The dev attestation root the devnet trusts (the master's).
    pub fn devnet_dev_root(&self) -> PathBuf {
        self.root
            .join("devnet")
            .join("insecure-dev-attestation-root.pem")
    }

    /// The master's directory (`state/`, `apiserver/`, its config).
    pub fn master_dir(&self) -> PathBuf {
        self.root.join("master")
    }

    /// The master's state (dev root, webhook identity).
    pub fn master_state(&self) -> PathBuf {
        self.master_dir().join("state")
    }

    /// The key that pays the master's audit anchoring
    /// (`audit.gas_key_file`).
    pub fn audit_gas_key(&self) -> PathBuf {
        self.master_dir().join("audit-gas.key")
    }

    /// The master's dev attestation root certificate.
    pub fn dev_root(&self) -> PathBuf {
        self.master_state().join("dev-root.pem")
    }

    /// The operator's wallet and passphrase.
    pub fn operator_dir(&self) -> PathBuf {
        self.root.join("operator")
    }

    /// The real worker's machine (wallet, config, agent state).
    pub fn worker_dir(&self) -> PathBuf {
        self.root.join("worker")
    }

    /// The simulated agents' kept wallet keys (`NODE.key`, owner-only).
    pub fn simulated_dir(&self) -> PathBuf {
        self.root.join("simulated")
    }

    /// The console's configuration with this stack's profile.
    pub fn console_config(&self) -> PathBuf {
        self.root.join("console.toml")
    }

    /// The log of supervised process `name`.
    pub fn log(&self, name: &str) -> PathBuf {
        self.run_dir().join("logs").join(format!("{name}.log"))
    }

    /// Where every supervised process group's pid file lives.
    pub fn pid_dirs(&self) -> [PathBuf; 2] {
        [self.run_dir().join("pids"), self.cluster_dir().join("pids")]
    }
}

/// `~/.local/share/k3s-daas/local` on Linux (the platform data dir).
///
/// # Errors
/// No home directory.
pub fn default_state_dir() -> Result<PathBuf, LocalError> {
    directories::ProjectDirs::from("io", "k3s-daas", "k3s-daas")
        .map(|dirs| dirs.data_dir().join("local"))
        .ok_or(LocalError::NoDataDir)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn ports() -> Ports {
        let free = || {
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        };
        Ports {
            devnet_port: free(),
            master_port: free(),
            webhook_port: free(),
            apiserver_port: free(),
            agent_api_port: free(),
        }
    }

    #[test]
    fn a_port_given_twice_names_both_flags() {
        let mut ports = ports();
        ports.webhook_port = ports.master_port;
        let error = ports.check_free().unwrap_err().to_string();
        assert!(error.contains("--master-port"), "{error}");
        assert!(error.contains("--webhook-port"), "{error}");
    }

    #[test]
    fn a_taken_port_is_named_with_its_flag() {
        let mut ports = ports();
        let taken = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        ports.apiserver_port = taken.local_addr().unwrap().port();
        let error = ports.check_free().unwrap_err().to_string();
        assert!(
            error.contains(&format!("port {}", ports.apiserver_port)),
            "{error}"
        );
        assert!(error.contains("--apiserver-port"), "{error}");
        drop(taken);
        ports.check_free().unwrap();
    }
}
