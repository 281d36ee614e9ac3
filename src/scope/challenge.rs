//! The RFC 6750 §3 `WWW-Authenticate: Bearer …` challenge and HTTP status for a decision.

use super::bits;
use super::grant::join;
use super::{CompiledCatalog, Decision, Grant, Reason, is_scope_char};

/// A ready answer for a resource server that denies a request.
///
/// Guarantees: `www_authenticate` starts with `Bearer`, every parameter value is a
/// well-formed quoted-string holding no `"` and no `\` (characters that could break it are
/// left out, never escaped), and the `scope` value holds only scope-token characters
/// (`%x21 / %x23-5B / %x5D-7E`) separated by single spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// 401 for a missing or unusable token, 403 for a usable token that is not enough.
    pub status: u16,
    /// The `WWW-Authenticate` header value.
    pub www_authenticate: String,
}

impl Challenge {
    /// No token was presented: `Bearer` (with `realm` when given) and no error code
    /// (RFC 6750 §3.1), status 401.
    pub fn no_token(realm: Option<&str>) -> Self {
        Self {
            status: 401,
            www_authenticate: Header::new(realm).finish(),
        }
    }

    /// The token is expired, revoked, malformed or of an unknown tenant:
    /// `Bearer error="invalid_token"`, status 401.
    pub fn invalid_token(realm: Option<&str>) -> Self {
        let mut header = Header::new(realm);
        header.param("error", "invalid_token", is_quoted_char);
        Self {
            status: 401,
            www_authenticate: header.finish(),
        }
    }

    /// `Bearer error="insufficient_scope"`, with `scope` unless it is empty; status 403.
    fn insufficient_scope(realm: Option<&str>, scope: &str) -> Self {
        let mut header = Header::new(realm);
        header.param("error", "insufficient_scope", is_quoted_char);
        if !scope.is_empty() {
            header.param("scope", scope, is_quoted_char);
        }
        Self {
            status: 403,
            www_authenticate: header.finish(),
        }
    }
}

impl CompiledCatalog {
    /// The challenge for a denied decision, or `None` when it is allowed.
    ///
    /// `InsufficientScope`: `Bearer error="insufficient_scope", scope="…"`, status 403, where
    /// the scope list is the token's own scopes (as filtered into `grant`, implied ones left
    /// out) together with every scope of the closest alternative, sorted by name, so that a
    /// client re-authorizing with exactly that list keeps what it had and gains what it
    /// lacked (as the MCP authorization spec recommends). The attribute is left out when there
    /// is no closest alternative (a stored operation left with no scope at all).
    ///
    /// `UnknownScope` and `UnknownOperation`: `Bearer error="insufficient_scope"` with no
    /// `scope` attribute (no scope the client could ask for would help; naming one that does
    /// not exist would only earn it `invalid_scope`), status 403. `TokenInactive` and
    /// `TenantNotFound`: as [`Challenge::invalid_token`], status 401.
    ///
    /// `realm`, when given, is emitted first; the API passes the tenant id.
    pub fn challenge(
        &self,
        grant: &Grant<'_>,
        decision: &Decision<'_>,
        realm: Option<&str>,
    ) -> Option<Challenge> {
        match decision.reason {
            Reason::Allowed => None,
            Reason::TokenInactive | Reason::TenantNotFound => Some(Challenge::invalid_token(realm)),
            Reason::UnknownOperation | Reason::UnknownScope => {
                Some(Challenge::insufficient_scope(realm, ""))
            }
            Reason::InsufficientScope => {
                // No closest alternative (a stored operation left with no scope): nothing to ask.
                let Some(closest) = decision.closest else {
                    return Some(Challenge::insufficient_scope(realm, ""));
                };
                let mut wanted: Vec<u64> = if std::ptr::eq(grant.catalog, self) {
                    grant.direct.clone()
                } else {
                    vec![0; self.words]
                };
                for id in closest.scopes.iter().filter_map(|n| self.id(n.as_str())) {
                    bits::insert(&mut wanted, id);
                }
                let scope = join(bits::iter(&wanted).filter_map(|id| self.name(id)));
                Some(Challenge::insufficient_scope(realm, &scope))
            }
        }
    }
}

/// Characters RFC 6750 §3 allows in `error`, `scope` and (here) `realm` values:
/// `%x20-21 / %x23-5B / %x5D-7E`, i.e. printable ASCII and space minus `"` and `\`.
fn is_quoted_char(b: u8) -> bool {
    b == b' ' || is_scope_char(b)
}

/// Writes `Bearer` and `name="value"` parameters, comma separated.
struct Header {
    out: String,
    params: usize,
}

impl Header {
    fn new(realm: Option<&str>) -> Self {
        let mut header = Self {
            out: String::from("Bearer"),
            params: 0,
        };
        if let Some(realm) = realm {
            header.param("realm", realm, is_quoted_char);
        }
        header
    }

    /// Appends a parameter, keeping only the value's bytes that `keep` accepts; `keep` must
    /// reject `"` and `\`, which is re-checked here so no caller can break the quoting.
    fn param(&mut self, name: &str, value: &str, keep: impl Fn(u8) -> bool) {
        self.out.push_str(if self.params == 0 { " " } else { ", " });
        self.params += 1;
        self.out.push_str(name);
        self.out.push_str("=\"");
        let kept = value
            .bytes()
            .filter(|&b| b.is_ascii() && b != b'"' && b != b'\\' && keep(b));
        self.out.extend(kept.map(char::from));
        self.out.push('"');
    }

    fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn token_less_and_invalid_token_challenges_are_exact() {
        let cases = [
            (Challenge::no_token(None), 401, "Bearer"),
            (
                Challenge::no_token(Some("acme")),
                401,
                r#"Bearer realm="acme""#,
            ),
            (
                Challenge::invalid_token(None),
                401,
                r#"Bearer error="invalid_token""#,
            ),
            (
                Challenge::invalid_token(Some("acme")),
                401,
                r#"Bearer realm="acme", error="invalid_token""#,
            ),
            (
                Challenge::no_token(Some("a\"b\\c d\u{e9}\n")),
                401,
                r#"Bearer realm="abc d""#,
            ),
        ];
        for (got, status, header) in cases {
            assert_eq!(
                (got.status, got.www_authenticate.as_str()),
                (status, header)
            );
        }
    }
}
