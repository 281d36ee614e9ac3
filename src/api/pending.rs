//! `ScopeDecision` until its engine lands: every RPC answers
//! UNIMPLEMENTED, never made-up data.

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
impl pb::scope_decision_server::ScopeDecision for Pending {
    async fn check_scopes(
        &self,
        _: Request<pb::CheckScopesRequest>,
    ) -> Result<Response<pb::CheckScopesResponse>, Status> {
        pending("CheckScopes")
    }

    async fn resolve_scopes(
        &self,
        _: Request<pb::ResolveScopesRequest>,
    ) -> Result<Response<pb::ResolveScopesResponse>, Status> {
        pending("ResolveScopes")
    }

    async fn list_supported_scopes(
        &self,
        _: Request<pb::ListSupportedScopesRequest>,
    ) -> Result<Response<pb::ListSupportedScopesResponse>, Status> {
        pending("ListSupportedScopes")
    }
}
