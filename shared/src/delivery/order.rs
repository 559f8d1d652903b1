//! Per-webhook order of an alert's transitions: a delivery waits while the delivery of the
//! alert's previous transition to the same webhook is still being attempted or retried,
//! for at most [`ORDER_BOUND`] from its transition; after that it goes, marked out of order.

use chrono::{DateTime, Duration, Utc};

use super::{outcome::DeliveryState, record::Delivery};

/// How long a transition's delivery waits for the one before it.
pub const ORDER_BOUND: Duration = Duration::hours(1);
/// The shortest wait between two looks at the earlier delivery.
const MIN_STEP: Duration = Duration::seconds(2);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Turn {
    /// The earlier delivery is finished: go.
    Go,
    /// Waited [`ORDER_BOUND`]: go, marked out of order.
    OutOfOrder,
    /// Look again then.
    WaitUntil(DateTime<Utc>),
}

/// Whether a delivery made at `created_at` may go at `now`, given the earlier delivery as
/// stored (`None`: not yet claimed). Looks grow apart with the wait (a fifth of it), so
/// an hour's wait costs a few dozen receives; a retry scheduled later is waited for.
pub fn turn(earlier: Option<&Delivery>, created_at: DateTime<Utc>, now: DateTime<Utc>) -> Turn {
    let finished = [
        DeliveryState::Succeeded,
        DeliveryState::Failed,
        DeliveryState::Digested,
    ];
    if earlier.is_some_and(|d| finished.contains(&d.state)) {
        return Turn::Go;
    }
    let deadline = created_at + ORDER_BOUND;
    if now >= deadline {
        return Turn::OutOfOrder;
    }
    let mut until = now + MIN_STEP.max((now - created_at) / 5);
    if let Some(next) = earlier.and_then(|d| d.next_attempt_at) {
        until = until.max(next + MIN_STEP);
    }
    Turn::WaitUntil(until.min(deadline))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{delivery::outcome::Trigger, event::EventType};
    use chrono::TimeZone;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
    }

    fn earlier(state: DeliveryState, next: Option<i64>) -> Delivery {
        let mut d = Delivery::pending(
            "d".into(),
            "w".into(),
            "a".into(),
            EventType::AlertTriggered,
            Trigger::Scheduled,
            at(0),
            0,
        );
        d.state = state;
        d.next_attempt_at = next.map(at);
        d
    }

    #[test]
    fn a_finished_earlier_delivery_lets_the_next_go() {
        for state in [DeliveryState::Succeeded, DeliveryState::Failed] {
            assert_eq!(turn(Some(&earlier(state, None)), at(0), at(1)), Turn::Go);
        }
    }

    #[test]
    fn an_unfinished_one_is_waited_for_up_to_the_bound() {
        // Not yet claimed, or being attempted: look again soon, then less often.
        assert_eq!(turn(None, at(0), at(1)), Turn::WaitUntil(at(3)));
        assert_eq!(
            turn(
                Some(&earlier(DeliveryState::Pending, None)),
                at(0),
                at(1000)
            ),
            Turn::WaitUntil(at(1200))
        );
        // Retrying: wait for its next attempt.
        assert_eq!(
            turn(
                Some(&earlier(DeliveryState::Retrying, Some(300))),
                at(0),
                at(10)
            ),
            Turn::WaitUntil(at(302))
        );
        // Never past the bound, and at the bound it goes, out of order.
        assert_eq!(
            turn(
                Some(&earlier(DeliveryState::Retrying, Some(36_000))),
                at(0),
                at(10)
            ),
            Turn::WaitUntil(at(3600))
        );
        assert_eq!(turn(None, at(0), at(3600)), Turn::OutOfOrder);
    }

    #[test]
    fn an_hour_of_waiting_costs_few_looks() {
        let (mut now, mut looks) = (at(0), 0);
        while let Turn::WaitUntil(next) = turn(None, at(0), now) {
            now = next;
            looks += 1;
        }
        assert!(looks < 40, "{looks} looks");
    }
}
