//! The master's connection to its cluster: a Kubernetes client from the
//! kubeconfig it was given (`k3s.kubeconfig`), plus the API server URL and
//! CA bundle that users and workers are told about.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kube::config::{KubeConfigOptions, Kubeconfig};

/// Why the cluster connection could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// The kubeconfig cannot be read or parsed.
    #[error("cannot read kubeconfig {path}: {source}")]
    Kubeconfig {
        /// The file.
        path: PathBuf,
        /// kube's error.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// The kubeconfig's current context names no usable cluster.
    #[error("kubeconfig {path}: {reason}")]
    Incomplete {
        /// The file.
        path: PathBuf,
        /// What is missing.
        reason: String,
    },
    /// The client could not be built from the kubeconfig.
    #[error("cannot build a Kubernetes client from {path}: {source}")]
    Client {
        /// The file.
        path: PathBuf,
        /// kube's error.
        #[source]
        source: kube::Error,
    },
}

/// A client for the cluster and what to tell others about it.
#[derive(Clone)]
pub struct ClusterConnection {
    /// The master's own client (its kubeconfig's credentials).
    pub client: kube::Client,
    /// The API server URL of the kubeconfig's current cluster.
    pub server_url: String,
    /// The cluster's CA bundle (PEM).
    pub ca_pem: String,
}

impl std::fmt::Debug for ClusterConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterConnection")
            .field("server_url", &self.server_url)
            .finish_non_exhaustive()
    }
}

impl ClusterConnection {
    /// Reads `kubeconfig` and builds a client for its current context. No
    /// request is made: the API server may still be starting.
    ///
    /// # Errors
    /// The file is unreadable, incomplete, or its credentials unusable.
    pub async fn from_kubeconfig(kubeconfig: &Path) -> Result<Self, ClusterError> {
        let file =
            Kubeconfig::read_from(kubeconfig).map_err(|source| ClusterError::Kubeconfig {
                path: kubeconfig.to_owned(),
                source,
            })?;
        let incomplete = |reason: String| ClusterError::Incomplete {
            path: kubeconfig.to_owned(),
            reason,
        };
        let (server_url, ca_pem) = current_cluster(&file).map_err(incomplete)?;
        let config = kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
            .await
            .map_err(|source| ClusterError::Kubeconfig {
                path: kubeconfig.to_owned(),
                source,
            })?;
        let client = kube::Client::try_from(config).map_err(|source| ClusterError::Client {
            path: kubeconfig.to_owned(),
            source,
        })?;
        Ok(Self {
            client,
            server_url,
            ca_pem,
        })
    }
}

/// The server URL and CA bundle of the current context's cluster.
fn current_cluster(file: &Kubeconfig) -> Result<(String, String), String> {
    let context_name = file
        .current_context
        .as_deref()
        .ok_or("no current-context")?;
    let context = file
        .contexts
        .iter()
        .find(|c| c.name == context_name)
        .and_then(|c| c.context.as_ref())
        .ok_or_else(|| format!("current-context {context_name:?} is not defined"))?;
    let cluster = file
        .clusters
        .iter()
        .find(|c| c.name == context.cluster)
        .and_then(|c| c.cluster.as_ref())
        .ok_or_else(|| format!("cluster {:?} is not defined", context.cluster))?;
    let server = cluster
        .server
        .clone()
        .ok_or_else(|| format!("cluster {:?} has no server", context.cluster))?;
    let ca_pem = if let Some(data) = &cluster.certificate_authority_data {
        let bytes = STANDARD
            .decode(data.trim())
            .map_err(|error| format!("certificate-authority-data is not base64: {error}"))?;
        String::from_utf8(bytes).map_err(|_| "certificate-authority-data is not PEM".to_owned())?
    } else if let Some(path) = &cluster.certificate_authority {
        std::fs::read_to_string(path)
            .map_err(|error| format!("cannot read certificate-authority {path}: {error}"))?
    } else {
        return Err(format!(
            "cluster {:?} names no certificate authority",
            context.cluster
        ));
    };
    Ok((server, ca_pem))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kubeconfig(cluster: &str) -> Kubeconfig {
        let text = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: c\ncontexts:\n- name: c\n  context:\n    \
             cluster: k\n    user: u\nusers:\n- name: u\n  user:\n    token: t\nclusters:\n{cluster}"
        );
        Kubeconfig::from_yaml(&text).unwrap()
    }

    #[test]
    fn reads_server_and_ca() {
        let data =
            STANDARD.encode("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n");
        let file = kubeconfig(&format!(
            "- name: k\n  cluster:\n    server: https://10.0.0.1:6443\n    certificate-authority-data: {data}\n"
        ));
        let (server, ca) = current_cluster(&file).unwrap();
        assert_eq!(server, "https://10.0.0.1:6443");
        assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"));
    }

    #[test]
    fn names_what_is_missing() {
        let file = kubeconfig("- name: k\n  cluster:\n    server: https://10.0.0.1:6443\n");
        let error = current_cluster(&file).unwrap_err();
        assert!(error.contains("no certificate authority"), "{error}");
        let file = kubeconfig("- name: other\n  cluster:\n    server: https://x\n");
        let error = current_cluster(&file).unwrap_err();
        assert!(error.contains("\"k\" is not defined"), "{error}");
    }
}
