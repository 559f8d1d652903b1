//! The webhook management routes: each parses its request, calls its operation in
//! [`crate::service::webhooks`] and writes the answer.

use hookline_shared::{
    auth::Access,
    error::FieldError,
    event::EventType,
    webhook::{parse_rotation, WebhookChanges, WebhookSettings, WebhookView},
    ApiError,
};
use lambda_http::{
    http::{Method, StatusCode},
    Body, Request, Response,
};
use serde::Serialize;
use serde_json::json;

use crate::{
    http::{authenticate, body_is_blank, json_body, json_body_within, path_id},
    paging,
    response::{json_response, respond},
    service::{self, webhooks::ListQuery, PageRequest},
    App,
};

/// The largest create or update body: room for a 64 KiB template, escaped, beside an 8 KiB
/// filter, 4 KiB of metadata and 20 headers.
pub const WEBHOOK_BODY_LIMIT: usize = 192 * 1024;

/// `POST /webhooks`: 201 with the webhook and, this once, its signing secret.
pub async fn create(app: &App, req: Request) -> Response<Body> {
    respond(create_webhook(app, &req).await)
}

async fn create_webhook(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let who = authenticate(&app.store, req, Access::Write).await?;
    let settings = WebhookSettings::parse(&json_body_within(req, WEBHOOK_BODY_LIMIT)?)?;
    let webhook = service::webhooks::create(app, &who, settings).await?;
    let mut response = json_response(StatusCode::CREATED, &webhook);
    if let Ok(location) = format!("/webhooks/{}", webhook.id).parse() {
        response.headers_mut().insert("location", location);
    }
    Ok(response)
}

/// `GET /webhooks`: a page of the account's webhooks, oldest first.
pub async fn list(app: &App, req: Request) -> Response<Body> {
    respond(list_webhooks(app, &req).await)
}

fn parse_list_query(req: &Request) -> Result<ListQuery, ApiError> {
    let mut errors = Vec::new();
    let (limit, after) = paging::parse(req, &mut errors);
    let mut query = ListQuery {
        page: PageRequest { limit, after },
        ..ListQuery::default()
    };
    if let Some(raw) = paging::param(req, "enabled", &mut errors) {
        match raw.as_str() {
            "true" => query.enabled = Some(true),
            "false" => query.enabled = Some(false),
            _ => errors.push(FieldError::new("enabled", "must be true or false")),
        }
    }
    if let Some(raw) = paging::param(req, "alert_type", &mut errors) {
        if raw.trim().is_empty() {
            errors.push(FieldError::new("alert_type", "must not be empty"));
        } else {
            query.alert_type = Some(raw.trim().to_string());
        }
    }
    if let Some(raw) = paging::param(req, "event", &mut errors) {
        let names = EventType::names;
        query.event = paging::choice(&raw, "event", EventType::parse, names, &mut errors);
    }
    if errors.is_empty() {
        Ok(query)
    } else {
        Err(ApiError::Validation(errors))
    }
}

async fn list_webhooks(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let who = authenticate(&app.store, req, Access::Read).await?;
    let query = parse_list_query(req)?;
    let listed = service::webhooks::list(app, &who, &query).await?;
    #[derive(Serialize)]
    struct ListReply {
        webhooks: Vec<WebhookView>,
        next_cursor: Option<String>,
    }
    Ok(json_response(
        StatusCode::OK,
        &ListReply {
            webhooks: listed.items,
            next_cursor: listed.next_cursor,
        },
    ))
}

/// `GET /webhooks/{id}`: the webhook with its health.
pub async fn get(app: &App, req: Request) -> Response<Body> {
    respond(get_webhook(app, &req).await)
}

async fn get_webhook(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let who = authenticate(&app.store, req, Access::Read).await?;
    let id = path_id(req, "id", "webhook")?;
    let webhook = service::webhooks::get(app, &who, &id).await?;
    Ok(json_response(StatusCode::OK, &webhook))
}

/// `PATCH /webhooks/{id}` (any subset of fields) and `PUT /webhooks/{id}` (all of them).
pub async fn update(app: &App, req: Request) -> Response<Body> {
    respond(update_webhook(app, &req).await)
}

async fn update_webhook(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let who = authenticate(&app.store, req, Access::Write).await?;
    let id = path_id(req, "id", "webhook")?;
    let changes = match *req.method() {
        Method::PATCH => WebhookChanges::parse(&json_body_within(req, WEBHOOK_BODY_LIMIT)?)?,
        Method::PUT => {
            WebhookSettings::parse(&json_body_within(req, WEBHOOK_BODY_LIMIT)?)?.into_changes()
        }
        ref other => return Err(ApiError::MethodNotAllowed(other.to_string())),
    };
    let webhook = service::webhooks::update(app, &who, &id, &changes).await?;
    Ok(json_response(StatusCode::OK, &webhook))
}

/// `DELETE /webhooks/{id}`: 204.
pub async fn delete(app: &App, req: Request) -> Response<Body> {
    respond(delete_webhook(app, &req).await)
}

async fn delete_webhook(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let who = authenticate(&app.store, req, Access::Write).await?;
    let id = path_id(req, "id", "webhook")?;
    service::webhooks::delete(app, &who, &id).await?;
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::NO_CONTENT;
    Ok(response)
}

/// `POST /webhooks/{id}/test`: sends a signed `alert.test` and reports how it went.
pub async fn test(app: &App, req: Request) -> Response<Body> {
    respond(test_webhook(app, &req).await)
}

async fn test_webhook(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let who = authenticate(&app.store, req, Access::Write).await?;
    let id = path_id(req, "id", "webhook")?;
    let report = service::webhooks::test(app, &who, &id).await?;
    Ok(json_response(StatusCode::OK, &report))
}

/// `GET /webhooks/{id}/secret`. Needs the `webhook` scope: the secret is a credential.
pub async fn secret(app: &App, req: Request) -> Response<Body> {
    respond(reveal_secret(app, &req).await)
}

async fn reveal_secret(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let who = authenticate(&app.store, req, Access::Write).await?;
    let id = path_id(req, "id", "webhook")?;
    let secret = service::webhooks::secret(app, &who, &id).await?;
    Ok(json_response(StatusCode::OK, &secret))
}

/// `POST /webhooks/{id}/secret/rotate`: a new signing secret. The replaced one keeps
/// signing beside it for `grace_period_seconds` (24 h unless the body says otherwise).
pub async fn rotate_secret(app: &App, req: Request) -> Response<Body> {
    respond(rotate(app, &req).await)
}

async fn rotate(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let who = authenticate(&app.store, req, Access::Write).await?;
    let id = path_id(req, "id", "webhook")?;
    // The body is optional: no body means the default grace period.
    let grace = if body_is_blank(req) {
        parse_rotation(&json!({}))?
    } else {
        parse_rotation(&json_body(req)?)?
    };
    let rotated = service::webhooks::rotate_secret(app, &who, &id, grace).await?;
    Ok(json_response(StatusCode::OK, &rotated))
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
        assert_eq!(q.page.limit, 50);
        assert_eq!(
            parse_list_query(&with_query(&[("limit", "100")]))
                .unwrap()
                .page
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
}
