//! Protected resources (RFC 8707 / RFC 9728): registering them on a tenant, binding a check's
//! token to the resource it names, the MCP-grade challenges, and the metadata document over
//! gRPC and HTTP — through CheckScopes, forward auth and ext_authz alike.

use std::collections::HashMap;

use envoy_types::pb::envoy::service::auth::v3::{
    AttributeContext, CheckRequest,
    attribute_context::{HttpRequest, Request as EnvoyRequest},
    authorization_client::AuthorizationClient,
    check_response::HttpResponse,
};
use reqwest::StatusCode;
use scopegate::pb::{
    Check, CheckResult, GetResourceMetadataRequest, ManageTenantRequest, ProtectedResource,
    ProtectedResourceList, Reason, TenantSettings, UpdateTenant,
    check::{Requirement, Subject},
    manage_tenant_request, manage_tenant_response,
};
use serde_json::{Value, json};
use tonic::Code;

use crate::{
    backend_tests,
    decision::{SCHOOL, all_of, check_all, decision, granted_check, op, school},
    helpers::{Backend, TestApp, TestDb, authed},
    http_door::with_http,
    tokens::{AUDIENCE, Idp},
};

backend_tests!(
    resources_are_registered_checked_and_listed_with_the_tenant,
    a_check_naming_a_resource_binds_the_token_to_it,
    denials_for_a_resource_carry_mcp_grade_challenges,
    a_resource_the_tenant_does_not_protect_is_an_invalid_check,
    the_metadata_document_lists_the_resources_discoverable_scopes,
    forward_auth_and_ext_authz_bind_tokens_to_the_route_resource,
    authzen_resources_bind_tokens_and_narrow_the_action_search,
    removing_a_resource_takes_effect_on_the_next_check,
);

/// The `loopwise` preset's example MCP server.
const MCP: &str = "https://mcp.loopwise.test/mcp";
/// Where its metadata lives (RFC 9728 §3.1).
const MCP_METADATA: &str = "https://mcp.loopwise.test/.well-known/oauth-protected-resource/mcp";
/// A second resource registered by the tests.
const REPORTS: &str = "https://reports.school.test";

fn resource(uri: &str, operations: &[&str]) -> ProtectedResource {
    ProtectedResource {
        resource: uri.to_owned(),
        name: format!("{uri} server"),
        operations: operations.iter().map(|&o| o.to_owned()).collect(),
        ..Default::default()
    }
}

/// Replaces the `school` tenant's resources.
async fn set_resources(
    app: &TestApp,
    resources: Vec<ProtectedResource>,
) -> Result<scopegate::pb::Tenant, tonic::Status> {
    let update = UpdateTenant {
        id: SCHOOL.to_owned(),
        settings: Some(TenantSettings {
            resources: Some(ProtectedResourceList { values: resources }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let request = ManageTenantRequest {
        action: Some(manage_tenant_request::Action::Update(update)),
    };
    let response = app.admin().manage_tenant(authed(request)).await?;
    match response.into_inner().result {
        Some(manage_tenant_response::Result::Tenant(tenant)) => Ok(tenant),
        other => panic!("a tenant, not {other:?}"),
    }
}

/// A token for `aud` carrying `scope`.
fn token_for(idp: &Idp, aud: &str, scope: &str) -> String {
    idp.mint(&json!({ "aud": aud, "scope": scope }))
}

/// A token check bound to `resource`.
fn bound(id: &str, token: &str, requirement: Requirement, resource: &str) -> Check {
    Check {
        correlation_id: id.to_owned(),
        subject: Some(Subject::Token(token.to_owned())),
        requirement: Some(requirement),
        resource: resource.to_owned(),
        ..Default::default()
    }
}

/// The `name="value"` parameters of a `WWW-Authenticate: Bearer …` value.
fn params(challenge: &str) -> HashMap<String, String> {
    let rest = challenge
        .strip_prefix("Bearer")
        .expect("a Bearer challenge");
    rest.split("\", ")
        .filter_map(|p| p.trim().split_once("=\""))
        .map(|(k, v)| (k.to_owned(), v.trim_end_matches('"').to_owned()))
        .collect()
}

async fn resources_are_registered_checked_and_listed_with_the_tenant(backend: Backend) {
    let (_db, app) = crate::fresh_app!(backend);
    school(&app).await;

    let tenant = set_resources(&app, vec![resource(MCP, &[]), resource(REPORTS, &[])])
        .await
        .unwrap();
    let uris: Vec<&str> = tenant
        .resources
        .iter()
        .map(|r| r.resource.as_str())
        .collect();
    assert_eq!(uris, [MCP, REPORTS]);

    let refusals = [
        (
            vec![resource("http://mcp.loopwise.test/mcp", &[])],
            "settings.resources[0].resource",
        ),
        (
            vec![resource("https://a.test/x#f", &[])],
            "settings.resources[0].resource",
        ),
        (
            vec![resource(MCP, &[]), resource(MCP, &[])],
            "settings.resources[1].resource",
        ),
        (
            (0..33)
                .map(|i| resource(&format!("https://r{i}.test"), &[]))
                .collect(),
            "settings.resources",
        ),
    ];
    for (resources, field) in refusals {
        let status = set_resources(&app, resources).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{field}");
        assert!(
            status.message().starts_with(&format!("{field}:")),
            "{}",
            status.message()
        );
    }
    // Nothing half-written: the refused updates left the list as it was.
    let tenant = set_resources(&app, vec![resource(MCP, &[])]).await.unwrap();
    assert_eq!(tenant.resources.len(), 1);
}

async fn a_check_naming_a_resource_binds_the_token_to_it(backend: Backend) {
    let (_db, app) = crate::fresh_app!(backend);
    let idp = school(&app).await;
    set_resources(&app, vec![resource(MCP, &[]), resource(REPORTS, &[])])
        .await
        .unwrap();
    let for_mcp = token_for(&idp, MCP, "courses:read");
    let for_reports = token_for(&idp, REPORTS, "courses:read");
    let for_api = token_for(&idp, AUDIENCE, "courses:read");
    let for_both = idp.mint(&json!({ "aud": [REPORTS, MCP], "scope": "courses:read" }));

    let results = check_all(
        &app,
        SCHOOL,
        vec![
            bound("mcp", &for_mcp, op("list_courses"), MCP),
            bound("reports", &for_reports, op("list_courses"), MCP),
            bound("api", &for_api, op("list_courses"), MCP),
            bound("both", &for_both, op("list_courses"), MCP),
            // Unbound checks take any accepted audience, registered resources included.
            bound("unbound-mcp", &for_mcp, op("list_courses"), ""),
            bound("unbound-api", &for_api, op("list_courses"), ""),
        ],
    )
    .await;

    let verdicts: Vec<(&str, bool, Reason)> = results
        .iter()
        .map(|r| (r.correlation_id.as_str(), r.allowed, r.reason()))
        .collect();
    assert_eq!(
        verdicts,
        [
            ("mcp", true, Reason::Allowed),
            ("reports", false, Reason::TokenInactive),
            ("api", false, Reason::TokenInactive),
            ("both", true, Reason::Allowed),
            ("unbound-mcp", true, Reason::Allowed),
            ("unbound-api", true, Reason::Allowed),
        ]
    );
    for wrong in &results[1..3] {
        assert_eq!(wrong.http_status, 401);
        assert_eq!(
            wrong.explain.as_ref().unwrap().token_outcome,
            "wrong_audience"
        );
        assert_eq!(params(&wrong.www_authenticate)["error"], "invalid_token");
    }
}

async fn denials_for_a_resource_carry_mcp_grade_challenges(backend: Backend) {
    let (_db, app) = crate::fresh_app!(backend);
    let idp = school(&app).await;
    let lacking = token_for(&idp, MCP, "offline_access students:read");

    let results = check_all(
        &app,
        SCHOOL,
        vec![
            bound("no-token", "", op("list_courses"), MCP),
            bound(
                "wrong-aud",
                &token_for(&idp, AUDIENCE, ""),
                op("list_courses"),
                MCP,
            ),
            bound("lacking", &lacking, op("list_courses"), MCP),
            bound("plain", &lacking, op("list_courses"), ""),
        ],
    )
    .await;

    let [no_token, wrong_aud, lacking, plain] = &results[..] else {
        panic!("four answers")
    };
    assert_eq!(
        no_token.www_authenticate,
        format!(
            r#"Bearer realm="school", scope="courses:read", resource_metadata="{MCP_METADATA}""#
        )
    );
    assert_eq!(no_token.http_status, 401);
    assert_eq!(
        wrong_aud.www_authenticate,
        format!(
            r#"Bearer realm="school", error="invalid_token", scope="courses:read", resource_metadata="{MCP_METADATA}""#
        )
    );
    // 403: the token's own scopes kept (offline_access never asked for), plus what it lacks.
    assert_eq!(lacking.http_status, 403);
    let challenge = params(&lacking.www_authenticate);
    assert_eq!(challenge["error"], "insufficient_scope");
    assert_eq!(challenge["scope"], "courses:read students:read");
    assert_eq!(challenge["resource_metadata"], MCP_METADATA);
    assert!(!challenge["error_description"].is_empty());
    // The same check without a resource keeps the plain RFC 6750 form.
    assert_eq!(
        plain.www_authenticate,
        r#"Bearer realm="school", error="insufficient_scope", scope="courses:read students:read""#
    );

    // Granted scopes bound to a resource: no token to bind, the challenge still points at it.
    let mut granted = granted_check("granted", &["students:read"], "", all_of(&["courses:read"]));
    granted.resource = MCP.to_owned();
    let results = check_all(&app, SCHOOL, vec![granted]).await;
    assert_eq!(
        params(&results[0].www_authenticate)["resource_metadata"],
        MCP_METADATA
    );
}

async fn a_resource_the_tenant_does_not_protect_is_an_invalid_check(backend: Backend) {
    let (_db, app) = crate::fresh_app!(backend);
    let idp = school(&app).await;
    let token = token_for(&idp, "https://other.test/mcp", "courses:read");

    let results = check_all(
        &app,
        SCHOOL,
        vec![
            bound(
                "unregistered",
                &token,
                op("list_courses"),
                "https://other.test/mcp",
            ),
            bound(
                "malformed",
                &token,
                op("list_courses"),
                "mcp.loopwise.test/mcp",
            ),
            bound(
                "fragment",
                &token,
                op("list_courses"),
                "https://mcp.loopwise.test/mcp#x",
            ),
            bound("no-token", "", op("list_courses"), "https://other.test/mcp"),
        ],
    )
    .await;

    for result in &results {
        let error = result
            .error
            .as_ref()
            .unwrap_or_else(|| panic!("{result:?}"));
        assert_eq!(
            error.code,
            Code::InvalidArgument as i32,
            "{}",
            result.correlation_id
        );
        assert_eq!(error.field, "resource", "{}", result.correlation_id);
        assert!(!result.allowed);
    }
}

async fn the_metadata_document_lists_the_resources_discoverable_scopes(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (app, base) = with_http(&db).await;
    school(&app).await;
    let http = reqwest::Client::new();

    // The loopwise preset's example MCP server: every tool's scopes, nothing reserved.
    let url = format!("{base}/t/{SCHOOL}/.well-known/oauth-protected-resource/mcp");
    let answer = http.get(&url).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let document: Value = answer.json().await.unwrap();
    assert_eq!(document["resource"], MCP);
    assert_eq!(
        document["authorization_servers"],
        json!(["https://id.school.test"])
    );
    assert_eq!(document["bearer_methods_supported"], json!(["header"]));
    assert_eq!(document["resource_name"], "Loopwise MCP server");
    let scopes: Vec<&str> = document["scopes_supported"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        scopes.contains(&"courses:read") && scopes.contains(&"school:read"),
        "{scopes:?}"
    );
    assert!(
        !scopes
            .iter()
            .any(|s| s.starts_with("admin") || *s == "offline_access" || *s == "openid"),
        "{scopes:?}"
    );

    // The gRPC form answers the same document.
    let grpc = decision(&app)
        .get_resource_metadata(GetResourceMetadataRequest {
            tenant: SCHOOL.to_owned(),
            resource: MCP.to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(grpc.scopes_supported, scopes);
    assert_eq!(grpc.metadata_url, MCP_METADATA);
    assert_eq!(serde_json::from_str::<Value>(&grpc.json).unwrap(), document);

    // A resource limited to some operations lists only their scopes.
    set_resources(&app, vec![resource(REPORTS, &["get_settings"])])
        .await
        .unwrap();
    let root = format!("{base}/t/{SCHOOL}/.well-known/oauth-protected-resource");
    let document: Value = http.get(&root).send().await.unwrap().json().await.unwrap();
    assert_eq!(document["resource"], REPORTS);
    assert_eq!(
        document["scopes_supported"],
        json!(["appearance:read", "school:read"])
    );

    // Gone, unknown and malformed: 404 and NOT_FOUND / INVALID_ARGUMENT.
    for missing in [
        url.clone(),
        format!("{base}/t/nobody/.well-known/oauth-protected-resource"),
        format!("{base}/t/NOT%20A%20TENANT/.well-known/oauth-protected-resource"),
    ] {
        let status = http.get(&missing).send().await.unwrap().status();
        assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
    }
    let mut client = decision(&app);
    for (uri, code) in [
        (MCP, Code::NotFound),
        ("ftp://x/y", Code::InvalidArgument),
        ("", Code::InvalidArgument),
    ] {
        let request = GetResourceMetadataRequest {
            tenant: SCHOOL.to_owned(),
            resource: uri.to_owned(),
        };
        let status = client.get_resource_metadata(request).await.unwrap_err();
        assert_eq!(status.code(), code, "{uri}");
    }
}

/// An ext_authz `Check` shaped as Envoy sends it.
fn envoy_check(token: Option<&str>, extensions: &[(&str, &str)]) -> CheckRequest {
    let mut headers = HashMap::from([(":path".to_owned(), "/mcp".to_owned())]);
    if let Some(token) = token {
        headers.insert("authorization".to_owned(), format!("Bearer {token}"));
    }
    CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(EnvoyRequest {
                http: Some(HttpRequest {
                    method: "POST".to_owned(),
                    headers,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            context_extensions: extensions
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..Default::default()
        }),
    }
}

async fn forward_auth_and_ext_authz_bind_tokens_to_the_route_resource(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (app, base) = with_http(&db).await;
    let idp = school(&app).await;
    let http = reqwest::Client::new();
    let authorize = |token: &str, resource: &str| {
        http.get(format!("{base}/v1/authorize"))
            .header("X-Scopegate-Tenant", SCHOOL)
            .header("X-Scopegate-Operation", "list_courses")
            .header("X-Scopegate-Resource", resource)
            .bearer_auth(token)
            .send()
    };

    let right = token_for(&idp, MCP, "courses:read");
    let wrong = token_for(&idp, AUDIENCE, "courses:read");
    assert_eq!(
        authorize(&right, MCP).await.unwrap().status(),
        StatusCode::OK
    );
    let refused = authorize(&wrong, MCP).await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let challenge = refused.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(params(&challenge)["resource_metadata"], MCP_METADATA);
    assert_eq!(params(&challenge)["scope"], "courses:read");
    // A route naming a resource the tenant does not protect is misconfigured: never an allow.
    let misconfigured = authorize(&right, "https://other.test/mcp").await.unwrap();
    assert_eq!(misconfigured.status(), StatusCode::INTERNAL_SERVER_ERROR);

    let mut envoy = AuthorizationClient::new(app.channel.clone());
    let route = [
        ("tenant", SCHOOL),
        ("operation", "list_courses"),
        ("resource", MCP),
    ];
    let allowed = envoy
        .check(envoy_check(Some(&right), &route))
        .await
        .unwrap()
        .into_inner();
    assert!(matches!(
        allowed.http_response,
        Some(HttpResponse::OkResponse(_))
    ));
    let denied = envoy
        .check(envoy_check(Some(&wrong), &route))
        .await
        .unwrap()
        .into_inner();
    let Some(HttpResponse::DeniedResponse(denied)) = denied.http_response else {
        panic!("denied")
    };
    assert_eq!(denied.status.unwrap().code, 401);
    let challenge = denied
        .headers
        .iter()
        .filter_map(|h| h.header.as_ref())
        .find(|h| h.key == "www-authenticate")
        .map(|h| h.value.clone())
        .unwrap();
    assert_eq!(params(&challenge)["resource_metadata"], MCP_METADATA);
}

async fn removing_a_resource_takes_effect_on_the_next_check(backend: Backend) {
    let (_db, app) = crate::fresh_app!(backend);
    let idp = school(&app).await;
    let token = token_for(&idp, MCP, "courses:read");
    let check = || bound("c", &token, op("list_courses"), MCP);
    let first: Vec<CheckResult> = check_all(&app, SCHOOL, vec![check()]).await;
    assert!(first[0].allowed, "{:?}", first[0]);

    set_resources(&app, Vec::new()).await.unwrap();

    let bound_check = check_all(&app, SCHOOL, vec![check()]).await;
    let error = bound_check[0]
        .error
        .as_ref()
        .expect("no longer a resource of the tenant");
    assert_eq!(error.field, "resource");
    // Nor is the URI an accepted audience any more: the cached verification is not reused.
    let unbound = check_all(
        &app,
        SCHOOL,
        vec![bound("u", &token, op("list_courses"), "")],
    )
    .await;
    assert_eq!(
        unbound[0].reason(),
        Reason::TokenInactive,
        "{:?}",
        unbound[0]
    );
}

async fn authzen_resources_bind_tokens_and_narrow_the_action_search(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (app, base) = with_http(&db).await;
    let idp = school(&app).await;
    set_resources(
        &app,
        vec![resource(MCP, &[]), resource(REPORTS, &["get_settings"])],
    )
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| http.post(format!("{base}{path}")).json(&body).send();
    let target =
        |uri: &str| json!({ "type": "resource", "id": uri, "properties": { "tenant": SCHOOL } });
    let evaluation = |token: &str, uri: &str| {
        json!({
            "subject": { "type": "token", "id": token },
            "action": { "name": "list_courses" },
            "resource": target(uri),
        })
    };
    let right = token_for(&idp, MCP, "courses:read school:read");
    let wrong = token_for(&idp, AUDIENCE, "courses:read school:read");

    let mut permit: Value = post("/access/v1/evaluation", evaluation(&right, MCP))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    crate::decision_log::take_decision_id(&mut permit);
    assert_eq!(permit, json!({ "decision": true }));
    let deny: Value = post("/access/v1/evaluation", evaluation(&wrong, MCP))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(deny["decision"], false);
    assert_eq!(deny["context"]["http_status"], 401);
    let challenge = deny["context"]["www_authenticate"].as_str().unwrap();
    assert_eq!(params(challenge)["resource_metadata"], MCP_METADATA);
    let unregistered = post(
        "/access/v1/evaluation",
        evaluation(&right, "https://other.test/mcp"),
    )
    .await
    .unwrap();
    assert_eq!(unregistered.status(), StatusCode::BAD_REQUEST);
    let error: Value = unregistered.json().await.unwrap();
    assert!(
        error["error_description"]
            .as_str()
            .unwrap()
            .starts_with("resource.id:"),
        "{error}"
    );

    // The action search for a resource lists only its operations, for a token bound to it.
    let search = |token: &str, uri: &str| json!({ "subject": { "type": "token", "id": token }, "resource": target(uri) });
    let for_reports = token_for(&idp, REPORTS, "courses:read school:read");
    let listed: Value = post("/access/v1/search/action", search(&for_reports, REPORTS))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed["results"],
        json!([{ "name": "get_settings" }]),
        "{listed}"
    );
    let unbound: Value = post("/access/v1/search/action", search(&right, REPORTS))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(unbound["results"], json!([]), "{unbound}");
    assert_eq!(unbound["context"]["http_status"], 401, "{unbound}");
}
