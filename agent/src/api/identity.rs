//! The agent's TLS key: generated once, kept owner-only (0600) in its data
//! directory, and served with a self-signed certificate over TLS 1.3 only.
//! Clients trust it by the SHA-256 of its SubjectPublicKeyInfo, which the
//! agent reports to the attested master; names and dates do not matter.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use daas_core::attested::tls::certificate_spki_sha256;
use daas_core::private_file::{self, PrivateFileError};
use rcgen::{CertificateParams, DnType, KeyPair, PKCS_ECDSA_P256_SHA256};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

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
    /// The key file does not hold a PKCS#8 PEM key.
    #[error("{path} does not hold the agent's PEM key: {reason}")]
    BadKey {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The certificate could not be made or read.
    #[error("cannot make the agent's TLS certificate: {0}")]
    Certificate(String),
    /// rustls refused the configuration.
    #[error("cannot configure TLS 1.3: {0}")]
    Tls(#[from] rustls::Error),
}

/// The agent's TLS key and certificate.
pub struct AgentIdentity {
    key: KeyPair,
    certificate: CertificateDer<'static>,
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
            key,
            certificate,
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
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.serialize_der()));
        let mut config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_protocol_versions(&[&rustls::version::TLS13])?
                .with_no_client_auth()
                .with_single_cert(vec![self.certificate.clone()], key)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
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
}
