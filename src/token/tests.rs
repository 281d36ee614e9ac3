//! Unit tests of the token module: real keys (generated per run, never committed), real
//! signatures, the attacks verification must resist, Wycheproof vectors, a local JWKS server and
//! the verified-token cache.

mod attacks;
mod facts;
mod jwks_fetch;
mod key_rules;
mod support;
mod token_cache;
mod wycheproof;
