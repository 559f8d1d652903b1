//! The delivery log of a webhook, manual redelivery, and bulk recovery: each route parses
//! its request, calls its operation in [`crate::service::deliveries`] and writes the
//! answer.

use chrono::Utc;
use hookline_shared::{
    auth::Access,
    delivery::{outcome::DeliveryState, record::Delivery},
    error::FieldError,
    ApiError,
};
use lambda_http::{http::StatusCode, Body, Request, Response};
use serde::Serialize;
use serde_json::Value;

use crate::{
    http::{authenticate, json_body, path_id},
    paging,
    response::{json_response, respond},
    service::{self, deliveries::ListQuery, PageRequest},
    App,
};

/// `GET /webhooks/{id}/deliveries`: newest first; `limit`, `cursor`, `state`, and
/// `since`/`until` (when the delivery was made).
pub async fn list(app: &App, req: Request) -> Response<Body> {
    respond(list_deliveries(app, &req).await)
}

fn parse_list_query(req: &Request) -> Result<ListQuery, ApiError> {
    let mut errors = Vec::new();
    let (limit, after) = paging::parse(req, &mut errors);
    let state = paging::param(req, "state", &mut errors).and_then(|raw| {
        let names = DeliveryState::names;
        paging::choice(&raw, "state", DeliveryState::parse, names, &mut errors)
    });
    let since = paging::time_param(req, "since", &mut errors);
    let until = paging::time_param(req, "until", &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    Ok(ListQuery {
        page: PageRequest { limit, after },
        state,
        since,
        until,
    })
}

async fn list_deliveries(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let who = authenticate(&app.store, req, Access::Read).await?;
    let id = path_id(req, "id", "webhook")?;
    let query = parse_list_query(req)?;
    let listed = service::deliveries::list(app, &who, &id, &query).await?;
    #[derive(Serialize)]
    struct Reply {
        deliveries: Vec<Delivery>,
        next_cursor: Option<String>,
    }
    Ok(json_response(
        StatusCode::OK,
        &Reply {
            next_cursor: listed.next_cursor,
            deliveries: listed.items,
        },
    ))
}

/// `GET /webhooks/{id}/deliveries/{delivery_id}`: the delivery and all its attempts.
pub async fn get(app: &App, req: Request) -> Response<Body> {
    respond(get_delivery(app, &req).await)
}

async fn get_delivery(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let who = authenticate(&app.store, req, Access::Read).await?;
    let id = path_id(req, "id", "webhook")?;
    let delivery_id = path_id(req, "delivery_id", "delivery")?;
    let detail = service::deliveries::get(app, &who, &id, &delivery_id).await?;
    Ok(json_response(StatusCode::OK, &detail))
}

/// `POST /webhooks/{id}/deliveries/{delivery_id}/redeliver`: queues a manual attempt with
/// the same `webhook-id`; 202.
pub async fn redeliver(app: &App, req: Request) -> Response<Body> {
    respond(redeliver_delivery(app, &req).await)
}

async fn redeliver_delivery(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let who = authenticate(&app.store, req, Access::Write).await?;
    let id = path_id(req, "id", "webhook")?;
    let delivery_id = path_id(req, "delivery_id", "delivery")?;
    let queued = service::deliveries::redeliver(app, &who, &id, &delivery_id).await?;
    Ok(json_response(StatusCode::ACCEPTED, &queued))
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
    let who = authenticate(&app.store, req, Access::Write).await?;
    let id = path_id(req, "id", "webhook")?;
    let (since, until) = parse_window(&json_body(req)?)?;
    let recovering = service::deliveries::recover(app, &who, &id, since, until).await?;
    let status = if recovering.started {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok(json_response(status, &recovering.recovery))
}
