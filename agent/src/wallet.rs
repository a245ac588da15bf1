//! The agent's wallet: a `daas-console` wallet directory, unlocked without
//! a terminal.
//!
//! The passphrase of an encrypted wallet comes, in order, from
//! `sui.passphrase_file` (a file only its owner may read), or from systemd's
//! `LoadCredential=wallet-passphrase:…` (`$CREDENTIALS_DIRECTORY/wallet-passphrase`).
//! A wallet in the OS keyring needs none. The passphrase is never taken
//! from argv or the environment, and never handed to a child process.

use std::path::{Path, PathBuf};

use daas_core::wallet::{Keypair, Passphrase, StoreError, WalletStore};
use zeroize::Zeroizing;

use crate::config::WalletSettings;

/// The credential name the systemd unit loads (`LoadCredential=`).
pub const CREDENTIAL_NAME: &str = "wallet-passphrase";
/// Where systemd puts loaded credentials.
pub const CREDENTIALS_DIRECTORY: &str = "CREDENTIALS_DIRECTORY";

/// Why the wallet could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WalletError {
    /// The passphrase file could not be read.
    #[error("cannot read the passphrase file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The passphrase file may be read by others.
    #[error("the passphrase file {path} has mode {mode:o}: others may read it; chmod 600 it")]
    TooOpen {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The passphrase file is empty.
    #[error("the passphrase file {0} is empty")]
    Empty(PathBuf),
    /// The wallet refused to open or holds no such key.
    #[error("wallet {dir}: {source}")]
    Store {
        /// The wallet directory.
        dir: PathBuf,
        /// The store's error.
        #[source]
        source: StoreError,
    },
}

/// Opens the wallet of `settings` and returns its signing key.
///
/// # Errors
/// [`WalletError`].
pub fn open(settings: &WalletSettings) -> Result<Keypair, WalletError> {
    let passphrase = passphrase(settings.passphrase_file.as_deref())?;
    let store_error = |source| WalletError::Store {
        dir: settings.dir.clone(),
        source,
    };
    let store = WalletStore::open(&settings.dir, passphrase).map_err(store_error)?;
    let name = settings.address.map(|address| address.to_string());
    store.keypair(name.as_deref()).map_err(store_error)
}

/// The passphrase from `file`, else from systemd's credentials, else none.
///
/// # Errors
/// An unreadable, empty or group/world-readable file.
pub fn passphrase(file: Option<&Path>) -> Result<Option<Passphrase>, WalletError> {
    let path = match file {
        Some(path) => path.to_owned(),
        None => match std::env::var_os(CREDENTIALS_DIRECTORY) {
            Some(dir) => {
                let path = Path::new(&dir).join(CREDENTIAL_NAME);
                if !path.exists() {
                    return Ok(None);
                }
                path
            }
            None => return Ok(None),
        },
    };
    read_private(&path).map(Some)
}

fn read_private(path: &Path) -> Result<Passphrase, WalletError> {
    let read = |source| WalletError::Read {
        path: path.to_owned(),
        source,
    };
    let metadata = std::fs::metadata(path).map_err(read)?;
    check_mode(path, &metadata)?;
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(read)?);
    let line = text.trim_end_matches(['\n', '\r']);
    if line.is_empty() {
        return Err(WalletError::Empty(path.to_owned()));
    }
    Ok(Passphrase::new(line))
}

#[cfg(unix)]
fn check_mode(path: &Path, metadata: &std::fs::Metadata) -> Result<(), WalletError> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(WalletError::TooOpen {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_mode(_path: &Path, _metadata: &std::fs::Metadata) -> Result<(), WalletError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn file(dir: &Path, mode: u32, text: &str) -> PathBuf {
        let path = dir.join("pass");
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn an_owner_only_file_gives_its_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = file(dir.path(), 0o600, "secret words\n");
        assert!(passphrase(Some(&path)).unwrap().is_some());
    }

    #[test]
    fn a_readable_or_empty_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let open = file(dir.path(), 0o644, "secret\n");
        let message = passphrase(Some(&open)).unwrap_err().to_string();
        assert!(message.contains("chmod 600"), "{message}");
        let empty = file(dir.path(), 0o600, "\n");
        assert!(matches!(
            passphrase(Some(&empty)),
            Err(WalletError::Empty(_))
        ));
        let missing = dir.path().join("none");
        assert!(matches!(
            passphrase(Some(&missing)),
            Err(WalletError::Read { .. })
        ));
    }

    #[test]
    fn a_wrong_passphrase_names_the_wallet() {
        let dir = tempfile::tempdir().unwrap();
        let wallet = dir.path().join("wallet");
        let mut store = WalletStore::open_with(
            &wallet,
            daas_core::wallet::BackendKind::EncryptedFile,
            Some(Passphrase::new("right")),
        )
        .unwrap();
        store
            .add("me", &Keypair::generate(daas_core::wallet::Scheme::Ed25519))
            .unwrap();
        let settings = WalletSettings {
            dir: wallet.clone(),
            address: None,
            passphrase_file: Some(file(dir.path(), 0o600, "wrong\n")),
        };
        let message = open(&settings).unwrap_err().to_string();
        assert!(message.contains(&wallet.display().to_string()), "{message}");
        let settings = WalletSettings {
            passphrase_file: Some(file(dir.path(), 0o600, "right\n")),
            ..settings
        };
        open(&settings).unwrap();
    }
}
