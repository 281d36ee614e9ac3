//! The compiled catalog: one tenant's snapshot interned to dense ids and bitsets for decisions.

use std::collections::HashMap;

/// A map for hot-path lookups: foldhash, seeded per process (keys are names from the catalog,
/// lookups may be caller-chosen strings; the seed keeps collisions unpredictable).
pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

use super::bits;
use super::closure::transitive_closure;
use super::operation::{CompiledOperation, compile_operation};
use super::{AdminStyle, CatalogSnapshot, Client, Scope, ScopeName};

/// A tenant's catalog prepared for decisions, immutable once built and shared as `Arc`.
///
/// Guarantees: scope ids are dense, assigned in byte-wise name order, so every listing that
/// walks ids (grants, challenges, discovery) comes out sorted by name; the `implies` closure
/// is computed once here; every operation alternative is pre-resolved to a sparse bitset.
/// An alternative that names a scope missing from the catalog (deleted), or that names no
/// scope at all, is dead: it can never be satisfied, so a deletion can never make an
/// operation easier to satisfy. Reserved means flagged `is_reserved` or spelled as the
/// tenant's admin pair, whichever the data says (fail closed).
pub struct CompiledCatalog {
    pub(crate) tenant: String,
    pub(crate) revision: i64,
    pub(crate) admin_style: AdminStyle,
    pub(crate) drop_unknown_scopes: bool,
    /// Indexed by scope id.
    pub(crate) scopes: Vec<Scope>,
    pub(crate) ids: FastMap<ScopeName, u32>,
    pub(crate) words: usize,
    pub(crate) reserved: Vec<u64>,
    pub(crate) defaults: Vec<u64>,
    /// Per scope id: every scope it implies, transitively, ascending, without itself.
    pub(crate) implied: Vec<Box<[u32]>>,
    pub(crate) operations: Vec<CompiledOperation>,
    pub(crate) operation_ids: FastMap<Box<str>, u32>,
    pub(crate) clients: FastMap<String, CompiledClient>,
    pub(crate) issues: Vec<CatalogIssue>,
}

/// A registered client with its allowed scopes as a bitset.
#[derive(Debug)]
pub(crate) struct CompiledClient {
    pub(crate) client: Client,
    pub(crate) allowed: Vec<u64>,
}

/// A summary: a catalog can hold thousands of scopes, too many for a log line.
impl std::fmt::Debug for CompiledCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledCatalog")
            .field("tenant", &self.tenant)
            .field("revision", &self.revision)
            .field("scopes", &self.scopes.len())
            .field("operations", &self.operations.len())
            .field("clients", &self.clients.len())
            .field("issues", &self.issues.len())
            .finish_non_exhaustive()
    }
}

/// Something odd in the stored data that compiling worked around, failing closed; worth a
/// warning in the logs, never a reason to stop serving the tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogIssue {
    /// A second scope with the same name; the first one listed was kept.
    DuplicateScope(ScopeName),
    /// A scope implies a name that is not in the catalog; the edge is ignored.
    DanglingImplies {
        scope: ScopeName,
        implies: ScopeName,
    },
    /// Scopes that imply themselves through a cycle (writes should have rejected it).
    ImpliesCycle(Vec<ScopeName>),
    /// A second operation with the same name; the first one listed was kept.
    DuplicateOperation(String),
    /// An operation alternative names a scope that is not in the catalog: the alternative is
    /// dead.
    DeletedScopeInOperation { operation: String, scope: ScopeName },
    /// An operation alternative with no scope, or an operation with no alternative: dead
    /// rather than satisfied by every token.
    EmptyRequirement { operation: String },
}

impl CompiledCatalog {
    /// Compiles a snapshot. Never fails: odd data is worked around, failing closed, and
    /// reported by [`CompiledCatalog::issues`].
    pub fn compile(snapshot: CatalogSnapshot) -> Self {
        let CatalogSnapshot {
            tenant,
            revision,
            admin_style,
            drop_unknown_scopes,
            scopes: mut raw_scopes,
            clients: raw_clients,
            operations: raw_operations,
        } = snapshot;
        let mut issues = Vec::new();

        // Stable sort keeps the first of duplicate names in front, so dedup keeps it.
        raw_scopes.sort_by(|a, b| a.name.cmp(&b.name));
        let mut scopes: Vec<Scope> = Vec::with_capacity(raw_scopes.len());
        for scope in raw_scopes {
            if scopes.last().is_some_and(|last| last.name == scope.name) {
                issues.push(CatalogIssue::DuplicateScope(scope.name));
            } else {
                scopes.push(scope);
            }
        }
        let ids: FastMap<ScopeName, u32> = scopes
            .iter()
            .zip(0u32..)
            .map(|(s, id)| (s.name.clone(), id))
            .collect();
        let words = bits::words_for(scopes.len());

        let (admin_read, admin_write) = admin_style.admin_pair();
        let mut reserved = vec![0u64; words];
        let mut defaults = vec![0u64; words];
        let mut edges: Vec<Vec<u32>> = Vec::with_capacity(scopes.len());
        for (scope, id) in scopes.iter().zip(0u32..) {
            let name = scope.name.as_str();
            if scope.is_reserved || name == admin_read || name == admin_write {
                bits::insert(&mut reserved, id);
            }
            if scope.is_default {
                bits::insert(&mut defaults, id);
            }
            let mut direct = Vec::with_capacity(scope.implies.len());
            for target in &scope.implies {
                match ids.get(target) {
                    Some(&to) => direct.push(to),
                    None => issues.push(CatalogIssue::DanglingImplies {
                        scope: scope.name.clone(),
                        implies: target.clone(),
                    }),
                }
            }
            edges.push(direct);
        }
        let (implied, on_cycle) = transitive_closure(&edges);
        if !on_cycle.is_empty() {
            let names = on_cycle.iter().filter_map(|&id| scopes.get(id as usize));
            issues.push(CatalogIssue::ImpliesCycle(
                names.map(|s| s.name.clone()).collect(),
            ));
        }

        let mut operations = Vec::with_capacity(raw_operations.len());
        let mut operation_ids =
            FastMap::with_capacity_and_hasher(raw_operations.len(), Default::default());
        for op in raw_operations {
            if operation_ids.contains_key(op.name.as_str()) {
                issues.push(CatalogIssue::DuplicateOperation(op.name));
                continue;
            }
            let Ok(index) = u32::try_from(operations.len()) else {
                break;
            };
            operation_ids.insert(op.name.clone().into_boxed_str(), index);
            operations.push(compile_operation(op, &ids, &mut issues));
        }

        let clients = raw_clients
            .into_iter()
            .map(|client| {
                let mut allowed = vec![0u64; words];
                for id in client.allowed_scopes.iter().filter_map(|n| ids.get(n)) {
                    bits::insert(&mut allowed, *id);
                }
                (client.client_id.clone(), CompiledClient { client, allowed })
            })
            .collect();

        Self {
            tenant,
            revision,
            admin_style,
            drop_unknown_scopes,
            scopes,
            ids,
            words,
            reserved,
            defaults,
            implied,
            operations,
            operation_ids,
            clients,
            issues,
        }
    }

    /// The tenant this catalog belongs to.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The catalog revision the snapshot was taken at; answers computed here carry it.
    pub fn revision(&self) -> i64 {
        self.revision
    }

    /// The tenant's admin pair spelling.
    pub fn admin_style(&self) -> AdminStyle {
        self.admin_style
    }

    /// Whether `ResolveScopes` drops unknown names instead of failing with `invalid_scope`.
    pub fn drop_unknown_scopes(&self) -> bool {
        self.drop_unknown_scopes
    }

    /// Every scope, sorted by name (byte-wise).
    pub fn scopes(&self) -> &[Scope] {
        &self.scopes
    }

    /// The scope with this exact (case-sensitive) name.
    pub fn scope(&self, name: &str) -> Option<&Scope> {
        self.id(name).and_then(|id| self.scopes.get(id as usize))
    }

    /// Whether the scope exists and is reserved (first-party clients only).
    pub fn is_reserved(&self, name: &str) -> bool {
        self.id(name)
            .is_some_and(|id| bits::contains(&self.reserved, id))
    }

    /// Whether the scope exists and is granted to an authorization request asking for none.
    pub fn is_default(&self, name: &str) -> bool {
        self.id(name)
            .is_some_and(|id| bits::contains(&self.defaults, id))
    }

    /// Scopes to publish as `scopes_supported` and in dynamic client registration: every
    /// scope but the reserved ones, sorted by name.
    pub fn discoverable_scopes(&self) -> impl Iterator<Item = &Scope> {
        self.scopes
            .iter()
            .zip(0u32..)
            .filter(|(_, id)| !bits::contains(&self.reserved, *id))
            .map(|(scope, _)| scope)
    }

    /// The registered client with this `client_id`.
    pub fn client(&self, client_id: &str) -> Option<&Client> {
        self.clients.get(client_id).map(|c| &c.client)
    }

    /// The operation with this exact name.
    pub fn operation(&self, name: &str) -> Option<&CompiledOperation> {
        let id = *self.operation_ids.get(name)?;
        self.operations.get(id as usize)
    }

    /// Every operation, in snapshot order.
    pub fn operations(&self) -> &[CompiledOperation] {
        &self.operations
    }

    /// What compiling had to work around; empty for data written through the admin API.
    pub fn issues(&self) -> &[CatalogIssue] {
        &self.issues
    }

    pub(crate) fn id(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
    }

    pub(crate) fn name(&self, id: u32) -> Option<&ScopeName> {
        self.scopes.get(id as usize).map(|s| &s.name)
    }
}
