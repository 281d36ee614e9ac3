//! Properties of decisions and grants over random grants and requirements.

use proptest::prelude::*;

use super::{implying, n, operation, scope, system_scopes};
use crate::scope::{AdminStyle, CatalogSnapshot, CompiledCatalog, Reason, Requirement, ScopeName};

/// Names drawn from: catalog scopes (some implying others, the reserved pair, one implying a
/// reserved scope) and two names the catalog lacks.
const POOL: [&str; 14] = [
    "openid",
    "email",
    "a:read",
    "a:write",
    "b:read",
    "b:write",
    "c",
    "d",
    "e",
    "admin:read",
    "admin:write",
    "sneaky",
    "gone:1",
    "gone:2",
];
const OPERATIONS: [&str; 4] = ["plain", "either", "half_dead", "dead"];

fn catalog() -> CompiledCatalog {
    let mut scopes = system_scopes(AdminStyle::Colon);
    scopes.extend([
        scope("a:read"),
        implying("a:write", &["a:read"]),
        implying("b:write", &["b:read", "c"]),
        implying("b:read", &["d"]),
        scope("c"),
        implying("d", &["e"]),
        scope("e"),
        implying("sneaky", &["admin:read"]),
    ]);
    CompiledCatalog::compile(CatalogSnapshot {
        tenant: "props".to_owned(),
        scopes,
        operations: vec![
            operation("plain", &[&["a:read", "e"]]),
            operation("either", &[&["b:read", "email"], &["admin:write"], &["c"]]),
            operation("half_dead", &[&["gone:1", "a:read"], &["d", "openid"]]),
            operation("dead", &[&["gone:1"], &["gone:2", "e"]]),
        ],
        ..CatalogSnapshot::default()
    })
}

fn grant_names() -> impl Strategy<Value = Vec<&'static str>> {
    proptest::collection::vec(proptest::sample::select(&POOL[..]), 0..8)
}

/// An operation requirement, or a random DNF over the pool.
fn requirement() -> impl Strategy<Value = Requirement> {
    let dnf = proptest::collection::vec(
        proptest::collection::vec(proptest::sample::select(&POOL[..]), 1..4),
        1..4,
    )
    .prop_map(|alts| {
        let alts: Vec<Vec<ScopeName>> = alts
            .iter()
            .map(|a| a.iter().map(|s| n(s)).collect())
            .collect();
        Requirement::alternatives(alts).unwrap()
    });
    let op = proptest::sample::select(&OPERATIONS[..])
        .prop_map(|name| Requirement::operation(name).unwrap());
    prop_oneof![dnf, op]
}

fn names_unknown_scope(catalog: &CompiledCatalog, requirement: &Requirement) -> bool {
    match requirement.scope_alternatives() {
        Some(alts) => alts
            .iter()
            .flatten()
            .any(|s| catalog.scope(s.as_str()).is_none()),
        None => {
            let op = catalog
                .operation(requirement.operation_name().unwrap())
                .unwrap();
            op.alternatives()
                .flatten()
                .any(|s| catalog.scope(s.as_str()).is_none())
        }
    }
}

proptest! {
    #[test]
    fn adding_a_granted_scope_never_turns_allow_into_deny(
        granted in grant_names(),
        extra in proptest::sample::select(&POOL[..]),
        first_party in any::<bool>(),
        requirement in requirement(),
    ) {
        let catalog = catalog();
        let before = catalog.effective_grant(granted.iter().copied(), first_party);
        let more = granted.iter().copied().chain([extra]);
        let after = catalog.effective_grant(more, first_party);
        if catalog.decide(&before, &requirement).allowed {
            prop_assert!(catalog.decide(&after, &requirement).allowed);
        }
    }

    #[test]
    fn a_denials_missing_scopes_added_to_the_grant_make_it_allow(
        granted in grant_names(),
        first_party in any::<bool>(),
        requirement in requirement(),
    ) {
        let catalog = catalog();
        let grant = catalog.effective_grant(granted.iter().copied(), first_party);
        let decision = catalog.decide(&grant, &requirement);
        if !names_unknown_scope(&catalog, &requirement) {
            prop_assert!(matches!(decision.reason, Reason::Allowed | Reason::InsufficientScope));
        }
        let reserved_missing = decision.missing.iter().any(|m| catalog.is_reserved(m.as_str()));
        if decision.reason == Reason::InsufficientScope && (first_party || !reserved_missing) {
            let more = granted.iter().copied().chain(decision.missing.iter().map(|m| m.as_str()));
            let grant = catalog.effective_grant(more, first_party);
            prop_assert!(catalog.decide(&grant, &requirement).allowed);
        }
    }

    #[test]
    fn implication_closure_is_idempotent(granted in grant_names(), first_party in any::<bool>()) {
        let catalog = catalog();
        let once = catalog.effective_grant(granted.iter().copied(), first_party);
        let twice = catalog.effective_grant(once.scopes().map(ScopeName::as_str), first_party);
        prop_assert!(once.scopes().eq(twice.scopes()));
        prop_assert!(once.scopes().all(|s| !catalog.is_reserved(s.as_str()) || first_party));
    }

    #[test]
    fn explained_decisions_agree_and_challenges_stay_well_quoted(
        granted in grant_names(),
        first_party in any::<bool>(),
        requirement in requirement(),
        realm in "\\PC{0,12}",
    ) {
        let catalog = catalog();
        let grant = catalog.effective_grant(granted.iter().copied(), first_party);
        let decision = catalog.decide(&grant, &requirement);
        let (explained, trace) = catalog.decide_explained(&grant, &requirement);
        prop_assert_eq!(&decision, &explained);
        // A denial without unknown scopes means no alternative was complete.
        prop_assert!(decision.allowed
            || names_unknown_scope(&catalog, &requirement)
            || trace.alternatives.iter().all(|t| t.missing > 0));
        if let Some(challenge) = catalog.challenge(&grant, &decision, Some(&realm)) {
            let header = challenge.www_authenticate;
            prop_assert!(header.starts_with("Bearer realm=\""));
            prop_assert!(!header.contains('\\'));
            // realm, error and maybe scope: two quotes each, nothing else quoted.
            let quotes = header.matches('"').count();
            prop_assert!(quotes == 4 || quotes == 6, "{}", header);
        }
    }
}
