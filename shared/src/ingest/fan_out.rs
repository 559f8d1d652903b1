//! A transition fanned out: the webhooks that want it (their conditions judged in the
//! sandbox), one delivery each, queued behind the previous transition's delivery to the
//! same webhook.

use std::collections::HashMap;

use super::*;

impl Ingest<'_> {
    /// The webhooks of `matched` whose condition passes for transition `m` of `alert`
    /// (see [`crate::webhook::condition`]), and the errors of those whose condition could
    /// not be judged (they are kept: their delivery fails with it), by webhook id.
    pub(super) async fn judge(
        &self,
        matched: Vec<Webhook>,
        alert: &Alert,
        alert_json: &serde_json::Value,
        m: &Move,
    ) -> Result<(Vec<Webhook>, Vec<(String, RenderError)>), ApiError> {
        if matched.iter().all(|w| w.settings.condition.is_none()) {
            return Ok((matched, Vec::new()));
        }
        let entry = alert.timeline.iter().find(|t| t.transition == m.transition);
        let judged: Vec<Judged> = (matched.iter())
            .map(|webhook| Judged {
                webhook,
                payload: serde_json::to_value(Payload::new(
                    m.event, alert_json, entry, webhook, m.at,
                ))
                .unwrap_or_default(),
                delivery_id: m.delivery_id(&alert.id, &webhook.id),
            })
            .collect();
        let verdicts = condition::judge(&judged, self.sandbox)
            .await
            .map_err(internal)?;
        let mut unjudged = Vec::new();
        let mut kept = Vec::new();
        for (webhook, verdict) in matched.into_iter().zip(verdicts) {
            match verdict {
                Ok(true) => kept.push(webhook),
                Ok(false) => {}
                Err(error) => {
                    unjudged.push((webhook.id.clone(), RenderError::new("condition", error)));
                    kept.push(webhook);
                }
            }
        }
        Ok((kept, unjudged))
    }

    /// Queues the deliveries of transition `m` (the alert as it left it: `alert`), each
    /// behind the delivery of the alert's previous transition to the same webhook.
    pub(super) async fn enqueue(
        &self,
        account_id: &str,
        stored: &StoredAlert,
        alert: &Alert,
        m: &Move,
        webhooks: &[Webhook],
        unjudged: Vec<(String, RenderError)>,
    ) -> Result<u32, ApiError> {
        let alert_json = serde_json::to_value(alert).map_err(internal)?;
        let entry = alert.timeline.iter().find(|t| t.transition == m.transition);
        let mut previous = (self.store)
            .previous_deliveries(account_id, stored, m)
            .await?;
        let mut unjudged: HashMap<String, RenderError> = unjudged.into_iter().collect();
        let webhooks: HashMap<&str, &Webhook> =
            webhooks.iter().map(|w| (w.id.as_str(), w)).collect();
        let messages: Vec<DeliveryMessage> = m
            .webhook_ids
            .iter()
            .filter_map(|id| {
                let webhook = webhooks.get(id.as_str())?;
                Some(DeliveryMessage {
                    account_id: account_id.to_string(),
                    webhook_id: id.clone(),
                    delivery_id: m.delivery_id(&alert.id, id),
                    alert_id: alert.id.clone(),
                    event: m.event,
                    attempt: 1,
                    trigger: Trigger::Scheduled,
                    payload: Payload::new(m.event, &alert_json, entry, webhook, m.at).to_raw(),
                    not_before: None,
                    transition: Some(m.transition),
                    waits_for: previous.remove(id),
                    out_of_order: false,
                    condition_error: unjudged.remove(id),
                    slot: None,
                })
            })
            .collect();
        let queued = self.queue.send_all(&messages).await;
        let sent = queued.iter().filter(|q| **q).count();
        let mut metrics = Metrics::new("ingest");
        metrics.count("FanOut", sent);
        metrics.property("alert_id", alert.id.clone().into());
        metrics.emit(Utc::now());
        if sent < messages.len() {
            return Err(ApiError::NotQueued {
                queued: sent,
                total: messages.len(),
            });
        }
        Ok(u32::try_from(sent).unwrap_or(u32::MAX))
    }
}
