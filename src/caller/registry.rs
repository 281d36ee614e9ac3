//! The caller registry's entries: a calling service's name, the tenants it may ask about and the
//! surfaces it may use, and its keys (ids and digests only). Registered through the admin API
//! (`ManageCaller`), stored by the store, read whole into the tenant directory.

use std::fmt;

use crate::tenant::TenantId;

/// Longest caller name, in bytes.
pub const MAX_CALLER_NAME_LEN: usize = 255;

/// Most tenants one caller may be limited to (list them, or allow all).
pub const MAX_CALLER_TENANTS: usize = 1000;

/// Whether `name` can name a caller: 1-255 bytes of visible ASCII, so that a certificate's DNS
/// or URI name (a SPIFFE id) can be registered as it is.
pub fn valid_caller_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_CALLER_NAME_LEN
        && name.bytes().all(|b| b.is_ascii_graphic())
}

/// A surface callers may be let onto or kept off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Surface {
    /// Decisions: `CheckScopes`, `ResolveScopes`, Envoy ext_authz, forward auth, AuthZEN.
    Decision,
    /// Token introspection over gRPC (`Introspect`).
    Introspection,
}

impl Surface {
    /// Every surface.
    pub const ALL: [Self; 2] = [Self::Decision, Self::Introspection];

    /// The surface's name in configuration, storage and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Decision => "decision",
            Self::Introspection => "introspection",
        }
    }

    /// The surface named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// A set of surfaces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Surfaces {
    decision: bool,
    introspection: bool,
}

impl Surfaces {
    /// No surface.
    pub const NONE: Self = Self {
        decision: false,
        introspection: false,
    };

    /// Every surface.
    pub const ALL: Self = Self {
        decision: true,
        introspection: true,
    };

    /// Whether `surface` is in the set.
    pub fn contains(self, surface: Surface) -> bool {
        match surface {
            Surface::Decision => self.decision,
            Surface::Introspection => self.introspection,
        }
    }

    /// The set with `surface` added.
    #[must_use]
    pub fn with(mut self, surface: Surface) -> Self {
        match surface {
            Surface::Decision => self.decision = true,
            Surface::Introspection => self.introspection = true,
        }
        self
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self == Self::NONE
    }

    /// The surfaces in the set, in a fixed order.
    pub fn iter(self) -> impl Iterator<Item = Surface> {
        Surface::ALL.into_iter().filter(move |s| self.contains(*s))
    }

    /// Reads a list of surface names separated by spaces or commas (`none` or nothing: empty;
    /// `all`: every one). The error is the first name that is no surface.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut set = Self::NONE;
        for name in list.split([' ', ',']).filter(|n| !n.is_empty()) {
            match name {
                "none" => {}
                "all" => set = Self::ALL,
                _ => {
                    set = set.with(Surface::parse(name).ok_or_else(|| name.to_owned())?);
                }
            }
        }
        Ok(set)
    }
}

impl std::str::FromStr for Surfaces {
    type Err = String;

    fn from_str(list: &str) -> Result<Self, String> {
        Self::parse(list).map_err(|name| {
            format!("unknown surface {name:?}: name decision, introspection, all or none")
        })
    }
}

impl fmt::Display for Surfaces {
    /// Space-separated names (as stored), `none` for the empty set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        let names: Vec<&str> = self.iter().map(Surface::as_str).collect();
        f.write_str(&names.join(" "))
    }
}

/// The tenants a caller may ask about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallerTenants {
    /// Every tenant, present and future.
    All,
    /// Only these (sorted, without repeats; may name tenants that do not exist yet).
    Only(Vec<TenantId>),
}

impl CallerTenants {
    /// A limit to `tenants` (sorted and de-duplicated here).
    pub fn only(mut tenants: Vec<TenantId>) -> Self {
        tenants.sort();
        tenants.dedup();
        Self::Only(tenants)
    }

    /// Whether `tenant` is allowed.
    pub fn contains(&self, tenant: &TenantId) -> bool {
        match self {
            Self::All => true,
            Self::Only(list) => list.binary_search(tenant).is_ok(),
        }
    }

    /// As stored: `*`, or the ids separated by spaces.
    pub fn to_stored(&self) -> String {
        match self {
            Self::All => "*".to_owned(),
            Self::Only(list) => list
                .iter()
                .map(TenantId::as_str)
                .collect::<Vec<_>>()
                .join(" "),
        }
    }

    /// Reads [`Self::to_stored`]'s form; the error is the first unreadable id.
    pub fn from_stored(stored: &str) -> Result<Self, String> {
        if stored == "*" {
            return Ok(Self::All);
        }
        stored
            .split(' ')
            .filter(|id| !id.is_empty())
            .map(|id| TenantId::parse(id).map_err(|_| id.to_owned()))
            .collect::<Result<Vec<_>, _>>()
            .map(Self::only)
    }
}

/// One key of a caller, as stored: its public id and the SHA-256 of its secret. `Debug` shows
/// no digest.
#[derive(Clone, PartialEq, Eq)]
pub struct CallerKey {
    pub key_id: String,
    pub secret_sha256: [u8; 32],
    pub created_at_ms: i64,
}

impl fmt::Debug for CallerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallerKey")
            .field("key_id", &self.key_id)
            .field("created_at_ms", &self.created_at_ms)
            .finish_non_exhaustive()
    }
}

/// A registered caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredCaller {
    /// Unique; a certificate naming it (SAN or CN) is this caller too.
    pub name: String,
    pub tenants: CallerTenants,
    pub surfaces: Surfaces,
    /// Its keys, sorted by id (any of them authenticates it; several allow rotation).
    pub keys: Vec<CallerKey>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(raw: &str) -> TenantId {
        TenantId::parse(raw).unwrap()
    }

    #[test]
    fn surface_lists_read_names_commas_all_and_none() {
        assert_eq!(Surfaces::parse(""), Ok(Surfaces::NONE));
        assert_eq!(Surfaces::parse("none"), Ok(Surfaces::NONE));
        assert_eq!(Surfaces::parse("all"), Ok(Surfaces::ALL));
        assert_eq!(
            Surfaces::parse("decision"),
            Ok(Surfaces::NONE.with(Surface::Decision))
        );
        assert_eq!(Surfaces::parse("introspection,decision"), Ok(Surfaces::ALL));
        assert_eq!(Surfaces::parse("decision admin"), Err("admin".to_owned()));
        assert_eq!(Surfaces::ALL.to_string(), "decision introspection");
        assert_eq!(
            Surfaces::parse(&Surfaces::ALL.to_string()),
            Ok(Surfaces::ALL)
        );
    }

    #[test]
    fn tenant_limits_round_trip_and_answer_membership() {
        let only = CallerTenants::only(vec![id("b"), id("a"), id("b")]);

        assert_eq!(only.to_stored(), "a b");
        assert_eq!(CallerTenants::from_stored("a b"), Ok(only.clone()));
        assert_eq!(CallerTenants::from_stored("*"), Ok(CallerTenants::All));
        assert!(only.contains(&id("a")) && !only.contains(&id("c")));
        assert!(CallerTenants::All.contains(&id("c")));
        assert_eq!(CallerTenants::from_stored("a B"), Err("B".to_owned()));
    }

    #[test]
    fn caller_names_are_visible_ascii_and_bounded() {
        assert!(valid_caller_name(
            "spiffe://cluster.local/ns/shop/sa/orders"
        ));
        assert!(!valid_caller_name(""));
        assert!(!valid_caller_name("two words"));
        assert!(!valid_caller_name(&"x".repeat(MAX_CALLER_NAME_LEN + 1)));
        assert!(!valid_caller_name("é"));
    }
}
