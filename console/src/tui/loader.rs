//! Background tasks that keep [`super::data::Data`] fresh: one per source
//! (master, nodes, chain, chain events), each refreshing on its own clock
//! or when asked, and sending what it got, or why it failed, as a
//! [`DataEvent`]. A source that is down is retried every refresh; the UI
//! never waits for one.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use daas_core::chain::{ChainClient, ChainError, EventFollower, MemoryCursorStore, StartAt};
use daas_core::package::Mist;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

use super::chain_event;
use super::data::{ChainView, DataEvent, EventLine, MasterView, SlashView, WalletView};
use super::tasks::TuiUnlock;
use crate::ops::nodes::{StakeCache, ViewerToken};
use crate::ops::{self, Context, OpsError};

/// The running tasks; dropping it stops them.
pub struct Loaders {
    refresh: Arc<Notify>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Loaders {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Loaders {
    /// Starts every task; their news goes to `news`. The loaders that
    /// sign (audit, nodes) unlock the wallet with `unlock`.
    pub fn spawn(ctx: Context, news: mpsc::UnboundedSender<DataEvent>, unlock: TuiUnlock) -> Self {
        let refresh = Arc::new(Notify::new());
        let every = ctx.settings().ui.refresh;
        let tasks = vec![
            periodic(&ctx, &news, &refresh, every, master),
            {
                let state = Arc::new(tokio::sync::Mutex::new(NodesState::default()));
                let unlock = unlock.clone();
                periodic(&ctx, &news, &refresh, every, move |ctx, news| {
                    nodes(ctx, news, Arc::clone(&state), unlock.clone())
                })
            },
            periodic(&ctx, &news, &refresh, every, chain),
            periodic(&ctx, &news, &refresh, every, move |ctx, news| {
                audit(ctx, news, unlock.clone())
            }),
            tokio::spawn(follow_events(ctx, news, every)),
        ];
        Self { refresh, tasks }
    }

    /// Refreshes every source now.
    pub fn refresh(&self) {
        self.refresh.notify_waiters();
    }
}

/// Runs `load` now, then every `every` or when `refresh` fires, until the
/// receiver is gone.
fn periodic<F, Fut>(
    ctx: &Context,
    news: &mpsc::UnboundedSender<DataEvent>,
    refresh: &Arc<Notify>,
    every: std::time::Duration,
    load: F,
) -> JoinHandle<()>
where
    F: Fn(Context, mpsc::UnboundedSender<DataEvent>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let (ctx, news, refresh) = (ctx.clone(), news.clone(), Arc::clone(refresh));
    tokio::spawn(async move {
        loop {
            load(ctx.clone(), news.clone()).await;
            if news.is_closed() {
                return;
            }
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = refresh.notified() => {}
            }
        }
    })
}

fn text(error: OpsError) -> String {
    error.to_string()
}

/// The master's attestation and health.
async fn master(ctx: Context, news: mpsc::UnboundedSender<DataEvent>) {
    let attestation = ops::attest::attest_master(&ctx).await.map_err(text);
    let attested = attestation.is_ok();
    let _ = news.send(DataEvent::Attestation(attestation));
    if !attested {
        let _ = news.send(DataEvent::Master(Err(
            "not attested: no request is sent to an unattested master".to_owned(),
        )));
        return;
    }
    let health = async {
        let client = ctx.master().await?;
        let (health, readiness) = tokio::join!(client.health(), client.readiness());
        Ok::<_, OpsError>(MasterView {
            version: health?.version,
            readiness: readiness?,
        })
    };
    let _ = news.send(DataEvent::Master(health.await.map_err(text)));
}

/// The audit log's checkpoints, read with an access token the wallet signs
/// for its widest-viewing active user token.
async fn audit(ctx: Context, news: mpsc::UnboundedSender<DataEvent>, unlock: TuiUnlock) {
    let list = async {
        let seal_token = ops::stake::widest_view_user_token(&ctx).await?;
        ops::audit::checkpoints(&ctx, Some(seal_token), &unlock).await
    }
    .await
    .map_err(text);
    let _ = news.send(DataEvent::Audit(list));
}

/// After failing to sign a viewer token, the nodes loader lists publicly
/// this long before it tries again (each try may unlock the wallet).
const VIEWER_RETRY: Duration = Duration::from_secs(15);

/// What the nodes loader keeps between refreshes.
struct NodesState {
    stakes: StakeCache,
    viewer: Viewer,
}

/// The nodes loader's credential.
enum Viewer {
    /// A token to list with until it is due for renewal.
    Signed(ViewerToken),
    /// None: why, and when to try signing again.
    Unsigned { why: String, retry_at: Instant },
}

impl Default for NodesState {
    fn default() -> Self {
        Self {
            stakes: StakeCache::default(),
            viewer: Viewer::Unsigned {
                why: String::new(),
                retry_at: Instant::now(),
            },
        }
    }
}

impl NodesState {
    /// The viewer token to list with (kept, else signed now when due), or
    /// why the list is public.
    async fn viewer(&mut self, ctx: &Context, unlock: &TuiUnlock) -> Result<&ViewerToken, String> {
        let now = Instant::now();
        let due = match &self.viewer {
            Viewer::Signed(token) => !token.is_fresh(now),
            Viewer::Unsigned { retry_at, .. } => now >= *retry_at,
        };
        if due {
            self.viewer = match ViewerToken::sign(ctx, unlock).await {
                Ok(token) => Viewer::Signed(token),
                Err(error) => Viewer::Unsigned {
                    why: error.to_string(),
                    retry_at: now + VIEWER_RETRY,
                },
            };
        }
        match &self.viewer {
            Viewer::Signed(token) => Ok(token),
            Viewer::Unsigned { why, .. } => Err(why.clone()),
        }
    }

    /// Signs again at the next refresh (the master may have refused the
    /// token).
    fn resign(&mut self) {
        if let Viewer::Signed(_) = self.viewer {
            self.viewer = Viewer::Unsigned {
                why: String::new(),
                retry_at: Instant::now(),
            };
        }
    }
}

/// The nodes, with their stake (read again every [`ops::nodes::STAKE_TTL`]),
/// listed as the holder of the wallet's widest-viewing seal token
/// ([`ops::stake::node_viewer_token`]) when the wallet can sign for it (an
/// owner sees their nodes' owner and stake, the admin and super tiers every
/// node's), else publicly, saying why.
async fn nodes(
    ctx: Context,
    news: mpsc::UnboundedSender<DataEvent>,
    state: Arc<tokio::sync::Mutex<NodesState>>,
    unlock: TuiUnlock,
) {
    let list = async {
        let mut state = state.lock().await;
        let viewer = state.viewer(&ctx, &unlock).await;
        let mut list = ops::nodes::list_as_viewer(&ctx, viewer).await?;
        if list.master_error.is_some() {
            state.resign();
        }
        ops::nodes::fill_stakes(&ctx, &mut list.nodes, &mut state.stakes).await?;
        Ok::<_, OpsError>(list)
    };
    let _ = news.send(DataEvent::Nodes(list.await.map_err(text)));
}

/// The chain, the wallet and its balances, the stake, the slash queue,
/// the gateway's requests.
async fn chain(ctx: Context, news: mpsc::UnboundedSender<DataEvent>) {
    let view = async {
        let chain = ctx.chain()?;
        let (info, clock) = tokio::join!(chain.service_info(), chain.clock_timestamp_ms());
        let info = info?;
        Ok::<_, OpsError>(ChainView {
            endpoint: ctx.settings().chain.endpoint().to_owned(),
            chain_id: info.chain_id.unwrap_or_default(),
            checkpoint: info.checkpoint_height,
            clock_ms: clock?,
        })
    };
    let reachable = match view.await {
        Ok(view) => {
            let _ = news.send(DataEvent::Chain(Ok(view)));
            true
        }
        Err(error) => {
            let _ = news.send(DataEvent::Chain(Err(text(error))));
            false
        }
    };
    let wallet = wallet(&ctx, reachable).await;
    let current = wallet.as_ref().ok().and_then(|w| w.current);
    let _ = news.send(DataEvent::Wallet(wallet));
    if !reachable {
        return;
    }
    if let Some(owner) = current {
        let stake = ops::stake::status(&ctx, owner).await.map_err(text);
        let _ = news.send(DataEvent::Stake(stake));
    } else {
        let _ = news.send(DataEvent::Stake(Err("no wallet key yet".to_owned())));
        // The tiers' prices are the pool's, shown before any key exists.
        if let Ok(params) = ops::stake::pool_params(&ctx).await {
            let _ = news.send(DataEvent::Pool(params));
        }
    }
    let slash = async {
        let chain = ctx.chain()?;
        let is_slasher = match current {
            Some(owner) => ops::slash::slasher_cap(&chain, owner).await?.is_some(),
            None => false,
        };
        Ok::<_, OpsError>(SlashView {
            pending: ops::slash::pending(&ctx).await?,
            history: ops::slash::history(&ctx).await?,
            is_slasher,
        })
    };
    let _ = news.send(DataEvent::Slash(slash.await.map_err(text)));
    let requests = ops::gateway::list(&ctx, None).await.map_err(text);
    let _ = news.send(DataEvent::Gateway(requests));
}

async fn wallet(ctx: &Context, chain_reachable: bool) -> Result<WalletView, String> {
    let summary = ops::wallet::summary(ctx).map_err(text)?;
    let current = ops::wallet::address(ctx).ok();
    let mut balances = BTreeMap::new();
    if chain_reachable && let Some(summary) = &summary {
        let chain = ctx.chain().map_err(text)?;
        for entry in &summary.keys {
            if let Ok(mist) = chain.sui_balance(entry.address).await {
                balances.insert(entry.address, Mist::new(mist));
            }
        }
    }
    Ok(WalletView {
        summary,
        balances,
        current,
    })
}

/// How many checkpoints back the Overview's events start: the package's
/// recent history shows when the console opens, not only what happens
/// after (a few minutes of a public network; the whole of a young devnet).
const EVENT_LOOKBACK_CHECKPOINTS: u64 = 2_000;

/// Follows the package's events from [`EVENT_LOOKBACK_CHECKPOINTS`] back.
async fn follow_events(
    ctx: Context,
    news: mpsc::UnboundedSender<DataEvent>,
    every: std::time::Duration,
) {
    let chain = match ctx.chain() {
        Ok(chain) => chain,
        Err(error) => {
            let _ = news.send(DataEvent::Events(Err(text(error))));
            return;
        }
    };
    // Kept for the session: a follower started again after an error
    // resumes where the last one read up to.
    let cursor = MemoryCursorStore::default();
    loop {
        let result = follow_from(chain.clone(), &cursor, &news, every).await;
        if news.is_closed() {
            return;
        }
        if let Err(error) = result {
            let _ = news.send(DataEvent::Events(Err(error.to_string())));
        }
        tokio::time::sleep(every).await;
    }
}

/// Sends each batch of events until reading fails or the UI is gone.
async fn follow_from(
    chain: ChainClient,
    cursor: &MemoryCursorStore,
    news: &mpsc::UnboundedSender<DataEvent>,
    every: std::time::Duration,
) -> Result<(), ChainError> {
    let package = chain.package_id();
    let mut follower = EventFollower::new(chain, cursor.clone())
        .with_start(StartAt::Recent(EVENT_LOOKBACK_CHECKPOINTS))
        .with_checkpoint_cursor(Duration::ZERO)
        .with_poll_interval(every);
    loop {
        let mut lines = Vec::new();
        while let Some(event) = follower.try_next().await? {
            if let Ok(Some(decoded)) = event.decode(package) {
                lines.push(EventLine {
                    checkpoint: event.cursor.checkpoint,
                    text: chain_event::describe(&decoded),
                });
            }
            follower.ack(&event).await?;
        }
        if news.send(DataEvent::Events(Ok(lines))).is_err() {
            return Ok(());
        }
        tokio::time::sleep(every).await;
    }
}
