//! The rules of a webhook's pacing settings in an alert storm (see
//! [`crate::delivery::pace`]): `rate_limit`, `digest_after_seconds`, `never_digest`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::{
    alert::Severity,
    delivery::pace::RateLimitSetting,
    error::FieldError,
    validate::{dedup, fail, string_list},
};

pub const DIGEST_AFTER_MAX: u32 = 3600;

/// `digest_after_seconds`: `None` never digests. Stored as 0 then, since a stored null is
/// a removed field, which would read back as the default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DigestAfter(pub Option<u32>);

impl Serialize for DigestAfter {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u32(self.0.unwrap_or(0))
    }
}

impl<'de> Deserialize<'de> for DigestAfter {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let seconds = Option::<u32>::deserialize(deserializer)?;
        Ok(Self(seconds.filter(|s| *s > 0)))
    }
}

impl DigestAfter {
    /// As the API shows it: seconds, or `null` for never.
    pub fn shown(&self) -> Option<u32> {
        self.0
    }
}

pub fn default_digest_after() -> DigestAfter {
    DigestAfter(Some(30))
}

pub fn default_never_digest() -> Vec<Severity> {
    vec![Severity::Critical]
}

/// Seconds, 1 to an hour, or null for never.
pub fn digest_after_seconds(value: &Value) -> Result<DigestAfter, Vec<FieldError>> {
    match value {
        Value::Null => Ok(DigestAfter(None)),
        _ => match value.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) if (1..=DIGEST_AFTER_MAX).contains(&n) => Ok(DigestAfter(Some(n))),
            _ => fail(
                "digest_after_seconds",
                format!("must be a whole number of seconds from 1 to {DIGEST_AFTER_MAX}, or null to never digest"),
            ),
        },
    }
}

/// Severity names, each once.
pub fn never_digest(value: &Value) -> Result<Vec<Severity>, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut found = Vec::new();
    for (i, name) in string_list("never_digest", value)?.into_iter().enumerate() {
        match Severity::parse(name) {
            Some(severity) => found.push(severity),
            None => errors.push(FieldError::new(
                format!("never_digest[{i}]"),
                format!("must be one of {}", Severity::names()),
            )),
        }
    }
    match errors.is_empty() {
        true => Ok(dedup(found)),
        false => Err(errors),
    }
}

pub fn rate_limit(value: &Value) -> Result<RateLimitSetting, Vec<FieldError>> {
    RateLimitSetting::parse(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn never_digesting_is_stored_as_zero_and_read_back() {
        let never = DigestAfter(None);
        assert_eq!(serde_json::to_value(never).unwrap(), json!(0));
        assert_eq!(
            serde_json::from_value::<DigestAfter>(json!(0)).unwrap(),
            never
        );
        assert_eq!(
            serde_json::from_value::<DigestAfter>(json!(null)).unwrap(),
            never
        );
        let thirty: DigestAfter = serde_json::from_value(json!(30)).unwrap();
        assert_eq!(thirty, default_digest_after());
        assert_eq!(digest_after_seconds(&json!(null)), Ok(never));
        assert!(digest_after_seconds(&json!(0)).is_err());
        assert_eq!(
            never_digest(&json!(["error", "critical", "error"])),
            Ok(vec![Severity::Error, Severity::Critical])
        );
    }
}
