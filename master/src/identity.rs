//! The master's boot-time keys: an Ed25519 signing key (the attested
//! `public_key`, which signs results) and a TLS key with a self-signed
//! certificate (bound by the attested `user_data`). Both live in memory
//! only and die with the process; a restarted master is re-attested.

use std::fmt;
use std::sync::Arc;

use ed25519_dalek::SigningKey;
use rcgen::{CertificateParams, DnType, KeyPair, PKCS_ECDSA_P256_SHA256};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Why the boot-time keys could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// The TLS certificate could not be made.
    #[error("cannot make the TLS certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    /// The certificate just made cannot be parsed.
    #[error("cannot read the TLS certificate's public key: {0}")]
    Spki(#[from] der::Error),
    /// The TLS server configuration was refused.
    #[error("cannot configure TLS 1.3: {0}")]
    Tls(#[from] rustls::Error),
}

/// The master's keys for this boot.
pub struct MasterIdentity {
    signing_key: SigningKey,
    tls_certificate: CertificateDer<'static>,
    tls_key: KeyPair,
    tls_spki_sha256: [u8; 32],
}

impl fmt::Debug for MasterIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterIdentity")
            .field("signing_public_key", &self.signing_public_key_hex())
            .field("tls_spki_sha256", &hex::encode(self.tls_spki_sha256))
            .finish_non_exhaustive()
    }
}

impl MasterIdentity {
    /// Makes fresh keys.
    ///
    /// # Errors
    /// Why the certificate could not be made.
    pub fn generate() -> Result<Self, IdentityError> {
        let signing_key = SigningKey::generate(&mut rand::rngs::OsRng);
        let tls_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::new(vec!["daas-master".to_owned()])?;
        params
            .distinguished_name
            .push(DnType::CommonName, "daas-master (attested TLS key)");
        let certificate = params.self_signed(&tls_key)?;
        let tls_certificate = certificate.der().clone();
        let tls_spki_sha256 = daas_core::attested::tls::certificate_spki_sha256(&tls_certificate)?;
        Ok(Self {
            signing_key,
            tls_certificate,
            tls_key,
            tls_spki_sha256,
        })
    }

    /// The Ed25519 key that signs results.
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing_key
    }

    /// The Ed25519 public key (32 bytes): the documents' `public_key`.
    pub fn signing_public_key(&self) -> [u8; 32] {
        self.signing_key.verifying_key().to_bytes()
    }

    /// The Ed25519 public key, hex.
    pub fn signing_public_key_hex(&self) -> String {
        hex::encode(self.signing_public_key())
    }

    /// SHA-256 of the TLS certificate's DER SubjectPublicKeyInfo: the
    /// documents' `user_data`.
    pub fn tls_spki_sha256(&self) -> [u8; 32] {
        self.tls_spki_sha256
    }

    /// The TLS certificate (DER).
    pub fn tls_certificate(&self) -> &CertificateDer<'static> {
        &self.tls_certificate
    }

    /// A TLS 1.3-only server configuration (ring) serving the certificate.
    ///
    /// # Errors
    /// A rustls error if the key is refused.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, IdentityError> {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.tls_key.serialize_der()));
        let mut config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_protocol_versions(&[&rustls::version::TLS13])?
                .with_no_client_auth()
                .with_single_cert(vec![self.tls_certificate.clone()], key)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        // Stateless TLS 1.3 session tickets under a key that lives and dies
        // with this process: agents reconnecting every heartbeat resume
        // without a certificate signature, and a resumed session is as
        // bound to this master as the attested handshake that made it.
        config.ticketer = rustls::crypto::ring::Ticketer::new()?;
        Ok(Arc::new(config))
    }
}
