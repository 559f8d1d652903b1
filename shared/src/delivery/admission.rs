//! Which of a batch's deliveries go now, and when the others may: a webhook's pause (asked
//! for by its receiver), its rate limit and the lanes it grants by, and its digest. All
//! are kept in the store and so shared by every deliver instance (see [`super::pace`]).
//! A delivery that must wait is put off once, to the time granted it, and costs nothing
//! while it waits.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use futures::future::join_all;

use super::{
    message::DeliveryMessage,
    outcome::{DeliveryState, Trigger},
    pace::{self, Lane, Pacing, Plan, RateLimit, SlotTurn, Told},
    record::Delivery,
};
use crate::{
    alert::Severity,
    store::{AttemptClaim, Gate, StoreError},
    webhook::Webhook,
    Store,
};

/// A message to attempt, with the webhook config it will use.
pub struct Job {
    pub msg: DeliveryMessage,
    pub webhook: Webhook,
    pub delivery: Delivery,
    /// Where the alert's previous transition's delivery to the webhook ended, if it had
    /// one (see [`super::order`]).
    pub earlier: Option<DeliveryState>,
}

impl Job {
    pub fn key(&self) -> (String, String) {
        (self.msg.account_id.clone(), self.msg.webhook_id.clone())
    }

    /// What its attempt's claim writes.
    pub fn claim(&self) -> AttemptClaim<'_> {
        AttemptClaim {
            account_id: &self.msg.account_id,
            delivery: &self.delivery,
            attempt: self.msg.attempt,
            trigger: self.msg.trigger,
        }
    }

    /// The webhook's rate limit, if it has one.
    pub fn limit(&self) -> Option<RateLimit> {
        let settings = &self.webhook.settings;
        settings.rate_limit.in_force(settings.format)
    }

    /// How long a queue the webhook lets grow before digesting: none if it never
    /// digests, or its format cannot show a digest.
    pub fn digest_after(&self) -> Option<chrono::Duration> {
        let settings = &self.webhook.settings;
        let shows = settings.template.is_some() || settings.format.shows_digests();
        let seconds = settings.digest_after_seconds.0.filter(|_| shows)?;
        Some(chrono::Duration::seconds(i64::from(seconds)))
    }

    /// The lane it waits in (see [`pace::lane`]).
    pub fn lane(&self) -> Lane {
        let msg = &self.msg;
        let never = &self.webhook.settings.never_digest;
        let exempt = severity(msg).is_some_and(|s| never.contains(&s));
        let told = match self.earlier {
            None => Told::Nothing,
            Some(DeliveryState::Digested) => Told::InDigest,
            Some(_) => Told::Individually,
        };
        let (retry, manual) = (msg.attempt > 1, msg.trigger != Trigger::Scheduled);
        pace::lane(msg.event, exempt, told, retry, manual)
    }
}

/// The alert's severity, as its payload says.
fn severity(msg: &DeliveryMessage) -> Option<Severity> {
    #[derive(serde::Deserialize)]
    struct Payload {
        data: Data,
    }
    #[derive(serde::Deserialize)]
    struct Data {
        alert: Option<Alert>,
    }
    #[derive(serde::Deserialize)]
    struct Alert {
        severity: Option<String>,
    }
    let payload: Payload = serde_json::from_str(&msg.payload_json()).ok()?;
    Severity::parse(&payload.data.alert?.severity?)
}

/// What admission decided for a job.
#[allow(clippy::large_enum_variant)] // short-lived, one per message of a batch
pub enum Admitted {
    Go(Job),
    /// Paused, back before its granted time, or not granted one yet: kept out of sight
    /// until then.
    Wait(DateTime<Utc>),
    /// Granted a later send time: sent again to come back then, carrying it.
    Granted(DateTime<Utc>),
    /// To go into this digest.
    Digest(Job, pace::OpenDigest),
}

/// A limited webhook's jobs that need a plan, in their batch order.
type Asking = ((String, String), RateLimit, Vec<(usize, Job)>);

/// Admits the jobs of a batch (each beside its index): one plan per limited webhook, for
/// all of its jobs that need one.
pub async fn admit(
    store: &Store,
    jobs: Vec<(usize, Job)>,
    gates: &HashMap<(String, String), Gate>,
    now: DateTime<Utc>,
) -> Vec<(usize, Result<Admitted, StoreError>)> {
    let mut out = Vec::with_capacity(jobs.len());
    let mut asking: Vec<Asking> = Vec::new();
    for (i, job) in jobs {
        let key = job.key();
        match verdict(&job, gates.get(&key), now) {
            Verdict::Go => out.push((i, Ok(Admitted::Go(job)))),
            Verdict::Wait(until) => out.push((i, Ok(Admitted::Wait(until)))),
            Verdict::Ask(limit) => match asking.iter_mut().find(|(k, _, _)| *k == key) {
                Some((_, _, list)) => list.push((i, job)),
                None => asking.push((key, limit, vec![(i, job)])),
            },
        }
    }
    let planned = join_all(asking.into_iter().map(|(key, limit, list)| {
        let known = gates
            .get(&key)
            .map(|g| g.granted.clone())
            .unwrap_or_default();
        async move {
            let lanes: Vec<Lane> = list.iter().map(|(_, job)| job.lane()).collect();
            let pacing = Pacing {
                limit,
                digest_after: list.first().and_then(|(_, job)| job.digest_after()),
            };
            let (account, id) = &key;
            let plans = (store.plan_sends(account, id, pacing, &lanes, now, known)).await;
            (list, plans)
        }
    }))
    .await;
    for (list, plans) in planned {
        match plans {
            Ok(plans) => {
                for ((i, job), plan) in list.into_iter().zip(plans) {
                    let admitted = match plan {
                        Plan::Go => Admitted::Go(job),
                        Plan::At(at) => Admitted::Granted(at),
                        Plan::Wait(until) => Admitted::Wait(until),
                        Plan::Digest(id) => Admitted::Digest(job, id),
                    };
                    out.push((i, Ok(admitted)));
                }
            }
            Err(e) => out.extend(list.into_iter().map(|(i, _)| (i, Err(e.clone())))),
        }
    }
    out
}

/// What a job does at `now`, before any plan.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Go,
    Wait(DateTime<Utc>),
    /// It needs a plan under this limit.
    Ask(RateLimit),
}

fn verdict(job: &Job, gate: Option<&Gate>, now: DateTime<Utc>) -> Verdict {
    if let Some(until) = gate.and_then(|g| g.paused_until).filter(|u| *u > now) {
        return Verdict::Wait(until);
    }
    let Some(limit) = job.limit() else {
        return Verdict::Go;
    };
    match pace::slot_turn(job.msg.slot, now) {
        SlotTurn::Go => Verdict::Go,
        SlotTurn::Wait(at) => Verdict::Wait(at),
        SlotTurn::Ask => Verdict::Ask(limit),
    }
}
