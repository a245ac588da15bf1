//! Single use of register proofs: the nonces seen while their proofs can
//! still verify.
//!
//! A proof verifies for `max_age` after its `issued_at`, so its nonce is
//! kept until then and no longer; the set is bounded by the registrations
//! in one validity window. Only proofs that passed the chain check are
//! recorded, so strangers cannot fill it. The set is per master process:
//! a proof replayed to another replica within its window is caught there
//! only by the duplicate-admission check (the same node and seal token get
//! a second bootstrap token, nothing more).

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use daas_core::access::worker_proof::NONCE_LEN;

/// The nonces seen, with when each may be forgotten (unix seconds).
#[derive(Debug, Default)]
pub struct NonceStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    seen: HashMap<[u8; NONCE_LEN], u64>,
    /// Insertion order, for pruning.
    order: VecDeque<([u8; NONCE_LEN], u64)>,
}

impl NonceStore {
    /// Claims `nonce` until `keep_until` (unix seconds); false when it was
    /// already claimed (a replay). Expired nonces are pruned at `now`.
    pub fn claim(&self, nonce: [u8; NONCE_LEN], keep_until: u64, now: u64) -> bool {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.prune(now);
        if inner.seen.contains_key(&nonce) {
            return false;
        }
        inner.seen.insert(nonce, keep_until);
        inner.order.push_back((nonce, keep_until));
        true
    }

    /// How many nonces are kept.
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .seen
            .len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Inner {
    /// Drops nonces from the front whose time has passed. Entries are
    /// roughly ordered by expiry; one that outlives its successors only
    /// delays their pruning, never drops an unexpired nonce.
    fn prune(&mut self, now: u64) {
        while let Some(&(nonce, keep_until)) = self.order.front() {
            if keep_until >= now {
                break;
            }
            self.order.pop_front();
            self.seen.remove(&nonce);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_single_use_until_it_expires() {
        let store = NonceStore::default();
        assert!(store.claim([1; NONCE_LEN], 100, 10));
        assert!(!store.claim([1; NONCE_LEN], 100, 50));
        assert!(store.claim([2; NONCE_LEN], 120, 50));
        assert!(!store.claim([1; NONCE_LEN], 100, 100));
        // Past its time the first is pruned; the second is kept.
        assert!(store.claim([3; NONCE_LEN], 200, 101));
        assert_eq!(store.len(), 2);
        assert!(!store.claim([2; NONCE_LEN], 200, 101));
        assert!(!store.is_empty());
    }
}
