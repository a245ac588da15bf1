//! The API server's side of the webhooks: the TLS identity of the webhook
//! listener and the files that point kube-apiserver at it.
//!
//! The attested API gets a fresh TLS key at every boot, which clients
//! re-attest. The API server cannot: it reads its webhook kubeconfigs once
//! at start. So the webhooks (`/authenticate`, `/authorize`) are served on a
//! separate, internal listener under the master's **webhook identity**: a
//! small certificate authority whose key persists in the master's state
//! directory (`webhook-ca.key`, 0600) and survives restarts. It issues
//!
//! - the listener's server certificate, fresh at every start, for
//!   [`WEBHOOK_SERVER_NAME`];
//! - the API server's client certificate, written with its key into the
//!   webhook kubeconfigs (files 0600).
//!
//! The listener requires a client certificate the identity issued (mutual
//! TLS 1.3): without one a connection is refused in the TLS handshake,
//! before any token is looked at, so the webhooks are no token oracle for
//! other local processes.
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
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PublicKeyData as _,
};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

/// Path of the TokenReview webhook.
pub const AUTHENTICATE_PATH: &str = "/authenticate";
/// Path of the SubjectAccessReview webhook.
pub const AUTHORIZE_PATH: &str = "/authorize";
/// Path of the audit webhook.
pub const AUDIT_PATH: &str = crate::audit::http::AUDIT_WEBHOOK_PATH;
/// How long the API server's audit webhook holds a batch before sending it
/// (`--audit-webhook-batch-max-wait`; its default is 30 s).
pub const AUDIT_BATCH_MAX_WAIT: Duration = Duration::from_secs(1);

/// The audit policy: every request at `Metadata` level once its response
/// is complete. Metadata never carries a body, so Secrets and tokens are
/// recorded as who touched which one, never their values. Left out: the
/// health probes and Lease renewals, which are neither user actions nor
/// rare (every controller renews every few seconds).
pub const AUDIT_POLICY: &str = "apiVersion: audit.k8s.io/v1
kind: Policy
omitStages:
- RequestReceived
rules:
- level: None
  nonResourceURLs:
  - /healthz*
  - /readyz*
  - /livez*
- level: None
  verbs: [get, update]
  resources:
  - group: coordination.k8s.io
    resources: [leases]
- level: Metadata
  resources:
  - group: \"\"
    resources: [secrets, serviceaccounts/token]
  - group: authentication.k8s.io
    resources: [tokenreviews]
- level: Metadata
";
/// The DNS name in the webhook certificate (the kubeconfigs set it as
/// `tls-server-name`, so any address works).
pub const WEBHOOK_SERVER_NAME: &str = "daas-master-webhook";
/// The common name of the API server's client certificate.
pub const API_SERVER_CLIENT_NAME: &str = "kube-apiserver";
/// How long the API server caches the authorization webhook's answers.
/// The master cannot evict them, so this bounds how long a revoked user's
/// cached allow outlives the revocation event (which drops the master's own
/// cached decision at once): event latency + this ≤ the 500 ms target. A
/// miss costs one webhook call the master answers from its own cache.
pub const AUTHORIZATION_CACHE_TTL: Duration = Duration::from_millis(250);

const CA_CERT_FILE: &str = "webhook-ca.crt";
const CA_KEY_FILE: &str = "webhook-ca.key";

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
    /// One of the identity's two files is missing.
    #[error(
        "{missing} is missing beside {present}; delete {present} to make a new webhook \
         identity (then rewrite the API server's files with `daas-master webhook-files`)"
    )]
    Incomplete {
        /// The file that exists.
        present: PathBuf,
        /// The file that does not.
        missing: PathBuf,
    },
    /// The certificate could not be made.
    #[error("cannot make the webhook certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    /// The client certificate verifier was refused.
    #[error("cannot require client certificates: {0}")]
    ClientVerifier(#[from] rustls::server::VerifierBuilderError),
    /// TLS configuration was refused.
    #[error("cannot configure TLS 1.3 for the webhooks: {0}")]
    Tls(#[from] rustls::Error),
}

/// The webhook identity: the certificate authority behind the webhook
/// listener's server certificate and the API server's client certificate.
pub struct WebhookTls {
    ca_certificate: CertificateDer<'static>,
    ca_certificate_pem: String,
    ca_key: KeyPair,
}

impl std::fmt::Debug for WebhookTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookTls").finish_non_exhaustive()
    }
}

/// A client certificate and its key, in PEM. `Debug` shows no key.
pub struct ClientCredential {
    /// The certificate.
    pub certificate_pem: String,
    /// The private key (PKCS#8).
    pub key_pem: Zeroizing<String>,
}

impl std::fmt::Debug for ClientCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredential").finish_non_exhaustive()
    }
}

impl WebhookTls {
    /// Loads the identity from `state_dir`, or makes and stores one.
    ///
    /// # Errors
    /// The directory is unusable or holds a corrupt or half identity.
    pub fn load_or_create(state_dir: &Path) -> Result<Self, WebhookError> {
        let cert_path = state_dir.join(CA_CERT_FILE);
        let key_path = state_dir.join(CA_KEY_FILE);
        match (cert_path.exists(), key_path.exists()) {
            (true, true) => return Self::load(&cert_path, &key_path),
            (true, false) => {
                return Err(WebhookError::Incomplete {
                    present: cert_path,
                    missing: key_path,
                });
            }
            (false, true) => {
                return Err(WebhookError::Incomplete {
                    present: key_path,
                    missing: cert_path,
                });
            }
            (false, false) => {}
        }
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let certificate = ca_params().self_signed(&key)?;
        write_private(&key_path, key.serialize_pem().as_bytes())?;
        write_private(&cert_path, certificate.pem().as_bytes())?;
        tracing::info!(path = %cert_path.display(), "webhook identity made");
        Self::load(&cert_path, &key_path)
    }

    fn load(cert_path: &Path, key_path: &Path) -> Result<Self, WebhookError> {
        let corrupt = |path: &Path, what| WebhookError::Corrupt {
            path: path.to_owned(),
            what,
        };
        let ca_certificate_pem = fs::read_to_string(cert_path).map_err(io("reading", cert_path))?;
        let ca_certificate = CertificateDer::from_pem_slice(ca_certificate_pem.as_bytes())
            .map_err(|_| corrupt(cert_path, "PEM certificate"))?;
        let key_pem =
            Zeroizing::new(fs::read_to_string(key_path).map_err(io("reading", key_path))?);
        let ca_key =
            KeyPair::from_pem(&key_pem).map_err(|_| corrupt(key_path, "PKCS#8 PEM private key"))?;
        let certified = daas_core::attested::tls::certificate_spki_sha256(&ca_certificate)
            .map_err(|_| corrupt(cert_path, "X.509 certificate"))?;
        let held: [u8; 32] = Sha256::digest(ca_key.subject_public_key_info()).into();
        if certified != held {
            return Err(corrupt(key_path, "key of the certificate beside it"));
        }
        Ok(Self {
            ca_certificate,
            ca_certificate_pem,
            ca_key,
        })
    }

    /// The identity's CA certificate in PEM: the API server's trust anchor
    /// for the webhooks.
    pub fn certificate_pem(&self) -> &str {
        &self.ca_certificate_pem
    }

    /// A TLS 1.3-only server configuration with a fresh server certificate,
    /// requiring a client certificate this identity issued.
    ///
    /// # Errors
    /// A certificate or the TLS configuration could not be made.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, WebhookError> {
        let server = self.issue(
            WEBHOOK_SERVER_NAME,
            vec![WEBHOOK_SERVER_NAME.to_owned()],
            ExtendedKeyUsagePurpose::ServerAuth,
        )?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        roots.add(self.ca_certificate.clone())?;
        let clients =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
                .build()?;
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_client_cert_verifier(clients)
            .with_single_cert(
                vec![server.certificate.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server.key.serialize_der())),
            )?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// A client certificate for the API server, issued by this identity.
    ///
    /// # Errors
    /// The certificate could not be made.
    pub fn issue_client(&self, name: &str) -> Result<ClientCredential, WebhookError> {
        let issued = self.issue(name, Vec::new(), ExtendedKeyUsagePurpose::ClientAuth)?;
        Ok(ClientCredential {
            certificate_pem: issued.certificate.pem(),
            key_pem: Zeroizing::new(issued.key.serialize_pem()),
        })
    }

    /// A leaf certificate for `name` with a new key.
    fn issue(
        &self,
        name: &str,
        dns_names: Vec<String>,
        usage: ExtendedKeyUsagePurpose,
    ) -> Result<Issued, WebhookError> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::new(dns_names)?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![usage];
        let issuer = Issuer::new(ca_params(), &self.ca_key);
        let certificate = params.signed_by(&key, &issuer)?;
        Ok(Issued { certificate, key })
    }
}

/// A leaf certificate and its key.
struct Issued {
    certificate: rcgen::Certificate,
    key: KeyPair,
}

/// The CA's parameters. Issuing rebuilds them rather than parsing the
/// stored certificate: the subject and key identifier come out the same.
fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, "daas-master webhook identity");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
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
    /// `--audit-webhook-config-file`: the master's audit webhook.
    pub audit_kubeconfig: PathBuf,
    /// `--audit-policy-file`: who did what, at `Metadata` level (never a
    /// request or response body, so never a Secret's or token's value).
    pub audit_policy: PathBuf,
}

impl ApiServerFiles {
    /// Writes the three files into `dir` for a webhook listener at
    /// `base_url` (`https://HOST:PORT`) serving `tls`, with a client
    /// certificate `tls` issues for the API server (files 0600: they hold
    /// its key).
    ///
    /// # Errors
    /// A certificate cannot be issued or a file cannot be written.
    pub fn write(dir: &Path, base_url: &str, tls: &WebhookTls) -> Result<Self, WebhookError> {
        let base_url = base_url.trim_end_matches('/');
        let files = Self {
            authentication_kubeconfig: dir.join("authn-webhook.kubeconfig"),
            authorization_kubeconfig: dir.join("authz-webhook.kubeconfig"),
            authorization_config: dir.join("authorization-config.yaml"),
            audit_kubeconfig: dir.join("audit-webhook.kubeconfig"),
            audit_policy: dir.join("audit-policy.yaml"),
        };
        let client = tls.issue_client(API_SERVER_CLIENT_NAME)?;
        let credentials = KubeconfigCredentials {
            ca: base64_pem(tls.certificate_pem()),
            client_certificate: base64_pem(&client.certificate_pem),
            client_key: Zeroizing::new(base64_pem(&client.key_pem)),
        };
        for (file, path) in [
            (&files.authentication_kubeconfig, AUTHENTICATE_PATH),
            (&files.authorization_kubeconfig, AUTHORIZE_PATH),
            (&files.audit_kubeconfig, AUDIT_PATH),
        ] {
            let kubeconfig = credentials.kubeconfig(&format!("{base_url}{path}"));
            write_private(file, kubeconfig.as_bytes())?;
        }
        write_private(
            &files.authorization_config,
            authorization_config(&files.authorization_kubeconfig).as_bytes(),
        )?;
        write_private(&files.audit_policy, AUDIT_POLICY.as_bytes())?;
        Ok(files)
    }
}

fn base64_pem(pem: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(pem)
}

/// What a webhook kubeconfig carries, base64: the identity's CA, and the
/// API server's client certificate and key.
struct KubeconfigCredentials {
    ca: String,
    client_certificate: String,
    client_key: Zeroizing<String>,
}

impl KubeconfigCredentials {
    /// A kubeconfig naming one webhook URL, trusting only the webhook
    /// identity, checked against [`WEBHOOK_SERVER_NAME`], and presenting
    /// the client certificate.
    fn kubeconfig(&self, url: &str) -> Zeroizing<String> {
        let Self {
            ca,
            client_certificate,
            client_key,
        } = self;
        Zeroizing::new(format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: daas-master\n  cluster:\n    \
             server: {url}\n    certificate-authority-data: {ca}\n    \
             tls-server-name: {WEBHOOK_SERVER_NAME}\nusers:\n- name: kube-apiserver\n  user:\n    \
             client-certificate-data: {client_certificate}\n    \
             client-key-data: {}\n\
             contexts:\n- name: webhook\n  context:\n    cluster: daas-master\n    user: kube-apiserver\n\
             current-context: webhook\n",
            client_key.as_str()
        ))
    }
}

fn authorization_config(kubeconfig: &Path) -> String {
    let ttl = AUTHORIZATION_CACHE_TTL.as_millis();
    format!(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: AuthorizationConfiguration\nauthorizers:\n\
         - type: Node\n  name: node\n\
         - type: Webhook\n  name: k3s-daas\n  webhook:\n    timeout: 3s\n    \
         subjectAccessReviewVersion: v1\n    matchConditionSubjectAccessReviewVersion: v1\n    \
         failurePolicy: Deny\n    authorizedTTL: {ttl}ms\n    unauthorizedTTL: {ttl}ms\n    \
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

    use axum::Router;
    use axum::routing::post;
    use base64::Engine as _;
    use rustls::pki_types::ServerName;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;
    use crate::endpoint::{Endpoint, Listener};
    use crate::serve::{ServeOptions, serve_tls};

    #[test]
    fn the_identity_survives_a_restart_and_the_key_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let first = WebhookTls::load_or_create(dir.path()).unwrap();
        let second = WebhookTls::load_or_create(dir.path()).unwrap();
        assert_eq!(first.certificate_pem(), second.certificate_pem());
        assert!(second.server_config().is_ok());
        let mode = fs::metadata(dir.path().join(CA_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_corrupt_or_half_identity_is_named_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        WebhookTls::load_or_create(dir.path()).unwrap();
        fs::write(dir.path().join(CA_KEY_FILE), "not a key").unwrap();
        let error = WebhookTls::load_or_create(dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(CA_KEY_FILE) && error.contains("private key"),
            "{error}"
        );
        assert_eq!(
            fs::read_to_string(dir.path().join(CA_KEY_FILE)).unwrap(),
            "not a key"
        );

        // Another identity's key beside this certificate.
        let other = tempfile::tempdir().unwrap();
        WebhookTls::load_or_create(other.path()).unwrap();
        fs::copy(other.path().join(CA_KEY_FILE), dir.path().join(CA_KEY_FILE)).unwrap();
        let error = WebhookTls::load_or_create(dir.path())
            .unwrap_err()
            .to_string();
        assert!(error.contains("key of the certificate"), "{error}");

        fs::remove_file(dir.path().join(CA_KEY_FILE)).unwrap();
        let error = WebhookTls::load_or_create(dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(CA_KEY_FILE) && error.contains("missing"),
            "{error}"
        );
    }

    /// The value of `key:` in a kubeconfig, base64-decoded.
    fn kubeconfig_value(kubeconfig: &str, key: &str) -> String {
        let line = kubeconfig
            .lines()
            .find_map(|line| line.trim().strip_prefix(&format!("{key}: ")))
            .unwrap_or_else(|| panic!("no {key} in {kubeconfig}"));
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(line)
            .unwrap();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn apiserver_files_name_the_webhooks_and_carry_a_client_certificate() {
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
        assert_eq!(
            kubeconfig_value(&authn, "certificate-authority-data"),
            tls.certificate_pem()
        );
        assert!(kubeconfig_value(&authn, "client-certificate-data").contains("CERTIFICATE"));
        assert!(kubeconfig_value(&authn, "client-key-data").contains("PRIVATE KEY"));
        let authz = fs::read_to_string(&files.authorization_config).unwrap();
        assert!(authz.contains("request.user.startsWith('sui:')"), "{authz}");
        assert!(authz.contains("failurePolicy: Deny"), "{authz}");
        assert!(authz.contains("authorizedTTL: 250ms"), "{authz}");
        assert!(authz.contains(&files.authorization_kubeconfig.display().to_string()));
        for file in [
            &files.authentication_kubeconfig,
            &files.authorization_kubeconfig,
        ] {
            let mode = fs::metadata(file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", file.display());
        }
    }

    /// Serves a webhook stand-in under `tls` on loopback; returns its port.
    async fn serve_webhooks(tls: &WebhookTls) -> u16 {
        let listener = Listener::bind(&Endpoint::Tcp("127.0.0.1:0".to_owned()))
            .await
            .unwrap();
        let port = listener.tcp_addr().unwrap().port();
        let app = Router::new().route(AUTHENTICATE_PATH, post(|| async { "reviewed" }));
        tokio::spawn(serve_tls(
            listener,
            tls.server_config().unwrap(),
            app,
            ServeOptions::new("webhooks"),
            std::future::pending(),
        ));
        port
    }

    /// POSTs to `/authenticate` trusting `tls`'s CA, presenting `client`;
    /// returns the response text or the error.
    async fn call(
        port: u16,
        tls: &WebhookTls,
        client: Option<&ClientCredential>,
    ) -> Result<String, std::io::Error> {
        let mut roots = RootCertStore::empty();
        roots.add(tls.ca_certificate.clone()).unwrap();
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots);
        let config = match client {
            Some(client) => builder
                .with_client_auth_cert(
                    vec![
                        CertificateDer::from_pem_slice(client.certificate_pem.as_bytes()).unwrap(),
                    ],
                    PrivateKeyDer::from_pem_slice(client.key_pem.as_bytes()).unwrap(),
                )
                .unwrap(),
            None => builder.with_no_client_auth(),
        };
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        let name = ServerName::try_from(WEBHOOK_SERVER_NAME).unwrap();
        let mut stream = connector.connect(name, tcp).await?;
        stream
            .write_all(
                b"POST /authenticate HTTP/1.1\r\nhost: webhook\r\ncontent-length: 0\r\n\
                  connection: close\r\n\r\n",
            )
            .await?;
        let mut response = String::new();
        stream.read_to_string(&mut response).await?;
        Ok(response)
    }

    #[tokio::test]
    async fn only_clients_with_the_identitys_certificate_get_through() {
        let dir = tempfile::tempdir().unwrap();
        let tls = WebhookTls::load_or_create(dir.path()).unwrap();
        let port = serve_webhooks(&tls).await;

        let issued = tls.issue_client(API_SERVER_CLIENT_NAME).unwrap();
        let answer = call(port, &tls, Some(&issued)).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("reviewed"), "{answer}");

        // No certificate: refused in the TLS handshake, no HTTP answer.
        let refused = call(port, &tls, None).await.unwrap_err().to_string();
        assert!(refused.contains("CertificateRequired"), "{refused}");

        // A certificate another identity issued: refused the same way.
        let elsewhere = tempfile::tempdir().unwrap();
        let stranger = WebhookTls::load_or_create(elsewhere.path())
            .unwrap()
            .issue_client(API_SERVER_CLIENT_NAME)
            .unwrap();
        let refused = call(port, &tls, Some(&stranger))
            .await
            .unwrap_err()
            .to_string();
        assert!(refused.contains("alert"), "{refused}");

        // A server certificate of this identity is no client certificate.
        let server = tls
            .issue(
                WEBHOOK_SERVER_NAME,
                vec![WEBHOOK_SERVER_NAME.to_owned()],
                ExtendedKeyUsagePurpose::ServerAuth,
            )
            .unwrap();
        let as_client = ClientCredential {
            certificate_pem: server.certificate.pem(),
            key_pem: Zeroizing::new(server.key.serialize_pem()),
        };
        let refused = call(port, &tls, Some(&as_client))
            .await
            .unwrap_err()
            .to_string();
        assert!(refused.contains("alert"), "{refused}");
    }
}
