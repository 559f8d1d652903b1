//! Operational events, as Svix and Outpost send them: `webhook.disabled`,
//! `delivery.exhausted` and `webhook.recovered`. Each is stored once (so the delivery log
//! and redelivery can rebuild it) and fanned out to the account's other webhooks that name
//! it in `events`, signed and recorded like any delivery.
//!
//! Never to the webhook it is about, and never about a delivery of an operational event:
//! two failing webhooks subscribed to `delivery.exhausted` would otherwise tell each other
//! about each other's exhausted notices for ever.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, value::RawValue, Value};

use super::{
    outcome::Trigger,
    queue::{DeliveryMessage, Queue},
    record::{seeded_uuid, Delivery},
};
use crate::{event::EventType, store::StoreError, webhook::Webhook, Store};

/// Failures in a row that make a later success worth a `webhook.recovered`.
pub const RECOVERED_AFTER: u32 = 3;

/// What happened, about which webhook.
#[derive(Debug)]
pub enum Notice<'a> {
    Disabled {
        webhook: &'a Webhook,
        reason: &'a str,
    },
    Exhausted {
        webhook: &'a Webhook,
        delivery: &'a Delivery,
    },
    Recovered {
        webhook: &'a Webhook,
        failures: u32,
        failing_since: DateTime<Utc>,
    },
    /// Its receiver asked for a pause: its deliveries wait until then.
    Paused {
        webhook: &'a Webhook,
        until: DateTime<Utc>,
    },
    /// A delivery succeeded after a pause.
    Resumed {
        webhook: &'a Webhook,
        paused_until: DateTime<Utc>,
    },
}

/// An operational event as stored: its payload, for the delivery log and redelivery.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredNotice {
    pub id: String,
    pub event: EventType,
    /// The Standard Webhooks payload's JSON.
    pub payload: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: i64,
}

impl Notice<'_> {
    pub fn event(&self) -> EventType {
        match self {
            Self::Disabled { .. } => EventType::WebhookDisabled,
            Self::Exhausted { .. } => EventType::DeliveryExhausted,
            Self::Recovered { .. } => EventType::WebhookRecovered,
            Self::Paused { .. } => EventType::WebhookPaused,
            Self::Resumed { .. } => EventType::WebhookResumed,
        }
    }

    fn subject(&self) -> &Webhook {
        match self {
            Self::Disabled { webhook, .. }
            | Self::Exhausted { webhook, .. }
            | Self::Recovered { webhook, .. }
            | Self::Paused { webhook, .. }
            | Self::Resumed { webhook, .. } => webhook,
        }
    }

    /// What makes this notice one and the same however often it is built: its id comes
    /// from it, so a repeated fan-out queues the same deliveries, which are attempted once.
    fn identity(&self) -> String {
        match self {
            Self::Disabled { webhook, .. } => {
                format!("disabled/{}/{}", webhook.id, webhook.version)
            }
            Self::Exhausted { delivery, .. } => format!("exhausted/{}", delivery.delivery_id),
            Self::Recovered {
                webhook,
                failing_since,
                ..
            } => format!(
                "recovered/{}/{}",
                webhook.id,
                failing_since.timestamp_millis()
            ),
            Self::Paused { webhook, until } => {
                format!("paused/{}/{}", webhook.id, until.timestamp_millis())
            }
            Self::Resumed {
                webhook,
                paused_until,
            } => format!("resumed/{}/{}", webhook.id, paused_until.timestamp_millis()),
        }
    }

    /// The payload: `{"type", "timestamp", "data": {"webhook", "account", ...}}`, where
    /// `data.webhook` is the webhook the event is about.
    pub fn payload(&self, at: DateTime<Utc>) -> Value {
        let subject = self.subject();
        let webhook = json!({
            "id": subject.id,
            "name": subject.settings.name,
            "url": subject.settings.url,
        });
        let mut data = json!({
            "webhook": webhook,
            "account": {"id": subject.account_id},
        });
        match self {
            Self::Disabled { reason, .. } => data["reason"] = json!(reason),
            Self::Exhausted { delivery, .. } => {
                data["delivery"] = json!({
                    "id": delivery.delivery_id,
                    "alert_id": delivery.alert_id,
                    "event": delivery.event,
                    "attempts": delivery.attempt_count,
                    "last_status_code": delivery.last_status_code,
                    "last_error": delivery.last_error,
                });
            }
            Self::Recovered {
                failures,
                failing_since,
                ..
            } => {
                data["failures"] = json!(failures);
                data["failing_since"] = json!(failing_since);
            }
            Self::Paused { until, .. } => data["paused_until"] = json!(until),
            Self::Resumed { paused_until, .. } => data["paused_until"] = json!(paused_until),
        }
        json!({
            "type": self.event(),
            "timestamp": at.to_rfc3339_opts(SecondsFormat::Secs, true),
            "data": data,
        })
    }
}

/// Whether `webhook` is to be told of `event` about `subject`.
pub fn wants(webhook: &Webhook, event: EventType, subject: &str) -> bool {
    webhook.id != subject
        && webhook.settings.enabled
        && webhook.settings.events.contains(&event)
        && webhook.settings.format.carries(event)
}

/// Whether a failure streak that a success just ended deserves a `webhook.recovered`.
pub fn recovered(ended_failures: u32) -> bool {
    ended_failures >= RECOVERED_AFTER
}

/// Stores the notice and queues it to every webhook of the account that wants it.
/// Returns how many deliveries were queued.
pub async fn announce(
    store: &Store,
    queue: &Queue,
    notice: &Notice<'_>,
    at: DateTime<Utc>,
    expires_at: i64,
) -> Result<usize, StoreError> {
    let subject = notice.subject();
    let event = notice.event();
    let account = &subject.account_id;
    let targets = store
        .all_webhooks(account, |w| wants(w, event, &subject.id))
        .await?;
    if targets.is_empty() {
        return Ok(0);
    }
    let id = seeded_uuid(at, &notice.identity());
    let payload = notice.payload(at).to_string();
    store
        .put_notice(
            account,
            &StoredNotice {
                id: id.clone(),
                event,
                payload: payload.clone(),
                created_at: at,
                expires_at,
            },
        )
        .await?;
    let raw = RawValue::from_string(payload).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let messages: Vec<_> = targets
        .iter()
        .map(|w| DeliveryMessage {
            account_id: account.clone(),
            webhook_id: w.id.clone(),
            delivery_id: seeded_uuid(at, &format!("{id}/{}", w.id)),
            alert_id: id.clone(),
            event,
            attempt: 1,
            trigger: Trigger::Scheduled,
            payload: raw.clone(),
            not_before: None,
            transition: None,
            waits_for: None,
            out_of_order: false,
            condition_error: None,
            slot: None,
        })
        .collect();
    let sent = queue.send_all(&messages).await;
    let queued = sent.iter().filter(|ok| **ok).count();
    if queued < messages.len() {
        tracing::error!(account = %account, event = %event, lost = messages.len() - queued, "some operational event deliveries could not be queued");
    }
    tracing::info!(account = %account, webhook = %subject.id, event = %event, queued, "operational event announced");
    Ok(queued)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::WebhookSettings;

    fn webhook(id: &str, events: &[EventType]) -> Webhook {
        let settings = WebhookSettings::parse(&json!({
            "name": "n", "url": "https://example.com/h",
            "events": events,
        }))
        .unwrap();
        let mut w = Webhook::new("acct", settings, "whsec_x".into(), Utc::now());
        w.id = id.into();
        w
    }

    #[test]
    fn only_explicit_subscribers_other_than_the_subject_get_notices() {
        let subject = "w1";
        let all = webhook("w2", &[]);
        let named = webhook("w3", &[EventType::WebhookDisabled]);
        let itself = webhook(subject, &[EventType::WebhookDisabled]);
        assert!(!wants(&all, EventType::WebhookDisabled, subject));
        assert!(wants(&named, EventType::WebhookDisabled, subject));
        assert!(!wants(&named, EventType::DeliveryExhausted, subject));
        assert!(!wants(&itself, EventType::WebhookDisabled, subject));
        let mut off = named.clone();
        off.settings.enabled = false;
        assert!(!wants(&off, EventType::WebhookDisabled, subject));
        // An empty `events` still means every alert event.
        assert!(all.subscribes_to(None, Some(EventType::AlertResolved)));
    }

    #[test]
    fn ids_are_stable_per_notice_and_time_ordered() {
        let w = webhook("w1", &[]);
        let at = Utc::now();
        let a = Notice::Disabled {
            webhook: &w,
            reason: "gone",
        };
        assert_eq!(
            seeded_uuid(at, &a.identity()),
            seeded_uuid(at, &a.identity())
        );
        let later = at + chrono::Duration::seconds(1);
        assert!(seeded_uuid(at, "x") < seeded_uuid(later, "x"));
        assert_ne!(seeded_uuid(at, "x"), seeded_uuid(at, "y"));
        let payload = a.payload(at);
        assert_eq!(payload["type"], "webhook.disabled");
        assert_eq!(payload["data"]["reason"], "gone");
        assert_eq!(payload["data"]["webhook"]["id"], "w1");
    }

    #[test]
    fn recovery_needs_a_streak() {
        assert!(!recovered(0));
        assert!(!recovered(RECOVERED_AFTER - 1));
        assert!(recovered(RECOVERED_AFTER));
    }
}
