//! Why a token was not accepted: a closed set of reasons, each with a stable label.

/// Why a token is inactive. The label ([`Rejection::as_str`]) is stable and meant for logs,
/// metrics and the opt-in explain trace; it never goes into an RFC 7662 answer, which says only
/// `active=false`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// Longer than [`super::MAX_TOKEN_BYTES`].
    #[error("token is too large")]
    TooLarge,
    /// Not exactly three `.`-separated segments.
    #[error("token is not a compact JWS")]
    Malformed,
    /// A segment is not canonical, unpadded base64url.
    #[error("token segment is not canonical base64url")]
    BadEncoding,
    /// The protected header is not a JSON object, repeats a member, or has a mistyped member.
    #[error("token header is invalid")]
    BadHeader,
    /// `alg` is not in the tenant's allow-list (`none` never is).
    #[error("algorithm not allowed")]
    AlgorithmNotAllowed,
    /// The header carries `crit`, `b64`, `jku`, `x5u`, `jwk` or `x5c`.
    #[error("forbidden header parameter")]
    ForbiddenHeader,
    /// `typ` is not `at+jwt` while the tenant requires it.
    #[error("wrong token type")]
    WrongType,
    /// The header's `kid` names no key in the tenant's set (a JWKS refresh may help).
    #[error("unknown key id")]
    UnknownKid,
    /// No `kid` in the header and no key in the set for the header's `alg`.
    #[error("no key for the algorithm")]
    NoMatchingKey,
    /// No `kid` in the header and several keys in the set for the header's `alg`.
    #[error("key is ambiguous without a kid")]
    AmbiguousKey,
    /// The `kid` names a key bound to another algorithm (RFC 8725 §3.1).
    #[error("key is bound to another algorithm")]
    KeyAlgorithmMismatch,
    /// The signature does not verify.
    #[error("signature is invalid")]
    BadSignature,
    /// The payload is not a JSON object, or repeats a claim.
    #[error("token payload is invalid")]
    BadPayload,
    /// A registered claim has the wrong JSON type.
    #[error("a claim has an invalid value")]
    InvalidClaim,
    /// No `exp` claim.
    #[error("exp claim is missing")]
    MissingExp,
    /// `exp` has passed (beyond the leeway).
    #[error("token has expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("token is not yet valid")]
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    #[error("token was issued in the future")]
    IssuedInFuture,
    /// `iss` is missing or differs from the tenant's issuer.
    #[error("issuer mismatch")]
    IssuerMismatch,
    /// `aud` is missing or names none of the tenant's audiences.
    #[error("audience mismatch")]
    AudienceMismatch,
    /// The tenant accepts no audience, so no token can be valid for it.
    #[error("tenant has no accepted audience")]
    NoAudienceConfigured,
    /// The tenant accepts other `typ` values than `at+jwt`, and the token looks like an OpenID
    /// Connect ID token: it carries `nonce` or `at_hash`, or its audience names its own client
    /// (`azp`/`client_id`) without that value being an accepted audience.
    #[error("token looks like an ID token")]
    IdTokenShaped,
    /// The tenant's keys could not be loaded (no key source, unusable set, fetch failed).
    #[error("tenant keys unavailable")]
    KeysUnavailable,
    /// The tenant's upstream introspection endpoint answered `active: false`.
    #[error("upstream says inactive")]
    UpstreamInactive,
    /// The upstream answer is not a JSON object, is larger than 64 KiB, lacks a boolean
    /// `active`, or has a mistyped member.
    #[error("upstream answer is invalid")]
    UpstreamInvalid,
    /// The upstream endpoint did not answer in time, refused the call, or answered an HTTP
    /// error: the token's state is unknown (fail closed, and callers can tell it from a bad token).
    #[error("upstream introspection unavailable")]
    UpstreamUnavailable,
    /// The tenant already has as many upstream calls in flight as allowed.
    #[error("upstream introspection busy")]
    UpstreamBusy,
    /// The upstream answer is about another kind of token (`token_type` neither Bearer nor DPoP).
    #[error("not an access token")]
    NotAnAccessToken,
}

impl Rejection {
    /// A stable `snake_case` label for metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TooLarge => "too_large",
            Self::Malformed => "malformed",
            Self::BadEncoding => "bad_encoding",
            Self::BadHeader => "bad_header",
            Self::AlgorithmNotAllowed => "algorithm_not_allowed",
            Self::ForbiddenHeader => "forbidden_header",
            Self::WrongType => "wrong_type",
            Self::UnknownKid => "unknown_kid",
            Self::NoMatchingKey => "no_matching_key",
            Self::AmbiguousKey => "ambiguous_key",
            Self::KeyAlgorithmMismatch => "key_algorithm_mismatch",
            Self::BadSignature => "bad_signature",
            Self::BadPayload => "bad_payload",
            Self::InvalidClaim => "invalid_claim",
            Self::MissingExp => "missing_exp",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::IssuedInFuture => "issued_in_future",
            Self::IssuerMismatch => "issuer_mismatch",
            Self::AudienceMismatch => "audience_mismatch",
            Self::NoAudienceConfigured => "no_audience_configured",
            Self::IdTokenShaped => "id_token_shaped",
            Self::KeysUnavailable => "keys_unavailable",
            Self::UpstreamInactive => "upstream_inactive",
            Self::UpstreamInvalid => "upstream_invalid",
            Self::UpstreamUnavailable => "upstream_unavailable",
            Self::UpstreamBusy => "upstream_busy",
            Self::NotAnAccessToken => "not_access_token",
        }
    }

    /// Whether the rejection is a property of the token itself, so remembering it briefly in the
    /// negative cache is safe. Key loading failures and upstream faults are transient (or the
    /// upstream's, not the token's) and are not remembered.
    pub fn is_cacheable(self) -> bool {
        !matches!(
            self,
            Self::KeysUnavailable
                | Self::UpstreamInvalid
                | Self::UpstreamUnavailable
                | Self::UpstreamBusy
        )
    }

    /// Whether the token's state is unknown because its upstream could not be asked: decision
    /// doors answer UNAVAILABLE (503) rather than a denial, so callers can tell an outage from a
    /// bad token. Introspection answers it inactive.
    pub fn is_outage(label: &str) -> bool {
        label == Self::UpstreamUnavailable.as_str() || label == Self::UpstreamBusy.as_str()
    }
}
