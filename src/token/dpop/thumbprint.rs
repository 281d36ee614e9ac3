//! JWK thumbprints (RFC 7638) and the DPoP key binding an access token carries (RFC 9449 §6.1).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::token::VerifiedToken;

impl VerifiedToken {
    /// The `cnf` `jkt` thumbprint the token is bound to (RFC 9449 §6.1), if any. A `cnf` whose
    /// `jkt` is not a string binds the token to no key at all: `Some("")`, which no proof matches.
    pub fn dpop_binding(&self) -> Option<&str> {
        let cnf = self.other_claims.get("cnf")?.as_object()?;
        let bound = cnf.get("jkt")?;
        Some(bound.as_str().unwrap_or_default())
    }
}

/// The RFC 7638 SHA-256 thumbprint of a public JWK, base64url without padding: the digest of
/// the key's required members only (RSA `e`, `kty`, `n`; EC `crv`, `kty`, `x`, `y`; OKP `crv`,
/// `kty`, `x` per RFC 8037 §2), in lexicographic order, without whitespace. `None` for another
/// `kty` or when a required member is missing or not a string.
pub fn jwk_thumbprint(jwk: &Value) -> Option<String> {
    let kty = jwk.get("kty")?.as_str()?;
    let members: &[&str] = match kty {
        "RSA" => &["e", "kty", "n"],
        "EC" => &["crv", "kty", "x", "y"],
        "OKP" => &["crv", "kty", "x"],
        _ => return None,
    };
    let mut canonical = String::from("{");
    for (i, name) in members.iter().enumerate() {
        let value = jwk.get(*name)?.as_str()?;
        if i > 0 {
            canonical.push(',');
        }
        // serde_json writes a string with the minimal escaping RFC 7638 §3.3 expects (RFC 7159).
        canonical.push_str(&Value::from(*name).to_string());
        canonical.push(':');
        canonical.push_str(&Value::from(value).to_string());
    }
    canonical.push('}');
    Some(URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes())))
}
