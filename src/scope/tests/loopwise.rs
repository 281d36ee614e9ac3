//! The complete loopwise MCP tool map, decided with and without each tool's scopes.

use super::{LOOPWISE_DATA_SCOPES, LOOPWISE_TOOLS, loopwise, strs};
use crate::scope::{Reason, Requirement};

#[test]
fn every_tool_is_allowed_by_each_of_its_alternatives_alone() {
    let catalog = loopwise();
    for (tool, alternatives) in LOOPWISE_TOOLS {
        let requirement = Requirement::operation(tool).unwrap();
        for (index, alternative) in alternatives.iter().enumerate() {
            let grant = catalog.effective_grant(alternative.iter().copied(), false);
            let decision = catalog.decide(&grant, &requirement);
            assert!(decision.allowed, "{tool} with {alternative:?}");
            assert_eq!(decision.reason, Reason::Allowed);
            let matched = decision.satisfied_by.unwrap();
            assert_eq!(
                (matched.index, strs(matched.scopes)),
                (index, alternative.to_vec())
            );
            assert!(decision.missing.is_empty() && decision.closest.is_none());
        }
    }
}

#[test]
fn every_tool_is_denied_without_its_scopes_naming_the_first_alternative() {
    let catalog = loopwise();
    for (tool, alternatives) in LOOPWISE_TOOLS {
        let requirement = Requirement::operation(tool).unwrap();
        let needed: Vec<&str> = alternatives
            .iter()
            .flat_map(|a| a.iter().copied())
            .collect();
        let everything_else = LOOPWISE_DATA_SCOPES
            .iter()
            .copied()
            .chain(["openid", "profile", "email"])
            .filter(|s| !needed.contains(s));
        for grant in [
            catalog.effective_grant([], false),
            catalog.effective_grant(everything_else, false),
        ] {
            let decision = catalog.decide(&grant, &requirement);
            assert!(!decision.allowed, "{tool}");
            assert_eq!(decision.reason, Reason::InsufficientScope, "{tool}");
            assert_eq!(
                strs(decision.missing.iter().copied()),
                alternatives[0],
                "{tool}"
            );
            assert_eq!(decision.closest.unwrap().index, 0, "{tool}");
            assert!(decision.satisfied_by.is_none());
        }
    }
}

#[test]
fn settings_tools_accept_school_or_appearance_scopes() {
    let catalog = loopwise();
    let cases: [(&str, &[&str], Option<usize>); 8] = [
        ("get_settings", &["school:read"], Some(0)),
        ("get_settings", &["appearance:read"], Some(1)),
        ("get_settings", &["appearance:read", "school:read"], Some(0)),
        ("get_settings", &["school:write", "appearance:write"], None),
        ("update_settings", &["school:write"], Some(0)),
        ("update_settings", &["appearance:write"], Some(1)),
        ("update_settings", &["school:read", "appearance:read"], None),
        ("update_settings", &["openid"], None),
    ];
    for (tool, granted, matched) in cases {
        let grant = catalog.effective_grant(granted.iter().copied(), false);
        let requirement = Requirement::operation(tool).unwrap();
        let decision = catalog.decide(&grant, &requirement);
        assert_eq!(
            decision.satisfied_by.map(|a| a.index),
            matched,
            "{tool} {granted:?}"
        );
        assert_eq!(decision.allowed, matched.is_some());
    }
}

#[test]
fn the_tool_map_compiles_without_issues_and_every_tool_is_satisfiable() {
    let catalog = loopwise();
    assert!(catalog.issues().is_empty(), "{:?}", catalog.issues());
    assert_eq!(catalog.operations().count(), LOOPWISE_TOOLS.len());
    assert!(catalog.operations().all(|op| op.is_satisfiable()));
    let settings = catalog.operation("get_settings").unwrap();
    let alternatives: Vec<Vec<&str>> = settings.alternatives().map(strs).collect();
    assert_eq!(alternatives, [["school:read"], ["appearance:read"]]);
}
