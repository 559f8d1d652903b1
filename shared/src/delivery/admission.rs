//! Which of a batch's deliveries go now, and when the others may: a webhook's pause (asked
//! for by its receiver) and its rate limit, both kept in the store and so shared by every
//! deliver instance (see [`super::pace`]). A delivery that must wait is put off once, to
//! the time granted it, and costs nothing while it waits.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use futures::future::join_all;

use super::{
    message::DeliveryMessage,
    pace::{self, RateLimit, SlotTurn},
    record::Delivery,
};
use crate::{
    store::{AttemptClaim, Gate, StoreError},
    webhook::Webhook,
    Store,
};

/// A message to attempt, with the webhook config it will use.
pub struct Job {
    pub msg: DeliveryMessage,
    pub webhook: Webhook,
    pub delivery: Delivery,
}

impl Job {
    fn key(&self) -> (String, String) {
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
}

/// What admission decided for a job.
#[allow(clippy::large_enum_variant)] // short-lived, one per message of a batch
pub enum Admitted {
    Go(Job),
    /// Paused, or back before its granted time: kept out of sight until then.
    Wait(DateTime<Utc>),
    /// Granted a later send time: sent again to come back then, carrying it.
    Granted(DateTime<Utc>),
}

/// A limited webhook's jobs that need a send time granted, in their batch order.
type Asking = ((String, String), RateLimit, Vec<(usize, Job)>);

/// Admits the jobs of a batch (each beside its index): one grant per limited webhook, for
/// all of its jobs that need one, in the order given.
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
        let gate = gates.get(&key);
        match verdict(&job, gate, now) {
            Verdict::Go => out.push((i, Ok(Admitted::Go(job)))),
            Verdict::Wait(until) => out.push((i, Ok(Admitted::Wait(until)))),
            Verdict::Ask(limit) => match asking.iter_mut().find(|(k, _, _)| *k == key) {
                Some((_, _, list)) => list.push((i, job)),
                None => asking.push((key, limit, vec![(i, job)])),
            },
        }
    }
    let grants = join_all(asking.into_iter().map(|((account, id), limit, list)| {
        let known = gates
            .get(&(account.clone(), id.clone()))
            .map(|g| g.granted.clone())
            .unwrap_or_default();
        async move {
            let times = store
                .grant_sends(&account, &id, limit, list.len(), now, known)
                .await;
            (list, times)
        }
    }))
    .await;
    for (list, times) in grants {
        match times {
            Ok(times) => {
                for ((i, job), at) in list.into_iter().zip(times) {
                    let admitted = match at <= now {
                        true => Admitted::Go(job),
                        false => Admitted::Granted(at),
                    };
                    out.push((i, Ok(admitted)));
                }
            }
            Err(e) => out.extend(list.into_iter().map(|(i, _)| (i, Err(e.clone())))),
        }
    }
    out
}

/// What a job does at `now`, before any grant.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Go,
    Wait(DateTime<Utc>),
    /// It needs a send time granted under this limit.
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
