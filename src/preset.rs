//! Catalog files: the TOML format that presets ship in and that `ExportCatalog` and
//! `ImportCatalog` speak. Importing is declarative: the plan makes the tenant's custom
//! scopes, operations and clients equal to the file's, so importing twice changes nothing.

use serde::{Deserialize, Serialize};

use crate::scope::{
    AdminStyle, CatalogSnapshot, Client, OIDC_SYSTEM_SCOPES, Operation, Scope, ScopeName,
    edit::{self, Edit, EditError, NewScope, ScopeKey, ScopePatch},
};

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
    /// Parses a catalog file; errors name the line.
    pub fn parse(content: &str) -> Result<Self, EditError> {
        toml::from_str(content).map_err(|e| EditError::invalid("content", e.to_string()))
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

    /// The file form of a catalog: its custom scopes, operations and clients.
    pub fn export(catalog: &CatalogSnapshot) -> Self {
        let strings = |names: &[ScopeName]| names.iter().map(ToString::to_string).collect();
        Self {
            catalog: CatalogHeader {
                admin_style: Some(catalog.admin_style.as_str().to_owned()),
            },
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

/// The system scopes every tenant has, for its admin style.
pub fn system_scopes(style: AdminStyle, revision: i64, now_ms: i64) -> Vec<Scope> {
    let (admin_read, admin_write) = style.admin_pair();
    let described = [
        (
            OIDC_SYSTEM_SCOPES[0],
            "Sign you in and know who you are",
            true,
            false,
        ),
        (
            OIDC_SYSTEM_SCOPES[1],
            "See your name and basic profile",
            false,
            false,
        ),
        (
            OIDC_SYSTEM_SCOPES[2],
            "See your email address and whether it is verified",
            false,
            false,
        ),
        (
            OIDC_SYSTEM_SCOPES[3],
            "Stay signed in while you are away",
            false,
            false,
        ),
        (
            admin_read,
            "Read the platform's administration API",
            false,
            true,
        ),
        (
            admin_write,
            "Change anything through the platform's administration API",
            false,
            true,
        ),
    ];
    described
        .into_iter()
        .filter_map(|(name, description, is_default, is_reserved)| {
            Some(Scope {
                id: 0,
                name: ScopeName::parse(name).ok()?,
                description: description.to_owned(),
                is_default,
                is_system: true,
                is_reserved,
                implies: Vec::new(),
                created_at_ms: now_ms,
                updated_at_ms: now_ms,
                etag: edit::etag_for(revision),
            })
        })
        .collect()
}

/// Plans the seed of a new tenant: the system scopes, then the file's catalog.
pub fn seed(file: &CatalogFile, style: AdminStyle, now_ms: i64) -> Result<Edit, EditError> {
    let mut catalog = CatalogSnapshot {
        admin_style: style,
        ..CatalogSnapshot::default()
    };
    let mut plan = Edit::default();
    for scope in system_scopes(style, 1, now_ms) {
        let mut one = Edit::default();
        one.changes.push(edit::Change::PutScope(scope));
        one.apply_to(&mut catalog);
        plan.extend(one);
    }
    // The seed's revision is 1: planners stamp etags with `revision + 1`.
    let step = import(&catalog, file, now_ms)?;
    plan.extend(step);
    Ok(plan)
}

/// Plans making `current`'s custom scopes, operations and clients equal to `file`'s.
pub fn import(
    current: &CatalogSnapshot,
    file: &CatalogFile,
    now_ms: i64,
) -> Result<Edit, EditError> {
    let mut catalog = current.clone();
    let mut plan = Edit::default();
    let mut step = |catalog: &mut CatalogSnapshot, edit: Edit| {
        edit.apply_to(catalog);
        plan.extend(edit);
    };
    let wanted: Vec<(ScopeName, &FileScope)> = file
        .scopes
        .iter()
        .enumerate()
        .map(|(i, s)| {
            ScopeName::parse(&s.name)
                .map(|n| (n, s))
                .map_err(|e| EditError::invalid(format!("scope[{i}].name"), e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    // Operations and clients that disappear go first, so scope deletions do not touch them.
    for op in current
        .operations
        .iter()
        .filter(|o| !file.operations.iter().any(|f| f.name == o.name))
    {
        let next = edit::delete_operation(&catalog, &op.name)?;
        step(&mut catalog, next);
    }
    for c in current
        .clients
        .iter()
        .filter(|c| !file.clients.iter().any(|f| f.client_id == c.client_id))
    {
        let next = edit::delete_client(&catalog, &c.client_id)?;
        step(&mut catalog, next);
    }
    for scope in current
        .scopes
        .iter()
        .filter(|s| !s.is_system && !wanted.iter().any(|(n, _)| n == &s.name))
    {
        let next = edit::delete_scope(
            &catalog,
            &ScopeKey::Name(scope.name.to_string()),
            None,
            now_ms,
        )?;
        step(&mut catalog, next);
    }
    // New scopes first without implications, so implications may point at any of them.
    for (name, entry) in &wanted {
        match catalog.scopes.iter().find(|s| &s.name == name) {
            Some(existing) if existing.is_system => {
                return Err(EditError::SystemScope(name.to_string()));
            }
            Some(_) => {}
            None => {
                let new = NewScope {
                    name: name.clone(),
                    description: entry.description.clone(),
                    is_default: entry.default,
                    implies: Vec::new(),
                };
                let next = edit::create_scope(&catalog, new, now_ms)?;
                step(&mut catalog, next);
            }
        }
    }
    for (i, (name, entry)) in wanted.iter().enumerate() {
        let implies = parse_names(&entry.implies, &format!("scope[{i}].implies"))?;
        let Some(existing) = catalog.scopes.iter().find(|s| &s.name == name) else {
            continue;
        };
        if existing.description != entry.description
            || existing.is_default != entry.default
            || existing.implies != implies
        {
            let patch = ScopePatch {
                description: Some(entry.description.clone()),
                is_default: Some(entry.default),
                implies: Some(implies),
                etag: None,
            };
            let next =
                edit::update_scope(&catalog, &ScopeKey::Name(name.to_string()), patch, now_ms)?;
            step(&mut catalog, next);
        }
    }
    for (i, entry) in file.operations.iter().enumerate() {
        let alternatives = entry
            .alternatives
            .iter()
            .enumerate()
            .map(|(j, alt)| parse_names(alt, &format!("operation[{i}].alternatives[{j}]")))
            .collect::<Result<Vec<_>, _>>()?;
        let op = Operation {
            name: entry.name.clone(),
            description: entry.description.clone(),
            alternatives,
        };
        let existing = catalog.operations.iter().find(|o| o.name == op.name);
        if existing != Some(&op) {
            let create = existing.is_none();
            let next = edit::put_operation(&catalog, op, create)?;
            step(&mut catalog, next);
        }
    }
    for (i, entry) in file.clients.iter().enumerate() {
        let client = Client {
            client_id: entry.client_id.clone(),
            name: entry.name.clone(),
            first_party: entry.first_party,
            allowed_scopes: parse_names(
                &entry.allowed_scopes,
                &format!("client[{i}].allowed_scopes"),
            )?,
        };
        let existing = catalog
            .clients
            .iter()
            .find(|c| c.client_id == client.client_id);
        if existing != Some(&client) {
            let create = existing.is_none();
            let next = edit::put_client(&catalog, client, create)?;
            step(&mut catalog, next);
        }
    }
    Ok(plan)
}

fn parse_names(raw: &[String], field: &str) -> Result<Vec<ScopeName>, EditError> {
    raw.iter()
        .enumerate()
        .map(|(i, n)| {
            ScopeName::parse(n)
                .map_err(|e| EditError::invalid(format!("{field}[{i}]"), e.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seeded(preset: &str) -> CatalogSnapshot {
        let file = CatalogFile::preset(preset).unwrap();
        let style = file.admin_style().unwrap();
        let plan = seed(&file, style, 1).unwrap();
        let mut catalog = CatalogSnapshot {
            admin_style: style,
            revision: 1,
            ..Default::default()
        };
        plan.apply_to(&mut catalog);
        // As the store would: real ids are positive.
        for (i, scope) in catalog.scopes.iter_mut().enumerate() {
            scope.id = i64::try_from(i).unwrap() + 1;
        }
        catalog
    }

    #[test]
    fn every_preset_parses_and_seeds() {
        for (name, _) in PRESETS {
            let catalog = seeded(name);
            assert!(
                catalog
                    .scopes
                    .iter()
                    .any(|s| s.name.as_str() == "openid" && s.is_system)
            );
        }
    }

    #[test]
    fn loopwise_has_every_data_scope_and_tool_of_the_reference() {
        let catalog = seeded("loopwise");
        assert_eq!(catalog.scopes.iter().filter(|s| !s.is_system).count(), 28);
        assert_eq!(catalog.operations.len(), 33);
        let get_settings = catalog
            .operations
            .iter()
            .find(|o| o.name == "get_settings")
            .unwrap();
        let alts: Vec<Vec<&str>> = get_settings
            .alternatives
            .iter()
            .map(|a| a.iter().map(ScopeName::as_str).collect())
            .collect();
        assert_eq!(alts, [["school:read"], ["appearance:read"]]);
    }

    #[test]
    fn lumoauth_uses_the_dot_style_admin_pair() {
        let catalog = seeded("lumoauth");
        let reserved: Vec<&str> = catalog
            .scopes
            .iter()
            .filter(|s| s.is_reserved)
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(reserved, ["admin.read", "admin.write"]);
    }

    #[test]
    fn exporting_then_importing_changes_nothing() {
        let catalog = seeded("loopwise");
        let file = CatalogFile::parse(&CatalogFile::export(&catalog).to_toml()).unwrap();
        let plan = import(&catalog, &file, 2).unwrap();
        assert!(plan.changes.is_empty(), "{:?}", plan.changes);
    }

    #[test]
    fn import_creates_updates_and_deletes_to_match_the_file() {
        let catalog = seeded("loopwise");
        let file = CatalogFile::parse(
            r#"
            [[scope]]
            name = "courses:read"
            description = "Read courses"
            [[scope]]
            name = "courses:write"
            description = "Write courses"
            implies = ["courses:read"]
            [[operation]]
            name = "list_courses"
            alternatives = [["courses:read"]]
            "#,
        )
        .unwrap();
        let plan = import(&catalog, &file, 2).unwrap();
        let mut after = catalog;
        plan.apply_to(&mut after);
        assert_eq!(after.scopes.iter().filter(|s| !s.is_system).count(), 2);
        assert_eq!(after.operations.len(), 1);
        let write = after
            .scopes
            .iter()
            .find(|s| s.name.as_str() == "courses:write")
            .unwrap();
        assert_eq!(write.implies[0].as_str(), "courses:read");
        assert!(
            after.scopes.iter().any(|s| s.name.as_str() == "openid"),
            "system scopes stay"
        );
    }

    #[test]
    fn a_bad_file_names_its_line() {
        let err = CatalogFile::parse("[[scope]]\nname = 3\n").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }
}
