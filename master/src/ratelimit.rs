//! Per-identity rate limiting (seed: 100 requests per minute).
//!
//! A generic cell rate algorithm per key: each key may make `per_minute`
//! requests in a burst and then one every `60 s / per_minute`. Only one
//! instant is stored per key (its "theoretical arrival time"), and keys whose
//! time has passed are equivalent to absent ones, so they are pruned.
//!
//! Callers choose the key: the caller's Sui address once authenticated,
//! else the peer's IP address.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many insertions between two prunings of expired keys.
const PRUNE_EVERY: u32 = 1024;

/// Rate limits by key.
#[derive(Debug)]
pub struct RateLimiter {
    /// Time between two requests at the sustained rate.
    interval: Duration,
    /// How far ahead of now a key's arrival time may run (the burst).
    tolerance: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    arrivals: HashMap<String, Instant>,
    since_prune: u32,
}

impl RateLimiter {
    /// `per_minute` requests per minute and key, all of them at once if the
    /// key was idle.
    pub fn per_minute(per_minute: NonZeroU32) -> Self {
        let interval = Duration::from_secs(60) / per_minute.get();
        Self {
            interval,
            tolerance: interval.saturating_mul(per_minute.get() - 1),
            state: Mutex::new(State::default()),
        }
    }

    /// Admits one request of `key` now.
    ///
    /// # Errors
    /// How long the key must wait before its next request is admitted.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        self.check_at(key, Instant::now())
    }

    fn check_at(&self, key: &str, now: Instant) -> Result<(), Duration> {
        // A poisoned lock only means another request panicked mid-update of
        // one instant; the map is still usable.
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let arrival = state
            .arrivals
            .get(key)
            .copied()
            .map_or(now, |arrival| arrival.max(now));
        let ahead = arrival.saturating_duration_since(now);
        if ahead > self.tolerance {
            return Err(ahead - self.tolerance);
        }
        let next = arrival + self.interval;
        match state.arrivals.get_mut(key) {
            Some(stored) => *stored = next,
            None => {
                state.arrivals.insert(key.to_owned(), next);
                state.since_prune += 1;
                if state.since_prune >= PRUNE_EVERY {
                    state.since_prune = 0;
                    state.arrivals.retain(|_, arrival| *arrival > now);
                }
            }
        }
        Ok(())
    }

    /// How many keys are tracked (for tests and metrics).
    pub fn tracked_keys(&self) -> usize {
        self.state.lock().map_or(0, |state| state.arrivals.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_minute: u32) -> RateLimiter {
        RateLimiter::per_minute(NonZeroU32::new(per_minute).unwrap())
    }

    #[test]
    fn a_burst_of_the_limit_then_429_with_the_wait() {
        let limiter = limiter(100);
        let now = Instant::now();
        for i in 0..100 {
            assert!(limiter.check_at("alice", now).is_ok(), "request {i}");
        }
        let wait = limiter.check_at("alice", now).unwrap_err();
        assert_eq!(wait, Duration::from_millis(600));
        // Another identity is unaffected.
        assert!(limiter.check_at("bob", now).is_ok());
        // One interval later one more request is admitted, and only one.
        let later = now + Duration::from_millis(600);
        assert!(limiter.check_at("alice", later).is_ok());
        assert!(limiter.check_at("alice", later).is_err());
    }

    #[test]
    fn the_sustained_rate_is_admitted_forever() {
        let limiter = limiter(60);
        let start = Instant::now();
        for second in 0..500 {
            let at = start + Duration::from_secs(second);
            assert!(limiter.check_at("steady", at).is_ok(), "second {second}");
        }
    }

    #[test]
    fn idle_keys_are_pruned() {
        let limiter = limiter(10);
        let now = Instant::now();
        for i in 0..PRUNE_EVERY {
            limiter.check_at(&format!("k{i}"), now).unwrap();
        }
        let later = now + Duration::from_secs(61);
        for i in 0..PRUNE_EVERY {
            limiter.check_at(&format!("j{i}"), later).unwrap();
        }
        assert_eq!(limiter.tracked_keys(), PRUNE_EVERY as usize);
    }

    #[test]
    fn a_limit_of_one_per_minute() {
        let limiter = limiter(1);
        let now = Instant::now();
        assert!(limiter.check_at("k", now).is_ok());
        assert_eq!(
            limiter.check_at("k", now).unwrap_err(),
            Duration::from_secs(60)
        );
    }
}
