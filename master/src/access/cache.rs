//! The access caches: what a bearer token proves, and what the chain says
//! about a seal token.
//!
//! - **Credentials**: SHA-256 of the bearer string → the [`Credential`]
//!   (claimant and expiry) it proved, so a warm TokenReview costs no
//!   signature check and no Secret lookup. What a credential proves never
//!   changes, so only expiry ends an entry.
//! - **Decisions**: seal token → the [`CachedDecision`] for each owner that
//!   claimed it, until a deadline (the decision TTL, never past the seal
//!   token's expiry). Chain events drop them ([`DecisionCache::invalidate`]).
//!   How old a decision may be is asked at every lookup
//!   ([`DecisionLifetime`]): while the chain event follower is behind, an
//!   unstake may go unnoticed, so decisions then serve for at most
//!   [`BEHIND_DECISION_TTL`], the revocation target, however long they were
//!   stored for.
//!
//! Both maps are split into [`SHARDS`] read-write-locked shards, so warm
//! lookups on several cores take only read locks on different shards.
//!
//! A review runs without a lock: it takes a [`Ticket`] (its shard's
//! generation) before reading the chain and stores its result only if no
//! invalidation bumped that generation meanwhile, so a review in flight
//! during an invalidation never re-inserts a stale decision.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use daas_core::access::{Claimant, DenyReason, Grant, OpaqueTokenHash};
use daas_core::package::SealTokenId;
use sui_sdk_types::Address;

/// Number of shards of each map.
pub const SHARDS: usize = 16;
/// Entries per shard beyond which expired ones are pruned (and, if none
/// expired, the shard is emptied).
pub const MAX_ENTRIES_PER_SHARD: usize = 8192;

/// How long a decision serves while the chain event follower is not
/// caught up: with the API server's own answer cache
/// ([`crate::webhooks::AUTHORIZATION_CACHE_TTL`]), within the 500 ms
/// revocation target.
pub const BEHIND_DECISION_TTL: Duration = Duration::from_millis(250);

/// How old a cached decision may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecisionLifetime {
    /// The configured TTL (`access.decision_cache_secs`).
    pub configured: Duration,
}

impl DecisionLifetime {
    /// The oldest a decision may be: the configured TTL while events are
    /// followed (they drop stale decisions), else at most
    /// [`BEHIND_DECISION_TTL`].
    pub fn max_age(&self, events_caught_up: bool) -> Duration {
        if events_caught_up {
            self.configured
        } else {
            self.configured.min(BEHIND_DECISION_TTL)
        }
    }
}

/// How a credential was presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// A wallet-signed `daas1.` access token.
    AccessToken,
    /// An opaque 64-hex seal token issued by a master, with its hash.
    Opaque(OpaqueTokenHash),
}

/// What a bearer token proved: who claims which seal token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credential {
    /// The seal token and its claimed owner.
    pub claimant: Claimant,
    /// The kind of token.
    pub kind: CredentialKind,
    /// When the token stops being valid.
    pub expires: Instant,
}

/// A cached on-chain decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CachedDecision {
    /// Allowed as this grant.
    Allowed(Arc<Grant>),
    /// Denied for this reason.
    Denied(DenyReason),
}

/// A review's claim on its shard's generation; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    shard: usize,
    generation: u64,
}

#[derive(Debug)]
struct Shard<K, V> {
    map: HashMap<K, V>,
    generation: u64,
}

#[derive(Debug)]
struct Sharded<K, V> {
    shards: Vec<RwLock<Shard<K, V>>>,
    hasher: RandomState,
}

impl<K: Hash + Eq, V> Sharded<K, V> {
    fn new() -> Self {
        Self {
            shards: (0..SHARDS)
                .map(|_| {
                    RwLock::new(Shard {
                        map: HashMap::new(),
                        generation: 0,
                    })
                })
                .collect(),
            hasher: RandomState::new(),
        }
    }

    fn index(&self, key: &K) -> usize {
        // The modulo keeps the index below SHARDS, so the cast is lossless.
        (self.hasher.hash_one(key) % SHARDS as u64) as usize
    }

    // A poisoned shard only means a panic between two map operations; the
    // map is still consistent.
    fn read(&self, index: usize) -> Option<RwLockReadGuard<'_, Shard<K, V>>> {
        self.shards
            .get(index)
            .map(|lock| lock.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn write(&self, index: usize) -> Option<RwLockWriteGuard<'_, Shard<K, V>>> {
        self.shards
            .get(index)
            .map(|lock| lock.write().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Keeps a shard's size bounded: drops expired entries once it is full,
/// and everything if none had expired.
fn make_room<K, V>(map: &mut HashMap<K, V>, live: impl Fn(&V) -> bool) {
    if map.len() < MAX_ENTRIES_PER_SHARD {
        return;
    }
    map.retain(|_, value| live(value));
    if map.len() >= MAX_ENTRIES_PER_SHARD {
        map.clear();
    }
}

#[derive(Debug, Clone)]
struct DecisionEntry {
    owner: Address,
    decision: CachedDecision,
    stored_at: Instant,
    until: Instant,
}

/// The credential and decision caches.
#[derive(Debug)]
pub struct DecisionCache {
    credentials: Sharded<[u8; 32], Credential>,
    decisions: Sharded<SealTokenId, Vec<DecisionEntry>>,
}

impl Default for DecisionCache {
    fn default() -> Self {
        Self::new()
    }
}

impl DecisionCache {
    /// Empty caches.
    pub fn new() -> Self {
        Self {
            credentials: Sharded::new(),
            decisions: Sharded::new(),
        }
    }

    /// The credential proved by the bearer token whose SHA-256 is `key`,
    /// if cached and unexpired at `now`.
    pub fn credential(&self, key: &[u8; 32], now: Instant) -> Option<Credential> {
        let shard = self.credentials.read(self.credentials.index(key))?;
        shard
            .map
            .get(key)
            .filter(|credential| credential.expires > now)
            .copied()
    }

    /// Remembers what the bearer token whose SHA-256 is `key` proved.
    pub fn insert_credential(&self, key: [u8; 32], credential: Credential) {
        let now = Instant::now();
        if let Some(mut shard) = self.credentials.write(self.credentials.index(&key)) {
            make_room(&mut shard.map, |c| c.expires > now);
            shard.map.insert(key, credential);
        }
    }

    /// The cached decision about `claimant`, if any, still fresh at `now`
    /// and stored less than `max_age` before.
    pub fn decision(
        &self,
        claimant: &Claimant,
        now: Instant,
        max_age: Duration,
    ) -> Option<CachedDecision> {
        let shard = self
            .decisions
            .read(self.decisions.index(&claimant.seal_token))?;
        shard
            .map
            .get(&claimant.seal_token)?
            .iter()
            .find(|entry| {
                entry.owner == claimant.owner
                    && entry.until > now
                    && now.saturating_duration_since(entry.stored_at) < max_age
            })
            .map(|entry| entry.decision.clone())
    }

    /// Takes a ticket for a review of `seal_token` that is about to read
    /// the chain.
    pub fn ticket(&self, seal_token: SealTokenId) -> Ticket {
        let shard = self.decisions.index(&seal_token);
        let generation = self.decisions.read(shard).map_or(0, |s| s.generation);
        Ticket { shard, generation }
    }

    /// Stores a review's decision about `claimant` until `until`, unless
    /// an invalidation happened since `ticket` was taken. Returns whether
    /// it was stored.
    pub fn insert_decision(
        &self,
        ticket: Ticket,
        claimant: &Claimant,
        decision: CachedDecision,
        until: Instant,
    ) -> bool {
        let Some(mut shard) = self.decisions.write(ticket.shard) else {
            return false;
        };
        if shard.generation != ticket.generation {
            return false;
        }
        let now = Instant::now();
        make_room(&mut shard.map, |entries| {
            entries.iter().any(|e| e.until > now)
        });
        let entries = shard.map.entry(claimant.seal_token).or_default();
        entries.retain(|e| e.owner != claimant.owner && e.until > now);
        entries.push(DecisionEntry {
            owner: claimant.owner,
            decision,
            stored_at: now,
            until,
        });
        true
    }

    /// Drops the decisions about `seal_token`; reviews in flight for any
    /// seal token of the same shard will not store theirs.
    pub fn invalidate(&self, seal_token: SealTokenId) {
        if let Some(mut shard) = self.decisions.write(self.decisions.index(&seal_token)) {
            shard.generation = shard.generation.wrapping_add(1);
            shard.map.remove(&seal_token);
        }
    }

    /// Drops every decision; no review in flight will store its result.
    pub fn invalidate_all(&self) {
        for index in 0..SHARDS {
            if let Some(mut shard) = self.decisions.write(index) {
                shard.generation = shard.generation.wrapping_add(1);
                shard.map.clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn claimant(seal: u8, owner: u8) -> Claimant {
        Claimant {
            seal_token: SealTokenId::new(Address::new([seal; 32])),
            owner: Address::new([owner; 32]),
        }
    }

    fn denied() -> CachedDecision {
        CachedDecision::Denied(DenyReason::WorkerToken)
    }

    fn allowed(claimant: &Claimant) -> CachedDecision {
        CachedDecision::Allowed(Arc::new(Grant {
            username: format!("sui:{}", claimant.owner),
            groups: vec!["k3s-daas:viewer".to_owned(), "k3s-daas:users".to_owned()],
            extra: std::collections::BTreeMap::new(),
            address: claimant.owner,
            tier: daas_core::package::Tier::Viewer,
            seal_token: claimant.seal_token,
            stake: daas_core::package::Mist::new(500_000_000),
            seal_expires_at_ms: u64::MAX,
        }))
    }

    const FOREVER: Duration = Duration::from_secs(3600);

    fn later(secs: u64) -> Instant {
        Instant::now() + Duration::from_secs(secs)
    }

    #[test]
    fn decisions_are_per_owner_and_expire() {
        let cache = DecisionCache::new();
        let alice = claimant(1, 0xa);
        let bob = claimant(1, 0xb);
        let ticket = cache.ticket(alice.seal_token);
        assert!(cache.insert_decision(ticket, &alice, denied(), later(60)));
        assert_eq!(
            cache.decision(&alice, Instant::now(), FOREVER),
            Some(denied())
        );
        assert_eq!(cache.decision(&bob, Instant::now(), FOREVER), None);
        assert_eq!(cache.decision(&alice, later(61), FOREVER), None);
    }

    #[test]
    fn an_invalidation_during_a_review_keeps_its_result_out() {
        let cache = DecisionCache::new();
        let alice = claimant(2, 0xa);
        // The review takes its ticket and reads the chain...
        let ticket = cache.ticket(alice.seal_token);
        // ...an event invalidates the seal token meanwhile...
        cache.invalidate(alice.seal_token);
        // ...and the review's (stale) allow is not stored.
        assert!(!cache.insert_decision(ticket, &alice, allowed(&alice), later(60)));
        assert_eq!(cache.decision(&alice, Instant::now(), FOREVER), None);
        // A review that starts after the invalidation stores its result.
        let fresh = cache.ticket(alice.seal_token);
        assert!(cache.insert_decision(fresh, &alice, denied(), later(60)));
        cache.invalidate_all();
        assert_eq!(cache.decision(&alice, Instant::now(), FOREVER), None);
        assert!(!cache.insert_decision(fresh, &alice, denied(), later(60)));
    }

    #[test]
    fn racing_invalidations_never_leave_a_stale_entry() {
        // Reviewers insert stale allows (read before each round's
        // invalidation, an unstake say); after every round, nothing may be
        // cached.
        let cache = Arc::new(DecisionCache::new());
        let alice = claimant(3, 0xa);
        for _ in 0..200 {
            let tickets: Vec<Ticket> = (0..4).map(|_| cache.ticket(alice.seal_token)).collect();
            let invalidator = {
                let cache = Arc::clone(&cache);
                std::thread::spawn(move || cache.invalidate(alice.seal_token))
            };
            let reviewers: Vec<_> = tickets
                .into_iter()
                .map(|ticket| {
                    let cache = Arc::clone(&cache);
                    std::thread::spawn(move || {
                        cache.insert_decision(ticket, &alice, allowed(&alice), later(60))
                    })
                })
                .collect();
            invalidator.join().unwrap();
            for reviewer in reviewers {
                reviewer.join().unwrap();
            }
            // Any insert that won the race happened before the
            // invalidation, which then removed it.
            assert_eq!(cache.decision(&alice, Instant::now(), FOREVER), None);
        }
    }

    #[test]
    fn decisions_serve_briefly_while_events_are_behind() {
        let lifetime = DecisionLifetime {
            configured: Duration::from_secs(30),
        };
        assert_eq!(lifetime.max_age(true), Duration::from_secs(30));
        assert_eq!(lifetime.max_age(false), BEHIND_DECISION_TTL);
        // A configured TTL shorter than the target stays.
        let short = DecisionLifetime {
            configured: Duration::from_millis(100),
        };
        assert_eq!(short.max_age(false), Duration::from_millis(100));

        // Stored for 30 s while events were followed...
        let cache = DecisionCache::new();
        let alice = claimant(5, 0xa);
        let ticket = cache.ticket(alice.seal_token);
        let stored = Instant::now();
        assert!(cache.insert_decision(ticket, &alice, allowed(&alice), later(30)));
        let soon = stored + BEHIND_DECISION_TTL / 2;
        let after_target = stored + BEHIND_DECISION_TTL + Duration::from_millis(10);
        assert!(
            cache
                .decision(&alice, after_target, lifetime.max_age(true))
                .is_some()
        );
        // ...it serves only within the target once they are not...
        assert!(
            cache
                .decision(&alice, soon, lifetime.max_age(false))
                .is_some()
        );
        assert!(
            cache
                .decision(&alice, after_target, lifetime.max_age(false))
                .is_none()
        );
        // ...and catching up again does not stretch it past its deadline.
        assert!(
            cache
                .decision(&alice, later(31), lifetime.max_age(true))
                .is_none()
        );
    }

    #[test]
    fn credentials_expire_and_shards_stay_bounded() {
        let cache = DecisionCache::new();
        let credential = Credential {
            claimant: claimant(4, 0xa),
            kind: CredentialKind::AccessToken,
            expires: later(60),
        };
        cache.insert_credential([7; 32], credential);
        assert_eq!(cache.credential(&[7; 32], Instant::now()), Some(credential));
        assert_eq!(cache.credential(&[7; 32], later(61)), None);
        for i in 0..(SHARDS * MAX_ENTRIES_PER_SHARD * 2) {
            let mut key = [0u8; 32];
            key[..8].copy_from_slice(&(i as u64).to_le_bytes());
            cache.insert_credential(key, credential);
        }
        let total: usize = (0..SHARDS)
            .map(|i| cache.credentials.read(i).unwrap().map.len())
            .sum();
        assert!(total <= SHARDS * MAX_ENTRIES_PER_SHARD);
    }
}
