//! Leader election on a `coordination.k8s.io/v1` Lease (ARCHITECTURE.md,
//! "State and scale": every replica answers webhooks, one leader runs the
//! reconciler).
//!
//! The protocol is client-go's `leaderelection` with a Lease lock:
//!
//! - the holder writes its identity and renews `renewTime` every
//!   [`LeaseSettings::renew_interval`];
//! - a candidate takes the lease over when it is free (no holder: never
//!   held, or released on shutdown) or when the record has not changed for
//!   `leaseDurationSeconds` **as measured on the candidate's own monotonic
//!   clock** since it last saw it change, so clock skew between replicas
//!   does not matter;
//! - every write is a compare-and-swap on the Lease's `resourceVersion`, so
//!   two candidates never both win;
//! - a holder that cannot renew for [`LeaseSettings::renew_deadline`]
//!   (shorter than the lease duration) stops leading before anyone else may
//!   take over;
//! - on shutdown the holder releases the lease (empty holder), so a
//!   successor takes over at its next attempt instead of after expiry.
//!
//! [`Observer`] holds the pure part (when may this candidate acquire); the
//! [`Elector`] does the API calls; [`run_elected`] drives both.
//!
//! **Fencing.** A leader that stalls (a long GC-like pause, a partition)
//! may still believe it leads after a successor took over. Every term of
//! leadership has a *generation*: the Lease's `leaseTransitions` as the
//! term's holder wrote it when it took the lease, which grows by one at
//! every takeover (compare-and-swap, so no two terms share one). The work
//! of a term gets a [`Fence`]; before every write the leader makes
//! (revocations, gateway ledger entries and results, event cursors) it
//! calls [`Fence::check`], which reads the Lease and refuses unless it is
//! still held by this replica at this generation and the term has not
//! ended locally. Stores the leader writes also carry the generation
//! ([`GENERATION_ANNOTATION`]) and refuse a write by a lower one, so even a
//! write already past its check cannot undo a successor's.

use std::future::Future;
use std::time::Duration;

use daas_core::error_chain::one_line;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, info, instrument, warn};

use crate::admission::bootstrap_token::KUBE_SYSTEM;
use crate::labels::{FIELD_MANAGER, MANAGED_BY, MANAGED_BY_LABEL};

/// Default name of the master's Lease in `kube-system`.
pub const LEASE_NAME: &str = "k3s-daas-master";
/// Annotation with the leader generation that last wrote an object.
pub const GENERATION_ANNOTATION: &str = "k3s-daas.io/leader-generation";

/// One term of leadership: who holds the lease, at which generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// The holder's identity.
    pub identity: String,
    /// `leaseTransitions` as the holder wrote it when taking the lease.
    pub generation: i32,
}

/// Why a write of the leader was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FenceError {
    /// The lease is held by another replica, or by nobody.
    #[error("not the leader: the lease is held by {holder:?}")]
    NotHolder {
        /// The holder the lease names.
        holder: Option<String>,
    },
    /// The lease names this replica but from a newer term.
    #[error("stale leader generation {mine}: the lease is at generation {current}")]
    StaleGeneration {
        /// This term's generation.
        mine: i32,
        /// The lease's.
        current: i32,
    },
    /// An object was last written by a newer leader generation.
    #[error("{object} was written by leader generation {written}, newer than this term's {mine}")]
    NewerWriter {
        /// The object.
        object: String,
        /// This term's generation.
        mine: i32,
        /// The generation that wrote it.
        written: i32,
    },
    /// The term ended here (the lease was lost or given up).
    #[error("this replica's term of leadership has ended")]
    Ended,
    /// The lease could not be read: nothing is written without an answer.
    #[error("cannot read the lease to check leadership: {0}")]
    Unreadable(String),
}

impl LeaseRecord {
    /// Whether `term` may still write: the lease names its holder at its
    /// generation.
    ///
    /// # Errors
    /// [`FenceError::NotHolder`] or [`FenceError::StaleGeneration`].
    pub fn admits(&self, term: &Term) -> Result<(), FenceError> {
        if self.holder.as_deref() != Some(term.identity.as_str()) {
            return Err(FenceError::NotHolder {
                holder: self.holder.clone(),
            });
        }
        if self.transitions != term.generation {
            return Err(FenceError::StaleGeneration {
                mine: term.generation,
                current: self.transitions,
            });
        }
        Ok(())
    }
}

/// Checks, before each write, that a term of leadership still holds.
/// Cheap to clone; every clone follows the same term.
#[derive(Debug, Clone)]
pub struct Fence {
    api: Api<Lease>,
    name: String,
    term: Term,
    live: watch::Receiver<bool>,
}

impl Fence {
    /// This term.
    pub fn term(&self) -> &Term {
        &self.term
    }

    /// The term's generation, for [`GENERATION_ANNOTATION`].
    pub fn generation(&self) -> i32 {
        self.term.generation
    }

    /// Refuses unless the term is live here and the Lease still names this
    /// replica at this generation (one GET of the Lease).
    ///
    /// # Errors
    /// [`FenceError`] naming why; an unreadable lease refuses too.
    pub async fn check(&self) -> Result<(), FenceError> {
        if !*self.live.borrow() {
            return Err(FenceError::Ended);
        }
        let lease = self
            .api
            .get(&self.name)
            .await
            .map_err(|e| FenceError::Unreadable(e.to_string()))?;
        LeaseRecord::of(&lease).admits(&self.term)?;
        if *self.live.borrow() {
            Ok(())
        } else {
            Err(FenceError::Ended)
        }
    }

    /// Refuses when `generation` (read from an object's
    /// [`GENERATION_ANNOTATION`]) is newer than this term's.
    ///
    /// # Errors
    /// [`FenceError::NewerWriter`].
    pub fn admits_writer(&self, object: &str, generation: Option<i32>) -> Result<(), FenceError> {
        match generation {
            Some(written) if written > self.term.generation => Err(FenceError::NewerWriter {
                object: object.to_owned(),
                mine: self.term.generation,
                written,
            }),
            _ => Ok(()),
        }
    }
}

/// The generation annotation of an object, if present and a number.
pub fn written_generation(meta: &ObjectMeta) -> Option<i32> {
    meta.annotations
        .as_ref()?
        .get(GENERATION_ANNOTATION)?
        .parse()
        .ok()
}

/// Errors of leader election.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LeaderError {
    /// The API server refused or failed a request.
    #[error("{action} failed")]
    Api {
        /// What was being done.
        action: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// The settings cannot work.
    #[error("invalid leader election settings: {reason}")]
    InvalidSettings {
        /// What is wrong.
        reason: &'static str,
    },
}

/// Where the Lease is and how it is held; the durations come from the
/// master config's `leader:` section ([`crate::config::LeaderSection`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseSettings {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease.
    pub name: String,
    /// How long a lease that is not renewed stays valid
    /// (`leaseDurationSeconds`, whole seconds, at least 1).
    pub lease_duration: Duration,
    /// How often the holder renews, and how often a candidate tries.
    pub renew_interval: Duration,
    /// How long the holder keeps leading without a successful renewal;
    /// must be shorter than `lease_duration`.
    pub renew_deadline: Duration,
}

impl Default for LeaseSettings {
    /// `kube-system/k3s-daas-master`, 15 s lease, renewed every 2 s, given
    /// up after 10 s without renewal (client-go's defaults).
    fn default() -> Self {
        Self {
            namespace: KUBE_SYSTEM.to_owned(),
            name: LEASE_NAME.to_owned(),
            lease_duration: Duration::from_secs(15),
            renew_interval: Duration::from_secs(2),
            renew_deadline: Duration::from_secs(10),
        }
    }
}

impl LeaseSettings {
    /// Checks that the durations fit together.
    ///
    /// # Errors
    /// [`LeaderError::InvalidSettings`] naming the problem.
    pub fn validate(&self) -> Result<(), LeaderError> {
        let invalid = |reason| Err(LeaderError::InvalidSettings { reason });
        if self.lease_duration < Duration::from_secs(1)
            || i32::try_from(self.lease_duration.as_secs()).is_err()
        {
            return invalid("the lease duration must be 1 s to 2^31 s");
        }
        if self.renew_interval.is_zero() || self.renew_interval >= self.renew_deadline {
            return invalid("the renew interval must be positive and below the renew deadline");
        }
        if self.renew_deadline >= self.lease_duration {
            return invalid("the renew deadline must be below the lease duration");
        }
        if self.namespace.is_empty() || self.name.is_empty() {
            return invalid("the lease needs a namespace and a name");
        }
        Ok(())
    }

    fn duration_seconds(&self) -> i32 {
        // validate() bounds it; saturate rather than fail otherwise.
        i32::try_from(self.lease_duration.as_secs()).unwrap_or(i32::MAX)
    }
}

/// The part of a Lease that election reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRecord {
    /// Who holds it; `None` (or empty on the wire) when free.
    pub holder: Option<String>,
    /// When the holder last renewed (informational: expiry is measured on
    /// the observer's clock).
    pub renew_time: Option<Timestamp>,
    /// `leaseDurationSeconds`.
    pub duration: Duration,
    /// `leaseTransitions`.
    pub transitions: i32,
}

impl LeaseRecord {
    /// The record of `lease`, with empty holders read as free.
    pub fn of(lease: &Lease) -> Self {
        let spec = lease.spec.clone().unwrap_or_default();
        Self {
            holder: spec.holder_identity.filter(|h| !h.is_empty()),
            renew_time: spec.renew_time.map(|t| t.0),
            duration: Duration::from_secs(
                u64::try_from(spec.lease_duration_seconds.unwrap_or(0)).unwrap_or(0),
            ),
            transitions: spec.lease_transitions.unwrap_or(0),
        }
    }
}

/// A candidate's memory of the lease: the record and when (on the local
/// monotonic clock) it last changed.
#[derive(Debug, Clone, Default)]
pub struct Observer {
    seen: Option<(LeaseRecord, Instant)>,
}

impl Observer {
    /// Records what a read of the lease returned at `now`.
    pub fn observe(&mut self, record: LeaseRecord, now: Instant) {
        let changed = self.seen.as_ref().is_none_or(|(seen, _)| *seen != record);
        if changed {
            self.seen = Some((record, now));
        }
    }

    /// Whether `me` may write itself into the lease at `now`: it is free,
    /// already mine, or unchanged for longer than its duration since this
    /// observer first saw it so.
    pub fn may_acquire(&self, me: &str, now: Instant) -> bool {
        let Some((record, since)) = &self.seen else {
            return true;
        };
        match &record.holder {
            None => true,
            Some(holder) if holder == me => true,
            Some(_) => now.saturating_duration_since(*since) >= record.duration,
        }
    }
}

/// Takes, renews and releases the Lease for one replica.
#[derive(Debug)]
pub struct Elector {
    api: Api<Lease>,
    settings: LeaseSettings,
    identity: String,
    observer: Observer,
}

impl Elector {
    /// An elector for replica `identity` on the lease in `settings`.
    ///
    /// # Errors
    /// [`LeaderError::InvalidSettings`] for unusable settings or an empty
    /// identity.
    pub fn new(
        client: Client,
        settings: LeaseSettings,
        identity: impl Into<String>,
    ) -> Result<Self, LeaderError> {
        settings.validate()?;
        let identity = identity.into();
        if identity.is_empty() {
            return Err(LeaderError::InvalidSettings {
                reason: "the replica identity must not be empty",
            });
        }
        Ok(Self {
            api: Api::namespaced(client, &settings.namespace),
            settings,
            identity,
            observer: Observer::default(),
        })
    }

    /// This replica's identity.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The lease settings.
    pub fn settings(&self) -> &LeaseSettings {
        &self.settings
    }

    /// The term this replica holds, as it last wrote or read the lease;
    /// `None` unless the lease names it.
    fn held_term(&self) -> Option<Term> {
        let (record, _) = self.observer.seen.as_ref()?;
        (record.holder.as_deref() == Some(self.identity.as_str())).then(|| Term {
            identity: self.identity.clone(),
            generation: record.transitions,
        })
    }

    /// A fence for the term this replica holds now (after a successful
    /// [`try_acquire_or_renew`](Self::try_acquire_or_renew)); only the
    /// Lease decides whether it still holds. `None` unless this replica
    /// holds the lease as last seen.
    pub fn current_fence(&self) -> Option<Fence> {
        let (_, live) = watch::channel(true);
        self.held_term().map(|term| self.fence(term, live))
    }

    /// A fence for `term`, live while `live` is true.
    fn fence(&self, term: Term, live: watch::Receiver<bool>) -> Fence {
        Fence {
            api: self.api.clone(),
            name: self.settings.name.clone(),
            term,
            live,
        }
    }

    fn api_error(&self, verb: &str) -> impl FnOnce(kube::Error) -> LeaderError {
        let action = format!(
            "{verb} Lease {}/{}",
            self.settings.namespace, self.settings.name
        );
        move |source| LeaderError::Api { action, source }
    }

    /// Takes the lease if it is free or expired, renews it if it is ours.
    /// `Ok(true)` when this replica holds it now, `Ok(false)` when another
    /// does (or won a race for it).
    ///
    /// # Errors
    /// [`LeaderError::Api`] when reading or writing the lease fails.
    #[instrument(skip(self), fields(identity = %self.identity))]
    pub async fn try_acquire_or_renew(&mut self) -> Result<bool, LeaderError> {
        let current = self
            .api
            .get_opt(&self.settings.name)
            .await
            .map_err(self.api_error("reading"))?;
        let Some(current) = current else {
            return self.create().await;
        };
        let record = LeaseRecord::of(&current);
        self.observer.observe(record.clone(), Instant::now());
        if !self.observer.may_acquire(&self.identity, Instant::now()) {
            debug!(holder = ?record.holder, "lease held by another replica");
            return Ok(false);
        }
        let taking_over = record.holder.as_deref() != Some(self.identity.as_str());
        let mut lease = current;
        lease.spec = Some(self.held_spec(lease.spec.take().unwrap_or_default(), taking_over));
        self.replace(&lease, "renewing").await.inspect(|done| {
            if *done && taking_over {
                info!(previous = ?record.holder, "lease acquired");
            }
        })
    }

    /// Gives the lease up if this replica holds it, so a successor need not
    /// wait for it to expire.
    ///
    /// # Errors
    /// [`LeaderError::Api`] when reading or writing the lease fails.
    #[instrument(skip(self), fields(identity = %self.identity))]
    pub async fn release(&mut self) -> Result<(), LeaderError> {
        let current = self
            .api
            .get_opt(&self.settings.name)
            .await
            .map_err(self.api_error("reading"))?;
        let Some(mut lease) = current else {
            return Ok(());
        };
        if LeaseRecord::of(&lease).holder.as_deref() != Some(self.identity.as_str()) {
            return Ok(());
        }
        let mut spec = lease.spec.take().unwrap_or_default();
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        lease.spec = Some(spec);
        if self.replace(&lease, "releasing").await? {
            info!("lease released");
        }
        Ok(())
    }

    fn held_spec(&self, mut spec: LeaseSpec, taking_over: bool) -> LeaseSpec {
        let now = MicroTime(Timestamp::now());
        if taking_over {
            spec.acquire_time = Some(now.clone());
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0).saturating_add(1));
        }
        spec.holder_identity = Some(self.identity.clone());
        spec.lease_duration_seconds = Some(self.settings.duration_seconds());
        spec.renew_time = Some(now);
        spec
    }

    async fn create(&mut self) -> Result<bool, LeaderError> {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(self.settings.name.clone()),
                namespace: Some(self.settings.namespace.clone()),
                labels: Some([(MANAGED_BY_LABEL.to_owned(), MANAGED_BY.to_owned())].into()),
                ..ObjectMeta::default()
            },
            spec: Some(self.held_spec(LeaseSpec::default(), true)),
        };
        match self.api.create(&post_params(), &lease).await {
            Ok(written) => {
                self.observer
                    .observe(LeaseRecord::of(&written), Instant::now());
                info!("lease created and acquired");
                Ok(true)
            }
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(source) => Err(self.api_error("creating")(source)),
        }
    }

    /// Compare-and-swap write; `Ok(false)` when someone wrote first.
    async fn replace(&mut self, lease: &Lease, verb: &str) -> Result<bool, LeaderError> {
        match self
            .api
            .replace(&self.settings.name, &post_params(), lease)
            .await
        {
            Ok(written) => {
                self.observer
                    .observe(LeaseRecord::of(&written), Instant::now());
                Ok(true)
            }
            Err(kube::Error::Api(status)) if status.code == 409 || status.code == 404 => {
                debug!("lease changed by another replica meanwhile");
                Ok(false)
            }
            Err(source) => Err(self.api_error(verb)(source)),
        }
    }
}

fn post_params() -> PostParams {
    PostParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PostParams::default()
    }
}

/// How a term of leadership ended.
enum TermEnd {
    Lost,
    Shutdown,
}

/// Campaigns for the lease until `shutdown`; whenever this replica holds
/// it, runs `work(fence)` with the term's [`Fence`] (dropping it, and
/// closing the fence, when the lease is lost), and reports leadership
/// changes to `on_change`. On shutdown it stops the work and releases the
/// lease. Never fails: API errors are logged and retried.
pub async fn run_elected<W, Fut, C>(
    mut elector: Elector,
    mut work: W,
    on_change: C,
    shutdown: impl Future<Output = ()>,
) where
    W: FnMut(Fence) -> Fut,
    Fut: Future<Output = ()>,
    C: Fn(bool),
{
    tokio::pin!(shutdown);
    loop {
        let held = tokio::select! {
            () = &mut shutdown => return,
            held = campaign(&mut elector) => held,
        };
        let (live_tx, live) = watch::channel(true);
        info!(generation = held.generation, "leading");
        on_change(true);
        let term = work(elector.fence(held, live));
        let end = tokio::select! {
            () = &mut shutdown => TermEnd::Shutdown,
            () = keep_renewing(&mut elector) => TermEnd::Lost,
            () = async { term.await; std::future::pending::<()>().await } => TermEnd::Lost,
        };
        live_tx.send_replace(false);
        on_change(false);
        if let TermEnd::Shutdown = end {
            release_on_shutdown(&mut elector).await;
            return;
        }
        warn!(identity = %elector.identity, "leadership lost");
    }
}

/// Tries every renew interval until the lease is ours; returns the term.
async fn campaign(elector: &mut Elector) -> Term {
    loop {
        match elector.try_acquire_or_renew().await {
            Ok(true) => {
                if let Some(term) = elector.held_term() {
                    return term;
                }
            }
            Ok(false) => {}
            Err(error) => warn!(error = %one_line(&error), "leader election attempt failed"),
        }
        tokio::time::sleep(elector.settings.renew_interval).await;
    }
}

/// Renews every renew interval; returns when the lease is lost: taken by
/// another replica, or not renewed within the renew deadline.
async fn keep_renewing(elector: &mut Elector) {
    let Some(term) = elector.held_term() else {
        return;
    };
    let mut renewed = Instant::now();
    loop {
        tokio::time::sleep(elector.settings.renew_interval).await;
        let deadline = renewed + elector.settings.renew_deadline;
        let attempt = tokio::time::timeout_at(deadline, elector.try_acquire_or_renew()).await;
        match attempt {
            Ok(Ok(true)) if elector.held_term().as_ref() == Some(&term) => {
                renewed = Instant::now();
            }
            // Renewed, but into another term: someone took the lease in
            // between and this replica took it back. The old term's writes
            // must stop.
            Ok(Ok(_)) => return,
            Ok(Err(error)) => warn!(error = %one_line(&error), "renewing the lease failed"),
            Err(_) => {}
        }
        if Instant::now() >= deadline {
            warn!("lease not renewed within the renew deadline");
            return;
        }
    }
}

/// Releases the lease, giving up after one renew deadline.
async fn release_on_shutdown(elector: &mut Elector) {
    let limit = elector.settings.renew_deadline;
    match tokio::time::timeout(limit, elector.release()).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => warn!(error = %one_line(&error), "releasing the lease failed"),
        Err(_) => warn!("releasing the lease timed out"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(holder: Option<&str>, secs: u64) -> LeaseRecord {
        LeaseRecord {
            holder: holder.map(str::to_owned),
            renew_time: None,
            duration: Duration::from_secs(secs),
            transitions: 0,
        }
    }

    #[test]
    fn free_or_own_leases_may_be_taken_at_once() {
        let now = Instant::now();
        let mut observer = Observer::default();
        assert!(observer.may_acquire("a", now));
        observer.observe(record(None, 15), now);
        assert!(observer.may_acquire("a", now));
        observer.observe(record(Some("a"), 15), now);
        assert!(observer.may_acquire("a", now));
        assert!(!observer.may_acquire("b", now));
    }

    #[test]
    fn a_held_lease_expires_only_after_it_stopped_changing_for_its_duration() {
        let start = Instant::now();
        let mut observer = Observer::default();
        observer.observe(record(Some("a"), 15), start);
        assert!(!observer.may_acquire("b", start + Duration::from_secs(14)));
        // The holder renewed: the record changed, the clock starts again.
        let mut renewed = record(Some("a"), 15);
        renewed.renew_time = Some(Timestamp::UNIX_EPOCH);
        observer.observe(renewed.clone(), start + Duration::from_secs(14));
        assert!(!observer.may_acquire("b", start + Duration::from_secs(20)));
        // Seeing the same record again does not restart the clock.
        observer.observe(renewed, start + Duration::from_secs(25));
        assert!(observer.may_acquire("b", start + Duration::from_secs(29)));
    }

    fn term(identity: &str, generation: i32) -> Term {
        Term {
            identity: identity.to_owned(),
            generation,
        }
    }

    #[test]
    fn a_stale_generation_is_refused() {
        let mut lease = record(Some("a"), 15);
        lease.transitions = 4;
        assert_eq!(lease.admits(&term("a", 4)), Ok(()));
        // "a" lost the lease at generation 3 and took it back at 4: the
        // writes of its old term are refused.
        assert_eq!(
            lease.admits(&term("a", 3)),
            Err(FenceError::StaleGeneration {
                mine: 3,
                current: 4
            })
        );
        assert!(matches!(
            lease.admits(&term("b", 4)),
            Err(FenceError::NotHolder { holder: Some(h) }) if h == "a"
        ));
        let free = record(None, 15);
        assert!(matches!(
            free.admits(&term("a", 0)),
            Err(FenceError::NotHolder { holder: None })
        ));
    }

    #[tokio::test]
    async fn a_fence_refuses_newer_writers_and_ended_terms() {
        let client =
            kube::Client::try_from(kube::Config::new("http://127.0.0.1:9".parse().unwrap()))
                .unwrap();
        let (live_tx, live) = watch::channel(true);
        let fence = Fence {
            api: Api::namespaced(client, "kube-system"),
            name: LEASE_NAME.to_owned(),
            term: term("a", 5),
            live,
        };
        assert_eq!(fence.admits_writer("cm", None), Ok(()));
        assert_eq!(fence.admits_writer("cm", Some(5)), Ok(()));
        assert_eq!(
            fence.admits_writer("cm", Some(6)),
            Err(FenceError::NewerWriter {
                object: "cm".to_owned(),
                mine: 5,
                written: 6
            })
        );
        // An unreachable API server refuses (nothing unchecked is written).
        assert!(matches!(
            fence.check().await,
            Err(FenceError::Unreadable(_))
        ));
        live_tx.send_replace(false);
        assert_eq!(fence.check().await, Err(FenceError::Ended));
    }

    #[test]
    fn generation_annotations_are_read_and_garbage_ignored() {
        let mut meta = ObjectMeta::default();
        assert_eq!(written_generation(&meta), None);
        meta.annotations = Some([(GENERATION_ANNOTATION.to_owned(), "7".to_owned())].into());
        assert_eq!(written_generation(&meta), Some(7));
        meta.annotations = Some([(GENERATION_ANNOTATION.to_owned(), "x".to_owned())].into());
        assert_eq!(written_generation(&meta), None);
    }

    #[test]
    fn empty_holders_read_as_free() {
        let lease = Lease {
            spec: Some(LeaseSpec {
                holder_identity: Some(String::new()),
                lease_duration_seconds: Some(-3),
                ..LeaseSpec::default()
            }),
            ..Lease::default()
        };
        let record = LeaseRecord::of(&lease);
        assert_eq!(record.holder, None);
        assert_eq!(record.duration, Duration::ZERO);
    }

    #[test]
    fn settings_are_checked() {
        assert!(LeaseSettings::default().validate().is_ok());
        let bad = [
            LeaseSettings {
                renew_deadline: Duration::from_secs(15),
                ..LeaseSettings::default()
            },
            LeaseSettings {
                renew_interval: Duration::ZERO,
                ..LeaseSettings::default()
            },
            LeaseSettings {
                lease_duration: Duration::from_millis(500),
                renew_deadline: Duration::from_millis(400),
                renew_interval: Duration::from_millis(100),
                ..LeaseSettings::default()
            },
            LeaseSettings {
                name: String::new(),
                ..LeaseSettings::default()
            },
        ];
        for settings in bad {
            assert!(settings.validate().is_err(), "{settings:?}");
        }
    }
}
