//! The master's enclave on chain, as the operator sets it up for a stack
//! with dev attestation: the devnet trusts the master's dev root, an
//! `EnclaveConfig` holds the master's PCRs, and its attested key is
//! registered against it (what `daas-console enclave register` does).

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use daas_core::attested::AttestedClient;
use daas_core::chain::ptb::PcrArgs;
use daas_core::chain::{ChainClient, TransactionSigner as _};
use sui_crypto::ed25519::Ed25519PrivateKey;
use sui_sdk_types::{Address, Ed25519PublicKey};

use daas_core::package::ENCLAVE_CAP_ID;

use crate::devnet::{Devnet, DevnetOptions};
use crate::stack::{Stack, StackOptions};

/// A new master image: the workspace's `daas-master` with one more byte,
/// written to `dir`, so that it attests to other dev PCRs (they measure the
/// running binary).
///
/// # Errors
/// The binary is missing or the copy failed.
pub fn new_master_image(dir: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    let built = crate::binaries::workspace_binary(crate::binaries::MASTER)?;
    let mut bytes =
        std::fs::read(&built).with_context(|| format!("reading {}", built.display()))?;
    bytes.push(0);
    let image = dir.join("daas-master");
    std::fs::write(&image, bytes).with_context(|| format!("writing {}", image.display()))?;
    std::fs::set_permissions(&image, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("making {} executable", image.display()))?;
    Ok(image)
}

/// A stack whose `EnclaveCap` `admin` holds (funded), with an
/// `EnclaveConfig` of its master's PCRs ([`trusted_config`]).
///
/// # Errors
/// A component did not start, or a transaction failed.
pub async fn stack_with_config(admin: &Ed25519PrivateKey) -> anyhow::Result<(Stack, Address)> {
    let mut stack = Stack::start(StackOptions {
        devnet: DevnetOptions {
            admin: Some(admin.address()),
            ..DevnetOptions::default()
        },
        ..StackOptions::default()
    })
    .await?;
    stack.devnet.fund(admin.address()).await?;
    let config = trusted_config(&mut stack, admin).await?;
    Ok((stack, config))
}

/// Makes the devnet trust the stack's master's dev attestation root (a
/// devnet restart, which the master rides out), then creates, as `admin`
/// (the `EnclaveCap` holder, funded), an `EnclaveConfig` with the master's
/// PCRs 0, 1 and 2.
///
/// # Errors
/// The root is unreadable, a process did not come back, or a transaction
/// failed.
pub async fn trusted_config(
    stack: &mut Stack,
    admin: &Ed25519PrivateKey,
) -> anyhow::Result<Address> {
    let pem = std::fs::read_to_string(stack.master.state_dir().join("dev-root.pem"))
        .context("reading the master's dev root")?;
    stack.devnet.trust_dev_attestation_root(&pem).await?;
    stack.master.wait_ready().await?;
    let chain = stack.devnet.client()?;
    // Boxed: callers' async blocks are deep already (the compiler's query
    // depth limit).
    Box::pin(create_config(&stack.master.client()?, &chain, admin)).await
}

/// Creates, as `admin`, an `EnclaveConfig` with PCRs 0, 1 and 2 of the
/// master behind `master` (replicas of one build share them).
///
/// # Errors
/// The master did not attest or the transaction failed.
pub async fn create_config(
    master: &AttestedClient,
    chain: &ChainClient,
    admin: &Ed25519PrivateKey,
) -> anyhow::Result<Address> {
    let master = master.master().await?;
    let pcrs = master.attestation().pcrs();
    let pcr = |index| {
        pcrs.get(index)
            .map(|value| value.as_bytes().to_vec())
            .with_context(|| format!("the master reports no PCR{index}"))
    };
    let (pcr0, pcr1, pcr2) = (pcr(0)?, pcr(1)?, pcr(2)?);
    let created = chain
        .create_enclave_config(
            admin,
            ENCLAVE_CAP_ID,
            "k3s-daas master",
            &PcrArgs {
                pcr0: &pcr0,
                pcr1: &pcr1,
                pcr2: &pcr2,
            },
        )
        .await
        .context("creating the EnclaveConfig")?;
    Ok(created.event.config_id)
}

/// Registers the running master's attested key against `config` as
/// `admin`, and returns it. With `fund`, the key's address (which pays for
/// the gateway's results) gets faucet funds.
///
/// # Errors
/// The master did not attest, or a transaction or the faucet failed.
pub async fn register_master(
    stack: &Stack,
    admin: &Ed25519PrivateKey,
    config: Address,
    fund: bool,
) -> anyhow::Result<[u8; 32]> {
    Box::pin(register_key(
        &stack.master.client()?,
        &stack.devnet,
        admin,
        config,
        fund,
    ))
    .await
}

/// Registers the attested key of the master behind `master` against
/// `config` as `admin`, and returns it; with `fund`, the key's address gets
/// faucet funds.
///
/// # Errors
/// The master did not attest, or a transaction or the faucet failed.
pub async fn register_key(
    master: &AttestedClient,
    devnet: &Devnet,
    admin: &Ed25519PrivateKey,
    config: Address,
    fund: bool,
) -> anyhow::Result<[u8; 32]> {
    let master = master.master().await?;
    let document = STANDARD
        .decode(&master.response().document)
        .context("the master's attestation document is not base64")?;
    let key = master.signing_key().to_bytes();
    let registered = devnet
        .client()?
        .register_enclave(admin, config, &document)
        .await
        .context("registering the master's key")?;
    anyhow::ensure!(
        registered.event.pk == key,
        "the chain registered another key than the master's"
    );
    if fund {
        devnet
            .fund(Ed25519PublicKey::new(key).derive_address())
            .await?;
    }
    Ok(key)
}
