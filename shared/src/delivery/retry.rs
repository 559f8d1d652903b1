//! Why a delivery is retried, and when it stops: how an answer is classed, the schedule
//! and its jitter, `Retry-After`, the state an attempt leaves, the failure streak a
//! webhook keeps, and when a failing webhook is disabled.
//!
//! Everything here is pure: the time and the random draw are arguments.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{
    record::{DeliveryState, Trigger},
    send::Sent,
};
use crate::webhook::LastDelivery;

/// The longest `Retry-After` honoured.
pub const RETRY_AFTER_MAX: Duration = Duration::from_secs(24 * 3600);

/// How an attempt ended, and what follows from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx.
    Success,
    /// 408, 429, 5xx, timeouts and connection errors: worth another try.
    Retry,
    /// 3xx and other 4xx: retrying will not help.
    Fail,
    /// 410 Gone: fail, and disable the webhook.
    Gone,
    /// The destination is not allowed (see [`super::destination`]): fail, no request made.
    Refused,
    /// The webhook's template failed (see [`super::render`]): fail, no request made. The
    /// same template would fail again, so it is not retried; a redelivery renders anew.
    Unrendered,
}

impl Outcome {
    pub fn of_status(status: u16) -> Self {
        match status {
            200..=299 => Self::Success,
            408 | 429 | 500..=599 => Self::Retry,
            410 => Self::Gone,
            _ => Self::Fail,
        }
    }
}

/// An endpoint's `Retry-After`: seconds, or an HTTP date.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryAfter {
    Seconds(u64),
    At(DateTime<Utc>),
}

impl RetryAfter {
    /// How long it asks to wait from `now`; a date in the past asks for nothing.
    pub fn wait(self, now: DateTime<Utc>) -> Duration {
        match self {
            Self::Seconds(s) => Duration::from_secs(s),
            Self::At(at) => (at - now).to_std().unwrap_or(Duration::ZERO),
        }
    }
}

/// The delays before each retry; the first attempt is immediate.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    pub delays: Vec<Duration>,
    /// Each delay moves by up to this fraction either way.
    pub jitter: f64,
}

impl Schedule {
    /// The delay before retry number `retry` (1 is the second attempt), or `None` once
    /// the schedule is spent. `draw`, in [0, 1), picks the jitter.
    pub fn delay(&self, retry: u32, draw: f64) -> Option<Duration> {
        let base = *self
            .delays
            .get(usize::try_from(retry).ok()?.checked_sub(1)?)?;
        let factor = 1.0 + self.jitter * (2.0 * draw - 1.0);
        Some(base.mul_f64(factor.max(0.0)))
    }
}

/// What an attempt leaves: the delivery's state, the next attempt if any, and the error
/// to record.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    pub state: DeliveryState,
    pub next_delay: Option<Duration>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
    /// The delivery failed because its retries ran out.
    pub exhausted: bool,
}

/// Decides what follows attempt number `attempt` (1 is the first), which ended at `now`
/// as `sent` says. Scheduled attempts follow the schedule; manual and test attempts are
/// one-off. `Retry-After` may push a retry later, never sooner, and by at most a day.
pub fn decide(
    sent: &Sent,
    attempt: u32,
    trigger: Trigger,
    schedule: &Schedule,
    draw: f64,
    now: DateTime<Utc>,
) -> Decision {
    let end = |state, error| Decision {
        state,
        next_delay: None,
        next_attempt_at: None,
        error,
        exhausted: false,
    };
    match sent.outcome {
        Outcome::Success => end(DeliveryState::Succeeded, None),
        Outcome::Fail | Outcome::Gone | Outcome::Refused | Outcome::Unrendered => {
            end(DeliveryState::Failed, Some(sent.message.clone()))
        }
        Outcome::Retry if trigger != Trigger::Scheduled => {
            end(DeliveryState::Failed, Some(sent.message.clone()))
        }
        Outcome::Retry => match schedule.delay(attempt, draw) {
            Some(scheduled) => {
                let delay = match sent.retry_after {
                    Some(asked) => scheduled.max(asked.wait(now).min(RETRY_AFTER_MAX)),
                    None => scheduled,
                };
                Decision {
                    state: DeliveryState::Retrying,
                    next_delay: Some(delay),
                    next_attempt_at: chrono::Duration::from_std(delay).ok().map(|d| now + d),
                    error: Some(sent.message.clone()),
                    exhausted: false,
                }
            }
            None => Decision {
                exhausted: true,
                ..end(
                    DeliveryState::Failed,
                    Some(format!(
                        "{}; retries exhausted after {attempt} attempts",
                        sent.message
                    )),
                )
            },
        },
    }
}

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

/// How long a webhook's health, once written clear (successes only), goes unwritten by the
/// same instance while it stays clear.
pub const HEALTH_REFRESH: Duration = Duration::from_secs(5);

impl WebhookStatus {
    /// Whether this status is worth writing, given when this instance last wrote the
    /// webhook's health clear: anything but a success repeated within [`HEALTH_REFRESH`]
    /// is. The worker still writes a success this leaves out when another instance has
    /// stored a failure streak meanwhile (it reads the health first), so that the streak
    /// ends and `webhook.recovered` is sent.
    pub fn worth_writing(
        &self,
        last_clear_write: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> bool {
        let clear = self.failures == 0 && self.last_failure.is_none();
        let fresh = last_clear_write
            .and_then(|at| (now - at).to_std().ok())
            .is_some_and(|age| age < HEALTH_REFRESH);
        !(clear && fresh)
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

    fn schedule(delays: &[u64]) -> Schedule {
        Schedule {
            delays: delays.iter().map(|s| Duration::from_secs(*s)).collect(),
            jitter: 0.2,
        }
    }

    fn answered(status: u16, retry_after: Option<RetryAfter>) -> Sent {
        Sent {
            outcome: Outcome::of_status(status),
            status_code: Some(status),
            message: format!("the endpoint answered HTTP {status}"),
            duration_ms: 3,
            response_body: None,
            retry_after,
        }
    }

    #[test]
    fn every_status_class() {
        for (status, outcome) in [
            (200, Outcome::Success),
            (204, Outcome::Success),
            (299, Outcome::Success),
            (301, Outcome::Fail),
            (302, Outcome::Fail),
            (400, Outcome::Fail),
            (404, Outcome::Fail),
            (408, Outcome::Retry),
            (410, Outcome::Gone),
            (429, Outcome::Retry),
            (500, Outcome::Retry),
            (503, Outcome::Retry),
            (599, Outcome::Retry),
        ] {
            assert_eq!(Outcome::of_status(status), outcome, "{status}");
        }
        let s = schedule(&[10]);
        let state = |status| {
            decide(
                &answered(status, None),
                1,
                Trigger::Scheduled,
                &s,
                0.5,
                at(0),
            )
            .state
        };
        assert_eq!(state(201), DeliveryState::Succeeded);
        assert_eq!(state(302), DeliveryState::Failed);
        assert_eq!(state(404), DeliveryState::Failed);
        assert_eq!(state(410), DeliveryState::Failed);
        assert_eq!(state(503), DeliveryState::Retrying);
        assert_eq!(state(429), DeliveryState::Retrying);
        let refused = Sent {
            outcome: Outcome::Refused,
            status_code: None,
            message: "refused: 10.0.0.1 is not a public address".into(),
            duration_ms: 0,
            response_body: None,
            retry_after: None,
        };
        let d = decide(&refused, 1, Trigger::Scheduled, &s, 0.5, at(0));
        assert_eq!((d.state, d.next_delay), (DeliveryState::Failed, None));
        assert!(d.error.unwrap().contains("not a public address"));
    }

    #[test]
    fn jitter_stays_within_20_percent() {
        let s = schedule(&[10, 100]);
        assert_eq!(s.delay(1, 0.0), Some(Duration::from_secs(8)));
        assert_eq!(s.delay(1, 0.5), Some(Duration::from_secs(10)));
        for draw in [0.0, 0.1, 0.37, 0.5, 0.83, 0.999_999] {
            let d = s.delay(1, draw).unwrap().as_secs_f64();
            assert!((8.0..=12.0).contains(&d), "{d}");
            let d = s.delay(2, draw).unwrap().as_secs_f64();
            assert!((80.0..=120.0).contains(&d), "{d}");
        }
    }

    #[test]
    fn the_schedule_is_followed_then_exhausted() {
        let s = schedule(&[5, 300]);
        let fail = answered(503, None);
        let first = decide(&fail, 1, Trigger::Scheduled, &s, 0.5, at(0));
        assert_eq!(first.state, DeliveryState::Retrying);
        assert_eq!(first.next_delay, Some(Duration::from_secs(5)));
        assert_eq!(first.next_attempt_at, Some(at(5)));
        assert_eq!(
            decide(&fail, 2, Trigger::Scheduled, &s, 0.5, at(0)).next_delay,
            Some(Duration::from_secs(300))
        );
        let last = decide(&fail, 3, Trigger::Scheduled, &s, 0.5, at(0));
        assert_eq!((last.state, last.next_delay), (DeliveryState::Failed, None));
        assert!(last.exhausted && !first.exhausted);
        assert_eq!(
            last.error.as_deref(),
            Some("the endpoint answered HTTP 503; retries exhausted after 3 attempts")
        );
        assert_eq!(s.delay(0, 0.5), None);
        // Manual and test attempts are one-off, and say nothing of exhaustion.
        for trigger in [Trigger::Manual, Trigger::Test] {
            let d = decide(&fail, 1, trigger, &s, 0.5, at(0));
            assert_eq!((d.state, d.next_delay), (DeliveryState::Failed, None));
            assert_eq!(d.error.as_deref(), Some("the endpoint answered HTTP 503"));
        }
        // No schedule at all: the first failure is final.
        let none = decide(&fail, 1, Trigger::Scheduled, &schedule(&[]), 0.5, at(0));
        assert_eq!(none.state, DeliveryState::Failed);
    }

    #[test]
    fn retry_after_in_both_forms_only_lengthens_and_is_bounded() {
        let s = schedule(&[10]);
        let delay = |after| {
            decide(
                &answered(429, Some(after)),
                1,
                Trigger::Scheduled,
                &s,
                0.5,
                at(0),
            )
            .next_delay
            .unwrap()
        };
        assert_eq!(delay(RetryAfter::Seconds(1)), Duration::from_secs(10));
        assert_eq!(delay(RetryAfter::Seconds(600)), Duration::from_secs(600));
        assert_eq!(delay(RetryAfter::Seconds(10 * 86400)), RETRY_AFTER_MAX);
        assert_eq!(delay(RetryAfter::At(at(90))), Duration::from_secs(90));
        assert_eq!(delay(RetryAfter::At(at(-90))), Duration::from_secs(10));
        assert_eq!(delay(RetryAfter::At(at(3 * 86400))), RETRY_AFTER_MAX);
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
        assert!(clear.worth_writing(None, at(10)));
        assert!(!clear.worth_writing(Some(at(8)), at(10)));
        assert!(clear.worth_writing(Some(at(5)), at(10)));
        // A failure, or a recovery in the batch, is always written.
        let failing = WebhookStatus::after(&[ld(false, 10)]).unwrap();
        assert!(failing.worth_writing(Some(at(9)), at(10)));
        let recovered = WebhookStatus::after(&[ld(false, 9), ld(true, 10)]).unwrap();
        assert!(recovered.worth_writing(Some(at(9)), at(10)));
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

    proptest::proptest! {
        /// Jitter stays within its fraction of the scheduled delay, either way.
        #[test]
        fn jitter_stays_in_its_bounds(
            delays in proptest::collection::vec(0u64..86_400, 1..10),
            jitter in 0.0f64..=1.0,
            retry in 1u32..10,
            draw in 0.0f64..1.0,
        ) {
            let schedule = Schedule {
                delays: delays.iter().map(|s| Duration::from_secs(*s)).collect(),
                jitter,
            };
            match schedule.delay(retry, draw) {
                None => proptest::prop_assert!(retry as usize > delays.len()),
                Some(delay) => {
                    let base = delays[retry as usize - 1] as f64;
                    let got = delay.as_secs_f64();
                    // A nanosecond of rounding either way.
                    proptest::prop_assert!(got >= base * (1.0 - jitter) - 1e-6, "{got} < {base}");
                    proptest::prop_assert!(got <= base * (1.0 + jitter) + 1e-6, "{got} > {base}");
                }
            }
        }

        /// Honouring `Retry-After` never makes a retry sooner than the schedule's, nor
        /// sooner than asked (up to a day), in seconds or as a date.
        #[test]
        fn retry_after_never_shrinks_a_delay(
            attempt in 1u32..4,
            draw in 0.0f64..1.0,
            asked in 0i64..200_000,
            as_date in proptest::bool::ANY,
        ) {
            let schedule = schedule(&[5, 300, 1800]);
            let now = at(0);
            let retry_after = if as_date {
                RetryAfter::At(at(asked))
            } else {
                RetryAfter::Seconds(asked as u64)
            };
            let plain = decide(&answered(503, None), attempt, Trigger::Scheduled, &schedule, draw, now);
            let honoured = decide(
                &answered(503, Some(retry_after)),
                attempt,
                Trigger::Scheduled,
                &schedule,
                draw,
                now,
            );
            let (plain, honoured) = (plain.next_delay.unwrap(), honoured.next_delay.unwrap());
            proptest::prop_assert!(honoured >= plain);
            let wanted = Duration::from_secs(asked as u64).min(RETRY_AFTER_MAX);
            proptest::prop_assert!(honoured >= wanted);
            proptest::prop_assert!(honoured <= plain.max(RETRY_AFTER_MAX));
        }
    }
}
