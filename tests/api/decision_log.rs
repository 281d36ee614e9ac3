//! Decision ids and the decision log: every door names each decision with a distinct UUID v7
//! (CheckScopes results, ext_authz headers and metadata, forward-auth headers, AuthZEN
//! contexts); `--decision-log` writes one JSON line per denied (or every) decision with its
//! facts and never the token; a full queue drops and counts without failing a decision; the
//! file rotates by size; a file that cannot be opened refuses the start, naming it.

use std::{collections::HashSet, path::Path};

use reqwest::StatusCode;
use scopegate::{
    app::App,
    config::Config,
    decision_log::Mode,
    pb::{CheckResult, CheckScopesRequest},
};
use serde_json::{Value, json};

use crate::{
    decision::{SCHOOL, all_of, decision, granted_check, op, school, token_check, token_with},
    ext_authz::{bearer, denied, denied_header, envoy_check, ext_authz, ok, set_headers},
    helpers::{Backend, TestApp, TestDb, test_config},
};

/// The header every gateway door names its decision in.
const ID_HEADER: &str = "x-scopegate-decision-id";

/// A server with the HTTP door whose decision log is `mode`, written to `file`.
async fn logging(
    db: &TestDb,
    mode: Mode,
    file: &Path,
    adjust: impl FnOnce(&mut Config),
) -> TestApp {
    let mut config = test_config(&db.url);
    config.http_listen = Some("127.0.0.1:0".parse().unwrap());
    config.decision_log.mode = mode;
    config.decision_log.file = Some(file.to_owned());
    adjust(&mut config);
    TestApp::start(config).await
}

/// Asserts `id` is a canonical UUID v7 and returns it.
pub fn v7(id: &str) -> String {
    let parsed = uuid::Uuid::parse_str(id).unwrap_or_else(|e| panic!("{id:?}: {e}"));
    assert_eq!(parsed.get_version_num(), 7, "{id}");
    assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122, "{id}");
    assert_eq!(parsed.hyphenated().to_string(), id, "canonical form");
    id.to_owned()
}

/// Takes an AuthZEN decision's `context.decision_id` out (a context left empty goes too),
/// checking it is a UUID v7; returns it.
pub fn take_decision_id(answer: &mut Value) -> String {
    let context = answer["context"].as_object_mut().expect("a context");
    let id = context
        .remove("decision_id")
        .and_then(|id| id.as_str().map(str::to_owned))
        .expect("context.decision_id");
    if context.is_empty() {
        answer.as_object_mut().unwrap().remove("context");
    }
    v7(&id)
}

/// The log's events: every line of `file` as JSON.
fn events(file: &Path) -> Vec<Value> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}")))
        .collect()
}

async fn check_batch(app: &TestApp, checks: Vec<scopegate::pb::Check>) -> Vec<CheckResult> {
    let request = CheckScopesRequest {
        tenant: SCHOOL.to_owned(),
        checks,
        explain: false,
    };
    decision(app)
        .check_scopes(request)
        .await
        .unwrap()
        .into_inner()
        .results
}

#[tokio::test]
async fn every_door_names_each_decision_with_a_distinct_uuid_v7_and_all_logs_each_once() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("decisions.jsonl");
    let app = logging(&db, Mode::All, &file, |_| {}).await;
    let base = format!("http://{}", app.http_addr.unwrap());
    let idp = school(&app).await;
    let reader = token_with(&idp, "school:read");
    let other = token_with(&idp, "courses:read");
    // (id, door, allowed) of every decision made.
    let mut made: Vec<(String, &str, bool)> = Vec::new();

    // CheckScopes: one id per check, a failed check included.
    let results = check_batch(
        &app,
        vec![
            token_check("a", &reader, op("get_settings")),
            token_check("b", &other, op("get_settings")),
            granted_check("c", &["school:read"], "", all_of(&["bad scope"])),
        ],
    )
    .await;
    assert!(results[2].error.is_some());
    for result in &results {
        made.push((v7(&result.decision_id), "check_scopes", result.allowed));
    }

    // Envoy ext_authz: upstream header and metadata on allow, client header and metadata on
    // deny.
    let route = [("tenant", SCHOOL), ("operation", "get_settings")];
    for (token, allowed) in [(&reader, true), (&other, false)] {
        let response = ext_authz(
            &app,
            envoy_check(&route, &[("authorization", &bearer(token))]),
        )
        .await
        .unwrap();
        let id = if allowed {
            set_headers(ok(&response))[ID_HEADER].to_owned()
        } else {
            denied_header(denied(&response), ID_HEADER)
                .unwrap()
                .to_owned()
        };
        let metadata = &response.dynamic_metadata.as_ref().unwrap().fields;
        let Some(envoy_types::pb::google::protobuf::value::Kind::StringValue(in_metadata)) =
            &metadata["decision_id"].kind
        else {
            panic!("no decision_id in the metadata")
        };
        assert_eq!(in_metadata, &id);
        made.push((v7(&id), "ext_authz", allowed));
    }

    // Forward auth: 200, 401 and 403 all carry it.
    let http = reqwest::Client::new();
    let url = format!("{base}/v1/authorize?tenant=school&operation=get_settings");
    for (token, status) in [
        (Some(&reader), StatusCode::OK),
        (None, StatusCode::UNAUTHORIZED),
        (Some(&other), StatusCode::FORBIDDEN),
    ] {
        let mut request = http.get(&url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), status);
        let id = response.headers()[ID_HEADER].to_str().unwrap();
        made.push((v7(id), "forward_auth", status == StatusCode::OK));
    }

    // AuthZEN: one per evaluation, per item in a batch.
    let evaluation = |token: &str| {
        json!({
            "subject": { "type": "token", "id": token },
            "action": { "name": "get_settings" },
            "resource": { "type": "tenant", "id": SCHOOL },
        })
    };
    let mut single: Value = http
        .post(format!("{base}/access/v1/evaluation"))
        .json(&evaluation(&reader))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    made.push((take_decision_id(&mut single), "authzen", true));
    assert_eq!(single, json!({ "decision": true }));
    let mut batch: Value = http
        .post(format!("{base}/access/v1/evaluations"))
        .json(&json!({ "evaluations": [evaluation(&other), evaluation(&reader)] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for (item, allowed) in batch["evaluations"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .zip([false, true])
    {
        assert_eq!(item["decision"], allowed);
        made.push((take_decision_id(item), "authzen", allowed));
    }

    let ids: HashSet<&str> = made.iter().map(|(id, _, _)| id.as_str()).collect();
    assert_eq!(ids.len(), made.len(), "distinct ids: {made:?}");
    app.stop().await.unwrap();
    let logged = events(&file);
    assert_eq!(logged.len(), made.len(), "{logged:#?}");
    for (id, door, allowed) in &made {
        let event = logged
            .iter()
            .find(|e| e["decision_id"] == id.as_str())
            .unwrap_or_else(|| panic!("{id} ({door}) not logged"));
        assert_eq!(event["door"], *door, "{event}");
        assert_eq!(event["allowed"], *allowed, "{event}");
    }
}

#[tokio::test]
async fn denied_logs_denials_only_and_off_logs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for mode in [Mode::Denied, Mode::Off] {
        let db = TestDb::new(Backend::Sqlite).await.unwrap();
        let file = dir.path().join(format!("{mode:?}.jsonl"));
        let app = logging(&db, mode, &file, |_| {}).await;
        let idp = school(&app).await;
        let reader = token_with(&idp, "school:read");
        let other = token_with(&idp, "courses:read");

        let results = check_batch(
            &app,
            vec![
                token_check("allowed", &reader, op("get_settings")),
                token_check("denied", &other, op("get_settings")),
            ],
        )
        .await;
        app.stop().await.unwrap();

        assert!(results[0].allowed && !results[1].allowed);
        let logged: Vec<Value> = events(&file)
            .into_iter()
            .map(|e| e["decision_id"].clone())
            .collect();
        match mode {
            Mode::Denied => assert_eq!(logged, [json!(results[1].decision_id)]),
            _ => assert!(logged.is_empty(), "{logged:?}"),
        }
    }
}

#[tokio::test]
async fn an_event_carries_the_decisions_facts_and_never_the_token() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("decisions.jsonl");
    let app = logging(&db, Mode::Denied, &file, |_| {}).await;
    let idp = school(&app).await;
    let token = idp.mint(&json!({ "scope": "courses:read", "sub": "teacher-7" }));

    let results = check_batch(
        &app,
        vec![
            token_check("t", &token, op("get_settings")),
            granted_check("g", &["courses:read"], "grader", all_of(&["courses:write"])),
        ],
    )
    .await;
    app.stop().await.unwrap();

    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains(&token), "the token is never logged");
    let signature = token.rsplit('.').next().unwrap();
    assert!(!text.contains(signature), "nor any part of it");
    let logged = events(&file);
    assert_eq!(logged.len(), 2);
    let (by_token, by_grant) = (&logged[0], &logged[1]);
    let time = by_token["time"].as_str().unwrap();
    assert!(
        time.len() == 24 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
        "RFC 3339 UTC with milliseconds: {time}"
    );
    let facts = |event: &Value| {
        let mut event = event.clone();
        event.as_object_mut().unwrap().remove("time");
        event
    };
    assert_eq!(
        facts(by_token),
        json!({
            "decision_id": results[0].decision_id,
            "door": "check_scopes",
            "tenant": SCHOOL,
            "caller": null,
            "subject": "teacher-7",
            "client_id": "web-app",
            "requirement": { "operation": "get_settings" },
            "allowed": false,
            "reason": "INSUFFICIENT_SCOPE",
            "missing": results[0].missing,
            "catalog_revision": results[0].catalog_revision,
            "token_fingerprint": scopegate::token::token_fingerprint(&token),
            "trace_id": null,
        })
    );
    assert!(!results[0].missing.is_empty());
    assert_eq!(by_grant["decision_id"], results[1].decision_id.as_str());
    assert_eq!(by_grant["subject"], Value::Null);
    assert_eq!(by_grant["client_id"], "grader");
    assert_eq!(
        by_grant["requirement"],
        json!({ "all_of": ["courses:write"] })
    );
    assert_eq!(by_grant["token_fingerprint"], Value::Null);
    assert_eq!(by_grant["reason"], "INSUFFICIENT_SCOPE");
}

#[tokio::test]
async fn a_full_queue_drops_and_counts_while_every_decision_is_answered() {
    const CAPACITY: usize = 4;
    const DECISIONS: usize = 60;
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("decisions.jsonl");
    let app = logging(&db, Mode::All, &file, |config| {
        config.decision_log.queue = CAPACITY;
    })
    .await;
    let idp = school(&app).await;
    let reader = token_with(&idp, "school:read");
    let log = app.decision_log.clone();

    let hold = log.hold_writer();
    let checks = (0..DECISIONS)
        .map(|i| token_check(&i.to_string(), &reader, op("get_settings")))
        .collect();
    let results = check_batch(&app, checks).await;
    let dropped_while_held = log.dropped();
    drop(hold);
    app.stop().await.unwrap();

    assert_eq!(results.len(), DECISIONS);
    assert!(
        results
            .iter()
            .all(|r| r.allowed && !r.decision_id.is_empty())
    );
    // The writer holds at most one event while held; the queue the rest it accepted.
    let least_dropped = (DECISIONS - CAPACITY - 1) as u64;
    assert!(
        dropped_while_held >= least_dropped,
        "{dropped_while_held} dropped"
    );
    let logged = events(&file).len() as u64;
    assert_eq!(logged + log.dropped(), DECISIONS as u64);
    assert_eq!(log.dropped(), dropped_while_held, "nothing dropped after");
}

#[tokio::test]
async fn the_file_rotates_by_size_and_keeps_at_most_keep_files() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("decisions.jsonl");
    // Below one event's size: every event starts a new file.
    let app = logging(&db, Mode::Denied, &file, |config| {
        config.decision_log.max_bytes = 100;
        config.decision_log.keep = 2;
    })
    .await;
    let idp = school(&app).await;
    let other = token_with(&idp, "courses:read");

    let checks = (0..6)
        .map(|i| token_check(&i.to_string(), &other, op("get_settings")))
        .collect();
    let results = check_batch(&app, checks).await;
    app.stop().await.unwrap();

    let id_in = |path: &Path| {
        let logged = events(path);
        assert_eq!(logged.len(), 1, "{}", path.display());
        logged[0]["decision_id"].as_str().unwrap().to_owned()
    };
    let numbered = |n: usize| dir.path().join(format!("decisions.jsonl.{n}"));
    assert_eq!(id_in(&file), results[5].decision_id);
    assert_eq!(id_in(&numbered(1)), results[4].decision_id);
    assert_eq!(id_in(&numbered(2)), results[3].decision_id);
    assert!(!numbered(3).exists());
    let files = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(files, 3);
}

#[tokio::test]
async fn a_decision_log_file_that_cannot_be_opened_refuses_the_start_naming_it() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("no-such-dir").join("decisions.jsonl");
    let mut config = test_config(&db.url);
    config.decision_log.file = Some(file.clone());
    config.decision_log.mode = Mode::Denied;

    let refused = App::build(config).await.unwrap_err().to_string();

    assert!(refused.contains(&file.display().to_string()), "{refused}");
    assert!(refused.contains("decision log"), "{refused}");
}

/// `scopegate bench --spawn --server-arg …` hands its arguments to the server it spawns: here
/// the decision log of every call, to a file.
#[tokio::test]
async fn the_bench_passes_server_args_to_the_server_it_spawns() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bench-decisions.jsonl");
    let file_arg = format!("--decision-log-file={}", file.display());

    let bench = tokio::process::Command::new(env!("CARGO_BIN_EXE_scopegate"))
        .args([
            "bench",
            "--spawn",
            "--scenarios",
            "check_scopes_cached_token",
        ])
        .args(["--duration", "0.3", "--warmup", "0.1", "--concurrency", "4"])
        .args(["--cached-tokens", "20"])
        .args([
            "--server-arg",
            "--decision-log=all",
            "--server-arg",
            &file_arg,
        ])
        .env_remove("SCOPEGATE_ADMIN_KEY")
        .output()
        .await
        .unwrap();

    assert!(
        bench.status.success(),
        "{}",
        String::from_utf8_lossy(&bench.stderr)
    );
    let logged = events(&file);
    assert!(!logged.is_empty(), "the spawned server logged no decision");
    assert!(
        logged
            .iter()
            .all(|e| e["door"] == "check_scopes" && e["allowed"] == true),
        "{:?}",
        logged.first()
    );
}

/// A caller proven by its key is named in every event, on the gRPC and the HTTP doors.
#[tokio::test]
async fn a_caller_proven_by_its_key_is_named_in_its_decisions_events() {
    use scopegate::pb::{
        AddCallerKey, CallerLimits, CallerSurface, ManageCallerRequest, manage_caller_request,
        manage_caller_response,
    };
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("decisions.jsonl");
    let app = logging(&db, Mode::All, &file, |_| {}).await;
    let idp = school(&app).await;
    let token = idp.mint(&json!({ "scope": "school:read" }));
    let mut key = String::new();
    for action in [
        manage_caller_request::Action::Create(CallerLimits {
            name: "orders".into(),
            tenants: vec![SCHOOL.into()],
            all_tenants: false,
            surfaces: vec![CallerSurface::Decision as i32],
        }),
        manage_caller_request::Action::AddKey(AddCallerKey {
            name: "orders".into(),
        }),
    ] {
        let answer = app
            .admin()
            .manage_caller(crate::helpers::authed(ManageCallerRequest {
                action: Some(action),
            }))
            .await
            .unwrap()
            .into_inner();
        if let Some(manage_caller_response::Result::CreatedKey(created)) = answer.result {
            key = created.key;
        }
    }
    let mut request = tonic::Request::new(CheckScopesRequest {
        tenant: SCHOOL.to_owned(),
        checks: vec![token_check("t", &token, op("get_settings"))],
        explain: false,
    });
    request
        .metadata_mut()
        .insert("x-scopegate-caller-key", key.parse().unwrap());
    decision(&app).check_scopes(request).await.unwrap();
    let forwarded = reqwest::Client::new()
        .get(format!(
            "http://{}/v1/authorize?tenant={SCHOOL}&operation=get_settings",
            app.http_addr.unwrap()
        ))
        .bearer_auth(&token)
        .header("x-scopegate-caller-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(forwarded.status(), reqwest::StatusCode::OK);
    app.stop().await.unwrap();

    let logged = events(&file);
    let doors: Vec<_> = logged
        .iter()
        .map(|e| (e["door"].clone(), e["caller"].clone()))
        .collect();
    assert_eq!(
        doors,
        vec![
            (json!("check_scopes"), json!("orders")),
            (json!("forward_auth"), json!("orders")),
        ]
    );
    assert!(!std::fs::read_to_string(&file).unwrap().contains(&key));
}
