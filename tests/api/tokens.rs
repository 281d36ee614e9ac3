//! A test identity provider: an RSA key generated at run time, its JWK set, and a minter of
//! access tokens for a tenant configured with that set.

use std::sync::LazyLock;

use aws_lc_rs::{
    encoding::AsDer,
    rsa::{KeyPair, KeySize},
};
use jsonwebtoken::{Algorithm, EncodingKey, Header, jwk::Jwk};
use scopegate::pb::{
    CreateTenant, ManageTenantRequest, StringList, TenantSettings, manage_tenant_request::Action,
};
use serde_json::{Value, json};

use crate::helpers::{TestApp, authed};

/// The audience every test tenant accepts.
pub const AUDIENCE: &str = "https://api.school.test";

/// A signing key with its public JWK.
pub struct Idp {
    pub issuer: String,
    pub kid: String,
    key: EncodingKey,
    jwk: Value,
}

/// RSA generation is slow: one key per test run, shared by every `Idp`, as a PKCS#8 PEM.
static RSA_PEM: LazyLock<String> = LazyLock::new(|| {
    use base64::Engine as _;
    let pair = KeyPair::generate(KeySize::Rsa2048).expect("RSA key generation");
    let der = pair.as_der().expect("PKCS#8 export");
    let body = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("ascii"))
        .collect();
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    )
});

impl Idp {
    /// An identity provider issuing as `issuer`, signing with key id `kid`.
    pub fn new(issuer: &str, kid: &str) -> Self {
        let key = EncodingKey::from_rsa_pem(RSA_PEM.as_bytes()).expect("PEM key");
        let mut jwk =
            serde_json::to_value(Jwk::from_encoding_key(&key, Algorithm::RS256).expect("JWK"))
                .expect("JSON");
        jwk["kid"] = json!(kid);
        jwk["alg"] = json!("RS256");
        jwk["use"] = json!("sig");
        Self {
            issuer: issuer.to_owned(),
            kid: kid.to_owned(),
            key,
            jwk,
        }
    }

    /// The public JWK set.
    pub fn jwks(&self) -> String {
        json!({ "keys": [self.jwk] }).to_string()
    }

    /// Tenant settings trusting this provider.
    pub fn settings(&self) -> TenantSettings {
        TenantSettings {
            issuer: Some(self.issuer.clone()),
            audiences: Some(StringList {
                values: vec![AUDIENCE.to_owned()],
            }),
            jwks: Some(self.jwks()),
            algorithms: Some(StringList {
                values: vec!["RS256".to_owned()],
            }),
            ..Default::default()
        }
    }

    /// Signs `claims` merged over sensible defaults (issuer, audience, an hour of life), as an
    /// RFC 9068 access token (`typ: at+jwt`).
    pub fn mint(&self, claims: &Value) -> String {
        self.mint_typed(Some("at+jwt"), claims)
    }

    /// [`Idp::mint`] with another `typ` header (`None`: no `typ` at all), as IdPs that stamp
    /// `typ: JWT` on access tokens do.
    pub fn mint_typed(&self, typ: Option<&str>, claims: &Value) -> String {
        let now = now();
        let mut body = json!({
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": "user-1",
            "client_id": "web-app",
            "iat": now,
            "exp": now + 3600,
            "jti": uuid::Uuid::new_v4().to_string(),
        });
        if let (Some(body), Some(extra)) = (body.as_object_mut(), claims.as_object()) {
            for (k, v) in extra {
                if v.is_null() {
                    body.remove(k);
                } else {
                    body.insert(k.clone(), v.clone());
                }
            }
        }
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        header.typ = typ.map(str::to_owned);
        jsonwebtoken::encode(&header, &body, &self.key).expect("sign")
    }
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// Creates tenant `id` from `preset`, trusting `idp`.
pub async fn create_tenant_for(app: &TestApp, id: &str, preset: &str, idp: &Idp) {
    create_tenant_with(app, id, preset, idp.settings()).await;
}

/// Creates tenant `id` from `preset` with `settings`.
pub async fn create_tenant_with(app: &TestApp, id: &str, preset: &str, settings: TenantSettings) {
    let create = CreateTenant {
        id: id.to_owned(),
        preset: preset.to_owned(),
        settings: Some(settings),
        ..Default::default()
    };
    app.admin()
        .manage_tenant(authed(ManageTenantRequest {
            action: Some(Action::Create(create)),
        }))
        .await
        .expect("tenant created");
}
