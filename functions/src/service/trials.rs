//! What a webhook would be sent, without sending: a preview renders the next delivery
//! (headers and body), a filter test says whether an alert would go to it at all. Both
//! try a stored alert (at its latest transition or at one named), a report as `POST
//! /alerts` takes it, or Hookline's test alert.

use chrono::{DateTime, Utc};
use hookline_shared::{
    alert::{self, lifecycle, Alert, AlertInput, TimelineEntry},
    auth::{Access, Principal},
    delivery::{
        outcome::RecordedRequest,
        payload::Payload,
        record,
        render::{self, DeliveryRef, RenderError},
        signing,
    },
    event::EventType,
    store::Move,
    webhook::{
        condition::{self, Judged},
        filter::ContentFilter,
        Wanted, Webhook, WebhookChanges,
    },
    ApiError,
};
use serde::Serialize;
use serde_json::Value;

use super::webhooks::load;
use crate::App;

/// The alert a trial tries.
#[derive(Clone, Debug, Default)]
pub enum TrialAlert {
    /// A stored alert of the caller's account, at `transition` (its latest when none).
    Stored {
        alert_id: String,
        transition: Option<u32>,
    },
    /// A report, as if it had just been made.
    Report(Box<AlertInput>),
    /// Hookline's test alert, as the test route sends it.
    #[default]
    Test,
}

/// What a preview or filter test tries: an alert, and the event it raises (for a stored
/// alert, the one its transition raised).
#[derive(Clone, Debug, Default)]
pub struct TrialRequest {
    pub alert: TrialAlert,
    pub event: Option<EventType>,
}

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

/// The alert and event to try, as `asked` names them.
async fn trial(
    app: &App,
    webhook: &Webhook,
    asked: &TrialRequest,
    token_id: &str,
) -> Result<Trial, ApiError> {
    let now = app.attempter.now();
    let input = match &asked.alert {
        TrialAlert::Stored {
            alert_id,
            transition,
        } => return stored_trial(app, webhook, alert_id, *transition, asked.event).await,
        TrialAlert::Report(input) => (**input).clone(),
        TrialAlert::Test => {
            let alert = alert::test_alert(now);
            return Ok(Trial {
                delivery_id: record::delivery_id(&alert.id, &webhook.id, now),
                event: asked.event.unwrap_or(EventType::AlertTest),
                alert,
                entry: None,
                at: now,
            });
        }
    };
    // A report, as if it had just made `event`. It has no action links: those are
    // minted when an alert is saved.
    let event = asked.event.unwrap_or(EventType::AlertTriggered);
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
    transition: Option<u32>,
    event: Option<EventType>,
) -> Result<Trial, ApiError> {
    let account = &webhook.account_id;
    let stored = app
        .store
        .get_alert(account, alert_id, app.attempter.now())
        .await?
        .ok_or(ApiError::NotFound("alert"))?;
    let latest = stored.alert.transition;
    let n = transition.unwrap_or(latest);
    if n > latest {
        return Err(ApiError::field(
            "transition",
            format!("the alert has made {latest} transitions"),
        ));
    }
    let (alert, links) = app
        .store
        .alert_at(account, alert_id, n, app.attempter.now())
        .await?
        .ok_or(ApiError::NotFound("alert transition"))?;
    let alert = app.store.with_links(account, alert, links.as_ref()).await?;
    let entry = (alert.timeline.iter())
        .find(|t| t.transition == n)
        .cloned()
        .ok_or(ApiError::NotFound("alert transition"))?;
    if event.is_some_and(|e| e != entry.event) {
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
        paged: None,
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

/// A preview: the trial, as attempt `attempt`, with a draft's `format`, `template`,
/// `content_type` or `condition` in place of the saved ones (the portal's editor previews
/// before saving).
#[derive(Clone, Debug, Default)]
pub struct PreviewRequest {
    pub trial: TrialRequest,
    pub attempt: u32,
    pub draft: Option<WebhookChanges>,
}

/// The request the webhook would be sent.
#[derive(Clone, Debug, Serialize)]
pub struct Preview {
    pub event: EventType,
    pub alert_id: String,
    pub transition: Option<u32>,
    pub delivery_id: String,
    pub attempt: u32,
    /// Whether fan-out sends this event of this alert to the webhook.
    pub matches: bool,
    pub checks: Wanted,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition_error: Option<String>,
    pub request: RecordedRequest,
}

/// The request the webhook would be sent for the trial; a template that fails is
/// unprocessable, with the message a delivery would record.
pub async fn preview(
    app: &App,
    who: &Principal,
    webhook_id: &str,
    asked: &PreviewRequest,
) -> Result<Preview, ApiError> {
    let mut webhook = load(app, who, webhook_id, Access::Read).await?;
    // Header templates render as they would be sent (their values are shown masked).
    app.store.open_webhook(&mut webhook).await?;
    if let Some(draft) = &asked.draft {
        let settings = draft.applied_to(&webhook.settings);
        settings.check_combination().map_err(ApiError::Validation)?;
        webhook.settings = settings;
    }
    let trial = trial(app, &webhook, &asked.trial, &who.token_id).await?;
    // A reader's preview is rendered with masked links, as its delivery log shows them.
    let access = who.access();
    let alert_json = to_json(&trial.alert.clone().shown(access))?;
    let payload = trial.payload(&alert_json, &webhook);
    let delivery = DeliveryRef {
        id: &trial.delivery_id,
        attempt: asked.attempt,
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
    Ok(Preview {
        matches: checks.all(),
        checks,
        condition_error,
        event: trial.event,
        transition: trial.entry.map(|e| e.transition),
        alert_id: trial.alert.id,
        delivery_id: trial.delivery_id,
        attempt: asked.attempt,
        request: shown,
    })
}

/// A filter test: the trial, with a filter or condition in place of the webhook's own.
#[derive(Clone, Debug, Default)]
pub struct FilterTestRequest {
    pub trial: TrialRequest,
    pub filter: Option<ContentFilter>,
    /// `Some(None)` tries the webhook with no condition.
    pub condition: Option<Option<String>>,
}

/// Whether fan-out would send the trial to the webhook, check by check.
#[derive(Clone, Debug, Serialize)]
pub struct FilterTested {
    pub matches: bool,
    pub checks: Wanted,
    pub event: EventType,
    pub alert_id: String,
    /// The filter tried: the one given, or the webhook's.
    pub filter: Option<Value>,
    /// The condition tried: the one given, or the webhook's.
    pub condition: Option<String>,
    /// Why the condition could not be judged: a delivery would fail with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition_error: Option<String>,
}

pub async fn test_filter(
    app: &App,
    who: &Principal,
    webhook_id: &str,
    asked: &FilterTestRequest,
) -> Result<FilterTested, ApiError> {
    let mut webhook = load(app, who, webhook_id, Access::Read).await?;
    if let Some(condition) = &asked.condition {
        webhook.settings.condition.clone_from(condition);
    }
    let trial = trial(app, &webhook, &asked.trial, &who.token_id).await?;
    let alert_json = to_json(&trial.alert)?;
    let filter = asked.filter.as_ref().or(webhook.settings.filter.as_ref());
    let mut checks = webhook.wanted(&alert_json, trial.event, filter);
    let payload = trial.payload(&alert_json, &webhook);
    let condition_error = judge_condition(app, &webhook, &payload, &trial, &mut checks).await?;
    Ok(FilterTested {
        matches: checks.all(),
        checks,
        event: trial.event,
        alert_id: trial.alert.id,
        filter: filter.map(|f| f.0.clone()),
        condition: webhook.settings.condition.clone(),
        condition_error,
    })
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
