//! The leader's work: revocations from the durable event cursor, re-checks
//! of every Node against admission records and the chain (default deny),
//! labelling of admitted nodes, and approval of node certificates.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use daas_core::access::unix_now_secs;
use daas_core::access::worker::{WorkerClaim, worker_read_refusal};
use daas_core::chain::{ChainEvent, CursorStore, EventCursor, EventFollower};
use daas_core::package::SealTokenId;
use futures::StreamExt;
use tokio::time::Instant;
use tracing::{info, instrument, warn};

use super::approve::approve_node_certificates;
use super::backoff::Backoff;
use super::classify::{Cause, LeaderAction, leader_action};
use super::targets::{Inventory, Plan, execute, inventory};
use super::verdict::{Reason, TokenRead, Verdict, judge};
use super::{Context, ReconcileError};
use crate::admission::record::RECORD_NAME_PREFIX;
use crate::admission::{StoredRecord, WorkerNode, apply_node_labels, node_is_labelled};
use crate::cursor::KubeCursorStore;
use crate::leader::Fence;
use crate::nodes::replay::sweep_expired_nonces;
use daas_core::error_chain::one_line;

/// How often, at most, the stored cursor moves past checkpoints without
/// package events (a restart re-reads at most this much of the chain).
const CHECKPOINT_CURSOR_INTERVAL: Duration = Duration::from_secs(5);

/// How many seal tokens a re-check reads from the chain at once.
const READS_IN_FLIGHT: usize = 16;

/// The leader's loop state, kept across restarts of the event follower.
struct Leading {
    /// Checked before every write of this term.
    fence: Fence,
    next_recheck: Instant,
    follower_backoff: Backoff,
    recheck_backoff: Backoff,
}

/// Leads until dropped (when the Lease is lost or the master stops):
/// approves node certificates meanwhile, re-checks at once, then follows
/// events from the stored cursor.
pub(super) async fn lead(context: Arc<Context>, fence: Fence) {
    context.fence.send_replace(Some(fence.clone()));
    info!("leading: revoking from the event cursor, approving node certificates");
    // Boxed: the gateway's future is deep enough to overflow the
    // compiler's layout query when nested in the leader's.
    let gateway: std::pin::Pin<Box<dyn Future<Output = ()> + Send + '_>> =
        match context.gateway.get() {
            Some(gateway) => Box::pin(gateway.lead(fence.clone())),
            None => Box::pin(std::future::pending()),
        };
    futures::future::join3(
        revoke(&context, fence.clone()),
        approve_node_certificates(&context, &fence),
        gateway,
    )
    .await;
}

/// Follows events and re-checks, restarting the follower after failures.
async fn revoke(context: &Context, fence: Fence) {
    let mut state = Leading {
        fence,
        next_recheck: Instant::now(),
        follower_backoff: context.backoff(),
        recheck_backoff: context.backoff(),
    };
    loop {
        let Err(error) = follow(context, &mut state).await;
        let wait = state.follower_backoff.next_wait();
        warn!(error = %one_line(&error), ?wait, "revocation follower failed; resuming from the stored cursor");
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
    )
    .with_fence(state.fence.clone());
    start_cursor(context, &store).await?;
    let mut follower = EventFollower::new(context.chain.clone(), store)
        .with_poll_interval(settings.poll_interval)
        .with_checkpoint_cursor(CHECKPOINT_CURSOR_INTERVAL);
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
                let now = Instant::now();
                let until = (now + settings.poll_interval).min(state.next_recheck);
                follower.wait(until.saturating_duration_since(now)).await;
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
            warn!(error = %one_line(&error), "undecodable package event; re-checking every node");
            state.next_recheck = Instant::now();
            return;
        }
    };
    match leader_action(&decoded, context.chain.stake_pool_id()) {
        LeaderAction::Revoke(token, cause) => {
            let mut backoff = context.backoff();
            while let Err(error) = revoke_token(context, &state.fence, token, cause).await {
                let wait = backoff.next_wait();
                warn!(error = %one_line(&error), ?wait, "revocation failed; retrying");
                tokio::time::sleep(wait).await;
            }
        }
        LeaderAction::Recheck => state.next_recheck = Instant::now(),
        LeaderAction::Nothing => {}
    }
}

/// Revokes every node, admission record and bootstrap token of worker
/// token `token`: the nodes its records name and the nodes labelled with
/// it.
#[instrument(skip_all, fields(seal_token = %token, %cause))]
async fn revoke_token(
    context: &Context,
    fence: &Fence,
    token: SealTokenId,
    cause: Cause,
) -> Result<(), ReconcileError> {
    let found = inventory(context, Some(token)).await?;
    let mut plan = Plan::default();
    found.nodes.keys().for_each(|node| plan.revoke_node(node));
    for stored in &found.records {
        if let Ok(record) = &stored.record {
            plan.revoke_node(record.node.as_str());
        }
        plan.delete_record(stored);
    }
    found.tokens.iter().for_each(|t| plan.delete_token(t));
    if plan.is_empty() {
        return Ok(());
    }
    info!(nodes = ?plan.nodes, bootstrap_tokens = plan.tokens.len(), "revoking worker");
    execute(context, fence, &plan).await
}

/// Re-checks, then sets the next re-check: after the interval when it
/// fully succeeded, sooner (backing off) when something could not be read.
async fn recheck_and_schedule(context: &Context, state: &mut Leading) {
    let interval = context.settings.recheck_interval;
    let wait = match recheck(context, &state.fence).await {
        Ok(()) => {
            state.recheck_backoff.reset();
            interval
        }
        Err(error) => {
            let wait = state.recheck_backoff.next_wait().min(interval);
            warn!(error = %one_line(&error), ?wait, "re-check incomplete; nothing revoked without a definite answer");
            wait
        }
    };
    state.next_recheck = Instant::now() + wait;
}

/// Default deny: judges every Node in scope against its admission record
/// and the chain, revokes those without a record whose seal token still
/// holds them (never an exempt one), drops records and bootstrap tokens
/// that no longer stand, labels admitted nodes that lack their labels, and
/// deletes expired register nonces.
///
/// # Errors
/// Chain time or the inventory could not be read (nothing was revoked), a
/// seal token could not be read (its workers were left alone, the others
/// handled), or a revocation, a label or the nonce sweep failed.
#[instrument(skip_all)]
async fn recheck(context: &Context, fence: &Fence) -> Result<(), ReconcileError> {
    let now_ms = chain_now_ms(context).await?;
    let found = inventory(context, None).await?;
    let tokens: BTreeSet<SealTokenId> = found
        .records
        .iter()
        .filter_map(|stored| stored.record.as_ref().ok().map(|r| r.seal_token))
        .chain(found.tokens.iter().map(|t| t.claim.seal_token))
        .collect();
    let (reads, unreadable) = read_states(context, tokens).await;
    let judged = Judged {
        context,
        reads: &reads,
        now_ms,
    };
    let outcome = judged.plan(&found);
    // Expiry fires no event: no cache may keep what is being revoked.
    for id in &outcome.revoked {
        context.invalidation.seal_token_changed(*id);
    }
    let mut result = execute(context, fence, &outcome.plan).await;
    for worker in &outcome.unlabelled {
        if let Err(error) = apply_node_labels(&context.kube, worker).await {
            result = result.and(Err(ReconcileError::Admission(Box::new(error))));
        }
    }
    if let Err(source) = sweep_expired_nonces(&context.kube, unix_now_secs()).await {
        result = result.and(Err(
            ReconcileError::api("deleting expired register nonces")(source),
        ));
    }
    match unreadable {
        Some(error) => result.and(Err(error)),
        None => result,
    }
}

/// What one re-check decided.
#[derive(Debug, Default)]
struct Outcome {
    /// What to take away.
    plan: Plan,
    /// Admitted nodes that lack their labels.
    unlabelled: Vec<WorkerNode>,
    /// The seal tokens whose workers lose something.
    revoked: BTreeSet<SealTokenId>,
}

/// The chain's answers of one re-check.
struct Judged<'a> {
    context: &'a Context,
    reads: &'a BTreeMap<SealTokenId, TokenRead>,
    now_ms: u64,
}

impl Judged<'_> {
    /// The verdict about a claim; `None` when its seal token could not be
    /// read (no verdict without a definite answer).
    fn verdict(&self, claim: &WorkerClaim) -> Option<Verdict> {
        self.reads
            .get(&claim.seal_token)
            .map(|read| judge(read, claim, self.now_ms))
    }

    /// What to take away, and the admitted nodes to label.
    fn plan(&self, found: &Inventory) -> Outcome {
        let exempt = &self.context.settings.exempt;
        let by_node = found.records_by_node();
        let by_name: BTreeMap<&str, _> = found
            .records
            .iter()
            .map(|stored| (stored.name.as_str(), stored))
            .collect();
        let mut out = Outcome::default();
        for (node, meta) in found.nodes.iter().filter(|(n, _)| !exempt.contains(*n)) {
            let stored = by_name
                .get(format!("{RECORD_NAME_PREFIX}{node}").as_str())
                .copied();
            let verdict = match (by_node.get(node.as_str()), stored) {
                (Some(record), _) => self.verdict(&record.claim()),
                (None, Some(stored)) => Some(Verdict::Revoke(Reason::BadRecord(
                    stored.record.clone().err().unwrap_or_default(),
                ))),
                (None, None) => Some(Verdict::Revoke(Reason::NoRecord)),
            };
            match verdict {
                Some(Verdict::Revoke(reason)) => {
                    info!(node, %reason, "node revoked: not held by a valid, active worker seal token");
                    out.plan.revoke_node(node);
                    if let Some(stored) = stored {
                        out.revoke_record(stored);
                    }
                }
                Some(Verdict::Keep) => {
                    if let Some(record) = by_node.get(node.as_str()) {
                        let worker = WorkerNode::from(*record);
                        if !node_is_labelled(meta, &worker) {
                            out.unlabelled.push(worker);
                        }
                    }
                }
                None => {}
            }
        }
        // Records of nodes that have not appeared (or no longer exist).
        for stored in &found.records {
            if out.plan.records.contains_key(&stored.name) {
                continue;
            }
            let verdict = match &stored.record {
                Ok(record) if found.nodes.contains_key(record.node.as_str()) => continue,
                Ok(record) => self.verdict(&record.claim()),
                Err(reason) => Some(Verdict::Revoke(Reason::BadRecord(reason.clone()))),
            };
            if let Some(Verdict::Revoke(reason)) = verdict {
                info!(record = %stored.name, %reason, "admission record no longer stands");
                if let Ok(record) = &stored.record {
                    out.plan.revoke_node(record.node.as_str());
                }
                out.revoke_record(stored);
            }
        }
        for token in &found.tokens {
            if let Some(Verdict::Revoke(reason)) = self.verdict(&token.claim) {
                info!(secret = %token.name, seal_token = %token.claim.seal_token, %reason, "bootstrap token no longer backed by its stake");
                out.plan.delete_token(token);
                out.revoked.insert(token.claim.seal_token);
            }
        }
        out
    }
}

impl Outcome {
    /// Deletes `stored` and counts its seal token as revoked.
    fn revoke_record(&mut self, stored: &StoredRecord) {
        if let Ok(record) = &stored.record {
            self.revoked.insert(record.seal_token);
        }
        self.plan.delete_record(stored);
    }
}

/// Reads the state of every token: what the chain definitely says of it.
/// Tokens that could not be read are left out; the last such error is
/// returned beside.
async fn read_states(
    context: &Context,
    tokens: BTreeSet<SealTokenId>,
) -> (BTreeMap<SealTokenId, TokenRead>, Option<ReconcileError>) {
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
                states.insert(id, TokenRead::Found(Box::new(state)));
            }
            Err(source) => match worker_read_refusal(id, &source) {
                Some(reason) => {
                    states.insert(id, TokenRead::Refused(reason));
                }
                None => {
                    unreadable = Some(ReconcileError::Chain {
                        action: format!("reading seal token {id}"),
                        source,
                    });
                }
            },
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
