//! `daas-console wallet …`: the wallet commands.

use std::io::{IsTerminal as _, Read as _};

use anyhow::{Context as _, bail};
use daas_core::wallet::{
    DerivationPath, Keypair, Passphrase, Scheme, WalletStore, read_sui_keystore,
    verify_personal_message,
};

use crate::cli::{GlobalArgs, ImportSource, WalletCommand};

const PASSPHRASE_ENV: &str = "DAAS_WALLET_PASSPHRASE";

/// Runs one wallet command.
pub fn run(global: &GlobalArgs, command: WalletCommand) -> anyhow::Result<()> {
    let mut store = open_store(global)?;
    match command {
        WalletCommand::New { alias, scheme } => {
            let key = Keypair::generate(scheme.parse()?);
            print_added(&store.add(&alias, &key)?)?;
        }
        WalletCommand::Import {
            alias,
            source,
            scheme,
            derivation_path,
        } => import(
            &mut store,
            &alias,
            &source,
            &scheme,
            derivation_path.as_deref(),
        )?,
        WalletCommand::List { json } => list(&store, json)?,
        WalletCommand::Use { name } => print_added(&store.set_active(&name)?)?,
        WalletCommand::Remove { name } => {
            let entry = store.remove(&name)?;
            out!("removed {} {}", entry.alias, entry.address)?;
        }
        WalletCommand::Export { name } => {
            if std::io::stdout().is_terminal() {
                eprintln!(
                    "warning: this is the private key; anyone who sees it controls the stake"
                );
            }
            out!("{}", store.keypair(Some(&name))?.to_suiprivkey().as_str())?;
        }
        WalletCommand::SignMessage { key } => {
            let message = read_stdin_bytes()?;
            out!("{}", store.sign_personal_message(key.as_deref(), &message)?)?;
        }
        WalletCommand::VerifyMessage { address, signature } => {
            let address = address
                .parse()
                .with_context(|| format!("`{address}` is not a Sui address"))?;
            verify_personal_message(&read_stdin_bytes()?, &signature, address)?;
            out!("valid signature by {address}")?;
        }
    }
    Ok(())
}

pub(crate) fn open_store(global: &GlobalArgs) -> anyhow::Result<WalletStore> {
    let dir = match &global.wallet_dir {
        Some(dir) => dir.clone(),
        None => {
            WalletStore::default_dir().context("cannot find a data directory; pass --wallet-dir")?
        }
    };
    let passphrase = if WalletStore::needs_passphrase(&dir)? {
        passphrase()?
    } else {
        None
    };
    WalletStore::open(&dir, passphrase)
        .with_context(|| format!("cannot open the wallet in {}", dir.display()))
}

/// The passphrase from the environment or, interactively, from the terminal.
fn passphrase() -> anyhow::Result<Option<Passphrase>> {
    if let Ok(value) = std::env::var(PASSPHRASE_ENV) {
        return Ok(Some(Passphrase::new(value)));
    }
    if !std::io::stdin().is_terminal() {
        return Ok(None);
    }
    let value =
        rpassword::prompt_password("wallet passphrase: ").context("cannot read the passphrase")?;
    Ok(Some(Passphrase::new(value)))
}

fn import(
    store: &mut WalletStore,
    alias: &str,
    source: &ImportSource,
    scheme: &str,
    path: Option<&str>,
) -> anyhow::Result<()> {
    if let Some(file) = &source.keystore {
        for (i, key) in read_sui_keystore(file)?.iter().enumerate() {
            print_added(&store.add(&format!("{alias}-{i}"), key)?)?;
        }
        return Ok(());
    }
    let secret = zeroize::Zeroizing::new(read_stdin_text()?);
    let key = if source.suiprivkey {
        Keypair::from_suiprivkey(&secret)?
    } else {
        let scheme: Scheme = scheme.parse()?;
        let path = path.map(str::parse::<DerivationPath>).transpose()?;
        Keypair::from_mnemonic(&secret, scheme, path.as_ref())?
    };
    print_added(&store.add(alias, &key)?)?;
    Ok(())
}

fn list(store: &WalletStore, json: bool) -> anyhow::Result<()> {
    let active = store.active().map(|e| e.address);
    if json {
        out!("{}", serde_json::to_string_pretty(store.list())?)?;
        return Ok(());
    }
    if store.list().is_empty() {
        out!(
            "no keys ({}); create one with `daas-console wallet new --alias NAME`",
            store.backend()
        )?;
    }
    for entry in store.list() {
        let mark = if Some(entry.address) == active {
            "*"
        } else {
            " "
        };
        out!(
            "{mark} {:<16} {:<10} {}",
            entry.alias,
            entry.scheme,
            entry.address
        )?;
    }
    Ok(())
}

fn print_added(entry: &daas_core::wallet::WalletEntry) -> std::io::Result<()> {
    out!("{} {} ({})", entry.alias, entry.address, entry.scheme)
}

fn read_stdin_bytes() -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .read_to_end(&mut bytes)
        .context("cannot read stdin")?;
    Ok(bytes)
}

fn read_stdin_text() -> anyhow::Result<String> {
    let bytes = read_stdin_bytes()?;
    match String::from_utf8(bytes) {
        Ok(text) if !text.trim().is_empty() => Ok(text),
        Ok(_) => bail!(
            "nothing on stdin: pipe the secret in, e.g. `daas-console wallet import --alias a --suiprivkey < key.txt`"
        ),
        Err(_) => bail!("stdin is not UTF-8 text"),
    }
}
