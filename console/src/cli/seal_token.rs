//! `daas-console seal-token …`: opaque seal tokens for `curl` and
//! `kubectl --token`.

use anyhow::Context as _;
use daas_core::package::SealTokenId;

use super::args::{GlobalArgs, SealTokenCommand};
use super::output::{self, note, out};
use super::prompt::TerminalUnlock;
use crate::ops::opaque;
use daas_core::clock::format_ms;

/// Runs `daas-console seal-token …`.
pub async fn run(global: &GlobalArgs, command: SealTokenCommand) -> anyhow::Result<()> {
    let ctx = super::context(global, None)?;
    let unlock = TerminalUnlock::of(&ctx);
    match command {
        SealTokenCommand::Issue { seal_token, json } => {
            let seal_token: SealTokenId = match seal_token {
                Some(id) => id
                    .parse()
                    .with_context(|| format!("`{id}` is not a seal token id (0x…)"))?,
                None => super::kubeconfig::user_token(&ctx).await?,
            };
            let issued = opaque::issue(&ctx, seal_token, &unlock).await?;
            if json {
                return output::json(&issued);
            }
            // The token alone on stdout, for `export SEAL_TOKEN=$(…)`.
            note!(
                "opaque seal token for {} through seal token {}, expires {} (id {})",
                issued.owner,
                issued.seal_token_id,
                format_ms(issued.expires_at.saturating_mul(1000)),
                issued.id
            );
            out!("{}", issued.seal_token)?;
            Ok(())
        }
    }
}
