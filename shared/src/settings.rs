//! Every setting, read once from the environment at cold start into one typed value.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `TABLE_NAME` | the DynamoDB table | required |
//! | `DELIVERY_QUEUE_URL` | the delivery queue | required |
//! | `WEBHOOK_QUOTA` | webhooks an account may hold, unless its account item says otherwise | 30 |
//! | `CLOUDWATCH_ACCOUNT_ID` | the account CloudWatch alarm changes raise alerts in | none |
//! | `RETRY_SCHEDULE` | delays before each retry, `5s,5m,...` | the Svix schedule |
//! | `DISABLE_AFTER` | a webhook failing this long with no success is disabled | `5d` |
//! | `DELIVERY_RETENTION_DAYS` | how long delivery records are kept | 30 |
//! | `DELIVERY_LEASE` | how long a claimed attempt is reserved | `60s` |
//! | `ALLOWED_CIDRS` | non-public ranges deliveries may reach anyway | none |
//! | `HTTPS_ONLY` | refuse `http://` URLs: `true` or `false` (any case), `1` or `0` | false |
//! | `PUBLIC_BASE_URL` | the API's base URL, which action links start with | an API route's own request |
//! | `DATA_KEY_ID` | the KMS key that wraps the data key sealing credentials at rest | none: only plain credentials read |

use std::time::Duration;

use chrono::{DateTime, Utc};
use ipnet::IpNet;

use crate::delivery::{
    destination::{Policy, ALLOWED_CIDRS},
    retry::Schedule,
};

/// Default per-account webhook quota, as in the ApiTree seed.
pub const DEFAULT_WEBHOOK_QUOTA: u32 = 30;
/// Every seed that states a delivery timeout says 10 s.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// The Svix schedule: after the first attempt, retries after these delays.
pub const DEFAULT_SCHEDULE: &str = "5s,5m,30m,2h,5h,10h,10h";
/// Each delay is moved by up to this fraction either way.
pub const JITTER: f64 = 0.2;

#[derive(Clone, Debug)]
pub struct Settings {
    /// The single DynamoDB table holding everything.
    pub table_name: String,
    pub delivery_queue_url: String,
    /// Webhooks an account may hold unless its account item overrides it.
    pub webhook_quota: u32,
    /// The account that CloudWatch alarm changes raise alerts in.
    pub cloudwatch_account: Option<String>,
    pub delivery: DeliverySettings,
    /// Where deliveries may go.
    pub destinations: Policy,
    /// The API's base URL, for action links. API routes fall back on the URL they were
    /// called at; functions without a request (queues, timers) need it set.
    pub public_base_url: Option<String>,
    /// The KMS key that wraps the data key credentials are sealed with (see
    /// [`crate::keys`]).
    pub data_key_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DeliverySettings {
    pub retry: Schedule,
    /// A webhook failing for this long with no success is disabled.
    pub disable_after: Duration,
    /// How long delivery records are kept.
    pub retention: Duration,
    /// How long a claimed attempt is reserved. It must outlast any invocation of the
    /// deliver function (30 s in template.yaml), so that no worker writes an attempt it
    /// no longer holds; it is at least the delivery timeout plus 2 s.
    pub lease: Duration,
    pub timeout: Duration,
    /// The portal's address, for the link a digest gives to all of its alerts:
    /// `PUBLIC_BASE_URL` + `/portal`.
    pub portal: Option<String>,
}

impl DeliverySettings {
    /// The TTL (unix seconds) of a record written at `now`.
    pub fn expires_at(&self, now: DateTime<Utc>) -> i64 {
        now.timestamp() + i64::try_from(self.retention.as_secs()).unwrap_or(i64::MAX / 2)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

impl Settings {
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let get = |name: &'static str| lookup(name).filter(|v| !v.is_empty());
        let required = |name: &'static str| get(name).ok_or(SettingsError::Missing(name));
        let invalid =
            |name: &'static str| move |reason: String| SettingsError::Invalid { name, reason };
        let parsed =
            |name: &'static str, default: &str, parse: fn(&str) -> Result<Duration, String>| {
                parse(&get(name).unwrap_or_else(|| default.to_string())).map_err(invalid(name))
            };
        let number = |name: &'static str, default: u32| match get(name) {
            None => Ok(default),
            Some(raw) => raw
                .parse::<u32>()
                .map_err(|e| invalid(name)(format!("{raw:?}: {e}"))),
        };

        let timeout = DELIVERY_TIMEOUT;
        let lease = parsed("DELIVERY_LEASE", "60s", parse_duration)?;
        // Recording a batch relies on it: no attempt outlives its lease.
        if lease < timeout + Duration::from_secs(2) {
            return Err(invalid("DELIVERY_LEASE")(format!(
                "must exceed the {}s delivery timeout by 2s or more",
                timeout.as_secs()
            )));
        }
        let public_base_url = match get("PUBLIC_BASE_URL") {
            None => None,
            Some(raw) => Some(parse_base_url(&raw).map_err(invalid("PUBLIC_BASE_URL"))?),
        };
        let delays =
            parse_schedule(&get("RETRY_SCHEDULE").unwrap_or_else(|| DEFAULT_SCHEDULE.into()))
                .map_err(invalid("RETRY_SCHEDULE"))?;
        Ok(Self {
            table_name: required("TABLE_NAME")?,
            delivery_queue_url: required("DELIVERY_QUEUE_URL")?,
            webhook_quota: number("WEBHOOK_QUOTA", DEFAULT_WEBHOOK_QUOTA)?,
            cloudwatch_account: get("CLOUDWATCH_ACCOUNT_ID"),
            delivery: DeliverySettings {
                retry: Schedule {
                    delays,
                    jitter: JITTER,
                },
                disable_after: parsed("DISABLE_AFTER", "5d", parse_duration)?,
                retention: Duration::from_secs(
                    u64::from(number("DELIVERY_RETENTION_DAYS", 30)?) * 86400,
                ),
                lease,
                timeout,
                portal: (public_base_url.as_ref())
                    .map(|base| format!("{}/portal", base.trim_end_matches('/'))),
            },
            destinations: Policy {
                allowed: parse_cidrs(&get(ALLOWED_CIDRS).unwrap_or_default())
                    .map_err(invalid(ALLOWED_CIDRS))?,
                https_only: match get("HTTPS_ONLY") {
                    None => false,
                    Some(raw) => parse_bool(&raw).map_err(invalid("HTTPS_ONLY"))?,
                },
            },
            public_base_url,
            data_key_id: get("DATA_KEY_ID"),
        })
    }
}

/// An http(s) URL with no query or fragment, without its trailing slash.
pub fn parse_base_url(raw: &str) -> Result<String, String> {
    let url = url::Url::parse(raw.trim()).map_err(|e| format!("{raw:?}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https")
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(format!(
            "{raw:?} must be an http(s) URL with no query or fragment"
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// `true` or `false` in any case, `1` or `0`; anything else is refused rather than read as
/// off (a security setting read wrong fails open).
pub fn parse_bool(raw: &str) -> Result<bool, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(format!("{raw:?} is not true, false, 1 or 0")),
    }
}

/// `250ms`, `5s`, `5m`, `2h`, `1d`, `1h 30m` (humantime's forms), or plain seconds.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
        return raw
            .parse()
            .map(Duration::from_secs)
            .map_err(|e| format!("{raw:?}: {e}"));
    }
    humantime::parse_duration(raw)
        .map_err(|e| format!("{raw:?} is not a duration like 5s, 5m, 2h: {e}"))
}

/// Comma-separated durations; empty means no retries.
pub fn parse_schedule(raw: &str) -> Result<Vec<Duration>, String> {
    if raw.trim().is_empty() {
        return Ok(Vec::new());
    }
    raw.split(',').map(parse_duration).collect()
}

/// Comma-separated CIDRs.
fn parse_cidrs(raw: &str) -> Result<Vec<IpNet>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<IpNet>().map_err(|e| format!("{s:?}: {e}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &'static [(&'static str, &'static str)]) -> Result<Settings, SettingsError> {
        Settings::from_lookup(move |k| {
            [("TABLE_NAME", "t"), ("DELIVERY_QUEUE_URL", "q")]
                .iter()
                .chain(pairs)
                .rev()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn table_and_queue_are_required_and_the_rest_defaults() {
        assert!(matches!(
            Settings::from_lookup(|_| None),
            Err(SettingsError::Missing("TABLE_NAME"))
        ));
        let s = with(&[]).unwrap();
        assert_eq!(s.webhook_quota, 30);
        let secs: Vec<u64> = s
            .delivery
            .retry
            .delays
            .iter()
            .map(Duration::as_secs)
            .collect();
        assert_eq!(secs, [5, 300, 1800, 7200, 18000, 36000, 36000]);
        assert_eq!(s.delivery.disable_after, Duration::from_secs(5 * 86400));
        assert_eq!(s.delivery.retention, Duration::from_secs(30 * 86400));
        assert_eq!(s.delivery.timeout, Duration::from_secs(10));
        assert_eq!(s.destinations, Policy::default());
    }

    #[test]
    fn values_are_validated() {
        assert_eq!(with(&[("WEBHOOK_QUOTA", "5")]).unwrap().webhook_quota, 5);
        for bad in [
            ("WEBHOOK_QUOTA", "many"),
            ("RETRY_SCHEDULE", "5 fortnights"),
            ("DISABLE_AFTER", "soon"),
            ("ALLOWED_CIDRS", "nonsense"),
            ("DELIVERY_RETENTION_DAYS", "-1"),
        ] {
            let leaked: &'static [(&str, &str)] = Box::leak(Box::new([bad]));
            assert!(
                matches!(with(leaked), Err(SettingsError::Invalid { name, .. }) if name == bad.0),
                "{bad:?}"
            );
        }
        let open = with(&[
            ("ALLOWED_CIDRS", "127.0.0.0/8, ::1/128"),
            ("HTTPS_ONLY", "true"),
        ])
        .unwrap()
        .destinations;
        assert_eq!(open.allowed.len(), 2);
        assert!(open.https_only);
    }

    #[test]
    fn booleans_take_their_spellings_and_refuse_the_rest() {
        for (raw, on) in [
            ("true", true),
            ("TRUE", true),
            ("1", true),
            ("False", false),
            ("0", false),
        ] {
            let leaked: &'static [(&str, &str)] = Box::leak(Box::new([("HTTPS_ONLY", raw)]));
            assert_eq!(with(leaked).unwrap().destinations.https_only, on, "{raw}");
        }
        for raw in ["yes", "on", "enabled", "tru", "2"] {
            let leaked: &'static [(&str, &str)] = Box::leak(Box::new([("HTTPS_ONLY", raw)]));
            let err = with(leaked).unwrap_err().to_string();
            assert!(err.contains("HTTPS_ONLY") && err.contains(raw), "{err}");
        }
        // Durations refuse what they do not know, naming the variable, as numbers do.
        for (name, raw) in [
            ("DISABLE_AFTER", "5D"),
            ("DISABLE_AFTER", "-1s"),
            ("DELIVERY_LEASE", "1e3s"),
            ("RETRY_SCHEDULE", "5s,,5m"),
            ("WEBHOOK_QUOTA", "30.5"),
        ] {
            let leaked: &'static [(&str, &str)] = Box::leak(Box::new([(name, raw)]));
            let err = with(leaked).unwrap_err().to_string();
            assert!(err.contains(name), "{name}={raw}: {err}");
        }
    }

    #[test]
    fn a_lease_must_outlast_an_attempt() {
        assert!(with(&[("DELIVERY_LEASE", "11s")]).is_err());
        assert_eq!(
            with(&[("DELIVERY_LEASE", "12s")]).unwrap().delivery.lease,
            Duration::from_secs(12)
        );
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("5").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("5d").unwrap(), Duration::from_secs(432_000));
        assert_eq!(parse_duration("1h 30m").unwrap(), Duration::from_secs(5400));
        assert!(parse_duration("5 fortnights").is_err());
        assert!(parse_duration("").is_err());
        assert_eq!(parse_schedule(" ").unwrap(), Vec::<Duration>::new());
    }
}
