//! `ResolveScopes`: what an authorization request may be granted (RFC 6749 §3.3).

use super::bits;
use super::grant::join;
use super::{CompiledCatalog, ScopeName};

/// The scopes to grant for one authorization request.
///
/// Guarantees: `granted` holds only catalog scopes, no duplicates, no reserved scope unless
/// the client is registered as first-party, nothing outside a registered client's allowed
/// set; it may be empty (the authorization server should then refuse with `invalid_scope`).
/// Requested scopes keep the request's order; defaults come sorted by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// The scopes to put in the token.
    pub granted: Vec<ScopeName>,
    /// Requested (or default) scopes left out, with why, in request order.
    pub dropped: Vec<(ScopeName, DropReason)>,
    /// Something requested (or default) was dropped: `dropped` is not empty.
    pub narrowed: bool,
    /// The request named no scope and the tenant's defaults were used.
    pub defaulted: bool,
}

impl Resolution {
    /// Whether `granted` differs from the request (narrowed, or defaults stood in for an empty
    /// request), so the authorization server must echo `scope` (RFC 6749 §3.3, §5.1).
    pub fn must_echo_scope(&self) -> bool {
        self.narrowed || (self.defaulted && !self.granted.is_empty())
    }

    /// `granted` as an RFC 6749 §3.3 space-delimited list.
    pub fn scope_string(&self) -> String {
        join(&self.granted)
    }
}

/// Why a requested scope was not granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Not in the catalog (only when the tenant drops unknown scopes).
    Unknown,
    /// Reserved, and the client is not a registered first-party client.
    Reserved,
    /// Outside the registered client's allowed scopes.
    NotAllowedForClient,
}

/// Why an authorization request's scope was refused (RFC 6749 `invalid_scope`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// Malformed tokens (always), or names the catalog lacks (unless the tenant drops them),
    /// in request order, as sent.
    #[error("invalid_scope: {}", unknown.join(" "))]
    InvalidScope { unknown: Vec<String> },
}

impl CompiledCatalog {
    /// Resolves a requested `scope` parameter for `client_id`.
    ///
    /// The request is split on spaces (RFC 6749 §3.3); a token that is not a valid
    /// scope-token (e.g. holds `"`, a tab, or is over 128 bytes) is always `invalid_scope`,
    /// even for tenants that drop unknown names, since it is a malformed request rather than
    /// a stale one. An empty request gets the tenant's `is_default` scopes, or `openid` when
    /// none is default and it exists; defaults go through the same client filters. A client
    /// id that is not registered (or none) is treated as a third-party client with no
    /// allowed-set restriction: it never receives reserved scopes. First-party status comes
    /// only from registration; there is no override. `implies` is not expanded here: tokens
    /// carry what was granted and decisions apply the closure.
    pub fn resolve(
        &self,
        requested: &str,
        client_id: Option<&str>,
    ) -> Result<Resolution, ResolveError> {
        let client = client_id.and_then(|id| self.clients.get(id));
        let first_party = client.is_some_and(|c| c.first_party);

        let mut invalid: Vec<String> = Vec::new();
        let mut asked: Vec<ScopeName> = Vec::new();
        for token in requested.split(' ').filter(|t| !t.is_empty()) {
            match ScopeName::parse(token) {
                Ok(name) if self.id(name.as_str()).is_none() && !self.drop_unknown_scopes() => {
                    push_unique(&mut invalid, token);
                }
                Ok(name) => {
                    if !asked.contains(&name) {
                        asked.push(name);
                    }
                }
                Err(_) => push_unique(&mut invalid, token),
            }
        }
        if !invalid.is_empty() {
            return Err(ResolveError::InvalidScope { unknown: invalid });
        }

        let defaulted = asked.is_empty();
        if defaulted {
            asked = self.default_scopes();
        }
        let mut granted = Vec::with_capacity(asked.len());
        let mut dropped = Vec::new();
        for name in asked {
            let verdict = match self.id(name.as_str()) {
                None => Some(DropReason::Unknown),
                Some(id) if !first_party && bits::contains(&self.reserved, id) => {
                    Some(DropReason::Reserved)
                }
                Some(id) if client.is_some_and(|c| !bits::contains(&c.allowed, id)) => {
                    Some(DropReason::NotAllowedForClient)
                }
                Some(_) => None,
            };
            match verdict {
                Some(reason) => dropped.push((name, reason)),
                None => granted.push(name),
            }
        }
        Ok(Resolution {
            narrowed: !dropped.is_empty(),
            granted,
            dropped,
            defaulted,
        })
    }

    /// The tenant's default scopes, sorted by name; `openid` alone when none is default.
    pub fn default_scopes(&self) -> Vec<ScopeName> {
        let defaults: Vec<ScopeName> = bits::iter(&self.defaults)
            .filter_map(|id| self.name(id).cloned())
            .collect();
        if !defaults.is_empty() {
            return defaults;
        }
        self.scope("openid")
            .map(|s| vec![s.name.clone()])
            .unwrap_or_default()
    }
}

fn push_unique(list: &mut Vec<String>, token: &str) {
    if !list.iter().any(|t| t == token) {
        list.push(token.to_owned());
    }
}
