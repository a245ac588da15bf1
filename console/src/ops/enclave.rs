//! Registering an attested master's key on chain (Nautilus's flow): the
//! operator's wallet pays, the enclave needs no SUI.
//!
//! The master is attested against the PCRs of the on-chain `EnclaveConfig`
//! (what is checked before spending gas is what the chain will check);
//! the verified document then goes to
//! `0x2::nitro_attestation::load_nitro_attestation` and
//! `k3s_daas::enclave::register_enclave`, and the registered key is read
//! back and compared with the attested one.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use daas_core::wallet::Keypair;
use serde::Serialize;
use sui_sdk_types::{Address, Digest};

use super::{Context, OpsError};
use crate::config::PcrSource;

/// A registered enclave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Registered {
    /// The shared `Enclave` object.
    pub enclave: Address,
    /// Its public key (hex), equal to the attested one.
    pub public_key: String,
    /// The `EnclaveConfig`.
    pub config: Address,
    /// The config's version at registration.
    pub config_version: u64,
    /// Who registered it.
    pub owner: Address,
    /// The transaction.
    pub digest: Digest,
    /// Registered from INSECURE development attestation.
    pub insecure_dev: bool,
}

/// Attests the profile's master with the PCRs of `config` and registers
/// its key, signed and paid by `signer`.
///
/// # Errors
/// Read-only session; the master is not attested with those PCRs (nothing
/// is sent); the chain refused; the chain holds another key.
pub async fn register(
    ctx: &Context,
    signer: &Keypair,
    config: Address,
) -> Result<Registered, OpsError> {
    ctx.ensure_writable("register an enclave")?;
    let mut settings = ctx.settings().clone();
    if let Some(master) = settings.master.as_mut() {
        master.pcrs = PcrSource::EnclaveConfig(config);
    }
    let pinned = Context::new(settings);
    let master = pinned.master().await?.attested().attest().await.map_err(|e| {
        OpsError::Refused(format!(
            "the master is NOT attested with the PCRs of EnclaveConfig {config}; nothing was submitted: {e}"
        ))
    })?;
    let document = STANDARD
        .decode(&master.response().document)
        .map_err(|_| OpsError::Refused("the master's document is not base64".to_owned()))?;
    let attested_key = master.signing_key().to_bytes();
    let chain = ctx.chain()?;
    let called = chain.register_enclave(signer, config, &document).await?;
    let enclave = called.event.enclave_id;
    let registered = chain.enclave_public_key(enclave).await?;
    if *registered.as_bytes() != attested_key || called.event.pk != attested_key {
        return Err(OpsError::Refused(format!(
            "Enclave {enclave} holds key {}, not the master's attested key {}",
            hex::encode(registered.as_bytes()),
            hex::encode(attested_key)
        )));
    }
    Ok(Registered {
        enclave,
        public_key: hex::encode(registered.as_bytes()),
        config,
        config_version: called.event.config_version,
        owner: called.event.owner,
        digest: called.outcome.digest,
        insecure_dev: master.is_insecure_dev(),
    })
}
