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

/// Loopwise's data scopes, from the reference document.
pub(super) const LOOPWISE_DATA_SCOPES: [&str; 28] = [
    "courses:read",
    "courses:write",
    "students:read",
    "students:write",
    "analytics:read",
    "curriculum:read",
    "curriculum:write",
    "orders:read",
    "school:read",
    "school:write",
    "appearance:read",
    "appearance:write",
    "events:read",
    "events:write",
    "membership_plans:read",
    "membership_plans:write",
    "coupons:read",
    "coupons:write",
    "posts:read",
    "posts:write",
    "digital_products:read",
    "digital_products:write",
    "comments:read",
    "lecturers:read",
    "lecturers:write",
    "storage:write",
    "subscriptions:read",
    "subscriptions:write",
];

/// Loopwise's complete MCP tool map: tool, then its alternatives (any one suffices).
pub(super) const LOOPWISE_TOOLS: &[(&str, &[&[&str]])] = &[
    ("list_courses", &[&["courses:read"]]),
    ("get_course", &[&["courses:read"]]),
    ("list_reviews", &[&["courses:read"]]),
    ("update_course", &[&["courses:write"]]),
    ("list_members", &[&["students:read"]]),
    ("get_member", &[&["students:read"]]),
    ("get_site_info", &[&["school:read"]]),
    ("get_settings", &[&["school:read"], &["appearance:read"]]),
    (
        "update_settings",
        &[&["school:write"], &["appearance:write"]],
    ),
    ("list_orders", &[&["orders:read"]]),
    ("list_lessons", &[&["curriculum:read"]]),
    ("list_membership_plans", &[&["membership_plans:read"]]),
    ("get_membership_plan", &[&["membership_plans:read"]]),
    ("list_events", &[&["events:read"]]),
    ("get_event", &[&["events:read"]]),
    ("list_event_attendees", &[&["events:read"]]),
    ("list_coupons", &[&["coupons:read"]]),
    ("get_coupon", &[&["coupons:read"]]),
    ("list_posts", &[&["posts:read"]]),
    ("get_post", &[&["posts:read"]]),
    ("create_post", &[&["posts:write"]]),
    ("update_post", &[&["posts:write"]]),
    ("delete_post", &[&["posts:write"]]),
    ("list_digital_downloads", &[&["digital_products:read"]]),
    ("get_digital_download", &[&["digital_products:read"]]),
    ("list_comments", &[&["comments:read"]]),
    ("get_comment", &[&["comments:read"]]),
    ("upload_image", &[&["storage:write"]]),
    ("confirm_upload", &[&["storage:write"]]),
    ("list_lecturers", &[&["lecturers:read"]]),
    ("get_lecturer", &[&["lecturers:read"]]),
    ("create_lecturer", &[&["lecturers:write"]]),
    ("update_lecturer", &[&["lecturers:write"]]),
];

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
