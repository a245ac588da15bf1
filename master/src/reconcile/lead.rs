//! The leader's work: revocations from the durable event cursor, and
//! re-checks of every admitted worker against the chain.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::sync::Arc;

use daas_core::chain::reads::SealTokenState;
use daas_core::chain::{ChainError, ChainEvent, CursorStore, EventCursor, EventFollower};
use daas_core::package::SealTokenId;
use futures::StreamExt;
use tokio::time::Instant;
use tracing::{info, instrument, warn};

use super::backoff::Backoff;
use super::classify::{Cause, LeaderAction, leader_action};
use super::targets::{Plan, execute, inventory};
use super::verdict::{Claim, Reason, Verdict, judge};
use super::{Context, ReconcileError};
use crate::cursor::KubeCursorStore;
use crate::leader::error_chain;

/// How many seal tokens a re-check reads from the chain at once.
const READS_IN_FLIGHT: usize = 16;

/// The leader's loop state, kept across restarts of the event follower.
struct Leading {
    next_recheck: Instant,
    follower_backoff: Backoff,
    recheck_backoff: Backoff,
}

/// Leads until dropped (when the Lease is lost or the master stops):
/// re-checks at once, then follows events from the stored cursor.
pub(super) async fn lead(context: Arc<Context>) {
    info!("leading: revoking from the event cursor");
    let mut state = Leading {
        next_recheck: Instant::now(),
        follower_backoff: context.backoff(),
        recheck_backoff: context.backoff(),
    };
    loop {
        let Err(error) = follow(&context, &mut state).await;
        let wait = state.follower_backoff.next_wait();
        warn!(error = %error_chain(&error), ?wait, "revocation follower failed; resuming from the stored cursor");
        tokio::time::sleep(wait).await;
    }
}

/// Follows events from the stored cursor, acknowledging each after its
/// revocations finished, and re-checks when due. Returns on the first
/// chain or cursor error (the caller starts again from the stored cursor).
async fn follow(context: &Context, state: &mut Leading) -> Result<Infallible, ReconcileError> {
    let settings = &context.settings;
    let store = KubeCursorStore::new(
        context.kube.clone(),
        &settings.cursor_namespace,
        &settings.cursor_name,
    );
    start_cursor(context, &store).await?;
    let mut follower =
        EventFollower::new(context.chain.clone(), store).with_poll_interval(settings.poll_interval);
    loop {
        if Instant::now() >= state.next_recheck {
            recheck_and_schedule(context, state).await;
        }
        let next = follower
            .try_next()
            .await
            .map_err(ReconcileError::chain("reading chain events"))?;
        state.follower_backoff.reset();
        match next {
            Some(event) => {
                handle(context, state, &event).await;
                follower
                    .ack(&event)
                    .await
                    .map_err(ReconcileError::chain("storing the event cursor"))?;
            }
            None => {
                let poll = Instant::now() + settings.poll_interval;
                tokio::time::sleep_until(poll.min(state.next_recheck)).await;
            }
        }
    }
}

/// Stores a cursor at the chain head if none is stored, so that from the
/// first moment of leadership no event is missed by the next leader.
async fn start_cursor(context: &Context, store: &KubeCursorStore) -> Result<(), ReconcileError> {
    let stored = store
        .load()
        .await
        .map_err(ReconcileError::chain("reading the event cursor"))?;
    if stored.is_some() {
        return Ok(());
    }
    let head = context
        .chain
        .service_info()
        .await
        .map_err(ReconcileError::chain("reading the chain height"))?
        .checkpoint_height;
    // Everything in checkpoint `head` counts as handled: the re-check on
    // becoming leader covers the past.
    let cursor = EventCursor {
        checkpoint: head,
        transaction_index: u64::MAX,
        event_index: u32::MAX,
    };
    store
        .store(cursor)
        .await
        .map_err(ReconcileError::chain("storing the first event cursor"))?;
    info!(%cursor, "no event cursor stored; following from the chain head");
    Ok(())
}

/// Acts on one event, retrying failed revocations until they succeed.
#[instrument(skip_all, fields(cursor = %event.cursor))]
async fn handle(context: &Context, state: &mut Leading, event: &ChainEvent) {
    let decoded = match event.decode(context.chain.package_id()) {
        Ok(Some(decoded)) => decoded,
        Ok(None) => return,
        Err(error) => {
            warn!(error = %error_chain(&error), "undecodable package event; re-checking every node");
            state.next_recheck = Instant::now();
            return;
        }
    };
    match leader_action(&decoded, context.chain.stake_pool_id()) {
        LeaderAction::Revoke(token, cause) => {
            let mut backoff = context.backoff();
            while let Err(error) = revoke_token(context, token, cause).await {
                let wait = backoff.next_wait();
                warn!(error = %error_chain(&error), ?wait, "revocation failed; retrying");
                tokio::time::sleep(wait).await;
            }
        }
        LeaderAction::Recheck => state.next_recheck = Instant::now(),
        LeaderAction::Nothing => {}
    }
}

/// Revokes every node and bootstrap token of worker token `token`.
#[instrument(skip(context), fields(seal_token = %token, %cause))]
async fn revoke_token(
    context: &Context,
    token: SealTokenId,
    cause: Cause,
) -> Result<(), ReconcileError> {
    let found = inventory(context, Some(token)).await?;
    let mut plan = Plan::default();
    found.nodes.iter().for_each(|n| plan.revoke_node(n));
    found.tokens.iter().for_each(|t| plan.delete_token(t));
    if plan.is_empty() {
        return Ok(());
    }
    info!(nodes = ?plan.nodes, bootstrap_tokens = plan.tokens.len(), "revoking worker");
    execute(context, &plan).await
}

/// Re-checks, then sets the next re-check: after the interval when it
/// fully succeeded, sooner (backing off) when something could not be read.
async fn recheck_and_schedule(context: &Context, state: &mut Leading) {
    let interval = context.settings.recheck_interval;
    let wait = match recheck(context).await {
        Ok(()) => {
            state.recheck_backoff.reset();
            interval
        }
        Err(error) => {
            let wait = state.recheck_backoff.next_wait().min(interval);
            warn!(error = %error_chain(&error), ?wait, "re-check incomplete; nothing revoked without a definite answer");
            wait
        }
    };
    state.next_recheck = Instant::now() + wait;
}

/// Judges every admitted worker against the chain and revokes those whose
/// seal token no longer backs them.
///
/// # Errors
/// Chain time or the inventory could not be read (nothing was revoked), a
/// seal token could not be read (the others were handled), or a
/// revocation failed.
#[instrument(skip_all)]
async fn recheck(context: &Context) -> Result<(), ReconcileError> {
    let now_ms = chain_now_ms(context).await?;
    let found = inventory(context, None).await?;
    let tokens: BTreeSet<SealTokenId> = found
        .nodes
        .iter()
        .map(|n| n.claim.seal_token)
        .chain(found.tokens.iter().map(|t| t.claim.seal_token))
        .collect();
    let (states, unreadable) = read_states(context, tokens).await;
    let verdict = |claim: &Claim| match states.get(&claim.seal_token) {
        Some(Some(state)) => Some(judge(state, claim, now_ms)),
        Some(None) => Some(Verdict::Revoke(Reason::Missing)),
        None => None,
    };
    let mut plan = Plan::default();
    let mut revoked = BTreeSet::new();
    for node in &found.nodes {
        if let Some(Verdict::Revoke(reason)) = verdict(&node.claim) {
            info!(node = %node.name, seal_token = %node.claim.seal_token, %reason, "worker no longer backed by its stake");
            plan.revoke_node(node);
            revoked.insert(node.claim.seal_token);
        }
    }
    for token in &found.tokens {
        if let Some(Verdict::Revoke(reason)) = verdict(&token.claim) {
            info!(secret = %token.name, seal_token = %token.claim.seal_token, %reason, "bootstrap token no longer backed by its stake");
            plan.delete_token(token);
            revoked.insert(token.claim.seal_token);
        }
    }
    // Expiry fires no event: no cache may keep what is being revoked.
    revoked
        .into_iter()
        .for_each(|id| context.invalidation.seal_token_changed(id));
    execute(context, &plan).await?;
    match unreadable {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// Reads the state of every token: `Some(state)`, or `None` when the chain
/// definitely has no such token. Tokens that could not be read are left
/// out; the last such error is returned beside.
async fn read_states(
    context: &Context,
    tokens: BTreeSet<SealTokenId>,
) -> (
    BTreeMap<SealTokenId, Option<SealTokenState>>,
    Option<ReconcileError>,
) {
    let reads = futures::stream::iter(tokens)
        .map(|id| async move { (id, context.chain.seal_token_state(id).await) })
        .buffer_unordered(READS_IN_FLIGHT)
        .collect::<Vec<_>>()
        .await;
    let mut states = BTreeMap::new();
    let mut unreadable = None;
    for (id, read) in reads {
        match read {
            Ok(state) => {
                states.insert(id, Some(state));
            }
            Err(ChainError::ObjectNotFound { id: missing }) if missing == id.address() => {
                states.insert(id, None);
            }
            Err(source) => {
                unreadable = Some(ReconcileError::Chain {
                    action: format!("reading seal token {id}"),
                    source,
                });
            }
        }
    }
    (states, unreadable)
}

/// Chain time: the shared Clock's `timestamp_ms`, the time Move's
/// `is_active` uses.
async fn chain_now_ms(context: &Context) -> Result<u64, ReconcileError> {
    context
        .chain
        .clock_timestamp_ms()
        .await
        .map_err(ReconcileError::chain("reading the chain clock"))
}
