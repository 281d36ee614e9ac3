//! One HTTP(S) GET of a JWK set: URL rules (length, scheme, no credentials), destination rules
//! (IP literals here, resolved names in the client's resolver), redirects only on the same host,
//! no proxy, a timeout and a size cap.

use std::error::Error as _;
use std::net::IpAddr;
use std::sync::Arc;

use reqwest::header::ACCEPT;
use reqwest::{Client, Url, redirect};

use super::destination::{CheckedResolver, DeniedName, NetworkPolicy};
use super::jwks::JwksConfig;
use super::keys::KeyError;

const MAX_REDIRECTS: usize = 3;

/// Longest `jwks_uri` accepted, in bytes.
pub const MAX_JWKS_URI_BYTES: usize = 2048;

/// The HTTP client for JWKS fetches. It resolves names through the destination policy, never
/// uses a proxy (the proxy, not this policy, would pick the address), and follows a redirect only
/// to the same host under the same URL rules.
pub(crate) fn build_client(config: &JwksConfig) -> Result<Client, KeyError> {
    let allow_plain_http = config.allow_plain_http;
    let networks = Arc::new(config.networks.clone());
    let redirect_networks = Arc::clone(&networks);
    let policy = redirect::Policy::custom(move |attempt| {
        let same_host = attempt
            .previous()
            .first()
            .is_some_and(|first| first.host_str() == attempt.url().host_str());
        let downgrade = attempt
            .previous()
            .last()
            .is_some_and(|last| last.scheme() == "https" && attempt.url().scheme() != "https");
        if attempt.previous().len() >= MAX_REDIRECTS {
            attempt.error("too many redirects")
        } else if !same_host {
            attempt.error("redirect to another host")
        } else if downgrade
            || check_url(attempt.url(), allow_plain_http, &redirect_networks).is_err()
        {
            attempt.error("redirect to a disallowed URL")
        } else {
            attempt.follow()
        }
    });
    Client::builder()
        .timeout(config.timeout)
        .connect_timeout(config.timeout)
        .redirect(policy)
        .no_proxy()
        .dns_resolver(Arc::new(CheckedResolver { policy: networks }))
        .user_agent(concat!("scopegate/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| KeyError::Fetch(format!("cannot build the HTTP client: {}", describe(&e))))
}

/// Fetches the document at `uri`, at most `config.max_bytes` long, as UTF-8 text.
pub(crate) async fn fetch(
    client: &Client,
    uri: &str,
    config: &JwksConfig,
) -> Result<String, KeyError> {
    let url = parse_uri(uri)?;
    check_url(&url, config.allow_plain_http, &config.networks)?;
    let failed = |e: reqwest::Error| refused(&e).unwrap_or_else(|| KeyError::Fetch(describe(&e)));
    let mut response = client
        .get(url)
        .header(ACCEPT, "application/jwk-set+json, application/json")
        .send()
        .await
        .map_err(failed)?;
    let status = response.status();
    if !status.is_success() {
        return Err(KeyError::Fetch(format!("HTTP status {status}")));
    }
    let too_large = || {
        KeyError::Fetch(format!(
            "response is larger than {} bytes",
            config.max_bytes
        ))
    };
    if response
        .content_length()
        .is_some_and(|len| len > config.max_bytes as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(failed)? {
        if body.len() + chunk.len() > config.max_bytes {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|_| KeyError::InvalidJson)
}

/// Checks what can be told of a `jwks_uri` without configuration: at most
/// [`MAX_JWKS_URI_BYTES`], an absolute `http(s)` URL with a host and without credentials. Used
/// when settings are written, so a URI that could never be fetched is refused up front.
pub fn check_jwks_uri(uri: &str) -> Result<(), KeyError> {
    let url = parse_uri(uri)?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(KeyError::InvalidUri("the scheme must be https".to_owned()));
    }
    Ok(())
}

fn parse_uri(uri: &str) -> Result<Url, KeyError> {
    if uri.len() > MAX_JWKS_URI_BYTES {
        return Err(KeyError::InvalidUri(format!(
            "longer than {MAX_JWKS_URI_BYTES} bytes"
        )));
    }
    let url =
        Url::parse(uri).map_err(|_| KeyError::InvalidUri("not an absolute URL".to_owned()))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(KeyError::InvalidUri("no host".to_owned()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(KeyError::InvalidUri(
            "must not carry credentials".to_owned(),
        ));
    }
    Ok(url)
}

/// `https` (or `http` when allowed: a JWK set fetched in clear text can be swapped by anyone on
/// the path), and an IP-literal host the network policy accepts; names are checked by the
/// resolver once resolved.
pub(crate) fn check_url(
    url: &Url,
    allow_plain_http: bool,
    networks: &NetworkPolicy,
) -> Result<(), KeyError> {
    if url.as_str().len() > MAX_JWKS_URI_BYTES {
        return Err(KeyError::InvalidUri(format!(
            "longer than {MAX_JWKS_URI_BYTES} bytes"
        )));
    }
    let host = url
        .host_str()
        .ok_or_else(|| KeyError::InvalidUri("no host".to_owned()))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_plain_http => {}
        "http" => {
            return Err(KeyError::InvalidUri(
                "plain http is not allowed (https is required)".to_owned(),
            ));
        }
        _ => return Err(KeyError::InvalidUri("the scheme must be https".to_owned())),
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        networks
            .check(ip)
            .map_err(|denied| KeyError::InvalidUri(format!("destination {denied}")))?;
    }
    Ok(())
}

/// The destination refusal behind a failed request (a name that resolved to a refused address,
/// or a refused redirect), as the URI error it is.
fn refused(error: &reqwest::Error) -> Option<KeyError> {
    if error.is_redirect() {
        return Some(KeyError::InvalidUri(describe(error)));
    }
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(denied) = cause.downcast_ref::<DeniedName>() {
            return Some(KeyError::InvalidUri(format!("destination {denied}")));
        }
        source = cause.source();
    }
    None
}

/// The error and its causes on one line, without the URL.
fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "timed out".to_owned()
    } else {
        error.to_string()
    };
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(uri: &str, allow_plain_http: bool) -> Result<(), KeyError> {
        let networks = NetworkPolicy {
            allow_private: true,
            ..NetworkPolicy::default()
        };
        check_url(&parse_uri(uri)?, allow_plain_http, &networks)
    }

    #[test]
    fn https_is_required_unless_plain_http_is_allowed() {
        assert!(check("https://idp.example/jwks", false).is_ok());
        for plain in [
            "http://idp.example/jwks",
            "http://127.0.0.1:8080/jwks",
            "http://[::1]:8080/jwks",
            "http://localhost/jwks",
        ] {
            assert!(
                matches!(check(plain, false), Err(KeyError::InvalidUri(_))),
                "{plain}"
            );
            assert!(check(plain, true).is_ok(), "{plain}");
        }
        for bad in ["ftp://idp.example/jwks", "file:///etc/passwd", "data:,{}"] {
            assert!(
                matches!(check(bad, true), Err(KeyError::InvalidUri(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn uris_are_bounded_and_carry_no_credentials() {
        let long = format!("https://idp.example/{}", "a".repeat(MAX_JWKS_URI_BYTES));
        for bad in [
            long.as_str(),
            "https://user:pw@idp.example/jwks",
            "mailto:a@b",
        ] {
            assert!(
                matches!(check_jwks_uri(bad), Err(KeyError::InvalidUri(_))),
                "{bad}"
            );
        }
        assert!(check_jwks_uri("http://idp.example/jwks").is_ok());
    }
}
