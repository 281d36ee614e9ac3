//! Introspection credentials' client ids and secrets: generated here from the system's secure
//! random source, stored only as SHA-256, compared in constant time. A secret is never logged.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use super::status::ApiError;
use crate::store::StoreError;

/// Prefix of every introspection credential's client id.
const CLIENT_ID_PREFIX: &str = "ic_";

/// A new client id: `ic_` and 22 base64url characters (16 random bytes), so unique across
/// tenants without asking the store.
pub fn new_client_id() -> Result<String, ApiError> {
    Ok(format!(
        "{CLIENT_ID_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(random::<16>()?)
    ))
}

/// A new secret: 43 base64url characters (32 random bytes).
pub fn new_secret() -> Result<String, ApiError> {
    Ok(URL_SAFE_NO_PAD.encode(random::<32>()?))
}

/// What is stored of a secret.
pub fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Whether `presented` is the secret whose digest is `stored`, in constant time.
pub fn matches(presented: &str, stored: &[u8; 32]) -> bool {
    bool::from(digest(presented).ct_eq(stored))
}

/// Whether `raw` could be a client id this module generated: anything else is refused before
/// the store is asked.
pub fn plausible_client_id(raw: &str) -> bool {
    raw.strip_prefix(CLIENT_ID_PREFIX).is_some_and(|rest| {
        rest.len() == 22
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

fn random<const N: usize>() -> Result<[u8; N], ApiError> {
    let mut bytes = [0; N];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| {
        ApiError::Store(StoreError::Internal(
            "the secure random source failed".to_owned(),
        ))
    })?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_and_secrets_have_their_documented_shape_and_differ() {
        let (a, b) = (new_client_id().unwrap(), new_client_id().unwrap());
        let secret = new_secret().unwrap();

        assert!(
            plausible_client_id(&a) && plausible_client_id(&b),
            "{a} {b}"
        );
        assert_ne!(a, b);
        assert_eq!(secret.len(), 43);
        assert!(matches(&secret, &digest(&secret)));
        assert!(!matches("wrong", &digest(&secret)));
        assert!(!plausible_client_id("ic_short"));
        assert!(!plausible_client_id("xx_AAAAAAAAAAAAAAAAAAAAAA"));
    }
}
