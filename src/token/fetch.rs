//! One HTTP(S) GET of a JWK set: scheme allow-list, bounded redirects, a timeout and a size cap.

use std::error::Error as _;
use std::net::IpAddr;

use reqwest::header::ACCEPT;
use reqwest::{Client, Url, redirect};

use super::jwks::JwksConfig;
use super::keys::KeyError;

const MAX_REDIRECTS: usize = 3;

/// The HTTP client for JWKS fetches; redirects obey the same scheme rules as the first request.
pub(crate) fn build_client(config: &JwksConfig) -> Result<Client, KeyError> {
    let allow_plain_http = config.allow_plain_http;
    let policy = redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= MAX_REDIRECTS {
            attempt.error("too many redirects")
        } else if check_url(attempt.url(), allow_plain_http).is_err() {
            attempt.error("redirect to a disallowed URL")
        } else {
            attempt.follow()
        }
    });
    Client::builder()
        .timeout(config.timeout)
        .connect_timeout(config.timeout)
        .redirect(policy)
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
    let url =
        Url::parse(uri).map_err(|_| KeyError::InvalidUri("not an absolute URL".to_owned()))?;
    check_url(&url, config.allow_plain_http)?;
    let failed = |e: reqwest::Error| KeyError::Fetch(describe(&e));
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

/// `https`, or `http` to a loopback host (or anywhere when explicitly allowed): a JWK set fetched
/// in clear text from another host could be swapped by anyone on the path.
pub(crate) fn check_url(url: &Url, allow_plain_http: bool) -> Result<(), KeyError> {
    let host = url
        .host_str()
        .ok_or_else(|| KeyError::InvalidUri("no host".to_owned()))?;
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_plain_http || is_loopback(host) => Ok(()),
        "http" => Err(KeyError::InvalidUri(
            "plain http is allowed only to a loopback host".to_owned(),
        )),
        _ => Err(KeyError::InvalidUri("the scheme must be https".to_owned())),
    }
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
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
        check_url(
            &Url::parse(uri).map_err(|_| KeyError::InvalidUri(String::new()))?,
            allow_plain_http,
        )
    }

    #[test]
    fn only_https_or_loopback_http_is_fetched() {
        assert!(check("https://idp.example/jwks", false).is_ok());
        assert!(check("http://127.0.0.1:8080/jwks", false).is_ok());
        assert!(check("http://[::1]:8080/jwks", false).is_ok());
        assert!(check("http://localhost/jwks", false).is_ok());
        assert!(matches!(
            check("http://idp.example/jwks", false),
            Err(KeyError::InvalidUri(_))
        ));
        assert!(check("http://idp.example/jwks", true).is_ok());
        for bad in ["ftp://idp.example/jwks", "file:///etc/passwd", "data:,{}"] {
            assert!(
                matches!(check(bad, true), Err(KeyError::InvalidUri(_))),
                "{bad}"
            );
        }
    }
}
