//! Operations as compiled: each alternative pre-resolved to a sparse bitset, dead if it lost a
//! scope. The operation itself (name, description, the names of each alternative) stays where
//! it is stored, in the catalog's snapshot: compiling adds only what decisions need.

use super::bits::SparseSet;
use super::catalog::CatalogIssue;
use super::requirement::dedup_in_order;
use super::{Operation, ScopeName};

/// What compiling made of one stored operation.
#[derive(Debug)]
pub(crate) struct Resolved {
    /// Where the operation is in the snapshot.
    pub(crate) stored: u32,
    /// Where its alternatives start in the catalog's one list of resolved alternatives (one
    /// per stored alternative, in order).
    pub(crate) first: u32,
}

/// One alternative's scopes as a bitset.
#[derive(Debug)]
pub(crate) struct ResolvedAlternative {
    set: SparseSet,
    /// False when the alternative is empty or names a scope missing from the catalog.
    live: bool,
}

/// An operation of a compiled catalog: as stored, with its alternatives resolved.
#[derive(Debug, Clone, Copy)]
pub struct CompiledOperation<'c> {
    stored: &'c Operation,
    /// Its resolved alternatives, as many as `stored` has.
    resolved: &'c [ResolvedAlternative],
}

/// One alternative of an operation: the names as stored and their bitset.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CompiledAlternative<'c> {
    /// As stored, duplicates removed; includes names no longer in the catalog.
    pub(crate) names: &'c [ScopeName],
    pub(crate) set: &'c SparseSet,
    /// False when the alternative is empty or names a scope missing from the catalog.
    pub(crate) live: bool,
}

impl<'c> CompiledOperation<'c> {
    /// `resolved` must be what [`resolve_operation`] made of `stored`.
    pub(crate) fn new(stored: &'c Operation, resolved: &'c [ResolvedAlternative]) -> Self {
        Self { stored, resolved }
    }

    /// The operation name.
    pub fn name(&self) -> &'c str {
        &self.stored.name
    }

    /// The stored description.
    pub fn description(&self) -> &'c str {
        &self.stored.description
    }

    /// The alternatives as stored (duplicates removed), including scopes since deleted.
    pub fn alternatives(&self) -> impl Iterator<Item = &'c [ScopeName]> + use<'c> {
        self.stored.alternatives.iter().map(Vec::as_slice)
    }

    /// Whether at least one alternative can still be satisfied.
    pub fn is_satisfiable(&self) -> bool {
        self.resolved.iter().any(|a| a.live)
    }

    /// Each alternative with its bitset, in order.
    pub(crate) fn resolved(&self) -> impl Iterator<Item = CompiledAlternative<'c>> + use<'c> {
        let stored = self.stored.alternatives.iter();
        stored
            .zip(self.resolved)
            .map(|(names, resolved)| CompiledAlternative {
                names,
                set: &resolved.set,
                live: resolved.live,
            })
    }
}

/// Removes repeated names from each alternative of a stored operation, keeping the first of
/// each in order (writes already do; data that bypassed them is made to agree).
pub(crate) fn normalize(op: &mut Operation) {
    for alternative in &mut op.alternatives {
        *alternative = dedup_in_order(std::mem::take(alternative));
    }
}

/// Resolves one stored (normalized) operation against the catalog's name-to-id lookup,
/// appending one resolved alternative per stored one to `resolved`.
pub(crate) fn resolve_operation(
    op: &Operation,
    id_of: &dyn Fn(&str) -> Option<u32>,
    resolved: &mut Vec<ResolvedAlternative>,
    issues: &mut Vec<CatalogIssue>,
) {
    if op.alternatives.is_empty() || op.alternatives.iter().any(Vec::is_empty) {
        issues.push(CatalogIssue::EmptyRequirement {
            operation: op.name.clone(),
        });
    }
    let alternatives = op.alternatives.iter().map(|names| {
        let mut live = !names.is_empty();
        let mut found = Vec::with_capacity(names.len());
        for name in names {
            if let Some(id) = id_of(name.as_str()) {
                found.push(id);
            } else {
                live = false;
                issues.push(CatalogIssue::DeletedScopeInOperation {
                    operation: op.name.clone(),
                    scope: name.clone(),
                });
            }
        }
        ResolvedAlternative {
            set: SparseSet::from_ids(found),
            live,
        }
    });
    resolved.extend(alternatives);
}
