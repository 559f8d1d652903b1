//! The alert's lifecycle as pure decisions: which action applies in which state, what it
//! leads to, and which timers it arms. Nothing here reads the store or the clock.
//!
//! | action | triggered | acknowledged | silenced | ignored | resolved |
//! |---|---|---|---|---|---|
//! | acknowledge | acknowledged | unchanged | acknowledged | 409 | 409 |
//! | unacknowledge | unchanged | triggered | 409 | 409 | 409 |
//! | resolve | resolved | resolved | resolved | resolved | unchanged |
//! | a resolved report | resolved | resolved | resolved | unchanged (updated, no one told) | unchanged |
//! | unresolve (and a firing report) | unchanged | 409 (report: unchanged) | 409 (report: unchanged) | 409 (report: unchanged, no one told) | triggered |
//! | silence | silenced | silenced | silenced (new `until`) or unchanged | 409 | 409 |
//! | unsilence | unchanged | 409 | triggered | 409 | 409 |
//! | ignore | ignored | ignored | ignored | unchanged | 409 |
//! | unignore | unchanged | 409 | 409 | triggered | 409 |
//! | escalation timer | escalated, once | dropped | dropped | dropped | dropped |
//! | silence timer | dropped | dropped | triggered, if its `until` is the silence's | dropped | dropped |
//!
//! "Unchanged" means the alert is already where the action leads: nothing is written or
//! sent, and the answer says so. Ignored is Highlight's "stop telling me about this": the
//! alert stays open, its reports update it without telling anyone or reopening it, and it
//! does not escalate, until someone unignores or resolves it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::event::EventType;

/// The longest silence, and the longest escalation delay: a timer waits on the delivery
/// queue, which keeps a message 14 days at most.
pub const MAX_WAIT_SECONDS: i64 = 7 * 86400;

named_enum! {
    #[strum(serialize_all = "lowercase")]
    pub enum AlertState {
        Triggered,
        Acknowledged,
        Silenced,
        Ignored,
        Resolved,
    }
}

impl AlertState {
    /// Triggered, acknowledged, silenced and ignored alerts are open: a report of their
    /// key updates them.
    pub fn is_open(self) -> bool {
        self != Self::Resolved
    }
}

named_enum! {
    /// What a token holder or a link may do to an alert (`POST /alerts/{id}/<action>`).
    #[strum(serialize_all = "lowercase")]
    pub enum ActionName {
        Acknowledge,
        Unacknowledge,
        Resolve,
        Unresolve,
        Silence,
        Unsilence,
        Ignore,
        Unignore,
    }
}

impl ActionName {
    /// The action of this name; a silence lasts `until`.
    pub fn action(self, until: DateTime<Utc>) -> Action {
        match self {
            Self::Acknowledge => Action::Acknowledge,
            Self::Unacknowledge => Action::Unacknowledge,
            Self::Resolve => Action::Resolve,
            Self::Unresolve => Action::Unresolve,
            Self::Silence => Action::Silence { until },
            Self::Unsilence => Action::Unsilence,
            Self::Ignore => Action::Ignore,
            Self::Unignore => Action::Unignore,
        }
    }

    /// The actions that move an alert in `state` (a silence of any length).
    pub fn moving(state: AlertState, now: DateTime<Utc>) -> Vec<Self> {
        use strum::VariantArray;
        let standing = Standing {
            state,
            silenced_until: None,
            escalate_at: None,
            escalated: false,
        };
        let until = now + chrono::Duration::hours(1);
        Self::VARIANTS
            .iter()
            .copied()
            .filter(|name| matches!(decide(&standing, name.action(until)), Decision::Move { .. }))
            .collect()
    }
}

/// Something that may move an alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Acknowledge,
    Unacknowledge,
    Resolve,
    Unresolve,
    Silence {
        until: DateTime<Utc>,
    },
    Unsilence,
    Ignore,
    Unignore,
    /// A report of the alert's key that fires: an update, or a reopening.
    Fired,
    /// A report of the alert's key that resolves.
    ResolvedReport,
    /// The escalation timer armed for `due`.
    Escalate {
        due: DateTime<Utc>,
    },
    /// The timer of the silence that ends at `until`.
    SilenceEnds {
        until: DateTime<Utc>,
    },
}

impl Action {
    /// Timers are not actions anyone asked for: one that no longer applies is dropped
    /// quietly rather than refused.
    fn is_timer(self) -> bool {
        matches!(self, Self::Escalate { .. } | Self::SilenceEnds { .. })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Acknowledge => "acknowledge",
            Self::Unacknowledge => "unacknowledge",
            Self::Resolve | Self::ResolvedReport => "resolve",
            Self::Unresolve | Self::Fired => "unresolve",
            Self::Silence { .. } => "silence",
            Self::Unsilence | Self::SilenceEnds { .. } => "unsilence",
            Self::Escalate { .. } => "escalate",
            Self::Ignore => "ignore",
            Self::Unignore => "unignore",
        }
    }
}

/// Who or what made a change, as payloads and the timeline name it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    /// An API token (`POST /alerts`, or an action route); its id, never the token.
    Token {
        token_id: String,
    },
    /// A one-click action link.
    Link {
        action: String,
    },
    Alertmanager,
    Cloudwatch,
    /// The alerts queue.
    Queue,
    /// An escalation or silence timer.
    Timer {
        timer: String,
    },
}

impl Actor {
    /// What kind of actor: the `kind` it is serialized with.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Token { .. } => "token",
            Self::Link { .. } => "link",
            Self::Alertmanager => "alertmanager",
            Self::Cloudwatch => "cloudwatch",
            Self::Queue => "queue",
            Self::Timer { .. } => "timer",
        }
    }
}

/// Where an alert stands, as decisions need it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Standing {
    pub state: AlertState,
    pub silenced_until: Option<DateTime<Utc>>,
    pub escalate_at: Option<DateTime<Utc>>,
    pub escalated: bool,
}

/// The state an event leaves an alert in: what a preview of a hypothetical alert shows.
pub fn state_after(event: EventType) -> AlertState {
    match event {
        EventType::AlertAcknowledged => AlertState::Acknowledged,
        EventType::AlertResolved => AlertState::Resolved,
        EventType::AlertSilenced => AlertState::Silenced,
        EventType::AlertIgnored => AlertState::Ignored,
        EventType::AlertTriggered
        | EventType::AlertUnacknowledged
        | EventType::AlertUnresolved
        | EventType::AlertUnsilenced
        | EventType::AlertEscalated
        | EventType::AlertUnignored
        | EventType::AlertTest => AlertState::Triggered,
        // Not alert events: a preview shows the alert as it fired.
        EventType::WebhookDisabled
        | EventType::DeliveryExhausted
        | EventType::WebhookRecovered
        | EventType::WebhookPaused
        | EventType::WebhookResumed
        | EventType::AlertDigest => AlertState::Triggered,
    }
}

/// What an action does to an alert in a given standing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// A transition: the event it raises and the state it leads to.
    Move { event: EventType, to: AlertState },
    /// Already there (or a timer that no longer applies): nothing changes.
    Unchanged(String),
    /// The action does not apply to the state: a 409.
    Refused(String),
}

/// The decision for `action` on an alert standing as `now`.
pub fn decide(standing: &Standing, action: Action) -> Decision {
    use AlertState::*;
    let state = standing.state;
    let unchanged = |why: &str| Decision::Unchanged(why.to_string());
    let refused = |why: String| Decision::Refused(why);
    let go = |event, to| Decision::Move { event, to };
    match (action, state) {
        // An ignored alert tells no one of its reports, and does not reopen.
        (Action::ResolvedReport | Action::Fired, Ignored) => {
            unchanged("the alert is ignored: the report updated it and no one was told")
        }
        (Action::Ignore, Triggered | Acknowledged | Silenced) => {
            go(EventType::AlertIgnored, Ignored)
        }
        (Action::Ignore, Ignored) => unchanged("the alert is already ignored"),
        (Action::Unignore, Ignored) => go(EventType::AlertUnignored, Triggered),
        (Action::Unignore, Triggered) => unchanged("the alert is not ignored"),
        (Action::Acknowledge, Triggered | Silenced) => {
            go(EventType::AlertAcknowledged, Acknowledged)
        }
        (Action::Acknowledge, Acknowledged) => unchanged("the alert is already acknowledged"),
        (Action::Unacknowledge, Acknowledged) => go(EventType::AlertUnacknowledged, Triggered),
        (Action::Unacknowledge, Triggered) => unchanged("the alert is not acknowledged"),
        (Action::Resolve | Action::ResolvedReport, Resolved) => {
            unchanged("the alert is already resolved")
        }
        (Action::Resolve | Action::ResolvedReport, _) => go(EventType::AlertResolved, Resolved),
        (Action::Unresolve | Action::Fired, Resolved) => go(EventType::AlertUnresolved, Triggered),
        (Action::Unresolve, Triggered) => unchanged("the alert is not resolved"),
        (Action::Fired, _) => unchanged("the alert is already open: the report updated it"),
        (Action::Silence { until }, Triggered | Acknowledged) => {
            let _ = until;
            go(EventType::AlertSilenced, Silenced)
        }
        (Action::Silence { until }, Silenced) if standing.silenced_until == Some(until) => {
            unchanged("the alert is already silenced until then")
        }
        (Action::Silence { .. }, Silenced) => go(EventType::AlertSilenced, Silenced),
        (Action::Unsilence, Silenced) => go(EventType::AlertUnsilenced, Triggered),
        (Action::Unsilence, Triggered) => unchanged("the alert is not silenced"),
        (Action::Escalate { due }, Triggered)
            if !standing.escalated && standing.escalate_at == Some(due) =>
        {
            go(EventType::AlertEscalated, Triggered)
        }
        (Action::SilenceEnds { until }, Silenced) if standing.silenced_until == Some(until) => {
            go(EventType::AlertUnsilenced, Triggered)
        }
        (action, _) if action.is_timer() => unchanged("the timer no longer applies"),
        (action, state) => refused(format!(
            "cannot {} an alert that is {state}{}",
            action.name(),
            match (action, state) {
                (_, Resolved) => "; unresolve it first",
                (_, Ignored) => "; unignore it first",
                (Action::Unacknowledge, Silenced) => "; unsilence it instead",
                (Action::Unsilence, Acknowledged) => "; it is acknowledged, not silenced",
                (Action::Unresolve, _) => "; it is still open",
                _ => "",
            }
        )),
    }
}

/// A timer to arm once a transition is saved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "timer", rename_all = "snake_case")]
pub enum Timer {
    Escalate { due: DateTime<Utc> },
    SilenceEnds { until: DateTime<Utc> },
}

impl Timer {
    pub fn at(self) -> DateTime<Utc> {
        match self {
            Self::Escalate { due } => due,
            Self::SilenceEnds { until } => until,
        }
    }

    /// The action the timer takes when it runs out.
    pub fn action(self) -> Action {
        match self {
            Self::Escalate { due } => Action::Escalate { due },
            Self::SilenceEnds { until } => Action::SilenceEnds { until },
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Escalate { .. } => "escalation",
            Self::SilenceEnds { .. } => "silence",
        }
    }
}

/// The standing after a move to `to` by `action` at `now`, and the timer it arms.
/// Escalation is armed when an alert triggers or reopens, `escalate_after` seconds on.
pub fn after_move(
    standing: &Standing,
    event: EventType,
    to: AlertState,
    action: Action,
    escalate_after: Option<u32>,
    now: DateTime<Utc>,
) -> (Standing, Option<Timer>) {
    let mut next = Standing {
        state: to,
        silenced_until: None,
        ..*standing
    };
    let mut timer = None;
    match (event, action) {
        // Triggered anew: escalation is armed again.
        (EventType::AlertTriggered | EventType::AlertUnresolved | EventType::AlertUnignored, _) => {
            next.escalated = false;
            next.escalate_at =
                escalate_after.map(|s| now + chrono::Duration::seconds(i64::from(s)));
            timer = next.escalate_at.map(|due| Timer::Escalate { due });
        }
        (EventType::AlertEscalated, _) => next.escalated = true,
        // Closed for escalation: no one is to hear of it.
        (EventType::AlertIgnored, _) => next.escalate_at = None,
        (EventType::AlertSilenced, Action::Silence { until }) => {
            next.silenced_until = Some(until);
            timer = Some(Timer::SilenceEnds { until });
        }
        _ => {}
    }
    (next, timer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use AlertState::*;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn an_actors_kind_is_the_kind_it_is_serialized_with() {
        let actors = [
            Actor::Token {
                token_id: "t".into(),
            },
            Actor::Link {
                action: "resolve".into(),
            },
            Actor::Alertmanager,
            Actor::Cloudwatch,
            Actor::Queue,
            Actor::Timer {
                timer: "escalate".into(),
            },
        ];
        for actor in actors {
            let json = serde_json::to_value(&actor).unwrap();
            assert_eq!(json["kind"], actor.kind());
        }
    }

    fn standing(state: AlertState) -> Standing {
        Standing {
            state,
            silenced_until: (state == Silenced).then(|| at(3600)),
            escalate_at: Some(at(300)),
            escalated: false,
        }
    }

    fn outcome(state: AlertState, action: Action) -> String {
        match decide(&standing(state), action) {
            Decision::Move { event, to } => format!("{event} -> {to}"),
            Decision::Unchanged(_) => "unchanged".into(),
            Decision::Refused(_) => "409".into(),
        }
    }

    #[test]
    fn the_table_of_actions_and_states() {
        use strum::VariantArray;
        let silence = Action::Silence { until: at(7200) };
        let mov = |event: &str, to: &str| format!("alert.{event} -> {to}");
        let (ack, unack) = (
            mov("acknowledged", "acknowledged"),
            mov("unacknowledged", "triggered"),
        );
        let (res, unres) = (mov("resolved", "resolved"), mov("unresolved", "triggered"));
        let (sil, unsil) = (mov("silenced", "silenced"), mov("unsilenced", "triggered"));
        let (ign, unign) = (mov("ignored", "ignored"), mov("unignored", "triggered"));
        let (same, no) = ("unchanged".to_string(), "409".to_string());
        // Columns: triggered, acknowledged, silenced, ignored, resolved.
        let rows: [(Action, [&String; 5]); 10] = [
            (Action::Acknowledge, [&ack, &same, &ack, &no, &no]),
            (Action::Unacknowledge, [&same, &unack, &no, &no, &no]),
            (Action::Resolve, [&res, &res, &res, &res, &same]),
            (Action::ResolvedReport, [&res, &res, &res, &same, &same]),
            (Action::Unresolve, [&same, &no, &no, &no, &unres]),
            (Action::Fired, [&same, &same, &same, &same, &unres]),
            (silence, [&sil, &sil, &sil, &no, &no]),
            (Action::Unsilence, [&same, &no, &unsil, &no, &no]),
            (Action::Ignore, [&ign, &ign, &ign, &same, &no]),
            (Action::Unignore, [&same, &no, &no, &unign, &no]),
        ];
        assert_eq!(AlertState::VARIANTS.len(), 5, "a column per state");
        for (action, expected) in rows {
            for (state, want) in AlertState::VARIANTS.iter().zip(expected) {
                assert_eq!(&outcome(*state, action), want, "{action:?} on {state}");
            }
        }
        // Neither timer moves an ignored alert.
        let ignored = standing(Ignored);
        for timer in [
            Action::Escalate { due: at(300) },
            Action::SilenceEnds { until: at(3600) },
        ] {
            assert!(matches!(decide(&ignored, timer), Decision::Unchanged(_)));
        }
    }

    #[test]
    fn refusals_say_why_and_what_to_do() {
        let Decision::Refused(why) = decide(&standing(Resolved), Action::Acknowledge) else {
            panic!("acknowledging a resolved alert must be refused");
        };
        assert_eq!(
            why,
            "cannot acknowledge an alert that is resolved; unresolve it first"
        );
        let Decision::Refused(why) = decide(&standing(Ignored), Action::Silence { until: at(1) })
        else {
            panic!("silencing an ignored alert must be refused");
        };
        assert_eq!(
            why,
            "cannot silence an alert that is ignored; unignore it first"
        );
    }

    #[test]
    fn silencing_again_until_the_same_time_changes_nothing() {
        let s = standing(Silenced);
        assert!(matches!(
            decide(&s, Action::Silence { until: at(3600) }),
            Decision::Unchanged(_)
        ));
    }

    #[test]
    fn escalation_fires_once_and_only_while_triggered() {
        let due = at(300);
        let mut s = standing(Triggered);
        let Decision::Move { event, to } = decide(&s, Action::Escalate { due }) else {
            panic!("a triggered alert escalates");
        };
        assert_eq!((event, to), (EventType::AlertEscalated, Triggered));
        let (after, timer) = after_move(&s, event, to, Action::Escalate { due }, None, at(300));
        assert!(after.escalated && timer.is_none());
        assert!(matches!(
            decide(&after, Action::Escalate { due }),
            Decision::Unchanged(_)
        ));
        // Acknowledged in time: the timer finds nothing to do.
        s.state = Acknowledged;
        assert!(matches!(
            decide(&s, Action::Escalate { due }),
            Decision::Unchanged(_)
        ));
        // A timer armed before a reopening is not the current one.
        s.state = Triggered;
        assert!(matches!(
            decide(&s, Action::Escalate { due: at(1) }),
            Decision::Unchanged(_)
        ));
    }

    #[test]
    fn triggering_and_reopening_arm_escalation() {
        let s = standing(Resolved);
        let (after, timer) = after_move(
            &Standing {
                escalated: true,
                ..s
            },
            EventType::AlertUnresolved,
            Triggered,
            Action::Fired,
            Some(60),
            at(1000),
        );
        assert_eq!(timer, Some(Timer::Escalate { due: at(1060) }));
        assert!(!after.escalated);
        let (_, none) = after_move(
            &s,
            EventType::AlertUnresolved,
            Triggered,
            Action::Fired,
            None,
            at(0),
        );
        assert_eq!(none, None);
        // Ignoring closes it for escalation; unignoring arms it again.
        let (ignored, timer) = after_move(
            &standing(Triggered),
            EventType::AlertIgnored,
            Ignored,
            Action::Ignore,
            Some(60),
            at(1000),
        );
        assert_eq!((ignored.escalate_at, timer), (None, None));
        let (back, timer) = after_move(
            &ignored,
            EventType::AlertUnignored,
            Triggered,
            Action::Unignore,
            Some(60),
            at(2000),
        );
        assert_eq!(back.escalate_at, Some(at(2060)));
        assert_eq!(timer, Some(Timer::Escalate { due: at(2060) }));
    }

    #[test]
    fn a_silence_ends_by_its_own_timer_only() {
        let s = standing(Triggered);
        let until = at(900);
        let (silenced, timer) = after_move(
            &s,
            EventType::AlertSilenced,
            Silenced,
            Action::Silence { until },
            None,
            at(0),
        );
        assert_eq!(timer, Some(Timer::SilenceEnds { until }));
        assert_eq!(silenced.silenced_until, Some(until));
        assert_eq!(
            decide(&silenced, Action::SilenceEnds { until }),
            Decision::Move {
                event: EventType::AlertUnsilenced,
                to: Triggered
            }
        );
        // Silenced again for longer: the first silence's timer is stale.
        let longer = Standing {
            silenced_until: Some(at(5000)),
            ..silenced
        };
        assert!(matches!(
            decide(&longer, Action::SilenceEnds { until }),
            Decision::Unchanged(_)
        ));
        // Leaving the silence forgets its end.
        let (unsilenced, _) = after_move(
            &silenced,
            EventType::AlertUnsilenced,
            Triggered,
            Action::Unsilence,
            None,
            at(10),
        );
        assert_eq!(unsilenced.silenced_until, None);
    }

    /// An action of a generated sequence: `kind` picks it, `secs` its time; timers pick
    /// the standing's own time half of the time, so that they apply as often as not.
    fn generated(kind: u8, secs: i64, standing: &Standing) -> Action {
        let own = |t: Option<DateTime<Utc>>| match (secs % 2 == 0, t) {
            (true, Some(t)) => t,
            _ => at(secs),
        };
        match kind % 12 {
            0 => Action::Acknowledge,
            1 => Action::Unacknowledge,
            2 => Action::Resolve,
            3 => Action::Unresolve,
            4 => Action::Silence { until: at(secs) },
            5 => Action::Unsilence,
            6 => Action::Ignore,
            7 => Action::Unignore,
            8 => Action::Fired,
            9 => Action::ResolvedReport,
            10 => Action::Escalate {
                due: own(standing.escalate_at),
            },
            _ => Action::SilenceEnds {
                until: own(standing.silenced_until),
            },
        }
    }

    proptest::proptest! {
        /// Whatever the actions, in any order, the documented invariants hold after each.
        #[test]
        fn every_sequence_of_actions_keeps_the_invariants(
            steps in proptest::collection::vec((0u8..12, 1i64..100_000), 0..60),
            escalate_after in proptest::option::of(1u32..10_000),
        ) {
            let mut standing = Standing {
                state: Triggered,
                silenced_until: None,
                escalate_at: escalate_after.map(|s| at(i64::from(s))),
                escalated: false,
            };
            for (n, (kind, secs)) in steps.into_iter().enumerate() {
                let action = generated(kind, secs, &standing);
                let now = at(n as i64);
                match decide(&standing, action) {
                    Decision::Move { event, to } => {
                        // The state a move leads to is the one its event names.
                        proptest::prop_assert_eq!(to, state_after(event));
                        // An ignored alert is moved only by a person: no report, no timer.
                        if standing.state == Ignored {
                            proptest::prop_assert!(
                                matches!(action, Action::Unignore | Action::Resolve),
                                "{action:?} moved an ignored alert"
                            );
                        }
                        // A resolved alert reopens only by unresolve or a firing report.
                        if standing.state == Resolved {
                            proptest::prop_assert!(matches!(action, Action::Unresolve | Action::Fired));
                        }
                        if event == EventType::AlertEscalated {
                            proptest::prop_assert!(!standing.escalated, "escalated twice");
                        }
                        let (next, timer) = after_move(&standing, event, to, action, escalate_after, now);
                        match timer {
                            Some(Timer::SilenceEnds { until }) => {
                                proptest::prop_assert_eq!(next.silenced_until, Some(until));
                            }
                            Some(Timer::Escalate { due }) => {
                                proptest::prop_assert_eq!(next.state, Triggered);
                                proptest::prop_assert_eq!(next.escalate_at, Some(due));
                            }
                            None => {}
                        }
                        standing = next;
                    }
                    Decision::Unchanged(_) => {}
                    // A timer is never refused: it is dropped when it no longer applies.
                    Decision::Refused(why) => proptest::prop_assert!(!action.is_timer(), "{why}"),
                }
                // Silenced, and only then, until a time.
                proptest::prop_assert_eq!(standing.silenced_until.is_some(), standing.state == Silenced);
                // Ignored alerts are closed for escalation.
                if standing.state == Ignored {
                    proptest::prop_assert_eq!(standing.escalate_at, None);
                }
            }
        }
    }
}
