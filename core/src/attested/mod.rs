//! Authenticated HTTPS to an attested master, used by the agent and the
//! console.
//!
//! No certificate authority is trusted. The client asks the master for an
//! attestation document with a fresh nonce, verifies it
//! ([`crate::attestation::verify`]: roots, signature, nonce, PCRs), checks
//! that the document's `user_data` is the SHA-256 of the SubjectPublicKeyInfo
//! of the TLS certificate the master presented, and from then on talks only
//! to that key ([`tls::ServerKeyVerifier`]), over TLS 1.3.
//!
//! ```no_run
//! use daas_core::attestation::{PcrPolicy, TrustRoots};
//! use daas_core::attested::{AttestedClient, AttestedClientConfig};
//!
//! # async fn run(expected: daas_core::attestation::ExpectedPcrs) -> Result<(), daas_core::attested::AttestedError> {
//! let config = AttestedClientConfig::new(TrustRoots::aws(), PcrPolicy::Expect(expected));
//! let client = AttestedClient::new("https://master.example:8443", config)?;
//! let master = client.master().await?;
//! println!("master signing key {}", hex::encode(master.signing_key().as_bytes()));
//! let context = client.security_context().await?;
//! # let _ = context; Ok(()) }
//! ```

mod client;
mod error;
pub mod tls;

pub use client::{
    AttestedClient, AttestedClientConfig, AttestedMaster, DEFAULT_REATTEST_INTERVAL,
    DEFAULT_REQUEST_TIMEOUT, MAX_RESPONSE_LEN, NONCE_LEN, RawResponse, Request,
};
pub use error::AttestedError;
pub use reqwest::Method;
