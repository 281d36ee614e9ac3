//! Pages of a search: the size asked for (`page.limit`) and opaque continuation tokens
//! (`page.next_token` out, `page.token` back in) that carry the offset and a fingerprint of the
//! request they continue, so that a token sent with another subject, tenant, resource or limit is
//! refused (the spec: such values MUST stay identical while paging).

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

use super::parse::{Subject, Target};

/// Results per page when the request names no `page.limit`.
pub(super) const DEFAULT_LIMIT: usize = 50;

/// Most results per page; a larger `page.limit` is lowered to it.
pub(super) const MAX_LIMIT: usize = 1000;

/// Longest `page.token` read: ours are well under it.
const MAX_TOKEN_BYTES: usize = 128;

/// Bytes of the request's SHA-256 a token carries.
const FINGERPRINT_BYTES: usize = 12;

/// A request's identity for paging: what a continuation must repeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Fingerprint([u8; FINGERPRINT_BYTES]);

impl Fingerprint {
    /// Of the subject (a token only as part of a hash), the tenant and the page size.
    pub(super) fn of(subject: &Subject, target: &Target, limit: usize) -> Self {
        let mut hash = Sha256::new();
        let mut put = |part: &[u8]| {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part);
        };
        put(b"authzen search/action v1");
        put(target.tenant.as_str().as_bytes());
        put(target.resource.as_deref().unwrap_or_default().as_bytes());
        put(&(limit as u64).to_be_bytes());
        match subject {
            Subject::Token(token) => {
                put(b"token");
                put(token.as_bytes());
            }
            Subject::Scopes { client_id, scopes } => {
                put(b"scopes");
                put(client_id.as_bytes());
                for scope in scopes {
                    put(scope.as_bytes());
                }
            }
        }
        let digest = hash.finalize();
        let mut out = [0u8; FINGERPRINT_BYTES];
        out.copy_from_slice(&digest[..FINGERPRINT_BYTES]);
        Self(out)
    }
}

/// The page size for a request's `page.limit`: the default when absent, at most
/// [`MAX_LIMIT`]. Zero is refused (a page of nothing would never end).
pub(super) fn limit(asked: Option<u64>) -> Result<usize, &'static str> {
    match asked {
        None => Ok(DEFAULT_LIMIT),
        Some(0) => Err("must be at least 1"),
        Some(n) => Ok(usize::try_from(n).map_or(MAX_LIMIT, |n| n.min(MAX_LIMIT))),
    }
}

/// The token that continues a request at `offset`.
pub(super) fn next_token(offset: usize, fingerprint: Fingerprint) -> String {
    let mut raw = Vec::with_capacity(8 + FINGERPRINT_BYTES);
    raw.extend_from_slice(&(offset as u64).to_be_bytes());
    raw.extend_from_slice(&fingerprint.0);
    URL_SAFE_NO_PAD.encode(raw)
}

/// The offset a `page.token` continues at, if it is ours and was issued for this request.
pub(super) fn offset(token: &str, fingerprint: Fingerprint) -> Result<usize, &'static str> {
    const NOT_OURS: &str = "is not a page token of this server";
    if token.len() > MAX_TOKEN_BYTES {
        return Err(NOT_OURS);
    }
    let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| NOT_OURS)?;
    let (offset, carried) = raw.split_first_chunk::<8>().ok_or(NOT_OURS)?;
    if carried.len() != FINGERPRINT_BYTES {
        return Err(NOT_OURS);
    }
    if carried != fingerprint.0 {
        return Err(
            "continues another request: subject, resource and page.limit must not change while paging",
        );
    }
    usize::try_from(u64::from_be_bytes(*offset)).map_err(|_| NOT_OURS)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use crate::tenant::TenantId;

    fn tenant() -> Target {
        Target {
            tenant: TenantId::parse("school").unwrap(),
            resource: None,
        }
    }

    #[test]
    fn a_token_continues_only_the_request_it_was_issued_for() {
        let alice = Subject::Token("alice".into());
        let bob = Subject::Token("bob".into());
        let mine = Fingerprint::of(&alice, &tenant(), 2);

        let token = next_token(4, mine);

        assert_eq!(offset(&token, mine), Ok(4));
        assert!(offset(&token, Fingerprint::of(&bob, &tenant(), 2)).is_err());
        assert!(offset(&token, Fingerprint::of(&alice, &tenant(), 3)).is_err());
        let resource = Target {
            resource: Some("https://mcp.school.test/mcp".into()),
            ..tenant()
        };
        assert!(offset(&token, Fingerprint::of(&alice, &resource, 2)).is_err());
        assert!(offset("garbage!", mine).is_err());
        assert!(offset(&"A".repeat(500), mine).is_err());
    }

    #[test]
    fn the_limit_has_a_default_and_a_cap_and_is_never_zero() {
        assert_eq!(limit(None), Ok(DEFAULT_LIMIT));
        assert_eq!(limit(Some(2)), Ok(2));
        assert_eq!(limit(Some(u64::MAX)), Ok(MAX_LIMIT));
        assert!(limit(Some(0)).is_err());
    }
}
