//! rustls configuration for talking to an attested master: TLS 1.3 only,
//! ring, and a certificate verifier that trusts no CA but exactly one
//! SubjectPublicKeyInfo.
//!
//! The master serves a self-signed certificate; what makes its key
//! trustworthy is that its attestation document's `user_data` is the
//! SHA-256 of that certificate's DER SubjectPublicKeyInfo. A
//! [`ServerKeyVerifier`] therefore ignores names, issuers and validity
//! dates, and compares only the key:
//!
//! - [`ServerKeyVerifier::capture`] (first connection, before the document
//!   is verified) accepts the first key it sees and records it, and refuses
//!   any other key afterwards, so the attestation request and the recorded
//!   key belong to the same server;
//! - [`ServerKeyVerifier::pinned`] accepts only the attested key.
//!
//! In both modes the TLS 1.3 `CertificateVerify` signature is checked with
//! the certificate's key, which proves the server holds the private key.

use std::fmt;
use std::sync::{Arc, Mutex};

use der::{Decode, Encode};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};
use x509_cert::Certificate;

/// The crypto provider every attested connection uses (ring).
pub fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The DER SubjectPublicKeyInfo of a DER certificate.
///
/// # Errors
/// The DER error if the certificate cannot be parsed.
pub fn certificate_spki(certificate_der: &[u8]) -> Result<Vec<u8>, der::Error> {
    let certificate = Certificate::from_der(certificate_der)?;
    certificate.tbs_certificate.subject_public_key_info.to_der()
}

/// SHA-256 of the DER SubjectPublicKeyInfo of a DER certificate: what the
/// master puts in its documents' `user_data`.
///
/// # Errors
/// The DER error if the certificate cannot be parsed.
pub fn certificate_spki_sha256(certificate_der: &[u8]) -> Result<[u8; 32], der::Error> {
    certificate_spki(certificate_der).map(|spki| Sha256::digest(spki).into())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Capture,
    Pinned([u8; 32]),
}

/// A rustls server certificate verifier that accepts exactly one key (see
/// the module docs).
pub struct ServerKeyVerifier {
    mode: Mode,
    provider: Arc<CryptoProvider>,
    accepted: Mutex<Option<[u8; 32]>>,
    rejected: Mutex<Option<[u8; 32]>>,
}

impl fmt::Debug for ServerKeyVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerKeyVerifier")
            .field("mode", &self.mode)
            .field("accepted", &self.accepted())
            .field("rejected", &self.rejected())
            .finish()
    }
}

impl ServerKeyVerifier {
    /// Accepts the first key presented, records it, and refuses any other
    /// key afterwards. For the attestation request, before the key is
    /// proven.
    pub fn capture() -> Arc<Self> {
        Arc::new(Self::new(Mode::Capture))
    }

    /// Accepts only the key whose DER SubjectPublicKeyInfo hashes
    /// (SHA-256) to `spki_sha256`.
    pub fn pinned(spki_sha256: [u8; 32]) -> Arc<Self> {
        Arc::new(Self::new(Mode::Pinned(spki_sha256)))
    }

    fn new(mode: Mode) -> Self {
        Self {
            mode,
            provider: crypto_provider(),
            accepted: Mutex::new(match mode {
                Mode::Capture => None,
                Mode::Pinned(key) => Some(key),
            }),
            rejected: Mutex::new(None),
        }
    }

    /// SHA-256 of the SubjectPublicKeyInfo accepted: the captured one, or
    /// the pinned one.
    pub fn accepted(&self) -> Option<[u8; 32]> {
        self.accepted.lock().map(|slot| *slot).unwrap_or(None)
    }

    /// SHA-256 of the last SubjectPublicKeyInfo refused, if any: a server
    /// presented a key other than the accepted one.
    pub fn rejected(&self) -> Option<[u8; 32]> {
        self.rejected.lock().map(|slot| *slot).unwrap_or(None)
    }

    fn refuse(&self, presented: [u8; 32]) -> rustls::Error {
        if let Ok(mut slot) = self.rejected.lock() {
            *slot = Some(presented);
        }
        rustls::Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure)
    }
}

impl ServerCertVerifier for ServerKeyVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = certificate_spki_sha256(end_entity)
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
        let mut accepted = self
            .accepted
            .lock()
            .map_err(|_| rustls::Error::General("server key verifier lock poisoned".into()))?;
        match *accepted {
            Some(key) if key == presented => Ok(ServerCertVerified::assertion()),
            Some(_) => {
                drop(accepted);
                Err(self.refuse(presented))
            }
            None => {
                // Only capture mode starts empty.
                *accepted = Some(presented);
                Ok(ServerCertVerified::assertion())
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // Unreachable with a TLS 1.3-only config; verified properly anyway.
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A TLS 1.3-only client config (ring) whose only trust decision is
/// `verifier`.
///
/// # Errors
/// A rustls error if the provider does not support TLS 1.3 (never with
/// ring).
pub fn client_config(verifier: Arc<ServerKeyVerifier>) -> Result<ClientConfig, rustls::Error> {
    let mut config = ClientConfig::builder_with_provider(crypto_provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
