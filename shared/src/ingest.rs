//! Alerts in: record the alert, find every enabled webhook that subscribes to it, and
//! queue one delivery per webhook.

use chrono::Utc;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{
    alert::{Alert, AlertInput},
    delivery::{
        payload::Payload,
        queue::{DeliveryMessage, Queue},
        record::{delivery_id, uuid_time, Trigger},
    },
    error::ApiError,
    metrics::Metrics,
    settings::DeliverySettings,
    store::{StoredAlert, Target},
    webhook::Webhook,
    Store,
};

/// How long an idempotency key (or `dedup_key`) holds.
pub const IDEMPOTENCY_WINDOW: chrono::Duration = chrono::Duration::hours(24);
pub const IDEMPOTENCY_KEY_MAX: usize = 256;

/// The answer to an accepted alert.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Accepted {
    pub alert_id: String,
    pub deliveries: u32,
}

/// What ingestion needs.
pub struct Ingest<'a> {
    pub store: &'a Store,
    pub queue: &'a Queue,
    pub settings: &'a DeliverySettings,
}

fn fingerprint(input: &AlertInput) -> String {
    let text = serde_json::to_string(input).unwrap_or_default();
    hex::encode(Sha256::digest(text.as_bytes()))
}

impl Ingest<'_> {
    /// Accepts one alert for `account_id`. With a key (the `Idempotency-Key` header, or
    /// else the alert's `dedup_key`), a repeat within 24 h answers as the first did and
    /// delivers nothing new.
    pub async fn accept(
        &self,
        account_id: &str,
        input: AlertInput,
        key: Option<&str>,
    ) -> Result<Accepted, ApiError> {
        let key = key.or(input.dedup_key.as_deref()).map(str::to_string);
        let mut alert_id = uuid::Uuid::now_v7().to_string();
        if let Some(key) = &key {
            let fingerprint = fingerprint(&input);
            let earlier = self
                .store
                .take_idempotency_key(
                    account_id,
                    key,
                    &fingerprint,
                    &alert_id,
                    Utc::now(),
                    IDEMPOTENCY_WINDOW,
                )
                .await?;
            if let Some(earlier) = earlier {
                if earlier.fingerprint != fingerprint {
                    return Err(ApiError::Conflict {
                        code: "idempotency_key_reused",
                        message: "this idempotency key (or dedup_key) was used in the last 24 hours for a different alert".into(),
                    });
                }
                alert_id = earlier.alert_id;
                // The first request recorded its alert and deliveries before queueing any:
                // queue them again, so that none is missed. A copy of one already queued
                // or made is turned away by its claim, and POSTs nothing.
                if let Some(stored) = self
                    .store
                    .get_alert(account_id, &alert_id, Utc::now())
                    .await?
                {
                    let ids: Vec<_> = stored
                        .targets
                        .iter()
                        .map(|t| (account_id, t.webhook_id.as_str()))
                        .collect();
                    let webhooks = self.store.get_webhook_configs(&ids).await?;
                    return self.enqueue(account_id, &stored, &webhooks).await;
                }
            }
        }
        // The id's own time: deliveries of a resumed ingest get the same ids.
        let received_at = uuid_time(&alert_id).unwrap_or_else(Utc::now);
        let alert = Alert::new(alert_id.clone(), input, received_at);
        let (event, alert_type) = (alert.event(), alert.input.alert_type.clone());
        let webhooks = self
            .store
            .all_webhooks(account_id, |w| {
                w.settings.enabled && w.subscribes_to(Some(&alert_type), Some(event))
            })
            .await?;
        // No delivery record yet: the first attempt's claim makes it (until then the alert
        // shows the delivery pending), which spares a write per delivery.
        let targets = webhooks
            .iter()
            .map(|w| Target {
                webhook_id: w.id.clone(),
                delivery_id: delivery_id(&alert_id, &w.id, received_at),
            })
            .collect();
        let stored = StoredAlert {
            alert,
            targets,
            expires_at: self.settings.expires_at(received_at),
        };
        self.store.put_alert(account_id, &stored).await?;
        self.enqueue(account_id, &stored, &webhooks).await
    }

    /// Queues a message for each delivery of the alert (to those of `webhooks` it targets).
    async fn enqueue(
        &self,
        account_id: &str,
        stored: &StoredAlert,
        webhooks: &[Webhook],
    ) -> Result<Accepted, ApiError> {
        let alert = &stored.alert;
        let event = alert.event();
        let alert_json =
            serde_json::to_value(alert).map_err(|e| ApiError::Internal(e.to_string()))?;
        let messages: Vec<DeliveryMessage> = stored
            .targets
            .iter()
            .filter_map(|t| {
                let webhook = webhooks.iter().find(|w| w.id == t.webhook_id)?;
                Some(DeliveryMessage {
                    account_id: account_id.to_string(),
                    webhook_id: t.webhook_id.clone(),
                    delivery_id: t.delivery_id.clone(),
                    alert_id: alert.id.clone(),
                    event,
                    attempt: 1,
                    trigger: Trigger::Scheduled,
                    payload: Payload::new(event, &alert_json, webhook, alert.received_at).to_raw(),
                    not_before: None,
                })
            })
            .collect();
        let queued = self.queue.send_all(&messages).await;
        let sent = queued.iter().filter(|q| **q).count();
        let mut metrics = Metrics::new("ingest");
        metrics.count("FanOut", sent);
        metrics.property("alert_id", alert.id.clone().into());
        metrics.emit(Utc::now());
        tracing::info!(account = %account_id, alert = %alert.id, matched = messages.len(), queued = sent, "alert accepted");
        if sent < messages.len() {
            return Err(ApiError::NotQueued {
                queued: sent,
                total: messages.len(),
            });
        }
        Ok(Accepted {
            alert_id: alert.id.clone(),
            deliveries: u32::try_from(sent).unwrap_or(u32::MAX),
        })
    }
}

/// Checks an `Idempotency-Key` header value.
pub fn idempotency_key(raw: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(raw) = raw else { return Ok(None) };
    let key = raw.trim();
    if key.is_empty() || key.len() > IDEMPOTENCY_KEY_MAX || key.chars().any(|c| c.is_control()) {
        return Err(ApiError::field(
            "Idempotency-Key",
            format!("must be 1 to {IDEMPOTENCY_KEY_MAX} printable characters"),
        ));
    }
    Ok(Some(key.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_ids_carry_their_time() {
        let before = Utc::now() - chrono::Duration::milliseconds(2);
        let id = uuid::Uuid::now_v7().to_string();
        let t = uuid_time(&id).unwrap();
        assert!(t >= before && t <= Utc::now());
        assert_eq!(uuid_time("nope"), None);
    }

    #[test]
    fn fingerprints_follow_content() {
        let a = AlertInput::parse(&serde_json::json!({"type": "t", "message": "m"})).unwrap();
        let mut b = a.clone();
        assert_eq!(fingerprint(&a), fingerprint(&b));
        b.message = "other".into();
        assert_ne!(fingerprint(&a), fingerprint(&b));
    }

    #[test]
    fn idempotency_keys_are_checked() {
        assert_eq!(idempotency_key(None).unwrap(), None);
        assert_eq!(
            idempotency_key(Some(" k1 ")).unwrap().as_deref(),
            Some("k1")
        );
        assert!(idempotency_key(Some("")).is_err());
        assert!(idempotency_key(Some(&"k".repeat(300))).is_err());
    }
}
