//! `daas-console wallet …`.

use std::io::{IsTerminal as _, Read as _};

use anyhow::{Context as _, bail};
use daas_core::wallet::{Scheme, WalletEntry, verify_personal_message};
use serde_json::json;
use sui_sdk_types::Address;
use zeroize::Zeroizing;

use super::args::{GlobalArgs, ImportSource, StoreArg, WalletCommand};
use super::output::{self, note, out};
use super::prompt::{TerminalUnlock, confirm};
use crate::ops::Context;
use crate::ops::wallet::{self as ops, NewStore, OpenedWallet, StoreChoice};

/// Runs one wallet command.
pub async fn run(global: &GlobalArgs, command: WalletCommand) -> anyhow::Result<()> {
    let ctx = super::context(global, None)?;
    let unlock = TerminalUnlock::of(&ctx);
    match command {
        WalletCommand::New {
            alias,
            scheme,
            store,
            json,
        } => {
            let scheme: Scheme = scheme.parse()?;
            let mut opened = ops::open_for_adding(&ctx, choice(store), &unlock)?;
            let entry = ops::create_key(&mut opened.store, &alias, scheme)?;
            report_added(&opened, &[entry], json)
        }
        WalletCommand::Import {
            alias,
            source,
            scheme,
            derivation_path,
            store,
            json,
        } => {
            let source = import_source(&source, &scheme, derivation_path.as_deref())?;
            let mut opened = ops::open_for_adding(&ctx, choice(store), &unlock)?;
            let entries = ops::import(&mut opened.store, &alias, source)?;
            report_added(&opened, &entries, json)
        }
        WalletCommand::List { json } => list(&ctx, json),
        WalletCommand::Use { name } => {
            ctx.ensure_writable("choose the active key")?;
            let entry = ops::open(&ctx, &unlock)?.set_active(&name)?;
            print_entry(&entry)
        }
        WalletCommand::Remove { name } => {
            ctx.ensure_writable("remove a key")?;
            let mut store = ops::open(&ctx, &unlock)?;
            let entry = store.find(&name)?.clone();
            confirm(
                &format!(
                    "removing {} {}: its secret is deleted; stake it holds is lost unless the key is backed up",
                    entry.alias, entry.address
                ),
                "remove the key?",
                global.yes,
            )?;
            let entry = store.remove(&name)?;
            out!("removed {} {}", entry.alias, entry.address)?;
            Ok(())
        }
        WalletCommand::Export { name } => {
            let store = ops::open(&ctx, &unlock)?;
            let key = store.keypair(Some(&name))?;
            if std::io::stdout().is_terminal() {
                confirm(
                    "this prints the private key: anyone who sees it controls the stake",
                    "print it?",
                    global.yes,
                )?;
            }
            out!("{}", key.to_suiprivkey().as_str())?;
            Ok(())
        }
        WalletCommand::Balance { name, json } => {
            let balance = ops::balance(&ctx, address_of(&ctx, name.as_deref())?).await?;
            if json {
                return output::json(&balance);
            }
            out!("{} {}", balance.address, balance.sui)?;
            Ok(())
        }
        WalletCommand::Faucet { name, json } => {
            let balance = ops::faucet(&ctx, address_of(&ctx, name.as_deref())?).await?;
            if json {
                return output::json(&balance);
            }
            out!("funded {}; balance {}", balance.address, balance.sui)?;
            Ok(())
        }
        WalletCommand::SignMessage => {
            let message = read_stdin_bytes()?;
            let store = ops::open(&ctx, &unlock)?;
            out!(
                "{}",
                store.sign_personal_message(ctx.settings().key.as_deref(), &message)?
            )?;
            Ok(())
        }
        WalletCommand::VerifyMessage { address, signature } => {
            let address: Address = address
                .parse()
                .with_context(|| format!("`{address}` is not a Sui address"))?;
            verify_personal_message(&read_stdin_bytes()?, &signature, address)?;
            out!("valid signature by {address}")?;
            Ok(())
        }
    }
}

fn choice(store: StoreArg) -> StoreChoice {
    match store {
        StoreArg::Auto => StoreChoice::Auto,
        StoreArg::Keyring => StoreChoice::Keyring,
        StoreArg::File => StoreChoice::File,
    }
}

/// The address named by alias or address, or the configured/active key's.
fn address_of(ctx: &Context, name: Option<&str>) -> anyhow::Result<Address> {
    if let Some(name) = name {
        if let Ok(address) = name.parse::<Address>() {
            return Ok(address);
        }
        let summary = ops::summary(ctx)?.context("there is no wallet yet")?;
        return Ok(summary
            .entry(Some(name))
            .with_context(|| format!("no key `{name}` in the wallet"))?
            .address);
    }
    Ok(ops::address(ctx)?)
}

fn import_source<'a>(
    source: &'a ImportSource,
    scheme: &str,
    path: Option<&'a str>,
) -> anyhow::Result<ops::ImportSource<'a>> {
    if let Some(file) = &source.keystore {
        return Ok(ops::ImportSource::Keystore(file));
    }
    let secret = Zeroizing::new(read_stdin_text()?);
    Ok(if source.suiprivkey {
        ops::ImportSource::SuiPrivKey(secret)
    } else {
        ops::ImportSource::Mnemonic {
            phrase: secret,
            scheme: scheme.parse()?,
            path,
        }
    })
}

fn report_added(opened: &OpenedWallet, entries: &[WalletEntry], json: bool) -> anyhow::Result<()> {
    if json {
        return output::json(&json!({
            "keys": entries,
            "store": opened.store.backend(),
            "created": opened.created,
        }));
    }
    if let Some(created) = &opened.created {
        note!("{}", describe_new_store(created));
    }
    for entry in entries {
        print_entry(entry)?;
    }
    Ok(())
}

/// Says which key store a new wallet uses, and why not the keyring.
fn describe_new_store(created: &NewStore) -> String {
    match &created.keyring_unavailable {
        Some(why) => format!(
            "new wallet: keys in an encrypted file, because no OS keyring is reachable ({why})"
        ),
        None => format!("new wallet: keys in the {}", created.backend),
    }
}

fn list(ctx: &Context, json: bool) -> anyhow::Result<()> {
    let summary = ops::summary(ctx)?;
    if json {
        let keys = summary
            .as_ref()
            .map(|s| s.keys.as_slice())
            .unwrap_or_default();
        out!("{}", serde_json::to_string_pretty(keys)?)?;
        return Ok(());
    }
    let Some(summary) = summary else {
        out!(
            "no wallet in {}; create a key with `daas-console wallet new --alias NAME`",
            ctx.wallet_dir()?.display()
        )?;
        return Ok(());
    };
    out!("keys in the {}", summary.backend)?;
    for entry in &summary.keys {
        let mark = if Some(entry.address) == summary.active {
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

fn print_entry(entry: &WalletEntry) -> anyhow::Result<()> {
    out!("{} {} ({})", entry.alias, entry.address, entry.scheme)?;
    Ok(())
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
