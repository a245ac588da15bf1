//! Attestation providers: who signs the master's attestation documents.
//!
//! - [`nitro::NitroProvider`] asks the Nitro Secure Module (`/dev/nsm`)
//!   inside an AWS Nitro Enclave;
//! - [`dev::DevProvider`] signs Nitro-format documents with a local root
//!   kept in the state dir, for machines without Nitro. It is **insecure**:
//!   whoever can read the state dir can forge documents, and its PCRs only
//!   measure the master binary. It says so everywhere it shows.
//!
//! `auto` picks Nitro when `/dev/nsm` exists. Without it, `auto` refuses
//! to start unless the dev fallback was allowed explicitly
//! ([`DevFallback::Allow`]: `--allow-dev-fallback` or
//! `tee.allow_dev_fallback`); a master that fell back says so in a WARN
//! banner at every start and in `/api/v1/security-context`.

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

    /// Whether this provider stands in for Nitro because `auto` found no
    /// `/dev/nsm` (and the fallback was allowed).
    fn is_dev_fallback(&self) -> bool {
        false
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
    /// `--attestation auto` on a machine without `/dev/nsm`, and the dev
    /// fallback was not allowed.
    #[error(
        "attestation auto: {path} does not exist (not inside a Nitro Enclave) and falling back \
         to INSECURE dev attestation was not allowed; run inside an enclave, or allow the \
         fallback explicitly with --allow-dev-fallback (config tee.allow_dev_fallback: true), \
         or ask for --attestation dev"
    )]
    FallbackRefused {
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
    /// Nitro when `/dev/nsm` exists; otherwise refuse to start, or dev
    /// (insecure) if [`DevFallback::Allow`].
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

/// What `auto` does without `/dev/nsm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DevFallback {
    /// Refuse to start.
    #[default]
    Refuse,
    /// Fall back to the insecure dev provider, loudly.
    Allow,
}

/// Starts the provider `mode` asks for; the dev provider keeps its root in
/// `state_dir`.
///
/// # Errors
/// Why the provider could not start; [`ProviderError::FallbackRefused`]
/// when `auto` finds no `/dev/nsm` and `fallback` is
/// [`DevFallback::Refuse`].
pub fn start(
    mode: AttestationMode,
    fallback: DevFallback,
    state_dir: &Path,
) -> Result<Arc<dyn AttestationProvider>, ProviderError> {
    start_with_nsm(mode, fallback, state_dir, Path::new(nitro::NSM_DEVICE))
}

/// [`start`], looking for the NSM at `nsm` (tests point it elsewhere).
fn start_with_nsm(
    mode: AttestationMode,
    fallback: DevFallback,
    state_dir: &Path,
    nsm: &Path,
) -> Result<Arc<dyn AttestationProvider>, ProviderError> {
    match (mode, fallback) {
        (AttestationMode::Nitro, _) => Ok(Arc::new(nitro::NitroProvider::open()?)),
        (AttestationMode::Auto, _) if nsm.exists() => Ok(Arc::new(nitro::NitroProvider::open()?)),
        (AttestationMode::Auto, DevFallback::Refuse) => Err(ProviderError::FallbackRefused {
            path: nsm.to_owned(),
        }),
        (AttestationMode::Auto, DevFallback::Allow) => {
            let provider = dev_provider(state_dir)?;
            tracing::warn!(
                nsm = %nsm.display(),
                "******** attestation auto FELL BACK to INSECURE dev attestation: no Nitro \
                 Secure Module here; allowed by --allow-dev-fallback (tee.allow_dev_fallback). \
                 Clients refuse this master unless they opt in to insecure development \
                 attestation. ********"
            );
            Ok(Arc::new(DevFallbackProvider(provider)))
        }
        (AttestationMode::Dev, _) => Ok(Arc::new(dev_provider(state_dir)?)),
    }
}

fn dev_provider(state_dir: &Path) -> Result<dev::DevProvider, ProviderError> {
    let provider = dev::DevProvider::load_or_create(state_dir)?;
    tracing::warn!(
        root = %provider.root_path().display(),
        "INSECURE development attestation (DEV_INSECURE, security level 0): \
         documents are signed by a local root, with no hardware guarantee"
    );
    Ok(provider)
}

/// The dev provider standing in for Nitro after `auto` fell back.
#[derive(Debug)]
struct DevFallbackProvider(dev::DevProvider);

impl AttestationProvider for DevFallbackProvider {
    fn attest(
        &self,
        nonce: Option<&[u8]>,
        public_key: &[u8],
        user_data: &[u8],
    ) -> Result<Vec<u8>, ProviderError> {
        self.0.attest(nonce, public_key, user_data)
    }

    fn tee_type(&self) -> TeeType {
        self.0.tee_type()
    }

    fn is_dev_fallback(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_without_nsm_refuses_unless_the_fallback_is_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let nsm = dir.path().join("no-nsm");
        let error = start_with_nsm(AttestationMode::Auto, DevFallback::Refuse, dir.path(), &nsm)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("--allow-dev-fallback") && error.contains("no-nsm"),
            "{error}"
        );
        // Nothing was made: no dev root appears in the state dir.
        assert!(!dir.path().join("dev-root.pem").exists());

        let provider =
            start_with_nsm(AttestationMode::Auto, DevFallback::Allow, dir.path(), &nsm).unwrap();
        assert!(provider.is_dev_fallback() && provider.is_insecure());

        // Asking for dev is not a fallback; asking for Nitro never falls back.
        let dev = start_with_nsm(AttestationMode::Dev, DevFallback::Refuse, dir.path(), &nsm);
        assert!(!dev.unwrap().is_dev_fallback());
        let nitro = start_with_nsm(AttestationMode::Nitro, DevFallback::Allow, dir.path(), &nsm);
        assert!(nitro.is_err());
    }
}
