//! Decision ids: UUID v7 (RFC 9562 §5.7), made without a syscall or a lock per id. Unique in
//! the process by construction (a monotonic 64-bit stamp is in every id), across replicas by 58
//! bits seeded once per process, and time-ordered: ids sort by the millisecond they were made,
//! then by the order they were made in.

use std::{
    fmt,
    hash::{BuildHasher as _, Hasher as _},
    sync::{
        LazyLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{SystemTime, UNIX_EPOCH},
};

/// The last stamp handed out: Unix milliseconds (48 bits) above a 16-bit sequence.
static LAST: AtomicU64 = AtomicU64::new(0);

/// This process's seed for the random bits.
static SEED: LazyLock<u64> = LazyLock::new(|| {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.finish()
});

/// One decision's id. `Display` is the canonical lower-case hyphenated form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DecisionId(uuid::Uuid);

impl DecisionId {
    /// A new id, later than (and different from) every id made before it in this process.
    pub fn new() -> Self {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        Self::from_stamp(next_stamp(now_ms))
    }

    /// The id of `stamp` (milliseconds << 16 | sequence): the whole stamp, then random bits.
    fn from_stamp(stamp: u64) -> Self {
        let random = splitmix64(*SEED ^ stamp);
        let ms = stamp >> 16;
        let sequence = stamp & 0xffff;
        let mut bytes = [0u8; 16];
        bytes[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
        // Version 7, then the sequence's high 12 bits (`rand_a`).
        let version_and_a = 0x7000 | (sequence >> 4);
        bytes[6..8].copy_from_slice(&version_and_a.to_be_bytes()[6..]);
        // Variant `10`, the sequence's low 4 bits, then 58 random bits (`rand_b`).
        let b = (0b10 << 62) | ((sequence & 0xf) << 58) | (random >> 6);
        bytes[8..].copy_from_slice(&b.to_be_bytes());
        Self(uuid::Uuid::from_bytes(bytes))
    }

    /// When the id was made, in Unix milliseconds.
    pub fn unix_ms(&self) -> u64 {
        let bytes = self.0.as_bytes();
        let mut ms = [0u8; 8];
        ms[2..].copy_from_slice(&bytes[..6]);
        u64::from_be_bytes(ms)
    }
}

impl DecisionId {
    /// The canonical form, written into `buf`.
    pub fn encode<'b>(&self, buf: &'b mut [u8; 36]) -> &'b str {
        self.0.hyphenated().encode_lower(buf)
    }
}

impl Default for DecisionId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for DecisionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = uuid::Uuid::encode_buffer();
        f.write_str(self.0.hyphenated().encode_lower(&mut buf))
    }
}

/// The next stamp: this millisecond's first, or one past the last if that is later (many ids
/// in one millisecond, or a clock that stepped back, borrow from the future, as RFC 9562
/// §6.2 allows, rather than repeat or go back).
fn next_stamp(now_ms: u64) -> u64 {
    let floor = (now_ms & 0xffff_ffff_ffff) << 16;
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = floor.max(last.wrapping_add(1));
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

/// A bijective 64-bit mix (SplitMix64's finaliser).
fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn ids_are_uuid_v7_with_the_time_they_were_made() {
        let before = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        let id = DecisionId::new();
        let parsed = uuid::Uuid::parse_str(&id.to_string()).unwrap_or_default();

        assert_eq!(parsed.get_version_num(), 7);
        assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122);
        assert!(u128::from(id.unix_ms()) >= before);
        assert_eq!(id.to_string().len(), 36);
    }

    #[test]
    fn ids_made_on_many_threads_are_distinct_and_each_threads_are_increasing() {
        let threads: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(|| (0..20_000).map(|_| DecisionId::new()).collect::<Vec<_>>())
            })
            .collect();
        let mut all = HashSet::new();
        for thread in threads {
            let ids = thread.join().unwrap_or_default();
            assert!(ids.windows(2).all(|w| w[0] < w[1]), "ordered");
            assert!(
                ids.windows(2).all(|w| w[0].to_string() < w[1].to_string()),
                "ordered as text too"
            );
            all.extend(ids);
        }
        assert_eq!(all.len(), 80_000);
    }

    #[test]
    fn a_millisecond_with_more_ids_than_its_sequence_holds_moves_on_without_repeating() {
        let first = DecisionId::from_stamp(5 << 16 | 0xffff);
        let next = DecisionId::from_stamp((5 << 16 | 0xffff) + 1);

        assert!(first < next);
        assert_eq!((first.unix_ms(), next.unix_ms()), (5, 6));
    }
}
