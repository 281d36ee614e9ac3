//! A tenant's revocations, indexed for a check per token.

use std::collections::{HashMap, HashSet};

use sha2::{Digest, Sha256};

use crate::{
    store::{Revocation, RevocationKind},
    token::VerifiedToken,
};

/// A tenant's revocations, indexed for a check per token.
#[derive(Debug, Default)]
pub struct RevocationIndex {
    jtis: HashSet<String>,
    clients: HashMap<String, i64>,
    subjects: HashMap<String, i64>,
    tokens: HashSet<String>,
}

/// The key under which a `jti`-less token is revoked: hex SHA-256 of its text.
pub fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl RevocationIndex {
    /// Indexes unexpired revocations.
    pub fn new(rows: Vec<Revocation>) -> Self {
        let mut index = Self::default();
        for row in rows {
            match row.kind {
                RevocationKind::Jti => {
                    index.jtis.insert(row.value);
                }
                RevocationKind::Client => {
                    index.clients.insert(row.value, row.not_before);
                }
                RevocationKind::Subject => {
                    index.subjects.insert(row.value, row.not_before);
                }
                RevocationKind::Token => {
                    index.tokens.insert(row.value);
                }
            }
        }
        index
    }

    /// Whether a verified token (whose text is `raw`) is revoked: its `jti` is, the token
    /// itself is, or it was issued before its client's or subject's not-before. A token
    /// without `iat` counts as issued before any not-before.
    pub fn is_revoked(&self, token: &VerifiedToken, raw: &str) -> bool {
        let issued = token.iat.unwrap_or(i64::MIN);
        let before = |map: &HashMap<String, i64>, id: Option<&String>| {
            id.and_then(|id| map.get(id))
                .is_some_and(|&not_before| issued < not_before)
        };
        token
            .jti
            .as_ref()
            .is_some_and(|jti| self.jtis.contains(jti))
            || before(&self.clients, token.client_id.as_ref())
            || before(&self.subjects, token.sub.as_ref())
            || (!self.tokens.is_empty() && self.tokens.contains(&token_digest(raw)))
    }
}
