//! Catalog edits as pure plans: each admin command checks the catalog rules against a locked
//! snapshot and returns the row changes and audit records the store writes in one transaction.

mod audit;
mod members;
mod scopes;

use super::limits::{MAX_DESCRIPTION_BYTES, check_len, echo};
use super::{CatalogSnapshot, Client, Operation, Scope, ScopeName};

pub use audit::{client_json, operation_json, scope_json};
pub use members::{delete_client, delete_operation, put_client, put_operation, validate_client_id};
pub use scopes::{create_scope, delete_scope, update_scope};

/// Why an edit is refused. Each variant maps to exactly one gRPC code in `api::status`. Names
/// are quoted bounded ([`echo`]): they may be whatever a caller sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("{kind} {:?} not found", echo(.name))]
    NotFound { kind: &'static str, name: String },
    #[error("{kind} {:?} already exists", echo(.name))]
    AlreadyExists { kind: &'static str, name: String },
    #[error("scope {:?} is a system scope and cannot be changed", echo(.0))]
    SystemScope(String),
    #[error("implication cycle: {}", cycle(.0))]
    Cycle(Vec<String>),
    #[error("etag mismatch: the {kind} was changed since it was read")]
    EtagMismatch { kind: &'static str },
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
}

/// A cycle's names, the first few of a long one.
fn cycle(names: &[String]) -> String {
    const SHOWN: usize = 8;
    let mut text = names
        .iter()
        .take(SHOWN)
        .map(|n| echo(n).into_owned())
        .collect::<Vec<_>>()
        .join(" -> ");
    if names.len() > SHOWN {
        text.push_str(&format!(" -> … ({} scopes)", names.len()));
    }
    text
}

impl EditError {
    /// An `Invalid` error naming the field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Identifies a scope by store id or by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeKey {
    Id(i64),
    Name(String),
}

/// One row change. A `PutScope` with id 0 inserts; any other id updates that row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    PutScope(Scope),
    DeleteScope(i64),
    PutClient(Client),
    DeleteClient(String),
    PutOperation(Operation),
    DeleteOperation(String),
}

/// An audit row: what changed, with JSON of the object before and after (empty when absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub action: &'static str,
    pub target: String,
    pub before: String,
    pub after: String,
}

/// What a scope deletion touches.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScopeDeletion {
    pub scope: Option<Scope>,
    pub clients: Vec<String>,
    pub operations: Vec<String>,
    pub implied_by: Vec<String>,
}

/// The planned changes of one command; the store applies them atomically and bumps the
/// tenant's revision by one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Edit {
    pub changes: Vec<Change>,
    pub audit: Vec<AuditRecord>,
    /// Filled by `delete_scope`.
    pub deletion: Option<ScopeDeletion>,
}

impl Edit {
    fn push(&mut self, change: Change, audit: AuditRecord) {
        self.changes.push(change);
        self.audit.push(audit);
    }

    /// Applies this edit to an in-memory snapshot, as the store would. Scopes inserted here
    /// get provisional negative ids.
    pub fn apply_to(&self, catalog: &mut CatalogSnapshot) {
        for change in &self.changes {
            match change {
                Change::PutScope(scope) => {
                    if let Some(slot) = catalog.scopes.iter_mut().find(|s| s.name == scope.name) {
                        let id = slot.id;
                        *slot = Scope {
                            id,
                            ..scope.clone()
                        };
                    } else {
                        let id = -1 - i64::try_from(catalog.scopes.len()).unwrap_or(0);
                        catalog.scopes.push(Scope {
                            id,
                            ..scope.clone()
                        });
                    }
                }
                Change::DeleteScope(id) => catalog.scopes.retain(|s| s.id != *id),
                Change::PutClient(client) => {
                    catalog.clients.retain(|c| c.client_id != client.client_id);
                    catalog.clients.push(client.clone());
                }
                Change::DeleteClient(id) => catalog.clients.retain(|c| &c.client_id != id),
                Change::PutOperation(op) => {
                    catalog.operations.retain(|o| o.name != op.name);
                    catalog.operations.push(op.clone());
                }
                Change::DeleteOperation(name) => catalog.operations.retain(|o| &o.name != name),
            }
        }
    }

    /// Appends `next`, planned against this edit's result, folding changes to scopes that
    /// this edit inserts into their insert (they have no store id yet).
    pub fn extend(&mut self, next: Edit) {
        for change in next.changes {
            match change {
                Change::PutScope(scope) if scope.id < 0 => {
                    let pending = self.changes.iter_mut().find_map(|c| match c {
                        Change::PutScope(s) if s.id == 0 && s.name == scope.name => Some(s),
                        _ => None,
                    });
                    if let Some(pending) = pending {
                        *pending = Scope { id: 0, ..scope };
                    }
                }
                Change::DeleteScope(id) if id < 0 => {}
                other => self.changes.push(other),
            }
        }
        self.audit.extend(next.audit);
        if next.deletion.is_some() {
            self.deletion = next.deletion;
        }
    }
}

/// A scope to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewScope {
    pub name: ScopeName,
    pub description: String,
    pub is_default: bool,
    pub implies: Vec<ScopeName>,
}

/// Changes to a scope; `None` leaves a field as it is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScopePatch {
    pub description: Option<String>,
    pub is_default: Option<bool>,
    pub implies: Option<Vec<ScopeName>>,
    /// Apply only if the scope's etag still equals this.
    pub etag: Option<String>,
}

/// The etag a row written at `revision` carries.
pub fn etag_for(revision: i64) -> String {
    format!("r{revision}")
}

/// Finds a scope by key.
pub fn find_scope<'a>(
    catalog: &'a CatalogSnapshot,
    key: &ScopeKey,
) -> Result<&'a Scope, EditError> {
    let found = match key {
        ScopeKey::Id(id) => catalog.scopes.iter().find(|s| s.id == *id),
        ScopeKey::Name(name) => catalog.scopes.iter().find(|s| s.name.as_str() == name),
    };
    found.ok_or_else(|| EditError::NotFound {
        kind: "scope",
        name: match key {
            ScopeKey::Id(id) => id.to_string(),
            ScopeKey::Name(name) => name.clone(),
        },
    })
}

pub(super) fn require_scope(
    catalog: &CatalogSnapshot,
    name: &ScopeName,
    field: &str,
) -> Result<(), EditError> {
    if catalog.scopes.iter().any(|s| &s.name == name) {
        Ok(())
    } else {
        Err(EditError::invalid(
            field,
            format!("scope {name:?} does not exist in this tenant"),
        ))
    }
}

pub(super) fn require_description(description: &str, field: &str) -> Result<(), EditError> {
    if description.trim().is_empty() {
        return Err(EditError::invalid(field, "is required"));
    }
    check_len(description, MAX_DESCRIPTION_BYTES).map_err(|m| EditError::invalid(field, m))
}

pub(super) fn dedup(names: Vec<ScopeName>) -> Vec<ScopeName> {
    let mut out: Vec<ScopeName> = Vec::with_capacity(names.len());
    for name in names {
        if !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

pub(super) fn record(
    action: &'static str,
    target: &str,
    before: Option<&str>,
    after: Option<&str>,
) -> AuditRecord {
    AuditRecord {
        action,
        target: target.to_owned(),
        before: before.unwrap_or_default().to_owned(),
        after: after.unwrap_or_default().to_owned(),
    }
}
