//! Protected resources: the APIs and MCP servers a tenant's tokens are for, each named by its
//! canonical URI (RFC 8707 §2, RFC 9728 `resource`). A check that names one binds the token to
//! it (its `aud` must contain the URI), and its challenges point clients at the resource's
//! RFC 9728 metadata document, which scopegate builds from the tenant's catalog.

use serde::{Deserialize, Serialize};

use crate::scope::{CompiledCatalog, limits::check_len};

use super::{MAX_URL_BYTES, SettingsError, Tenant};

/// Most protected resources per tenant.
pub const MAX_RESOURCES: usize = 32;
/// Most authorization servers, and most operations, one resource may list.
pub const MAX_RESOURCE_LIST: usize = 256;
/// Longest resource name accepted.
pub const MAX_RESOURCE_NAME_BYTES: usize = 200;

/// The path under which RFC 9728 §3.1 publishes a resource's metadata.
pub const METADATA_WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// A resource a tenant protects.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtectedResource {
    /// The canonical URI: `https://host[:port][/path]`, no query, no fragment (`http` only for
    /// loopback hosts, for local development).
    pub resource: String,
    /// Human-readable name (RFC 9728 `resource_name`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// A page documenting the resource for developers (RFC 9728 `resource_documentation`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub documentation: String,
    /// Issuers of the authorization servers that mint its tokens; empty: the tenant's issuer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorization_servers: Vec<String>,
    /// The catalog operations that belong to it; empty: every operation of the tenant.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operations: Vec<String>,
}

/// Why a resource URI is refused (a fixed sentence: the URI is never quoted back).
pub fn check_resource_uri(raw: &str) -> Result<(), &'static str> {
    if raw.is_empty() || raw.len() > MAX_URL_BYTES {
        return Err("must be an absolute URI of 1 to 2048 bytes");
    }
    if !raw
        .bytes()
        .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
    {
        return Err("must be printable ASCII without spaces, quotes or backslashes");
    }
    if raw.contains('#') {
        return Err("must not contain a fragment (RFC 8707 section 2)");
    }
    if raw.contains('?') {
        return Err("must not contain a query");
    }
    let Some((scheme, rest)) = raw.split_once("://") else {
        return Err("must be an absolute https URI");
    };
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') {
        return Err("must name a host and no user information");
    }
    match scheme {
        "https" => Ok(()),
        "http" if is_loopback(authority) => Ok(()),
        _ => Err("must use https (http only for localhost, 127.0.0.1 or [::1])"),
    }
}

/// Whether an authority (`host[:port]`) names the local machine.
fn is_loopback(authority: &str) -> bool {
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().map(|h| format!("[{h}]")),
        None => authority.split(':').next().map(str::to_owned),
    };
    matches!(host.as_deref(), Some("localhost" | "127.0.0.1" | "[::1]"))
}

impl ProtectedResource {
    /// Checks every field; `field` is where this resource sits in the settings
    /// (`resources[0]`).
    pub fn check(&self, field: &str) -> Result<(), SettingsError> {
        let invalid = |name: &str, message: String| SettingsError {
            field: format!("{field}.{name}"),
            message,
        };
        check_resource_uri(&self.resource).map_err(|m| invalid("resource", m.to_owned()))?;
        check_len(&self.name, MAX_RESOURCE_NAME_BYTES).map_err(|m| invalid("name", m))?;
        if !self.documentation.is_empty() {
            check_len(&self.documentation, MAX_URL_BYTES)
                .map_err(|m| invalid("documentation", m))?;
            if !self.documentation.starts_with("https://")
                && !self.documentation.starts_with("http://")
            {
                return Err(invalid(
                    "documentation",
                    "must be an http(s) URL".to_owned(),
                ));
            }
        }
        for (list, values) in [
            ("authorization_servers", &self.authorization_servers),
            ("operations", &self.operations),
        ] {
            if values.len() > MAX_RESOURCE_LIST {
                let message = format!("must hold at most {MAX_RESOURCE_LIST} values");
                return Err(invalid(list, message));
            }
            for (i, value) in values.iter().enumerate() {
                if value.is_empty() {
                    return Err(invalid(&format!("{list}[{i}]"), "must not be empty".into()));
                }
                check_len(value, MAX_URL_BYTES).map_err(|m| invalid(&format!("{list}[{i}]"), m))?;
            }
        }
        Ok(())
    }

    /// Where RFC 9728 §3.1 puts this resource's metadata: the well-known path inserted between
    /// the host and the resource's path (a lone `/` path is dropped).
    pub fn metadata_url(&self) -> String {
        let (origin, path) = split_origin(&self.resource);
        let path = if path == "/" { "" } else { path };
        format!("{origin}{METADATA_WELL_KNOWN}{path}")
    }

    /// The resource's path (`/mcp`; empty or `/` when it has none).
    pub fn path(&self) -> &str {
        split_origin(&self.resource).1
    }

    /// The resource's `host[:port]`.
    pub fn authority(&self) -> &str {
        let (origin, _) = split_origin(&self.resource);
        origin.split_once("://").map_or("", |(_, a)| a)
    }

    /// The RFC 9728 metadata document of this resource of `tenant`: its scopes are the
    /// discoverable scopes (never reserved ones, never `offline_access`) that its operations
    /// (all of the tenant's when it lists none) require, in catalog order.
    pub fn metadata(&self, tenant: &Tenant, catalog: &CompiledCatalog) -> ResourceMetadata {
        let operations: Vec<_> = if self.operations.is_empty() {
            catalog.operations().collect()
        } else {
            self.operations
                .iter()
                .filter_map(|name| catalog.operation(name))
                .collect()
        };
        let scopes_supported = catalog
            .discoverable_scopes()
            .filter(|s| s.name.as_str() != "offline_access")
            .filter(|s| {
                operations
                    .iter()
                    .any(|op| op.alternatives().any(|alt| alt.contains(&s.name)))
            })
            .map(|s| s.name.as_str().to_owned())
            .collect();
        let authorization_servers = if self.authorization_servers.is_empty() {
            Some(tenant.issuer.clone())
                .filter(|i| !i.is_empty())
                .into_iter()
                .collect()
        } else {
            self.authorization_servers.clone()
        };
        ResourceMetadata {
            resource: self.resource.clone(),
            authorization_servers,
            scopes_supported,
            bearer_methods_supported: vec!["header".to_owned()],
            resource_name: Some(self.name.clone()).filter(|n| !n.is_empty()),
            resource_documentation: Some(self.documentation.clone()).filter(|d| !d.is_empty()),
        }
    }
}

/// `scheme://authority` and the rest (the path) of a checked resource URI.
fn split_origin(uri: &str) -> (&str, &str) {
    let after_scheme = uri.find("://").map_or(0, |i| i + 3);
    match uri[after_scheme..].find('/') {
        Some(i) => uri.split_at(after_scheme + i),
        None => (uri, ""),
    }
}

/// An RFC 9728 §2 protected resource metadata document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceMetadata {
    pub resource: String,
    pub authorization_servers: Vec<String>,
    pub scopes_supported: Vec<String>,
    pub bearer_methods_supported: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_documentation: Option<String>,
}

impl Tenant {
    /// The registered resource with exactly this URI.
    pub fn resource(&self, uri: &str) -> Option<&ProtectedResource> {
        self.resources.iter().find(|r| r.resource == uri)
    }
}

/// Checks a whole resource list: each entry, the count, and no URI twice.
pub(super) fn check_resources(resources: &[ProtectedResource]) -> Result<(), SettingsError> {
    if resources.len() > MAX_RESOURCES {
        return Err(SettingsError {
            field: "resources".to_owned(),
            message: format!("must hold at most {MAX_RESOURCES} values"),
        });
    }
    for (i, resource) in resources.iter().enumerate() {
        resource.check(&format!("resources[{i}]"))?;
        if resources[..i]
            .iter()
            .any(|r| r.resource == resource.resource)
        {
            return Err(SettingsError {
                field: format!("resources[{i}].resource"),
                message: "is listed twice".to_owned(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn resource(uri: &str) -> ProtectedResource {
        ProtectedResource {
            resource: uri.to_owned(),
            ..Default::default()
        }
    }

    #[test]
    fn resource_uris_are_absolute_https_without_fragment_query_or_credentials() {
        for good in [
            "https://mcp.loopwise.test/mcp",
            "https://api.example.com",
            "https://api.example.com:8443/v1/",
            "http://127.0.0.1:8080/mcp",
            "http://localhost/mcp",
            "http://[::1]:9000",
        ] {
            assert_eq!(check_resource_uri(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "mcp.loopwise.test/mcp",
            "/mcp",
            "http://mcp.loopwise.test/mcp",
            "http://127.0.0.1.evil.test/mcp",
            "ftp://host/x",
            "https://host/mcp#frag",
            "https://host/mcp?x=1",
            "https://user:pw@host/mcp",
            "https:///mcp",
            "https://host/a b",
            "https://host/\"",
        ] {
            assert!(check_resource_uri(bad).is_err(), "{bad}");
        }
        assert!(check_resource_uri(&format!("https://h/{}", "a".repeat(2048))).is_err());
    }

    #[test]
    fn the_metadata_url_inserts_the_well_known_path_after_the_host() {
        let cases = [
            (
                "https://mcp.loopwise.test/mcp",
                "https://mcp.loopwise.test/.well-known/oauth-protected-resource/mcp",
            ),
            (
                "https://api.example.com",
                "https://api.example.com/.well-known/oauth-protected-resource",
            ),
            (
                "https://api.example.com/",
                "https://api.example.com/.well-known/oauth-protected-resource",
            ),
            (
                "http://127.0.0.1:8080/a/b",
                "http://127.0.0.1:8080/.well-known/oauth-protected-resource/a/b",
            ),
        ];
        for (uri, url) in cases {
            assert_eq!(resource(uri).metadata_url(), url);
        }
        assert_eq!(resource("https://h:1/mcp").authority(), "h:1");
        assert_eq!(resource("https://h:1/mcp").path(), "/mcp");
    }

    #[test]
    fn a_resource_list_is_capped_and_names_each_uri_once() {
        let twice = [resource("https://a.test/x"), resource("https://a.test/x")];
        let err = check_resources(&twice).unwrap_err();
        assert_eq!(err.field, "resources[1].resource");

        let bad = [resource("https://a.test/x"), resource("http://a.test/x")];
        let err = check_resources(&bad).unwrap_err();
        assert_eq!(err.field, "resources[1].resource");

        let many: Vec<_> = (0..=MAX_RESOURCES)
            .map(|i| resource(&format!("https://a.test/{i}")))
            .collect();
        assert_eq!(check_resources(&many).unwrap_err().field, "resources");
    }
}
