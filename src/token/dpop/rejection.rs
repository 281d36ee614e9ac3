//! Why a DPoP proof was not accepted: a closed set of reasons, each with a stable label.

/// Why a DPoP proof (RFC 9449 §4.3) does not authorize the request it came with. The label
/// ([`DpopRejection::as_str`]) is stable and meant for logs and metrics; what a client is told
/// is the caller's business (RFC 9449 §7.1: `invalid_dpop_proof` or `invalid_token`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum DpopRejection {
    /// No proof at all (an empty `DPoP` header value).
    #[error("DPoP proof is missing")]
    Missing,
    /// Longer than [`super::MAX_PROOF_BYTES`].
    #[error("DPoP proof is too large")]
    TooLarge,
    /// Not three `.`-separated segments of canonical, unpadded base64url.
    #[error("DPoP proof is not a compact JWS")]
    Malformed,
    /// The header is not a JSON object, repeats a member, has a mistyped member, or carries
    /// `crit`, `b64`, `jku`, `x5u` or `x5c`.
    #[error("DPoP proof header is invalid")]
    BadHeader,
    /// `typ` is not `dpop+jwt`.
    #[error("DPoP proof has the wrong type")]
    BadTyp,
    /// `alg` is missing, `none`, symmetric, not in the policy, or not the one the `jwk` declares.
    #[error("DPoP proof algorithm not allowed")]
    BadAlg,
    /// No `jwk` header, or one that is no usable public key for `alg`.
    #[error("DPoP proof key is unusable")]
    BadJwk,
    /// The `jwk` header carries private key material (`d`, `p`, `q`, `dp`, `dq`, `qi`, `oth`, `k`).
    #[error("DPoP proof key contains private key material")]
    PrivateKey,
    /// The signature does not verify with the `jwk` header's key.
    #[error("DPoP proof signature is invalid")]
    BadSignature,
    /// The payload is not a JSON object, or repeats a claim.
    #[error("DPoP proof payload is invalid")]
    BadPayload,
    /// `htm`, `htu`, `iat`, `jti` or `ath` is missing or has the wrong JSON type, or `jti` is empty.
    #[error("DPoP proof claim is missing or invalid")]
    InvalidClaim,
    /// `htm` is not the request's method.
    #[error("DPoP proof is for another HTTP method")]
    HtmMismatch,
    /// `htu` is not the request's target URI (query and fragment ignored).
    #[error("DPoP proof is for another URI")]
    HtuMismatch,
    /// `iat` is further than the policy's window from now, in either direction.
    #[error("DPoP proof creation time is out of the accepted window")]
    IatOutOfWindow,
    /// `jti` is longer than [`super::MAX_JTI_BYTES`].
    #[error("DPoP proof jti is too long")]
    JtiTooLong,
    /// `ath` is not the base64url SHA-256 of the access token presented with the proof.
    #[error("DPoP proof is for another access token")]
    AthMismatch,
    /// The access token carries no `cnf.jkt`: it is not bound to a DPoP key.
    #[error("access token is not DPoP-bound")]
    NotBound,
    /// The proof's key is not the key the access token is bound to (`cnf.jkt`).
    #[error("DPoP proof key is not the key the access token is bound to")]
    JktMismatch,
    /// A proof with this `jti` and key was already accepted within the window.
    #[error("DPoP proof was replayed")]
    Replayed,
    /// The replay cache is full of live entries: the proof cannot be remembered, so it is refused.
    #[error("DPoP replay cache is full")]
    ReplayCacheFull,
}

impl DpopRejection {
    /// A stable `snake_case` label for metrics and logs, always starting with `dpop_`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "dpop_missing",
            Self::TooLarge => "dpop_too_large",
            Self::Malformed => "dpop_malformed",
            Self::BadHeader => "dpop_bad_header",
            Self::BadTyp => "dpop_bad_typ",
            Self::BadAlg => "dpop_bad_alg",
            Self::BadJwk => "dpop_bad_jwk",
            Self::PrivateKey => "dpop_private_key",
            Self::BadSignature => "dpop_bad_signature",
            Self::BadPayload => "dpop_bad_payload",
            Self::InvalidClaim => "dpop_invalid_claim",
            Self::HtmMismatch => "dpop_htm_mismatch",
            Self::HtuMismatch => "dpop_htu_mismatch",
            Self::IatOutOfWindow => "dpop_iat_out_of_window",
            Self::JtiTooLong => "dpop_jti_too_long",
            Self::AthMismatch => "dpop_ath_mismatch",
            Self::NotBound => "dpop_not_bound",
            Self::JktMismatch => "dpop_jkt_mismatch",
            Self::Replayed => "dpop_replayed",
            Self::ReplayCacheFull => "dpop_replay_cache_full",
        }
    }
}
