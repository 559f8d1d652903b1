//! The delivery log of a webhook, manual redelivery, and bulk recovery.

use chrono::Utc;
use hookline_shared::{
    auth::{Access, Principal},
    delivery::{
        record::{AttemptRecord, Delivery, DeliveryState},
        recovery::{self, Recovery, RecoveryError},
        redeliver,
        render::{self, DeliveryRef},
    },
    error::FieldError,
    webhook::{Webhook, MASK},
    ApiError,
};
use lambda_http::{http::StatusCode, Body, Request, Response};
use serde::Serialize;
use serde_json::Value;

use crate::{
    http::{authenticate, json_body, path_id},
    paging,
    response::{json_response, respond},
    webhooks::{load, load_in},
    App,
};

/// `GET /webhooks/{id}/deliveries`: newest first; `limit`, `cursor`, `state`, and
/// `since`/`until` (when the delivery was made).
pub async fn list(app: &App, req: Request) -> Response<Body> {
    respond(list_deliveries(app, &req).await)
}

async fn list_deliveries(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let webhook = load(app, req, Access::Read).await?;
    let mut errors = Vec::new();
    let (limit, after) = paging::parse(req, &mut errors);
    let state = paging::param(req, "state", &mut errors).and_then(|raw| {
        let parsed = DeliveryState::parse(&raw);
        if parsed.is_none() {
            errors.push(FieldError::new(
                "state",
                "must be one of pending, retrying, succeeded, failed",
            ));
        }
        parsed
    });
    let since = paging::time_param(req, "since", &mut errors);
    let until = paging::time_param(req, "until", &mut errors);
    if let (Some(s), Some(u)) = (since, until) {
        if s > u {
            errors.push(FieldError::new("since", "must not be after until"));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let page = app
        .store
        .list_deliveries(
            &webhook.account_id,
            &webhook.id,
            limit,
            after.as_deref(),
            state,
            (since, until),
            Utc::now(),
        )
        .await?;
    #[derive(Serialize)]
    struct Reply {
        deliveries: Vec<Delivery>,
        next_cursor: Option<String>,
    }
    Ok(json_response(
        StatusCode::OK,
        &Reply {
            next_cursor: page.next_after.as_deref().map(paging::encode_cursor),
            deliveries: page.items,
        },
    ))
}

/// `GET /webhooks/{id}/deliveries/{delivery_id}`: the delivery and all its attempts.
pub async fn get(app: &App, req: Request) -> Response<Body> {
    respond(get_delivery(app, &req).await)
}

async fn find(
    app: &App,
    req: &Request,
    access: Access,
) -> Result<(Principal, Webhook, Delivery), ApiError> {
    let principal = authenticate(&app.store, req, access).await?;
    let webhook = load_in(app, req, &principal.account_id).await?;
    let delivery_id = path_id(req, "delivery_id", "delivery")?;
    let delivery = app
        .store
        .get_delivery(&webhook.account_id, &webhook.id, &delivery_id, Utc::now())
        .await?
        .ok_or(ApiError::NotFound("delivery"))?;
    Ok((principal, webhook, delivery))
}

async fn get_delivery(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let (principal, mut webhook, delivery) = find(app, req, Access::Read).await?;
    let access = principal.access();
    // A body made with `webhook.secrets` shows them masked (they are sealed here anyway).
    for value in webhook.settings.secrets.values_mut() {
        *value = MASK.to_string();
    }
    let mut attempts = app
        .store
        .list_attempts(&webhook.account_id, &webhook.id, &delivery.delivery_id)
        .await?;
    // Records keep no body: each attempt's is rebuilt here from the alert, rendered as the
    // webhook's format or template renders it now. One that failed to render shows none.
    let payload = payload_of(app, &webhook, &delivery, access).await?;
    for attempt in &mut attempts {
        let made = DeliveryRef {
            id: &delivery.delivery_id,
            attempt: attempt.attempt,
        };
        attempt.request = std::mem::take(&mut attempt.request).shown(access);
        attempt.request.body =
            render::render(&webhook, payload.get(), made, &app.attempter.sandbox)
                .await
                .map_err(|e| ApiError::Internal(e.to_string()))?
                .map(|r| String::from_utf8_lossy(&r.body).into_owned())
                .unwrap_or_default();
    }
    #[derive(Serialize)]
    struct Reply {
        #[serde(flatten)]
        delivery: Delivery,
        attempts: Vec<AttemptRecord>,
    }
    Ok(json_response(StatusCode::OK, &Reply { delivery, attempts }))
}

/// The payload the delivery sends, as a caller with `access` sees it; not found once what
/// it was built from has expired.
async fn payload_of(
    app: &App,
    webhook: &Webhook,
    delivery: &Delivery,
    access: Access,
) -> Result<Box<serde_json::value::RawValue>, ApiError> {
    redeliver::payload_of(&app.store, webhook, delivery, access, Utc::now())
        .await?
        .ok_or(ApiError::NotFound("delivery"))
}

fn require_enabled(webhook: &Webhook, doing: &str) -> Result<(), ApiError> {
    if webhook.settings.enabled {
        return Ok(());
    }
    Err(ApiError::Conflict {
        code: "webhook_disabled",
        message: format!("the webhook is disabled; enable it before {doing}"),
    })
}

/// `POST /webhooks/{id}/deliveries/{delivery_id}/redeliver`: queues a manual attempt with
/// the same `webhook-id`; 202.
pub async fn redeliver(app: &App, req: Request) -> Response<Body> {
    respond(redeliver_delivery(app, &req).await)
}

async fn redeliver_delivery(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let (_, webhook, delivery) = find(app, req, Access::Write).await?;
    require_enabled(&webhook, "redelivering")?;
    let payload = payload_of(app, &webhook, &delivery, Access::Write).await?;
    let message = redeliver::message(&webhook, &delivery, payload);
    app.queue
        .send_delayed(&message, std::time::Duration::ZERO)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let attempt = message.attempt;
    tracing::info!(account = %webhook.account_id, webhook = %webhook.id, delivery = %delivery.delivery_id, attempt, "redelivery queued");
    Ok(json_response(
        StatusCode::ACCEPTED,
        &serde_json::json!({"delivery_id": delivery.delivery_id, "attempt": attempt}),
    ))
}

/// `POST /webhooks/{id}/recover` `{"since", "until"?}`: queues a manual attempt for every
/// delivery of the webhook that ended failed in the window. 202 with the recovery when it
/// starts (its first page done); 200 with it as it stands when the same window is
/// already running.
pub async fn recover(app: &App, req: Request) -> Response<Body> {
    respond(recover_webhook(app, &req).await)
}

/// The recovery window of a request body.
pub fn parse_window(
    body: &Value,
) -> Result<(chrono::DateTime<Utc>, Option<chrono::DateTime<Utc>>), ApiError> {
    let Value::Object(map) = body else {
        return Err(ApiError::field("body", "must be an object {since, until?}"));
    };
    let mut errors = Vec::new();
    for key in map
        .keys()
        .filter(|k| !matches!(k.as_str(), "since" | "until"))
    {
        errors.push(FieldError::new(key.clone(), "is not a known field"));
    }
    let mut time = |field: &str, required: bool| match map.get(field) {
        Some(Value::String(raw)) => paging::parse_time(raw, field, &mut errors),
        None | Some(Value::Null) if !required => None,
        _ => {
            errors.push(FieldError::new(
                field,
                "must be an RFC 3339 timestamp, such as 2026-11-23T08:00:00Z",
            ));
            None
        }
    };
    let since = time("since", true);
    let until = time("until", false);
    match since {
        Some(since) if errors.is_empty() => Ok((since, until)),
        _ => Err(ApiError::Validation(errors)),
    }
}

async fn recover_webhook(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let webhook = load(app, req, Access::Write).await?;
    let (since, until) = parse_window(&json_body(req)?)?;
    start_recovery(app, &webhook, since, until).await
}

/// Starts (or reports) the recovery of `webhook` over the window.
async fn start_recovery(
    app: &App,
    webhook: &Webhook,
    since: chrono::DateTime<Utc>,
    until: Option<chrono::DateTime<Utc>>,
) -> Result<Response<Body>, ApiError> {
    let now = Utc::now();
    let settings = &app.settings.delivery;
    let window = recovery::window(since, until, now, settings).map_err(|e| {
        let text = e.to_string();
        let (field, message) = text.split_once(": ").unwrap_or(("since", &text));
        ApiError::field(field, message.to_string())
    })?;
    require_enabled(webhook, "recovering its deliveries")?;
    let account = &webhook.account_id;
    let fresh = Recovery::new(&webhook.id, window, now, settings.expires_at(now));
    if let Some(running) = app.store.start_recovery(account, &fresh).await? {
        return Ok(json_response(StatusCode::OK, &running));
    }
    tracing::info!(account = %account, webhook = %webhook.id, recovery = %fresh.id, "recovery started");
    let page = recovery::run_page(&app.store, &app.queue, webhook, &fresh, settings, now).await;
    let stands = match page {
        Ok(Some(next)) => next,
        // Another worker moved it on first: it carries on from there.
        Ok(None) => fresh,
        Err(RecoveryError::Store(e)) => return Err(e.into()),
        Err(RecoveryError::Queue(e)) => {
            // The first page failed to queue: hand the page to the worker instead.
            tracing::warn!(error = %e, "recovery's first page not queued; the worker retries it");
            app.queue
                .send_delayed(&fresh.message(account), std::time::Duration::ZERO)
                .await
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            fresh
        }
    };
    Ok(json_response(StatusCode::ACCEPTED, &stands))
}
