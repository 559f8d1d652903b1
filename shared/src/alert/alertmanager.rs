//! Prometheus Alertmanager's webhook payload, version 4: one Hookline alert per alert in
//! it, keyed by the alert's `fingerprint` (its label set), so a group re-sent notifies
//! nothing new and a resolved alert resolves the alert of the same fingerprint. An
//! annotation or label `hookline_escalate_after` (`900`, `15m`) sets the alert's
//! escalation delay.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{escalate_after, AlertInput, AlertStatus, Severity, ESCALATE_AFTER_LABEL};
use crate::error::{ApiError, FieldError};

/// Turns each alert of the payload into a Hookline alert, naming every fault.
pub fn parse(body: &Value) -> Result<Vec<AlertInput>, ApiError> {
    let Value::Object(top) = body else {
        return Err(ApiError::field(
            "body",
            "must be an Alertmanager webhook payload (a JSON object)",
        ));
    };
    let mut errors = Vec::new();
    match top.get("version").and_then(Value::as_str) {
        Some("4") => {}
        _ => errors.push(FieldError::new(
            "version",
            "must be \"4\" (Alertmanager's webhook payload version)",
        )),
    }
    let receiver = top.get("receiver").and_then(Value::as_str).unwrap_or("");
    let group_key = top.get("groupKey").and_then(Value::as_str).unwrap_or("");
    let external_url = top.get("externalURL").and_then(Value::as_str).unwrap_or("");
    let items = match top.get("alerts") {
        Some(Value::Array(items)) if !items.is_empty() => items.as_slice(),
        Some(Value::Array(_)) => {
            errors.push(FieldError::new("alerts", "must not be empty"));
            &[]
        }
        _ => {
            errors.push(FieldError::new("alerts", "must be an array of alerts"));
            &[]
        }
    };
    let mut alerts = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match convert(item, receiver, group_key, external_url) {
            Ok(a) => alerts.push(a),
            Err(e) => errors.push(FieldError::new(format!("alerts[{i}]"), e)),
        }
    }
    if errors.is_empty() {
        Ok(alerts)
    } else {
        Err(ApiError::Validation(errors))
    }
}

fn string_map(value: Option<&Value>) -> Result<BTreeMap<String, String>, String> {
    match value {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v.as_str() {
                Some(s) => Ok((k.clone(), s.to_string())),
                None => Err(format!("label or annotation {k:?} must be a string")),
            })
            .collect(),
        Some(_) => Err("labels and annotations must be objects of strings".into()),
    }
}

fn convert(
    item: &Value,
    receiver: &str,
    group_key: &str,
    external_url: &str,
) -> Result<AlertInput, String> {
    let obj = item.as_object().ok_or("must be an object")?;
    let labels = string_map(obj.get("labels"))?;
    let annotations = string_map(obj.get("annotations"))?;
    let status: AlertStatus = obj
        .get("status")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .ok_or("status must be firing or resolved")?;
    let name = labels
        .get("alertname")
        .ok_or("labels.alertname is required")?;
    let message = annotations
        .get("description")
        .or_else(|| annotations.get("summary"))
        .or_else(|| annotations.get("message"))
        .cloned()
        .unwrap_or_else(|| format!("{name} is {status}"));
    let mut data = Map::new();
    data.insert(
        "annotations".into(),
        serde_json::to_value(&annotations).unwrap_or_default(),
    );
    for key in ["endsAt", "fingerprint", "generatorURL"] {
        if let Some(v) = obj.get(key) {
            data.insert(key.into(), v.clone());
        }
    }
    data.insert("groupKey".into(), group_key.into());
    data.insert("externalURL".into(), external_url.into());
    // Revalidate through the ordinary rules so an Alertmanager alert is no laxer.
    let mut candidate = serde_json::json!({
        "type": name,
        "message": message,
        "status": status.as_str(),
        "labels": labels,
        "source": {"id": obj.get("fingerprint").cloned().unwrap_or(Value::Null), "name": receiver, "kind": "alertmanager"},
        "data": data,
    });
    if let Some(title) = annotations
        .get("summary")
        .or_else(|| annotations.get("title"))
    {
        candidate["title"] = title.clone().into();
    }
    if let Some(sev) = labels.get("severity").and_then(|s| Severity::parse(s)) {
        candidate["severity"] = serde_json::to_value(sev).unwrap_or_default();
    }
    if let Some(url) = obj
        .get("generatorURL")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
    {
        candidate["url"] = url.into();
    }
    if let Some(started) = obj.get("startsAt").and_then(Value::as_str) {
        candidate["started_at"] = started.into();
    }
    // The annotation, or else the label; without either, the account's default applies.
    if let Some(after) =
        (annotations.get(ESCALATE_AFTER_LABEL)).or_else(|| labels.get(ESCALATE_AFTER_LABEL))
    {
        let seconds = escalate_after(after).map_err(|e| format!("{ESCALATE_AFTER_LABEL}: {e}"))?;
        candidate["escalate_after_seconds"] = seconds.into();
    }
    if candidate["source"]["id"].is_null() {
        candidate["source"].as_object_mut().map(|s| s.remove("id"));
    }
    candidate["dedup_key"] = match obj.get("fingerprint").and_then(Value::as_str) {
        Some(f) if !f.is_empty() => f.into(),
        // Alertmanager always sends one; a stand-in keys the alert by its labels the same way.
        _ => label_fingerprint(&labels).into(),
    };
    AlertInput::parse_at(&candidate, "").map_err(|errs| {
        errs.iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ")
    })
}

/// A key from the label set (sorted, as a BTreeMap iterates), for payloads without a
/// fingerprint.
fn label_fingerprint(labels: &BTreeMap<String, String>) -> String {
    use sha2::{Digest, Sha256};
    let text = serde_json::to_string(labels).unwrap_or_default();
    hex::encode(&Sha256::digest(text.as_bytes())[..8])
}
