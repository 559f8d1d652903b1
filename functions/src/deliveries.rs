//! The delivery log of a webhook, and manual redelivery.

use chrono::Utc;
use hookline_shared::{
    auth::Access,
    delivery::{
        payload::Payload,
        queue::DeliveryMessage,
        record::{AttemptRecord, Delivery, DeliveryState, Trigger},
        render::{self, DeliveryRef},
    },
    error::FieldError,
    webhook::Webhook,
    ApiError,
};
use lambda_http::{http::StatusCode, Body, Request, Response};
use serde::Serialize;

use crate::{
    http::path_id,
    paging,
    response::{json_response, respond},
    webhooks::load,
    App,
};

/// `GET /webhooks/{id}/deliveries`: newest first; `limit`, `cursor` and `state`.
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

async fn find(app: &App, req: &Request, access: Access) -> Result<(Webhook, Delivery), ApiError> {
    let webhook = load(app, req, access).await?;
    let delivery_id = path_id(req, "delivery_id", "delivery")?;
    let delivery = app
        .store
        .get_delivery(&webhook.account_id, &webhook.id, &delivery_id, Utc::now())
        .await?
        .ok_or(ApiError::NotFound("delivery"))?;
    Ok((webhook, delivery))
}

async fn get_delivery(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let (webhook, delivery) = find(app, req, Access::Read).await?;
    let mut attempts = app
        .store
        .list_attempts(&webhook.account_id, &webhook.id, &delivery.delivery_id)
        .await?;
    // Records keep no body: each attempt's is rebuilt here from the alert, rendered as the
    // webhook's format or template renders it now. One that failed to render shows none.
    let payload = payload_of(app, &webhook, &delivery).await?;
    for attempt in &mut attempts {
        let made = DeliveryRef {
            id: &delivery.delivery_id,
            attempt: attempt.attempt,
        };
        attempt.request.body = render::render(&webhook, payload.get(), made)
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

/// The body the delivery sends: its transition's payload, from the alert as that
/// transition left it.
async fn payload_of(
    app: &App,
    webhook: &Webhook,
    delivery: &Delivery,
) -> Result<Box<serde_json::value::RawValue>, ApiError> {
    let account = &webhook.account_id;
    let alert = match delivery.transition {
        Some(n) => app
            .store
            .get_snapshot(account, &delivery.alert_id, n)
            .await?
            .map(|s| s.alert),
        None => app
            .store
            .get_alert(account, &delivery.alert_id, Utc::now())
            .await?
            .map(|s| s.alert),
    }
    .ok_or(ApiError::NotFound("delivery"))?;
    let entry = delivery
        .transition
        .and_then(|n| alert.timeline.iter().find(|t| t.transition == n));
    let at = entry.map_or(alert.received_at, |t| t.at);
    let json = serde_json::to_value(&alert).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Payload::new(delivery.event, &json, entry, webhook, at).to_raw())
}

/// `POST /webhooks/{id}/deliveries/{delivery_id}/redeliver`: queues a manual attempt with
/// the same `webhook-id`; 202.
pub async fn redeliver(app: &App, req: Request) -> Response<Body> {
    respond(redeliver_delivery(app, &req).await)
}

async fn redeliver_delivery(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let (webhook, delivery) = find(app, req, Access::Write).await?;
    if !webhook.settings.enabled {
        return Err(ApiError::Conflict {
            code: "webhook_disabled",
            message: "the webhook is disabled; enable it before redelivering".into(),
        });
    }
    let payload = payload_of(app, &webhook, &delivery).await?;
    let attempt = delivery.attempt_count + 1;
    let message = DeliveryMessage {
        account_id: webhook.account_id.clone(),
        webhook_id: webhook.id.clone(),
        delivery_id: delivery.delivery_id.clone(),
        alert_id: delivery.alert_id.clone(),
        event: delivery.event,
        attempt,
        trigger: Trigger::Manual,
        payload,
        not_before: None,
        transition: delivery.transition,
        // A redelivery is asked for by hand: it goes at once.
        waits_for: None,
        out_of_order: delivery.out_of_order,
    };
    app.queue
        .send_delayed(&message, std::time::Duration::ZERO)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    tracing::info!(account = %webhook.account_id, webhook = %webhook.id, delivery = %delivery.delivery_id, attempt, "redelivery queued");
    Ok(json_response(
        StatusCode::ACCEPTED,
        &serde_json::json!({"delivery_id": delivery.delivery_id, "attempt": attempt}),
    ))
}
