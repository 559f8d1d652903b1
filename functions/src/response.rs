//! The one place where errors become HTTP responses, and JSON responses are built.
//!
//! Every error leaves the API in one envelope:
//! `{"error": {"code": "...", "message": "...", "details": [{"field": "...", "message": "..."}]}}`.

use hookline_shared::{error::FieldError, ApiError};
use lambda_http::{
    http::{HeaderValue, StatusCode},
    Body, Response,
};
use serde::Serialize;

/// The HTTP status of an error.
pub fn status(error: &ApiError) -> StatusCode {
    match error {
        ApiError::Validation(_) | ApiError::MalformedJson(_) | ApiError::BadRequest { .. } => {
            StatusCode::BAD_REQUEST
        }
        ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        ApiError::InsufficientScope { .. } => StatusCode::FORBIDDEN,
        ApiError::NotFound(_) => StatusCode::NOT_FOUND,
        ApiError::QuotaExceeded { .. } | ApiError::Conflict { .. } => StatusCode::CONFLICT,
        ApiError::NotQueued { .. } | ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
        ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The message an error answer carries: a lone field's fault names the field.
pub fn message(error: &ApiError) -> String {
    match error {
        ApiError::Validation(details) if details.len() == 1 => {
            format!("{}: {}", details[0].field, details[0].message)
        }
        other => other.to_string(),
    }
}

/// The response the API sends for an error. Internal causes are logged, never sent.
pub fn error_response(error: ApiError) -> Response<Body> {
    let status = status(&error);
    if let ApiError::Internal(cause) = &error {
        tracing::error!(%cause, "request failed");
    }
    let message = message(&error);
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
            code: error.code(),
            message,
            details: error.details(),
        },
    };
    let mut response = json_response(status, &body);
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert("www-authenticate", HeaderValue::from_static("Bearer"));
    }
    response
}

/// A JSON response with the given status. None may be cached: answers carry signing
/// secrets, portal links and masked-or-not credentials by the caller's scope, and a
/// shared or browser cache keyed on the URL alone would hand them to the next caller.
pub fn json_response(status: StatusCode, body: &impl Serialize) -> Response<Body> {
    // Serializing our own response types cannot fail: they hold no non-string map keys.
    let text = serde_json::to_string(body).unwrap_or_else(|_| "{}".to_string());
    let mut response = Response::new(Body::Text(text));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers.insert("cache-control", HeaderValue::from_static("no-store"));
    response
}

/// Turns a handler's result into the response Lambda returns.
pub fn respond(result: Result<Response<Body>, ApiError>) -> Response<Body> {
    result.unwrap_or_else(error_response)
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
        let response = error_response(ApiError::Validation(vec![
            FieldError::new("name", "is required"),
            FieldError::new("url", "is required"),
        ]));
        assert_eq!(response.status(), 400);
        let body = body_json(&response);
        assert_eq!(body["error"]["code"], "validation_failed");
        assert_eq!(body["error"]["details"][1]["field"], "url");
    }

    #[test]
    fn internal_causes_are_not_sent() {
        let response = error_response(ApiError::Internal("dynamodb said secret things".into()));
        assert_eq!(response.status(), 500);
        assert!(!format!("{:?}", response.body()).contains("secret things"));
    }

    #[test]
    fn unauthorized_carries_a_challenge() {
        let response = error_response(ApiError::Unauthenticated("missing bearer token"));
        assert_eq!(response.status(), 401);
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        assert_eq!(
            body_json(&response)["error"]["details"],
            serde_json::json!([])
        );
    }
}
