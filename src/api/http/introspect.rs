//! RFC 7662 over HTTP: `POST /oauth2/introspect` and `POST /t/{tenant}/oauth2/introspect`, a
//! thin adapter over the answer the gRPC `Introspect` builds (`api/introspection/answer.rs`).
//!
//! The caller must authenticate (RFC 7662 §2.1): HTTP Basic with an introspection credential
//! (`ManageIntrospectionCredential`), answered from the tenant directory (no query per client
//! id, so a flood of made-up ids costs nothing; every credential write reloads the directory
//! before it returns, so a deleted one is refused at once), or a bearer admin credential
//! allowed to read. A credential introspects
//! only its own tenant's tokens; any other token is `{"active":false}`. Without a tenant in the
//! path, a Basic credential's tenant is its own, and a bearer admin's the one its grant is
//! limited to (a platform-wide admin: the token's issuer's). Refusals are RFC 6749 §5.2 JSON:
//! 401 `invalid_client` with `WWW-Authenticate: Basic realm="<tenant>"`, 400
//! `invalid_request`, 413 for bodies over 64 KiB, 503 `temporarily_unavailable` when the store
//! is needed and down. Nothing the client sent is echoed.

use axum::{
    Json,
    body::Bytes,
    extract::{Path, State, rejection::BytesRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use serde_json::{Map, Value, json};
use tonic::metadata::MetadataMap;

use super::{HttpState, error_response};
use crate::{
    api::{
        auth::{Access, permit},
        client_secret,
        introspection::answer::{self, Active},
        status::ApiError,
    },
    tenant::TenantId,
};

/// The realm of the Basic challenge when the path names no tenant.
const DEFAULT_REALM: &str = "scopegate";

/// Longest `Authorization: Basic` value read: an id and a secret are well under it.
const MAX_BASIC_BYTES: usize = 512;

/// `POST /oauth2/introspect`.
pub(super) async fn introspect(
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    respond(&state, None, &headers, body).await
}

/// `POST /t/{tenant}/oauth2/introspect`.
pub(super) async fn introspect_tenant(
    State(state): State<HttpState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Ok(tenant) = TenantId::parse(&tenant) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the path does not name a tenant id",
        );
    };
    crate::telemetry::record_tenant(&tenant);
    respond(&state, Some(tenant), &headers, body).await
}

async fn respond(
    state: &HttpState,
    path_tenant: Option<TenantId>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            return oauth_error(
                rejection.status(),
                "invalid_request",
                "the request body cannot be read (at most 64 KiB)",
            );
        }
    };
    // Authenticate before looking at the token, so the answer is no oracle of its validity.
    let tenant = match caller_tenant(state, path_tenant.as_ref(), headers).await {
        Ok(tenant) => tenant,
        Err(Refused::Client) => return challenge(path_tenant.as_ref()),
        Err(Refused::Api(err)) => return error_response(err),
    };
    let token = match token_of(headers, &body) {
        Ok(token) => token,
        Err(description) => {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", description);
        }
    };
    match answer::answer(&state.pipeline, None, tenant.as_ref(), &token, None).await {
        Ok(answer) => {
            let body = match &answer.active {
                Ok(active) => active_json(active),
                Err(_) => json!({ "active": false }),
            };
            let mut response = (StatusCode::OK, Json(body)).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(err) => error_response(err),
    }
}

/// Why the caller is not let in.
enum Refused {
    /// No credential, an unknown or wrong one, or one for another tenant: 401.
    Client,
    /// The store could not answer.
    Api(ApiError),
}

/// The tenant whose tokens the authenticated caller introspects (`None`: the token's issuer's).
async fn caller_tenant(
    state: &HttpState,
    path_tenant: Option<&TenantId>,
    headers: &HeaderMap,
) -> Result<Option<TenantId>, Refused> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(Refused::Client)?;
    let (scheme, credential) = authorization
        .trim()
        .split_once(' ')
        .ok_or(Refused::Client)?;
    if scheme.eq_ignore_ascii_case("basic") {
        let (client_id, secret) = basic(credential.trim()).ok_or(Refused::Client)?;
        if !client_secret::plausible_client_id(&client_id) {
            return Err(Refused::Client);
        }
        let stored = state
            .pipeline
            .states()
            .introspection_credential(&client_id)
            .await
            .map_err(|e| Refused::Api(e.into()))?
            .ok_or(Refused::Client)?;
        let own_tenant = path_tenant.is_none_or(|t| *t == stored.tenant);
        if !(client_secret::matches(&secret, &stored.secret_sha256) && own_tenant) {
            return Err(Refused::Client);
        }
        return Ok(Some(stored.tenant.clone()));
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Refused::Client);
    }
    let metadata = MetadataMap::from_headers(headers.clone());
    let grant = match state.auth.grant(&metadata, Access::Read).await {
        Ok(grant) => grant,
        Err(ApiError::Store(err)) => return Err(Refused::Api(err.into())),
        Err(_) => return Err(Refused::Client),
    };
    match path_tenant {
        Some(tenant) => {
            permit(grant, Some(tenant)).map_err(|_| Refused::Client)?;
            Ok(Some(tenant.clone()))
        }
        None => Ok(grant.tenant),
    }
}

/// The client id and secret of a Basic credential. RFC 6749 §2.3.1 form-encodes both before
/// joining them; ours are base64url, which that encoding leaves as they are.
fn basic(encoded: &str) -> Option<(String, String)> {
    if encoded.len() > MAX_BASIC_BYTES {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

/// The `token` of an `application/x-www-form-urlencoded` body; `token_type_hint` is read and
/// ignored, as RFC 7662 §2.1 allows. A parameter sent twice is refused (RFC 6749 §3.1).
fn token_of(headers: &HeaderMap, body: &[u8]) -> Result<String, &'static str> {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form {
        return Err("the body must be application/x-www-form-urlencoded");
    }
    if std::str::from_utf8(body).is_err() {
        return Err("the body is not UTF-8");
    }
    let (mut token, mut hints) = (None, 0);
    for (name, value) in form_urlencoded::parse(body) {
        match name.as_ref() {
            "token" if token.is_some() => return Err("`token` is sent more than once"),
            "token" => token = Some(value.into_owned()),
            "token_type_hint" => hints += 1,
            _ => {}
        }
    }
    if hints > 1 {
        return Err("`token_type_hint` is sent more than once");
    }
    token.filter(|t| !t.is_empty()).ok_or("`token` is required")
}

/// RFC 7662 §2.2: the gRPC answer's fields, with the token's other claims at top level
/// (the answer's own fields win over a claim of the same name).
fn active_json(active: &Active) -> Value {
    let token = &active.token;
    let mut body: Map<String, Value> = token.other_claims.clone();
    let mut put = |name: &str, value: Value| {
        body.insert(name.to_owned(), value);
    };
    put("active", json!(true));
    put("scope", json!(active.scope));
    // `cnf` (RFC 7800, RFC 9449 §6.2, RFC 8705 §3.2) is among the other claims.
    put("token_type", json!(answer::token_type(token)));
    put("exp", json!(token.exp));
    put("iss", json!(&*token.iss));
    put(
        "aud",
        match token.aud.as_slice() {
            [one] => json!(one),
            many => json!(many),
        },
    );
    put("tenant", json!(active.tenant.as_str()));
    put("catalog_revision", json!(active.catalog_revision));
    let optional = [
        ("client_id", token.client_id.as_ref().map(|v| json!(v))),
        ("username", token.username.as_ref().map(|v| json!(v))),
        ("sub", token.sub.as_ref().map(|v| json!(v))),
        ("jti", token.jti.as_ref().map(|v| json!(v))),
        ("iat", token.iat.map(|v| json!(v))),
        ("nbf", token.nbf.map(|v| json!(v))),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            put(name, value);
        }
    }
    Value::Object(body)
}

/// 401 `invalid_client` with the Basic challenge (RFC 6749 §5.2).
fn challenge(tenant: Option<&TenantId>) -> Response {
    let realm = tenant.map_or(DEFAULT_REALM, TenantId::as_str);
    let mut response = oauth_error(
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "authenticate with HTTP Basic (an introspection credential of the tenant) or a bearer \
         admin credential",
    );
    if let Ok(value) = HeaderValue::from_str(&format!("Basic realm=\"{realm}\"")) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// An RFC 6749 §5.2 error.
fn oauth_error(status: StatusCode, error: &'static str, description: &'static str) -> Response {
    let mut response = (
        status,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
