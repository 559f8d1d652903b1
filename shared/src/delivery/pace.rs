//! How fast a webhook is sent to: its rate limit, the send times it grants, and the pauses
//! a receiver asks for. Pure: the time is an argument.
//!
//! The limit is `burst` requests in any window of `burst × 60 / per_minute` seconds, kept
//! as the last `burst` send times granted (a sliding log). That is a token bucket of
//! `burst` tokens refilled at `per_minute`, with one difference that receivers care about:
//! a token bucket lets `burst + 1` through in a window of one refill, a log never more
//! than `burst` in any window up to its own length. Send times are granted ahead
//! (reserved), so a delivery that must wait is put off once, to its own time, and does not
//! come back to ask again.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::format::Format;
use crate::error::FieldError;
use crate::event::EventType;

pub const PER_MINUTE_MAX: u32 = 6_000;
pub const BURST_MAX: u32 = 100;

/// A message that comes back later than its granted time by more than this asks again:
/// sent so late, it could crowd the next window's sends.
pub const SLOT_GRACE: chrono::Duration = chrono::Duration::seconds(2);

/// At most `burst` requests at once, `per_minute` a minute over time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimit {
    pub per_minute: u32,
    pub burst: u32,
}

impl RateLimit {
    /// The window in which at most `burst` requests go.
    pub fn window(self) -> chrono::Duration {
        let ms = u64::from(self.burst) * 60_000 / u64::from(self.per_minute.max(1));
        chrono::Duration::milliseconds(i64::try_from(ms).unwrap_or(i64::MAX))
    }

    /// The receiver's published limit for a built-in format, if it publishes one (see the
    /// README's "Alert storms" for the sources).
    pub fn published(format: Format) -> Option<Self> {
        let (per_minute, burst) = match format {
            // "Posting messages: 1 per second; short bursts >1 allowed."
            Format::Slack => (60, 3),
            // About 30 a minute per webhook URL, 5 per 2 s in bursts.
            Format::Discord => (30, 5),
            // Events API v2: about 120 events a minute per routing key.
            Format::Pagerduty => (120, 10),
            _ => return None,
        };
        Some(Self { per_minute, burst })
    }
}

/// A webhook's `rate_limit` setting: its format's published limit (the default, written
/// `"format"`), none (`null` in the API, stored as `"none"`: a stored null is a removed
/// field), or its own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "StoredRateLimit", into = "StoredRateLimit")]
pub enum RateLimitSetting {
    Own(RateLimit),
    #[default]
    Format,
    None,
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum StoredRateLimit {
    Own(RateLimit),
    Word(String),
}

impl From<RateLimitSetting> for StoredRateLimit {
    fn from(setting: RateLimitSetting) -> Self {
        match setting {
            RateLimitSetting::Own(limit) => Self::Own(limit),
            RateLimitSetting::Format => Self::Word("format".into()),
            RateLimitSetting::None => Self::Word("none".into()),
        }
    }
}

impl TryFrom<StoredRateLimit> for RateLimitSetting {
    type Error = String;

    fn try_from(stored: StoredRateLimit) -> Result<Self, String> {
        match stored {
            StoredRateLimit::Own(limit) => Ok(Self::Own(limit)),
            StoredRateLimit::Word(w) if w == "format" => Ok(Self::Format),
            StoredRateLimit::Word(w) if w == "none" => Ok(Self::None),
            StoredRateLimit::Word(w) => Err(format!("not a rate limit: {w}")),
        }
    }
}

impl RateLimitSetting {
    /// As the API shows it: the limit, `"format"`, or `null`.
    pub fn shown(&self) -> Value {
        match self {
            Self::Own(limit) => serde_json::json!(limit),
            Self::Format => Value::from("format"),
            Self::None => Value::Null,
        }
    }

    /// The limit in force for a webhook of this format.
    pub fn in_force(self, format: Format) -> Option<RateLimit> {
        match self {
            Self::Own(limit) => Some(limit),
            Self::Format => RateLimit::published(format),
            Self::None => None,
        }
    }

    /// Parses the API's `rate_limit`: `{"per_minute", "burst"}`, `null` or `"format"`.
    pub fn parse(value: &Value) -> Result<Self, Vec<FieldError>> {
        let object = match value {
            Value::Null => return Ok(Self::None),
            Value::String(s) if s == "format" => return Ok(Self::Format),
            Value::Object(object) => object,
            _ => {
                return Err(vec![FieldError::new(
                    "rate_limit",
                    "must be {\"per_minute\": n, \"burst\": n}, null for none, or \"format\" for the format's published limit",
                )])
            }
        };
        let mut errors = Vec::new();
        for key in object.keys() {
            if key != "per_minute" && key != "burst" {
                errors.push(FieldError::new(
                    format!("rate_limit.{key}"),
                    "is not a field of a rate limit (per_minute, burst)",
                ));
            }
        }
        let mut whole = |name: &str, max: u32| -> Option<u32> {
            let field = format!("rate_limit.{name}");
            match object.get(name) {
                None => errors.push(FieldError::new(field, "is required")),
                Some(v) => match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
                    Some(n) if (1..=max).contains(&n) => return Some(n),
                    _ => errors.push(FieldError::new(
                        field,
                        format!("must be a whole number from 1 to {max}"),
                    )),
                },
            }
            None
        };
        let per_minute = whole("per_minute", PER_MINUTE_MAX);
        let burst = whole("burst", BURST_MAX);
        match (per_minute, burst, errors.is_empty()) {
            (Some(per_minute), Some(burst), true) => Ok(Self::Own(RateLimit { per_minute, burst })),
            _ => Err(errors),
        }
    }
}

/// Which queue a delivery waits in when its webhook is limited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// Never digested, and granted before bulk: a first transition of a severity the
    /// webhook never digests, the next transitions of an alert the receiver was told of
    /// individually, operational events, tests and redeliveries.
    Priority,
    /// Granted after the priority lane; `digestible` ones are digested instead when their
    /// grant is further off than the webhook's `digest_after_seconds`.
    Bulk { digestible: bool },
    /// A transition of an alert that went into a digest: into the open digest too.
    Digest,
}

/// What the receiver was told of the alert's previous transition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Told {
    /// Nothing: this is the first transition it gets.
    Nothing,
    /// It was sent on its own (or failed trying).
    Individually,
    /// It went into a digest.
    InDigest,
}

/// What the lane of a delivery is: `exempt` when the alert's severity is one the webhook
/// never digests, `retry` when the delivery was already admitted once (its first attempt
/// failed), `manual` for a redelivery or a test.
pub fn lane(event: EventType, exempt: bool, told: Told, retry: bool, manual: bool) -> Lane {
    if manual || event.is_operational() || event == EventType::AlertTest {
        return Lane::Priority;
    }
    if retry || event == EventType::AlertDigest {
        return Lane::Bulk { digestible: false };
    }
    match told {
        Told::InDigest => Lane::Digest,
        Told::Individually => Lane::Priority,
        Told::Nothing if exempt => Lane::Priority,
        Told::Nothing => Lane::Bulk { digestible: true },
    }
}

/// The send times granted to a limited webhook that still count (within a window of
/// now, or ahead), by lane.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Log {
    pub priority: Vec<DateTime<Utc>>,
    pub bulk: Vec<DateTime<Utc>>,
}

impl Log {
    /// Drops the times that no window from `now` on can hold.
    pub fn pruned(mut self, now: DateTime<Utc>, limit: RateLimit) -> Self {
        let from = now - limit.window();
        self.priority.retain(|t| *t > from);
        self.bulk.retain(|t| *t > from);
        self.priority.sort();
        self.bulk.sort();
        self
    }

    /// The earliest time from `now` at which one more send keeps every window within the
    /// limit: at most `burst` sends in any window, of which at most `burst - 1` bulk (so
    /// the priority lane always has one send a window, and any the bulk leaves).
    pub fn earliest(&self, bulk: bool, now: DateTime<Utc>, limit: RateLimit) -> DateTime<Utc> {
        let w = limit.window();
        let burst = limit.burst.max(1) as usize;
        let bulk_cap = if burst >= 2 { burst - 1 } else { 1 };
        let all: Vec<DateTime<Utc>> = {
            let mut all = [self.priority.as_slice(), self.bulk.as_slice()].concat();
            all.sort();
            all
        };
        let count = |list: &[DateTime<Utc>], from: DateTime<Utc>| {
            list.iter()
                .filter(|t| **t >= from && **t < from + w)
                .count()
        };
        let fits = |t: DateTime<Utc>| {
            // Every window holding `t` starts at `t` or at a send within a window before it.
            let starts = all.iter().copied().filter(|e| *e > t - w && *e <= t);
            std::iter::once(t).chain(starts).all(|from| {
                count(&all, from) < burst && (!bulk || count(&self.bulk, from) < bulk_cap)
            })
        };
        let mut candidates: Vec<DateTime<Utc>> = std::iter::once(now)
            .chain(all.iter().map(|e| *e + w).filter(|t| *t > now))
            .collect();
        candidates.sort();
        candidates
            .into_iter()
            .find(|t| fits(*t))
            .unwrap_or_else(|| all.last().map_or(now, |t| *t + w))
    }

    fn add(&mut self, at: DateTime<Utc>, bulk: bool) {
        let list = if bulk {
            &mut self.bulk
        } else {
            &mut self.priority
        };
        let i = list.partition_point(|t| *t <= at);
        list.insert(i, at);
    }
}

/// How a webhook is paced: its limit, and how long a queue it lets grow before digesting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pacing {
    pub limit: RateLimit,
    pub digest_after: Option<chrono::Duration>,
}

/// A bulk send is not granted further ahead than this: the delivery waits without a
/// grant, and asks again then. It keeps the stored log small.
pub const GRANT_HORIZON: chrono::Duration = chrono::Duration::seconds(120);

/// A digest takes no new member this close to its time: a join is written within
/// milliseconds of its plan, so every member is in before the digest closes.
pub const JOIN_MARGIN: chrono::Duration = chrono::Duration::seconds(2);

/// The digest a webhook is collecting: its id, and when it is to be sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenDigest {
    pub id: String,
    pub at: DateTime<Utc>,
}

/// What a limited webhook's delivery is to do, as planned by [`plan`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Granted now: it goes.
    Go,
    /// Granted this later time: put off until then.
    At(DateTime<Utc>),
    /// Not granted (beyond [`GRANT_HORIZON`]): waits until then, and asks again.
    Wait(DateTime<Utc>),
    /// Goes into this digest.
    Digest(OpenDigest),
}

/// Plans the deliveries of one webhook that ask together (each with its lane), given
/// its log and the digest it is collecting: priority ones are granted first, whatever
/// their order; a digestible bulk one whose grant would be more than `digest_after` off,
/// and every one in the digest lane, goes into the open digest, which is opened (as
/// `new_digest`, granted a bulk send) if none is open ahead of `now`. Returns the plans
/// in the order given, the log to store, and the digest then open.
pub fn plan(
    log: Log,
    open: Option<OpenDigest>,
    lanes: &[Lane],
    pacing: Pacing,
    now: DateTime<Utc>,
    new_digest: &str,
) -> (Vec<Plan>, Log, Option<OpenDigest>) {
    let Pacing {
        limit,
        digest_after,
    } = pacing;
    let mut log = log.pruned(now, limit);
    let mut plans = vec![Plan::Go; lanes.len()];
    let mut order: Vec<usize> = (0..lanes.len()).collect();
    order.sort_by_key(|i| lanes[*i] != Lane::Priority);
    let mut digested = Vec::new();
    for i in order {
        let lane = lanes[i];
        if lane == Lane::Digest && digest_after.is_some() {
            digested.push(i);
            continue;
        }
        let bulk = lane != Lane::Priority;
        let at = log.earliest(bulk, now, limit);
        let far = |d: chrono::Duration| at - now > d;
        if lane == (Lane::Bulk { digestible: true }) && digest_after.is_some_and(far) {
            digested.push(i);
            continue;
        }
        if bulk && far(GRANT_HORIZON) {
            plans[i] = Plan::Wait(now + GRANT_HORIZON);
            continue;
        }
        log.add(at, bulk);
        plans[i] = if at <= now { Plan::Go } else { Plan::At(at) };
    }
    let mut open = open.filter(|d| d.at - JOIN_MARGIN > now);
    if !digested.is_empty() {
        let digest = open.get_or_insert_with(|| {
            let at = log.earliest(true, now, limit);
            log.add(at, true);
            OpenDigest {
                id: new_digest.to_string(),
                at,
            }
        });
        for i in digested {
            plans[i] = Plan::Digest(digest.clone());
        }
    }
    (plans, log, open)
}

/// What a message that was granted `slot` (if any) does at `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotTurn {
    /// Its time has come: it goes.
    Go,
    /// Back before its time: it waits until then.
    Wait(DateTime<Utc>),
    /// None granted, or so late that it asks again.
    Ask,
}

pub fn slot_turn(slot: Option<DateTime<Utc>>, now: DateTime<Utc>) -> SlotTurn {
    match slot {
        Some(at) if now < at => SlotTurn::Wait(at),
        Some(at) if now - at <= SLOT_GRACE => SlotTurn::Go,
        _ => SlotTurn::Ask,
    }
}

/// `X-RateLimit-Reset-After` (seconds, maybe with a fraction) when `X-RateLimit-Remaining`
/// is 0: how long until the receiver's window opens again (at most a day).
pub fn window_reset(remaining: Option<&str>, reset_after: Option<&str>) -> Option<Duration> {
    let spent = remaining?.trim().parse::<f64>().ok()? <= 0.0;
    let seconds = reset_after?.trim().parse::<f64>().ok()?;
    (spent && seconds.is_finite() && seconds > 0.0)
        .then(|| Duration::from_secs_f64(seconds.min(86_400.0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_800_000_000_000 + ms).unwrap()
    }

    const SLACK: RateLimit = RateLimit {
        per_minute: 60,
        burst: 3,
    };

    fn secs(t: DateTime<Utc>) -> f64 {
        (t - at(0)).num_milliseconds() as f64 / 1000.0
    }

    const BULK: Lane = Lane::Bulk { digestible: true };

    fn planned(
        log: Log,
        open: Option<OpenDigest>,
        lanes: &[Lane],
        digest_after: Option<chrono::Duration>,
        now: DateTime<Utc>,
        limit: RateLimit,
        new_digest: &str,
    ) -> (Vec<Plan>, Log, Option<OpenDigest>) {
        let pacing = Pacing {
            limit,
            digest_after,
        };
        plan(log, open, lanes, pacing, now, new_digest)
    }

    /// Plans one at a time, as separate invocations would, each from the stored log.
    fn one_by_one(times: &[i64], lane: Lane, limit: RateLimit) -> Vec<DateTime<Utc>> {
        let mut log = Log::default();
        let mut out = Vec::new();
        for &t in times {
            let (plans, next, _) = planned(log, None, &[lane], None, at(t), limit, "d");
            out.push(match &plans[0] {
                Plan::Go => at(t),
                Plan::At(when) => *when,
                other => panic!("{other:?}"),
            });
            log = next;
        }
        out
    }

    #[test]
    fn a_burst_goes_at_once_then_a_window_later() {
        // Priority sends may fill a window; bulk ones leave one send a window.
        let lanes = [Lane::Priority; 7];
        let (plans, _, _) = planned(Log::default(), None, &lanes, None, at(0), SLACK, "d");
        let times: Vec<String> = plans.iter().map(|p| format!("{p:?}")).collect();
        assert_eq!(plans[..3], [Plan::Go, Plan::Go, Plan::Go], "{times:?}");
        assert_eq!(plans[3], Plan::At(at(3000)));
        assert_eq!(plans[6], Plan::At(at(6000)));
        let bulk = one_by_one(&[0, 0, 0, 0, 0], BULK, SLACK);
        let s: Vec<f64> = bulk.iter().map(|t| secs(*t)).collect();
        assert_eq!(s, [0.0, 0.0, 3.0, 3.0, 6.0]);
    }

    #[test]
    fn an_idle_webhook_gets_its_whole_burst_back() {
        let (_, log, _) = planned(
            Log::default(),
            None,
            &[Lane::Priority; 3],
            None,
            at(0),
            SLACK,
            "d",
        );
        let (plans, _, _) = planned(
            log.clone(),
            None,
            &[Lane::Priority; 3],
            None,
            at(3000),
            SLACK,
            "d",
        );
        assert_eq!(plans, [Plan::Go, Plan::Go, Plan::Go]);
        let (plans, _, _) = planned(log, None, &[Lane::Priority], None, at(2999), SLACK, "d");
        assert_eq!(plans, [Plan::At(at(3000))]);
    }

    #[test]
    fn no_window_ever_holds_more_than_the_burst() {
        // Requests at scattered times, 40 in 10 s, both lanes, against 1 a second burst 3.
        let mut log = Log::default();
        let mut granted = Vec::new();
        let mut asked: Vec<i64> = (0..40).map(|i| (i * 7919) % 10_000).collect();
        asked.sort();
        for (n, &t) in asked.iter().enumerate() {
            let lane = if n % 4 == 0 {
                Lane::Priority
            } else {
                Lane::Bulk { digestible: false }
            };
            let (plans, next, _) = planned(log, None, &[lane], None, at(t), SLACK, "d");
            log = next;
            match &plans[0] {
                Plan::Go => granted.push(at(t)),
                Plan::At(when) => {
                    assert!(*when > at(t));
                    granted.push(*when)
                }
                other => panic!("{other:?}"),
            }
        }
        for t in &granted {
            let within =
                |w: chrono::Duration| granted.iter().filter(|u| **u >= *t && **u - *t < w).count();
            assert!(
                within(SLACK.window()) <= 3,
                "{} in the window from {t}",
                within(SLACK.window())
            );
            assert!(within(chrono::Duration::seconds(1)) <= 3);
        }
        let first = *granted.iter().min().unwrap();
        let last = *granted.iter().max().unwrap();
        assert!(
            last - first >= chrono::Duration::seconds(36),
            "{}",
            last - first
        );
    }

    #[test]
    fn the_priority_lane_overtakes_queued_bulk() {
        // Twenty bulk sends queued first: granted two a window, up to 30 s ahead.
        let (_, log, _) = planned(
            Log::default(),
            None,
            &[Lane::Bulk { digestible: false }; 20],
            None,
            at(0),
            SLACK,
            "d",
        );
        assert_eq!(log.bulk.len(), 20);
        assert_eq!(*log.bulk.last().unwrap(), at(27_000));
        // A critical first transition now: it goes now, ahead of every one of them.
        let (plans, log, _) = planned(log, None, &[Lane::Priority], None, at(100), SLACK, "d");
        assert_eq!(plans, [Plan::Go]);
        // The next priority send waits for a window with room (the first, from 0.1 s, is
        // full), not for the bulk queue.
        let (plans, _, _) = planned(log, None, &[Lane::Priority], None, at(200), SLACK, "d");
        assert_eq!(plans, [Plan::At(at(3100))]);
        // In one batch, priority first whatever the order given.
        let lanes = [BULK, BULK, BULK, Lane::Priority];
        let (plans, _, _) = planned(Log::default(), None, &lanes, None, at(0), SLACK, "d");
        assert_eq!(plans, [Plan::Go, Plan::Go, Plan::At(at(3000)), Plan::Go]);
    }

    #[test]
    fn a_long_queue_is_digested_and_followers_join_the_open_digest() {
        let thirty = Some(chrono::Duration::seconds(30));
        // Bulk granted two a window (3 s), up to 30 s off: 22 of them; the 23rd would
        // wait longer, so it is digested, and the digest takes the next bulk send.
        let lanes = [BULK; 25];
        let (plans, log, open) = planned(Log::default(), None, &lanes, thirty, at(0), SLACK, "D1");
        let individually = plans
            .iter()
            .filter(|p| matches!(p, Plan::Go | Plan::At(_)))
            .count();
        assert_eq!(individually, 22);
        let open = open.unwrap();
        assert_eq!(
            open,
            OpenDigest {
                id: "D1".into(),
                at: at(33_000)
            }
        );
        assert!(plans[22..].iter().all(|p| *p == Plan::Digest(open.clone())));
        // Later: a follower and a new bulk one join the same digest while it is open;
        // a priority one still goes in its own window.
        let lanes = [Lane::Digest, BULK, Lane::Priority];
        let (plans, log, still) = planned(
            log,
            Some(open.clone()),
            &lanes,
            thirty,
            at(1000),
            SLACK,
            "D2",
        );
        assert_eq!(
            plans[..2],
            [Plan::Digest(open.clone()), Plan::Digest(open.clone())]
        );
        assert!(matches!(plans[2], Plan::Go | Plan::At(_)));
        assert_eq!(still, Some(open));
        // Once its time has come, a follower opens the next one.
        let (plans, _, next) = planned(
            log,
            Some(OpenDigest {
                id: "D1".into(),
                at: at(33_000),
            }),
            &[Lane::Digest],
            thirty,
            at(33_000),
            SLACK,
            "D2",
        );
        let next = next.unwrap();
        assert_eq!(next.id, "D2");
        assert_eq!(plans, [Plan::Digest(next)]);
        // Never digested without digest_after: granted, up to the horizon.
        let (plans, _, open) = planned(Log::default(), None, &[BULK; 100], None, at(0), SLACK, "D");
        assert!(open.is_none());
        assert!(plans.iter().all(|p| !matches!(p, Plan::Digest(_))));
        assert_eq!(plans[99], Plan::Wait(at(120_000)));
    }

    #[test]
    fn lanes_follow_what_the_receiver_was_told() {
        use EventType::*;
        let first = |exempt| lane(AlertTriggered, exempt, Told::Nothing, false, false);
        assert_eq!(first(true), Lane::Priority);
        assert_eq!(first(false), BULK);
        let after = |told| lane(AlertResolved, false, told, false, false);
        assert_eq!(after(Told::InDigest), Lane::Digest);
        assert_eq!(after(Told::Individually), Lane::Priority);
        let retry = lane(AlertTriggered, false, Told::Nothing, true, false);
        assert_eq!(retry, Lane::Bulk { digestible: false });
        assert_eq!(
            lane(AlertTriggered, false, Told::Nothing, false, true),
            Lane::Priority
        );
        assert_eq!(
            lane(WebhookPaused, false, Told::Nothing, false, false),
            Lane::Priority
        );
        let digest = lane(AlertDigest, false, Told::Nothing, false, false);
        assert_eq!(digest, Lane::Bulk { digestible: false });
    }

    #[test]
    fn a_slot_is_kept_within_its_grace_and_asked_again_after() {
        assert_eq!(slot_turn(None, at(0)), SlotTurn::Ask);
        assert_eq!(slot_turn(Some(at(500)), at(0)), SlotTurn::Wait(at(500)));
        assert_eq!(slot_turn(Some(at(0)), at(0)), SlotTurn::Go);
        assert_eq!(slot_turn(Some(at(0)), at(2000)), SlotTurn::Go);
        assert_eq!(slot_turn(Some(at(0)), at(2001)), SlotTurn::Ask);
    }

    #[test]
    fn a_window_resets_only_when_spent() {
        let reset = |r, a| window_reset(Some(r), Some(a));
        assert_eq!(reset("0", "1.25"), Some(Duration::from_millis(1250)));
        assert_eq!(reset("2", "1.25"), None);
        assert_eq!(reset("0", "soon"), None);
        assert_eq!(reset("0", "-3"), None);
        assert_eq!(window_reset(None, Some("1")), None);
        assert_eq!(window_reset(Some("0"), None), None);
    }

    #[test]
    fn the_setting_parses_names_its_faults_and_defaults_by_format() {
        let own = RateLimitSetting::parse(&json!({"per_minute": 60, "burst": 5})).unwrap();
        assert_eq!(
            own,
            RateLimitSetting::Own(RateLimit {
                per_minute: 60,
                burst: 5
            })
        );
        assert_eq!(
            RateLimitSetting::parse(&json!(null)),
            Ok(RateLimitSetting::None)
        );
        assert_eq!(
            RateLimitSetting::parse(&json!("format")),
            Ok(RateLimitSetting::Format)
        );
        let fields = |v: Value| -> Vec<String> {
            (RateLimitSetting::parse(&v).unwrap_err().into_iter())
                .map(|e| e.field)
                .collect()
        };
        assert_eq!(
            fields(json!({"per_minute": 0, "burst": 101, "every": 1})),
            [
                "rate_limit.every",
                "rate_limit.per_minute",
                "rate_limit.burst"
            ]
        );
        assert_eq!(fields(json!({"burst": 2})), ["rate_limit.per_minute"]);
        assert_eq!(
            fields(json!({"per_minute": 1.5, "burst": 2})),
            ["rate_limit.per_minute"]
        );
        assert_eq!(fields(json!(60)), ["rate_limit"]);
        assert_eq!(fields(json!("fast")), ["rate_limit"]);
        // Stored and read back in each form.
        for setting in [own, RateLimitSetting::None, RateLimitSetting::Format] {
            let text = serde_json::to_string(&setting).unwrap();
            assert_eq!(
                serde_json::from_str::<RateLimitSetting>(&text).unwrap(),
                setting
            );
        }
        assert_eq!(RateLimitSetting::Format.shown(), json!("format"));
        assert_eq!(RateLimitSetting::None.shown(), json!(null));
        assert_eq!(own.shown(), json!({"per_minute": 60, "burst": 5}));
        let slack = RateLimitSetting::Format.in_force(Format::Slack);
        assert_eq!(slack, Some(SLACK));
        assert_eq!(RateLimitSetting::Format.in_force(Format::Standard), None);
        assert_eq!(RateLimitSetting::None.in_force(Format::Slack), None);
        assert_eq!(SLACK.window(), chrono::Duration::seconds(3));
    }
}
