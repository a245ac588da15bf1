//! The invalidation follower every replica runs: chain events to
//! [`Invalidation`](super::Invalidation) calls.

use daas_core::chain::{ChainEvent, EventFollower, MemoryCursorStore, StartAt};
use daas_core::package::PackageEvent;
use tracing::{debug, info, instrument, warn};

use super::Context;
use super::classify::{Invalidate, invalidation};
use daas_core::error_chain::one_line;

/// Follows events from the chain head forever, reporting each to the
/// context's [`Invalidation`](super::Invalidation) and keeping
/// `status.caught_up` current.
pub(super) async fn invalidate(context: &Context) {
    let start = context
        .settings
        .invalidation_start
        .map_or(StartAt::Latest, StartAt::Checkpoint);
    // The cursor lives only in memory: a replica that restarts has empty
    // caches, so it starts at the chain head.
    let mut follower = EventFollower::new(context.chain.clone(), MemoryCursorStore::default())
        .with_start(start)
        .with_poll_interval(context.settings.poll_interval);
    let mut backoff = context.backoff();
    let mut failing = false;
    loop {
        match follower.try_next().await {
            Ok(Some(event)) => {
                notify(context, &event);
                // The in-memory store cannot fail.
                let _ = follower.ack(&event).await;
            }
            Ok(None) => {
                if failing {
                    info!("chain events readable again");
                }
                failing = false;
                backoff.reset();
                context.status.send_if_modified(|s| {
                    let changed = !s.caught_up;
                    s.caught_up = true;
                    changed
                });
                follower.wait(context.settings.poll_interval).await;
            }
            Err(error) => {
                if !failing {
                    warn!(error = %one_line(&error), "cannot read chain events; dropping every cached decision");
                    context.invalidation.all_changed();
                }
                failing = true;
                context.status.send_modify(|s| s.caught_up = false);
                tokio::time::sleep(backoff.next_wait()).await;
            }
        }
    }
}

/// Tells the rest of the master what `event` changed.
#[instrument(skip_all, fields(cursor = %event.cursor))]
fn notify(context: &Context, event: &ChainEvent) {
    match event.decode(context.chain.package_id()) {
        Ok(Some(decoded)) => {
            if let Some(gateway) = context.gateway.get() {
                gateway.observe(&decoded);
            }
            invalidate_for(context, &decoded);
        }
        Ok(None) => {}
        Err(error) => {
            warn!(error = %one_line(&error), "undecodable package event; dropping every cached decision");
            context.invalidation.all_changed();
        }
    }
}

/// Drops the cached decisions `event` may have made stale.
fn invalidate_for(context: &Context, event: &PackageEvent) {
    match invalidation(event) {
        Invalidate::Token(id) => {
            debug!(event = event.name(), seal_token = %id, "seal token changed");
            context.invalidation.seal_token_changed(id);
        }
        Invalidate::All => {
            debug!(event = event.name(), "every decision may be stale");
            context.invalidation.all_changed();
        }
        Invalidate::Nothing => {}
    }
}
