//! Scope names (RFC 6749 §3.3 `scope-token`) parsed once at the edge.

use std::{fmt, sync::Arc};

/// Longest scope name accepted, in bytes.
pub const MAX_SCOPE_NAME_LEN: usize = 128;

/// A valid scope name: 1..=128 bytes of `%x21 / %x23-5B / %x5D-7E` (printable ASCII without
/// space, `"` and `\`). Case-sensitive; comparison is byte-wise.
///
/// Shared: a clone is the same allocation, so a compiled catalog keeps each name once however
/// many `implies` edges, operations and clients name it, and answers copy none.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ScopeName(Arc<str>);

/// Why a string is not a scope name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeNameError {
    #[error("scope name must not be empty")]
    Empty,
    #[error("scope name is longer than {MAX_SCOPE_NAME_LEN} bytes")]
    TooLong,
    #[error("scope name contains a character outside RFC 6749 scope-token (byte {0:#04x})")]
    InvalidChar(u8),
}

impl ScopeName {
    /// Parses a single scope-token.
    pub fn parse(raw: &str) -> Result<Self, ScopeNameError> {
        if raw.is_empty() {
            return Err(ScopeNameError::Empty);
        }
        if raw.len() > MAX_SCOPE_NAME_LEN {
            return Err(ScopeNameError::TooLong);
        }
        if let Some(&bad) = raw.as_bytes().iter().find(|&&b| !is_scope_char(b)) {
            return Err(ScopeNameError::InvalidChar(bad));
        }
        Ok(Self(raw.into()))
    }

    /// The name as sent on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether both are the one shared allocation (not merely equal).
    pub fn shares(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// `NQCHAR` of RFC 6749 Appendix A: `%x21 / %x23-5B / %x5D-7E`.
pub fn is_scope_char(b: u8) -> bool {
    b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b)
}

/// Splits a space-delimited scope string (RFC 6749 §3.3) into names, rejecting the first
/// invalid token. Runs of spaces are tolerated; duplicates are kept in order of appearance once.
pub fn parse_scope_list(raw: &str) -> Result<Vec<ScopeName>, (String, ScopeNameError)> {
    let mut out: Vec<ScopeName> = Vec::new();
    for token in raw.split(' ').filter(|t| !t.is_empty()) {
        let name = ScopeName::parse(token).map_err(|e| (token.to_owned(), e))?;
        if !out.contains(&name) {
            out.push(name);
        }
    }
    Ok(out)
}

impl fmt::Display for ScopeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ScopeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.0)
    }
}

impl AsRef<str> for ScopeName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for ScopeName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn accepts_colon_dot_and_url_style_names() {
        for ok in [
            "openid",
            "courses:read",
            "admin.write",
            "https://api.example.com/x",
            "!",
        ] {
            assert_eq!(ScopeName::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn rejects_space_quote_backslash_controls_and_non_ascii() {
        for bad in ["a b", "a\"b", "a\\b", "a\tb", "é", "a\u{7f}"] {
            assert!(
                matches!(ScopeName::parse(bad), Err(ScopeNameError::InvalidChar(_))),
                "{bad:?}"
            );
        }
        assert_eq!(ScopeName::parse(""), Err(ScopeNameError::Empty));
        assert_eq!(
            ScopeName::parse(&"a".repeat(129)),
            Err(ScopeNameError::TooLong)
        );
        assert!(ScopeName::parse(&"a".repeat(128)).is_ok());
    }

    #[test]
    fn scope_list_splits_on_spaces_and_deduplicates() {
        let names = parse_scope_list("  openid  email openid ").unwrap();
        let names: Vec<&str> = names.iter().map(ScopeName::as_str).collect();
        assert_eq!(names, ["openid", "email"]);
        assert_eq!(parse_scope_list("ok b\"ad").unwrap_err().0, "b\"ad");
    }
}
