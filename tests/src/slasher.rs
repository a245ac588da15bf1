//! A stack whose devnet names a test key as the slasher (the `SlasherCap`
//! holder at genesis), with that key funded to pay for its transactions.

use anyhow::Context as _;
use daas_core::chain::{ChainClient, TransactionSigner};
use daas_core::package::{SLASHER_CAP_ID, SealTokenId};
use sui_crypto::ed25519::Ed25519PrivateKey;

use crate::devnet::DevnetOptions;
use crate::stack::{Stack, StackOptions};

/// Starts a stack with `master_config` whose slasher is `slasher`, funded.
///
/// # Errors
/// The stack did not start or the faucet refused.
pub async fn stack_with_slasher(
    slasher: &Ed25519PrivateKey,
    master_config: &str,
) -> anyhow::Result<Stack> {
    let address = TransactionSigner::address(slasher);
    let stack = Stack::start(StackOptions {
        devnet: DevnetOptions {
            slasher: Some(address),
            ..DevnetOptions::default()
        },
        master_config: master_config.to_owned(),
        ..StackOptions::default()
    })
    .await?;
    stack
        .devnet
        .fund(address)
        .await
        .context("funding the slasher")?;
    Ok(stack)
}

/// Slashes `seal`: `reporter` proposes it for `reason`, `slasher` (the
/// genesis `SlasherCap` holder) approves.
///
/// # Errors
/// The chain refused either transaction.
pub async fn slash(
    chain: &ChainClient,
    reporter: &dyn TransactionSigner,
    slasher: &Ed25519PrivateKey,
    seal: SealTokenId,
    reason: &str,
) -> anyhow::Result<()> {
    let proposed = chain
        .propose_slash(reporter, seal, &[7u8; 32], reason)
        .await
        .context("proposing the slash")?;
    chain
        .approve_slash(slasher, SLASHER_CAP_ID, proposed.event.proposal_id)
        .await
        .context("approving the slash")?;
    Ok(())
}
