//! How a face unlocks the wallet: both first take the passphrase given
//! without asking ([`GivenPassphrase`]: the profile's passphrase file, else
//! `DAAS_WALLET_PASSPHRASE`); then the CLI prompts on the terminal, the TUI
//! asks in a masked input. The operations only ask through [`Unlock`].

use std::path::{Path, PathBuf};

use daas_core::wallet::Passphrase;

use super::Context;

/// The environment variable holding a wallet passphrase.
pub const PASSPHRASE_ENV: &str = "DAAS_WALLET_PASSPHRASE";
/// The environment variable naming a file that holds the wallet's
/// passphrase (`--passphrase-file`).
pub const PASSPHRASE_FILE_ENV: &str = "DAAS_WALLET_PASSPHRASE_FILE";

/// Why no passphrase could be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UnlockError {
    /// There is no way to ask, and none was provided.
    #[error("{0}")]
    Unavailable(String),
    /// The user gave two different passphrases for a new wallet.
    #[error("the passphrases do not match; nothing was created")]
    Mismatch,
    /// The user gave an empty passphrase for a new wallet.
    #[error("an empty passphrase would leave the keys unprotected; nothing was created")]
    Empty,
    /// The user cancelled.
    #[error("cancelled")]
    Cancelled,
}

/// Supplies wallet passphrases when an operation needs one.
pub trait Unlock: Send + Sync {
    /// The passphrase of the existing encrypted wallet in `dir`.
    ///
    /// # Errors
    /// [`UnlockError`] when none can be had.
    fn passphrase(&self, dir: &Path) -> Result<Passphrase, UnlockError>;

    /// A new passphrase for the encrypted wallet about to be created in
    /// `dir`, asked twice by interactive faces.
    ///
    /// # Errors
    /// [`UnlockError`] when none can be had or the two differ.
    fn new_passphrase(&self, dir: &Path) -> Result<Passphrase, UnlockError>;
}

/// The passphrase given without asking, one rule for every face: the
/// settings' passphrase file (`--passphrase-file`, else the profile's
/// `passphrase_file`; its first line), else `DAAS_WALLET_PASSPHRASE`.
#[derive(Debug, Clone, Default)]
pub struct GivenPassphrase {
    /// The passphrase file, if the settings name one.
    pub file: Option<PathBuf>,
}

impl GivenPassphrase {
    /// The passphrase `ctx`'s settings give.
    pub fn of(ctx: &Context) -> Self {
        Self {
            file: ctx.settings().passphrase_file.clone(),
        }
    }

    /// The given passphrase, or `None` when nothing gives one.
    ///
    /// # Errors
    /// [`UnlockError::Unavailable`] naming the passphrase file when it
    /// cannot be read.
    pub fn read(&self) -> Result<Option<Passphrase>, UnlockError> {
        if let Some(path) = &self.file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                UnlockError::Unavailable(format!(
                    "cannot read the passphrase file {}: {e}",
                    path.display()
                ))
            })?;
            let line = text.lines().next().unwrap_or_default();
            return Ok(Some(Passphrase::new(line)));
        }
        Ok(std::env::var(PASSPHRASE_ENV).ok().map(Passphrase::new))
    }
}

/// Unlocks with the given passphrase only, never asking: for reads that
/// sign when they can and otherwise do without.
impl Unlock for GivenPassphrase {
    fn passphrase(&self, dir: &Path) -> Result<Passphrase, UnlockError> {
        self.read()?.ok_or_else(|| {
            UnlockError::Unavailable(format!(
                "the wallet in {} is an encrypted file and no passphrase was given \
                 ({PASSPHRASE_ENV}, {PASSPHRASE_FILE_ENV} or --passphrase-file)",
                dir.display()
            ))
        })
    }

    fn new_passphrase(&self, dir: &Path) -> Result<Passphrase, UnlockError> {
        self.passphrase(dir)
    }
}
