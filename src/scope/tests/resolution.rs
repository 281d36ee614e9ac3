//! `ResolveScopes`: defaults, unknown, malformed and reserved scopes, client allowed sets.

use super::{loopwise_snapshot, strs};
use crate::scope::{CompiledCatalog, DropReason, ResolveError};

type Dropped<'a> = &'a [(&'a str, DropReason)];

#[test]
fn requests_resolve_per_rfc_6749_section_3_3() {
    let catalog = CompiledCatalog::compile(loopwise_snapshot());
    use DropReason::{NotAllowedForClient as NotAllowed, Reserved};
    type Case<'a> = (
        &'a str,
        &'a str,
        Option<&'a str>,
        &'a [&'a str],
        Dropped<'a>,
        bool,
    );
    #[rustfmt::skip]
    let cases: [Case<'_>; 11] = [
        ("empty gets defaults", "", None, &["openid"], &[], true),
        ("spaces only gets defaults", "   ", Some("reports-app"), &["openid"], &[], true),
        ("order kept, duplicates merged", "email openid  email", None, &["email", "openid"], &[], false),
        ("reserved dropped for an unregistered client", "openid admin:read", Some("stranger"), &["openid"], &[("admin:read", Reserved)], false),
        ("reserved dropped with no client", "admin:write", None, &[], &[("admin:write", Reserved)], false),
        ("reserved kept for first party", "admin:read admin:write", Some("dashboard"), &["admin:read", "admin:write"], &[], false),
        ("an empty allowed set allows nothing", "openid", Some("locked"), &[], &[("openid", NotAllowed)], false),
        ("third party narrowed to its allowed set", "openid courses:read posts:read", Some("reports-app"), &["openid", "courses:read"], &[("posts:read", NotAllowed)], false),
        ("third party never gets reserved, even if allowed", "admin:read email", Some("reports-app"), &["email"], &[("admin:read", Reserved)], false),
        ("unregistered client has no allowed-set restriction", "posts:read", Some("stranger"), &["posts:read"], &[], false),
        ("first party is narrowed to its allowed set too", "posts:read openid", Some("dashboard"), &["openid"], &[("posts:read", NotAllowed)], false),
    ];
    for (label, requested, client, granted, dropped, defaulted) in cases {
        let got = catalog.resolve(requested, client).unwrap();
        assert_eq!(strs(&got.granted), granted, "{label}");
        let got_dropped: Vec<(&str, DropReason)> =
            got.dropped.iter().map(|(n, r)| (n.as_str(), *r)).collect();
        assert_eq!(got_dropped, dropped, "{label}");
        assert_eq!(got.narrowed, !dropped.is_empty(), "{label}");
        assert_eq!(got.defaulted, defaulted, "{label}");
        assert_eq!(
            got.must_echo_scope(),
            defaulted || !dropped.is_empty(),
            "{label}"
        );
        assert_eq!(got.scope_string(), granted.join(" "), "{label}");
    }
}

#[test]
fn unknown_and_malformed_scopes_are_invalid_scope() {
    let catalog = CompiledCatalog::compile(loopwise_snapshot());
    let cases: [(&str, &[&str]); 5] = [
        ("openid nope:read", &["nope:read"]),
        ("Openid", &["Openid"]),
        ("openid b\"ad nope b\"ad", &["b\"ad", "nope"]),
        ("a\\b", &["a\\b"]),
        ("openid\temail", &["openid\temail"]),
    ];
    for (requested, unknown) in cases {
        let want = ResolveError::InvalidScope {
            unknown: unknown.iter().map(|u| u.to_string()).collect(),
        };
        assert_eq!(catalog.resolve(requested, None), Err(want), "{requested:?}");
    }
}

#[test]
fn tenants_that_drop_unknown_scopes_report_them_but_still_reject_malformed_ones() {
    let mut snapshot = loopwise_snapshot();
    snapshot.drop_unknown_scopes = true;
    let catalog = CompiledCatalog::compile(snapshot);
    let got = catalog.resolve("nope openid", None).unwrap();
    assert_eq!(strs(&got.granted), ["openid"]);
    assert_eq!(got.dropped, [(super::n("nope"), DropReason::Unknown)]);
    assert!(got.narrowed && got.must_echo_scope());
    let err = catalog.resolve("openid x\"y", None).unwrap_err();
    assert_eq!(
        err,
        ResolveError::InvalidScope {
            unknown: vec!["x\"y".to_owned()]
        }
    );
}

#[test]
fn defaults_come_from_the_flags_then_openid_then_nothing() {
    let mut snapshot = loopwise_snapshot();
    for s in &mut snapshot.scopes {
        s.is_default = matches!(s.name.as_str(), "profile" | "email" | "admin:read");
    }
    let catalog = CompiledCatalog::compile(snapshot.clone());
    let got = catalog.resolve("", None).unwrap();
    assert_eq!(strs(&got.granted), ["email", "profile"]);
    assert_eq!(got.dropped.len(), 1); // a reserved default is still reserved
    let first_party = catalog.resolve("", Some("dashboard")).unwrap();
    assert_eq!(strs(&first_party.granted), ["admin:read", "email"]);
    assert_eq!(
        first_party.dropped,
        [(super::n("profile"), DropReason::NotAllowedForClient)]
    );

    for s in &mut snapshot.scopes {
        s.is_default = false;
    }
    let catalog = CompiledCatalog::compile(snapshot.clone());
    assert_eq!(
        strs(&catalog.resolve("", None).unwrap().granted),
        ["openid"]
    );
    snapshot.scopes.retain(|s| s.name.as_str() != "openid");
    let catalog = CompiledCatalog::compile(snapshot);
    let got = catalog.resolve("", None).unwrap();
    assert!(got.granted.is_empty() && got.defaulted && !got.must_echo_scope());
}
