//! RFC 9728 protected resource metadata: `GET /t/{tenant}/.well-known/oauth-protected-resource`
//! and `…/oauth-protected-resource/{path}`, the document of the tenant's registered resource
//! with that path, built from the catalog (`ProtectedResource::metadata`). A resource's own
//! host publishes its metadata at `https://<host>/.well-known/oauth-protected-resource/<path>`
//! (the URL its challenges name): an MCP server or its proxy forwards that request here.
//!
//! Several resources of the tenant with the same path (on different hosts) are told apart by
//! the `X-Forwarded-Host` or `Host` header, or by a `resource` query parameter naming the URI
//! exactly. No match: 404. Store needed and down: 503.

use std::collections::HashMap;

use axum::{
    Json,
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

use super::{HttpState, error_response};
use crate::{
    api::subject::tenant_state,
    tenant::{ProtectedResource, TenantId},
};

/// `GET /t/{tenant}/.well-known/oauth-protected-resource`: a resource without a path.
pub(super) async fn root(
    State(state): State<HttpState>,
    Path(tenant): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    document(&state, &tenant, "", &query, &headers).await
}

/// `GET /t/{tenant}/.well-known/oauth-protected-resource/{path}`.
pub(super) async fn with_path(
    State(state): State<HttpState>,
    Path((tenant, path)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    document(&state, &tenant, &path, &query, &headers).await
}

async fn document(
    state: &HttpState,
    tenant: &str,
    path: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Response {
    let Ok(tenant) = TenantId::parse(tenant) else {
        return not_found();
    };
    let tenant_state = match tenant_state(&state.pipeline, None, &tenant).await {
        Ok(Some(found)) => found,
        Ok(None) => return not_found(),
        Err(err) => return error_response(err),
    };
    let host = ["x-forwarded-host", "host"]
        .iter()
        .find_map(|name| headers.get(*name).and_then(|v| v.to_str().ok()));
    let Some(resource) = pick(
        &tenant_state.tenant.resources,
        path,
        query.get("resource"),
        host,
    ) else {
        return not_found();
    };
    let document = resource.metadata(&tenant_state.tenant, &tenant_state.compiled);
    let mut response = Json(document).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    response
}

/// The resource a metadata request means: the one the `resource` parameter names, else the
/// only one with this path, else the one of those on `host`.
fn pick<'r>(
    resources: &'r [ProtectedResource],
    path: &str,
    exact: Option<&String>,
    host: Option<&str>,
) -> Option<&'r ProtectedResource> {
    let wanted = path.trim_start_matches('/').trim_end_matches('/');
    let mut same_path = resources.iter().filter(|r| {
        r.path().trim_start_matches('/').trim_end_matches('/') == wanted
            && exact.is_none_or(|uri| &r.resource == uri)
    });
    let first = same_path.next()?;
    let Some(second) = same_path.next() else {
        return Some(first);
    };
    let host = host?;
    [first, second]
        .into_iter()
        .chain(same_path)
        .find(|r| r.authority().eq_ignore_ascii_case(host))
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(serde_json::json!({ "error": "not_found" })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(uri: &str) -> ProtectedResource {
        ProtectedResource {
            resource: uri.to_owned(),
            ..Default::default()
        }
    }

    #[test]
    fn a_metadata_request_finds_its_resource_by_path_then_host() {
        let resources = [
            resource("https://a.test/mcp"),
            resource("https://b.test/mcp"),
            resource("https://a.test"),
            resource("https://c.test/v1/api/"),
        ];
        let uri = |r: Option<&ProtectedResource>| r.map(|r| r.resource.clone());

        assert_eq!(
            uri(pick(&resources, "", None, None)),
            Some("https://a.test".into())
        );
        assert_eq!(
            uri(pick(&resources, "v1/api", None, None)),
            Some("https://c.test/v1/api/".into())
        );
        assert_eq!(uri(pick(&resources, "mcp", None, None)), None, "ambiguous");
        assert_eq!(
            uri(pick(&resources, "mcp", None, Some("B.test"))),
            Some("https://b.test/mcp".into())
        );
        assert_eq!(uri(pick(&resources, "mcp", None, Some("z.test"))), None);
        let exact = "https://a.test/mcp".to_owned();
        assert_eq!(
            uri(pick(&resources, "mcp", Some(&exact), None)),
            Some(exact.clone())
        );
        assert_eq!(uri(pick(&resources, "other", Some(&exact), None)), None);
    }
}
