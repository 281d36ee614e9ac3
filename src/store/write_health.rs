//! Whether the store's writes reach storage: what readiness reports between two writes, and
//! which pooled connections may be handed out again after a storage failure.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use super::StoreError;

/// Remembers that a write failed for storage reasons (disk full, read-only, I/O error) until a
/// write or a write probe commits again, and when. Clones share the state.
#[derive(Debug, Clone)]
pub struct WriteHealth(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    /// Time origin of the instants below (nanoseconds after it; 0 = never).
    origin: Instant,
    failing: AtomicBool,
    failing_since: AtomicU64,
    last_failure: AtomicU64,
}

impl Default for WriteHealth {
    fn default() -> Self {
        Self(Arc::new(Inner {
            origin: Instant::now(),
            failing: AtomicBool::new(false),
            failing_since: AtomicU64::new(0),
            last_failure: AtomicU64::new(0),
        }))
    }
}

impl WriteHealth {
    /// Notes the outcome of a write: a commit clears the failure, a storage error sets it,
    /// anything else (a refused edit, a lost connection) says nothing about the storage.
    pub fn record<T>(&self, outcome: &Result<T, StoreError>) {
        match outcome {
            Ok(_) => self.0.failing.store(false, Ordering::Release),
            Err(err) if err.is_storage() => {
                let now = self.nanos_ago(Duration::ZERO);
                self.0.last_failure.store(now, Ordering::Release);
                if !self.0.failing.swap(true, Ordering::AcqRel) {
                    self.0.failing_since.store(now, Ordering::Release);
                }
            }
            Err(_) => {}
        }
    }

    /// Whether the last write that reached the storage failed there.
    pub fn failing(&self) -> bool {
        self.0.failing.load(Ordering::Acquire)
    }

    /// Whether a connection opened `age` ago may serve again. Not when it was open at the last
    /// storage failure (its transaction state or file handles may be broken), nor when it was
    /// opened during the current failure: SQLite opens a `-wal` it may not write read-only,
    /// for the connection's life, so it would keep failing after the storage is back.
    pub fn trusts_connection(&self, age: Duration) -> bool {
        let born = self.nanos_ago(age);
        if born <= self.0.last_failure.load(Ordering::Acquire) {
            return false;
        }
        !(self.failing() && born >= self.0.failing_since.load(Ordering::Acquire))
    }

    /// `age` before now, in nanoseconds after the origin (at least 1: 0 means never).
    fn nanos_ago(&self, age: Duration) -> u64 {
        let at = self.0.origin.elapsed().saturating_sub(age);
        u64::try_from(at.as_nanos()).unwrap_or(u64::MAX).max(1)
    }
}

/// The pool's `before_acquire` verdict: a connection still inside a transaction is closed,
/// not handed out. sqlx rolls back a transaction dropped without a commit (a failed COMMIT,
/// an error or a cancelled call) just before the connection returns to the pool; when that
/// ROLLBACK fails (SQLite already rolled back by itself), sqlx still counts the transaction
/// open and every later `BEGIN` on the connection would fail.
pub fn reusable(in_transaction: bool) -> bool {
    if in_transaction {
        tracing::warn!("closing a pooled connection left inside a transaction");
    }
    !in_transaction
}

#[cfg(test)]
mod tests {
    use super::*;

    fn storage_failure() -> Result<(), StoreError> {
        Err(StoreError::Storage("disk full".into()))
    }

    #[test]
    fn connections_from_before_or_during_a_storage_failure_are_not_trusted() {
        // Up for a minute; a connection opened 30 s ago.
        let health = WriteHealth(Arc::new(Inner {
            origin: Instant::now().checked_sub(Duration::from_secs(60)).unwrap(),
            failing: AtomicBool::new(false),
            failing_since: AtomicU64::new(0),
            last_failure: AtomicU64::new(0),
        }));
        let before = Duration::from_secs(30);
        assert!(health.trusts_connection(before));

        health.record(&storage_failure());
        assert!(health.failing());
        assert!(!health.trusts_connection(before), "open at the failure");
        assert!(
            !health.trusts_connection(Duration::ZERO),
            "opened while failing"
        );

        health.record(&Ok(()));
        assert!(!health.failing());
        assert!(health.trusts_connection(Duration::ZERO), "opened after");
        assert!(!health.trusts_connection(before));
    }

    #[test]
    fn only_storage_errors_count_as_failing() {
        let health = WriteHealth::default();

        health.record::<()>(&Err(StoreError::Unavailable("pool timed out".into())));

        assert!(!health.failing());
    }
}
