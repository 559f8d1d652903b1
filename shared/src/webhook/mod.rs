//! The webhook: what is stored, what the API accepts, and what it shows.
//!
//! - [`fields`]: the user-writable settings, their list written once, and the changes a
//!   request makes;
//! - [`rules`]: each field's validation;
//! - [`filter`]: content filters; [`condition`]: conditions, judged in the sandbox;
//! - [`health`]: the failure streak attempts leave, and when a failing webhook is disabled;
//! - here: the stored webhook, its secrets, its health and its masked view.
//!
//! Input is validated field by field from the raw JSON object, so that one answer names
//! every field at fault (serde's derive stops at the first).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use serde_with::{json::JsonString, serde_as};

pub mod condition;
pub mod fields;
pub mod filter;
pub mod health;
pub mod pacing;
pub mod rules;

pub use fields::{SettingsView, WebhookChanges, WebhookSettings};

use crate::{
    auth::Access,
    error::{ApiError, FieldError},
    event::EventType,
};

pub use crate::mask::MASK;

/// Free-form JSON a user attaches to a webhook. Stored as JSON text: DynamoDB maps nest at
/// most 32 deep and would reshape numbers.
#[serde_as]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Metadata(#[serde_as(as = "JsonString")] pub Map<String, Value>);

/// Fields the service keeps itself; a request naming one is told so.
const READ_ONLY_FIELDS: [&str; 11] = [
    "id",
    "secret",
    "created_at",
    "updated_at",
    "last_success",
    "last_failure",
    "last_delivery",
    "disabled_reason",
    "consecutive_failures",
    "failing_since",
    "version",
];

named_enum! {
    #[derive(Default)]
    #[strum(serialize_all = "UPPERCASE", ascii_case_insensitive)]
    pub enum HttpMethod {
        #[default]
        Post,
        Put,
        Patch,
        /// Grafana OnCall's other methods: a GET pings a URL; none of these send a body.
        Get,
        Delete,
        Options,
    }
}

impl HttpMethod {
    /// Whether a request of this method carries the payload. GET, DELETE and OPTIONS send
    /// none (and no Content-Type), signed over the empty body as Standard Webhooks does.
    pub fn has_body(self) -> bool {
        matches!(self, Self::Post | Self::Put | Self::Patch)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BasicAuth {
    pub username: String,
    pub password: String,
}

/// ApiTree's `lastDelivery`: the outcome of the most recent attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastDelivery {
    pub success: bool,
    pub status_code: Option<u16>,
    pub response: Option<String>,
    pub timestamp: DateTime<Utc>,
}

/// How deliveries to a webhook have been going: written by the deliver function, and
/// stored in an item of its own (see [`crate::store::webhooks`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Health {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_delivery: Option<LastDelivery>,
    #[serde(default)]
    pub consecutive_failures: u32,
    /// When the current run of failures began; any success clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<DateTime<Utc>>,
    /// The streak the latest write's success ended (when it began, and its length):
    /// read back by the deliver function to send `webhook.recovered`; never shown.
    #[serde(default, skip_serializing)]
    pub ended_streak: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing)]
    pub ended_failures: u32,
    /// The receiver asked for a pause (a 429 or 503 with `Retry-After`, or a spent
    /// rate-limit window): no delivery to it goes before then. Cleared by the next success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_until: Option<DateTime<Utc>>,
    /// The pause the latest write's success ended: read back by the deliver function to
    /// send `webhook.resumed`; never shown.
    #[serde(default, skip_serializing)]
    pub ended_pause: Option<DateTime<Utc>>,
    /// The pause stored before the latest write set one: a new pause is announced
    /// (`webhook.paused`), a longer one is not; never shown.
    #[serde(default, skip_serializing)]
    pub pause_before: Option<DateTime<Utc>>,
}

/// A webhook as stored. `secret`, header values and the basic-auth password never leave
/// the service except through the secret routes and the deliveries themselves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Webhook {
    pub account_id: String,
    pub id: String,
    #[serde(flatten)]
    pub settings: WebhookSettings,
    pub secret: String,
    /// Secrets replaced by a rotation, newest first, each signing beside `secret` until
    /// its grace period ends.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous_secrets: Vec<PreviousSecret>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Why the service disabled the webhook; cleared when it is enabled again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    /// Not part of the webhook's item: read beside it where it is shown.
    #[serde(skip)]
    pub health: Health,
    /// Bumped by every change of what a delivery uses (settings, enabled, secrets), so a
    /// cached copy can be checked in the same transaction that claims an attempt.
    #[serde(default)]
    pub version: u64,
}

/// A replaced signing secret and the end of its grace period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousSecret {
    pub secret: String,
    pub expires_at: DateTime<Utc>,
}

/// The grace period of a rotation when the call names none.
pub const ROTATION_GRACE_DEFAULT_SECS: u32 = 24 * 3600;
pub const ROTATION_GRACE_MAX_SECS: u32 = 7 * 24 * 3600;
/// How many replaced secrets may still sign; a further rotation drops the oldest.
pub const PREVIOUS_SECRETS_MAX: usize = 10;

impl Webhook {
    pub fn new(
        account_id: &str,
        settings: WebhookSettings,
        secret: String,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            account_id: account_id.to_string(),
            // v7: time-ordered, so listing by id lists in creation order.
            id: uuid::Uuid::now_v7().to_string(),
            settings,
            secret,
            previous_secrets: Vec::new(),
            created_at: now,
            updated_at: now,
            disabled_reason: None,
            health: Health::default(),
            version: 1,
        }
    }

    /// The secrets that sign a message sent at `at`: the current one first, then every
    /// replaced one still in its grace period.
    pub fn signing_secrets(&self, at: DateTime<Utc>) -> impl Iterator<Item = &str> {
        std::iter::once(self.secret.as_str()).chain(
            self.previous_secrets
                .iter()
                .filter(move |p| p.expires_at > at)
                .map(|p| p.secret.as_str()),
        )
    }

    /// The replaced secrets after rotating away from the current one at `now`: it joins
    /// them with `grace` to run, expired ones go, and at most [`PREVIOUS_SECRETS_MAX`]
    /// stay, the newest.
    pub fn previous_secrets_after_rotation(
        &self,
        now: DateTime<Utc>,
        grace: chrono::Duration,
    ) -> Vec<PreviousSecret> {
        let mut kept: Vec<PreviousSecret> = Vec::with_capacity(PREVIOUS_SECRETS_MAX);
        if grace > chrono::Duration::zero() {
            kept.push(PreviousSecret {
                secret: self.secret.clone(),
                expires_at: now + grace,
            });
        }
        kept.extend(
            self.previous_secrets
                .iter()
                .filter(|p| p.expires_at > now)
                .cloned(),
        );
        kept.truncate(PREVIOUS_SECRETS_MAX);
        kept
    }

    /// Whether an alert of `alert_type` raising `event` goes to this webhook.
    pub fn subscribes_to(&self, alert_type: Option<&str>, event: Option<EventType>) -> bool {
        let s = &self.settings;
        let type_ok = alert_type
            .is_none_or(|t| s.alert_types.is_empty() || s.alert_types.iter().any(|a| a == t));
        let event_ok = event
            .is_none_or(|e| s.events.contains(&e) || (s.events.is_empty() && !e.is_operational()));
        type_ok && event_ok
    }

    /// Whether a transition raising `event` of `alert` (as deliveries carry it) goes to
    /// this webhook: every check of [`Webhook::wanted`], its own filter last (the costly one).
    pub fn wants(&self, alert: &Value, event: EventType) -> bool {
        self.wanted(alert, event, None).all()
            && (self.settings.filter.as_ref()).is_none_or(|f| f.matches(alert))
    }

    /// Each check fan-out makes, with `filter` in place of the webhook's own (none passes).
    pub fn wanted(
        &self,
        alert: &Value,
        event: EventType,
        filter: Option<&filter::ContentFilter>,
    ) -> Wanted {
        Wanted {
            enabled: self.settings.enabled,
            alert_type: self.subscribes_to(alert["type"].as_str(), None),
            event: self.subscribes_to(None, Some(event)),
            format: self.settings.format.carries(event),
            filter: filter.is_none_or(|f| f.matches(alert)),
            condition: true,
        }
    }

    /// The webhook as a caller with `access` sees it: write-only values masked, and the
    /// URL too for readers.
    pub fn view(&self, access: Access) -> WebhookView {
        self.view_showing(access, None)
    }

    /// The view returned on create: the only response besides the secret routes that
    /// carries the signing secret.
    pub fn view_with_secret(&self) -> WebhookView {
        self.view_showing(Access::Write, Some(self.secret.clone()))
    }

    fn view_showing(&self, access: Access, secret: Option<String>) -> WebhookView {
        WebhookView {
            id: self.id.clone(),
            settings: self.settings.masked(access),
            created_at: self.created_at,
            updated_at: self.updated_at,
            health: self.health.clone(),
            disabled_reason: self.disabled_reason.clone(),
            secret,
        }
    }
}

/// The checks that decide whether a transition goes to a webhook.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Wanted {
    pub enabled: bool,
    /// Its `alert_types` take the alert's type.
    pub alert_type: bool,
    /// Its `events` take the event.
    pub event: bool,
    /// Its format carries the event (see [`crate::delivery::format::Format::carries`]).
    pub format: bool,
    /// Its content filter passes the alert.
    pub filter: bool,
    /// Its condition is truthy (judged in the sandbox: see [`condition`]); true until
    /// judged, and for a webhook without one.
    pub condition: bool,
}

impl Wanted {
    /// Each check by the name it is serialized with.
    pub fn named(&self) -> [(&'static str, bool); 6] {
        [
            ("enabled", self.enabled),
            ("alert_type", self.alert_type),
            ("event", self.event),
            ("format", self.format),
            ("filter", self.filter),
            ("condition", self.condition),
        ]
    }

    pub fn all(&self) -> bool {
        self.enabled
            && self.alert_type
            && self.event
            && self.format
            && self.filter
            && self.condition
    }
}

/// A webhook as a caller may see it (made by [`Webhook::view`]): its settings already
/// masked for the caller's access, so nothing that reads it can show a credential.
#[derive(Clone, Debug)]
pub struct WebhookView {
    pub id: String,
    pub settings: WebhookSettings,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub health: Health,
    pub disabled_reason: Option<String>,
    /// The signing secret: only in the answer that creates the webhook.
    pub secret: Option<String>,
}

impl Serialize for WebhookView {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let h = &self.health;
        Shown {
            id: &self.id,
            settings: SettingsView(&self.settings),
            created_at: self.created_at,
            updated_at: self.updated_at,
            last_success: h.last_success,
            last_failure: h.last_failure,
            last_delivery: h.last_delivery.as_ref(),
            consecutive_failures: h.consecutive_failures,
            failing_since: h.failing_since,
            paused_until: h.paused_until,
            rate_limit_in_force: (self.settings.rate_limit).in_force(self.settings.format),
            disabled_reason: self.disabled_reason.as_deref(),
            secret: self.secret.as_deref(),
        }
        .serialize(serializer)
    }
}

/// The API's shape of a [`WebhookView`]: settings and health side by side.
#[derive(Serialize)]
struct Shown<'a> {
    id: &'a str,
    #[serde(flatten)]
    settings: SettingsView<'a>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    last_success: Option<DateTime<Utc>>,
    last_failure: Option<DateTime<Utc>>,
    last_delivery: Option<&'a LastDelivery>,
    /// The failure streak: failed attempts since the last success, and since when.
    consecutive_failures: u32,
    failing_since: Option<DateTime<Utc>>,
    /// Deliveries wait until then: the receiver asked for a pause. A time past means the
    /// pause is over, and no delivery has been made since.
    paused_until: Option<DateTime<Utc>>,
    /// The limit `rate_limit` comes to for this webhook's format.
    rate_limit_in_force: Option<crate::delivery::pace::RateLimit>,
    disabled_reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<&'a str>,
}

/// Validates a rotate body, `{"grace_period_seconds": n}` or `{}`: how long the replaced
/// secret keeps signing.
pub fn parse_rotation(body: &Value) -> Result<chrono::Duration, ApiError> {
    let Value::Object(map) = body else {
        return Err(ApiError::field("body", "must be a JSON object"));
    };
    let mut errors = Vec::new();
    let mut grace = ROTATION_GRACE_DEFAULT_SECS;
    for (key, value) in map {
        match key.as_str() {
            "grace_period_seconds" => match value.as_u64() {
                Some(secs) if secs <= u64::from(ROTATION_GRACE_MAX_SECS) => grace = secs as u32,
                _ => errors.push(FieldError::new(
                    key,
                    format!("must be a whole number of seconds from 0 to {ROTATION_GRACE_MAX_SECS} (7 days)"),
                )),
            },
            _ => errors.push(FieldError::new(key, "is not a known field")),
        }
    }
    if errors.is_empty() {
        Ok(chrono::Duration::seconds(i64::from(grace)))
    } else {
        Err(ApiError::Validation(errors))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::error::ApiError;

    fn fields(err: ApiError) -> Vec<String> {
        err.details().iter().map(|d| d.field.clone()).collect()
    }

    #[test]
    fn each_named_check_is_the_one_serialized_under_its_name() {
        let wanted = Wanted {
            enabled: true,
            alert_type: false,
            event: true,
            format: false,
            filter: true,
            condition: false,
        };
        let json = serde_json::to_value(wanted).unwrap();
        let named = wanted.named();
        assert_eq!(named.len(), json.as_object().unwrap().len());
        for (name, passes) in named {
            assert_eq!(json[name], passes, "{name}");
        }
    }

    #[test]
    fn rotation_body() {
        let day = chrono::Duration::hours(24);
        assert_eq!(parse_rotation(&json!({})).unwrap(), day);
        assert_eq!(
            parse_rotation(&json!({"grace_period_seconds": 0})).unwrap(),
            chrono::Duration::zero()
        );
        assert_eq!(
            parse_rotation(&json!({"grace_period_seconds": 604800})).unwrap(),
            chrono::Duration::days(7)
        );
        for bad in [
            json!({"grace_period_seconds": 604801}),
            json!({"grace_period_seconds": -1}),
            json!({"grace_period_seconds": 1.5}),
            json!({"grace_period_seconds": "60"}),
            json!({"grace_period_seconds": 1e300}),
        ] {
            assert_eq!(
                fields(parse_rotation(&bad).unwrap_err()),
                ["grace_period_seconds"]
            );
        }
        assert_eq!(
            fields(parse_rotation(&json!({"grace": 1})).unwrap_err()),
            ["grace"]
        );
        assert_eq!(fields(parse_rotation(&json!([])).unwrap_err()), ["body"]);
    }

    #[test]
    fn rotation_keeps_at_most_ten_unexpired_secrets() {
        let settings =
            WebhookSettings::parse(&json!({"name": "n", "url": "https://example.com/"})).unwrap();
        let t0 = Utc::now();
        let mut webhook = Webhook::new("a", settings, "s0".into(), t0);
        let grace = chrono::Duration::hours(1);
        for i in 1..=12 {
            let now = t0 + chrono::Duration::seconds(i);
            webhook.previous_secrets = webhook.previous_secrets_after_rotation(now, grace);
            webhook.secret = format!("s{i}");
        }
        let at = t0 + chrono::Duration::seconds(13);
        let signing: Vec<_> = webhook.signing_secrets(at).collect();
        assert_eq!(
            signing,
            ["s12", "s11", "s10", "s9", "s8", "s7", "s6", "s5", "s4", "s3", "s2"]
        );
        // Once the grace period is over only the current secret signs.
        assert_eq!(
            webhook
                .signing_secrets(t0 + chrono::Duration::hours(2))
                .collect::<Vec<_>>(),
            ["s12"]
        );
        // A later rotation drops the expired ones; no grace keeps none of the old.
        let late = t0 + chrono::Duration::hours(2);
        assert_eq!(
            webhook.previous_secrets_after_rotation(late, grace).len(),
            1
        );
        assert!(webhook
            .previous_secrets_after_rotation(late, chrono::Duration::zero())
            .is_empty());
    }

    #[test]
    fn subscription_matching() {
        let mut w = Webhook::new(
            "a",
            WebhookSettings::parse(&json!({"name": "n", "url": "https://e.com"})).unwrap(),
            String::new(),
            Utc::now(),
        );
        assert!(w.subscribes_to(Some("cpu_high"), Some(EventType::AlertResolved)));
        w.settings.alert_types = vec!["cpu_high".into()];
        w.settings.events = vec![EventType::AlertTriggered];
        assert!(w.subscribes_to(Some("cpu_high"), Some(EventType::AlertTriggered)));
        assert!(!w.subscribes_to(Some("disk_high"), None));
        assert!(!w.subscribes_to(None, Some(EventType::AlertResolved)));
    }

    #[test]
    fn a_stored_webhook_round_trips_and_keeps_its_layout() {
        let settings = WebhookSettings::parse(&json!({
            "name": "n", "url": "https://e.com", "headers": {"X-Key": "v"},
            "basic_auth": {"username": "u", "password": "p"}, "metadata": {"deep": [[[1.5]]]},
            "events": ["alert.resolved"], "http_method": "PUT"
        }))
        .unwrap();
        let mut w = Webhook::new("a", settings, "whsec_x".into(), chrono::Utc::now());
        w.disabled_reason = Some("gone".into());
        let item: std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> =
            serde_dynamo::to_item(&w).unwrap();
        // Flat attributes, as the store's updates name them; metadata as JSON text; the
        // health is an item of its own.
        for attribute in [
            "name",
            "url",
            "headers",
            "basic_auth",
            "disabled_reason",
            "version",
        ] {
            assert!(item.contains_key(attribute), "{attribute}");
        }
        assert!(!item.contains_key("consecutive_failures"));
        assert_eq!(item["metadata"].as_s().unwrap(), r#"{"deep":[[[1.5]]]}"#);
        let back: Webhook = serde_dynamo::from_item(item).unwrap();
        assert_eq!(back, w);
    }

    #[test]
    fn the_view_lists_the_api_fields_in_order() {
        let settings =
            WebhookSettings::parse(&json!({"name": "n", "url": "https://e.com"})).unwrap();
        let w = Webhook::new("a", settings, "whsec_x".into(), chrono::Utc::now());
        let shown = serde_json::to_string(&w.view(Access::Write)).unwrap();
        let keys: Vec<String> = serde_json::from_str::<serde_json::Map<String, Value>>(&shown)
            .unwrap()
            .keys()
            .cloned()
            .collect();
        let mut in_text = keys.clone();
        in_text.sort_by_key(|k| shown.find(&format!("\"{k}\":")).unwrap());
        assert_eq!(
            in_text,
            [
                "id",
                "name",
                "url",
                "enabled",
                "alert_types",
                "events",
                "http_method",
                "headers",
                "basic_auth",
                "metadata",
                "secrets",
                "format",
                "template",
                "content_type",
                "filter",
                "condition",
                "rate_limit",
                "digest_after_seconds",
                "never_digest",
                "created_at",
                "updated_at",
                "last_success",
                "last_failure",
                "last_delivery",
                "consecutive_failures",
                "failing_since",
                "paused_until",
                "rate_limit_in_force",
                "disabled_reason"
            ]
        );
    }
}
