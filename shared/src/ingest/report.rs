//! Reports: an alert in, by its key, created, updated, resolved or reopened; and a
//! repeated report (an idempotency key or a report id seen before) answered as the first was.

use super::*;

impl Ingest<'_> {
    /// Accepts one report for `account_id`. Without a `dedup_key` it is a new alert. With
    /// one, it updates the open alert of that key (no one is notified), resolves it, or
    /// reopens a resolved one (`alert.unresolved`). With an idempotency key, a repeat
    /// within 24 h answers as the first did and changes nothing.
    pub async fn accept(
        &self,
        account_id: &str,
        input: AlertInput,
        idempotency_key: Option<&str>,
        by: Actor,
    ) -> Result<Accepted, ApiError> {
        let now = Utc::now();
        let mut report_id = uuid::Uuid::now_v7().to_string();
        if let Some(key) = idempotency_key {
            let fingerprint = fingerprint(&input);
            let earlier = self
                .store
                .take_idempotency_key(
                    account_id,
                    key,
                    &fingerprint,
                    &report_id,
                    now,
                    IDEMPOTENCY_WINDOW,
                )
                .await?;
            if let Some(earlier) = earlier {
                if earlier.fingerprint != fingerprint {
                    return Err(ApiError::Conflict {
                        code: "idempotency_key_reused",
                        message: "this idempotency key was used in the last 24 hours for a different alert".into(),
                    });
                }
                // Done again under the first request's id: what it finished is found done.
                report_id = earlier.alert_id;
            }
        }
        // What the report does: to its key's alert, and as a new alert.
        let (action, new_event, new_state) = match input.status {
            AlertStatus::Firing => (
                Action::Fired,
                EventType::AlertTriggered,
                AlertState::Triggered,
            ),
            AlertStatus::Resolved => (
                Action::ResolvedReport,
                EventType::AlertResolved,
                AlertState::Resolved,
            ),
        };
        let mut tries = Backoff::RACE.start();
        while tries.next().await {
            let (found, key_named) = match &input.dedup_key {
                Some(key) => self.store.get_alert_by_key(account_id, key, now).await?,
                // A keyless report's alert has the report's id: found only on a repeat.
                None if idempotency_key.is_some() => (
                    self.store.get_alert(account_id, &report_id, now).await?,
                    None,
                ),
                None => (None, None),
            };
            let Some(stored) = found else {
                if input.dedup_key.is_some() && input.status == AlertStatus::Resolved {
                    return Ok(Accepted {
                        alert_id: None,
                        outcome: Outcome::Ignored,
                        event: None,
                        transition: None,
                        deliveries: 0,
                    });
                }
                // The id's own time: a repeat makes the same delivery ids.
                let received_at = uuid_time(&report_id).unwrap_or(now);
                let alert = Alert::new(report_id.clone(), input.clone(), received_at);
                let change = Change {
                    moved: Some((new_event, new_state, action)),
                    by: by.clone(),
                    report_id: Some(report_id.clone()),
                    key_named,
                };
                match self
                    .save(account_id, None, alert, change, received_at)
                    .await?
                {
                    Some((saved, deliveries)) => {
                        return Ok(accepted(&saved, Outcome::Created, deliveries))
                    }
                    None => continue,
                }
            };
            if let Some(done) = self.repeat(account_id, &stored, &report_id).await? {
                return Ok(done);
            }
            let moved = match decide(&stored.alert.standing(), action) {
                Decision::Move { event, to } => Some((event, to, action)),
                Decision::Unchanged(_) | Decision::Refused(_) => None,
            };
            let mut alert = stored.alert.clone();
            // A reopening is armed with the report's escalation delay; otherwise the alert
            // keeps the delay it was triggered with.
            let escalate_after = match moved {
                Some((EventType::AlertUnresolved, ..)) => input.escalate_after_seconds,
                _ => alert.input.escalate_after_seconds,
            };
            alert.input = AlertInput {
                escalate_after_seconds: escalate_after,
                ..input.clone()
            };
            alert.reports += 1;
            alert.last_seen = now;
            let outcome = if moved.is_some() {
                Outcome::Transitioned
            } else {
                Outcome::Updated
            };
            let change = Change {
                moved,
                by: by.clone(),
                report_id: Some(report_id.clone()),
                key_named: None,
            };
            if let Some((saved, deliveries)) = self
                .save(account_id, Some(&stored), alert, change, now)
                .await?
            {
                return Ok(accepted(&saved, outcome, deliveries));
            }
        }
        Err(contended())
    }

    /// A report already taken (by its id): queues its transition's deliveries again, in
    /// case the first request stopped before queueing them (a copy of one already queued
    /// is turned away by its claim), and answers as the first did.
    pub(super) async fn repeat(
        &self,
        account_id: &str,
        stored: &StoredAlert,
        report_id: &str,
    ) -> Result<Option<Accepted>, ApiError> {
        let alert_id = Some(stored.alert.id.clone());
        if let Some(m) = stored
            .moves
            .iter()
            .find(|m| m.report_id.as_deref() == Some(report_id))
        {
            let (alert, links) = self
                .store
                .alert_at(account_id, &stored.alert.id, m.transition, Utc::now())
                .await?
                .unwrap_or_else(|| (stored.alert.clone(), stored.links.clone()));
            let alert = (self.store)
                .with_links(account_id, alert, links.as_ref())
                .await?;
            let all = 0..m.count();
            let listed = (self.store.move_ids(account_id, &stored.alert.id, m, all)).await?;
            let m = &Move {
                webhook_ids: listed.into_iter().map(|(_, id)| id).collect(),
                ..m.clone()
            };
            let ids: Vec<_> = m
                .webhook_ids
                .iter()
                .map(|w| (account_id, w.as_str()))
                .collect();
            let webhooks = self.store.get_webhook_configs(&ids).await?;
            // The transition's webhooks stay as fan-out chose them; a condition that could
            // not be judged then still fails its delivery.
            let alert_json = serde_json::to_value(&alert).map_err(internal)?;
            let (_, unjudged) = (self.judge(webhooks.clone(), &alert, &alert_json, m)).await?;
            let deliveries = self
                .enqueue(account_id, stored, &alert, m, &webhooks, unjudged)
                .await?;
            let outcome = if m.transition == 1 {
                Outcome::Created
            } else {
                Outcome::Transitioned
            };
            return Ok(Some(Accepted {
                alert_id,
                outcome,
                event: Some(m.event),
                transition: Some(m.transition),
                deliveries,
            }));
        }
        Ok(
            (stored.last_report.as_deref() == Some(report_id)).then_some(Accepted {
                alert_id,
                outcome: Outcome::Updated,
                event: None,
                transition: None,
                deliveries: 0,
            }),
        )
    }
}
