//! The admin key of a first run: a server started with no admin key configured generates one
//! on its database's first start, keeps only its SHA-256 in the store, and hands the key to
//! `main` to print once (as Vault's dev mode and Grafana's first run do). Later starts, and
//! other replicas of the same database, accept that key without ever seeing it again. A
//! configured key (`--admin-key`) always wins and nothing is generated.

use secrecy::SecretString;

use crate::{
    config::AdminKeyHash,
    store::{FirstRunKey, Store, StoreError},
};

/// What the first-run key decided.
#[derive(Debug)]
pub(crate) struct FirstRun {
    /// The key the admin API accepts.
    pub key_hash: AdminKeyHash,
    /// The key itself, when this start generated it: to be shown once.
    pub generated: Option<SecretString>,
}

/// The admin key prefix: recognisable in a leaked-secret scan, never part of the secret.
const PREFIX: &str = "sgadm_";

/// Generates a key and records it unless the store has one already (see
/// [`Store::first_run_admin_key`]).
pub(crate) async fn admin_key(store: &dyn Store) -> Result<FirstRun, StoreError> {
    let key = new_key()?;
    let offered = AdminKeyHash::of(&key);
    Ok(match store.first_run_admin_key(&offered.0).await? {
        FirstRunKey::Created(hash) => FirstRun {
            key_hash: AdminKeyHash(hash),
            generated: Some(SecretString::from(key)),
        },
        FirstRunKey::Existing(hash) => FirstRun {
            key_hash: AdminKeyHash(hash),
            generated: None,
        },
    })
}

/// `sgadm_` and 256 random bits, base64url.
fn new_key() -> Result<String, StoreError> {
    use base64::Engine as _;
    let mut bytes = [0; 32];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| StoreError::Internal("the secure random source failed".to_owned()))?;
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    Ok(format!("{PREFIX}{encoded}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_run_keys_are_prefixed_random_and_header_safe() {
        let (a, b) = (new_key().unwrap(), new_key().unwrap());
        assert_ne!(a, b);
        for key in [&a, &b] {
            let rest = key.strip_prefix(PREFIX).expect("prefix");
            assert_eq!(rest.len(), 43, "{key}");
            assert!(
                rest.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
            );
        }
    }
}
