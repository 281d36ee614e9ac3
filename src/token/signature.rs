//! Signature checks with keys parsed once: an aws-lc-rs `ParsedPublicKey` (or HMAC key) is
//! built when a JWK set is loaded, so verifying a token parses no key material.
//! (`jsonwebtoken::crypto::verify` rebuilds the key from its components on every call: for
//! RSA that is a fresh Montgomery context per token.) Same algorithms, same key-size limits.

use aws_lc_rs::{
    hmac,
    signature::{self, ParsedPublicKey, RsaPublicKeyComponents},
};
use jsonwebtoken::Algorithm;

/// A key ready to check signatures of exactly one algorithm.
pub(crate) enum Verifier {
    Public(ParsedPublicKey),
    /// Boxed: an HMAC key holds precomputed inner and outer hash states (over 1 KiB).
    Hmac(Box<hmac::Key>),
}

impl Verifier {
    /// An RSA public key (`n`, `e` big-endian) for an RS* or PS* algorithm; `None` when the
    /// backend refuses it (size outside 2048-8192 bits, bad exponent) or `alg` is not RSA.
    pub(crate) fn rsa(alg: Algorithm, n: &[u8], e: &[u8]) -> Option<Self> {
        let params = match alg {
            Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Algorithm::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            Algorithm::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
            Algorithm::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
            Algorithm::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
            _ => return None,
        };
        RsaPublicKeyComponents { n, e }
            .to_parsed_public_key(params)
            .ok()
            .map(Self::Public)
    }

    /// An EC point (uncompressed SEC1) for ES256/ES384, or an Ed25519 key for EdDSA.
    pub(crate) fn public(alg: Algorithm, bytes: &[u8]) -> Option<Self> {
        let verification: &'static dyn signature::VerificationAlgorithm = match alg {
            Algorithm::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
            Algorithm::ES384 => &signature::ECDSA_P384_SHA384_FIXED,
            Algorithm::EdDSA => &signature::ED25519,
            _ => return None,
        };
        ParsedPublicKey::new(verification, bytes)
            .ok()
            .map(Self::Public)
    }

    /// An HMAC secret for HS256/HS384/HS512.
    pub(crate) fn hmac(alg: Algorithm, secret: &[u8]) -> Option<Self> {
        let algorithm = match alg {
            Algorithm::HS256 => hmac::HMAC_SHA256,
            Algorithm::HS384 => hmac::HMAC_SHA384,
            Algorithm::HS512 => hmac::HMAC_SHA512,
            _ => return None,
        };
        Some(Self::Hmac(Box::new(hmac::Key::new(algorithm, secret))))
    }

    /// Whether `signature` is valid for `message` (HMAC compared in constant time).
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            Self::Public(key) => key.verify_sig(message, signature).is_ok(),
            Self::Hmac(key) => hmac::verify(key, message, signature).is_ok(),
        }
    }
}
