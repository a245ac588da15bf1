//! Asking the user: wallet passphrases and confirmations, on the terminal,
//! with clear instructions when there is none.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::Path;

use anyhow::bail;
use daas_core::wallet::Passphrase;

use crate::ops::unlock::GivenPassphrase;
pub use crate::ops::unlock::{PASSPHRASE_ENV, PASSPHRASE_FILE_ENV};
use crate::ops::{Context, Unlock, UnlockError};
use daas_core::escape;

/// Unlocks with the given passphrase ([`GivenPassphrase`]), else the
/// terminal (twice for a new wallet).
#[derive(Debug, Clone, Default)]
pub struct TerminalUnlock {
    /// The passphrase given without asking.
    pub given: GivenPassphrase,
}

impl TerminalUnlock {
    /// Unlocks with the passphrase `ctx`'s settings give, if any.
    pub fn of(ctx: &Context) -> Self {
        Self {
            given: GivenPassphrase::of(ctx),
        }
    }
}

impl Unlock for TerminalUnlock {
    fn passphrase(&self, dir: &Path) -> Result<Passphrase, UnlockError> {
        if let Some(passphrase) = self.given.read()? {
            return Ok(passphrase);
        }
        if !std::io::stdin().is_terminal() {
            return Err(UnlockError::Unavailable(format!(
                "the wallet in {} is an encrypted file and there is no terminal to ask for its passphrase: \
                 set {PASSPHRASE_ENV} or {PASSPHRASE_FILE_ENV}, or pass --passphrase-file FILE",
                dir.display()
            )));
        }
        let value =
            rpassword::prompt_password(format!("passphrase of the wallet in {}: ", dir.display()))
                .map_err(|e| {
                    UnlockError::Unavailable(format!("cannot read the passphrase: {e}"))
                })?;
        Ok(Passphrase::new(value))
    }

    fn new_passphrase(&self, dir: &Path) -> Result<Passphrase, UnlockError> {
        if let Some(passphrase) = self.given.read()? {
            return Ok(passphrase);
        }
        if !std::io::stdin().is_terminal() {
            return Err(UnlockError::Unavailable(format!(
                "a new wallet in {} needs a passphrase to encrypt its keys, and there is no terminal to \
                 choose one: set {PASSPHRASE_ENV} or {PASSPHRASE_FILE_ENV}, or pass --passphrase-file FILE (or use --store keyring \
                 where an OS keyring runs)",
                dir.display()
            )));
        }
        let read = |prompt: &str| {
            rpassword::prompt_password(prompt)
                .map_err(|e| UnlockError::Unavailable(format!("cannot read the passphrase: {e}")))
        };
        let first = read("new wallet passphrase: ")?;
        if first.is_empty() {
            return Err(UnlockError::Empty);
        }
        if read("repeat the passphrase: ")? != first {
            return Err(UnlockError::Mismatch);
        }
        Ok(Passphrase::new(first))
    }
}

/// Asks `question` (shown after `details`) unless `yes`; refuses without a
/// terminal, naming `--yes`.
///
/// # Errors
/// The user said no, or cannot be asked.
pub fn confirm(details: &str, question: &str, yes: bool) -> anyhow::Result<()> {
    if yes {
        return Ok(());
    }
    let mut err = std::io::stderr().lock();
    writeln!(err, "{}", escape::controls(details))?;
    if !std::io::stdin().is_terminal() {
        bail!("refusing without confirmation: no terminal to ask; pass --yes to confirm");
    }
    write!(err, "{} [y/N] ", escape::controls(question))?;
    err.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
        Ok(())
    } else {
        bail!("cancelled; nothing was done")
    }
}
