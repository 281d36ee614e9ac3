//! The DPoP replay cache (RFC 9449 §11.1): every accepted proof's `jti`, under its key, for as long
//! as the proof could still be accepted.
//!
//! When the cache is full of live entries it refuses new proofs instead of evicting: evicting the
//! oldest entry would make that proof acceptable again while its `iat` is still in the window,
//! which is exactly the replay the cache exists to stop. The cost is that a client flooding
//! valid proofs can make others' proofs fail (`dpop_replay_cache_full`) until entries expire;
//! that is loud in metrics and bounded by the window, while a silent replay is neither.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use sha2::{Digest, Sha256};

/// Entries a [`ReplayCache::default`] holds (about 100 bytes each).
pub const DEFAULT_REPLAY_CAPACITY: usize = 100_000;

/// A bounded set of recently accepted proofs, keyed by the SHA-256 of the proof key's thumbprint
/// and the `jti` (tenant-independent: the key identifies the client). Share one per process.
pub struct ReplayCache {
    capacity: AtomicUsize,
    seen: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    /// Key → Unix second after which the proof can no longer be accepted anyway.
    until: HashMap<[u8; 32], i64>,
    /// Insertion order, for purging; never shorter than `until`, so its length is the bound.
    order: VecDeque<([u8; 32], i64)>,
}

/// Why [`ReplayCache::remember`] refused a proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    Replayed,
    Full,
}

impl ReplayCache {
    /// An empty cache holding at most `capacity` live proofs.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: AtomicUsize::new(capacity),
            seen: Mutex::new(Seen::default()),
        }
    }

    /// The most live proofs it holds.
    pub fn capacity(&self) -> usize {
        self.capacity.load(Ordering::Relaxed)
    }

    /// Changes the bound, keeping every remembered proof (forgetting one would reopen its
    /// replay): a smaller bound refuses new proofs until enough entries expire.
    pub fn set_capacity(&self, capacity: usize) {
        self.capacity.store(capacity, Ordering::Relaxed);
    }

    /// Proofs remembered, expired ones not yet purged included.
    pub fn len(&self) -> usize {
        self.lock().order.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Remembers the proof of `jkt` and `jti` until `until` (Unix seconds), atomically with the
    /// check that it is not already remembered. Entries whose time has passed are purged first.
    pub(crate) fn remember(
        &self,
        jkt: &str,
        jti: &str,
        now: i64,
        until: i64,
    ) -> Result<(), Refusal> {
        let key = replay_key(jkt, jti);
        let mut seen = self.lock();
        seen.purge(now);
        if seen.until.get(&key).is_some_and(|&until| until > now) {
            return Err(Refusal::Replayed);
        }
        if seen.order.len() >= self.capacity() {
            return Err(Refusal::Full);
        }
        seen.until.insert(key, until);
        seen.order.push_back((key, until));
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Seen> {
        // Nothing panics while the lock is held, so a poisoned state is still consistent.
        self.seen.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Seen {
    /// Drops expired entries from the front. Entries are pushed with non-decreasing times unless
    /// the clock steps back; then purging stops early and keeps entries longer (the safe side).
    fn purge(&mut self, now: i64) {
        while let Some(&(key, until)) = self.order.front() {
            if until > now {
                break;
            }
            self.order.pop_front();
            if self.until.get(&key) == Some(&until) {
                self.until.remove(&key);
            }
        }
    }
}

impl Default for ReplayCache {
    fn default() -> Self {
        Self::new(DEFAULT_REPLAY_CAPACITY)
    }
}

impl fmt::Debug for ReplayCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplayCache")
            .field("capacity", &self.capacity())
            .field("len", &self.len())
            .finish()
    }
}

/// Length-prefixed so that no (`jkt`, `jti`) pair collides with another by shifting bytes.
fn replay_key(jkt: &str, jti: &str) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update((jkt.len() as u64).to_be_bytes());
    hash.update(jkt.as_bytes());
    hash.update(jti.as_bytes());
    hash.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpop_replay_a_proof_is_accepted_once_until_it_expires() {
        let cache = ReplayCache::new(10);
        assert_eq!(cache.remember("k", "j", 100, 220), Ok(()));
        assert_eq!(cache.remember("k", "j", 219, 339), Err(Refusal::Replayed));
        assert_eq!(cache.remember("k2", "j", 100, 220), Ok(()));
        assert_eq!(cache.remember("kj", "", 100, 220), Ok(()));
        assert_eq!(cache.remember("k", "j", 220, 340), Ok(()));
    }

    #[test]
    fn dpop_replay_a_full_cache_refuses_instead_of_evicting() {
        let cache = ReplayCache::new(2);
        assert_eq!(cache.remember("k", "1", 100, 220), Ok(()));
        assert_eq!(cache.remember("k", "2", 101, 221), Ok(()));
        assert_eq!(cache.remember("k", "3", 102, 222), Err(Refusal::Full));
        // The first proof is still remembered: refusing did not evict it.
        assert_eq!(cache.remember("k", "1", 219, 339), Err(Refusal::Replayed));
        // Once the first expires there is room again.
        assert_eq!(cache.remember("k", "3", 220, 340), Ok(()));
        assert_eq!(cache.len(), 2);
    }
}
