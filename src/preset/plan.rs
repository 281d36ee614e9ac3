//! Seeding a new tenant and importing a catalog file: both plan catalog edits, validated by
//! the same rules as the admin API.

use super::{CatalogFile, FileScope};
use crate::scope::{
    AdminStyle, CatalogSnapshot, Client, OIDC_SYSTEM_SCOPES, Operation, Scope, ScopeName,
    edit::{self, Edit, EditError, NewScope, ScopeKey, ScopePatch},
};

/// The system scopes every tenant has, for its admin style.
pub fn system_scopes(style: AdminStyle, revision: i64, now_ms: i64) -> Vec<Scope> {
    let (admin_read, admin_write) = style.admin_pair();
    let described = [
        (
            OIDC_SYSTEM_SCOPES[0],
            "Sign you in and know who you are",
            true,
            false,
        ),
        (
            OIDC_SYSTEM_SCOPES[1],
            "See your name and basic profile",
            false,
            false,
        ),
        (
            OIDC_SYSTEM_SCOPES[2],
            "See your email address and whether it is verified",
            false,
            false,
        ),
        (
            OIDC_SYSTEM_SCOPES[3],
            "Stay signed in while you are away",
            false,
            false,
        ),
        (
            admin_read,
            "Read the platform's administration API",
            false,
            true,
        ),
        (
            admin_write,
            "Change anything through the platform's administration API",
            false,
            true,
        ),
    ];
    described
        .into_iter()
        .filter_map(|(name, description, is_default, is_reserved)| {
            Some(Scope {
                id: 0,
                name: ScopeName::parse(name).ok()?,
                description: description.to_owned(),
                is_default,
                is_system: true,
                is_reserved,
                implies: Vec::new(),
                created_at_ms: now_ms,
                updated_at_ms: now_ms,
                etag: edit::etag_for(revision),
            })
        })
        .collect()
}

/// Plans the seed of a new tenant: the system scopes, then the file's catalog.
pub fn seed(file: &CatalogFile, style: AdminStyle, now_ms: i64) -> Result<Edit, EditError> {
    let mut catalog = CatalogSnapshot {
        admin_style: style,
        ..CatalogSnapshot::default()
    };
    let mut plan = Edit::default();
    for scope in system_scopes(style, 1, now_ms) {
        let mut one = Edit::default();
        one.changes.push(edit::Change::PutScope(scope));
        one.apply_to(&mut catalog);
        plan.extend(one);
    }
    // The seed's revision is 1: planners stamp etags with `revision + 1`.
    let step = import(&catalog, file, now_ms)?;
    plan.extend(step);
    Ok(plan)
}

/// Plans making `current`'s custom scopes, operations and clients equal to `file`'s.
pub fn import(
    current: &CatalogSnapshot,
    file: &CatalogFile,
    now_ms: i64,
) -> Result<Edit, EditError> {
    let mut catalog = current.clone();
    let mut plan = Edit::default();
    let mut step = |catalog: &mut CatalogSnapshot, edit: Edit| {
        edit.apply_to(catalog);
        plan.extend(edit);
    };
    let wanted: Vec<(ScopeName, &FileScope)> = file
        .scopes
        .iter()
        .enumerate()
        .map(|(i, s)| {
            ScopeName::parse(&s.name)
                .map(|n| (n, s))
                .map_err(|e| EditError::invalid(format!("scope[{i}].name"), e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    // Operations and clients that disappear go first, so scope deletions do not touch them.
    for op in current
        .operations
        .iter()
        .filter(|o| !file.operations.iter().any(|f| f.name == o.name))
    {
        let next = edit::delete_operation(&catalog, &op.name)?;
        step(&mut catalog, next);
    }
    for c in current
        .clients
        .iter()
        .filter(|c| !file.clients.iter().any(|f| f.client_id == c.client_id))
    {
        let next = edit::delete_client(&catalog, &c.client_id)?;
        step(&mut catalog, next);
    }
    for scope in current
        .scopes
        .iter()
        .filter(|s| !s.is_system && !wanted.iter().any(|(n, _)| n == &s.name))
    {
        let next = edit::delete_scope(
            &catalog,
            &ScopeKey::Name(scope.name.to_string()),
            None,
            now_ms,
        )?;
        step(&mut catalog, next);
    }
    // New scopes first without implications, so implications may point at any of them.
    for (name, entry) in &wanted {
        match catalog.scopes.iter().find(|s| &s.name == name) {
            Some(existing) if existing.is_system => {
                return Err(EditError::SystemScope(name.to_string()));
            }
            Some(_) => {}
            None => {
                let new = NewScope {
                    name: name.clone(),
                    description: entry.description.clone(),
                    is_default: entry.default,
                    implies: Vec::new(),
                };
                let next = edit::create_scope(&catalog, new, now_ms)?;
                step(&mut catalog, next);
            }
        }
    }
    for (i, (name, entry)) in wanted.iter().enumerate() {
        let implies = parse_names(&entry.implies, &format!("scope[{i}].implies"))?;
        let Some(existing) = catalog.scopes.iter().find(|s| &s.name == name) else {
            continue;
        };
        if existing.description != entry.description
            || existing.is_default != entry.default
            || existing.implies != implies
        {
            let patch = ScopePatch {
                description: Some(entry.description.clone()),
                is_default: Some(entry.default),
                implies: Some(implies),
                etag: None,
            };
            let next =
                edit::update_scope(&catalog, &ScopeKey::Name(name.to_string()), patch, now_ms)?;
            step(&mut catalog, next);
        }
    }
    for (i, entry) in file.operations.iter().enumerate() {
        let alternatives = entry
            .alternatives
            .iter()
            .enumerate()
            .map(|(j, alt)| parse_names(alt, &format!("operation[{i}].alternatives[{j}]")))
            .collect::<Result<Vec<_>, _>>()?;
        let op = Operation {
            name: entry.name.clone(),
            description: entry.description.clone(),
            alternatives,
        };
        let existing = catalog.operation(&op.name);
        if existing != Some(&op) {
            let create = existing.is_none();
            let next = edit::put_operation(&catalog, op, create)?;
            step(&mut catalog, next);
        }
    }
    for (i, entry) in file.clients.iter().enumerate() {
        let client = Client {
            client_id: entry.client_id.clone(),
            name: entry.name.clone(),
            first_party: entry.first_party,
            allowed_scopes: parse_names(
                &entry.allowed_scopes,
                &format!("client[{i}].allowed_scopes"),
            )?,
        };
        let existing = catalog.client(&client.client_id);
        if existing != Some(&client) {
            let create = existing.is_none();
            let next = edit::put_client(&catalog, client, create)?;
            step(&mut catalog, next);
        }
    }
    Ok(plan)
}

fn parse_names(raw: &[String], field: &str) -> Result<Vec<ScopeName>, EditError> {
    raw.iter()
        .enumerate()
        .map(|(i, n)| {
            ScopeName::parse(n)
                .map_err(|e| EditError::invalid(format!("{field}[{i}]"), e.to_string()))
        })
        .collect()
}
