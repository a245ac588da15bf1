//! Wallets: Sui keys, their import and export formats, personal-message
//! signing and, with the `wallet-store` feature, the on-disk `WalletStore`.
//!
//! Private keys live in [`Keypair`], which zeroizes its secret on drop and
//! never prints it. Everything that reads keys from outside the process
//! (keystore files, `suiprivkey` strings, mnemonics, serialized signatures)
//! returns a typed error that names what is wrong.

mod derivation;
mod error;
mod keypair;
mod keystore;
mod personal_message;
mod scheme;
#[cfg(feature = "wallet-store")]
mod store;

pub use derivation::DerivationPath;
pub use error::{KeyError, SignatureError, StoreError};
pub use keypair::Keypair;
pub use keystore::{KeystoreError, parse_sui_keystore, read_sui_keystore};
pub use personal_message::{SerializedSignature, verify_personal_message};
pub use scheme::Scheme;
#[cfg(feature = "wallet-store")]
pub use store::{BackendKind, Passphrase, WalletEntry, WalletStore, WalletSummary};
