//! The OS keyring backend, through the `keyring` crate: one entry per key,
//! service `k3s-daas`, user the key's address, secret the `suiprivkey` string.

use sui_sdk_types::Address;
use zeroize::Zeroizing;

use crate::wallet::{Keypair, StoreError};

const SERVICE: &str = "k3s-daas";

/// A connection to the platform credential store.
pub(super) struct OsKeyring;

impl OsKeyring {
    /// Whether a credential store is reachable (on Linux: a Secret Service on the session bus).
    pub(super) fn available() -> bool {
        keyring::Entry::store_status().is_ok()
    }

    pub(super) fn connect() -> Result<Self, StoreError> {
        match keyring::Entry::store_status() {
            Ok(()) => Ok(Self),
            Err(e) => Err(StoreError::Keyring(format!(
                "no credential store is reachable: {e}"
            ))),
        }
    }

    fn entry(address: Address) -> Result<keyring::Entry, StoreError> {
        keyring::Entry::new(SERVICE, &address.to_string())
            .map_err(|e| StoreError::Keyring(e.to_string()))
    }

    pub(super) fn load(&self, address: Address) -> Result<Keypair, StoreError> {
        let secret = Zeroizing::new(Self::entry(address)?.get_password().map_err(|e| match e {
            keyring::Error::NoEntry => StoreError::UnknownKey(address.to_string()),
            other => StoreError::Keyring(other.to_string()),
        })?);
        Keypair::from_suiprivkey(&secret).map_err(|source| StoreError::BadStoredKey {
            address: address.to_string(),
            source,
        })
    }

    pub(super) fn store(&mut self, key: &Keypair) -> Result<(), StoreError> {
        Self::entry(key.address())?
            .set_password(&key.to_suiprivkey())
            .map_err(|e| StoreError::Keyring(e.to_string()))
    }

    pub(super) fn delete(&mut self, address: Address) -> Result<(), StoreError> {
        match Self::entry(address)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(StoreError::Keyring(e.to_string())),
        }
    }
}
