//! What the delivery queue carries: attempts, alert timers and recovery pages, each as
//! the deliver function receives it. Kept apart from the queue that sends them, so that
//! what builds a message (fan-out, redelivery, recovery) needs no queue.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{
    outcome::Trigger,
    record::{uuid_time, Delivery},
    render::RenderError,
};
use crate::{alert::lifecycle::Timer, event::EventType};

/// One attempt to make, as the deliver function receives it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeliveryMessage {
    pub account_id: String,
    pub webhook_id: String,
    pub delivery_id: String,
    pub alert_id: String,
    pub event: EventType,
    pub attempt: u32,
    pub trigger: Trigger,
    /// The body to send, rendered once so that every attempt sends the same bytes. It is
    /// JSON, and travels as JSON rather than as an escaped string, which could double it.
    pub payload: Box<RawValue>,
    /// Not to be attempted before this time (for delays longer than SQS allows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<DateTime<Utc>>,
    /// The alert transition this delivers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transition: Option<u32>,
    /// The delivery of the alert's previous transition to the same webhook: this one
    /// waits until that one is finished (see [`super::order`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waits_for: Option<String>,
    /// Its first attempt went before `waits_for` had finished (and so do its retries).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub out_of_order: bool,
    /// The webhook's condition could not be judged at fan-out: the attempt fails with
    /// this, sending nothing (see [`crate::webhook::condition`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition_error: Option<RenderError>,
    /// The send time the webhook's rate limit granted it (see [`super::pace`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<DateTime<Utc>>,
}

/// An alert timer: at `not_before`, the escalation or the end of a silence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimerMessage {
    pub account_id: String,
    pub alert_id: String,
    #[serde(flatten)]
    pub timer: Timer,
    pub not_before: DateTime<Utc>,
}

/// What the delivery queue carries: attempts, and alert timers (which cost nothing while
/// they wait: a delayed message, then a message held out of sight).
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)] // one per received message
pub enum QueueMessage {
    Timer(TimerMessage),
    Delivery(DeliveryMessage),
    /// The next page of a bulk recovery.
    Recovery(RecoveryMessage),
}

impl QueueMessage {
    /// A message body: a timer names its `timer`, a recovery page its `recovery`; anything
    /// else must be an attempt. (Not serde's untagged enum: it buffers values, which a
    /// RawValue payload cannot come from.)
    pub fn parse(body: &str) -> Result<Self, serde_json::Error> {
        #[derive(Deserialize)]
        struct Kind {
            #[serde(default)]
            timer: Option<serde::de::IgnoredAny>,
            #[serde(default)]
            recovery: Option<serde::de::IgnoredAny>,
        }
        let kind = serde_json::from_str::<Kind>(body)?;
        if kind.timer.is_some() {
            serde_json::from_str(body).map(Self::Timer)
        } else if kind.recovery.is_some() {
            serde_json::from_str(body).map(Self::Recovery)
        } else {
            serde_json::from_str(body).map(Self::Delivery)
        }
    }
}

impl DeliveryMessage {
    /// The Standard Webhooks payload's JSON, which the attempt renders. (A message queued
    /// before the payload travelled as JSON carries it as a string: its contents.)
    pub fn payload_json(&self) -> std::borrow::Cow<'_, str> {
        let raw = self.payload.get();
        match serde_json::from_str::<String>(raw) {
            Ok(legacy) if raw.starts_with('"') => legacy.into(),
            _ => raw.into(),
        }
    }

    /// The delivery this message attempts, as it stood before the attempt.
    pub fn delivery(&self, now: DateTime<Utc>, expires_at: i64) -> Delivery {
        let mut delivery = Delivery::pending(
            self.delivery_id.clone(),
            self.webhook_id.clone(),
            self.alert_id.clone(),
            self.event,
            self.trigger,
            uuid_time(&self.delivery_id).unwrap_or(now),
            expires_at,
        );
        delivery.attempt_count = self.attempt.saturating_sub(1);
        delivery.transition = self.transition;
        delivery.out_of_order = self.out_of_order;
        delivery
    }

    /// The message for the next scheduled attempt, due at `at`.
    pub fn next(&self, at: DateTime<Utc>) -> Self {
        Self {
            attempt: self.attempt + 1,
            trigger: Trigger::Scheduled,
            not_before: Some(at),
            slot: None,
            ..self.clone()
        }
    }
}

/// The queue message that carries a recovery on to its next page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecoveryMessage {
    pub recovery: RecoveryRef,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecoveryRef {
    pub account_id: String,
    pub webhook_id: String,
    pub id: String,
}
