//! The agent's TLS key: generated once, kept owner-only (0600) in its data
//! directory, and served with a self-signed certificate over TLS 1.3 only;
//! or the operator's certificate and key (`security.tls_cert`/`tls_key`),
//! the key file owner-only too. Clients trust it by the SHA-256 of its
//! SubjectPublicKeyInfo, which the agent reports to the attested master;
//! names and dates do not matter.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use daas_core::attested::tls::certificate_spki_sha256;
use daas_core::private_file::{self, PrivateFileError};
use rcgen::{CertificateParams, DnType, KeyPair, PKCS_ECDSA_P256_SHA256};
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest as _, Sha256};

/// The key's file name in the data directory.
pub const KEY_FILE: &str = "agent-api-key.pem";

/// Why the key could not be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// The key file could not be read or written.
    #[error(transparent)]
    File(#[from] PrivateFileError),
    /// The key file is readable by others than its owner.
    #[error("{path} is readable by others (mode {mode:o}); it must be 0600")]
    Exposed {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The key file does not hold a usable PEM private key.
    #[error("{path} does not hold the agent's PEM key: {reason}")]
    BadKey {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The certificate could not be made.
    #[error("cannot make the agent's TLS certificate: {0}")]
    Certificate(String),
    /// The configured certificate file does not hold a PEM certificate.
    #[error("{path} does not hold a PEM certificate: {reason}")]
    BadCertificate {
        /// The certificate file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The configured key is not the key of the configured certificate.
    #[error("the key {key} is not the key of the certificate {certificate}")]
    KeyMismatch {
        /// The certificate file.
        certificate: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// rustls refused the configuration.
    #[error("cannot configure TLS 1.3: {0}")]
    Tls(#[from] rustls::Error),
}

/// The agent's TLS key and certificate chain.
pub struct AgentIdentity {
    key: PrivateKeyDer<'static>,
    chain: Vec<CertificateDer<'static>>,
    spki_sha256: [u8; 32],
}

impl std::fmt::Debug for AgentIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentIdentity")
            .field("spki_sha256", &self.spki_sha256_hex())
            .finish_non_exhaustive()
    }
}

impl AgentIdentity {
    /// The key in `data_dir`/[`KEY_FILE`], generated and written 0600 the
    /// first time. An existing file that others may read is refused, not
    /// silently fixed: the key may have leaked.
    ///
    /// # Errors
    /// [`IdentityError`] naming the file and the problem.
    pub fn load_or_generate(data_dir: &Path) -> Result<Self, IdentityError> {
        let path = data_dir.join(KEY_FILE);
        let key = match private_file::read_if_exists(&path)? {
            Some(pem) => {
                check_owner_only(&path)?;
                let pem = String::from_utf8(pem).map_err(|_| bad_key(&path, "not UTF-8"))?;
                KeyPair::from_pem(&pem).map_err(|e| bad_key(&path, &e.to_string()))?
            }
            None => {
                let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
                    .map_err(|e| IdentityError::Certificate(e.to_string()))?;
                private_file::write_atomic(&path, key.serialize_pem().as_bytes())?;
                key
            }
        };
        Self::from_key(key)
    }

    /// The operator's certificate (PEM, leaf first, the chain may follow)
    /// and private key (PEM: PKCS#8, SEC1 or PKCS#1), as configured by
    /// `security.tls_cert` and `security.tls_key`. A key file that others
    /// may read is refused, as is a key that is not the certificate's.
    ///
    /// # Errors
    /// [`IdentityError`] naming the file and the problem.
    pub fn from_files(certificate: &Path, key: &Path) -> Result<Self, IdentityError> {
        check_owner_only(key)?;
        let key_pem = read(key)?;
        let private = PrivateKeyDer::from_pem_slice(&key_pem)
            .map_err(|e| bad_key(key, &format!("no private key ({e})")))?;
        let bad_certificate = |reason: String| IdentityError::BadCertificate {
            path: certificate.to_owned(),
            reason,
        };
        let chain = CertificateDer::pem_slice_iter(&read(certificate)?)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad_certificate(e.to_string()))?;
        let leaf = chain
            .first()
            .ok_or_else(|| bad_certificate("no certificate in it".to_owned()))?;
        let spki_sha256 =
            certificate_spki_sha256(leaf).map_err(|e| bad_certificate(e.to_string()))?;
        let signing = provider()
            .key_provider
            .load_private_key(private.clone_key())
            .map_err(|e| bad_key(key, &e.to_string()))?;
        let public = signing
            .public_key()
            .ok_or_else(|| bad_key(key, "its public key is unknown"))?;
        if <[u8; 32]>::from(Sha256::digest(public.as_ref())) != spki_sha256 {
            return Err(IdentityError::KeyMismatch {
                certificate: certificate.to_owned(),
                key: key.to_owned(),
            });
        }
        Ok(Self {
            key: private,
            chain,
            spki_sha256,
        })
    }

    fn from_key(key: KeyPair) -> Result<Self, IdentityError> {
        let certificate = || -> Result<_, rcgen::Error> {
            let mut params = CertificateParams::new(vec!["daas-agent".to_owned()])?;
            params
                .distinguished_name
                .push(DnType::CommonName, "daas-agent (pinned by key)");
            params.self_signed(&key)
        };
        let certificate = certificate()
            .map_err(|e| IdentityError::Certificate(e.to_string()))?
            .der()
            .clone();
        let spki_sha256 = certificate_spki_sha256(&certificate)
            .map_err(|e| IdentityError::Certificate(e.to_string()))?;
        Ok(Self {
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            chain: vec![certificate],
            spki_sha256,
        })
    }

    /// SHA-256 of the certificate's DER SubjectPublicKeyInfo.
    pub fn spki_sha256(&self) -> [u8; 32] {
        self.spki_sha256
    }

    /// [`Self::spki_sha256`] in hex, as reported to the master.
    pub fn spki_sha256_hex(&self) -> String {
        hex::encode(self.spki_sha256)
    }

    /// A TLS 1.3-only server configuration (ring) serving the certificate.
    ///
    /// # Errors
    /// rustls refused the key.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, IdentityError> {
        let mut config = ServerConfig::builder_with_provider(Arc::new(provider()))
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// The crypto of the local API's TLS (ring, as everywhere in the agent).
fn provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// The bytes of a configured file.
fn read(path: &Path) -> Result<Vec<u8>, IdentityError> {
    std::fs::read(path).map_err(|source| {
        PrivateFileError {
            action: "cannot read",
            path: path.to_owned(),
            source,
        }
        .into()
    })
}

fn bad_key(path: &Path, reason: &str) -> IdentityError {
    IdentityError::BadKey {
        path: path.to_owned(),
        reason: reason.to_owned(),
    }
}

#[cfg(unix)]
fn check_owner_only(path: &Path) -> Result<(), IdentityError> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path)
        .map_err(|source| PrivateFileError {
            action: "cannot stat",
            path: path.to_owned(),
            source,
        })?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 == 0 {
        Ok(())
    } else {
        Err(IdentityError::Exposed {
            path: path.to_owned(),
            mode,
        })
    }
}

#[cfg(not(unix))]
fn check_owner_only(_path: &Path) -> Result<(), IdentityError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn the_key_is_made_once_kept_0600_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = AgentIdentity::load_or_generate(dir.path()).unwrap();
        let path = dir.path().join(KEY_FILE);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = AgentIdentity::load_or_generate(dir.path()).unwrap();
        assert_eq!(first.spki_sha256(), again.spki_sha256());
        assert!(!format!("{first:?}").contains("PRIVATE"));
    }

    #[test]
    fn an_exposed_or_garbled_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        AgentIdentity::load_or_generate(dir.path()).unwrap();
        let path = dir.path().join(KEY_FILE);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = AgentIdentity::load_or_generate(dir.path()).unwrap_err();
        assert!(error.to_string().contains("must be 0600"), "{error}");
        std::fs::write(&path, "not a key").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let error = AgentIdentity::load_or_generate(dir.path()).unwrap_err();
        assert!(error.to_string().contains("PEM key"), "{error}");
    }

    /// A self-signed certificate and its key, written as an operator
    /// would: the key 0600.
    fn operator_files(dir: &Path, name: &str) -> (PathBuf, PathBuf, [u8; 32]) {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let certificate = CertificateParams::new(vec![format!("{name}.example")])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let spki = certificate_spki_sha256(certificate.der()).unwrap();
        let cert_path = dir.join(format!("{name}.crt"));
        let key_path = dir.join(format!("{name}.key"));
        std::fs::write(&cert_path, certificate.pem()).unwrap();
        private_file::write_atomic(&key_path, key.serialize_pem().as_bytes()).unwrap();
        (cert_path, key_path, spki)
    }

    #[test]
    fn the_operator_s_certificate_and_key_are_served() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key, spki) = operator_files(dir.path(), "agent");
        let identity = AgentIdentity::from_files(&cert, &key).unwrap();
        assert_eq!(identity.spki_sha256(), spki);
        identity.server_config().unwrap();
        // Nothing was generated in its place.
        assert!(!dir.path().join(KEY_FILE).exists());
    }

    #[test]
    fn bad_operator_files_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key, _) = operator_files(dir.path(), "agent");
        let (other_cert, _, _) = operator_files(dir.path(), "other");
        let refused = |cert: &Path, key: &Path, needle: &str| {
            let error = AgentIdentity::from_files(cert, key)
                .unwrap_err()
                .to_string();
            assert!(error.contains(needle), "{error}");
        };
        // A key of another certificate.
        refused(&other_cert, &key, "is not the key of the certificate");
        // Missing files, named.
        let missing = dir.path().join("missing.pem");
        refused(&cert, &missing, "missing.pem");
        refused(&missing, &key, "missing.pem");
        // A key that others may read.
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
        refused(&cert, &key, "must be 0600");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        // Garbage in either file; the certificate swapped for the key.
        let garbage = dir.path().join("garbage.pem");
        private_file::write_atomic(&garbage, b"not pem").unwrap();
        refused(&cert, &garbage, "does not hold the agent's PEM key");
        refused(&garbage, &key, "does not hold a PEM certificate");
        refused(&key, &key, "does not hold a PEM certificate");
    }
}
