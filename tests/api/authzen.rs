//! OpenID AuthZEN Authorization API 1.0 on the HTTP door: single and batched evaluations
//! answered as `CheckScopes` answers the same checks, the three batch semantics, the action
//! search ("what can this token do") in pages, granted-scopes subjects, refusals that name the
//! field, the batch cap, the request id, and the PDP metadata.
// The bodies are plain async fns stamped out by `backend_tests!`, which clippy does not see as
// tests: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use reqwest::StatusCode;
use scopegate::pb::{CheckResult, Reason};
use serde_json::{Value, json};

use crate::{
    backend_tests,
    decision::{
        SCHOOL, check_one, granted_check, op, register_client, school, token_check, token_with,
    },
    decision_log::take_decision_id,
    helpers::{Backend, TestApp, TestDb, create_tenant},
    http_door::with_http,
    outage::behind_proxy,
    tokens::{Idp, now},
};

backend_tests!(
    an_evaluation_answers_as_check_scopes_does,
    evaluations_answer_every_item_in_order_with_top_level_defaults,
    each_evaluations_semantic_stops_where_the_spec_says,
    no_evaluations_array_is_one_evaluation,
    action_search_lists_exactly_the_operations_the_token_may_call_in_pages,
    a_scopes_subject_is_decided_as_check_scopes_granted_scopes,
    bad_input_is_400_naming_the_field_and_quoting_none_of_it,
    a_batch_item_of_its_own_mistakes_fails_alone,
    batches_are_capped_at_100_and_bodies_at_64_kib,
    the_request_id_is_echoed_when_it_is_short_visible_ascii,
    the_well_known_configuration_names_working_endpoints,
);

/// A server with the HTTP door and the `school` tenant (`loopwise` preset).
async fn school_door(db: &TestDb) -> (TestApp, String, Idp) {
    let (app, base) = with_http(db).await;
    let idp = school(&app).await;
    (app, base, idp)
}

/// POSTs `body` to `path`; the status and the JSON answer.
async fn post(base: &str, path: &str, body: &Value) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let mut answer: Value = response.json().await.unwrap();
    if path.contains("evaluation") && status == StatusCode::OK {
        without_decision_ids(&mut answer);
    }
    (status, answer)
}

/// Checks that every decision in `answer` (one, or each of `evaluations`) has its own
/// `context.decision_id`, a UUID v7, and takes them out so answers compare by what was decided.
/// An item refused as bad input (`context.error`) was not decided and has none.
fn without_decision_ids(answer: &mut Value) {
    let decisions: Vec<&mut Value> = match answer.get_mut("evaluations") {
        Some(Value::Array(items)) => items.iter_mut().collect(),
        _ => vec![answer],
    };
    let mut seen = std::collections::HashSet::new();
    for decision in decisions {
        if decision["context"].get("error").is_some() {
            assert!(decision["context"].get("decision_id").is_none());
            continue;
        }
        assert!(seen.insert(take_decision_id(decision)), "distinct ids");
    }
}

/// One evaluation of a token subject for `action` on the school tenant.
fn token_evaluation(token: &str, action: &str) -> Value {
    json!({
        "subject": { "type": "token", "id": token },
        "action": { "name": action },
        "resource": { "type": "tenant", "id": SCHOOL },
    })
}

/// The decision `CheckScopes` reached, in the AuthZEN form this door promises.
fn as_authzen(result: &CheckResult) -> Value {
    if result.allowed {
        return json!({ "decision": true });
    }
    let reason = Reason::try_from(result.reason).unwrap().as_str_name();
    let mut context = json!({
        "reason": reason.trim_start_matches("REASON_"),
        "www_authenticate": result.www_authenticate,
        "http_status": result.http_status,
    });
    if !result.missing.is_empty() {
        context["missing"] = json!(result.missing);
    }
    json!({ "decision": false, "context": context })
}

async fn an_evaluation_answers_as_check_scopes_does(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (app, base, idp) = school_door(&db).await;
    let reader = token_with(&idp, "school:read");
    let courses = token_with(&idp, "courses:read");
    let expired = idp.mint(&json!({ "scope": "school:read", "exp": now() - 3600 }));
    let cases = [
        (reader.as_str(), "get_settings"),
        (courses.as_str(), "get_settings"),
        (expired.as_str(), "get_settings"),
        (courses.as_str(), "no_such_tool"),
    ];

    for (token, action) in cases {
        let (status, answer) = post(
            &base,
            "/access/v1/evaluation",
            &token_evaluation(token, action),
        )
        .await;
        let checked = check_one(&app, token_check("c", token, op(action))).await;

        assert_eq!(status, StatusCode::OK, "a denial is still a 200");
        assert_eq!(answer, as_authzen(&checked), "{action}");
    }
    let (_, permit) = post(
        &base,
        "/access/v1/evaluation",
        &token_evaluation(&reader, "get_settings"),
    )
    .await;
    let (_, insufficient) = post(
        &base,
        "/access/v1/evaluation",
        &token_evaluation(&courses, "get_settings"),
    )
    .await;
    let (_, inactive) = post(
        &base,
        "/access/v1/evaluation",
        &token_evaluation(&expired, "get_settings"),
    )
    .await;
    let mut elsewhere = token_evaluation(&reader, "get_settings");
    elsewhere["resource"]["id"] = json!("nowhere");
    let (_, unknown_tenant) = post(&base, "/access/v1/evaluation", &elsewhere).await;
    assert_eq!(permit, json!({ "decision": true }));
    assert_eq!(insufficient["context"]["reason"], "INSUFFICIENT_SCOPE");
    assert_eq!(insufficient["context"]["http_status"], 403);
    assert_eq!(insufficient["context"]["missing"], json!(["school:read"]));
    let challenge = insufficient["context"]["www_authenticate"]
        .as_str()
        .unwrap();
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert_eq!(inactive["context"]["reason"], "TOKEN_INACTIVE");
    assert_eq!(inactive["context"]["http_status"], 401);
    assert_eq!(unknown_tenant["decision"], false);
    assert_eq!(unknown_tenant["context"]["reason"], "TENANT_NOT_FOUND");
    assert_eq!(unknown_tenant["context"]["http_status"], 401);
}

async fn evaluations_answer_every_item_in_order_with_top_level_defaults(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (_app, base, idp) = school_door(&db).await;
    let token = token_with(&idp, "school:read posts:read");
    let actions = [
        ("get_settings", true),
        ("list_courses", false),
        ("list_posts", true),
        ("create_post", false),
        ("get_site_info", true),
        ("get_post", true),
        ("list_orders", false),
        ("no_such_tool", false),
        ("update_settings", false),
        ("get_settings", true),
    ];
    let items: Vec<Value> = actions
        .iter()
        .map(|(name, _)| json!({ "action": { "name": name } }))
        .collect();

    let (status, answer) = post(
        &base,
        "/access/v1/evaluations",
        &json!({
            "subject": { "type": "token", "id": token },
            "resource": { "type": "tenant", "id": SCHOOL },
            "context": { "time": "2026-01-11T00:00:00Z" },
            "evaluations": items,
        }),
    )
    .await;

    assert_eq!(status, StatusCode::OK);
    let decisions: Vec<bool> = answer["evaluations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["decision"].as_bool().unwrap())
        .collect();
    let expected: Vec<bool> = actions.iter().map(|(_, allowed)| *allowed).collect();
    assert_eq!(decisions, expected);
    assert_eq!(
        answer["evaluations"][7]["context"]["reason"],
        "UNKNOWN_OPERATION"
    );
    assert!(
        answer.get("decision").is_none(),
        "no top-level decision in a batch answer"
    );
}

async fn each_evaluations_semantic_stops_where_the_spec_says(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (_app, base, idp) = school_door(&db).await;
    let token = token_with(&idp, "school:read");
    // permit, deny, deny, permit, deny
    let actions = [
        "get_settings",
        "list_courses",
        "list_posts",
        "get_site_info",
        "list_orders",
    ];
    let run = |semantic: Option<&str>, actions: &[&str]| {
        let mut body = json!({
            "subject": { "type": "token", "id": token },
            "resource": { "type": "tenant", "id": SCHOOL },
            "evaluations": actions
                .iter()
                .map(|name| json!({ "action": { "name": name } }))
                .collect::<Vec<_>>(),
        });
        if let Some(semantic) = semantic {
            body["options"] = json!({ "evaluations_semantic": semantic });
        }
        let base = base.clone();
        async move {
            let (status, answer) = post(&base, "/access/v1/evaluations", &body).await;
            assert_eq!(status, StatusCode::OK);
            answer["evaluations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["decision"].as_bool().unwrap())
                .collect::<Vec<bool>>()
        }
    };

    let default = run(None, &actions).await;
    let all = run(Some("execute_all"), &actions).await;
    let deny_first = run(Some("deny_on_first_deny"), &actions).await;
    let permit_first = run(Some("permit_on_first_permit"), &actions).await;
    let permit_late = run(Some("permit_on_first_permit"), &actions[1..]).await;
    let never_denied = run(
        Some("deny_on_first_deny"),
        &["get_settings", "get_site_info"],
    )
    .await;

    assert_eq!(default, [true, false, false, true, false]);
    assert_eq!(all, default);
    assert_eq!(
        deny_first,
        [true, false],
        "stops at the first denial, answering it"
    );
    assert_eq!(permit_first, [true], "stops at the first permit");
    assert_eq!(permit_late, [false, false, true]);
    assert_eq!(never_denied, [true, true]);
}

async fn no_evaluations_array_is_one_evaluation(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (_app, base, idp) = school_door(&db).await;
    let token = token_with(&idp, "school:read");
    let mut empty = token_evaluation(&token, "list_courses");
    empty["evaluations"] = json!([]);

    let (absent_status, absent) = post(
        &base,
        "/access/v1/evaluations",
        &token_evaluation(&token, "get_settings"),
    )
    .await;
    let (empty_status, empty) = post(&base, "/access/v1/evaluations", &empty).await;

    assert_eq!(absent_status, StatusCode::OK);
    assert_eq!(absent, json!({ "decision": true }));
    assert_eq!(empty_status, StatusCode::OK);
    assert_eq!(empty["decision"], false);
    assert_eq!(empty["context"]["reason"], "INSUFFICIENT_SCOPE");
    assert!(empty.get("evaluations").is_none());
}

async fn action_search_lists_exactly_the_operations_the_token_may_call_in_pages(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (_app, base, idp) = school_door(&db).await;
    let token = token_with(&idp, "school:read courses:read");
    let search = |page: Value| {
        json!({
            "subject": { "type": "token", "id": token },
            "resource": { "type": "tenant", "id": SCHOOL },
            "page": page,
        })
    };
    let names = |answer: &Value| -> Vec<String> {
        answer["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_owned())
            .collect()
    };

    let (first_status, first) = post(
        &base,
        "/access/v1/search/action",
        &search(json!({ "limit": 3 })),
    )
    .await;
    let next = first["page"]["next_token"].as_str().unwrap().to_owned();
    let (second_status, second) = post(
        &base,
        "/access/v1/search/action",
        &search(json!({ "limit": 3, "token": next })),
    )
    .await;
    let (changed_status, changed) = post(
        &base,
        "/access/v1/search/action",
        &search(json!({ "limit": 4, "token": next })),
    )
    .await;
    let (_, whole) = post(&base, "/access/v1/search/action", &search(json!({}))).await;

    assert_eq!(first_status, StatusCode::OK);
    assert_eq!(second_status, StatusCode::OK);
    assert!(!next.is_empty(), "a partial page carries a next_token");
    assert_eq!(first["page"]["count"], 3);
    assert_eq!(first["page"]["total"], 5);
    assert_eq!(
        second["page"]["next_token"], "",
        "the last page ends the result set"
    );
    assert_eq!(second["page"]["count"], 2);
    let mut paged = names(&first);
    paged.extend(names(&second));
    let expected = [
        "get_course",
        "get_settings",
        "get_site_info",
        "list_courses",
        "list_reviews",
    ];
    assert_eq!(paged, expected);
    assert_eq!(names(&whole), expected);
    assert_eq!(whole["page"]["next_token"], "");
    assert_eq!(changed_status, StatusCode::BAD_REQUEST);
    let description = changed["error_description"].as_str().unwrap();
    assert!(description.starts_with("page.token:"), "{description}");
    // What the search lists, an evaluation permits.
    let items: Vec<Value> = expected
        .iter()
        .map(|name| json!({ "action": { "name": name } }))
        .collect();
    let (_, evaluated) = post(
        &base,
        "/access/v1/evaluations",
        &json!({
            "subject": { "type": "token", "id": token },
            "resource": { "type": "tenant", "id": SCHOOL },
            "evaluations": items,
        }),
    )
    .await;
    let evaluations = evaluated["evaluations"].as_array().unwrap();
    assert_eq!(evaluations.len(), expected.len());
    assert!(
        evaluations.iter().all(|e| e["decision"] == true),
        "{evaluated}"
    );
    // An inactive token can do nothing, and says why.
    let expired = idp.mint(&json!({ "scope": "school:read", "exp": now() - 3600 }));
    let (_, refused) = post(
        &base,
        "/access/v1/search/action",
        &json!({
            "subject": { "type": "token", "id": expired },
            "resource": { "type": "tenant", "id": SCHOOL },
        }),
    )
    .await;
    assert_eq!(refused["results"], json!([]));
    assert_eq!(refused["context"]["reason"], "TOKEN_INACTIVE");
    assert_eq!(refused["context"]["http_status"], 401);
}

async fn a_scopes_subject_is_decided_as_check_scopes_granted_scopes(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (app, base, _idp) = school_door(&db).await;
    register_client(&app, "console", true, &["admin:read", "school:read"]).await;
    let scopes_subject = |client: &str, scopes: &[&str]| json!({ "type": "scopes", "id": client, "properties": { "scopes": scopes } });
    let cases: [(&str, &[&str], &str); 4] = [
        ("web-app", &["school:read"], "get_settings"),
        ("web-app", &["courses:read"], "get_settings"),
        ("web-app", &["admin:read", "courses:read"], "list_courses"),
        ("console", &["admin:read"], "get_settings"),
    ];

    for (client, scopes, action) in cases {
        let body = json!({
            "subject": scopes_subject(client, scopes),
            "action": { "name": action },
            "resource": { "type": "tenant", "id": SCHOOL },
        });
        let (status, answer) = post(&base, "/access/v1/evaluation", &body).await;
        let checked = check_one(&app, granted_check("g", scopes, client, op(action))).await;

        assert_eq!(status, StatusCode::OK);
        assert_eq!(answer, as_authzen(&checked), "{client} {scopes:?} {action}");
    }
    let (_, listed) = post(
        &base,
        "/access/v1/search/action",
        &json!({
            "subject": scopes_subject("web-app", &["appearance:read"]),
            "resource": { "type": "tenant", "id": SCHOOL },
        }),
    )
    .await;
    assert_eq!(listed["results"], json!([{ "name": "get_settings" }]));
}

async fn bad_input_is_400_naming_the_field_and_quoting_none_of_it(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (_app, base, idp) = school_door(&db).await;
    let token = token_with(&idp, "school:read");
    let valid = token_evaluation(&token, "get_settings");
    let secret = "Z".repeat(5000);
    let with = |pointer: &str, value: Value| {
        let mut body = valid.clone();
        *body.pointer_mut(pointer).unwrap() = value;
        body
    };
    let set = |key: &str, value: Value| {
        let mut body = valid.clone();
        body[key] = value;
        body
    };
    let without = |key: &str| {
        let mut body = valid.clone();
        body.as_object_mut().unwrap().remove(key);
        body
    };
    let cases = [
        (json!([1, 2]), "body"),
        (with("/subject/type", json!(secret)), "subject.type"),
        (with("/subject/id", json!(7)), "subject.id"),
        (without("action"), "action"),
        (with("/action", json!({ "name": "" })), "action.name"),
        (with("/action/name", json!(secret)), "action.name"),
        (with("/resource/type", json!("building")), "resource.type"),
        // A resource names its URI and, in its properties, its tenant.
        (with("/resource/type", json!("resource")), "resource.id"),
        (
            set(
                "resource",
                json!({ "type": "resource", "id": "https://mcp.school.test/mcp" }),
            ),
            "resource.properties.tenant",
        ),
        (with("/resource/id", json!("Not A Tenant")), "resource.id"),
        (set("context", json!("now")), "context"),
        (
            with(
                "/subject",
                json!({ "type": "scopes", "id": "web-app", "properties": { "scopes": ["ok", "not ok"] } }),
            ),
            "subject.properties.scopes[1]",
        ),
    ];

    for (body, field) in cases {
        let (status, answer) = post(&base, "/access/v1/evaluation", &body).await;

        assert_eq!(status, StatusCode::BAD_REQUEST, "{field}");
        assert_eq!(answer["error"], "invalid_request");
        let description = answer["error_description"].as_str().unwrap();
        assert!(
            description.starts_with(&format!("{field}: ")),
            "{field}: {description}"
        );
        assert!(!description.contains("ZZZZ"), "input echoed: {description}");
    }
    let not_json = reqwest::Client::new()
        .post(format!("{base}/access/v1/evaluation"))
        .header("content-type", "application/json")
        .body("{\"subject\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    let (semantic_status, semantic) = post(
        &base,
        "/access/v1/evaluations",
        &json!({ "options": { "evaluations_semantic": "first_come" }, "evaluations": [valid] }),
    )
    .await;
    assert_eq!(semantic_status, StatusCode::BAD_REQUEST);
    assert!(
        semantic["error_description"]
            .as_str()
            .unwrap()
            .starts_with("options.evaluations_semantic: ")
    );
    let (unknown_status, unknown) = post(
        &base,
        "/access/v1/evaluation",
        &with("/resource/type", json!("building")),
    )
    .await;
    assert_eq!(unknown_status, StatusCode::BAD_REQUEST);
    assert!(
        unknown["error_description"]
            .as_str()
            .unwrap()
            .contains("must be tenant or resource")
    );
}

async fn a_batch_item_of_its_own_mistakes_fails_alone(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (_app, base, idp) = school_door(&db).await;
    let token = token_with(&idp, "school:read");

    let (status, answer) = post(
        &base,
        "/access/v1/evaluations",
        &json!({
            "subject": { "type": "token", "id": token },
            "resource": { "type": "tenant", "id": SCHOOL },
            "evaluations": [
                { "action": { "name": "get_settings" } },
                { "action": { "name": "get_settings" }, "subject": { "type": "user", "id": "alice" } },
                {},
                { "action": { "name": "get_site_info" } },
            ],
        }),
    )
    .await;

    assert_eq!(status, StatusCode::OK);
    let evaluations = answer["evaluations"].as_array().unwrap();
    assert_eq!(evaluations.len(), 4);
    assert_eq!(evaluations[0]["decision"], true);
    assert_eq!(evaluations[1]["decision"], false);
    assert_eq!(evaluations[1]["context"]["error"]["status"], 400);
    let message = evaluations[1]["context"]["error"]["message"]
        .as_str()
        .unwrap();
    assert!(
        message.starts_with("evaluations[1].subject.type: "),
        "{message}"
    );
    let missing = evaluations[2]["context"]["error"]["message"]
        .as_str()
        .unwrap();
    assert!(missing.starts_with("evaluations[2].action: "), "{missing}");
    assert_eq!(evaluations[3]["decision"], true);
}

async fn batches_are_capped_at_100_and_bodies_at_64_kib(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (_app, base, idp) = school_door(&db).await;
    let token = token_with(&idp, "school:read");
    let batch = |n: usize| {
        json!({
            "subject": { "type": "token", "id": token },
            "resource": { "type": "tenant", "id": SCHOOL },
            "evaluations": vec![json!({ "action": { "name": "get_settings" } }); n],
        })
    };

    let (full_status, full) = post(&base, "/access/v1/evaluations", &batch(100)).await;
    let (over_status, over) = post(&base, "/access/v1/evaluations", &batch(101)).await;
    let mut huge = token_evaluation(&token, "get_settings");
    huge["context"] = json!({ "padding": "x".repeat(70 * 1024) });
    let too_large = reqwest::Client::new()
        .post(format!("{base}/access/v1/evaluation"))
        .json(&huge)
        .send()
        .await
        .unwrap();

    assert_eq!(full_status, StatusCode::OK);
    assert_eq!(full["evaluations"].as_array().unwrap().len(), 100);
    assert_eq!(over_status, StatusCode::BAD_REQUEST);
    assert!(
        over["error_description"]
            .as_str()
            .unwrap()
            .starts_with("evaluations: at most 100")
    );
    assert_eq!(too_large.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

async fn the_request_id_is_echoed_when_it_is_short_visible_ascii(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (_app, base, idp) = school_door(&db).await;
    let body = token_evaluation(&token_with(&idp, "school:read"), "get_settings");
    let send = |id: String| {
        reqwest::Client::new()
            .post(format!("{base}/access/v1/evaluation"))
            .header("x-request-id", id)
            .json(&body)
            .send()
    };

    let short = send("bfe9eb29-ab87-4ca3-be83-a1d5d8305716".into())
        .await
        .unwrap();
    let long = send("a".repeat(129)).await.unwrap();
    let spaced = send("two words".into()).await.unwrap();
    let refused = reqwest::Client::new()
        .post(format!("{base}/access/v1/evaluation"))
        .header("x-request-id", "req-400")
        .json(&json!({}))
        .send()
        .await
        .unwrap();

    assert_eq!(
        short.headers()["x-request-id"],
        "bfe9eb29-ab87-4ca3-be83-a1d5d8305716"
    );
    assert!(long.headers().get("x-request-id").is_none());
    assert!(spaced.headers().get("x-request-id").is_none());
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert_eq!(refused.headers()["x-request-id"], "req-400");
}

async fn the_well_known_configuration_names_working_endpoints(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (_app, base, idp) = school_door(&db).await;
    let token = token_with(&idp, "school:read");

    let response = reqwest::get(format!("{base}/.well-known/authzen-configuration"))
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let metadata: Value = response.json().await.unwrap();
    assert_eq!(metadata["policy_decision_point"], base);
    assert_eq!(
        metadata["access_evaluation_endpoint"],
        format!("{base}/access/v1/evaluation")
    );
    assert!(metadata.get("search_subject_endpoint").is_none());
    assert!(metadata.get("search_resource_endpoint").is_none());
    let evaluation = token_evaluation(&token, "get_settings");
    for endpoint in [
        "access_evaluation_endpoint",
        "access_evaluations_endpoint",
        "search_action_endpoint",
    ] {
        let url = metadata[endpoint].as_str().unwrap();
        let answered = reqwest::Client::new()
            .post(url)
            .json(&evaluation)
            .send()
            .await
            .unwrap();
        assert_eq!(answered.status(), StatusCode::OK, "{endpoint}");
    }
}

#[tokio::test]
#[cfg_attr(
    not(scopegate_pg),
    ignore = "set SCOPEGATE_TEST_POSTGRES_URL to run the Postgres half"
)]
async fn a_store_that_cannot_answer_is_503_for_the_whole_call() {
    // Nothing may stand in for the store: every call needs it.
    let Some((_db, proxy, app)) = behind_proxy(|c| {
        c.http_listen = Some("127.0.0.1:0".parse().unwrap());
        c.catalog_ttl = Duration::ZERO;
        c.stale_if_error = Duration::ZERO;
    })
    .await
    else {
        return;
    };
    create_tenant(&app, SCHOOL, "loopwise").await;
    let base = format!("http://{}", app.http_addr.unwrap());
    let one = json!({
        "subject": { "type": "scopes", "id": "", "properties": { "scopes": ["school:read"] } },
        "action": { "name": "get_settings" },
        "resource": { "type": "tenant", "id": SCHOOL },
    });
    let mut batch = one.clone();
    batch["evaluations"] = json!([{}, { "action": { "name": "list_courses" } }]);
    let (before, _) = post(&base, "/access/v1/evaluation", &one).await;

    proxy.cut();
    let (single, answer) = post(&base, "/access/v1/evaluation", &one).await;
    let (batched, _) = post(&base, "/access/v1/evaluations", &batch).await;
    proxy.restore();

    assert_eq!(before, StatusCode::OK);
    assert_eq!(single, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer["error"], "temporarily_unavailable");
    assert_eq!(batched, StatusCode::SERVICE_UNAVAILABLE);
}
