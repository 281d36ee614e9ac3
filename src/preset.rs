//! Catalog files: the TOML format that presets ship in and that `ExportCatalog` and
//! `ImportCatalog` speak. Importing is declarative: the plan makes the tenant's custom
//! scopes, operations and clients equal to the file's, so importing twice changes nothing.

use serde::{Deserialize, Serialize};

mod plan;
#[cfg(test)]
mod tests;

use crate::{
    scope::{AdminStyle, CatalogSnapshot, ScopeName, edit::EditError},
    tenant::{Tenant, TenantSettings},
};

pub use plan::{import, seed, system_scopes};

/// The presets shipped in the binary: (name, file content).
pub const PRESETS: [(&str, &str); 3] = [
    ("oidc", include_str!("../presets/oidc.toml")),
    ("loopwise", include_str!("../presets/loopwise.toml")),
    ("lumoauth", include_str!("../presets/lumoauth.toml")),
];

/// The default preset.
pub const DEFAULT_PRESET: &str = "oidc";

/// A parsed catalog file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogFile {
    #[serde(default)]
    pub catalog: CatalogHeader,
    /// Token settings: applied when a tenant is created from the file, and on import (keys
    /// left out stay as they are).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<TenantSettings>,
    #[serde(default, rename = "scope", skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<FileScope>,
    #[serde(default, rename = "operation", skip_serializing_if = "Vec::is_empty")]
    pub operations: Vec<FileOperation>,
    #[serde(default, rename = "client", skip_serializing_if = "Vec::is_empty")]
    pub clients: Vec<FileClient>,
}

/// The `[catalog]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogHeader {
    /// `colon` (admin:read/admin:write) or `dot` (admin.read/admin.write). Only used when a
    /// tenant is created; an import never changes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_style: Option<String>,
}

/// A `[[scope]]` entry: a custom scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileScope {
    pub name: String,
    pub description: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub default: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub implies: Vec<String>,
}

/// An `[[operation]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileOperation {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub alternatives: Vec<Vec<String>>,
}

/// A `[[client]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileClient {
    pub client_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub first_party: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_scopes: Vec<String>,
}

impl CatalogFile {
    /// Parses a catalog file; errors name the line and quote nothing of it (the parser's
    /// own rendering quotes the whole line, however long).
    pub fn parse(content: &str) -> Result<Self, EditError> {
        toml::from_str(content).map_err(|e| {
            let at = e.span().map_or_else(String::new, |span| {
                let start = span.start.min(content.len());
                let line = content.as_bytes()[..start]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count();
                format!("line {}: ", line + 1)
            });
            let message = crate::scope::limits::truncate(e.message().trim(), 300).into_owned();
            EditError::invalid("content", format!("{at}{message}"))
        })
    }

    /// The shipped preset called `name`.
    pub fn preset(name: &str) -> Result<Self, EditError> {
        let (_, content) = PRESETS.iter().find(|(n, _)| *n == name).ok_or_else(|| {
            let known: Vec<&str> = PRESETS.iter().map(|(n, _)| *n).collect();
            EditError::invalid(
                "preset",
                format!("unknown preset; known: {}", known.join(", ")),
            )
        })?;
        Self::parse(content)
    }

    /// The admin style the file asks for (colon when absent).
    pub fn admin_style(&self) -> Result<AdminStyle, EditError> {
        match self.catalog.admin_style.as_deref() {
            None => Ok(AdminStyle::Colon),
            Some(raw) => AdminStyle::parse(raw)
                .ok_or_else(|| EditError::invalid("catalog.admin_style", "must be colon or dot")),
        }
    }

    /// The file form of a tenant: its token settings (see [`TenantSettings::of`]) and its
    /// custom scopes, operations and clients.
    pub fn export(tenant: &Tenant, catalog: &CatalogSnapshot) -> Self {
        let strings = |names: &[ScopeName]| names.iter().map(ToString::to_string).collect();
        Self {
            catalog: CatalogHeader {
                admin_style: Some(catalog.admin_style.as_str().to_owned()),
            },
            tenant: Some(TenantSettings::of(tenant)),
            scopes: catalog
                .scopes
                .iter()
                .filter(|s| !s.is_system)
                .map(|s| FileScope {
                    name: s.name.to_string(),
                    description: s.description.clone(),
                    default: s.is_default,
                    implies: strings(&s.implies),
                })
                .collect(),
            operations: catalog
                .operations
                .iter()
                .map(|o| FileOperation {
                    name: o.name.clone(),
                    description: o.description.clone(),
                    alternatives: o.alternatives.iter().map(|a| strings(a)).collect(),
                })
                .collect(),
            clients: catalog
                .clients
                .iter()
                .map(|c| FileClient {
                    client_id: c.client_id.clone(),
                    name: c.name.clone(),
                    first_party: c.first_party,
                    allowed_scopes: strings(&c.allowed_scopes),
                })
                .collect(),
        }
    }

    /// TOML text of this file.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }
}
