//! The webhook management routes.

use chrono::Utc;
use hookline_shared::{
    alert,
    auth::Access,
    delivery::{
        attempt::Attempted,
        destination::Refusal,
        payload::Payload,
        record::{self, Delivery, Trigger},
        signing, url_template,
    },
    error::FieldError,
    event::EventType,
    store::{Move, StoreError, StoredAlert},
    webhook::{parse_rotation, Webhook, WebhookChanges, WebhookSettings, WebhookView},
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
    let principal = authenticate(&app.store, req, Access::Write).await?;
    let settings = WebhookSettings::parse(&json_body_within(req, WEBHOOK_BODY_LIMIT)?)?;
    check_destination(app, &settings.url).await?;
    let webhook = Webhook::new(
        &principal.account_id,
        settings,
        signing::generate_secret(),
        Utc::now(),
    );
    app.store
        .create_webhook(&webhook, app.settings.webhook_quota)
        .await?;
    tracing::info!(account = %webhook.account_id, webhook = %webhook.id, "webhook created");
    let mut response = json_response(StatusCode::CREATED, &webhook.view_with_secret());
    if let Ok(location) = format!("/webhooks/{}", webhook.id).parse() {
        response.headers_mut().insert("location", location);
    }
    Ok(response)
}

/// A destination the delivery policy refuses is a 400 now, rather than failed deliveries
/// later. A name that does not resolve (yet) is accepted: every attempt checks again.
async fn check_destination(app: &App, url: &str) -> Result<(), ApiError> {
    // A URL template goes to the origin it starts with.
    let target = match url_template::origin_of(url) {
        Ok(Some(origin)) => Ok(origin),
        _ => url::Url::parse(url),
    };
    let Ok(parsed) = target else {
        return Ok(());
    };
    match app.settings.destinations.check(&parsed).await {
        Ok(()) | Err(Refusal::Unresolvable(_)) => Ok(()),
        Err(refusal) => Err(ApiError::field("url", refusal.to_string())),
    }
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
    let (limit, after) = paging::parse(req, &mut errors);
    let mut query = ListQuery {
        limit,
        after,
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
        match EventType::parse(&raw) {
            Some(e) => query.event = Some(e),
            None => errors.push(FieldError::new(
                "event",
                format!("must be one of {}", EventType::names()),
            )),
        }
    }
    if errors.is_empty() {
        Ok(query)
    } else {
        Err(ApiError::Validation(errors))
    }
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
                query.enabled.is_none_or(|e| w.settings.enabled == e)
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
            webhooks: page
                .items
                .iter()
                .map(|w| w.view(principal.access()))
                .collect(),
            next_cursor: page.next_after.as_deref().map(paging::encode_cursor),
        },
    ))
}

/// Loads a webhook's configuration (not its health) from the caller's account; another
/// account's is simply not found.
pub(crate) async fn load(app: &App, req: &Request, access: Access) -> Result<Webhook, ApiError> {
    let principal = authenticate(&app.store, req, access).await?;
    load_in(app, req, &principal.account_id).await
}

/// The webhook of the path's `{id}` in `account_id`.
pub(crate) async fn load_in(
    app: &App,
    req: &Request,
    account_id: &str,
) -> Result<Webhook, ApiError> {
    let id = path_id(req, "id", "webhook")?;
    app.store
        .get_webhook_config(account_id, &id)
        .await?
        .ok_or(ApiError::NotFound("webhook"))
}

/// `GET /webhooks/{id}`: the webhook with its health.
pub async fn get(app: &App, req: Request) -> Response<Body> {
    respond(get_webhook(app, &req).await)
}

async fn get_webhook(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let principal = authenticate(&app.store, req, Access::Read).await?;
    let id = path_id(req, "id", "webhook")?;
    let webhook = app
        .store
        .get_webhook(&principal.account_id, &id)
        .await?
        .ok_or(ApiError::NotFound("webhook"))?;
    Ok(json_response(
        StatusCode::OK,
        &webhook.view(principal.access()),
    ))
}

/// `PATCH /webhooks/{id}` (any subset of fields) and `PUT /webhooks/{id}` (all of them).
pub async fn update(app: &App, req: Request) -> Response<Body> {
    respond(update_webhook(app, &req).await)
}

async fn update_webhook(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let principal = authenticate(&app.store, req, Access::Write).await?;
    let id = path_id(req, "id", "webhook")?;
    let changes = match *req.method() {
        Method::PATCH => WebhookChanges::parse(&json_body_within(req, WEBHOOK_BODY_LIMIT)?)?,
        Method::PUT => {
            WebhookSettings::parse(&json_body_within(req, WEBHOOK_BODY_LIMIT)?)?.into_changes()
        }
        ref other => return Err(ApiError::MethodNotAllowed(other.to_string())),
    };
    if let Some(url) = &changes.url {
        check_destination(app, url).await?;
    }
    let account = &principal.account_id;
    let now = Utc::now();
    // The change must fit the fields it leaves as they are (template or format, what a
    // format needs): checked against the webhook as read, and written only over that.
    for _ in 0..5 {
        let current = app
            .store
            .get_webhook_config(account, &id)
            .await?
            .ok_or(ApiError::NotFound("webhook"))?;
        changes
            .applied_to(&current.settings)
            .check_combination()
            .map_err(ApiError::Validation)?;
        match app.store.update_webhook(&current, &changes, now).await {
            Ok(webhook) => return Ok(updated(&webhook)),
            Err(StoreError::Contended(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(
        StoreError::Contended("the webhook kept changing while this update was applied; try again")
            .into(),
    )
}

fn updated(webhook: &Webhook) -> Response<Body> {
    tracing::info!(account = %webhook.account_id, webhook = %webhook.id, "webhook updated");
    json_response(StatusCode::OK, &webhook.view(Access::Write))
}

/// `DELETE /webhooks/{id}`: 204.
pub async fn delete(app: &App, req: Request) -> Response<Body> {
    respond(delete_webhook(app, &req).await)
}

async fn delete_webhook(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let principal = authenticate(&app.store, req, Access::Write).await?;
    let id = path_id(req, "id", "webhook")?;
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
    let mut webhook = load(app, req, Access::Write).await?;
    app.store.open_webhook(&mut webhook).await?;
    let now = app.attempter.now();
    let alert = alert::test_alert(now);
    let alert_json = serde_json::to_value(&alert).map_err(|e| ApiError::Internal(e.to_string()))?;
    let body = Payload::new(EventType::AlertTest, &alert_json, None, &webhook, now).render();
    let delivery = Delivery::pending(
        record::delivery_id(&alert.id, &webhook.id, now),
        webhook.id.clone(),
        alert.id.clone(),
        EventType::AlertTest,
        Trigger::Test,
        now,
        app.settings.delivery.expires_at(now),
    );
    let attempted = app
        .attempter
        .attempt(&webhook, &delivery, 1, Trigger::Test, &body, None)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    record_test(app, &webhook, alert, &attempted).await;

    #[derive(Serialize)]
    struct TestReply {
        success: bool,
        status_code: Option<u16>,
        message: String,
        duration_ms: u64,
        delivery_id: String,
    }
    let sent = attempted.sent;
    Ok(json_response(
        StatusCode::OK,
        &TestReply {
            success: sent.success(),
            status_code: sent.status_code,
            message: sent.message,
            duration_ms: sent.duration_ms,
            delivery_id: attempted.delivery.delivery_id,
        },
    ))
}

/// Keeps the test in the delivery log (trigger `test`), with its alert kept apart: no list,
/// count, chart or action finds a test alert. The test already
/// happened, so a failure to record it is logged rather than turned into an error answer.
async fn record_test(app: &App, webhook: &Webhook, alert: alert::Alert, attempted: &Attempted) {
    let stored = StoredAlert {
        moves: vec![Move {
            transition: 1,
            event: EventType::AlertTest,
            at: attempted.delivery.created_at,
            webhook_ids: vec![webhook.id.clone()],
            report_id: None,
        }],
        alert,
        last_report: None,
        version: 1,
        expires_at: attempted.delivery.expires_at,
    };
    if let Err(err) = app
        .store
        .record_test(
            &webhook.account_id,
            &stored,
            &attempted.delivery,
            &attempted.record,
        )
        .await
    {
        tracing::error!(webhook = %webhook.id, error = %err, "could not record the test delivery");
    }
}

/// `GET /webhooks/{id}/secret`. Needs the `webhook` scope: the secret is a credential.
pub async fn secret(app: &App, req: Request) -> Response<Body> {
    respond(reveal_secret(app, &req).await)
}

async fn reveal_secret(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let mut webhook = load(app, req, Access::Write).await?;
    app.store.open_webhook(&mut webhook).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"secret": webhook.secret}),
    ))
}

/// `POST /webhooks/{id}/secret/rotate`: a new signing secret. The replaced one keeps
/// signing beside it for `grace_period_seconds` (24 h unless the body says otherwise).
pub async fn rotate_secret(app: &App, req: Request) -> Response<Body> {
    respond(rotate(app, &req).await)
}

async fn rotate(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let principal = authenticate(&app.store, req, Access::Write).await?;
    let id = path_id(req, "id", "webhook")?;
    // The body is optional: no body means the default grace period.
    let grace = if body_is_blank(req) {
        parse_rotation(&json!({}))?
    } else {
        parse_rotation(&json_body(req)?)?
    };
    let now = Utc::now();
    let secret = signing::generate_secret();
    let webhook = app
        .store
        .rotate_secret(&principal.account_id, &id, &secret, grace, now)
        .await?;
    tracing::info!(
        account = %webhook.account_id,
        webhook = %webhook.id,
        grace_seconds = grace.num_seconds(),
        previous_secrets = webhook.previous_secrets.len(),
        "signing secret rotated"
    );
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "secret": secret,
            "grace_period_seconds": grace.num_seconds(),
            "previous_secrets": webhook
                .previous_secrets
                .iter()
                .map(|p| json!({"expires_at": p.expires_at}))
                .collect::<Vec<_>>(),
        }),
    ))
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
}
