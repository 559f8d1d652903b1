//! The deliver worker's part in digests (see [`crate::delivery::digest`]): putting a
//! batch's digested deliveries into their digests, and making a digest's payload when
//! its time comes.

use chrono::{DateTime, Utc};
use futures::future::join_all;

use super::{DigestDue, Handled, Outcomes, Worker};
use crate::{
    delivery::{
        admission::Job,
        digest::{self, Member},
        pace::OpenDigest,
    },
    event::EventType,
    metrics::{Metrics, Unit},
    store::Joined,
};

/// A digest's jobs of one batch: its webhook (account, id), its id, and the jobs.
type Group = ((String, String), OpenDigest, Vec<(usize, Job)>);

impl Worker {
    /// Puts each job into the digest planned for it; what became of each goes to
    /// `outcomes`. Returns the jobs whose deliveries had already begun on their own (a
    /// message back after a crash): they go on on their own, over the limit by that one.
    pub(super) async fn digest(
        &self,
        jobs: Vec<(usize, Job, OpenDigest)>,
        now: DateTime<Utc>,
        outcomes: &mut Outcomes,
    ) -> Vec<(usize, Job)> {
        let mut groups: Vec<Group> = Vec::new();
        for (i, job, id) in jobs {
            let key = job.key();
            match groups.iter_mut().find(|(k, d, _)| *k == key && *d == id) {
                Some((_, _, list)) => list.push((i, job)),
                None => groups.push((key, id, vec![(i, job)])),
            }
        }
        let expires_at = self.attempter.settings.expires_at(now);
        let joins = join_all(groups.into_iter().map(
            |((account, webhook), open, list)| async move {
                let id = open.id;
                let members: Vec<_> = (list.iter())
                    .map(|(_, job)| {
                        let delivery = job.msg.delivery(now, expires_at);
                        (Member::of(&job.msg), digest::digested(delivery, &id, now))
                    })
                    .collect();
                let joined = (self.store)
                    .join_digest(&account, &webhook, &id, open.at, &members)
                    .await;
                (id, list, joined)
            },
        ))
        .await;
        let mut begun = Vec::new();
        let mut digested = 0usize;
        for (id, list, joined) in joins {
            let results = match joined {
                Ok(results) => results,
                Err(e) => {
                    outcomes.extend(list.into_iter().map(|(i, _)| (i, Err(e.clone().into()))));
                    continue;
                }
            };
            for ((i, job), result) in list.into_iter().zip(results) {
                let handled = match result {
                    Joined::In => Handled::Digested(None),
                    Joined::Carrier(at) => {
                        Handled::Digested(Some(DigestDue { id: id.clone(), at }))
                    }
                    Joined::Already => Handled::Duplicate,
                    // Planned again when it comes back, into the next digest.
                    Joined::Closed => Handled::Postponed(now + chrono::Duration::seconds(1)),
                    Joined::Begun => {
                        begun.push((i, job));
                        continue;
                    }
                };
                if matches!(handled, Handled::Digested(_)) {
                    digested += 1;
                }
                outcomes.push((i, Ok(handled)));
            }
        }
        if digested > 0 {
            let mut metrics = Metrics::new("deliver");
            metrics.add("AlertsDigested", Unit::Count, digested as f64);
            metrics.emit(now);
        }
        begun
    }

    /// Makes the payload of each digest about to be sent for the first time: the digest
    /// is closed, and shows what it holds then. One that cannot be made fails its own
    /// message, which comes back.
    pub(super) async fn close_digests(
        &self,
        claimed: &mut Vec<(usize, Job)>,
        now: DateTime<Utc>,
        outcomes: &mut Outcomes,
    ) {
        let is_first_send =
            |job: &Job| job.msg.event == EventType::AlertDigest && job.msg.attempt == 1;
        if !claimed.iter().any(|(_, job)| is_first_send(job)) {
            return;
        }
        let portal = self.attempter.settings.portal.clone();
        let mut kept = Vec::with_capacity(claimed.len());
        for (i, mut job) in claimed.drain(..) {
            if !is_first_send(&job) {
                kept.push((i, job));
                continue;
            }
            let msg = &job.msg;
            let url = portal.as_ref().map(|p| {
                format!(
                    "{p}/webhooks/{}/deliveries/{}",
                    msg.webhook_id, msg.delivery_id
                )
            });
            let closed = (self.store)
                .close_digest(&msg.account_id, &msg.webhook_id, &msg.delivery_id, now, url)
                .await;
            let payload = closed.map(|c| digest::payload_of(&msg.delivery_id, &msg.account_id, &c));
            match payload.map(|p| serde_json::value::to_raw_value(&p)) {
                Ok(Ok(raw)) => {
                    job.msg.payload = raw;
                    kept.push((i, job));
                }
                Ok(Err(e)) => {
                    let e = crate::store::StoreError::Corrupt(e.to_string());
                    outcomes.push((i, Err(e.into())));
                }
                Err(e) => outcomes.push((i, Err(e.into()))),
            }
        }
        *claimed = kept;
    }
}
