//! Unit tests of the token module: real keys (generated per run, never committed), real
//! signatures, the attacks verification must resist, Wycheproof vectors, a local JWKS server,
//! the verified-token cache and DPoP proofs (RFC 9449).

mod attack_support;
mod claim_attacks;
mod dpop_claims;
mod dpop_proofs;
mod dpop_support;
mod dpop_vectors;
mod facts;
mod header_attacks;
mod jwk_support;
mod jwks_fetch;
mod jwks_server;
mod key_rules;
mod key_sets;
mod structure_attacks;
mod support;
mod token_cache;
mod wycheproof;
