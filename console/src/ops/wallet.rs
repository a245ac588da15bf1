//! Wallet operations: open or create the store (saying which key store is
//! used and why), create and import keys, balances and the devnet faucet.

use std::path::Path;

use daas_core::package::Mist;
use daas_core::wallet::{
    BackendKind, DerivationPath, Keypair, Scheme, StoreError, WalletEntry, WalletStore,
    WalletSummary, read_sui_keystore,
};
use serde::Serialize;
use sui_sdk_types::Address;
use zeroize::Zeroizing;

use super::{Context, OpsError, Unlock};

/// Which key store a new wallet uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StoreChoice {
    /// The OS keyring when one is reachable, else the encrypted file (and
    /// say so).
    #[default]
    Auto,
    /// The OS keyring; fail if none is reachable.
    Keyring,
    /// The encrypted file.
    File,
}

/// A wallet store, and whether this call created it.
pub struct OpenedWallet {
    /// The unlocked store.
    pub store: WalletStore,
    /// Set when the wallet was created by this call.
    pub created: Option<NewStore>,
}

/// How a new wallet keeps its secrets, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewStore {
    /// The key store chosen.
    pub backend: BackendKind,
    /// Why the OS keyring was not used, when the choice was automatic.
    pub keyring_unavailable: Option<String>,
}

/// The wallet's public index, without unlocking it; `None` if there is no
/// wallet yet.
///
/// # Errors
/// The index is unreadable.
pub fn summary(ctx: &Context) -> Result<Option<WalletSummary>, OpsError> {
    Ok(WalletStore::summary(&ctx.wallet_dir()?)?)
}

/// The address of the configured key (or the active one), read from the
/// index without unlocking.
///
/// # Errors
/// No wallet, or no such key.
pub fn address(ctx: &Context) -> Result<Address, OpsError> {
    let dir = ctx.wallet_dir()?;
    let summary = WalletStore::summary(&dir)?.ok_or_else(|| no_wallet(&dir))?;
    let key = ctx.settings().key.as_deref();
    summary
        .entry(key)
        .map(|e| e.address)
        .ok_or_else(|| match key {
            Some(key) => OpsError::Wallet(StoreError::UnknownKey(key.to_owned())),
            None => OpsError::Wallet(StoreError::NoActiveKey),
        })
}

fn no_wallet(dir: &Path) -> OpsError {
    OpsError::Refused(format!(
        "there is no wallet in {} yet: create or import a key first",
        dir.display()
    ))
}

/// Opens the existing wallet, unlocking it through `unlock` if its keys
/// are in the encrypted file.
///
/// # Errors
/// No wallet yet, or it cannot be unlocked.
pub fn open(ctx: &Context, unlock: &dyn Unlock) -> Result<WalletStore, OpsError> {
    let dir = ctx.wallet_dir()?;
    let summary = WalletStore::summary(&dir)?.ok_or_else(|| no_wallet(&dir))?;
    let passphrase = match summary.backend {
        BackendKind::EncryptedFile => Some(unlock.passphrase(&dir)?),
        BackendKind::Keyring => None,
    };
    Ok(WalletStore::open_with(&dir, summary.backend, passphrase)?)
}

/// The configured (or active) key of the wallet, unlocked.
///
/// # Errors
/// As [`open`], or no such key.
pub fn signer(ctx: &Context, unlock: &dyn Unlock) -> Result<Keypair, OpsError> {
    let store = open(ctx, unlock)?;
    Ok(store.keypair(ctx.settings().key.as_deref())?)
}

/// Opens the wallet to add keys, creating it if needed with the key store
/// `choice` says; a new encrypted file gets a passphrase from
/// [`Unlock::new_passphrase`].
///
/// # Errors
/// The keyring was asked for and is unreachable, or unlocking failed.
pub fn open_for_adding(
    ctx: &Context,
    choice: StoreChoice,
    unlock: &dyn Unlock,
) -> Result<OpenedWallet, OpsError> {
    ctx.ensure_writable("add a wallet key")?;
    let dir = ctx.wallet_dir()?;
    if let Some(summary) = WalletStore::summary(&dir)? {
        let requested = match choice {
            StoreChoice::Auto => summary.backend,
            StoreChoice::Keyring => BackendKind::Keyring,
            StoreChoice::File => BackendKind::EncryptedFile,
        };
        if requested != summary.backend {
            return Err(OpsError::Refused(format!(
                "the wallet in {} keeps its keys in the {}, not the {requested}",
                dir.display(),
                summary.backend
            )));
        }
        return Ok(OpenedWallet {
            store: open(ctx, unlock)?,
            created: None,
        });
    }
    let new = match choice {
        StoreChoice::Keyring => {
            WalletStore::keyring_status()?;
            NewStore {
                backend: BackendKind::Keyring,
                keyring_unavailable: None,
            }
        }
        StoreChoice::File => NewStore {
            backend: BackendKind::EncryptedFile,
            keyring_unavailable: None,
        },
        StoreChoice::Auto => match WalletStore::keyring_status() {
            Ok(()) => NewStore {
                backend: BackendKind::Keyring,
                keyring_unavailable: None,
            },
            Err(error) => NewStore {
                backend: BackendKind::EncryptedFile,
                keyring_unavailable: Some(error.to_string()),
            },
        },
    };
    let passphrase = match new.backend {
        BackendKind::EncryptedFile => Some(unlock.new_passphrase(&dir)?),
        BackendKind::Keyring => None,
    };
    let store = WalletStore::open_with(&dir, new.backend, passphrase)?;
    Ok(OpenedWallet {
        store,
        created: Some(new),
    })
}

/// Where an imported key comes from.
pub enum ImportSource<'a> {
    /// A `suiprivkey1…` string.
    SuiPrivKey(Zeroizing<String>),
    /// A BIP-39 mnemonic, its scheme and optional derivation path.
    Mnemonic {
        /// The phrase.
        phrase: Zeroizing<String>,
        /// The key's scheme.
        scheme: Scheme,
        /// The path (default: Sui's for the scheme).
        path: Option<&'a str>,
    },
    /// Every key of a Sui CLI `sui.keystore` file.
    Keystore(&'a Path),
}

/// Generates a key of `scheme` under `alias`.
///
/// # Errors
/// The alias is taken or the store failed.
pub fn create_key(
    store: &mut WalletStore,
    alias: &str,
    scheme: Scheme,
) -> Result<WalletEntry, OpsError> {
    Ok(store.add(alias, &Keypair::generate(scheme))?)
}

/// Imports the key(s) of `source` under `alias` (a keystore's keys become
/// `alias-0`, `alias-1`, …).
///
/// # Errors
/// The secret is malformed, the alias taken, or the store failed.
pub fn import(
    store: &mut WalletStore,
    alias: &str,
    source: ImportSource<'_>,
) -> Result<Vec<WalletEntry>, OpsError> {
    let (keys, numbered) = match source {
        ImportSource::SuiPrivKey(secret) => (vec![Keypair::from_suiprivkey(secret.trim())?], false),
        ImportSource::Mnemonic {
            phrase,
            scheme,
            path,
        } => {
            let path = path
                .map(|p| {
                    p.parse::<DerivationPath>().map_err(|e| OpsError::Invalid {
                        what: "derivation path",
                        value: p.to_owned(),
                        reason: e.to_string(),
                    })
                })
                .transpose()?;
            (
                vec![Keypair::from_mnemonic(&phrase, scheme, path.as_ref())?],
                false,
            )
        }
        ImportSource::Keystore(file) => (read_sui_keystore(file)?, true),
    };
    keys.iter()
        .enumerate()
        .map(|(i, key)| {
            let name = if numbered {
                format!("{alias}-{i}")
            } else {
                alias.to_owned()
            };
            Ok(store.add(&name, key)?)
        })
        .collect()
}

/// One key's balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Balance {
    /// The address.
    pub address: Address,
    /// Its SUI, in MIST.
    pub mist: u64,
    /// Its SUI, formatted.
    pub sui: String,
}

/// The SUI balance of `address`.
///
/// # Errors
/// The chain failed.
pub async fn balance(ctx: &Context, address: Address) -> Result<Balance, OpsError> {
    let mist = ctx.chain()?.sui_balance(address).await?;
    Ok(Balance {
        address,
        mist,
        sui: Mist::new(mist).to_string(),
    })
}

/// Asks the profile's faucet (Sui's `POST /v2/gas` API, which the devnet
/// serves) to fund `address`, and returns the balance afterwards.
///
/// # Errors
/// No faucet configured, or it refused.
pub async fn faucet(ctx: &Context, address: Address) -> Result<Balance, OpsError> {
    ctx.ensure_writable("request SUI from the faucet")?;
    let base = ctx
        .settings()
        .faucet
        .as_deref()
        .ok_or(OpsError::NotConfigured {
            what: "faucet",
            hint: "set `faucet` in the profile (the devnet's endpoint serves one)",
        })?;
    let url = format!("{}/v2/gas", base.trim_end_matches('/'));
    let failed = |reason: String| OpsError::Faucet {
        url: url.clone(),
        reason,
    };
    let body = serde_json::json!({ "FixedAmountRequest": { "recipient": address.to_string() } });
    let response = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| failed(e.to_string()))?
        .post(&url)
        .json(&body)
        .send()
        .await
        .map_err(|e| failed(e.to_string()))?;
    let status = response.status();
    if !status.is_success() {
        let text = response.text().await.unwrap_or_default();
        return Err(failed(format!(
            "HTTP {status}: {}",
            text.chars().take(200).collect::<String>()
        )));
    }
    balance(ctx, address).await
}
