//! Who is calling, once a listener has authenticated the caller: today the identity in a
//! verified client certificate (mTLS, `--tls-client-ca`); registered caller keys will produce
//! the same [`Caller`], so handlers, logs and metrics never ask how it was proven.

use std::{fmt, sync::Arc};

/// An authenticated caller: a name and how it was proven. Present only when the caller proved
/// it; an anonymous call has no `Caller` at all. Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    name: Arc<str>,
    proof: CallerProof,
}

/// How a [`Caller`] proved its identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallerProof {
    /// A client certificate chaining to `--tls-client-ca`; the name is its first DNS or URI
    /// subject alternative name, else its subject's common name.
    ClientCertificate,
}

impl Caller {
    /// A caller named `name`, proven by `proof`.
    pub fn new(name: impl Into<Arc<str>>, proof: CallerProof) -> Self {
        Self {
            name: name.into(),
            proof,
        }
    }

    /// The caller's name (the identity logged on every call).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How the caller proved it.
    pub fn proof(&self) -> CallerProof {
        self.proof
    }
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}
