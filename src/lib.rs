//! scopegate: token introspection, scope decisions and per-tenant OAuth scope catalogs.
//!
//! # The map
//!
//! Layers, outside in (dependencies point down only):
//!
//! | module | owns |
//! |---|---|
//! | [`app`] | `App::build` / `run_until`: the listeners (connection cap, timeouts, TLS handshakes off the accept loop: `app/accept.rs`, `app/io.rs`; the HTTP door's and the metrics port's through `app/http_conn.rs`), load shedding (`app/shed.rs`), health (`app/health.rs`), reflection, the store probe and the change feed task |
//! | [`api`] | thin gRPC handlers per service; `api/convert.rs` (proto ⇄ domain), `api/status.rs` (the one error → `tonic::Status` table), admin authentication (`api/auth.rs`, `api/admin_token.rs`); the token subject every door shares (`api/subject.rs`), with its DPoP check (`api/subject/dpop.rs`); the gateway-neutral decision (`api/gateway.rs`) and Envoy ext_authz over it (`api/ext_authz.rs`); the RFC 7662 answer every introspection door renders (`api/introspection/answer.rs`); the HTTP door (`api/http.rs`: probes, forward auth, RFC 7662 introspection in `api/http/introspect.rs`, OpenID AuthZEN in `api/http/authzen.rs`, RFC 9728 resource metadata in `api/http/resource_metadata.rs`) and introspection credentials' secrets (`api/client_secret.rs`) |
//! | [`pipeline`] | the token pipeline shared by `Introspect`, `CheckScopes` and admin tokens: route by issuer, verify through the verified-token cache (or, for tokens the tenant sends upstream, ask its RFC 7662 endpoint through the same cache), re-check, apply revocations; the per-tenant DPoP replay caches (`pipeline/replay.rs`), which outlive tenant states |
//! | [`tenant_states`] | the tenant-state cache in front of the store, **the one write path** (every write goes through `TenantStates`), and the one place that decides what a change invalidates (`TenantStates::apply`); invalidation generations (`tenant_states/generations.rs`) make a value loaded before a write unusable after it |
//! | [`store`] | the persistence port (`Store`), SQLite and Postgres implementations, migrations, the change feed's vocabulary (`store::Change`) |
//! | [`scope`] | the pure domain: scope names, catalogs compiled for decisions, requirements, decisions and RFC 6750 challenges, catalog edit rules. No I/O |
//! | [`tenant`] | tenant ids and settings (protected resources in `tenant/resource.rs`), and their conversion into what `token` verifies with (`Tenant::verify_policy`, `Tenant::keyring`) |
//! | [`token`] | JWT verification (RFC 9068 / RFC 8725), key sets and JWKS fetching with destination checks, the verified-token cache, roles claims mapped to scopes (`token/scope_claims.rs`), certificate-bound tokens (`token/certificate.rs`, RFC 8705), DPoP proofs (`token/dpop.rs`, RFC 9449), upstream RFC 7662 introspection of opaque tokens (`token/upstream.rs`: configuration and routing; `token/upstream/call.rs`: the bounded call; `token/upstream/answer.rs`: the answer as verified facts); knows nothing of tenants: it verifies under a `VerifyPolicy` with the keys of a `Keyring` |
//! | [`preset`] | catalog presets and the import/export file format |
//! | [`tls`] | TLS on every listener and in our clients (rustls, aws-lc-rs): the certificate pair checked at load (`tls/files.rs`, expiry and CN from `tls/der.rs`), reloaded on file change (`tls/reload.rs`), mTLS against a client CA naming the [`caller::Caller`] |
//! | [`decision_log`] | decision ids (UUID v7, `decision_log/id.rs`) and the decision log: every door hands its decision to `DecisionLog::decided`, which names it and queues its event (`decision_log/event.rs`) to a writer thread (`decision_log/writer.rs`: stdout or a size-rotated file; a full queue drops and counts) |
//! | [`caller`] | who is calling once a listener authenticated it (client certificate today, caller keys later): on the call's span and a request extension |
//! | [`config`], [`telemetry`], [`cli`], [`bench`], [`pb`] | configuration, logs/metrics/traces, the admin CLI, the load benchmark, generated code |
//!
//! # One `CheckScopes` call
//!
//! `app` accepts the connection and admits the call (`app/shed.rs`) → `api/decision.rs`
//! converts the request → for a token subject, [`pipeline::TokenPipeline::introspect`] finds the
//! tenant ([`tenant_states::TenantStates::get`], cached, generation-checked), looks the token up
//! in the verified-token cache (accepted only if verified under the tenant's current keys),
//! verifies it on a miss (`token/jwks.rs` → `token/verify.rs`) and checks revocations → the
//! subject is bound to the request (resource audience, client certificate, DPoP proof last:
//! `api/subject.rs`) → `scope`
//! decides against the compiled catalog → `api/decision/answer.rs` builds the answer and
//! challenge.
//!
//! # One `ManageScope` write
//!
//! `api/admin/scopes.rs` authenticates and builds a plan (`scope::edit`) →
//! [`tenant_states::TenantStates::edit`] → `Store::edit` runs the plan inside one transaction
//! against the locked catalog, writes the rows and the audit record, bumps the revision and
//! announces the change (Postgres `NOTIFY`) → `TenantStates` invalidates what the write touched
//! on this replica before the call returns; other replicas apply the announcement through
//! `TenantStates::apply`.
//!
//! # Words
//!
//! A *catalog* is a tenant's scopes, clients and operations (`scope::CatalogSnapshot` as stored,
//! `scope::CompiledCatalog` for decisions); a *catalog file* is its TOML import/export form
//! (`preset`); the *tenant states* ([`tenant_states`]) are the cache of everything the hot path
//! needs about a tenant. The *token pipeline* ([`pipeline`]) is shared by every door; the gRPC
//! `Introspect` service that renders it is `api/introspection.rs`.

pub mod api;
pub mod app;
pub mod bench;
pub mod caller;
pub mod cli;
pub mod config;
pub mod decision_log;
pub mod pb;
pub mod pipeline;
pub mod preset;
pub mod scope;
pub mod store;
pub mod telemetry;
pub mod tenant;
pub mod tenant_states;
pub mod tls;
pub mod token;
