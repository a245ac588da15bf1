//! The on-chain `EnclaveConfig`: the PCRs a master must attest to before
//! its key is registered, and what clients pinned to the config trust.
//!
//! Creating one and replacing its PCRs need the package's `EnclaveCap`, held
//! by the operator who deploys the master. Replacing the PCRs (a new master
//! image) bumps the config's version, which retires every enclave registered
//! under the old one; clients pinned to the config follow without a change
//! of their own configuration. Anyone may then delete those stale enclaves.

use std::path::Path;

use daas_core::attestation::Pcr;
use daas_core::chain::ChainClient;
use daas_core::chain::ptb::PcrArgs;
use daas_core::package::MoveStruct as _;
use daas_core::package::enclave::EnclaveCap;
use daas_core::wallet::Keypair;
use serde::Serialize;
use sui_sdk_types::{Address, Digest};

use super::{Context, OpsError};

/// The three PCRs an `EnclaveConfig` pins: the enclave image (PCR0), its
/// kernel and boot (PCR1) and its application (PCR2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImagePcrs(pub [Pcr; 3]);

impl ImagePcrs {
    /// Reads the measurements of an enclave image: the `pcrs.json` that
    /// `deploy/3-nautilus-tee-deploy.sh` writes (`{"PCR0": "…", …}`) or the
    /// output of `nitro-cli build-enclave` (the same under `Measurements`).
    ///
    /// # Errors
    /// [`OpsError::Invalid`] naming the file and what is wrong with it.
    pub fn from_file(path: &Path) -> Result<Self, OpsError> {
        let text = std::fs::read_to_string(path).map_err(|source| OpsError::File {
            action: "reading the PCRs in",
            path: path.to_owned(),
            source,
        })?;
        Self::from_json(&text).map_err(|reason| OpsError::Invalid {
            what: "PCR file",
            value: path.display().to_string(),
            reason,
        })
    }

    /// [`ImagePcrs::from_file`]'s parser.
    ///
    /// # Errors
    /// Why the text holds no PCR0, PCR1 and PCR2 of 48 bytes each.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|error| format!("not JSON: {error}"))?;
        let measurements = value.get("Measurements").unwrap_or(&value);
        let pcr = |index: usize| -> Result<Pcr, String> {
            let name = format!("PCR{index}");
            let hex = measurements
                .get(&name)
                .ok_or_else(|| format!("{name} is missing"))?
                .as_str()
                .ok_or_else(|| format!("{name} is not a string"))?;
            Pcr::from_hex(hex.trim().trim_start_matches("0x"))
                .map_err(|_| format!("{name} is not 96 hex digits (48 bytes)"))
        };
        Ok(Self([pcr(0)?, pcr(1)?, pcr(2)?]))
    }

    fn args(&self) -> PcrArgs<'_> {
        PcrArgs {
            pcr0: self.0[0].as_bytes(),
            pcr1: self.0[1].as_bytes(),
            pcr2: self.0[2].as_bytes(),
        }
    }

    /// PCR0, PCR1 and PCR2 in hex.
    pub fn hex(&self) -> [String; 3] {
        self.0.map(|pcr| hex::encode(pcr.as_bytes()))
    }
}

/// An `EnclaveConfig` as the chain holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigView {
    /// The shared `EnclaveConfig` object.
    pub config: Address,
    /// Its name.
    pub name: String,
    /// PCR0, PCR1 and PCR2 (hex).
    pub pcrs: [String; 3],
    /// Bumped by every change of the PCRs; enclaves registered under an
    /// older version are no longer current.
    pub version: u64,
    /// The transaction that wrote it, when this operation did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
}

/// The `EnclaveConfig` `config`.
///
/// # Errors
/// The chain failed or holds no such config.
pub async fn show(ctx: &Context, config: Address) -> Result<ConfigView, OpsError> {
    let read = ctx.chain()?.enclave_config(config).await?.value;
    Ok(ConfigView {
        config,
        pcrs: [&read.pcr0, &read.pcr1, &read.pcr2].map(hex::encode),
        name: read.name,
        version: read.version,
        digest: None,
    })
}

/// A change of an `EnclaveConfig`, checked and ready to sign: what a
/// confirmation shows, then what [`apply`] sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigPlan {
    /// Who signs: the holder of `cap`.
    pub sender: Address,
    /// The sender's `EnclaveCap`.
    cap: Address,
    /// A new config, or new PCRs for one.
    pub change: ConfigChange,
    /// The PCRs the config will expect.
    pub pcrs: ImagePcrs,
}

/// What a [`ConfigPlan`] changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigChange {
    /// A new config of this name.
    Create {
        /// Its name.
        name: String,
    },
    /// New PCRs (a new master image) for the config as it is now; every
    /// enclave registered under its current PCRs stops being current.
    Update {
        /// The config before the change.
        current: ConfigView,
    },
}

/// Plans a new `EnclaveConfig` named `name` expecting `pcrs`, signed by
/// `sender` with its `EnclaveCap`.
///
/// # Errors
/// An empty name; `sender` holds no `EnclaveCap`; the chain failed.
pub async fn plan_create(
    ctx: &Context,
    sender: Address,
    name: &str,
    pcrs: ImagePcrs,
) -> Result<ConfigPlan, OpsError> {
    if name.trim().is_empty() {
        return Err(OpsError::Invalid {
            what: "EnclaveConfig name",
            value: name.to_owned(),
            reason: "it is empty; name the master image it pins".to_owned(),
        });
    }
    Ok(ConfigPlan {
        sender,
        cap: held_cap(&ctx.chain()?, sender).await?,
        change: ConfigChange::Create {
            name: name.to_owned(),
        },
        pcrs,
    })
}

/// Plans replacing the PCRs `config` expects with `pcrs` (a new master
/// image), signed by `sender` with its `EnclaveCap`; register the new
/// master's key afterwards.
///
/// # Errors
/// The chain failed or holds no such config; the config already expects
/// `pcrs` (an update would only retire its enclaves); `sender` holds no
/// `EnclaveCap`.
pub async fn plan_update(
    ctx: &Context,
    sender: Address,
    config: Address,
    pcrs: ImagePcrs,
) -> Result<ConfigPlan, OpsError> {
    let current = show(ctx, config).await?;
    if current.pcrs == pcrs.hex() {
        return Err(OpsError::Refused(format!(
            "EnclaveConfig {config} already expects these PCRs (version {}); updating would only \
             retire the enclaves registered under it",
            current.version
        )));
    }
    Ok(ConfigPlan {
        sender,
        cap: held_cap(&ctx.chain()?, sender).await?,
        change: ConfigChange::Update { current },
        pcrs,
    })
}

/// Signs and sends `plan` with `signer` (which must be its sender).
///
/// # Errors
/// Read-only session, another signer, or the chain's refusal.
pub async fn apply(
    ctx: &Context,
    signer: &Keypair,
    plan: &ConfigPlan,
) -> Result<ConfigView, OpsError> {
    ctx.ensure_writable("change an EnclaveConfig")?;
    if signer.address() != plan.sender {
        return Err(OpsError::Refused(format!(
            "the plan is for {}, not {}",
            plan.sender,
            signer.address()
        )));
    }
    let chain = ctx.chain()?;
    let pcrs = plan.pcrs.args();
    let (config, name, version, digest) = match &plan.change {
        ConfigChange::Create { name } => {
            let created = chain
                .create_enclave_config(signer, plan.cap, name, &pcrs)
                .await?;
            let event = created.event;
            (
                event.config_id,
                event.name,
                event.version,
                created.outcome.digest,
            )
        }
        ConfigChange::Update { current } => {
            let updated = chain
                .update_enclave_pcrs(signer, current.config, plan.cap, &pcrs)
                .await?;
            let event = updated.event;
            (
                event.config_id,
                event.name,
                event.version,
                updated.outcome.digest,
            )
        }
    };
    Ok(ConfigView {
        config,
        name,
        pcrs: plan.pcrs.hex(),
        version,
        digest: Some(digest),
    })
}

/// The deletion of a stale enclave, checked: what a confirmation shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestroyPlan {
    /// The stale `Enclave`.
    pub enclave: Address,
    /// Its config, which has moved on since it was registered.
    pub config: ConfigView,
}

/// A stale enclave deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Destroyed {
    /// The deleted `Enclave`.
    pub enclave: Address,
    /// Its config, which has moved on.
    pub config: Address,
    /// The transaction.
    pub digest: Digest,
}

/// Plans deleting `enclave` if it is stale (registered under an older
/// version of its config).
///
/// # Errors
/// The chain failed or holds no such enclave; the enclave is current (its
/// config still expects the PCRs it was registered with).
pub async fn plan_destroy(ctx: &Context, enclave: Address) -> Result<DestroyPlan, OpsError> {
    let registered = ctx.chain()?.enclave(enclave).await?.value;
    let config = show(ctx, registered.config_id).await?;
    if registered.config_version >= config.version {
        return Err(OpsError::Refused(format!(
            "Enclave {enclave} is current (EnclaveConfig {} version {}): only an enclave whose \
             config has moved on may be deleted",
            config.config, config.version
        )));
    }
    Ok(DestroyPlan { enclave, config })
}

/// Deletes the enclave of `plan` (anyone may; the storage rebate goes to
/// the signer).
///
/// # Errors
/// Read-only session; the chain refused.
pub async fn destroy(
    ctx: &Context,
    signer: &Keypair,
    plan: &DestroyPlan,
) -> Result<Destroyed, OpsError> {
    ctx.ensure_writable("delete an enclave")?;
    let called = ctx
        .chain()?
        .destroy_old_enclave(signer, plan.enclave, plan.config.config)
        .await?;
    Ok(Destroyed {
        enclave: called.event.enclave_id,
        config: called.event.config_id,
        digest: called.outcome.digest,
    })
}

/// The `EnclaveCap` `holder` holds, or why it may not change configs.
async fn held_cap(chain: &ChainClient, holder: Address) -> Result<Address, OpsError> {
    let caps = chain
        .owned_objects_of_type(holder, &EnclaveCap::struct_tag(chain.package_id()))
        .await?;
    caps.into_iter().next().ok_or_else(|| {
        OpsError::Refused(format!(
            "{holder} holds no EnclaveCap: only the operator who published the package (or \
             received its EnclaveCap) may create or update EnclaveConfigs; nothing was sent"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex_of(byte: u8) -> String {
        hex::encode([byte; 48])
    }

    #[test]
    fn reads_the_deploy_scripts_file_and_nitro_clis_output() {
        let expected = ImagePcrs([Pcr::new([1; 48]), Pcr::new([2; 48]), Pcr::new([3; 48])]);
        let script = format!(
            r#"{{"PCR0": "{}", "PCR1": "0x{}", "PCR2": " {} "}}"#,
            hex_of(1),
            hex_of(2),
            hex_of(3)
        );
        assert_eq!(ImagePcrs::from_json(&script), Ok(expected));
        let nitro_cli = format!(
            r#"{{"EnclaveImage": "x.eif", "Measurements": {{"HashAlgorithm": "Sha384 {{ ... }}",
                "PCR0": "{}", "PCR1": "{}", "PCR2": "{}"}}}}"#,
            hex_of(1).to_uppercase(),
            hex_of(2),
            hex_of(3)
        );
        assert_eq!(ImagePcrs::from_json(&nitro_cli), Ok(expected));
    }

    #[test]
    fn a_bad_file_names_what_is_wrong() {
        for (text, needle) in [
            ("PCR0=ab".to_owned(), "not JSON"),
            ("{}".to_owned(), "PCR0 is missing"),
            (
                format!(r#"{{"PCR0": "{}", "PCR1": 7}}"#, hex_of(1)),
                "PCR1 is not a string",
            ),
            (
                format!(
                    r#"{{"PCR0": "{}", "PCR1": "{}", "PCR2": "abcd"}}"#,
                    hex_of(1),
                    hex_of(2)
                ),
                "PCR2 is not 96 hex digits",
            ),
            ("[1, 2]".to_owned(), "PCR0 is missing"),
        ] {
            let error = ImagePcrs::from_json(&text).unwrap_err();
            assert!(error.contains(needle), "{text}: {error}");
        }
    }
}
