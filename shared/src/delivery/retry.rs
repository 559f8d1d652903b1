//! Why a delivery is retried, and when it stops: the schedule and its jitter,
//! `Retry-After`, and the state an attempt leaves. How an answer is classed is in
//! [`super::outcome`]; what it does to the webhook's health, in
//! [`crate::webhook::health`].
//!
//! Everything here is pure: the time and the random draw are arguments.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::outcome::{DeliveryState, Outcome, Sent, Trigger};

/// The longest `Retry-After` honoured.
pub const RETRY_AFTER_MAX: Duration = Duration::from_secs(24 * 3600);

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

/// The pause an answer asks of the whole webhook, until when: a 429 or 503 with
/// `Retry-After`, or any answer that says its rate-limit window is spent
/// (`X-RateLimit-Remaining: 0` with `X-RateLimit-Reset-After`, as Discord and Slack send).
/// At most [`RETRY_AFTER_MAX`] ahead.
pub fn pause_asked(sent: &Sent, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let retry_after = match sent.status_code {
        Some(429 | 503) => sent.retry_after.map(|r| r.wait(now)),
        _ => None,
    };
    let wait = retry_after
        .into_iter()
        .chain(sent.window_reset)
        .max()
        .filter(|wait| !wait.is_zero())?;
    let wait = chrono::Duration::from_std(wait.min(RETRY_AFTER_MAX)).ok()?;
    Some(now + wait)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::outcome::RetryAfter;

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
            window_reset: None,
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
            window_reset: None,
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

    fn with_pause(status: u16, retry_after: Option<RetryAfter>, reset: Option<f64>) -> Sent {
        Sent {
            outcome: Outcome::of_status(status),
            status_code: Some(status),
            message: String::new(),
            duration_ms: 1,
            response_body: None,
            retry_after,
            window_reset: reset.map(Duration::from_secs_f64),
        }
    }

    #[test]
    fn pauses_come_from_429_503_and_spent_windows() {
        let ms = |n: i64| at(0) + chrono::Duration::milliseconds(n);
        let five = Some(RetryAfter::Seconds(5));
        assert_eq!(
            pause_asked(&with_pause(429, five, None), ms(0)),
            Some(ms(5000))
        );
        assert_eq!(
            pause_asked(&with_pause(503, five, None), ms(0)),
            Some(ms(5000))
        );
        let date = Some(RetryAfter::At(ms(7000)));
        assert_eq!(
            pause_asked(&with_pause(429, date, None), ms(0)),
            Some(ms(7000))
        );
        // Another status's Retry-After is only that delivery's retry, not a pause.
        assert_eq!(pause_asked(&with_pause(500, five, None), ms(0)), None);
        assert_eq!(pause_asked(&with_pause(429, None, None), ms(0)), None);
        // A success that spent the window pauses until it opens.
        assert_eq!(
            pause_asked(&with_pause(204, None, Some(1.5)), ms(0)),
            Some(ms(1500))
        );
        // The longer of the two; at most a day.
        assert_eq!(
            pause_asked(&with_pause(429, five, Some(9.0)), ms(0)),
            Some(ms(9000))
        );
        let long = Some(RetryAfter::Seconds(90 * 86400));
        assert_eq!(
            pause_asked(&with_pause(429, long, None), ms(0)),
            Some(ms(86_400_000))
        );
        assert_eq!(
            pause_asked(&with_pause(429, Some(RetryAfter::Seconds(0)), None), ms(0)),
            None
        );
    }
}
