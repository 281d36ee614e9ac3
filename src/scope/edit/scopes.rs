//! Scope plans: create, update and delete (with its cascade).

use super::{
    Change, Edit, EditError, NewScope, ScopeDeletion, ScopeKey, ScopePatch, dedup, etag_for,
    find_scope, record, require_description, require_scope, scope_json,
};
use super::{client_json, operation_json};
use crate::scope::{CatalogSnapshot, Scope, ScopeName};

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
    match crate::scope::implies_cycle(&catalog.scopes, name, implies) {
        Some(cycle) => Err(EditError::Cycle(
            cycle.iter().map(ToString::to_string).collect(),
        )),
        None => Ok(()),
    }
}
