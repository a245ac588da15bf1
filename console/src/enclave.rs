//! `daas-console enclave register`: the Nautilus registration flow.
//!
//! The operator, not the enclave, submits the registration: the console
//! attests the master against the PCRs of the on-chain `EnclaveConfig`
//! (so what is checked before spending gas is what the chain will check),
//! then passes the verified attestation document to
//! `0x2::nitro_attestation::load_nitro_attestation` and
//! `k3s_daas::enclave::register_enclave` from the operator's wallet key.
//! The enclave itself never needs SUI.

use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use daas_core::attestation::PcrPolicy;
use daas_core::attested::AttestedClient;
use daas_core::chain::{ChainClient, ChainConfig};
use sui_sdk_types::Address;

use crate::attest_live::{client_config, trust_roots};
use crate::cli::{EnclaveCommand, EnclaveRegisterArgs, GlobalArgs};
use crate::wallet::open_store;

const INSECURE_BANNER: &str = "!!! INSECURE DEVELOPMENT ATTESTATION: the registered key has NO \
     hardware guarantee; never use this enclave with real stake !!!";

/// Runs `daas-console enclave …`.
pub fn run(global: &GlobalArgs, command: EnclaveCommand) -> anyhow::Result<()> {
    match command {
        EnclaveCommand::Register(args) => register(global, &args),
    }
}

fn register(global: &GlobalArgs, args: &EnclaveRegisterArgs) -> anyhow::Result<()> {
    let config_id: Address = args
        .config
        .parse()
        .with_context(|| format!("`{}` is not an EnclaveConfig id (0x…)", args.config))?;
    let roots = trust_roots(&args.trust)?;
    // Unlock the wallet before any network traffic, so a wrong passphrase
    // fails fast.
    let store = open_store(global)?;
    let key = store.keypair(args.key.as_deref())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let chain = ChainClient::new(ChainConfig::devnet(&args.chain_endpoint))
            .with_context(|| format!("cannot use the chain at {}", args.chain_endpoint))?;
        let expected = chain
            .enclave_expected_pcrs(config_id)
            .await
            .with_context(|| format!("cannot read the PCRs of EnclaveConfig {config_id}"))?;

        let client_config = client_config(&args.trust, roots, PcrPolicy::Expect(expected));
        let client = AttestedClient::new(&args.url, client_config)?;
        let master = client.master().await.with_context(|| {
            format!(
                "master {} is NOT attested with the PCRs of EnclaveConfig {config_id}; nothing was submitted",
                args.url
            )
        })?;
        let document = STANDARD
            .decode(&master.response().document)
            .context("the master's attestation document is not base64")?;
        let attested_key = master.signing_key().to_bytes();
        if master.is_insecure_dev() {
            out!("{INSECURE_BANNER}")?;
        }

        let called = chain
            .register_enclave(&key, config_id, &document)
            .await
            .with_context(|| {
                format!(
                    "register_enclave from {} was refused",
                    key.address()
                )
            })?;
        let enclave_id = called.event.enclave_id;
        let registered = chain
            .enclave_public_key(enclave_id)
            .await
            .with_context(|| format!("cannot read back Enclave {enclave_id}"))?;
        if *registered.as_bytes() != attested_key || called.event.pk != attested_key {
            bail!(
                "Enclave {enclave_id} holds key {}, not the master's attested key {}",
                hex::encode(registered.as_bytes()),
                hex::encode(attested_key)
            );
        }
        out!("enclave       {enclave_id}")?;
        out!("public key    {}", hex::encode(registered.as_bytes()))?;
        out!("config        {config_id} (version {})", called.event.config_version)?;
        out!("owner         {}", called.event.owner)?;
        out!("transaction   {}", called.outcome.digest)?;
        Ok(())
    })
}
