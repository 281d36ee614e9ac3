//! A tenant's token settings converted into what `token` verifies with: its policy and keyring.

use super::Tenant;
use crate::token::{Algorithm, Keyring, VerifyPolicy};

impl Tenant {
    /// The tenant's verification policy; its protected resources' URIs are accepted audiences.
    /// Algorithm names are matched exactly (`RS256`, not `rs256`); names that are not a
    /// supported JWS algorithm, `none` among them, are ignored, never widened.
    pub fn verify_policy(&self) -> VerifyPolicy {
        let mut algorithms: Vec<Algorithm> = Vec::new();
        for alg in self
            .algorithms
            .iter()
            .filter_map(|name| name.parse::<Algorithm>().ok())
        {
            if !algorithms.contains(&alg) {
                algorithms.push(alg);
            }
        }
        VerifyPolicy {
            issuer: self.issuer.as_str().into(),
            audiences: self
                .audiences
                .iter()
                .chain(self.resources.iter().map(|r| &r.resource))
                .cloned()
                .collect(),
            algorithms,
            leeway_seconds: i64::from(self.leeway_seconds),
            require_at_jwt_typ: self.require_at_jwt_typ,
            scope_claims: self.scope_claims.clone(),
        }
    }

    /// The tenant's keys as the JWKS provider sees them, owned by the tenant id.
    pub fn keyring(&self) -> Keyring<'_> {
        Keyring {
            owner: self.id.as_str(),
            source: &self.key_source,
            refresh_seconds: self.jwks_refresh_seconds,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::scope::AdminStyle;
    use crate::tenant::{KeySource, TenantId, new_tenant};
    use crate::token::Algorithm;

    const ISSUER: &str = "https://idp.example/tenant-a";

    #[test]
    fn policy_keeps_only_exact_algorithm_names() {
        let id = TenantId::parse("tenant-a").expect("slug");
        let mut tenant = new_tenant(id, "Tenant A".to_owned(), "oidc", AdminStyle::Colon, 0);
        tenant.issuer = ISSUER.to_owned();
        tenant.audiences = vec!["api://scopegate".to_owned()];
        tenant.algorithms = ["RS256", "none", "rs256", "HS256", "RS256", "ES512"]
            .map(str::to_owned)
            .to_vec();
        tenant.leeway_seconds = 5;
        let policy = tenant.verify_policy();
        assert_eq!(policy.algorithms, [Algorithm::RS256, Algorithm::HS256]);
        assert_eq!(&*policy.issuer, ISSUER);
        assert_eq!(policy.audiences, ["api://scopegate"]);
        assert_eq!(policy.leeway_seconds, 5);
        assert!(policy.require_at_jwt_typ);
    }

    #[test]
    fn keyring_is_owned_by_the_tenant_id() {
        let id = TenantId::parse("tenant-a").expect("slug");
        let mut tenant = new_tenant(id, "Tenant A".to_owned(), "oidc", AdminStyle::Colon, 0);
        tenant.key_source = KeySource::Uri("https://idp.example/jwks".to_owned());
        tenant.jwks_refresh_seconds = 0;
        let keyring = tenant.keyring();
        assert_eq!(keyring.owner, "tenant-a");
        assert_eq!(keyring.source, &tenant.key_source);
        assert_eq!(keyring.refresh_interval().as_secs(), 1, "never zero");
    }
}
