//! `daas-console enclave register`.

use anyhow::Context as _;
use sui_sdk_types::Address;

use super::args::{EnclaveCommand, GlobalArgs};
use super::output::{self, out};
use super::prompt::TerminalUnlock;
use crate::ops::{enclave, wallet};

const INSECURE_BANNER: &str = "!!! INSECURE DEVELOPMENT ATTESTATION: the registered key has NO \
     hardware guarantee; never use this enclave with real stake !!!";

/// Runs `daas-console enclave …`.
pub async fn run(global: &GlobalArgs, command: EnclaveCommand) -> anyhow::Result<()> {
    let EnclaveCommand::Register { url, config, json } = command;
    let config: Address = config
        .parse()
        .with_context(|| format!("`{config}` is not an EnclaveConfig id (0x…)"))?;
    let ctx = super::context(global, url.as_deref())?;
    ctx.master_settings()?;
    // Unlock the wallet before any network traffic, so a wrong passphrase
    // fails fast.
    let signer = wallet::signer(&ctx, &TerminalUnlock::of(&ctx))?;
    let registered = enclave::register(&ctx, &signer, config)
        .await
        .with_context(|| format!("register_enclave from {} failed", signer.address()))?;
    if json {
        return output::json(&registered);
    }
    if registered.insecure_dev {
        out!("{INSECURE_BANNER}")?;
    }
    out!("enclave       {}", registered.enclave)?;
    out!("public key    {}", registered.public_key)?;
    out!(
        "config        {} (version {})",
        registered.config,
        registered.config_version
    )?;
    out!("owner         {}", registered.owner)?;
    out!("transaction   {}", registered.digest)?;
    Ok(())
}
