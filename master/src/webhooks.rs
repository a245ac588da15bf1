//! The API server's side of the webhooks: the TLS identity of the webhook
//! listener and the files that point kube-apiserver at it.
//!
//! The attested API gets a fresh TLS key at every boot, which clients
//! re-attest. The API server cannot: it reads its webhook kubeconfigs once
//! at start. So the webhooks (`/authenticate`, `/authorize`) are served on a
//! separate, internal listener whose self-signed certificate persists in the
//! master's state directory (key file 0600) and survives master restarts.
//! Serving them apart also keeps the token oracle off the public port.
//!
//! [`ApiServerFiles::write`] writes, for kube-apiserver:
//! - `authn-webhook.kubeconfig` for `--authentication-token-webhook-config-file`;
//! - `authz-webhook.kubeconfig`, named by
//! - `authorization-config.yaml` for `--authorization-config`: Node, then the
//!   master's webhook for `sui:` users only (a CEL match condition, so other
//!   users never wait for it; failure policy Deny), then RBAC.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use daas_core::private_file::{PrivateFileError, write_atomic as write_private};
use rcgen::{CertificateParams, DnType, KeyPair, PKCS_ECDSA_P256_SHA256};
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Path of the TokenReview webhook.
pub const AUTHENTICATE_PATH: &str = "/authenticate";
/// Path of the SubjectAccessReview webhook.
pub const AUTHORIZE_PATH: &str = "/authorize";
/// The DNS name in the webhook certificate (the kubeconfigs set it as
/// `tls-server-name`, so any address works).
pub const WEBHOOK_SERVER_NAME: &str = "daas-master-webhook";
/// How long the API server caches the authorization webhook's answers.
/// Part of the revocation budget: event poll + this ≤ 2 s.
pub const AUTHORIZATION_CACHE_TTL: Duration = Duration::from_secs(1);

const CERT_FILE: &str = "webhook-tls.crt";
const KEY_FILE: &str = "webhook-tls.key";

/// Why the webhook identity or files could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// Reading or writing a file failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A private file could not be written.
    #[error(transparent)]
    Write(#[from] PrivateFileError),
    /// The stored key or certificate is unusable.
    #[error("{path} is not a usable {what}; delete it to make a new one")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What it should hold.
        what: &'static str,
    },
    /// The certificate could not be made.
    #[error("cannot make the webhook certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    /// TLS configuration was refused.
    #[error("cannot configure TLS 1.3 for the webhooks: {0}")]
    Tls(#[from] rustls::Error),
}

/// The webhook listener's persistent TLS identity.
pub struct WebhookTls {
    certificate: CertificateDer<'static>,
    certificate_pem: String,
    key: PrivatePkcs8KeyDer<'static>,
}

impl std::fmt::Debug for WebhookTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookTls").finish_non_exhaustive()
    }
}

impl WebhookTls {
    /// Loads the identity from `state_dir`, or makes and stores one.
    ///
    /// # Errors
    /// The directory is unusable or holds a corrupt key or certificate.
    pub fn load_or_create(state_dir: &Path) -> Result<Self, WebhookError> {
        let cert_path = state_dir.join(CERT_FILE);
        let key_path = state_dir.join(KEY_FILE);
        if cert_path.exists() && key_path.exists() {
            return Self::load(&cert_path, &key_path);
        }
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::new(vec![WEBHOOK_SERVER_NAME.to_owned()])?;
        params
            .distinguished_name
            .push(DnType::CommonName, "daas-master webhooks");
        let certificate = params.self_signed(&key)?;
        write_private(&key_path, key.serialize_pem().as_bytes())?;
        write_private(&cert_path, certificate.pem().as_bytes())?;
        tracing::info!(path = %cert_path.display(), "webhook TLS identity made");
        Self::load(&cert_path, &key_path)
    }

    fn load(cert_path: &Path, key_path: &Path) -> Result<Self, WebhookError> {
        let certificate_pem = fs::read_to_string(cert_path).map_err(io("reading", cert_path))?;
        let certificate =
            CertificateDer::from_pem_slice(certificate_pem.as_bytes()).map_err(|_| {
                WebhookError::Corrupt {
                    path: cert_path.to_owned(),
                    what: "PEM certificate",
                }
            })?;
        let key_pem = fs::read(key_path).map_err(io("reading", key_path))?;
        let key =
            PrivatePkcs8KeyDer::from_pem_slice(&key_pem).map_err(|_| WebhookError::Corrupt {
                path: key_path.to_owned(),
                what: "PKCS#8 PEM private key",
            })?;
        Ok(Self {
            certificate,
            certificate_pem,
            key,
        })
    }

    /// The certificate in PEM: the API server's trust anchor for the
    /// webhooks.
    pub fn certificate_pem(&self) -> &str {
        &self.certificate_pem
    }

    /// A TLS 1.3-only server configuration serving the certificate.
    ///
    /// # Errors
    /// The key does not match the certificate or is refused.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, WebhookError> {
        let mut config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_protocol_versions(&[&rustls::version::TLS13])?
                .with_no_client_auth()
                .with_single_cert(
                    vec![self.certificate.clone()],
                    PrivateKeyDer::Pkcs8(self.key.clone_key()),
                )?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// The files kube-apiserver needs to use the master's webhooks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiServerFiles {
    /// `--authentication-token-webhook-config-file`.
    pub authentication_kubeconfig: PathBuf,
    /// Named by the authorization configuration.
    pub authorization_kubeconfig: PathBuf,
    /// `--authorization-config`.
    pub authorization_config: PathBuf,
}

impl ApiServerFiles {
    /// Writes the three files into `dir` for a webhook listener at
    /// `base_url` (`https://HOST:PORT`) serving `tls`.
    ///
    /// # Errors
    /// A file cannot be written.
    pub fn write(dir: &Path, base_url: &str, tls: &WebhookTls) -> Result<Self, WebhookError> {
        let base_url = base_url.trim_end_matches('/');
        let files = Self {
            authentication_kubeconfig: dir.join("authn-webhook.kubeconfig"),
            authorization_kubeconfig: dir.join("authz-webhook.kubeconfig"),
            authorization_config: dir.join("authorization-config.yaml"),
        };
        let ca = base64_pem(tls.certificate_pem());
        write_private(
            &files.authentication_kubeconfig,
            webhook_kubeconfig(&format!("{base_url}{AUTHENTICATE_PATH}"), &ca).as_bytes(),
        )?;
        write_private(
            &files.authorization_kubeconfig,
            webhook_kubeconfig(&format!("{base_url}{AUTHORIZE_PATH}"), &ca).as_bytes(),
        )?;
        write_private(
            &files.authorization_config,
            authorization_config(&files.authorization_kubeconfig).as_bytes(),
        )?;
        Ok(files)
    }
}

fn base64_pem(pem: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(pem)
}

/// A kubeconfig naming one webhook URL, trusting only the webhook
/// certificate, checked against [`WEBHOOK_SERVER_NAME`].
fn webhook_kubeconfig(url: &str, ca_base64: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: daas-master\n  cluster:\n    \
         server: {url}\n    certificate-authority-data: {ca_base64}\n    \
         tls-server-name: {WEBHOOK_SERVER_NAME}\nusers:\n- name: kube-apiserver\n  user: {{}}\n\
         contexts:\n- name: webhook\n  context:\n    cluster: daas-master\n    user: kube-apiserver\n\
         current-context: webhook\n"
    )
}

fn authorization_config(kubeconfig: &Path) -> String {
    let ttl = AUTHORIZATION_CACHE_TTL.as_secs();
    format!(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: AuthorizationConfiguration\nauthorizers:\n\
         - type: Node\n  name: node\n\
         - type: Webhook\n  name: k3s-daas\n  webhook:\n    timeout: 3s\n    \
         subjectAccessReviewVersion: v1\n    matchConditionSubjectAccessReviewVersion: v1\n    \
         failurePolicy: Deny\n    authorizedTTL: {ttl}s\n    unauthorizedTTL: {ttl}s\n    \
         connectionInfo:\n      type: KubeConfigFile\n      kubeConfigFile: {}\n    \
         matchConditions:\n    - expression: \"request.user.startsWith('sui:')\"\n\
         - type: RBAC\n  name: rbac\n",
        kubeconfig.display()
    )
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> WebhookError {
    let path = path.to_owned();
    move |source| WebhookError::Io {
        action,
        path,
        source,
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn the_identity_survives_a_restart_and_the_key_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let first = WebhookTls::load_or_create(dir.path()).unwrap();
        let second = WebhookTls::load_or_create(dir.path()).unwrap();
        assert_eq!(first.certificate_pem(), second.certificate_pem());
        assert!(second.server_config().is_ok());
        let mode = fs::metadata(dir.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_corrupt_key_is_named_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        WebhookTls::load_or_create(dir.path()).unwrap();
        fs::write(dir.path().join(KEY_FILE), "not a key").unwrap();
        let error = WebhookTls::load_or_create(dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(KEY_FILE) && error.contains("private key"),
            "{error}"
        );
        assert_eq!(
            fs::read_to_string(dir.path().join(KEY_FILE)).unwrap(),
            "not a key"
        );
    }

    #[test]
    fn apiserver_files_name_the_webhooks() {
        let dir = tempfile::tempdir().unwrap();
        let tls = WebhookTls::load_or_create(&dir.path().join("state")).unwrap();
        let files =
            ApiServerFiles::write(&dir.path().join("apiserver"), "https://127.0.0.1:9/", &tls)
                .unwrap();
        let authn = fs::read_to_string(&files.authentication_kubeconfig).unwrap();
        assert!(
            authn.contains("server: https://127.0.0.1:9/authenticate"),
            "{authn}"
        );
        assert!(authn.contains(&format!("tls-server-name: {WEBHOOK_SERVER_NAME}")));
        let authz = fs::read_to_string(&files.authorization_config).unwrap();
        assert!(authz.contains("request.user.startsWith('sui:')"), "{authz}");
        assert!(authz.contains("failurePolicy: Deny"), "{authz}");
        assert!(authz.contains(&files.authorization_kubeconfig.display().to_string()));
    }
}
