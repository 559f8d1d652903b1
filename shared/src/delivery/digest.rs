//! Digests: when a limited webhook's queue grows longer than its `digest_after_seconds`,
//! the alerts that would wait go out together as one `alert.digest` (see
//! [`super::pace::plan`]). A digest collects its members until its granted send time,
//! then closes, and is sent like any delivery: signed, retried, recorded. Each member's
//! own delivery is recorded `digested`, with the digest's id.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{message::DeliveryMessage, outcome::DeliveryState, record::Delivery};
use crate::{event::EventType, store::ClosedDigest};

/// How many of its alerts a digest shows in full; it counts the rest.
pub const SHOWN: usize = 10;

/// An alert transition that went into a digest, as the digest shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub delivery_id: String,
    pub alert_id: String,
    pub event: EventType,
    #[serde(rename = "type")]
    pub alert_type: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Its action links (acknowledge, resolve...), as its own delivery would have shown.
    #[serde(default)]
    pub links: Value,
}

impl Member {
    /// The member a delivery message makes, from the alert its payload carries.
    pub fn of(msg: &DeliveryMessage) -> Self {
        let payload: Value = serde_json::from_str(&msg.payload_json()).unwrap_or_default();
        let alert = &payload["data"]["alert"];
        let text = |name: &str| alert[name].as_str().map(str::to_string);
        let alert_type = text("type").unwrap_or_default();
        Self {
            delivery_id: msg.delivery_id.clone(),
            alert_id: msg.alert_id.clone(),
            event: msg.event,
            title: text("title").unwrap_or_else(|| alert_type.clone()),
            alert_type,
            severity: text("severity"),
            state: text("state"),
            links: alert.get("links").cloned().unwrap_or(Value::Null),
        }
    }
}

/// The delivery record of a member: digested into `digest_id`.
pub fn digested(mut delivery: Delivery, digest_id: &str, at: DateTime<Utc>) -> Delivery {
    delivery.state = DeliveryState::Digested;
    delivery.digest_id = Some(digest_id.to_string());
    delivery.updated_at = Some(at);
    delivery
}

/// A digest's counts as stored: by event and by severity.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    pub total: u64,
    pub by_event: BTreeMap<String, u64>,
    pub by_severity: BTreeMap<String, u64>,
}

impl Counts {
    pub fn of(members: &[Member]) -> Self {
        let mut counts = Self::default();
        for m in members {
            counts.total += 1;
            *counts.by_event.entry(m.event.as_str().into()).or_default() += 1;
            let severity = m.severity.clone().unwrap_or_else(|| "none".into());
            *counts.by_severity.entry(severity).or_default() += 1;
        }
        counts
    }
}

/// The message that sends digest `id` of a webhook at its granted time `at`. Its payload
/// is made when it is sent, once the digest is closed (see [`payload`]).
pub fn message(account_id: &str, webhook_id: &str, id: &str, at: DateTime<Utc>) -> DeliveryMessage {
    DeliveryMessage {
        account_id: account_id.to_string(),
        webhook_id: webhook_id.to_string(),
        delivery_id: id.to_string(),
        alert_id: id.to_string(),
        event: EventType::AlertDigest,
        attempt: 1,
        trigger: super::outcome::Trigger::Scheduled,
        payload: serde_json::value::to_raw_value(&json!({})).expect("an empty object"),
        not_before: Some(at),
        transition: None,
        waits_for: None,
        out_of_order: false,
        condition_error: None,
        slot: Some(at),
    }
}

/// The payload of a digest as it was sent (see [`payload`]).
pub fn payload_of(id: &str, account_id: &str, closed: &ClosedDigest) -> Value {
    let counts = Counts::of(&closed.members);
    payload(
        id,
        account_id,
        &counts,
        &closed.members,
        closed.url.clone(),
        closed.closed_at,
    )
}

/// The Standard Webhooks payload of a digest: its counts, the first [`SHOWN`] members
/// in full, how many are left out, and where the portal lists them all.
pub fn payload(
    id: &str,
    account_id: &str,
    counts: &Counts,
    shown: &[Member],
    portal: Option<String>,
    closed_at: DateTime<Utc>,
) -> Value {
    let shown: Vec<&Member> = shown.iter().take(SHOWN).collect();
    let left_out = counts.total.saturating_sub(shown.len() as u64);
    json!({
        "type": EventType::AlertDigest,
        "timestamp": closed_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        "data": {
            "digest": {
                "id": id,
                "count": counts.total,
                "by_event": counts.by_event,
                "by_severity": counts.by_severity,
                "alerts": shown,
                "left_out": left_out,
                "url": portal,
            },
            "account": {"id": account_id},
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(i: usize, event: EventType, severity: Option<&str>) -> Member {
        Member {
            delivery_id: format!("d{i}"),
            alert_id: format!("a{i}"),
            event,
            alert_type: "disk".into(),
            title: format!("disk {i}"),
            severity: severity.map(str::to_string),
            state: None,
            links: Value::Null,
        }
    }

    #[test]
    fn a_digest_counts_every_member_and_shows_the_first_ten() {
        let mut members: Vec<Member> = (0..12)
            .map(|i| member(i, EventType::AlertTriggered, Some("warning")))
            .collect();
        members.push(member(12, EventType::AlertResolved, None));
        let counts = Counts::of(&members);
        assert_eq!(counts.total, 13);
        assert_eq!(counts.by_event["alert.triggered"], 12);
        assert_eq!(counts.by_event["alert.resolved"], 1);
        assert_eq!(counts.by_severity["warning"], 12);
        assert_eq!(counts.by_severity["none"], 1);
        let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let p = payload(
            "dg",
            "acct",
            &counts,
            &members,
            Some("https://x/p".into()),
            at,
        );
        assert_eq!(p["type"], "alert.digest");
        let digest = &p["data"]["digest"];
        assert_eq!(digest["count"], 13);
        assert_eq!(digest["alerts"].as_array().unwrap().len(), SHOWN);
        assert_eq!(digest["left_out"], 3);
        assert_eq!(digest["alerts"][0]["type"], "disk");
        assert_eq!(digest["alerts"][0]["title"], "disk 0");
        assert_eq!(digest["url"], "https://x/p");
    }
}
