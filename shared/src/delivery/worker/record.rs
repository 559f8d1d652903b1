//! A batch's attempts recorded together, with the pauses their answers asked for, and
//! what follows each: its retry, and the operational events the batch's effect calls for.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::{signals, Gates, Handled, Outcomes, Worker, WorkerError};
use crate::{
    delivery::{
        admission::Job,
        attempt::Attempted,
        notice::{self, Notice},
        retry,
    },
    event::EventType,
    metrics::{Metrics, Unit},
    webhook::health::WebhookStatus,
};

/// A pause an answer asked for: until when, and, if it was stored as soon as the answer
/// arrived, whether that began one (none was in force); `None` if that write failed.
#[derive(Clone, Copy, Debug)]
pub(super) struct Paused {
    until: DateTime<Utc>,
    began: Option<bool>,
}

/// The pauses a batch's answers asked for, by webhook (account, id).
pub(super) type Pauses = Vec<((String, String), Paused)>;

impl Worker {
    /// Stores at once the pause an answer asked for, if it asked for one, so that the
    /// webhook's other deliveries wait from now, not from when this batch is recorded
    /// (should that write fail, the batch's health write stores it). `None` when it asked
    /// for none.
    pub(super) async fn pause(&self, job: &Job, a: &Attempted) -> Option<Paused> {
        let until = retry::pause_asked(&a.sent, a.finished)?;
        let (account, id) = (&job.msg.account_id, &job.msg.webhook_id);
        let stored = self.store.pause_webhook(account, id, until, a.finished);
        let began = match stored.await {
            Ok(began) => Some(began),
            Err(e) => {
                tracing::warn!(error = %e, webhook = %id, "could not store a pause at once");
                None
            }
        };
        Some(Paused { until, began })
    }

    /// Records the attempts together, then queues what follows each.
    pub(super) async fn record(
        &self,
        made: Vec<(usize, Job, Attempted)>,
        gates: &Gates,
        pauses: &Pauses,
    ) -> Outcomes {
        if made.is_empty() {
            return Vec::new();
        }
        let now = self.attempter.now();
        let key_of = |job: &Job| (job.msg.account_id.clone(), job.msg.webhook_id.clone());
        let mut all = WebhookStatus::per_webhook(made.iter().map(|(_, job, a)| {
            let key = (job.msg.account_id.as_str(), job.msg.webhook_id.as_str());
            (key, &a.last_delivery)
        }));
        // A pause any answer asked for holds the whole webhook: the latest one asked. It is
        // written here only if it could not be stored when it was asked.
        for ((acc, id), status) in all.iter_mut() {
            let asked: Vec<&Paused> = (pauses.iter())
                .filter(|((pa, pid), _)| pa == acc && pid == id)
                .map(|(_, p)| p)
                .collect();
            status.paused_until = asked.iter().map(|p| p.until).max();
            status.pause_written = !asked.is_empty() && asked.iter().all(|p| p.began.is_some());
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
                    // Begun by a pause stored at once, or by this batch's health write.
                    let began_at_once = (pauses.iter())
                        .filter(|(key, p)| *key == key_of(job) && p.began == Some(true))
                        .map(|(_, p)| p.until)
                        .max();
                    let written_here = (statuses.iter()).any(|((acc, id), status)| {
                        *acc == job.msg.account_id
                            && *id == job.msg.webhook_id
                            && status.paused_until.is_some()
                            && !status.pause_written
                    });
                    let health = health_of(job);
                    let began = began_at_once.or_else(|| {
                        written_here
                            .then(|| health.and_then(|h| signals::began(h, now)))
                            .flatten()
                    });
                    self.tell_pace(job, health, began, now).await;
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
}
