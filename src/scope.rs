//! The scope domain, pure: names, the catalog model, requirements, the compiled catalog and
//! the decision with its RFC 6750 challenge. No I/O, no proto, no sqlx.
//!
//! Path of a check: the store's [`CatalogSnapshot`] is compiled once per revision into a
//! [`CompiledCatalog`]; a token's scopes become a [`Grant`] against it; a [`Requirement`] is
//! decided into a [`Decision`], which yields a [`Challenge`] when denied.

mod bits;
mod catalog;
mod challenge;
mod closure;
mod decision;
pub mod edit;
mod explain;
mod grant;
pub mod limits;
mod model;
mod name;
mod operation;
mod requirement;
mod resolve;

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests;

pub use catalog::{CatalogIssue, CompiledCatalog};
pub use challenge::{Challenge, DpopError, in_dpop_scheme};
pub use closure::implies_cycle;
pub use decision::{Alternative, Decision, Reason};
pub use explain::{AlternativeTrace, Explain};
pub use grant::{Grant, Implication};
pub use model::{
    AdminStyle, CatalogSnapshot, Client, MAX_OPERATION_NAME_LEN, OIDC_SYSTEM_SCOPES, Operation,
    Scope, valid_operation_name,
};
pub use name::{MAX_SCOPE_NAME_LEN, ScopeName, ScopeNameError, is_scope_char, parse_scope_list};
pub use operation::CompiledOperation;
pub use requirement::{MAX_REQUIREMENT_SCOPES, Requirement, RequirementError};
pub use resolve::{DropReason, Resolution, ResolveError};
