//! The Nitro Secure Module provider, inside an AWS Nitro Enclave.
//!
//! Uses the safe API of `aws-nitro-enclaves-nsm-api`: `nsm_init` opens
//! `/dev/nsm`, `nsm_process_request(Request::Attestation { .. })` returns
//! the COSE_Sign1 document, `nsm_exit` closes it. This cannot run outside
//! an enclave, so no test here exercises it; the documents it returns are
//! checked by the same verifier as the dev provider's.

use aws_nitro_enclaves_nsm_api::api::{Request, Response};
use aws_nitro_enclaves_nsm_api::driver::{nsm_exit, nsm_init, nsm_process_request};
use daas_core::api::attestation::TeeType;
use serde_bytes::ByteBuf;

use super::{AttestationProvider, ProviderError};

/// The NSM device of a Nitro Enclave.
pub const NSM_DEVICE: &str = "/dev/nsm";

/// An open NSM device.
#[derive(Debug)]
pub struct NitroProvider {
    fd: i32,
}

impl NitroProvider {
    /// Opens the NSM.
    ///
    /// # Errors
    /// [`ProviderError::NsmMissing`] without `/dev/nsm`,
    /// [`ProviderError::NsmOpen`] if it cannot be opened.
    pub fn open() -> Result<Self, ProviderError> {
        if !std::path::Path::new(NSM_DEVICE).exists() {
            return Err(ProviderError::NsmMissing {
                path: NSM_DEVICE.into(),
            });
        }
        let fd = nsm_init();
        if fd < 0 {
            return Err(ProviderError::NsmOpen { fd });
        }
        tracing::info!("Nitro Secure Module opened: hardware attestation (AWS_NITRO)");
        Ok(Self { fd })
    }
}

impl Drop for NitroProvider {
    fn drop(&mut self) {
        nsm_exit(self.fd);
    }
}

impl AttestationProvider for NitroProvider {
    fn attest(
        &self,
        nonce: Option<&[u8]>,
        public_key: &[u8],
        user_data: &[u8],
    ) -> Result<Vec<u8>, ProviderError> {
        let request = Request::Attestation {
            nonce: nonce.map(|nonce| ByteBuf::from(nonce.to_vec())),
            public_key: Some(ByteBuf::from(public_key.to_vec())),
            user_data: Some(ByteBuf::from(user_data.to_vec())),
        };
        match nsm_process_request(self.fd, request) {
            Response::Attestation { document } => Ok(document),
            Response::Error(code) => Err(ProviderError::Nsm {
                reason: format!("{code:?}"),
            }),
            other => Err(ProviderError::Nsm {
                reason: format!("unexpected answer {other:?}"),
            }),
        }
    }

    fn tee_type(&self) -> TeeType {
        TeeType::AwsNitro
    }
}
