//! Catalog edits as pure plans: each admin command checks the catalog rules against a locked
//! snapshot and returns the row changes and audit records the store writes in one transaction.

use serde_json::json;

use super::{CatalogSnapshot, Client, Operation, Scope, ScopeName};

/// Why an edit is refused. Each variant maps to exactly one gRPC code in `api::status`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("{kind} {name:?} not found")]
    NotFound { kind: &'static str, name: String },
    #[error("{kind} {name:?} already exists")]
    AlreadyExists { kind: &'static str, name: String },
    #[error("scope {0:?} is a system scope and cannot be changed")]
    SystemScope(String),
    #[error("implication cycle: {}", .0.join(" -> "))]
    Cycle(Vec<String>),
    #[error("etag mismatch: the {kind} was changed since it was read")]
    EtagMismatch { kind: &'static str },
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
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

/// Plans the creation of a custom scope.
pub fn create_scope(
    catalog: &CatalogSnapshot,
    new: NewScope,
    now_ms: i64,
) -> Result<Edit, EditError> {
    if catalog.scopes.iter().any(|s| s.name == new.name) {
        return Err(EditError::AlreadyExists {
            kind: "scope",
            name: new.name.to_string(),
        });
    }
    require_description(&new.description, "description")?;
    check_implies(catalog, &new.name, &new.implies, "implies")?;
    let scope = Scope {
        id: 0,
        name: new.name,
        description: new.description,
        is_default: new.is_default,
        is_system: false,
        is_reserved: false,
        implies: dedup(new.implies),
        created_at_ms: now_ms,
        updated_at_ms: now_ms,
        etag: etag_for(catalog.revision + 1),
    };
    let mut edit = Edit::default();
    let audit = record(
        "scope.create",
        scope.name.as_str(),
        None,
        Some(&scope_json(&scope)),
    );
    edit.push(Change::PutScope(scope), audit);
    Ok(edit)
}

/// Plans an update of a custom scope.
pub fn update_scope(
    catalog: &CatalogSnapshot,
    key: &ScopeKey,
    patch: ScopePatch,
    now_ms: i64,
) -> Result<Edit, EditError> {
    let current = find_scope(catalog, key)?;
    check_writable(current, patch.etag.as_deref())?;
    let mut next = current.clone();
    if let Some(description) = patch.description {
        require_description(&description, "description")?;
        next.description = description;
    }
    if let Some(is_default) = patch.is_default {
        next.is_default = is_default;
    }
    if let Some(implies) = patch.implies {
        check_implies(catalog, &current.name, &implies, "implies")?;
        next.implies = dedup(implies);
    }
    next.updated_at_ms = now_ms;
    next.etag = etag_for(catalog.revision + 1);
    let mut edit = Edit::default();
    let audit = record(
        "scope.update",
        current.name.as_str(),
        Some(&scope_json(current)),
        Some(&scope_json(&next)),
    );
    edit.push(Change::PutScope(next), audit);
    Ok(edit)
}

/// Plans the deletion of a custom scope and its cascade: it leaves every client's allowed
/// set and every other scope's `implies`, and every operation alternative containing it is
/// removed whole (removing only the scope would make the alternative easier to satisfy).
pub fn delete_scope(
    catalog: &CatalogSnapshot,
    key: &ScopeKey,
    etag: Option<&str>,
    now_ms: i64,
) -> Result<Edit, EditError> {
    let victim = find_scope(catalog, key)?;
    check_writable(victim, etag)?;
    let name = &victim.name;
    let mut edit = Edit::default();
    let mut deletion = ScopeDeletion {
        scope: Some(victim.clone()),
        ..ScopeDeletion::default()
    };
    for client in catalog
        .clients
        .iter()
        .filter(|c| c.allowed_scopes.contains(name))
    {
        let mut next = client.clone();
        next.allowed_scopes.retain(|s| s != name);
        let audit = record(
            "client.update",
            &client.client_id,
            Some(&client_json(client)),
            Some(&client_json(&next)),
        );
        edit.push(Change::PutClient(next), audit);
        deletion.clients.push(client.client_id.clone());
    }
    for op in catalog
        .operations
        .iter()
        .filter(|o| o.alternatives.iter().any(|a| a.contains(name)))
    {
        let mut next = op.clone();
        next.alternatives.retain(|alt| !alt.contains(name));
        let audit = record(
            "operation.update",
            &op.name,
            Some(&operation_json(op)),
            Some(&operation_json(&next)),
        );
        edit.push(Change::PutOperation(next), audit);
        deletion.operations.push(op.name.clone());
    }
    for scope in catalog.scopes.iter().filter(|s| s.implies.contains(name)) {
        let mut next = scope.clone();
        next.implies.retain(|s| s != name);
        next.updated_at_ms = now_ms;
        next.etag = etag_for(catalog.revision + 1);
        let audit = record(
            "scope.update",
            scope.name.as_str(),
            Some(&scope_json(scope)),
            Some(&scope_json(&next)),
        );
        edit.push(Change::PutScope(next), audit);
        deletion.implied_by.push(scope.name.to_string());
    }
    let audit = record(
        "scope.delete",
        name.as_str(),
        Some(&scope_json(victim)),
        None,
    );
    edit.push(Change::DeleteScope(victim.id), audit);
    edit.deletion = Some(deletion);
    Ok(edit)
}

/// Plans creating (`create`) or replacing a client.
pub fn put_client(
    catalog: &CatalogSnapshot,
    client: Client,
    create: bool,
) -> Result<Edit, EditError> {
    validate_client_id(&client.client_id)?;
    let current = catalog
        .clients
        .iter()
        .find(|c| c.client_id == client.client_id);
    match (current, create) {
        (Some(_), true) => {
            return Err(EditError::AlreadyExists {
                kind: "client",
                name: client.client_id,
            });
        }
        (None, false) => {
            return Err(EditError::NotFound {
                kind: "client",
                name: client.client_id,
            });
        }
        _ => {}
    }
    for (i, scope) in client.allowed_scopes.iter().enumerate() {
        require_scope(catalog, scope, &format!("allowed_scopes[{i}]"))?;
    }
    let client = Client {
        allowed_scopes: dedup(client.allowed_scopes),
        ..client
    };
    let mut edit = Edit::default();
    let action = if create {
        "client.create"
    } else {
        "client.update"
    };
    let before = current.map(client_json);
    let audit = record(
        action,
        &client.client_id,
        before.as_deref(),
        Some(&client_json(&client)),
    );
    edit.push(Change::PutClient(client), audit);
    Ok(edit)
}

/// Plans deleting a client.
pub fn delete_client(catalog: &CatalogSnapshot, client_id: &str) -> Result<Edit, EditError> {
    let current = catalog
        .clients
        .iter()
        .find(|c| c.client_id == client_id)
        .ok_or_else(|| EditError::NotFound {
            kind: "client",
            name: client_id.to_owned(),
        })?;
    let mut edit = Edit::default();
    let audit = record(
        "client.delete",
        client_id,
        Some(&client_json(current)),
        None,
    );
    edit.push(Change::DeleteClient(client_id.to_owned()), audit);
    Ok(edit)
}

/// Plans creating (`create`) or replacing an operation.
pub fn put_operation(
    catalog: &CatalogSnapshot,
    op: Operation,
    create: bool,
) -> Result<Edit, EditError> {
    if !super::valid_operation_name(&op.name) {
        return Err(EditError::invalid(
            "name",
            "operation name must be 1-200 printable ASCII characters without leading or trailing space",
        ));
    }
    let current = catalog.operations.iter().find(|o| o.name == op.name);
    match (current, create) {
        (Some(_), true) => {
            return Err(EditError::AlreadyExists {
                kind: "operation",
                name: op.name,
            });
        }
        (None, false) => {
            return Err(EditError::NotFound {
                kind: "operation",
                name: op.name,
            });
        }
        _ => {}
    }
    // No alternative at all is allowed: such an operation denies every request (it is what
    // deleting the scopes of every alternative leaves, and exports must import back).
    for (i, alt) in op.alternatives.iter().enumerate() {
        if alt.is_empty() {
            return Err(EditError::invalid(
                format!("alternatives[{i}].scopes"),
                "must not be empty",
            ));
        }
        for (j, scope) in alt.iter().enumerate() {
            require_scope(catalog, scope, &format!("alternatives[{i}].scopes[{j}]"))?;
        }
    }
    let op = Operation {
        alternatives: op.alternatives.into_iter().map(dedup).collect(),
        ..op
    };
    let mut edit = Edit::default();
    let action = if create {
        "operation.create"
    } else {
        "operation.update"
    };
    let before = current.map(operation_json);
    let audit = record(
        action,
        &op.name,
        before.as_deref(),
        Some(&operation_json(&op)),
    );
    edit.push(Change::PutOperation(op), audit);
    Ok(edit)
}

/// Plans deleting an operation.
pub fn delete_operation(catalog: &CatalogSnapshot, name: &str) -> Result<Edit, EditError> {
    let current = catalog
        .operations
        .iter()
        .find(|o| o.name == name)
        .ok_or_else(|| EditError::NotFound {
            kind: "operation",
            name: name.to_owned(),
        })?;
    let mut edit = Edit::default();
    let audit = record(
        "operation.delete",
        name,
        Some(&operation_json(current)),
        None,
    );
    edit.push(Change::DeleteOperation(name.to_owned()), audit);
    Ok(edit)
}

fn check_writable(scope: &Scope, etag: Option<&str>) -> Result<(), EditError> {
    if scope.is_system {
        return Err(EditError::SystemScope(scope.name.to_string()));
    }
    match etag {
        Some(etag) if !etag.is_empty() && etag != scope.etag => {
            Err(EditError::EtagMismatch { kind: "scope" })
        }
        _ => Ok(()),
    }
}

fn check_implies(
    catalog: &CatalogSnapshot,
    name: &ScopeName,
    implies: &[ScopeName],
    field: &str,
) -> Result<(), EditError> {
    for (i, target) in implies.iter().enumerate() {
        if target == name {
            return Err(EditError::Cycle(vec![name.to_string(), name.to_string()]));
        }
        require_scope(catalog, target, &format!("{field}[{i}]"))?;
    }
    match super::implies_cycle(&catalog.scopes, name, implies) {
        Some(cycle) => Err(EditError::Cycle(
            cycle.iter().map(ToString::to_string).collect(),
        )),
        None => Ok(()),
    }
}

fn require_scope(
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

fn require_description(description: &str, field: &str) -> Result<(), EditError> {
    if description.trim().is_empty() {
        return Err(EditError::invalid(field, "is required"));
    }
    if description.len() > 1024 {
        return Err(EditError::invalid(field, "must be at most 1024 bytes"));
    }
    Ok(())
}

/// Checks a client id: 1-200 printable ASCII characters, no space.
pub fn validate_client_id(client_id: &str) -> Result<(), EditError> {
    let ok = !client_id.is_empty()
        && client_id.len() <= 200
        && client_id.bytes().all(|b| (0x21..=0x7e).contains(&b));
    if ok {
        Ok(())
    } else {
        Err(EditError::invalid(
            "client_id",
            "must be 1-200 printable ASCII characters without space",
        ))
    }
}

fn dedup(names: Vec<ScopeName>) -> Vec<ScopeName> {
    let mut out: Vec<ScopeName> = Vec::with_capacity(names.len());
    for name in names {
        if !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

fn record(
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

fn names(list: &[ScopeName]) -> Vec<&str> {
    list.iter().map(ScopeName::as_str).collect()
}

/// Audit JSON of a scope.
pub fn scope_json(scope: &Scope) -> String {
    json!({
        "name": scope.name.as_str(),
        "description": scope.description,
        "is_default": scope.is_default,
        "is_system": scope.is_system,
        "is_reserved": scope.is_reserved,
        "implies": names(&scope.implies),
    })
    .to_string()
}

/// Audit JSON of a client.
pub fn client_json(client: &Client) -> String {
    json!({
        "client_id": client.client_id,
        "name": client.name,
        "first_party": client.first_party,
        "allowed_scopes": names(&client.allowed_scopes),
    })
    .to_string()
}

/// Audit JSON of an operation.
pub fn operation_json(op: &Operation) -> String {
    let alternatives: Vec<Vec<&str>> = op.alternatives.iter().map(|a| names(a)).collect();
    json!({ "name": op.name, "description": op.description, "alternatives": alternatives })
        .to_string()
}
