//! The webhook management routes.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::Utc;
use hookline_shared::{
    auth::Access,
    delivery::{self, Payload},
    error::{json_response, respond, FieldError},
    http::{authenticate, json_body, path_id, query_param},
    model::{EventType, Webhook, WebhookChanges, WebhookSettings, WebhookView},
    ApiError,
};
use lambda_http::{
    http::{Method, StatusCode},
    Body, Request, Response,
};
use serde::Serialize;
use serde_json::json;

use crate::App;

pub const DEFAULT_PAGE_SIZE: usize = 50;
pub const MAX_PAGE_SIZE: usize = 100;

/// `POST /webhooks`: 201 with the webhook and, this once, its signing secret.
pub async fn create(app: &App, req: Request) -> Response<Body> {
    respond(create_webhook(app, &req).await)
}

async fn create_webhook(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let principal = authenticate(&app.store, req, Access::Write).await?;
    let settings = WebhookSettings::parse(&json_body(req)?)?;
    let webhook = Webhook::new(
        &principal.account_id,
        settings,
        delivery::generate_secret(),
        Utc::now(),
    );
    app.store
        .create_webhook(&webhook, app.config.webhook_quota)
        .await?;
    tracing::info!(account = %webhook.account_id, webhook = %webhook.id, "webhook created");
    let mut response = json_response(StatusCode::CREATED, &webhook.view_with_secret());
    if let Ok(location) = format!("/webhooks/{}", webhook.id).parse() {
        response.headers_mut().insert("location", location);
    }
    Ok(response)
}

/// `GET /webhooks`: a page of the account's webhooks, oldest first.
pub async fn list(app: &App, req: Request) -> Response<Body> {
    respond(list_webhooks(app, &req).await)
}

/// The parsed query of a list request.
#[derive(Debug, Default, PartialEq)]
struct ListQuery {
    limit: usize,
    after: Option<String>,
    enabled: Option<bool>,
    alert_type: Option<String>,
    event: Option<EventType>,
}

fn parse_list_query(req: &Request) -> Result<ListQuery, ApiError> {
    let mut errors = Vec::new();
    let mut query = ListQuery {
        limit: DEFAULT_PAGE_SIZE,
        ..ListQuery::default()
    };
    let field = |name: &str, errors: &mut Vec<FieldError>| match query_param(req, name) {
        Ok(value) => value,
        Err(ApiError::Validation(details)) => {
            errors.extend(details);
            None
        }
        Err(_) => None,
    };
    if let Some(raw) = field("limit", &mut errors) {
        match raw.parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => query.limit = n,
            _ => errors.push(FieldError::new(
                "limit",
                format!("must be a whole number from 1 to {MAX_PAGE_SIZE}"),
            )),
        }
    }
    if let Some(raw) = field("cursor", &mut errors) {
        match decode_cursor(&raw) {
            Some(id) => query.after = Some(id),
            None => errors.push(FieldError::new(
                "cursor",
                "is not a cursor this API returned",
            )),
        }
    }
    if let Some(raw) = field("enabled", &mut errors) {
        match raw.as_str() {
            "true" => query.enabled = Some(true),
            "false" => query.enabled = Some(false),
            _ => errors.push(FieldError::new("enabled", "must be true or false")),
        }
    }
    if let Some(raw) = field("alert_type", &mut errors) {
        if raw.trim().is_empty() {
            errors.push(FieldError::new("alert_type", "must not be empty"));
        } else {
            query.alert_type = Some(raw.trim().to_string());
        }
    }
    if let Some(raw) = field("event", &mut errors) {
        match EventType::parse(&raw) {
            Some(e) => query.event = Some(e),
            None => errors.push(FieldError::new(
                "event",
                "must be one of alert.triggered, alert.resolved, alert.test",
            )),
        }
    }
    if errors.is_empty() {
        Ok(query)
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// Cursors are opaque to clients: the last webhook id of the page, base64url-encoded.
fn encode_cursor(webhook_id: &str) -> String {
    URL_SAFE_NO_PAD.encode(webhook_id)
}

fn decode_cursor(cursor: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let id = uuid::Uuid::parse_str(std::str::from_utf8(&bytes).ok()?).ok()?;
    Some(id.hyphenated().to_string())
}

async fn list_webhooks(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let principal = authenticate(&app.store, req, Access::Read).await?;
    let query = parse_list_query(req)?;
    let page = app
        .store
        .list_webhooks(
            &principal.account_id,
            query.limit,
            query.after.as_deref(),
            |w| {
                query.enabled.is_none_or(|e| w.enabled == e)
                    && w.subscribes_to(query.alert_type.as_deref(), query.event)
            },
        )
        .await?;
    #[derive(Serialize)]
    struct ListReply<'a> {
        webhooks: Vec<WebhookView<'a>>,
        next_cursor: Option<String>,
    }
    Ok(json_response(
        StatusCode::OK,
        &ListReply {
            webhooks: page.items.iter().map(Webhook::view).collect(),
            next_cursor: page.next_after.as_deref().map(encode_cursor),
        },
    ))
}

/// Loads a webhook of the caller's account; another account's is simply not found.
async fn load(app: &App, req: &Request, access: Access) -> Result<Webhook, ApiError> {
    let principal = authenticate(&app.store, req, access).await?;
    let id = path_id(req, "webhook")?;
    app.store
        .get_webhook(&principal.account_id, &id)
        .await?
        .ok_or(ApiError::NotFound("webhook"))
}

/// `GET /webhooks/{id}`.
pub async fn get(app: &App, req: Request) -> Response<Body> {
    respond(
        load(app, &req, Access::Read)
            .await
            .map(|w| json_response(StatusCode::OK, &w.view())),
    )
}

/// `PATCH /webhooks/{id}` (any subset of fields) and `PUT /webhooks/{id}` (all of them).
pub async fn update(app: &App, req: Request) -> Response<Body> {
    respond(update_webhook(app, &req).await)
}

async fn update_webhook(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let principal = authenticate(&app.store, req, Access::Write).await?;
    let id = path_id(req, "webhook")?;
    let changes = match *req.method() {
        Method::PATCH => WebhookChanges::parse(&json_body(req)?)?,
        Method::PUT => WebhookSettings::parse(&json_body(req)?)?.into_changes(),
        ref other => return Err(ApiError::MethodNotAllowed(other.to_string())),
    };
    let webhook = app
        .store
        .update_webhook(&principal.account_id, &id, &changes, Utc::now())
        .await?;
    tracing::info!(account = %webhook.account_id, webhook = %webhook.id, "webhook updated");
    Ok(json_response(StatusCode::OK, &webhook.view()))
}

/// `DELETE /webhooks/{id}`: 204.
pub async fn delete(app: &App, req: Request) -> Response<Body> {
    respond(delete_webhook(app, &req).await)
}

async fn delete_webhook(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let principal = authenticate(&app.store, req, Access::Write).await?;
    let id = path_id(req, "webhook")?;
    app.store.delete_webhook(&principal.account_id, &id).await?;
    tracing::info!(account = %principal.account_id, webhook = %id, "webhook deleted");
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::NO_CONTENT;
    Ok(response)
}

/// `POST /webhooks/{id}/test`: sends a signed `alert.test` and reports how it went.
pub async fn test(app: &App, req: Request) -> Response<Body> {
    respond(test_webhook(app, &req).await)
}

async fn test_webhook(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let webhook = load(app, req, Access::Write).await?;
    let body = Payload::test(&webhook, Utc::now()).to_bytes();
    let msg_id = format!("msg_{}", uuid::Uuid::new_v4().simple());
    let attempt = delivery::send(
        &app.http,
        &webhook,
        &msg_id,
        body,
        app.config.delivery_timeout,
    )
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    tracing::info!(
        account = %webhook.account_id,
        webhook = %webhook.id,
        status = ?attempt.status_code,
        duration_ms = attempt.duration_ms,
        "test delivery sent"
    );
    #[derive(Serialize)]
    struct TestReply {
        success: bool,
        status_code: Option<u16>,
        message: String,
        duration_ms: u64,
    }
    Ok(json_response(
        StatusCode::OK,
        &TestReply {
            success: attempt.success(),
            status_code: attempt.status_code,
            message: attempt.message,
            duration_ms: attempt.duration_ms,
        },
    ))
}

/// `GET /webhooks/{id}/secret`. Needs the `webhook` scope: the secret is a credential.
pub async fn secret(app: &App, req: Request) -> Response<Body> {
    respond(
        load(app, &req, Access::Write)
            .await
            .map(|w| json_response(StatusCode::OK, &json!({"secret": w.secret}))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::RequestExt;
    use std::collections::HashMap;

    fn with_query(pairs: &[(&str, &str)]) -> Request {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in pairs {
            map.entry(k.to_string()).or_default().push(v.to_string());
        }
        Request::default().with_query_string_parameters(map)
    }

    #[test]
    fn list_query_defaults_and_limits() {
        let q = parse_list_query(&with_query(&[])).unwrap();
        assert_eq!(q.limit, 50);
        assert_eq!(
            parse_list_query(&with_query(&[("limit", "100")]))
                .unwrap()
                .limit,
            100
        );
        for bad in ["0", "101", "-1", "ten", ""] {
            assert!(
                parse_list_query(&with_query(&[("limit", bad)])).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn list_query_names_every_bad_parameter() {
        let err = parse_list_query(&with_query(&[
            ("limit", "x"),
            ("cursor", "!!"),
            ("enabled", "yes"),
            ("event", "alert.nope"),
            ("alert_type", " "),
        ]))
        .unwrap_err();
        let fields: Vec<_> = err.details().iter().map(|d| d.field.as_str()).collect();
        assert_eq!(
            fields,
            ["limit", "cursor", "enabled", "alert_type", "event"]
        );
        assert!(parse_list_query(&with_query(&[("limit", "1"), ("limit", "2")])).is_err());
    }

    #[test]
    fn cursors_round_trip_and_reject_forgeries() {
        let id = uuid::Uuid::now_v7().to_string();
        assert_eq!(decode_cursor(&encode_cursor(&id)), Some(id));
        assert_eq!(decode_cursor(&encode_cursor("WEBHOOK#x")), None);
        assert_eq!(decode_cursor("%%%"), None);
    }
}
