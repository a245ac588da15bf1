//! How a face unlocks the wallet: the CLI prompts on the terminal, the TUI
//! asks in a masked input; the operations only ask through [`Unlock`].

use std::path::Path;

use daas_core::wallet::Passphrase;

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
