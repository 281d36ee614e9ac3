//! Scopes from other claims: identity providers that put permissions in roles claims rather
//! than `scope` (Keycloak `realm_access.roles` and `resource_access.<client>.roles`, Zitadel
//! project roles, Entra ID `roles`). A tenant names the claims by JSON pointer (RFC 6901); their
//! values become scopes, merged with `scope`/`scp` or replacing them, before the catalog filters
//! anything (unknown names are dropped, reserved ones kept for first-party clients only, as for
//! any scope).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Most claim sources per tenant.
pub const MAX_SCOPE_CLAIM_SOURCES: usize = 8;
/// Longest JSON pointer accepted.
pub const MAX_POINTER_BYTES: usize = 256;
/// Longest prefix accepted.
pub const MAX_PREFIX_BYTES: usize = 128;

/// Which claims, besides `scope`/`scp`, carry a token's scopes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeClaims {
    /// The claims to read, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<ClaimSource>,
    /// The mapped values replace `scope`/`scp` (which are then ignored) instead of adding to
    /// them. Only meaningful with at least one source.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replace: bool,
}

/// One claim whose values become scopes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimSource {
    /// An RFC 6901 JSON pointer into the token's claims, e.g. `/realm_access/roles`. The value
    /// may be a space-separated string, an array of strings (other items are skipped), or an
    /// object whose keys are the values (Zitadel's project roles).
    pub pointer: String,
    /// Only values starting with it are taken, without it (`loopwise:` turns
    /// `loopwise:courses:read` into `courses:read` and skips `offline_access`). Empty: all.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prefix: String,
}

impl ScopeClaims {
    /// Whether any claim is mapped.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// Whether `scope`/`scp` still count.
    pub(super) fn keeps_scope_claim(&self) -> bool {
        !self.replace || self.sources.is_empty()
    }

    /// Calls `found` with every mapped value of `claims`, in source order (duplicates included:
    /// the caller de-duplicates).
    pub(super) fn each<'c>(&self, claims: &'c Map<String, Value>, mut found: impl FnMut(&'c str)) {
        for source in &self.sources {
            let Some(value) = pointer(claims, &source.pointer) else {
                continue;
            };
            let mut take = |raw: &'c str| {
                if let Some(name) = raw.strip_prefix(source.prefix.as_str())
                    && !name.is_empty()
                {
                    found(name);
                }
            };
            match value {
                Value::String(s) => s.split(' ').for_each(&mut take),
                Value::Array(items) => items.iter().filter_map(Value::as_str).for_each(&mut take),
                Value::Object(map) => map.keys().map(String::as_str).for_each(&mut take),
                _ => {}
            }
        }
    }

    /// Why these settings are refused, naming the field (relative to `scope_claims`).
    pub fn check(&self) -> Result<(), (String, String)> {
        if self.sources.len() > MAX_SCOPE_CLAIM_SOURCES {
            let message = format!("must hold at most {MAX_SCOPE_CLAIM_SOURCES} sources");
            return Err(("sources".to_owned(), message));
        }
        for (i, source) in self.sources.iter().enumerate() {
            let field = |name: &str| format!("sources[{i}].{name}");
            let p = &source.pointer;
            if !p.starts_with('/') || p.len() < 2 || p.len() > MAX_POINTER_BYTES {
                let message = format!(
                    "must be a JSON pointer (RFC 6901) such as /realm_access/roles, of at most \
                     {MAX_POINTER_BYTES} bytes"
                );
                return Err((field("pointer"), message));
            }
            if !source.prefix.is_empty()
                && (source.prefix.len() > MAX_PREFIX_BYTES
                    || !source.prefix.bytes().all(|b| b.is_ascii_graphic()))
            {
                let message = format!("must be at most {MAX_PREFIX_BYTES} bytes of visible ASCII");
                return Err((field("prefix"), message));
            }
        }
        Ok(())
    }
}

/// The value at an RFC 6901 pointer into a claims object (`~1` is `/`, `~0` is `~`).
fn pointer<'c>(claims: &'c Map<String, Value>, pointer: &str) -> Option<&'c Value> {
    let rest = pointer.strip_prefix('/')?;
    let (first, rest) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let value = claims.get(&first.replace("~1", "/").replace("~0", "~"))?;
    if rest.is_empty() {
        Some(value)
    } else {
        value.pointer(rest)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use serde_json::json;

    use super::*;

    fn mapped(claims: &Value, scope_claims: &ScopeClaims) -> Vec<String> {
        let mut out = Vec::new();
        scope_claims.each(claims.as_object().unwrap(), |s| out.push(s.to_owned()));
        out
    }

    fn source(pointer: &str, prefix: &str) -> ClaimSource {
        ClaimSource {
            pointer: pointer.to_owned(),
            prefix: prefix.to_owned(),
        }
    }

    #[test]
    fn the_identity_providers_role_shapes_become_scope_names() {
        let claims = json!({
            // Keycloak: realm roles and client roles.
            "realm_access": { "roles": ["offline_access", "loopwise:courses:read", 7] },
            "resource_access": { "loopwise-api": { "roles": ["students:read"] } },
            // Entra ID app roles.
            "roles": ["analytics:read"],
            // Zitadel project roles: an object keyed by role.
            "urn:zitadel:iam:org:project:roles": { "grades:read": { "org1": "school.test" } },
            // A space-separated string under a name holding a slash.
            "perm/list": "school:read  appearance:read",
        });
        let scope_claims = ScopeClaims {
            sources: vec![
                source("/realm_access/roles", "loopwise:"),
                source("/resource_access/loopwise-api/roles", ""),
                source("/roles", ""),
                source("/urn:zitadel:iam:org:project:roles", ""),
                source("/perm~1list", ""),
                source("/missing/claim", ""),
            ],
            replace: false,
        };

        assert_eq!(
            mapped(&claims, &scope_claims),
            [
                "courses:read",
                "students:read",
                "analytics:read",
                "grades:read",
                "school:read",
                "appearance:read"
            ]
        );
        assert!(scope_claims.keeps_scope_claim());
        assert!(
            !ScopeClaims {
                replace: true,
                ..scope_claims
            }
            .keeps_scope_claim()
        );
        assert!(ScopeClaims::default().keeps_scope_claim());
    }

    #[test]
    fn settings_name_the_source_at_fault() {
        let bad = |pointer: &str, prefix: &str| {
            ScopeClaims {
                sources: vec![source("/roles", ""), source(pointer, prefix)],
                replace: false,
            }
            .check()
            .unwrap_err()
            .0
        };
        assert_eq!(bad("roles", ""), "sources[1].pointer");
        assert_eq!(bad("/", ""), "sources[1].pointer");
        assert_eq!(
            bad(&format!("/{}", "a".repeat(300)), ""),
            "sources[1].pointer"
        );
        assert_eq!(bad("/roles", "a b"), "sources[1].prefix");
        let many = ScopeClaims {
            sources: vec![source("/roles", ""); 9],
            replace: false,
        };
        assert_eq!(many.check().unwrap_err().0, "sources");
    }
}
