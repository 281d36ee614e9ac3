//! Dense bitsets over interned scope ids: the representation that makes a decision a few ANDs.

/// Bits per word.
const WORD: usize = 64;

/// Number of `u64` words needed to hold `len` ids.
pub(crate) fn words_for(len: usize) -> usize {
    len.div_ceil(WORD)
}

/// Word index and mask of one id.
pub(crate) fn locate(id: u32) -> (usize, u64) {
    let id = id as usize;
    (id / WORD, 1u64 << (id % WORD))
}

/// Sets `id`; ids past the end are ignored (the caller sized the set from the same catalog).
pub(crate) fn insert(words: &mut [u64], id: u32) {
    let (w, m) = locate(id);
    if let Some(word) = words.get_mut(w) {
        *word |= m;
    }
}

/// Whether `id` is set; ids past the end are not.
pub(crate) fn contains(words: &[u64], id: u32) -> bool {
    let (w, m) = locate(id);
    words.get(w).is_some_and(|word| word & m != 0)
}

/// The set ids in ascending order.
pub(crate) fn iter(words: &[u64]) -> impl Iterator<Item = u32> + '_ {
    words.iter().enumerate().flat_map(|(w, &word)| {
        let mut rest = word;
        std::iter::from_fn(move || {
            if rest == 0 {
                return None;
            }
            let bit = rest.trailing_zeros();
            rest &= rest - 1;
            // Ids are u32, so a word's first id fits in one.
            #[allow(clippy::cast_possible_truncation)]
            let id = (w * WORD) as u32 + bit;
            Some(id)
        })
    })
}

/// A set of ids stored sparsely as (word index, mask) pairs, ascending by word: the shape of
/// one requirement alternative, so that checking it costs one AND per distinct word no matter
/// how large the catalog is.
///
/// Most alternatives name scopes of one word (often a single scope): that word is kept inline,
/// with no allocation (a cached catalog holds one set per alternative of every operation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SparseSet {
    /// At most one word: `(word index, mask)`; an empty set has mask 0.
    One(u32, u64),
    /// Two words or more, ascending by word index.
    Many(Box<[(u32, u64)]>),
}

impl Default for SparseSet {
    fn default() -> Self {
        Self::One(0, 0)
    }
}

impl SparseSet {
    /// Builds the set from ids in any order, duplicates allowed.
    pub(crate) fn from_ids(ids: impl IntoIterator<Item = u32>) -> Self {
        let mut ids: Vec<u32> = ids.into_iter().collect();
        ids.sort_unstable();
        ids.dedup();
        let mut out: Vec<(u32, u64)> = Vec::new();
        for id in ids {
            let (w, m) = locate(id);
            // w fits: it came from a u32 divided by 64.
            #[allow(clippy::cast_possible_truncation)]
            let w = w as u32;
            match out.last_mut() {
                Some((last, mask)) if *last == w => *mask |= m,
                _ => out.push((w, m)),
            }
        }
        match out.as_slice() {
            [] => Self::default(),
            &[(w, m)] => Self::One(w, m),
            _ => Self::Many(out.into_boxed_slice()),
        }
    }

    /// How many ids of this set are absent from `dense`.
    #[inline]
    pub(crate) fn missing_from(&self, dense: &[u64]) -> u32 {
        let lacks = |&(w, m): &(u32, u64)| {
            let have = dense.get(w as usize).copied().unwrap_or(0);
            (m & !have).count_ones()
        };
        match self {
            Self::One(w, m) => lacks(&(*w, *m)),
            Self::Many(words) => words.iter().map(lacks).sum(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn dense_insert_remove_and_iterate_in_ascending_order() {
        let mut words = vec![0u64; words_for(130)];
        for id in [129, 0, 63, 0] {
            insert(&mut words, id);
        }
        insert(&mut words, 500); // out of range: ignored
        assert_eq!(iter(&words).collect::<Vec<_>>(), [0, 63, 129]);
        assert!(contains(&words, 63) && !contains(&words, 64) && !contains(&words, 500));
    }

    #[test]
    fn sparse_set_counts_what_a_dense_set_lacks() {
        let need = SparseSet::from_ids([3, 70, 3, 5, 200]);
        let mut have = vec![0u64; words_for(256)];
        assert_eq!(need.missing_from(&have), 4);
        insert(&mut have, 70);
        insert(&mut have, 3);
        assert_eq!(need.missing_from(&have), 2);
        for id in [5, 200] {
            insert(&mut have, id);
        }
        assert_eq!(need.missing_from(&have), 0);
        assert_eq!(need.missing_from(&[]), 4);
    }

    #[test]
    fn a_set_within_one_word_is_kept_inline_and_counts_the_same() {
        let one = SparseSet::from_ids([70, 65, 70]);
        assert_eq!(one, SparseSet::One(1, (1 << 6) | (1 << 1)));
        let mut have = vec![0u64; words_for(128)];
        assert_eq!(one.missing_from(&have), 2);
        insert(&mut have, 65);
        assert_eq!(one.missing_from(&have), 1);
        assert_eq!(one.missing_from(&[]), 2);
        let empty = SparseSet::from_ids([]);
        assert_eq!(empty, SparseSet::default());
        assert_eq!(empty.missing_from(&[]), 0);
        assert!(matches!(SparseSet::from_ids([1, 64]), SparseSet::Many(w) if w.len() == 2));
    }
}
