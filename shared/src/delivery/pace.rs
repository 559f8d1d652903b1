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

/// Grants `wanted` send times at `now` under `limit`, given the times granted last
/// (`recent`, oldest first): each time is the earliest at which the last `burst` grants,
/// counting it, fit in one window, and never before `now`. Returns the grants and the log
/// to store (its last `burst` times).
pub fn grant(
    recent: &[DateTime<Utc>],
    wanted: usize,
    now: DateTime<Utc>,
    limit: RateLimit,
) -> (Vec<DateTime<Utc>>, Vec<DateTime<Utc>>) {
    let burst = limit.burst.max(1) as usize;
    let mut log = recent.to_vec();
    let mut granted = Vec::with_capacity(wanted);
    for _ in 0..wanted {
        let at = match log.len().checked_sub(burst) {
            Some(i) => now.max(log[i] + limit.window()),
            None => now,
        };
        log.push(at);
        granted.push(at);
    }
    let keep = log.len().saturating_sub(burst);
    (granted, log.split_off(keep))
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

    /// Grants one at a time, as separate invocations would, each from the stored log.
    fn one_by_one(times: &[i64], limit: RateLimit) -> Vec<DateTime<Utc>> {
        let mut log = Vec::new();
        let mut out = Vec::new();
        for &t in times {
            let (granted, next) = grant(&log, 1, at(t), limit);
            out.extend(granted);
            log = next;
        }
        out
    }

    #[test]
    fn a_burst_goes_at_once_then_one_window_later() {
        let (granted, log) = grant(&[], 7, at(0), SLACK);
        let ms: Vec<i64> = granted
            .iter()
            .map(|t| (*t - at(0)).num_milliseconds())
            .collect();
        assert_eq!(ms, [0, 0, 0, 3000, 3000, 3000, 6000]);
        assert_eq!(log, [at(3000), at(3000), at(6000)]);
        // Granted in two calls, the same times.
        let (first, log) = grant(&[], 4, at(0), SLACK);
        let (second, _) = grant(&log, 3, at(0), SLACK);
        assert_eq!([first, second].concat(), granted);
    }

    #[test]
    fn an_idle_webhook_gets_its_whole_burst_back() {
        let (_, log) = grant(&[], 3, at(0), SLACK);
        let (granted, _) = grant(&log, 3, at(3000), SLACK);
        assert_eq!(granted, [at(3000); 3]);
        let (granted, _) = grant(&log, 1, at(2999), SLACK);
        assert_eq!(granted, [at(3000)]);
    }

    #[test]
    fn no_window_ever_holds_more_than_the_burst() {
        // Requests at random-ish times, 40 of them in 10 s, against 1 a second burst 3.
        let asked: Vec<i64> = (0..40).map(|i| (i * 7919) % 10_000).collect();
        let mut sorted = asked.clone();
        sorted.sort();
        let granted = one_by_one(&sorted, SLACK);
        for (i, t) in granted.iter().enumerate() {
            assert!(*t >= at(sorted[i]), "never before it was asked");
            let in_window = granted
                .iter()
                .filter(|u| **u >= *t && **u - *t < SLACK.window())
                .count();
            assert!(in_window <= 3, "{in_window} in the window from {t}");
            let in_second = granted
                .iter()
                .filter(|u| **u >= *t && **u - *t < chrono::Duration::seconds(1))
                .count();
            assert!(in_second <= 3);
        }
        // And over time, the rate: 40 grants span at least 39 windows' worth / burst.
        let span = *granted.last().unwrap() - granted[0];
        assert!(span >= chrono::Duration::seconds(36), "{span}");
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
