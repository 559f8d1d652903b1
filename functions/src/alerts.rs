//! Alerts in over HTTP (`POST /alerts`, `POST /alerts/alertmanager`) and the alert view.

use chrono::Utc;
use hookline_shared::{
    alert::{alertmanager, AlertInput},
    auth::Access,
    delivery::record::Delivery,
    ingest::{idempotency_key, Accepted},
    ApiError,
};
use lambda_http::{http::StatusCode, Body, Request, Response};
use serde::Serialize;
use serde_json::Value;

use crate::{
    http::{authenticate, json_body_within, path_id},
    response::{json_response, respond},
    App,
};

/// An alert body may carry 64 KiB of `data` besides its other fields.
pub const ALERT_BODY_LIMIT: usize = 128 * 1024;
/// An Alertmanager notification may group many alerts.
pub const ALERTMANAGER_BODY_LIMIT: usize = 1024 * 1024;

fn header<'a>(req: &'a Request, name: &str) -> Result<Option<&'a str>, ApiError> {
    match req.headers().get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(Some)
            .map_err(|_| ApiError::field(name.to_string(), "must be printable ASCII")),
    }
}

/// `POST /alerts`: 202 `{alert_id, deliveries}`.
pub async fn create(app: &App, req: Request) -> Response<Body> {
    respond(create_alert(app, &req).await)
}

async fn create_alert(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let principal = authenticate(&app.store, req, Access::Write).await?;
    let key = idempotency_key(header(req, "idempotency-key")?)?;
    let input = AlertInput::parse(&json_body_within(req, ALERT_BODY_LIMIT)?)?;
    let accepted = app
        .ingest()
        .accept(&principal.account_id, input, key.as_deref())
        .await?;
    Ok(json_response(StatusCode::ACCEPTED, &accepted))
}

/// `POST /alerts/alertmanager`: Alertmanager's webhook (version 4); one Hookline alert
/// per alert in it.
pub async fn alertmanager(app: &App, req: Request) -> Response<Body> {
    respond(alertmanager_alerts(app, &req).await)
}

async fn alertmanager_alerts(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let principal = authenticate(&app.store, req, Access::Write).await?;
    let key = idempotency_key(header(req, "idempotency-key")?)?;
    let inputs = alertmanager::parse(&json_body_within(req, ALERTMANAGER_BODY_LIMIT)?)?;
    let mut accepted = Vec::with_capacity(inputs.len());
    for (i, input) in inputs.into_iter().enumerate() {
        let key = key.as_ref().map(|k| format!("{k}#{i}"));
        accepted.push(
            app.ingest()
                .accept(&principal.account_id, input, key.as_deref())
                .await?,
        );
    }
    #[derive(Serialize)]
    struct Reply {
        alerts: Vec<Accepted>,
        deliveries: u32,
    }
    let deliveries = accepted.iter().map(|a| a.deliveries).sum();
    Ok(json_response(
        StatusCode::ACCEPTED,
        &Reply {
            alerts: accepted,
            deliveries,
        },
    ))
}

/// `GET /alerts/{id}`: the alert and where each of its deliveries stands.
pub async fn get(app: &App, req: Request) -> Response<Body> {
    respond(get_alert(app, &req).await)
}

async fn get_alert(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let principal = authenticate(&app.store, req, Access::Read).await?;
    let id = path_id(req, "id", "alert")?;
    let stored = app
        .store
        .get_alert(&principal.account_id, &id, Utc::now())
        .await?
        .ok_or(ApiError::NotFound("alert"))?;
    let found = app
        .store
        .get_deliveries(&principal.account_id, &stored.targets)
        .await?;
    let summaries: Vec<Value> = stored
        .targets
        .iter()
        .map(|t| {
            let d: Option<&Delivery> = found.iter().find(|d| d.delivery_id == t.delivery_id);
            serde_json::json!({
                "webhook_id": t.webhook_id,
                "delivery_id": t.delivery_id,
                "state": d.map_or("pending", |d| d.state.as_str()),
                "attempts": d.map_or(0, |d| d.attempt_count),
                "last_status_code": d.and_then(|d| d.last_status_code),
                "last_error": d.and_then(|d| d.last_error.clone()),
                "next_attempt_at": d.and_then(|d| d.next_attempt_at),
            })
        })
        .collect();
    #[derive(Serialize)]
    struct Reply<'a> {
        alert: &'a hookline_shared::alert::Alert,
        deliveries: Vec<Value>,
    }
    Ok(json_response(
        StatusCode::OK,
        &Reply {
            alert: &stored.alert,
            deliveries: summaries,
        },
    ))
}
