//! Attestation providers: who signs the master's attestation documents.
//!
//! - [`nitro::NitroProvider`] asks the Nitro Secure Module (`/dev/nsm`)
//!   inside an AWS Nitro Enclave;
//! - [`dev::DevProvider`] signs Nitro-format documents with a local root
//!   kept in the state dir, for machines without Nitro. It is **insecure**:
//!   whoever can read the state dir can forge documents, and its PCRs only
//!   measure the master binary. It says so everywhere it shows.

pub mod dev;
pub mod nitro;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use daas_core::api::attestation::TeeType;

/// Something that makes attestation documents (COSE_Sign1, Nitro format).
pub trait AttestationProvider: Send + Sync + std::fmt::Debug {
    /// A document binding `nonce` (the client's), `public_key` (the
    /// master's Ed25519 key) and `user_data` (SHA-256 of the TLS SPKI).
    ///
    /// # Errors
    /// Why the document could not be made.
    fn attest(
        &self,
        nonce: Option<&[u8]>,
        public_key: &[u8],
        user_data: &[u8],
    ) -> Result<Vec<u8>, ProviderError>;

    /// Which TEE this is.
    fn tee_type(&self) -> TeeType;

    /// Whether the documents give no hardware guarantee.
    fn is_insecure(&self) -> bool {
        self.tee_type().is_insecure()
    }
}

/// Why an attestation provider could not start or attest.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// `--attestation nitro` on a machine without `/dev/nsm`.
    #[error("Nitro attestation requested but {path} does not exist (not inside a Nitro Enclave)")]
    NsmMissing {
        /// The device path.
        path: PathBuf,
    },
    /// The NSM device could not be opened.
    #[error("cannot open the Nitro Secure Module (nsm_init returned {fd})")]
    NsmOpen {
        /// The value returned.
        fd: i32,
    },
    /// The NSM refused or failed the request.
    #[error("the Nitro Secure Module refused the attestation request: {reason}")]
    Nsm {
        /// What the NSM answered.
        reason: String,
    },
    /// The state dir or a file in it could not be used.
    #[error("state file {path}: {source}")]
    StateFile {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A stored dev root is unusable.
    #[error("dev root in {path} is unusable: {reason}")]
    DevRoot {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A certificate could not be made.
    #[error("cannot make the dev certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    /// The running binary could not be measured.
    #[error("cannot measure the running binary {path}: {source}")]
    Measure {
        /// The binary.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A key could not be converted.
    #[error("dev key: {reason}")]
    Key {
        /// What is wrong.
        reason: String,
    },
    /// The provider made a document the master cannot parse.
    #[error("the attestation provider made an unreadable document: {0}")]
    Document(#[from] daas_core::attestation::AttestationError),
}

/// Which provider to use (`--attestation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AttestationMode {
    /// Nitro when `/dev/nsm` exists, otherwise dev (insecure).
    #[default]
    Auto,
    /// The NSM; refuse to start without it.
    Nitro,
    /// The insecure dev provider.
    Dev,
}

impl FromStr for AttestationMode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "nitro" | "aws_nitro" => Ok(Self::Nitro),
            "dev" | "dev_insecure" => Ok(Self::Dev),
            _ => Err(format!(
                "unknown attestation mode {text:?}: expected auto, nitro or dev"
            )),
        }
    }
}

/// Starts the provider `mode` asks for; the dev provider keeps its root in
/// `state_dir`.
///
/// # Errors
/// Why the provider could not start.
pub fn start(
    mode: AttestationMode,
    state_dir: &Path,
) -> Result<Arc<dyn AttestationProvider>, ProviderError> {
    let nsm = Path::new(nitro::NSM_DEVICE);
    match mode {
        AttestationMode::Nitro => Ok(Arc::new(nitro::NitroProvider::open()?)),
        AttestationMode::Auto if nsm.exists() => Ok(Arc::new(nitro::NitroProvider::open()?)),
        AttestationMode::Auto | AttestationMode::Dev => {
            let provider = dev::DevProvider::load_or_create(state_dir)?;
            tracing::warn!(
                root = %provider.root_path().display(),
                "INSECURE development attestation (DEV_INSECURE, security level 0): \
                 documents are signed by a local root, with no hardware guarantee"
            );
            Ok(Arc::new(provider))
        }
    }
}
