//! The deliver function's work on a batch of queue messages: read their webhooks, claim
//! each attempt, make them all at once, record them together, then schedule what follows.
//!
//! Guarantees, and how they are kept:
//! - A duplicate or re-received message does not POST the same attempt twice: an attempt
//!   is claimed (a conditional write with a lease) before its request is sent.
//! - A crash loses nothing: a message is deleted only after its attempt is recorded and
//!   its follow-up queued. A crash mid-attempt leaves the message to come back after the
//!   visibility timeout, when the lease has run out and the attempt is made again.
//! - The config used is current: each batch reads its webhooks, strongly consistent,
//!   just before claiming.
//! - An alert's transitions reach a webhook in order: a delivery whose previous transition's
//!   delivery to the same webhook is unfinished waits (see [`super::order`]).
//! - Records need no condition: the claim made the attempt ours, and the lease outlasts
//!   any invocation (see [`crate::settings::DeliverySettings::lease`]).
//!
//! A single message takes the same steps as a batch of one.

mod digests;
mod signals;
mod steps;

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use futures::future::join_all;

use super::{
    admission::{self, Admitted, Job},
    attempt::{AttemptError, Attempted, Attempter},
    notice::{self, Notice},
    outcome::DeliveryState,
    queue::{not_yet_due, DeliveryMessage, Queue, QueueError},
    recovery::{self, RecoveryRef, RecoveryState},
    retry,
};
use crate::{
    event::EventType,
    metrics::{Metrics, Unit},
    store::{Gate, StoreError},
    webhook::health::WebhookStatus,
    Store,
};

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Attempt(#[from] AttemptError),
}

impl From<recovery::RecoveryError> for WorkerError {
    fn from(e: recovery::RecoveryError) -> Self {
        match e {
            recovery::RecoveryError::Store(e) => Self::Store(e),
            recovery::RecoveryError::Queue(e) => Self::Queue(e),
        }
    }
}

/// What became of a message. All but [`Handled::Busy`] and [`Handled::Postponed`] let it
/// be deleted ([`Handled::Deferred`] once it is sent again).
#[derive(Debug, PartialEq, Eq)]
pub enum Handled {
    /// The attempt was made and recorded; the state it left.
    Attempted(DeliveryState),
    /// Not due until then: the message is to be kept out of sight until that time.
    Postponed(DateTime<Utc>),
    /// The webhook's rate limit granted it that later send time: the message is to be
    /// sent again carrying it (its `slot`), to come back then.
    Deferred(DateTime<Utc>),
    /// Put into a digest; when it is the one that sends the digest, the digest's message
    /// is to be queued for its time (see [`super::digest::message`]).
    Digested(Option<DigestDue>),
    /// Already done, or superseded: nothing to do.
    Duplicate,
    /// Another worker holds the attempt's lease: try again later.
    Busy,
    /// The webhook is gone or disabled.
    Dropped,
}

type Outcomes = Vec<(usize, Result<Handled, WorkerError>)>;

/// A digest whose message is to be queued: its id, and when it is to be sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DigestDue {
    pub id: String,
    pub at: DateTime<Utc>,
}

/// What stands between each webhook of a batch and its deliveries, read before them.
type Gates = HashMap<(String, String), Gate>;

/// The jobs of these steps that go on; what became of the others goes to `outcomes`.
fn going(
    steps: Vec<(usize, Result<Step, WorkerError>)>,
    outcomes: &mut Outcomes,
) -> Vec<(usize, Job)> {
    let mut go = Vec::with_capacity(steps.len());
    for (i, step) in steps {
        match step {
            Ok(Step::Go(job)) => go.push((i, job)),
            Ok(Step::Done(handled)) => outcomes.push((i, Ok(handled))),
            Err(e) => outcomes.push((i, Err(e))),
        }
    }
    go
}

/// Where a message stands after its claim: still to go on, or settled.
#[allow(clippy::large_enum_variant)] // short-lived, one per message of a batch
enum Step {
    Go(Job),
    Done(Handled),
}

pub struct Worker {
    store: Store,
    queue: Queue,
    attempter: Attempter,
}

impl Worker {
    pub fn new(store: Store, queue: Queue, attempter: Attempter) -> Self {
        Self {
            store,
            queue,
            attempter,
        }
    }

    /// One message: a batch of one.
    pub async fn handle(&self, msg: DeliveryMessage) -> Result<Handled, WorkerError> {
        let mut results = self.handle_batch(vec![((), msg)]).await;
        results
            .pop()
            .map_or(Ok(Handled::Busy), |(_, result)| result)
    }

    /// Every message of a batch, each result beside the tag it came with (the SQS
    /// message's id): a caller pairs by tag, never by position.
    pub async fn handle_batch<T>(
        &self,
        messages: Vec<(T, DeliveryMessage)>,
    ) -> Vec<(T, Result<Handled, WorkerError>)> {
        let (tags, messages): (Vec<T>, Vec<DeliveryMessage>) = messages.into_iter().unzip();
        // A later copy of a delivery in the same batch waits until the first is recorded,
        // and then finds its attempt made.
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
        let mut results: Vec<Option<Result<Handled, WorkerError>>> =
            tags.iter().map(|_| None).collect();
        for (i, result) in outcomes {
            if let Some(slot) = results.get_mut(i) {
                *slot = Some(result);
            }
        }
        tags.into_iter()
            .zip(results)
            .filter_map(|(tag, result)| Some((tag, result?)))
            .collect()
    }

    /// Read the webhooks, claim, attempt, record and follow up distinct deliveries.
    async fn run(&self, messages: Vec<(usize, DeliveryMessage)>) -> Outcomes {
        let now = self.attempter.now();
        let lease_until = now + self.attempter.settings.lease;
        let mut outcomes = Outcomes::new();
        // Messages not yet due wait: their time is given back.
        let (waiting, due): (Vec<_>, Vec<_>) = messages
            .into_iter()
            .partition(|(_, m)| m.not_before.is_some_and(|t| not_yet_due(t, now)));
        for (i, msg) in waiting {
            outcomes.push((i, Ok(Handled::Postponed(msg.not_before.unwrap_or(now)))));
        }
        let keys: Vec<_> = due
            .iter()
            .map(|(_, m)| (m.account_id.as_str(), m.webhook_id.as_str()))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let webhooks = match self.store.current_webhooks(&keys).await {
            Ok(webhooks) => webhooks,
            Err(e) => {
                outcomes.extend(due.into_iter().map(|(i, _)| (i, Err(e.clone().into()))));
                return outcomes;
            }
        };
        // Their credentials opened; one that does not open fails its own messages only.
        let webhooks = join_all(webhooks.into_iter().map(|mut w| async {
            let opened = self.store.open_webhook(&mut w).await;
            (w, opened)
        }))
        .await;
        let mut jobs = Vec::with_capacity(due.len());
        for (i, msg) in due {
            let found = webhooks
                .iter()
                .find(|(w, _)| w.account_id == msg.account_id && w.id == msg.webhook_id);
            match found {
                None => outcomes.push((i, Ok(Handled::Dropped))),
                Some((_, Err(e))) => outcomes.push((i, Err(e.clone().into()))),
                Some((webhook, Ok(()))) => {
                    let delivery = msg.delivery(now, self.attempter.settings.expires_at(now));
                    let webhook = webhook.clone();
                    jobs.push((
                        i,
                        Job {
                            msg,
                            webhook,
                            delivery,
                            earlier: None,
                        },
                    ));
                }
            }
        }
        let keys: Vec<(&str, &str)> = (jobs.iter())
            .map(|(_, j)| (j.msg.account_id.as_str(), j.msg.webhook_id.as_str()))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let limited: Vec<(&str, &str)> = (jobs.iter())
            .filter(|(_, j)| j.limit().is_some())
            .map(|(_, j)| (j.msg.account_id.as_str(), j.msg.webhook_id.as_str()))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let gates = match self.store.gates(&keys, &limited).await {
            Ok(gates) => gates,
            Err(e) => {
                outcomes.extend(jobs.into_iter().map(|(i, _)| (i, Err(e.clone().into()))));
                return outcomes;
            }
        };
        let readied = join_all(
            jobs.into_iter()
                .map(|(i, job)| async move { (i, self.ready(job, now).await) }),
        )
        .await;
        let ready = going(readied, &mut outcomes);
        let mut admitted = Vec::with_capacity(ready.len());
        let mut digesting = Vec::new();
        let mut held = 0usize;
        for (i, verdict) in admission::admit(&self.store, ready, &gates, now).await {
            held += usize::from(matches!(
                verdict,
                Ok(Admitted::Wait(_) | Admitted::Granted(_))
            ));
            match verdict {
                Ok(Admitted::Go(job)) => admitted.push((i, job)),
                Ok(Admitted::Wait(until)) => outcomes.push((i, Ok(Handled::Postponed(until)))),
                Ok(Admitted::Granted(at)) => outcomes.push((i, Ok(Handled::Deferred(at)))),
                Ok(Admitted::Digest(job, id)) => digesting.push((i, job, id)),
                Err(e) => outcomes.push((i, Err(e.into()))),
            }
        }
        if held > 0 {
            let mut metrics = Metrics::new("deliver");
            metrics.add("HeldByLimit", Unit::Count, held as f64);
            metrics.emit(now);
        }
        admitted.extend(self.digest(digesting, now, &mut outcomes).await);
        let claims = join_all(
            admitted
                .into_iter()
                .map(|(i, job)| async move { (i, self.claim(job, lease_until, now).await) }),
        )
        .await;
        let mut claimed = going(claims, &mut outcomes);
        self.close_digests(&mut claimed, now, &mut outcomes).await;
        let payloads: Vec<_> = claimed.iter().map(|(_, j)| j.msg.payload_json()).collect();
        let attempts = join_all(claimed.iter().zip(&payloads).map(|((_, job), payload)| {
            let msg = &job.msg;
            self.attempter.attempt(
                &job.webhook,
                &job.delivery,
                msg.attempt,
                msg.trigger,
                payload,
                msg.condition_error.as_ref(),
            )
        }))
        .await;
        let mut made = Vec::with_capacity(attempts.len());
        for ((i, job), attempt) in claimed.into_iter().zip(attempts) {
            match attempt {
                Ok(attempted) => made.push((i, job, attempted)),
                // Claimed but not sent: the lease runs out and the message comes back.
                Err(e) => outcomes.push((i, Err(e.into()))),
            }
        }
        outcomes.extend(self.record(made, &gates).await);
        outcomes
    }

    /// Records the attempts together, then queues what follows each.
    async fn record(&self, made: Vec<(usize, Job, Attempted)>, gates: &Gates) -> Outcomes {
        if made.is_empty() {
            return Vec::new();
        }
        let now = self.attempter.now();
        let key_of = |job: &Job| (job.msg.account_id.clone(), job.msg.webhook_id.clone());
        let mut all = WebhookStatus::per_webhook(made.iter().map(|(_, job, a)| {
            let key = (job.msg.account_id.as_str(), job.msg.webhook_id.as_str());
            (key, &a.last_delivery)
        }));
        // A pause any answer asked for holds the whole webhook: the latest one asked.
        for (_, job, a) in &made {
            let Some(until) = retry::pause_asked(&a.sent, a.finished) else {
                continue;
            };
            if let Some((_, status)) = (all.iter_mut())
                .find(|((acc, id), _)| *acc == job.msg.account_id && *id == job.msg.webhook_id)
            {
                status.paused_until = status.paused_until.max(Some(until));
            }
        }
        // A success is written only when the stored health, as read before the batch,
        // holds a failure streak or a pause (the write ends it and says so) or was written
        // clear longer ago than HEALTH_REFRESH.
        let statuses: Vec<_> = (all.into_iter())
            .filter(|((account, id), status)| {
                let gate = gates.get(&(account.to_string(), id.to_string()));
                let clear_at = gate.and_then(|g| g.clear_at);
                let paused = gate.is_some_and(|g| g.paused_until.is_some());
                status.worth_writing(clear_at, paused, now)
            })
            .collect();
        let records: Vec<_> = made
            .iter()
            .map(|(_, job, a)| (job.msg.account_id.as_str(), &a.record, &a.delivery))
            .collect();
        let health = match self.store.record_attempts(&records, &statuses).await {
            Ok(health) => health,
            Err(e) => {
                // Nothing is lost: the messages come back; an attempt that was written is
                // then seen as made, the others are made again when the lease ends.
                tracing::error!(error = %e, "could not record a batch of attempts");
                return made
                    .iter()
                    .map(|(i, _, _)| (*i, Err(e.clone().into())))
                    .collect();
            }
        };
        let mut metrics = Metrics::new("deliver");
        for (_, _, attempted) in &made {
            attempted.measure(&mut metrics);
        }
        let ids: Vec<&str> = made
            .iter()
            .map(|(_, j, _)| j.msg.delivery_id.as_str())
            .collect();
        let digests = (made.iter())
            .filter(|(_, j, a)| j.msg.event == EventType::AlertDigest && a.sent.success())
            .count();
        if digests > 0 {
            metrics.add("DigestsSent", Unit::Count, digests as f64);
        }
        metrics.property("delivery_ids", serde_json::json!(ids));
        metrics.emit(now);
        let health_of = |job: &Job| {
            statuses
                .iter()
                .zip(&health)
                .find(|(((account, id), _), _)| {
                    *account == job.msg.account_id && *id == job.msg.webhook_id
                })
                .map(|(_, h)| h)
        };
        let mut checked = HashSet::new();
        let mut recovered = HashSet::new();
        let mut paced = HashSet::new();
        let mut outcomes = Vec::with_capacity(made.len());
        for (i, job, a) in &made {
            let mut follow_up = async || -> Result<Handled, WorkerError> {
                if let (Some(delay), Some(at)) = (a.next_delay, a.record.next_attempt_at) {
                    self.queue.send_delayed(&job.msg.next(at), delay).await?;
                }
                if !a.sent.success() && checked.insert(job.msg.webhook_id.clone()) {
                    self.maybe_disable(job, a.sent.outcome, health_of(job), a.finished)
                        .await?;
                }
                // Never about a notice's own delivery: see `notice`.
                if a.exhausted && !job.msg.event.is_operational() {
                    let notice = Notice::Exhausted {
                        webhook: &job.webhook,
                        delivery: &a.delivery,
                    };
                    self.tell(&notice, a.finished).await;
                }
                let ended = health_of(job).and_then(|h| {
                    h.ended_streak
                        .filter(|_| notice::recovered(h.ended_failures))
                        .map(|since| (since, h.ended_failures))
                });
                if paced.insert(key_of(job)) {
                    let asked = (statuses.iter()).any(|((acc, id), status)| {
                        *acc == job.msg.account_id
                            && *id == job.msg.webhook_id
                            && status.paused_until.is_some()
                    });
                    self.tell_pace(job, health_of(job), asked, now).await;
                }
                if let Some((failing_since, failures)) = ended {
                    if recovered.insert(job.msg.webhook_id.clone()) {
                        let notice = Notice::Recovered {
                            webhook: &job.webhook,
                            failures,
                            failing_since,
                        };
                        self.tell(&notice, a.finished).await;
                    }
                }
                Ok(Handled::Attempted(a.record.state))
            };
            outcomes.push((*i, follow_up().await));
        }
        outcomes
    }

    /// Runs a page of a bulk recovery (see [`super::recovery`]). `Ok(false)`: gone or
    /// finished, nothing to do.
    pub async fn recover(&self, r: &RecoveryRef) -> Result<bool, WorkerError> {
        let now = self.attempter.now();
        let Some(recovery) = self
            .store
            .get_recovery(&r.account_id, &r.webhook_id, &r.id, now)
            .await?
            .filter(|rec| rec.state == RecoveryState::Running)
        else {
            return Ok(false);
        };
        let Some(webhook) = self
            .store
            .get_webhook_config(&r.account_id, &r.webhook_id)
            .await?
        else {
            return Ok(false);
        };
        let settings = &self.attempter.settings;
        recovery::run_page(&self.store, &self.queue, &webhook, &recovery, settings, now).await?;
        Ok(true)
    }
}
