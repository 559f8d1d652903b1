//! Delivery records: one item per delivery (an alert to one webhook) with its current
//! state, and one per attempt with the request and response as they were. The worker and
//! the test route build them with the same constructors.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{
    outcome::{DeliveryState, RecordedRequest, RecordedResponse, Sent, Trigger},
    retry::Decision,
};
use crate::event::EventType;

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
    /// The alert transition it delivers (none for a test delivery).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transition: Option<u32>,
    /// Sent before the previous transition's delivery to the webhook had finished, after
    /// waiting the bound of [`super::order::ORDER_BOUND`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub out_of_order: bool,
    /// The digest delivery that carried it, when it was digested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest_id: Option<String>,
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

impl Delivery {
    /// The fields a delivery may not have: an update of its item removes those it has not.
    pub const OPTIONAL: [&'static str; 6] = [
        "updated_at",
        "last_status_code",
        "last_error",
        "next_attempt_at",
        "transition",
        "out_of_order",
    ];

    /// A delivery no attempt has finished yet.
    pub fn pending(
        delivery_id: String,
        webhook_id: String,
        alert_id: String,
        event: EventType,
        trigger: Trigger,
        created_at: DateTime<Utc>,
        expires_at: i64,
    ) -> Self {
        Self {
            msg_id: msg_id(&delivery_id),
            delivery_id,
            webhook_id,
            alert_id,
            event,
            trigger,
            state: DeliveryState::Pending,
            attempt_count: 0,
            created_at,
            updated_at: None,
            last_status_code: None,
            last_error: None,
            next_attempt_at: None,
            expires_at,
            transition: None,
            out_of_order: false,
            digest_id: None,
        }
    }

    /// The delivery as `attempt`, finished at `at`, leaves it.
    pub fn after(&self, attempt: &AttemptRecord, at: DateTime<Utc>) -> Self {
        Self {
            state: attempt.state,
            attempt_count: attempt.attempt,
            updated_at: Some(at),
            last_status_code: attempt.response.as_ref().map(|r| r.status),
            last_error: attempt.error.clone(),
            next_attempt_at: attempt.next_attempt_at,
            ..self.clone()
        }
    }
}

/// Why a claim of an attempt was refused, as the delivery's stored record tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The attempt was made already; `unqueued` is when the next one is due if it was
    /// scheduled but may not have been queued.
    Made { unqueued: Option<DateTime<Utc>> },
    /// The delivery is over, and a scheduled attempt does not reopen it.
    Finished,
    /// Another worker holds the lease: try again later.
    Busy,
}

impl Delivery {
    /// What it means that a claim of attempt number `attempt`, by `trigger`, was refused.
    pub fn refusal(&self, attempt: u32, trigger: Trigger) -> Refusal {
        let scheduled = trigger == Trigger::Scheduled;
        if self.attempt_count >= attempt {
            let retrying = self.attempt_count == attempt && self.state == DeliveryState::Retrying;
            let unqueued = self.next_attempt_at.filter(|_| retrying && scheduled);
            return Refusal::Made { unqueued };
        }
        // A digested delivery is over too: a copy of its message that comes back (SQS
        // delivers at least once) must end, not wait for a lease no one holds.
        let finished = matches!(
            self.state,
            DeliveryState::Succeeded | DeliveryState::Failed | DeliveryState::Digested
        );
        if finished && scheduled {
            Refusal::Finished
        } else {
            Refusal::Busy
        }
    }
}

impl AttemptRecord {
    /// Attempt number `attempt` of `delivery`, started at `at`: what was sent, what came
    /// back, and what was decided.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        delivery: &Delivery,
        attempt: u32,
        trigger: Trigger,
        at: DateTime<Utc>,
        request: RecordedRequest,
        sent: &Sent,
        decision: &Decision,
        expires_at: i64,
    ) -> Self {
        Self {
            delivery_id: delivery.delivery_id.clone(),
            webhook_id: delivery.webhook_id.clone(),
            attempt,
            alert_id: delivery.alert_id.clone(),
            event: delivery.event,
            trigger,
            timestamp: at,
            request,
            response: sent.recorded_response(),
            duration_ms: sent.duration_ms,
            error: decision.error.clone(),
            next_attempt_at: decision.next_attempt_at,
            state: decision.state,
            expires_at,
        }
    }
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

/// A UUIDv7 of time `at` with the given random part.
pub fn uuid_at(at: DateTime<Utc>, random: &[u8; 10]) -> String {
    let millis = u64::try_from(at.timestamp_millis()).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(millis, random)
        .into_uuid()
        .to_string()
}

/// A UUIDv7 at `at` whose random part comes from `seed`: the same seed and time make the
/// same id (a notice's, a digest's), so a repeated run makes what it made before.
pub fn seeded_uuid(at: DateTime<Utc>, seed: &str) -> String {
    use sha2::{Digest, Sha256};
    let hash = Sha256::digest(seed.as_bytes());
    let mut bytes = [0u8; 10];
    bytes.copy_from_slice(&hash[..10]);
    uuid_at(at, &bytes)
}

/// The least UUIDv7 made at `at`: every id made then or later sorts at or after it, so a
/// time bounds a key range of ids.
pub fn uuid_floor(at: DateTime<Utc>) -> String {
    uuid_at(at, &[0; 10])
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
        use strum::VariantArray;
        assert_eq!(DeliveryState::VARIANTS.len(), 5);
        for s in ["pending", "retrying", "succeeded", "failed", "digested"] {
            assert_eq!(DeliveryState::parse(s).unwrap().as_str(), s);
        }
        assert!(DeliveryState::parse("done").is_none());
        assert_eq!(
            serde_json::to_string(&Trigger::Manual).unwrap(),
            "\"manual\""
        );
    }

    #[test]
    fn the_optional_fields_are_those_a_delivery_may_leave_out() {
        let at = Utc::now();
        let bare = Delivery::pending(
            "d".into(),
            "w".into(),
            "a".into(),
            EventType::AlertTriggered,
            Trigger::Scheduled,
            at,
            0,
        );
        let full = Delivery {
            updated_at: Some(at),
            last_status_code: Some(500),
            last_error: Some("e".into()),
            next_attempt_at: Some(at),
            transition: Some(1),
            out_of_order: true,
            ..bare.clone()
        };
        let keys = |d: &Delivery| -> std::collections::BTreeSet<String> {
            let value = serde_json::to_value(d).unwrap();
            value.as_object().unwrap().keys().cloned().collect()
        };
        let optional: std::collections::BTreeSet<String> =
            keys(&full).difference(&keys(&bare)).cloned().collect();
        let named: std::collections::BTreeSet<String> =
            Delivery::OPTIONAL.iter().map(|s| s.to_string()).collect();
        assert_eq!(optional, named);
    }

    #[test]
    fn what_a_refused_claim_means() {
        let at = Utc::now();
        let mut d = Delivery::pending(
            "d".into(),
            "w".into(),
            "a".into(),
            EventType::AlertTriggered,
            Trigger::Scheduled,
            at,
            0,
        );
        d.attempt_count = 2;
        d.state = DeliveryState::Retrying;
        d.next_attempt_at = Some(at);
        // Attempt 2 was made, and its follow-up may not have been queued.
        assert_eq!(
            d.refusal(2, Trigger::Scheduled),
            Refusal::Made { unqueued: Some(at) }
        );
        assert_eq!(
            d.refusal(1, Trigger::Scheduled),
            Refusal::Made { unqueued: None }
        );
        assert_eq!(
            d.refusal(2, Trigger::Manual),
            Refusal::Made { unqueued: None }
        );
        // Attempt 3 is not made yet: the lease is someone else's.
        assert_eq!(d.refusal(3, Trigger::Scheduled), Refusal::Busy);
        d.state = DeliveryState::Failed;
        assert_eq!(d.refusal(3, Trigger::Scheduled), Refusal::Finished);
        // A manual redelivery may follow a final state: only a lease refuses it.
        assert_eq!(d.refusal(3, Trigger::Manual), Refusal::Busy);
        // Put into a digest before any attempt of its own: a scheduled copy is done.
        d.attempt_count = 0;
        d.state = DeliveryState::Digested;
        assert_eq!(d.refusal(1, Trigger::Scheduled), Refusal::Finished);
    }
}
