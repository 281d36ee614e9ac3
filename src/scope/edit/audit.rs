//! Audit JSON of catalog objects: what the trail records before and after a change.

use serde_json::json;

use crate::scope::{Client, Operation, Scope, ScopeName};

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
