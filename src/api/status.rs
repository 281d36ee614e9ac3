//! The one table from errors to `tonic::Status`: internal detail is logged here and never
//! returned, and no message is longer than [`MAX_STATUS_MESSAGE_BYTES`] whatever it quotes.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::{
    scope::{edit::EditError, limits::truncate},
    store::StoreError,
};

/// Longest status message (and BadRequest field or description) sent: well under what gRPC
/// clients read in trailers (16 KiB), whatever an error quotes of its input. Errors quote at most
/// 128 bytes of a value; this is the last line of defence.
pub const MAX_STATUS_MESSAGE_BYTES: usize = 512;

fn capped(text: &str) -> String {
    truncate(text, MAX_STATUS_MESSAGE_BYTES).into_owned()
}

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Bad input, naming the field.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// No usable credential.
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// A credential that may not do this.
    #[error("{0}")]
    PermissionDenied(String),
    /// The thing asked for does not exist (a fixed sentence: never quotes input).
    #[error("{0}")]
    NotFound(&'static str),
    /// From the store or the catalog rules.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A dependency other than the store (a tenant's upstream introspection endpoint) cannot
    /// answer, so nothing can be decided: UNAVAILABLE, never a guess (a fixed sentence).
    #[error("{0}")]
    Unavailable(&'static str),
}

impl ApiError {
    /// An `Invalid` error naming the field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<EditError> for ApiError {
    fn from(err: EditError) -> Self {
        Self::Store(StoreError::Rejected(err))
    }
}

fn bad_request(field: &str, message: &str) -> Status {
    let (field, message) = (capped(field), capped(message));
    Status::with_error_details(
        Code::InvalidArgument,
        capped(&format!("{field}: {message}")),
        ErrorDetails::with_bad_request_violation(field, message),
    )
}

impl From<ApiError> for Status {
    fn from(err: ApiError) -> Self {
        match err {
            ApiError::Invalid { field, message } => bad_request(&field, &message),
            ApiError::Unauthenticated(msg) => Status::unauthenticated(capped(msg)),
            ApiError::PermissionDenied(msg) => Status::permission_denied(capped(&msg)),
            ApiError::NotFound(msg) => Status::not_found(msg),
            ApiError::Store(store) => store_status(store),
            ApiError::Unavailable(msg) => Status::unavailable(msg),
        }
    }
}

fn store_status(err: StoreError) -> Status {
    match err {
        StoreError::TenantNotFound(_) => Status::not_found(capped(&err.to_string())),
        StoreError::TenantConflict(msg) => Status::already_exists(capped(&msg)),
        StoreError::Rejected(edit) => match &edit {
            EditError::NotFound { .. } => Status::not_found(capped(&edit.to_string())),
            EditError::AlreadyExists { .. } => Status::already_exists(capped(&edit.to_string())),
            EditError::SystemScope(_) | EditError::Cycle(_) => {
                Status::failed_precondition(capped(&edit.to_string()))
            }
            EditError::EtagMismatch { .. } => Status::aborted(capped(&edit.to_string())),
            EditError::Invalid { field, message } => bad_request(field, message),
        },
        StoreError::Unavailable(detail) => {
            tracing::warn!(%detail, "store unavailable");
            Status::unavailable("the store is unavailable; retry later")
        }
        StoreError::Storage(detail) => {
            tracing::error!(%detail, "the database cannot write");
            Status::unavailable(
                "the database cannot store changes (disk full, read-only or I/O error); \
                 nothing was written; retry once its storage is fixed",
            )
        }
        StoreError::Config(detail) | StoreError::Internal(detail) => {
            tracing::error!(%detail, "internal error");
            Status::internal("internal error")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_storage_failure_is_unavailable_without_its_detail() {
        let detail = "(code: 778) disk I/O error at /var/lib/scopegate/scopegate.db-wal";

        let status = Status::from(ApiError::Store(StoreError::Storage(detail.into())));

        assert_eq!(status.code(), Code::Unavailable);
        assert!(!status.message().contains("778"), "{status:?}");
        assert!(!status.message().contains("/var/lib"), "{status:?}");
    }

    #[test]
    fn no_status_message_grows_with_its_input() {
        let huge = "x".repeat(1024 * 1024);
        let statuses = [
            Status::from(ApiError::invalid(huge.clone(), huge.clone())),
            Status::from(ApiError::PermissionDenied(huge.clone())),
            Status::from(ApiError::from(EditError::NotFound {
                kind: "scope",
                name: huge.clone(),
            })),
            Status::from(ApiError::from(EditError::Cycle(vec![huge.clone(); 1000]))),
            Status::from(ApiError::Store(StoreError::TenantConflict(huge))),
        ];
        for status in statuses {
            assert!(status.message().len() <= 1024, "{:?}", status.code());
        }
    }
}
