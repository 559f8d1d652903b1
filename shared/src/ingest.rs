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
        record::{delivery_id, uuid_time, Delivery, Trigger},
    },
    error::ApiError,
    metrics::Metrics,
    settings::DeliverySettings,
    store::{IdempotencyRecord, StoredAlert, Target},
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

/// What a key's earlier use means for a request with `fingerprint`.
enum Repeat {
    /// An earlier request with the key did not finish: finish it, with its alert id.
    Unfinished { alert_id: String },
    /// Done before: answer as then.
    Done(Accepted),
    /// The key was used for a different alert.
    Conflict,
}

impl Repeat {
    fn of(earlier: IdempotencyRecord, fingerprint: &str) -> Self {
        match earlier.deliveries {
            _ if earlier.fingerprint != fingerprint => Self::Conflict,
            Some(deliveries) => Self::Done(Accepted {
                alert_id: earlier.alert_id,
                deliveries,
            }),
            None => Self::Unfinished {
                alert_id: earlier.alert_id,
            },
        }
    }
}

impl Ingest<'_> {
    /// Accepts one alert for `account_id`. With a key (the `Idempotency-Key` header, or
    /// else the alert's `dedup_key`), a repeat within 24 h answers as the first did.
    pub async fn accept(
        &self,
        account_id: &str,
        input: AlertInput,
        key: Option<&str>,
    ) -> Result<Accepted, ApiError> {
        let key = key.or(input.dedup_key.as_deref()).map(str::to_string);
        let mut alert_id = uuid::Uuid::now_v7().to_string();
        let mut resumed = false;
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
            match earlier.map(|e| Repeat::of(e, &fingerprint)) {
                None => {}
                Some(Repeat::Done(accepted)) => return Ok(accepted),
                Some(Repeat::Unfinished { alert_id: earlier }) => {
                    alert_id = earlier;
                    resumed = true;
                }
                Some(Repeat::Conflict) => {
                    return Err(ApiError::Conflict {
                        code: "idempotency_key_reused",
                        message: "this idempotency key (or dedup_key) was used in the last 24 hours for a different alert".into(),
                    })
                }
            }
        }
        // The id's own time: deliveries of a resumed ingest get the same ids.
        let received_at = uuid_time(&alert_id).unwrap_or_else(Utc::now);
        let alert = Alert::new(alert_id.clone(), input, received_at);
        let event = alert.event();
        let alert_type = alert.input.alert_type.clone();
        let webhooks = self
            .store
            .all_webhooks(account_id, |w| {
                w.settings.enabled && w.subscribes_to(Some(&alert_type), Some(event))
            })
            .await?;

        let alert_json =
            serde_json::to_value(&alert).map_err(|e| ApiError::Internal(e.to_string()))?;
        let expires_at = self.settings.expires_at(received_at);
        let mut deliveries = Vec::with_capacity(webhooks.len());
        let mut messages = Vec::with_capacity(webhooks.len());
        for webhook in &webhooks {
            let id = delivery_id(&alert_id, &webhook.id, received_at);
            let payload = Payload::new(event, &alert_json, webhook, received_at).to_raw();
            messages.push(DeliveryMessage {
                account_id: account_id.to_string(),
                webhook_id: webhook.id.clone(),
                webhook_version: webhook.version,
                delivery_id: id.clone(),
                alert_id: alert_id.clone(),
                event,
                attempt: 1,
                trigger: Trigger::Scheduled,
                payload,
                not_before: None,
            });
            deliveries.push(Delivery::pending(
                id,
                webhook.id.clone(),
                alert_id.clone(),
                event,
                Trigger::Scheduled,
                received_at,
                expires_at,
            ));
        }
        let targets = deliveries
            .iter()
            .map(|d| Target {
                webhook_id: d.webhook_id.clone(),
                delivery_id: d.delivery_id.clone(),
            })
            .collect();
        self.store
            .put_alert(
                account_id,
                &StoredAlert {
                    alert,
                    targets,
                    expires_at,
                },
            )
            .await?;
        // A resumed ingest must not reset deliveries an earlier run already made: the
        // deliver function creates any missing record when it claims the attempt.
        if !resumed {
            self.store
                .put_pending_deliveries(account_id, &deliveries)
                .await?;
        }
        let queued = self.queue.send_all(&messages).await;
        let sent = queued.iter().filter(|q| **q).count();
        let mut metrics = Metrics::new("ingest");
        metrics.count("FanOut", sent);
        metrics.property("alert_id", alert_id.clone().into());
        metrics.emit(Utc::now());
        tracing::info!(account = %account_id, alert = %alert_id, matched = messages.len(), queued = sent, "alert accepted");
        if sent < messages.len() {
            return Err(ApiError::NotQueued {
                queued: sent,
                total: messages.len(),
            });
        }
        let deliveries = u32::try_from(sent).unwrap_or(u32::MAX);
        if let Some(key) = &key {
            self.store
                .finish_idempotent(account_id, key, deliveries)
                .await?;
        }
        Ok(Accepted {
            alert_id,
            deliveries,
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
