//! `daas-console enclave register`, `enclave config …` and `enclave destroy`.

use anyhow::Context as _;
use sui_sdk_types::Address;

use super::args::{EnclaveCommand, EnclaveConfigCommand, GlobalArgs};
use super::output::{self, out};
use super::pcr_args;
use super::prompt::{TerminalUnlock, confirm};
use crate::ops::enclave_config::{ConfigChange, ConfigPlan, ConfigView};
use crate::ops::{enclave, enclave_config, wallet};

const INSECURE_BANNER: &str = "!!! INSECURE DEVELOPMENT ATTESTATION: the registered key has NO \
     hardware guarantee; never use this enclave with real stake !!!";

/// Runs `daas-console enclave …`.
pub async fn run(global: &GlobalArgs, command: EnclaveCommand) -> anyhow::Result<()> {
    match command {
        EnclaveCommand::Register { url, config, json } => {
            register(global, url.as_deref(), &config, json).await
        }
        EnclaveCommand::Config(command) => run_config(global, command).await,
        EnclaveCommand::Destroy { enclave, json } => destroy(global, &enclave, json).await,
    }
}

/// `enclave destroy`.
async fn destroy(global: &GlobalArgs, enclave: &str, json: bool) -> anyhow::Result<()> {
    let enclave: Address = enclave
        .parse()
        .with_context(|| format!("`{enclave}` is not an Enclave id (0x…)"))?;
    let ctx = super::context(global, None)?;
    ctx.ensure_writable("delete an enclave")?;
    let plan = enclave_config::plan_destroy(&ctx, enclave).await?;
    confirm(
        &format!(
            "delete Enclave {enclave}, registered under an older version of EnclaveConfig {} \
             (now version {})",
            plan.config.config, plan.config.version
        ),
        "sign and send?",
        global.yes,
    )?;
    let signer = wallet::signer(&ctx, &TerminalUnlock::of(&ctx))?;
    let destroyed = enclave_config::destroy(&ctx, &signer, &plan)
        .await
        .with_context(|| format!("destroy_old_enclave from {} failed", signer.address()))?;
    if json {
        return output::json(&destroyed);
    }
    out!("deleted       {}", destroyed.enclave)?;
    out!("config        {}", destroyed.config)?;
    out!("transaction   {}", destroyed.digest)?;
    Ok(())
}

/// `enclave register`.
async fn register(
    global: &GlobalArgs,
    url: Option<&str>,
    config: &str,
    json: bool,
) -> anyhow::Result<()> {
    let config = config_id(config)?;
    let ctx = super::context(global, url)?;
    let master = ctx.master_settings()?.url.clone();
    ctx.ensure_writable("register an enclave")?;
    confirm(
        &format!(
            "attest the master at {master} against the PCRs of EnclaveConfig {config} and \
             register its key on chain (a transaction from your wallet)"
        ),
        "sign and send?",
        global.yes,
    )?;
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

/// `enclave config …`.
async fn run_config(global: &GlobalArgs, command: EnclaveConfigCommand) -> anyhow::Result<()> {
    let ctx = super::context(global, None)?;
    let (plan, json) = match command {
        EnclaveConfigCommand::Show { config, json } => {
            let config = config_id(&config)?;
            let view = enclave_config::show(&ctx, config)
                .await
                .with_context(|| format!("reading EnclaveConfig {config}"))?;
            return print_config(&view, json);
        }
        EnclaveConfigCommand::Create { name, pcrs, json } => {
            let pcrs = pcr_args::image(&pcrs)?;
            ctx.ensure_writable("create an EnclaveConfig")?;
            let sender = wallet::address(&ctx)?;
            (
                enclave_config::plan_create(&ctx, sender, &name, pcrs).await?,
                json,
            )
        }
        EnclaveConfigCommand::Update { config, pcrs, json } => {
            let config = config_id(&config)?;
            let pcrs = pcr_args::image(&pcrs)?;
            ctx.ensure_writable("update an EnclaveConfig")?;
            let sender = wallet::address(&ctx)?;
            (
                enclave_config::plan_update(&ctx, sender, config, pcrs).await?,
                json,
            )
        }
    };
    confirm(&describe(&plan), "sign and send?", global.yes)?;
    let signer = wallet::signer(&ctx, &TerminalUnlock::of(&ctx))?;
    let view = enclave_config::apply(&ctx, &signer, &plan)
        .await
        .with_context(|| format!("the EnclaveConfig change from {} failed", signer.address()))?;
    print_config(&view, json)
}

/// What `plan` will sign, for its confirmation.
fn describe(plan: &ConfigPlan) -> String {
    let pcrs = plan
        .pcrs
        .hex()
        .iter()
        .enumerate()
        .map(|(index, pcr)| format!("  PCR{index}  {pcr}"))
        .collect::<Vec<_>>()
        .join("\n");
    match &plan.change {
        ConfigChange::Create { name } => {
            format!("create EnclaveConfig \"{name}\" expecting\n{pcrs}")
        }
        ConfigChange::Update { current } => format!(
            "replace the PCRs EnclaveConfig {} (\"{}\", version {}) expects with\n{pcrs}\n\
             every enclave registered under the current ones stops being current",
            current.config, current.name, current.version
        ),
    }
}

fn print_config(view: &ConfigView, json: bool) -> anyhow::Result<()> {
    if json {
        return output::json(view);
    }
    out!("config        {}", view.config)?;
    out!("name          {}", view.name)?;
    out!("version       {}", view.version)?;
    for (index, pcr) in view.pcrs.iter().enumerate() {
        out!("pcr{index}          {pcr}")?;
    }
    if let Some(digest) = view.digest {
        out!("transaction   {digest}")?;
        out!(
            "next          daas-console enclave register MASTER_URL --config {}",
            view.config
        )?;
    }
    Ok(())
}

fn config_id(text: &str) -> anyhow::Result<Address> {
    text.parse()
        .with_context(|| format!("`{text}` is not an EnclaveConfig id (0x…)"))
}
