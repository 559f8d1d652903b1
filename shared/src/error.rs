//! Typed errors, and the one place where they become HTTP responses.
//!
//! Every error leaves the API in one envelope:
//! `{"error": {"code": "...", "message": "...", "details": [{"field": "...", "message": "..."}]}}`.

use lambda_http::{http::StatusCode, Body, Response};
use serde::Serialize;

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

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Validation(_) | Self::MalformedJson(_) | Self::BadRequest { .. } => {
                StatusCode::BAD_REQUEST
            }
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::InsufficientScope { .. } => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::QuotaExceeded { .. } | Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::NotQueued { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

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
            Self::Conflict { code, .. } => code,
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

    /// The response the API sends for this error. Internal causes are logged, never sent.
    pub fn into_response(self) -> Response<Body> {
        let status = self.status();
        if let Self::Internal(cause) = &self {
            tracing::error!(%cause, "request failed");
        }
        let message = match &self {
            Self::Validation(details) if details.len() == 1 => {
                format!("{}: {}", details[0].field, details[0].message)
            }
            other => other.to_string(),
        };
        #[derive(Serialize)]
        struct Envelope<'a> {
            error: ErrorBody<'a>,
        }
        #[derive(Serialize)]
        struct ErrorBody<'a> {
            code: &'a str,
            message: String,
            details: &'a [FieldError],
        }
        let body = Envelope {
            error: ErrorBody {
                code: self.code(),
                message,
                details: self.details(),
            },
        };
        let mut response = json_response(status, &body);
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                "www-authenticate",
                lambda_http::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

/// A JSON response with the given status.
pub fn json_response(status: StatusCode, body: &impl Serialize) -> Response<Body> {
    // Serializing our own response types cannot fail: they hold no non-string map keys.
    let text = serde_json::to_string(body).unwrap_or_else(|_| "{}".to_string());
    let mut response = Response::new(Body::Text(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        "content-type",
        lambda_http::http::HeaderValue::from_static("application/json"),
    );
    response
}

/// Turns a handler's result into the response Lambda returns.
pub fn respond(result: Result<Response<Body>, ApiError>) -> Response<Body> {
    result.unwrap_or_else(ApiError::into_response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_json(response: &Response<Body>) -> serde_json::Value {
        match response.body() {
            Body::Text(text) => serde_json::from_str(text).unwrap(),
            other => panic!("unexpected body {other:?}"),
        }
    }

    #[test]
    fn validation_errors_name_every_field() {
        let response = ApiError::Validation(vec![
            FieldError::new("name", "is required"),
            FieldError::new("url", "is required"),
        ])
        .into_response();
        assert_eq!(response.status(), 400);
        let body = body_json(&response);
        assert_eq!(body["error"]["code"], "validation_failed");
        assert_eq!(body["error"]["details"][1]["field"], "url");
    }

    #[test]
    fn internal_causes_are_not_sent() {
        let response = ApiError::Internal("dynamodb said secret things".into()).into_response();
        assert_eq!(response.status(), 500);
        assert!(!format!("{:?}", response.body()).contains("secret things"));
    }

    #[test]
    fn unauthorized_carries_a_challenge() {
        let response = ApiError::Unauthenticated("missing bearer token").into_response();
        assert_eq!(response.status(), 401);
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        assert_eq!(
            body_json(&response)["error"]["details"],
            serde_json::json!([])
        );
    }
}
