//! The API's routes to the portal's sign-in: `POST /portal-links` mints a one-time
//! portal URL, `DELETE /portal-sessions` ends every portal session of the account.

use chrono::{Duration, Utc};
use hookline_shared::{
    auth::Access,
    error::FieldError,
    session::{self, Origin, PortalLink},
    ApiError,
};
use lambda_http::{
    http::{header, StatusCode},
    Body, Request, Response,
};
use serde_json::Value;

use crate::{
    http::{authenticate, base_url, json_body},
    response::{json_response, respond},
    App,
};

fn host(req: &Request) -> Option<&str> {
    req.headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
}

/// `POST /portal-links`: a one-time portal URL for the caller's account, valid for
/// `expires_in_seconds` (at most and by default 3600). `read_only` defaults to the
/// caller's own access; a read-only token can mint only read-only links.
pub async fn create_link(app: &App, req: Request) -> Response<Body> {
    respond(create_portal_link(app, &req).await)
}

async fn create_portal_link(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let principal = authenticate(&app.store, req, Access::Read).await?;
    let body = if crate::http::body_is_blank(req) {
        Value::Object(Default::default())
    } else {
        json_body(req)?
    };
    let (read_only, expires_in) =
        parse_link_request(&body, principal.require(Access::Write).is_ok())?;
    if !read_only {
        principal.require(Access::Write)?;
    }
    let base = app
        .settings
        .public_base_url
        .clone()
        .or_else(|| base_url(req))
        .or_else(|| host(req).map(|h| format!("http://{h}")))
        .unwrap_or_default();
    let now = Utc::now();
    let link = PortalLink {
        account_id: principal.account_id.clone(),
        scopes: session::link_scopes(read_only),
        origin: Origin::of(&principal),
        expires_at: (now + Duration::seconds(expires_in)).timestamp(),
    };
    let (url, expires_at) = session::mint_link(&app.store, &base, &link).await?;
    tracing::info!(account = %principal.account_id, read_only, "portal link made");
    Ok(json_response(
        StatusCode::CREATED,
        &serde_json::json!({"url": url, "expires_at": expires_at, "read_only": read_only}),
    ))
}

fn parse_link_request(body: &Value, can_write: bool) -> Result<(bool, i64), ApiError> {
    let Value::Object(map) = body else {
        return Err(ApiError::field("body", "must be an object"));
    };
    let mut errors = Vec::new();
    for key in map
        .keys()
        .filter(|k| !matches!(k.as_str(), "read_only" | "expires_in_seconds"))
    {
        errors.push(FieldError::new(key.clone(), "is not a known field"));
    }
    let read_only = match map.get("read_only") {
        None | Some(Value::Null) => !can_write,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            errors.push(FieldError::new("read_only", "must be true or false"));
            false
        }
    };
    let expires_in = match map.get("expires_in_seconds") {
        None | Some(Value::Null) => session::LINK_MAX_SECS,
        Some(v) => match v.as_i64() {
            Some(n) if (60..=session::LINK_MAX_SECS).contains(&n) => n,
            _ => {
                errors.push(FieldError::new(
                    "expires_in_seconds",
                    format!(
                        "must be a whole number from 60 to {}",
                        session::LINK_MAX_SECS
                    ),
                ));
                0
            }
        },
    };
    if errors.is_empty() {
        Ok((read_only, expires_in))
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// `DELETE /portal-sessions`: ends every portal session of the caller's account, those of
/// links the admin tool made included; 200 `{"ended_before"}`. Signing in again works.
pub async fn end_sessions(app: &App, req: Request) -> Response<Body> {
    respond(end_portal_sessions(app, &req).await)
}

async fn end_portal_sessions(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let principal = authenticate(&app.store, req, Access::Write).await?;
    let now = Utc::now();
    app.store
        .end_portal_sessions(&principal.account_id, now)
        .await?;
    tracing::info!(account = %principal.account_id, by = %principal.token_id, "portal sessions ended");
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({"ended_before": now}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn link_requests() {
        assert_eq!(parse_link_request(&json!({}), true).unwrap(), (false, 3600));
        assert_eq!(parse_link_request(&json!({}), false).unwrap(), (true, 3600));
        assert_eq!(
            parse_link_request(&json!({"read_only": true, "expires_in_seconds": 60}), true)
                .unwrap(),
            (true, 60)
        );
        assert!(parse_link_request(&json!({"expires_in_seconds": 3601}), true).is_err());
        assert!(parse_link_request(&json!({"expires_in_seconds": 59}), true).is_err());
        assert!(parse_link_request(&json!({"read_only": "yes"}), true).is_err());
        assert!(parse_link_request(&json!({"other": 1}), true).is_err());
        assert!(parse_link_request(&json!([]), true).is_err());
    }
}
