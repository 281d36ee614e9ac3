//! Effective grants: reserved scopes by client kind, the implication closure.

use super::{implying, loopwise_snapshot, loopwise_with_implications, scope, strs};
use crate::scope::{CompiledCatalog, Reason, Requirement};

#[test]
fn reserved_scopes_count_only_for_first_party_grants() {
    let catalog = loopwise_with_implications();
    let audit = Requirement::operation("audit_log").unwrap();
    let first = catalog.effective_grant(["admin:read", "openid"], true);
    let third = catalog.effective_grant(["admin:read", "openid"], false);
    assert!(catalog.decide(&first, &audit).allowed);
    assert_eq!(
        catalog.decide(&third, &audit).reason,
        Reason::InsufficientScope
    );
    assert_eq!(strs(first.scopes()), ["admin:read", "openid"]);
    assert_eq!(strs(third.scopes()), ["openid"]);
    assert_eq!(strs(third.withheld_reserved()), ["admin:read"]);
    assert_eq!(first.withheld_reserved().count(), 0);
    assert_eq!(third.direct_scope_string(), "openid");
}

#[test]
fn a_reserved_scope_is_never_reached_through_an_implication_by_a_third_party() {
    let mut snapshot = loopwise_snapshot();
    snapshot.scopes.push(implying("backdoor", &["admin:write"]));
    let catalog = CompiledCatalog::compile(snapshot);
    assert!(
        !catalog
            .effective_grant(["backdoor"], false)
            .contains("admin:write")
    );
    assert!(
        catalog
            .effective_grant(["backdoor"], true)
            .contains("admin:write")
    );
}

#[test]
fn implications_are_followed_transitively_and_reported() {
    let catalog = loopwise_with_implications();
    let grant = catalog.effective_grant(["courses:write", "nope", "nope"], false);
    assert_eq!(strs(grant.scopes()), ["courses:read", "courses:write"]);
    assert_eq!(strs(grant.direct_scopes()), ["courses:write"]);
    assert_eq!(grant.unknown(), ["nope"]);
    let used: Vec<(&str, &str)> = grant
        .implications()
        .iter()
        .map(|i| (i.from.as_str(), i.to.as_str()))
        .collect();
    assert_eq!(used, [("courses:write", "courses:read")]);
    let list = Requirement::operation("list_courses").unwrap();
    let (decision, explain) = catalog.decide_explained(&grant, &list);
    assert!(decision.allowed);
    assert_eq!(explain.implications_used.len(), 1);
    assert_eq!(explain.implications_used[0].from.as_str(), "courses:write");

    let mut snapshot = loopwise_snapshot();
    snapshot
        .scopes
        .extend([implying("a", &["b"]), implying("b", &["c"]), scope("c")]);
    let chain = CompiledCatalog::compile(snapshot);
    assert_eq!(
        strs(chain.effective_grant(["a"], false).scopes()),
        ["a", "b", "c"]
    );
    assert_eq!(
        strs(chain.effective_grant(["b"], false).scopes()),
        ["b", "c"]
    );
}

#[test]
fn debug_output_names_scopes_and_summarises_the_catalog() {
    let catalog = loopwise_with_implications();
    let grant = catalog.effective_grant(["courses:write"], false);
    let shown = format!("{grant:?}");
    assert!(
        shown.contains(r#"effective: ["courses:read", "courses:write"]"#),
        "{shown}"
    );
    let shown = format!("{catalog:?}");
    assert!(shown.starts_with(r#"CompiledCatalog { tenant: "loopwise", revision: 7, scopes: 34"#));
}
