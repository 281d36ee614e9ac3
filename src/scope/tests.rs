//! Cross-module tests of the scope domain, and the fixtures they share.

mod catalog_rules;
mod challenges;
mod decisions;
mod grants;
mod loopwise;
mod properties;
mod resolution;

use super::{
    AdminStyle, CatalogSnapshot, Client, CompiledCatalog, OIDC_SYSTEM_SCOPES, Operation, Scope,
    ScopeName,
};

pub(super) fn n(raw: &str) -> ScopeName {
    ScopeName::parse(raw).unwrap()
}

pub(super) fn names(raw: &[&str]) -> Vec<ScopeName> {
    raw.iter().map(|r| n(r)).collect()
}

pub(super) fn strs<'a>(names: impl IntoIterator<Item = &'a ScopeName>) -> Vec<&'a str> {
    names.into_iter().map(ScopeName::as_str).collect()
}

pub(super) fn scope(name: &str) -> Scope {
    Scope {
        id: 0,
        name: n(name),
        description: format!("{name} access"),
        is_default: false,
        is_system: false,
        is_reserved: false,
        implies: Vec::new(),
        created_at_ms: 0,
        updated_at_ms: 0,
        etag: String::new(),
    }
}

pub(super) fn implying(name: &str, implies: &[&str]) -> Scope {
    Scope {
        implies: names(implies),
        ..scope(name)
    }
}

pub(super) fn operation(name: &str, alternatives: &[&[&str]]) -> Operation {
    Operation {
        name: name.to_owned(),
        description: String::new(),
        alternatives: alternatives.iter().map(|a| names(a)).collect(),
    }
}

pub(super) fn client(id: &str, first_party: bool, allowed: &[&str]) -> Client {
    Client {
        client_id: id.to_owned(),
        name: id.to_owned(),
        first_party,
        allowed_scopes: names(allowed),
    }
}

/// The identity scopes (`openid` default) and the reserved admin pair every tenant starts with.
pub(super) fn system_scopes(style: AdminStyle) -> Vec<Scope> {
    let mut scopes: Vec<Scope> = OIDC_SYSTEM_SCOPES
        .iter()
        .map(|&name| Scope {
            is_system: true,
            is_default: name == "openid",
            ..scope(name)
        })
        .collect();
    let (read, write) = style.admin_pair();
    for name in [read, write] {
        scopes.push(Scope {
            is_system: true,
            is_reserved: true,
            ..scope(name)
        });
    }
    scopes
}

// The reference's data scopes and tool map, shared with the integration tests.
include!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/loopwise_reference.rs"
));

/// The loopwise tenant: system scopes, data scopes and the tool map, no implications.
pub(super) fn loopwise_snapshot() -> CatalogSnapshot {
    let mut scopes = system_scopes(AdminStyle::Colon);
    scopes.extend(LOOPWISE_DATA_SCOPES.iter().map(|s| scope(s)));
    CatalogSnapshot {
        tenant: "loopwise".to_owned(),
        revision: 7,
        admin_style: AdminStyle::Colon,
        drop_unknown_scopes: false,
        scopes,
        clients: vec![
            client(
                "dashboard",
                true,
                &[
                    "openid",
                    "email",
                    "admin:read",
                    "admin:write",
                    "courses:read",
                    "courses:write",
                ],
            ),
            client("locked", false, &[]),
            client(
                "reports-app",
                false,
                &["openid", "email", "courses:read", "admin:read"],
            ),
        ],
        operations: LOOPWISE_TOOLS
            .iter()
            .map(|(tool, alternatives)| operation(tool, alternatives))
            .collect(),
    }
}

pub(super) fn loopwise() -> CompiledCatalog {
    CompiledCatalog::compile(loopwise_snapshot())
}

/// Loopwise plus `courses:write ⊇ courses:read` and a reserved-only operation.
pub(super) fn loopwise_with_implications() -> CompiledCatalog {
    let mut snapshot = loopwise_snapshot();
    for s in &mut snapshot.scopes {
        if s.name.as_str() == "courses:write" {
            s.implies = names(&["courses:read"]);
        }
    }
    snapshot
        .operations
        .push(operation("audit_log", &[&["admin:read"]]));
    CompiledCatalog::compile(snapshot)
}
