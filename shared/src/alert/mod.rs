//! The alert: what monitoring systems send in, validated; its identity (`dedup_key`) and
//! its lifecycle ([`lifecycle`]), its one-click action links ([`links`]), and the
//! mappings from Alertmanager and CloudWatch payloads.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub mod alertmanager;
pub mod cloudwatch;
pub mod lifecycle;
pub mod links;

use lifecycle::{Actor, AlertState, Standing};

use crate::{
    error::{ApiError, FieldError},
    event::EventType,
    validate::{alert_type_name, exact_numbers, fail, free_json, keep, text},
    webhook::rules,
};

pub const MESSAGE_MAX_CHARS: usize = 10_000;
pub const TITLE_MAX_CHARS: usize = 500;
pub const DATA_MAX_BYTES: usize = 64 * 1024;
pub const SOURCE_MAX_BYTES: usize = 4 * 1024;
pub const LABELS_MAX: usize = 64;
pub const LABEL_KEY_MAX: usize = 128;
pub const LABEL_VALUE_MAX: usize = 1024;
pub const DEDUP_KEY_MAX: usize = 256;
/// Seven days: see [`lifecycle::MAX_WAIT_SECONDS`].
pub const MAX_ESCALATE_AFTER: u64 = lifecycle::MAX_WAIT_SECONDS as u64;

named_enum! {
    #[strum(serialize_all = "lowercase", ascii_case_insensitive)]
    pub enum Severity {
        Critical,
        Error,
        Warning,
        Info,
    }
}

named_enum! {
    #[derive(Default)]
    #[strum(serialize_all = "lowercase")]
    pub enum AlertStatus {
        #[default]
        Firing,
        Resolved,
    }
}

/// An alert as accepted, before it has an id.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertInput {
    #[serde(rename = "type")]
    pub alert_type: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    #[serde(default)]
    pub status: AlertStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<serde_json::Number>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Map<String, Value>>,
    /// The alert's key: reports with the same key are one alert (PagerDuty's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedup_key: Option<String>,
    /// Fire `alert.escalated` if the alert is still triggered this long after it fired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalate_after_seconds: Option<u32>,
}

/// An accepted alert, as it now is: what every delivery of it carries as `data.alert`.
/// The report fields (`type`, `message`, `status`...) are the latest report's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub id: String,
    #[serde(flatten)]
    pub input: AlertInput,
    /// When the first report came.
    pub received_at: DateTime<Utc>,
    pub state: AlertState,
    /// Transitions so far: the latest one's number. Receivers drop an event whose number
    /// is not above the last they saw.
    pub transition: u32,
    /// Reports of this alert's key, the first included.
    pub reports: u64,
    pub last_seen: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silenced_until: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalate_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub escalated: bool,
    /// Every transition, oldest first (the first and the latest [`TIMELINE_MAX`] - 1).
    pub timeline: Vec<TimelineEntry>,
    /// One-click action links, made at the latest transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<Links>,
}

/// The most timeline entries an alert keeps.
pub const TIMELINE_MAX: usize = 50;

/// One transition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub transition: u32,
    pub event: EventType,
    /// The state before; none for the first.
    pub from: Option<AlertState>,
    pub to: AlertState,
    pub at: DateTime<Utc>,
    pub by: Actor,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silenced_until: Option<DateTime<Utc>>,
}

/// Action links by name (`acknowledge`, `resolve`, `silence_1h`, `silence_24h`,
/// `unsilence`), those that apply to the alert's state, and when they expire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Links {
    pub expires_at: DateTime<Utc>,
    #[serde(flatten)]
    pub urls: BTreeMap<String, String>,
}

impl Alert {
    /// A new alert from its first report; its first transition is still to be made.
    pub fn new(id: String, input: AlertInput, received_at: DateTime<Utc>) -> Self {
        Self {
            id,
            input,
            received_at,
            state: AlertState::Triggered,
            transition: 0,
            reports: 1,
            last_seen: received_at,
            silenced_until: None,
            escalate_at: None,
            escalated: false,
            timeline: Vec::new(),
            links: None,
        }
    }

    pub fn standing(&self) -> Standing {
        Standing {
            state: self.state,
            silenced_until: self.silenced_until,
            escalate_at: self.escalate_at,
            escalated: self.escalated,
        }
    }

    /// Makes a transition: the new standing, one more transition, a timeline entry.
    pub fn record_move(
        &mut self,
        event: EventType,
        standing: Standing,
        by: Actor,
        at: DateTime<Utc>,
    ) {
        let from = (self.transition > 0).then_some(self.state);
        self.state = standing.state;
        self.silenced_until = standing.silenced_until;
        self.escalate_at = standing.escalate_at;
        self.escalated = standing.escalated;
        self.transition += 1;
        if self.timeline.len() >= TIMELINE_MAX {
            self.timeline.remove(1);
        }
        self.timeline.push(TimelineEntry {
            transition: self.transition,
            event,
            from,
            to: standing.state,
            at,
            by,
            silenced_until: standing.silenced_until,
        });
    }

    /// The latest transition.
    pub fn last_move(&self) -> Option<&TimelineEntry> {
        self.timeline.last()
    }

    /// The alert as a caller with `access` sees it: its action links are capabilities
    /// for receivers, so a caller who may not act on the alert sees them masked, in the
    /// alert and in every body rendered from it.
    pub fn shown(mut self, access: crate::auth::Access) -> Self {
        if access == crate::auth::Access::Read {
            for url in self.links.iter_mut().flat_map(|l| l.urls.values_mut()) {
                *url = crate::mask::link(url);
            }
        }
        self
    }
}

/// The label or annotation (Alertmanager) and description word (CloudWatch) that set an
/// alert's `escalate_after_seconds`.
pub const ESCALATE_AFTER_LABEL: &str = "hookline_escalate_after";

/// An escalation delay as users write it: seconds (`900`) or a duration (`15m`, `1h30m`,
/// `2h 15m`), from 1 s to 7 days.
pub fn escalate_after(text: &str) -> Result<u32, String> {
    let text = text.trim();
    let seconds = if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse::<u64>().map_err(|e| e.to_string())?
    } else {
        let duration = humantime::parse_duration(text)
            .map_err(|e| format!("{text:?} is neither seconds nor a duration such as 15m ({e})"))?;
        if duration.subsec_nanos() != 0 {
            return Err(format!("{text:?} is not a whole number of seconds"));
        }
        duration.as_secs()
    };
    match seconds {
        1..=MAX_ESCALATE_AFTER => Ok(u32::try_from(seconds).unwrap_or(u32::MAX)),
        _ => Err(format!(
            "{text:?} must be from 1 second to {} days",
            MAX_ESCALATE_AFTER / 86400
        )),
    }
}

/// The synthetic alert the test route sends.
pub fn test_alert(now: DateTime<Utc>) -> Alert {
    let input = AlertInput {
        alert_type: "test".into(),
        message: "TEST: this is a test delivery from Hookline".into(),
        title: Some("Hookline test alert".into()),
        severity: Some(Severity::Info),
        started_at: Some(now),
        ..AlertInput::default()
    };
    let mut alert = Alert::new(uuid::Uuid::now_v7().to_string(), input, now);
    alert.transition = 1;
    alert
}

impl AlertInput {
    /// Validates a `POST /alerts` body (also the `alert` of a queue message), naming every
    /// field at fault.
    pub fn parse(body: &Value) -> Result<Self, ApiError> {
        Self::parse_at(body, "").map_err(ApiError::Validation)
    }

    /// As [`AlertInput::parse`], with field names under `prefix` (e.g. `alert.`).
    pub fn parse_at(body: &Value, prefix: &str) -> Result<Self, Vec<FieldError>> {
        let Value::Object(map) = body else {
            let field = if prefix.is_empty() {
                "body".to_string()
            } else {
                prefix.trim_end_matches('.').to_string()
            };
            return fail(field, "must be a JSON object");
        };
        let f = |name: &str| format!("{prefix}{name}");
        let mut errors = Vec::new();
        let mut alert = AlertInput::default();
        for (key, value) in map {
            let field = f(key);
            match key.as_str() {
                "type" => {
                    if let Some(t) = keep(&mut errors, alert_type_name(&field, value)) {
                        alert.alert_type = t;
                    }
                }
                "message" => {
                    if let Some(m) = keep(&mut errors, text(&field, value, MESSAGE_MAX_CHARS, true))
                    {
                        alert.message = m;
                    }
                }
                "title" => {
                    alert.title = keep(&mut errors, text(&field, value, TITLE_MAX_CHARS, false))
                }
                "severity" => match value.as_str().and_then(Severity::parse) {
                    Some(s) => alert.severity = Some(s),
                    None => errors.push(FieldError::new(
                        field,
                        "must be one of critical, error, warning, info",
                    )),
                },
                "status" => match value.as_str().map(str::parse) {
                    Some(Ok(status)) => alert.status = status,
                    _ => errors.push(FieldError::new(field, "must be firing or resolved")),
                },
                "source" => alert.source = keep(&mut errors, parse_source(&field, value)),
                "labels" => {
                    if let Some(l) = keep(&mut errors, parse_labels(&field, value)) {
                        alert.labels = l;
                    }
                }
                "count" => match value.as_u64() {
                    Some(c) => alert.count = Some(c),
                    None => {
                        errors.push(FieldError::new(field, "must be a whole number, 0 or more"))
                    }
                },
                "threshold" => match value {
                    Value::Number(n) => {
                        if keep(&mut errors, exact_numbers(&field, value)).is_some() {
                            alert.threshold = Some(n.clone());
                        }
                    }
                    _ => errors.push(FieldError::new(field, "must be a number")),
                },
                "url" => {
                    let checked = rules::url(value).map_err(|errs| {
                        errs.into_iter()
                            .map(|e| FieldError::new(&field, e.message))
                            .collect()
                    });
                    alert.url = keep(&mut errors, checked);
                }
                "started_at" => match value.as_str().map(DateTime::parse_from_rfc3339) {
                    Some(Ok(t)) => alert.started_at = Some(t.with_timezone(&Utc)),
                    _ => errors.push(FieldError::new(field, "must be an RFC 3339 timestamp")),
                },
                "data" => match value {
                    Value::Object(m) => {
                        if keep(&mut errors, free_json(&field, value, DATA_MAX_BYTES)).is_some() {
                            alert.data = Some(m.clone());
                        }
                    }
                    _ => errors.push(FieldError::new(field, "must be a JSON object")),
                },
                "dedup_key" => {
                    alert.dedup_key = keep(&mut errors, text(&field, value, DEDUP_KEY_MAX, false))
                }
                "escalate_after_seconds" => match value.as_u64() {
                    Some(s @ 1..=MAX_ESCALATE_AFTER) => {
                        alert.escalate_after_seconds = u32::try_from(s).ok()
                    }
                    _ => errors.push(FieldError::new(
                        field,
                        format!("must be a whole number of seconds, 1 to {MAX_ESCALATE_AFTER}"),
                    )),
                },
                _ => errors.push(FieldError::new(field, "is not a known field")),
            }
        }
        for required in ["type", "message"] {
            if !map.contains_key(required) {
                errors.push(FieldError::new(f(required), "is required"));
            }
        }
        if errors.is_empty() {
            Ok(alert)
        } else {
            Err(errors)
        }
    }
}

fn parse_source(field: &str, value: &Value) -> Result<Map<String, Value>, Vec<FieldError>> {
    let Value::Object(map) = value else {
        return fail(field, "must be a JSON object");
    };
    free_json(field, value, SOURCE_MAX_BYTES)?;
    for key in ["id", "name"] {
        if let Some(v) = map.get(key) {
            if !(v.is_string() || v.is_number()) {
                return fail(format!("{field}.{key}"), "must be a string or a number");
            }
        }
    }
    Ok(map.clone())
}

fn parse_labels(field: &str, value: &Value) -> Result<BTreeMap<String, String>, Vec<FieldError>> {
    let Value::Object(map) = value else {
        return fail(field, "must be an object of string values");
    };
    if map.len() > LABELS_MAX {
        return fail(field, format!("must hold at most {LABELS_MAX} labels"));
    }
    let mut errors = Vec::new();
    let mut labels = BTreeMap::new();
    for (key, v) in map {
        let name = format!("{field}.{key}");
        if key.is_empty()
            || key.chars().count() > LABEL_KEY_MAX
            || key.chars().any(char::is_control)
        {
            errors.push(FieldError::new(
                name,
                format!("label names are 1 to {LABEL_KEY_MAX} characters, no control characters"),
            ));
            continue;
        }
        match v.as_str() {
            Some(s) if s.chars().count() <= LABEL_VALUE_MAX => {
                labels.insert(key.clone(), s.to_string());
            }
            Some(_) => errors.push(FieldError::new(
                name,
                format!("must be at most {LABEL_VALUE_MAX} characters"),
            )),
            None => errors.push(FieldError::new(name, "must be a string")),
        }
    }
    if errors.is_empty() {
        Ok(labels)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn escalation_delays_as_users_write_them() {
        assert_eq!(escalate_after("900"), Ok(900));
        assert_eq!(escalate_after(" 15m "), Ok(900));
        assert_eq!(escalate_after("1h30m"), Ok(5400));
        assert_eq!(escalate_after("2h 15m"), Ok(8100));
        assert_eq!(escalate_after("7days"), Ok(604_800));
        for bad in [
            "0",
            "0s",
            "8d",
            "soon",
            "",
            "1.5s",
            "-5",
            "99999999999999999999",
        ] {
            assert!(escalate_after(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn alertmanager_and_cloudwatch_carry_an_escalation_delay() {
        let am = |labels: Value, annotations: Value| {
            alertmanager::parse(&json!({"version": "4", "alerts": [{"status": "firing",
                "labels": labels, "annotations": annotations, "fingerprint": "f1"}]}))
        };
        let one = am(
            json!({"alertname": "Disk", "hookline_escalate_after": "10m"}),
            json!({}),
        )
        .unwrap();
        assert_eq!(one[0].escalate_after_seconds, Some(600));
        // The annotation wins over the label.
        let both = am(
            json!({"alertname": "Disk", "hookline_escalate_after": "10m"}),
            json!({"hookline_escalate_after": "120"}),
        )
        .unwrap();
        assert_eq!(both[0].escalate_after_seconds, Some(120));
        assert_eq!(
            am(json!({"alertname": "Disk"}), json!({})).unwrap()[0].escalate_after_seconds,
            None
        );
        let err = am(
            json!({"alertname": "Disk", "hookline_escalate_after": "soon"}),
            json!({}),
        )
        .unwrap_err();
        let said = format!("{:?}", err.details());
        assert!(said.contains("hookline_escalate_after"), "{said}");
        let alarm = |description: &str| {
            cloudwatch::convert(
                &json!({"resources": ["arn:aws:cloudwatch:eu-west-1:1:alarm:x"],
                "detail": {"alarmName": "x", "state": {"value": "ALARM"},
                           "configuration": {"description": description}}}),
            )
        };
        let with = alarm("Disk full. hookline_escalate_after=1h, owner ops")
            .unwrap()
            .unwrap();
        assert_eq!(with.escalate_after_seconds, Some(3600));
        let colon = alarm("hookline_escalate_after: 300").unwrap().unwrap();
        assert_eq!(colon.escalate_after_seconds, Some(300));
        assert_eq!(
            alarm("no word here")
                .unwrap()
                .unwrap()
                .escalate_after_seconds,
            None
        );
        assert!(alarm("hookline_escalate_after=never").is_err());
    }

    #[test]
    fn minimal_alert_defaults_to_firing() {
        let a = AlertInput::parse(&json!({"type": "cpu_high", "message": "CPU at 92%"})).unwrap();
        assert_eq!(a.status, AlertStatus::Firing);
    }

    #[test]
    fn every_fault_is_named() {
        let err = AlertInput::parse(&json!({
            "severity": "loud", "status": "open", "count": -1, "threshold": "x",
            "labels": {"a": 1}, "data": [], "url": "ftp://x", "started_at": "yesterday",
            "source": "me", "bogus": true
        }))
        .unwrap_err();
        let mut fields: Vec<_> = err.details().iter().map(|d| d.field.clone()).collect();
        fields.sort();
        assert_eq!(
            fields,
            [
                "bogus",
                "count",
                "data",
                "labels.a",
                "message",
                "severity",
                "source",
                "started_at",
                "status",
                "threshold",
                "type",
                "url"
            ]
        );
    }

    #[test]
    fn cloudwatch_alarm_and_ok() {
        let mut event = json!({
            "id": "e1", "region": "eu-west-1", "resources": ["arn:aws:cloudwatch:eu-west-1:1:alarm:a"],
            "detail": {"alarmName": "api-5xx", "state": {"value": "ALARM", "reason": "Threshold Crossed",
                       "timestamp": "2026-11-23T09:20:01.193+0000"}}
        });
        let alarm = cloudwatch::convert(&event).unwrap().unwrap();
        assert_eq!(
            (alarm.alert_type.as_str(), alarm.status),
            ("api-5xx", AlertStatus::Firing)
        );
        assert_eq!(alarm.message, "Threshold Crossed");
        assert!(alarm.started_at.is_some());
        assert_eq!(
            alarm.dedup_key.as_deref(),
            Some("arn:aws:cloudwatch:eu-west-1:1:alarm:a")
        );
        assert_eq!(
            cloudwatch::idempotency_key(&event).as_deref(),
            Some("cloudwatch:e1")
        );
        event["detail"]["state"]["value"] = json!("OK");
        assert_eq!(
            cloudwatch::convert(&event).unwrap().unwrap().status,
            AlertStatus::Resolved
        );
        event["detail"]["state"]["value"] = json!("INSUFFICIENT_DATA");
        assert_eq!(cloudwatch::convert(&event).unwrap(), None);
        assert!(cloudwatch::convert(&json!({"detail": {}})).is_err());
    }

    #[test]
    fn alertmanager_alerts_map_one_to_one() {
        let body = json!({"version": "4", "status": "firing", "receiver": "r", "groupKey": "g", "alerts": [
            {"status": "firing", "labels": {"alertname": "InstanceDown", "severity": "critical"},
             "annotations": {"summary": "down", "description": "it is down"}, "startsAt": "2026-11-23T08:24:38.326Z",
             "fingerprint": "f1", "generatorURL": "http://prom:9090/g"},
            {"status": "resolved", "labels": {"alertname": "DiskFull", "severity": "page"}, "annotations": {}}
        ]});
        let alerts = alertmanager::parse(&body).unwrap();
        assert_eq!(alerts.len(), 2);
        assert_eq!(alerts[0].alert_type, "InstanceDown");
        assert_eq!(alerts[0].message, "it is down");
        assert_eq!(alerts[0].title.as_deref(), Some("down"));
        assert_eq!(alerts[0].severity, Some(Severity::Critical));
        assert_eq!(alerts[1].status, AlertStatus::Resolved);
        assert_eq!(alerts[1].severity, None);
        assert_eq!(alerts[0].dedup_key.as_deref(), Some("f1"));
        // Without a fingerprint, the labels key the alert: the same labels, the same key.
        let again = alertmanager::parse(&body).unwrap();
        assert_eq!(again[1].dedup_key, alerts[1].dedup_key);
        assert_eq!(alerts[1].dedup_key.as_ref().map(String::len), Some(16));
        for bad in [
            json!({"version": "3", "alerts": []}),
            json!({"version": "4", "alerts": [{"status": "firing", "labels": {}}]}),
            json!([]),
        ] {
            assert!(alertmanager::parse(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn data_is_capped_at_64k() {
        let big = json!({"type": "t", "message": "m", "data": {"k": "x".repeat(DATA_MAX_BYTES)}});
        assert!(AlertInput::parse(&big).is_err());
        let ok = json!({"type": "t", "message": "m", "data": {"k": "x".repeat(1000)}});
        assert!(AlertInput::parse(&ok).is_ok());
    }

    #[test]
    fn full_alert_round_trips() {
        let a = AlertInput::parse(&json!({
            "type": "ERRORS_ALERT", "message": "m", "title": "t", "severity": "critical",
            "status": "resolved", "source": {"id": 7, "name": "api"}, "labels": {"env": "prod"},
            "count": 3, "threshold": 2.5, "url": "https://app.example.com/e/1",
            "started_at": "2026-11-23T10:00:00Z", "data": {"ErrorTitle": "boom"}, "dedup_key": "k1"
        }))
        .unwrap();
        let alert = Alert::new("a1".into(), a.clone(), Utc::now());
        let back: Alert = serde_json::from_value(serde_json::to_value(&alert).unwrap()).unwrap();
        assert_eq!(back, alert);
        assert_eq!(
            serde_json::to_value(&alert).unwrap()["type"],
            "ERRORS_ALERT"
        );
    }
}
