//! `scopegate.v1.TokenIntrospection`: RFC 7662 answers from the token pipeline, and RFC 7009
//! revocation. The answer itself is built in `answer.rs`, shared with the HTTP door.

pub(crate) mod answer;

use prost_types::{ListValue, Struct, Value, value::Kind};
use tonic::{Request, Response, Status};

use super::{
    auth::{Access, AdminAuth, permit},
    convert,
    status::ApiError,
    subject::presentation,
};
use crate::{
    pb::{self, revoke_token_request::Target},
    pipeline::TokenPipeline,
    store::{Revocation, RevocationKind, now_ms},
    tenant::MAX_LEEWAY_SECONDS,
    token::{MAX_TOKEN_BYTES, VerifiedToken, token_fingerprint},
};

/// How long a revocation is kept when the revoked tokens' expiry is not known: longer than
/// any access token should live.
const REVOCATION_RETENTION_SECONDS: i64 = 366 * 24 * 3600;

/// The token's `cnf` (RFC 7800) as the answer carries it, `None` when it has no binding.
fn confirmation(token: &VerifiedToken) -> Option<pb::Confirmation> {
    let (jkt, x5t) = (token.dpop_binding(), token.certificate_binding());
    (jkt.is_some() || x5t.is_some()).then(|| pb::Confirmation {
        jkt: jkt.unwrap_or_default().to_owned(),
        x5t_s256: x5t.unwrap_or_default().to_owned(),
    })
}

/// The introspection service.
#[derive(Debug, Clone)]
pub struct IntrospectionService {
    pipeline: TokenPipeline,
    auth: AdminAuth,
}

impl IntrospectionService {
    /// Answers from `pipeline`; revocation is gated by `auth`.
    pub fn new(pipeline: TokenPipeline, auth: AdminAuth) -> Self {
        Self { pipeline, auth }
    }

    async fn introspect_inner(
        &self,
        caller: Option<&crate::caller::Caller>,
        request: pb::IntrospectRequest,
    ) -> Result<pb::IntrospectResponse, ApiError> {
        if request.token.is_empty() {
            return Err(ApiError::invalid("token", "is required"));
        }
        let tenant = match request.tenant.as_str() {
            "" => None,
            raw => Some(convert::tenant_id(raw, "tenant")?),
        };
        if let Some(tenant) = &tenant {
            crate::telemetry::record_tenant(tenant);
        }
        let presented = match &request.presentation {
            Some(wire) => Some(presentation(Some(wire), "presentation")?),
            None => None,
        };
        let answer = answer::answer(
            &self.pipeline,
            caller,
            tenant.as_ref(),
            &request.token,
            presented.as_ref(),
        )
        .await?;
        let explain = |outcome: &str| {
            request.explain.then(|| pb::IntrospectExplain {
                outcome: outcome.to_owned(),
                cache_hit: answer.cache_hit,
                token_fingerprint: token_fingerprint(&request.token),
            })
        };
        let active = match &answer.active {
            Ok(active) => active,
            Err(outcome) => {
                return Ok(pb::IntrospectResponse {
                    active: false,
                    explain: explain(outcome),
                    ..Default::default()
                });
            }
        };
        let token = &active.token;
        Ok(pb::IntrospectResponse {
            active: true,
            scope: active.scope.clone(),
            client_id: token.client_id.clone().unwrap_or_default(),
            username: token.username.clone().unwrap_or_default(),
            token_type: answer::token_type(token).to_owned(),
            exp: Some(token.exp),
            iat: token.iat,
            nbf: token.nbf,
            sub: token.sub.clone().unwrap_or_default(),
            aud: token.aud.clone(),
            iss: token.iss.to_string(),
            jti: token.jti.clone().unwrap_or_default(),
            tenant: active.tenant.to_string(),
            claims: Some(to_struct(&token.other_claims)),
            catalog_revision: active.catalog_revision,
            explain: explain("ok"),
            cnf: confirmation(token),
        })
    }

    async fn revoke_inner(
        &self,
        request: Request<pb::RevokeTokenRequest>,
    ) -> Result<pb::RevokeTokenResponse, ApiError> {
        // Authenticate before looking at the token, so the answer is no oracle of its validity.
        let grant = self.auth.grant(request.metadata(), Access::Write).await?;
        let message = request.get_ref();
        let target = message
            .target
            .clone()
            .ok_or_else(|| ApiError::invalid("target", "is required"))?;
        let now = now_ms() / 1000;
        let keep_until = now + REVOCATION_RETENTION_SECONDS;
        let named_tenant = match message.tenant.as_str() {
            "" => None,
            raw => Some(convert::tenant_id(raw, "tenant")?),
        };
        if let Some(tenant) = &named_tenant {
            crate::telemetry::record_tenant(tenant);
        }
        let (tenant, revocation) = match target {
            Target::Token(token) => {
                if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
                    return Err(ApiError::invalid("token", "must be 1 to 16384 bytes"));
                }
                let seen = self
                    .pipeline
                    .introspect(named_tenant.as_ref(), &token, now)
                    .await?;
                // RFC 7009 §2.2: an invalid or unknown token needs no revocation; say success.
                let (Some(state), Ok(verified)) = (seen.state, seen.token) else {
                    return Ok(pb::RevokeTokenResponse {});
                };
                // Verification accepts a token until `exp` + the tenant's leeway, which the
                // tenant may raise later: keep the revocation past the largest leeway.
                let expires_at = verified.exp.saturating_add(i64::from(MAX_LEEWAY_SECONDS));
                let revocation = match &verified.jti {
                    Some(jti) => Revocation {
                        kind: RevocationKind::Jti,
                        value: jti.clone(),
                        not_before: 0,
                        expires_at,
                    },
                    None => Revocation {
                        kind: RevocationKind::Token,
                        value: crate::tenant_states::token_digest(&token),
                        not_before: 0,
                        expires_at,
                    },
                };
                (state.tenant.id.clone(), revocation)
            }
            Target::Jti(jti) => {
                let tenant =
                    named_tenant.ok_or_else(|| ApiError::invalid("tenant", "is required"))?;
                if jti.is_empty() || jti.len() > 1024 {
                    return Err(ApiError::invalid("jti", "must be 1 to 1024 bytes"));
                }
                (
                    tenant,
                    Revocation {
                        kind: RevocationKind::Jti,
                        value: jti,
                        not_before: 0,
                        expires_at: keep_until,
                    },
                )
            }
            Target::Client(nb) | Target::Subject(nb) => {
                let field = if matches!(message.target, Some(Target::Client(_))) {
                    "client"
                } else {
                    "subject"
                };
                let kind = if field == "client" {
                    RevocationKind::Client
                } else {
                    RevocationKind::Subject
                };
                let tenant =
                    named_tenant.ok_or_else(|| ApiError::invalid("tenant", "is required"))?;
                if nb.id.is_empty() || nb.id.len() > 1024 {
                    return Err(ApiError::invalid(
                        format!("{field}.id"),
                        "must be 1 to 1024 bytes",
                    ));
                }
                let not_before = nb.not_before.map_or(now, |t| t.seconds);
                (
                    tenant,
                    Revocation {
                        kind,
                        value: nb.id,
                        not_before,
                        expires_at: keep_until.max(not_before),
                    },
                )
            }
        };
        let actor = permit(grant, Some(&tenant))?;
        self.pipeline
            .states()
            .revoke(&tenant, &revocation, &actor)
            .await?;
        tracing::info!(%tenant, kind = revocation.kind.as_str(), "revoked");
        Ok(pb::RevokeTokenResponse {})
    }
}

/// JSON claims as a protobuf `Struct`.
fn to_struct(map: &serde_json::Map<String, serde_json::Value>) -> Struct {
    Struct {
        fields: map.iter().map(|(k, v)| (k.clone(), to_value(v))).collect(),
    }
}

fn to_value(value: &serde_json::Value) -> Value {
    let kind = match value {
        serde_json::Value::Null => Kind::NullValue(0),
        serde_json::Value::Bool(b) => Kind::BoolValue(*b),
        serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        serde_json::Value::String(s) => Kind::StringValue(s.clone()),
        serde_json::Value::Array(items) => Kind::ListValue(ListValue {
            values: items.iter().map(to_value).collect(),
        }),
        serde_json::Value::Object(map) => Kind::StructValue(to_struct(map)),
    };
    Value { kind: Some(kind) }
}

#[tonic::async_trait]
impl pb::token_introspection_server::TokenIntrospection for IntrospectionService {
    async fn introspect(
        &self,
        request: Request<pb::IntrospectRequest>,
    ) -> Result<Response<pb::IntrospectResponse>, Status> {
        let caller = request.extensions().get::<crate::caller::Caller>().cloned();
        Ok(Response::new(
            self.introspect_inner(caller.as_ref(), request.into_inner())
                .await?,
        ))
    }

    async fn revoke_token(
        &self,
        request: Request<pb::RevokeTokenRequest>,
    ) -> Result<Response<pb::RevokeTokenResponse>, Status> {
        Ok(Response::new(self.revoke_inner(request).await?))
    }
}
