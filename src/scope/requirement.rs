//! What a call needs: a disjunction of conjunctions of scope names, or a named operation.

use super::{ScopeName, valid_operation_name};

/// Most scope names one requirement may list, summed over its alternatives. Bounds the work
/// of one decision whatever a caller sends.
pub const MAX_REQUIREMENT_SCOPES: usize = 256;

/// A validated requirement, satisfied when any one alternative is fully granted.
///
/// Guarantees: there is at least one alternative; no alternative is empty (an empty
/// conjunction would be satisfied by every token, which is never what a caller meant); names
/// inside an alternative are unique, in the order first given; at most
/// [`MAX_REQUIREMENT_SCOPES`] names in all. An operation requirement holds a syntactically
/// valid operation name and is resolved against a catalog only when decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Scopes(Box<[Box<[ScopeName]>]>),
    Operation(Box<str>),
}

/// Why a requirement was rejected; the API reports it as `INVALID_ARGUMENT`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequirementError {
    /// No scope and no alternative at all.
    #[error("requirement names no scope")]
    Empty,
    /// An alternative with no scope (it would allow any token).
    #[error("alternative {index} names no scope")]
    EmptyAlternative {
        /// Zero-based position of the empty alternative.
        index: usize,
    },
    /// More than [`MAX_REQUIREMENT_SCOPES`] names.
    #[error("requirement names more than {MAX_REQUIREMENT_SCOPES} scopes")]
    TooLarge,
    /// The operation name is empty, too long or not printable ASCII.
    #[error("invalid operation name")]
    InvalidOperationName,
}

impl Requirement {
    /// Every name must be granted (one alternative). Empty input is
    /// [`RequirementError::Empty`].
    pub fn all_of(names: impl IntoIterator<Item = ScopeName>) -> Result<Self, RequirementError> {
        Self::alternatives(vec![names.into_iter().collect()])
    }

    /// Any one name suffices (each name is its own alternative). Empty input is
    /// [`RequirementError::Empty`].
    pub fn any_of(names: impl IntoIterator<Item = ScopeName>) -> Result<Self, RequirementError> {
        Self::alternatives(names.into_iter().map(|n| vec![n]).collect())
    }

    /// A disjunction of conjunctions, in the caller's order (the order breaks ties when the
    /// closest alternative is chosen). Duplicate names inside an alternative are merged.
    pub fn alternatives(alternatives: Vec<Vec<ScopeName>>) -> Result<Self, RequirementError> {
        if alternatives.is_empty() {
            return Err(RequirementError::Empty);
        }
        let total: usize = alternatives.iter().map(Vec::len).sum();
        if total > MAX_REQUIREMENT_SCOPES {
            return Err(RequirementError::TooLarge);
        }
        let mut out = Vec::with_capacity(alternatives.len());
        for (index, alternative) in alternatives.into_iter().enumerate() {
            if alternative.is_empty() {
                return Err(if total == 0 {
                    RequirementError::Empty
                } else {
                    RequirementError::EmptyAlternative { index }
                });
            }
            out.push(dedup_in_order(alternative).into_boxed_slice());
        }
        Ok(Self {
            kind: Kind::Scopes(out.into_boxed_slice()),
        })
    }

    /// The requirement stored in the catalog under this operation name (an MCP tool, `GET
    /// /courses`, …). Only the name's syntax is checked here; a name the catalog does not
    /// know is decided as [`super::Reason::UnknownOperation`].
    pub fn operation(name: &str) -> Result<Self, RequirementError> {
        if !valid_operation_name(name) {
            return Err(RequirementError::InvalidOperationName);
        }
        Ok(Self {
            kind: Kind::Operation(name.into()),
        })
    }

    /// The operation name, for an operation requirement.
    pub fn operation_name(&self) -> Option<&str> {
        match &self.kind {
            Kind::Operation(name) => Some(name),
            Kind::Scopes(_) => None,
        }
    }

    /// The alternatives, for a requirement given as scopes.
    pub fn scope_alternatives(&self) -> Option<&[Box<[ScopeName]>]> {
        match &self.kind {
            Kind::Scopes(alternatives) => Some(alternatives),
            Kind::Operation(_) => None,
        }
    }
}

/// Removes repeated names, keeping the first occurrence of each.
pub(crate) fn dedup_in_order(names: Vec<ScopeName>) -> Vec<ScopeName> {
    let mut out: Vec<ScopeName> = Vec::with_capacity(names.len());
    for name in names {
        if !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn names(raw: &[&str]) -> Vec<ScopeName> {
        raw.iter().map(|n| ScopeName::parse(n).unwrap()).collect()
    }

    #[test]
    fn constructors_build_the_expected_alternatives() {
        let all = Requirement::all_of(names(&["a", "b", "a"])).unwrap();
        assert_eq!(
            all.scope_alternatives().unwrap(),
            [names(&["a", "b"]).into()]
        );
        let any = Requirement::any_of(names(&["a", "b"])).unwrap();
        let expected: [Box<[ScopeName]>; 2] = [names(&["a"]).into(), names(&["b"]).into()];
        assert_eq!(any.scope_alternatives().unwrap(), expected);
        let op = Requirement::operation("GET /courses").unwrap();
        assert_eq!(op.operation_name(), Some("GET /courses"));
        assert!(op.scope_alternatives().is_none());
    }

    #[test]
    fn empty_and_oversized_requirements_are_rejected() {
        let cases: Vec<(Result<Requirement, RequirementError>, RequirementError)> = vec![
            (Requirement::all_of(vec![]), RequirementError::Empty),
            (Requirement::any_of(vec![]), RequirementError::Empty),
            (Requirement::alternatives(vec![]), RequirementError::Empty),
            (
                Requirement::alternatives(vec![vec![]]),
                RequirementError::Empty,
            ),
            (
                Requirement::alternatives(vec![names(&["a"]), vec![]]),
                RequirementError::EmptyAlternative { index: 1 },
            ),
            (
                Requirement::any_of(names(&["a"]).into_iter().cycle().take(257)),
                RequirementError::TooLarge,
            ),
            (
                Requirement::operation(""),
                RequirementError::InvalidOperationName,
            ),
            (
                Requirement::operation(" x"),
                RequirementError::InvalidOperationName,
            ),
            (
                Requirement::operation("tab\there"),
                RequirementError::InvalidOperationName,
            ),
        ];
        for (i, (got, want)) in cases.into_iter().enumerate() {
            assert_eq!(got, Err(want), "case {i}");
        }
        assert!(Requirement::any_of(names(&["a"]).into_iter().cycle().take(256)).is_ok());
    }
}
