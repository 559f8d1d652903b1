//! Actions and timers: the change decided by the lifecycle, then saved with a condition
//! on the version read; a lost race reads and decides again.

use super::*;

impl Ingest<'_> {
    /// Takes `action` on the alert. `Err(Conflict)` when it does not apply to the alert's
    /// state; `changed: false` when the alert is already where it leads.
    pub async fn act(
        &self,
        account_id: &str,
        alert_id: &str,
        action: Action,
        by: Actor,
    ) -> Result<Acted, ApiError> {
        let mut tries = Backoff::RACE.start();
        while tries.next().await {
            let now = Utc::now();
            let stored = self
                .store
                .get_alert(account_id, alert_id, now)
                .await?
                .ok_or(ApiError::NotFound("alert"))?;
            let (event, to) = match decide(&stored.alert.standing(), action) {
                Decision::Refused(message) => {
                    return Err(ApiError::Conflict {
                        code: "invalid_transition",
                        message,
                    })
                }
                Decision::Unchanged(message) => {
                    return Ok(Acted {
                        alert: stored.alert,
                        changed: false,
                        message: format!("nothing changed: {message}"),
                        deliveries: 0,
                    })
                }
                Decision::Move { event, to } => (event, to),
            };
            let alert = stored.alert.clone();
            let change = Change {
                moved: Some((event, to, action)),
                by: by.clone(),
                report_id: None,
                key_named: None,
            };
            if let Some((saved, deliveries)) = self
                .save(account_id, Some(&stored), alert, change, now)
                .await?
            {
                return Ok(Acted {
                    message: format!("the alert is now {}", saved.alert.state),
                    alert: saved.alert,
                    changed: true,
                    deliveries,
                });
            }
        }
        Err(contended())
    }

    /// Runs out a timer: the escalation, or the end of a silence. One that no longer
    /// applies (the alert moved on, or is gone) does nothing. A timer is never refused
    /// (lifecycle drops one that no longer applies), so a Conflict here is `contended`: an
    /// error, so that the message comes back and the timer runs again rather than be lost.
    pub async fn run_timer(&self, timer: &TimerMessage) -> Result<Option<Acted>, ApiError> {
        let by = Actor::Timer {
            timer: timer.timer.name().into(),
        };
        match self
            .act(&timer.account_id, &timer.alert_id, timer.timer.action(), by)
            .await
        {
            Ok(acted) => Ok(Some(acted)),
            Err(ApiError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Saves `alert` (as changed from `read`, or new) and, for a transition, makes it
    /// (escalation is armed with the alert's `escalate_after_seconds`, or else the
    /// account's), arms its timer and queues its deliveries. `None`: another writer
    /// changed the alert first.
    pub(super) async fn save(
        &self,
        account_id: &str,
        read: Option<&StoredAlert>,
        mut alert: Alert,
        change: Change,
        now: DateTime<Utc>,
    ) -> Result<Option<(StoredAlert, u32)>, ApiError> {
        let transitioned = change.moved.is_some();
        let mut moves = read.map(|r| r.moves.clone()).unwrap_or_default();
        let mut webhooks = Vec::new();
        let mut unjudged = Vec::new();
        let mut timer = None;
        let mut links = read.and_then(|r| r.links.clone());
        if let Some((event, to, action)) = change.moved {
            // One read of the account a transition: its default escalation delay and its
            // link key.
            let account = self
                .store
                .get_account(account_id)
                .await?
                .ok_or(ApiError::NotFound("account"))?;
            let escalate_after = match alert.input.escalate_after_seconds {
                None if to == AlertState::Triggered => account.escalate_after_seconds,
                given => given,
            };
            let (standing, armed) =
                after_move(&alert.standing(), event, to, action, escalate_after, now);
            alert.record_move(event, standing, change.by, now);
            links = None;
            alert.links = None;
            if let Some((key, source)) = self.link_source(&account).await? {
                alert.links = links::mint(&key, &source, account_id, &alert);
                links = Some(source);
            }
            let alert_json = serde_json::to_value(&alert).map_err(internal)?;
            let matched = (self.store.account_webhooks(&account).await?.iter())
                .filter(|w| w.wants(&alert_json, event))
                .cloned()
                .collect();
            let mut made = Move {
                transition: alert.transition,
                event,
                at: now,
                webhook_ids: Vec::new(),
                paged: None,
                report_id: change.report_id.clone(),
            };
            (webhooks, unjudged) = self.judge(matched, &alert, &alert_json, &made).await?;
            made.webhook_ids = webhooks.iter().map(|w| w.id.clone()).collect();
            moves.push(made);
            while moves.len() > MOVES_KEPT {
                moves.remove(0);
            }
            timer = armed;
        }
        let mut stored = StoredAlert {
            alert,
            links,
            snapshotted: 0,
            key_expires_at: None,
            moves,
            last_report: change
                .report_id
                .or_else(|| read.and_then(|r| r.last_report.clone())),
            version: read.map_or(1, |r| r.version + 1),
            expires_at: self.settings.expires_at(now),
        };
        // The timer goes first: one for a write that then loses its race finds the alert
        // not as it expected, and does nothing.
        if let Some(timer) = timer {
            let message = TimerMessage {
                account_id: account_id.to_string(),
                alert_id: stored.alert.id.clone(),
                timer,
                not_before: timer.at(),
            };
            let wait = (timer.at() - now).to_std().unwrap_or_default();
            self.queue
                .send_delayed(&message, wait)
                .await
                .map_err(internal)?;
        }
        if !self
            .store
            .save_alert(
                account_id,
                &mut stored,
                read,
                change.key_named.as_deref(),
                now,
            )
            .await?
        {
            return Ok(None);
        }
        let deliveries = match stored.moves.last().filter(|_| transitioned) {
            Some(m) => {
                self.enqueue(account_id, &stored, &stored.alert, m, &webhooks, unjudged)
                    .await?
            }
            None => 0,
        };
        tracing::info!(account = %account_id, alert = %stored.alert.id, state = %stored.alert.state, transition = stored.alert.transition, deliveries, "alert saved");
        Ok(Some((stored, deliveries)))
    }
}
