//! Claim validation (RFC 7519 §4.1, RFC 9068 §4) and the verified facts a token carries.

use std::{collections::HashSet, sync::Arc};

use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use super::BEARER;
use super::rejection::Rejection;
use super::scope_claims::ScopeClaims;
use super::verify::VerifyPolicy;

/// Claims lifted into [`VerifiedToken`]'s fields; everything else lands in `other_claims`.
pub(crate) const LIFTED: [&str; 13] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "nbf",
    "jti",
    "client_id",
    "azp",
    "username",
    "preferred_username",
    "scope",
    "scp",
];

/// Facts about a token whose signature and claims verified. Holds no part of the token itself.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedToken {
    /// `iss`, equal to the tenant's issuer (shared with its verification policy: every cached
    /// token of a tenant points at one copy).
    pub iss: Arc<str>,
    /// `sub`, if present.
    pub sub: Option<String>,
    /// `aud`, as a list (a single string becomes one element); contains an accepted audience.
    pub aud: Vec<String>,
    /// `exp`, Unix seconds (a fractional value is rounded down).
    pub exp: i64,
    /// `iat`, Unix seconds (rounded up), if present.
    pub iat: Option<i64>,
    /// `nbf`, Unix seconds (rounded up), if present.
    pub nbf: Option<i64>,
    /// `jti`, if present.
    pub jti: Option<String>,
    /// `client_id`, else `azp`.
    pub client_id: Option<String>,
    /// `username`, else `preferred_username`.
    pub username: Option<String>,
    /// The token's scopes, from `scope` (space-separated) or else `scp` (array or string), then
    /// the values of the tenant's mapped claims ([`ScopeClaims`]), in order, without
    /// duplicates. Not yet filtered against any catalog.
    pub scopes: TokenScopes,
    /// `"Bearer"`.
    pub token_type: &'static str,
    /// The JWS algorithm that verified it; `None` for facts answered by the tenant's upstream
    /// introspection endpoint (an opaque token: nothing was verified here).
    pub alg: Option<Algorithm>,
    /// The header's `kid`, if any.
    pub kid: Option<String>,
    /// Every claim not lifted into a field above.
    pub other_claims: Map<String, Value>,
    /// The token's fingerprint, once something asked for it ([`VerifiedToken::fingerprint`]).
    pub fingerprint: FingerprintMemo,
}

impl VerifiedToken {
    /// [`super::token_fingerprint_bytes`] of `bearer`, the token these facts were verified
    /// from (the token cache hands them out for that token alone): hashed on the first call,
    /// remembered for the cached token's later decisions.
    pub fn fingerprint(&self, bearer: &str) -> [u8; 6] {
        *self
            .fingerprint
            .0
            .get_or_init(|| super::token_fingerprint_bytes(bearer))
    }
}

/// A token's scopes in order, none empty, none repeated, kept compactly: a cached token holds
/// them for as long as it is cached (one string instead of a `String` per scope).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TokenScopes(Kept);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kept {
    /// Joined by single spaces: every scope when none holds a space (always so for the `scope`
    /// claim, which is split on spaces).
    Joined(Box<str>),
    /// One by one, when some scope (from an `scp` array or a roles claim) holds a space.
    Listed(Box<[Box<str>]>),
}

impl Default for Kept {
    fn default() -> Self {
        Self::Joined(Box::default())
    }
}

impl TokenScopes {
    /// The scopes, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let (joined, listed): (&str, &[Box<str>]) = match &self.0 {
            Kept::Joined(joined) => (joined, &[]),
            Kept::Listed(listed) => ("", listed),
        };
        let joined = joined.split(' ').filter(|s| !s.is_empty());
        joined.chain(listed.iter().map(|s| &**s))
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }
}

/// The same scopes in the same order.
impl<const N: usize> PartialEq<[&str; N]> for TokenScopes {
    fn eq(&self, other: &[&str; N]) -> bool {
        self.iter().eq(other.iter().copied())
    }
}

/// Keeps the non-empty ones, first occurrence of each, in order.
impl<'a> FromIterator<&'a str> for TokenScopes {
    fn from_iter<I: IntoIterator<Item = &'a str>>(names: I) -> Self {
        let names = names.into_iter();
        // Seeded foldhash: SipHash and its per-call seeding showed in cold-token profiles.
        let mut seen = HashSet::with_capacity_and_hasher(
            names.size_hint().0,
            foldhash::fast::RandomState::default(),
        );
        let kept: Vec<&str> = names.filter(|s| !s.is_empty() && seen.insert(*s)).collect();
        if kept.iter().any(|s| s.contains(' ')) {
            return Self(Kept::Listed(kept.into_iter().map(Box::from).collect()));
        }
        Self(Kept::Joined(kept.join(" ").into_boxed_str()))
    }
}

/// A verified token's fingerprint, computed once. Not a fact about the token's claims: two
/// sets of facts compare equal whether or not either has computed it.
#[derive(Debug, Clone, Default)]
pub struct FingerprintMemo(std::sync::OnceLock<[u8; 6]>);

impl PartialEq for FingerprintMemo {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// Validates the claims of a verified JWS and lifts them into a [`VerifiedToken`].
pub(crate) fn validate(
    mut claims: Map<String, Value>,
    policy: &VerifyPolicy,
    now: i64,
    alg: Algorithm,
    kid: Option<String>,
) -> Result<VerifiedToken, Rejection> {
    let leeway = policy.leeway_seconds;
    let exp = match claims.get("exp") {
        None => return Err(Rejection::MissingExp),
        Some(v) => numeric_date(v, Rounding::Down)?,
    };
    if now >= exp.saturating_add(leeway) {
        return Err(Rejection::Expired);
    }
    let nbf = claims
        .get("nbf")
        .map(|v| numeric_date(v, Rounding::Up))
        .transpose()?;
    if nbf.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
        return Err(Rejection::NotYetValid);
    }
    let iat = claims
        .get("iat")
        .map(|v| numeric_date(v, Rounding::Up))
        .transpose()?;
    if iat.is_some_and(|iat| iat > now.saturating_add(leeway)) {
        return Err(Rejection::IssuedInFuture);
    }
    let iss = string_claim(&claims, "iss")?.ok_or(Rejection::IssuerMismatch)?;
    if policy.issuer.is_empty() || iss != &*policy.issuer {
        return Err(Rejection::IssuerMismatch);
    }
    if policy.audiences.is_empty() {
        return Err(Rejection::NoAudienceConfigured);
    }
    let aud = audiences(claims.get("aud"))?;
    if !aud.iter().any(|a| policy.audiences.contains(a)) {
        return Err(Rejection::AudienceMismatch);
    }
    if !policy.require_at_jwt_typ && looks_like_id_token(&claims, &aud, policy)? {
        return Err(Rejection::IdTokenShaped);
    }

    let token = VerifiedToken {
        iss: Arc::clone(&policy.issuer),
        sub: string_claim(&claims, "sub")?.map(str::to_owned),
        aud,
        exp,
        iat,
        nbf,
        jti: string_claim(&claims, "jti")?.map(str::to_owned),
        client_id: first_string(&claims, "client_id", "azp")?,
        username: first_string(&claims, "username", "preferred_username")?,
        scopes: scopes(&claims, &policy.scope_claims)?,
        token_type: BEARER,
        alg: Some(alg),
        kid,
        other_claims: Map::new(),
        fingerprint: FingerprintMemo::default(),
    };
    for name in LIFTED {
        claims.remove(name);
    }
    // A map emptied by removals keeps its node (~630 bytes per cached token); an empty one
    // allocates nothing.
    let other_claims = if claims.is_empty() {
        Map::new()
    } else {
        claims
    };
    Ok(VerifiedToken {
        other_claims,
        ..token
    })
}

/// Without the `typ` check nothing in the header tells an access token from an ID token, so the
/// claims must: `nonce` and `at_hash` belong to ID tokens only (OpenID Connect Core §2, §3.1.3.6),
/// and an ID token's audience is the client it was issued to (its `azp`/`client_id`), which a
/// resource server accepts only when it lists that value as one of its own audiences.
fn looks_like_id_token(
    claims: &Map<String, Value>,
    aud: &[String],
    policy: &VerifyPolicy,
) -> Result<bool, Rejection> {
    if claims.contains_key("nonce") || claims.contains_key("at_hash") {
        return Ok(true);
    }
    let azp = string_claim(claims, "azp")?;
    let client_id = string_claim(claims, "client_id")?;
    Ok(aud.iter().any(|a| {
        (azp == Some(a.as_str()) || client_id == Some(a.as_str())) && !policy.audiences.contains(a)
    }))
}

#[derive(Clone, Copy)]
pub(crate) enum Rounding {
    Down,
    Up,
}

/// A NumericDate (RFC 7519 §2): a JSON number of seconds, possibly fractional. Rounded in the
/// direction that shortens the token's validity.
pub(crate) fn numeric_date(value: &Value, rounding: Rounding) -> Result<i64, Rejection> {
    const LIMIT: f64 = 9_007_199_254_740_992.0; // 2^53: beyond it f64 seconds are not exact
    if let Some(seconds) = value.as_i64() {
        return Ok(seconds);
    }
    let seconds = value
        .as_f64()
        .filter(|s| s.is_finite() && s.abs() < LIMIT)
        .ok_or(Rejection::InvalidClaim)?;
    let rounded = match rounding {
        Rounding::Down => seconds.floor(),
        Rounding::Up => seconds.ceil(),
    };
    #[allow(clippy::cast_possible_truncation)] // |rounded| < 2^53
    Ok(rounded as i64)
}

pub(crate) fn string_claim<'a>(
    claims: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a str>, Rejection> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Rejection::InvalidClaim),
    }
}

pub(crate) fn first_string(
    claims: &Map<String, Value>,
    first: &str,
    second: &str,
) -> Result<Option<String>, Rejection> {
    let a = string_claim(claims, first)?;
    let b = string_claim(claims, second)?;
    Ok(a.or(b).map(str::to_owned))
}

pub(crate) fn audiences(aud: Option<&Value>) -> Result<Vec<String>, Rejection> {
    match aud {
        None => Err(Rejection::AudienceMismatch),
        Some(Value::String(a)) => Ok(vec![a.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_owned)
                    .ok_or(Rejection::InvalidClaim)
            })
            .collect(),
        Some(_) => Err(Rejection::InvalidClaim),
    }
}

/// `scope` (RFC 9068 §2.2.3, space-separated) wins; else `scp` as an array of strings or, as some
/// issuers send it, a space-separated string.
pub(crate) fn scopes(
    claims: &Map<String, Value>,
    mapped: &ScopeClaims,
) -> Result<TokenScopes, Rejection> {
    let mut raw: Vec<&str> = match (claims.get("scope"), claims.get("scp")) {
        _ if !mapped.keeps_scope_claim() => Vec::new(),
        (Some(Value::String(s)), _) | (None, Some(Value::String(s))) => s.split(' ').collect(),
        (None, Some(Value::Array(items))) => items
            .iter()
            .map(|i| i.as_str().ok_or(Rejection::InvalidClaim))
            .collect::<Result<_, _>>()?,
        (None, None) => Vec::new(),
        _ => return Err(Rejection::InvalidClaim),
    };
    mapped.each(claims, |name| raw.push(name));
    Ok(raw.into_iter().collect())
}
