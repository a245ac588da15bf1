//! `daas-console audit verify` and `audit checkpoints`.

use anyhow::Context as _;
use daas_core::clock::format_ms;
use daas_core::package::SealTokenId;

use super::args::{AuditCommand, GlobalArgs};
use super::output::{self, out};
use super::prompt::TerminalUnlock;
use crate::ops::audit;

/// The `--seal-token` argument, parsed.
fn seal_token(arg: Option<String>) -> anyhow::Result<Option<SealTokenId>> {
    arg.map(|id| {
        id.parse()
            .with_context(|| format!("`{id}` is not a seal token id (0x…)"))
    })
    .transpose()
}

/// Runs `daas-console audit …`.
pub async fn run(global: &GlobalArgs, command: AuditCommand) -> anyhow::Result<()> {
    let ctx = super::context(global, None)?;
    ctx.master_settings()?;
    let unlock = TerminalUnlock::of(&ctx);
    match command {
        AuditCommand::Verify {
            audit_id,
            seal_token: token,
            json,
        } => {
            let verified =
                audit::verify_event(&ctx, &audit_id, seal_token(token)?, &unlock).await?;
            if json {
                return output::json(&verified);
            }
            let event = &verified.event;
            out!(
                "VERIFIED      event {} is in the anchored audit log",
                event.audit_id
            )?;
            out!(
                "event         {} {} {}/{} {} -> {}",
                event.user,
                event.verb,
                event.namespace,
                event.resource,
                event.name,
                event.response_code
            )?;
            out!(
                "leaf          {} of {}",
                verified.leaf_index,
                verified.tree_size
            )?;
            out!("root          {}", verified.root)?;
            out!("audit log     {}", verified.log_id)?;
            out!(
                "signed by     enclave {} (key {})",
                verified.enclave_id,
                verified.enclave_public_key
            )?;
            out!(
                "anchored at   {} (chain time)",
                format_ms(verified.anchored_at_ms)
            )?;
            if !verified.tx_digest.is_empty() {
                out!("transaction   {}", verified.tx_digest)?;
            }
            Ok(())
        }
        AuditCommand::Checkpoints {
            seal_token: token,
            json,
        } => {
            let list = audit::checkpoints(&ctx, seal_token(token)?, &unlock).await?;
            if json {
                return output::json(&list);
            }
            out!("origin   {}", list.origin)?;
            out!("stored   {} events", list.stored)?;
            out!("{:>10}  {:<64}  anchored", "size", "root")?;
            for checkpoint in &list.checkpoints {
                let anchored = checkpoint
                    .anchor
                    .as_ref()
                    .map_or("pending", |anchor| anchor.tx_digest.as_str());
                out!(
                    "{:>10}  {:<64}  {anchored}",
                    checkpoint.tree_size,
                    checkpoint.root
                )?;
            }
            Ok(())
        }
    }
}
