//! The deliver function's work on a batch of queue messages: read their webhooks, claim
//! each attempt, make them all at once, record them together, then schedule what follows.
//! Rate-limited webhooks' messages take these steps beside the others, not ahead of them:
//! planning their sends in the store does not hold up the rest of the batch.
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
mod record;
mod signals;
mod steps;

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use futures::future::join_all;

use super::{
    admission::{self, Admitted, Job},
    attempt::{AttemptError, Attempter},
    outcome::DeliveryState,
    queue::{not_yet_due, DeliveryMessage, Queue, QueueError},
    recovery::{self, RecoveryRef, RecoveryState},
};
use crate::{
    metrics::{Metrics, Unit},
    store::{Gate, StoreError},
    Store,
};
use record::Pauses;

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
        // A limited webhook plans its sends in the store, which can take several tries
        // when invocations contend: the batch's other webhooks do not wait for that.
        let (paced, free): (Vec<_>, Vec<_>) =
            (ready.into_iter()).partition(|(_, job)| job.limit().is_some());
        let (paced, free) = futures::join!(
            self.go_on(paced, &gates, now, lease_until),
            self.go_on(free, &gates, now, lease_until),
        );
        outcomes.extend(paced);
        outcomes.extend(free);
        outcomes
    }

    /// Admits, claims, attempts and records jobs that are ready.
    async fn go_on(
        &self,
        ready: Vec<(usize, Job)>,
        gates: &Gates,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Outcomes {
        let mut outcomes = Outcomes::new();
        if ready.is_empty() {
            return outcomes;
        }
        let mut admitted = Vec::with_capacity(ready.len());
        let mut digesting = Vec::new();
        let mut held = 0usize;
        for (i, verdict) in admission::admit(&self.store, ready, gates, now).await {
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
            async move {
                let attempted = self
                    .attempter
                    .attempt(
                        &job.webhook,
                        &job.delivery,
                        msg.attempt,
                        msg.trigger,
                        payload,
                        msg.condition_error.as_ref(),
                    )
                    .await;
                let paused = match &attempted {
                    Ok(a) => self.pause(job, a).await,
                    Err(_) => None,
                };
                (attempted, paused)
            }
        }))
        .await;
        let mut made = Vec::with_capacity(attempts.len());
        let mut pauses = Pauses::new();
        for ((i, job), (attempt, paused)) in claimed.into_iter().zip(attempts) {
            if let Some(paused) = paused {
                pauses.push((job.key(), paused));
            }
            match attempt {
                Ok(attempted) => made.push((i, job, attempted)),
                // Claimed but not sent: the lease runs out and the message comes back.
                Err(e) => outcomes.push((i, Err(e.into()))),
            }
        }
        outcomes.extend(self.record(made, gates, &pauses).await);
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
