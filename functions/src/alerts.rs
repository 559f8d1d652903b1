//! Alerts over HTTP: reports in (`POST /alerts`, `POST /alerts/alertmanager`), the alert
//! list and view, and the actions (`POST /alerts/{id}/<action>`).

use chrono::{DateTime, Duration, SubsecRound, Utc};
use hookline_shared::{
    alert::{
        alertmanager,
        lifecycle::{Action, ActionName, Actor, AlertState, MAX_WAIT_SECONDS},
        AlertInput,
    },
    auth::Access,
    error::FieldError,
    ingest::{idempotency_key, Accepted},
    store::AlertQuery,
    validate::ALERT_TYPE_MAX_CHARS,
    ApiError,
};
use lambda_http::{http::StatusCode, Body, Request, Response};
use serde::Serialize;
use serde_json::Value;

use crate::{
    http::{authenticate, base_url, body_is_blank, json_body, json_body_within, path_id},
    paging,
    response::{json_response, respond},
    service::{self, alerts::AlertSummary, PageRequest},
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

/// `POST /alerts`: 202 `{alert_id, outcome, event, transition, deliveries}`.
pub async fn create(app: &App, req: Request) -> Response<Body> {
    respond(create_alert(app, &req).await)
}

async fn create_alert(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let principal = authenticate(&app.store, req, Access::Write).await?;
    let key = idempotency_key(header(req, "idempotency-key")?)?;
    let input = AlertInput::parse(&json_body_within(req, ALERT_BODY_LIMIT)?)?;
    let base = base_url(req);
    let by = Actor::Token {
        token_id: principal.token_id.clone(),
    };
    let accepted = app
        .ingest(base.as_deref())
        .accept(&principal.account_id, input, key.as_deref(), by)
        .await?;
    Ok(json_response(StatusCode::ACCEPTED, &accepted))
}

/// `POST /alerts/alertmanager`: Alertmanager's webhook (version 4); one Hookline alert
/// per alert in it, keyed by its fingerprint.
pub async fn alertmanager(app: &App, req: Request) -> Response<Body> {
    respond(alertmanager_alerts(app, &req).await)
}

async fn alertmanager_alerts(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let principal = authenticate(&app.store, req, Access::Write).await?;
    let key = idempotency_key(header(req, "idempotency-key")?)?;
    let inputs = alertmanager::parse(&json_body_within(req, ALERTMANAGER_BODY_LIMIT)?)?;
    let base = base_url(req);
    let ingest = app.ingest(base.as_deref());
    let mut accepted = Vec::with_capacity(inputs.len());
    for (i, input) in inputs.into_iter().enumerate() {
        let key = key.as_ref().map(|k| format!("{k}#{i}"));
        accepted.push(
            ingest
                .accept(
                    &principal.account_id,
                    input,
                    key.as_deref(),
                    Actor::Alertmanager,
                )
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

/// `GET /alerts`: newest first; `state`, `type`, `since`, `limit`, `cursor`.
pub async fn list(app: &App, req: Request) -> Response<Body> {
    respond(list_alerts(app, &req).await)
}

async fn list_alerts(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let who = authenticate(&app.store, req, Access::Read).await?;
    let mut errors = Vec::new();
    let (limit, after) = paging::parse(req, &mut errors);
    let mut query = AlertQuery::default();
    if let Some(raw) = paging::param(req, "state", &mut errors) {
        let names = AlertState::names;
        query.state = paging::choice(&raw, "state", AlertState::parse, names, &mut errors);
    }
    if let Some(raw) = paging::param(req, "type", &mut errors) {
        if raw.is_empty()
            || raw.chars().count() > ALERT_TYPE_MAX_CHARS
            || raw.chars().any(char::is_control)
        {
            errors.push(FieldError::new(
                "type",
                format!("must be 1 to {ALERT_TYPE_MAX_CHARS} printable characters"),
            ));
        } else {
            query.alert_type = Some(raw);
        }
    }
    query.since = paging::time_param(req, "since", &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let listed = service::alerts::list(app, &who, &query, &PageRequest { limit, after }).await?;
    #[derive(Serialize)]
    struct Reply {
        alerts: Vec<AlertSummary>,
        next_cursor: Option<String>,
    }
    Ok(json_response(
        StatusCode::OK,
        &Reply {
            alerts: listed.items,
            next_cursor: listed.next_cursor,
        },
    ))
}

/// `GET /alerts/{id}`: the alert, its state and timeline, and where each delivery of its
/// latest transitions stands.
pub async fn get(app: &App, req: Request) -> Response<Body> {
    respond(get_alert(app, &req).await)
}

async fn get_alert(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let who = authenticate(&app.store, req, Access::Read).await?;
    let id = path_id(req, "id", "alert")?;
    let mut errors = Vec::new();
    let (limit, after) = paging::parse(req, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let page = PageRequest { limit, after };
    let detail = service::alerts::get(app, &who, &id, &page).await?;
    Ok(json_response(StatusCode::OK, &detail))
}

/// `POST /alerts/{id}/acknowledge` (and `unacknowledge`, `resolve`, `unresolve`,
/// `silence`, `unsilence`): 200 `{alert, changed, message, deliveries}`, or 409 when the
/// action does not apply to the alert's state.
pub async fn act(app: &App, req: Request) -> Response<Body> {
    respond(act_on_alert(app, &req).await)
}

async fn act_on_alert(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let who = authenticate(&app.store, req, Access::Write).await?;
    let name = req
        .uri()
        .path()
        .rsplit('/')
        .next()
        .and_then(ActionName::parse)
        .ok_or(ApiError::NotFound("route"))?;
    let id = path_id(req, "id", "alert")?;
    let body = if body_is_blank(req) {
        Value::Object(Default::default())
    } else {
        json_body(req)?
    };
    let action = parse_action(name, &body, Utc::now())?;
    let base = base_url(req);
    let acted = service::alerts::act(app, &who, &id, action, base.as_deref()).await?;
    Ok(json_response(StatusCode::OK, &acted))
}

/// The action a route names, with its body: `silence` takes `{"until"}` or
/// `{"duration_seconds"}`; the others take no body (or `{}`).
pub fn parse_action(
    name: ActionName,
    body: &Value,
    now: DateTime<Utc>,
) -> Result<Action, ApiError> {
    let Value::Object(map) = body else {
        return Err(ApiError::field("body", "must be a JSON object"));
    };
    let allowed: &[&str] = match name {
        ActionName::Silence => &["until", "duration_seconds"],
        _ => &[],
    };
    let mut errors: Vec<FieldError> = map
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .map(|k| FieldError::new(k.clone(), "is not a known field"))
        .collect();
    let action = match name {
        ActionName::Silence => silence_until(map, now).map(|until| name.action(until)),
        other => Ok(other.action(now)),
    };
    match action {
        Ok(action) if errors.is_empty() => Ok(action),
        Ok(_) => Err(ApiError::Validation(errors)),
        Err(e) => {
            errors.push(e);
            Err(ApiError::Validation(errors))
        }
    }
}

/// When a silence ends: in the future, at most [`MAX_WAIT_SECONDS`] away.
fn silence_until(
    map: &serde_json::Map<String, Value>,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, FieldError> {
    let max = Duration::seconds(MAX_WAIT_SECONDS);
    let at = match (map.get("until"), map.get("duration_seconds")) {
        (Some(_), Some(_)) => {
            return Err(FieldError::new(
                "until",
                "give until or duration_seconds, not both",
            ))
        }
        (None, None) => {
            return Err(FieldError::new(
                "until",
                "is required (or duration_seconds): when the silence ends",
            ))
        }
        (Some(until), None) => {
            let at = until
                .as_str()
                .and_then(|u| DateTime::parse_from_rfc3339(u).ok())
                .map(|t| t.with_timezone(&Utc))
                .ok_or_else(|| FieldError::new("until", "must be an RFC 3339 timestamp"))?;
            if at <= now || at > now + max {
                return Err(FieldError::new(
                    "until",
                    format!(
                        "must be in the future, at most {MAX_WAIT_SECONDS} seconds (7 days) away"
                    ),
                ));
            }
            at
        }
        (None, Some(seconds)) => match seconds.as_i64() {
            Some(s @ 1..=MAX_WAIT_SECONDS) if seconds.is_u64() => now + Duration::seconds(s),
            _ => {
                return Err(FieldError::new(
                    "duration_seconds",
                    format!("must be a whole number of seconds, 1 to {MAX_WAIT_SECONDS}"),
                ))
            }
        },
    };
    // Whole seconds, as a silence's end is shown and its timer named.
    Ok(at.trunc_subsecs(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn map(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn silences_end_in_the_future_within_seven_days() {
        let now = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        assert_eq!(
            silence_until(&map(json!({"duration_seconds": 3600})), now).unwrap(),
            now + Duration::hours(1)
        );
        assert_eq!(
            silence_until(&map(json!({"until": "2027-01-15T08:00:30Z"})), now).unwrap(),
            Utc.with_ymd_and_hms(2027, 1, 15, 8, 0, 30).unwrap()
        );
        for bad in [
            json!({}),
            json!({"duration_seconds": 0}),
            json!({"duration_seconds": -5}),
            json!({"duration_seconds": 1.5}),
            json!({"duration_seconds": 604_801}),
            json!({"until": "2020-01-01T00:00:00Z"}),
            json!({"until": "9999-01-01T00:00:00Z"}),
            json!({"until": "soon"}),
            json!({"until": "2027-01-15T08:00:30Z", "duration_seconds": 60}),
        ] {
            assert!(silence_until(&map(bad.clone()), now).is_err(), "{bad}");
        }
    }
}
