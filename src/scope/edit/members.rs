//! Client and operation plans.

use super::audit::{client_json, operation_json};
use super::{Change, Edit, EditError, dedup, record, require_scope};
use crate::scope::limits::{
    MAX_CLIENT_ID_BYTES, MAX_CLIENT_NAME_BYTES, MAX_DESCRIPTION_BYTES, check_len,
};
use crate::scope::{CatalogSnapshot, Client, Operation};

/// Plans creating (`create`) or replacing a client.
pub fn put_client(
    catalog: &CatalogSnapshot,
    client: Client,
    create: bool,
) -> Result<Edit, EditError> {
    validate_client_id(&client.client_id)?;
    check_len(&client.name, MAX_CLIENT_NAME_BYTES).map_err(|m| EditError::invalid("name", m))?;
    let current = catalog.client(&client.client_id);
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
        .client(client_id)
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
    if !crate::scope::valid_operation_name(&op.name) {
        return Err(EditError::invalid(
            "name",
            "operation name must be 1-200 printable ASCII characters without leading or trailing space",
        ));
    }
    check_len(&op.description, MAX_DESCRIPTION_BYTES)
        .map_err(|m| EditError::invalid("description", m))?;
    let current = catalog.operation(&op.name);
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
    let current = catalog.operation(name).ok_or_else(|| EditError::NotFound {
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

/// Checks a client id: 1-200 printable ASCII characters, no space.
pub fn validate_client_id(client_id: &str) -> Result<(), EditError> {
    let ok = !client_id.is_empty()
        && client_id.len() <= MAX_CLIENT_ID_BYTES
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
