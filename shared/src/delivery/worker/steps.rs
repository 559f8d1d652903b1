//! The steps a job takes before its attempt: its turn in its alert's order, its webhook
//! enabled, and its attempt claimed.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Handled, Step, Worker, WorkerError};
use crate::{
    delivery::{
        admission::Job,
        order::{self, Turn},
        outcome::Trigger,
        record::{uuid_time, Refusal},
    },
    store::Claim,
};

impl Worker {
    /// Whether the job may go on at all: its turn after the alert's previous transition
    /// (see [`super::order`]), and its webhook enabled.
    pub(super) async fn ready(
        &self,
        mut job: Job,
        now: DateTime<Utc>,
    ) -> Result<Step, WorkerError> {
        if let (Some(earlier), 1) = (&job.msg.waits_for, job.msg.attempt) {
            let msg = &job.msg;
            let earlier = self
                .store
                .get_delivery(&msg.account_id, &msg.webhook_id, earlier, now)
                .await?;
            job.earlier = earlier.as_ref().map(|d| d.state);
            let made_at = uuid_time(&msg.delivery_id).unwrap_or(now);
            match order::turn(earlier.as_ref(), made_at, now) {
                Turn::Go => {}
                Turn::OutOfOrder => {
                    job.msg.out_of_order = true;
                    job.delivery.out_of_order = true;
                }
                Turn::WaitUntil(until) => return Ok(Step::Done(Handled::Postponed(until))),
            }
        }
        let msg = &job.msg;
        if !job.webhook.settings.enabled {
            // A scheduled delivery to a disabled webhook ends as failed, not pending.
            if msg.trigger == Trigger::Scheduled {
                let reason = "the webhook is disabled";
                self.store
                    .abandon_delivery(&msg.account_id, &job.delivery, reason, now)
                    .await?;
            }
            return Ok(Step::Done(Handled::Dropped));
        }
        Ok(Step::Go(job))
    }

    /// Claims the job's attempt: the job back to go on, or what became of its message.
    pub(super) async fn claim(
        &self,
        job: Job,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Step, WorkerError> {
        let msg = &job.msg;
        let current = match self
            .store
            .claim_attempt(&job.claim(), lease_until, now)
            .await?
        {
            Claim::Claimed => return Ok(Step::Go(job)),
            Claim::Refused(current) => current,
        };
        Ok(Step::Done(
            match current.map(|c| c.refusal(msg.attempt, msg.trigger)) {
                Some(Refusal::Made { unqueued: Some(at) }) => {
                    // The process died before queueing the next attempt: a second copy of
                    // this one would be refused the same way.
                    let wait = (at - now).to_std().unwrap_or(Duration::ZERO);
                    self.queue.send_delayed(&msg.next(at), wait).await?;
                    Handled::Duplicate
                }
                Some(Refusal::Made { .. } | Refusal::Finished) => Handled::Duplicate,
                None | Some(Refusal::Busy) => Handled::Busy,
            },
        ))
    }
}
