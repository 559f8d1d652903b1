//! Another attempt at a delivery that already ended: the redeliver route, and bulk
//! recovery. The payload is rebuilt from what the delivery carried: its alert as its
//! transition left it, or its stored operational event.

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;

use super::{message::DeliveryMessage, outcome::Trigger, payload::Payload, record::Delivery};
use crate::{auth::Access, event::EventType, store::StoreError, webhook::Webhook, Store};

/// The standard payload `delivery` sends, as a caller with `access` sees it (a reader's
/// has the alert's links and the subject webhook's URL masked; what is sent has neither
/// masked), or `None` when what it was built from has expired from the log.
pub async fn payload_of(
    store: &Store,
    webhook: &Webhook,
    delivery: &Delivery,
    access: Access,
    now: DateTime<Utc>,
) -> Result<Option<Box<RawValue>>, StoreError> {
    let account = &webhook.account_id;
    let corrupt = |e: serde_json::Error| StoreError::Corrupt(e.to_string());
    if delivery.event.is_operational() {
        let Some(notice) = store.get_notice(account, &delivery.alert_id, now).await? else {
            return Ok(None);
        };
        if access == Access::Read {
            let mut payload: serde_json::Value =
                serde_json::from_str(&notice.payload).map_err(corrupt)?;
            if let Some(url) = payload.pointer_mut("/data/webhook/url") {
                *url = crate::mask::url(url.as_str().unwrap_or_default()).into();
            }
            return serde_json::value::to_raw_value(&payload)
                .map(Some)
                .map_err(corrupt);
        }
        return RawValue::from_string(notice.payload)
            .map(Some)
            .map_err(corrupt);
    }
    if delivery.event == EventType::AlertDigest {
        let id = &delivery.delivery_id;
        let Some(mut closed) = store.closed_digest(account, &webhook.id, id).await? else {
            return Ok(None);
        };
        // A reader sees no action links, as in an alert's own payload.
        if access == Access::Read {
            closed
                .members
                .iter_mut()
                .for_each(|m| m.links = serde_json::Value::Null);
        }
        let payload = super::digest::payload_of(id, account, &closed);
        return serde_json::value::to_raw_value(&payload)
            .map(Some)
            .map_err(corrupt);
    }
    let found = match delivery.transition {
        // Only the test route raises alert.test; its alert is kept apart.
        _ if delivery.event == EventType::AlertTest => store
            .get_test_alert(account, &delivery.alert_id, now)
            .await?
            .map(|s| (s.alert, s.links)),
        Some(n) => store.alert_at(account, &delivery.alert_id, n, now).await?,
        None => store
            .get_alert(account, &delivery.alert_id, now)
            .await?
            .map(|s| (s.alert, s.links)),
    };
    let Some((alert, links)) = found else {
        return Ok(None);
    };
    let alert = store
        .with_links(account, alert, links.as_ref())
        .await?
        .shown(access);
    let entry = delivery
        .transition
        .and_then(|n| alert.timeline.iter().find(|t| t.transition == n));
    let at = entry.map_or(alert.received_at, |t| t.at);
    let json = serde_json::to_value(&alert).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(Some(
        Payload::new(delivery.event, &json, entry, webhook, at).to_raw(),
    ))
}

/// The message for a manual attempt: the next attempt number, the same `webhook-id`, at
/// once (a redelivery does not wait for earlier transitions).
pub fn message(webhook: &Webhook, delivery: &Delivery, payload: Box<RawValue>) -> DeliveryMessage {
    DeliveryMessage {
        account_id: webhook.account_id.clone(),
        webhook_id: webhook.id.clone(),
        delivery_id: delivery.delivery_id.clone(),
        alert_id: delivery.alert_id.clone(),
        event: delivery.event,
        attempt: delivery.attempt_count + 1,
        trigger: Trigger::Manual,
        payload,
        not_before: None,
        transition: delivery.transition,
        waits_for: None,
        out_of_order: delivery.out_of_order,
        // A redelivery is asked for: it is made whatever the condition said.
        condition_error: None,
        slot: None,
    }
}
