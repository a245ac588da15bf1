//! Verification of AWS Nitro Enclaves attestation documents.
//!
//! A client (agent, console) that talks to an enclave-hosted master checks
//! its attestation document before trusting the keys in it:
//!
//! 1. the COSE_Sign1 envelope, tagged (18) or untagged, with an ES384
//!    protected header and a raw 96-byte r||s signature ([`cose`]);
//! 2. the document fields, decoded strictly ([`document`]);
//! 3. the certificate chain `cabundle[0] → … → certificate` up to a trusted
//!    root, every certificate valid at the verification time ([`chain`]);
//! 4. the signature over `["Signature1", protected, h'', payload]` with the
//!    leaf certificate's P-384 key;
//! 5. the [`Policy`]: nonce, maximum age, debug PCRs, expected PCRs.
//!
//! The result is a [`VerifiedAttestation`], which only [`verify`] builds.
//!
//! # Roots: AWS and development
//!
//! [`TrustRoots`] says which roots are accepted. Production uses
//! [`TrustRoots::aws`]: the AWS Nitro Enclaves Root G1, embedded in the
//! crate and pinned by its SHA-256 fingerprint
//! ([`AWS_NITRO_ROOT_G1_SHA256`]). On machines without Nitro, the dev
//! attestation provider makes a self-signed P-384 CA, a leaf under it, and
//! Nitro-format documents signed with the leaf key
//! ([`UnsignedDocument::sign`]); clients accept them only when the operator
//! explicitly allowed insecure development attestation and the dev root was
//! put in [`TrustRoots::dev`]. [`VerifiedAttestation::is_dev`] then says so.
//!
//! ```no_run
//! use std::time::SystemTime;
//! use daas_core::attestation::{verify, PcrPolicy, Policy, TrustRoots};
//!
//! # fn run(bytes: &[u8], nonce: &[u8], expected: daas_core::attestation::ExpectedPcrs)
//! #     -> Result<(), daas_core::attestation::AttestationError> {
//! let policy = Policy::new(PcrPolicy::Expect(expected)).with_nonce(nonce.to_vec());
//! let verified = verify(bytes, &TrustRoots::aws(), &policy, SystemTime::now())?;
//! println!("enclave {} attested", verified.module_id());
//! # Ok(()) }
//! ```

mod cbor;
pub mod chain;
pub mod cose;
pub mod document;
mod error;
pub mod file_format;
pub mod policy;
mod signature;
mod verify;

pub use cbor::CborProblem;
pub use chain::{
    AWS_NITRO_ROOT_G1_PEM, AWS_NITRO_ROOT_G1_SHA256, DevRoot, RootKind, TrustRoots,
    aws_nitro_root_der,
};
pub use cose::sign_es384;
pub use document::{AttestationDocument, Pcr, Pcrs, UnsignedDocument};
pub use error::{AttestationError, CertificateRole, DocumentFileError};
pub use file_format::{FileEncoding, decode_document_file};
pub use policy::{ExpectedPcrs, PcrConfigError, PcrPolicy, Policy};
pub use verify::{MAX_DOCUMENT_LEN, VerifiedAttestation, Verifier, parse_unverified, verify};
