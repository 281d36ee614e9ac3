//! Reading and checking PEM files: a certificate chain and its key (expired, not yet valid or
//! mismatched pairs refused), a CA bundle, and the caller named by a verified client
//! certificate. Every error names the file; none carries key material.

use std::{
    path::Path,
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use rustls::{
    RootCertStore,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject as _},
    sign::CertifiedKey,
};

use super::der;
use crate::caller::{Caller, CallerProof};

/// The crypto provider every TLS configuration uses (never ring: see DEPENDENCIES.md).
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The certificate chain in `cert` and the private key in `key`, checked: the leaf is valid
/// now and the key is the one the leaf certifies.
pub(crate) fn load_pair(cert: &Path, key: &Path) -> Result<CertifiedKey, String> {
    let chain = load_certs(cert, "TLS certificate")?;
    check_validity(&chain[0], cert)?;
    let key_der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("cannot read the TLS key {}: {e}", key.display()))?;
    let signing = provider()
        .key_provider
        .load_private_key(key_der)
        .map_err(|e| format!("unusable TLS key {}: {e}", key.display()))?;
    let pair = CertifiedKey::new(chain, signing);
    pair.keys_match().map_err(|e| {
        format!(
            "the TLS key {} does not match the certificate {}: {e}",
            key.display(),
            cert.display()
        )
    })?;
    Ok(pair)
}

/// A client's certificate chain and key, checked as [`load_pair`] checks the server's.
pub(crate) fn load_client_pair(
    cert: &Path,
    key: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let pair = load_pair(cert, key)?;
    let key_der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("cannot read the TLS key {}: {e}", key.display()))?;
    Ok((pair.cert, key_der))
}

/// Every certificate in the PEM file `path` (at least one).
pub(crate) fn load_certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let unreadable =
        |e: &dyn std::fmt::Display| format!("cannot read the {what} {}: {e}", path.display());
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| unreadable(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| unreadable(&e))?;
    if certs.is_empty() {
        return Err(format!(
            "the {what} {} holds no PEM certificate",
            path.display()
        ));
    }
    Ok(certs)
}

/// A root store of the CA certificates in `path` (the client CA of mTLS, or a client's CA).
pub(crate) fn load_roots(path: &Path, what: &str) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(path, what)? {
        roots
            .add(cert)
            .map_err(|e| format!("unusable {what} {}: {e}", path.display()))?;
    }
    Ok(roots)
}

/// Refuses a certificate that has expired or is not yet valid.
fn check_validity(leaf: &CertificateDer<'_>, path: &Path) -> Result<(), String> {
    let facts = der::read(leaf).ok_or_else(|| {
        format!(
            "cannot parse the TLS certificate {}: not an X.509 certificate",
            path.display()
        )
    })?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    if now > facts.not_after {
        return Err(format!(
            "the TLS certificate {} has expired (not after {} Unix time)",
            path.display(),
            facts.not_after
        ));
    }
    if now < facts.not_before {
        return Err(format!(
            "the TLS certificate {} is not valid yet (not before {} Unix time)",
            path.display(),
            facts.not_before
        ));
    }
    Ok(())
}

/// The caller a verified client certificate names: its first DNS name, else its first URI,
/// else its subject's common name; `None` when it names none.
pub(crate) fn caller_of(leaf: &CertificateDer<'_>) -> Option<Caller> {
    let cert = webpki::EndEntityCert::try_from(leaf).ok()?;
    let name = cert
        .valid_dns_names()
        .next()
        .or_else(|| cert.valid_uri_names().next())
        .map(str::to_owned)
        .or_else(|| der::read(leaf)?.common_name)?;
    Some(Caller::new(name, CallerProof::ClientCertificate))
}
