//! The revocation reconciler (ARCHITECTURE.md, "Who may do what",
//! Revocation): chain events take access and nodes away within seconds,
//! and every Node must be held by a valid, active worker seal token.
//!
//! Two loops run in every replica ([`Reconciler::run`]):
//!
//! - **Invalidation** (every replica): follows the package's events from
//!   the chain head with an in-memory cursor and tells the rest of the
//!   master ([`Invalidation`]) which seal tokens changed, so cached access
//!   decisions are dropped and the next TokenReview asks the chain again.
//!   While the chain cannot be read it calls [`Invalidation::all_changed`]
//!   once: nothing cached outlives an outage, which fails closed.
//! - **Leading** (the leader only, elected on a Lease, see
//!   [`crate::leader`]):
//!   - follows the same events from the cursor kept in the Kubernetes API
//!     ([`crate::cursor::KubeCursorStore`]), so a restarted or newly
//!     elected master resumes where the last one stopped. For an unstake,
//!     withdrawal or approved slash of a **worker** seal token it runs
//!     [`crate::revocation::revoke_node`] on every Node the token's
//!     admission records name or its label selects, deletes the records
//!     and bootstrap tokens, and only then acknowledges the event (at least
//!     once; revocation is idempotent). A slashed worker loses its node
//!     even if the stake left covers the worker minimum: slashing is
//!     punitive.
//!   - **default deny**: on becoming leader, every
//!     [`ReconcilerSettings::recheck_interval`] and after a change of the
//!     pool's parameters, re-checks **every** Node (in scope): a Node with
//!     no admission record, or whose record's seal token does not hold it
//!     now by the worker rule (`daas_core::access::worker`: missing,
//!     unbonding, expired, under-staked, ever slashed, of another pool or
//!     owner, a user's, for another node), is revoked; Nodes named in
//!     [`ReconcilerSettings::exempt`] never are. Records and bootstrap
//!     tokens that no longer stand are deleted, admitted nodes that lack
//!     their labels are labelled (the record is the pending labelling), and
//!     expired register nonces are swept. Expiry fires no event, and a
//!     master that was down while a slash happened catches up this way too.
//!   - approves kubelet client certificate requests of bootstrappers only
//!     for the node their token was minted for (`approve`);
//!   - runs the on-chain gateway ([`crate::gateway`]) when one was given
//!     ([`Reconciler::with_gateway`]); every replica's invalidation
//!     follower tells it about enclave registrations.
//!
//! Errors of the chain or the API server are logged and retried with
//! bounded exponential backoff; nothing here ends the process. A node with
//! a record is only revoked on a definite answer (an event, or a read that
//! found the token in a revoking state or found it absent), never because
//! a read failed; a node without a record needs no answer.

mod approve;
pub(crate) mod backoff;
mod classify;
mod follow;
mod lead;
mod targets;
mod verdict;

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use daas_core::chain::{ChainClient, ChainError};
use daas_core::package::SealTokenId;
use tokio::sync::watch;

use crate::admission::AdmissionError;
use crate::admission::bootstrap_token::KUBE_SYSTEM;
use crate::cursor::CURSOR_CONFIG_MAP;
use crate::gateway::Gateway;
use crate::leader::{Elector, Fence, FenceError, LeaderError, LeaseSettings, run_elected};
use crate::revocation::{DrainPolicy, RevocationError};

/// What the reconciler tells the rest of the master when chain events
/// change who may do what (the access cache and the node registry implement
/// it). Calls come from the reconciler's task and must not block.
pub trait Invalidation: Send + Sync {
    /// Decisions about seal token `id` may be stale.
    fn seal_token_changed(&self, id: SealTokenId);
    /// Every decision may be stale (pool parameters changed, or events
    /// cannot be read).
    fn all_changed(&self);
}

/// How the reconciler runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconcilerSettings {
    /// This replica's identity in the Lease (unique per replica, e.g. the
    /// pod name or a random id).
    pub identity: String,
    /// How revoked nodes are drained.
    pub drain: DrainPolicy,
    /// How often the leader re-checks every node against the chain.
    pub recheck_interval: Duration,
    /// How often the event followers ask for new checkpoints when caught
    /// up.
    pub poll_interval: Duration,
    /// First wait after a failure; doubles per failure.
    pub initial_backoff: Duration,
    /// Longest wait after failures.
    pub max_backoff: Duration,
    /// The Lease that elects the leader.
    pub lease: LeaseSettings,
    /// Namespace of the event cursor's ConfigMap.
    pub cursor_namespace: String,
    /// Name of the event cursor's ConfigMap.
    pub cursor_name: String,
    /// An extra label selector (e.g. `pool=blue`) that restricts which
    /// Nodes, admission records and bootstrap tokens this master manages
    /// (and whose certificate requests it decides), for clusters shared by
    /// several pools; `None` manages every one.
    pub scope: Option<String>,
    /// Node names outside staking (the K3s server's own node), never
    /// revoked.
    pub exempt: BTreeSet<String>,
    /// The first checkpoint the invalidation follower reads; `None`: the
    /// chain head when it starts. The master sets the head it read before
    /// it could be attested, so no registration of its key is missed.
    pub invalidation_start: Option<u64>,
}

impl ReconcilerSettings {
    /// Defaults for replica `identity`: default drain, re-check every
    /// minute, poll every 200 ms, back off from 200 ms to 30 s, the
    /// default Lease, the cursor at `kube-system/k3s-daas-event-cursor`,
    /// every Node managed and none exempt.
    pub fn new(identity: impl Into<String>) -> Self {
        Self {
            identity: identity.into(),
            drain: DrainPolicy::default(),
            recheck_interval: Duration::from_secs(60),
            poll_interval: Duration::from_millis(200),
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(30),
            lease: LeaseSettings::default(),
            cursor_namespace: KUBE_SYSTEM.to_owned(),
            cursor_name: CURSOR_CONFIG_MAP.to_owned(),
            scope: None,
            exempt: BTreeSet::new(),
            invalidation_start: None,
        }
    }

    fn validate(&self) -> Result<(), ReconcileError> {
        let invalid = |reason| Err(ReconcileError::InvalidSettings { reason });
        if self.recheck_interval.is_zero() || self.poll_interval.is_zero() {
            return invalid("the recheck and poll intervals must be positive");
        }
        if self.cursor_namespace.is_empty() || self.cursor_name.is_empty() {
            return invalid("the event cursor needs a namespace and a name");
        }
        if self.scope.as_deref().is_some_and(str::is_empty) {
            return invalid("the scope selector must not be empty");
        }
        Ok(())
    }
}

/// What the reconciler reports for readiness and diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReconcilerStatus {
    /// The invalidation follower has read every checkpoint up to the
    /// chain's height and has had no error since: cached decisions are
    /// dropped within a poll interval of an event. `/readyz` uses it.
    pub caught_up: bool,
    /// This replica holds the Lease and runs revocations.
    pub leader: bool,
}

/// Errors of the reconciler.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReconcileError {
    /// The settings cannot work.
    #[error("invalid reconciler settings: {reason}")]
    InvalidSettings {
        /// What is wrong.
        reason: &'static str,
    },
    /// Leader election cannot start.
    #[error("leader election cannot start")]
    Leader(#[from] LeaderError),
    /// This replica is not (or no longer) the leader: nothing was written.
    #[error("not written: leadership does not hold")]
    Fenced(#[from] FenceError),
    /// A chain read failed.
    #[error("{action} failed")]
    Chain {
        /// What was being done.
        action: String,
        /// The chain client's error.
        #[source]
        source: ChainError,
    },
    /// The API server refused or failed a request.
    #[error("{action} failed")]
    Api {
        /// What was being done.
        action: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// Reading or writing admission records or bootstrap tokens failed.
    #[error("managing admitted workers failed")]
    Admission(#[source] Box<AdmissionError>),
    /// Revoking a node failed part-way (it is re-run).
    #[error("revoking node {node} failed")]
    Revocation {
        /// The node.
        node: String,
        /// The cause.
        #[source]
        source: Box<RevocationError>,
    },
}

impl ReconcileError {
    fn chain(action: impl Into<String>) -> impl FnOnce(ChainError) -> Self {
        let action = action.into();
        move |source| Self::Chain { action, source }
    }

    fn api(action: impl Into<String>) -> impl FnOnce(kube::Error) -> Self {
        let action = action.into();
        move |source| Self::Api { action, source }
    }
}

/// Everything the loops share.
struct Context {
    settings: ReconcilerSettings,
    chain: ChainClient,
    kube: kube::Client,
    invalidation: Arc<dyn Invalidation>,
    status: watch::Sender<ReconcilerStatus>,
    /// The fence of the current term while leading (a stale term's fence
    /// refuses by itself once its term ended).
    fence: watch::Sender<Option<Fence>>,
    gateway: OnceLock<Arc<Gateway>>,
}

impl Context {
    fn backoff(&self) -> backoff::Backoff {
        backoff::Backoff::new(self.settings.initial_backoff, self.settings.max_backoff)
    }
}

/// The revocation reconciler of one replica: build it with
/// [`Reconciler::new`], hand [`Reconciler::status`] to `/readyz`, and spawn
/// [`Reconciler::run`] with the master's shutdown signal.
pub struct Reconciler {
    context: Arc<Context>,
    elector: Elector,
}

impl std::fmt::Debug for Reconciler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reconciler")
            .field("settings", &self.context.settings)
            .field("status", &*self.context.status.borrow())
            .finish_non_exhaustive()
    }
}

impl Reconciler {
    /// A reconciler that reads `chain`, acts through `kube` and reports to
    /// `invalidation`.
    ///
    /// # Errors
    /// [`ReconcileError::InvalidSettings`] or [`ReconcileError::Leader`]
    /// for settings that cannot work.
    pub fn new(
        settings: ReconcilerSettings,
        chain: ChainClient,
        kube: kube::Client,
        invalidation: Arc<dyn Invalidation>,
    ) -> Result<Self, ReconcileError> {
        settings.validate()?;
        let elector = Elector::new(kube.clone(), settings.lease.clone(), &settings.identity)?;
        let (status, _) = watch::channel(ReconcilerStatus::default());
        let (fence, _) = watch::channel(None);
        Ok(Self {
            context: Arc::new(Context {
                settings,
                chain,
                kube,
                invalidation,
                status,
                fence,
                gateway: OnceLock::new(),
            }),
            elector,
        })
    }

    /// Also runs `gateway` while leading, and tells it what every event
    /// says about enclaves.
    #[must_use]
    pub fn with_gateway(self, gateway: Arc<Gateway>) -> Self {
        // A fresh cell: the first and only set cannot fail.
        let _ = self.context.gateway.set(gateway);
        self
    }

    /// The reconciler's status, updated as it runs.
    pub fn status(&self) -> watch::Receiver<ReconcilerStatus> {
        self.context.status.subscribe()
    }

    /// The fence of this replica's current term of leadership, for other
    /// leader-only writers (the audit anchoring); `None` before the first
    /// term.
    pub fn fence(&self) -> watch::Receiver<Option<Fence>> {
        self.context.fence.subscribe()
    }

    /// Runs until `shutdown` completes, then stops revoking, releases the
    /// Lease if held, and returns. Failures are logged and retried, never
    /// returned.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let context = self.context;
        let leading = Arc::clone(&context);
        let on_change = |leader: bool| {
            context.status.send_modify(|s| s.leader = leader);
        };
        let elected = run_elected(
            self.elector,
            move |fence| lead::lead(Arc::clone(&leading), fence),
            on_change,
            shutdown,
        );
        tokio::select! {
            () = elected => {}
            () = follow::invalidate(&context) => {}
        }
        context.status.send_modify(|s| s.caught_up = false);
    }
}
