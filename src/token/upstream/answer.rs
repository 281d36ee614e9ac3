//! An RFC 7662 answer from a tenant's upstream endpoint turned into [`VerifiedToken`] facts:
//! `active`, `scope`, `client_id`, `sub`, `exp`, `iat`, `nbf`, `aud`, `iss`, `username`,
//! `token_type`, `jti`; the rest kept as other claims. Anything malformed is
//! [`Rejection::UpstreamInvalid`], never a guess.

use std::{sync::Arc, time::Duration};

use serde_json::Value;

use crate::token::BEARER;
use crate::token::claims::{
    LIFTED, Rounding, VerifiedToken, audiences, first_string, numeric_date, scopes, string_claim,
};
use crate::token::rejection::Rejection;
use crate::token::strict_json;
use crate::token::verify::VerifyPolicy;

/// The facts of an upstream answer `body` at `now_unix`, under the tenant's `policy` (leeway,
/// accepted audiences, roles claims). An answer without `exp` is taken to expire when its cache
/// TTL (`ttl_cap`) ends, and says so in `exp`.
pub(crate) fn facts(
    body: &[u8],
    policy: &VerifyPolicy,
    now_unix: i64,
    ttl_cap: Duration,
) -> Result<VerifiedToken, Rejection> {
    let mut claims = strict_json::parse_object(body).ok_or(Rejection::UpstreamInvalid)?;
    match claims.remove("active") {
        Some(Value::Bool(true)) => {}
        Some(Value::Bool(false)) => return Err(Rejection::UpstreamInactive),
        _ => return Err(Rejection::UpstreamInvalid),
    }
    let invalid = |_| Rejection::UpstreamInvalid;
    let token_type = match claims.remove("token_type") {
        None => BEARER,
        Some(Value::String(t)) if t.eq_ignore_ascii_case("bearer") => BEARER,
        Some(Value::String(t)) if t.eq_ignore_ascii_case("dpop") => "DPoP",
        Some(Value::String(_)) => return Err(Rejection::NotAnAccessToken),
        Some(_) => return Err(Rejection::UpstreamInvalid),
    };
    let date = |name: &str, rounding| {
        claims
            .get(name)
            .map(|v| numeric_date(v, rounding))
            .transpose()
            .map_err(invalid)
    };
    let exp = date("exp", Rounding::Down)?;
    let iat = date("iat", Rounding::Up)?;
    let nbf = date("nbf", Rounding::Up)?;
    let leeway = policy.leeway_seconds;
    if exp.is_some_and(|exp| now_unix >= exp.saturating_add(leeway)) {
        return Err(Rejection::Expired);
    }
    if nbf.is_some_and(|nbf| nbf > now_unix.saturating_add(leeway)) {
        return Err(Rejection::NotYetValid);
    }
    let ttl = i64::try_from(ttl_cap.as_secs()).unwrap_or(i64::MAX);
    let exp = exp.unwrap_or_else(|| now_unix.saturating_add(ttl));
    let aud = match claims.get("aud") {
        None => Vec::new(),
        some => audiences(some).map_err(invalid)?,
    };
    if !audience_accepted(&aud, policy) {
        return Err(Rejection::AudienceMismatch);
    }
    let iss = string_claim(&claims, "iss").map_err(invalid)?;
    let token = VerifiedToken {
        // The tenant's issuer when the answer names it or none, so the copy is shared.
        iss: match iss {
            Some(named) if named != &*policy.issuer => named.into(),
            _ => Arc::clone(&policy.issuer),
        },
        sub: string_claim(&claims, "sub")
            .map_err(invalid)?
            .map(str::to_owned),
        aud,
        exp,
        iat,
        nbf,
        jti: string_claim(&claims, "jti")
            .map_err(invalid)?
            .map(str::to_owned),
        client_id: first_string(&claims, "client_id", "azp").map_err(invalid)?,
        username: first_string(&claims, "username", "preferred_username").map_err(invalid)?,
        scopes: scopes(&claims, &policy.scope_claims).map_err(invalid)?,
        token_type,
        alg: None,
        kid: None,
        other_claims: serde_json::Map::new(),
        fingerprint: crate::token::FingerprintMemo::default(),
    };
    for name in LIFTED {
        claims.remove(name);
    }
    Ok(VerifiedToken {
        other_claims: claims,
        ..token
    })
}

/// A tenant that accepts audiences takes only answers naming one of them; a tenant that lists
/// none (an opaque-only tenant) leaves audiences to its authorization server.
pub(crate) fn audience_accepted(aud: &[String], policy: &VerifyPolicy) -> bool {
    policy.audiences.is_empty() || aud.iter().any(|a| policy.audiences.contains(a))
}
