//! Certificate-bound access tokens (RFC 8705 §3): a token whose `cnf` claim carries
//! `x5t#S256` is usable only over a TLS connection authenticated with the client certificate of
//! that SHA-256 thumbprint. The gateway that terminated TLS passes the certificate on (Envoy's
//! `source.certificate` and nginx's `$ssl_client_escaped_cert` are URL-encoded PEM); only its
//! thumbprint is compared here, the chain having been verified by whoever terminated TLS.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

use super::VerifiedToken;

/// Longest certificate accepted, PEM or URL-encoded PEM (a long chain's leaf fits easily).
pub const MAX_CERTIFICATE_BYTES: usize = 16 * 1024;

const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
const END: &str = "-----END CERTIFICATE-----";

impl VerifiedToken {
    /// The `cnf` `x5t#S256` thumbprint the token is bound to (RFC 8705 §3.1), if any. A `cnf`
    /// whose `x5t#S256` is not a string binds the token to no certificate at all: `Some("")`.
    pub fn certificate_binding(&self) -> Option<&str> {
        let cnf = self.other_claims.get("cnf")?.as_object()?;
        let bound = cnf.get("x5t#S256")?;
        Some(bound.as_str().unwrap_or_default())
    }
}

/// The RFC 8705 thumbprint (base64url of the SHA-256 of the DER) of the first certificate in
/// `pem`, which may be URL-encoded; `None` when it holds no readable certificate.
pub fn certificate_thumbprint(pem: &str) -> Option<String> {
    if pem.len() > MAX_CERTIFICATE_BYTES {
        return None;
    }
    let decoded;
    let pem = if pem.contains(BEGIN) {
        pem
    } else {
        decoded = percent_decode(pem)?;
        &decoded
    };
    let start = pem.find(BEGIN)? + BEGIN.len();
    let end = start + pem[start..].find(END)?;
    let body: String = pem[start..end]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let der = STANDARD.decode(body).ok().filter(|der| !der.is_empty())?;
    Some(URL_SAFE_NO_PAD.encode(Sha256::digest(der)))
}

/// `%XX` escapes decoded (never `+`: base64 uses it); `None` for a broken escape or non-UTF-8.
fn percent_decode(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = raw.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Whether `token` may be used by the caller that presented `certificate` (PEM or
/// URL-encoded PEM): a token bound to no certificate always may; a bound one only with the
/// certificate of its thumbprint (compared in constant time).
pub fn certificate_matches(token: &VerifiedToken, certificate: Option<&str>) -> bool {
    use subtle::ConstantTimeEq as _;
    let Some(bound) = token.certificate_binding() else {
        return true;
    };
    let Some(thumbprint) = certificate.and_then(certificate_thumbprint) else {
        return false;
    };
    !bound.is_empty() && bool::from(thumbprint.as_bytes().ct_eq(bound.as_bytes()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    /// Any DER bytes do: only their digest is compared.
    const DER: &[u8] = b"\x30\x82\x01\x0a not a real certificate, only its bytes matter +/=";

    fn pem() -> String {
        let body = STANDARD.encode(DER);
        format!("{BEGIN}\n{}\n{}\n{END}\n", &body[..40], &body[40..])
    }

    fn url_encoded(pem: &str) -> String {
        pem.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    char::from(b).to_string()
                }
                other => format!("%{other:02X}"),
            })
            .collect()
    }

    #[test]
    fn the_thumbprint_is_the_base64url_sha256_of_the_der_whatever_the_encoding() {
        let expected = URL_SAFE_NO_PAD.encode(Sha256::digest(DER));
        assert_eq!(
            certificate_thumbprint(&pem()).as_deref(),
            Some(expected.as_str())
        );
        assert_eq!(
            certificate_thumbprint(&url_encoded(&pem())).as_deref(),
            Some(expected.as_str())
        );
        for bad in [
            String::new(),
            "not a certificate".to_owned(),
            format!("{BEGIN}\n!!!\n{END}"),
            format!("{BEGIN}\n{END}"),
            "%zz".to_owned(),
            "A".repeat(MAX_CERTIFICATE_BYTES + 1),
        ] {
            assert_eq!(certificate_thumbprint(&bad), None, "{bad:.40}");
        }
    }
}
