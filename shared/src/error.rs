//! Typed errors of the API. `functions/` turns them into HTTP responses; each carries
//! the code of the error envelope,
//! `{"error": {"code": "...", "message": "...", "details": [{"field": "...", "message": "..."}]}}`.

use serde::Serialize;

use crate::store::StoreError;

/// One field at fault in a refused request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the request is invalid")]
    Validation(Vec<FieldError>),
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("the request body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    #[error("{0}")]
    Unauthenticated(&'static str),
    #[error("this token lacks the `{required}` scope")]
    InsufficientScope { required: &'static str },
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error(
        "the account already has {limit} webhooks, its quota; delete one or ask for a higher quota"
    )]
    QuotaExceeded { limit: u32 },
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// Well-formed, but cannot be done as asked: a template that fails to render.
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    #[error("queued {queued} of {total} deliveries; retry with the same Idempotency-Key to queue the rest")]
    NotQueued { queued: usize, total: usize },
    #[error("this route does not accept {0}")]
    MethodNotAllowed(String),
    #[error("the service is busy, retry shortly")]
    Unavailable,
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    /// The `code` of the error envelope.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Validation(_) => "validation_failed",
            Self::MalformedJson(_) => "malformed_json",
            Self::BadRequest { code, .. } => code,
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::Unauthenticated(_) => "unauthorized",
            Self::InsufficientScope { .. } => "insufficient_scope",
            Self::NotFound(_) => "not_found",
            Self::QuotaExceeded { .. } => "quota_exceeded",
            Self::Conflict { code, .. } | Self::Unprocessable { code, .. } => code,
            Self::NotQueued { .. } => "enqueue_failed",
            Self::MethodNotAllowed(_) => "method_not_allowed",
            Self::Unavailable => "unavailable",
            Self::Internal(_) => "internal_error",
        }
    }

    pub fn details(&self) -> &[FieldError] {
        match self {
            Self::Validation(details) => details,
            _ => &[],
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => ApiError::NotFound("webhook"),
            StoreError::QuotaExceeded(limit) => ApiError::QuotaExceeded { limit },
            StoreError::NoAccount => {
                ApiError::Unauthenticated("the token's account no longer exists")
            }
            StoreError::Throttled | StoreError::TimedOut => ApiError::Unavailable,
            StoreError::Contended(message) => ApiError::Conflict {
                code: "conflict",
                message: message.into(),
            },
            other => ApiError::Internal(other.to_string()),
        }
    }
}
