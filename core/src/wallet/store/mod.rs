//! [`WalletStore`]: the keys of one user, with an index file and a secret backend.
//!
//! The index (`wallet.json`) lists aliases, addresses and schemes and which
//! key is active; it holds no secrets. The secrets live in the OS keyring when
//! one is reachable, otherwise in an encrypted file (`keys.enc`, Argon2id +
//! XChaCha20-Poly1305). Which backend a wallet uses is fixed when it is
//! created and recorded in the index. Every file is written atomically with
//! mode 0600.

mod encrypted_file;
mod os_keyring;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sui_sdk_types::{Address, Transaction, UserSignature};
use zeroize::Zeroizing;

use super::{Keypair, Scheme, SerializedSignature, StoreError};
use crate::private_file;
use encrypted_file::EncryptedFile;
use os_keyring::OsKeyring;

const INDEX_FILE: &str = "wallet.json";
const KEYS_FILE: &str = "keys.enc";

/// Where a wallet keeps its private keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackendKind {
    /// The OS keyring (Secret Service, macOS Keychain, Windows Credential Manager).
    Keyring,
    /// `keys.enc` in the wallet directory, encrypted under a passphrase.
    EncryptedFile,
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendKind::Keyring => "OS keyring",
            BackendKind::EncryptedFile => "encrypted file",
        })
    }
}

/// A passphrase for the encrypted file store; zeroized on drop, never printed.
#[derive(Clone)]
pub struct Passphrase(Zeroizing<String>);

impl Passphrase {
    /// Wraps a passphrase.
    pub fn new(passphrase: impl Into<String>) -> Self {
        Self(Zeroizing::new(passphrase.into()))
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase(<redacted>)")
    }
}

/// One key of the wallet, as listed in the index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletEntry {
    /// A name chosen by the user, unique in the wallet.
    pub alias: String,
    /// The key's Sui address.
    pub address: Address,
    /// The key's scheme.
    pub scheme: Scheme,
}

/// The public half of a wallet: its index, readable without a passphrase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalletSummary {
    /// Where the secrets are.
    pub backend: BackendKind,
    /// The active key's address.
    pub active: Option<Address>,
    /// Every key, in the order they were added.
    pub keys: Vec<WalletEntry>,
}

impl WalletSummary {
    /// The entry named by alias or address, or the active one for `None`.
    pub fn entry(&self, name: Option<&str>) -> Option<&WalletEntry> {
        match name {
            Some(name) => {
                let address = name.parse::<Address>().ok();
                self.keys
                    .iter()
                    .find(|e| e.alias == name || Some(e.address) == address)
            }
            None => self.keys.iter().find(|e| Some(e.address) == self.active),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Index {
    backend: BackendKind,
    active: Option<Address>,
    keys: Vec<WalletEntry>,
}

/// The secret half of a wallet.
enum Secrets {
    Keyring(OsKeyring),
    File(EncryptedFile),
}

/// A user's keys: list, add, remove, choose the active one, sign.
pub struct WalletStore {
    dir: PathBuf,
    index: Index,
    secrets: Secrets,
}

impl WalletStore {
    /// The default wallet directory: the platform data dir of K3s-DaaS
    /// (`~/.local/share/k3s-daas/wallet` on Linux).
    pub fn default_dir() -> Option<PathBuf> {
        directories::ProjectDirs::from("io", "k3s-daas", "k3s-daas")
            .map(|dirs| dirs.data_dir().join("wallet"))
    }

    /// Whether an OS keyring is reachable; new wallets use it when it is.
    pub fn keyring_available() -> bool {
        OsKeyring::available()
    }

    /// Whether an OS keyring is reachable, and if not, why not (to tell a
    /// user why a new wallet goes to the encrypted file instead).
    ///
    /// # Errors
    /// [`StoreError::Keyring`] naming why no credential store is reachable.
    pub fn keyring_status() -> Result<(), StoreError> {
        OsKeyring::connect().map(drop)
    }

    /// What the index of the wallet in `dir` says (backend, keys, active
    /// key) without unlocking it; `None` if there is no wallet there yet.
    ///
    /// # Errors
    /// The index is unreadable or corrupt.
    pub fn summary(dir: &Path) -> Result<Option<WalletSummary>, StoreError> {
        Ok(read_index(dir)?.map(|index| WalletSummary {
            backend: index.backend,
            active: index.active,
            keys: index.keys,
        }))
    }

    /// Whether opening the wallet in `dir` needs a passphrase: it uses, or a
    /// new one would use, the encrypted file backend.
    pub fn needs_passphrase(dir: &Path) -> Result<bool, StoreError> {
        Ok(Self::backend_for(dir)? == BackendKind::EncryptedFile)
    }

    /// The backend of the wallet in `dir`, or the one a new wallet would get.
    fn backend_for(dir: &Path) -> Result<BackendKind, StoreError> {
        Ok(match read_index(dir)? {
            Some(index) => index.backend,
            None if OsKeyring::available() => BackendKind::Keyring,
            None => BackendKind::EncryptedFile,
        })
    }

    /// Opens the wallet in `dir`, creating it if absent.
    ///
    /// A new wallet uses the OS keyring when one is reachable, otherwise an
    /// encrypted file, which needs `passphrase`. An existing wallet uses the
    /// backend recorded in its index.
    pub fn open(dir: &Path, passphrase: Option<Passphrase>) -> Result<Self, StoreError> {
        Self::open_with(dir, Self::backend_for(dir)?, passphrase)
    }

    /// Opens or creates the wallet in `dir` with an explicit backend.
    pub fn open_with(
        dir: &Path,
        backend: BackendKind,
        passphrase: Option<Passphrase>,
    ) -> Result<Self, StoreError> {
        let index = match read_index(dir)? {
            Some(index) if index.backend != backend => {
                return Err(StoreError::Corrupt {
                    path: dir.join(INDEX_FILE),
                    reason: format!("the wallet uses the {}, not the {backend}", index.backend),
                });
            }
            Some(index) => index,
            None => Index {
                backend,
                active: None,
                keys: Vec::new(),
            },
        };
        let secrets = match backend {
            BackendKind::Keyring => Secrets::Keyring(OsKeyring::connect()?),
            BackendKind::EncryptedFile => {
                let passphrase =
                    passphrase.ok_or_else(|| StoreError::PassphraseRequired(dir.to_owned()))?;
                Secrets::File(EncryptedFile::open(&dir.join(KEYS_FILE), &passphrase)?)
            }
        };
        Ok(Self {
            dir: dir.to_owned(),
            index,
            secrets,
        })
    }

    /// Where this wallet keeps its secrets.
    pub fn backend(&self) -> BackendKind {
        self.index.backend
    }

    /// Every key, in the order they were added.
    pub fn list(&self) -> &[WalletEntry] {
        &self.index.keys
    }

    /// The active key, used when no key is named.
    pub fn active(&self) -> Option<&WalletEntry> {
        let active = self.index.active?;
        self.index.keys.iter().find(|e| e.address == active)
    }

    /// Adds `key` under `alias`; the first key becomes active.
    pub fn add(&mut self, alias: &str, key: &Keypair) -> Result<WalletEntry, StoreError> {
        let address = key.address();
        if let Some(existing) = self
            .index
            .keys
            .iter()
            .find(|e| e.alias == alias || e.address == address)
        {
            let taken = if existing.alias == alias {
                alias.to_owned()
            } else {
                address.to_string()
            };
            return Err(StoreError::Duplicate(taken));
        }
        match &mut self.secrets {
            Secrets::Keyring(keyring) => keyring.store(key)?,
            Secrets::File(file) => file.store(key)?,
        }
        let entry = WalletEntry {
            alias: alias.to_owned(),
            address,
            scheme: key.scheme(),
        };
        self.index.keys.push(entry.clone());
        self.index.active.get_or_insert(address);
        self.save_index()?;
        Ok(entry)
    }

    /// Removes the key named by alias or address, and its secret.
    pub fn remove(&mut self, name: &str) -> Result<WalletEntry, StoreError> {
        let entry = self.find(name)?.clone();
        match &mut self.secrets {
            Secrets::Keyring(keyring) => keyring.delete(entry.address)?,
            Secrets::File(file) => file.delete(entry.address)?,
        }
        self.index.keys.retain(|e| e.address != entry.address);
        if self.index.active == Some(entry.address) {
            self.index.active = self.index.keys.first().map(|e| e.address);
        }
        self.save_index()?;
        Ok(entry)
    }

    /// Makes the key named by alias or address the active one.
    pub fn set_active(&mut self, name: &str) -> Result<WalletEntry, StoreError> {
        let entry = self.find(name)?.clone();
        self.index.active = Some(entry.address);
        self.save_index()?;
        Ok(entry)
    }

    /// The entry named by alias or address (`0x…`).
    pub fn find(&self, name: &str) -> Result<&WalletEntry, StoreError> {
        let address = name.parse::<Address>().ok();
        self.index
            .keys
            .iter()
            .find(|e| e.alias == name || Some(e.address) == address)
            .ok_or_else(|| StoreError::UnknownKey(name.to_owned()))
    }

    /// Loads the private key of the entry named by alias or address, or of the
    /// active key when `name` is `None`.
    pub fn keypair(&self, name: Option<&str>) -> Result<Keypair, StoreError> {
        let entry = match name {
            Some(name) => self.find(name)?,
            None => self.active().ok_or(StoreError::NoActiveKey)?,
        };
        match &self.secrets {
            Secrets::Keyring(keyring) => keyring.load(entry.address),
            Secrets::File(file) => file.load(entry.address),
        }
    }

    /// Signs a personal message with the named key (or the active one).
    pub fn sign_personal_message(
        &self,
        name: Option<&str>,
        message: &[u8],
    ) -> Result<SerializedSignature, StoreError> {
        Ok(self.keypair(name)?.sign_personal_message(message)?)
    }

    /// Signs a transaction with the named key (or the active one).
    pub fn sign_transaction(
        &self,
        name: Option<&str>,
        transaction: &Transaction,
    ) -> Result<UserSignature, StoreError> {
        Ok(self.keypair(name)?.sign_transaction(transaction)?)
    }

    fn save_index(&self) -> Result<(), StoreError> {
        let json = serde_json::to_vec_pretty(&self.index).map_err(|e| StoreError::Corrupt {
            path: self.dir.join(INDEX_FILE),
            reason: e.to_string(),
        })?;
        Ok(private_file::write_atomic(
            &self.dir.join(INDEX_FILE),
            &json,
        )?)
    }
}

fn read_index(dir: &Path) -> Result<Option<Index>, StoreError> {
    let path = dir.join(INDEX_FILE);
    let Some(bytes) = private_file::read_if_exists(&path)? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| StoreError::Corrupt {
            path,
            reason: e.to_string(),
        })
}
