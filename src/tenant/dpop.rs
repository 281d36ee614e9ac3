//! A tenant's DPoP proof policy (RFC 9449) as configured and stored, and the verifier's
//! [`DpopPolicy`] built from it.

use serde::{Deserialize, Serialize};

use super::{SettingsError, Tenant};
use crate::token::{Algorithm, DEFAULT_REPLAY_CAPACITY, DpopPolicy};

/// Default `iat` window, in seconds either way (RFC 9449 §11.1 leaves it to the server).
pub const DEFAULT_DPOP_IAT_WINDOW_SECONDS: u32 = 60;
/// Largest `iat` window accepted: replay entries live twice as long.
pub const MAX_DPOP_IAT_WINDOW_SECONDS: u32 = 600;
/// Largest replay capacity a tenant may ask for (about 100 bytes an entry).
pub const MAX_DPOP_REPLAY_CAPACITY: u32 = 1_000_000;

/// A tenant's DPoP settings; every zero or empty field means its default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DpopSettings {
    /// Proof signature algorithms accepted. Empty: every asymmetric algorithm the key rules
    /// support (the client picks its DPoP key, not the tenant's identity provider, so the
    /// tenant's token `algorithms` say nothing about it). Symmetric ones are refused at write
    /// time.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub algorithms: Vec<String>,
    /// How far a proof's `iat` may be from now, seconds either way. 0: 60.
    #[serde(skip_serializing_if = "is_zero")]
    pub iat_window_seconds: u32,
    /// Most proofs remembered at once for the replay check (per replica). 0: 100,000.
    #[serde(skip_serializing_if = "is_zero")]
    pub replay_capacity: u32,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's `skip_serializing_if` passes a reference
fn is_zero(value: &u32) -> bool {
    *value == 0
}

/// An asymmetric JWS algorithm a proof may use (`None` for symmetric ones and unknown names).
fn asymmetric(name: &str) -> Option<Algorithm> {
    name.parse::<Algorithm>()
        .ok()
        .filter(|alg| !matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512))
}

impl DpopSettings {
    /// Checks the rules; the error names the field relative to `dpop`.
    pub fn check(&self) -> Result<(), SettingsError> {
        for (i, name) in self.algorithms.iter().enumerate() {
            if asymmetric(name).is_none() {
                return Err(SettingsError {
                    field: format!("dpop.algorithms[{i}]"),
                    message: "must be an asymmetric JWS algorithm (RS*, PS*, ES256, ES384, EdDSA)"
                        .to_owned(),
                });
            }
        }
        if self.iat_window_seconds > MAX_DPOP_IAT_WINDOW_SECONDS {
            return Err(SettingsError {
                field: "dpop.iat_window_seconds".to_owned(),
                message: format!("must be at most {MAX_DPOP_IAT_WINDOW_SECONDS}"),
            });
        }
        if self.replay_capacity > MAX_DPOP_REPLAY_CAPACITY {
            return Err(SettingsError {
                field: "dpop.replay_capacity".to_owned(),
                message: format!("must be at most {MAX_DPOP_REPLAY_CAPACITY}"),
            });
        }
        Ok(())
    }

    /// The replay capacity in effect.
    pub fn effective_replay_capacity(&self) -> usize {
        match self.replay_capacity {
            0 => DEFAULT_REPLAY_CAPACITY,
            n => usize::try_from(n).unwrap_or(DEFAULT_REPLAY_CAPACITY),
        }
    }
}

impl Tenant {
    /// The proof policy DPoP-bound tokens of this tenant are held to. Unusable names are
    /// ignored, never widened; with none set (or none usable) the verifier's default list of
    /// every asymmetric algorithm applies.
    pub fn dpop_policy(&self) -> DpopPolicy {
        let mut algorithms: Vec<Algorithm> = Vec::new();
        for alg in self
            .dpop
            .algorithms
            .iter()
            .filter_map(|name| asymmetric(name))
        {
            if !algorithms.contains(&alg) {
                algorithms.push(alg);
            }
        }
        let mut policy = DpopPolicy::default();
        if !algorithms.is_empty() {
            policy.algorithms = algorithms;
        }
        if self.dpop.iat_window_seconds != 0 {
            policy.iat_window_seconds = i64::from(self.dpop.iat_window_seconds);
        }
        policy
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::AdminStyle;
    use crate::tenant::{TenantId, new_tenant};

    #[test]
    fn dpop_policy_defaults_to_every_asymmetric_algorithm_and_sixty_seconds() {
        let id = TenantId::parse("t").unwrap_or_else(|_| unreachable!());
        let mut tenant = new_tenant(id, "T".to_owned(), "oidc", AdminStyle::Colon, 0);
        // The tenant's token algorithms do not narrow the proofs' (the client picks its key).
        tenant.algorithms = vec!["RS256".into()];
        assert_eq!(tenant.dpop_policy(), DpopPolicy::default());
        assert_eq!(tenant.dpop_policy().iat_window_seconds, 60);

        tenant.dpop = DpopSettings {
            algorithms: vec!["PS256".into()],
            iat_window_seconds: 30,
            replay_capacity: 10,
        };
        let policy = tenant.dpop_policy();
        assert_eq!(policy.algorithms, vec![Algorithm::PS256]);
        assert_eq!(policy.iat_window_seconds, 30);
        assert_eq!(tenant.dpop.effective_replay_capacity(), 10);
    }

    #[test]
    fn dpop_settings_refuse_symmetric_algorithms_and_oversized_limits() {
        let field = |s: DpopSettings| s.check().map_err(|e| e.field);
        let hs = DpopSettings {
            algorithms: vec!["ES256".into(), "HS256".into()],
            ..DpopSettings::default()
        };
        assert_eq!(field(hs), Err("dpop.algorithms[1]".to_owned()));
        let none = DpopSettings {
            algorithms: vec!["none".into()],
            ..DpopSettings::default()
        };
        assert_eq!(field(none), Err("dpop.algorithms[0]".to_owned()));
        let window = DpopSettings {
            iat_window_seconds: 601,
            ..DpopSettings::default()
        };
        assert_eq!(field(window), Err("dpop.iat_window_seconds".to_owned()));
        let capacity = DpopSettings {
            replay_capacity: MAX_DPOP_REPLAY_CAPACITY + 1,
            ..DpopSettings::default()
        };
        assert_eq!(field(capacity), Err("dpop.replay_capacity".to_owned()));
        assert_eq!(field(DpopSettings::default()), Ok(()));
    }
}
