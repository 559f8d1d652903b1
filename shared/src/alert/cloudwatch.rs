//! EventBridge's `CloudWatch Alarm State Change`: ALARM fires, OK resolves. The alarm's
//! ARN is the alert's key, so ALARM, OK, ALARM is one alert: triggered, resolved, reopened.
//! `hookline_escalate_after=15m` in the alarm's description sets its escalation delay.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::{escalate_after, AlertInput, AlertStatus, ESCALATE_AFTER_LABEL};

/// The alert for an alarm state change; `None` for states that raise nothing
/// (INSUFFICIENT_DATA).
pub fn convert(event: &Value) -> Result<Option<AlertInput>, String> {
    let detail = event
        .get("detail")
        .and_then(Value::as_object)
        .ok_or("the event has no detail")?;
    let name = detail
        .get("alarmName")
        .and_then(Value::as_str)
        .ok_or("detail.alarmName is missing")?;
    let state = detail
        .get("state")
        .and_then(Value::as_object)
        .ok_or("detail.state is missing")?;
    let status = match state.get("value").and_then(Value::as_str) {
        Some("ALARM") => AlertStatus::Firing,
        Some("OK") => AlertStatus::Resolved,
        Some(_) => return Ok(None),
        None => return Err("detail.state.value is missing".into()),
    };
    let reason = state.get("reason").and_then(Value::as_str).unwrap_or(name);
    let arn = event
        .get("resources")
        .and_then(|r| r.get(0))
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut data = Map::new();
    for key in ["previousState", "configuration"] {
        if let Some(v) = detail.get(key) {
            data.insert(key.into(), v.clone());
        }
    }
    data.insert("state".into(), Value::Object(state.clone()));
    let mut candidate = serde_json::json!({
        "type": name,
        "title": name,
        "message": reason,
        "status": status.as_str(),
        "source": {
            "id": arn, "name": name, "kind": "cloudwatch",
            "region": event.get("region").cloned().unwrap_or(Value::Null),
            "aws_account": event.get("account").cloned().unwrap_or(Value::Null),
        },
        "data": data,
    });
    if let Some(description) = detail
        .get("configuration")
        .and_then(|c| c.get("description"))
        .and_then(Value::as_str)
        .filter(|d| !d.is_empty())
    {
        candidate["data"]["description"] = description.into();
        if let Some(after) = escalate_after_in(description) {
            let seconds =
                escalate_after(after).map_err(|e| format!("{ESCALATE_AFTER_LABEL}: {e}"))?;
            candidate["escalate_after_seconds"] = seconds.into();
        }
    }
    if let Some(ts) = state.get("timestamp").and_then(Value::as_str) {
        // CloudWatch writes `2026-11-23T09:20:01.193+0000`, not quite RFC 3339.
        let parsed = DateTime::parse_from_rfc3339(ts)
            .or_else(|_| DateTime::parse_from_str(ts, "%Y-%m-%dT%H:%M:%S%.f%z"));
        if let Ok(t) = parsed {
            candidate["started_at"] = t.with_timezone(&Utc).to_rfc3339().into();
        }
    }
    candidate["dedup_key"] = if arn.is_empty() {
        format!("cloudwatch:{name}").into()
    } else {
        arn.into()
    };
    AlertInput::parse_at(&candidate, "")
        .map(Some)
        .map_err(|errs| {
            errs.iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; ")
        })
}

/// `hookline_escalate_after=15m` (or `: 15m`) in an alarm's description: CloudWatch's
/// events carry no tags, and the description is the alarm's own free text.
fn escalate_after_in(description: &str) -> Option<&str> {
    let at = description.find(ESCALATE_AFTER_LABEL)? + ESCALATE_AFTER_LABEL.len();
    let rest = description[at..].trim_start();
    let rest = rest.strip_prefix(['=', ':'])?.trim_start();
    let end = rest
        .find(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

/// The idempotency key of an event: EventBridge delivers at least once, and the same
/// state change must not count twice.
pub fn idempotency_key(event: &Value) -> Option<String> {
    event
        .get("id")
        .and_then(Value::as_str)
        .map(|id| format!("cloudwatch:{id}"))
}
