//! The opt-in explain trace: every alternative tried and the implications relied on.

use super::bits;
use super::grant::{Grant, Implication};
use super::{Alternative, CompiledCatalog, Decision, Requirement, ScopeName};

/// The opt-in account of a decision, built only by [`CompiledCatalog::decide_explained`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explain<'a> {
    /// The operation consulted, for an operation requirement.
    pub operation: Option<&'a str>,
    /// Every alternative, in listed order.
    pub alternatives: Vec<AlternativeTrace<'a>>,
    /// Implications the matched alternative (or, when denied, the closest) relied on.
    pub implications_used: Vec<Implication<'a>>,
}

/// How one alternative fared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlternativeTrace<'a> {
    /// Which alternative.
    pub alternative: Alternative<'a>,
    /// Scopes of the alternative that exist but are not granted.
    pub missing: usize,
    /// Scopes of the alternative the catalog does not have; non-empty means it can never match.
    pub unknown: Vec<&'a ScopeName>,
}

/// Receives each alternative as it is evaluated; `()` ignores them at no cost.
pub(crate) trait Tracer<'a> {
    /// Whether every alternative must be visited (else evaluation stops at the first match).
    const FULL: bool;
    fn alternative(&mut self, alternative: Alternative<'a>, missing: u32);
}

impl<'a> Tracer<'a> for () {
    const FULL: bool = false;
    #[inline]
    fn alternative(&mut self, _: Alternative<'a>, _: u32) {}
}

/// Collects traces; unknown names are filled in afterwards.
impl<'a> Tracer<'a> for Vec<AlternativeTrace<'a>> {
    const FULL: bool = true;
    fn alternative(&mut self, alternative: Alternative<'a>, missing: u32) {
        self.push(AlternativeTrace {
            alternative,
            missing: missing as usize,
            unknown: Vec::new(),
        });
    }
}

impl CompiledCatalog {
    /// [`CompiledCatalog::decide`] plus the account of how it was reached.
    pub fn decide_explained<'a>(
        &'a self,
        grant: &Grant<'a>,
        requirement: &'a Requirement,
    ) -> (Decision<'a>, Explain<'a>) {
        let mut alternatives: Vec<AlternativeTrace<'a>> = Vec::new();
        let decision = self.evaluate(grant, requirement, &mut alternatives);
        for trace in &mut alternatives {
            let names = trace.alternative.scopes.iter();
            trace.unknown = names.filter(|n| self.id(n.as_str()).is_none()).collect();
        }
        let relied_on = decision.satisfied_by.or(decision.closest);
        let implications_used = match relied_on {
            Some(alternative) if std::ptr::eq(grant.catalog, self) => alternative
                .scopes
                .iter()
                .filter_map(|name| self.id(name.as_str()))
                .filter(|&id| {
                    bits::contains(&grant.effective, id) && !bits::contains(&grant.direct, id)
                })
                .filter_map(|id| grant.implication_for(id))
                .collect(),
            _ => Vec::new(),
        };
        let explain = Explain {
            operation: requirement.operation_name(),
            alternatives,
            implications_used,
        };
        (decision, explain)
    }
}
