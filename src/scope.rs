//! The scope domain, pure: names, the catalog model, requirements, the compiled catalog and
//! the decision with its RFC 6750 challenge. No I/O, no proto, no sqlx.

mod model;
mod name;

pub use model::{
    valid_operation_name, AdminStyle, CatalogSnapshot, Client, Operation, Scope,
    MAX_OPERATION_NAME_LEN, OIDC_SYSTEM_SCOPES,
};
pub use name::{is_scope_char, parse_scope_list, ScopeName, ScopeNameError, MAX_SCOPE_NAME_LEN};
pub mod edit;
