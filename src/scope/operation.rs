//! Operations as compiled: each alternative pre-resolved to a sparse bitset, dead if it lost a scope.

use super::bits::SparseSet;
use super::catalog::CatalogIssue;
use super::requirement::dedup_in_order;
use super::{Operation, ScopeName};

/// An operation with its alternatives resolved against the catalog.
#[derive(Debug)]
pub struct CompiledOperation {
    name: String,
    description: String,
    pub(crate) alternatives: Box<[CompiledAlternative]>,
}

/// One alternative of an operation: the names as stored and their bitset.
#[derive(Debug)]
pub(crate) struct CompiledAlternative {
    /// As stored, duplicates removed; includes names no longer in the catalog.
    pub(crate) names: Box<[ScopeName]>,
    pub(crate) set: SparseSet,
    /// False when the alternative is empty or names a scope missing from the catalog.
    pub(crate) live: bool,
}

impl CompiledOperation {
    /// The operation name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The stored description.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The alternatives as stored (duplicates removed), including scopes since deleted.
    pub fn alternatives(&self) -> impl Iterator<Item = &[ScopeName]> {
        self.alternatives.iter().map(|a| &*a.names)
    }

    /// Whether at least one alternative can still be satisfied.
    pub fn is_satisfiable(&self) -> bool {
        self.alternatives.iter().any(|a| a.live)
    }
}

/// Compiles one stored operation against the catalog's name-to-id map.
pub(crate) fn compile_operation(
    op: Operation,
    id_of: &dyn Fn(&str) -> Option<u32>,
    issues: &mut Vec<CatalogIssue>,
) -> CompiledOperation {
    if op.alternatives.is_empty() || op.alternatives.iter().any(Vec::is_empty) {
        issues.push(CatalogIssue::EmptyRequirement {
            operation: op.name.clone(),
        });
    }
    let alternatives = op
        .alternatives
        .into_iter()
        .map(|names| {
            let names = dedup_in_order(names);
            let mut live = !names.is_empty();
            let mut found = Vec::with_capacity(names.len());
            for name in &names {
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
            CompiledAlternative {
                names: names.into_boxed_slice(),
                set: SparseSet::from_ids(found),
                live,
            }
        })
        .collect();
    CompiledOperation {
        name: op.name,
        description: op.description,
        alternatives,
    }
}
