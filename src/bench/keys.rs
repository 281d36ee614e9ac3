//! The bench's own identity provider: one key per algorithm generated at run time with
//! aws-lc-rs (no key is ever written to disk), its public JWK, and a token minter.

use aws_lc_rs::{
    encoding::AsDer,
    rand,
    rsa::{KeyPair as RsaKeyPair, KeySize},
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair},
};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, jwk::Jwk};
use serde_json::{Value, json};

use super::BenchError;

/// A signing key, its `kid` and its public JWK (with `kid`, `alg` and `use`).
pub(crate) struct Signer {
    pub alg: Algorithm,
    pub kid: String,
    key: EncodingKey,
    pub jwk: Value,
    /// The encoded protected header, the same for every token.
    header_b64: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

fn keygen(what: &str) -> impl FnOnce(aws_lc_rs::error::Unspecified) -> BenchError + '_ {
    move |_| BenchError::Setup(format!("cannot generate the {what} key"))
}

impl Signer {
    /// A fresh key for `alg` (RS256, ES256, EdDSA or HS256).
    pub fn generate(alg: Algorithm) -> Result<Self, BenchError> {
        let key = match alg {
            Algorithm::RS256 => {
                let pair = RsaKeyPair::generate(KeySize::Rsa2048).map_err(keygen("RSA"))?;
                let der = pair.as_der().map_err(keygen("RSA"))?;
                EncodingKey::from_rsa_pem(pem(der.as_ref()).as_bytes())
                    .map_err(|e| BenchError::Setup(format!("RSA key: {e}")))?
            }
            Algorithm::ES256 => {
                let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                    .map_err(keygen("P-256"))?;
                let der = pair.to_pkcs8v1().map_err(keygen("P-256"))?;
                EncodingKey::from_ec_der(der.as_ref())
            }
            Algorithm::EdDSA => {
                let pair = Ed25519KeyPair::generate().map_err(keygen("Ed25519"))?;
                let der = pair.to_pkcs8v1().map_err(keygen("Ed25519"))?;
                EncodingKey::from_ed_der(der.as_ref())
            }
            Algorithm::HS256 => {
                let mut secret = [0u8; 32];
                rand::fill(&mut secret).map_err(keygen("HMAC"))?;
                EncodingKey::from_secret(&secret)
            }
            other => return Err(BenchError::Setup(format!("no bench key for {other:?}"))),
        };
        let name = alg_name(alg);
        let kid = format!("bench-{}", name.to_ascii_lowercase());
        let mut jwk = Jwk::from_encoding_key(&key, alg)
            .map_err(|e| BenchError::Setup(format!("{name} JWK: {e}")))
            .and_then(|jwk| {
                serde_json::to_value(jwk).map_err(|e| BenchError::Setup(format!("JWK: {e}")))
            })?;
        jwk["kid"] = json!(kid);
        jwk["alg"] = json!(name);
        jwk["use"] = json!("sig");
        let header = json!({ "typ": "at+jwt", "alg": name, "kid": kid }).to_string();
        Ok(Self {
            alg,
            kid,
            key,
            jwk,
            header_b64: URL_SAFE_NO_PAD.encode(header),
        })
    }

    /// Signs `claims` (a JSON object) into a compact JWS.
    pub fn mint(&self, claims: &Value) -> Result<String, BenchError> {
        let input = format!(
            "{}.{}",
            self.header_b64,
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = jsonwebtoken::crypto::sign(input.as_bytes(), &self.key, self.alg)
            .map_err(|e| BenchError::Setup(format!("signing: {e}")))?;
        Ok(format!("{input}.{signature}"))
    }

    /// `count` distinct tokens from `claims(i)`, minted on every core (RSA signing costs
    /// about a millisecond: a pool of tens of thousands takes seconds).
    pub fn mint_many(
        &self,
        count: usize,
        claims: &(dyn Fn(usize) -> Value + Sync),
    ) -> Result<Vec<String>, BenchError> {
        on_every_core(count, "minting", |i| self.mint(&claims(i)))
    }
}

/// A client's DPoP key (ES256) and the proofs it signs (RFC 9449 §4.2).
pub(crate) struct DpopSigner {
    key: EncodingKey,
    /// The RFC 7638 thumbprint a bound token's `cnf.jkt` carries.
    pub jkt: String,
    /// The encoded protected header (`typ`, `alg`, public `jwk`), the same for every proof.
    header_b64: String,
}

impl std::fmt::Debug for DpopSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopSigner")
            .field("jkt", &self.jkt)
            .finish_non_exhaustive()
    }
}

impl DpopSigner {
    /// A fresh P-256 key.
    pub fn generate() -> Result<Self, BenchError> {
        let pair =
            EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(keygen("DPoP"))?;
        let der = pair.to_pkcs8v1().map_err(keygen("DPoP"))?;
        let key = EncodingKey::from_ec_der(der.as_ref());
        let full = Jwk::from_encoding_key(&key, Algorithm::ES256)
            .map_err(|e| BenchError::Setup(format!("DPoP JWK: {e}")))
            .and_then(|jwk| {
                serde_json::to_value(jwk).map_err(|e| BenchError::Setup(format!("JWK: {e}")))
            })?;
        let jwk = json!({ "kty": "EC", "crv": "P-256", "x": full["x"], "y": full["y"] });
        let jkt = crate::token::jwk_thumbprint(&jwk)
            .ok_or_else(|| BenchError::Setup("DPoP key thumbprint".into()))?;
        let header = json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": jwk }).to_string();
        Ok(Self {
            key,
            jkt,
            header_b64: URL_SAFE_NO_PAD.encode(header),
        })
    }

    /// `count` proofs for `GET` `uri` carrying `access_token`, each with its own `jti` and `iat`
    /// now, signed on every core.
    pub fn proofs(
        &self,
        count: usize,
        uri: &str,
        access_token: &str,
        tag: &str,
    ) -> Result<Vec<String>, BenchError> {
        use sha2::Digest as _;
        let ath = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(access_token.as_bytes()));
        let now = crate::store::now_ms() / 1000;
        let one = |i: usize| -> Result<String, BenchError> {
            let claims = json!({ "htm": "GET", "htu": uri, "iat": now, "jti": format!("{tag}-{i}"), "ath": ath });
            let input = format!(
                "{}.{}",
                self.header_b64,
                URL_SAFE_NO_PAD.encode(claims.to_string())
            );
            let signature =
                jsonwebtoken::crypto::sign(input.as_bytes(), &self.key, Algorithm::ES256)
                    .map_err(|e| BenchError::Setup(format!("signing: {e}")))?;
            Ok(format!("{input}.{signature}"))
        };
        on_every_core(count, "signing", one)
    }
}

/// The JWS name of an algorithm (`Algorithm`'s variant names are the JWS names).
pub(crate) fn alg_name(alg: Algorithm) -> String {
    format!("{alg:?}")
}

/// A JWK set document holding `signers`' public keys (or the HMAC secret, for an inline set).
pub(crate) fn jwks(signers: &[&Signer]) -> String {
    let keys: Vec<&Value> = signers.iter().map(|s| &s.jwk).collect();
    json!({ "keys": keys }).to_string()
}

fn pem(der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut out = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END PRIVATE KEY-----\n");
    out
}

/// `one(i)` for every `i` below `count`, in order, computed in chunks on every CPU; `what`
/// names the work in the error of a panicked thread.
fn on_every_core<T: Send>(
    count: usize,
    what: &str,
    one: impl Fn(usize) -> Result<T, BenchError> + Sync,
) -> Result<Vec<T>, BenchError> {
    // Every CPU of the machine, even when `--pin-client` pinned the bench: minting happens
    // between windows, when the cores are free.
    let threads = super::host::Cpu::read().processors;
    let chunk = count.div_ceil(threads).max(1);
    let one = &one;
    let parts: Vec<Result<Vec<T>, BenchError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..count)
            .step_by(chunk)
            .map(|start| {
                let end = (start + chunk).min(count);
                scope.spawn(move || {
                    super::pin::unpin_current_thread();
                    (start..end).map(one).collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(BenchError::Setup(format!("a {what} thread panicked"))))
            })
            .collect()
    });
    let mut all = Vec::with_capacity(count);
    for part in parts {
        all.extend(part?);
    }
    Ok(all)
}
