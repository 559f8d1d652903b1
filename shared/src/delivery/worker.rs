//! The deliver function's work on a batch of queue messages: claim each attempt, make
//! them all at once, record them together, then schedule what follows.
//!
//! Guarantees, and how they are kept:
//! - A duplicate or re-received message does not POST the same attempt twice: an attempt
//!   is claimed (a conditional write with a lease) before its request is sent.
//! - A crash loses nothing: a message is deleted only after its attempt is recorded and
//!   its follow-up queued. A crash mid-attempt leaves the message to come back after the
//!   visibility timeout, when the lease has run out and the attempt is made again.
//! - The config used is current: every claim checks the webhook's stored version in the
//!   same transaction, so a cached copy is never used stale.
//! - Records need no condition: the claim made the attempt ours, and the lease outlasts
//!   any invocation (see [`crate::settings::DeliverySettings::lease`]).
//!
//! A single message takes the same steps as a batch of one.

use std::{collections::HashSet, time::Duration};

use chrono::{DateTime, Utc};
use futures::future::join_all;

use super::{
    attempt::{Attempted, Attempter},
    cache::WebhookCache,
    queue::{DeliveryMessage, Queue, QueueError},
    record::{Delivery, DeliveryState, Refusal, Trigger},
    retry::{self, Outcome, WebhookStatus},
};
use crate::{
    metrics::Metrics,
    store::{AttemptClaim, Claim, StoreError},
    webhook::Webhook,
    Store,
};

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("the webhook's signing secret is malformed")]
    BadSecret,
}

/// What became of a message. All but [`Handled::Busy`] let it be deleted.
#[derive(Debug, PartialEq, Eq)]
pub enum Handled {
    /// The attempt was made and recorded; the state it left.
    Attempted(DeliveryState),
    /// Not due yet: passed on with a further delay.
    Postponed,
    /// Already done, or superseded: nothing to do.
    Duplicate,
    /// Another worker holds the attempt's lease: try again later.
    Busy,
    /// The webhook is gone or disabled.
    Dropped,
}

type Outcomes = Vec<(usize, Result<Handled, WorkerError>)>;

/// A message to attempt, with the webhook config it will use.
struct Job {
    msg: DeliveryMessage,
    webhook: Webhook,
    delivery: Delivery,
}

impl Job {
    fn claim(&self) -> AttemptClaim<'_> {
        AttemptClaim {
            webhook: &self.webhook,
            delivery: &self.delivery,
            attempt: self.msg.attempt,
            trigger: self.msg.trigger,
        }
    }
}

/// Where a message stands after a step: still to go on, or settled.
#[allow(clippy::large_enum_variant)] // short-lived, one per message of a batch
enum Step {
    Go(Job),
    Done(Handled),
}

pub struct Worker {
    store: Store,
    queue: Queue,
    attempter: Attempter,
    cache: WebhookCache,
}

impl Worker {
    pub fn new(store: Store, queue: Queue, attempter: Attempter) -> Self {
        Self {
            store,
            queue,
            attempter,
            cache: WebhookCache::default(),
        }
    }

    /// One message: a batch of one.
    pub async fn handle(&self, msg: DeliveryMessage) -> Result<Handled, WorkerError> {
        let mut results = self.handle_batch(vec![msg]).await;
        results.pop().unwrap_or(Ok(Handled::Busy))
    }

    /// Every message of a batch, each result in the order given.
    pub async fn handle_batch(
        &self,
        messages: Vec<DeliveryMessage>,
    ) -> Vec<Result<Handled, WorkerError>> {
        // A transaction may name an item once: a later copy of a delivery waits until the
        // first is recorded, and then finds its attempt made.
        let mut pending: Vec<_> = messages.into_iter().enumerate().collect();
        let mut outcomes = Vec::with_capacity(pending.len());
        while !pending.is_empty() {
            let mut seen = HashSet::new();
            let (first, later) = pending
                .into_iter()
                .partition(|(_, m): &(usize, DeliveryMessage)| seen.insert(m.delivery_id.clone()));
            // Boxed: the nested futures of a whole batch are too deep for the compiler's
            // layout queries once the runtime's are added.
            outcomes.extend(Box::pin(self.run(first)).await);
            pending = later;
        }
        outcomes.sort_by_key(|(i, _)| *i);
        outcomes.into_iter().map(|(_, result)| result).collect()
    }

    /// Prepare, claim, attempt, record and follow up distinct deliveries.
    async fn run(&self, messages: Vec<(usize, DeliveryMessage)>) -> Outcomes {
        let now = self.attempter.now();
        let lease_until = now + self.attempter.settings.lease;
        let prepared = join_all(
            messages
                .into_iter()
                .map(|(i, msg)| async move { (i, self.prepare(msg, now).await) }),
        )
        .await;
        let (jobs, mut outcomes) = settle(prepared);
        let (claimed, settled) = settle(self.claim(jobs, lease_until, now).await);
        outcomes.extend(settled);
        let attempts = join_all(claimed.iter().map(|(_, job)| {
            let body = job.msg.body();
            self.attempter.attempt(
                &job.webhook,
                &job.delivery,
                job.msg.attempt,
                job.msg.trigger,
                body,
            )
        }))
        .await;
        let mut made = Vec::with_capacity(attempts.len());
        for ((i, job), attempt) in claimed.into_iter().zip(attempts) {
            match attempt {
                Ok(attempted) => made.push((i, job, attempted)),
                // Claimed but not sent: the lease runs out and the message comes back.
                Err(_) => outcomes.push((i, Err(WorkerError::BadSecret))),
            }
        }
        outcomes.extend(self.record(made).await);
        outcomes
    }

    /// Postpones a message not yet due, and finds its webhook.
    async fn prepare(&self, msg: DeliveryMessage, now: DateTime<Utc>) -> Result<Step, WorkerError> {
        if let Some(wait) = msg.not_before.and_then(|due| (due - now).to_std().ok()) {
            if wait > Duration::from_secs(1) {
                self.queue.send_delayed(&msg, wait).await?;
                return Ok(Step::Done(Handled::Postponed));
            }
        }
        let Some(webhook) = self.cache.get(&self.store, &msg, false).await? else {
            return Ok(Step::Done(Handled::Dropped));
        };
        let delivery = msg.delivery(now, self.attempter.settings.expires_at(now));
        Ok(Step::Go(Job {
            msg,
            webhook,
            delivery,
        }))
    }

    /// Claims every job's attempt in one transaction when it goes through, else one by one,
    /// which sorts out duplicates, busy leases and changed webhooks.
    async fn claim(
        &self,
        jobs: Vec<(usize, Job)>,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Vec<(usize, Result<Step, WorkerError>)> {
        if jobs.len() > 1 && jobs.iter().all(|(_, j)| j.webhook.settings.enabled) {
            let claims: Vec<_> = jobs.iter().map(|(_, j)| j.claim()).collect();
            match self.store.claim_attempts(&claims, lease_until, now).await {
                Ok(true) => {
                    return jobs
                        .into_iter()
                        .map(|(i, j)| (i, Ok(Step::Go(j))))
                        .collect()
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "batch claim failed; claiming one by one"),
            }
        }
        join_all(
            jobs.into_iter()
                .map(|(i, job)| async move { (i, self.claim_one(job, lease_until, now).await) }),
        )
        .await
    }

    async fn claim_one(
        &self,
        mut job: Job,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Step, WorkerError> {
        let mut reloaded = false;
        loop {
            if job.webhook.settings.enabled {
                let msg = &job.msg;
                match self
                    .store
                    .claim_attempt(&job.claim(), lease_until, now)
                    .await?
                {
                    Claim::Claimed => return Ok(Step::Go(job)),
                    Claim::Refused(current) => {
                        let refusal = current.map(|c| c.refusal(msg.attempt, msg.trigger));
                        return Ok(Step::Done(match refusal {
                            Some(Refusal::Made { unqueued: Some(at) }) => {
                                // The process died before queueing the next attempt: a
                                // second copy of this one would be refused the same way.
                                let wait = (at - now).to_std().unwrap_or(Duration::ZERO);
                                self.queue.send_delayed(&msg.next(at), wait).await?;
                                Handled::Duplicate
                            }
                            Some(Refusal::Made { .. } | Refusal::Finished) => Handled::Duplicate,
                            None | Some(Refusal::Busy) => Handled::Busy,
                        }));
                    }
                    Claim::WebhookChanged if reloaded => return Ok(Step::Done(Handled::Busy)),
                    Claim::WebhookChanged => {}
                }
            } else if reloaded {
                // A scheduled delivery to a disabled webhook ends as failed, not pending.
                if job.msg.trigger == Trigger::Scheduled {
                    let reason = "the webhook is disabled";
                    self.store
                        .abandon_delivery(&job.msg.account_id, &job.delivery, reason, now)
                        .await?;
                }
                return Ok(Step::Done(Handled::Dropped));
            }
            reloaded = true;
            job.webhook = match self.cache.get(&self.store, &job.msg, true).await? {
                Some(w) => w,
                None => return Ok(Step::Done(Handled::Dropped)),
            };
        }
    }

    /// Records the attempts together, then queues what follows each.
    async fn record(&self, made: Vec<(usize, Job, Attempted)>) -> Outcomes {
        if made.is_empty() {
            return Vec::new();
        }
        let statuses = WebhookStatus::per_webhook(made.iter().map(|(_, job, a)| {
            let key = (job.msg.account_id.as_str(), job.msg.webhook_id.as_str());
            (key, &a.last_delivery)
        }));
        let records: Vec<_> = made
            .iter()
            .map(|(_, job, a)| (job.msg.account_id.as_str(), &a.record, &a.delivery))
            .collect();
        if let Err(e) = self.store.record_attempts(&records, &statuses).await {
            // Nothing is lost: the messages come back; an attempt that was written is then
            // seen as made, the others are made again when the lease ends.
            tracing::error!(error = %e, "could not record a batch of attempts");
            return made
                .iter()
                .map(|(i, _, _)| (*i, Err(StoreError::Throttled.into())))
                .collect();
        }
        let mut metrics = Metrics::new("deliver");
        for (_, _, attempted) in &made {
            attempted.measure(&mut metrics);
        }
        let ids: Vec<&str> = made
            .iter()
            .map(|(_, j, _)| j.msg.delivery_id.as_str())
            .collect();
        metrics.property("delivery_ids", serde_json::json!(ids));
        metrics.emit(self.attempter.now());
        let mut checked = HashSet::new();
        let mut outcomes = Vec::with_capacity(made.len());
        for (i, job, attempted) in &made {
            outcomes.push((*i, self.follow_up(job, attempted, &mut checked).await));
        }
        outcomes
    }

    /// Queues the next attempt, and disables a failing webhook (checked once per webhook).
    async fn follow_up(
        &self,
        job: &Job,
        a: &Attempted,
        checked: &mut HashSet<String>,
    ) -> Result<Handled, WorkerError> {
        if let (Some(delay), Some(at)) = (a.next_delay, a.record.next_attempt_at) {
            self.queue.send_delayed(&job.msg.next(at), delay).await?;
        }
        if !a.sent.success() && checked.insert(job.msg.webhook_id.clone()) {
            self.maybe_disable(&job.msg, a.sent.outcome, a.finished)
                .await?;
        }
        Ok(Handled::Attempted(a.record.state))
    }

    async fn maybe_disable(
        &self,
        msg: &DeliveryMessage,
        outcome: Outcome,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // The streak as stored: this batch may have joined one begun by other workers.
        let failing_since = match outcome {
            Outcome::Gone => None,
            _ => match self
                .store
                .get_webhook(&msg.account_id, &msg.webhook_id)
                .await?
            {
                Some(w) => w.health.failing_since,
                None => return Ok(()),
            },
        };
        let disable_after = self.attempter.settings.disable_after;
        let Some(reason) = retry::disable_reason(outcome, failing_since, now, disable_after) else {
            return Ok(());
        };
        // Only if the streak is still the one judged: a success since then ends it.
        if self
            .store
            .disable_webhook(&msg.account_id, &msg.webhook_id, &reason, failing_since)
            .await?
        {
            tracing::warn!(account = %msg.account_id, webhook = %msg.webhook_id, "webhook disabled");
            self.cache.forget(msg);
        }
        Ok(())
    }
}

/// Splits steps into jobs that go on and outcomes already settled.
fn settle(steps: Vec<(usize, Result<Step, WorkerError>)>) -> (Vec<(usize, Job)>, Outcomes) {
    let mut jobs = Vec::new();
    let mut outcomes = Vec::new();
    for (i, step) in steps {
        match step {
            Ok(Step::Go(job)) => jobs.push((i, job)),
            Ok(Step::Done(handled)) => outcomes.push((i, Ok(handled))),
            Err(e) => outcomes.push((i, Err(e))),
        }
    }
    (jobs, outcomes)
}
