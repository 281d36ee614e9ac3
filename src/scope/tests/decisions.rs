//! Decision rules: fail closed on unknown and deleted scopes, the closest alternative, the
//! explain trace.

use super::{loopwise, loopwise_snapshot, n, names, operation, strs};
use crate::scope::{CompiledCatalog, Reason, Requirement};

/// Decides and returns the reason and missing names, checking `allowed` agrees with the reason.
fn decide_names(
    catalog: &CompiledCatalog,
    granted: &[&str],
    first_party: bool,
    requirement: &Requirement,
) -> (Reason, Vec<String>) {
    let grant = catalog.effective_grant(granted.iter().copied(), first_party);
    let d = catalog.decide(&grant, requirement);
    assert_eq!(d.allowed, d.reason == Reason::Allowed);
    assert_eq!(d.allowed, d.satisfied_by.is_some());
    (d.reason, d.missing.iter().map(|m| m.to_string()).collect())
}

fn owned(names: &[&str]) -> Vec<String> {
    names.iter().map(|m| m.to_string()).collect()
}

#[test]
fn requirements_given_as_scopes_are_decided_fail_closed() {
    use Reason::{Allowed, InsufficientScope as Insufficient, UnknownScope as Unknown};
    let catalog = loopwise();
    let all = |s: &[&str]| Requirement::all_of(names(s)).unwrap();
    let any = |s: &[&str]| Requirement::any_of(names(s)).unwrap();
    let dnf = |a: &[&[&str]]| Requirement::alternatives(a.iter().map(|x| names(x)).collect());
    let posts_or_orders = || dnf(&[&["posts:read", "email"], &["orders:read", "profile"]]);
    type Case<'a> = (&'a str, Requirement, &'a [&'a str], Reason, &'a [&'a str]);
    #[rustfmt::skip]
    let cases: Vec<Case<'_>> = vec![
        ("all granted", all(&["courses:read", "email"]), &["email", "courses:read"], Allowed, &[]),
        ("all, one missing", all(&["courses:read", "email"]), &["email"], Insufficient, &["courses:read"]),
        ("any of, second", any(&["posts:read", "posts:write"]), &["posts:write"], Allowed, &[]),
        ("dnf tie goes to first", posts_or_orders().unwrap(), &[], Insufficient, &["posts:read", "email"]),
        ("dnf fewest missing wins", posts_or_orders().unwrap(), &["profile"], Insufficient, &["orders:read"]),
        ("dnf with unknown scopes", dnf(&[&["a:x", "b:x"], &["email"]]).unwrap(), &[], Unknown, &["a:x", "b:x"]),
        ("unknown denies though another alternative is granted", any(&["courses:read", "nope"]), &["courses:read"], Unknown, &["nope"]),
        ("names are case-sensitive", all(&["Courses:read"]), &["courses:read"], Unknown, &["Courses:read"]),
        ("a token's unknown scope grants nothing", all(&["nope"]), &["nope"], Unknown, &["nope"]),
        ("reserved scope for a third party", all(&["admin:read"]), &["admin:read"], Insufficient, &["admin:read"]),
    ];
    for (label, requirement, granted, reason, missing) in cases {
        let got = decide_names(&catalog, granted, false, &requirement);
        assert_eq!(got, (reason, owned(missing)), "{label}");
    }
}

#[test]
fn unknown_operation_is_denied() {
    let catalog = loopwise();
    let requirement = Requirement::operation("drop_database").unwrap();
    let got = decide_names(&catalog, &["admin:write"], true, &requirement);
    assert_eq!(got, (Reason::UnknownOperation, vec![]));
}

#[test]
fn a_deleted_scope_never_makes_an_operation_easier() {
    use Reason::{Allowed, InsufficientScope as Insufficient, UnknownScope as Unknown};
    let mut snapshot = loopwise_snapshot();
    snapshot.operations.extend([
        operation("export", &[&["school:read", "gone:read"]]),
        operation("read_theme", &[&["gone:read"], &["appearance:read"]]),
        operation("legacy", &[&["gone:read"], &["gone:write", "school:read"]]),
        operation("broken", &[&[]]),
        operation("empty", &[]),
    ]);
    let catalog = CompiledCatalog::compile(snapshot);
    type Case<'a> = (&'a str, &'a [&'a str], Reason, &'a [&'a str]);
    let cases: [Case<'_>; 8] = [
        ("export", &["school:read"], Unknown, &["gone:read"]),
        (
            "export",
            &["school:read", "gone:read"],
            Unknown,
            &["gone:read"],
        ),
        ("read_theme", &["appearance:read"], Allowed, &[]),
        (
            "read_theme",
            &["gone:read"],
            Insufficient,
            &["appearance:read"],
        ),
        ("read_theme", &[], Insufficient, &["appearance:read"]),
        (
            "legacy",
            &["school:read", "gone:write"],
            Unknown,
            &["gone:read", "gone:write"],
        ),
        ("broken", &["school:read"], Insufficient, &[]),
        ("empty", &["school:read"], Insufficient, &[]),
    ];
    for (name, granted, reason, missing) in cases {
        let requirement = Requirement::operation(name).unwrap();
        let got = decide_names(&catalog, granted, true, &requirement);
        assert_eq!(got, (reason, owned(missing)), "{name} with {granted:?}");
    }
    assert!(!catalog.operation("export").unwrap().is_satisfiable());
    assert!(catalog.operation("read_theme").unwrap().is_satisfiable());
}

#[test]
fn explain_lists_every_alternative_and_matches_the_plain_decision() {
    let mut snapshot = loopwise_snapshot();
    snapshot.operations.push(operation(
        "mixed",
        &[
            &["gone:x", "email"],
            &["orders:read", "profile"],
            &["email"],
        ],
    ));
    let catalog = CompiledCatalog::compile(snapshot);
    let requirement = Requirement::operation("mixed").unwrap();
    let grant = catalog.effective_grant(["email"], false);
    let (decision, explain) = catalog.decide_explained(&grant, &requirement);
    assert_eq!(decision, catalog.decide(&grant, &requirement));
    assert_eq!(decision.satisfied_by.unwrap().index, 2);
    assert_eq!(explain.operation, Some("mixed"));
    let traced: Vec<(usize, usize, Vec<&str>)> = explain
        .alternatives
        .iter()
        .map(|t| {
            (
                t.alternative.index,
                t.missing,
                strs(t.unknown.iter().copied()),
            )
        })
        .collect();
    assert_eq!(
        traced,
        [(0, 0, vec!["gone:x"]), (1, 2, vec![]), (2, 0, vec![])]
    );
    assert!(explain.implications_used.is_empty());
}

#[test]
fn a_grant_from_another_catalog_counts_as_empty() {
    let (one, two) = (loopwise(), loopwise());
    let grant = one.effective_grant(["courses:read"], false);
    let requirement = Requirement::all_of([n("courses:read")]).unwrap();
    assert!(one.decide(&grant, &requirement).allowed);
    assert_eq!(
        two.decide(&grant, &requirement).reason,
        Reason::InsufficientScope
    );
}
