//! What the deliver worker tells of a batch's effect on its webhooks: operational events
//! (a pause begun or ended, a webhook disabled), each sent once.

use chrono::{DateTime, Utc};

use super::Worker;
use crate::{
    delivery::{
        admission::Job,
        notice::{self, Notice},
        outcome::Outcome,
    },
    store::StoreError,
    webhook::{health, Health},
};

/// The pause a health write stored, if it began one: none was in force before it.
pub(super) fn began(health: &Health, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    (health.paused_until)
        .filter(|_| health.pause_before.is_none_or(|before| before <= now))
        .filter(|until| *until > now)
}

impl Worker {
    /// Tells of a pause the batch began (`webhook.paused`, until `began`) or ended
    /// (`webhook.resumed`, as its health write's answer shows).
    pub(super) async fn tell_pace(
        &self,
        job: &Job,
        health: Option<&Health>,
        began: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) {
        if let Some(until) = began.filter(|until| *until > now) {
            let notice = Notice::Paused {
                webhook: &job.webhook,
                until,
            };
            self.tell(&notice, now).await;
        }
        let Some(health) = health else { return };
        if let Some(until) = health.ended_pause {
            let notice = Notice::Resumed {
                webhook: &job.webhook,
                paused_until: until,
            };
            self.tell(&notice, now).await;
        }
    }

    /// Sends an operational event. A failure is logged, not retried: the attempt it is
    /// about is recorded, and its message must not come back for it.
    pub(super) async fn tell(&self, notice: &Notice<'_>, at: DateTime<Utc>) {
        let expires_at = self.attempter.settings.expires_at(at);
        if let Err(e) = notice::announce(&self.store, &self.queue, notice, at, expires_at).await {
            tracing::error!(error = %e, event = %notice.event(), "could not send an operational event");
        }
    }

    /// Disables the webhook if the failed attempt's `outcome` and its `health`, as just
    /// written, say so (see [`health::disable_reason`]).
    pub(super) async fn maybe_disable(
        &self,
        job: &Job,
        outcome: Outcome,
        health: Option<&Health>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let failing_since = health.and_then(|h| h.failing_since);
        let disable_after = self.attempter.settings.disable_after;
        let Some(reason) = health::disable_reason(outcome, failing_since, now, disable_after)
        else {
            return Ok(());
        };
        // Only while the streak is still the one judged: a success since then ends it.
        let streak = failing_since.filter(|_| outcome != Outcome::Gone);
        let msg = &job.msg;
        if self
            .store
            .disable_webhook(&msg.account_id, &msg.webhook_id, &reason, streak)
            .await?
        {
            tracing::warn!(account = %msg.account_id, webhook = %msg.webhook_id, "webhook disabled");
            let notice = Notice::Disabled {
                webhook: &job.webhook,
                reason: &reason,
            };
            self.tell(&notice, now).await;
        }
        Ok(())
    }
}
