//! The decision: may this grant do what this requirement asks, why not, and what would help.

use super::bits;
use super::explain::Tracer;
use super::grant::Grant;
use super::operation::CompiledOperation;
use super::{CompiledCatalog, Requirement, ScopeName};

/// Why a check came out the way it did: one type for the whole service, so the API layer's
/// own outcomes (`TokenInactive`, `TenantNotFound`) sit beside the catalog's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// An alternative is fully granted.
    Allowed,
    /// The token is not active (API layer).
    TokenInactive,
    /// Every scope exists, but no alternative is fully granted.
    InsufficientScope,
    /// The requirement names an operation the catalog does not have.
    UnknownOperation,
    /// The requirement names a scope the catalog does not have.
    UnknownScope,
    /// The tenant does not exist (API layer).
    TenantNotFound,
}

impl Reason {
    /// Stable upper-case spelling, as in the proto enum and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "ALLOWED",
            Self::TokenInactive => "TOKEN_INACTIVE",
            Self::InsufficientScope => "INSUFFICIENT_SCOPE",
            Self::UnknownOperation => "UNKNOWN_OPERATION",
            Self::UnknownScope => "UNKNOWN_SCOPE",
            Self::TenantNotFound => "TENANT_NOT_FOUND",
        }
    }

    /// The HTTP status a resource server should answer with: 200 when allowed; 401 when
    /// the token is inactive or belongs to no known tenant (RFC 6750 `invalid_token`: get a
    /// new token); 403 for every other denial, unknown operations and scopes included (fail
    /// closed: the token is fine, the request is not allowed).
    pub fn http_status(self) -> u16 {
        match self {
            Self::Allowed => 200,
            Self::TokenInactive | Self::TenantNotFound => 401,
            Self::InsufficientScope | Self::UnknownOperation | Self::UnknownScope => 403,
        }
    }
}

/// One alternative of a requirement, by position and names (as listed, duplicates removed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alternative<'a> {
    /// Zero-based position in the requirement or operation.
    pub index: usize,
    /// Its scope names.
    pub scopes: &'a [ScopeName],
}

/// The answer to one check. Allowing allocates nothing.
///
/// Guarantees: `allowed` iff `reason == Allowed` iff `satisfied_by` is set (the first
/// alternative, in listed order, that is fully granted). When denied for
/// `InsufficientScope`, `closest` is the live alternative with the fewest missing scopes (ties:
/// first listed) and `missing` its missing scopes in listed order; when denied for
/// `UnknownScope`, `missing` names the scopes the catalog lacks and `closest` is unset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision<'a> {
    /// The request may proceed.
    pub allowed: bool,
    /// Why.
    pub reason: Reason,
    /// What to add (or, for `UnknownScope`, what the catalog lacks); empty when allowed.
    pub missing: Vec<&'a ScopeName>,
    /// The alternative that matched.
    pub satisfied_by: Option<Alternative<'a>>,
    /// The alternative nearest to being satisfied, for `InsufficientScope`.
    pub closest: Option<Alternative<'a>>,
}

impl Decision<'static> {
    /// A denial decided before any catalog is consulted (`TokenInactive`, `TenantNotFound`, …).
    pub fn denied(reason: Reason) -> Self {
        Self {
            allowed: false,
            reason,
            missing: Vec::new(),
            satisfied_by: None,
            closest: None,
        }
    }
}

/// Best candidates found while scanning alternatives.
#[derive(Clone, Copy, Default)]
struct Scan<'a> {
    satisfied: Option<Alternative<'a>>,
    closest: Option<(Alternative<'a>, u32)>,
}

impl<'a> Scan<'a> {
    fn offer(&mut self, alternative: Alternative<'a>, missing: u32) {
        if missing == 0 {
            self.satisfied.get_or_insert(alternative);
        } else if self.closest.is_none_or(|(_, best)| missing < best) {
            self.closest = Some((alternative, missing));
        }
    }
}

impl CompiledCatalog {
    /// Decides `requirement` for `grant`. Fail closed: a scope requirement naming a scope the
    /// catalog lacks is denied `UnknownScope` whatever else it lists; an unknown operation is
    /// denied `UnknownOperation`; an operation whose every alternative is dead is denied
    /// `UnknownScope` naming the deleted scopes (or `InsufficientScope` with nothing missing
    /// when the stored operation had no scopes at all). A grant built by another catalog
    /// counts as empty.
    pub fn decide<'a>(&'a self, grant: &Grant<'a>, requirement: &'a Requirement) -> Decision<'a> {
        self.evaluate(grant, requirement, &mut ())
    }

    pub(crate) fn evaluate<'a, T: Tracer<'a>>(
        &'a self,
        grant: &Grant<'a>,
        requirement: &'a Requirement,
        trace: &mut T,
    ) -> Decision<'a> {
        let have = grant.effective_in(self);
        if let Some(alternatives) = requirement.scope_alternatives() {
            return self.decide_scopes(have, alternatives, trace);
        }
        let operation = requirement.operation_name().and_then(|n| self.operation(n));
        match operation {
            Some(operation) => self.decide_operation(have, operation, trace),
            None => Decision::denied(Reason::UnknownOperation),
        }
    }

    fn decide_operation<'a, T: Tracer<'a>>(
        &'a self,
        have: &[u64],
        operation: CompiledOperation<'a>,
        trace: &mut T,
    ) -> Decision<'a> {
        let mut scan = Scan::default();
        for (index, alt) in operation.resolved().enumerate() {
            let alternative = Alternative {
                index,
                scopes: alt.names,
            };
            let missing = alt.set.missing_from(have);
            trace.alternative(alternative, missing);
            if alt.live {
                scan.offer(alternative, missing);
                if !T::FULL && scan.satisfied.is_some() {
                    break;
                }
            }
        }
        if scan.satisfied.is_some() || scan.closest.is_some() {
            return self.conclude(have, scan);
        }
        let mut deleted: Vec<&'a ScopeName> = Vec::new();
        for name in operation.alternatives().flatten() {
            if self.id(name.as_str()).is_none() && !deleted.contains(&name) {
                deleted.push(name);
            }
        }
        let reason = if deleted.is_empty() {
            Reason::InsufficientScope
        } else {
            Reason::UnknownScope
        };
        Decision {
            missing: deleted,
            ..Decision::denied(reason)
        }
    }

    fn decide_scopes<'a, T: Tracer<'a>>(
        &'a self,
        have: &[u64],
        alternatives: &'a [Box<[ScopeName]>],
        trace: &mut T,
    ) -> Decision<'a> {
        let mut scan = Scan::default();
        let mut any_unknown = false;
        for (index, names) in alternatives.iter().enumerate() {
            let alternative = Alternative {
                index,
                scopes: names,
            };
            let (mut missing, mut live) = (0u32, true);
            for name in names {
                match self.id(name.as_str()) {
                    Some(id) => missing += u32::from(!bits::contains(have, id)),
                    None => live = false,
                }
            }
            trace.alternative(alternative, missing);
            if live {
                scan.offer(alternative, missing);
            } else {
                any_unknown = true;
            }
        }
        if !any_unknown {
            return self.conclude(have, scan);
        }
        let mut unknown: Vec<&'a ScopeName> = Vec::new();
        for name in alternatives.iter().flat_map(|a| a.iter()) {
            if self.id(name.as_str()).is_none() && !unknown.contains(&name) {
                unknown.push(name);
            }
        }
        Decision {
            missing: unknown,
            ..Decision::denied(Reason::UnknownScope)
        }
    }

    /// Turns a scan over live alternatives into a decision.
    fn conclude<'a>(&self, have: &[u64], scan: Scan<'a>) -> Decision<'a> {
        if let Some(alternative) = scan.satisfied {
            return Decision {
                allowed: true,
                reason: Reason::Allowed,
                missing: Vec::new(),
                satisfied_by: Some(alternative),
                closest: None,
            };
        }
        let Some((alternative, _)) = scan.closest else {
            return Decision::denied(Reason::InsufficientScope);
        };
        let missing = alternative
            .scopes
            .iter()
            .filter(|n| {
                self.id(n.as_str())
                    .is_none_or(|id| !bits::contains(have, id))
            })
            .collect();
        Decision {
            missing,
            closest: Some(alternative),
            ..Decision::denied(Reason::InsufficientScope)
        }
    }
}
