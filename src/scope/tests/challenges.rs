//! Exact RFC 6750 challenges and the status of every reason.

use super::{loopwise_with_implications, n, names};
use crate::scope::{Challenge, Decision, Reason, Requirement};

#[test]
fn challenges_are_exact_rfc_6750_strings() {
    let catalog = loopwise_with_implications();
    // Third party: admin:read is withheld; courses:write implies courses:read.
    let grant = catalog.effective_grant(["openid", "courses:write", "admin:read"], false);
    let op = |name| Requirement::operation(name).unwrap();
    let list_courses = op("list_courses");
    let allowed = catalog.decide(&grant, &list_courses);
    assert_eq!(catalog.challenge(&grant, &allowed, None), None);

    let insufficient = r#"Bearer error="insufficient_scope""#;
    #[rustfmt::skip]
    let cases: Vec<(Requirement, Option<&str>, &str)> = vec![
        (op("get_settings"), None, r#"Bearer error="insufficient_scope", scope="courses:write openid school:read""#),
        (op("get_settings"), Some("loopwise"), r#"Bearer realm="loopwise", error="insufficient_scope", scope="courses:write openid school:read""#),
        // Reserved scopes are never asked for: nothing is left that a step-up could gain.
        (op("audit_log"), None, insufficient),
        (Requirement::all_of(names(&["profile", "email"])).unwrap(), None, r#"Bearer error="insufficient_scope", scope="courses:write email openid profile""#),
        (op("no_such_tool"), None, insufficient),
        (Requirement::all_of([n("nope")]).unwrap(), Some("loopwise"), r#"Bearer realm="loopwise", error="insufficient_scope""#),
    ];
    for (requirement, realm, header) in cases {
        let decision = catalog.decide(&grant, &requirement);
        let challenge = catalog.challenge(&grant, &decision, realm).unwrap();
        assert_eq!(
            (challenge.status, challenge.www_authenticate.as_str()),
            (403, header)
        );
    }

    let empty = catalog.effective_grant([], false);
    let mut snapshot = super::loopwise_snapshot();
    snapshot.operations.push(super::operation("hollow", &[]));
    let hollow_catalog = crate::scope::CompiledCatalog::compile(snapshot);
    let hollow = op("hollow");
    let grant = hollow_catalog.effective_grant(["openid"], false);
    let decision = hollow_catalog.decide(&grant, &hollow);
    let challenge = hollow_catalog.challenge(&grant, &decision, None).unwrap();
    assert_eq!(
        challenge.www_authenticate, insufficient,
        "no alternative left to ask for"
    );

    // offline_access is never asked for; a scope held through an implication is not asked
    // again (courses:write implies courses:read here).
    let offline = catalog.effective_grant(["offline_access", "courses:write"], false);
    let wanted = Requirement::all_of(names(&["courses:read", "students:read"])).unwrap();
    let decision = catalog.decide(&offline, &wanted);
    let challenge = catalog.challenge(&offline, &decision, None).unwrap();
    let header = r#"Bearer error="insufficient_scope", scope="courses:write students:read""#;
    assert_eq!(challenge.www_authenticate, header);
    assert_eq!(
        catalog.required_scope(&wanted),
        "courses:read students:read"
    );
    assert_eq!(catalog.required_scope(&op("audit_log")), "");

    let list_posts = op("list_posts");
    let decision = catalog.decide(&empty, &list_posts);
    let challenge = catalog.challenge(&empty, &decision, None).unwrap();
    let header = r#"Bearer error="insufficient_scope", scope="posts:read""#;
    assert_eq!(challenge.www_authenticate, header);
    for reason in [Reason::TokenInactive, Reason::TenantNotFound] {
        let denied = Decision::denied(reason);
        let challenge = catalog.challenge(&empty, &denied, None).unwrap();
        assert_eq!(challenge, Challenge::invalid_token(None));
        assert_eq!(challenge.status, 401);
        assert_eq!(
            challenge.www_authenticate,
            r#"Bearer error="invalid_token""#
        );
    }
}

#[test]
fn reasons_have_stable_names_and_statuses() {
    let cases = [
        (Reason::Allowed, "ALLOWED", 200),
        (Reason::TokenInactive, "TOKEN_INACTIVE", 401),
        (Reason::InsufficientScope, "INSUFFICIENT_SCOPE", 403),
        (Reason::UnknownOperation, "UNKNOWN_OPERATION", 403),
        (Reason::UnknownScope, "UNKNOWN_SCOPE", 403),
        (Reason::TenantNotFound, "TENANT_NOT_FOUND", 401),
    ];
    for (reason, name, status) in cases {
        assert_eq!((reason.as_str(), reason.http_status()), (name, status));
    }
}
