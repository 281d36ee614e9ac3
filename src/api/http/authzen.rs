//! OpenID AuthZEN Authorization API 1.0 on the HTTP door, a thin adapter over the gateway core
//! (`api::gateway`: the same token pipeline, catalog decision and challenge as `CheckScopes`):
//! - `POST /access/v1/evaluation`: one decision;
//! - `POST /access/v1/evaluations`: up to [`parse::MAX_EVALUATIONS`] in order, the top-level
//!   `subject`/`action`/`resource`/`context` as defaults, `options.evaluations_semantic`
//!   `execute_all` (default), `deny_on_first_deny` or `permit_on_first_permit` (the answer ends
//!   with the evaluation that stopped the batch); no (or an empty) `evaluations` array is one
//!   evaluation, answered as `/access/v1/evaluation` answers;
//! - `POST /access/v1/search/action`: the catalog operations the subject may call, in pages;
//! - `GET /.well-known/authzen-configuration`: the PDP metadata, based at `http://{Host}`.
//!
//! A decision is `{"decision": true, "context": {"decision_id"}}` or `{"decision": false,
//! "context": {"decision_id", "reason", "missing", "www_authenticate", "http_status"}}` with the
//! decision's id (UUID v7, its key in the decision log), `CheckScopes`' reason name, the scopes
//! lacked (left out when none), the RFC 6750 challenge and 401/403 for the PEP to answer with.
//! A batch item refused as bad input (`context.error`) was not decided and has no id. A
//! refused subject is a denial (HTTP 200), as the spec wants; HTTP errors are about the request:
//! 400 `invalid_request` naming the JSON path (a batch item's own mistakes are that item's
//! `context.error` instead, `{"status": 400, "message"}`), 413 over 64 KiB, 503 when the store
//! is needed and down (the whole call). `X-Request-ID` is echoed when it is 1-128 visible ASCII
//! characters. Callers are not authenticated, as `CheckScopes` is not.

mod page;
mod parse;

use axum::{
    Extension, Json,
    body::Bytes,
    extract::{State, rejection::BytesRejection},
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header, uri::Authority},
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value, json};

use self::parse::{Evaluation, Evaluations, Invalid, Parts, Semantic};
use super::{HttpState, error_response};
use crate::{
    api::{
        gateway::{Asker, GatewayDecision, Permitted},
        status::{ApiError, MAX_STATUS_MESSAGE_BYTES},
    },
    caller::Caller,
    decision_log::Door,
    scope::limits::truncate,
};

/// The request identifier header the spec recommends (echoed back).
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest `X-Request-ID` echoed; a longer one (or one with other than visible ASCII) is not.
const MAX_REQUEST_ID_BYTES: usize = 128;

/// Longest `Host` the metadata is based at (a DNS name and a port).
const MAX_HOST_BYTES: usize = 261;

/// The endpoints, relative to the PDP's base URL.
const EVALUATION_PATH: &str = "/access/v1/evaluation";
const EVALUATIONS_PATH: &str = "/access/v1/evaluations";
const SEARCH_ACTION_PATH: &str = "/access/v1/search/action";

/// `POST /access/v1/evaluation`.
pub(super) async fn evaluation(
    State(state): State<HttpState>,
    caller: Option<Extension<Caller>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let asker = asker(caller.as_ref());
    let response = match read(body).and_then(|v| request(&v, parse::evaluation)) {
        Ok(parts) => single(&state, asker, &parts).await,
        Err(refused) => refused.response(),
    };
    with_request_id(response, &headers)
}

/// `POST /access/v1/evaluations`.
pub(super) async fn evaluations(
    State(state): State<HttpState>,
    caller: Option<Extension<Caller>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let asker = asker(caller.as_ref());
    let response = match read(body).and_then(|v| request(&v, parse::evaluations)) {
        Ok(Evaluations::Single(parts)) => single(&state, asker, &parts).await,
        Ok(Evaluations::Batch {
            semantic,
            defaults,
            items,
        }) => batch(&state, asker, semantic, &defaults, &items).await,
        Err(refused) => refused.response(),
    };
    with_request_id(response, &headers)
}

/// `POST /access/v1/search/action`.
pub(super) async fn search_action(
    State(state): State<HttpState>,
    caller: Option<Extension<Caller>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let response = match read(body).and_then(|v| request(&v, parse::action_search)) {
        Ok(search) => actions(&state, caller.as_deref(), &search).await,
        Err(refused) => refused.response(),
    };
    with_request_id(response, &headers)
}

/// `GET /.well-known/authzen-configuration`: the PDP metadata, its identifier and endpoints
/// based at `http://{Host}` (the HTTP door serves plain HTTP).
pub(super) async fn configuration(headers: HeaderMap) -> Response {
    let authority = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|host| host.len() <= MAX_HOST_BYTES && !host.contains('@'))
        .and_then(|host| host.parse::<Authority>().ok());
    let response = match authority {
        Some(authority) => {
            let base = format!("http://{authority}");
            let mut response = Json(json!({
                "policy_decision_point": base,
                "access_evaluation_endpoint": format!("{base}{EVALUATION_PATH}"),
                "access_evaluations_endpoint": format!("{base}{EVALUATIONS_PATH}"),
                "search_action_endpoint": format!("{base}{SEARCH_ACTION_PATH}"),
            }))
            .into_response();
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("max-age=3600"),
            );
            response
        }
        None => invalid(&Invalid {
            field: "Host".into(),
            message: "the request must carry a valid Host header".into(),
        }),
    };
    with_request_id(response, &headers)
}

/// The AuthZEN door and the request's authenticated caller, if any.
fn asker(caller: Option<&Extension<Caller>>) -> Asker<'_> {
    Asker {
        door: Door::Authzen,
        caller: caller.map(|Extension(caller)| caller),
    }
}

/// One evaluation, answered as a decision.
async fn single(state: &HttpState, asker: Asker<'_>, parts: &Parts) -> Response {
    let no_defaults = Parts::default();
    let evaluation = match parse::resolve(parts, &no_defaults, "") {
        Ok(evaluation) => evaluation,
        Err(err) => return invalid(&err),
    };
    match decide(state, asker, evaluation, "").await {
        Ok(Ok((_, answer))) => Json(answer).into_response(),
        Ok(Err(err)) => invalid(&err),
        Err(err) => error_response(err),
    }
}

/// A batch, in order, stopping as `semantic` says.
async fn batch(
    state: &HttpState,
    asker: Asker<'_>,
    semantic: Semantic,
    defaults: &Parts,
    items: &[Result<Parts, Invalid>],
) -> Response {
    let mut answers = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let prefix = format!("evaluations[{i}]");
        let evaluation = item
            .as_ref()
            .map_err(Clone::clone)
            .and_then(|own| parse::resolve(own, defaults, &prefix));
        let outcome = match evaluation {
            Ok(evaluation) => match decide(state, asker, evaluation, &prefix).await {
                Ok(outcome) => outcome,
                Err(err) => return error_response(err),
            },
            Err(err) => Err(err),
        };
        let (permit, answer) = outcome.unwrap_or_else(|err| (false, failed(&err)));
        answers.push(answer);
        let stop = match semantic {
            Semantic::ExecuteAll => false,
            Semantic::DenyOnFirstDeny => !permit,
            Semantic::PermitOnFirstPermit => permit,
        };
        if stop {
            break;
        }
    }
    Json(json!({ "evaluations": answers })).into_response()
}

/// The gateway's decision for one evaluation, as `(permit, decision object)`. Bad input the
/// gateway found names its field under `prefix`; other errors (the store) fail the call.
async fn decide(
    state: &HttpState,
    asker: Asker<'_>,
    evaluation: Evaluation<'_>,
    prefix: &str,
) -> Result<Result<(bool, Value), Invalid>, ApiError> {
    let decided = state
        .gateway
        .authorize_subject(
            asker,
            &evaluation.target.tenant,
            evaluation.requirement,
            evaluation.subject.gateway(),
            evaluation.target.resource.as_deref(),
        )
        .await;
    match decided {
        Ok(GatewayDecision::Allow(allowed)) => {
            let context = match allowed.decision_id {
                Some(id) => json!({ "decision_id": id.to_string() }),
                None => json!({}),
            };
            Ok(Ok((true, json!({ "decision": true, "context": context }))))
        }
        Ok(GatewayDecision::Deny(denied)) => Ok(Ok((
            false,
            json!({ "decision": false, "context": denial_context(&denied) }),
        ))),
        // A granted scope list (checked while parsing too), or a resource the tenant does not
        // protect.
        Err(ApiError::Invalid { field, message }) => {
            let field = if field == "resource" {
                join_path(prefix, "resource.id")
            } else {
                join_path(prefix, &format!("subject.properties.{field}"))
            };
            Ok(Err(Invalid {
                field,
                message: message.into(),
            }))
        }
        Err(err) => Err(err),
    }
}

/// `field` under `prefix` (the item's path; empty at the top level).
fn join_path(prefix: &str, field: &str) -> String {
    if prefix.is_empty() {
        field.to_owned()
    } else {
        format!("{prefix}.{field}")
    }
}

/// `{decision_id, reason, missing, www_authenticate, http_status}`, each left out when it does
/// not apply.
fn denial_context(denied: &crate::api::gateway::Denied) -> Value {
    let mut context = Map::new();
    if let Some(id) = denied.decision_id {
        context.insert("decision_id".into(), json!(id.to_string()));
    }
    if let Some(reason) = denied.reason {
        context.insert("reason".into(), json!(reason.as_str()));
    }
    if !denied.missing.is_empty() {
        context.insert("missing".into(), json!(denied.missing));
    }
    if let Some(challenge) = &denied.www_authenticate {
        context.insert("www_authenticate".into(), json!(challenge));
    }
    context.insert("http_status".into(), json!(denied.status));
    Value::Object(context)
}

/// A batch item that could not be evaluated: denied (closed), its error in the context.
fn failed(err: &Invalid) -> Value {
    json!({
        "decision": false,
        "context": { "error": { "status": 400, "message": description(err) } },
    })
}

/// The operations the subject may call, one page of them.
async fn actions(
    state: &HttpState,
    caller: Option<&Caller>,
    search: &parse::ActionSearch,
) -> Response {
    let limit = match page::limit(search.limit) {
        Ok(limit) => limit,
        Err(message) => {
            return invalid(&Invalid {
                field: "page.limit".into(),
                message: message.into(),
            });
        }
    };
    let fingerprint = page::Fingerprint::of(&search.subject, &search.target, limit);
    let start = match search.token.as_deref().filter(|t| !t.is_empty()) {
        None => 0,
        Some(token) => match page::offset(token, fingerprint) {
            Ok(offset) => offset,
            Err(message) => {
                return invalid(&Invalid {
                    field: "page.token".into(),
                    message: message.into(),
                });
            }
        },
    };
    let permitted = state
        .gateway
        .permitted_operations(
            caller,
            &search.target.tenant,
            search.subject.gateway(),
            search.target.resource.as_deref(),
        )
        .await;
    let (names, context) = match permitted {
        Ok(Permitted::Operations(names)) => (names, None),
        Ok(Permitted::Refused(denied)) => (Vec::new(), Some(denial_context(&denied))),
        Err(ApiError::Invalid { field, message }) => {
            let field = if field == "resource" {
                "resource.id".to_owned()
            } else {
                format!("subject.properties.{field}")
            };
            return invalid(&Invalid {
                field,
                message: message.into(),
            });
        }
        Err(err) => return error_response(err),
    };
    let total = names.len();
    let end = start.saturating_add(limit).min(total);
    let results: Vec<Value> = names
        .get(start..end)
        .unwrap_or_default()
        .iter()
        .map(|name| json!({ "name": name }))
        .collect();
    let next_token = if end < total {
        page::next_token(end, fingerprint)
    } else {
        String::new()
    };
    let mut body = Map::new();
    body.insert(
        "page".into(),
        json!({ "next_token": next_token, "count": results.len(), "total": total }),
    );
    if let Some(context) = context {
        body.insert("context".into(), context);
    }
    body.insert("results".into(), Value::Array(results));
    Json(Value::Object(body)).into_response()
}

/// A request refused before any decision: its status and `error_description`.
#[derive(Debug)]
struct Refused {
    status: StatusCode,
    description: String,
}

impl Refused {
    fn response(&self) -> Response {
        error(self.status, "invalid_request", &self.description)
    }
}

impl From<Invalid> for Refused {
    fn from(err: Invalid) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            description: description(&err),
        }
    }
}

/// The body as JSON (413 over the size limit, else 400).
fn read(body: Result<Bytes, BytesRejection>) -> Result<Value, Refused> {
    let body = body.map_err(|rejection| Refused {
        status: rejection.status(),
        description: "body: cannot be read (at most 64 KiB)".into(),
    })?;
    serde_json::from_slice(&body).map_err(|err| Refused {
        status: StatusCode::BAD_REQUEST,
        description: format!(
            "body: is not JSON (line {}, column {})",
            err.line(),
            err.column()
        ),
    })
}

/// The body, a JSON object, parsed by `parse`.
fn request<T>(
    body: &Value,
    parse: impl FnOnce(&Map<String, Value>) -> Result<T, Invalid>,
) -> Result<T, Refused> {
    Ok(parse(parse::body(body)?)?)
}

/// 400 `invalid_request` naming the field.
fn invalid(err: &Invalid) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        &description(err),
    )
}

/// `field: message`, bounded (it quotes nothing of the input, but stays short whatever).
fn description(err: &Invalid) -> String {
    truncate(&err.to_string(), MAX_STATUS_MESSAGE_BYTES).into_owned()
}

fn error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

/// Echoes the caller's `X-Request-ID` when it is short visible ASCII; otherwise (or when
/// absent) the response carries none rather than an altered one.
fn with_request_id(mut response: Response, headers: &HeaderMap) -> Response {
    let echoed = headers.get(&REQUEST_ID).filter(|id| {
        let bytes = id.as_bytes();
        !bytes.is_empty()
            && bytes.len() <= MAX_REQUEST_ID_BYTES
            && bytes.iter().all(u8::is_ascii_graphic)
    });
    if let Some(id) = echoed {
        response.headers_mut().insert(REQUEST_ID, id.clone());
    }
    response
}
