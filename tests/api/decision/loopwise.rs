//! The loopwise preset's whole MCP-tool-to-scope map, decided through CheckScopes with tokens.

use scopegate::pb::{
    ListOperations, ManageOperationRequest, PageRequest, Reason, manage_operation_request,
    manage_operation_response,
};

use super::{check_all, op, school, token_check, token_with};
use crate::{
    backend_tests, fresh_app,
    helpers::{Backend, TestApp, authed},
};

include!("../../data/loopwise_reference.rs");
use LOOPWISE_DATA_SCOPES as DATA_SCOPES;
use LOOPWISE_TOOLS as TOOLS;

async fn operation_names(app: &TestApp) -> Vec<String> {
    let list = ListOperations {
        page: Some(PageRequest {
            page_size: 500,
            ..Default::default()
        }),
    };
    let request = ManageOperationRequest {
        tenant: super::SCHOOL.to_owned(),
        action: Some(manage_operation_request::Action::List(list)),
    };
    let response = app.admin().manage_operation(authed(request)).await.unwrap();
    let Some(manage_operation_response::Result::Operations(page)) = response.into_inner().result
    else {
        panic!("a page of operations")
    };
    page.operations.into_iter().map(|o| o.name).collect()
}

async fn every_loopwise_tool_is_allowed_by_its_scopes_and_denied_without_them(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    let idp = school(&app).await;
    let mut listed = operation_names(&app).await;
    listed.sort();
    let mut table: Vec<&str> = TOOLS.iter().map(|(name, _)| *name).collect();
    table.sort_unstable();
    assert_eq!(listed, table, "the table covers the preset's whole map");

    let with_first: Vec<_> = TOOLS
        .iter()
        .map(|(name, alternatives)| {
            let token = token_with(&idp, &alternatives[0].join(" "));
            token_check(name, &token, op(name))
        })
        .collect();
    let without: Vec<_> = TOOLS
        .iter()
        .map(|(name, alternatives)| {
            let needed: Vec<&str> = alternatives
                .iter()
                .flat_map(|a| a.iter().copied())
                .collect();
            let mut rest: Vec<&str> = DATA_SCOPES
                .iter()
                .copied()
                .filter(|s| !needed.contains(s))
                .collect();
            rest.extend(["openid", "profile", "email"]);
            token_check(name, &token_with(&idp, &rest.join(" ")), op(name))
        })
        .collect();
    let allowed = check_all(&app, super::SCHOOL, with_first).await;
    let denied = check_all(&app, super::SCHOOL, without).await;

    for (((name, alternatives), yes), no) in TOOLS.iter().zip(&allowed).zip(&denied) {
        assert_eq!(yes.correlation_id, *name);
        assert!(yes.allowed, "{name}: {yes:?}");
        assert_eq!(yes.reason(), Reason::Allowed, "{name}");
        assert_eq!(yes.http_status, 200, "{name}");
        assert_eq!(yes.www_authenticate, "", "{name}");
        assert_eq!(
            yes.satisfied_by.as_ref().unwrap().scopes,
            alternatives[0],
            "{name}"
        );

        assert_eq!(no.correlation_id, *name);
        assert!(!no.allowed, "{name}: {no:?}");
        assert_eq!(no.reason(), Reason::InsufficientScope, "{name}");
        assert_eq!(no.http_status, 403, "{name}");
        assert_eq!(
            no.missing, alternatives[0],
            "{name}: the first alternative is closest"
        );
        assert!(no.satisfied_by.is_none(), "{name}");
        for scope in alternatives.iter().flat_map(|a| a.iter()) {
            assert!(!no.granted.iter().any(|g| g == scope), "{name}: {scope}");
        }
    }
}

backend_tests!(every_loopwise_tool_is_allowed_by_its_scopes_and_denied_without_them);
