//! `daas-console slash …`.

use anyhow::{Context as _, bail};
use daas_core::package::SealTokenId;

use super::args::{GlobalArgs, SlashCommand};
use super::output::{self, out};
use super::prompt::{TerminalUnlock, confirm};
use crate::ops::slash::{self as ops, Decision};
use crate::ops::{Context, wallet};
use daas_core::clock::format_ms;
use daas_core::escape::single_line;

/// Runs `daas-console slash …`.
pub async fn run(global: &GlobalArgs, command: SlashCommand) -> anyhow::Result<()> {
    let ctx = super::context(global, None)?;
    let unlock = TerminalUnlock::of(&ctx);
    match command {
        SlashCommand::Propose {
            seal_token,
            node,
            reason,
            evidence,
            json,
        } => {
            let token = target(&ctx, seal_token.as_deref(), node.as_deref()).await?;
            let evidence = match &evidence {
                Some(path) => std::fs::read(path)
                    .with_context(|| format!("cannot read the evidence {}", path.display()))?,
                None => reason.as_bytes().to_vec(),
            };
            ctx.ensure_writable("propose a slash")?;
            confirm(
                &format!("propose slashing seal token {token}: {reason}"),
                "sign and send?",
                global.yes,
            )?;
            let signer = wallet::signer(&ctx, &unlock)?;
            let proposed = ops::propose(&ctx, &signer, token, &reason, &evidence).await?;
            if json {
                return output::json(&proposed);
            }
            out!(
                "proposal {} for seal token {} (evidence sha256 {}), transaction {}",
                proposed.id,
                proposed.seal_token,
                proposed.evidence_hash,
                proposed.digest
            )?;
            Ok(())
        }
        SlashCommand::List { history, json } => list(&ctx, history, json).await,
        SlashCommand::Approve { id, json } => {
            decide(&ctx, global, &unlock, id, Decision::Approve, json).await
        }
        SlashCommand::Reject { id, json } => {
            decide(&ctx, global, &unlock, id, Decision::Reject, json).await
        }
    }
}

async fn target(
    ctx: &Context,
    seal_token: Option<&str>,
    node: Option<&str>,
) -> anyhow::Result<SealTokenId> {
    match (seal_token, node) {
        (Some(id), _) => id
            .parse()
            .with_context(|| format!("`{id}` is not a seal token id (0x…)")),
        // The staking status is public (the chain's data); node health
        // shows a node's seal token only to its owner and operators.
        (None, Some(node)) => {
            Ok(crate::ops::nodes::node_seal_token(&ctx.master().await?, node).await?)
        }
        (None, None) => bail!("name the seal token (--seal-token) or the node (--node) to slash"),
    }
}

async fn list(ctx: &Context, history: bool, json: bool) -> anyhow::Result<()> {
    let pending = ops::pending(ctx).await?;
    let decided = if history {
        Some(ops::history(ctx).await?)
    } else {
        None
    };
    if json {
        return output::json(&serde_json::json!({ "pending": pending, "decided": decided }));
    }
    if pending.is_empty() {
        out!("no pending slash proposal")?;
    }
    for p in &pending {
        out!(
            "#{:<4} {} node `{}` owner {} stake {} would lose {} — {} (proposed {} by {})",
            p.id,
            p.seal_token,
            single_line(&p.node),
            p.owner.map_or_else(|| "-".to_owned(), |o| o.to_string()),
            p.stake.map_or_else(|| "-".to_owned(), |s| s.to_string()),
            p.amount.map_or_else(|| "-".to_owned(), |s| s.to_string()),
            single_line(&p.reason),
            format_ms(p.created_at_ms),
            p.reporter
        )?;
    }
    for d in decided.iter().flatten() {
        out!(
            "#{:<4} {} {} by {}{} — {}",
            d.id,
            d.seal_token,
            d.outcome,
            d.by,
            d.slashed
                .map(|s| format!(", slashed {s}"))
                .unwrap_or_default(),
            single_line(&d.reason)
        )?;
    }
    Ok(())
}

async fn decide(
    ctx: &Context,
    global: &GlobalArgs,
    unlock: &TerminalUnlock,
    id: u64,
    decision: Decision,
    json: bool,
) -> anyhow::Result<()> {
    let verb = match decision {
        Decision::Approve => "approve",
        Decision::Reject => "reject",
    };
    ctx.ensure_writable("decide a slash")?;
    let pending = ops::pending(ctx).await?;
    let proposal = pending
        .iter()
        .find(|p| p.id == id)
        .with_context(|| format!("no pending slash proposal #{id}"))?;
    confirm(
        &format!(
            "{verb} proposal #{id}: seal token {} (node `{}`), reason: {}{}",
            proposal.seal_token,
            single_line(&proposal.node),
            single_line(&proposal.reason),
            match (decision, proposal.amount) {
                (Decision::Approve, Some(amount)) => format!("; slashes {amount}"),
                _ => String::new(),
            }
        ),
        &format!("{verb} with your SlasherCap?"),
        global.yes,
    )?;
    let signer = wallet::signer(ctx, unlock)?;
    let made = ops::decide(ctx, &signer, id, decision).await?;
    if json {
        return output::json(&made);
    }
    out!(
        "proposal #{} {}{}, transaction {}",
        made.id,
        made.outcome,
        made.slashed
            .map(|s| format!(" (slashed {s})"))
            .unwrap_or_default(),
        made.digest
    )?;
    Ok(())
}
