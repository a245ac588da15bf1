//! Following the package's events in checkpoint order, resumably.
//!
//! The [`EventFollower`] asks the node for the package's events with
//! `LedgerService.ListEvents` (filtered by the package's address on the
//! node, paged by the answer's watermark cursor, starting at the checkpoint
//! after the stored cursor), and waits for new ones on a
//! `SubscriptionService.SubscribeEvents` stream. A node that does not serve
//! them (`UNIMPLEMENTED`: older full nodes) is read checkpoint by
//! checkpoint instead (`LedgerService.GetCheckpoint`; the wait then sleeps
//! for the poll interval). Either way it yields the events of the
//! `k3s_daas` package in the order the chain fixed: checkpoint, then transaction index
//! within the checkpoint, then event index within the transaction. That
//! triple is the [`EventCursor`]. After handling an event the caller
//! [acknowledges](EventFollower::ack) it, which stores its cursor in a
//! [`CursorStore`]; a follower started later with the same store resumes
//! right after the last acknowledged event, so every event is handled once
//! and in order across restarts (an event handled but not yet acknowledged
//! when the process died is delivered again).
//!
//! Acknowledging moves the cursor only on events; a follower of a busy chain
//! whose package is quiet would re-read every checkpoint since the last
//! event after a restart. [`EventFollower::with_checkpoint_cursor`] also
//! stores a *checkpoint-level* cursor, `(checkpoint, u64::MAX, u32::MAX)`
//! ("everything in `checkpoint` is handled", [`EventCursor::after_checkpoint`]),
//! once every checkpoint read so far has no unacknowledged event, at most
//! once per interval, so a restart resumes within an interval of where it
//! stopped.

use std::collections::VecDeque;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use sui_rpc::field::{FieldMask, FieldMaskUtil};
use sui_rpc::proto::sui::rpc::v2 as proto;
use sui_sdk_types::{Address, Digest};
use tokio::time::Instant;
use tracing::{debug, info, instrument};

use super::client::{ChainClient, EmittedEvent, emitted_event_from_proto};
use super::error::ChainError;
use crate::package::{DecodeError, PackageEvent};

/// Position of one event on the chain: total order of all events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EventCursor {
    /// Checkpoint sequence number.
    pub checkpoint: u64,
    /// Index of the emitting transaction within the checkpoint.
    pub transaction_index: u64,
    /// Index of the event within the transaction's events.
    pub event_index: u32,
}

impl EventCursor {
    /// The cursor after every event of `checkpoint`.
    pub const fn after_checkpoint(checkpoint: u64) -> Self {
        Self {
            checkpoint,
            transaction_index: u64::MAX,
            event_index: u32::MAX,
        }
    }

    /// Whether this cursor covers its whole checkpoint, so a follower
    /// resumes with the next one.
    pub const fn is_whole_checkpoint(&self) -> bool {
        self.transaction_index == u64::MAX && self.event_index == u32::MAX
    }

    /// The first checkpoint a follower resuming after this cursor reads.
    pub const fn resume_checkpoint(&self) -> u64 {
        if self.is_whole_checkpoint() {
            self.checkpoint.saturating_add(1)
        } else {
            self.checkpoint
        }
    }
}

impl std::fmt::Display for EventCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.checkpoint, self.transaction_index, self.event_index
        )
    }
}

/// An event of the followed package together with where it is on chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainEvent {
    /// Where the event is.
    pub cursor: EventCursor,
    /// Digest of the emitting transaction.
    pub transaction_digest: Digest,
    /// The event.
    pub event: EmittedEvent,
}

impl ChainEvent {
    /// The event as one of the package's typed events; `Ok(None)` for an
    /// event of another package.
    ///
    /// # Errors
    /// The type names no event of the package, or the contents are malformed.
    pub fn decode(&self, package: Address) -> Result<Option<PackageEvent>, DecodeError> {
        PackageEvent::decode(package, &self.event.event_type, &self.event.contents)
    }
}

/// Durable storage of the follower's position.
///
/// Implemented here for files ([`FileCursorStore`]); the master stores it in
/// the Kubernetes API.
pub trait CursorStore: Send + Sync {
    /// The last acknowledged event, or `None` if nothing was stored yet.
    fn load(&self) -> impl Future<Output = Result<Option<EventCursor>, ChainError>> + Send;
    /// Records `cursor` as acknowledged; must be durable when it returns.
    fn store(&self, cursor: EventCursor) -> impl Future<Output = Result<(), ChainError>> + Send;
}

/// A [`CursorStore`] in memory, shared by its clones and gone with the
/// process: a follower without one starts where its [`StartAt`] says, and a
/// follower started again from a clone resumes after what the last one
/// acknowledged, neither repeating events nor skipping any.
#[derive(Debug, Clone, Default)]
pub struct MemoryCursorStore(Arc<Mutex<Option<EventCursor>>>);

impl MemoryCursorStore {
    fn slot(&self) -> MutexGuard<'_, Option<EventCursor>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl CursorStore for MemoryCursorStore {
    async fn load(&self) -> Result<Option<EventCursor>, ChainError> {
        Ok(*self.slot())
    }

    async fn store(&self, cursor: EventCursor) -> Result<(), ChainError> {
        *self.slot() = Some(cursor);
        Ok(())
    }
}

/// A [`CursorStore`] in a small JSON file, replaced atomically on update.
#[derive(Debug, Clone)]
pub struct FileCursorStore {
    path: PathBuf,
}

impl FileCursorStore {
    /// A store at `path`; the file is created on the first [`CursorStore::store`].
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(
        &self,
        what: &str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> ChainError {
        ChainError::CursorStore {
            what: format!("{what} {}", self.path.display()),
            source: Box::new(source),
        }
    }
}

impl CursorStore for FileCursorStore {
    async fn load(&self) -> Result<Option<EventCursor>, ChainError> {
        let bytes = match tokio::fs::read(&self.path).await {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.error("cannot read", e)),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| self.error("malformed cursor in", e))
    }

    async fn store(&self, cursor: EventCursor) -> Result<(), ChainError> {
        let bytes =
            serde_json::to_vec(&cursor).map_err(|e| self.error("cannot encode cursor for", e))?;
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let write = async {
            let mut file = tokio::fs::File::create(&tmp).await?;
            tokio::io::AsyncWriteExt::write_all(&mut file, &bytes).await?;
            file.sync_all().await?;
            drop(file);
            tokio::fs::rename(&tmp, &self.path).await
        };
        write.await.map_err(|e| self.error("cannot write", e))
    }
}

/// Where a follower without a stored cursor starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum StartAt {
    /// Checkpoint 0 (the devnet, or a node that keeps all history).
    #[default]
    Genesis,
    /// The next checkpoint after the node's current height.
    Latest,
    /// The node's last `n` checkpoints, up to its current height: recent
    /// history, then what comes (`Recent(0)` is [`StartAt::Latest`]).
    Recent(u64),
    /// A given checkpoint.
    Checkpoint(u64),
}

/// How the follower reads the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    /// `ListEvents`, resuming from the opaque cursor of the last
    /// watermark (`None`: from `next_checkpoint`).
    Events {
        resume: Option<tonic::codegen::Bytes>,
    },
    /// `GetCheckpoint`, one checkpoint at a time: the node does not serve
    /// `ListEvents`.
    Checkpoints,
}

/// A live `SubscribeEvents` stream, used only to wake a caught-up follower.
type Wakeups = Pin<Box<dyn Stream<Item = Result<(), tonic::Status>> + Send>>;

/// What the follower read so far, for tests and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// `ListEvents` requests made.
    pub list_requests: u64,
    /// Events received from `ListEvents` (before skipping acknowledged
    /// ones).
    pub listed_events: u64,
    /// Checkpoints read one by one with `GetCheckpoint`.
    pub checkpoints_read: u64,
}

/// Reads the package's events in chain order and resumes from a cursor.
pub struct EventFollower<S> {
    client: ChainClient,
    store: S,
    package: Option<Address>,
    start: StartAt,
    poll: Duration,
    /// Next checkpoint to read; `None` until the cursor was loaded.
    next_checkpoint: Option<u64>,
    /// Events at or before this position are skipped.
    after: Option<EventCursor>,
    /// Highest checkpoint the node reported.
    known_height: Option<u64>,
    buffer: VecDeque<ChainEvent>,
    /// How often, at most, a checkpoint-level cursor is stored; `None`:
    /// only events move the cursor.
    checkpoint_cursor: Option<Duration>,
    /// When a checkpoint-level cursor was last stored.
    last_checkpoint_store: Option<Instant>,
    /// An event was handed out and not acknowledged yet.
    unacknowledged: bool,
    source: Source,
    /// The open subscription, when the node serves one.
    wakeups: Option<Wakeups>,
    /// The node refused `SubscribeEvents`: wait by sleeping.
    no_subscription: bool,
    stats: ReadStats,
}

impl<S> std::fmt::Debug for EventFollower<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventFollower")
            .field("package", &self.package)
            .field("next_checkpoint", &self.next_checkpoint)
            .field("after", &self.after)
            .field("source", &self.source)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl<S: CursorStore> EventFollower<S> {
    /// Follows the events of `client`'s package, resuming from `store`.
    pub fn new(client: ChainClient, store: S) -> Self {
        let package = Some(client.package_id());
        Self {
            client,
            store,
            package,
            start: StartAt::Genesis,
            poll: Duration::from_millis(200),
            next_checkpoint: None,
            after: None,
            known_height: None,
            buffer: VecDeque::new(),
            checkpoint_cursor: None,
            last_checkpoint_store: None,
            unacknowledged: false,
            source: Source::Events { resume: None },
            wakeups: None,
            no_subscription: false,
            stats: ReadStats::default(),
        }
    }

    /// Reads checkpoint by checkpoint even if the node serves `ListEvents`
    /// (what the follower falls back to on nodes that do not).
    pub fn by_checkpoints(mut self) -> Self {
        self.source = Source::Checkpoints;
        self.no_subscription = true;
        self
    }

    /// Whether the follower reads with `ListEvents` (it switches to
    /// checkpoints for good on the first `UNIMPLEMENTED`).
    pub fn uses_list_events(&self) -> bool {
        matches!(self.source, Source::Events { .. })
    }

    /// What the follower read so far.
    pub fn stats(&self) -> ReadStats {
        self.stats
    }

    /// Also store a checkpoint-level cursor past event-free checkpoints, at
    /// most once per `every` (see the module documentation).
    pub fn with_checkpoint_cursor(mut self, every: Duration) -> Self {
        self.checkpoint_cursor = Some(every);
        self
    }

    /// Where to start when the store holds no cursor.
    pub fn with_start(mut self, start: StartAt) -> Self {
        self.start = start;
        self
    }

    /// How long to wait before asking again when caught up.
    pub fn with_poll_interval(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    /// Follow events of every package instead of only `k3s_daas`.
    pub fn all_packages(mut self) -> Self {
        self.package = None;
        self
    }

    /// The next event, waiting for new checkpoints when caught up.
    ///
    /// # Errors
    /// The store or the node failed; the follower can be polled again.
    pub async fn next(&mut self) -> Result<ChainEvent, ChainError> {
        loop {
            if let Some(event) = self.try_next().await? {
                return Ok(event);
            }
            self.wait(self.poll).await;
        }
    }

    /// Waits until the node reports a new checkpoint on the event
    /// subscription, or at most `limit` (a caught-up caller then polls
    /// [`try_next`](Self::try_next) again). Without a subscription (the
    /// node does not serve one, or it broke) it sleeps for `limit` and
    /// subscribes again next time.
    pub async fn wait(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        if self.wakeups.is_none() && !self.no_subscription {
            self.subscribe().await;
        }
        let Some(stream) = self.wakeups.as_mut() else {
            tokio::time::sleep_until(deadline).await;
            return;
        };
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(Ok(()))) | Err(_) => {}
            Ok(Some(Err(status))) => {
                debug!(%status, "event subscription ended");
                self.wakeups = None;
            }
            Ok(None) => self.wakeups = None,
        }
    }

    /// Opens a `SubscribeEvents` stream on the package's events; remembers
    /// for good when the node does not serve it.
    async fn subscribe(&mut self) {
        let mut request = proto::SubscribeEventsRequest::default();
        request.filter = self.package.map(package_filter);
        request.read_mask = Some(FieldMask::from_paths(["event_type"]));
        match self
            .client
            .rpc()
            .subscription_client()
            .subscribe_events(request)
            .await
        {
            Ok(stream) => {
                let frames = stream.into_inner().map(|frame| frame.map(drop));
                self.wakeups = Some(Box::pin(frames));
            }
            Err(status) if status.code() == tonic::Code::Unimplemented => {
                info!("the node does not serve SubscribeEvents; polling");
                self.no_subscription = true;
            }
            Err(status) => debug!(%status, "cannot subscribe to events; polling"),
        }
    }

    /// The next event if one is already on chain, `None` when caught up.
    ///
    /// # Errors
    /// The store or the node failed.
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn try_next(&mut self) -> Result<Option<ChainEvent>, ChainError> {
        loop {
            if let Some(event) = self.buffer.pop_front() {
                self.unacknowledged = true;
                return Ok(Some(event));
            }
            let next = self.next_checkpoint().await?;
            if let Source::Events { resume } = &self.source {
                let resume = resume.clone();
                match self.list_page(next, resume).await {
                    Ok(true) => continue,
                    Ok(false) => {
                        self.store_checkpoint_cursor().await?;
                        return Ok(None);
                    }
                    Err(ChainError::Rpc { status, .. })
                        if status.code() == tonic::Code::Unimplemented =>
                    {
                        info!("the node does not serve ListEvents; reading checkpoints");
                        self.source = Source::Checkpoints;
                        continue;
                    }
                    Err(error) => return Err(error),
                }
            }
            if self.known_height.is_none_or(|h| next > h) {
                self.known_height = Some(self.client.service_info().await?.checkpoint_height);
            }
            if self.known_height.is_none_or(|h| next > h) {
                self.store_checkpoint_cursor().await?;
                return Ok(None);
            }
            self.read_checkpoint(next).await?;
            self.next_checkpoint = Some(next.saturating_add(1));
            if self.buffer.is_empty() {
                self.store_checkpoint_cursor().await?;
            }
        }
    }

    /// Stores "everything read so far is handled" when that is true, the
    /// cursor would move, and the interval has passed.
    async fn store_checkpoint_cursor(&mut self) -> Result<(), ChainError> {
        let Some(every) = self.checkpoint_cursor else {
            return Ok(());
        };
        let Some(read_through) = self.next_checkpoint.and_then(|n| n.checked_sub(1)) else {
            return Ok(());
        };
        let cursor = EventCursor::after_checkpoint(read_through);
        let due = self
            .last_checkpoint_store
            .is_none_or(|at| at.elapsed() >= every);
        if !due
            || self.unacknowledged
            || !self.buffer.is_empty()
            || self.after.is_some_and(|after| after >= cursor)
        {
            return Ok(());
        }
        self.store.store(cursor).await?;
        self.after = Some(cursor);
        self.last_checkpoint_store = Some(Instant::now());
        debug!(%cursor, "checkpoint cursor stored");
        Ok(())
    }

    /// Records `event` as handled: after a restart the follower continues
    /// with the event after it.
    ///
    /// # Errors
    /// The store failed.
    pub async fn ack(&mut self, event: &ChainEvent) -> Result<(), ChainError> {
        self.store.store(event.cursor).await?;
        self.after = Some(event.cursor);
        self.unacknowledged = false;
        Ok(())
    }

    /// The last acknowledged position, if any.
    pub fn acknowledged(&self) -> Option<EventCursor> {
        self.after
    }

    async fn next_checkpoint(&mut self) -> Result<u64, ChainError> {
        if let Some(next) = self.next_checkpoint {
            return Ok(next);
        }
        let next = match self.store.load().await? {
            Some(cursor) => {
                self.after = Some(cursor);
                cursor.resume_checkpoint()
            }
            None => match self.start {
                StartAt::Genesis => 0,
                StartAt::Checkpoint(n) => n,
                StartAt::Latest => first_of_last(&self.client, 0).await?,
                StartAt::Recent(count) => first_of_last(&self.client, count).await?,
            },
        };
        debug!(next, after = ?self.after, "event follower starts");
        self.next_checkpoint = Some(next);
        Ok(next)
    }

    /// Reads one `ListEvents` answer from `resume` (or checkpoint `next`)
    /// into the buffer. `Ok(true)` when there is more to read now (events
    /// were buffered, or the answer stopped at a limit), `Ok(false)` when
    /// caught up with the node.
    async fn list_page(
        &mut self,
        next: u64,
        resume: Option<tonic::codegen::Bytes>,
    ) -> Result<bool, ChainError> {
        let mut request = proto::ListEventsRequest::default();
        request.filter = self.package.map(package_filter);
        let mut options = proto::QueryOptions::default();
        match resume {
            Some(cursor) => options.after = Some(cursor),
            None => request.start_checkpoint = Some(next),
        }
        request.options = Some(options);
        self.stats.list_requests += 1;
        let mut frames = self
            .client
            .rpc()
            .ledger_client()
            .list_events(request)
            .await
            .map_err(|s| ChainError::rpc("ListEvents", s))?
            .into_inner();
        let mut ended = None;
        while let Some(frame) = frames.next().await {
            let frame = frame.map_err(|s| ChainError::rpc("ListEvents", s))?;
            if let Some(event) = &frame.event {
                self.stats.listed_events += 1;
                let event = listed_event(event)?;
                if self.after.is_none_or(|after| event.cursor > after) {
                    self.buffer.push_back(event);
                }
            }
            if let Some(watermark) = &frame.watermark {
                if let Some(cursor) = &watermark.cursor {
                    self.source = Source::Events {
                        resume: Some(cursor.clone()),
                    };
                }
                if let Some(covered) = watermark.checkpoint {
                    let next = covered.saturating_add(1);
                    self.next_checkpoint = Some(next.max(self.next_checkpoint.unwrap_or(0)));
                }
            }
            if let Some(end) = frame.end {
                ended = Some(end.reason());
                break;
            }
        }
        let Some(reason) = ended else {
            return Err(ChainError::malformed(
                "ListEvents answer ended without QueryEnd",
            ));
        };
        let more = matches!(
            reason,
            proto::QueryEndReason::ItemLimit | proto::QueryEndReason::ScanLimit
        );
        Ok(more || !self.buffer.is_empty())
    }

    async fn read_checkpoint(&mut self, sequence: u64) -> Result<(), ChainError> {
        self.stats.checkpoints_read += 1;
        let mut request = proto::GetCheckpointRequest::by_sequence_number(sequence);
        request.read_mask = Some(FieldMask::from_paths([
            "sequence_number",
            "transactions.digest",
            "transactions.transaction_index",
            "transactions.events",
        ]));
        let checkpoint = self
            .client
            .rpc()
            .ledger_client()
            .get_checkpoint(request)
            .await
            .map_err(|s| ChainError::rpc("GetCheckpoint", s))?
            .into_inner()
            .checkpoint
            .ok_or_else(|| {
                ChainError::malformed(format!("GetCheckpoint {sequence} without checkpoint"))
            })?;
        if checkpoint.sequence_number.is_some_and(|n| n != sequence) {
            return Err(ChainError::malformed(format!(
                "asked for checkpoint {sequence}, got {:?}",
                checkpoint.sequence_number
            )));
        }
        for (position, transaction) in checkpoint.transactions.iter().enumerate() {
            let transaction_index = transaction.transaction_index.unwrap_or(position as u64);
            let Some(events) = &transaction.events else {
                continue;
            };
            let digest = transaction
                .digest
                .as_deref()
                .ok_or_else(|| {
                    ChainError::malformed(format!(
                        "transaction in checkpoint {sequence} without digest"
                    ))
                })
                .and_then(|d| {
                    Digest::from_str(d).map_err(|_| {
                        ChainError::malformed(format!(
                            "transaction digest {d:?} in checkpoint {sequence}"
                        ))
                    })
                })?;
            for (index, event) in events.events.iter().enumerate() {
                let cursor = EventCursor {
                    checkpoint: sequence,
                    transaction_index,
                    event_index: u32::try_from(index).map_err(|_| {
                        ChainError::malformed("more than 2^32 events in a transaction")
                    })?,
                };
                if self.after.is_some_and(|after| cursor <= after) {
                    continue;
                }
                let event = emitted_event_from_proto(event)?;
                if self
                    .package
                    .is_some_and(|p| *event.event_type.address() != p)
                {
                    continue;
                }
                self.buffer.push_back(ChainEvent {
                    cursor,
                    transaction_digest: digest,
                    event,
                });
            }
        }
        Ok(())
    }
}

/// The node-side filter "events whose type is defined by `package`".
fn package_filter(package: Address) -> proto::EventFilter {
    let mut event_type = proto::EventTypeFilter::default();
    event_type.event_type = Some(package.to_string());
    let mut literal = proto::EventLiteral::default();
    literal.predicate = Some(proto::event_literal::Predicate::EventType(event_type));
    let mut term = proto::EventTerm::default();
    term.literals = vec![literal];
    let mut filter = proto::EventFilter::default();
    filter.terms = vec![term];
    filter
}

/// An event of a `ListEvents` answer, which carries its own position.
fn listed_event(event: &proto::Event) -> Result<ChainEvent, ChainError> {
    let missing = |field: &str| ChainError::malformed(format!("ListEvents event without {field}"));
    let cursor = EventCursor {
        checkpoint: event.checkpoint.ok_or_else(|| missing("checkpoint"))?,
        transaction_index: event
            .transaction_index
            .ok_or_else(|| missing("transaction_index"))?,
        event_index: event.event_index.ok_or_else(|| missing("event_index"))?,
    };
    let digest = event
        .transaction_digest
        .as_deref()
        .ok_or_else(|| missing("transaction_digest"))?;
    let transaction_digest = Digest::from_str(digest)
        .map_err(|_| ChainError::malformed(format!("ListEvents transaction digest {digest:?}")))?;
    Ok(ChainEvent {
        cursor,
        transaction_digest,
        event: emitted_event_from_proto(event)?,
    })
}

/// The first of the node's last `count` checkpoints (with none, the one
/// after its current height).
async fn first_of_last(client: &ChainClient, count: u64) -> Result<u64, ChainError> {
    let height = client.service_info().await?.checkpoint_height;
    Ok(height.saturating_add(1).saturating_sub(count))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_events_need_their_position() {
        let mut event = proto::Event::default();
        event.event_type = Some("0x2::m::E".to_owned());
        let err = listed_event(&event).unwrap_err();
        assert!(err.to_string().contains("checkpoint"), "{err}");
        event.checkpoint = Some(1);
        event.transaction_index = Some(0);
        event.event_index = Some(0);
        event.transaction_digest = Some("not a digest".to_owned());
        let err = listed_event(&event).unwrap_err();
        assert!(err.to_string().contains("digest"), "{err}");
    }

    #[test]
    fn cursors_order_by_checkpoint_then_transaction_then_event() {
        let a = EventCursor {
            checkpoint: 1,
            transaction_index: 5,
            event_index: 9,
        };
        let b = EventCursor {
            checkpoint: 2,
            transaction_index: 0,
            event_index: 0,
        };
        let c = EventCursor {
            checkpoint: 2,
            transaction_index: 0,
            event_index: 1,
        };
        assert!(a < b && b < c);
        let whole = EventCursor::after_checkpoint(1);
        assert!(a < whole && whole < b);
        assert!(whole.is_whole_checkpoint() && !a.is_whole_checkpoint());
        assert_eq!(whole.resume_checkpoint(), 2);
        assert_eq!(a.resume_checkpoint(), 1);
    }

    #[tokio::test]
    async fn memory_store_is_shared_by_its_clones() {
        let store = MemoryCursorStore::default();
        let other = store.clone();
        assert_eq!(other.load().await.unwrap(), None);
        let cursor = EventCursor::after_checkpoint(7);
        store.store(cursor).await.unwrap();
        assert_eq!(other.load().await.unwrap(), Some(cursor));
        assert_eq!(MemoryCursorStore::default().load().await.unwrap(), None);
    }

    #[tokio::test]
    async fn file_store_round_trips_and_reports_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileCursorStore::new(dir.path().join("cursor.json"));
        assert_eq!(store.load().await.unwrap(), None);
        let cursor = EventCursor {
            checkpoint: 7,
            transaction_index: 1,
            event_index: 2,
        };
        store.store(cursor).await.unwrap();
        assert_eq!(store.load().await.unwrap(), Some(cursor));
        std::fs::write(store.path(), b"not json").unwrap();
        let err = store.load().await.unwrap_err();
        assert!(err.to_string().contains("malformed cursor"), "{err}");
    }
}
