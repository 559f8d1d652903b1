//! Delivery records: one item per delivery (an alert to one webhook) with its current
//! state, and one per attempt with the request and response as they were.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::EventType;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Queued; no attempt has finished.
    Pending,
    /// An attempt failed and another is scheduled.
    Retrying,
    Succeeded,
    /// Failed for good: a non-retryable answer, a refusal, or retries exhausted.
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Retrying => "retrying",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Pending, Self::Retrying, Self::Succeeded, Self::Failed]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

/// What caused an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    /// Fan-out and the retry schedule.
    Scheduled,
    /// `POST .../redeliver`.
    Manual,
    /// `POST /webhooks/{id}/test`.
    Test,
}

/// An alert sent to one webhook, across all its attempts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub delivery_id: String,
    pub webhook_id: String,
    pub alert_id: String,
    pub event: EventType,
    pub trigger: Trigger,
    /// The `webhook-id` header: the same on every attempt.
    pub msg_id: String,
    pub state: DeliveryState,
    #[serde(default)]
    pub attempt_count: u32,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status_code: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Unix seconds after which DynamoDB's TTL may remove the record.
    pub expires_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedRequest {
    pub url: String,
    pub method: String,
    /// Values of custom headers and of Authorization are masked.
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedResponse {
    pub status: u16,
    /// At most 16 KiB.
    pub body: String,
}

/// One HTTP attempt of a delivery.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    pub delivery_id: String,
    pub webhook_id: String,
    pub attempt: u32,
    pub alert_id: String,
    pub event: EventType,
    pub trigger: Trigger,
    pub timestamp: DateTime<Utc>,
    pub request: RecordedRequest,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<RecordedResponse>,
    pub duration_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The delivery's state once this attempt was done.
    pub state: DeliveryState,
    pub expires_at: i64,
}

/// A delivery id that is the same for the same alert and webhook (so a repeated fan-out
/// cannot create a second delivery) and sorts by the alert's time (so lists come newest
/// first).
pub fn delivery_id(alert_id: &str, webhook_id: &str, at: DateTime<Utc>) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{alert_id}/{webhook_id}").as_bytes());
    let mut random = [0u8; 10];
    random.copy_from_slice(&digest[..10]);
    let millis = u64::try_from(at.timestamp_millis()).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(millis, &random)
        .into_uuid()
        .to_string()
}

/// The time inside a UUIDv7 (alert and delivery ids carry their creation time).
pub fn uuid_time(id: &str) -> Option<DateTime<Utc>> {
    use chrono::TimeZone;
    let (secs, nanos) = uuid::Uuid::parse_str(id).ok()?.get_timestamp()?.to_unix();
    Utc.timestamp_opt(i64::try_from(secs).ok()?, nanos).single()
}

/// The `webhook-id` header of a delivery.
pub fn msg_id(delivery_id: &str) -> String {
    format!("msg_{}", delivery_id.replace('-', ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_ids_are_stable_and_time_ordered() {
        let t1 = Utc::now();
        let t2 = t1 + chrono::Duration::seconds(1);
        let a = delivery_id("alert1", "hook1", t1);
        assert_eq!(a, delivery_id("alert1", "hook1", t1));
        assert_ne!(a, delivery_id("alert1", "hook2", t1));
        assert!(delivery_id("alert2", "hook1", t2) > a);
        assert!(uuid::Uuid::parse_str(&a).is_ok());
        assert_eq!(msg_id(&a).len(), 36);
    }

    #[test]
    fn states_parse() {
        for s in ["pending", "retrying", "succeeded", "failed"] {
            assert_eq!(DeliveryState::parse(s).unwrap().as_str(), s);
        }
        assert!(DeliveryState::parse("done").is_none());
    }
}
