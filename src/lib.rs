//! scopegate: token introspection, scope decisions and per-tenant OAuth scope catalogs.

pub mod scope;
pub mod tenant;
pub mod token;
