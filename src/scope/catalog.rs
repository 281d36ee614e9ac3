//! The compiled catalog: one tenant's snapshot interned to dense ids and bitsets for decisions.

use std::{collections::HashMap, hash::BuildHasher as _};

use hashbrown::HashTable;

/// A map for hot-path lookups: foldhash, seeded per process (keys are names from the catalog,
/// lookups may be caller-chosen strings; the seed keeps collisions unpredictable).
pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

use super::bits;
use super::closure::transitive_closure;
use super::operation::{
    CompiledOperation, Resolved, ResolvedAlternative, normalize, resolve_operation,
};
use super::{AdminStyle, CatalogSnapshot, Client, Operation, Scope, ScopeName};

/// A tenant's catalog prepared for decisions, immutable once built and shared as `Arc`.
///
/// Guarantees: scope ids are dense, assigned in byte-wise name order, so every listing that
/// walks ids (grants, challenges, discovery) comes out sorted by name; the `implies` closure
/// is computed once here; every operation alternative is pre-resolved to a sparse bitset.
/// An alternative that names a scope missing from the catalog (deleted), or that names no
/// scope at all, is dead: it can never be satisfied, so a deletion can never make an
/// operation easier to satisfy. Reserved means flagged `is_reserved` or spelled as the
/// tenant's admin pair, whichever the data says (fail closed).
///
/// Memory: the snapshot is kept once, as stored; ids, bitsets and clients index into it rather
/// than copying its names.
pub struct CompiledCatalog {
    /// The catalog as stored, its scopes sorted by name without duplicates: a scope's id is
    /// its index. The admin API reads it as it is.
    pub(crate) snapshot: CatalogSnapshot,
    /// Scope ids, hashed by the name of the scope they index (the name is not copied).
    ids: HashTable<u32>,
    hasher: foldhash::fast::RandomState,
    pub(crate) words: usize,
    pub(crate) reserved: Vec<u64>,
    pub(crate) defaults: Vec<u64>,
    /// Per scope id: every scope it implies, transitively, ascending, without itself.
    pub(crate) implied: Implied,
    /// The snapshot's operations resolved, the first of each name only.
    operations: Vec<Resolved>,
    /// Their alternatives, operation after operation.
    alternatives: Vec<ResolvedAlternative>,
    /// Indexes into `operations`, hashed by the stored operation's name.
    operation_ids: HashTable<u32>,
    pub(crate) clients: FastMap<String, CompiledClient>,
    pub(crate) issues: Vec<CatalogIssue>,
}

/// A registered client: where it is in the snapshot, with its allowed scopes as a bitset.
#[derive(Debug)]
pub(crate) struct CompiledClient {
    index: u32,
    pub(crate) first_party: bool,
    pub(crate) allowed: Vec<u64>,
}

/// A summary: a catalog can hold thousands of scopes, too many for a log line.
impl std::fmt::Debug for CompiledCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledCatalog")
            .field("tenant", &self.snapshot.tenant)
            .field("revision", &self.snapshot.revision)
            .field("scopes", &self.snapshot.scopes.len())
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
    pub fn compile(mut snapshot: CatalogSnapshot) -> Self {
        let mut issues = Vec::new();

        // Stable sort keeps the first of duplicate names in front, so dedup keeps it.
        let scopes = &mut snapshot.scopes;
        scopes.sort_by(|a, b| a.name.cmp(&b.name));
        scopes.dedup_by(|later, kept| {
            let duplicate = later.name == kept.name;
            if duplicate {
                issues.push(CatalogIssue::DuplicateScope(later.name.clone()));
            }
            duplicate
        });
        // Cached for as long as the tenant is: no spare capacity.
        scopes.shrink_to_fit();
        snapshot.clients.shrink_to_fit();
        snapshot.operations.shrink_to_fit();
        snapshot.operations.iter_mut().for_each(normalize);
        share_names(&mut snapshot);
        let CatalogSnapshot {
            admin_style,
            scopes,
            clients: raw_clients,
            operations: raw_operations,
            ..
        } = &snapshot;
        let admin_style = *admin_style;
        let hasher = foldhash::fast::RandomState::default();
        let mut ids = HashTable::with_capacity(scopes.len());
        for (scope, id) in scopes.iter().zip(0u32..) {
            let rehash = |&id: &u32| hasher.hash_one(name_at(scopes, id));
            ids.insert_unique(hasher.hash_one(scope.name.as_str()), id, rehash);
        }
        let lookup = |name: &str| find_id(&ids, &hasher, scopes, name);
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
                match lookup(target.as_str()) {
                    Some(to) => direct.push(to),
                    None => issues.push(CatalogIssue::DanglingImplies {
                        scope: scope.name.clone(),
                        implies: target.clone(),
                    }),
                }
            }
            edges.push(direct);
        }
        let (closure, on_cycle) = transitive_closure(&edges);
        let implied = Implied::new(&closure);
        if !on_cycle.is_empty() {
            let names = on_cycle.iter().filter_map(|&id| scopes.get(id as usize));
            issues.push(CatalogIssue::ImpliesCycle(
                names.map(|s| s.name.clone()).collect(),
            ));
        }

        let mut operations: Vec<Resolved> = Vec::with_capacity(raw_operations.len());
        let mut alternatives =
            Vec::with_capacity(raw_operations.iter().map(|o| o.alternatives.len()).sum());
        let mut operation_ids = HashTable::with_capacity(raw_operations.len());
        for (op, stored) in raw_operations.iter().zip(0u32..) {
            let hash = hasher.hash_one(op.name.as_str());
            let named = |&i: &u32| operation_name(raw_operations, &operations, i);
            if operation_ids.find(hash, |i| named(i) == op.name).is_some() {
                issues.push(CatalogIssue::DuplicateOperation(op.name.clone()));
                continue;
            }
            let Ok(index) = u32::try_from(operations.len()) else {
                break;
            };
            let Ok(first) = u32::try_from(alternatives.len()) else {
                break;
            };
            resolve_operation(op, &lookup, &mut alternatives, &mut issues);
            operations.push(Resolved { stored, first });
            let rehash = |i: &u32| hasher.hash_one(operation_name(raw_operations, &operations, *i));
            operation_ids.insert_unique(hash, index, rehash);
        }

        let clients = raw_clients
            .iter()
            .zip(0u32..)
            .map(|(client, index)| {
                let mut allowed = vec![0u64; words];
                for id in client
                    .allowed_scopes
                    .iter()
                    .filter_map(|n| lookup(n.as_str()))
                {
                    bits::insert(&mut allowed, id);
                }
                let compiled = CompiledClient {
                    index,
                    first_party: client.first_party,
                    allowed,
                };
                (client.client_id.clone(), compiled)
            })
            .collect();

        Self {
            snapshot,
            ids,
            hasher,
            words,
            reserved,
            defaults,
            implied,
            operations,
            alternatives,
            operation_ids,
            clients,
            issues,
        }
    }

    /// The tenant this catalog belongs to.
    pub fn tenant(&self) -> &str {
        &self.snapshot.tenant
    }

    /// The catalog revision the snapshot was taken at; answers computed here carry it.
    pub fn revision(&self) -> i64 {
        self.snapshot.revision
    }

    /// The tenant's admin pair spelling.
    pub fn admin_style(&self) -> AdminStyle {
        self.snapshot.admin_style
    }

    /// Whether `ResolveScopes` drops unknown names instead of failing with `invalid_scope`.
    pub fn drop_unknown_scopes(&self) -> bool {
        self.snapshot.drop_unknown_scopes
    }

    /// Every scope, sorted by name (byte-wise).
    pub fn scopes(&self) -> &[Scope] {
        &self.snapshot.scopes
    }

    /// The catalog as stored (its scopes sorted by name, duplicates dropped), for the admin
    /// API.
    pub fn snapshot(&self) -> &CatalogSnapshot {
        &self.snapshot
    }

    /// The scope with this exact (case-sensitive) name.
    pub fn scope(&self, name: &str) -> Option<&Scope> {
        self.id(name)
            .and_then(|id| self.snapshot.scopes.get(id as usize))
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
        self.snapshot
            .scopes
            .iter()
            .zip(0u32..)
            .filter(|(_, id)| !bits::contains(&self.reserved, *id))
            .map(|(scope, _)| scope)
    }

    /// The registered client with this `client_id`.
    pub fn client(&self, client_id: &str) -> Option<&Client> {
        let index = self.clients.get(client_id)?.index;
        self.snapshot.clients.get(index as usize)
    }

    /// The operation with this exact name.
    pub fn operation(&self, name: &str) -> Option<CompiledOperation<'_>> {
        let stored = &self.snapshot.operations;
        let hash = self.hasher.hash_one(name);
        let named = |&i: &u32| operation_name(stored, &self.operations, i) == name;
        let &index = self.operation_ids.find(hash, named)?;
        self.compiled_operation(self.operations.get(index as usize)?)
    }

    /// Every operation, in snapshot order.
    pub fn operations(&self) -> impl Iterator<Item = CompiledOperation<'_>> {
        self.operations
            .iter()
            .filter_map(|resolved| self.compiled_operation(resolved))
    }

    fn compiled_operation<'c>(&'c self, resolved: &'c Resolved) -> Option<CompiledOperation<'c>> {
        let stored = self.snapshot.operations.get(resolved.stored as usize)?;
        let first = resolved.first as usize;
        let alternatives = self
            .alternatives
            .get(first..first.checked_add(stored.alternatives.len())?)?;
        Some(CompiledOperation::new(stored, alternatives))
    }

    /// What compiling had to work around; empty for data written through the admin API.
    pub fn issues(&self) -> &[CatalogIssue] {
        &self.issues
    }

    pub(crate) fn id(&self, name: &str) -> Option<u32> {
        find_id(&self.ids, &self.hasher, &self.snapshot.scopes, name)
    }

    pub(crate) fn name(&self, id: u32) -> Option<&ScopeName> {
        self.snapshot.scopes.get(id as usize).map(|s| &s.name)
    }
}

/// Points every name the catalog's scopes are referred to by (`implies` edges, clients'
/// allowed scopes, operation alternatives) at the named scope's own name, so that each name is
/// kept once. Names of no scope in the catalog stay as they are. The snapshot's scopes are
/// sorted by name.
fn share_names(snapshot: &mut CatalogSnapshot) {
    let CatalogSnapshot {
        scopes,
        clients,
        operations,
        ..
    } = snapshot;
    let own: Vec<ScopeName> = scopes.iter().map(|s| s.name.clone()).collect();
    let share = |name: &mut ScopeName| {
        if let Some(shared) = own.binary_search(name).ok().and_then(|at| own.get(at)) {
            *name = shared.clone();
        }
    };
    let referring = scopes.iter_mut().flat_map(|s| s.implies.iter_mut());
    let allowed = clients.iter_mut().flat_map(|c| c.allowed_scopes.iter_mut());
    let required = operations
        .iter_mut()
        .flat_map(|o| o.alternatives.iter_mut().flatten());
    referring.chain(allowed).chain(required).for_each(share);
}

/// Per scope id, every scope it implies, in one list (no allocation per scope).
#[derive(Debug, Default)]
pub(crate) struct Implied {
    /// `ends[id]`: where scope `id`'s targets end in `targets` (they start where the previous
    /// scope's end).
    ends: Box<[u32]>,
    targets: Box<[u32]>,
}

impl Implied {
    fn new(closure: &[Box<[u32]>]) -> Self {
        let mut targets = Vec::with_capacity(closure.iter().map(|t| t.len()).sum());
        let mut ends = Vec::with_capacity(closure.len());
        for implied in closure {
            targets.extend_from_slice(implied);
            ends.push(u32::try_from(targets.len()).unwrap_or(u32::MAX));
        }
        Self {
            ends: ends.into(),
            targets: targets.into(),
        }
    }

    /// Every scope `id` implies, transitively, ascending, without itself (none for an unknown
    /// id).
    pub(crate) fn of(&self, id: u32) -> &[u32] {
        let id = id as usize;
        let Some(&end) = self.ends.get(id) else {
            return &[];
        };
        let start = id
            .checked_sub(1)
            .and_then(|before| self.ends.get(before))
            .map_or(0, |&s| s as usize);
        self.targets.get(start..end as usize).unwrap_or(&[])
    }
}

/// The stored name of the `index`-th resolved operation (empty past the end, which no index in
/// the table is).
fn operation_name<'a>(stored: &'a [Operation], resolved: &[Resolved], index: u32) -> &'a str {
    resolved
        .get(index as usize)
        .and_then(|r| stored.get(r.stored as usize))
        .map_or("", |op| op.name.as_str())
}

/// The name of scope `id` (empty past the end, which no id in the table is).
fn name_at(scopes: &[Scope], id: u32) -> &str {
    scopes.get(id as usize).map_or("", |s| s.name.as_str())
}

/// The id of the scope named `name`, from a table of ids hashed by their scopes' names.
fn find_id(
    ids: &HashTable<u32>,
    hasher: &foldhash::fast::RandomState,
    scopes: &[Scope],
    name: &str,
) -> Option<u32> {
    ids.find(hasher.hash_one(name), |&id| name_at(scopes, id) == name)
        .copied()
}
