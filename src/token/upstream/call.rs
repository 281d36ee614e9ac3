//! One upstream introspection call (RFC 7662 §2.1): a form POST of the token with the tenant's
//! `client_secret_basic` credentials, through the JWKS fetcher's destination policy, without
//! redirects or proxy, within the tenant's timeout, reading at most 64 KiB, and only while the
//! tenant has fewer than its cap of calls in flight.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use moka::future::Cache;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Client, redirect};
use tokio::sync::Semaphore;

use super::answer::facts;
use super::{MAX_UPSTREAM_ANSWER_BYTES, UpstreamIntrospection};
use crate::token::claims::VerifiedToken;
use crate::token::destination::CheckedResolver;
use crate::token::fetch::check_url;
use crate::token::jwks::JwksConfig;
use crate::token::keys::KeyError;
use crate::token::rejection::Rejection;
use crate::token::token_fingerprint;
use crate::token::verify::VerifyPolicy;

/// Default cap on one tenant's upstream calls in flight.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 64;

/// Calls tenants' upstream introspection endpoints. Cheap to clone; clones share the HTTP
/// client, the per-owner caps and the call counter.
#[derive(Clone)]
pub struct UpstreamClient {
    http: Client,
    allow_plain_http: bool,
    networks: Arc<crate::token::NetworkPolicy>,
    max_in_flight: usize,
    gates: Cache<String, Arc<Semaphore>>,
    calls: Arc<AtomicU64>,
}

impl std::fmt::Debug for UpstreamClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamClient")
            .field("max_in_flight", &self.max_in_flight)
            .field("calls", &self.calls())
            .finish_non_exhaustive()
    }
}

impl UpstreamClient {
    /// A client under the JWKS fetcher's destination rules (`https` unless plain http is
    /// allowed, which networks), at most `max_in_flight` calls per owner.
    pub fn new(jwks: &JwksConfig, max_in_flight: usize) -> Result<Self, KeyError> {
        let networks = Arc::new(jwks.networks.clone());
        let http = Client::builder()
            .redirect(redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(CheckedResolver {
                policy: Arc::clone(&networks),
            }))
            .user_agent(concat!("scopegate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| KeyError::Fetch(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            http,
            allow_plain_http: jwks.allow_plain_http,
            networks,
            max_in_flight: max_in_flight.max(1),
            gates: Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(Duration::from_secs(3600))
                .build(),
            calls: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Upstream calls sent so far (for tests and metrics).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Asks `upstream` about `token` for `owner` (a tenant id) and returns its facts. Fails
    /// closed: an unreachable, slow or erroring endpoint is [`Rejection::UpstreamUnavailable`],
    /// a full in-flight cap [`Rejection::UpstreamBusy`], a malformed answer
    /// [`Rejection::UpstreamInvalid`] (logged, without the token).
    pub async fn introspect(
        &self,
        owner: &str,
        upstream: &UpstreamIntrospection,
        policy: &VerifyPolicy,
        token: &str,
        now_unix: i64,
    ) -> Result<VerifiedToken, Rejection> {
        let gate = self
            .gates
            .get_with_by_ref(owner, async {
                Arc::new(Semaphore::new(self.max_in_flight))
            })
            .await;
        let Ok(_permit) = gate.try_acquire() else {
            tracing::warn!(tenant = owner, token = %token_fingerprint(token), "upstream introspection: too many calls in flight");
            return Err(Rejection::UpstreamBusy);
        };
        self.calls.fetch_add(1, Ordering::Relaxed);
        let result = match self.post(upstream, token).await {
            Ok(body) => facts(&body, policy, now_unix, upstream.ttl_cap()),
            Err(Failure::Unavailable(why)) => {
                tracing::warn!(tenant = owner, token = %token_fingerprint(token), %why, "upstream introspection unavailable");
                Err(Rejection::UpstreamUnavailable)
            }
            Err(Failure::TooLarge) => Err(Rejection::UpstreamInvalid),
        };
        if result == Err(Rejection::UpstreamInvalid) {
            tracing::warn!(tenant = owner, token = %token_fingerprint(token), "upstream introspection answer is invalid (not a JSON object within 64 KiB with a boolean `active`)");
        }
        let outcome = match &result {
            Ok(_) => "active",
            Err(rejection) => rejection.as_str(),
        };
        metrics::counter!("scopegate_upstream_introspections_total", "outcome" => outcome)
            .increment(1);
        result
    }

    async fn post(
        &self,
        upstream: &UpstreamIntrospection,
        token: &str,
    ) -> Result<Vec<u8>, Failure> {
        let url = reqwest::Url::parse(&upstream.endpoint)
            .map_err(|_| Failure::Unavailable("the endpoint is not a URL".to_owned()))?;
        check_url(&url, self.allow_plain_http, &self.networks)
            .map_err(|e| Failure::Unavailable(e.to_string()))?;
        let failed = |e: reqwest::Error| {
            let e = e.without_url();
            Failure::Unavailable(if e.is_timeout() {
                "timed out".to_owned()
            } else {
                describe(&e)
            })
        };
        let send = async {
            let mut response = self
                .http
                .post(url)
                .header(
                    AUTHORIZATION,
                    basic(&upstream.client_id, upstream.client_secret.expose()),
                )
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(ACCEPT, "application/json")
                .body(format!(
                    "token={}&token_type_hint=access_token",
                    form_encode(token)
                ))
                .send()
                .await
                .map_err(failed)?;
            let status = response.status();
            if !status.is_success() {
                return Err(Failure::Unavailable(format!("HTTP status {status}")));
            }
            if response
                .content_length()
                .is_some_and(|len| len > MAX_UPSTREAM_ANSWER_BYTES as u64)
            {
                return Err(Failure::TooLarge);
            }
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(failed)? {
                if body.len() + chunk.len() > MAX_UPSTREAM_ANSWER_BYTES {
                    return Err(Failure::TooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(body)
        };
        // One deadline for connect, headers and body alike.
        tokio::time::timeout(upstream.timeout(), send)
            .await
            .unwrap_or_else(|_| Err(Failure::Unavailable("timed out".to_owned())))
    }
}

enum Failure {
    Unavailable(String),
    TooLarge,
}

fn describe(error: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `client_secret_basic` (RFC 6749 §2.3.1): id and secret form-encoded, then Basic.
fn basic(client_id: &str, secret: &str) -> String {
    let pair = format!("{}:{}", form_encode(client_id), form_encode(secret));
    format!("Basic {}", STANDARD.encode(pair))
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_form_encoded_before_base64() {
        let header = basic("a b", "p:w%");
        let decoded = STANDARD
            .decode(header.trim_start_matches("Basic "))
            .expect("base64");
        assert_eq!(decoded, b"a+b:p%3Aw%25");
        assert_eq!(form_encode("x.y-z_*~/"), "x.y-z_*%7E%2F");
    }
}
