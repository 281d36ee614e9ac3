//! The catalog as stored: scopes, clients and operations of one tenant, plain data.

use super::ScopeName;

/// Which spelling a tenant uses for its reserved admin pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AdminStyle {
    /// `admin:read` / `admin:write` (the default).
    #[default]
    Colon,
    /// `admin.read` / `admin.write`.
    Dot,
}

impl AdminStyle {
    /// The reserved (read, write) scope names for this style.
    pub fn admin_pair(self) -> (&'static str, &'static str) {
        match self {
            Self::Colon => ("admin:read", "admin:write"),
            Self::Dot => ("admin.read", "admin.write"),
        }
    }

    /// Stable storage spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Colon => "colon",
            Self::Dot => "dot",
        }
    }

    /// Inverse of [`AdminStyle::as_str`].
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "colon" => Some(Self::Colon),
            "dot" => Some(Self::Dot),
            _ => None,
        }
    }
}

/// The OIDC identity scopes that exist in every tenant and can never change.
pub const OIDC_SYSTEM_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// One scope of a tenant's catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// Store-assigned id, unique across the store.
    pub id: i64,
    pub name: ScopeName,
    /// User-facing text for consent screens.
    pub description: String,
    /// Granted when an authorization request asks for no scope.
    pub is_default: bool,
    /// Built in; can be neither updated nor deleted.
    pub is_system: bool,
    /// Admin scope: first-party clients only, never listed for discovery.
    pub is_reserved: bool,
    /// Scopes this one includes (`courses:write` ⊇ `courses:read`), direct edges only.
    pub implies: Vec<ScopeName>,
    /// Unix milliseconds.
    pub created_at_ms: i64,
    /// Unix milliseconds.
    pub updated_at_ms: i64,
    /// Opaque version for optimistic concurrency; changes on every update.
    pub etag: String,
}

/// An OAuth client registered with a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub client_id: String,
    pub name: String,
    /// First-party clients may receive reserved scopes.
    pub first_party: bool,
    /// The scopes this client may be granted; anything else is dropped at resolve time.
    pub allowed_scopes: Vec<ScopeName>,
}

/// A named operation (an MCP tool, `GET /courses`, …) and what it needs: satisfied when any
/// one alternative is fully granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    pub name: String,
    pub description: String,
    /// Disjunction of conjunctions. Never empty once validated.
    pub alternatives: Vec<Vec<ScopeName>>,
}

/// Longest operation name accepted, in bytes.
pub const MAX_OPERATION_NAME_LEN: usize = 200;

/// Checks an operation name: 1..=200 bytes of printable ASCII (space allowed inside, so that
/// `GET /courses` works), no leading or trailing space.
pub fn valid_operation_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_OPERATION_NAME_LEN
        && name.bytes().all(|b| (0x20..=0x7e).contains(&b))
        && !name.starts_with(' ')
        && !name.ends_with(' ')
}

/// Every scope, client and operation of a tenant at one catalog revision.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CatalogSnapshot {
    pub tenant: String,
    pub revision: i64,
    pub admin_style: AdminStyle,
    /// What `ResolveScopes` does with unknown names.
    pub drop_unknown_scopes: bool,
    pub scopes: Vec<Scope>,
    pub clients: Vec<Client>,
    pub operations: Vec<Operation>,
}

impl CatalogSnapshot {
    /// The client with this exact id.
    pub fn client(&self, client_id: &str) -> Option<&Client> {
        self.clients.iter().find(|c| c.client_id == client_id)
    }

    /// The operation with this exact name.
    pub fn operation(&self, name: &str) -> Option<&Operation> {
        self.operations.iter().find(|o| o.name == name)
    }
}
