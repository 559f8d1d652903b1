//! A webhook's health: the failure streak its attempts leave, when that is worth writing,
//! and when a failing webhook is disabled. Pure: the time is an argument.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::LastDelivery;
use crate::delivery::outcome::Outcome;

/// The health one attempt, or the attempts of a batch, leave on a webhook.
#[derive(Clone, Debug, PartialEq)]
pub struct WebhookStatus {
    pub last_delivery: LastDelivery,
    pub last_success: Option<DateTime<Utc>>,
    pub last_failure: Option<DateTime<Utc>>,
    /// The failure streak: failures after the last success (all of them when none
    /// succeeded).
    pub failures: u32,
    /// When those failures began; `None` when the last attempt succeeded.
    pub failing_since: Option<DateTime<Utc>>,
    /// A success came before those failures, so the stored streak is over.
    pub reset: bool,
    /// The receiver asked for a pause until then (see [`crate::delivery::pace`]).
    pub paused_until: Option<DateTime<Utc>>,
    /// That pause was stored the moment its answer arrived (see
    /// `Store::pause_webhook`): the batch's health write leaves it as it is.
    pub pause_written: bool,
}

impl WebhookStatus {
    /// The status after these attempts, in the order they finished.
    pub fn after(attempts: &[LastDelivery]) -> Option<Self> {
        let last = attempts.last()?.clone();
        let latest = |ok: bool| {
            attempts
                .iter()
                .rev()
                .find(|d| d.success == ok)
                .map(|d| d.timestamp)
        };
        let last_success = attempts.iter().rposition(|d| d.success);
        let run = &attempts[last_success.map_or(0, |i| i + 1)..];
        Some(Self {
            last_delivery: last,
            last_success: latest(true),
            last_failure: latest(false),
            failures: u32::try_from(run.len()).unwrap_or(u32::MAX),
            failing_since: run.first().map(|d| d.timestamp),
            reset: last_success.is_some(),
            paused_until: None,
            pause_written: false,
        })
    }
}

impl WebhookStatus {
    /// The status each webhook is left with by a batch's attempts, given in any order.
    pub fn per_webhook<'a, K: PartialEq>(
        attempts: impl IntoIterator<Item = (K, &'a LastDelivery)>,
    ) -> Vec<(K, WebhookStatus)> {
        let mut by_time: Vec<_> = attempts.into_iter().collect();
        by_time.sort_by_key(|(_, d)| d.timestamp);
        let mut grouped: Vec<(K, Vec<LastDelivery>)> = Vec::new();
        for (key, delivery) in by_time {
            match grouped.iter_mut().find(|(k, _)| *k == key) {
                Some((_, list)) => list.push(delivery.clone()),
                None => grouped.push((key, vec![delivery.clone()])),
            }
        }
        grouped
            .into_iter()
            .filter_map(|(key, list)| Some((key, Self::after(&list)?)))
            .collect()
    }
}

/// How long a webhook's stored health, once written clear (successes only), goes
/// unwritten while it stays clear: a healthy webhook's last success and last delivery
/// show to within this, and its successes cost no health write in between.
pub const HEALTH_REFRESH: Duration = Duration::from_secs(30);

impl WebhookStatus {
    /// No failure in these attempts, and none stored before (a streak they end).
    pub fn is_clear(&self) -> bool {
        self.failures == 0 && self.last_failure.is_none()
    }

    /// Whether this status is worth writing, given when the stored health was last written
    /// clear (its last success, when it holds no failure streak; `None` when it holds one,
    /// or none is stored): anything but a success within [`HEALTH_REFRESH`] of that is.
    /// A stored streak is always ended, so that `webhook.recovered` is sent, and a pause
    /// asked for or stored (`stored_pause`) always written, so that it holds or is ended.
    pub fn worth_writing(
        &self,
        stored_clear_at: Option<DateTime<Utc>>,
        stored_pause: bool,
        now: DateTime<Utc>,
    ) -> bool {
        if stored_pause || self.paused_until.is_some() {
            return true;
        }
        let fresh = stored_clear_at
            .and_then(|at| (now - at).to_std().ok())
            .is_some_and(|age| age < HEALTH_REFRESH);
        !(self.is_clear() && fresh)
    }
}

/// Why a webhook should be disabled after a failed attempt, if it should: it answered
/// 410 Gone, or its streak of failures (stored, begun at `failing_since`) has lasted
/// longer than `disable_after` with no success.
pub fn disable_reason(
    outcome: Outcome,
    failing_since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    disable_after: Duration,
) -> Option<String> {
    if outcome == Outcome::Gone {
        return Some("the endpoint answered 410 Gone".into());
    }
    let limit = chrono::Duration::from_std(disable_after).ok()?;
    let since = failing_since?;
    (now - since > limit).then(|| {
        format!(
            "no successful delivery for {}; re-enable it once the endpoint works",
            human(disable_after)
        )
    })
}

fn human(d: Duration) -> String {
    match d.as_secs() {
        s if s >= 86400 && s % 86400 == 0 => format!("{} days", s / 86400),
        s if s >= 3600 && s % 3600 == 0 => format!("{} hours", s / 3600),
        s if s >= 60 && s % 60 == 0 => format!("{} minutes", s / 60),
        s => format!("{s} seconds"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn the_failure_streak() {
        let ld = |success, t| LastDelivery {
            success,
            status_code: Some(if success { 200 } else { 500 }),
            response: None,
            timestamp: at(t),
        };
        assert_eq!(WebhookStatus::after(&[]), None);
        let failing = WebhookStatus::after(&[ld(false, 1), ld(false, 2)]).unwrap();
        assert_eq!(
            (failing.failures, failing.failing_since, failing.reset),
            (2, Some(at(1)), false)
        );
        assert_eq!(
            (failing.last_success, failing.last_failure),
            (None, Some(at(2)))
        );
        let recovered = WebhookStatus::after(&[ld(false, 1), ld(true, 2)]).unwrap();
        assert_eq!((recovered.failures, recovered.failing_since), (0, None));
        assert_eq!(recovered.last_delivery, ld(true, 2));
        let relapsed = WebhookStatus::after(&[ld(true, 1), ld(false, 2), ld(false, 3)]).unwrap();
        assert_eq!(
            (relapsed.failures, relapsed.failing_since, relapsed.reset),
            (2, Some(at(2)), true)
        );
        // A batch, out of order, for two webhooks.
        let (a3, b1, a1) = (ld(true, 3), ld(false, 1), ld(false, 1));
        let per = WebhookStatus::per_webhook([("a", &a3), ("b", &b1), ("a", &a1)]);
        assert_eq!(per.len(), 2);
        assert_eq!(per[0].0, "b");
        assert_eq!(per[1].1.last_delivery, a3);
        assert_eq!((per[1].1.failures, per[1].1.reset), (0, true));
    }

    #[test]
    fn health_is_written_when_it_changes_or_every_five_seconds() {
        let ld = |success, t| LastDelivery {
            success,
            status_code: None,
            response: None,
            timestamp: at(t),
        };
        let clear = WebhookStatus::after(&[ld(true, 10)]).unwrap();
        assert!(clear.worth_writing(None, false, at(10)));
        assert!(!clear.worth_writing(Some(at(8)), false, at(10)));
        assert!(!clear.worth_writing(Some(at(-19)), false, at(10)));
        assert!(clear.worth_writing(Some(at(-20)), false, at(10)));
        // A failure, or a recovery in the batch, is always written.
        let failing = WebhookStatus::after(&[ld(false, 10)]).unwrap();
        assert!(failing.worth_writing(Some(at(9)), false, at(10)));
        let recovered = WebhookStatus::after(&[ld(false, 9), ld(true, 10)]).unwrap();
        assert!(recovered.worth_writing(Some(at(9)), false, at(10)));
        // A pause stored is ended by a success, and one asked for is kept: both written.
        assert!(clear.worth_writing(Some(at(9)), true, at(10)));
        let mut pausing = clear.clone();
        pausing.paused_until = Some(at(15));
        assert!(pausing.worth_writing(Some(at(9)), false, at(10)));
    }

    #[test]
    fn the_five_day_disable_rule() {
        let five_days = Duration::from_secs(5 * 86400);
        let day = 86400;
        let reason = |outcome, since, now| disable_reason(outcome, since, at(now), five_days);
        assert_eq!(reason(Outcome::Retry, None, 10 * day), None);
        assert_eq!(reason(Outcome::Retry, Some(at(0)), 5 * day), None);
        assert_eq!(
            reason(Outcome::Retry, Some(at(0)), 5 * day + 1).as_deref(),
            Some("no successful delivery for 5 days; re-enable it once the endpoint works")
        );
        assert!(reason(Outcome::Fail, Some(at(0)), 6 * day).is_some());
        assert_eq!(
            reason(Outcome::Gone, None, 0).as_deref(),
            Some("the endpoint answered 410 Gone")
        );
        assert_eq!(
            disable_reason(Outcome::Retry, Some(at(0)), at(3), Duration::from_secs(2)).as_deref(),
            Some("no successful delivery for 2 seconds; re-enable it once the endpoint works")
        );
    }
}
