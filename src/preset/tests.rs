//! Presets, export and declarative import.

use super::*;

fn seeded(preset: &str) -> CatalogSnapshot {
    let file = CatalogFile::preset(preset).unwrap();
    let style = file.admin_style().unwrap();
    let plan = seed(&file, style, 1).unwrap();
    let mut catalog = CatalogSnapshot {
        admin_style: style,
        revision: 1,
        ..Default::default()
    };
    plan.apply_to(&mut catalog);
    // As the store would: real ids are positive.
    for (i, scope) in catalog.scopes.iter_mut().enumerate() {
        scope.id = i64::try_from(i).unwrap() + 1;
    }
    catalog
}

#[test]
fn every_preset_parses_and_seeds() {
    for (name, _) in PRESETS {
        let catalog = seeded(name);
        assert!(
            catalog
                .scopes
                .iter()
                .any(|s| s.name.as_str() == "openid" && s.is_system)
        );
    }
}

#[test]
fn loopwise_has_every_data_scope_and_tool_of_the_reference() {
    let catalog = seeded("loopwise");
    assert_eq!(catalog.scopes.iter().filter(|s| !s.is_system).count(), 28);
    assert_eq!(catalog.operations.len(), 33);
    let get_settings = catalog
        .operations
        .iter()
        .find(|o| o.name == "get_settings")
        .unwrap();
    let alts: Vec<Vec<&str>> = get_settings
        .alternatives
        .iter()
        .map(|a| a.iter().map(ScopeName::as_str).collect())
        .collect();
    assert_eq!(alts, [["school:read"], ["appearance:read"]]);
}

#[test]
fn lumoauth_uses_the_dot_style_admin_pair() {
    let catalog = seeded("lumoauth");
    let reserved: Vec<&str> = catalog
        .scopes
        .iter()
        .filter(|s| s.is_reserved)
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(reserved, ["admin.read", "admin.write"]);
}

#[test]
fn exporting_then_importing_changes_nothing() {
    let catalog = seeded("loopwise");
    let id = crate::tenant::TenantId::parse("school").unwrap();
    let mut tenant =
        crate::tenant::new_tenant(id, "School".into(), "loopwise", AdminStyle::Colon, 1);
    // Resources and roles claims mappings travel with the settings.
    tenant.resources = vec![crate::tenant::ProtectedResource {
        resource: "https://mcp.school.test/mcp".into(),
        name: "School MCP".into(),
        operations: vec!["get_settings".into()],
        ..Default::default()
    }];
    tenant.scope_claims = crate::tenant::ScopeClaims {
        sources: vec![crate::tenant::ClaimSource {
            pointer: "/realm_access/roles".into(),
            prefix: "loopwise:".into(),
        }],
        replace: true,
    };
    tenant.dpop = crate::tenant::DpopSettings {
        algorithms: vec!["ES256".into(), "EdDSA".into()],
        iat_window_seconds: 30,
        replay_capacity: 5_000,
    };
    let text = CatalogFile::export(&tenant, &catalog).to_toml();
    assert!(text.contains("[[tenant.resources]]"), "{text}");
    assert!(text.contains("[tenant.dpop]"), "{text}");
    let file = CatalogFile::parse(&text).unwrap();
    let plan = import(&catalog, &file, 2).unwrap();
    assert!(plan.changes.is_empty(), "{:?}", plan.changes);
    let settings = file.tenant.unwrap();
    assert_eq!(
        settings.apply(tenant.clone()).unwrap(),
        tenant,
        "settings round-trip too"
    );
}

#[test]
fn exports_never_carry_the_upstream_client_secret_and_importing_keeps_it() {
    let id = crate::tenant::TenantId::parse("shop").unwrap();
    let mut tenant = crate::tenant::new_tenant(id, "Shop".into(), "oidc", AdminStyle::Colon, 1);
    tenant.upstream = Some(crate::tenant::UpstreamIntrospection {
        endpoint: "https://as.example/introspect".into(),
        client_id: "scopegate".into(),
        client_secret: crate::tenant::ClientSecret::new("hunter2-upstream".into()),
        timeout_ms: 1500,
        tokens: crate::tenant::UpstreamTokens::All,
        cache_ttl_seconds: 30,
    });
    let text = CatalogFile::export(&tenant, &seeded("oidc")).to_toml();
    assert!(text.contains("[tenant.upstream_introspection]"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(!tenant.audit_json().contains("hunter2"));
    let file = CatalogFile::parse(&text).unwrap();
    let kept = file.tenant.unwrap().apply(tenant.clone()).unwrap();
    assert_eq!(kept, tenant, "importing the export keeps the stored secret");
    // A file may set a secret (as given); it is still never written back out.
    let with_secret = text.replace(
        "client_id = \"scopegate\"",
        "client_id = \"scopegate\"\nclient_secret = \"rotated\"",
    );
    let file = CatalogFile::parse(&with_secret).unwrap();
    let rotated = file.tenant.unwrap().apply(tenant).unwrap();
    let upstream = rotated.upstream.unwrap();
    assert_eq!(upstream.client_secret.expose(), "rotated");
}

#[test]
fn exports_never_carry_hmac_secrets() {
    let id = crate::tenant::TenantId::parse("school").unwrap();
    let mut tenant = crate::tenant::new_tenant(id, "School".into(), "oidc", AdminStyle::Colon, 1);
    let secret = r#"{"keys":[{"kty":"oct","alg":"HS256","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"}]}"#;
    tenant.key_source = crate::tenant::KeySource::Inline(secret.into());
    let text = CatalogFile::export(&tenant, &seeded("oidc")).to_toml();
    assert!(!text.contains("c2VjcmV0"), "{text}");
    let file = CatalogFile::parse(&text).unwrap();
    let kept = file.tenant.unwrap().apply(tenant.clone()).unwrap();
    assert_eq!(
        kept.key_source, tenant.key_source,
        "importing the export keeps the secret set"
    );
}

#[test]
fn import_creates_updates_and_deletes_to_match_the_file() {
    let catalog = seeded("loopwise");
    let file = CatalogFile::parse(
        r#"
        [[scope]]
        name = "courses:read"
        description = "Read courses"
        [[scope]]
        name = "courses:write"
        description = "Write courses"
        implies = ["courses:read"]
        [[operation]]
        name = "list_courses"
        alternatives = [["courses:read"]]
        "#,
    )
    .unwrap();
    let plan = import(&catalog, &file, 2).unwrap();
    let mut after = catalog;
    plan.apply_to(&mut after);
    assert_eq!(after.scopes.iter().filter(|s| !s.is_system).count(), 2);
    assert_eq!(after.operations.len(), 1);
    let write = after
        .scopes
        .iter()
        .find(|s| s.name.as_str() == "courses:write")
        .unwrap();
    assert_eq!(write.implies[0].as_str(), "courses:read");
    assert!(
        after.scopes.iter().any(|s| s.name.as_str() == "openid"),
        "system scopes stay"
    );
}

#[test]
fn a_bad_file_names_its_line() {
    let err = CatalogFile::parse("[[scope]]\nname = 3\n").unwrap_err();
    assert!(err.to_string().contains("line 2"), "{err}");
}
