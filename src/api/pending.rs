//! `TokenIntrospection` until its engine lands: every RPC answers UNIMPLEMENTED, never
//! made-up data.

use tonic::{Request, Response, Status};

use super::status::ApiError;
use crate::pb;

/// Placeholder for the services whose behaviour is not built yet.
#[derive(Debug, Clone, Default)]
pub struct Pending;

fn pending<T>(what: &'static str) -> Result<Response<T>, Status> {
    Err(ApiError::Unimplemented(what).into())
}

#[tonic::async_trait]
impl pb::token_introspection_server::TokenIntrospection for Pending {
    async fn introspect(
        &self,
        _: Request<pb::IntrospectRequest>,
    ) -> Result<Response<pb::IntrospectResponse>, Status> {
        pending("Introspect")
    }

    async fn revoke_token(
        &self,
        _: Request<pb::RevokeTokenRequest>,
    ) -> Result<Response<pb::RevokeTokenResponse>, Status> {
        pending("RevokeToken")
    }
}
