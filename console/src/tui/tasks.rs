//! Mutations run as background tasks: each reports progress and its end
//! as [`TaskEvent`]s, so the UI keeps drawing while a drain waits for its
//! pods or a transaction for its checkpoint.

use std::sync::{Arc, Mutex, PoisonError};

use daas_core::package::SealTokenId;
use daas_core::wallet::{Passphrase, Scheme, WalletStore};
use tokio::sync::mpsc;
use zeroize::Zeroizing;

use super::action::Mutation;
use super::data::AuditCheck;
use crate::ops::drain::DrainProgress;
use crate::ops::stake::StakeKind;
use crate::ops::unlock::GivenPassphrase;
use crate::ops::wallet::{ImportSource, StoreChoice};
use crate::ops::{
    Context, OpsError, Unlock, UnlockError, audit, drain, nodes, slash, stake, wallet,
};

/// News from a task.
#[derive(Debug)]
pub enum TaskEvent {
    /// A stake was planned: confirm these details to run it.
    Planned(Mutation, Vec<String>),
    /// Something happened along the way.
    Progress(String),
    /// The task ended: a sentence saying what was done, or why not.
    Done(Result<String, String>),
    /// A key's secret, to show once.
    Secret(String, Zeroizing<String>),
    /// An audit verification's result.
    Audit(AuditCheck),
    /// A node agent's live metrics, or why there are none.
    Agent(Result<nodes::AgentMetricsView, String>),
    /// The seal token admitting a node, to propose slashing, or why not.
    SlashTarget(String, Result<SealTokenId, String>),
}

/// Finds the seal token admitting `node` in the master's public staking
/// status, in the background.
pub fn slash_target(ctx: Context, node: String, news: mpsc::UnboundedSender<TaskEvent>) {
    tokio::spawn(async move {
        let found = async { nodes::node_seal_token(&ctx.master().await?, &node).await };
        let found = found
            .await
            .map_err(|error| format!("cannot slash {node}: {error}"));
        let _ = news.send(TaskEvent::SlashTarget(node, found));
    });
}

/// Asks `node`'s agent for its metrics in the background (over TLS pinned
/// to the key the master relays; the wallet signs the access token that
/// shows the endpoint, so it needs the session's passphrase if any).
pub fn agent_metrics(
    ctx: Context,
    node: String,
    unlock: TuiUnlock,
    news: mpsc::UnboundedSender<TaskEvent>,
) {
    tokio::spawn(async move {
        let result = nodes::agent_metrics(&ctx, &node, None, &unlock)
            .await
            .map_err(|error| error.to_string());
        let _ = news.send(TaskEvent::Agent(result));
    });
}

/// How the TUI unlocks: the passphrase typed into its masked input this
/// session, else the one given without asking ([`GivenPassphrase`]: the
/// profile's passphrase file, else `DAAS_WALLET_PASSPHRASE`), as the CLI
/// does. Clones share what is typed: the loaders that sign (audit, nodes)
/// use it from the next refresh on.
#[derive(Debug, Clone, Default)]
pub struct TuiUnlock {
    typed: Arc<Mutex<Option<Passphrase>>>,
    /// The passphrase the settings give.
    pub given: GivenPassphrase,
}

impl Unlock for TuiUnlock {
    fn passphrase(&self, dir: &std::path::Path) -> Result<Passphrase, UnlockError> {
        if let Some(typed) = self.typed().clone() {
            return Ok(typed);
        }
        self.given.passphrase(dir)
    }

    fn new_passphrase(&self, dir: &std::path::Path) -> Result<Passphrase, UnlockError> {
        self.passphrase(dir)
    }
}

impl TuiUnlock {
    /// Unlocks with the passphrase `ctx`'s settings give until one is typed.
    pub fn of(ctx: &Context) -> Self {
        Self {
            typed: Arc::default(),
            given: GivenPassphrase::of(ctx),
        }
    }

    /// Remembers the passphrase typed into the masked input, for this
    /// session and every clone.
    pub fn remember(&self, typed: Passphrase) {
        *self.typed() = Some(typed);
    }

    fn typed(&self) -> std::sync::MutexGuard<'_, Option<Passphrase>> {
        // The guarded value is replaced whole, so a poisoned one is usable.
        self.typed.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether running `mutation` needs a passphrase not yet known.
    pub fn needs_passphrase(&self, ctx: &Context, mutation: &Mutation) -> bool {
        if !mutation.signs() || self.passphrase(std::path::Path::new("")).is_ok() {
            return false;
        }
        ctx.wallet_dir()
            .ok()
            .and_then(|dir| WalletStore::needs_passphrase(&dir).ok())
            .unwrap_or(false)
    }
}

/// Plans a stake in the background and reports what it would sign.
pub fn plan(ctx: Context, kind: StakeKind, news: mpsc::UnboundedSender<TaskEvent>) {
    tokio::spawn(async move {
        let planned = async {
            let sender = wallet::address(&ctx)?;
            stake::plan(&ctx, sender, &kind).await
        };
        let event = match planned.await {
            Ok(plan) => TaskEvent::Planned(Mutation::Stake(kind), plan.lines()),
            Err(error) => TaskEvent::Done(Err(format!("cannot stake: {error}"))),
        };
        let _ = news.send(event);
    });
}

/// Verifies audit event `audit_id` against the chain in the background
/// (the wallet signs the access token that reads it, for its
/// widest-viewing user seal token, so it needs the session's passphrase
/// if any).
pub fn verify_audit(
    ctx: Context,
    audit_id: String,
    unlock: TuiUnlock,
    news: mpsc::UnboundedSender<TaskEvent>,
) {
    tokio::spawn(async move {
        let verified = async {
            let seal_token = stake::widest_view_user_token(&ctx).await?;
            audit::verify_event(&ctx, &audit_id, Some(seal_token), &unlock).await
        };
        let check = match verified.await {
            Ok(verified) => AuditCheck::Verified(Box::new(verified)),
            Err(error) => AuditCheck::Failed {
                audit_id,
                error: error.to_string(),
            },
        };
        let _ = news.send(TaskEvent::Audit(check));
    });
}

/// Runs `mutation` in the background.
pub fn spawn(
    ctx: Context,
    mutation: Mutation,
    unlock: TuiUnlock,
    news: mpsc::UnboundedSender<TaskEvent>,
) {
    tokio::spawn(async move {
        let name = mutation.name();
        let result = run(&ctx, mutation, &unlock, &news)
            .await
            .map_err(|error| format!("{name} failed: {error}"));
        let _ = news.send(TaskEvent::Done(result));
    });
}

async fn run(
    ctx: &Context,
    mutation: Mutation,
    unlock: &TuiUnlock,
    news: &mpsc::UnboundedSender<TaskEvent>,
) -> Result<String, OpsError> {
    Ok(match mutation {
        Mutation::CreateKey { alias } => {
            let mut opened = wallet::open_for_adding(ctx, StoreChoice::Auto, unlock)?;
            let entry = wallet::create_key(&mut opened.store, &alias, Scheme::Ed25519)?;
            format!(
                "created {} {} in the {}",
                entry.alias,
                entry.address,
                opened.store.backend()
            )
        }
        Mutation::ImportKey { alias, secret } => {
            let source = if secret.starts_with("suiprivkey") {
                ImportSource::SuiPrivKey(secret)
            } else {
                ImportSource::Mnemonic {
                    phrase: secret,
                    scheme: Scheme::Ed25519,
                    path: None,
                }
            };
            let mut opened = wallet::open_for_adding(ctx, StoreChoice::Auto, unlock)?;
            let entries = wallet::import(&mut opened.store, &alias, source)?;
            let names: Vec<String> = entries
                .iter()
                .map(|e| format!("{} {}", e.alias, e.address))
                .collect();
            format!(
                "imported {} into the {}",
                names.join(", "),
                opened.store.backend()
            )
        }
        Mutation::UseKey(name) => {
            ctx.ensure_writable("choose the active key")?;
            let entry = wallet::open(ctx, unlock)?.set_active(&name)?;
            format!("{} is the active key", entry.alias)
        }
        Mutation::Faucet => {
            let balance = wallet::faucet(ctx, wallet::address(ctx)?).await?;
            format!("funded {}; balance {}", balance.address, balance.sui)
        }
        Mutation::ExportKey(name) => {
            ctx.ensure_writable("export a key")?;
            let key = wallet::open(ctx, unlock)?.keypair(Some(&name))?;
            let _ = news.send(TaskEvent::Secret(
                name.clone(),
                Zeroizing::new(key.to_suiprivkey().as_str().to_owned()),
            ));
            format!("showing the secret of {name}")
        }
        Mutation::Stake(kind) => {
            let signer = wallet::signer(ctx, unlock)?;
            let plan = stake::plan(ctx, signer.address(), &kind).await?;
            let receipt = stake::stake(ctx, &signer, &plan).await?;
            format!(
                "staked {}: seal token {} ({})",
                plan.amount,
                receipt.seal_token,
                receipt.tier.map_or("no tier", |t| t.as_str())
            )
        }
        Mutation::Token(token, action) => {
            let signer = wallet::signer(ctx, unlock)?;
            let receipt = stake::act(ctx, &signer, token, action).await?;
            format!("{} done on {} ({})", receipt.action, token, receipt.digest)
        }
        Mutation::Cordon(node, cordoned) => {
            nodes::set_cordoned(ctx, &node, cordoned).await?;
            format!(
                "node {node} {}",
                if cordoned { "cordoned" } else { "uncordoned" }
            )
        }
        Mutation::Drain(node, options) => {
            let progress = |step: DrainProgress| {
                let text = match step {
                    DrainProgress::Cordoned => format!("drain {node}: cordoned"),
                    DrainProgress::Planned { remove, skipped } => format!(
                        "drain {node}: removing {} pod(s), leaving {}",
                        remove.len(),
                        skipped.len()
                    ),
                    DrainProgress::Removing(pod) => format!("drain {node}: evicting {pod}"),
                    DrainProgress::Blocked(pod) => {
                        format!("drain {node}: {pod} blocked by a budget, retrying")
                    }
                    DrainProgress::Remaining(n) => format!("drain {node}: {n} pod(s) left"),
                };
                let _ = news.send(TaskEvent::Progress(text));
            };
            let report = drain::drain(ctx, &node, options, progress).await?;
            format!(
                "node {node} drained: {} pod(s) removed, {} left alone",
                report.removed.len(),
                report.skipped.len()
            )
        }
        Mutation::ProposeSlash { token, reason } => {
            let signer = wallet::signer(ctx, unlock)?;
            let proposed = slash::propose(ctx, &signer, token, &reason, reason.as_bytes()).await?;
            format!("slash proposal #{} for {token}", proposed.id)
        }
        Mutation::DecideSlash(id, decision) => {
            let signer = wallet::signer(ctx, unlock)?;
            let made = slash::decide(ctx, &signer, id, decision).await?;
            format!(
                "proposal #{} {}{}",
                made.id,
                made.outcome,
                made.slashed
                    .map(|s| format!(": {s} slashed"))
                    .unwrap_or_default()
            )
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::path::Path;

    use super::*;
    use crate::config::{Overrides, parse};
    use crate::ops::wallet::{StoreChoice, create_key, open_for_adding, signer};

    /// A context whose profile names `dir`'s wallet and passphrase file,
    /// as the local stack's `console.toml` does.
    fn profile_ctx(dir: &Path) -> Context {
        let toml = format!(
            "default_profile = \"local\"\n[profiles.local]\nwallet_dir = {:?}\npassphrase_file = {:?}\n",
            dir.join("wallet").display().to_string(),
            dir.join("passphrase").display().to_string(),
        );
        let path = dir.join("console.toml");
        Context::new(parse(&path, &toml, &Overrides::default()).unwrap())
    }

    #[test]
    fn the_tui_unlocks_with_the_profiles_passphrase_file_as_the_cli_does() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = profile_ctx(dir.path());
        std::fs::write(dir.path().join("passphrase"), "from the profile\n").unwrap();
        let unlock = TuiUnlock::of(&ctx);
        let mut opened = open_for_adding(&ctx, StoreChoice::File, &unlock).unwrap();
        let entry = create_key(&mut opened.store, "operator", Scheme::Ed25519).unwrap();
        drop(opened);

        // Nothing to ask: the profile's file unlocks the wallet.
        let stake = Mutation::Stake(StakeKind::Worker {
            node: "worker-1".to_owned(),
            amount: None,
        });
        assert!(!unlock.needs_passphrase(&ctx, &stake));
        assert_eq!(signer(&ctx, &unlock).unwrap().address(), entry.address);

        // A typed passphrase comes first; a wrong one does not unlock.
        let typed = TuiUnlock::of(&ctx);
        typed.remember(Passphrase::new("typed, wrong"));
        assert!(signer(&ctx, &typed).is_err());

        // An unreadable passphrase file is named, and the TUI asks instead.
        std::fs::remove_file(dir.path().join("passphrase")).unwrap();
        let error = signer(&ctx, &unlock).unwrap_err().to_string();
        assert!(error.contains("passphrase"), "{error}");
        assert!(
            error.contains(&dir.path().join("passphrase").display().to_string()),
            "{error}"
        );
        assert!(unlock.needs_passphrase(&ctx, &stake));
    }
}
