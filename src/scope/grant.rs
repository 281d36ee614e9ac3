//! The effective grant: a token's scopes filtered to the current catalog and closed under `implies`.

use super::bits;
use super::{CompiledCatalog, ScopeName};

/// What a token may do against one compiled catalog.
///
/// Guarantees: only scopes present in the catalog; reserved scopes only when built for a
/// first-party client (also when a non-reserved scope implies one); closed under `implies`
/// (every scope implied, transitively, by a direct scope is in the effective set). Listings
/// are sorted by name, byte-wise (catalog id order). A grant is tied to the catalog that built
/// it: deciding it against another catalog treats it as empty (fail closed).
#[derive(Clone)]
pub struct Grant<'c> {
    pub(crate) catalog: &'c CompiledCatalog,
    /// The token's own scopes that survived filtering.
    pub(crate) direct: Vec<u64>,
    /// `direct` plus its closure.
    pub(crate) effective: Vec<u64>,
    first_party: bool,
    unknown: Vec<String>,
    withheld: Vec<u32>,
}

/// One implication a grant relied on: `to` is effective only because `from` was granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Implication<'c> {
    /// A scope the token carries.
    pub from: &'c ScopeName,
    /// A scope it implies that the token does not carry itself.
    pub to: &'c ScopeName,
}

impl CompiledCatalog {
    /// The effective grant of a token carrying `granted` (its `scope`/`scp` values).
    ///
    /// Names not in the catalog are dropped and listed by [`Grant::unknown`] (deduplicated, in
    /// order); reserved scopes are dropped unless `first_party` and listed by
    /// [`Grant::withheld_reserved`]; the rest is closed under `implies`.
    pub fn effective_grant<'s>(
        &self,
        granted: impl IntoIterator<Item = &'s str>,
        first_party: bool,
    ) -> Grant<'_> {
        let mut direct = vec![0u64; self.words];
        let mut unknown: Vec<String> = Vec::new();
        let mut withheld: Vec<u32> = Vec::new();
        for name in granted {
            match self.id(name) {
                Some(id) if !first_party && bits::contains(&self.reserved, id) => {
                    if !withheld.contains(&id) {
                        withheld.push(id);
                    }
                }
                Some(id) => bits::insert(&mut direct, id),
                None => {
                    if !unknown.iter().any(|u| u == name) {
                        unknown.push(name.to_owned());
                    }
                }
            }
        }
        let mut effective = direct.clone();
        for id in bits::iter(&direct) {
            for &to in self.implied.of(id) {
                bits::insert(&mut effective, to);
            }
        }
        if !first_party {
            for (word, reserved) in effective.iter_mut().zip(&self.reserved) {
                *word &= !reserved;
            }
        }
        withheld.sort_unstable();
        Grant {
            catalog: self,
            direct,
            effective,
            first_party,
            unknown,
            withheld,
        }
    }
}

impl<'c> Grant<'c> {
    /// The effective scopes (direct plus implied), sorted by name.
    pub fn scopes(&self) -> impl Iterator<Item = &'c ScopeName> + '_ {
        self.names(&self.effective)
    }

    /// The token's own scopes that survived filtering, sorted by name: what an introspection
    /// answer reports as `scope`.
    pub fn direct_scopes(&self) -> impl Iterator<Item = &'c ScopeName> + '_ {
        self.names(&self.direct)
    }

    /// [`Grant::direct_scopes`] joined with single spaces (RFC 7662 `scope`).
    pub fn direct_scope_string(&self) -> String {
        join(self.direct_scopes())
    }

    /// Whether the scope is effective (granted directly or implied).
    pub fn contains(&self, name: &str) -> bool {
        self.catalog
            .id(name)
            .is_some_and(|id| bits::contains(&self.effective, id))
    }

    /// Number of effective scopes.
    pub fn len(&self) -> usize {
        self.effective.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Whether no scope is effective.
    pub fn is_empty(&self) -> bool {
        self.effective.iter().all(|&w| w == 0)
    }

    /// Whether the grant was built for a first-party client.
    pub fn first_party(&self) -> bool {
        self.first_party
    }

    /// Token scopes the catalog does not know (deleted, or never existed), in token order.
    pub fn unknown(&self) -> &[String] {
        &self.unknown
    }

    /// Reserved scopes the token carried but a third-party client may not use, by name.
    pub fn withheld_reserved(&self) -> impl Iterator<Item = &'c ScopeName> + '_ {
        self.withheld.iter().filter_map(|&id| self.catalog.name(id))
    }

    /// Every implication in use: for each effective scope the token does not carry itself,
    /// the first direct scope (by name) that implies it. Ordered by the implied scope's name.
    pub fn implications(&self) -> Vec<Implication<'c>> {
        bits::iter(&self.effective)
            .filter(|&id| !bits::contains(&self.direct, id))
            .filter_map(|id| self.implication_for(id))
            .collect()
    }

    /// The implication that made `to` effective, when it is not a direct scope.
    pub(crate) fn implication_for(&self, to: u32) -> Option<Implication<'c>> {
        let catalog: &'c CompiledCatalog = self.catalog;
        let from = bits::iter(&self.direct)
            .find(|&from| catalog.implied.of(from).binary_search(&to).is_ok())?;
        Some(Implication {
            from: catalog.name(from)?,
            to: catalog.name(to)?,
        })
    }

    /// The effective bitset when this grant belongs to `catalog`, else the empty set.
    #[inline]
    pub(crate) fn effective_in(&self, catalog: &CompiledCatalog) -> &[u64] {
        if std::ptr::eq(self.catalog, catalog) {
            &self.effective
        } else {
            &[]
        }
    }

    fn names<'a>(&'a self, words: &'a [u64]) -> impl Iterator<Item = &'c ScopeName> + 'a {
        let catalog: &'c CompiledCatalog = self.catalog;
        bits::iter(words).filter_map(move |id| catalog.name(id))
    }
}

/// Names, not bitsets, and never the whole catalog it points to.
impl std::fmt::Debug for Grant<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grant")
            .field("tenant", &self.catalog.tenant())
            .field("revision", &self.catalog.revision())
            .field("direct", &self.direct_scopes().collect::<Vec<_>>())
            .field("effective", &self.scopes().collect::<Vec<_>>())
            .field("first_party", &self.first_party)
            .field("unknown", &self.unknown)
            .field(
                "withheld_reserved",
                &self.withheld_reserved().collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Joins names with single spaces, the RFC 6749 §3.3 list form.
pub(crate) fn join<'a>(names: impl IntoIterator<Item = &'a ScopeName>) -> String {
    let mut out = String::new();
    for name in names {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(name.as_str());
    }
    out
}
