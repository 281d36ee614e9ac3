//! Invalidation generations: how a cached value proves it is not older than the last write
//! that touched what it was computed from.
//!
//! One clock counts invalidations. A load reads the clock *before* it reads the store and
//! stamps its value with that generation; an invalidation (always after its write committed)
//! takes the next generation and raises the floor of what it touched to it. A value is current
//! while its stamp is at or above every floor that covers it. So a load that was in flight when
//! a write committed carries a stamp below the floor that write raised, and is refused however
//! late it lands in a cache: moka's `invalidate` alone cannot promise that, since it only
//! removes what is present at that moment.
//!
//! Floors are kept per stripe of tenants (a fixed hash of the id), not per tenant, so memory is
//! fixed; two tenants sharing a stripe only cost each other an extra reload.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::tenant::TenantId;

const STRIPES: usize = 256;

/// Which floors cover a tenant: computed once per load and kept with the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stripe(usize);

impl Stripe {
    /// The stripe of `id` (FNV-1a: fixed, so every part of the process agrees).
    pub fn of(id: &TenantId) -> Self {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in id.as_str().bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        // The remainder is below STRIPES, so it fits in usize.
        Self(usize::try_from(hash % STRIPES as u64).unwrap_or(0))
    }
}

/// Per-stripe floors plus one floor for every tenant at once.
#[derive(Debug)]
struct Floors {
    stripes: Box<[AtomicU64]>,
    all: AtomicU64,
}

impl Floors {
    fn new() -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| AtomicU64::new(0)).collect(),
            all: AtomicU64::new(0),
        }
    }

    fn raise(&self, stripe: Option<Stripe>, generation: u64) {
        match stripe {
            Some(Stripe(i)) => self.stripes[i].fetch_max(generation, Ordering::SeqCst),
            None => self.all.fetch_max(generation, Ordering::SeqCst),
        };
    }

    fn floor(&self, Stripe(i): Stripe) -> u64 {
        self.stripes[i]
            .load(Ordering::SeqCst)
            .max(self.all.load(Ordering::SeqCst))
    }
}

/// What an invalidation says about the values it touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Certainty {
    /// A write committed: older values are wrong and are never served again, not even while
    /// the store is down.
    Changed,
    /// A write may have committed (its outcome is unknown), or announcements were missed:
    /// older values are reloaded, but may stand in for the store while it does not answer.
    Suspected,
}

/// What an invalidation touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Touched {
    /// Whose values: one tenant's, or every tenant's.
    pub tenant: Option<Stripe>,
    /// The tenant's keys and verification policy (so its verified tokens) may have changed.
    pub keys: bool,
    /// Which tenants exist and their issuers may have changed.
    pub directory: bool,
}

/// The clock and the floors. One per process, owned by `TenantStates`.
#[derive(Debug)]
pub struct Generations {
    clock: AtomicU64,
    /// Tenant state (settings, catalog, revocations) older than this is not current.
    state: Floors,
    /// Tenant state older than this must not stand in during an outage either.
    state_changed: Floors,
    /// Verified tokens stamped older than this were verified under other keys or policy.
    keys: Floors,
    /// The tenant directory (ids and issuers) older than this is not current …
    directory: AtomicU64,
    /// … and older than this must not stand in during an outage.
    directory_changed: AtomicU64,
}

impl Default for Generations {
    fn default() -> Self {
        Self {
            clock: AtomicU64::new(0),
            state: Floors::new(),
            state_changed: Floors::new(),
            keys: Floors::new(),
            directory: AtomicU64::new(0),
            directory_changed: AtomicU64::new(0),
        }
    }
}

impl Generations {
    /// The stamp for a value about to be loaded: read it before reading the store.
    pub fn stamp(&self) -> u64 {
        self.clock.load(Ordering::SeqCst)
    }

    /// Records an invalidation; call it after the write it stands for committed.
    pub fn invalidate(&self, touched: Touched, certainty: Certainty) {
        let generation = self.clock.fetch_add(1, Ordering::SeqCst) + 1;
        self.state.raise(touched.tenant, generation);
        if touched.keys {
            self.keys.raise(touched.tenant, generation);
        }
        if touched.directory {
            self.directory.fetch_max(generation, Ordering::SeqCst);
        }
        if certainty == Certainty::Changed {
            self.state_changed.raise(touched.tenant, generation);
            if touched.directory {
                self.directory_changed
                    .fetch_max(generation, Ordering::SeqCst);
            }
        }
    }

    /// Records an invalidation of the directory alone (the caller registry changed); call it
    /// after the write it stands for committed.
    pub fn invalidate_directory(&self, certainty: Certainty) {
        let generation = self.clock.fetch_add(1, Ordering::SeqCst) + 1;
        self.directory.fetch_max(generation, Ordering::SeqCst);
        if certainty == Certainty::Changed {
            self.directory_changed
                .fetch_max(generation, Ordering::SeqCst);
        }
    }

    /// Whether tenant state stamped `stamp` is current.
    pub fn state_current(&self, stripe: Stripe, stamp: u64) -> bool {
        stamp >= self.state.floor(stripe)
    }

    /// Whether tenant state stamped `stamp` may stand in while the store does not answer.
    pub fn state_usable_in_outage(&self, stripe: Stripe, stamp: u64) -> bool {
        stamp >= self.state_changed.floor(stripe)
    }

    /// The lowest stamp a verified token of the tenant may carry.
    pub fn keys_floor(&self, stripe: Stripe) -> u64 {
        self.keys.floor(stripe)
    }

    /// Whether a directory stamped `stamp` is current.
    pub fn directory_current(&self, stamp: u64) -> bool {
        stamp >= self.directory.load(Ordering::SeqCst)
    }

    /// Whether a directory stamped `stamp` may stand in while the store does not answer.
    pub fn directory_usable_in_outage(&self, stamp: u64) -> bool {
        stamp >= self.directory_changed.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(id: &str) -> Stripe {
        Stripe::of(&TenantId::parse(id).unwrap())
    }

    fn only(stripe: Stripe) -> Touched {
        Touched {
            tenant: Some(stripe),
            keys: false,
            directory: false,
        }
    }

    #[test]
    fn a_load_stamped_before_an_invalidation_is_refused_and_one_after_is_current() {
        let g = Generations::default();
        let a = tenant("a");
        let before = g.stamp();
        g.invalidate(only(a), Certainty::Changed);
        assert!(!g.state_current(a, before));
        assert!(!g.state_usable_in_outage(a, before));
        assert!(g.state_current(a, g.stamp()));
    }

    #[test]
    fn a_suspected_change_refuses_the_value_but_lets_it_stand_in_during_an_outage() {
        let g = Generations::default();
        let a = tenant("a");
        let before = g.stamp();
        g.invalidate(only(a), Certainty::Suspected);
        assert!(!g.state_current(a, before));
        assert!(g.state_usable_in_outage(a, before));
    }

    #[test]
    fn keys_and_directory_move_only_when_touched() {
        let g = Generations::default();
        let a = tenant("a");
        let before = g.stamp();
        g.invalidate(only(a), Certainty::Changed);
        assert!(g.keys_floor(a) <= before);
        assert!(g.directory_current(before));
        let settings = Touched {
            tenant: Some(a),
            keys: true,
            directory: true,
        };
        g.invalidate(settings, Certainty::Changed);
        assert!(g.keys_floor(a) > before);
        assert!(!g.directory_current(before));
        assert!(!g.directory_usable_in_outage(before));
    }

    #[test]
    fn every_tenant_at_once() {
        let g = Generations::default();
        let before = g.stamp();
        let all = Touched {
            tenant: None,
            keys: true,
            directory: true,
        };
        g.invalidate(all, Certainty::Suspected);
        for id in ["a", "b", "school", "x-1"] {
            assert!(!g.state_current(tenant(id), before));
            assert!(g.keys_floor(tenant(id)) > before);
            assert!(g.state_usable_in_outage(tenant(id), before));
        }
        assert!(!g.directory_current(before));
        assert!(g.directory_usable_in_outage(before));
    }

    #[test]
    fn other_stripes_are_untouched() {
        let g = Generations::default();
        let a = tenant("a");
        let other = (0..100)
            .map(|i| tenant(&format!("t{i}")))
            .find(|s| *s != a)
            .unwrap();
        let before = g.stamp();
        g.invalidate(only(a), Certainty::Changed);
        assert!(g.state_current(other, before));
    }
}
