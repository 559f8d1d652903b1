//! The deliver function's work on one queue message: claim the attempt, send it, record
//! it, and schedule what follows.
//!
//! Guarantees, and how they are kept:
//! - A duplicate or re-received message does not POST the same attempt twice: an attempt
//!   is claimed (a conditional write with a lease) before its request is sent.
//! - A crash loses nothing: a message is deleted only after its attempt is recorded and
//!   its follow-up queued. A crash mid-attempt leaves the message to come back after the
//!   visibility timeout, when the lease has run out and the attempt is made again.
//! - The config used is current: every claim checks the webhook's stored version in the
//!   same transaction, so a cached copy is never used stale.

use std::{collections::HashMap, sync::Mutex, time::Duration};

use chrono::{DateTime, Utc};
use futures::future::join_all;
use rand::Rng;

use crate::{
    delivery::{self, Attempt, Outcome},
    model::{LastDelivery, Webhook},
    queue::{DeliveryMessage, Queue},
    records::{msg_id, uuid_time, AttemptRecord, Delivery, DeliveryState, Trigger},
    ssrf::Policy,
    store::{Claim, DeliveryUpdate, StoreError, WebhookStatus},
    Store,
};

/// The Svix schedule: after the first attempt, retries after these delays.
pub const DEFAULT_SCHEDULE: &str = "5s,5m,30m,2h,5h,10h,10h";
/// How much of an answer `last_delivery.response` keeps.
const LAST_RESPONSE_MAX: usize = 1024;
/// The longest `Retry-After` honoured.
const RETRY_AFTER_MAX: Duration = Duration::from_secs(24 * 3600);
/// Cached webhooks per function instance.
const CACHE_MAX: usize = 10_000;

#[derive(Clone, Debug, PartialEq)]
pub struct DeliveryConfig {
    /// Delays before each retry; the first attempt is immediate.
    pub schedule: Vec<Duration>,
    /// Plus or minus this fraction of each delay.
    pub jitter: f64,
    /// A webhook failing for this long with no success is disabled.
    pub disable_after: Duration,
    /// How long delivery records are kept.
    pub retention: Duration,
    /// How long a claimed attempt is reserved. It must outlast any invocation of the
    /// deliver function (30 s in template.yaml), so that no worker writes an attempt it
    /// no longer holds; it is at least the delivery timeout plus 2 s.
    pub lease: Duration,
    pub timeout: Duration,
    /// Where deliveries may go (`ALLOWED_CIDRS`, `HTTPS_ONLY`).
    pub policy: Policy,
}

#[derive(Debug, thiserror::Error)]
#[error("{name}: {reason}")]
pub struct SettingError {
    pub name: &'static str,
    pub reason: String,
}

/// `250ms`, `5s`, `5m`, `2h`, `1d`, or plain seconds.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let split = raw
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{raw:?} is not a duration like 5s, 5m, 2h"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        "d" => value * 86400.0,
        _ => return Err(format!("{raw:?} has an unknown unit (ms, s, m, h, d)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("{raw:?}: {e}"))
}

pub fn parse_schedule(raw: &str) -> Result<Vec<Duration>, String> {
    if raw.trim().is_empty() {
        return Ok(Vec::new());
    }
    raw.split(',').map(parse_duration).collect()
}

impl DeliveryConfig {
    pub fn from_env() -> Result<Self, SettingError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingError> {
        let duration = |name: &'static str, default: &str| {
            parse_duration(&lookup(name).unwrap_or_else(|| default.to_string()))
                .map_err(|reason| SettingError { name, reason })
        };
        let schedule =
            parse_schedule(&lookup("RETRY_SCHEDULE").unwrap_or_else(|| DEFAULT_SCHEDULE.into()))
                .map_err(|reason| SettingError {
                    name: "RETRY_SCHEDULE",
                    reason,
                })?;
        let retention_days: u64 = lookup("DELIVERY_RETENTION_DAYS")
            .map(|v| {
                v.parse().map_err(|e| SettingError {
                    name: "DELIVERY_RETENTION_DAYS",
                    reason: format!("{v:?}: {e}"),
                })
            })
            .transpose()?
            .unwrap_or(30);
        let timeout = crate::config::DELIVERY_TIMEOUT;
        let lease = duration("DELIVERY_LEASE", "60s")?;
        // Recording a batch relies on it: no attempt outlives its lease.
        if lease < timeout + Duration::from_secs(2) {
            return Err(SettingError {
                name: "DELIVERY_LEASE",
                reason: format!(
                    "must exceed the {}s delivery timeout by 2s or more",
                    timeout.as_secs()
                ),
            });
        }
        Ok(Self {
            schedule,
            jitter: 0.2,
            disable_after: duration("DISABLE_AFTER", "5d")?,
            retention: Duration::from_secs(retention_days * 86400),
            lease,
            timeout,
            policy: Policy::from_lookup(&lookup).map_err(|reason| SettingError {
                name: "ALLOWED_CIDRS",
                reason,
            })?,
        })
    }

    /// The delay before retry number `retry` (1 = the second attempt), jittered, or
    /// `None` once the schedule is spent.
    pub fn retry_delay(&self, retry: u32, retry_after: Option<Duration>) -> Option<Duration> {
        let base = *self
            .schedule
            .get(usize::try_from(retry).ok()?.checked_sub(1)?)?;
        let factor = 1.0 + rand::rng().random_range(-self.jitter..=self.jitter);
        let jittered = base.mul_f64(factor.max(0.0));
        // Retry-After may push a retry later, never sooner, and within a day.
        Some(match retry_after {
            Some(asked) => jittered.max(asked.min(RETRY_AFTER_MAX)),
            None => jittered,
        })
    }

    pub fn expires_at(&self, now: DateTime<Utc>) -> i64 {
        now.timestamp() + i64::try_from(self.retention.as_secs()).unwrap_or(i64::MAX / 2)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] crate::queue::QueueError),
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

/// A message about to be attempted, with the webhook config it will use.
struct Job {
    msg: DeliveryMessage,
    webhook: Webhook,
    delivery: Delivery,
    lease_until: DateTime<Utc>,
}

/// An attempt made, and what it leaves to record.
struct Done {
    attempt: Attempt,
    record: AttemptRecord,
    update: DeliveryUpdate,
    last_delivery: LastDelivery,
    next_delay: Option<Duration>,
    finished: DateTime<Utc>,
}

impl Done {
    /// The delivery item as this attempt leaves it.
    fn delivery(&self, job: &Job) -> Delivery {
        Delivery {
            state: self.update.state,
            attempt_count: self.record.attempt,
            updated_at: Some(self.finished),
            last_status_code: self.update.last_status_code,
            last_error: self.update.last_error.clone(),
            next_attempt_at: self.update.next_attempt_at,
            ..job.delivery.clone()
        }
    }
}

pub struct Worker {
    pub store: Store,
    pub queue: Queue,
    pub http: reqwest::Client,
    pub config: DeliveryConfig,
    /// Webhooks by (account, id); every claim checks the stored version.
    cache: Mutex<HashMap<(String, String), Webhook>>,
}

impl Worker {
    pub fn new(store: Store, queue: Queue, http: reqwest::Client, config: DeliveryConfig) -> Self {
        Self {
            store,
            queue,
            http,
            config,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, msg: &DeliveryMessage) -> Option<Webhook> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(&(msg.account_id.clone(), msg.webhook_id.clone()))
            .filter(|w| w.version >= msg.webhook_version)
            .cloned()
    }

    async fn load(&self, msg: &DeliveryMessage) -> Result<Option<Webhook>, StoreError> {
        let key = (msg.account_id.clone(), msg.webhook_id.clone());
        let webhook = self
            .store
            .get_webhook(&msg.account_id, &msg.webhook_id)
            .await?;
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        match &webhook {
            Some(w) => cache.insert(key, w.clone()),
            None => cache.remove(&key),
        };
        Ok(webhook)
    }

    fn forget(&self, msg: &DeliveryMessage) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.remove(&(msg.account_id.clone(), msg.webhook_id.clone()));
    }

    /// Handles one message on its own: the path for duplicates and contention, and
    /// for what a batch could not claim or record at once.
    pub async fn handle(&self, msg: DeliveryMessage) -> Result<Handled, WorkerError> {
        let now = Utc::now();
        let mut job = match self.prepare(msg, now).await? {
            Ok(job) => job,
            Err(handled) => return Ok(handled),
        };
        let mut reloaded = false;
        loop {
            if !job.webhook.enabled {
                if reloaded {
                    return self.abandon(&job, now).await;
                }
            } else {
                let claim = self
                    .store
                    .claim_attempt(
                        &job.webhook,
                        &job.delivery,
                        job.msg.attempt,
                        job.msg.trigger,
                        job.lease_until,
                        now,
                    )
                    .await?;
                match claim {
                    Claim::Claimed => break,
                    Claim::Refused(current) => return self.refused(&job.msg, current, now).await,
                    Claim::WebhookChanged if reloaded => return Ok(Handled::Busy),
                    Claim::WebhookChanged => {}
                }
            }
            reloaded = true;
            job.webhook = match self.load(&job.msg).await? {
                Some(w) => w,
                None => return Ok(Handled::Dropped),
            };
        }
        let done = self.attempt(&job).await?;
        let status = WebhookStatus::after(std::slice::from_ref(&done.last_delivery));
        let kept = self
            .store
            .finish_attempt(
                &job.msg.account_id,
                &done.record,
                &done.update,
                job.lease_until,
                status.as_ref(),
                done.finished,
            )
            .await?;
        if !kept {
            tracing::warn!(delivery = %job.msg.delivery_id, attempt = job.msg.attempt, "lease lost before the attempt was recorded");
            return Ok(Handled::Duplicate);
        }
        self.after_recorded(&job, &done, &mut std::collections::HashSet::new())
            .await
    }

    /// Handles a batch the common way: every attempt claimed in one transaction, made at
    /// once, and recorded together (BatchWriteItem, and one transaction for the webhooks'
    /// status). Whatever the batch claim refuses (a duplicate, a busy lease, a changed
    /// webhook) goes through [`Worker::handle`] one by one, which sorts it out.
    pub async fn handle_batch(
        &self,
        messages: Vec<DeliveryMessage>,
    ) -> Vec<Result<Handled, WorkerError>> {
        let now = Utc::now();
        let mut results: Vec<Option<Result<Handled, WorkerError>>> =
            (0..messages.len()).map(|_| None).collect();
        let mut jobs: Vec<(usize, Job)> = Vec::new();
        let mut alone: Vec<(usize, DeliveryMessage)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (i, msg) in messages.into_iter().enumerate() {
            // A transaction may name an item once: copies of a delivery go one by one.
            if !seen.insert(msg.delivery_id.clone()) {
                alone.push((i, msg));
                continue;
            }
            match self.prepare(msg.clone(), now).await {
                Ok(Ok(job)) if job.webhook.enabled => jobs.push((i, job)),
                Ok(Ok(_)) => alone.push((i, msg)),
                Ok(Err(handled)) => results[i] = Some(Ok(handled)),
                Err(e) => results[i] = Some(Err(e)),
            }
        }
        let lease_until = now + self.config.lease;
        for (_, job) in &mut jobs {
            job.lease_until = lease_until;
        }
        let claimed = if jobs.is_empty() {
            false
        } else {
            let claims: Vec<_> = jobs
                .iter()
                .map(|(_, j)| (&j.webhook, &j.delivery, j.msg.attempt, j.msg.trigger))
                .collect();
            match self.store.claim_attempts(&claims, lease_until, now).await {
                Ok(claimed) => claimed,
                Err(e) => {
                    tracing::warn!(error = %e, "batch claim failed; claiming one by one");
                    false
                }
            }
        };
        if !claimed {
            alone.extend(jobs.drain(..).map(|(i, job)| (i, job.msg)));
        }

        let attempts = join_all(jobs.iter().map(|(_, job)| self.attempt(job))).await;
        let mut done = Vec::with_capacity(attempts.len());
        for ((i, job), attempt) in jobs.iter().zip(attempts) {
            match attempt {
                Ok(d) => done.push((*i, job, d)),
                // Claimed but not sent: the lease runs out and the message comes back.
                Err(e) => results[*i] = Some(Err(e)),
            }
        }
        if !done.is_empty() {
            let mut statuses: Vec<((&str, &str), Vec<LastDelivery>)> = Vec::new();
            let mut by_time: Vec<&(usize, &Job, Done)> = done.iter().collect();
            by_time.sort_by_key(|(_, _, d)| d.finished);
            for (_, job, d) in by_time {
                let key = (job.msg.account_id.as_str(), job.msg.webhook_id.as_str());
                match statuses.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, list)) => list.push(d.last_delivery.clone()),
                    None => statuses.push((key, vec![d.last_delivery.clone()])),
                }
            }
            let statuses: Vec<_> = statuses
                .into_iter()
                .filter_map(|((account, webhook), list)| {
                    Some((account, webhook, WebhookStatus::after(&list)?))
                })
                .collect();
            let deliveries: Vec<Delivery> =
                done.iter().map(|(_, job, d)| d.delivery(job)).collect();
            let finished: Vec<_> = done
                .iter()
                .zip(&deliveries)
                .map(|((_, job, d), delivery)| (job.msg.account_id.as_str(), &d.record, delivery))
                .collect();
            match self.store.record_attempts(&finished, &statuses).await {
                Ok(()) => {
                    let mut disable_checked = std::collections::HashSet::new();
                    for (i, job, d) in &done {
                        results[*i] = Some(self.after_recorded(job, d, &mut disable_checked).await);
                    }
                }
                Err(e) => {
                    // Nothing is lost: the messages come back; an attempt that was written
                    // is then seen as made, the others are made again when the lease ends.
                    tracing::error!(error = %e, "could not record a batch of attempts");
                    for (i, _, _) in &done {
                        results[*i] = Some(Err(WorkerError::Store(StoreError::Throttled)));
                    }
                }
            }
        }
        let alone_results = join_all(
            alone
                .into_iter()
                .map(|(i, msg)| async move { (i, self.handle(msg).await) }),
        )
        .await;
        for (i, result) in alone_results {
            results[i] = Some(result);
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or(Ok(Handled::Busy)))
            .collect()
    }

    /// The follow-ups of a recorded attempt: queue the next one, and check whether its
    /// webhook should be disabled (once per webhook in `disable_checked`).
    async fn after_recorded(
        &self,
        job: &Job,
        done: &Done,
        disabled_checked: &mut std::collections::HashSet<String>,
    ) -> Result<Handled, WorkerError> {
        self.follow_up(job, done).await?;
        if !done.attempt.success() && disabled_checked.insert(job.msg.webhook_id.clone()) {
            self.maybe_disable(&job.msg, &done.attempt, done.finished)
                .await?;
        }
        Ok(Handled::Attempted(done.update.state))
    }

    /// Postpones a message not yet due, and finds its webhook.
    async fn prepare(
        &self,
        msg: DeliveryMessage,
        now: DateTime<Utc>,
    ) -> Result<Result<Job, Handled>, WorkerError> {
        if let Some(due) = msg.not_before {
            if let Ok(wait) = (due - now).to_std() {
                if wait > Duration::from_secs(1) {
                    self.queue.send_delayed(&msg, wait).await?;
                    return Ok(Err(Handled::Postponed));
                }
            }
        }
        let webhook = match self.cached(&msg) {
            Some(w) => w,
            None => match self.load(&msg).await? {
                Some(w) => w,
                None => return Ok(Err(Handled::Dropped)),
            },
        };
        let delivery = Delivery {
            delivery_id: msg.delivery_id.clone(),
            webhook_id: msg.webhook_id.clone(),
            alert_id: msg.alert_id.clone(),
            event: msg.event,
            trigger: msg.trigger,
            msg_id: msg_id(&msg.delivery_id),
            state: DeliveryState::Pending,
            attempt_count: msg.attempt.saturating_sub(1),
            created_at: uuid_time(&msg.delivery_id).unwrap_or(now),
            updated_at: None,
            last_status_code: None,
            last_error: None,
            next_attempt_at: None,
            expires_at: self.config.expires_at(now),
        };
        Ok(Ok(Job {
            lease_until: now + self.config.lease,
            msg,
            webhook,
            delivery,
        }))
    }

    /// A scheduled delivery to a disabled webhook ends as failed rather than pending.
    async fn abandon(&self, job: &Job, now: DateTime<Utc>) -> Result<Handled, WorkerError> {
        if job.msg.trigger == Trigger::Scheduled {
            self.store
                .abandon_delivery(
                    &job.msg.account_id,
                    &job.delivery,
                    "the webhook is disabled",
                    now,
                )
                .await?;
        }
        Ok(Handled::Dropped)
    }

    /// Sends a claimed attempt and works out what it means.
    async fn attempt(&self, job: &Job) -> Result<Done, WorkerError> {
        let started = Utc::now();
        let request = delivery::build_request(
            &job.webhook,
            &job.delivery.msg_id,
            job.msg.payload.clone().into_bytes(),
            started.timestamp(),
        )
        .map_err(|_| WorkerError::BadSecret)?;
        let attempt = delivery::send(
            &self.http,
            &request,
            self.config.timeout,
            &self.config.policy,
        )
        .await;
        let finished = Utc::now();
        let (state, next_delay, error) = self.decide(&job.msg, &attempt);
        let next_attempt_at = next_delay.map(|d| finished + d);
        let record = AttemptRecord {
            delivery_id: job.msg.delivery_id.clone(),
            webhook_id: job.msg.webhook_id.clone(),
            attempt: job.msg.attempt,
            alert_id: job.msg.alert_id.clone(),
            event: job.msg.event,
            trigger: job.msg.trigger,
            timestamp: started,
            request: request.recorded(),
            response: attempt.recorded_response(),
            duration_ms: attempt.duration_ms,
            error: error.clone(),
            next_attempt_at,
            state,
            expires_at: self.config.expires_at(finished),
        };
        let update = DeliveryUpdate {
            state,
            last_status_code: attempt.status_code,
            last_error: error,
            next_attempt_at,
        };
        let last_delivery = LastDelivery {
            success: attempt.success(),
            status_code: attempt.status_code,
            response: attempt
                .response_body
                .as_ref()
                .map(|b| truncate(b, LAST_RESPONSE_MAX)),
            timestamp: finished,
        };
        tracing::info!(
            account = %job.msg.account_id,
            webhook = %job.msg.webhook_id,
            delivery = %job.msg.delivery_id,
            attempt = job.msg.attempt,
            status = ?attempt.status_code,
            state = state.as_str(),
            duration_ms = attempt.duration_ms,
            "attempt made"
        );
        Ok(Done {
            attempt,
            record,
            update,
            last_delivery,
            next_delay,
            finished,
        })
    }

    /// Queues the next attempt, once this one is recorded.
    async fn follow_up(&self, job: &Job, done: &Done) -> Result<(), WorkerError> {
        if let (Some(delay), Some(at)) = (done.next_delay, done.update.next_attempt_at) {
            self.queue
                .send_delayed(&next_message(&job.msg, at), delay)
                .await?;
        }
        Ok(())
    }

    /// The delivery's state after an attempt, the delay before the next one (if any),
    /// and the error to record.
    fn decide(
        &self,
        msg: &DeliveryMessage,
        attempt: &Attempt,
    ) -> (DeliveryState, Option<Duration>, Option<String>) {
        match attempt.outcome {
            Outcome::Success => (DeliveryState::Succeeded, None, None),
            Outcome::Fail | Outcome::Gone | Outcome::Refused => {
                (DeliveryState::Failed, None, Some(attempt.message.clone()))
            }
            Outcome::Retry => {
                // Manual attempts are one-off; scheduled ones follow the schedule.
                let delay = match msg.trigger {
                    Trigger::Scheduled => self.config.retry_delay(msg.attempt, attempt.retry_after),
                    Trigger::Manual | Trigger::Test => None,
                };
                match delay {
                    Some(d) => (
                        DeliveryState::Retrying,
                        Some(d),
                        Some(attempt.message.clone()),
                    ),
                    None if msg.trigger == Trigger::Scheduled => (
                        DeliveryState::Failed,
                        None,
                        Some(format!(
                            "{}; retries exhausted after {} attempts",
                            attempt.message, msg.attempt
                        )),
                    ),
                    None => (DeliveryState::Failed, None, Some(attempt.message.clone())),
                }
            }
        }
    }

    /// A claim was refused: a duplicate, a superseded scheduled attempt, or a busy lease.
    async fn refused(
        &self,
        msg: &DeliveryMessage,
        current: Option<Delivery>,
        now: DateTime<Utc>,
    ) -> Result<Handled, WorkerError> {
        let Some(current) = current else {
            return Ok(Handled::Busy);
        };
        if current.attempt_count >= msg.attempt {
            // This attempt was made. If the process died before queueing the next one,
            // queue it now: a second copy of it would be refused the same way.
            if current.attempt_count == msg.attempt
                && current.state == DeliveryState::Retrying
                && msg.trigger == Trigger::Scheduled
            {
                if let Some(at) = current.next_attempt_at {
                    let wait = (at - now).to_std().unwrap_or(Duration::ZERO);
                    self.queue
                        .send_delayed(&next_message(msg, at), wait)
                        .await?;
                }
            }
            return Ok(Handled::Duplicate);
        }
        if matches!(
            current.state,
            DeliveryState::Succeeded | DeliveryState::Failed
        ) && msg.trigger == Trigger::Scheduled
        {
            return Ok(Handled::Duplicate);
        }
        Ok(Handled::Busy)
    }

    async fn maybe_disable(
        &self,
        msg: &DeliveryMessage,
        attempt: &Attempt,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let disabled = if attempt.outcome == Outcome::Gone {
            self.store
                .disable_webhook(
                    &msg.account_id,
                    &msg.webhook_id,
                    "the endpoint answered 410 Gone",
                    None,
                )
                .await?
        } else {
            // Conditional on the stored start of the failure run, so a success elsewhere
            // since then keeps the webhook enabled.
            let cutoff = now - self.config.disable_after;
            let reason = format!(
                "no successful delivery for {}; re-enable it once the endpoint works",
                human(self.config.disable_after)
            );
            self.store
                .disable_webhook(&msg.account_id, &msg.webhook_id, &reason, Some(cutoff))
                .await?
        };
        if disabled {
            tracing::warn!(account = %msg.account_id, webhook = %msg.webhook_id, "webhook disabled");
            self.forget(msg);
        }
        Ok(())
    }
}

fn next_message(msg: &DeliveryMessage, at: DateTime<Utc>) -> DeliveryMessage {
    DeliveryMessage {
        attempt: msg.attempt + 1,
        trigger: Trigger::Scheduled,
        not_before: Some(at),
        ..msg.clone()
    }
}

fn truncate(text: &str, max: usize) -> String {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s >= 86400 && s % 86400 == 0 => format!("{} days", s / 86400),
        s if s >= 3600 && s % 3600 == 0 => format!("{} hours", s / 3600),
        s if s >= 60 && s % 60 == 0 => format!("{} minutes", s / 60),
        s => format!("{s} seconds"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(schedule: &str) -> DeliveryConfig {
        DeliveryConfig::from_lookup(|k| (k == "RETRY_SCHEDULE").then(|| schedule.to_string()))
            .unwrap()
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("5").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("5d").unwrap(), Duration::from_secs(432_000));
        assert!(parse_duration("5 fortnights").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn default_schedule_is_svix() {
        let c = DeliveryConfig::from_lookup(|_| None).unwrap();
        let secs: Vec<u64> = c.schedule.iter().map(Duration::as_secs).collect();
        assert_eq!(secs, [5, 300, 1800, 7200, 18000, 36000, 36000]);
        assert_eq!(c.disable_after, Duration::from_secs(5 * 86400));
        assert_eq!(c.retention, Duration::from_secs(30 * 86400));
        assert_eq!(c.timeout, Duration::from_secs(10));
    }

    #[test]
    fn delays_are_jittered_within_20_percent_and_end() {
        let c = config("10s,100s");
        for _ in 0..200 {
            let d = c.retry_delay(1, None).unwrap().as_secs_f64();
            assert!((8.0..=12.0).contains(&d), "{d}");
        }
        assert!(c.retry_delay(2, None).unwrap() >= Duration::from_secs(80));
        assert_eq!(c.retry_delay(3, None), None);
        assert_eq!(c.retry_delay(0, None), None);
    }

    #[test]
    fn retry_after_only_lengthens_and_is_bounded() {
        let c = config("10s");
        assert!(c.retry_delay(1, Some(Duration::from_secs(1))).unwrap() >= Duration::from_secs(8));
        assert_eq!(
            c.retry_delay(1, Some(Duration::from_secs(600))).unwrap(),
            Duration::from_secs(600)
        );
        assert_eq!(
            c.retry_delay(1, Some(Duration::from_secs(10 * 86400)))
                .unwrap(),
            RETRY_AFTER_MAX
        );
    }

    #[test]
    fn a_lease_must_outlast_an_attempt() {
        let with = |lease: &'static str| {
            DeliveryConfig::from_lookup(move |k| (k == "DELIVERY_LEASE").then(|| lease.to_string()))
        };
        assert!(with("11s").is_err());
        assert_eq!(with("12s").unwrap().lease, Duration::from_secs(12));
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
