//! ScopeDecision through gRPC on both backends: CheckScopes (tokens and granted scopes, batches,
//! challenges, failing closed), ResolveScopes and ListSupportedScopes.
// The bodies are plain async fns stamped out by `backend_tests!`, which clippy does not see as
// tests: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod batch;
mod check;
mod loopwise;
mod resolve;

use scopegate::pb::{
    Alternative, Alternatives, Check, CheckResult, CheckScopesRequest, Client, GrantedScopes,
    ManageClientRequest, ScopeNames,
    check::{Requirement, Subject},
    manage_client_request,
    scope_decision_client::ScopeDecisionClient,
};
use serde_json::json;
use tonic::transport::Channel;

use crate::{
    helpers::{TestApp, authed},
    tokens::{Idp, create_tenant_for},
};

/// The tenant every test here decides for.
pub const SCHOOL: &str = "school";
/// Its issuer.
pub const SCHOOL_ISSUER: &str = "https://id.school.test";

/// A decision client.
pub fn decision(app: &TestApp) -> ScopeDecisionClient<Channel> {
    ScopeDecisionClient::new(app.channel.clone())
}

/// Creates the `school` tenant from the `loopwise` preset, trusting the returned provider.
pub async fn school(app: &TestApp) -> Idp {
    let idp = Idp::new(SCHOOL_ISSUER, "school-key");
    create_tenant_for(app, SCHOOL, "loopwise", &idp).await;
    idp
}

/// A token of `idp` carrying `scope` (space-separated), for the default client `web-app`.
pub fn token_with(idp: &Idp, scope: &str) -> String {
    idp.mint(&json!({ "scope": scope }))
}

/// A named operation requirement.
pub fn op(name: &str) -> Requirement {
    Requirement::Operation(name.to_owned())
}

/// An all-of requirement.
pub fn all_of(names: &[&str]) -> Requirement {
    Requirement::AllOf(ScopeNames {
        names: strings(names),
    })
}

/// An any-of requirement.
pub fn any_of(names: &[&str]) -> Requirement {
    Requirement::AnyOf(ScopeNames {
        names: strings(names),
    })
}

/// A disjunction of conjunctions.
pub fn alternatives(alternatives: &[&[&str]]) -> Requirement {
    Requirement::Alternatives(Alternatives {
        alternatives: alternatives
            .iter()
            .map(|a| Alternative { scopes: strings(a) })
            .collect(),
    })
}

/// A check of a token (tenant from the request or the token's issuer).
pub fn token_check(id: &str, token: &str, requirement: Requirement) -> Check {
    Check {
        correlation_id: id.to_owned(),
        tenant: String::new(),
        subject: Some(Subject::Token(token.to_owned())),
        requirement: Some(requirement),
        resource: String::new(),
        client_certificate: String::new(),
        presentation: None,
    }
}

/// A check of scopes the caller verified itself, granted to `client_id`.
pub fn granted_check(
    id: &str,
    scopes: &[&str],
    client_id: &str,
    requirement: Requirement,
) -> Check {
    Check {
        correlation_id: id.to_owned(),
        tenant: String::new(),
        subject: Some(Subject::Granted(GrantedScopes {
            scopes: strings(scopes),
            client_id: client_id.to_owned(),
        })),
        requirement: Some(requirement),
        resource: String::new(),
        client_certificate: String::new(),
        presentation: None,
    }
}

/// Runs a batch with `tenant` as the request's tenant, with the explain trace.
pub async fn check_all(app: &TestApp, tenant: &str, checks: Vec<Check>) -> Vec<CheckResult> {
    let request = CheckScopesRequest {
        tenant: tenant.to_owned(),
        checks,
        explain: true,
    };
    decision(app)
        .check_scopes(request)
        .await
        .unwrap()
        .into_inner()
        .results
}

/// Runs one check for the `school` tenant.
pub async fn check_one(app: &TestApp, check: Check) -> CheckResult {
    let mut results = check_all(app, SCHOOL, vec![check]).await;
    assert_eq!(results.len(), 1);
    results.remove(0)
}

/// Registers a client of the `school` tenant.
pub async fn register_client(app: &TestApp, client_id: &str, first_party: bool, allowed: &[&str]) {
    let client = Client {
        client_id: client_id.to_owned(),
        name: client_id.to_owned(),
        first_party,
        allowed_scopes: strings(allowed),
    };
    let request = ManageClientRequest {
        tenant: SCHOOL.to_owned(),
        action: Some(manage_client_request::Action::Create(client)),
    };
    app.admin().manage_client(authed(request)).await.unwrap();
}

/// Owned copies.
pub fn strings(names: &[&str]) -> Vec<String> {
    names.iter().map(|&n| n.to_owned()).collect()
}
