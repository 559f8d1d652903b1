//! What a webhook would be sent, without sending: `POST /webhooks/{id}/preview` renders the
//! next delivery (headers and body), `POST /webhooks/{id}/filter/test` says whether an alert
//! would go to it at all. Both take the alert to try as `alert_id` (a stored alert, at its
//! latest transition or at `transition`), as `alert` (a report, as `POST /alerts` takes it),
//! or, with neither, Hookline's test alert.

use chrono::{DateTime, Utc};
use hookline_shared::{
    alert::{self, lifecycle, Alert, AlertInput, TimelineEntry},
    auth::Access,
    delivery::{
        payload::Payload,
        record::{self, RecordedRequest},
        render::{self, DeliveryRef, RenderError},
        signing,
    },
    error::FieldError,
    event::EventType,
    store::Move,
    webhook::{
        condition::{self, Judged},
        filter::ContentFilter,
        rules, Wanted, Webhook, WebhookChanges,
    },
    ApiError,
};
use lambda_http::{http::StatusCode, Body, Request, Response};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::{
    http::{authenticate, body_is_blank, json_body},
    response::{json_response, respond},
    webhooks::load_in,
    App,
};

/// The most attempts a preview may be asked to render for.
const ATTEMPT_MAX: u32 = 1000;

/// The alert and event a request tries, as a delivery of them would carry them.
struct Trial {
    alert: Alert,
    event: EventType,
    entry: Option<TimelineEntry>,
    at: DateTime<Utc>,
    delivery_id: String,
}

impl Trial {
    /// The standard payload `webhook` would get, with the alert as `alert_json` shows it.
    fn payload(&self, alert_json: &Value, webhook: &Webhook) -> String {
        Payload::new(
            self.event,
            alert_json,
            self.entry.as_ref(),
            webhook,
            self.at,
        )
        .render()
    }
}

/// A request's fields: those every route takes, and the route's own.
struct Fields {
    alert_id: Option<String>,
    transition: Option<u32>,
    alert: Option<AlertInput>,
    event: Option<EventType>,
    extra: Map<String, Value>,
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

/// The alert and event to try, as `fields` name them.
async fn trial(
    app: &App,
    webhook: &Webhook,
    fields: &Fields,
    token_id: &str,
) -> Result<Trial, ApiError> {
    let now = app.attempter.now();
    if let Some(alert_id) = &fields.alert_id {
        return stored_trial(app, webhook, alert_id, fields).await;
    }
    let Some(input) = fields.alert.clone() else {
        // Hookline's test alert, as the test route sends it.
        let alert = alert::test_alert(now);
        return Ok(Trial {
            delivery_id: record::delivery_id(&alert.id, &webhook.id, now),
            event: fields.event.unwrap_or(EventType::AlertTest),
            alert,
            entry: None,
            at: now,
        });
    };
    // A report, as if it had just made `event`. It has no action links: those are
    // minted when an alert is saved.
    let event = fields.event.unwrap_or(EventType::AlertTriggered);
    let mut alert = Alert::new(uuid::Uuid::now_v7().to_string(), input, now);
    let standing = lifecycle::Standing {
        state: lifecycle::state_after(event),
        ..alert.standing()
    };
    let by = lifecycle::Actor::Token {
        token_id: token_id.to_string(),
    };
    alert.record_move(event, standing, by, now);
    Ok(Trial {
        delivery_id: record::delivery_id(&alert.id, &webhook.id, now),
        entry: alert.timeline.last().cloned(),
        alert,
        event,
        at: now,
    })
}

/// A stored alert at one of its transitions: the alert as that transition left it, the
/// event it raised, and the id its delivery to `webhook` has (or would have).
async fn stored_trial(
    app: &App,
    webhook: &Webhook,
    alert_id: &str,
    fields: &Fields,
) -> Result<Trial, ApiError> {
    let account = &webhook.account_id;
    let stored = app
        .store
        .get_alert(account, alert_id, app.attempter.now())
        .await?
        .ok_or(ApiError::NotFound("alert"))?;
    let latest = stored.alert.transition;
    let n = fields.transition.unwrap_or(latest);
    if n > latest {
        return Err(ApiError::field(
            "transition",
            format!("the alert has made {latest} transitions"),
        ));
    }
    let alert = app
        .store
        .get_snapshot(account, alert_id, n)
        .await?
        .map(|s| s.alert)
        .ok_or(ApiError::NotFound("alert transition"))?;
    let entry = (alert.timeline.iter())
        .find(|t| t.transition == n)
        .cloned()
        .ok_or(ApiError::NotFound("alert transition"))?;
    if fields.event.is_some_and(|e| e != entry.event) {
        return Err(ApiError::field(
            "event",
            format!(
                "transition {n} raised {}; leave event out with alert_id",
                entry.event
            ),
        ));
    }
    let made = Move {
        transition: n,
        event: entry.event,
        at: entry.at,
        webhook_ids: Vec::new(),
        report_id: None,
    };
    Ok(Trial {
        delivery_id: made.delivery_id(&alert.id, &webhook.id),
        event: entry.event,
        at: entry.at,
        entry: Some(entry),
        alert,
    })
}

fn to_json(alert: &Alert) -> Result<Value, ApiError> {
    serde_json::to_value(alert).map_err(|e| ApiError::Internal(e.to_string()))
}

/// `POST /webhooks/{id}/preview`: the request the webhook would be sent for the alert and
/// event, as attempt `attempt` (1 unless given). A template that fails is a 422 with the
/// message a delivery would record.
pub async fn preview(app: &App, req: Request) -> Response<Body> {
    respond(preview_webhook(app, &req).await)
}

async fn preview_webhook(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let principal = authenticate(&app.store, req, Access::Read).await?;
    let mut webhook = load_in(app, req, &principal.account_id).await?;
    let fields = fields(
        req,
        &["attempt", "format", "template", "content_type", "condition"],
    )?;
    // Header templates render as they would be sent (their values are shown masked).
    app.store.open_webhook(&mut webhook).await?;
    // A draft's `format`, `template` or `content_type` in place of the saved ones: the
    // portal's editor previews before saving.
    let draft: Map<String, Value> = fields
        .extra
        .iter()
        .filter(|(k, _)| k.as_str() != "attempt")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !draft.is_empty() {
        let changes = WebhookChanges::parse(&Value::Object(draft))?;
        let settings = changes.applied_to(&webhook.settings);
        settings.check_combination().map_err(ApiError::Validation)?;
        webhook.settings = settings;
    }
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
    let trial = trial(app, &webhook, &fields, &principal.token_id).await?;
    // A reader's preview is rendered with masked links, as its delivery log shows them.
    let access = principal.access();
    let alert_json = to_json(&trial.alert.clone().shown(access))?;
    let payload = trial.payload(&alert_json, &webhook);
    let delivery = DeliveryRef {
        id: &trial.delivery_id,
        attempt,
    };
    let rendered = render::render(&webhook, &payload, delivery, &app.attempter.sandbox)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| ApiError::Unprocessable {
            code: "template_error",
            message: e.to_string(),
        })?;
    let msg_id = record::msg_id(&trial.delivery_id);
    let request =
        signing::build_request(&webhook, &msg_id, rendered, app.attempter.now().timestamp())
            .map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut shown = request.recorded().shown(access);
    // A body made with `webhook.secrets` shows them masked, as header values are.
    shown.body = request.redact(String::from_utf8_lossy(&request.body).into_owned());
    let mut checks = webhook.wanted(&alert_json, trial.event, webhook.settings.filter.as_ref());
    let condition_error = judge_condition(app, &webhook, &payload, &trial, &mut checks).await?;
    #[derive(Serialize)]
    struct Preview {
        event: EventType,
        alert_id: String,
        transition: Option<u32>,
        delivery_id: String,
        attempt: u32,
        /// Whether fan-out sends this event of this alert to the webhook.
        matches: bool,
        checks: Wanted,
        #[serde(skip_serializing_if = "Option::is_none")]
        condition_error: Option<String>,
        request: RecordedRequest,
    }
    Ok(json_response(
        StatusCode::OK,
        &Preview {
            matches: checks.all(),
            checks,
            condition_error,
            event: trial.event,
            transition: trial.entry.map(|e| e.transition),
            alert_id: trial.alert.id,
            delivery_id: trial.delivery_id,
            attempt,
            request: shown,
        },
    ))
}

/// `POST /webhooks/{id}/filter/test`: whether fan-out would send the alert's event to the
/// webhook, check by check; `filter` tries a filter in place of the webhook's own.
pub async fn test_filter(app: &App, req: Request) -> Response<Body> {
    respond(test_webhook_filter(app, &req).await)
}

async fn test_webhook_filter(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let principal = authenticate(&app.store, req, Access::Read).await?;
    let mut webhook = load_in(app, req, &principal.account_id).await?;
    let fields = fields(req, &["filter", "condition"])?;
    let given = match fields.extra.get("filter") {
        Some(value) => Some(ContentFilter::parse("filter", value).map_err(ApiError::Validation)?),
        None => None,
    };
    if let Some(value) = fields.extra.get("condition") {
        webhook.settings.condition = rules::condition(value).map_err(ApiError::Validation)?;
    }
    let trial = trial(app, &webhook, &fields, &principal.token_id).await?;
    let alert_json = to_json(&trial.alert)?;
    let filter = given.as_ref().or(webhook.settings.filter.as_ref());
    let mut checks = webhook.wanted(&alert_json, trial.event, filter);
    let payload = trial.payload(&alert_json, &webhook);
    let condition_error = judge_condition(app, &webhook, &payload, &trial, &mut checks).await?;
    #[derive(Serialize)]
    struct Tested {
        matches: bool,
        checks: Wanted,
        event: EventType,
        alert_id: String,
        /// The filter tried: the one given, or the webhook's.
        filter: Option<Value>,
        /// The condition tried: the one given, or the webhook's.
        condition: Option<String>,
        /// Why the condition could not be judged: a delivery would fail with it.
        #[serde(skip_serializing_if = "Option::is_none")]
        condition_error: Option<String>,
    }
    Ok(json_response(
        StatusCode::OK,
        &Tested {
            matches: checks.all(),
            checks,
            event: trial.event,
            alert_id: trial.alert.id,
            filter: filter.map(|f| f.0.clone()),
            condition: webhook.settings.condition.clone(),
            condition_error,
        },
    ))
}

/// Judges the webhook's condition on the trial's `payload` into `checks.condition`; a
/// condition that cannot be judged fails the check, and its error is returned (fan-out
/// would make the delivery, and it would fail with that error).
async fn judge_condition(
    app: &App,
    webhook: &Webhook,
    payload: &str,
    trial: &Trial,
    checks: &mut Wanted,
) -> Result<Option<String>, ApiError> {
    if webhook.settings.condition.is_none() {
        return Ok(None);
    }
    let judged = Judged {
        webhook,
        payload: serde_json::from_str(payload).map_err(|e| ApiError::Internal(e.to_string()))?,
        delivery_id: trial.delivery_id.clone(),
    };
    let verdict = condition::judge(&[judged], &app.attempter.sandbox)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .pop()
        .unwrap_or(Ok(true));
    checks.condition = verdict == Ok(true);
    Ok(verdict
        .err()
        .map(|e| RenderError::new("condition", e).to_string()))
}
