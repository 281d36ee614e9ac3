//! Compiling a snapshot: flags, discovery, admin styles and the odd data it works around.

use super::{implying, loopwise, loopwise_snapshot, n, operation, scope, strs, system_scopes};
use crate::scope::{AdminStyle, CatalogIssue, CatalogSnapshot, CompiledCatalog, Scope, ScopeName};

#[test]
fn compiled_catalog_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<CompiledCatalog>();
}

#[test]
fn flags_metadata_and_lookups_survive_compilation() {
    let catalog = loopwise();
    assert_eq!((catalog.tenant(), catalog.revision()), ("loopwise", 7));
    assert_eq!(catalog.admin_style(), AdminStyle::Colon);
    let cases = [
        ("openid", true, false),
        ("admin:read", false, true),
        ("admin:write", false, true),
        ("courses:read", false, false),
        ("absent", false, false),
    ];
    for (name, default, reserved) in cases {
        assert_eq!(
            (catalog.is_default(name), catalog.is_reserved(name)),
            (default, reserved),
            "{name}"
        );
    }
    assert_eq!(
        catalog.scope("courses:read").unwrap().description,
        "courses:read access"
    );
    assert!(catalog.client("dashboard").unwrap().first_party);
    assert!(catalog.client("nobody").is_none());
}

#[test]
fn discovery_lists_every_scope_but_the_reserved_ones_sorted() {
    let catalog = loopwise();
    let listed: Vec<&str> = catalog
        .discoverable_scopes()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(listed.len(), catalog.scopes().len() - 2);
    assert!(!listed.iter().any(|s| s.starts_with("admin")));
    assert!(listed.windows(2).all(|w| w[0] < w[1]));
    assert!(listed.contains(&"openid") && listed.contains(&"subscriptions:write"));
}

#[test]
fn the_admin_pair_is_reserved_by_name_for_its_style_even_without_the_flag() {
    let mut scopes = system_scopes(AdminStyle::Dot);
    for s in &mut scopes {
        s.is_reserved = false;
    }
    scopes.push(scope("admin:read")); // a colon-style name in a dot tenant is ordinary
    let catalog = CompiledCatalog::compile(CatalogSnapshot {
        tenant: "lumo".to_owned(),
        admin_style: AdminStyle::Dot,
        scopes,
        ..CatalogSnapshot::default()
    });
    assert!(catalog.is_reserved("admin.read") && catalog.is_reserved("admin.write"));
    assert!(!catalog.is_reserved("admin:read"));
    let grant = catalog.effective_grant(["admin.read", "admin:read"], false);
    assert_eq!(strs(grant.scopes()), ["admin:read"]);
}

#[test]
fn odd_stored_data_is_reported_and_worked_around() {
    let mut snapshot = loopwise_snapshot();
    snapshot.scopes.extend([
        Scope {
            description: "second".to_owned(),
            ..scope("email")
        },
        implying("x", &["y", "gone"]),
        implying("y", &["x"]),
    ]);
    snapshot.operations.extend([
        operation("get_course", &[&["admin:write"]]),
        operation("stale", &[&["gone"]]),
        operation("hollow", &[]),
    ]);
    let catalog = CompiledCatalog::compile(snapshot);
    let want = [
        CatalogIssue::DuplicateScope(n("email")),
        CatalogIssue::DanglingImplies {
            scope: n("x"),
            implies: n("gone"),
        },
        CatalogIssue::ImpliesCycle(vec![n("x"), n("y")]),
        CatalogIssue::DuplicateOperation("get_course".to_owned()),
        CatalogIssue::DeletedScopeInOperation {
            operation: "stale".to_owned(),
            scope: n("gone"),
        },
        CatalogIssue::EmptyRequirement {
            operation: "hollow".to_owned(),
        },
    ];
    assert_eq!(catalog.issues(), want);
    assert_ne!(catalog.scope("email").unwrap().description, "second");
    let alternatives: Vec<Vec<&str>> = catalog
        .operation("get_course")
        .unwrap()
        .alternatives()
        .map(strs)
        .collect();
    assert_eq!(alternatives, [["courses:read"]]);
    // A stored cycle still closes: each member implies the other, not itself.
    assert_eq!(
        strs(catalog.effective_grant(["x"], false).scopes()),
        ["x", "y"]
    );
}

#[test]
fn the_compiled_catalog_keeps_the_snapshot_once_and_each_name_once() {
    let mut snapshot = loopwise_snapshot();
    snapshot
        .scopes
        .push(implying("reviews:write", &["courses:read", "email"]));
    snapshot.scopes.reverse();
    let catalog = CompiledCatalog::compile(snapshot.clone());

    // The snapshot it holds is the one it was given, its scopes sorted by name.
    let held = catalog.snapshot();
    snapshot.scopes.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(*held, snapshot);
    assert!(std::ptr::eq(catalog.scopes(), &*held.scopes));

    // Every reference to a scope of the catalog is that scope's own name, not a copy.
    let own = |name: &ScopeName| catalog.scope(name.as_str()).unwrap().name.clone();
    let referring = held.scopes.iter().flat_map(|s| &s.implies);
    let allowed = held.clients.iter().flat_map(|c| &c.allowed_scopes);
    let required = held
        .operations
        .iter()
        .flat_map(|o| o.alternatives.iter().flatten());
    let mut seen = 0;
    for name in referring.chain(allowed).chain(required) {
        assert!(name.shares(&own(name)), "{name}");
        seen += 1;
    }
    assert!(seen > 20, "{seen}");
    // Compiled operations and clients answer from the same names.
    for op in catalog.operations() {
        for name in op.alternatives().flatten() {
            assert!(name.shares(&own(name)), "{name}");
        }
    }
    let dashboard = catalog.client("dashboard").unwrap();
    assert!(std::ptr::eq(dashboard, &held.clients[0]));
}

#[test]
fn every_scope_finds_its_transitive_implications_in_the_one_list() {
    let mut snapshot = loopwise_snapshot();
    snapshot.scopes.extend([
        implying("a:write", &["a:read"]),
        implying("a:admin", &["a:write"]),
        scope("a:read"),
    ]);
    let catalog = CompiledCatalog::compile(snapshot);
    let id = |name: &str| catalog.id(name).unwrap();
    let names = |of: &str| -> Vec<&str> {
        catalog
            .implied
            .of(id(of))
            .iter()
            .map(|&to| catalog.name(to).unwrap().as_str())
            .collect()
    };
    // Ids are in name order: a:admin comes first, so its targets start the list.
    assert_eq!(id("a:admin"), 0);
    assert_eq!(names("a:admin"), ["a:read", "a:write"]);
    assert_eq!(names("a:write"), ["a:read"]);
    assert!(names("a:read").is_empty() && names("openid").is_empty());
    assert!(catalog.implied.of(u32::MAX).is_empty());
}
