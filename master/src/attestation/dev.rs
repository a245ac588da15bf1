//! The insecure development provider, for machines without Nitro.
//!
//! At first start it makes a self-signed ECDSA P-384 root CA and keeps it in
//! the state dir: [`DEV_ROOT_CERT_FILE`] (the certificate, which clients
//! pass as `--dev-root`) and [`DEV_ROOT_KEY_FILE`] (its private key, mode
//! 0600, in a 0700 directory). At every start it issues a fresh P-384 leaf
//! under that root, held in memory only, and signs Nitro-format documents
//! with it.
//!
//! The PCRs measure the running binary ([`std::env::current_exe`]), so they
//! are stable per build ([`dev_pcrs`]):
//!
//! - PCR0 = SHA-384(binary)
//! - PCR1 = SHA-384("k3s-daas dev PCR1" || PCR0)
//! - PCR2 = SHA-384("k3s-daas dev PCR2" || PCR0)
//! - PCR3, PCR4, PCR8 = all zero, as the NSM reports unused PCRs (Sui's
//!   `load_nitro_attestation` requires these six)
//!
//! None of this is a hardware guarantee: anyone with the state dir can sign
//! anything. Clients refuse it unless told to accept insecure development
//! attestation.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use daas_core::api::attestation::TeeType;
use daas_core::attestation::{DevRoot, Pcr, UnsignedDocument};
use p384::ecdsa::SigningKey;
use p384::pkcs8::DecodePrivateKey as _;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P384_SHA384,
};
use sha2::{Digest, Sha256, Sha384};

use super::{AttestationProvider, ProviderError};

/// The dev root certificate (PEM) in the state dir.
pub const DEV_ROOT_CERT_FILE: &str = "dev-root.pem";
/// The dev root's private key (PKCS#8 PEM, mode 0600) in the state dir.
pub const DEV_ROOT_KEY_FILE: &str = "dev-root-key.pem";

const ROOT_COMMON_NAME: &str = "K3s-DaaS INSECURE development attestation root";
const ORGANIZATION: &str = "K3s-DaaS";

/// The PCRs the dev provider reports for a binary whose SHA-384 is
/// `binary_sha384` (see the module docs).
pub fn dev_pcrs(binary_sha384: &[u8; 48]) -> BTreeMap<u8, Pcr> {
    let derive = |label: &[u8]| {
        let mut hasher = Sha384::new();
        hasher.update(label);
        hasher.update(binary_sha384);
        Pcr::new(hasher.finalize().into())
    };
    BTreeMap::from([
        (0, Pcr::new(*binary_sha384)),
        (1, derive(b"k3s-daas dev PCR1")),
        (2, derive(b"k3s-daas dev PCR2")),
        (3, Pcr::new([0; 48])),
        (4, Pcr::new([0; 48])),
        (8, Pcr::new([0; 48])),
    ])
}

/// SHA-384 of a file (the master binary).
///
/// # Errors
/// [`ProviderError::Measure`] if it cannot be read.
pub fn measure_binary(path: &Path) -> Result<[u8; 48], ProviderError> {
    let measure_error = |source| ProviderError::Measure {
        path: path.to_owned(),
        source,
    };
    let mut file = fs::File::open(path).map_err(measure_error)?;
    let mut hasher = Sha384::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let read = file.read(&mut buffer).map_err(measure_error)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hasher.finalize().into())
}

/// The dev provider: a root from the state dir and an in-memory leaf.
pub struct DevProvider {
    root_path: PathBuf,
    root_der: Vec<u8>,
    leaf_der: Vec<u8>,
    leaf_key: SigningKey,
    pcrs: BTreeMap<u8, Pcr>,
    module_id: String,
}

impl fmt::Debug for DevProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevProvider")
            .field("root_path", &self.root_path)
            .field("module_id", &self.module_id)
            .field("pcrs", &self.pcrs)
            .finish_non_exhaustive()
    }
}

impl DevProvider {
    /// Loads the root from `state_dir` (making it at first start) and
    /// measures the running binary.
    ///
    /// # Errors
    /// Why the root or the binary could not be used.
    pub fn load_or_create(state_dir: &Path) -> Result<Self, ProviderError> {
        let exe = std::env::current_exe().map_err(|source| ProviderError::Measure {
            path: PathBuf::from("/proc/self/exe"),
            source,
        })?;
        Self::with_binary_measurement(state_dir, &measure_binary(&exe)?)
    }

    /// Like [`Self::load_or_create`], with the binary's SHA-384 given.
    ///
    /// # Errors
    /// Why the root could not be used.
    pub fn with_binary_measurement(
        state_dir: &Path,
        binary_sha384: &[u8; 48],
    ) -> Result<Self, ProviderError> {
        let (root_path, root_der, root_key) = load_or_create_root(state_dir)?;
        let issuer = Issuer::new(root_params(&root_key), root_key);

        let leaf_key_pair = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384)?;
        let leaf_key =
            SigningKey::from_pkcs8_der(&leaf_key_pair.serialize_der()).map_err(|error| {
                ProviderError::Key {
                    reason: format!("leaf key is not a P-384 PKCS#8 key: {error}"),
                }
            })?;
        let mut leaf_params = CertificateParams::default();
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, "K3s-DaaS INSECURE development enclave");
        leaf_params
            .distinguished_name
            .push(DnType::OrganizationName, ORGANIZATION);
        leaf_params.is_ca = IsCa::ExplicitNoCa;
        leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let leaf = leaf_params.signed_by(&leaf_key_pair, &issuer)?;

        let root_fingerprint = Sha256::digest(&root_der);
        Ok(Self {
            root_path,
            module_id: format!("dev-insecure-{}", hex::encode(&root_fingerprint[..8])),
            root_der,
            leaf_der: leaf.der().to_vec(),
            leaf_key,
            pcrs: dev_pcrs(binary_sha384),
        })
    }

    /// Path of the root certificate (PEM) clients pass as `--dev-root`.
    pub fn root_path(&self) -> &Path {
        &self.root_path
    }

    /// The root certificate (DER).
    pub fn root_der(&self) -> &[u8] {
        &self.root_der
    }

    /// The PCRs this provider reports.
    pub fn pcrs(&self) -> &BTreeMap<u8, Pcr> {
        &self.pcrs
    }
}

impl AttestationProvider for DevProvider {
    fn attest(
        &self,
        nonce: Option<&[u8]>,
        public_key: &[u8],
        user_data: &[u8],
    ) -> Result<Vec<u8>, ProviderError> {
        let timestamp_ms = daas_core::clock::unix_now_ms().max(1);
        let document = UnsignedDocument {
            module_id: self.module_id.clone(),
            timestamp_ms,
            pcrs: self.pcrs.clone(),
            certificate: self.leaf_der.clone(),
            cabundle: vec![self.root_der.clone()],
            public_key: Some(public_key.to_vec()),
            user_data: Some(user_data.to_vec()),
            nonce: nonce.map(<[u8]>::to_vec),
        };
        Ok(document.sign(&self.leaf_key))
    }

    fn tee_type(&self) -> TeeType {
        TeeType::DevInsecure
    }
}

/// The root's parameters: a function of its key only, so a stored root
/// certificate and its key make the same issuer at every start. The name
/// carries the key's fingerprint, so two dev roots never share a name and
/// a document under another root is reported as untrusted.
fn root_params(key: &KeyPair) -> CertificateParams {
    let fingerprint = Sha256::digest(rcgen::PublicKeyData::subject_public_key_info(key));
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, ROOT_COMMON_NAME);
    params.distinguished_name.push(
        DnType::OrganizationalUnitName,
        hex::encode(&fingerprint[..8]),
    );
    params
        .distinguished_name
        .push(DnType::OrganizationName, ORGANIZATION);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

fn state_error(path: &Path) -> impl FnOnce(std::io::Error) -> ProviderError + '_ {
    move |source| ProviderError::StateFile {
        path: path.to_owned(),
        source,
    }
}

/// Loads the root certificate and key from `state_dir`, or makes them.
fn load_or_create_root(state_dir: &Path) -> Result<(PathBuf, Vec<u8>, KeyPair), ProviderError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(state_dir)
        .map_err(state_error(state_dir))?;
    let cert_path = state_dir.join(DEV_ROOT_CERT_FILE);
    let key_path = state_dir.join(DEV_ROOT_KEY_FILE);

    if key_path.exists() {
        let metadata = fs::metadata(&key_path).map_err(state_error(&key_path))?;
        if metadata.permissions().mode() & 0o077 != 0 {
            return Err(ProviderError::DevRoot {
                path: key_path,
                reason: format!(
                    "the private key is readable by others (mode {:o}); chmod 600 it",
                    metadata.permissions().mode() & 0o777
                ),
            });
        }
        let key_pem = fs::read_to_string(&key_path).map_err(state_error(&key_path))?;
        let key = KeyPair::from_pem(&key_pem).map_err(|error| ProviderError::DevRoot {
            path: key_path.clone(),
            reason: error.to_string(),
        })?;
        let cert_pem = fs::read_to_string(&cert_path).map_err(state_error(&cert_path))?;
        let bad_cert = |reason: String| ProviderError::DevRoot {
            path: cert_path.clone(),
            reason,
        };
        let root = DevRoot::from_pem(&cert_pem).map_err(|error| bad_cert(error.to_string()))?;
        let spki = daas_core::attested::tls::certificate_spki(root.certificate_der())
            .map_err(|error| bad_cert(error.to_string()))?;
        if spki != rcgen::PublicKeyData::subject_public_key_info(&key) {
            return Err(bad_cert(format!(
                "the certificate's key is not the key in {DEV_ROOT_KEY_FILE}"
            )));
        }
        tracing::info!(root = %cert_path.display(), "loaded the dev attestation root");
        return Ok((cert_path, root.certificate_der().to_vec(), key));
    }

    let key = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384)?;
    let certificate = root_params(&key).self_signed(&key)?;
    write_new(&key_path, key.serialize_pem().as_bytes(), 0o600)?;
    write_new(&cert_path, certificate.pem().as_bytes(), 0o644)?;
    tracing::info!(root = %cert_path.display(), "made a new dev attestation root");
    Ok((cert_path, certificate.der().to_vec(), key))
}

/// Writes a new file with `mode`, replacing a stale one atomically.
fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<(), ProviderError> {
    let temporary = path.with_extension("tmp");
    let _ = fs::remove_file(&temporary);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&temporary)
        .map_err(state_error(&temporary))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(state_error(&temporary))?;
    fs::rename(&temporary, path).map_err(state_error(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use daas_core::attestation::{ExpectedPcrs, PcrPolicy, Policy, TrustRoots, verify};
    use std::time::SystemTime;

    #[test]
    fn documents_verify_under_the_stored_root_and_survive_restart() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let measurement = [3u8; 48];
        let first = DevProvider::with_binary_measurement(&state, &measurement).unwrap();
        let key_mode = fs::metadata(state.join(DEV_ROOT_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(key_mode & 0o777, 0o600);

        // A restart keeps the root and issues a new leaf under it.
        let second = DevProvider::with_binary_measurement(&state, &measurement).unwrap();
        assert_eq!(first.root_der(), second.root_der());
        assert_ne!(first.leaf_der, second.leaf_der);

        let pem = fs::read_to_string(first.root_path()).unwrap();
        let roots = TrustRoots::insecure_dev_only(DevRoot::from_pem(&pem).unwrap());
        let pcrs = dev_pcrs(&measurement);
        let expected = ExpectedPcrs {
            pcr0: pcrs[&0],
            pcr1: pcrs[&1],
            pcr2: pcrs[&2],
            pcr8: None,
        };
        let policy = Policy::new(PcrPolicy::Expect(expected)).with_nonce(vec![9; 16]);
        for provider in [&first, &second] {
            let document = provider.attest(Some(&[9; 16]), &[1; 32], &[2; 32]).unwrap();
            let verified = verify(&document, &roots, &policy, SystemTime::now()).unwrap();
            assert!(verified.is_dev());
            assert_eq!(verified.public_key(), Some(&[1u8; 32][..]));
            assert_eq!(verified.user_data(), Some(&[2u8; 32][..]));
            assert_eq!(verified.pcrs().get(0), Some(&Pcr::new(measurement)));
        }
    }

    #[test]
    fn refuses_a_world_readable_key() {
        let dir = tempfile::tempdir().unwrap();
        DevProvider::with_binary_measurement(dir.path(), &[0; 48]).unwrap();
        let key = dir.path().join(DEV_ROOT_KEY_FILE);
        fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
        let error = DevProvider::with_binary_measurement(dir.path(), &[0; 48]).unwrap_err();
        assert!(error.to_string().contains("readable by others"), "{error}");
    }

    #[test]
    fn pcrs_are_stable_and_distinct() {
        let a = dev_pcrs(&[1; 48]);
        assert_eq!(a, dev_pcrs(&[1; 48]));
        assert_ne!(a[&1], a[&2]);
        assert_ne!(a[&0], dev_pcrs(&[2; 48])[&0]);
        // The six PCRs Sui's `load_nitro_attestation` requires.
        assert_eq!(a.keys().copied().collect::<Vec<_>>(), [0, 1, 2, 3, 4, 8]);
        assert!(a[&3].is_zero() && a[&4].is_zero() && a[&8].is_zero());
    }
}
