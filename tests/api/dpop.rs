//! DPoP-bound access tokens (RFC 9449) at every door: a token whose `cnf` carries `jkt` is
//! active only with one fresh proof signed by that key for this request and this token, sent
//! with the `DPoP` scheme; `CheckScopes` (`presentation`), Envoy ext_authz (`dpop`, `:method`,
//! `:path`, `:authority`) and forward auth (`DPoP`, `X-Forwarded-*` / `X-Original-*`) all run
//! the same check, and `Introspect` answers the token's `cnf`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use envoy_types::pb::envoy::service::auth::v3::{
    AttributeContext, CheckRequest, CheckResponse,
    attribute_context::{HttpRequest, Request as EnvoyRequest},
    authorization_client::AuthorizationClient,
    check_response::HttpResponse,
};
use jsonwebtoken::{Algorithm, EncodingKey, jwk::Jwk};
use reqwest::StatusCode;
use scopegate::pb::{
    Check, DpopSettings, HttpPresentation, IntrospectRequest, ManageTenantRequest, Reason,
    TenantSettings, UpdateTenant, check::Subject, manage_tenant_request::Action,
    manage_tenant_response, token_introspection_client::TokenIntrospectionClient,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::{
    backend_tests,
    decision::{SCHOOL, check_all, op, school},
    helpers::{Backend, TestApp, TestDb, authed},
    http_door::with_http,
};

backend_tests!(
    a_dpop_bound_token_passes_check_scopes_only_with_a_valid_fresh_proof,
    bad_proofs_are_refused_each_with_its_own_outcome,
    ext_authz_and_forward_auth_check_the_proof_against_the_original_request,
    introspect_answers_cnf_and_checks_a_proof_when_given_one,
    a_proof_replayed_concurrently_is_accepted_exactly_once,
    the_tenant_policy_is_stored_and_applied_and_an_admin_write_keeps_the_replay_cache,
    challenges_to_a_dpop_request_use_the_dpop_scheme,
);

const URI: &str = "https://api.school.test/courses";

/// A client's DPoP key: ES256, generated per test.
struct DpopKey {
    key: EncodingKey,
    jwk: Value,
    jkt: String,
}

static JTI: AtomicUsize = AtomicUsize::new(0);

fn now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

impl DpopKey {
    fn new() -> Self {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let key = EncodingKey::from_ec_der(pair.to_pkcs8v1().unwrap().as_ref());
        let full =
            serde_json::to_value(Jwk::from_encoding_key(&key, Algorithm::ES256).unwrap()).unwrap();
        let jwk = json!({ "kty": "EC", "crv": "P-256", "x": full["x"], "y": full["y"] });
        let members = format!(
            r#"{{"crv":"P-256","kty":"EC","x":{},"y":{}}}"#,
            full["x"], full["y"]
        );
        let jkt = URL_SAFE_NO_PAD.encode(Sha256::digest(members.as_bytes()));
        Self { key, jwk, jkt }
    }

    fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature =
            jsonwebtoken::crypto::sign(input.as_bytes(), &self.key, Algorithm::ES256).unwrap();
        format!("{input}.{signature}")
    }

    fn header(&self) -> Value {
        json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk })
    }

    fn claims(method: &str, uri: &str, token: &str) -> Value {
        json!({
            "htm": method,
            "htu": uri,
            "iat": now(),
            "jti": format!("jti-{}-{}", std::process::id(), JTI.fetch_add(1, Ordering::Relaxed)),
            "ath": URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes())),
        })
    }

    /// A fresh proof for `method` `uri` carrying `token`.
    fn proof(&self, method: &str, uri: &str, token: &str) -> String {
        self.sign(&self.header(), &Self::claims(method, uri, token))
    }

    /// A fresh proof with one claim changed.
    fn proof_with(&self, token: &str, name: &str, value: Value) -> String {
        let mut claims = Self::claims("GET", URI, token);
        claims[name] = value;
        self.sign(&self.header(), &claims)
    }
}

fn presentation(scheme: &str, proofs: &[&str], method: &str, uri: &str) -> HttpPresentation {
    HttpPresentation {
        scheme: scheme.to_owned(),
        dpop_proofs: proofs.iter().map(|p| (*p).to_owned()).collect(),
        method: method.to_owned(),
        uri: uri.to_owned(),
    }
}

fn check(id: &str, token: &str, presented: HttpPresentation) -> Check {
    Check {
        correlation_id: id.to_owned(),
        subject: Some(Subject::Token(token.to_owned())),
        requirement: Some(op("list_courses")),
        presentation: Some(presented),
        ..Default::default()
    }
}

/// Each check's id, whether it was allowed, and its explain outcome.
async fn verdicts(
    app: &crate::helpers::TestApp,
    checks: Vec<Check>,
) -> Vec<(String, bool, String, String)> {
    check_all(app, SCHOOL, checks)
        .await
        .into_iter()
        .map(|r| {
            if !r.allowed {
                assert_eq!(r.reason(), Reason::TokenInactive, "{}", r.correlation_id);
                assert_eq!(r.http_status, 401, "{}", r.correlation_id);
            }
            let outcome = r.explain.as_ref().unwrap().token_outcome.clone();
            (r.correlation_id, r.allowed, outcome, r.www_authenticate)
        })
        .collect()
}

async fn a_dpop_bound_token_passes_check_scopes_only_with_a_valid_fresh_proof(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (app, _) = with_http(&db).await;
    let idp = school(&app).await;
    let key = DpopKey::new();
    let other_key = DpopKey::new();
    let bound = idp.mint(&json!({ "scope": "courses:read", "cnf": { "jkt": key.jkt } }));
    let other_token =
        idp.mint(&json!({ "scope": "courses:read", "cnf": { "jkt": key.jkt }, "n": 2 }));
    let plain = idp.mint(&json!({ "scope": "courses:read" }));
    let replayed = key.proof("GET", URI, &bound);
    let one = |proof: &str| presentation("DPoP", &[proof], "GET", URI);

    let results = verdicts(
        &app,
        vec![
            check("valid", &bound, one(&key.proof("GET", URI, &bound))),
            check(
                "lowercase-scheme",
                &bound,
                presentation("dpop", &[&key.proof("GET", URI, &bound)], "GET", URI),
            ),
            check(
                "scheme-not-said",
                &bound,
                presentation("", &[&key.proof("GET", URI, &bound)], "GET", URI),
            ),
            // §4.3: the query and fragment of the request are not part of `htu`.
            check(
                "query-ignored",
                &bound,
                presentation(
                    "DPoP",
                    &[&key.proof("GET", URI, &bound)],
                    "GET",
                    &format!("{URI}?page=2"),
                ),
            ),
            check("first-use", &bound, one(&replayed)),
            check("replayed", &bound, one(&replayed)),
            check("wrong-method", &bound, one(&key.proof("POST", URI, &bound))),
            check(
                "wrong-uri",
                &bound,
                one(&key.proof("GET", "https://api.school.test/grades", &bound)),
            ),
            check("missing", &bound, presentation("DPoP", &[], "GET", URI)),
            Check {
                presentation: None,
                ..check("no-presentation", &bound, HttpPresentation::default())
            },
            check(
                "bearer-scheme",
                &bound,
                presentation("Bearer", &[&key.proof("GET", URI, &bound)], "GET", URI),
            ),
            check(
                "other-token-ath",
                &other_token,
                one(&key.proof("GET", URI, &bound)),
            ),
            check(
                "other-key-jkt",
                &bound,
                one(&other_key.proof("GET", URI, &bound)),
            ),
            check(
                "two-proofs",
                &bound,
                presentation(
                    "DPoP",
                    &[
                        &key.proof("GET", URI, &bound),
                        &key.proof("GET", URI, &bound),
                    ],
                    "GET",
                    URI,
                ),
            ),
            check(
                "unknown-uri",
                &bound,
                presentation("DPoP", &[&key.proof("GET", URI, &bound)], "GET", ""),
            ),
            check(
                "unbound-as-dpop",
                &plain,
                one(&key.proof("GET", URI, &plain)),
            ),
            check(
                "unbound-as-bearer",
                &plain,
                presentation("Bearer", &[], "GET", URI),
            ),
            check("unbound-not-said", &plain, HttpPresentation::default()),
        ],
    )
    .await;
    let got: Vec<(&str, bool, &str)> = results
        .iter()
        .map(|(id, allowed, outcome, _)| (id.as_str(), *allowed, outcome.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("valid", true, "ok"),
            ("lowercase-scheme", true, "ok"),
            ("scheme-not-said", true, "ok"),
            ("query-ignored", true, "ok"),
            ("first-use", true, "ok"),
            ("replayed", false, "dpop_replayed"),
            ("wrong-method", false, "dpop_htm_mismatch"),
            ("wrong-uri", false, "dpop_htu_mismatch"),
            ("missing", false, "dpop_missing"),
            ("no-presentation", false, "dpop_missing"),
            ("bearer-scheme", false, "dpop_bearer_scheme"),
            ("other-token-ath", false, "dpop_ath_mismatch"),
            ("other-key-jkt", false, "dpop_jkt_mismatch"),
            ("two-proofs", false, "dpop_multiple_proofs"),
            ("unknown-uri", false, "dpop_unknown_request"),
            ("unbound-as-dpop", false, "dpop_not_bound"),
            ("unbound-as-bearer", true, "ok"),
            ("unbound-not-said", true, "ok"),
        ]
    );
    // RFC 9449 §7.1 challenges: the DPoP scheme with the accepted algorithms.
    let challenge = |id: &str| {
        results
            .iter()
            .find(|(i, ..)| i == id)
            .map(|(.., c)| c.clone())
            .unwrap()
    };
    assert_eq!(
        challenge("replayed"),
        r#"DPoP realm="school", algs="ES256 ES384 EdDSA PS256 PS384 PS512 RS256 RS384 RS512", error="invalid_dpop_proof", error_description="DPoP proof was replayed""#
    );
    assert!(challenge("other-key-jkt").contains(r#"error="invalid_token""#));
    assert!(challenge("bearer-scheme").starts_with("DPoP "));
    assert!(challenge("bearer-scheme").contains(r#"error="invalid_token""#));
    assert!(challenge("missing").contains(r#"error="invalid_dpop_proof""#));

    // A malformed scheme is the caller's mistake, named.
    let results = check_all(
        &app,
        SCHOOL,
        vec![check(
            "bad-scheme",
            &bound,
            presentation("Basic", &[], "GET", URI),
        )],
    )
    .await;
    assert_eq!(
        results[0].error.as_ref().unwrap().field,
        "presentation.scheme"
    );
}

async fn bad_proofs_are_refused_each_with_its_own_outcome(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (app, _) = with_http(&db).await;
    let idp = school(&app).await;
    let key = DpopKey::new();
    let bound = idp.mint(&json!({ "scope": "courses:read", "cnf": { "jkt": key.jkt } }));
    let claims = DpopKey::claims("GET", URI, &bound);
    let raw = |header: &str, payload: &str| {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let signature =
            jsonwebtoken::crypto::sign(input.as_bytes(), &key.key, Algorithm::ES256).unwrap();
        format!("{input}.{signature}")
    };
    let mut private = key.header();
    private["jwk"]["d"] = json!("c2VjcmV0");
    let mut none = key.header();
    none["alg"] = json!("none");
    let mut hs = key.header();
    hs["alg"] = json!("HS256");
    let duplicate_header = format!(
        r#"{{"typ":"dpop+jwt","typ":"dpop+jwt","alg":"ES256","jwk":{}}}"#,
        key.jwk
    );
    let cases = [
        ("too-large", "a".repeat(8 * 1024 + 1), "dpop_too_large"),
        ("not-a-jws", "not-a-jws".to_owned(), "dpop_malformed"),
        (
            "non-json",
            raw("not json", &claims.to_string()),
            "dpop_bad_header",
        ),
        (
            "duplicate-member",
            raw(&duplicate_header, &claims.to_string()),
            "dpop_bad_header",
        ),
        ("alg-none", key.sign(&none, &claims), "dpop_bad_alg"),
        ("symmetric", key.sign(&hs, &claims), "dpop_bad_alg"),
        (
            "private-key",
            key.sign(&private, &claims),
            "dpop_private_key",
        ),
        (
            "htu-query",
            key.proof_with(&bound, "htu", json!(format!("{URI}?a=b"))),
            "ok",
        ),
        (
            "iat-future",
            key.proof_with(&bound, "iat", json!(now() + 3600)),
            "dpop_iat_out_of_window",
        ),
        (
            "iat-past",
            key.proof_with(&bound, "iat", json!(now() - 3600)),
            "dpop_iat_out_of_window",
        ),
    ];
    let checks = cases
        .iter()
        .map(|(id, proof, _)| check(id, &bound, presentation("DPoP", &[proof], "GET", URI)))
        .collect();
    let results = verdicts(&app, checks).await;
    for ((id, allowed, outcome, challenge), (_, _, want)) in results.iter().zip(&cases) {
        assert_eq!((id.as_str(), outcome.as_str()), (id.as_str(), *want));
        assert_eq!(*allowed, *want == "ok", "{id}");
        if !allowed {
            assert!(challenge.starts_with("DPoP "), "{id}: {challenge}");
        }
    }
}

fn envoy_check(authorization: &str, proofs: &[&str], method: &str, path: &str) -> CheckRequest {
    let mut headers = HashMap::from([
        ("authorization".to_owned(), authorization.to_owned()),
        (":method".to_owned(), method.to_owned()),
        (":path".to_owned(), path.to_owned()),
        (":authority".to_owned(), "api.school.test".to_owned()),
    ]);
    if !proofs.is_empty() {
        // Envoy merges repeated headers with `,`.
        headers.insert("dpop".to_owned(), proofs.join(","));
    }
    CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(EnvoyRequest {
                http: Some(HttpRequest {
                    method: method.to_owned(),
                    scheme: "https".to_owned(),
                    headers,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            context_extensions: HashMap::from([
                ("tenant".to_owned(), SCHOOL.to_owned()),
                ("operation".to_owned(), "list_courses".to_owned()),
            ]),
            ..Default::default()
        }),
    }
}

fn envoy_verdict(response: CheckResponse) -> Result<(), String> {
    match response.http_response {
        Some(HttpResponse::OkResponse(_)) => Ok(()),
        Some(HttpResponse::DeniedResponse(denied)) => Err(denied
            .headers
            .iter()
            .filter_map(|h| h.header.as_ref())
            .find(|h| h.key.eq_ignore_ascii_case("www-authenticate"))
            .map(|h| h.value.clone())
            .unwrap_or_default()),
        _ => Err("no answer".to_owned()),
    }
}

async fn ext_authz_and_forward_auth_check_the_proof_against_the_original_request(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (app, base) = with_http(&db).await;
    let idp = school(&app).await;
    let key = DpopKey::new();
    let bound = idp.mint(&json!({ "scope": "courses:read", "cnf": { "jkt": key.jkt } }));
    let dpop = format!("DPoP {bound}");

    // Envoy: `dpop`, `:method`, `:path`, `:authority` and the request's scheme.
    let mut envoy = AuthorizationClient::new(app.channel.clone());
    let mut ask = async |request: CheckRequest| {
        envoy_verdict(envoy.check(request).await.unwrap().into_inner())
    };
    let replayed = key.proof("GET", URI, &bound);
    assert_eq!(
        ask(envoy_check(&dpop, &[&replayed], "GET", "/courses?page=2")).await,
        Ok(())
    );
    let again = ask(envoy_check(&dpop, &[&replayed], "GET", "/courses")).await;
    assert!(again.unwrap_err().contains("DPoP proof was replayed"));
    let wrong_method = ask(envoy_check(
        &dpop,
        &[&key.proof("GET", URI, &bound)],
        "POST",
        "/courses",
    ))
    .await;
    assert!(wrong_method.unwrap_err().contains("another HTTP method"));
    let wrong_uri = ask(envoy_check(
        &dpop,
        &[&key.proof("GET", URI, &bound)],
        "GET",
        "/grades",
    ))
    .await;
    assert!(wrong_uri.unwrap_err().contains("another URI"));
    let missing = ask(envoy_check(&dpop, &[], "GET", "/courses")).await;
    assert!(missing.unwrap_err().starts_with("DPoP "));
    let bearer = ask(envoy_check(
        &format!("Bearer {bound}"),
        &[&key.proof("GET", URI, &bound)],
        "GET",
        "/courses",
    ))
    .await;
    assert!(bearer.unwrap_err().contains(r#"error="invalid_token""#));
    let two = ask(envoy_check(
        &dpop,
        &[
            &key.proof("GET", URI, &bound),
            &key.proof("GET", URI, &bound),
        ],
        "GET",
        "/courses",
    ))
    .await;
    assert!(two.unwrap_err().contains("more than one DPoP proof"));

    // Forward auth: Traefik/Caddy's X-Forwarded-*, nginx's X-Original-*.
    let http = reqwest::Client::new();
    let url = format!("{base}/v1/authorize?tenant={SCHOOL}&operation=list_courses");
    let traefik = |authorization: String, proofs: Vec<String>, method: &str, path: &str| {
        let mut request = http
            .get(&url)
            .header("authorization", authorization)
            .header("x-forwarded-method", method)
            .header("x-forwarded-proto", "https")
            .header("x-forwarded-host", "api.school.test")
            .header("x-forwarded-uri", path);
        for proof in proofs {
            request = request.header("dpop", proof);
        }
        request.send()
    };
    let ok = traefik(
        dpop.clone(),
        vec![key.proof("GET", URI, &bound)],
        "GET",
        "/courses?x=1",
    )
    .await
    .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let wrong_method = traefik(
        dpop.clone(),
        vec![key.proof("GET", URI, &bound)],
        "DELETE",
        "/courses",
    )
    .await
    .unwrap();
    assert_eq!(wrong_method.status(), StatusCode::UNAUTHORIZED);
    let challenge = wrong_method.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.starts_with("DPoP ") && challenge.contains("invalid_dpop_proof"),
        "{challenge}"
    );
    let two = traefik(
        dpop.clone(),
        vec![key.proof("GET", URI, &bound), key.proof("GET", URI, &bound)],
        "GET",
        "/courses",
    )
    .await
    .unwrap();
    assert_eq!(two.status(), StatusCode::UNAUTHORIZED);
    let missing = traefik(dpop.clone(), vec![], "GET", "/courses")
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    let bearer = traefik(
        format!("Bearer {bound}"),
        vec![key.proof("GET", URI, &bound)],
        "GET",
        "/courses",
    )
    .await
    .unwrap();
    assert_eq!(bearer.status(), StatusCode::UNAUTHORIZED);
    // No forwarded URI at all: refused, never skipped.
    let unknown = http
        .get(&url)
        .header("authorization", &dpop)
        .header("dpop", key.proof("GET", URI, &bound))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);

    let nginx = http
        .get(&url)
        .header("authorization", &dpop)
        .header("dpop", key.proof("POST", URI, &bound))
        .header("x-original-method", "POST")
        .header("x-original-url", format!("{URI}?page=3"))
        .send()
        .await
        .unwrap();
    assert_eq!(nginx.status(), StatusCode::OK);
}

async fn introspect_answers_cnf_and_checks_a_proof_when_given_one(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (app, _) = with_http(&db).await;
    let idp = school(&app).await;
    let key = DpopKey::new();
    let bound = idp.mint(&json!({ "scope": "courses:read", "cnf": { "jkt": key.jkt } }));
    let mut client = TokenIntrospectionClient::new(app.channel.clone());
    let introspect = |presentation: Option<HttpPresentation>| IntrospectRequest {
        token: bound.clone(),
        tenant: SCHOOL.to_owned(),
        explain: true,
        presentation,
        ..Default::default()
    };

    // Without a presentation: active, with `cnf` for the resource server to check (§6.2).
    let answer = client
        .introspect(introspect(None))
        .await
        .unwrap()
        .into_inner();
    assert!(answer.active);
    assert_eq!(answer.token_type, "DPoP");
    assert_eq!(answer.cnf.unwrap().jkt, key.jkt);

    let proof = key.proof("GET", URI, &bound);
    let with = |proof: &str| Some(presentation("DPoP", &[proof], "GET", URI));
    let answer = client
        .introspect(introspect(with(&proof)))
        .await
        .unwrap()
        .into_inner();
    assert!(answer.active);
    let answer = client
        .introspect(introspect(with(&proof)))
        .await
        .unwrap()
        .into_inner();
    assert!(!answer.active);
    assert_eq!(answer.explain.unwrap().outcome, "dpop_replayed");
    assert_eq!(answer.cnf, None);
}

async fn a_proof_replayed_concurrently_is_accepted_exactly_once(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (app, _) = with_http(&db).await;
    let idp = school(&app).await;
    let key = DpopKey::new();
    let bound = idp.mint(&json!({ "scope": "courses:read", "cnf": { "jkt": key.jkt } }));
    // A random number of tasks (bounded), all sending the same proof at once.
    let tasks = 4 + usize::from(rand_byte() % 13);
    let proof = key.proof("GET", URI, &bound);
    let mut handles = Vec::new();
    for i in 0..tasks {
        let (app_channel, bound, proof) = (app.channel.clone(), bound.clone(), proof.clone());
        handles.push(tokio::spawn(async move {
            let request = scopegate::pb::CheckScopesRequest {
                tenant: SCHOOL.to_owned(),
                checks: vec![check(
                    &i.to_string(),
                    &bound,
                    presentation("DPoP", &[&proof], "GET", URI),
                )],
                explain: true,
            };
            let mut client =
                scopegate::pb::scope_decision_client::ScopeDecisionClient::new(app_channel);
            let result = client
                .check_scopes(request)
                .await
                .unwrap()
                .into_inner()
                .results
                .remove(0);
            (result.allowed, result.explain.unwrap().token_outcome)
        }));
    }
    let mut accepted = 0;
    for handle in handles {
        let (allowed, outcome) = handle.await.unwrap();
        if allowed {
            accepted += 1;
        } else {
            assert_eq!(outcome, "dpop_replayed");
        }
    }
    assert_eq!(accepted, 1, "{tasks} tasks");
}

async fn set_policy(app: &TestApp, dpop: DpopSettings) -> Result<DpopSettings, tonic::Status> {
    let update = UpdateTenant {
        id: SCHOOL.to_owned(),
        settings: Some(TenantSettings {
            dpop: Some(dpop),
            ..Default::default()
        }),
        ..Default::default()
    };
    let request = ManageTenantRequest {
        action: Some(Action::Update(update)),
    };
    let answer = app
        .admin()
        .manage_tenant(authed(request))
        .await?
        .into_inner();
    match answer.result {
        Some(manage_tenant_response::Result::Tenant(tenant)) => Ok(tenant.dpop.unwrap()),
        other => panic!("{other:?}"),
    }
}

async fn the_tenant_policy_is_stored_and_applied_and_an_admin_write_keeps_the_replay_cache(
    backend: Backend,
) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (app, _) = with_http(&db).await;
    let idp = school(&app).await;
    let key = DpopKey::new();
    let bound = idp.mint(&json!({ "scope": "courses:read", "cnf": { "jkt": key.jkt } }));
    let used = key.proof("GET", URI, &bound);
    let one = |proof: &str| presentation("DPoP", &[proof], "GET", URI);
    let first = verdicts(&app, vec![check("first", &bound, one(&used))]).await;
    assert!(first[0].1, "{first:?}");

    // A settings write drops the tenant state; the replay cache lives on.
    let policy = DpopSettings {
        algorithms: vec!["ES256".to_owned(), "EdDSA".to_owned()],
        iat_window_seconds: 30,
        replay_capacity: 10,
    };
    assert_eq!(set_policy(&app, policy.clone()).await.unwrap(), policy);
    let results = verdicts(
        &app,
        vec![check("replayed-after-write", &bound, one(&used))],
    )
    .await;
    assert_eq!(results[0].2, "dpop_replayed");

    // ES256 no longer accepted: the challenge lists what is.
    let eddsa = DpopSettings {
        algorithms: vec!["EdDSA".to_owned()],
        ..Default::default()
    };
    set_policy(&app, eddsa).await.unwrap();
    let proof = key.proof("GET", URI, &bound);
    let results = verdicts(&app, vec![check("es256-now-refused", &bound, one(&proof))]).await;
    assert_eq!(results[0].2, "dpop_bad_alg");
    assert!(results[0].3.contains(r#"algs="EdDSA""#), "{}", results[0].3);

    // Refused, with the field named: symmetric algorithms, oversized limits.
    let hs = DpopSettings {
        algorithms: vec!["HS256".to_owned()],
        ..Default::default()
    };
    let refused = set_policy(&app, hs).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(
        refused.message().contains("dpop.algorithms[0]"),
        "{}",
        refused.message()
    );
    let window = DpopSettings {
        iat_window_seconds: 601,
        ..Default::default()
    };
    assert!(set_policy(&app, window).await.is_err());

    // Back to the defaults (an empty policy): ES256 passes again.
    assert_eq!(
        set_policy(&app, DpopSettings::default()).await.unwrap(),
        DpopSettings::default()
    );
    let results = verdicts(
        &app,
        vec![check("es256", &bound, one(&key.proof("GET", URI, &bound)))],
    )
    .await;
    assert!(results[0].1, "{results:?}");
}

fn rand_byte() -> u8 {
    let mut byte = [0u8; 1];
    aws_lc_rs::rand::fill(&mut byte).unwrap();
    byte[0]
}

/// RFC 9449 §7.1: a request that presented a DPoP-bound token, or a token under the `DPoP`
/// scheme, is challenged under `DPoP` (with `algs`) even when the refusal is not about the
/// proof: a 403 for missing scopes, a 401 for an expired token. Bearer requests stay `Bearer`.
async fn challenges_to_a_dpop_request_use_the_dpop_scheme(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (app, base) = with_http(&db).await;
    let idp = school(&app).await;
    let key = DpopKey::new();
    let bound = idp.mint(&json!({ "scope": "courses:read", "cnf": { "jkt": key.jkt } }));
    let expired = idp.mint(&json!({ "scope": "courses:read", "cnf": { "jkt": key.jkt },
        "iat": now() - 7200, "exp": now() - 3600 }));
    let plain = idp.mint(&json!({ "scope": "courses:read" }));
    let one = |token: &str| presentation("DPoP", &[&key.proof("GET", URI, token)], "GET", URI);
    let needs = |id: &str, token: &str, operation: &str, presented: HttpPresentation| Check {
        requirement: Some(op(operation)),
        ..check(id, token, presented)
    };

    let results = check_all(
        &app,
        SCHOOL,
        vec![
            needs("forbidden", &bound, "update_course", one(&bound)),
            needs("expired", &expired, "list_courses", one(&expired)),
            needs(
                "bearer-forbidden",
                &plain,
                "update_course",
                presentation("Bearer", &[], "", ""),
            ),
        ],
    )
    .await;

    let forbidden = &results[0];
    assert_eq!((forbidden.allowed, forbidden.http_status), (false, 403));
    assert!(
        forbidden.www_authenticate.starts_with("DPoP algs=\"")
            && forbidden
                .www_authenticate
                .contains(r#"error="insufficient_scope""#),
        "{}",
        forbidden.www_authenticate
    );
    let expired_answer = &results[1];
    assert_eq!(expired_answer.http_status, 401);
    assert!(
        expired_answer.www_authenticate.starts_with("DPoP algs=\"")
            && expired_answer
                .www_authenticate
                .contains(r#"error="invalid_token""#),
        "{}",
        expired_answer.www_authenticate
    );
    assert!(
        results[2].www_authenticate.starts_with("Bearer "),
        "{}",
        results[2].www_authenticate
    );

    // The same through forward auth.
    let url = format!("{base}/v1/authorize?tenant={SCHOOL}&operation=update_course");
    let response = reqwest::Client::new()
        .get(&url)
        .header("authorization", format!("DPoP {bound}"))
        .header("dpop", key.proof("GET", URI, &bound))
        .header("x-forwarded-method", "GET")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "api.school.test")
        .header("x-forwarded-uri", "/courses")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.starts_with("DPoP algs=\"") && challenge.contains("insufficient_scope"),
        "{challenge}"
    );
}
