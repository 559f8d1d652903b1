//! What a webhook would be sent, without sending: `POST /webhooks/{id}/preview` renders the
//! next delivery (headers and body), `POST /webhooks/{id}/filter/test` says whether an alert
//! would go to it at all. Both take the alert to try as `alert_id` (a stored alert, at its
//! latest transition or at `transition`), as `alert` (a report, as `POST /alerts` takes it),
//! or, with neither, Hookline's test alert. Each route parses its request and calls
//! [`crate::service::trials`].

use hookline_shared::{
    alert::AlertInput,
    auth::Access,
    error::FieldError,
    event::EventType,
    webhook::{filter::ContentFilter, rules, WebhookChanges},
    ApiError,
};
use lambda_http::{http::StatusCode, Body, Request, Response};
use serde_json::{Map, Value};

use crate::{
    http::{authenticate, body_is_blank, json_body, path_id},
    response::{json_response, respond},
    service::{
        self,
        trials::{FilterTestRequest, PreviewRequest, TrialAlert, TrialRequest},
    },
    App,
};

/// The most attempts a preview may be asked to render for.
const ATTEMPT_MAX: u32 = 1000;

/// A request's fields: those every route takes, and the route's own.
struct Fields {
    alert_id: Option<String>,
    transition: Option<u32>,
    alert: Option<AlertInput>,
    event: Option<EventType>,
    extra: Map<String, Value>,
}

impl Fields {
    fn trial(&self) -> TrialRequest {
        let alert = match (&self.alert_id, &self.alert) {
            (Some(alert_id), _) => TrialAlert::Stored {
                alert_id: alert_id.clone(),
                transition: self.transition,
            },
            (None, Some(input)) => TrialAlert::Report(Box::new(input.clone())),
            (None, None) => TrialAlert::Test,
        };
        TrialRequest {
            alert,
            event: self.event,
        }
    }
}

/// Reads the common fields of `body` (an object, or no body at all), leaving the rest
/// (`own`) to the route; names every field at fault.
fn fields(req: &Request, own: &[&str]) -> Result<Fields, ApiError> {
    let body = if body_is_blank(req) {
        Value::Object(Map::new())
    } else {
        json_body(req)?
    };
    let Value::Object(map) = body else {
        return Err(ApiError::field("body", "must be a JSON object"));
    };
    let mut errors = Vec::new();
    let mut fields = Fields {
        alert_id: None,
        transition: None,
        alert: None,
        event: None,
        extra: Map::new(),
    };
    for (key, value) in map {
        match key.as_str() {
            "alert_id" => match value.as_str().map(uuid::Uuid::parse_str) {
                Some(Ok(id)) => fields.alert_id = Some(id.to_string()),
                _ => errors.push(FieldError::new(key, "must be an alert id (a UUID)")),
            },
            "transition" => match value.as_u64().and_then(|n| u32::try_from(n).ok()) {
                Some(n) if n >= 1 => fields.transition = Some(n),
                _ => errors.push(FieldError::new(key, "must be a transition number, from 1")),
            },
            "alert" => match AlertInput::parse_at(&value, "alert.") {
                Ok(input) => fields.alert = Some(input),
                Err(faults) => errors.extend(faults),
            },
            "event" => match value.as_str().and_then(EventType::parse) {
                Some(event) => fields.event = Some(event),
                None => errors.push(FieldError::new(
                    key,
                    format!("must be one of {}", EventType::names()),
                )),
            },
            other if own.contains(&other) => {
                fields.extra.insert(key, value);
            }
            _ => errors.push(FieldError::new(key, "is not a known field")),
        }
    }
    if fields.alert_id.is_some() && fields.alert.is_some() {
        errors.push(FieldError::new("alert", "give alert_id or alert, not both"));
    }
    if fields.transition.is_some() && fields.alert_id.is_none() {
        errors.push(FieldError::new("transition", "needs alert_id"));
    }
    if errors.is_empty() {
        Ok(fields)
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// `POST /webhooks/{id}/preview`: the request the webhook would be sent for the alert and
/// event, as attempt `attempt` (1 unless given). A template that fails is a 422 with the
/// message a delivery would record.
pub async fn preview(app: &App, req: Request) -> Response<Body> {
    respond(preview_webhook(app, &req).await)
}

async fn preview_webhook(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let who = authenticate(&app.store, req, Access::Read).await?;
    let id = path_id(req, "id", "webhook")?;
    let fields = fields(
        req,
        &["attempt", "format", "template", "content_type", "condition"],
    )?;
    let draft: Map<String, Value> = fields
        .extra
        .iter()
        .filter(|(k, _)| k.as_str() != "attempt")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let draft = if draft.is_empty() {
        None
    } else {
        Some(WebhookChanges::parse(&Value::Object(draft))?)
    };
    let attempt = match fields.extra.get("attempt") {
        None => 1,
        Some(value) => match value.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) if (1..=ATTEMPT_MAX).contains(&n) => n,
            _ => {
                return Err(ApiError::field(
                    "attempt",
                    format!("must be a whole number from 1 to {ATTEMPT_MAX}"),
                ))
            }
        },
    };
    let asked = PreviewRequest {
        trial: fields.trial(),
        attempt,
        draft,
    };
    let preview = service::trials::preview(app, &who, &id, &asked).await?;
    Ok(json_response(StatusCode::OK, &preview))
}

/// `POST /webhooks/{id}/filter/test`: whether fan-out would send the alert's event to the
/// webhook, check by check; `filter` tries a filter in place of the webhook's own.
pub async fn test_filter(app: &App, req: Request) -> Response<Body> {
    respond(test_webhook_filter(app, &req).await)
}

async fn test_webhook_filter(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let who = authenticate(&app.store, req, Access::Read).await?;
    let id = path_id(req, "id", "webhook")?;
    let fields = fields(req, &["filter", "condition"])?;
    let filter = match fields.extra.get("filter") {
        Some(value) => Some(ContentFilter::parse("filter", value).map_err(ApiError::Validation)?),
        None => None,
    };
    let condition = match fields.extra.get("condition") {
        Some(value) => Some(rules::condition(value).map_err(ApiError::Validation)?),
        None => None,
    };
    let asked = FilterTestRequest {
        trial: fields.trial(),
        filter,
        condition,
    };
    let tested = service::trials::test_filter(app, &who, &id, &asked).await?;
    Ok(json_response(StatusCode::OK, &tested))
}
