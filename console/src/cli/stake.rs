//! `daas-console stake …`.

use anyhow::{Context as _, bail};
use daas_core::clock::{format_ms, format_span};
use daas_core::package::{Mist, SealTokenId, Tier};
use sui_sdk_types::Address;

use super::args::{GlobalArgs, StakeArgs, StakeCommand, StakeNewArgs, TierArg, TokenArgs};
use super::output::{self, out};
use super::prompt::{TerminalUnlock, confirm};
use crate::ops::stake::{
    self as ops, Receipt, StakeKind, StakePlan, TokenAction, TokenState, UserAmount,
};
use crate::ops::{Context, wallet};

/// Runs `daas-console stake …`.
pub async fn run(global: &GlobalArgs, args: StakeArgs) -> anyhow::Result<()> {
    let ctx = super::context(global, None)?;
    let unlock = TerminalUnlock::of(&ctx);
    let Some(command) = args.command else {
        return stake_new(&ctx, global, &unlock, &args.new).await;
    };
    let (token, action) = match command {
        StakeCommand::Status { owner, json } => return status(&ctx, owner.as_deref(), json).await,
        StakeCommand::Add { amount, token } => {
            let amount =
                ops::added_amount(&amount).map_err(|why| anyhow::anyhow!("--amount: {why}"))?;
            (token, TokenAction::Add(amount))
        }
        StakeCommand::Refresh(token) => (token, TokenAction::Refresh),
        StakeCommand::Unstake(token) => (token, TokenAction::Unstake),
        StakeCommand::Withdraw(token) => (token, TokenAction::Withdraw),
    };
    let id = pick_token(&ctx, &token, action).await?;
    ctx.ensure_writable(action.name())?;
    confirm(
        &format!("{} from {}", action.describe(id), wallet::address(&ctx)?),
        &format!("sign and send ({})?", action.name()),
        global.yes,
    )?;
    let signer = wallet::signer(&ctx, &unlock)?;
    let receipt = ops::act(&ctx, &signer, id, action).await?;
    print_receipt(&receipt, token.json)
}

async fn stake_new(
    ctx: &Context,
    global: &GlobalArgs,
    unlock: &TerminalUnlock,
    args: &StakeNewArgs,
) -> anyhow::Result<()> {
    let kind = match (&args.tier, &args.user_amount, &args.node) {
        (Some(tier), None, None) => StakeKind::User(UserAmount::Tier(tier_of(*tier))),
        (None, Some(amount), None) => StakeKind::User(UserAmount::Amount(
            amount
                .parse()
                .with_context(|| format!("--sui `{amount}` is not an amount of SUI"))?,
        )),
        (None, None, Some(node)) => StakeKind::Worker {
            node: node.clone(),
            amount: args
                .worker_amount
                .as_deref()
                .map(|a| {
                    a.parse::<Mist>()
                        .with_context(|| format!("--worker-amount `{a}` is not an amount of SUI"))
                })
                .transpose()?,
        },
        _ => bail!(
            "say what to stake for: --tier viewer|developer|admin|super, --sui AMOUNT, or --node NAME \
             (or a subcommand: add, refresh, unstake, withdraw, status)"
        ),
    };
    ctx.ensure_writable("stake")?;
    let sender = wallet::address(ctx)?;
    let plan = ops::plan(ctx, sender, &kind).await?;
    confirm(&describe_plan(&plan), "sign and send?", global.yes)?;
    let signer = wallet::signer(ctx, unlock)?;
    let receipt = ops::stake(ctx, &signer, &plan).await?;
    print_receipt(&receipt, args.json)
}

fn tier_of(tier: TierArg) -> Tier {
    match tier {
        TierArg::Viewer => Tier::Viewer,
        TierArg::Developer => Tier::Developer,
        TierArg::Admin => Tier::Admin,
        TierArg::Super => Tier::Super,
    }
}

/// What will be signed, for the confirmation.
fn describe_plan(plan: &StakePlan) -> String {
    plan.lines().join("\n  ")
}

/// The token named, or the caller's only token the action applies to.
async fn pick_token(
    ctx: &Context,
    token: &TokenArgs,
    action: TokenAction,
) -> anyhow::Result<SealTokenId> {
    if let Some(id) = &token.seal_token {
        return id
            .parse()
            .with_context(|| format!("`{id}` is not a seal token id (0x…)"));
    }
    let owner = wallet::address(ctx)?;
    let status = ops::status(ctx, owner).await?;
    let applies = |state: TokenState| match action {
        TokenAction::Withdraw => matches!(state, TokenState::Unbonding { .. }),
        TokenAction::Unstake => {
            !matches!(state, TokenState::Unbonding { .. } | TokenState::Withdrawn)
        }
        TokenAction::Add(_) | TokenAction::Refresh => !matches!(
            state,
            TokenState::Unbonding { .. } | TokenState::Withdrawn | TokenState::Slashed { .. }
        ),
    };
    let candidates: Vec<SealTokenId> = status
        .tokens
        .iter()
        .filter(|t| applies(t.state))
        .map(|t| t.seal_token)
        .collect();
    match candidates.as_slice() {
        [one] => Ok(*one),
        [] if matches!(action, TokenAction::Withdraw) => bail!(
            "{owner} has no unstaked seal token to withdraw: unstake first \
             (`daas-console stake unstake`), then withdraw once it has unbonded"
        ),
        [] => bail!("{owner} has no seal token to {}", action.name()),
        _ => bail!(
            "{owner} has {} seal tokens to {}; name one with --seal-token (see `stake status`)",
            candidates.len(),
            action.name()
        ),
    }
}

async fn status(ctx: &Context, owner: Option<&str>, json: bool) -> anyhow::Result<()> {
    let owner: Address = match owner {
        Some(owner) => owner
            .parse()
            .with_context(|| format!("`{owner}` is not an address"))?,
        None => wallet::address(ctx)?,
    };
    let status = ops::status(ctx, owner).await?;
    if json {
        return output::json(&status);
    }
    if status.tokens.is_empty() {
        out!("{owner} holds no seal token; stake with `daas-console stake --tier viewer`")?;
    }
    let rows: Vec<Vec<String>> = status
        .tokens
        .iter()
        .map(|token| {
            let role = match token.node.as_str() {
                "" => token.role.as_str().to_owned(),
                node => format!("{} {node}", token.role.as_str()),
            };
            let when = match token.state {
                TokenState::Active => format!("expires {}", format_ms(token.expires_at_ms)),
                TokenState::Unbonding { until_ms } => {
                    let left = until_ms.saturating_sub(status.chain_time_ms) / 1000;
                    format!(
                        "withdrawable {} (in {})",
                        format_ms(until_ms),
                        format_span(left)
                    )
                }
                TokenState::Expired { at_ms } => format!("expired {}", format_ms(at_ms)),
                TokenState::Understaked { required } => format!("needs {required}"),
                TokenState::Slashed { slashed } => {
                    format!("lost {slashed}; never admits its node again: unstake, stake anew")
                }
                TokenState::Withdrawn => String::new(),
            };
            vec![
                token.seal_token.to_string(),
                role,
                token.stake.to_string(),
                token.tier.map_or("-", |t| t.as_str()).to_owned(),
                token.state.label().to_owned(),
                when,
            ]
        })
        .collect();
    if !rows.is_empty() {
        output::table(
            &["SEAL TOKEN", "ROLE", "STAKE", "TIER", "STATE", "WHEN"],
            &rows,
        )?;
    }
    Ok(())
}

fn print_receipt(receipt: &Receipt, json: bool) -> anyhow::Result<()> {
    if json {
        return output::json(receipt);
    }
    out!("{} done: seal token {}", receipt.action, receipt.seal_token)?;
    if let Some(stake) = receipt.stake {
        out!("stake        {stake}")?;
    }
    if let Some(tier) = receipt.tier {
        out!("tier         {tier}")?;
    }
    if let Some(until) = receipt.until_ms {
        out!("until        {}", format_ms(until))?;
    }
    out!("transaction  {}", receipt.digest)?;
    Ok(())
}
